"""The background-work helper: outcomes arrive as signals, and workers let the UI go first."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import shiboken6
from PySide6.QtCore import QEventLoop, QThreadPool, QTimer

from desktop.ui.common import workers
from desktop.ui.common.workers import (
    UI_FIRST,
    JobContext,
    UiFirst,
    UiThreadCollector,
    Worker,
    freeze_survivors,
    release_frozen,
)

pytestmark = pytest.mark.gui


def run(qtbot, worker: Worker) -> dict[str, list[object]]:
    seen: dict[str, list[object]] = {"result": [], "error": [], "yielded": [], "finished": []}
    worker.signals.result.connect(seen["result"].append)
    worker.signals.error.connect(seen["error"].append)
    worker.signals.yielded.connect(seen["yielded"].append)
    worker.signals.finished.connect(lambda: seen["finished"].append(True))
    worker.start()
    qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=5000)
    return seen


def test_a_job_hands_over_chunks_then_its_result(qtbot):
    def job(context: JobContext) -> int:
        for chunk in ([1, 2], [3]):
            assert context.checkpoint()
            context.yield_(chunk)
        return 6

    seen = run(qtbot, Worker(job))
    assert seen == {"result": [6], "error": [], "yielded": [[1, 2], [3]], "finished": [True]}


def test_errors_for_people_pass_through_and_others_become_one_plain_sentence(qtbot):
    def plain(_context: JobContext) -> None:
        raise ValueError("The file is empty.")

    def bug(_context: JobContext) -> None:
        raise KeyError("internal detail")

    assert run(qtbot, Worker(plain))["error"] == ["The file is empty."]
    message = run(qtbot, Worker(bug, name="reading the file"))["error"]
    assert message == ["Something unexpected went wrong during reading the file."]


def test_a_cancelled_job_stops_at_its_checkpoint_and_sends_no_result(qtbot):
    started = threading.Event()
    steps: list[int] = []

    def job(context: JobContext) -> str:
        started.set()
        while context.checkpoint():
            steps.append(1)
            time.sleep(0.001)
        return "never shown"

    worker = Worker(job)
    seen: list[object] = []
    worker.signals.result.connect(seen.append)
    finished: list[bool] = []
    worker.signals.finished.connect(lambda: finished.append(True))
    worker.start()
    assert started.wait(5)
    worker.cancel()
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert worker.cancelled
    assert seen == []


def passes_gate_in_thread(gate: UiFirst) -> threading.Event:
    """Start a thread that waits at ``gate`` and sets the returned event once it is through."""
    through = threading.Event()

    def wait() -> None:
        gate.wait()
        through.set()

    threading.Thread(target=wait, daemon=True).start()
    return through


def test_workers_wait_while_the_ui_thread_is_busy_and_go_on_when_it_is_idle():
    gate = UiFirst()
    assert passes_gate_in_thread(gate).wait(1)  # idle: no waiting
    gate.busy()
    through = passes_gate_in_thread(gate)
    assert not through.wait(0.05)
    gate.idle()
    assert through.wait(1)


def test_a_ui_thread_busy_for_long_only_slows_workers_down(monkeypatch):
    monkeypatch.setattr(workers, "MAX_UI_WAIT_S", 0.05)
    gate = UiFirst()
    gate.busy()
    started = time.monotonic()
    assert passes_gate_in_thread(gate).wait(2)
    assert time.monotonic() - started >= 0.04
    # Past the limit, workers no longer wait at all until the UI thread has been idle.
    assert passes_gate_in_thread(gate).wait(0.02)


def spin_until(test, timeout_s: float = 2.0) -> bool:
    """Run a real event loop (which goes idle between events) until ``test()`` is true.

    Not qtbot.waitUntil: its waits process events without ever letting the loop go idle.
    """
    deadline = time.monotonic() + timeout_s
    while not test():
        if time.monotonic() > deadline:
            return False
        loop = QEventLoop()
        QTimer.singleShot(5, loop.quit)
        loop.exec()
    return True


def test_handling_an_event_closes_the_gate_and_going_idle_opens_it(qapp, monkeypatch):
    monkeypatch.setattr(workers, "MAX_UI_WAIT_S", 5.0)
    UI_FIRST.attach(qapp)
    assert spin_until(passes_gate_in_thread(UI_FIRST).is_set)  # the UI thread goes idle
    during: list[bool] = []
    through: list[threading.Event] = []

    def handler() -> None:
        # Inside an event: a worker arriving at its checkpoint now waits for the UI thread.
        through.append(passes_gate_in_thread(UI_FIRST))
        during.append(through[0].wait(0.05))

    QTimer.singleShot(0, handler)
    assert spin_until(lambda: bool(during))
    assert during == [False]
    assert spin_until(through[0].is_set)  # the UI thread went idle


def test_checkpoints_keep_what_a_job_allocated_out_of_full_collections(qtbot, monkeypatch):
    monkeypatch.setattr(workers, "FREEZE_EVERY", 100)
    kept: list[dict[str, list[int]]] = []

    def job(context: JobContext) -> None:
        for i in range(250):
            kept.append({"step": [i]})  # long-lived objects, as records and their values are
            context.checkpoint()

    run(qtbot, Worker(job))
    # The UI thread froze them when the job asked (at its 100th checkpoint, and again later):
    # full collections no longer scan them.
    qtbot.waitUntil(
        lambda: (
            not any(
                id(d) in {id(o) for generation in range(3) for o in gc.get_objects(generation)}
                for d in kept[:200]
            )
        ),
        timeout=5000,
    )


class _Cycle:
    """An object that refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_freezing_collects_young_garbage_first_and_releasing_frees_frozen_cycles():
    dead = _Cycle()
    dead_ref = weakref.ref(dead)
    del dead  # garbage now, but only a collection can tell
    freeze_survivors()
    assert dead_ref() is None  # not frozen with the living
    alive = _Cycle()
    alive_ref = weakref.ref(alive)
    freeze_survivors()
    del alive  # dies while frozen: the collector cannot see it...
    gc.collect()
    assert alive_ref() is not None
    release_frozen()  # ...until the frozen objects are given back
    assert alive_ref() is None
    assert gc.get_freeze_count() == 0


def test_a_finished_worker_lets_go_of_what_its_job_held(qtbot):
    class Payload:
        """Stands for a snapshot of a whole dataset that a job's closure holds."""

    payload = Payload()
    payload_ref = weakref.ref(payload)

    def job(_context: JobContext, held: Payload = payload) -> int:
        return 1

    worker = Worker(job)
    del payload, job  # only the worker holds them now
    run(qtbot, worker)
    qtbot.waitUntil(lambda: payload_ref() is None, timeout=2000)


def test_a_job_outliving_its_signals_stops_quietly(qtbot, capfd):
    # At exit the binding deletes the signals objects while pool jobs may still be running.
    go_on = threading.Event()
    steps: list[bool] = []

    def job(context: JobContext) -> str:
        go_on.wait(5)
        context.yield_("a chunk nobody can receive")
        steps.append(context.cancelled)
        return "a result nobody can receive"

    worker = Worker(job).start()
    shiboken6.delete(worker.signals)
    go_on.set()
    assert QThreadPool.globalInstance().waitForDone(5000)
    assert steps == [True]  # told to stop: there is no one left to tell
    assert "Traceback" not in capfd.readouterr().err


def test_a_discarded_bulk_change_is_freed_off_the_ui_thread(qtbot):
    from desktop.core.dataset import Dataset
    from desktop.ui.dataset.commands import ReplaceRecordsCommand

    freed_on: list[int] = []

    class Example:
        """Stands for one of the examples a bulk change replaced."""

    main = threading.get_ident()
    pairs = []
    for _ in range(workers.RELEASE_IN_BACKGROUND_MIN + 1):
        old, new = Example(), Example()
        weakref.finalize(new, lambda: freed_on.append(threading.get_ident()))
        pairs.append((old, new))
    command = ReplaceRecordsCommand(Dataset(), pairs, "Set system message")
    del pairs, old, new
    del command  # as the undo stack discards a change that was undone
    assert QThreadPool.globalInstance().waitForDone(5000)
    assert len(freed_on) == workers.RELEASE_IN_BACKGROUND_MIN + 1
    assert main not in freed_on


#: The threads the witnesses were collected on.
collected_on: list[threading.Thread] = []


class _Witness:
    """Garbage in a cycle that notes the thread it was collected on."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        collected_on.append(threading.current_thread())


def test_garbage_is_collected_on_the_ui_thread_never_on_a_worker(qtbot):
    # A Qt object's wrapper collected on a worker deadlocks the app (Qt's connection lock
    # against the interpreter lock), so no collection may run there.
    run(qtbot, Worker(lambda context: None))  # the first worker hands collecting to the UI
    collected_on.clear()
    _Witness()  # garbage: only the cyclic collector can free it

    def allocate(context: JobContext) -> int:
        cycles = []
        for i in range(200_000):  # far past every threshold of automatic collection
            pair: list[object] = [i]
            pair.append(pair)
            cycles.append(pair)
        return len(cycles)

    run(qtbot, Worker(allocate))
    qtbot.waitUntil(lambda: bool(collected_on), timeout=5000)
    assert collected_on == [threading.main_thread()]


def test_a_worker_still_running_while_the_application_is_destroyed_does_not_collect_itself():
    # Seen when a script ended with a recovery copy still being written: asking which thread
    # is the UI thread raised from the worker's checkpoint.
    class DestroyedApplication:
        def thread(self) -> object:
            raise RuntimeError("Internal C++ object (QApplication) already deleted.")

    application = DestroyedApplication()
    collector = UiThreadCollector()
    collector._app = weakref.ref(application)  # type: ignore[assignment]
    assert collector.on_ui_thread() is False

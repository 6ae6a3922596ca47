"""``run_op``: results reach the UI thread, a deleted owner hears nothing, and the work is
never freed while a pool thread still runs it."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QCoreApplication, QObject, QThread

from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext


def _ops() -> list[QObject]:
    app = QCoreApplication.instance()
    return [child for child in app.children() if isinstance(child, Op)]


def test_the_outcome_progress_and_partial_results_arrive_on_the_ui_thread(qtbot):
    owner = QObject()
    seen: list[tuple[str, object, bool]] = []
    ui_thread = QThread.currentThread()

    def note(kind: str):
        return lambda *args: seen.append((kind, args, QThread.currentThread() is ui_thread))

    def work(context: JobContext) -> int:
        context.progress(1, 2)
        context.yield_("rows")
        return 42

    op = run_op(
        owner,
        work,
        name="adding up",
        success=note("success"),
        failure=note("failure"),
        progress=note("progress"),
        yielded=note("yielded"),
        done=note("done"),
    )
    assert op.running and op.name == "adding up"
    qtbot.waitUntil(lambda: not op.running)
    assert seen == [
        ("progress", (1, 2), True),
        ("yielded", ("rows",), True),
        ("success", (42,), True),
        ("done", (), True),
    ]


def test_a_failure_is_one_plain_sentence_and_done_still_follows(qtbot):
    owner = QObject()
    failures: list[str] = []
    finished: list[bool] = []

    def work(_context: JobContext) -> None:
        raise KeyError("internal detail")

    run_op(
        owner,
        work,
        name="reading the list",
        failure=failures.append,
        done=lambda: finished.append(True),
    )
    qtbot.waitUntil(lambda: finished == [True])
    assert failures == ["Something unexpected went wrong during reading the list."]


def test_a_cancelled_op_delivers_no_result_but_says_it_is_done(qtbot):
    owner = QObject()
    started = threading.Event()
    release = threading.Event()
    results: list[object] = []
    finished: list[bool] = []

    def work(context: JobContext) -> str:
        started.set()
        release.wait(5)
        context.checkpoint()
        return "late"

    op = run_op(
        owner, work, name="waiting", success=results.append, done=lambda: finished.append(True)
    )
    assert started.wait(5)
    op.cancel()
    release.set()
    qtbot.waitUntil(lambda: finished == [True])
    assert op.cancelled and results == []


def test_a_deleted_owner_hears_nothing_and_the_work_ends_safely(qtbot):
    owner = QObject()
    started = threading.Event()
    release = threading.Event()
    heard: list[object] = []
    ended = threading.Event()

    def work(_context: JobContext) -> str:
        started.set()
        release.wait(5)
        ended.set()
        return "result for a window that is gone"

    run_op(owner, work, name="slow", success=heard.append, done=lambda: heard.append("done"))
    assert started.wait(5)
    owner.deleteLater()
    qtbot.waitUntil(lambda: _owner_gone(owner))
    gc.collect()  # nothing but the op holds the work now: it must survive this
    release.set()
    assert ended.wait(5)
    qtbot.waitUntil(lambda: not any(o.name == "slow" for o in _ops()), timeout=5000)
    assert heard == []


def _owner_gone(owner: QObject) -> bool:
    try:
        owner.objectName()
    except RuntimeError:
        return True
    return False


def test_a_finished_op_lets_go_of_itself(qtbot):
    owner = QObject()
    op = run_op(owner, lambda _context: None, name="quick")
    qtbot.waitUntil(lambda: not op.running)
    assert op in _ops()
    qtbot.waitUntil(lambda: not any(o.name == "quick" for o in _ops()), timeout=5000)


def test_progress_reaches_the_window_a_few_times_a_second(monkeypatch):
    from desktop.ui.common import ops

    clock = [100.0]
    monkeypatch.setattr(ops.time, "monotonic", lambda: clock[0])
    shown: list[tuple[int, int]] = []
    forward = ops.throttled(lambda done, total: shown.append((done, total)))
    for done in range(1, 101):
        clock[0] += 0.01  # a step every 10 ms
        forward(done, 100)
    assert len(shown) == 5  # every 250 ms (100 steps of 10 ms: 1 s), and the last
    assert shown[-1] == (100, 100)

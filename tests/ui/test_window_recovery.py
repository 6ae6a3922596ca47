"""Closing waits for the recovery journal's background work without running an event loop of
its own, and journal work that was stopped leaves nothing in the journal folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer

from desktop.core.dataset import Dataset
from desktop.core.jsonl_io import stage_write
from desktop.ui.window.recovery import JournalTask
from tests.ui.conftest import wait_idle


def test_closing_during_a_journal_write_runs_nothing_else_meanwhile(qtbot, window, answers):
    dataset = Dataset()
    for number in range(30_000):
        value = {"messages": [{"role": "user", "content": f"Question {number}?"}]}
        dataset.insert(len(dataset), dataset.make_record(value))
    window.show_editor()
    window.document.adopt(dataset, None, modified=True)  # every record goes into the journal
    wait_idle(qtbot, window, timeout=60_000)
    assert window.autosave()
    assert window.autosaving
    ran: list[str] = []
    # A timer due meanwhile fires after the close, not in the middle of it.
    QTimer.singleShot(0, lambda: ran.append("timer"))
    answers.save_changes = "discard"
    assert window.close()
    assert ran == []
    assert not window.autosaving
    assert [p.name for p in window.journal.folder.rglob("*") if p.is_file()] == []
    qtbot.waitUntil(lambda: ran == ["timer"])


def test_journal_work_stopped_before_it_began_never_runs():
    task: JournalTask[str] = JournalTask()
    assert task.stop_and_wait(0.0)
    ran: list[bool] = []

    def work(_going_on) -> str:
        ran.append(True)
        return "written"

    assert task.run(work) is None
    assert ran == []


def test_a_write_staged_as_the_task_is_stopped_is_removed(tmp_path: Path):
    task: JournalTask[object] = JournalTask()
    target = tmp_path / "entry.json"

    def work(going_on):
        staged = task.keep(stage_write(target, [b"{}"]))
        assert going_on()
        return staged

    assert task.run(work) is not None
    assert [p for p in tmp_path.iterdir()]  # the staged file waits beside its target
    assert task.stop_and_wait(1.0)
    assert list(tmp_path.iterdir()) == []
    assert not task.going_on()
    # Staged after the stop: removed at once, and nothing is handed over.
    late = task.keep(stage_write(target, [b"{}"]))
    assert late is None
    assert list(tmp_path.iterdir()) == []

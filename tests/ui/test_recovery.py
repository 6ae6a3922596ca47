"""Unsaved work survives a crash: after a save, while typing, beside another file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.journal import RecoveryJournal
from desktop.ui.window.recovery import AUTOSAVE_TICK_MS
from tests.ui.conftest import make_window, save_and_wait, wait_idle

ROOT = Path(__file__).resolve().parents[2]


def chat_line(i: int, reply: str = "") -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": reply or f"Answer {i}."},
            ]
        }
    )


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.jsonl"
    path.write_text("".join(chat_line(i) + "\n" for i in range(1, 6)))
    return path


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reply_of(record) -> str:
    return record.value["messages"][1]["content"]


def set_reply(window, position: int, reply: str, key: object = "typing") -> None:
    record = window.document.dataset[position]
    value = json.loads(json.dumps(record.value))
    value["messages"][1]["content"] = reply
    window.document.edit_value(record.id, value, "Edit example", (record.id, key))


def ready_to_autosave(qtbot, window) -> None:
    """Reading, counting and keeping the journal's copy of the file are done."""
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.autosave() is not False or not window.document.is_modified)


def crash(qtbot, window) -> None:
    """The window goes away without saving or closing, as when the process is killed."""
    qtbot.waitUntil(lambda: not window.autosaving, timeout=10_000)
    with qtbot.waitSignal(window.destroyed):
        window.deleteLater()


def test_edits_made_after_a_save_are_restored(qtbot, catalog, tmp_path, small, answers):
    first = make_window(qtbot, catalog, tmp_path, answers)
    first.open_path(small)
    wait_idle(qtbot, first)
    set_reply(first, 1, "Edited before saving.")
    assert save_and_wait(qtbot, first)
    set_reply(first, 2, "Edited after saving.")
    qtbot.waitUntil(lambda: first.autosave() and not first.autosaving, timeout=10_000)
    expected = first.document.dataset.to_bytes()
    crash(qtbot, first)

    second = make_window(qtbot, catalog, tmp_path, answers)
    (entry,) = second.journal.pending()
    assert (entry.edited_count, entry.removed_count) == (1, 0)  # the saved edit is not news
    assert second.offer_recovery()
    assert answers.errors == []
    assert second.document.dataset.to_bytes() == expected
    assert reply_of(second.document.dataset[2]) == "Edited after saving."
    assert second.document.path == small
    assert second.isWindowModified()
    second.document.cancel_work()
    answers.save_changes = "discard"
    second.close()


def test_steady_typing_is_journalled_within_the_autosave_interval(
    qtbot, catalog, tmp_path, small, answers
):
    clock = FakeClock()
    window = make_window(qtbot, catalog, tmp_path, answers, clock=clock)
    assert window.settings.autosave_seconds == 5
    window.open_path(small)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: not window.recovery.preparing)  # the copy of the file is kept
    typed = ""
    key_times: list[float] = []
    journalled: list[tuple[float, int]] = []  # (moment, characters the journal held then)
    # One keystroke every half second for 30 seconds, never pausing; the autosave timer looks
    # every AUTOSAVE_TICK_MS.
    ticks_per_key = max(1, 500 // AUTOSAVE_TICK_MS)
    for _ in range(61):
        typed += "x"
        key_times.append(clock.now)
        set_reply(window, 0, typed)
        for _ in range(ticks_per_key):
            clock.now += AUTOSAVE_TICK_MS / 1000
            window.autosave_tick()
            qtbot.waitUntil(lambda: not window.autosaving, timeout=10_000)
        journal = RecoveryJournal(tmp_path / "journal")
        entries = journal.pending()
        held = len(reply_of(journal.restore(entries[0])[0])) if entries else 0
        journalled.append((clock.now, held))
    # At every moment the journal on disk held everything typed up to 5 s before.
    for moment, held in journalled:
        typed_by_then = sum(1 for t in key_times if t <= moment - 5.0)
        assert held >= typed_by_then, (moment, held, typed_by_then)
    assert journalled[-1][1] >= 61 - 10
    window.document.cancel_work()
    answers.save_changes = "discard"
    window.close()


def test_a_file_asked_for_opens_and_the_restore_is_offered_beside_it(
    qtbot, catalog, tmp_path, small, answers
):
    first = make_window(qtbot, catalog, tmp_path, answers)
    first.open_path(small)
    wait_idle(qtbot, first)
    set_reply(first, 0, "Unsaved reply.")
    qtbot.waitUntil(lambda: first.autosave() and not first.autosaving, timeout=10_000)
    crash(qtbot, first)

    other = tmp_path / "small2.jsonl"
    other.write_text(chat_line(9) + "\n")
    second = make_window(qtbot, catalog, tmp_path, answers)
    second.show()
    second.start(other)
    wait_idle(qtbot, second)
    assert second.document.path == other
    assert "restore" not in answers.asked  # no question took the file's place
    bar = second.recovery_bar
    assert bar.isVisible()
    assert "small.jsonl" in bar.label.text() and "1 example edited" in bar.label.text()
    bar.restore_button.click()
    assert second.document.path == small
    assert reply_of(second.document.dataset[0]) == "Unsaved reply."
    assert not bar.isVisible()
    assert second.journal.pending(exclude_session=second.session_id) == []
    second.document.cancel_work()
    answers.save_changes = "discard"
    second.close()


def test_restoring_beside_an_edited_file_asks_about_its_changes_first(
    qtbot, catalog, tmp_path, small, answers
):
    first = make_window(qtbot, catalog, tmp_path, answers)
    first.open_path(small)
    wait_idle(qtbot, first)
    set_reply(first, 0, "Unsaved reply.")
    qtbot.waitUntil(lambda: first.autosave() and not first.autosaving, timeout=10_000)
    crash(qtbot, first)
    other = tmp_path / "small2.jsonl"
    other.write_text(chat_line(9) + "\n")
    second = make_window(qtbot, catalog, tmp_path, answers)
    second.show()
    second.start(other)
    wait_idle(qtbot, second)
    set_reply(second, 0, "Typed into the other file.")
    answers.save_changes = "cancel"
    second.recovery_bar.restore_button.click()
    assert "save_changes" in answers.asked
    assert second.document.path == other  # nothing was replaced
    assert second.recovery_bar.isVisible()
    second.recovery_bar.discard_button.click()
    assert not second.recovery_bar.isVisible()
    assert second.journal.pending(exclude_session=second.session_id) == []
    second.document.cancel_work()
    answers.save_changes = "discard"
    second.close()


def test_work_that_cannot_be_restored_is_offered_once(qtbot, catalog, tmp_path, small, answers):
    first = make_window(qtbot, catalog, tmp_path, answers)
    first.open_path(small)
    wait_idle(qtbot, first)
    set_reply(first, 0, "Kept even so.")
    qtbot.waitUntil(lambda: first.autosave() and not first.autosaving, timeout=10_000)
    crash(qtbot, first)
    for copy in (tmp_path / "journal" / "sources").iterdir():
        copy.unlink()
    small.write_text(chat_line(7) + "\n")  # the original changed too: no way to rebuild

    target = tmp_path / "recovered.jsonl"
    answers.save_path = target
    second = make_window(qtbot, catalog, tmp_path, answers)
    assert not second.offer_recovery()
    assert answers.asked.count("unrestorable") == 1
    assert [json.loads(line) for line in target.read_text().splitlines()] == [
        json.loads(chat_line(1, "Kept even so."))
    ]
    answers.asked.clear()
    third = make_window(qtbot, catalog, tmp_path, answers)
    assert not third.offer_recovery()
    assert answers.asked == []  # not offered again


def test_closing_the_question_sets_unrestorable_work_aside(
    qtbot, catalog, tmp_path, small, answers
):
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "a1.json").write_bytes(b'{"journal_format": 1, "records": [')
    answers.unrestorable = "keep"
    window = make_window(qtbot, catalog, tmp_path, answers)
    assert not window.offer_recovery()
    assert answers.asked == ["unrestorable"]
    assert (journal / "unrestorable" / "a1.json").exists()
    assert window.journal.pending() == []


CRASHING_EDITOR = """
import os, signal, sys, json, time
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop.core.catalog import Catalog
from desktop.core.journal import RecoveryJournal
from desktop.core.settings import AppSettings
from desktop.ui.main_window import MainWindow

path, journal, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
app = QApplication([])
window = MainWindow(settings=AppSettings(), catalog=Catalog.load(),
                    journal=RecoveryJournal(journal))
window.show()
window.open_path(path)
while window.document.busy:
    app.processEvents()

def reply(position, text):
    record = window.document.dataset[position]
    value = json.loads(json.dumps(record.value))
    value["messages"][1]["content"] = text
    window.document.edit_value(record.id, value, "Edit", (record.id, "typing"))

reply(1, "Edited before saving.")
assert window.save()
while window.document.saving:
    app.processEvents()
start = time.monotonic()
typed = ""

def key():
    global typed
    if time.monotonic() - start > seconds:
        os.kill(os.getpid(), signal.SIGKILL)
    typed += "x"
    reply(2, typed)
    print(f"{time.monotonic() - start:.3f} {len(typed)}", flush=True)

timer = QTimer(interval=250)
timer.timeout.connect(key)
timer.start()
app.exec()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_a_killed_app_gives_back_what_was_typed_after_saving(
    qtbot, catalog, tmp_path, small, answers
):
    """The whole story in a real process: save, keep typing without a pause, kill -9."""
    journal = tmp_path / "journal"
    seconds = 8.0
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_EDITOR, str(small), str(journal), str(seconds)],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    typed_at = [tuple(map(float, line.split())) for line in result.stdout.splitlines()]
    assert typed_at and typed_at[-1][0] >= seconds - 1
    window = make_window(qtbot, catalog, tmp_path, answers)
    assert window.offer_recovery(), answers.errors
    assert reply_of(window.document.dataset[1]) == "Edited before saving."
    recovered = len(reply_of(window.document.dataset[2]))
    # Everything typed more than 5 s (plus a second for a busy machine) before the kill.
    typed_early = max((n for t, n in typed_at if t <= typed_at[-1][0] - 6.0), default=0)
    assert recovered >= typed_early > 0
    window.document.cancel_work()
    answers.save_changes = "discard"
    window.close()

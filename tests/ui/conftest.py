"""Fixtures for driving the real widgets: a main window with a private journal and settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from desktop.core.catalog import Catalog
from desktop.core.journal import RecoveryJournal
from desktop.core.resources import sample_path
from desktop.core.settings import AppSettings, SettingsStore
from desktop.ui.main_window import MainWindow

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True)
def _wait_for_background_work():
    """No test leaves a worker running into the next one."""
    yield
    assert QThreadPool.globalInstance().waitForDone(10_000)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


class Answers:
    """What the window's questions return in a test, and what was asked."""

    def __init__(self) -> None:
        self.save_changes = "discard"
        self.leave_unapplied = True
        self.reload_or_keep = "keep"
        self.overwrite = True
        self.restore = "restore"
        self.unrestorable = "save"
        self.replace_read_only = True
        self.save_path: Path | None = None
        self.open_path: Path | None = None
        self.dialog_ok = True
        self.asked: list[str] = []
        self.errors: list[str] = []
        self.infos: list[str] = []


@pytest.fixture
def answers() -> Answers:
    return Answers()


def make_window(qtbot, catalog, tmp_path: Path, answers: Answers, **options) -> MainWindow:
    """A main window whose questions are answered from ``answers`` (``options`` go to the
    window, e.g. a ``clock``)."""
    store = SettingsStore(tmp_path / "config" / "settings.json")
    window = MainWindow(
        settings=AppSettings(),
        settings_store=store,
        catalog=catalog,
        journal=RecoveryJournal(tmp_path / "journal"),
        **options,
    )
    qtbot.addWidget(window)

    def ask(name: str, value_of):
        def answer(*_args, **_kwargs):
            answers.asked.append(name)
            return value_of()

        return answer

    window.ask_save_changes = ask("save_changes", lambda: answers.save_changes)
    window.ask_leave_unapplied = ask("leave_unapplied", lambda: answers.leave_unapplied)
    window.ask_reload_or_keep = ask("reload_or_keep", lambda: answers.reload_or_keep)
    window.ask_overwrite_changed = ask("overwrite", lambda: answers.overwrite)
    window.ask_restore = ask("restore", lambda: answers.restore)
    window.ask_unrestorable = ask("unrestorable", lambda: answers.unrestorable)
    window.ask_replace_read_only = ask("replace_read_only", lambda: answers.replace_read_only)
    window.choose_save_path = ask("save_path", lambda: answers.save_path)
    window.choose_open_path = ask("open_path", lambda: answers.open_path)
    window.run_dialog = ask("dialog", lambda: answers.dialog_ok)
    window.show_error = answers.errors.append
    window.show_info = lambda _title, text: answers.infos.append(text)
    return window


@pytest.fixture
def window(qtbot, catalog, tmp_path, answers) -> MainWindow:
    window = make_window(qtbot, catalog, tmp_path, answers)
    window.show()
    yield window
    window.document.cancel_work()
    answers.save_changes = "discard"
    window.close()


def wait_idle(qtbot, window: MainWindow, timeout: int = 20_000) -> None:
    """Wait until reading and counting are done and the findings are current."""
    qtbot.waitUntil(lambda: not window.document.busy, timeout=timeout)
    window.document.flush_analysis()


def save_and_wait(qtbot, window: MainWindow, start: Callable[[], bool] | None = None) -> bool:
    """Start a save (``window.save`` unless ``start`` is given) and wait for the background
    write to end: True when the file was saved."""
    saved: list[object] = []

    def note(path: object) -> None:
        saved.append(path)

    window.files.saved.connect(note)
    try:
        if not (start or window.save)():
            return False
        qtbot.waitUntil(lambda: not window.document.saving, timeout=20_000)
    finally:
        window.files.saved.disconnect(note)
    return bool(saved)


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A copy of the bundled sample in a folder the test owns."""
    path = tmp_path / "support.jsonl"
    path.write_bytes(sample_path().read_bytes())
    return path


@pytest.fixture
def messy_copy(tmp_path) -> Path:
    """A file with a BOM, a blank line, damaged lines and a legacy line."""
    path = tmp_path / "messy.jsonl"
    path.write_bytes((DATA / "messy.jsonl").read_bytes())
    return path

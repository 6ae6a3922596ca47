"""Every command of the main window runs once, with Qt's own dialogs answered, and none of
them raises or makes Qt warn (pytest-qt fails a test on either)."""

from __future__ import annotations

import itertools
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QMenu,
    QMessageBox,
    QToolButton,
    QWidget,
)

from desktop.app import build_app_window
from desktop.core.interchange import ExportFormat
from desktop.core.resources import sample_path
from desktop.core.settings import SettingsStore
from desktop.ui.common.dialogs import ExportDialog
from tests.api.keyrings import MemoryKeyring


class QtAnswers:
    """Answers Qt's own dialogs the way a user clicking the default button would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names = itertools.count(1)
        self.open_path = folder / "support.jsonl"
        self.shown: list[str] = []
        self.before_accept: list = []

    def exec_dialog(self, dialog: QDialog) -> int:
        self.shown.append(type(dialog).__name__)
        for prepare in self.before_accept:
            prepare(dialog)
        dialog.accept()
        return dialog.result()

    def exec_box(self, box: QMessageBox) -> int:
        self.shown.append(f"QMessageBox: {box.text()}")
        button = box.defaultButton() or box.buttons()[0]
        button.click()
        return box.standardButton(button).value

    def static_box(self, _parent, _title, text, *_args, **_kwargs):
        self.shown.append(f"QMessageBox: {text}")
        return QMessageBox.StandardButton.Ok

    def open_name(self, *_args, **_kwargs) -> tuple[str, str]:
        return str(self.open_path), ""

    def save_name(self, _parent, _title, suggested: str = "", *_args, **_kwargs):
        suffix = Path(suggested).suffix or ".jsonl"
        return str(self.folder / f"saved-{next(self.names)}{suffix}"), ""


@pytest.fixture
def qt_answers(tmp_path, monkeypatch) -> QtAnswers:
    answers = QtAnswers(tmp_path)
    answers.open_path.write_bytes(sample_path().read_bytes())
    # Functions, not bound methods, so that ``dialog.exec()`` passes the dialog along.
    monkeypatch.setattr(QDialog, "exec", lambda dialog: answers.exec_dialog(dialog))
    monkeypatch.setattr(QMessageBox, "exec", lambda box: answers.exec_box(box))
    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, answers.static_box)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", answers.open_name)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", answers.save_name)
    return answers


@pytest.fixture
def built(qtbot, tmp_path, qt_answers):
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    app_window = build_app_window(SettingsStore(tmp_path / "settings.json"))
    qtbot.addWidget(app_window.window)
    app_window.window.show()
    yield app_window
    app_window.shutdown()
    QThreadPool.globalInstance().waitForDone(10_000)
    keyring.set_keyring(previous)


def menu_paths(menu: QWidget, above: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where every command sits in a menu bar (menu titles, then its text), in menu order.

    Paths, not actions: some menus (Open Recent) are rebuilt as files open.
    """
    found = []
    for action in menu.actions():
        if action.isSeparator():
            continue
        submenu = action.menu()
        if isinstance(submenu, QMenu):
            found += menu_paths(submenu, (*above, action.text()))
        else:
            found.append((*above, _name(action)))
    return found


def _name(action: QAction) -> str:
    """An action's stable name (Undo's text changes with what it would undo)."""
    return action.objectName() or action.text()


def action_at(menu: QWidget, path: tuple[str, ...]) -> QAction | None:
    for action in menu.actions():
        if _name(action) != path[0] and action.text() != path[0]:
            continue
        if len(path) == 1:
            return action
        submenu = action.menu()
        return action_at(submenu, path[1:]) if isinstance(submenu, QMenu) else None
    return None


def settle(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.document.busy and not window.bulk_running and not window.autosaving,
        timeout=20_000,
    )


def open_sample_copy(qtbot, window, path: Path) -> None:
    window.open_path(path, ask=False)
    settle(qtbot, window)
    window.editor_panel.select_record(window.document.table.record_id_at(0))


def _with_an_edit(_qtbot, window, _folder) -> None:
    window.actions["add_example"].trigger()


def _with_an_undone_edit(qtbot, window, folder) -> None:
    _with_an_edit(qtbot, window, folder)
    window.document.undo_stack.undo()


def _with_older_examples(qtbot, window, folder) -> None:
    legacy = folder / "legacy.jsonl"
    legacy.write_text('{"prompt": "Hi", "completion": "Hello!"}\n')
    open_sample_copy(qtbot, window, legacy)


#: What some commands need in place before they can run at all.
PREPARE = {
    "action_undo": _with_an_edit,
    "action_redo": _with_an_undone_edit,
    "action_convert": _with_older_examples,
}


def test_every_menu_and_toolbar_command_runs_cleanly(qtbot, built, qt_answers):
    window = built.window
    open_sample_copy(qtbot, window, qt_answers.open_path)
    window.open_path(qt_answers.open_path, ask=False)  # so Open Recent has an entry
    settle(qtbot, window)
    bar = window.menuBar()
    paths = menu_paths(bar)
    quit_path = ("&File", "action_quit")
    assert quit_path in paths and len(paths) > 25
    assert any(path[:2] == ("&File", "Open &Recent") for path in paths)
    ran = []
    for path in [p for p in paths if p != quit_path]:
        if not window.editor_visible or len(window.document.dataset) == 0:
            open_sample_copy(qtbot, window, qt_answers.open_path)
        else:
            window.editor_panel.select_record(window.document.table.record_id_at(0))
        window.show_panel("Dataset")
        prepare = PREPARE.get(path[-1])
        if prepare is not None:
            prepare(qtbot, window, qt_answers.folder)
        action = action_at(bar, path)
        assert action is not None, path
        if action.isEnabled():
            action.trigger()
            ran.append(path[-1])
        settle(qtbot, window)
    # The editor's own row of buttons (add, duplicate, delete, move).
    open_sample_copy(qtbot, window, qt_answers.open_path)
    buttons = [
        button
        for button in window.editor_panel.findChildren(QToolButton)
        if button.text().strip() and button.isVisibleTo(window)
    ]
    assert len(buttons) >= 5
    for button in buttons:
        window.editor_panel.select_record(window.document.table.record_id_at(0))
        if button.isEnabled():
            button.click()
            ran.append(button.text())
        settle(qtbot, window)
    skipped = [path[-1] for path in paths if path[-1] not in ran and path != quit_path]
    assert skipped == []
    assert "ExportDialog" in qt_answers.shown
    action_at(bar, quit_path).trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20_000)


@pytest.mark.parametrize("fmt", list(ExportFormat), ids=lambda f: f.value)
def test_export_writes_every_format_from_the_menu(qtbot, built, qt_answers, fmt):
    window = built.window
    open_sample_copy(qtbot, window, qt_answers.open_path)

    def choose_format(dialog: QDialog) -> None:
        if isinstance(dialog, ExportDialog):
            dialog.format.setCurrentIndex(dialog.format.findData(fmt))

    qt_answers.before_accept.append(choose_format)
    window.actions["export"].trigger()
    written = [p for p in qt_answers.folder.iterdir() if p.name.startswith("saved-")]
    assert len(written) == 1 and written[0].suffix == fmt.suffix
    assert written[0].stat().st_size > 0
    assert any("Wrote" in text for text in qt_answers.shown)


def test_no_two_commands_share_a_shortcut(built):
    window = built.window
    owners: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            owners.setdefault(sequence.toString(), []).append(_name(action))
    shared = {key: names for key, names in owners.items() if len(names) > 1}
    assert shared == {}  # Qt ignores a shortcut it finds twice ("Ambiguous shortcut overload")


def test_redo_uses_the_platforms_own_keys_and_they_work(qtbot, built):
    window = built.window
    keys = QKeySequence.StandardKey
    assert window.actions["redo"].shortcuts() == QKeySequence.keyBindings(keys.Redo)
    window.new_dataset()
    window.activateWindow()
    for sequence in QKeySequence.keyBindings(keys.Redo):
        if sequence.toString() in ("Redo", ""):
            continue  # a dedicated Redo key, which keyboards rarely have
        before = len(window.document.dataset)
        window.actions["add_example"].trigger()
        window.document.undo_stack.undo()
        assert len(window.document.dataset) == before
        QTest.keySequence(window, sequence)
        assert len(window.document.dataset) == before + 1, sequence.toString()


@pytest.mark.parametrize("fmt", list(ExportFormat), ids=lambda f: f.value)
def test_an_export_name_typed_without_its_ending_gets_it(
    qtbot, built, qt_answers, monkeypatch, fmt
):
    window = built.window
    open_sample_copy(qtbot, window, qt_answers.open_path)
    typed = qt_answers.folder / "exported"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(typed), ""))

    def choose_format(dialog: QDialog) -> None:
        if isinstance(dialog, ExportDialog):
            dialog.format.setCurrentIndex(dialog.format.findData(fmt))

    qt_answers.before_accept.append(choose_format)
    window.actions["export"].trigger()
    assert not typed.exists()
    written = typed.with_name("exported" + fmt.suffix)
    assert written.stat().st_size > 0
    assert any(f"to {written.name}." in text for text in qt_answers.shown)

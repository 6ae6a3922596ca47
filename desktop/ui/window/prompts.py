"""The questions the main window asks, as Qt message boxes and file dialogs.

The window asks each one through a method of its own (``ask_*``, ``choose_*``), so tests can
answer it without a message box; these functions are what those methods show.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop import APP_NAME
from desktop.core.journal import JournalEntry
from desktop.core.wording import count

OPEN_FILTER = "Datasets (*.jsonl *.json *.csv *.tsv);;All files (*)"
JSONL_FILTER = "JSON Lines (*.jsonl)"


def describe_entry(entry: JournalEntry) -> str:
    """What unsaved work holds, in words: "2 examples edited and 1 removed, last autosaved…"."""
    changes = []
    if entry.edited_count:
        changes.append(f"{count(entry.edited_count, 'example')} edited or added")
    if entry.removed_count:
        changes.append(f"{count(entry.removed_count, 'example')} removed")
    when = entry.written_at.astimezone().strftime("%Y-%m-%d %H:%M")
    what = " and ".join(changes) if changes else "Changes"
    return f"{what[0].upper()}{what[1:]}, last autosaved {when}"


def entry_name(entry: JournalEntry) -> str:
    """The file unsaved work belongs to, or "an unsaved dataset"."""
    return entry.source_path.name if entry.source_path is not None else "an unsaved dataset"


def ask_save_changes(parent: QWidget, name: str) -> str:
    """Ask what to do with unsaved changes: 'save', 'discard' or 'cancel'."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(APP_NAME)
    box.setText(f"Save the changes to {name}?")
    box.setInformativeText("If you don't save, your changes will be lost.")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {
        QMessageBox.StandardButton.Save: "save",
        QMessageBox.StandardButton.Discard: "discard",
    }.get(QMessageBox.StandardButton(answer), "cancel")


def ask_leave_unapplied(parent: QWidget, problem: str) -> bool:
    """JSON typed in the editor never became valid: True to go on without it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(APP_NAME)
    box.setText("The example you are editing as JSON has text that is not applied.")
    box.setInformativeText(
        f"It cannot be applied because {problem}. If you go on, that text will be lost."
    )
    box.setStandardButtons(QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Discard).setText("Discard the Text")
    box.button(QMessageBox.StandardButton.Cancel).setText("Keep Editing")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return QMessageBox.StandardButton(box.exec()) == QMessageBox.StandardButton.Discard


def ask_reload_or_keep(parent: QWidget, name: str) -> str:
    """The open file changed on disk: 'reload' it, or 'keep' the version in the app."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(APP_NAME)
    box.setText(f"{name} was changed by another program.")
    box.setInformativeText(
        "Reload it from disk (your unsaved edits here are dropped), or keep the version "
        "open in the app (saving will replace the file on disk)?"
    )
    reload_button = box.addButton("Reload from Disk", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep Mine", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(keep)
    box.exec()
    return "reload" if box.clickedButton() is reload_button else "keep"


def ask_overwrite_changed(parent: QWidget, name: str) -> bool:
    """Before saving over a file another program changed: True to overwrite it."""
    answer = QMessageBox.warning(
        parent,
        APP_NAME,
        f"{name} was changed by another program since you opened it. Replace it with your version?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Save


def ask_replace_read_only(parent: QWidget, path: Path) -> bool:
    """Before replacing a file marked read-only: True to replace it all the same."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(APP_NAME)
    box.setText(f"{path.name} is read-only.")
    box.setInformativeText(
        "Someone marked it read-only, perhaps to protect it. Replace it with your version "
        "anyway? It stays read-only afterwards."
    )
    replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is replace


def ask_restore(parent: QWidget, entry: JournalEntry) -> str:
    """Unsaved work from an earlier run: 'restore', 'discard' or 'later'."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Restore unsaved work?")
    box.setText(f"{APP_NAME} closed without saving your edits to {entry_name(entry)}.")
    box.setInformativeText(f"{describe_entry(entry)}. Restore them?")
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.exec()
    clicked = box.clickedButton()
    if clicked is restore:
        return "restore"
    return "discard" if clicked is discard else "later"


def ask_unrestorable(parent: QWidget, entry: JournalEntry, reason: str, salvageable: int) -> str:
    """Unsaved work that cannot be restored as a whole: 'save' the examples it still holds
    to a file of their own, 'discard' it, or 'keep' it aside (the box was closed)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved work cannot be restored")
    box.setText(f"Unsaved edits to {entry_name(entry)} were left by an earlier run.")
    detail = reason
    save = None
    if salvageable:
        detail += (
            f" {count(salvageable, 'edited or added example')} can still be saved to a "
            "file of their own."
        )
        save = box.addButton("Save Them…", QMessageBox.ButtonRole.AcceptRole)
    box.setInformativeText(detail)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Close", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(save or discard)
    box.exec()
    clicked = box.clickedButton()
    if save is not None and clicked is save:
        return "save"
    return "discard" if clicked is discard else "keep"


def choose_open_path(parent: QWidget, title: str, folder: str) -> Path | None:
    """Ask for a file to open, starting in ``folder``."""
    name, _ = QFileDialog.getOpenFileName(parent, title, folder, OPEN_FILTER)
    return Path(name) if name else None


def choose_save_path(parent: QWidget, suggested: Path, title: str, file_filter: str) -> Path | None:
    """Ask where to save, suggesting ``suggested``."""
    name, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), file_filter)
    return Path(name) if name else None

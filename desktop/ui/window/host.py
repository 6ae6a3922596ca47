"""What the main window's controllers may ask of the window.

The controllers (files, bulk tools, import and export, recovery) each take the window as a
``WindowHost``: the open document, the widgets they report through, and the window's
questions. Questions are looked up on the window each time they are asked, so a test that
answers one by replacing the window's method is heard by every controller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from desktop.core.journal import JournalEntry
from desktop.core.settings import AppSettings
from desktop.ui.dataset.document import DatasetDocument
from desktop.ui.dataset.editor_panel import DatasetEditorPanel


class WindowHost(Protocol):
    """The main window as its controllers see it."""

    document: DatasetDocument
    settings: AppSettings
    editor_panel: DatasetEditorPanel
    progress: QProgressBar
    progress_label: QLabel
    cancel_button: QToolButton

    @property
    def editor_visible(self) -> bool:
        """True when the editor (not the welcome page) is shown."""
        ...

    @property
    def bulk_running(self) -> bool:
        """True while a bulk tool works out its change."""
        ...

    def window(self) -> QWidget:
        """The window itself, as the parent of the dialogs it shows."""
        ...

    def statusBar(self) -> QStatusBar:
        """Where short notes go."""
        ...

    def isVisible(self) -> bool:
        """True while the window is shown."""
        ...

    def close(self) -> bool:
        """Close the window (it asks about unsaved changes first)."""
        ...

    def show_editor(self) -> None:
        """Show the dataset editor."""
        ...

    def show_welcome(self) -> None:
        """Show the welcome page."""
        ...

    def update_actions(self) -> None:
        """Enable the commands that can run now, and refresh the title."""
        ...

    def update_title(self) -> None:
        """Show the dataset's name and whether it has unsaved changes."""
        ...

    def save_settings(self) -> None:
        """Remember the window layout, recent files and the estimator's choices."""
        ...

    def show_error(self, text: str) -> None:
        """Tell the user something went wrong."""
        ...

    def show_info(self, title: str, text: str) -> None:
        """Tell the user what happened."""
        ...

    def run_dialog(self, dialog: QDialog) -> bool:
        """Show a dialog; True when the user confirmed it."""
        ...

    def choose_open_path(self, title: str = ...) -> Path | None:
        """Ask for a file to open."""
        ...

    def choose_save_path(self, suggested: Path, title: str, file_filter: str) -> Path | None:
        """Ask where to save."""
        ...

    def may_replace(self, path: Path) -> bool:
        """True when writing ``path`` may go ahead."""
        ...

    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' unsaved changes."""
        ...

    def ask_leave_unapplied(self, problem: str) -> bool:
        """True to go on without JSON that never became valid."""
        ...

    def ask_reload_or_keep(self) -> str:
        """'reload' a file changed on disk, or 'keep' the version in the app."""
        ...

    def ask_overwrite_changed(self) -> bool:
        """True to save over a file another program changed."""
        ...

    def ask_restore(self, entry: JournalEntry) -> str:
        """'restore', 'discard' or 'later' unsaved work from an earlier run."""
        ...

    def ask_unrestorable(self, entry: JournalEntry, reason: str, salvageable: int) -> str:
        """'save', 'discard' or 'keep' unsaved work that cannot be restored."""
        ...

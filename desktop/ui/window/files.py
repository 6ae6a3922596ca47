"""The open dataset's life: new, open, save, save as, close, recent files, drag and drop,
and the questions about unsaved changes these ask."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMenu

from desktop.core.dataset import Dataset
from desktop.core.filekind import not_a_dataset
from desktop.core.formats import read_dataset_bytes
from desktop.core.resources import sample_path
from desktop.core.wording import count
from desktop.ui.common.workers import release_frozen
from desktop.ui.dataset.welcome import WelcomePage
from desktop.ui.window.host import WindowHost
from desktop.ui.window.prompts import JSONL_FILTER


def with_ending(path: Path, suffix: str) -> Path:
    """``path``, given ``suffix`` when the name was typed without it (other programs go by
    the ending)."""
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


class FileController(QObject):
    """Opens, saves and closes the window's dataset, asking first about unsaved changes.

    A save runs in the background. What asked for it (an open, a close, an import) goes
    ahead once the file is saved; closing the window while a save or a bulk change runs waits
    for them: it is asked for again (``close_if_asked``) once they end.
    """

    #: The dataset was saved to this path (the recovery journal builds on it now).
    saved = Signal(object)
    #: The dataset was closed (nothing of it is left to recover).
    closed = Signal()

    def __init__(self, host: WindowHost, recent_menu: QMenu, welcome: WelcomePage) -> None:
        super().__init__(host.window())
        self._recent_menu = recent_menu
        self._welcome = welcome
        #: The name the dataset will be saved under when it has no file of its own (a copy
        #: of the sample, an import, a file read only in part).
        self.copy_name: str | None = None
        #: The folder of the file such a dataset was made from (an import, a file read only in
        #: part): saving offers to put it beside that file. Not the sample's, which is inside
        #: the installation.
        self.copy_folder: Path | None = None
        #: Closing was asked for while a save or a bulk change ran; it happens when they end.
        self._close_when_idle = False
        document = host.document
        document.load_progress.connect(self._on_load_progress)
        document.load_finished.connect(self._on_load_finished)
        document.changed_on_disk.connect(self._on_changed_on_disk)
        welcome.open_requested.connect(self.open_dialog)
        welcome.new_requested.connect(self.new_dataset)
        welcome.sample_requested.connect(self.open_sample)
        welcome.recent_requested.connect(self.open_path)

    @property
    def _host(self) -> WindowHost:
        # The window is this object's parent: holding it in an attribute as well would make
        # a reference cycle that keeps a deleted window's wrapper alive.
        return cast("WindowHost", self.parent())

    # Names and folders -----------------------------------------------------------------------

    def dataset_name(self) -> str:
        """What the open dataset is called: its file name, or the name it will be saved under
        (the sample's, an import's), never "Untitled" for those."""
        document = self._host.document
        if document.path is None and self.copy_name:
            return self.copy_name
        return document.display_name

    def start_folder(self) -> str:
        """Where file dialogs start: beside the open file, else beside the file it was made
        from, else beside the last file, else home."""
        document = self._host.document
        if document.path is not None:
            return str(document.path.parent)
        if self.copy_folder is not None:
            return str(self.copy_folder)
        if self._host.settings.recent_files:
            return str(Path(self._host.settings.recent_files[0]).parent)
        return str(Path.home())

    def refresh_recent_menu(self) -> None:
        """List the recent files in Open Recent and on the welcome page."""
        menu = self._recent_menu
        menu.clear()
        paths = self._host.settings.recent_files
        for path in paths:
            action = menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(Path(p)))
        menu.setEnabled(bool(paths))
        self._welcome.set_recent(paths)

    def _remember_recent(self, path: Path) -> None:
        self._host.settings.add_recent(path)
        self.refresh_recent_menu()
        self._host.save_settings()

    # Unsaved changes and closing -------------------------------------------------------------

    def maybe_save(self, retry: Callable[[], object]) -> bool:
        """Before the open dataset goes away: True when it is safe to continue now.

        When the user chooses to save first, the save starts and this returns False;
        ``retry`` (what asked) runs again once the file is saved.
        """
        host = self._host
        document = host.document
        document.take_pending_edits()
        if document.saving or host.bulk_running:
            # The file is being written, or a bulk change is still being worked out: going
            # on now would lose it or write the file twice at once.
            work = "the file has been saved" if document.saving else "the change is made"
            host.statusBar().showMessage(f"Please wait until {work}.", 5000)
            return False
        problem = host.editor_panel.editor.unapplied_problem()
        if problem is not None and not host.ask_leave_unapplied(problem):
            return False
        if not host.editor_visible or not document.is_modified:
            return True
        answer = host.ask_save_changes()
        if answer == "save":
            self.save(then=retry)
            return False
        return answer == "discard"

    def may_close(self) -> bool:
        """Whether the window may close now; when a save or a bulk change is under way, it
        closes by itself once they end (and once a save chosen now has ended well)."""
        busy = self._host.document.saving or self._host.bulk_running
        if not self.maybe_save(retry=self._host.close):
            self._close_when_idle = busy
            return False
        self._close_when_idle = False
        return True

    def close_if_asked(self) -> None:
        """Close now if closing was asked for while a save or a bulk change ran."""
        if self._close_when_idle and not self._host.document.saving and not self._host.bulk_running:
            # Closing waits for whatever made this call to return (the flag stays set until
            # the close is handled, so a caller such as maybe_save sees it).
            QTimer.singleShot(0, self, self._close_if_open)

    def _close_if_open(self) -> None:
        if self._close_when_idle and self._host.isVisible():
            self._close_when_idle = False  # this close is the one asked for
            self._host.close()

    # Opening -----------------------------------------------------------------------------

    def new_dataset(self) -> None:
        """Start an empty dataset (after asking about unsaved changes)."""
        if not self.maybe_save(retry=self.new_dataset):
            return
        host = self._host
        self.copy_name = self.copy_folder = None
        host.document.new()
        host.show_editor()
        host.editor_panel.add_example()
        host.document.undo_stack.clear()
        host.update_title()

    def open_dialog(self) -> None:
        """Ask for a file and open it."""
        if not self.maybe_save(retry=self.open_dialog):
            return
        path = self._host.choose_open_path()
        if path is not None:
            self.open_path(path, ask=False)

    def open_path(self, path: Path, *, ask: bool = True) -> None:
        """Open ``path``; rows appear while it is read."""
        if ask and not self.maybe_save(retry=lambda: self.open_path(path)):
            return
        host = self._host
        # Absolute, but a symbolic link stays the name the user chose (saving writes through).
        path = Path(os.path.abspath(Path(path).expanduser()))
        problem = not_a_dataset(path)
        if problem is not None:
            if str(path) in host.settings.recent_files:
                host.settings.remove_recent(path)
                self.refresh_recent_menu()
            host.show_error(problem)
            return
        self.copy_name = self.copy_folder = None
        host.show_editor()
        host.document.open(path)
        host.update_actions()

    def open_sample(self) -> None:
        """Open a copy of the bundled sample (saving asks where, so the sample stays intact)."""
        if not self.maybe_save(retry=self.open_sample):
            return
        path = sample_path()
        try:
            data = path.read_bytes()
        except OSError:
            self._host.show_error("The sample dataset is missing from this installation.")
            return
        dataset = read_dataset_bytes(data, path.suffix)
        dataset.mark_saved()
        self._host.settings.first_run_done = True
        self.adopt(dataset, None, modified=False, copy_name="customer_support (sample).jsonl")

    def adopt(
        self,
        dataset: Dataset,
        path: Path | None,
        *,
        modified: bool,
        copy_name: str | None = None,
        copy_folder: Path | None = None,
    ) -> None:
        """Show ``dataset`` in the editor as the open dataset (read from ``path``, if any);
        ``copy_name`` is the name it is saved under when it has no file of its own, in
        ``copy_folder`` if given."""
        self.copy_name, self.copy_folder = copy_name, copy_folder
        self._host.show_editor()
        self._host.document.adopt(dataset, path, modified=modified)
        self._host.update_title()

    def drag_enter(self, event: QDragEnterEvent) -> None:
        """Accept a drag that brings a local file."""
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(url.isLocalFile() for url in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event: QDropEvent) -> None:
        """Open the first local file dropped on the window."""
        for url in event.mimeData().urls():
            if url.isLocalFile():
                event.acceptProposedAction()
                self.open_path(Path(url.toLocalFile()))
                return
        event.ignore()

    # Saving and closing ----------------------------------------------------------------------

    def save(self, then: Callable[[], object] | None = None) -> bool:
        """Save to the open file; asks for a .jsonl name when the file is new or not JSONL.

        True when the save started (it ends in the background, then ``then`` runs if the file
        was saved); False when the user declined or it could not start.
        """
        document = self._host.document
        if document.needs_new_name_to_save:
            return self.save_as(then)
        assert document.path is not None
        if document.changed_on_disk_since_load() and not self._host.ask_overwrite_changed():
            return False
        return self._save_to(document.path, then)

    def save_as(self, then: Callable[[], object] | None = None) -> bool:
        """Ask for a .jsonl name and save there (see ``save``)."""
        path = self._host.document.path
        if path is not None:
            suggested = path.with_suffix(".jsonl")
        else:
            suggested = Path(self.start_folder()) / (self.copy_name or "dataset.jsonl")
        chosen = self._host.choose_save_path(suggested, "Save Dataset As", JSONL_FILTER)
        if chosen is None:
            return False
        return self._save_to(with_ending(chosen, ".jsonl"), then)

    def _save_to(self, path: Path, then: Callable[[], object] | None) -> bool:
        host = self._host
        if host.document.loading:
            host.show_error("Please wait until the file has been read before saving it.")
            return False
        if host.document.saving:
            host.statusBar().showMessage("Please wait until the file has been saved.", 5000)
            return False
        if not host.may_replace(path):
            return False
        host.statusBar().showMessage(f"Saving {path.name}…")
        host.document.save_to(path, lambda problem: self._on_saved(path, problem, then))
        host.update_actions()
        return True

    def _on_saved(self, path: Path, problem: str | None, then: Callable[[], object] | None) -> None:
        host = self._host
        host.update_actions()
        self.close_if_asked()
        if problem is not None:
            host.statusBar().clearMessage()
            host.show_error(problem)
            return
        self.copy_name = self.copy_folder = None
        self.saved.emit(path)
        self._remember_recent(path)
        host.statusBar().showMessage(f"Saved {path.name}.", 5000)
        host.update_title()
        # A close asked for during the save wins over what asked to save.
        if then is not None and not self._close_when_idle:
            then()

    def close_dataset(self) -> bool:
        """Close the open dataset and show the welcome page."""
        if not self.maybe_save(retry=self.close_dataset):
            return False
        self._host.document.new()
        self.copy_name = self.copy_folder = None
        self.closed.emit()
        release_frozen()  # nothing large is left: cycles that died while frozen go now
        self._host.show_welcome()
        return True

    def _on_changed_on_disk(self) -> None:
        document = self._host.document
        if self._host.ask_reload_or_keep() == "reload" and document.path is not None:
            document.open(document.path)
            self._host.update_actions()
        else:
            document.keep_mine()

    # Reading feedback --------------------------------------------------------------------

    def _on_load_progress(self, done: int, total: int) -> None:
        host = self._host
        host.progress.show()
        host.cancel_button.show()
        host.progress.setRange(0, 1000)
        host.progress.setValue(int(1000 * done / total) if total else 0)
        host.progress_label.setText(
            f"Reading {host.document.display_name}… {count(len(host.document.dataset), 'row')}"
        )

    def _on_load_finished(self, complete: bool) -> None:
        host = self._host
        document = host.document
        source = document.opened_path
        if source is not None and (complete or len(document.dataset)):
            self._remember_recent(source)  # only files that really opened
        host.progress.hide()
        host.cancel_button.hide()
        host.progress_label.setText("")
        rows = len(document.dataset)
        if complete:
            host.statusBar().showMessage(
                f"Opened {document.display_name}: {count(rows, 'row')}.", 5000
            )
        elif rows == 0:
            host.show_welcome()
        else:
            stem = source.stem if source is not None else "dataset"
            self.copy_name = f"{stem} (first {count(rows, 'row')}).jsonl"
            self.copy_folder = source.parent if source is not None else None
            host.statusBar().showMessage(
                f"Stopped reading: {count(rows, 'row')} {'was' if rows == 1 else 'were'} read. "
                "Saving asks for a new name, so the original file stays whole.",
                12_000,
            )
        host.update_actions()

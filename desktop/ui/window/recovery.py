"""Unsaved work survives a crash: the recovery journal, autosave, and the offer to restore.

Edits are journalled off the UI thread when editing pauses (and in any case within the
autosave interval); an opened or saved file is copied into the journal off the UI thread
too, so the first write need not read it. At the next start, work an earlier run left behind
is offered back, in a question or in a bar above the tabs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar, cast

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.core.journal import (
    JournalEntry,
    JournalError,
    JournalSnapshot,
    PreparedSource,
    RecoveryJournal,
    delete_files,
    new_session_id,
)
from desktop.core.jsonl_io import SaveError, StagedWrite, atomic_write
from desktop.core.wording import count
from desktop.ui.common import palette
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext, release_in_background
from desktop.ui.window.files import FileController
from desktop.ui.window.host import WindowHost
from desktop.ui.window.prompts import JSONL_FILTER, describe_entry, entry_name

log = logging.getLogger(__name__)

#: Autosave writes once editing pauses this long (seconds)...
AUTOSAVE_IDLE_S = 1.0
#: ...and, however steadily the user types, this long before the settings' autosave interval
#: (the most work a crash may cost) runs out, leaving time for the write itself (seconds).
AUTOSAVE_MARGIN_S = 1.0
#: How often autosave looks whether a write is due (milliseconds).
AUTOSAVE_TICK_MS = 500
#: Closing waits this long at most for the recovery journal's background work to stop.
JOURNAL_STOP_WAIT_S = 3.0
DAMAGED = "Its recovery journal is damaged."

T = TypeVar("T")


class RecoveryBar(QFrame):
    """A bar above the tabs offering unsaved work from an earlier run, without taking the
    place of the file the user opened."""

    restore_requested = Signal(object)
    discard_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recovery_bar")
        self.setStyleSheet(
            f"#recovery_bar {{ background: {palette.RECOVERY_BACKGROUND}; "
            f"border-bottom: 1px solid {palette.RECOVERY_BORDER}; }}"
        )
        self.entry: JournalEntry | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.restore_button = QPushButton("Restore")
        self.discard_button = QPushButton("Discard")
        self.later_button = QPushButton("Not Now")
        self.restore_button.clicked.connect(lambda: self._answer(self.restore_requested))
        self.discard_button.clicked.connect(lambda: self._answer(self.discard_requested))
        self.later_button.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        for button in (self.restore_button, self.discard_button, self.later_button):
            layout.addWidget(button)
        self.hide()

    def offer(self, entry: JournalEntry | None, waiting: int = 1) -> None:
        """Show ``entry`` (hide the bar when None); ``waiting`` counts all entries left."""
        self.entry = entry
        if entry is None:
            self.hide()
            return
        name = entry_name(entry)
        more = f" ({waiting - 1:,} more after this)" if waiting > 1 else ""
        if entry.damaged:
            text = f"Unsaved edits to {name} were left by an earlier run, but {DAMAGED.lower()}"
        else:
            text = f"Unsaved edits to {name} were left by an earlier run. {describe_entry(entry)}."
        self.label.setText(text + more)
        self.show()

    def _answer(self, signal: SignalInstance) -> None:
        if self.entry is not None:
            signal.emit(self.entry)


class JournalTask(Generic[T]):
    """Journal work on a pool thread that can be told to stop, and waited for when the
    window closes without running the event loop.

    The work says under a lock when it begins, so work still queued behind other jobs is
    known never to touch the disk once stopped; work under way is waited for, and a staged
    write it hands back after the stop is discarded rather than left in the journal folder.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._began = False
        self._ended = threading.Event()
        self._staged: StagedWrite | None = None

    def run(self, work: Callable[[Callable[[], bool]], T]) -> T | None:
        """On the pool thread: ``work(going_on)``, unless the task was stopped before it
        began (then None)."""
        with self._lock:
            if self._stopped:
                return None
            self._began = True
        try:
            return work(self.going_on)
        finally:
            self._ended.set()

    def going_on(self) -> bool:
        """False once the task was stopped (the work checks it between steps)."""
        return not self._stopped

    def keep(self, staged: StagedWrite | None) -> StagedWrite | None:
        """On the pool thread: hand ``staged`` over, or discard it if stopped meanwhile."""
        with self._lock:
            if staged is not None and self._stopped:
                staged.discard()
                return None
            self._staged = staged
        return staged

    def stop(self) -> None:
        """Ask the work to stop at its next step."""
        with self._lock:
            self._stopped = True

    def stop_and_wait(self, seconds: float) -> bool:
        """Stop, wait at most ``seconds`` for work under way to end, and discard what it
        staged; True when nothing of it runs any more."""
        with self._lock:
            self._stopped = True
            began = self._began
        ended = not began or self._ended.wait(seconds)
        with self._lock:
            staged, self._staged = self._staged, None
        if staged is not None:
            staged.discard()
        return ended


class RecoveryController(QObject):
    """Keeps the open dataset's unsaved edits in the recovery journal and offers back the
    work earlier runs left there."""

    def __init__(
        self,
        host: WindowHost,
        journal: RecoveryJournal | None,
        files: FileController,
        bar: RecoveryBar,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host.window())
        self.journal = journal
        self._files = files
        self._bar = bar
        self._clock = clock
        self.session_id = new_session_id()
        self._timer = QTimer(self, interval=AUTOSAVE_TICK_MS)
        self._timer.timeout.connect(self.autosave_tick)
        self._timer.start()
        self._last_edit = clock()
        #: When the last journal write started (or the dataset was last unmodified).
        self._last_autosave = clock()
        #: Edits were made since that write started.
        self._edited_since_autosave = False
        self._prepared: PreparedSource | None = None
        #: Journal files renamed away whose deletion in the background has not ended yet.
        self._deleting: set[Path] = set()
        self._preparing: JournalTask[PreparedSource | None] | None = None
        #: The write under way, the snapshot it writes and the entry's generation then.
        self._writing: tuple[JournalTask[StagedWrite | None], JournalSnapshot, int] | None = None
        self._generation = 0  # bumped when the entry is cleared
        #: The window is closing for good: nothing more goes into the journal.
        self._closing = False
        document = host.document
        document.undo_stack.indexChanged.connect(self._note_edit)
        document.load_finished.connect(self._on_load_finished)
        files.saved.connect(self._on_saved)
        files.closed.connect(self._on_closed)
        bar.restore_requested.connect(self.restore_entry)
        bar.discard_requested.connect(self._discard_offered)

    @property
    def _host(self) -> WindowHost:
        # The window is this object's parent: holding it in an attribute as well would make
        # a reference cycle that keeps a deleted window's wrapper alive.
        return cast("WindowHost", self.parent())

    @property
    def autosaving(self) -> bool:
        """True while a journal write runs in the background."""
        return self._writing is not None

    @property
    def preparing(self) -> bool:
        """True while the open file is copied into the journal in the background."""
        return self._preparing is not None

    # Autosave ----------------------------------------------------------------------------

    def _note_edit(self) -> None:
        self._last_edit = self._clock()
        self._edited_since_autosave = True

    def autosave_tick(self) -> None:
        """Write the recovery journal when editing pauses, and in any case before the edits
        it lacks are older than the autosave interval: steady typing never postpones it, so
        a crash costs at most that many seconds of work."""
        now = self._clock()
        if not self._host.document.is_modified:
            self._last_autosave = now
            self._edited_since_autosave = False
            return
        paused = self._edited_since_autosave and now - self._last_edit >= AUTOSAVE_IDLE_S
        limit = max(AUTOSAVE_MARGIN_S, self._host.settings.autosave_seconds - AUTOSAVE_MARGIN_S)
        if not paused and now - self._last_autosave < limit:
            return
        edited = self._edited_since_autosave
        self._edited_since_autosave = False
        if self.autosave():
            self._last_autosave = now
        else:
            self._edited_since_autosave = edited  # busy or refused: try again at the next tick

    def autosave(self) -> bool:
        """Write unsaved edits to the recovery journal (called every few seconds).

        The recipe is taken here; the work off the UI thread serialises and writes it (after
        a bulk edit it can hold the whole dataset), and the entry is published back on this
        thread unless the dataset was saved or closed meanwhile. False when no write could be
        started.
        """
        document = self._host.document
        document.take_pending_edits()
        if (
            self.journal is None
            or self._closing
            or document.loading
            or self._preparing is not None
            or self._writing is not None
            or not document.is_modified
        ):
            return False
        journal = self.journal
        try:
            snapshot = journal.snapshot(
                self.session_id, document.dataset, document.path, self._prepared
            )
        except OSError as exc:
            log.warning("Could not write the recovery journal: %s", exc)
            return False
        if snapshot is None:
            return True  # already written for this version of the dataset
        task: JournalTask[StagedWrite | None] = JournalTask()

        def stage(going_on: Callable[[], bool], context: JobContext) -> StagedWrite | None:
            return task.keep(journal.stage(snapshot, lambda: context.checkpoint() and going_on()))

        self._writing = (task, snapshot, self._generation)
        run_op(
            self,
            lambda context: task.run(lambda going_on: stage(going_on, context)),
            name="keeping a recovery copy of your edits",
            success=lambda staged: self._on_staged(task, staged),
            failure=self._on_write_error,
            done=lambda: self._on_write_done(task),
        )
        return True

    def _on_staged(self, task: JournalTask[StagedWrite | None], staged: object) -> None:
        if staged is None:
            return  # stopped because the entry was cleared; the write left nothing behind
        assert isinstance(staged, StagedWrite)
        writing = self._writing
        if self.journal is None or writing is None or writing[0] is not task:
            staged.discard()
            return
        _task, snapshot, generation = writing
        if generation != self._generation:
            staged.discard()  # saved or closed while it was written: nothing to recover
            return
        self.journal.commit(snapshot, staged)

    def _on_write_error(self, message: str) -> None:
        log.warning("Could not write the recovery journal: %s", message)

    def _on_write_done(self, task: JournalTask[StagedWrite | None]) -> None:
        if self._writing is not None and self._writing[0] is task:
            self._writing = None

    def clear_entry(self, *, now: bool = False) -> None:
        """Forget this session's entry (saved or closed); a write under way is stopped.

        Its files are deleted in the background (deleting the copy of a large file held the
        window for tens of milliseconds), or ``now``, when the app quits: what the user
        discarded must not stay on disk because a queued deletion never ran.
        """
        self._generation += 1
        if self._writing is not None:
            self._writing[0].stop()
        if self.journal is None:
            return
        renamed = self.journal.clear(self.session_id, later=not now)
        if not renamed:
            return
        self._deleting.update(renamed)
        run_op(
            self,
            lambda _context: delete_files(renamed),
            name="tidying the recovery journal",
            success=lambda _result: self._deleting.difference_update(renamed),
        )

    # The copy of the open file -----------------------------------------------------------

    def prepare(self, *, saved: bool = False) -> None:
        """Copy the opened (or just ``saved``) file into the journal in the background.

        The first autosave of a large file would otherwise read and copy it on the UI thread.
        After a save the journal builds on the saved file, so edits made after it are all a
        restore needs, even once the copy of the file as first opened is gone.
        """
        self._drop_prepared()
        if self._preparing is not None:
            self._preparing.stop()  # for a dataset no longer open
            self._preparing = None
        document = self._host.document
        path = document.path
        if self.journal is None or path is None:
            return
        journal = self.journal
        records = list(document.dataset)  # matched to the file's lines off the UI thread
        task: JournalTask[PreparedSource | None] = JournalTask()

        def copy(going_on: Callable[[], bool], context: JobContext) -> PreparedSource | None:
            def pause() -> bool:
                return context.checkpoint() and going_on()

            return journal.prepare_source(path, records, pause, saved=saved)

        self._preparing = task
        run_op(
            self,
            lambda context: task.run(lambda going_on: copy(going_on, context)),
            name=f"keeping a recovery copy of {path.name}",
            success=lambda prepared: self._on_prepared(task, prepared),
            done=lambda: self._on_prepare_done(task),
        )

    def _on_prepared(self, task: JournalTask[PreparedSource | None], prepared: object) -> None:
        if self._preparing is not task:
            return  # prepared for a dataset opened earlier (perhaps the same file, older)
        if isinstance(prepared, PreparedSource) and prepared.path == self._host.document.path:
            self._prepared = prepared

    def _on_prepare_done(self, task: JournalTask[PreparedSource | None]) -> None:
        if self._preparing is task:
            self._preparing = None

    def _on_load_finished(self, complete: bool) -> None:
        if complete:
            self.prepare()

    def _on_saved(self, _path: Path) -> None:
        self.clear_entry()
        self.prepare(saved=True)

    def _on_closed(self) -> None:
        self.clear_entry()
        self._drop_prepared()

    def _drop_prepared(self) -> None:
        """Forget the prepared copy; its lines are freed off the UI thread."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            release_in_background(prepared.contents())

    # Offering earlier work back ----------------------------------------------------------

    def start(self, path: Path | None = None) -> None:
        """What the app does once its window shows: open the file the user asked for, if
        any, and offer unsaved work an earlier run left behind (beside that file, in a bar,
        rather than in its place)."""
        if path is None:
            self.offer_recovery()
            return
        self._files.open_path(path, ask=False)
        self.show_recovery_offers()

    def offer_recovery(self) -> bool:
        """After a crash, offer to bring back unsaved work; True when something was restored."""
        if self.journal is None:
            return False
        for entry in self.journal.pending(exclude_session=self.session_id):
            if entry.damaged:
                self._settle_unrestorable(entry, DAMAGED)
                continue
            answer = self._host.ask_restore(entry)
            if answer == "discard":
                self.journal.discard(entry)
                continue
            if answer == "restore" and self._restore(entry):
                return True
        return False

    def show_recovery_offers(self) -> None:
        """Offer unsaved work from earlier runs in the bar above the tabs, one at a time."""
        if self.journal is None:
            return
        entries = self.journal.pending(exclude_session=self.session_id)
        self._bar.offer(entries[0] if entries else None, len(entries))

    def restore_entry(self, entry: JournalEntry) -> bool:
        """Bring back the unsaved work of ``entry`` in place of the open dataset (after
        asking about the open dataset's own unsaved changes)."""
        if not self._files.maybe_save(retry=lambda: self.restore_entry(entry)):
            return False
        if entry.damaged:
            self._settle_unrestorable(entry, DAMAGED)
            restored = False
        else:
            restored = self._restore(entry)
        self.show_recovery_offers()
        return restored

    def _discard_offered(self, entry: JournalEntry) -> None:
        if self.journal is not None:
            self.journal.discard(entry)
        self.show_recovery_offers()

    def _restore(self, entry: JournalEntry) -> bool:
        assert self.journal is not None
        try:
            dataset = self.journal.restore(entry)
        except JournalError as exc:
            self._settle_unrestorable(entry, str(exc))
            return False
        self._files.adopt(dataset, entry.source_path, modified=True)
        if self.journal.write(self.session_id, dataset, entry.source_path):
            self.journal.discard(entry)
        return True

    def _settle_unrestorable(self, entry: JournalEntry, reason: str) -> None:
        """Offer an entry that cannot be restored once: save what it still holds, or let it
        go. Either way it is not offered again (closing the question sets it aside)."""
        assert self.journal is not None
        host = self._host
        lines = self.journal.salvage(entry)
        answer = host.ask_unrestorable(entry, reason, len(lines))
        if answer == "save" and lines:
            stem = entry.source_path.stem if entry.source_path is not None else "dataset"
            target = host.choose_save_path(
                Path(self._files.start_folder()) / f"{stem} (recovered edits).jsonl",
                "Save the Recovered Examples",
                JSONL_FILTER,
            )
            if target is not None:
                try:
                    atomic_write(target, b"".join(line + b"\n" for line in lines))
                except SaveError as exc:
                    host.show_error(str(exc))
                else:
                    self.journal.discard(entry)
                    host.statusBar().showMessage(
                        f"Saved {count(len(lines), 'recovered example')} to {target.name}.",
                        10_000,
                    )
                    return
        if answer == "discard":
            self.journal.discard(entry)
            return
        kept = self.journal.set_aside(entry)
        if kept is not None:
            host.statusBar().showMessage(
                f"The unsaved work that could not be restored was kept in {kept}.", 15_000
            )

    # Closing -----------------------------------------------------------------------------

    def shut_down(self) -> None:
        """The window closes: nothing more is journalled, this session's entry goes, and the
        journal's background work is stopped and waited for, so quitting leaves no
        half-written file in the journal folder.

        Work still queued behind other jobs never begins; work under way stops at its next
        step, which takes a moment. The wait is capped all the same: a temporary file left by
        a write that overran is removed at a later start.
        """
        self._timer.stop()  # what was discarded must not be journalled while closing
        self._closing = True
        self.clear_entry(now=True)
        delete_files(self._deleting)  # earlier deletions still queued behind other work
        self._deleting.clear()
        deadline = time.monotonic() + JOURNAL_STOP_WAIT_S
        if self._writing is not None and self._writing[0].stop_and_wait(
            max(0.0, deadline - time.monotonic())
        ):
            self._writing = None
        if self._preparing is not None and self._preparing.stop_and_wait(
            max(0.0, deadline - time.monotonic())
        ):
            self._preparing = None

"""Bulk tools: changes to many examples at once, each one undo step.

The slow ones (set the system message, trim whitespace, remove duplicates) work out their
change off the UI thread over a snapshot of the records and apply it here; a change worked
out from records edited meanwhile is stale, so it is worked out again after a pause in
editing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.analysis import (
    RecordAnalysis,
    derive_analysis,
    other_counters,
    set_system_text_unread,
)
from desktop.core.bulk import (
    plan_remove_duplicates,
    plan_set_system_message,
    plan_trim_whitespace,
    system_message_changes,
)
from desktop.core.dataset import Dataset, LineState, Record, with_value
from desktop.core.formats import plan_legacy_conversion
from desktop.core.tokens import TokenCounter
from desktop.core.wording import count
from desktop.ui.common.dialogs import SystemMessageDialog, SystemPromptDialog
from desktop.ui.common.ops import run_op, throttled
from desktop.ui.common.workers import JobContext
from desktop.ui.dataset.commands import RemoveRecordsCommand, ReplaceRecordsCommand
from desktop.ui.dataset.document_results import WorkedOut
from desktop.ui.window.host import WindowHost

#: A bulk change whose examples were edited while it was worked out is worked out again
#: after a pause in editing this long (seconds), so typing cannot keep restarting it.
BULK_RERUN_IDLE_S = 1.0
#: A bulk tool reports its progress every this many examples.
BULK_PROGRESS_EVERY = 1000


class Unchanged(Enum):
    """Said by a bulk change's ``unread`` of an example that the change leaves as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
#: What ``unread`` tells of an example: unchanged, its new record and that record's
#: analysis, or None when the example must be read to tell.
Unread = tuple[Record, RecordAnalysis] | Unchanged | None


@dataclass(frozen=True)
class BulkJob:
    """A bulk tool's work: which records, the plan made from them off the UI thread, and how
    the plan becomes one undo step on the UI thread."""

    label: str
    records: Callable[[], list[Record]]
    #: (records, one at a time, with pauses between) and a pause for later steps -> plan
    plan: Callable[[Iterable[Record], Callable[[], object]], object]
    apply: Callable[[object], None]


@dataclass(frozen=True)
class _NewExamples:
    """A bulk change's (old, new) examples, and the analyses worked out for new ones."""

    pairs: list[tuple[Record, Record]]
    worked_out: WorkedOut


@dataclass
class _Running:
    """A bulk job under way, and the dataset and version it was worked out from."""

    job: BulkJob
    dataset: Dataset
    version: int


class BulkController(QObject):
    """Runs the Tools menu's changes to many examples."""

    #: A bulk change ended (applied, stale or failed): closing may go ahead.
    finished = Signal()

    def __init__(self, host: WindowHost, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(host.window())
        self._clock = clock
        self._running: _Running | None = None
        #: A bulk change to work out again after a pause in editing (its examples were edited
        #: while it was worked out), and for which dataset.
        self._waiting: tuple[BulkJob, Dataset] | None = None
        self._last_edit = clock()
        host.document.undo_stack.indexChanged.connect(self._note_edit)

    @property
    def _host(self) -> WindowHost:
        # The window is this object's parent: holding it in an attribute as well would make
        # a reference cycle that keeps a deleted window's wrapper alive.
        return cast("WindowHost", self.parent())

    @property
    def running(self) -> bool:
        """True while a bulk tool works out its change in the background (or waits to)."""
        return self._running is not None or self._waiting is not None

    def _note_edit(self) -> None:
        self._last_edit = self._clock()

    def _status(self, text: str, ms: int) -> None:
        self._host.statusBar().showMessage(text, ms)

    # The tools -----------------------------------------------------------------------------

    def set_system_message(self) -> None:
        """Set or replace the system message of all or selected examples (one undo step)."""
        host = self._host
        dataset = host.document.dataset
        current = host.editor_panel.usual_system() or ""
        selected = host.editor_panel.selected_ids()
        dialog = SystemMessageDialog(current, len(selected) > 1, host.window())
        if not host.run_dialog(dialog):
            return
        choice = dialog.choice()

        def records() -> list[Record]:
            if not choice.selected_only:
                return list(dataset)
            chosen = []
            for record_id in selected:
                with contextlib.suppress(KeyError):  # deleted since it was selected
                    chosen.append(dataset.record(record_id))
            return chosen

        def plan(records: Iterable[Record]) -> dict[int, Any]:
            return plan_set_system_message(
                records,
                choice.text,
                only_replace_existing=choice.only_replace_existing,
                only_add_missing=choice.only_add_missing,
            )

        # Only the new text needs counting and checking: each new example's analysis is
        # derived from its old one in the same pass that makes it.
        analysis = host.document.analysis
        known = host.document.known_results()
        texts: dict[str, tuple[int, ...]] = {}
        counters: list[TokenCounter] = []  # found in the worker: loading one takes a moment

        def counters_now() -> list[TokenCounter]:
            if not counters:
                counters.extend((analysis.counter, *other_counters(analysis.counter)))
            return counters

        def make(old: Record, value: Any) -> tuple[Record, RecordAnalysis | None]:
            # A system message set (not removed) leaves a chat example a chat example.
            new = with_value(old, value, kind=old.kind if choice.text else None)
            before = known(old)
            if before is None:
                return new, None
            return new, derive_analysis(new, before, counters_now(), texts, proven=True)

        def unread(old: Record) -> Unread:
            before = known(old)
            changes = system_message_changes(
                None if before is None else before.facts,
                choice.text,
                only_replace_existing=choice.only_replace_existing,
                only_add_missing=choice.only_add_missing,
            )
            if changes is None or before is None:
                return None
            if not changes:
                return UNCHANGED
            return set_system_text_unread(old, before, choice.text, counters_now(), texts)

        self._run_values("Set system message", records, plan, make, unread)

    def trim_whitespace(self) -> None:
        """Strip spaces and blank lines around every message (one undo step)."""
        dataset = self._host.document.dataset
        self._run_values("Trim whitespace", lambda: list(dataset), plan_trim_whitespace)

    def remove_duplicates(self) -> None:
        """Remove examples that repeat an earlier one exactly (one undo step)."""
        document = self._host.document
        dataset = document.dataset

        def apply(ids: object) -> None:
            assert isinstance(ids, list)
            if not ids:
                self._status("No duplicate examples found.", 5000)
                return
            label = f"Remove {count(len(ids), 'duplicate example')}"
            document.push(RemoveRecordsCommand(document.dataset, ids, label))
            self._status(f"{label} (Undo brings them back).", 6000)

        self.run(
            BulkJob(
                "Remove duplicates",
                lambda: list(dataset),
                lambda paced, _pause: plan_remove_duplicates(paced),
                apply,
            )
        )

    def remove_empty_lines(self) -> int:
        """Remove blank lines, which some providers reject (one undo step)."""
        document = self._host.document
        ids = [r.id for r in document.dataset if r.state is LineState.BLANK]
        if not ids:
            self._status("There are no empty lines.", 5000)
            return 0
        label = f"Remove {count(len(ids), 'empty line')}"
        document.push(RemoveRecordsCommand(document.dataset, ids, label))
        self._status(f"{label} (Undo brings them back).", 6000)
        return len(ids)

    def convert_legacy(self) -> int:
        """Convert prompt/completion examples to chat examples (one undo step)."""
        host = self._host
        dataset = host.document.dataset
        preview = plan_legacy_conversion(dataset)
        if not preview.values:
            host.statusBar().showMessage("There are no prompt/completion examples to convert.")
            return 0
        dialog = SystemPromptDialog(
            "Convert to chat examples",
            f"{count(len(preview.values), 'prompt/completion example')} will become "
            "conversations: "
            "the prompt becomes the user's message and the completion the assistant's reply.",
            preview.notes,
            host.window(),
        )
        if not host.run_dialog(dialog):
            return 0
        conversion = plan_legacy_conversion(dataset, dialog.system())
        olds = [dataset.record(record_id) for record_id in conversion.values]
        pairs = [(old, with_value(old, conversion.values[old.id])) for old in olds]
        return self._replace_examples(pairs, "Convert to chat examples")

    def _run_values(
        self,
        label: str,
        records: Callable[[], list[Record]],
        plan: Callable[[Iterable[Record]], dict[int, Any]],
        make: Callable[[Record, Any], tuple[Record, RecordAnalysis | None]] | None = None,
        unread: Callable[[Record], Unread] | None = None,
    ) -> None:
        """Work out new examples off the UI thread, then replace them as one undo step.

        ``make`` makes a new example from the old one and its planned value, and may work out
        its analysis from the old one's on the way (None when it cannot). ``unread`` may tell,
        without reading an example, that it stays as it is (``UNCHANGED``) or what it becomes
        and its analysis; only the examples it cannot tell about (None) are planned.
        """

        def work(paced: Iterable[Record], pause: Callable[[], object]) -> _NewExamples:
            made = _NewExamples([], {})
            # The examples in their order, each still to plan or already made (old, new).
            order: list[Record | tuple[Record, Record]] = []

            def untold() -> Iterator[Record]:
                # Planned as they come, so that the plan keeps its pace and progress.
                for record in paced:
                    told = None if unread is None else unread(record)
                    if told is None:
                        order.append(record)
                        yield record
                    elif told is not UNCHANGED:
                        new, result = told
                        order.append((record, new))
                        made.worked_out[id(new)] = (new, result)

            planned = plan(untold())
            for item in order:
                if isinstance(item, tuple):
                    made.pairs.append(item)
                    continue
                if item.id not in planned:
                    continue
                pause()
                old, value = item, planned[item.id]
                new, result = (with_value(old, value), None) if make is None else make(old, value)
                made.pairs.append((old, new))
                if result is not None:
                    made.worked_out[id(new)] = (new, result)
            return made

        def apply(made: object) -> None:
            assert isinstance(made, _NewExamples)
            if made.pairs:
                self._host.document.keep_worked_out(made.worked_out)
            self._replace_examples(made.pairs, label)

        self.run(BulkJob(label, records, work, apply))

    def _replace_examples(self, pairs: list[tuple[Record, Record]], label: str) -> int:
        """Swap (old, new) record pairs in as one undo step; how many changed."""
        if not pairs:
            self._status(f"{label}: nothing needed changing.", 5000)
            return 0
        document = self._host.document
        document.push(ReplaceRecordsCommand(document.dataset, pairs, label))
        n = len(pairs)
        self._status(f"{label}: {count(n, 'example')} changed (Undo takes it back).", 6000)
        return n

    # Running a job ---------------------------------------------------------------------------

    def run(self, job: BulkJob) -> None:
        """Work out ``job`` off the UI thread; apply it on this thread as one undo step.

        A plan made from records that were edited meanwhile is stale, so it is made again.
        """
        host = self._host
        if self.running or host.document.loading:
            self._status("Please wait until the current work is finished.", 5000)
            return
        dataset = host.document.dataset
        records = job.records()
        total = len(records)

        def paced(context: JobContext) -> Iterator[Record]:
            for done, record in enumerate(records):
                if done % BULK_PROGRESS_EVERY == 0:
                    context.progress(done, total)
                if not context.checkpoint():
                    return
                yield record

        run_op(
            self,
            lambda context: job.plan(paced(context), context.checkpoint),
            name=job.label.lower(),
            success=self._on_result,
            failure=host.show_error,
            progress=throttled(self._on_progress),
            done=self._on_done,
        )
        self._running = _Running(job, dataset, dataset.version)
        host.update_actions()

    def _on_progress(self, done: int, total: int) -> None:
        if self._running is None:
            return
        host = self._host
        host.progress.show()
        host.progress.setRange(0, max(1, total))
        host.progress.setValue(done)
        host.progress_label.setText(f"{self._running.job.label}… {done:,} of {total:,}")

    def _on_result(self, outcome: object) -> None:
        running = self._running
        if running is None:
            return
        document = self._host.document
        document.take_pending_edits()  # typing not applied yet makes the plan stale too
        if running.dataset is not document.dataset:
            return  # another file was opened meanwhile
        if running.dataset.version != running.version or document.saving:
            # Edited meanwhile, or a save is writing the file: plan again afterwards.
            self._waiting = (running.job, running.dataset)
            return
        running.job.apply(outcome)

    def _on_done(self) -> None:
        self._running = None
        host = self._host
        host.progress.hide()
        host.progress_label.setText("")
        host.update_actions()
        if self._waiting is not None:
            self._rerun_when_idle()
        self.finished.emit()

    def _rerun_when_idle(self) -> None:
        if self._waiting is None:
            return
        job, dataset = self._waiting
        document = self._host.document
        if document.dataset is not dataset:
            self._waiting = None  # another dataset was opened meanwhile
            self._host.update_actions()
            self.finished.emit()
            return
        quiet = self._clock() - self._last_edit
        if quiet < BULK_RERUN_IDLE_S or document.saving:
            self._host.progress_label.setText(f"{job.label}: waiting for a pause in editing…")
            delay = max(BULK_RERUN_IDLE_S - quiet, 0.1)
            QTimer.singleShot(int(delay * 1000), self, self._rerun_when_idle)
            return
        self._waiting = None
        self.run(job)

"""The open dataset as the UI sees it: file, undo history, analysis, loading and saving.

One object owns the Dataset so that the table, the conversation editor, the findings list
and the estimator all look at the same records. Slow work (reading, counting, checking)
runs through ``ops.run_op``; results are merged here on the UI thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core.analysis import (
    DatasetAnalysis,
    RecordAnalysis,
    analyze_records,
    default_cache,
    other_counters,
)
from desktop.core.catalog import Catalog
from desktop.core.dataset import Change, Container, Dataset, Record, jsonl_parts
from desktop.core.findings import Finding, Severity
from desktop.core.findings_report import FindingsReport, report_of
from desktop.core.jsonl_io import (
    SaveError,
    StagedWrite,
    remove_stale_temps,
    saved_as_jsonl,
    stage_write,
    write_target,
)
from desktop.core.reading import (
    CacheLearning,
    LineEndings,
    ReadEnd,
    ReadProgress,
    ReadRows,
    ReadStart,
    ReadWhole,
    read_in_chunks,
)
from desktop.core.tokens import (
    EncodingFileError,
    TokenCounter,
    encoding_for_model,
    get_counter,
    loaded_encodings,
)
from desktop.ui.common.ops import Op, run_op, throttled
from desktop.ui.common.workers import JobContext, release_in_background
from desktop.ui.dataset.commands import EditRecordCommand, InsertRecordsCommand
from desktop.ui.dataset.dataset_model import ExampleTableModel
from desktop.ui.dataset.disk_watch import DiskWatch
from desktop.ui.dataset.document_findings import DatasetChecks
from desktop.ui.dataset.document_results import RefreshBatcher, ResultStore, WorkedOut

log = logging.getLogger(__name__)

#: Records per chunk handed from a re-count to the UI thread: each is merged there in a few
#: milliseconds, and fewer hand-overs let an undo of 100,000 examples end sooner.
ANALYSIS_CHUNK = 5000
#: Typing pause before the edited example is re-counted (milliseconds).
ANALYSIS_DEBOUNCE_MS = 150
#: Above this many edited records at once, re-check them in a worker.
INLINE_ANALYSIS_LIMIT = 300


def _read_job(path: Path, counter: TokenCounter, context: JobContext) -> None:
    """Read a file in chunks (see ``reading.read_in_chunks``), handing each to the UI thread.

    The reader calls the context's checkpoint after every line so that the UI thread, which
    paints the rows as they arrive, always goes first.
    """
    target = write_target(path)
    remove_stale_temps(target.parent, target.name)  # left by saves a crash cut short
    events = read_in_chunks(path, counter, context.checkpoint, cache=default_cache())
    try:
        for event in events:
            if isinstance(event, ReadProgress):
                if not context.progress(event.done, event.total):
                    return
            elif context.cancelled:
                return
            else:
                context.yield_(event)
    finally:
        events.close()  # what the reading taught the count cache is stored even when stopped


def _analyze_job(
    records: list[Record],
    counter: TokenCounter,
    generation: int,
    reuse: Callable[[Record], RecordAnalysis | None],
    previous: Callable[[Record], RecordAnalysis | None],
    context: JobContext,
) -> None:
    """Analyse records in chunks (after a model change or a large bulk edit); results still
    valid for a record (after an undo, or counted for another model too) are reused, and
    those of a small change (a new system message) derived from the record's last result."""
    total = len(records)
    others = other_counters(counter)
    cache = default_cache()
    with CacheLearning(cache) as learnt:
        for start in range(0, total, ANALYSIS_CHUNK):
            chunk = records[start : start + ANALYSIS_CHUNK]
            results = analyze_records(
                chunk,
                counter,
                context.checkpoint,
                others=others,
                cache=cache,
                reuse=reuse,
                previous=previous,
                learnt=learnt.rows,
            )
            if context.cancelled:
                return
            context.yield_((generation, chunk, results))
            context.progress(min(total, start + ANALYSIS_CHUNK), total)
            learnt.store_some()


class DatasetDocument(QObject):
    """The open dataset with its file, undo stack, live analysis and background work."""

    #: A different dataset is now open (new, opened, closed, reloaded, restored).
    dataset_replaced = Signal()
    #: Reading a file: bytes done, bytes total.
    load_progress = Signal(int, int)
    #: Reading ended: True when the whole file is in, False when cancelled or failed.
    load_finished = Signal(bool)
    #: Counting and checking in the background: records done, records total.
    analysis_progress = Signal(int, int)
    #: Tokens or findings of some records changed (a list of ids, or None for all).
    analysis_updated = Signal(object)
    #: Findings or totals changed (debounced; panels refresh on this).
    findings_changed = Signal()
    #: The unsaved-changes state flipped.
    modified_changed = Signal(bool)
    #: The file the dataset belongs to changed (None for an unsaved new dataset).
    path_changed = Signal(object)
    #: Something went wrong; one plain sentence for the user.
    failed = Signal(str)
    #: Another program changed the open file on disk.
    changed_on_disk = Signal()
    #: The estimate now uses this model (after a choice, or the one kept when a choice's
    #: tokenizer could not be loaded).
    model_applied = Signal(str)
    #: Editors holding typed text they have not applied yet must apply it now (before a save,
    #: a close or a recovery copy), so the dataset is complete.
    pending_edits_wanted = Signal()

    def __init__(self, catalog: Catalog, model_id: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.dataset = Dataset()
        self.analysis = DatasetAnalysis(catalog, model_id)
        self.undo_stack = QUndoStack(self)
        self.table = ExampleTableModel(self)
        self.table.set_dataset(self.dataset, self.analysis)
        self.path: Path | None = None
        #: The file most recently opened (kept when a partial read detaches the dataset).
        self.opened_path: Path | None = None
        self.loading = False
        #: True while a save writes the file (the dataset must not change meanwhile).
        self.saving = False
        #: Edits made while a save ran, applied once it has ended.
        self._held_edits: list[QUndoCommand] = []
        self._load_failed = False
        self._forced_dirty = False
        self._was_modified = False
        self._load_op: Op[None] | None = None
        self._analysis_op: Op[None] | None = None
        #: Ids of the records the re-check under way has not handed over yet.
        self._unmerged: set[int] = set()
        self._generation = 0
        self._dirty: set[int] = set()
        self._store = ResultStore(self.analysis)
        self._checks = DatasetChecks(
            self,
            catalog,
            lambda: (self.analysis.model_id, list(self._store.results.values())),
            self._apply_report,
            self.failed.emit,
        )
        self._tokenizer_op: Op[object] | None = None
        self._pending_model: str | None = None
        self.dataset.subscribe(self._on_change)
        self._analysis_timer = QTimer(self, singleShot=True, interval=ANALYSIS_DEBOUNCE_MS)
        self._analysis_timer.timeout.connect(self._flush_dirty)
        self._refresh = RefreshBatcher(self, self._refresh_views)
        self.disk = DiskWatch(self)
        self.disk.changed.connect(self.changed_on_disk)
        self.undo_stack.cleanChanged.connect(self._emit_modified)

    def load_tokenizers(self) -> None:
        """Load every shipped tokenizer now (at start-up, before the window shows: building
        one holds the interpreter lock for up to half a second, which would freeze a window on
        screen). Then every count is made for each, and a model switch needs no recount."""
        try:
            other_counters(self.analysis.counter)
        except EncodingFileError as exc:  # reading a file says so in plain words
            log.warning("Tokenizers not loaded at start-up: %s", exc)

    # State ---------------------------------------------------------------------------------

    @property
    def is_modified(self) -> bool:
        """True when the dataset differs from the file (or is new and has records)."""
        return self._forced_dirty or not self.undo_stack.isClean()

    def _emit_modified(self) -> None:
        modified = self.is_modified
        if modified != self._was_modified:
            self._was_modified = modified
            self.modified_changed.emit(modified)

    @property
    def display_name(self) -> str:
        """The file name, or 'Untitled' for a new dataset."""
        return self.path.name if self.path is not None else "Untitled"

    @property
    def needs_new_name_to_save(self) -> bool:
        """True when Save must ask for a .jsonl name (new, or read from JSON array / CSV)."""
        return self.path is None or self.dataset.container in (
            Container.JSON_ARRAY,
            Container.CSV,
        )

    @property
    def findings(self) -> list[Finding]:
        """The current findings, errors first (refreshed after edits, debounced)."""
        return self._checks.report.findings

    @property
    def finding_codes(self) -> frozenset[str]:
        """Codes of the findings that concern single examples (for the filter menu)."""
        return self._checks.report.codes

    @property
    def dataset_findings(self) -> list[Finding]:
        """Findings about the dataset as a whole (bounded in number)."""
        return self._checks.report.dataset_findings

    @property
    def checking(self) -> bool:
        """True while a file is read or records are counted in the background."""
        return self.loading or self._analysis_op is not None

    @property
    def busy(self) -> bool:
        """True while any background work or pending re-check is under way."""
        return (
            self.checking
            or self.saving
            or self._tokenizer_op is not None
            or self._checks.busy
            or self._analysis_timer.isActive()
        )

    def results_snapshot(self) -> dict[int, RecordAnalysis]:
        """A copy of every record's analysis (for filtering in a worker)."""
        return dict(self._store.results)

    def known_results(self) -> Callable[[Record], RecordAnalysis | None]:
        """What a worker may ask for the analysis of a record as it is now (None when that
        very record has none yet)."""
        return self._store.reuse(self.analysis.encoding_name)

    def keep_worked_out(self, worked_out: WorkedOut) -> None:
        """Analyses a bulk change worked out for the records it is about to put in, so that
        checking them afterwards takes these over instead of working them out again."""
        self._store.keep_worked_out(worked_out)

    # Opening -------------------------------------------------------------------------------

    def _install(self, dataset: Dataset, path: Path | None, *, loading: bool = False) -> None:
        """Make ``dataset`` the open one; forget the previous one and its history."""
        self._stop_workers(announce=False)
        with contextlib.suppress(ValueError):
            self.dataset.unsubscribe(self._on_change)
        old = self.dataset
        self.dataset = dataset
        # Freeing 100,000 records and their results takes a few hundred milliseconds: the
        # references go to a worker that lets them go a slice at a time.
        garbage = self._store.forget_all()
        garbage.extend(self._checks.forget())
        if old is not dataset:
            garbage.extend(old.release())
        release_in_background(garbage)
        self._dirty.clear()
        self._refresh.discard()
        self.undo_stack.clear()
        self._forced_dirty = False
        self.table.set_dataset(dataset, self.analysis, loading=loading)
        if not loading:
            dataset.subscribe(self._on_change)
        self._set_path(path)
        self.dataset_replaced.emit()
        self._emit_modified()
        self.findings_changed.emit()

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        self.disk.watch(path)
        self.path_changed.emit(path)

    def new(self) -> None:
        """Start an empty, unsaved dataset."""
        self._install(Dataset(), None)

    def adopt(self, dataset: Dataset, path: Path | None, *, modified: bool) -> None:
        """Open a dataset made elsewhere (an import, a restored journal), then count it."""
        self._install(dataset, path)
        self._forced_dirty = modified
        self._emit_modified()
        self.reanalyze()

    def open(self, path: Path) -> None:
        """Read ``path`` in the background; rows appear while it is read."""
        path = Path(path)
        self._install(Dataset(), path, loading=True)
        self.opened_path = path
        self.loading = True
        self._load_failed = False
        analysis = self.analysis
        op = run_op(
            self,
            lambda context: _read_job(path, analysis.counter, context),
            name=f"reading {path.name}",
            yielded=lambda item: self._on_load_chunk(op, item),
            progress=throttled(self.load_progress.emit),
            failure=self._on_load_error,
            done=lambda: self._on_load_finished(op),
        )
        self._load_op = op

    def _on_load_chunk(self, op: Op[None], item: object) -> None:
        if op is not self._load_op:
            return  # a chunk from a read that was cancelled
        if isinstance(item, ReadStart):
            dataset = Dataset(bom=item.bom, container=Container.JSONL, id_source=item.ids)
            self.dataset = dataset
            self.table.set_dataset(dataset, self.analysis, loading=True)
            self.dataset_replaced.emit()
            return
        if isinstance(item, ReadEnd):
            self.dataset.newline = item.newline
            return
        if isinstance(item, ReadWhole):
            self.dataset = item.dataset
            self.table.set_dataset(item.dataset, self.analysis, loading=True)
            self.table.sync_appended()
            self.dataset_replaced.emit()
            return
        assert isinstance(item, ReadRows)
        dataset = self.dataset
        for record in item.records:
            dataset.insert(len(dataset), record)
        records = item.records or [dataset.record(r.record_id) for r in item.results]
        self._store.merge(records, item.results)
        if item.records:
            self.table.sync_appended()
        else:
            self.table.refresh_analysis_columns(r.record_id for r in item.results)
        self.analysis_updated.emit([r.record_id for r in item.results])

    def _on_load_error(self, message: str) -> None:
        self._load_failed = True
        self.failed.emit(message)

    def _on_load_finished(self, op: Op[None]) -> None:
        if op is not self._load_op:
            return
        self._end_load(complete=not op.cancelled and not self._load_failed)

    def _end_load(self, *, complete: bool, announce: bool = True) -> None:
        """Make what was read editable. A partial read is detached from its file, so that
        saving can never replace the whole file with the part that was read."""
        self._load_op = None
        self.loading = False
        self.dataset.mark_saved()
        self.table.finish_loading()
        self.dataset.subscribe(self._on_change)
        if complete:
            self.disk.take_stamp()
        else:
            self._set_path(None)
            if self.dataset.container is Container.JSONL:
                # The reader counts line endings to the end; for the part read, count here,
                # so examples added to it end their lines as the file's lines do.
                endings = LineEndings()
                for record in self.dataset:
                    endings.add(record.eol)
                self.dataset.newline = endings.newline
        self._checks.refresh()
        if announce:
            self.load_finished.emit(complete)

    def cancel_work(self) -> None:
        """Stop reading and counting in the background (rows read so far stay)."""
        self._stop_workers(announce=True)

    def _stop_workers(self, *, announce: bool) -> None:
        if self._load_op is not None:
            self._load_op.cancel()
            self._end_load(complete=False, announce=announce)
        if self._analysis_op is not None:
            self._analysis_op.cancel()
            self._analysis_op = None
            self._unmerged = set()
            self._generation += 1

    # Analysis ------------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The model chosen last (the analysis follows once its tokenizer is loaded)."""
        return self._pending_model or self.analysis.model_id

    def set_model(self, model_id: str) -> None:
        """Estimate for another model; re-count everything when its tokenizer differs.

        A tokenizer not used yet in this run is loaded in a worker first (its files take a few
        hundred milliseconds to read and check).
        """
        self._pending_model = model_id
        encoding = encoding_for_model(model_id)
        if encoding in loaded_encodings():
            self._apply_model(model_id)
            return
        if self._tokenizer_op is None:
            self._load_tokenizer(encoding)
        # else the model is applied when the tokenizer being loaded is ready

    def _load_tokenizer(self, encoding: str) -> None:
        self._tokenizer_op = run_op(
            self,
            lambda _context: get_counter(encoding),
            name="loading the tokenizer",
            failure=self.failed.emit,
            done=lambda: self._on_tokenizer_loaded(encoding),
        )

    def _on_tokenizer_loaded(self, encoding: str) -> None:
        self._tokenizer_op = None
        model_id, self._pending_model = self._pending_model, None
        if model_id is None:
            return
        if encoding_for_model(model_id) == encoding and encoding not in loaded_encodings():
            # It could not be loaded (the error was shown): keep the current model.
            self.model_applied.emit(self.analysis.model_id)
            return
        self.set_model(model_id)  # loaded, or another model was chosen meanwhile

    def _apply_model(self, model_id: str) -> None:
        self._pending_model = None
        if self.analysis.set_model(model_id):
            # Results that hold counts for the new tokenizer too are taken over, not redone.
            self._store.switch_tokenizer()
            self.reanalyze()
        else:
            self._checks.refresh()
        self.model_applied.emit(model_id)

    def set_epochs(self, epochs: int | None) -> None:
        """Use explicit epochs, or None for the automatic choice."""
        self.analysis.set_epochs(epochs)
        self.findings_changed.emit()

    def reanalyze(self, records: Iterable[Record] | None = None) -> None:
        """Count and check records (all when None) in the background.

        A re-check under way stops, and the records it has not handed over yet are checked
        with these: a bulk edit made while a new tokenizer's counts came in left the other
        examples uncounted, and the totals short.
        """
        if records is None:
            self._store.reset()
            self.table.refresh_analysis_columns()
            records = list(self.dataset)
        elif self._analysis_op is not None and self._unmerged:
            wanted = self._unmerged.union(record.id for record in records)
            records = [record for record in self.dataset if record.id in wanted]
        records = list(records)
        if self._analysis_op is not None:
            self._analysis_op.cancel()
        self._unmerged = {record.id for record in records}
        self._generation += 1
        generation = self._generation
        analysis = self.analysis
        reuse = self._store.reuse(analysis.encoding_name)
        previous = self._store.replaced()
        op = run_op(
            self,
            lambda context: _analyze_job(
                records, analysis.counter, generation, reuse, previous, context
            ),
            name="checking the examples",
            yielded=self._on_analysis_chunk,
            progress=throttled(self.analysis_progress.emit),
            failure=self.failed.emit,
            done=lambda: self._on_analysis_finished(op),
        )
        self._analysis_op = op

    def _on_analysis_chunk(self, item: object) -> None:
        generation, records, results = item
        if generation != self._generation:
            return
        records = records[: len(results)]  # an analysis that stopped early has fewer
        ids = [record.id for record in records]
        self._unmerged.difference_update(ids)
        # Only results of records still in the dataset as they were analysed count.
        current = self.dataset.current(ids)
        pairs = enumerate(zip(current, records, strict=True))
        kept = [i for i, (now, record) in pairs if now is record]
        if len(kept) < len(records):
            records = [records[i] for i in kept]
            results = [results[i] for i in kept]
        self._store.merge(records, results)
        self._refresh.add([result.record_id for result in results])
        self._checks.schedule()

    def _refresh_views(self, ids: list[int]) -> None:
        self.table.refresh_analysis_columns(ids)
        self.analysis_updated.emit(ids)

    def _on_analysis_finished(self, op: Op[None]) -> None:
        if op is self._analysis_op:
            self._analysis_op = None
            self._unmerged = set()
            self._refresh.flush()
            self._store.drop_previous()
            self._checks.refresh()
            self.analysis_progress.emit(1, 1)

    def _on_change(self, change: Change) -> None:
        if change.kind == "remove":
            self.analysis.remove(change.record_id)
            self._store.retire(change.record_id)
            self._dirty.discard(change.record_id)
            self._checks.schedule()
            self.analysis_updated.emit([change.record_id])
            return
        if change.kind in ("replace", "insert"):
            self._dirty.add(change.record_id)
            self._analysis_timer.start(ANALYSIS_DEBOUNCE_MS)
        elif change.kind in ("replace_many", "insert_many"):
            self._dirty.update(change.record_ids)
            # A bulk change is no burst of typing: it is checked once the edit has returned
            # and the window has repainted (a 0 ms timer would run before the repaint).
            large = len(change.record_ids) > INLINE_ANALYSIS_LIMIT
            self._analysis_timer.start(1 if large else ANALYSIS_DEBOUNCE_MS)
        elif change.kind == "remove_many":
            ids = change.record_ids
            self.analysis.remove_many(ids)
            self._store.retire_many(ids)
            self._dirty.difference_update(ids)
            self._checks.schedule()
            self.analysis_updated.emit(list(change.record_ids))

    def _flush_dirty(self) -> None:
        """Re-check the examples edited since the last pause (only those)."""
        dirty, self._dirty = self._dirty, set()
        records = []
        for record_id in dirty:
            try:
                records.append(self.dataset.record(record_id))
            except KeyError:
                continue
        if not records:
            return
        if len(records) > INLINE_ANALYSIS_LIMIT:
            self.reanalyze(records)
            return
        reuse = self._store.reuse(self.analysis.encoding_name)
        for record in records:
            self._store.update_one(record, reuse)
        self._refresh_views([r.id for r in records])
        self._checks.schedule()

    def flush_analysis(self) -> None:
        """Bring tokens, totals and findings up to date now, on this thread (for tests)."""
        self._analysis_timer.stop()
        self._flush_dirty()
        self._refresh.flush()
        self._checks.apply_now(report_of(self.analysis))

    def _apply_report(self, report: FindingsReport) -> None:
        self.table.set_dataset_findings(report.dataset_findings)
        self.findings_changed.emit()

    def severity_counts(self) -> dict[Severity, int]:
        """How many findings of each severity there are now."""
        return dict(self._checks.report.counts)

    # Editing -------------------------------------------------------------------------------

    def push(self, command: QUndoCommand) -> None:
        """Apply an edit through the undo stack (the only way the UI changes the dataset)."""
        if self.loading:
            self.failed.emit("Please wait until the file has been read before editing it.")
            return
        if self.saving:
            # The file is being written from a snapshot: the edit is applied once it is saved.
            self._held_edits.append(command)
            return
        self.undo_stack.push(command)

    def edit_value(
        self, record_id: int, value: Any, text: str = "Edit example", merge_key: object = None
    ) -> None:
        """Replace one example's content (typing merges into one undo step per burst)."""
        self.push(EditRecordCommand.set_value(self.dataset, record_id, value, text, merge_key))

    def edit_text(self, record_id: int, text: str, merge_key: object = None) -> None:
        """Replace a line's raw text (how damaged lines are repaired)."""
        self.push(EditRecordCommand.set_text(self.dataset, record_id, text, "Edit line", merge_key))

    def insert_values(
        self, placed: Mapping[int, Any] | list[tuple[int, Any]], text: str
    ) -> list[int]:
        """Insert new examples at positions; returns their record ids."""
        items = placed.items() if isinstance(placed, Mapping) else placed
        records = [(position, self.dataset.make_record(value)) for position, value in items]
        command = InsertRecordsCommand(self.dataset, records, text)
        self.push(command)
        return command.record_ids

    def take_pending_edits(self) -> None:
        """Have every editor apply what it has been typed but not applied yet."""
        if not self.loading and not self.saving:
            self.pending_edits_wanted.emit()

    # Saving --------------------------------------------------------------------------------

    def changed_on_disk_since_load(self) -> bool:
        """True when the file on disk is not the one that was read or last saved."""
        return self.disk.changed_since_known()

    def save_to(self, path: Path, finished: Callable[[str | None], None]) -> None:
        """Save as JSONL at ``path`` atomically; ``finished`` then gets None, or one plain
        sentence saying why the file was not saved.

        A worker writes the bytes to a temporary file beside ``path`` (a large file takes
        most of a second) while the window goes on; the rename that replaces the file happens
        here, on the UI thread. Edits made meanwhile wait and are applied once the file is
        saved, so they stay unsaved changes rather than being taken as saved; an undo or redo
        made meanwhile leaves the window with unsaved changes too.
        """
        path = Path(path)
        self.take_pending_edits()
        dataset = self.dataset
        # Records never change, so the worker writes the dataset as it is now; writing
        # 100,000 edited examples here held the window for over two seconds.
        records, bom, newline = list(dataset), dataset.bom, dataset.newline
        version = dataset.version
        staged: list[StagedWrite] = []
        failure: list[str] = []
        self.saving = True

        def settle() -> None:
            self.saving = False
            try:
                if staged:
                    self._publish(staged[0], dataset, path, version)
            except SaveError as exc:
                failure.append(str(exc))
            held, self._held_edits = self._held_edits, []
            for command in held:
                self.push(command)
            finished(failure[0] if failure else None)

        run_op(
            self,
            lambda context: stage_write(
                path, jsonl_parts(records, bom, newline, context.checkpoint)
            ),
            name=f"saving {path.name}",
            success=staged.append,
            failure=failure.append,
            done=settle,
        )

    def _publish(self, staged: StagedWrite, dataset: Dataset, path: Path, version: int) -> None:
        """Put the written file in place and take its content as the saved state, if the
        dataset is still at ``version``, the one written."""
        with self.disk.paused():
            staged.commit()
        saved_as_jsonl(dataset)
        if dataset.version == version:
            self._forced_dirty = False
            self.undo_stack.setClean()
        else:
            # Undone or redone while the worker wrote: the file holds the state before, and
            # closing now must still ask, or that change would be lost.
            self._forced_dirty = True
        self._set_path(path)
        self._emit_modified()

    def keep_mine(self) -> None:
        """The user chose their edits over the changed file: stop warning, stay unsaved."""
        self.disk.take_stamp()
        self._forced_dirty = True
        self._emit_modified()

"""Everything the app knows about a dataset's health and cost, kept up to date incrementally.

Analysing a record (parse, validate, count tokens) is a pure function of the immutable record,
so workers can analyse thousands of records in the background and hand the results over. The
`DatasetAnalysis` that owns the results lives on one thread (the UI thread in the app); after an
edit it re-analyses only the edited record and adjusts the running totals, so the estimate is
current within milliseconds whatever the size of the dataset.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from desktop.core.catalog import Catalog, ModelInfo
from desktop.core.dataset import (
    OLD_MAC_LINE_ENDINGS,
    STRAY_BYTE_ORDER_MARK,
    LineState,
    Record,
    parse_json_bytes,
)
from desktop.core.estimate import Estimate, RunningTotals
from desktop.core.findings import Finding, Severity
from desktop.core.tokens import ExampleTokens, TokenCounter, counter_for_model, encoding_for_model
from desktop.core.validation import (
    FINDING_CODES,
    ExampleFacts,
    example_facts,
    validate_dataset,
    validate_example,
)

#: Codes found while reading lines, before any example can be validated.
READ_FINDING_CODES: Mapping[str, str] = {
    "invalid_json": "A line cannot be read: not valid JSON or UTF-8 text, cut off, or too deep.",
    "blank_line": "The file has empty lines.",
}

#: Every code the analysis can report, for filters and documentation.
ALL_FINDING_CODES: Mapping[str, str] = {**READ_FINDING_CODES, **FINDING_CODES}

#: Count the tokens of this many records at a time (large enough for parallel encoding,
#: small enough that a worker soon reaches its next checkpoint).
BATCH_SIZE = 2048
#: Below this many records, starting other processes costs more than it saves.
PARALLEL_MIN_RECORDS = 20_000


@dataclass(frozen=True, slots=True)
class RecordAnalysis:
    """The findings and token counts of one record."""

    record_id: int
    tokens: ExampleTokens | None
    findings: tuple[Finding, ...]
    facts: ExampleFacts | None
    blank: bool = False

    @property
    def severity(self) -> Severity | None:
        """The worst severity among the findings; None when the record is fine."""
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=lambda s: s.rank)


def analyze_record(record: Record, counter: TokenCounter) -> RecordAnalysis:
    """Validate and count one record (pure: safe on any thread)."""
    if record.state is LineState.BLANK:
        return RecordAnalysis(record.id, None, (), None, blank=True)
    if record.state is LineState.BROKEN:
        return _analyze_broken(record)
    value = record.value
    findings = validate_example(value, line=record.line, record_id=record.id)
    tokens = counter.count(value)
    facts = example_facts(value, line=record.line, record_id=record.id, tokens=tokens.total)
    return RecordAnalysis(record.id, tokens, tuple(findings), facts)


_REPAIR_FIX = "Correct the line's text in the editor, or delete the line."
#: Fixes for reading problems that editing the one line does not solve best.
_FIXES = {
    OLD_MAC_LINE_ENDINGS: (
        "Open the file in a text editor, save it with Windows (CRLF) or Unix (LF) line "
        "endings, and open it here again."
    ),
    STRAY_BYTE_ORDER_MARK: (
        "Delete the invisible first character of the line (put the cursor at the very start "
        "and press Delete), or delete the line."
    ),
}


def _analyze_broken(record: Record) -> RecordAnalysis:
    value, error = parse_json_bytes(record.to_bytes())
    if error is not None:
        finding = Finding(
            code="invalid_json",
            severity=Severity.ERROR,
            text=error,
            line=record.line,
            fix=_FIXES.get(error, _REPAIR_FIX),
            record_id=record.id,
        )
        return RecordAnalysis(record.id, None, (finding,), None)
    findings = validate_example(value, line=record.line, record_id=record.id)
    return RecordAnalysis(record.id, None, tuple(findings), None)


def analyze_records(
    records: Sequence[Record],
    counter: TokenCounter,
    should_continue: Callable[[], bool] | None = None,
) -> list[RecordAnalysis]:
    """Analyse many records, counting tokens in parallel batches (pure: safe in a worker).

    ``should_continue`` is called between records (a worker passes its checkpoint, which
    also lets the UI thread go first); when it returns False the analysis stops early and
    returns what it has.
    """
    results: list[RecordAnalysis] = []
    for start in range(0, len(records), BATCH_SIZE):
        if should_continue is not None and not should_continue():
            break
        batch = records[start : start + BATCH_SIZE]
        examples = [r for r in batch if r.state is LineState.EXAMPLE]
        values = [r.value for r in examples]
        counts = counter.count_many(values, should_continue)
        counted = {r.id: (v, t) for r, v, t in zip(examples, values, counts, strict=True)}
        for record in batch:
            if should_continue is not None and not should_continue():
                return results
            entry = counted.get(record.id)
            if entry is None:
                results.append(analyze_record(record, counter))
                continue
            value, tokens = entry
            findings = validate_example(value, line=record.line, record_id=record.id)
            facts = example_facts(value, line=record.line, record_id=record.id, tokens=tokens.total)
            results.append(RecordAnalysis(record.id, tokens, tuple(findings), facts))
    return results


def _file_order(facts: ExampleFacts) -> tuple[bool, int, int]:
    line = facts.line
    return (line is None, line or 0, facts.record_id or 0)


def analyze_records_parallel(
    records: Sequence[Record], model_id: str, workers: int | None = None
) -> list[RecordAnalysis]:
    """Analyse a large dataset on every core (for the check command and other batch use).

    Token counting holds the interpreter lock, so threads do not help; contiguous slices go to
    other processes while this one analyses the first slice. Results come back in file order.
    Forked workers inherit the records; only spawned ones (other systems) receive a copy.
    """
    workers = workers or os.cpu_count() or 1
    counter = counter_for_model(model_id)
    if workers <= 1 or len(records) < PARALLEL_MIN_RECORDS:
        return analyze_records(records, counter)
    size = -(-len(records) // workers)
    bounds = [(start, min(start + size, len(records))) for start in range(0, len(records), size)]
    context = _process_context()
    shared = records if context.get_start_method() == "fork" else None
    with ProcessPoolExecutor(
        len(bounds) - 1,
        mp_context=context,
        initializer=_receive_records,
        initargs=(shared, model_id),
    ) as pool:
        futures = [
            pool.submit(_analyze_slice, start, end, None if shared else records[start:end])
            for start, end in bounds[1:]
        ]
        first_start, first_end = bounds[0]
        results = analyze_records(records[first_start:first_end], counter)
        for future in futures:
            results.extend(future.result())
    return results


@dataclass
class _WorkerState:
    """What a worker process was handed when it started (it lives only in that process)."""

    records: Sequence[Record] | None = None
    model_id: str = ""


_worker_state = _WorkerState()


def _receive_records(records: Sequence[Record] | None, model_id: str) -> None:
    _worker_state.records = records
    _worker_state.model_id = model_id


def _analyze_slice(start: int, end: int, records: Sequence[Record] | None) -> list[RecordAnalysis]:
    part = records if records is not None else (_worker_state.records or ())[start:end]
    return analyze_records(part, counter_for_model(_worker_state.model_id))


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe (Linux, no other threads): children inherit loaded encodings."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class DatasetAnalysis:
    """Per-record results plus running totals for one dataset, one model and an epoch choice.

    Not thread-safe: merge results from workers on the thread that owns this object.
    """

    def __init__(self, catalog: Catalog, model_id: str, epochs: int | None = None) -> None:
        self.catalog = catalog
        self._model_id = model_id
        self._epochs = epochs
        self._counter = counter_for_model(model_id)
        self._results: dict[int, RecordAnalysis] = {}
        self._totals = RunningTotals()
        self._validation_facts: list[ExampleFacts] | None = None
        self._dataset_findings: list[Finding] | None = None

    # Configuration -------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The model the estimate and the token limit refer to."""
        return self._model_id

    @property
    def model_info(self) -> ModelInfo | None:
        """Catalog facts about the model (None for models the catalog does not know)."""
        return self.catalog.get(self._model_id)

    @property
    def epochs(self) -> int | None:
        """Explicit epochs, or None for the automatic choice."""
        return self._epochs

    @property
    def counter(self) -> TokenCounter:
        """The token counter for the model's encoding."""
        return self._counter

    def set_model(self, model_id: str) -> bool:
        """Switch model; True when the encoding changed and every record must be re-analysed."""
        changed = encoding_for_model(model_id) != self._counter.encoding_name
        self._model_id = model_id
        if changed:
            self._counter = counter_for_model(model_id)
            self.reset()
        self._dataset_findings = None
        return changed

    def set_epochs(self, epochs: int | None) -> None:
        """Choose epochs (1–50) or None for automatic."""
        self._epochs = epochs

    def set_validation_facts(self, facts: Iterable[ExampleFacts] | None) -> None:
        """Facts of the validation file, so examples present in both are reported."""
        self._validation_facts = list(facts) if facts is not None else None
        self._dataset_findings = None

    # Results -------------------------------------------------------------------------------

    def merge(self, results: Iterable[RecordAnalysis]) -> None:
        """Take over results computed elsewhere (a worker), replacing older ones."""
        for result in results:
            self._store(result)
        self._dataset_findings = None

    def update(self, record: Record) -> RecordAnalysis:
        """Re-analyse one edited record; other records are not touched."""
        result = analyze_record(record, self._counter)
        self._store(result)
        self._dataset_findings = None
        return result

    def remove(self, record_id: int) -> None:
        """Forget a record that left the dataset."""
        if self._results.pop(record_id, None) is not None:
            self._totals.remove(record_id)
            self._dataset_findings = None

    def reset(self) -> None:
        """Forget everything (a new dataset, or a new encoding)."""
        self._results.clear()
        self._totals = RunningTotals()
        self._dataset_findings = None

    def _store(self, result: RecordAnalysis) -> None:
        self._results[result.record_id] = result
        if result.tokens is not None:
            self._totals.set(result.record_id, result.tokens)
        else:
            self._totals.remove(result.record_id)

    def get(self, record_id: int) -> RecordAnalysis | None:
        """The analysis of one record, if it has been analysed."""
        return self._results.get(record_id)

    def __len__(self) -> int:
        return len(self._results)

    def example_facts(self) -> list[ExampleFacts]:
        """Facts of every analysed example in file order (new examples last, oldest first).

        Duplicate findings point at the first occurrence, so the order matters; results may
        arrive from workers in any order.
        """
        facts = [r.facts for r in self._results.values() if r.facts is not None]
        facts.sort(key=_file_order)
        return facts

    def dataset_findings(self) -> list[Finding]:
        """Findings about the dataset as a whole (count, duplicates, consistency, limits)."""
        if self._dataset_findings is None:
            info = self.model_info
            findings = validate_dataset(
                self.example_facts(),
                token_limit=info.max_tokens_per_example if info is not None else None,
                model_id=self._model_id,
                validation_facts=self._validation_facts,
                trains_on_legacy=info.supports("completion") if info is not None else None,
            )
            blank = [r for r in self._results.values() if r.blank]
            if blank:
                findings.append(self._blank_line_finding(len(blank)))
            self._dataset_findings = findings
        return self._dataset_findings

    def _blank_line_finding(self, count: int) -> Finding:
        lines = "1 empty line" if count == 1 else f"{count} empty lines"
        return Finding(
            code="blank_line",
            severity=Severity.WARNING,
            text=f"The file has {lines}; some providers reject files with empty lines.",
            fix="Use 'Remove empty lines', or delete them in a text editor.",
        )

    def findings(self) -> list[Finding]:
        """Every finding, errors first, then by line."""
        found = [f for r in self._results.values() for f in r.findings]
        found.extend(self.dataset_findings())
        found.sort(key=lambda f: (f.severity.rank, f.line if f.line is not None else 0))
        return found

    def severity_counts(self) -> dict[Severity, int]:
        """How many findings of each severity there are."""
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings():
            counts[finding.severity] += 1
        return counts

    @property
    def ready(self) -> bool:
        """True when nothing blocks an upload."""
        if any(f.blocking for r in self._results.values() for f in r.findings):
            return False
        return not any(f.blocking for f in self.dataset_findings())

    def length_counts(self) -> list[tuple[int, int]]:
        """(tokens, number of examples that long) per distinct length, for the histogram."""
        return self._totals.length_counts()

    def estimate(self) -> Estimate:
        """Tokens, billable tokens, epochs and cost for the current model and epoch choice."""
        return self._totals.estimate(self.model_info, self._epochs)

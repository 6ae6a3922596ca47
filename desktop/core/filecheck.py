"""Checking a whole dataset file at once, for ``finetune-studio check`` and other batch use.

Why not simply read the file into a Dataset: a 1 GB file then took 4.3 GB of memory and a
minute. Here a JSON Lines file is read in ranges of whole lines (``RANGE_BYTES`` each), so only
a few ranges are in memory at a time; each line is parsed once and analysed, or found in the
count cache; and each range comes back as compact columns (token counts, kinds, fingerprints),
not one object per line. The totals, findings and facts are the same as those of a
``DatasetAnalysis`` of the whole file.

Other processes are used only when they pay: ranges are analysed here, and timed, until the
rest would take long enough here to make up for starting a pool of processes (one per CPU
this process may use); then the rest goes to the pool. Ranges the count cache keeps whole
take milliseconds: they are not timed, and the rest is expected to hold as many kept ranges
as the part seen so far. So after a small edit the ranges holding it are analysed here, and
the rest is read back from the cache. Each process counts on its own thread and writes what
it learnt to the count cache itself (the cache is safe for several writers).
Files that are not JSON Lines (a JSON array, CSV) are read whole, as the app reads them.

A range seen before, byte for byte, is not analysed again: its columns are kept whole in the
count cache, so checking an unchanged file again reads, hashes and looks up about 20 ranges
per 150 MB instead of every line. Ranges end at lines chosen by their content, so a file
edited here and there still has most of its ranges in the cache.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from desktop.core.analysis import (
    RecordAnalysis,
    broken_line_findings,
    default_cache,
    whole_file_findings,
)
from desktop.core.analysis_cache import (
    KIND_INDEX,
    KINDS,
    AnalysisCache,
    CachedLine,
    LineKey,
    RowWriter,
    line_key,
    range_key,
)
from desktop.core.catalog import Catalog, ModelInfo
from desktop.core.columns import UNREAD, Columns
from desktop.core.dataset import (
    Container,
    Dataset,
    LineState,
    Record,
    parse_json_bytes,
    read_line,
)
from desktop.core.estimate import Estimate, estimate_from_columns
from desktop.core.filekind import SNIFF_BYTES, binary_kind
from desktop.core.findings import Finding
from desktop.core.formats import (
    DatasetKind,
    DatasetReadError,
    read_file_bytes,
)
from desktop.core.interchange import ForeignFormat
from desktop.core.jsonl_io import UTF8_BOM
from desktop.core.kinds import ExampleKind
from desktop.core.reading import ReadRows, ReadWhole, read_in_chunks, reads_line_by_line
from desktop.core.tokens import TokenCounter, counter_for_model, plan_example
from desktop.core.validation import ExampleFacts, example_facts, validate_example

#: Bytes of whole lines analysed as one piece of work (on average: see ``_ranges``).
RANGE_BYTES = 8 * 1024 * 1024
#: ... and at most this many times as many (unless one line is longer).
RANGE_LIMIT = 4
#: Other processes are started only when the rest of the file would take this long here.
FANOUT_MIN_SECONDS = 0.5
#: ... or this long, where they must start from scratch (no fork: macOS, Windows).
FANOUT_MIN_SECONDS_SPAWN = 4.0

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Analysing a range of lines (in this process or in a worker process)
# --------------------------------------------------------------------------------------------


def _split_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` without their endings, exactly as ``jsonl_io.iter_lines`` has
    them (a carriage return before a line feed belongs to the ending)."""
    parts = data.split(b"\n")
    tail = parts.pop()
    lines = [part[:-1] if part.endswith(b"\r") else part for part in parts]
    if tail:
        lines.append(tail)
    return lines


def analyze_lines(
    raws: Sequence[bytes], counter: TokenCounter, cache: AnalysisCache | None
) -> Columns:
    """Analyse lines of a JSON Lines file (numbered from 1 here) into columns."""
    columns = Columns(lines=len(raws))
    known: list[CachedLine | None] = [None] * len(raws)
    keys: list[LineKey | None] = [None] * len(raws)
    encoding = counter.encoding_name
    if cache is not None:
        wanted = [i for i, raw in enumerate(raws) if raw.strip()]
        for i in wanted:
            keys[i] = line_key(raws[i])
        found = cache.lookup([keys[i] for i in wanted], encoding)  # type: ignore[misc]
        for i, line in zip(wanted, found, strict=True):
            known[i] = line
    # Parse and plan what the cache did not know, then count it all at once.
    read: dict[int, tuple[LineState, ExampleKind, str | None, object, bool]] = {}
    examples: list[int] = []
    for i, raw in enumerate(raws):
        if known[i] is None:
            read[i] = entry = read_line(raw)
            if entry[0] is LineState.EXAMPLE:
                examples.append(i)
    plans = [plan_example(read[i][3]) for i in examples]
    counted = dict(zip(examples, counter.count_plans(plans), strict=True))
    writer = RowWriter()
    texts: dict[str, int] = {}
    # Known lines are most lines of a file checked again: their columns are filled here
    # directly (a call per line and field cost a third of the whole check).
    kinds, totals, assistants = columns.kinds, columns.totals, columns.assistants
    estimated, fingerprints, systems = columns.estimated, columns.fingerprints, columns.systems
    has_system, lines, ids = columns.has_system, columns.example_lines, columns.example_ids
    system_texts = columns.system_texts
    chat = ExampleKind.CHAT
    for i in range(len(raws)):
        number = i + 1
        line = known[i]
        if line is not None:
            total, assistant, estimate = line.counts[encoding]
            kinds.append(KIND_INDEX[line.kind])
            totals.append(total)
            assistants.append(assistant)
            estimated.append(estimate)
            fingerprints += bytes.fromhex(line.fingerprint)
            text = line.system_text
            if text is None:
                systems.append(-1)
            else:
                index = texts.get(text)
                if index is None:
                    index = texts[text] = len(system_texts)
                    system_texts.append(text)
                systems.append(index)
            has_system.append(line.has_system)
            lines.append(number)
            ids.append(number)
            if line.findings:
                columns.findings.extend(line.findings_at(number, number))
            if line.kind is chat and b'"from"' not in raws[i]:
                columns.not_foreign += 1
            else:
                columns.recognise(raws[i], LineState.EXAMPLE, line.kind, UNREAD)
            continue
        state, kind, error, value, plain = read[i]
        columns.recognise(raws[i], state, kind, value)
        if state is LineState.BLANK:
            columns.blank += 1
            continue
        if state is LineState.BROKEN:  # rare: read again to tell unreadable from no example
            columns.broken += 1
            value, error = parse_json_bytes(raws[i])
            columns.findings.extend(broken_line_findings(error, value, number, number))
            continue
        tokens = counted[i]
        findings = validate_example(value, line=number, record_id=number)
        facts = example_facts(value, line=number, record_id=number, tokens=tokens.total)
        columns.add_example(
            number,
            number,
            kind,
            tokens,
            facts.fingerprint,
            facts.system_text,
            facts.has_system,
            texts,
        )
        columns.findings.extend(findings)
        if cache is not None and plain:  # the cache keeps only lines orjson reads exactly
            key = keys[i] if keys[i] is not None else line_key(raws[i])
            writer.add(
                key,
                kind,
                findings,
                facts.fingerprint,
                facts.system_text,
                facts.has_system,
                ((encoding, tokens),),
            )
    if cache is not None:
        columns.learnt = writer.rows()
    columns.fallback = counter.fallback_reason
    return columns


def analyze_range(data: bytes, counter: TokenCounter, cache: AnalysisCache | None) -> Columns:
    """Analyse whole lines of a JSON Lines file (numbered from 1 here) into columns.

    A range checked before, byte for byte, comes back whole from the cache: looking up each
    of its lines was most of the time of checking an unchanged file again.
    """
    key = _range_key(data, counter, cache)
    kept = _kept_range(data, key, counter, cache)
    return kept if kept is not None else _analyze_new_range(data, key, counter, cache)


def _range_key(data: bytes, counter: TokenCounter, cache: AnalysisCache | None) -> LineKey | None:
    """The range's key in the count cache (None without a cache)."""
    return None if cache is None else range_key(counter.encoding_name, data)


def _kept_range(
    data: bytes, key: LineKey | None, counter: TokenCounter, cache: AnalysisCache | None
) -> Columns | None:
    """The columns the count cache keeps whole for this range; None when it keeps none (or
    what it keeps cannot be read)."""
    if cache is None or key is None:
        return None
    stored = cache.lookup_range(key)
    if stored is None:
        return None
    try:
        columns = Columns.from_bytes(stored, _line_count(data))
    except ValueError as exc:
        log.warning("A range kept in the count cache could not be read: %s", exc)
        return None
    columns.fallback = counter.fallback_reason
    return columns


def _analyze_new_range(
    data: bytes, key: LineKey | None, counter: TokenCounter, cache: AnalysisCache | None
) -> Columns:
    """Analyse a range the cache does not keep whole, and keep it whole when it fits."""
    columns = analyze_lines(_split_lines(data), counter, cache)
    if cache is None or key is None:
        return columns
    # Each finding takes at least this many bytes to keep, each example about as many: a
    # range of many broken lines may take far more than the cache keeps for one range.
    if (len(columns.findings) + len(columns.kinds)) * 64 <= cache.range_room:
        with contextlib.suppress(TypeError):  # a text holding half of a character: not kept
            columns.ranges.append((key, columns.to_bytes()))
    return columns


def _line_count(data: bytes) -> int:
    """How many lines ``_split_lines`` finds in ``data``."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _read_range(path: Path, start: int, end: int) -> bytes:
    """The bytes between two offsets of the file (DatasetReadError when it cannot be read)."""
    try:
        with path.open("rb") as stream:
            stream.seek(start)
            return stream.read(end - start)
    except OSError as exc:
        raise DatasetReadError(f"{path.name} could not be read: {exc.strerror or exc}.") from exc


def _analyze_range(path: Path, start: int, end: int) -> Columns:
    """Read and analyse the whole lines between two offsets (in a worker process)."""
    return analyze_range(_read_range(path, start, end), _worker.counter(), _worker.cache)


@dataclass
class _WorkerState:
    """What a worker process was handed when it started (it lives only in that process)."""

    model_id: str = ""
    cache: AnalysisCache | None = None

    def counter(self) -> TokenCounter:
        return counter_for_model(self.model_id)


_worker = _WorkerState()


def _start_worker(model_id: str, cache_path: Path | None, signature: str | None) -> None:
    gc.disable()  # see _no_cycle_collection; this process only checks
    _worker.model_id = model_id
    _worker.cache = (
        AnalysisCache(cache_path, signature=signature) if signature is not None else None
    )


# --------------------------------------------------------------------------------------------
# The whole file
# --------------------------------------------------------------------------------------------


def _ranges(path: Path, start: int, size: int, step: int) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of consecutive ranges of whole lines, about ``step`` bytes each.

    Where a range ends is chosen by the content of its last line, not by where that line sits:
    past half of ``step``, a line ends the range with a chance of its length in the other
    half (a checksum of its end decides), or when the range has grown to ``RANGE_LIMIT``
    times ``step``. So after lines are inserted, moved or deleted, the ranges after them soon
    hold the same lines as before, and each is found whole in the cache again.
    """
    with path.open("rb") as stream:
        begin = start
        while begin < size:
            end = _range_end(stream, begin, size, step)
            yield begin, end
            begin = end


def _range_end(stream: BinaryIO, begin: int, size: int, step: int) -> int:
    skip = step // 2
    spread = max(1, step - skip)
    limit = step * RANGE_LIMIT
    offset = begin + skip
    if offset >= size:
        return size
    stream.seek(offset)
    if skip:  # the rest of the line half of ``step`` ends in: an end only past the limit
        offset += len(stream.readline())
        if offset - begin >= limit:
            return min(offset, size)
    for line in stream:
        offset += len(line)
        if offset >= size:  # the end (as it was when the check began)
            break
        if offset - begin >= limit or (zlib.crc32(line[-256:]) ^ len(line)) % spread < len(line):
            return offset
    return size


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe (Linux, no other threads): children inherit loaded encodings.

    Threads are counted by the system, not by Python: a thread Qt or a library started
    may hold a lock the child would wait for forever.
    """
    if sys.platform == "linux" and threading.active_count() == 1 and _system_threads() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _system_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # cannot tell: do not fork


@dataclass
class CheckedFile:
    """A file read and analysed for a report: what it holds, what is wrong, what it costs."""

    path: Path
    container: Container
    columns: Columns
    analysis: FileAnalysis
    workers: int = 1

    @property
    def kind(self) -> DatasetKind:
        """What kind of examples the file holds."""
        kinds = {KINDS[index] for index in set(self.columns.kinds)}
        if not kinds:
            return DatasetKind.EMPTY
        if len(kinds) > 1:
            return DatasetKind.MIXED
        return DatasetKind(kinds.pop().value)

    @property
    def broken_lines(self) -> int:
        """Lines kept but not readable as examples."""
        return self.columns.broken

    @property
    def foreign(self) -> ForeignFormat | None:
        """The other trainer's layout the file is in, if it is (then it is not checked)."""
        return self.columns.foreign_format


def check_path(
    path: Path,
    catalog: Catalog,
    model_id: str,
    epochs: int | None = None,
    *,
    cache: AnalysisCache | bool | None = True,
    workers: int | None = None,
) -> CheckedFile:
    """Read and analyse the file at ``path`` (DatasetReadError says why it cannot be read).

    ``cache`` True uses the count cache in the user cache folder; ``workers`` caps the
    processes used (None: as many as pay, up to one per CPU).
    """
    with _no_cycle_collection():
        return _check_path(path, catalog, model_id, epochs, cache, workers)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's collector of reference cycles while a file is checked.

    Parsed lines hold no cycles and are freed as soon as they are analysed, but the collector
    keeps scanning the many objects made meanwhile: a fifth of the check's time went to it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_path(
    path: Path,
    catalog: Catalog,
    model_id: str,
    epochs: int | None,
    cache: AnalysisCache | bool | None,
    workers: int | None,
) -> CheckedFile:
    path = Path(path)
    if cache is True:
        cache = default_cache()
    elif cache is False:
        cache = None
    counter = counter_for_model(model_id)
    try:
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
            size = os.fstat(stream.fileno()).st_size
    except OSError:
        read_file_bytes(path)  # raises DatasetReadError saying why, in the app's words
        raise
    if binary_kind(head) is not None:
        read_file_bytes(path)  # raises DatasetReadError naming what the file is
    bom = UTF8_BOM if head.startswith(UTF8_BOM) else b""
    if not reads_line_by_line(head, path.suffix):
        return _check_whole(path, catalog, model_id, epochs, counter, cache)
    whole = _Assembly(cache)
    ranges = _ranges(path, len(bom), size, RANGE_BYTES)
    # How long analysing the ranges the cache did not keep took here, how many bytes they
    # held, and how many bytes were seen in all: the rest would take that long per byte here,
    # for the share of it the cache does not keep either (kept ranges take milliseconds).
    analysed_seconds = 0.0
    analysed_bytes = 0
    seen_bytes = 0
    used = 1
    for start, end in ranges:
        data = _read_range(path, start, end)
        key = _range_key(data, counter, cache)
        kept = _kept_range(data, key, counter, cache)
        seen_bytes += end - start
        if kept is not None:
            whole.add(kept)
            continue
        rest = size - start
        budget = min(workers or _cpus(), _cpus(), -(-rest // RANGE_BYTES))
        if analysed_bytes and budget > 1:
            not_kept = (analysed_bytes + end - start) / seen_bytes
            expected = analysed_seconds / analysed_bytes * rest * not_kept
            context = _process_context()  # asked late: forking is safe only without threads
            fork = context.get_start_method() == "fork"
            if expected >= (FANOUT_MIN_SECONDS if fork else FANOUT_MIN_SECONDS_SPAWN):
                used = budget
                rest_ranges = itertools.chain([(start, end)], ranges)
                _check_in_processes(path, rest_ranges, whole, model_id, cache, context, budget)
                break
        began = time.perf_counter()
        whole.add(_analyze_new_range(data, key, counter, cache))
        analysed_seconds += time.perf_counter() - began
        analysed_bytes += end - start
    columns = whole.finish()
    analysis = FileAnalysis(catalog, model_id, epochs, columns)
    return CheckedFile(path, Container.JSONL, columns, analysis, used)


class _Assembly:
    """The columns of a file, put together range after range; what the ranges taught the
    count cache is written in large batches (much cheaper than many small ones)."""

    #: Rows written to the cache at once.
    STORE_EVERY = 200_000
    #: ... and whole ranges.
    STORE_RANGES_EVERY = 16

    def __init__(self, cache: AnalysisCache | None) -> None:
        self.columns = Columns()
        self.cache = cache
        self._texts: dict[str, int] = {}

    def add(self, part: Columns) -> None:
        """Append the next range's columns."""
        self.columns.extend(part, self._texts)
        if (
            len(self.columns.learnt[0]) >= self.STORE_EVERY
            or len(self.columns.ranges) >= self.STORE_RANGES_EVERY
        ):
            self._store()

    def finish(self) -> Columns:
        """The whole file's columns, once the cache has everything they taught it."""
        self._store()
        return self.columns

    def _store(self) -> None:
        learnt, self.columns.learnt = self.columns.learnt, ([], {})
        ranges, self.columns.ranges = self.columns.ranges, []
        if self.cache is not None:
            self.cache.store_rows(learnt)
            self.cache.store_ranges(ranges)


def _check_in_processes(
    path: Path,
    ranges: Iterator[tuple[int, int]],
    whole: _Assembly,
    model_id: str,
    cache: AnalysisCache | None,
    context: multiprocessing.context.BaseContext,
    workers: int,
) -> None:
    initargs = (
        model_id,
        cache.path if cache is not None else None,
        cache.signature if cache is not None else None,
    )
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=initargs
    ) as pool:
        pending: deque[Future[Columns]] = deque(
            pool.submit(_analyze_range, path, start, end) for start, end in ranges
        )
        while pending:  # in file order; each range's columns go once they are added
            whole.add(pending.popleft().result())


def _check_whole(
    path: Path,
    catalog: Catalog,
    model_id: str,
    epochs: int | None,
    counter: TokenCounter,
    cache: AnalysisCache | None,
) -> CheckedFile:
    """A JSON array, a CSV file or text that is not JSON Lines: read as the app reads it."""
    dataset: Dataset | None = None
    records: list[Record] = []
    results: list[RecordAnalysis] = []
    for event in read_in_chunks(path, counter, _go_on, cache=cache, count_other_encodings=False):
        if isinstance(event, ReadWhole):
            dataset = event.dataset
        elif isinstance(event, ReadRows):
            records.extend(event.records)
            results.extend(event.results)
    if dataset is not None:
        records = list(dataset)
    columns = columns_of(records, results)
    analysis = FileAnalysis(catalog, model_id, epochs, columns)
    container = dataset.container if dataset is not None else Container.JSONL
    return CheckedFile(path, container, columns, analysis)


def _go_on() -> bool:
    """``check`` reads to the end: nothing asks it to stop."""
    return True


def columns_of(records: Sequence[Record], results: Sequence[RecordAnalysis]) -> Columns:
    """The columns of analysed records (their own line numbers and ids are kept)."""
    columns = Columns(lines=len(records))
    texts: dict[str, int] = {}
    for record, result in zip(records, results, strict=True):
        columns.recognise(record.to_bytes(), record.state, record.kind, UNREAD)
        if result.blank:
            columns.blank += 1
        elif record.state is LineState.BROKEN:
            columns.broken += 1
        facts = result.facts
        if facts is not None and result.tokens is not None:
            columns.add_example(
                facts.line or 0,
                record.id,
                facts.kind,
                result.tokens,
                facts.fingerprint,
                facts.system_text,
                facts.has_system,
                texts,
            )
        columns.findings.extend(result.findings)
    return columns


class _Facts(NamedTuple):
    """``ExampleFacts``, field for field, as a tuple (see ``FileAnalysis._facts``)."""

    record_id: int | None
    line: int | None
    kind: ExampleKind
    fingerprint: str
    system_text: str | None
    has_system: bool
    tokens: int | None


class FileAnalysis:
    """The totals, findings and facts of a checked file, as ``DatasetAnalysis`` reports them."""

    def __init__(
        self, catalog: Catalog, model_id: str, epochs: int | None, columns: Columns
    ) -> None:
        self.catalog = catalog
        self.model_id = model_id
        self.epochs = epochs
        self._columns = columns
        self._validation_facts: list[ExampleFacts] | None = None
        self._dataset_findings: list[Finding] | None = None

    @property
    def model_info(self) -> ModelInfo | None:
        """Catalog facts about the model (None for models the catalog does not know)."""
        return self.catalog.get(self.model_id)

    def set_validation_facts(self, facts: Sequence[ExampleFacts] | None) -> None:
        """Facts of the validation file, so examples present in both are reported."""
        self._validation_facts = list(facts) if facts is not None else None
        self._dataset_findings = None

    def example_facts(self) -> list[ExampleFacts]:
        """Facts of every example, in file order."""
        return [ExampleFacts(*facts) for facts in self._facts()]

    def _facts(self) -> list[_Facts]:
        """The same facts as light tuples: the whole-file checks only read their fields, and
        making 100,000 data classes took a quarter of a second."""
        c = self._columns
        texts = [*c.system_texts, None]  # index -1: no system message
        fingerprints = bytes(c.fingerprints)
        return list(
            map(
                _Facts,
                c.example_ids,
                c.example_lines,
                map(KINDS.__getitem__, c.kinds),
                (fingerprints[i : i + 16].hex() for i in range(0, len(fingerprints), 16)),
                map(texts.__getitem__, c.systems),
                map(bool, c.has_system),
                c.totals,
            )
        )

    def dataset_findings(self) -> list[Finding]:
        """Findings about the file as a whole (count, duplicates, consistency, limits)."""
        if self._dataset_findings is None:
            self._dataset_findings = whole_file_findings(
                self._facts(),  # type: ignore[arg-type]
                self.model_id,
                self.model_info,
                self._validation_facts,
                self._columns.blank,
            )
        return self._dataset_findings

    def findings(self) -> list[Finding]:
        """Every finding, errors first, then by line."""
        found = [*self._columns.findings, *self.dataset_findings()]
        found.sort(key=lambda f: (f.severity.rank, f.line if f.line is not None else 0))
        return found

    @property
    def ready(self) -> bool:
        """True when nothing blocks an upload."""
        return not any(f.blocking for f in self.findings())

    def estimate(self) -> Estimate:
        """Tokens, billable tokens, epochs and cost for the model and epoch choice."""
        c = self._columns
        estimated = len(c.estimated) - c.estimated.count(0)
        return estimate_from_columns(
            c.totals, c.assistants, estimated, self.model_info, self.epochs
        )

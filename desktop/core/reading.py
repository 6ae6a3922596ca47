"""Reading a dataset file in chunks, with progress: the one reader the app and ``check`` share.

Which way a file is read is decided here, once (``reads_line_by_line``): JSON Lines that
begin with an object are read a line at a time, each line parsed once and lines the count
cache knows not parsed at all; a JSON array, CSV or other text is read whole by the formats
module. Line endings are tallied on the way (``LineEndings``), so examples added later end
their lines as the file's lines do.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.core.analysis import RecordAnalysis, analyze_records, other_counters, read_records
from desktop.core.analysis_cache import AnalysisCache, RowWriter
from desktop.core.dataset import Container, Dataset, Record
from desktop.core.filekind import SNIFF_BYTES
from desktop.core.formats import (
    CSV_SUFFIXES,
    DatasetReadError,
    read_dataset_bytes,
    read_file_bytes,
    sniff_container,
)
from desktop.core.jsonl_io import iter_lines, newline_by_count, split_bom
from desktop.core.tokens import TokenCounter

#: Records per chunk handed on while reading.
CHUNK = 2000
#: The first chunk is small so the first rows can be shown at once.
FIRST_CHUNK = 200
#: Progress is reported after each step of this many bytes.
REPORT_EVERY = 1 << 20


@dataclass(frozen=True, slots=True)
class ReadStart:
    """A JSON Lines file is being read a line at a time: how to build the dataset the rows
    are added to (``total`` bytes of content after the byte-order mark)."""

    bom: bytes
    ids: Iterator[int]
    total: int


@dataclass(frozen=True, slots=True)
class ReadWhole:
    """A file read at once (JSON array, CSV): its records are all here; their analysis
    follows in ``ReadRows`` without records."""

    dataset: Dataset


@dataclass(frozen=True, slots=True)
class ReadRows:
    """The next records read (none when they came in ``ReadWhole``) with their analysis."""

    records: list[Record]
    results: list[RecordAnalysis]


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """Bytes read so far of the total."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class ReadEnd:
    """The whole JSON Lines file was read; new lines should end with ``newline``."""

    newline: bytes


ReadEvent = ReadStart | ReadWhole | ReadRows | ReadProgress | ReadEnd


class LineEndings:
    """Line endings tallied as lines go by, to choose the ending new lines get."""

    __slots__ = ("crlf", "total")

    def __init__(self) -> None:
        self.crlf = 0
        self.total = 0

    def add(self, eol: bytes) -> None:
        """Count one line's ending (b"" for a last line without one)."""
        if eol:
            self.total += 1
            self.crlf += eol == b"\r\n"

    @property
    def newline(self) -> bytes:
        """CRLF when at least half of the lines end so, else LF."""
        return newline_by_count(crlf=self.crlf, newlines=self.total)


def reads_line_by_line(head: bytes, suffix: str) -> bool:
    """True when a file that begins with ``head`` is JSON Lines to read a line at a time.

    Only a file whose first example is an object qualifies: a start such as ``[`` may be one
    JSON array, which only the whole file can tell.
    """
    _bom, body = split_bom(head[:SNIFF_BYTES])
    return (
        suffix.lower() not in CSV_SUFFIXES
        and body.lstrip().startswith(b"{")
        and sniff_container(head[:SNIFF_BYTES], suffix) is Container.JSONL
    )


class CacheLearning:
    """What an analysis taught the count cache, written in large batches (each write touches
    about a page per row, so many small writes cost more than the analysis), and whatever is
    left when the work ends, even early."""

    #: Rows written to the cache at once.
    STORE_EVERY = 50_000

    def __init__(self, cache: AnalysisCache | None) -> None:
        self.cache = cache
        self.rows = RowWriter()

    def __enter__(self) -> CacheLearning:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.cache is not None:
            self.cache.store_rows(self.rows.rows())

    def store_some(self) -> None:
        """Write what was learnt once there is enough of it."""
        if self.cache is not None and len(self.rows) >= self.STORE_EVERY:
            self.cache.store_rows(self.rows.rows())


def read_in_chunks(
    path: Path,
    counter: TokenCounter,
    checkpoint: Callable[[], bool],
    *,
    cache: AnalysisCache | None,
    count_other_encodings: bool = True,
) -> Iterator[ReadEvent]:
    """Read, classify and analyse the file at ``path``, a chunk at a time.

    ``checkpoint`` is called between lines and texts (it returns False to stop early). With
    ``count_other_encodings``, tokens are also counted for the other shipped encodings while
    that is cheap, so a model switch needs no recount. A reader that stops iterating early
    still leaves in the cache what it learnt.
    """
    data = read_file_bytes(path)
    if not reads_line_by_line(data, path.suffix):
        yield from _read_whole(data, path, counter, checkpoint, cache, count_other_encodings)
        return
    bom, body = split_bom(data)
    del data
    ids = itertools.count(1)
    total = len(body)
    yield ReadStart(bom, ids, total)
    # The first rows do not wait for another tokenizer to load: it is loaded after them.
    others = other_counters(counter, load=False) if count_other_encodings else ()
    endings = LineEndings()
    pending: list[tuple[int, bytes, bytes]] = []
    limit = FIRST_CHUNK
    next_report = REPORT_EVERY
    with CacheLearning(cache) as learning:
        for number, raw, eol, end in iter_lines(body):
            endings.add(eol)
            pending.append((number, raw, eol))
            if len(pending) >= limit:
                records, results = read_records(
                    pending,
                    ids,
                    counter,
                    checkpoint,
                    others=others,
                    cache=cache,
                    learnt=learning.rows,
                )
                yield ReadRows(records, results)
                learning.store_some()
                pending = []
                if limit == FIRST_CHUNK:
                    limit = CHUNK
                    if count_other_encodings:
                        others = other_counters(counter)
            if end >= next_report:
                next_report = end + REPORT_EVERY
                yield ReadProgress(end, total)
        records, results = read_records(
            pending, ids, counter, checkpoint, others=others, cache=cache, learnt=learning.rows
        )
        if records:
            yield ReadRows(records, results)
    yield ReadProgress(total, total)
    yield ReadEnd(endings.newline)


def _read_whole(
    data: bytes,
    path: Path,
    counter: TokenCounter,
    checkpoint: Callable[[], bool],
    cache: AnalysisCache | None,
    count_other_encodings: bool,
) -> Iterator[ReadEvent]:
    try:
        dataset = read_dataset_bytes(data, path.suffix)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatasetReadError(f"{path.name} could not be read: {exc}") from exc
    del data
    yield ReadWhole(dataset)
    records = list(dataset)
    others = other_counters(counter) if count_other_encodings else ()
    with CacheLearning(cache) as learning:
        for start in range(0, len(records), CHUNK):
            results = analyze_records(
                records[start : start + CHUNK],
                counter,
                checkpoint,
                others=others,
                cache=cache,
                learnt=learning.rows,
            )
            yield ReadRows([], results)
            learning.store_some()

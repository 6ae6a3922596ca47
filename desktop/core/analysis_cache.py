"""The persistent count cache: what the app learnt about each line of a file, kept between runs.

Why: tokenizing is the slowest part of checking a file, and most files are opened or checked
again unchanged or nearly so. Each example line's token counts (per encoding), findings and
facts depend only on its bytes, so they are stored under a hash of those bytes, in an SQLite
file in the user's cache folder; opening or checking the file again looks the lines up
instead of parsing and tokenizing them. A changed line has another hash and is analysed anew.
Only lines orjson reads exactly are kept (``Record.plain``): a record made from a line found
here is read with orjson alone from then on.
A file checked whole (``filecheck``) also keeps each range of its lines whole, under a hash
of the range's bytes: an unchanged file is then not even looked up line by line.

Safety
    * It is only a cache: every failure (a damaged file, a full disk, a lock held too long by
      another process) is logged and answered with "not cached"; a damaged file is deleted
      and started again once per process.
    * Several processes may read and write at once: SQLite's write-ahead log lets readers go
      on while one writer writes, and a writer waits a moment for another to finish.
    * Bounded: past ``max_rows`` lines, those used least recently (by day) are deleted; past
      ``max_range_bytes`` of whole ranges, those used least recently too.
    * A new version of the app (or of the code that analyses lines) starts with an empty
      cache, since its findings or counts may differ: the cache remembers a signature of that
      code.
    * Keys are 128 bits of SHA-256 (the first 64 as the row id, the next 64 checked), so
      two different lines are never taken for each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import orjson

from desktop.core.dataset import has_surrogate
from desktop.core.findings import Finding, Severity
from desktop.core.kinds import ExampleKind
from desktop.core.locations import cache_dir

log = logging.getLogger(__name__)

#: The file's name in the cache folder.
FILE_NAME = "token-counts.sqlite3"
#: Lines kept before the ones used least recently are deleted (a 1 GB dataset has about
#: 700,000; the file holds roughly 150-250 bytes per line).
DEFAULT_MAX_ROWS = 1_500_000
#: Rows looked up per query (SQLite's limit on parameters is 32,766 in current builds).
LOOKUP_BATCH = 4000
#: A row not used for this many days is marked used again when it is found.
REFRESH_AFTER_DAYS = 7
#: How long a writer waits for another process's write to finish (milliseconds).
BUSY_TIMEOUT_MS = 3000
#: Check the size after writing this many rows.
SIZE_CHECK_EVERY = 20_000
#: Bytes of whole ranges kept (see ``range_key``). A range of 8 MB of ordinary examples
#: keeps in about 300 KB, so this covers several GB of files checked recently; a range of
#: many short broken lines keeps in more than the range itself (each has its finding).
DEFAULT_MAX_RANGE_BYTES = 256 * 1024 * 1024
#: A range kept in more than this share of that is not kept at all.
RANGE_SHARE_MAX = 8
#: A range found again is marked used again when it was last marked this long ago (seconds).
RANGE_REFRESH_AFTER = 3600

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lines("
    "k INTEGER PRIMARY KEY, chk INTEGER NOT NULL, day INTEGER NOT NULL, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS texts(k INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ranges("
    "k INTEGER PRIMARY KEY, chk INTEGER NOT NULL, used INTEGER NOT NULL, data BLOB NOT NULL)",
)
#: Kinds and severities as they are kept: by their place in these tuples.
KINDS = tuple(ExampleKind)
KIND_INDEX = {kind: index for index, kind in enumerate(KINDS)}
SEVERITIES = tuple(Severity)
SEVERITY_INDEX = {severity: index for index, severity in enumerate(SEVERITIES)}


LineKey = tuple[int, int]
#: A finding's code, severity, text, message index and fix.
UnplacedFinding = tuple[str, Severity, str, int | None, str | None]


_TWO_INTEGERS = struct.Struct("<qq").unpack_from
_sha256 = hashlib.sha256


def line_key(raw: bytes) -> LineKey:
    """The cache key of a line's bytes: 128 bits of its SHA-256, as two signed integers."""
    return _TWO_INTEGERS(_sha256(raw).digest())  # type: ignore[return-value]


def range_key(encoding: str, data: bytes) -> LineKey:
    """The cache key of a whole range of a file's lines, counted with ``encoding``."""
    digest = _sha256(encoding.encode() + b"\n")
    digest.update(data)
    return _TWO_INTEGERS(digest.digest())  # type: ignore[return-value]


def _text_key(text: str) -> int:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


class CachedLine(NamedTuple):
    """Everything the analysis of one example line found, without its place in a file.

    ``findings`` hold (code, severity, text, message index, fix); ``counts`` map an encoding's
    name to (total, assistant, estimated). A named tuple: a check of a large file makes one
    per line, and they cost a fraction of a data class.
    """

    kind: ExampleKind
    findings: tuple[UnplacedFinding, ...]
    fingerprint: str
    system_text: str | None
    has_system: bool
    counts: dict[str, tuple[int, int, bool]]

    def findings_at(self, line: int | None, record_id: int | None) -> tuple[Finding, ...]:
        """The findings, placed at ``line`` of the record ``record_id``."""
        return tuple(
            Finding(code, severity, text, line, index, fix, record_id)
            for code, severity, text, index, fix in self.findings
        )

    @staticmethod
    def unplaced(findings: Iterable[Finding]) -> tuple[UnplacedFinding, ...]:
        """Findings without their line and record, as a CachedLine holds them."""
        return tuple((f.code, f.severity, f.text, f.message_index, f.fix) for f in findings)


def _today() -> int:
    return int(time.time() // 86_400)


def _now() -> int:
    return int(time.time())


def code_signature(modules: Sequence[ModuleType], version: str) -> str:
    """A digest of the app's version and the code of the modules that analyse lines.

    Their source where it can be read; in a frozen app, the compiled code its loader holds,
    so that a build whose analysis changed does not trust the rows of one before it under
    the same version. Where neither can be had, the version alone stands for it.
    """
    digest = hashlib.sha256(version.encode())
    for module in modules:
        digest.update(_code_of(module))
    return digest.hexdigest()[:32]


def _code_of(module: ModuleType) -> bytes:
    path = getattr(module, "__file__", None)
    if path and path.endswith(".py"):
        with contextlib.suppress(OSError):
            return Path(path).read_bytes()
    get_code = getattr(getattr(module, "__loader__", None), "get_code", None)
    if get_code is None:
        return b""
    try:
        code = get_code(module.__name__)
        return b"" if code is None else marshal.dumps(code)
    except (ImportError, OSError, ValueError, EOFError):  # what loaders and marshal raise
        return b""


class AnalysisCache:
    """The SQLite file of analysed lines; every method is safe to call from any thread.

    ``signature`` names the code that produced the rows (see :func:`code_signature`); rows
    from other code are dropped when the file is first opened by this one.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        signature: str,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_range_bytes: int = DEFAULT_MAX_RANGE_BYTES,
    ) -> None:
        self._path = path
        self.signature = signature
        self.max_rows = max_rows
        self.max_range_bytes = max_range_bytes
        self._lock = threading.Lock()
        self._checked: set[Path] = set()
        self._recreated: set[Path] = set()
        self._disabled = False
        self._written = 0

    @property
    def path(self) -> Path:
        """The cache file (in the user cache folder unless given)."""
        return self._path if self._path is not None else cache_dir() / FILE_NAME

    # Opening -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A new connection in a transaction, closed when the block ends; None when the cache
        cannot be used now (the reason is logged).

        A connection is opened per call and used by one thread only: callers write in large
        batches, so opening costs little, and SQLite then never sees a connection cross
        threads or processes.
        """
        if self._disabled:
            yield None
            return
        path = self.path
        for attempt in (1, 2):
            try:
                connection = self._open(path)
            except sqlite3.OperationalError as exc:  # locked too long, read-only, disk full
                log.info("The count cache %s cannot be used now: %s", path, exc)
                yield None
                return
            except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
                if attempt == 1 and self._start_again(path, exc):
                    continue
                yield None
                return
            except OSError as exc:
                log.info("The count cache %s cannot be used: %s", path, exc)
                yield None
                return
            try:
                connection.execute("BEGIN")
                yield connection
                connection.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # locked too long, disk full, read-only
                done = "updated" if write else "read"
                log.info("The count cache %s was not %s: %s", path, done, exc)
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            except sqlite3.DatabaseError as exc:
                log.warning("The count cache %s is damaged: %s", path, exc)
                connection.close()
                self._start_again(path, exc)
                return
            finally:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            return

    def _open(self, path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA cache_size=-32768")  # 32 MB: a large write in memory
            if path not in self._checked:
                self._prepare(connection)
                self._checked.add(path)
        except BaseException:
            connection.close()
            raise
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Create the tables, and empty them when another version of the code wrote them."""
        with contextlib.suppress(sqlite3.OperationalError):  # no such table yet
            row = connection.execute("SELECT value FROM meta WHERE key='signature'").fetchone()
            if row is not None and row[0] == self.signature:
                return
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                connection.execute(statement)
            row = connection.execute("SELECT value FROM meta WHERE key='signature'").fetchone()
            if row is None or row[0] != self.signature:
                connection.execute("DELETE FROM lines")
                connection.execute("DELETE FROM texts")
                connection.execute("DELETE FROM ranges")
                connection.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('signature', ?)",
                    (self.signature,),
                )
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise

    def _start_again(self, path: Path, exc: Exception) -> bool:
        """Delete a damaged cache file (once per process); True when it may be tried again."""
        with self._lock:
            if path in self._recreated:
                log.warning("The count cache %s is not used in this session: %s", path, exc)
                self._disabled = True
                return False
            self._recreated.add(path)
            self._checked.discard(path)
        log.warning("The count cache %s is damaged (%s); starting it again.", path, exc)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError, OSError):
                os.remove(f"{path}{suffix}")
        return True

    # Reading -----------------------------------------------------------------------------

    def lookup(
        self, keys: Sequence[LineKey], encoding: str | None = None
    ) -> list[CachedLine | None]:
        """The cached analysis of each key's line (None when unknown), in order.

        With ``encoding``, a line whose counts for that encoding are missing is unknown too.
        """
        found: list[CachedLine | None] = [None] * len(keys)
        stale: list[int] = []
        if not keys:
            return found
        with self._connect(write=False) as connection:
            if connection is None:
                return found
            rows: dict[int, tuple[int, list[object]]] = {}
            text_keys: set[int] = set()
            old = _today() - REFRESH_AFTER_DAYS
            wanted = [key for key, _check in keys]
            for start in range(0, len(wanted), LOOKUP_BATCH):
                part = wanted[start : start + LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                for k, chk, day, data in connection.execute(
                    f"SELECT k, chk, day, data FROM lines WHERE k IN ({marks})", part
                ):
                    try:
                        item = orjson.loads(data)
                        text_key = item[2]
                    except (orjson.JSONDecodeError, TypeError, IndexError, KeyError):
                        continue
                    rows[k] = (chk, item)
                    if text_key is not None:
                        text_keys.add(text_key)
                    if day < old:
                        stale.append(k)
            texts = self._texts(connection, text_keys)
            for position, (k, chk) in enumerate(keys):
                row = rows.get(k)
                if row is None or row[0] != chk:
                    continue
                line = _decode(row[1], texts)
                if line is None or (encoding is not None and encoding not in line.counts):
                    continue
                found[position] = line
        if stale:
            self._refresh(stale)
        return found

    def _texts(self, connection: sqlite3.Connection, keys: set[int]) -> dict[int, str]:
        texts: dict[int, str] = {}
        ordered = list(keys)
        for start in range(0, len(ordered), LOOKUP_BATCH):
            part = ordered[start : start + LOOKUP_BATCH]
            marks = ",".join("?" * len(part))
            texts.update(
                connection.execute(f"SELECT k, text FROM texts WHERE k IN ({marks})", part)
            )
        return texts

    def _refresh(self, keys: list[int]) -> None:
        with self._connect(write=True) as connection:
            if connection is not None:
                connection.executemany(
                    "UPDATE lines SET day=? WHERE k=?", ((_today(), k) for k in keys)
                )

    # Writing -----------------------------------------------------------------------------

    def store(self, items: Sequence[tuple[LineKey, CachedLine]]) -> None:
        """Remember the analysis of lines (replacing what was stored under their keys).

        Storing many lines at once costs far less than storing them a few at a time: rows
        go to random places in the file, so each write touches about one page per row.
        """
        self.store_rows(encode_rows(items))

    def store_rows(self, rows: EncodedRows) -> None:
        """Store rows made by :func:`encode_rows` (in another process, say)."""
        lines, texts = rows
        if not lines:
            return
        lines = sorted(lines)  # neighbouring keys share pages
        with self._connect(write=True) as connection:
            if connection is None:
                return
            connection.executemany(
                "INSERT OR IGNORE INTO texts(k, text) VALUES (?, ?)", sorted(texts.items())
            )
            connection.executemany(
                "INSERT OR REPLACE INTO lines(k, chk, day, data) VALUES (?, ?, ?, ?)", lines
            )
            self._written += len(lines)
            if self._written >= SIZE_CHECK_EVERY:
                self._written = 0
                self._bound(connection)

    def _bound(self, connection: sqlite3.Connection) -> None:
        """Delete the rows used least recently while there are more than allowed.

        Counted in rows, not bytes: deleting scattered rows frees space inside pages that
        later rows reuse, so the file stops growing without ever being rewritten.
        """
        rows = connection.execute("SELECT COUNT(*) FROM lines").fetchone()[0]
        if rows <= self.max_rows:
            return
        goal = int(self.max_rows * 0.7)
        excess = rows - goal
        for day, count in connection.execute(
            "SELECT day, COUNT(*) FROM lines GROUP BY day ORDER BY day"
        ).fetchall():
            if excess <= 0:
                break
            if count <= excess:
                connection.execute("DELETE FROM lines WHERE day=?", (day,))
            else:  # part of one day: the keys are hashes, so the lowest are a fair share
                connection.execute(
                    "DELETE FROM lines WHERE k IN (SELECT k FROM lines WHERE day=? LIMIT ?)",
                    (day, excess),
                )
            excess -= count
        if connection.execute("SELECT COUNT(*) FROM texts").fetchone()[0] > goal:
            connection.execute("DELETE FROM texts")  # their lines become unknown, not wrong
        log.info("The count cache %s was trimmed to about %d lines.", self.path, goal)

    def clear(self) -> None:
        """Forget every line and range."""
        with self._connect(write=True) as connection:
            if connection is not None:
                connection.execute("DELETE FROM lines")
                connection.execute("DELETE FROM texts")
                connection.execute("DELETE FROM ranges")

    # Whole ranges ------------------------------------------------------------------------

    def lookup_range(self, key: LineKey) -> bytes | None:
        """What ``store_ranges`` kept under ``key`` (None when nothing is)."""
        with self._connect(write=False) as connection:
            if connection is None:
                return None
            row = connection.execute(
                "SELECT chk, used, data FROM ranges WHERE k=?", (key[0],)
            ).fetchone()
        if row is None or row[0] != key[1]:
            return None
        now = _now()
        if row[1] < now - RANGE_REFRESH_AFTER:
            with self._connect(write=True) as connection:
                if connection is not None:
                    connection.execute("UPDATE ranges SET used=? WHERE k=?", (now, key[0]))
        return bytes(row[2])

    @property
    def range_room(self) -> int:
        """The most bytes one whole range may take to be kept."""
        return self.max_range_bytes // RANGE_SHARE_MAX

    def store_ranges(self, rows: RangeRows) -> None:
        """Keep whole ranges (key, bytes), dropping those used least recently past the bound.

        A range too large for its share of the bound is not kept (it would push out many
        others, and SQLite refuses values past about a gigabyte).
        """
        rows = [(key, data) for key, data in rows if len(data) <= self.range_room]
        if not rows:
            return
        now = _now()
        with self._connect(write=True) as connection:
            if connection is None:
                return
            connection.executemany(
                "INSERT OR REPLACE INTO ranges(k, chk, used, data) VALUES (?, ?, ?, ?)",
                ((k, chk, now, data) for (k, chk), data in rows),
            )
            kept = 0
            gone = []
            for k, size in connection.execute(
                "SELECT k, length(data) FROM ranges ORDER BY used DESC"
            ):
                kept += size
                if kept > self.max_range_bytes:
                    gone.append((k,))
            connection.executemany("DELETE FROM ranges WHERE k=?", gone)


#: Rows ready to store: (key, check, day, data) per line, and the system texts by key.
EncodedRows = tuple[list[tuple[int, int, int, bytes]], dict[int, str]]
#: Whole ranges ready to store: their key and bytes.
RangeRows = list[tuple[LineKey, bytes]]


class _Counts(Protocol):
    total: int
    assistant: int
    estimated: bool


class _Stored(NamedTuple):
    total: int
    assistant: int
    estimated: bool


class RowWriter:
    """Rows for the cache, made one line at a time without intermediate objects (a worker
    process may make them; the process that writes the cache stores them in one go)."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, int, int, bytes]] = []
        self.texts: dict[int, str] = {}
        self._text_keys: dict[str, int] = {}
        self._day = _today()

    def __len__(self) -> int:
        return len(self.lines)

    def add(
        self,
        key: LineKey,
        kind: ExampleKind,
        findings: Iterable[Finding],
        fingerprint: str,
        system_text: str | None,
        has_system: bool,
        counts: Iterable[tuple[str, _Counts]],
    ) -> None:
        """Add what one example line holds (its findings may be placed: places are dropped).

        A line whose system text or findings hold half of a character (an escaped lone
        surrogate) is left out: SQLite cannot keep such text, and the line is simply analysed
        again next time.
        """
        text_key = None
        if system_text is not None:
            text_key = self._text_keys.get(system_text)
            if text_key is None:
                if has_surrogate(system_text):  # UTF-8, and so SQLite, cannot keep it
                    return
                text_key = self._text_keys[system_text] = _text_key(system_text)
                self.texts[text_key] = system_text
        found = [
            [f.code, SEVERITY_INDEX[f.severity], f.text, f.message_index, f.fix] for f in findings
        ]
        counted = {name: [c.total, c.assistant, int(c.estimated)] for name, c in counts}
        try:
            data = orjson.dumps(
                [KIND_INDEX[kind], fingerprint, text_key, has_system, found, counted]
            )
        except TypeError:  # half of a character in a finding's words
            return
        self.lines.append((key[0], key[1], self._day, data))

    def rows(self) -> EncodedRows:
        """The rows made so far (and a fresh start)."""
        rows = (self.lines, self.texts)
        self.lines, self.texts = [], {}
        return rows


def encode_rows(items: Iterable[tuple[LineKey, CachedLine]]) -> EncodedRows:
    """The rows that store ``items``."""
    writer = RowWriter()
    for key, line in items:
        findings = [
            Finding(code, severity, text, None, index, fix)
            for code, severity, text, index, fix in line.findings
        ]
        counts = [(name, _Stored(*found)) for name, found in line.counts.items()]
        writer.add(
            key, line.kind, findings, line.fingerprint, line.system_text, line.has_system, counts
        )
    return writer.rows()


#: Bytes of an example's fingerprint (32 hexadecimal digits).
FINGERPRINT_BYTES = 16
#: Token counts kept are below this (they go into 64-bit columns).
_COUNT_LIMIT = 2**62


def _decode(item: list[Any], texts: dict[int, str]) -> CachedLine | None:
    try:
        kind, fingerprint, text_key, has_system, findings, counts = item
        # What a damaged row could hold that the columns of a check cannot take.
        if kind < 0 or len(bytes.fromhex(fingerprint)) != FINGERPRINT_BYTES:
            return None
        for total, asst, _est in counts.values():
            if not (0 <= total < _COUNT_LIMIT and 0 <= asst < _COUNT_LIMIT):
                return None
        if findings and min(found[1] for found in findings) < 0:
            return None
        system_text = None
        if text_key is not None:
            system_text = texts.get(text_key)
            if system_text is None:
                return None
        return CachedLine(
            KINDS[kind],
            tuple(
                (code, SEVERITIES[severity], text, index, fix)
                for code, severity, text, index, fix in findings
            )
            if findings
            else (),
            fingerprint,
            system_text,
            bool(has_system),
            {name: (total, asst, bool(est)) for name, (total, asst, est) in counts.items()},
        )
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return None  # a row written by other code, or damaged: not cached

"""The autosave recovery journal: after a crash, the next start can bring unsaved edits back.

Writing the whole dataset every few seconds would be too slow for a 100,000-line file, so the
first write of a session keeps a copy of the file the dataset was read from (named by its
SHA-256, shared by every session that opened the same content), and every write after that is
a small recipe: runs of untouched source records, plus the text of records that were edited,
added or repaired. A restore replays the recipe against the copy, so untouched lines come back
untouched (saving keeps them byte for byte) even if the original file changed or is gone.

A record counts as untouched only if it is the very record object read from the source, or
matches the copy exactly on the first write; a repaired line that still has raw bytes but not
the original ones is stored as text. Disk trouble while writing is logged and reported as
False, never raised: autosave must not interrupt typing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from desktop.core.dataset import Container, Dataset, LineState, Record, record_of_line
from desktop.core.formats import read_dataset_bytes, sniff_container
from desktop.core.jsonl_io import (
    StagedWrite,
    atomic_write,
    iter_lines,
    remove_stale_temps,
    split_bom,
    stage_write,
)
from desktop.core.kinds import ExampleKind
from desktop.core.locations import data_dir

log = logging.getLogger(__name__)

JOURNAL_FORMAT = 1
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Entries that could not be restored are moved here, so they are offered only once.
UNRESTORABLE_FOLDER = "unrestorable"
#: A recipe's fields other than its records fit in its first bytes (written first).
_RECIPE_HEAD_BYTES = 64 * 1024
#: Where a recipe's records begin (quotes inside JSON strings are escaped, so this cannot
#: appear within a field's text).
_RECORDS_START = b',"records":['


class _Stopped(Exception):
    """The caller's ``pause`` asked a long write to stop."""


#: Working out a recipe lets the UI thread go first every this many records.
RECIPE_PAUSE_EVERY = 1024


def _go_on(pause: Callable[[], object] | None) -> None:
    """Let ``pause`` run between steps; it returns False to stop the work (raises _Stopped)."""
    if pause is not None and pause() is False:
        raise _Stopped


class JournalError(Exception):
    """A journal entry that cannot be restored; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """Unsaved work left by an earlier run, as offered for restoring.

    Attributes:
        session_id: the session that wrote it.
        recipe_path: the journal file itself.
        source_path: the file the dataset came from; None for a dataset never saved.
        written_at: when it was last written (UTC).
        edited_count: records edited, added or repaired since the source was read.
        removed_count: how many fewer records came from the source than it holds (records
            removed since it was read; edited ones still count as coming from it).
        record_count: records in the dataset.
        damaged: True when the journal file cannot be read; restoring it raises JournalError.
    """

    session_id: str
    recipe_path: Path
    source_path: Path | None
    written_at: datetime
    edited_count: int
    removed_count: int
    record_count: int
    damaged: bool = False


@dataclass
class _Session:
    """What one running session remembers between writes."""

    dataset: weakref.ref[Dataset]
    source_path: Path | None
    source_sha: str | None = None
    container: Container | None = None
    suffix: str = ""
    source_records: int = 0
    #: record id -> (the source record object, its index among the source's records)
    known: dict[int, tuple[Record, int]] = field(default_factory=dict)
    #: Ids of the records that came from the source (edits keep a record's id).
    source_ids: frozenset[int] = frozenset()
    written_version: int | None = None


@dataclass(frozen=True)
class JournalSnapshot:
    """A dataset at one version, taken for its recipe, ready to be staged and committed.

    Taking it copies the list of records only (records are immutable); working out which of
    them are the source's own walks every one, so ``recipe`` runs where the recipe is
    written, in a worker: on the UI thread that walk held a 100,000-example window for
    tens of milliseconds at every autosave.
    """

    session_id: str
    session: _Session
    started: bool
    version: int
    #: Every field of the recipe but the records and the counts that come from them.
    head: dict[str, Any]
    records: list[Record]

    def recipe(self, pause: Callable[[], object] | None = None) -> dict[str, Any]:
        """The recipe: runs of the source's own records, and the other records themselves
        (turned into their entries while the recipe is written). ``pause`` is called every
        ``RECIPE_PAUSE_EVERY`` records; returning False stops the work (raises _Stopped)."""
        entries: list[Any] = []
        edited = 0
        from_source = 0
        run: list[int] | None = None
        # Set when the session started and never changed after, so safe to read anywhere.
        known, source_ids = self.session.known, self.session.source_ids
        for position, record in enumerate(self.records):
            if position % RECIPE_PAUSE_EVERY == 0:
                _go_on(pause)
            from_source += record.id in source_ids
            entry = known.get(record.id)
            if entry is not None and entry[0] is record:
                index = entry[1]
                if run is not None and run[0] + run[1] == index:
                    run[1] += 1
                else:
                    run = [index, 1]
                    entries.append(run)
                continue
            run = None
            edited += 1
            entries.append(record)
        removed = max(0, self.head["source_records"] - from_source)
        return {**self.head, "edited": edited, "removed": removed, "records": entries}


@dataclass(frozen=True)
class PreparedSource:
    """A source file already hashed and copied into the journal, ready for a first write."""

    path: Path
    sha256: str
    container: Container
    suffix: str
    records: _SourceRecords
    #: Which records of the open dataset were the source's own when it was prepared (None
    #: when no records were given). Records edited since are other objects, so the first
    #: write's identity check still journals them.
    known: dict[int, tuple[Record, int]] | None = None
    #: Ids of the records the source holds (None when no records were given).
    source_ids: frozenset[int] | None = None

    def contents(self) -> list[object]:
        """Its many small parts (a line or record each) in a new list, for a caller that
        drops this and frees them elsewhere: 100,000 lines take a few tens of milliseconds."""
        parts = self.records.contents()
        if self.known is not None:
            parts.extend(self.known.values())
        return parts


def delete_files(paths: Iterable[Path]) -> None:
    """Delete files (those ``RecoveryJournal.discard(later=True)`` renamed away, say); a
    missing one is skipped, one that cannot go is logged."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Could not remove %s: %s", path, exc)


def _remove(paths: Iterable[Path], *, later: bool) -> list[Path]:
    """Delete ``paths`` now; or with ``later`` rename each to a temporary file's name in its
    folder and return the new paths, for deleting elsewhere (a missing path is skipped)."""
    if not later:
        delete_files(paths)
        return []
    renamed: list[Path] = []
    for path in paths:
        moved = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("Could not remove %s: %s", path, exc)
            continue
        renamed.append(moved)
    return renamed


def default_journal_folder() -> Path:
    """Where this user's recovery journal lives."""
    return data_dir() / "recovery"


def new_session_id() -> str:
    """A fresh id for one editing session (one open dataset in one run of the app)."""
    return uuid.uuid4().hex


class RecoveryJournal:
    """The journal folder: one recipe per session, plus shared copies of source files."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._sources = self.folder / "sources"
        self._sessions: dict[str, _Session] = {}

    # Writing -------------------------------------------------------------------------------

    def write(
        self,
        session_id: str,
        dataset: Dataset,
        source_path: Path | None,
        prepared: PreparedSource | None = None,
    ) -> bool:
        """Record ``dataset`` so it can be rebuilt exactly; False when the disk refused.

        A dataset without unsaved changes needs no recovery, so its entry is cleared instead.
        ``prepared`` (from ``prepare_source``, run in a worker) spares the first write the
        copying of the source file. The same three steps as ``snapshot``, ``stage`` and
        ``commit``, which let an app write a large recipe in a worker.
        """
        try:
            snapshot = self.snapshot(session_id, dataset, source_path, prepared)
            if snapshot is None:
                return True
            staged = self.stage(snapshot)
            assert staged is not None  # nothing can stop a write without ``pause``
        except OSError as exc:
            log.warning("Could not write the recovery journal: %s", exc)
            return False
        return self.commit(snapshot, staged)

    def snapshot(
        self,
        session_id: str,
        dataset: Dataset,
        source_path: Path | None,
        prepared: PreparedSource | None = None,
    ) -> JournalSnapshot | None:
        """What a write would record, taken on the thread that owns ``dataset`` (quick).

        None when there is nothing to write: the entry was already written for this version
        of the dataset, or the dataset has no unsaved changes (its entry is cleared then).
        """
        _check_session_id(session_id)
        if not dataset.is_modified:
            if session_id in self._sessions or self._recipe_path(session_id).exists():
                self.clear(session_id)
            return None
        source_path = Path(source_path) if source_path is not None else None
        session = self._sessions.get(session_id)
        started = (
            session is None
            or session.dataset() is not dataset
            or session.source_path != source_path
        )
        if started:
            session = self._start_session(dataset, source_path, prepared)
        elif session.written_version == dataset.version:
            return None
        assert session is not None
        return JournalSnapshot(
            session_id,
            session,
            started,
            dataset.version,
            self._recipe_head(session_id, session, dataset),
            list(dataset),
        )

    def stage(
        self, snapshot: JournalSnapshot, pause: Callable[[], object] | None = None
    ) -> StagedWrite | None:
        """Serialise and write a snapshot beside its entry (safe in a worker: touches only the
        snapshot and a temporary file). ``pause`` is called between records; when it returns
        False the write stops, its temporary file is removed and None comes back."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            return stage_write(
                self._recipe_path(snapshot.session_id),
                _dump_recipe(snapshot.recipe(pause), pause),
            )
        except _Stopped:
            return None

    def commit(self, snapshot: JournalSnapshot, staged: StagedWrite) -> bool:
        """Publish a staged snapshot and remember it; False when the disk refused."""
        try:
            staged.commit()
        except OSError as exc:
            log.warning("Could not write the recovery journal: %s", exc)
            return False
        session = snapshot.session
        session.written_version = snapshot.version
        self._sessions[snapshot.session_id] = session
        if snapshot.started:
            # Only now that the recipe names the new copy may copies of older sources go.
            self._collect_sources()
        return True

    def prepare_source(
        self,
        source_path: Path,
        records: Iterable[Record] | None = None,
        pause: Callable[[], object] | None = None,
        *,
        saved: bool = False,
    ) -> PreparedSource | None:
        """Read, hash and copy a source file: the slow part of a session's first write.

        Touches no dataset, so the app runs it in a worker right after opening a large file
        and hands the result to ``write``; None when the file cannot be read or copied.
        ``records``, a snapshot of the open dataset's records, are matched to the source's
        lines here too, so the first write does not walk the whole file on the UI thread.
        ``saved`` says the records were just saved to ``source_path`` in this order: they are
        its lines, whatever lines they were read from, so later journal entries build on the
        saved file rather than on the one first opened.
        ``pause`` is called between lines (a worker's checkpoint, so the UI thread goes first);
        when it returns False the work stops and None comes back.
        """
        try:
            data = Path(source_path).read_bytes()
        except OSError as exc:
            log.info(
                "The source %s cannot be read (%s); journalling every record.", source_path, exc
            )
            return None
        suffix = Path(source_path).suffix
        container = sniff_container(data, suffix)
        try:
            source_records = _SourceRecords(data, container, suffix, pause)
            sha = hashlib.sha256(data).hexdigest()
            copy = self._source_copy(sha)
            if not copy.exists():
                self._sources.mkdir(parents=True, exist_ok=True)
                atomic_write(copy, data)
        except (OSError, ValueError) as exc:
            log.info(
                "The source %s cannot be kept (%s); journalling every record.", source_path, exc
            )
            return None
        except _Stopped:
            return None
        source_ids: frozenset[int] | None = None
        known: dict[int, tuple[Record, int]] | None = None
        if records is not None:
            records = list(records)
            try:
                if saved:
                    known = source_records.match_saved(records, pause)
                    source_ids = frozenset(record.id for record in records)
                else:
                    known = source_records.match(records, pause)
                    source_ids = frozenset(r.id for r in records if r.line is not None)
            except _Stopped:
                return None
        return PreparedSource(
            Path(source_path), sha, container, suffix, source_records, known, source_ids
        )

    def _start_session(
        self, dataset: Dataset, source_path: Path | None, prepared: PreparedSource | None
    ) -> _Session:
        """First write: copy the source and note which records are still the source's own."""
        session = _Session(weakref.ref(dataset), source_path)
        if source_path is None:
            return session
        if prepared is None or prepared.path != source_path:
            prepared = self.prepare_source(source_path)
        if prepared is None:
            return session
        session.source_sha = prepared.sha256
        session.container = prepared.container
        session.suffix = prepared.suffix
        session.source_records = len(prepared.records)
        session.known = (
            prepared.known if prepared.known is not None else prepared.records.match(dataset)
        )
        session.source_ids = (
            prepared.source_ids
            if prepared.source_ids is not None
            else frozenset(r.id for r in dataset if r.line is not None)
        )
        return session

    def _recipe_head(self, session_id: str, session: _Session, dataset: Dataset) -> dict[str, Any]:
        """The recipe's fields but its records and their counts (see ``JournalSnapshot``)."""
        return {
            "journal_format": JOURNAL_FORMAT,
            "session_id": session_id,
            "written_at": datetime.now(timezone.utc).isoformat(),
            "source_path": str(session.source_path) if session.source_path else None,
            "source_sha256": session.source_sha,
            "source_container": session.container.value if session.container else None,
            "source_suffix": session.suffix,
            "source_records": session.source_records,
            "bom": dataset.bom.hex(),
            "newline": dataset.newline.decode("ascii"),
            "layout": dataset.container.value,
            "record_count": len(dataset),
        }

    # Finding and restoring -------------------------------------------------------------------

    def pending(self, exclude_session: str | None = None) -> list[JournalEntry]:
        """Entries left by earlier runs, newest first (``exclude_session`` is this run's own).

        Temporary files of writes a crash or a kill cut short are removed on the way.
        """
        self._remove_stale_temps()
        try:
            paths = sorted(self.folder.glob("*.json"))
        except OSError as exc:
            log.warning("Could not look in the recovery journal: %s", exc)
            return []
        entries = [
            _read_entry(path)
            for path in paths
            if path.stem != exclude_session and _SESSION_ID.fullmatch(path.stem)
        ]
        return sorted(entries, key=lambda e: e.written_at, reverse=True)

    def restore(self, entry: JournalEntry) -> Dataset:
        """Rebuild the dataset exactly as it was journalled (it counts as unsaved)."""
        recipe = _load_recipe(entry.recipe_path)
        try:
            return self._rebuild(recipe)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError) as exc:
            raise JournalError(
                f"The recovery journal {entry.recipe_path.name} is damaged ({exc!r}); "
                "the edits it held cannot be restored."
            ) from exc

    def salvage(self, entry: JournalEntry) -> list[bytes]:
        """The lines of the examples an entry holds itself (edited, added or repaired ones),
        for saving when the entry as a whole cannot be restored; [] when there are none."""
        try:
            recipe = _load_recipe(entry.recipe_path)
            items = recipe["records"]
            if not isinstance(items, list):
                return []
        except (JournalError, KeyError, TypeError):
            return []
        lines = []
        for item in items:
            if isinstance(item, dict):
                try:
                    lines.append(_entry_record(item, 0).to_bytes())
                except (KeyError, TypeError, ValueError, AttributeError, UnicodeError):
                    continue
        return lines

    def set_aside(self, entry: JournalEntry) -> Path | None:
        """Move an entry that cannot be restored out of the way, so it is not offered again;
        returns where it went (None when it could not be moved, and then it is removed)."""
        _check_session_id(entry.session_id)
        self._sessions.pop(entry.session_id, None)
        folder = self.folder / UNRESTORABLE_FOLDER
        kept: Path | None = folder / entry.recipe_path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(entry.recipe_path, kept)
        except OSError as exc:
            log.warning("Could not set aside the recovery journal %s: %s", entry.recipe_path, exc)
            kept = None
            self.discard(entry)
        self._collect_sources()
        return kept

    def _rebuild(self, recipe: dict[str, Any]) -> Dataset:
        entries = recipe["records"]
        source: _SourceRecords | None = None
        if any(isinstance(item, list) for item in entries):
            sha = recipe["source_sha256"]
            original = recipe.get("source_path")
            data = self._read_source_copy(sha, Path(original) if original else None)
            source = _SourceRecords(
                data, Container(recipe["source_container"]), recipe["source_suffix"]
            )
        dataset = Dataset(
            bom=bytes.fromhex(recipe["bom"]),
            newline=recipe["newline"].encode("ascii"),
            container=Container(recipe["layout"]),
        )
        for item in entries:
            if isinstance(item, list):
                start, count = item
                if source is None or start < 0 or count < 1 or start + count > len(source):
                    raise ValueError(f"the run {item} is outside the source file")
                for index in range(start, start + count):
                    dataset.insert(len(dataset), source.record(index, dataset.new_id()))
            else:
                dataset.insert(len(dataset), _entry_record(item, dataset.new_id()))
        return dataset

    def _read_source_copy(self, sha: str, original: Path | None) -> bytes:
        """The source the recipe builds on: its copy in the journal or, should that be gone,
        the original file if it still holds exactly the same bytes."""
        if not isinstance(sha, str) or not re.fullmatch("[0-9a-f]{64}", sha):
            raise ValueError("the journal names no copy of the original file")
        problem = "is missing"
        for candidate in (self._source_copy(sha), original):
            if candidate is None:
                continue
            try:
                data = candidate.read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == sha:
                return data
            if candidate != original:
                problem = "is damaged"
        raise JournalError(
            f"The copy of the original file that this journal needs {problem}, and the file "
            "itself has changed since; the edits cannot be restored as a whole."
        )

    # Removing --------------------------------------------------------------------------------

    def discard(self, entry_or_session: JournalEntry | str, *, later: bool = False) -> list[Path]:
        """Remove an entry and any source copy no other entry still needs.

        With ``later`` the files are only renamed out of the way, which is instant, and
        returned for the caller to delete off its thread: deleting the copy of a large file
        takes tens of milliseconds. A renamed file left behind looks like an unfinished
        write's temporary file, and goes with those the next time ``pending`` runs.
        """
        if isinstance(entry_or_session, JournalEntry):
            session_id = entry_or_session.session_id
        else:
            session_id = entry_or_session
        _check_session_id(session_id)
        self._sessions.pop(session_id, None)
        removed = _remove([self._recipe_path(session_id)], later=later)
        # Only now: the entry no longer names its source copy.
        return removed + _remove(self._unneeded_sources(), later=later)

    def clear(self, session_id: str, *, later: bool = False) -> list[Path]:
        """Forget a session's journal after a successful save or a clean close (see
        ``discard`` for ``later``)."""
        return self.discard(session_id, later=later)

    def _remove_stale_temps(self) -> None:
        for folder in (self.folder, self._sources):
            remove_stale_temps(folder)

    def _collect_sources(self) -> None:
        """Delete source copies that neither a journal file nor a live session refers to."""
        delete_files(self._unneeded_sources())

    def _unneeded_sources(self) -> list[Path]:
        """Source copies that neither a journal file nor a live session refers to."""
        needed = {s.source_sha for s in self._sessions.values() if s.source_sha}
        try:
            for path in self.folder.glob("*.json"):
                needed.add(_referenced_sha(path))
            copies = list(self._sources.glob("*.source"))
        except OSError as exc:
            log.warning("Could not tidy the recovery journal: %s", exc)
            return []
        return [copy for copy in copies if copy.stem not in needed]

    def _recipe_path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    def _source_copy(self, sha: str) -> Path:
        return self._sources / f"{sha}.source"


# Source records -------------------------------------------------------------------------------


class _SourceRecords:
    """The records a fresh read of the source bytes gives, by index.

    JSONL is handled line by line without parsing at write time (only on restore), so the
    first write of a large file stays quick; other containers are read as the app reads them.
    """

    def __init__(
        self,
        data: bytes,
        container: Container,
        suffix: str,
        pause: Callable[[], object] | None = None,
    ) -> None:
        self._container = container
        self._lines: list[tuple[int, bytes, bytes]] = []
        self._records: list[Record] = []
        if container is Container.JSONL:
            _, body = split_bom(data)
            lines = self._lines
            for number, raw, eol, _ in iter_lines(body):
                lines.append((number, raw, eol))
                _go_on(pause)
        else:
            self._records = list(read_dataset_bytes(data, suffix))

    def __len__(self) -> int:
        return len(self._lines) if self._container is Container.JSONL else len(self._records)

    def contents(self) -> list[object]:
        """Every line or record held, in a new list."""
        return [*self._lines, *self._records]

    def record(self, index: int, record_id: int) -> Record:
        """The source record at ``index``, under a new id."""
        if self._container is not Container.JSONL:
            return replace(self._records[index], id=record_id)
        line, raw, eol = self._lines[index]
        return record_of_line(record_id, line, raw, eol)

    def match(
        self, dataset: Iterable[Record], pause: Callable[[], object] | None = None
    ) -> dict[int, tuple[Record, int]]:
        """Which records of ``dataset`` are exactly a source record, and which one."""
        if self._container is Container.JSONL:
            return self._match_lines(dataset, pause)
        return self._match_items(dataset)

    def match_saved(
        self, records: list[Record], pause: Callable[[], object] | None = None
    ) -> dict[int, tuple[Record, int]]:
        """Records just saved as these lines, in order: each is the line at its position
        when that line holds exactly its bytes (a record whose text spans lines matches none,
        and is journalled in full instead)."""
        if self._container is not Container.JSONL:
            return self._match_items(records)
        known = {}
        lines = self._lines
        for index, record in enumerate(records[: len(lines)]):
            _go_on(pause)
            if lines[index][1] == record.to_bytes():
                known[record.id] = (record, index)
        return known

    def _match_lines(
        self, dataset: Iterable[Record], pause: Callable[[], object] | None
    ) -> dict[int, tuple[Record, int]]:
        known = {}
        for record in dataset:
            _go_on(pause)
            line = record.line
            if record.raw is None or line is None or not 1 <= line <= len(self._lines):
                continue
            _, raw, eol = self._lines[line - 1]
            if raw == record.raw and eol == record.eol:
                known[record.id] = (record, line - 1)
        return known

    def _match_items(self, dataset: Iterable[Record]) -> dict[int, tuple[Record, int]]:
        """Items are matched by line in read order (a JSON array may hold several per line)."""
        cursor: dict[int | None, int] = {}
        for index, fresh in enumerate(self._records):
            cursor.setdefault(fresh.line, index)
        known = {}
        for record in dataset:
            index = cursor.get(record.line)
            if index is None:
                continue
            fresh = self._records[index]
            if replace(fresh, id=record.id) == record and fresh.value == record.value:
                known[record.id] = (record, index)
                following = index + 1
                if following < len(self._records) and self._records[following].line == record.line:
                    cursor[record.line] = following
                else:
                    del cursor[record.line]
        return known


# Recipe entries -------------------------------------------------------------------------------


def _record_entry(record: Record) -> dict[str, Any]:
    """Everything needed to rebuild a record that is not the source's own."""
    entry: dict[str, Any] = {"line": record.line, "eol": record.eol.decode("ascii")}
    if record.raw is not None:
        try:
            entry["raw"] = record.raw.decode("utf-8")
        except UnicodeDecodeError:
            entry["raw_base64"] = base64.b64encode(record.raw).decode("ascii")
        return entry
    entry["state"] = record.state.value
    entry["kind"] = record.kind.value
    if record.error is not None:
        entry["error"] = record.error
    if record.edited_text is not None:
        entry["text"] = record.edited_text
    else:
        entry["value"] = record.value  # read here when kept as a line (``SystemSet``)
    return entry


def _entry_record(entry: dict[str, Any], record_id: int) -> Record:
    line = entry["line"]
    if line is not None and not isinstance(line, int):
        raise TypeError("a record's line is not a number")
    eol = entry["eol"].encode("ascii")
    if eol not in (b"", b"\n", b"\r\n"):
        raise ValueError("a record's line ending is not one the app writes")
    raw: bytes | None = None
    if "raw" in entry:
        raw = entry["raw"].encode("utf-8")
    elif "raw_base64" in entry:
        try:
            raw = base64.b64decode(entry["raw_base64"], validate=True)
        except binascii.Error as exc:
            raise ValueError("a record's bytes are not valid base64") from exc
    if raw is not None:
        return record_of_line(record_id, line, raw, eol)
    text = entry.get("text")
    if text is not None and not isinstance(text, str):
        raise TypeError("a repaired record's text is not text")
    return Record(
        id=record_id,
        line=line,
        raw=None,
        eol=eol,
        state=LineState(entry["state"]),
        kind=ExampleKind(entry["kind"]),
        error=entry.get("error"),
        edited_value=None if text is not None else entry["value"],
        edited_text=text,
    )


def _dump_recipe(
    recipe: dict[str, Any], pause: Callable[[], object] | None = None
) -> Iterator[bytes]:
    """The recipe as JSON, one record at a time, so a worker writing a large recipe can let
    the UI thread run between records (one ``dumps`` of it all would hold the interpreter for
    the whole dataset)."""
    head = _dump_json({key: value for key, value in recipe.items() if key != "records"})
    yield head[:-1] + b',"records":['
    for position, entry in enumerate(recipe["records"]):
        if position:
            yield b","
        yield _dump_json(_record_entry(entry) if isinstance(entry, Record) else entry)
        _go_on(pause)
    yield b"]}"


def _dump_json(recipe: Any) -> bytes:
    try:
        return orjson.dumps(recipe)
    except TypeError:
        # Integers beyond 64 bits or unpaired surrogates, which orjson refuses.
        return json.dumps(recipe).encode("ascii")


def _load_recipe(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(
            f"The recovery journal {path.name} cannot be read ({exc.strerror or exc})."
        ) from exc
    try:
        recipe = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise JournalError(
            f"The recovery journal {path.name} is damaged (it is not valid JSON); "
            "the edits it held cannot be restored."
        ) from exc
    if not isinstance(recipe, dict) or recipe.get("journal_format") != JOURNAL_FORMAT:
        raise JournalError(
            f"The recovery journal {path.name} was not written by this version of the app "
            "or is damaged; the edits it held cannot be restored."
        )
    return recipe


def _read_entry(path: Path) -> JournalEntry:
    """The summary of one journal file; a damaged file is still listed, marked damaged."""
    try:
        recipe = _load_recipe(path)
        source = recipe["source_path"]
        return JournalEntry(
            session_id=path.stem,
            recipe_path=path,
            source_path=Path(source) if source else None,
            written_at=_aware(datetime.fromisoformat(recipe["written_at"])),
            edited_count=int(recipe["edited"]),
            removed_count=int(recipe["removed"]),
            record_count=int(recipe["record_count"]),
        )
    except (JournalError, KeyError, TypeError, ValueError):
        return JournalEntry(
            session_id=path.stem,
            recipe_path=path,
            source_path=None,
            written_at=_modified_at(path),
            edited_count=0,
            removed_count=0,
            record_count=0,
            damaged=True,
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _modified_at(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except OSError:
        return datetime.fromtimestamp(0, timezone.utc)


def _referenced_sha(path: Path) -> str | None:
    """The source copy a journal file needs (None if it needs none or cannot be read).

    Read from the file's start, where every field but the records is written: tidying runs
    on the UI thread, and reading a recipe of 100,000 edited examples held it for seconds.
    Only a file whose start does not have that shape is read whole.
    """
    try:
        with path.open("rb") as stream:
            start = stream.read(_RECIPE_HEAD_BYTES)
        end = start.find(_RECORDS_START)
        recipe = None
        if end > 0:
            try:
                recipe = json.loads(start[:end] + b"}")
            except ValueError:
                recipe = None
        if not isinstance(recipe, dict):
            recipe = json.loads(path.read_bytes())
        sha = recipe.get("source_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) else None


def _check_session_id(session_id: str) -> None:
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise ValueError(f"{session_id!r} is not a valid session id (letters, digits, - and _).")

"""The in-memory dataset: records in file order, each remembering the exact bytes it came from.

A record that has not been edited keeps its original bytes and nothing else, so an unedited
open-then-save writes the file back byte for byte and a 100,000-line file costs little more than
its own size in memory. Parsing happens on demand (`Record.value`); only edited or new records
hold a parsed value. Records are immutable: an edit swaps in a new record with the same id, and
the old one is returned so an undo can put it back with its original bytes intact.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import orjson

from desktop.core.kinds import ExampleKind, classify


class LineState(str, Enum):
    """Whether a line holds an example, is damaged, or is empty."""

    EXAMPLE = "example"
    BROKEN = "broken"
    BLANK = "blank"


class SourceLayout(str, Enum):
    """The container a dataset was read from; only JSONL can be saved back in place."""

    JSONL = "jsonl"
    JSON_ARRAY = "json_array"
    CSV = "csv"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class Record:
    """One line (or item) of a dataset.

    Attributes:
        id: stable identity, unchanged by edits, sorting and filtering.
        line: 1-based line, item or row number in the source; None for records made in the app.
        raw: the original bytes without line ending, while the record is untouched; None once
            it has been edited (or when it came from a non-JSONL source).
        eol: the line ending that followed it in the source (b"\\n", b"\\r\\n" or b"").
        state: example, broken or blank.
        kind: the example's layout (NOT_AN_EXAMPLE for broken and blank lines).
        error: why a broken record is broken, in plain words.
        edited_value: the parsed value of an edited or converted record.
        edited_text: the text a user typed into a broken record that still does not parse.
    """

    id: int
    line: int | None
    raw: bytes | None
    eol: bytes
    state: LineState
    kind: ExampleKind
    error: str | None = None
    edited_value: Any = field(default=None, compare=False)
    edited_text: str | None = None

    @property
    def is_example(self) -> bool:
        """True when the record holds a recognisable example."""
        return self.state is LineState.EXAMPLE

    @property
    def is_untouched(self) -> bool:
        """True while the record will be written back exactly as it was read."""
        return self.raw is not None

    @property
    def value(self) -> Any:
        """The parsed example (a fresh object on each call for untouched records).

        Returns None for blank and broken records.
        """
        if self.state is not LineState.EXAMPLE:
            return None
        if self.raw is None:
            return self.edited_value
        return parse_json_bytes(self.raw)[0]

    @property
    def text(self) -> str:
        """The line as text, for showing and repairing it; undecodable bytes are replaced."""
        if self.edited_text is not None:
            return self.edited_text
        if self.raw is not None:
            return self.raw.decode("utf-8", errors="replace")
        return serialize_value(self.edited_value).decode("utf-8")

    def to_bytes(self) -> bytes:
        """The bytes to write for this record, without line ending."""
        if self.raw is not None:
            return self.raw
        if self.edited_text is not None:
            return self.edited_text.encode("utf-8")
        if self.state is LineState.BLANK:
            return b""
        return serialize_value(self.edited_value)


class JsonLineError(ValueError):
    """A line that is not valid JSON, with a plain-language reason."""


def parse_json_bytes(data: bytes) -> tuple[Any, str | None]:
    """Parse one line; return (value, None) or (None, reason).

    orjson is strict and fast; the standard library is used only to explain a failure in
    words people can act on, and to accept integers too large for orjson.
    """
    try:
        return orjson.loads(data), None
    except orjson.JSONDecodeError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, (
            f"This line is not valid UTF-8 text (unreadable byte at position {exc.start + 1}); "
            "it may have been saved in another text encoding."
        )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except JsonLineError as exc:
        return None, str(exc)
    except json.JSONDecodeError as exc:
        return None, _explain_json_error(text, exc)
    except RecursionError:
        return None, "This line is nested too deeply to read."
    return value, None


def _reject_constant(name: str) -> Any:
    raise JsonLineError(f"This line contains {name}, which is not allowed in JSON.")


#: The standard library's JSON errors, said for people who have never seen JSON.
_PLAIN_JSON_ERRORS = (
    ("Unterminated string", "a text in quotes is never closed"),
    ("Expecting ',' delimiter", "a comma is missing between two items"),
    ("Expecting ':' delimiter", "a colon is missing after a field name"),
    ("Expecting property name", "a field name must be in double quotes, or a comma is extra"),
    ("Expecting value", "a value is missing, or a comma is extra"),
    ("Extra data", "there is more text after the end of the example"),
    ("Invalid control character", "the text holds a raw line break or tab; write \\n or \\t"),
    ("Invalid \\escape", "a backslash is followed by a character JSON does not allow"),
)


def _explain_json_error(text: str, exc: json.JSONDecodeError) -> str:
    reason = next((plain for start, plain in _PLAIN_JSON_ERRORS if exc.msg.startswith(start)), None)
    reason = reason or exc.msg[:1].lower() + exc.msg[1:]
    cut_off = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
    if cut_off:
        return (
            "This line ends before the example is complete; it may have been cut off "
            f"({reason}, column {exc.colno})."
        )
    return f"This line is not valid JSON: {reason} (column {exc.colno})."


def classify_bytes(raw: bytes) -> tuple[LineState, ExampleKind, str | None]:
    """Decide what a raw line holds, without keeping the parsed value."""
    if not raw.strip():
        return LineState.BLANK, ExampleKind.NOT_AN_EXAMPLE, None
    value, error = parse_json_bytes(raw)
    if error is not None:
        return LineState.BROKEN, ExampleKind.NOT_AN_EXAMPLE, error
    return _classify_value(value)


def _classify_value(value: Any) -> tuple[LineState, ExampleKind, str | None]:
    kind = classify(value)
    if kind is ExampleKind.NOT_AN_EXAMPLE:
        if isinstance(value, dict):
            reason = (
                'This line is valid JSON but not an example: it has no "messages" '
                "(nor prompt/completion or preference fields)."
            )
        else:
            reason = "This line is valid JSON but not an example: it should be a JSON object."
        return LineState.BROKEN, kind, reason
    return LineState.EXAMPLE, kind, None


_TOP_LEVEL_ORDER = (
    "messages",
    "input",
    "preferred_output",
    "non_preferred_output",
    "tools",
    "parallel_tool_calls",
    "functions",
    "prompt",
    "completion",
    "response",
)
_MESSAGE_ORDER = (
    "role",
    "name",
    "content",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "weight",
)


def _ordered(value: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    result = {key: value[key] for key in order if key in value}
    result.update((key, item) for key, item in value.items() if key not in result)
    return result


def _ordered_messages(messages: Any) -> Any:
    if not isinstance(messages, list):
        return messages
    return [_ordered(m, _MESSAGE_ORDER) if isinstance(m, dict) else m for m in messages]


def canonical_order(value: Any) -> Any:
    """Put known keys in a stable order (messages first, role before content); others follow."""
    if not isinstance(value, dict):
        return value
    result = _ordered(value, _TOP_LEVEL_ORDER)
    if "messages" in result:
        result["messages"] = _ordered_messages(result["messages"])
    inner = result.get("input")
    if isinstance(inner, dict):
        inner = _ordered(inner, _TOP_LEVEL_ORDER)
        if "messages" in inner:
            inner["messages"] = _ordered_messages(inner["messages"])
        result["input"] = inner
    for key in ("preferred_output", "non_preferred_output"):
        if key in result:
            result[key] = _ordered_messages(result[key])
    return result


def serialize_value(value: Any) -> bytes:
    """Compact UTF-8 JSON with keys in a stable order, as written for edited records."""
    ordered = canonical_order(value)
    try:
        return orjson.dumps(ordered)
    except TypeError:
        # Integers beyond 64 bits, which orjson cannot write but JSON allows.
        return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def with_value(record: Record, value: Any) -> Record:
    """``record`` (same id, line and line ending) holding ``value`` instead of its bytes.

    Pure, so bulk edits can prepare their new records in a worker; a value that is not an
    example is kept as text and marked broken.
    """
    return _with_value(record, value)


def _with_value(record: Record, value: Any) -> Record:
    """``record`` holding ``value`` instead of its bytes; a non-example keeps its text, broken."""
    state, kind, error = _classify_value(value)
    if state is LineState.BROKEN:
        text = serialize_value(value).decode("utf-8")
        return replace(
            record,
            raw=None,
            state=state,
            kind=kind,
            error=error,
            edited_value=None,
            edited_text=text,
        )
    return replace(
        record, raw=None, state=state, kind=kind, error=None, edited_value=value, edited_text=None
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What an edit did, for views that must refresh: kind is insert, remove, replace or move
    for one record, or insert_many, remove_many or replace_many for many at once (bulk edits
    and their undo): then ``record_ids`` lists them and ``record_id`` and ``position`` are -1.
    """

    kind: str
    record_id: int
    position: int
    new_position: int | None = None
    record_ids: tuple[int, ...] = ()


Listener = Callable[[Change], None]


class Dataset:
    """Records in order, addressed by stable id, with change notification and a dirty flag."""

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        bom: bytes = b"",
        newline: bytes = b"\n",
        layout: SourceLayout = SourceLayout.NEW,
        id_source: Iterator[int] | None = None,
    ) -> None:
        self.bom = bom
        self.newline = newline
        self.layout = layout
        self._ids = id_source if id_source is not None else itertools.count(1)
        self._records: list[Record] = list(records)
        self._positions: dict[int, int] | None = None
        self._listeners: list[Listener] = []
        self._version = 0
        self._saved_version = 0

    # Reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __getitem__(self, position: int) -> Record:
        return self._records[position]

    def examples(self) -> Iterator[Record]:
        """Records that hold an example (not blank, not broken)."""
        return (r for r in self._records if r.state is LineState.EXAMPLE)

    def record(self, record_id: int) -> Record:
        """The current record with this id (KeyError if it is gone)."""
        return self._records[self.position(record_id)]

    def has_record(self, record_id: int) -> bool:
        """True while a record with this id is in the dataset."""
        try:
            self.position(record_id)
        except KeyError:
            return False
        return True

    def position(self, record_id: int) -> int:
        """Where the record with this id currently sits (KeyError if it is gone)."""
        if self._positions is None:
            self._positions = {record.id: i for i, record in enumerate(self._records)}
        return self._positions[record_id]

    @property
    def version(self) -> int:
        """Increases with every change; views use it to know their caches are stale."""
        return self._version

    @property
    def is_modified(self) -> bool:
        """True when there are changes since the last load or save."""
        return self._version != self._saved_version

    def mark_saved(self) -> None:
        """Record that the current state is what is on disk."""
        self._saved_version = self._version

    def new_id(self) -> int:
        """A fresh record id, unique within this dataset."""
        return next(self._ids)

    # Listening -----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change (views and the running analysis use this)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _changed(self, change: Change) -> None:
        if change.kind not in ("replace", "replace_many"):
            self._positions = None
        self._version += 1
        for listener in list(self._listeners):
            listener(change)

    # Editing -------------------------------------------------------------------------------

    def make_record(self, value: Any, *, line: int | None = None) -> Record:
        """A new, unsaved record holding ``value``."""
        template = Record(
            id=self.new_id(),
            line=line,
            raw=None,
            eol=self.newline,
            state=LineState.BLANK,
            kind=ExampleKind.NOT_AN_EXAMPLE,
        )
        return _with_value(template, value)

    def insert(self, position: int, record: Record) -> None:
        """Put ``record`` at ``position`` (also how an undo brings back a removed record)."""
        position = max(0, min(position, len(self._records)))
        self._records.insert(position, record)
        self._changed(Change("insert", record.id, position))

    def append_value(self, value: Any) -> Record:
        """Add a new example at the end and return its record."""
        record = self.make_record(value)
        self.insert(len(self._records), record)
        return record

    def remove(self, record_id: int) -> tuple[int, Record]:
        """Take a record out; return where it was and what it was, for undo."""
        position = self.position(record_id)
        record = self._records.pop(position)
        self._changed(Change("remove", record_id, position))
        return position, record

    def remove_many(self, record_ids: Iterable[int]) -> list[tuple[int, Record]]:
        """Take many records out in one pass, with one notification.

        Returns (position, record) pairs in file order, which ``insert_many`` puts back
        exactly. Removing one at a time re-indexed the whole dataset after each removal.
        """
        wanted = set(record_ids)
        removed: list[tuple[int, Record]] = []
        kept: list[Record] = []
        for position, record in enumerate(self._records):
            if record.id in wanted:
                removed.append((position, record))
            else:
                kept.append(record)
        if removed:
            self._records = kept
            ids = tuple(record.id for _, record in removed)
            self._changed(Change("remove_many", -1, -1, record_ids=ids))
        return removed

    def insert_many(self, placed: Iterable[tuple[int, Record]]) -> None:
        """Put records in at their final positions in one pass, with one notification.

        ``placed`` holds (position, record) pairs; each position is where the record sits
        once all are in (so ``remove_many``'s result restores the dataset exactly).
        """
        placed = sorted(placed, key=lambda item: item[0])
        if not placed:
            return
        merged: list[Record] = []
        existing = iter(self._records)
        for position, record in placed:
            while len(merged) < position:
                following = next(existing, None)
                if following is None:
                    break
                merged.append(following)
            merged.append(record)
        merged.extend(existing)
        self._records = merged
        ids = tuple(record.id for _, record in placed)
        self._changed(Change("insert_many", -1, -1, record_ids=ids))

    def put(self, record: Record) -> Record:
        """Swap in ``record`` for the record with the same id; return the old one (for undo)."""
        position = self.position(record.id)
        old = self._records[position]
        self._records[position] = record
        self._changed(Change("replace", record.id, position))
        return old

    def put_many(self, records: Iterable[Record]) -> list[Record]:
        """Swap in many records at once, with one notification; return the old ones.

        Bulk edits and their undo use it: one change per record made every view and the
        analysis react 100,000 times to one edit.
        """
        records = list(records)
        if not records:
            return []
        positions = [self.position(record.id) for record in records]
        old = [self._records[position] for position in positions]
        for position, record in zip(positions, records, strict=True):
            self._records[position] = record
        self._changed(Change("replace_many", -1, -1, record_ids=tuple(r.id for r in records)))
        return old

    def set_value(self, record_id: int, value: Any) -> Record:
        """Replace a record's example with ``value``; return the old record for undo."""
        return self.put(_with_value(self.record(record_id), value))

    def set_text(self, record_id: int, text: str) -> Record:
        """Replace a record with text the user typed (how broken lines are repaired).

        Valid JSON becomes an example again, written back exactly as typed; anything else
        stays a broken record showing why.
        """
        old = self.record(record_id)
        raw = text.encode("utf-8")
        state, kind, error = classify_bytes(raw)
        new = replace(
            old, raw=raw, state=state, kind=kind, error=error, edited_value=None, edited_text=None
        )
        return self.put(new)

    def move(self, record_id: int, new_position: int) -> int:
        """Move a record to ``new_position``; return its old position (for undo)."""
        position = self.position(record_id)
        record = self._records.pop(position)
        new_position = max(0, min(new_position, len(self._records)))
        self._records.insert(new_position, record)
        self._changed(Change("move", record_id, position, new_position))
        return position

    # Writing -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole dataset as JSONL; untouched records come back byte for byte.

        A record whose line ending was missing (the file's last line) gets the dataset's
        newline once another record follows it.
        """
        return b"".join(self.to_parts())

    def to_parts(self) -> list[bytes]:
        """``to_bytes`` in pieces (records and line endings), for writing without joining."""
        parts = [self.bom]
        last = len(self._records) - 1
        for position, record in enumerate(self._records):
            parts.append(record.to_bytes())
            eol = record.eol
            if not eol and position != last:
                eol = self.newline
            parts.append(eol)
        return parts

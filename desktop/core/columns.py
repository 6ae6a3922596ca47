"""Compact per-line results of a checked file, and their byte form for the count cache.

Why columns: a 1 GB file has about 700,000 examples, and one object per example took gigabytes;
arrays of counts, kinds and fingerprints take a few dozen bytes per example. Why a byte form:
a file checked again unchanged finds each range's columns in the count cache whole, instead
of looking up every line (see ``filecheck``).
"""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections import Counter
from dataclasses import dataclass, field, replace

import orjson

from desktop.core.analysis_cache import (
    FINGERPRINT_BYTES,
    KIND_INDEX,
    KINDS,
    SEVERITIES,
    SEVERITY_INDEX,
    EncodedRows,
    RangeRows,
)
from desktop.core.dataset import LineState, parse_json_bytes
from desktop.core.findings import Finding
from desktop.core.interchange import ForeignFormat, foreign_format_of
from desktop.core.kinds import ExampleKind, classify
from desktop.core.tokens import ExampleTokens

#: Stands for a value not parsed yet.
UNREAD = object()
#: The arrays of ``Columns`` in their byte form, in order, with their item types. (Example
#: ids are not among them: in a range's columns they are its example lines.)
_ARRAYS = (
    ("kinds", "B"),
    ("totals", "q"),
    ("assistants", "q"),
    ("estimated", "B"),
    ("fingerprints", "B"),
    ("systems", "i"),
    ("has_system", "B"),
    ("example_lines", "q"),
)
#: Changed whenever the byte form changes: older forms are then not read.
_FORM = 3
_HEAD_SIZE = struct.Struct("<I")
_DIGEST_SIZE = 16


@dataclass
class Columns:
    """Compact results of consecutive lines (or items): per-line states, per-example columns.

    Line numbers in ``example_lines`` and in ``findings`` count from the first line of these
    columns (1-based) until ``extend`` places them after other lines.
    """

    lines: int = 0
    blank: int = 0
    broken: int = 0
    kinds: bytearray = field(default_factory=bytearray)
    totals: array = field(default_factory=lambda: array("q"))
    assistants: array = field(default_factory=lambda: array("q"))
    estimated: bytearray = field(default_factory=bytearray)
    fingerprints: bytearray = field(default_factory=bytearray)
    systems: array = field(default_factory=lambda: array("i"))
    has_system: bytearray = field(default_factory=bytearray)
    example_lines: array = field(default_factory=lambda: array("q"))
    example_ids: array = field(default_factory=lambda: array("q"))
    system_texts: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    fallback: str | None = None
    #: What these lines taught the count cache, for the process that writes it.
    learnt: EncodedRows = field(default_factory=lambda: ([], {}))
    #: Lines in another trainer's layout, per layout, and lines that are OpenAI examples.
    foreign: Counter[ForeignFormat] = field(default_factory=Counter)
    not_foreign: int = 0
    #: Ranges of the file these columns hold, in byte form, for the count cache to keep.
    ranges: RangeRows = field(default_factory=list)

    def recognise(self, raw: bytes, state: LineState, kind: ExampleKind, value: object) -> None:
        """Count a line towards the file being in another trainer's layout or not.

        A chat line that names no speaker with "from" (ShareGPT's spelling) counts as an
        OpenAI example without a second look; the rest is judged as Import would judge it.
        """
        if state is LineState.BLANK:
            return
        if kind is ExampleKind.CHAT and b'"from"' not in raw:
            self.not_foreign += 1
            return
        item = parse_json_bytes(raw)[0] if value is UNREAD else value
        found = foreign_format_of((item,))
        if found is not None:
            self.foreign[found] += 1
        elif classify(item) is not ExampleKind.NOT_AN_EXAMPLE:
            self.not_foreign += 1

    @property
    def foreign_format(self) -> ForeignFormat | None:
        """The other trainer's layout most lines are in (as ``foreign_format_of`` decides)."""
        if sum(self.foreign.values()) <= self.not_foreign:
            return None
        return self.foreign.most_common(1)[0][0]

    def add_example(
        self,
        line: int,
        record_id: int,
        kind: ExampleKind,
        tokens: ExampleTokens,
        fingerprint: str,
        system_text: str | None,
        has_system: bool,
        texts: dict[str, int],
    ) -> None:
        """Append one example's facts (``texts`` numbers the system texts seen so far)."""
        self.kinds.append(KIND_INDEX[kind])
        self.totals.append(tokens.total)
        self.assistants.append(tokens.assistant)
        self.estimated.append(tokens.estimated)
        self.fingerprints += bytes.fromhex(fingerprint)
        if system_text is None:
            self.systems.append(-1)
        else:
            index = texts.get(system_text)
            if index is None:
                index = texts[system_text] = len(self.system_texts)
                self.system_texts.append(system_text)
            self.systems.append(index)
        self.has_system.append(has_system)
        self.example_lines.append(line)
        self.example_ids.append(record_id)

    def extend(self, other: Columns, texts: dict[str, int]) -> None:
        """Append ``other``'s lines after these, placing its line numbers after them."""
        offset = self.lines
        self.lines += other.lines
        self.blank += other.blank
        self.broken += other.broken
        self.kinds += other.kinds
        self.totals += other.totals
        self.assistants += other.assistants
        self.estimated += other.estimated
        self.fingerprints += other.fingerprints
        mapping = array("i")
        for text in other.system_texts:
            index = texts.get(text)
            if index is None:
                index = texts[text] = len(self.system_texts)
                self.system_texts.append(text)
            mapping.append(index)
        self.systems += array("i", (mapping[i] if i >= 0 else -1 for i in other.systems))
        self.has_system += other.has_system
        if offset:
            self.example_lines += array("q", (line + offset for line in other.example_lines))
            self.example_ids += array("q", (line + offset for line in other.example_ids))
            self.findings.extend(
                replace(f, line=f.line + offset, record_id=f.line + offset)
                if f.line is not None
                else f
                for f in other.findings
            )
        else:
            self.example_lines += other.example_lines
            self.example_ids += other.example_ids
            self.findings.extend(other.findings)
        self.fallback = self.fallback or other.fallback
        self.foreign.update(other.foreign)
        self.not_foreign += other.not_foreign
        self.learnt[0].extend(other.learnt[0])
        self.learnt[1].update(other.learnt[1])
        self.ranges.extend(other.ranges)

    def to_bytes(self) -> bytes:
        """The columns of a range of lines as bytes (what the cache keeps; ``from_bytes``
        reads them back).

        Not what the lines taught the cache, nor the counter's fallback: those belong to the
        run that made them. TypeError when a text holds half of a character (an escaped lone
        surrogate), which cannot be kept; ValueError for columns not of a range.
        """
        if self.example_ids != self.example_lines:
            raise ValueError("not the columns of a range: example ids are not their lines")
        body = [getattr(self, name) for name, _code in _ARRAYS]
        head = orjson.dumps(
            [
                _FORM,
                [
                    [code, array(code).itemsize, len(part)]
                    for (_name, code), part in zip(_ARRAYS, body, strict=True)
                ],
                [self.lines, self.blank, self.broken, self.not_foreign],
                {found.value: count for found, count in self.foreign.items()},
                self.system_texts,
                [
                    [f.code, SEVERITY_INDEX[f.severity], f.text, f.line, f.message_index, f.fix]
                    for f in self.findings
                ],
            ]
        )
        payload = b"".join([_HEAD_SIZE.pack(len(head)), head, *map(bytes, body)])
        return _digest(payload) + payload

    @classmethod
    def from_bytes(cls, data: bytes, lines: int) -> Columns:
        """The columns of a range of ``lines`` lines from ``to_bytes`` (ValueError when the
        bytes are not such columns).

        A checksum catches bytes damaged on disk; the checks after it catch columns that
        would not fit the range (written by other code, say).
        """
        payload = data[_DIGEST_SIZE:]
        if len(data) < _DIGEST_SIZE or _digest(payload) != data[:_DIGEST_SIZE]:
            raise ValueError("columns damaged (their checksum differs)")
        try:
            return cls._from_payload(payload, lines)
        except (
            struct.error,
            orjson.JSONDecodeError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
        ) as exc:
            raise ValueError(f"not columns: {exc}") from exc

    @classmethod
    def _from_payload(cls, payload: bytes, lines: int) -> Columns:
        (size,) = _HEAD_SIZE.unpack_from(payload)
        end = _HEAD_SIZE.size + size
        form, layout, counts, foreign, texts, findings = orjson.loads(
            payload[_HEAD_SIZE.size : end]
        )
        if form != _FORM or len(layout) != len(_ARRAYS):
            raise ValueError("columns in another form")
        if counts[0] != lines or len(counts) != 4:
            raise ValueError("columns of another number of lines")
        blank, broken, not_foreign = map(_count, counts[1:])
        columns = cls(lines=lines, blank=blank, broken=broken, not_foreign=not_foreign)
        view = memoryview(payload)
        for (name, code), (stored, itemsize, length) in zip(_ARRAYS, layout, strict=True):
            part = array(code)
            if stored != code or itemsize != part.itemsize:
                raise ValueError("columns written on another kind of computer")
            part.frombytes(view[end : end + itemsize * length])
            if len(part) != length:
                raise ValueError("columns cut short")
            end += itemsize * length
            setattr(columns, name, part if code != "B" else bytearray(part))
        if end != len(payload):
            raise ValueError("columns with bytes left over")
        examples = len(columns.kinds)
        if blank + broken + examples > lines:
            raise ValueError("columns of more lines than the range")
        for name, _code in _ARRAYS:
            each = FINGERPRINT_BYTES if name == "fingerprints" else 1
            if len(getattr(columns, name)) != examples * each:
                raise ValueError("columns of different lengths")
        systems, numbers = columns.systems, columns.example_lines
        if (
            max(columns.kinds, default=0) >= len(KINDS)
            or (systems and not -1 <= min(systems) <= max(systems) < len(texts))
            or (numbers and not 1 <= min(numbers) <= max(numbers) <= lines)
        ):
            raise ValueError("columns that point past their own lists")
        columns.example_ids = array("q", numbers)
        columns.foreign = Counter(
            {ForeignFormat(key): _count(n) for key, n in dict(foreign).items()}
        )
        columns.system_texts = [_text(text) for text in texts]
        columns.findings = [_finding(*found, lines=lines) for found in findings]
        return columns


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_DIGEST_SIZE).digest()


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("columns with impossible counts")
    return value


def _text(value: object) -> str:
    if type(value) is not str:
        raise ValueError("columns with a text that is none")
    return value


def _finding(
    code: object,
    severity: object,
    text: object,
    line: object,
    index: object,
    fix: object,
    *,
    lines: int,
) -> Finding:
    """A finding of a range's columns; in a range, a record's id is its line number."""
    if type(severity) is not int or not 0 <= severity < len(SEVERITIES):
        raise ValueError("columns with a finding of no known severity")
    if not (type(line) is int and 1 <= line <= lines):
        raise ValueError("columns with a finding on no line of theirs")
    if index is not None and type(index) is not int:
        raise ValueError("columns with a finding about no message")
    return Finding(
        _text(code),
        SEVERITIES[severity],
        _text(text),
        line,
        index,
        None if fix is None else _text(fix),
        line,
    )

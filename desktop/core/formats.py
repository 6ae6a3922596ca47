"""Recognising the layout a user's file arrives in, and converting legacy layouts to chat.

Users come with OpenAI chat JSONL, preference (DPO) JSONL, the older prompt/completion and
prompt/response JSONL, a JSON array of such objects, or a spreadsheet exported as CSV. All of
them open as records; legacy records become chat examples only when the user asks.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from desktop.core.dataset import Dataset, Record, SourceLayout
from desktop.core.jsonl_io import Progress, dominant_newline, read_jsonl_bytes, split_bom
from desktop.core.kinds import ExampleKind


class Layout(str, Enum):
    """What kind of examples a dataset holds, as a whole."""

    CHAT = "chat"
    PREFERENCE = "preference"
    PROMPT_COMPLETION = "prompt_completion"
    PROMPT_RESPONSE = "prompt_response"
    MIXED = "mixed"
    EMPTY = "empty"

    @property
    def is_legacy(self) -> bool:
        """True for layouts that chat models cannot be trained on without converting."""
        return self in (Layout.PROMPT_COMPLETION, Layout.PROMPT_RESPONSE)


_LAYOUT_OF_KIND = {
    ExampleKind.CHAT: Layout.CHAT,
    ExampleKind.PREFERENCE: Layout.PREFERENCE,
    ExampleKind.PROMPT_COMPLETION: Layout.PROMPT_COMPLETION,
    ExampleKind.PROMPT_RESPONSE: Layout.PROMPT_RESPONSE,
}


class DatasetReadError(OSError):
    """A file could not be read at all; the message says why in plain words."""


def detect_layout(records: Iterable[Record]) -> Layout:
    """The layout of the examples; MIXED when more than one kind appears."""
    kinds = {r.kind for r in records if r.is_example}
    if not kinds:
        return Layout.EMPTY
    if len(kinds) > 1:
        return Layout.MIXED
    return _LAYOUT_OF_KIND[kinds.pop()]


def kind_counts(records: Iterable[Record]) -> Counter[ExampleKind]:
    """How many examples of each kind there are (for messages like '3 lines are DPO')."""
    return Counter(r.kind for r in records if r.is_example)


# Containers -----------------------------------------------------------------------------------

_CSV_SUFFIXES = {".csv", ".tsv"}
_CSV_COLUMN_PAIRS = (
    ("prompt", "completion"),
    ("prompt", "response"),
    ("question", "answer"),
)


def sniff_container(data: bytes, suffix: str = "") -> SourceLayout:
    """Guess whether ``data`` is JSONL, one JSON array, or CSV."""
    _, body = split_bom(data)
    stripped = body.lstrip()
    if suffix.lower() in _CSV_SUFFIXES:
        return SourceLayout.CSV
    if stripped.startswith(b"[") and _is_json_array(body):
        # A one-line array in a .jsonl file is a (broken) JSONL line, kept as it is.
        spans_lines = b"\n" in stripped.rstrip()
        if suffix.lower() != ".jsonl" or spans_lines:
            return SourceLayout.JSON_ARRAY
    if stripped and not stripped.startswith(b"{") and _looks_like_csv(body):
        return SourceLayout.CSV
    return SourceLayout.JSONL


def _is_json_array(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body.decode("utf-8")), list)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False


def _looks_like_csv(body: bytes) -> bool:
    header = body.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    columns = {c.strip().strip('"').lower() for c in header.split(",")}
    return any(a in columns and b in columns for a, b in _CSV_COLUMN_PAIRS)


def read_dataset_bytes(data: bytes, suffix: str = "", progress: Progress | None = None) -> Dataset:
    """Read any supported container into a dataset."""
    container = sniff_container(data, suffix)
    if container is SourceLayout.JSON_ARRAY:
        return read_json_array_bytes(data)
    if container is SourceLayout.CSV:
        return read_csv_bytes(data, delimiter="\t" if suffix.lower() == ".tsv" else ",")
    return read_jsonl_bytes(data, progress)


def read_file_bytes(path: Path) -> bytes:
    """A dataset file's bytes; unreadable files raise DatasetReadError with a plain reason."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetReadError(f"{path.name} was not found.") from exc
    except IsADirectoryError as exc:
        raise DatasetReadError(f"{path.name} is a folder, not a dataset file.") from exc
    except PermissionError as exc:
        raise DatasetReadError(f"You do not have permission to read {path.name}.") from exc
    except OSError as exc:
        raise DatasetReadError(f"{path.name} could not be read: {exc.strerror}.") from exc


def read_dataset(path: Path, progress: Progress | None = None) -> Dataset:
    """Read a dataset file; unreadable files raise DatasetReadError with a plain reason."""
    path = Path(path)
    return read_dataset_bytes(read_file_bytes(path), path.suffix, progress)


def read_json_array_bytes(data: bytes) -> Dataset:
    """Read a JSON array; each item becomes a record numbered by the line it starts on."""
    _, body = split_bom(data)
    text = body.decode("utf-8")
    decoder = json.JSONDecoder()
    ids = itertools.count(1)
    dataset = Dataset(newline=dominant_newline(body), layout=SourceLayout.JSON_ARRAY, id_source=ids)
    records: list[Record] = []
    position = text.index("[") + 1
    line, counted_to = 1, 0
    while True:
        position = _skip_separators(text, position)
        if position >= len(text) or text[position] == "]":
            break
        line += text.count("\n", counted_to, position)
        counted_to = position
        value, position = decoder.raw_decode(text, position)
        records.append(dataset.make_record(value, line=line))
    for record in records:
        dataset.insert(len(dataset), record)
    dataset.mark_saved()
    return dataset


def _skip_separators(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n,":
        position += 1
    return position


def read_csv_bytes(data: bytes, delimiter: str = ",") -> Dataset:
    """Read a spreadsheet export with prompt/completion (or question/answer) columns.

    Each row becomes a legacy prompt/completion (or prompt/response) record, numbered by the
    row's line in the file, ready to convert to chat examples. An optional ``system`` column is
    kept as a field on the record so the conversion can use it.
    """
    _, body = split_bom(data)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Spreadsheet programs on Windows often save CSV in the legacy Windows code page.
        text = body.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        header = []
    columns = [name.strip().lower() for name in header]
    first, second = _pick_columns(columns)
    ids = itertools.count(1)
    dataset = Dataset(layout=SourceLayout.CSV, newline=dominant_newline(body), id_source=ids)
    if first is None or second is None:
        wanted = ", ".join(f"{a}/{b}" for a, b in _CSV_COLUMN_PAIRS)
        raise DatasetReadError(
            f"This spreadsheet has no recognised columns; it needs one of: {wanted}."
        )
    target = "response" if columns[second] == "response" else "completion"
    extra = [i for i in range(len(columns)) if i not in (first, second) and columns[i]]
    records: list[Record] = []
    start_line = reader.line_num + 1
    for row in reader:
        if not any(cell.strip() for cell in row):
            start_line = reader.line_num + 1
            continue
        value: dict[str, Any] = {
            "prompt": row[first] if first < len(row) else "",
            target: row[second] if second < len(row) else "",
        }
        for index in extra:
            if index < len(row) and row[index] != "":
                value[columns[index]] = row[index]
        records.append(dataset.make_record(value, line=start_line))
        start_line = reader.line_num + 1
    for record in records:
        dataset.insert(len(dataset), record)
    dataset.mark_saved()
    return dataset


def _pick_columns(columns: Sequence[str]) -> tuple[int | None, int | None]:
    for a, b in _CSV_COLUMN_PAIRS:
        if a in columns and b in columns:
            return columns.index(a), columns.index(b)
    return None, None


# Legacy to chat -------------------------------------------------------------------------------

#: Separators the old completions guide told people to end every prompt with.
_PROMPT_SEPARATORS = ("\n\n###\n\n", "\n\n---\n\n", "\n###\n", " ->", "->", "\n\n")
#: Stop sequences the old guide told people to end every completion with.
_COMPLETION_STOPS = (" END", "END", "\n###", "###", "\n")


@dataclass(frozen=True, slots=True)
class LegacyMarkers:
    """Artefacts of the old prompt/completion recipe, found on every example."""

    prompt_separator: str = ""
    completion_leading_space: bool = False
    completion_stop: str = ""

    def describe(self) -> list[str]:
        """Plain sentences saying what a conversion would strip."""
        notes = []
        if self.prompt_separator:
            notes.append(f"the separator {self.prompt_separator!r} at the end of every prompt")
        if self.completion_leading_space:
            notes.append("the space at the start of every completion")
        if self.completion_stop:
            notes.append(f"the stop marker {self.completion_stop!r} at the end of every completion")
        return notes


def find_legacy_markers(values: Sequence[dict[str, Any]]) -> LegacyMarkers:
    """Find separators and stop markers shared by every legacy example."""
    prompts = [v.get("prompt") for v in values]
    replies = [v.get("completion", v.get("response")) for v in values]
    if not values or not all(isinstance(p, str) for p in prompts):
        return LegacyMarkers()
    separator = next((s for s in _PROMPT_SEPARATORS if all(p.endswith(s) for p in prompts)), "")
    if not all(isinstance(r, str) for r in replies):
        return LegacyMarkers(prompt_separator=separator)
    leading = all(r.startswith(" ") for r in replies)
    stop = next((s for s in _COMPLETION_STOPS if all(r.endswith(s) for r in replies)), "")
    return LegacyMarkers(separator, leading, stop)


def legacy_to_chat(
    value: dict[str, Any], system: str | None = None, markers: LegacyMarkers | None = None
) -> dict[str, Any]:
    """Turn one prompt/completion (or prompt/response) object into a chat example.

    Other fields are kept as they are (nothing the user wrote is dropped); a ``system`` field
    from a spreadsheet column wins over the dataset-wide system message.
    """
    markers = markers or LegacyMarkers()
    prompt = value.get("prompt", "")
    reply_key = "completion" if "completion" in value else "response"
    reply = value.get(reply_key, "")
    if isinstance(prompt, str) and markers.prompt_separator:
        prompt = prompt[: len(prompt) - len(markers.prompt_separator)]
    if isinstance(reply, str):
        if markers.completion_stop and reply.endswith(markers.completion_stop):
            reply = reply[: len(reply) - len(markers.completion_stop)]
        if markers.completion_leading_space and reply.startswith(" "):
            reply = reply[1:]
    row_system = value.get("system")
    system_text = row_system if isinstance(row_system, str) and row_system else system
    messages: list[dict[str, Any]] = []
    if system_text:
        messages.append({"role": "system", "content": system_text})
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": reply})
    result: dict[str, Any] = {"messages": messages}
    skip = {"prompt", reply_key, "system"}
    result.update((k, v) for k, v in value.items() if k not in skip)
    return result


@dataclass(frozen=True, slots=True)
class Conversion:
    """A planned conversion: new values per record id, plus what it will strip."""

    values: dict[int, dict[str, Any]]
    markers: LegacyMarkers

    @property
    def notes(self) -> list[str]:
        """Plain sentences about what the conversion changes besides the layout."""
        return self.markers.describe()


def plan_legacy_conversion(
    dataset: Dataset, system: str | None = None, strip_markers: bool = True
) -> Conversion:
    """Work out the chat examples that would replace every legacy record (nothing is changed).

    The caller applies ``values`` with ``Dataset.set_value`` so that the editor can undo it.
    """
    legacy = [(r.id, r.value) for r in dataset.examples() if r.kind.is_legacy]
    markers = find_legacy_markers([v for _, v in legacy]) if strip_markers else LegacyMarkers()
    values = {rid: legacy_to_chat(v, system, markers) for rid, v in legacy}
    return Conversion(values, markers)

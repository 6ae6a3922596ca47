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
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from desktop.core.dataset import (
    MAX_NESTING,
    NESTED_TOO_DEEPLY,
    Container,
    Dataset,
    JsonLineError,
    LineState,
    Record,
    json_decoder,
    nesting_depth,
)
from desktop.core.filekind import SNIFF_BYTES, binary_kind
from desktop.core.jsonl_io import Progress, dominant_newline, read_jsonl_bytes, split_bom
from desktop.core.kinds import ExampleKind


class DatasetKind(str, Enum):
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
        return self in (DatasetKind.PROMPT_COMPLETION, DatasetKind.PROMPT_RESPONSE)


_DATASET_KIND_OF = {
    ExampleKind.CHAT: DatasetKind.CHAT,
    ExampleKind.PREFERENCE: DatasetKind.PREFERENCE,
    ExampleKind.PROMPT_COMPLETION: DatasetKind.PROMPT_COMPLETION,
    ExampleKind.PROMPT_RESPONSE: DatasetKind.PROMPT_RESPONSE,
}


class DatasetReadError(OSError):
    """A file could not be read at all; the message says why in plain words."""


def detect_kind(records: Iterable[Record]) -> DatasetKind:
    """The layout of the examples; MIXED when more than one kind appears."""
    kinds = {r.kind for r in records if r.is_example}
    if not kinds:
        return DatasetKind.EMPTY
    if len(kinds) > 1:
        return DatasetKind.MIXED
    return _DATASET_KIND_OF[kinds.pop()]


def kind_counts(records: Iterable[Record]) -> Counter[ExampleKind]:
    """How many examples of each kind there are (for messages like '3 lines are DPO')."""
    return Counter(r.kind for r in records if r.is_example)


# Containers -----------------------------------------------------------------------------------

#: Suffixes of files read as comma- or tab-separated values.
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
_CSV_COLUMN_PAIRS = (
    ("prompt", "completion"),
    ("prompt", "response"),
    ("question", "answer"),
)


def sniff_container(data: bytes, suffix: str = "") -> Container:
    """Guess whether ``data`` is JSONL, one JSON array, or CSV."""
    _, body = split_bom(data)
    stripped = body.lstrip()
    if suffix.lower() in CSV_SUFFIXES:
        return Container.CSV
    if stripped.startswith(b"[") and _is_json_array(body):
        # A one-line array in a .jsonl file is a (broken) JSONL line, kept as it is.
        spans_lines = b"\n" in stripped.rstrip()
        if suffix.lower() != ".jsonl" or spans_lines:
            return Container.JSON_ARRAY
    if stripped and not stripped.startswith(b"{") and _looks_like_csv(body):
        return Container.CSV
    return Container.JSONL


def _is_json_array(body: bytes) -> bool:
    """True when ``body`` is one JSON array; the same answer on any thread and at any depth."""
    try:
        return isinstance(orjson.loads(body), list)
    except orjson.JSONDecodeError:
        pass  # not JSON, or JSON that only the standard library reads (big numbers, say)
    deep = body.count(b"[") + body.count(b"{") > MAX_NESTING + 1
    if deep and nesting_depth(body) > MAX_NESTING + 1:
        return False  # too deep to read without risking the call stack
    try:
        return isinstance(_SYNTAX_ONLY.decode(body.decode("utf-8")), list)
    except (ValueError, RecursionError):  # not UTF-8, or not JSON
        return False


def _no_value(_text: str) -> None:
    return None


#: Checks that text is JSON without converting its numbers (a long one cannot fail it).
_SYNTAX_ONLY = json.JSONDecoder(
    parse_int=_no_value, parse_float=_no_value, parse_constant=_no_value
)


def _looks_like_csv(body: bytes) -> bool:
    header = body.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    columns = {c.strip().strip('"').lower() for c in header.split(",")}
    return any(a in columns and b in columns for a, b in _CSV_COLUMN_PAIRS)


def read_dataset_bytes(data: bytes, suffix: str = "", progress: Progress | None = None) -> Dataset:
    """Read any supported container into a dataset."""
    container = sniff_container(data, suffix)
    if container is Container.JSON_ARRAY:
        return read_json_array_bytes(data)
    if container is Container.CSV:
        return read_csv_bytes(data, delimiter="\t" if suffix.lower() == ".tsv" else ",")
    return read_jsonl_bytes(data, progress)


def read_file_bytes(path: Path) -> bytes:
    """A dataset file's bytes; unreadable files, and files that are plainly something else
    (a program, an archive, UTF-16 text), raise DatasetReadError with a plain reason."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetReadError(f"{path.name} was not found.") from exc
    except IsADirectoryError as exc:
        raise DatasetReadError(
            f"{path.name} is a folder, not a dataset. Open a .jsonl, .json or .csv file inside it."
        ) from exc
    except PermissionError as exc:
        raise DatasetReadError(f"You do not have permission to read {path.name}.") from exc
    except OSError as exc:
        raise DatasetReadError(f"{path.name} could not be read: {exc.strerror}.") from exc
    kind = binary_kind(data[:SNIFF_BYTES])
    if kind is not None:
        raise DatasetReadError(f"{path.name} is not a dataset: it is {kind}.")
    return data


def read_dataset(path: Path, progress: Progress | None = None) -> Dataset:
    """Read a dataset file; unreadable files raise DatasetReadError with a plain reason."""
    path = Path(path)
    return read_dataset_bytes(read_file_bytes(path), path.suffix, progress)


def read_json_array_bytes(data: bytes) -> Dataset:
    """Read a JSON array; each item becomes a record numbered by the line it starts on.

    An item that cannot be an example (too deep, a number too large to keep) becomes a
    broken record that says why, so one bad item never stops the file from opening.
    """
    _, body = split_bom(data)
    text = body.decode("utf-8")
    ids = itertools.count(1)
    dataset = Dataset(newline=dominant_newline(body), container=Container.JSON_ARRAY, id_source=ids)
    records: list[Record] = []
    position = text.index("[") + 1
    line, counted_to = 1, 0
    while True:
        position = _skip_separators(text, position)
        if position >= len(text) or text[position] == "]":
            break
        line += text.count("\n", counted_to, position)
        counted_to = position
        item, position = decode_array_item(text, position, line)
        if item.error is None:
            records.append(dataset.make_record(item.value, line=line))
        else:
            records.append(_broken_record(dataset, line, item.text or "", item.error))
    for record in records:
        dataset.insert(len(dataset), record)
    dataset.mark_saved()
    return dataset


@dataclass(frozen=True, slots=True)
class ArrayItem:
    """One item of a JSON array: its value, or its text on one line and why it is unreadable."""

    line: int
    value: Any = None
    text: str | None = None
    error: str | None = None


def decode_array_item(text: str, position: int, line: int) -> tuple[ArrayItem, int]:
    """The JSON array item that starts at ``position`` (on ``line``), and where it ends.

    Raises json.JSONDecodeError when the text there is not JSON at all.
    """
    try:
        value, end = json_decoder().raw_decode(text, position)
    except JsonLineError as exc:
        error = str(exc)
    except RecursionError:
        error = NESTED_TOO_DEEPLY
    else:
        return ArrayItem(line, value=value), end
    end = _item_end(text, position)
    one_line = _LINE_BREAKS.sub(" ", text[position:end].rstrip())
    return ArrayItem(line, text=one_line, error=error), end


#: Line breaks in JSON are spacing (inside texts in quotes they would be invalid).
_LINE_BREAKS = re.compile(r"[\r\n]+")
#: Texts in quotes, brackets and commas: what finding the end of an item needs.
_ITEM_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)


def _item_end(text: str, position: int) -> int:
    """Where the array item starting at ``position`` ends, found without recursion."""
    depth = 0
    for match in _ITEM_TOKENS.finditer(text, position):
        kind = match.group()[0]
        if kind in "[{":
            depth += 1
        elif kind in "]}" and depth:
            depth -= 1
            if not depth:
                return match.end()
        elif kind == '"':
            if not depth:
                return match.end()
        elif not depth:  # the comma or bracket after a number, true, false or null
            return match.start()
    return len(text)


def _broken_record(dataset: Dataset, line: int, text: str, error: str) -> Record:
    """A record for an item or row that cannot be an example, keeping its text to repair."""
    return Record(
        id=dataset.new_id(),
        line=line,
        raw=None,
        eol=dataset.newline,
        state=LineState.BROKEN,
        kind=ExampleKind.NOT_AN_EXAMPLE,
        error=error,
        edited_text=text,
    )


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
    # No cell can be longer than the whole text; the default limit (131,072) refuses long
    # texts that are fine in an example.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as exc:
        raise DatasetReadError(
            f"The first row of this spreadsheet, its column names, cannot be read ({exc})."
        ) from exc
    columns = [name.strip().lower() for name in header]
    first, second = _pick_columns(columns)
    ids = itertools.count(1)
    dataset = Dataset(container=Container.CSV, newline=dominant_newline(body), id_source=ids)
    if first is None or second is None:
        wanted = ", ".join(f"{a}/{b}" for a, b in _CSV_COLUMN_PAIRS)
        raise DatasetReadError(
            f"This spreadsheet has no recognised columns; it needs one of: {wanted}."
        )
    target = "response" if columns[second] == "response" else "completion"
    extra = [i for i in range(len(columns)) if i not in (first, second) and columns[i]]
    records: list[Record] = []
    source_lines: list[str] | None = None
    start_line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if source_lines is None:
                source_lines = io.StringIO(text, newline="").readlines()
            row_text = " ".join(
                line.rstrip("\r\n") for line in source_lines[start_line - 1 : reader.line_num]
            )
            records.append(
                _broken_record(
                    dataset,
                    start_line,
                    row_text,
                    f"This row cannot be read as a spreadsheet row ({exc}); it is kept as text.",
                )
            )
            start_line = reader.line_num + 1
            continue
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
            notes.append(f"{_marker_words(self.prompt_separator)} at the end of every prompt")
        if self.completion_leading_space:
            notes.append("the space at the start of every completion")
        if self.completion_stop:
            notes.append(f"{_marker_words(self.completion_stop)} at the end of every completion")
        return notes


def _marker_words(marker: str) -> str:
    """A separator or stop marker as a reader sees it: line breaks named, not escaped."""
    visible = marker.strip()
    breaks = marker.count("\n")
    if not visible:
        return "the line break" if breaks == 1 else "the empty line"
    if breaks:
        return f'the line "{visible}"'
    return f'the marker "{visible}"'


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

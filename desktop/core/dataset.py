"""The in-memory dataset: records in file order, each remembering the exact bytes it came from.

A record that has not been edited keeps its original bytes and nothing else, so an unedited
open-then-save writes the file back byte for byte and a 100,000-line file costs little more than
its own size in memory. Parsing happens on demand (`Record.value`); only edited or new records
hold a parsed value, and those with only their system message set hold their old bytes and
the new text instead (``SystemSet``). Records are immutable: an edit swaps in a new record
with the same id, and the old one is returned so an undo can put it back with its original
bytes intact.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import orjson

from desktop.core.frozen import quick_init
from desktop.core.kinds import ExampleKind, classify, first_system


class LineState(str, Enum):
    """Whether a line holds an example, is damaged, or is empty."""

    EXAMPLE = "example"
    BROKEN = "broken"
    BLANK = "blank"


class Container(str, Enum):
    """The container a dataset was read from; only JSONL can be saved back in place."""

    JSONL = "jsonl"
    JSON_ARRAY = "json_array"
    CSV = "csv"
    NEW = "new"


def messages_with_system_text(messages: list[Any], text: str, first: int | None) -> list[Any]:
    """``messages`` (left as they are) with the first system message's text set to ``text``,
    or a plain system message put first when there is none (``first``: where that message
    is, as ``first_system`` finds it)."""
    if first is None:
        return [{"role": "system", "content": text}, *messages]
    result = list(messages)
    result[first] = {**messages[first], "content": text}
    return result


@quick_init
@dataclass(frozen=True, slots=True)
class SystemSet:
    """A chat example kept as the line it was read from and the system text set on it.

    Setting the system message on 100,000 examples then reads none of them, and adds only
    these small objects to memory: each example is read when asked for, as an untouched line
    is. ``source`` is a plain line (see ``Record.plain``).
    """

    source: bytes
    text: str

    def value(self) -> dict[str, Any]:
        """The example (a fresh object on each call)."""
        value = orjson.loads(self.source)
        messages = value["messages"]
        value["messages"] = messages_with_system_text(messages, self.text, first_system(messages))
        return value


@quick_init
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
        edited_value: the parsed value of an edited or converted record; or, for a chat
            example whose only edit is a new system text, that text with the line it was read
            from (a ``SystemSet``, see ``with_system_text``). No JSON value is one, and a slot
            of its own would make every record larger.
        edited_text: the text a user typed into a broken record that still does not parse.
        plain: ``raw`` is an example that orjson alone reads exactly (see ``read_line``), as
            found when it was read: ``value`` then skips the checks that ``parse_json_bytes``
            makes of lines not read before. False when not known.
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
    plain: bool = field(default=False, compare=False)

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
        """The parsed example (a fresh object on each call for untouched records, and for
        those with a ``system_set``).

        Returns None for blank and broken records.
        """
        if self.state is not LineState.EXAMPLE:
            return None
        if self.raw is None:
            value = self.edited_value
            if type(value) is SystemSet:
                return value.value()
            return value
        if self.plain:
            return orjson.loads(self.raw)
        return parse_json_bytes(self.raw)[0]

    @property
    def system_set(self) -> SystemSet | None:
        """The line and system text this record is kept as, if it is (see ``SystemSet``)."""
        value = self.edited_value
        return value if type(value) is SystemSet else None

    @property
    def text(self) -> str:
        """The line as text, for showing and repairing it; undecodable bytes are replaced."""
        if self.edited_text is not None:
            return self.edited_text
        if self.raw is not None:
            return self.raw.decode("utf-8", errors="replace")
        return serialize_value(self.value).decode("utf-8")

    def to_bytes(self) -> bytes:
        """The bytes to write for this record, without line ending."""
        if self.raw is not None:
            return self.raw
        if self.edited_text is not None:
            return escape_surrogates(self.edited_text).encode("utf-8")
        if self.state is LineState.BLANK:
            return b""
        return serialize_value(self.value)


class JsonLineError(ValueError):
    """A line that is not valid JSON, with a plain-language reason."""


#: The deepest nesting of lists and objects an example may have. orjson writes no deeper, and
#: at this depth every reader, check, count and save in the app stays far from Python's
#: recursion limit, on any thread; a deeper line is kept as a broken line that says why.
MAX_NESTING = 254

#: Why a line that starts with a byte-order mark is broken (files joined, most often).
STRAY_BYTE_ORDER_MARK = (
    "This line starts with an invisible character (a byte-order mark) that belongs only at "
    "the very start of a file; it is often left over from joining files."
)
#: Why a line holding several examples split by a carriage return alone is broken.
OLD_MAC_LINE_ENDINGS = (
    "This line holds several examples separated by old Mac line endings (a carriage return "
    "without a line feed), so they read as one line."
)
#: Why a line or item nested deeper than MAX_NESTING is not read as an example.
NESTED_TOO_DEEPLY = (
    f"This line nests lists or groups more than {MAX_NESTING} levels deep; no example needs "
    "that many, and the app cannot check or save it safely."
)

#: A JSON string, closed or cut off at the end (for measuring nesting outside strings).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
#: Maps digits to "0", opening brackets to "[" and everything else to ".": one pass over a
#: line then tells how many brackets it opens and whether it holds a long run of digits.
_SHAPE = bytes(0x30 if 0x30 <= b <= 0x39 else 0x5B if b in b"[{" else 0x2E for b in range(256))
#: orjson reads integers of 19 or more digits beyond 64 bits as floats, losing digits.
_LONG_NUMBER = b"0" * 19


def nesting_depth(data: bytes) -> int:
    """How deeply lists and objects nest in JSON text, brackets inside strings not counted.

    Works on damaged text too and never recurses, so it can judge any line.
    """
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _may_nest_too_deeply(data: bytes, shape: bytes | None = None) -> bool:
    """False when the line has too few brackets to nest deeper than MAX_NESTING (cheap).

    ``shape`` is the line translated with ``_SHAPE``, when the caller has it already.
    """
    if shape is None:
        return data.count(b"[") + data.count(b"{") > MAX_NESTING
    return shape.count(b"[") > MAX_NESTING


def parse_json_bytes(data: bytes) -> tuple[Any, str | None]:
    """Parse one line; return (value, None) or (None, reason).

    Integers are exact at any size; a line nested deeper than MAX_NESTING, or holding a number
    too large to keep, is refused with a reason. The verdict is the same as
    ``read_line``'s, on any thread and at any call depth.
    """
    value, error, _plain = _parse_exactly(data, data.translate(_SHAPE))
    return value, error


def _parse_exactly(data: bytes, shape: bytes) -> tuple[Any, str | None, bool]:
    """``parse_json_bytes`` for a line and its ``_SHAPE`` translation, and whether orjson
    alone reads the line exactly (``Record.plain``)."""
    value, error, plain = _parse(data, shape)
    if error is None and _LONG_NUMBER in shape:
        # orjson may have rounded an integer beyond 64 bits to a float.
        value, error = _parse_slowly(data)
        plain = plain and error is None and _orjson_reads(data, value)
    return value, error, plain


def _orjson_reads(data: bytes, value: Any) -> bool:
    """True when orjson reads ``data`` as exactly ``value``, types included: compared as
    orjson writes them, so an integer orjson read as a float (``1e+20``) differs, and a
    value holding an integer beyond 64 bits, which orjson cannot write, is never matched."""
    try:
        return orjson.dumps(orjson.loads(data)) == orjson.dumps(value)
    except (orjson.JSONDecodeError, TypeError):
        return False


def _parse(data: bytes, shape: bytes | None = None) -> tuple[Any, str | None, bool]:
    """``parse_json_bytes`` without the exact-integer pass (enough to classify a line), and
    whether orjson read the line.

    orjson is strict and fast; the standard library is used only to explain a failure in
    words people can act on, and to accept what orjson refuses but JSON allows (integers
    beyond 64 bits, escaped halves of characters).
    """
    maybe_deep = _may_nest_too_deeply(data, shape)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        if maybe_deep and nesting_depth(data) > MAX_NESTING:
            return None, NESTED_TOO_DEEPLY, False
        return (*_parse_slowly(data), False)
    if maybe_deep and not _orjson_writes(value):
        return None, NESTED_TOO_DEEPLY, False
    return value, None, True


def json_text_error(data: bytes) -> str | None:
    """Why ``data`` is not JSON the app can read, in plain words; None when it is.

    Judged exactly as a line of a file is, e.g. for JSON written inside an example.
    """
    return _parse(data)[1]


def _orjson_writes(value: Any) -> bool:
    """True when orjson can write ``value``. It refuses whatever nests deeper than
    MAX_NESTING, and otherwise only integers beyond 64 bits and halves of characters, which
    a value orjson has just read cannot hold."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _parse_slowly(data: bytes) -> tuple[Any, str | None]:
    """The standard library's reading, with exact integers and plain reasons for failures.

    Only called for lines at most MAX_NESTING deep, so its recursion stays bounded.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, (
            f"This line is not valid UTF-8 text (unreadable byte at position {exc.start + 1}); "
            "it may have been saved in another text encoding."
        )
    if text.startswith("\ufeff"):
        return None, STRAY_BYTE_ORDER_MARK
    try:
        try:
            value = _DECODER.decode(text)
        except RecursionError:
            # The caller's stack is nearly used up (the line itself is at most MAX_NESTING
            # deep): read it again on a fresh stack, so the verdict never depends on where
            # the reading was called from.
            value = _on_fresh_stack(_DECODER.decode, text)
    except JsonLineError as exc:
        return None, str(exc)
    except json.JSONDecodeError as exc:
        return None, _explain_json_error(text, exc)
    except RecursionError:  # not even a fresh stack holds it
        return None, NESTED_TOO_DEEPLY
    return value, None


def _on_fresh_stack(function: Callable[[str], Any], text: str) -> Any:
    """``function(text)`` run in a new thread, which starts with an empty call stack."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(function(text))
        except Exception as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="read-deep-line")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _reject_constant(name: str) -> Any:
    raise JsonLineError(f"This line contains {name}, which is not allowed in JSON.")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise JsonLineError(
            f"This line holds the number {text[:20]}{'…' if len(text) > 20 else ''}, which is "
            "too large to work with; write it in quotes as text, or use a smaller number."
        )
    return number


def _exact_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts at once
        raise JsonLineError(
            f"This line holds a whole number with {len(text.lstrip('-')):,} digits, which is "
            "too long to work with; write it in quotes as text, or shorten it."
        ) from None


#: Reads like ``json.loads``, but refuses NaN and Infinity and numbers it cannot keep.
_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_exact_int
)


def json_decoder() -> json.JSONDecoder:
    """The decoder the app reads JSON with when orjson cannot: exact integers, no NaN."""
    return _DECODER


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
    ("Invalid \\uXXXX escape", "a \\u is not followed by four hexadecimal digits"),
    ("Illegal trailing comma", "a comma is extra before a closing bracket"),
)

#: How a line cut off in the middle of a word, a number or an escape can end.
_UNFINISHED_WORD = re.compile(r"(?:t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?)\Z")
_UNFINISHED_NUMBER = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]*)?)?\Z")
_UNFINISHED_ESCAPE = re.compile(r"u[0-9a-fA-F]{0,4}\Z")


def _explain_json_error(text: str, exc: json.JSONDecodeError) -> str:
    if _cut_off(text, exc):
        return (
            "This line stops before the example is complete: it looks cut off, for example by "
            "a copy or a download that did not finish."
        )
    if exc.msg.startswith("Extra data") and "\r" in text[: exc.pos]:
        return OLD_MAC_LINE_ENDINGS
    if exc.msg.startswith("Invalid control character") and text[exc.pos : exc.pos + 1] == "\0":
        return (
            "This line holds a NUL character (a zero byte), which often means the file is "
            "damaged or is not a text file; delete the NUL character or the line "
            f"(column {exc.colno})."
        )
    reason = next((plain for start, plain in _PLAIN_JSON_ERRORS if exc.msg.startswith(start)), None)
    reason = reason or exc.msg[:1].lower() + exc.msg[1:]
    return f"This line is not valid JSON: {reason} (column {exc.colno})."


def _cut_off(text: str, exc: json.JSONDecodeError) -> bool:
    """True when the text is the start of some JSON that stops too early.

    The reader fails at the end of such text, or inside an unclosed text in quotes, or where
    an unfinished word (``tr``), number (``1.``, ``2e``) or escape (a backslash, ``u00``).
    """
    if exc.msg.startswith("Unterminated string"):
        return True
    rest = text[exc.pos :].rstrip(" \t\r\n")
    if not rest:
        return True
    if exc.msg.startswith("Invalid \\uXXXX"):  # the reader points just past the backslash
        return _UNFINISHED_ESCAPE.match(rest) is not None
    if not exc.msg.startswith(("Expecting value", "Expecting ',' delimiter")):
        return False
    if _UNFINISHED_WORD.match(rest):
        return True
    # A number is read up to where it stops making sense ("1." stops at the "."), so look
    # at it whole, from its first character.
    start = exc.pos
    while start > 0 and text[start - 1] in "-0123456789.eE+":
        start -= 1
    return _UNFINISHED_NUMBER.match(text[start:].rstrip(" \t\r\n")) is not None


def read_line(raw: bytes) -> tuple[LineState, ExampleKind, str | None, Any, bool]:
    """What a raw line holds (blank, broken or an example, of which kind, and why broken),
    and its parsed value, parsing the line only once.

    The value is what ``Record.value`` gives for an example, and the value read for a line
    that is valid JSON but no example; None for blank lines and lines that are not JSON.
    The last item is ``Record.plain`` for an example (False for any other line).
    """
    if not raw.strip():
        return LineState.BLANK, ExampleKind.NOT_AN_EXAMPLE, None, None, False
    shape = raw.translate(_SHAPE)
    value, error, plain = _parse_exactly(raw, shape)
    if error is not None:
        return LineState.BROKEN, ExampleKind.NOT_AN_EXAMPLE, error, None, False
    # A line with too few brackets cannot nest too deeply: no need to write it to find out.
    deep = _may_nest_too_deeply(raw, shape)
    state, kind, error = _classify_value(value) if deep else _classify_shallow(value)
    return state, kind, error, value, plain and state is LineState.EXAMPLE


def record_of_line(record_id: int, line: int | None, raw: bytes, eol: bytes) -> Record:
    """The untouched record of a line read from a file, marked plain when it is."""
    state, kind, error, _value, plain = read_line(raw)
    return Record(record_id, line, raw, eol, state, kind, error, plain=plain)


def _classify_value(value: Any) -> tuple[LineState, ExampleKind, str | None]:
    if not _orjson_writes(value) and value_depth(value) > MAX_NESTING:
        return LineState.BROKEN, ExampleKind.NOT_AN_EXAMPLE, NESTED_TOO_DEEPLY
    return _classify_shallow(value)


def _classify_shallow(value: Any) -> tuple[LineState, ExampleKind, str | None]:
    """``_classify_value`` for a value known not to nest too deeply."""
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
    return [_ordered_message(m) if isinstance(m, dict) else m for m in messages]


def _ordered_message(message: dict[str, Any]) -> dict[str, Any]:
    # Most messages are a role and a text, in that order already: saving 100,000 edited
    # examples spent half its time copying them.
    if len(message) == 2 and "content" in message and next(iter(message)) == "role":
        return message
    return _ordered(message, _MESSAGE_ORDER)


def canonical_order(value: Any) -> Any:
    """Put known keys in a stable order (messages first, role before content); others follow.

    The result shares what was in order already with ``value``: it is for writing, not
    changing."""
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
    """Compact UTF-8 JSON with keys in a stable order, as written for edited records.

    Never raises for a value read from JSON, however deep: integers beyond 64 bits are
    written exactly and an escaped half of a character (``\\ud83d``) stays escaped.
    """
    ordered = canonical_order(value)
    try:
        return orjson.dumps(ordered)
    except TypeError:
        return dump_json(ordered).encode("utf-8")


def canonical_json_bytes(value: Any) -> bytes:
    """Compact JSON with sorted keys: equal values give equal bytes, whatever the key order.

    For fingerprints; never raises for a value read from JSON.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return dump_json(value, sort_keys=True).encode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds half of a character (an escaped lone surrogate), which UTF-8
    cannot encode."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def escape_surrogates(text: str) -> str:
    """``text`` with every surrogate code point written as a ``\\udXXX`` escape.

    Such a code point (half of a character, e.g. of a cut emoji) cannot be written as UTF-8;
    in JSON text it only occurs inside strings, where the escape means the same thing.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub(_surrogate_escape, text)


def _surrogate_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class _Close:
    """Closing text of a container ``dump_json`` is inside of, and the container's id."""

    __slots__ = ("container", "text")

    def __init__(self, container: int, text: str) -> None:
        self.container = container
        self.text = text


def dump_json(value: Any, *, sort_keys: bool = False, indent: int | None = None) -> str:
    """JSON text of ``value`` that never recurses, for what orjson refuses to write.

    Integers of any size are exact; NaN and infinities become null (as orjson writes them);
    surrogates are escaped (see ``escape_surrogates``); anything that is not JSON is written
    as its ``str``. Compact, or indented by ``indent`` spaces. A value that contains itself
    raises ValueError.
    """
    parts: list[str] = []
    inside: set[int] = set()
    stack: list[Any] = [(value, 0)]
    while stack:
        entry = stack.pop()
        if type(entry) is str:
            parts.append(entry)
            continue
        if type(entry) is _Close:
            inside.discard(entry.container)
            parts.append(entry.text)
            continue
        item, level = entry
        if isinstance(item, dict):
            pairs = [(_key_text(key), child) for key, child in item.items()]
            if sort_keys:
                pairs.sort(key=lambda pair: pair[0])
            children = [
                (f"{_encode_string(key)}:{' ' if indent else ''}", child) for key, child in pairs
            ]
            brackets = "{}"
        elif isinstance(item, (list, tuple)):
            children = [("", child) for child in item]
            brackets = "[]"
        else:
            parts.append(_scalar_text(item))
            continue
        if not children:
            parts.append(brackets)
            continue
        if id(item) in inside:
            raise ValueError("This value contains itself, so it cannot be written as JSON.")
        inside.add(id(item))
        if indent:
            start = "\n" + " " * (indent * (level + 1))
            separator, end = "," + start, "\n" + " " * (indent * level)
        else:
            start, separator, end = "", ",", ""
        parts.append(brackets[0] + start)
        stack.append(_Close(id(item), end + brackets[1]))
        for position in range(len(children) - 1, -1, -1):
            prefix, child = children[position]
            stack.append((child, level + 1))
            if prefix:
                stack.append(prefix)
            if position:
                stack.append(separator)
    return escape_surrogates("".join(parts))


def _key_text(key: object) -> str:
    """An object key as JSON has it: text (Python's json turns simple keys into text too)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return _scalar_text(key)
    return str(key)


def _scalar_text(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, int):
        return _int_text(int(value))
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else "null"
    return _encode_string(str(value))


_encode_string = json.encoder.encode_basestring

#: Decimal digits converted per step for integers longer than Python converts at once.
_INT_CHUNK_DIGITS = 1000


def _int_text(number: int) -> str:
    try:
        return int.__repr__(number)
    except ValueError:  # more digits than Python converts at once
        pass
    sign, number = ("-", -number) if number < 0 else ("", number)
    chunks: list[str] = []
    base = 10**_INT_CHUNK_DIGITS
    while number >= base:
        number, chunk = divmod(number, base)
        chunks.append(str(chunk).zfill(_INT_CHUNK_DIGITS))
    chunks.append(str(number))
    return sign + "".join(reversed(chunks))


def value_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a plain value); never recurses."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def jsonl_parts(
    records: Sequence[Record],
    bom: bytes,
    newline: bytes,
    pause: Callable[[], object] | None = None,
) -> list[bytes]:
    """The bytes of a dataset holding ``records`` (``Dataset.to_parts``), for a worker that
    writes a snapshot of them: writing an edited example takes a few microseconds, 100,000
    of them a second. ``pause`` is called between records (a worker's checkpoint)."""
    parts = [bom]
    last = len(records) - 1
    for position, record in enumerate(records):
        parts.append(record.to_bytes())
        eol = record.eol
        if not eol and position != last:
            eol = newline
        parts.append(eol)
        if pause is not None:
            pause()
    return parts


def with_text(record: Record, text: str) -> Record:
    """``record`` (same id, line and line ending) holding text the user typed: valid JSON is
    an example again, written back exactly as typed; anything else stays broken, saying why.
    Halves of characters become ``\\udXXX`` escapes, so the text can always be saved."""
    raw = escape_surrogates(text).encode("utf-8")
    state, kind, error, _value, plain = read_line(raw)
    return replace(
        record,
        raw=raw,
        state=state,
        kind=kind,
        error=error,
        edited_value=None,
        edited_text=None,
        plain=plain,
    )


def with_value(record: Record, value: Any, *, kind: ExampleKind | None = None) -> Record:
    """``record`` (same id, line and line ending) holding ``value`` instead of its bytes.

    Pure, so bulk edits can prepare their new records in a worker; a value that is not an
    example is kept as text and marked broken. ``kind`` is for a caller that knows what the
    example still is (a system message set on a chat example): it spares classifying it.
    """
    if kind is not None:
        return Record(
            record.id, record.line, None, record.eol, LineState.EXAMPLE, kind, None, value
        )
    return _with_value(record, value)


def with_system_text(record: Record, text: str) -> Record:
    """``record``, a plain chat example or one kept this way before, with its system message
    set to ``text`` (as ``messages_with_system_text`` sets it), kept as its line and the text
    (see ``SystemSet``): nothing is read."""
    source = record.raw if record.plain else None
    if source is None and record.system_set is not None:
        source = record.system_set.source
    if source is None or record.kind is not ExampleKind.CHAT:
        raise ValueError("Only a plain chat example's system text is set without reading it.")
    return Record(
        record.id,
        record.line,
        None,
        record.eol,
        LineState.EXAMPLE,
        ExampleKind.CHAT,
        None,
        SystemSet(source, text),
    )


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
    # Made directly: ``replace`` costs three times as much, and bulk edits make 100,000.
    return Record(record.id, record.line, None, record.eol, state, kind, None, value, None)


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
_record_id = operator.attrgetter("id")


class Dataset:
    """Records in order, addressed by stable id, with change notification and a dirty flag."""

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        bom: bytes = b"",
        newline: bytes = b"\n",
        container: Container = Container.NEW,
        id_source: Iterator[int] | None = None,
    ) -> None:
        self.bom = bom
        self.newline = newline
        self.container = container
        self._ids = id_source if id_source is not None else itertools.count(1)
        self._records: list[Record] = list(records)
        #: Where each record sits, by id; None until asked for after a change that moved
        #: records. A dataset being read is appended to, which keeps it.
        self._positions: dict[int, int] | None = None if self._records else {}
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
        return self._position_map()[record_id]

    def current(self, record_ids: Iterable[int]) -> list[Record | None]:
        """The current record of each id (None for one that is gone), at C speed: a worker's
        results for thousands of records are matched on the UI thread."""
        records = self._records
        return [
            None if at is None else records[at] for at in map(self._position_map().get, record_ids)
        ]

    def _position_map(self) -> dict[int, int]:
        if self._positions is None:  # built in C: it is rebuilt after every insert or removal
            self._positions = dict(zip(map(_record_id, self._records), itertools.count()))
        return self._positions

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

    def release(self) -> list[Record]:
        """Empty the dataset and hand over its records, so a caller closing it can free them
        elsewhere (freeing 100,000 records takes a noticeable moment)."""
        records, self._records = self._records, []
        self._positions = None
        return records

    # Listening -----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change (views and the running analysis use this)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _changed(self, change: Change, *, moved: bool = True) -> None:
        """Tell the listeners; ``moved``: records may sit elsewhere now (not for a swap)."""
        if moved and change.kind not in ("replace", "replace_many"):
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
        appended = position == len(self._records)
        self._records.insert(position, record)
        if appended and self._positions is not None:
            # The others keep their places: reading a file appends 100,000 records, and
            # building the index again afterwards would pause the window.
            self._positions[record.id] = position
        self._changed(Change("insert", record.id, position), moved=not appended)

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
        records = self._records
        # Sorted out in C: the UI thread removes 10,000 of 100,000 records at once.
        going = list(map(wanted.__contains__, map(_record_id, records)))
        removed: list[tuple[int, Record]] = list(itertools.compress(enumerate(records), going))
        if removed:
            self._records = list(itertools.compress(records, map(operator.not_, going)))
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
        # Looked up in C: this runs on the UI thread for 100,000 records at once.
        ids = tuple(map(_record_id, records))
        current = self._records
        if len(records) == len(current) and ids == tuple(map(_record_id, current)):
            # Every record, in order (a bulk edit of all examples, or its undo): the new list
            # is taken whole, without building the index of positions.
            self._records = records
            old = current
        else:
            self.position(records[0].id)  # builds the index of positions, if need be
            assert self._positions is not None
            positions = list(map(self._positions.__getitem__, ids))
            old = list(map(current.__getitem__, positions))
            for position, record in zip(positions, records, strict=True):
                current[position] = record
        self._changed(Change("replace_many", -1, -1, record_ids=ids))
        return old

    def set_value(self, record_id: int, value: Any) -> Record:
        """Replace a record's example with ``value``; return the old record for undo."""
        return self.put(_with_value(self.record(record_id), value))

    def set_text(self, record_id: int, text: str) -> Record:
        """Replace a record with text the user typed (how broken lines are repaired).

        Valid JSON becomes an example again, written back exactly as typed; anything else
        stays a broken record showing why.
        """
        return self.put(with_text(self.record(record_id), text))

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
        return jsonl_parts(self._records, self.bom, self.newline)

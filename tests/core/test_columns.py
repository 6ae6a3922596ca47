"""The byte form of a checked range's columns: what is kept is what comes back, or nothing."""

from __future__ import annotations

import struct
from array import array
from collections import Counter

import orjson
import pytest

from desktop.core import columns as columns_module
from desktop.core.columns import Columns
from desktop.core.findings import Finding, Severity
from desktop.core.interchange import ForeignFormat
from desktop.core.kinds import ExampleKind
from desktop.core.tokens import ExampleTokens


def some_columns() -> Columns:
    columns = Columns(lines=5, blank=1, broken=1, not_foreign=3)
    texts: dict[str, int] = {}
    for line, system in ((1, "Be kind."), (2, None), (4, "Be brief, 日本語 🚀.")):
        tokens = ExampleTokens(total=100 + line, assistant=40 + line, estimated=line == 4)
        columns.add_example(
            line, line, ExampleKind.CHAT, tokens, f"{line:032x}", system, system is not None, texts
        )
    columns.findings = [
        Finding("broken_json", Severity.ERROR, "Line 3 is cut off.", 3, None, "Finish it.", 3),
        Finding("empty_message", Severity.WARNING, "Message 2 is empty.", 4, 1, None, 4),
    ]
    columns.foreign = Counter({ForeignFormat.SHAREGPT: 1})
    return columns


def test_columns_come_back_from_their_bytes_as_they_were():
    columns = some_columns()
    again = Columns.from_bytes(columns.to_bytes(), 5)
    assert again == columns
    assert again.systems == array("i", [0, -1, 1])
    assert again.system_texts == ["Be kind.", "Be brief, 日本語 🚀."]
    assert again.foreign_format is None  # three OpenAI examples against one ShareGPT line
    assert Columns.from_bytes(Columns().to_bytes(), 0) == Columns()


def test_what_the_lines_taught_the_cache_is_not_part_of_the_bytes():
    columns = some_columns()
    columns.learnt = ([(1, 2, 3, b"row")], {7: "text"})
    columns.fallback = "the fast counter disagreed"
    again = Columns.from_bytes(columns.to_bytes(), 5)
    assert again.learnt == ([], {})
    assert again.fallback is None


def test_bytes_damaged_anywhere_are_refused_not_misread():
    data = some_columns().to_bytes()
    for damaged in (data[:-1], data + b"\0", b"", data[:10]):
        with pytest.raises(ValueError):
            Columns.from_bytes(damaged, 5)
    for position in range(len(data)):  # one bit flipped, byte after byte
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(ValueError):
            Columns.from_bytes(bytes(damaged), 5)


def reshaped(change) -> bytes:
    """The bytes of ``some_columns`` with their head changed, and a checksum that fits."""
    payload = some_columns().to_bytes()[16:]
    (size,) = struct.unpack_from("<I", payload)
    head = orjson.loads(payload[4 : 4 + size])
    change(head)
    new_head = orjson.dumps(head)
    new_payload = struct.pack("<I", len(new_head)) + new_head + payload[4 + size :]
    return columns_module._digest(new_payload) + new_payload


def set_item(path: tuple[int, ...], value: object):
    def change(head: list) -> None:
        target = head
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        set_item((0,), 99),  # another form
        set_item((2, 1), "0"),  # a count that is text
        set_item((2, 0), -1),  # a negative count of lines
        set_item((2, 0), 6),  # columns of another number of lines than the range
        set_item((2, 2), -1),  # a negative count
        set_item((3,), ["sharegpt"]),  # layouts that are no map
        set_item((3,), {"nonsense": 1}),  # a layout that does not exist
        set_item((4, 0), 7),  # a system text that is a number
        set_item((5, 0, 1), -1),  # a severity that does not exist
        set_item((5, 0, 3), 99),  # a finding past the last line
        set_item((1, 1, 2), 2),  # one column shorter than the others
        set_item((2, 1), 4),  # more blank lines than room for them
    ],
)
def test_columns_that_do_not_fit_together_are_refused(change):
    assert Columns.from_bytes(reshaped(lambda head: None), 5) == some_columns()
    with pytest.raises(ValueError):
        Columns.from_bytes(reshaped(change), 5)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kinds", len(ExampleKind)),
        ("systems", 2),
        ("systems", 7),
        ("systems", -2),
        ("example_lines", 6),
        ("example_lines", 0),
    ],
)
def test_columns_pointing_past_their_own_lists_are_refused(column, value):
    columns = some_columns()
    getattr(columns, column)[0] = value
    columns.example_ids = array("q", columns.example_lines)  # a range's ids are its lines
    with pytest.raises(ValueError):
        Columns.from_bytes(columns.to_bytes(), 5)


def test_the_bytes_are_those_of_a_range_of_so_many_lines():
    data = some_columns().to_bytes()
    for lines in (4, 6):
        with pytest.raises(ValueError, match="another number of lines"):
            Columns.from_bytes(data, lines)
    other = some_columns()
    other.example_ids[0] = 7  # not a range's columns: its ids would be lost
    with pytest.raises(ValueError, match="not the columns of a range"):
        other.to_bytes()

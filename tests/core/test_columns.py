"""The byte form of a checked range's columns: what is kept is what comes back, or nothing."""

from __future__ import annotations

from array import array
from collections import Counter

import pytest

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
    again = Columns.from_bytes(columns.to_bytes())
    assert again == columns
    assert again.systems == array("i", [0, -1, 1])
    assert again.system_texts == ["Be kind.", "Be brief, 日本語 🚀."]
    assert again.foreign_format is None  # three OpenAI examples against one ShareGPT line
    assert Columns.from_bytes(Columns().to_bytes()) == Columns()


def test_what_the_lines_taught_the_cache_is_not_part_of_the_bytes():
    columns = some_columns()
    columns.learnt = ([(1, 2, 3, b"row")], {7: "text"})
    columns.fallback = "the fast counter disagreed"
    again = Columns.from_bytes(columns.to_bytes())
    assert again.learnt == ([], {})
    assert again.fallback is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) - 1],  # cut short
        lambda data: data + b"\0",  # bytes left over
        lambda data: data[:4] + b"x" + data[5:],  # a head that is not JSON
        lambda data: b"",
        lambda data: data.replace(b"[1,[[", b"[2,[[", 1),  # another form
    ],
)
def test_damaged_bytes_are_refused_not_misread(damage):
    data = some_columns().to_bytes()
    damaged = damage(data)
    assert damaged != data
    with pytest.raises(ValueError):
        Columns.from_bytes(damaged)


@pytest.mark.parametrize(
    ("column", "value"),
    [("kinds", len(ExampleKind)), ("systems", 2), ("systems", 7), ("systems", -2)],
)
def test_columns_pointing_past_their_own_lists_are_refused(column, value):
    columns = some_columns()
    getattr(columns, column)[0] = value
    with pytest.raises(ValueError):
        Columns.from_bytes(columns.to_bytes())

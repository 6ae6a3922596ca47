"""Records read with orjson alone (``Record.plain``) read exactly what a full check reads."""

from __future__ import annotations

import itertools

import orjson
import pytest

from desktop.core.analysis import read_records
from desktop.core.analysis_cache import AnalysisCache, line_key
from desktop.core.catalog import Catalog
from desktop.core.dataset import (
    LineState,
    Record,
    parse_json_bytes,
    read_line,
    with_text,
)
from desktop.core.filecheck import check_path
from desktop.core.tokens import get_counter

CHAT = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}]}'
#: An integer beyond 64 bits, which orjson reads as a rounded float.
BIG_NUMBER = (
    b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}],'
    b'"order":123456789012345678901234567}'
)
#: A long run of digits inside a text: orjson reads it exactly.
DIGITS_IN_TEXT = (
    b'{"messages":[{"role":"user","content":"call 1234567890123456789012345"},'
    b'{"role":"assistant","content":"ok"}]}'
)
#: Half of a character, which orjson refuses and the standard library reads.
HALF_CHARACTER = (
    b'{"messages":[{"role":"user","content":"hi \\ud800"},{"role":"assistant","content":"ok"}]}'
)


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (CHAT, True),
        (DIGITS_IN_TEXT, True),
        (BIG_NUMBER, False),
        # Beyond 64 bits, though a float holds them exactly: orjson reads floats.
        (b'{"messages":[{"role":"user","content":"hi"}],"n":18446744073709551616}', False),
        (b'{"messages":[{"role":"user","content":"hi"}],"n":-18446744073709551616}', False),
        (b'{"messages":[{"role":"user","content":"hi"}],"n":[100000000000000000000]}', False),
        # The largest and smallest integers orjson keeps.
        (b'{"messages":[{"role":"user","content":"hi"}],"n":18446744073709551615}', True),
        (b'{"messages":[{"role":"user","content":"hi"}],"n":-9223372036854775808}', True),
        (b'{"messages":[{"role":"user","content":"hi"}],"n":-9223372036854775809}', False),
        (HALF_CHARACTER, False),
        (b"", False),
        (b"{not json", False),
        (b'{"no": "messages"}', False),
    ],
)
def test_a_line_is_plain_only_when_orjson_reads_it_exactly(raw, plain):
    state, _kind, _error, value, found = read_line(raw)
    assert found is plain
    if state is LineState.EXAMPLE:
        exact = parse_json_bytes(raw)[0]
        assert value == exact
        assert type(value.get("n")) is type(exact.get("n"))
        if plain:  # what a record marked plain reads: the same, types included
            assert orjson.loads(raw) == exact
            assert type(orjson.loads(raw).get("n")) is type(exact.get("n"))


def test_an_integer_beyond_64_bits_stays_exact_in_a_record_read_from_its_line():
    state, kind, error, _value, plain = read_line(BIG_NUMBER)
    record = Record(1, 1, BIG_NUMBER, b"\n", state, kind, error, plain=plain)
    assert record.value["order"] == 123456789012345678901234567
    assert type(record.value["order"]) is int


def test_a_plain_record_reads_what_a_full_check_reads():
    for raw in (CHAT, DIGITS_IN_TEXT):
        state, kind, error, _value, plain = read_line(raw)
        record = Record(1, 1, raw, b"\n", state, kind, error, plain=plain)
        assert record.plain
        assert record.value == parse_json_bytes(raw)[0]


def test_a_line_orjson_misreads_is_not_cached_so_it_stays_exact_when_read_again(tmp_path):
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    counter = get_counter("o200k_base")
    lines = [(1, CHAT, b"\n"), (2, BIG_NUMBER, b"\n"), (3, HALF_CHARACTER, b"\n")]
    for _ in range(2):  # filling the cache, then reading it
        records, _results = read_records(lines, itertools.count(1), counter, cache=cache)
    chat, big, half = records
    assert chat.plain  # found in the cache
    assert not big.plain and not half.plain
    assert type(big.value["order"]) is int
    assert big.value["order"] == 123456789012345678901234567
    found = cache.lookup([line_key(raw) for _n, raw, _eol in lines], "o200k_base")
    assert [line is not None for line in found] == [True, False, False]


def test_a_file_check_caches_no_line_orjson_misreads(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join([CHAT, BIG_NUMBER, DIGITS_IN_TEXT]) + b"\n")
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    check_path(path, Catalog.load(), "gpt-4.1-mini-2025-04-14", cache=cache)
    found = cache.lookup(
        [line_key(CHAT), line_key(BIG_NUMBER), line_key(DIGITS_IN_TEXT)], "o200k_base"
    )
    assert [line is not None for line in found] == [True, False, True]


def test_text_typed_into_a_plain_record_is_read_exactly():
    state, kind, error, _value, plain = read_line(CHAT)
    record = Record(1, 1, CHAT, b"\n", state, kind, error, plain=plain)
    typed = with_text(record, BIG_NUMBER.decode())
    assert not typed.plain
    assert with_text(typed, DIGITS_IN_TEXT.decode()).plain  # known again for plain text
    assert type(typed.value["order"]) is int
    assert typed.value["order"] == 123456789012345678901234567

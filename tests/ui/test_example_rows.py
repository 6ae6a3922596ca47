"""Searching, filtering and sorting rows (pure functions that run in a worker)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core import search
from desktop.core.findings import Severity
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.search import SearchIndex
from desktop.ui.dataset import example_rows
from desktop.ui.dataset.example_rows import (
    SNIPPET_CHARS,
    RowFacts,
    SortKey,
    ViewQuery,
    compute_view,
    summarize,
)

SEVERITIES = [None, Severity.INFO, Severity.WARNING, Severity.ERROR]
RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, None: 3}


def build(rows: list[tuple[str, int]]):
    if not rows:
        return []
    lines = [
        json.dumps({"messages": [{"role": "user", "content": text}] * (1 + count % 3)})
        for text, count in rows
    ]
    return list(read_jsonl_bytes("\n".join(lines).encode() + b"\n"))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["b", "A", "a", "c", "ä"]), st.integers(0, 5)), max_size=40
    ),
    sort=st.sampled_from(list(SortKey)),
    descending=st.booleans(),
    run=st.integers(1, 7),
)
def test_sorting_in_merged_runs_orders_rows_like_one_stable_sort(rows, sort, descending, run):
    records = build(rows)
    facts = {
        r.id: RowFacts(count * 10, SEVERITIES[count % 4], frozenset())
        for r, (_text, count) in zip(records, rows, strict=True)
    }
    keys = {
        SortKey.POSITION: lambda r: 0,
        SortKey.TOKENS: lambda r: facts[r.id].tokens,
        SortKey.STATUS: lambda r: RANK[facts[r.id].severity],
        SortKey.MESSAGES: lambda r: summarize(r).message_count,
        SortKey.FIRST_USER: lambda r: summarize(r).first_user.casefold(),
        SortKey.LAST_REPLY: lambda r: summarize(r).last_reply.casefold(),
    }
    expected = [r.id for r in sorted(records, key=keys[sort])]  # stable: file order on ties
    if descending:
        expected.reverse()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(example_rows, "SORT_RUN", run)
        got = compute_view(records, facts, ViewQuery(sort=sort, descending=descending))
    assert got == expected


def test_a_cancelled_sort_returns_nothing():
    records = build([(f"q{i}", i) for i in range(50)])
    facts = {r.id: RowFacts(i, None, frozenset()) for i, r in enumerate(records)}
    checks: list[int] = []

    def go_on() -> bool:
        checks.append(1)
        return len(checks) < 5  # past the filtering (50 rows, one check), stopped while ordering

    # Text keys are ordered in runs with checks between them; numbers in one quick sort.
    assert compute_view(records, facts, ViewQuery(sort=SortKey.FIRST_USER), go_on) == []


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab \n\t\u00a0"), max_size=2000))
def test_a_cell_shows_the_start_of_the_text_with_its_spaces_collapsed(text):
    flat = " ".join(text.split())
    expected = flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"
    assert example_rows._one_line(text) == expected


def test_a_cell_reads_only_the_start_of_a_long_message():
    """The row of a 10 MB message is drawn after every keystroke in it."""

    split_lengths: list[int] = []

    class Watched(str):
        def split(self, *args, **kwargs):
            split_lengths.append(len(self))
            return super().split(*args, **kwargs)

    text = Watched("word " * 2_000_000)
    assert example_rows._one_line(text) == ("word " * 40)[: SNIPPET_CHARS - 1] + "…"
    assert split_lengths == []  # the whole text was never split; only a slice of it


def test_the_characters_whose_lower_case_holds_an_ascii_letter_are_all_known():
    import sys

    found: dict[str, str] = {}
    for code in range(128, sys.maxunicode + 1):
        for char in chr(code).lower():
            if char.isascii():
                assert char not in found
                found[char] = chr(code)
    assert found == search.LOWER_CASE_TO_ASCII


_TEXT = st.text(
    alphabet=st.sampled_from(list('aBkKIiİ\u212a日本éÉ "\\/\nßS-1\t')),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.tuples(_TEXT, st.booleans()), min_size=1, max_size=8),
    needle=_TEXT,
    pick=st.integers(0, 7),
    start=st.integers(0, 12),
    size=st.integers(1, 6),
)
def test_searching_with_the_byte_prefilter_finds_exactly_what_a_full_search_finds(
    texts, needle, pick, start, size
):
    lines = [
        json.dumps({"messages": [{"role": "user", "content": text}]}, ensure_ascii=ascii_only)
        for text, ascii_only in texts
    ]
    lines.append('{"messages": [{"role": "user", "content": "cut off')
    records = list(read_jsonl_bytes("\n".join(lines).encode() + b"\n"))
    own = texts[pick % len(texts)][0][start : start + size]  # often a real piece of a text
    for query in (needle, own, own.upper(), own.lower()):
        wanted = query.strip().lower()
        if not wanted:
            continue
        expected = [r.id for r in records if search.record_matches(r, wanted)]
        assert compute_view(records, {}, ViewQuery(text=query)) == expected
        index = SearchIndex()
        assert index.refresh(records)
        assert compute_view(records, {}, ViewQuery(text=query), index=index) == expected


def test_a_search_reads_only_the_lines_whose_bytes_may_match(monkeypatch):
    records = build([(f"question {i}", i) for i in range(300)] + [("FH-99999 arrived", 1)])
    read = []
    real = search.record_matches

    def spy(record, needle):
        read.append(record.id)
        return real(record, needle)

    monkeypatch.setattr(search, "record_matches", spy)
    assert compute_view(records, {}, ViewQuery(text="fh-99999")) == [records[-1].id]
    assert read == [records[-1].id]

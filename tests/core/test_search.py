"""The search index answers exactly as the search rule does, however the records changed."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core import search
from desktop.core.dataset import with_text, with_value
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.search import SearchIndex, record_matches


def read(lines: list[str]):
    return read_jsonl_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


def chat(*texts: str, ascii_only: bool = False) -> str:
    messages = [{"role": "user", "content": text} for text in texts]
    return json.dumps({"messages": messages}, ensure_ascii=ascii_only)


def expected(records, needle: str) -> list[int]:
    return [p for p, record in enumerate(records) if record_matches(record, needle)]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of three records, so that a few records already make several blocks."""
    monkeypatch.setattr(search, "BLOCK_RECORDS", 3)


@pytest.fixture
def direct_reads(monkeypatch):
    """The records a search reads directly (not from the index)."""
    read_ids: list[int] = []
    real = search.record_matches

    def spy(record, needle):
        read_ids.append(record.id)
        return real(record, needle)

    monkeypatch.setattr(search, "record_matches", spy)
    return read_ids


_TEXT = st.text(
    alphabet=st.sampled_from([*'aBkKIiİ\u212aΣσς日本éÉ "\\/\nßS-1\t\0😀', "\ud800"]),
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.tuples(st.lists(_TEXT, min_size=1, max_size=3), st.booleans()), max_size=8),
    needle=_TEXT,
    pick=st.integers(0, 7),
    start=st.integers(0, 10),
    size=st.integers(1, 5),
    block=st.integers(1, 4),
    dense=st.integers(1, 3),
)
def test_the_index_finds_exactly_what_the_rule_finds(
    texts, needle, pick, start, size, block, dense
):
    lines = [chat(*parts, ascii_only=ascii_only) for parts, ascii_only in texts]
    lines += ['{"messages": [{"role": "user", "content": "cut off', "", "[1, 2]"]
    records = list(read(lines))
    own = "\0".join(texts[pick % len(texts)][0])[start : start + size] if texts else ""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "BLOCK_RECORDS", block)
        patch.setattr(search, "DENSE_AFTER", dense)  # the rest of a block is asked one by one
        index = SearchIndex()
        assert index.refresh(records)
        assert index.size == len(records)
        for query in (needle, own, own.upper()):
            wanted = query.strip().lower()
            if wanted:
                assert index.positions(records, wanted) == expected(records, wanted)


def test_a_match_never_spans_two_texts_or_two_records(small_blocks):
    records = list(read([chat("tea", "pot"), chat("ketchup"), chat("potato")]))
    index = SearchIndex()
    index.refresh(records)
    assert index.positions(records, "teapot") == []
    assert index.positions(records, "uppot") == []
    assert index.positions(records, "pot") == [0, 2]
    assert index.positions(records, "tea\0pot") == []  # the separator itself is no text


def test_a_word_in_most_records_is_found_in_each_of_them_after_a_move():
    # Past DENSE_AFTER matches a block asks each later record's text in turn; the places of
    # the records come from the order the index was last brought up to date with.
    texts = [f"order {i}" if i % 7 else f"parcel {i}" for i in range(2 * search.BLOCK_RECORDS)]
    dataset = read([chat(text) for text in texts])
    index = SearchIndex()
    index.refresh(list(dataset))
    records = list(dataset)
    assert index.positions(records, "order") == expected(records, "order")
    assert len(expected(records, "order")) > search.DENSE_AFTER * 2
    dataset.move(records[0].id, len(records) - 1)
    records = list(dataset)
    index.refresh(records)
    assert index.positions(records, "order") == expected(records, "order")
    assert index.positions(records, "parcel 0") == [len(records) - 1]


def test_a_search_of_an_indexed_dataset_reads_no_record_directly(small_blocks, direct_reads):
    records = list(read([chat(f"question {i}") for i in range(20)] + [chat("FH-99999 arrived")]))
    index = SearchIndex()
    assert index.positions(records, "fh-99999") == [20]  # nothing indexed yet: read directly
    assert direct_reads == [records[20].id]
    index.refresh(records)
    direct_reads.clear()
    assert index.positions(records, "fh-99999") == [20]
    assert index.positions(records, "question 1") == [1, *range(10, 20)]
    assert direct_reads == []


def test_edits_inserts_removals_and_undo_never_give_stale_answers(small_blocks, direct_reads):
    dataset = read([chat(f"order {i}") for i in range(10)])
    index = SearchIndex()
    index.refresh(list(dataset))

    def check(needle: str, positions: list[int]) -> None:
        records = list(dataset)
        assert expected(records, needle) == positions
        assert index.positions(records, needle) == positions
        assert index.refresh(records)
        direct_reads.clear()
        assert index.positions(records, needle) == positions  # the refreshed index alone
        assert direct_reads == []
        assert index.size == len(records)

    # An edit: the old text no longer matches, the new one does.
    old = dataset.set_value(dataset[3].id, {"messages": [{"role": "user", "content": "Refund"}]})
    check("order 3", [])
    check("refund", [3])
    # A damaged line typed in, then repaired.
    broken = dataset.put(with_text(dataset[5], '{"messages": "Refund'))
    check("refund", [3, 5])
    dataset.put(broken)
    check("refund", [3])
    # Undo of the edit brings the old record object back.
    dataset.put(old)
    check("order 3", [3])
    check("refund", [])
    # Inserted and removed records, one and many at once, and their undo.
    added = dataset.append_value({"messages": [{"role": "user", "content": "A new order"}]})
    check("new order", [10])
    removed = dataset.remove_many([dataset[0].id, dataset[1].id, added.id])
    check("order 0", [])
    check("new order", [])
    dataset.insert_many(removed)
    check("order 0", [0])
    check("new order", [10])
    position, record = dataset.remove(dataset[4].id)
    check("order 4", [])
    dataset.insert(position, record)
    check("order 4", [4])
    # A bulk replacement and its undo.
    olds = dataset.put_many(
        [
            with_value(record, {"messages": [{"role": "user", "content": f"Hello {number}"}]})
            for number, record in enumerate(dataset)
        ]
    )
    check("order", [])
    check("hello 1", [1, 10])
    dataset.put_many(olds)
    check("order", list(range(11)))
    check("hello", [])
    # A move keeps every record as it was.
    dataset.move(dataset[0].id, 9)
    check("order 0", [9])


def stopping_after(steps: int):
    """A ``go_on`` that says to go on ``steps`` times, then to stop."""
    calls = itertools.count(1)
    return lambda: next(calls) <= steps


def test_a_refresh_stopped_halfway_leaves_the_index_as_it_was(small_blocks):
    records = list(read([chat(f"order {i}") for i in range(10)]))
    index = SearchIndex()
    assert not index.refresh(records, lambda: False)
    assert index.size == 0
    assert index.positions(records, "order 7") == [7]
    # Stopped at each later step, the last ones working out where the records are.
    for steps in range(1, 30):
        index = SearchIndex()
        done = index.refresh(records, stopping_after(steps))
        assert index.size == (len(records) if done else 0)
        assert index.positions(records, "order 7") == [7]
        if done:
            break
    assert done and steps > 1


def test_a_stopped_search_says_so():
    records = list(read([chat("order")]))
    index = SearchIndex()
    index.refresh(records)
    assert index.positions(records, "order", lambda: False) is None


def test_releasing_hands_over_every_record_held(small_blocks):
    records = list(read([chat(f"order {i}") for i in range(7)]))
    index = SearchIndex()
    index.refresh(records)
    held = index.release()
    assert {id(r) for r in records} <= {id(item) for item in held}
    assert index.size == 0
    assert index.positions(records, "order 2") == [2]

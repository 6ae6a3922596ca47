"""The one reader of dataset files that the app and ``check`` share."""

from __future__ import annotations

import json

import pytest

from desktop.core.analysis_cache import AnalysisCache, line_key
from desktop.core.catalog import Catalog
from desktop.core.dataset import Container
from desktop.core.filecheck import check_path
from desktop.core.reading import (
    LineEndings,
    ReadEnd,
    ReadProgress,
    ReadRows,
    ReadStart,
    ReadWhole,
    read_in_chunks,
    reads_line_by_line,
)
from desktop.core.tokens import get_counter

EXAMPLE = {
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
}


def line(text: str) -> bytes:
    return json.dumps(
        {**EXAMPLE, "messages": [*EXAMPLE["messages"][:1], {"role": "assistant", "content": text}]}
    ).encode()


def go_on() -> bool:
    return True


@pytest.mark.parametrize(
    ("head", "suffix", "expected"),
    [
        (b'{"messages": []}\n', ".jsonl", True),
        (b'\xef\xbb\xbf  \n{"messages": []}\n', ".jsonl", True),
        (b'[{"messages": []}]', ".json", False),
        (b'[{"messages": []}]', ".jsonl", False),  # a one-line array needs the whole file
        (b'{"prompt": "a"}', ".csv", False),
        (b"prompt,completion\na,b\n", ".txt", False),
        (b"", ".jsonl", False),
    ],
)
def test_a_file_is_read_line_by_line_only_when_it_starts_with_an_object(head, suffix, expected):
    assert reads_line_by_line(head, suffix) is expected


def test_json_lines_come_in_chunks_with_progress_and_the_files_line_ending(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = [line(f"reply {n}") for n in range(450)]
    lines[7] = b"not json at all"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    events = list(read_in_chunks(path, get_counter("o200k_base"), go_on, cache=None))
    start, *middle, end = events
    assert isinstance(start, ReadStart) and start.bom == b"\xef\xbb\xbf"
    assert isinstance(end, ReadEnd) and end.newline == b"\r\n"
    rows = [e for e in middle if isinstance(e, ReadRows)]
    assert [len(e.records) for e in rows] == [200, 250]  # a small first chunk shows rows at once
    records = [r for e in rows for r in e.records]
    results = [r for e in rows for r in e.results]
    assert [r.raw for r in records] == lines  # every line, the broken one too, byte for byte
    assert [r.record_id for r in results] == [r.id for r in records]
    assert results[7].findings and results[8].tokens is not None
    progress = [e for e in middle if isinstance(e, ReadProgress)]
    assert progress[-1].done == progress[-1].total == start.total


def test_a_json_array_is_read_whole_then_counted(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([EXAMPLE, EXAMPLE]))
    events = list(read_in_chunks(path, get_counter("o200k_base"), go_on, cache=None))
    assert isinstance(events[0], ReadWhole)
    assert events[0].dataset.container is Container.JSON_ARRAY
    (rows,) = events[1:]
    assert isinstance(rows, ReadRows) and rows.records == [] and len(rows.results) == 2


def test_a_reader_that_stops_early_still_teaches_the_cache(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join(line(f"reply {n}") for n in range(600)) + b"\n")
    cache = AnalysisCache(tmp_path / "cache.sqlite", signature="test")
    events = read_in_chunks(path, get_counter("o200k_base"), go_on, cache=cache)
    first_rows = next(e for e in events if isinstance(e, ReadRows))
    events.close()  # the reader stops after the first chunk
    keys = [line_key(record.raw) for record in first_rows.records]
    known = cache.lookup(keys, "o200k_base")
    assert all(found is not None for found in known)
    assert [found.counts["o200k_base"][0] for found in known] == [
        r.tokens.total for r in first_rows.results
    ]


def test_check_and_the_app_read_a_file_the_same_way(tmp_path):
    catalog = Catalog.load()
    for name, data in [
        ("lines.jsonl", b"\n".join(line(f"reply {n}") for n in range(30)) + b"\n"),
        ("array.json", json.dumps([EXAMPLE] * 30).encode()),
        ("table.csv", b"prompt,completion\n" + b"a,b\n" * 30),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        events = list(read_in_chunks(path, get_counter("o200k_base"), go_on, cache=None))
        results = [r for e in events if isinstance(e, ReadRows) for r in e.results]
        checked = check_path(path, catalog, "gpt-4o-mini-2024-07-18", cache=False)
        whole = next((e.dataset for e in events if isinstance(e, ReadWhole)), None)
        assert checked.container is (whole.container if whole else Container.JSONL)
        app_tokens = sum(r.tokens.total for r in results if r.tokens is not None)
        assert checked.analysis.estimate().total_tokens == app_tokens


def test_line_endings_follow_most_lines():
    endings = LineEndings()
    for eol in (b"\r\n", b"\n", b"\r\n", b""):
        endings.add(eol)
    assert endings.newline == b"\r\n"
    endings.add(b"\n")
    endings.add(b"\n")
    assert endings.newline == b"\n"

"""Checking a whole file streamed, cached and in several processes gives what the app reports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop.core import filecheck
from desktop.core.analysis import DatasetAnalysis, analyze_records
from desktop.core.analysis_cache import AnalysisCache, range_key
from desktop.core.catalog import Catalog
from desktop.core.filecheck import check_path
from desktop.core.formats import detect_kind, read_dataset
from desktop.core.tokens import counter_for_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4.1-mini-2025-04-14"
CATALOG = Catalog.load()


def chat(i: int, system: str | None = "Be kind.") -> dict:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [
        {"role": "user", "content": f"Question {i}? " * (i % 5 + 1)},
        {"role": "assistant", "content": f"Answer {i}, with 日本語 and 🚀. " * (i % 3 + 1)},
    ]
    return {"messages": messages}


def messy_bytes() -> bytes:
    """Every kind of line the reader keeps, in a file with a byte-order mark."""
    lines = [json.dumps(chat(i), ensure_ascii=i % 2 == 0).encode() for i in range(40)]
    lines[3] = json.dumps(chat(3, system="Another system message.")).encode()
    lines[5] = lines[1]  # a duplicate
    lines[7] = b""  # empty
    lines[8] = b"   "  # blank
    lines[9] = b'{"messages": [{"role": "user", "content": "cut off'
    lines[10] = b'{"messages":[{"role":"user","content":"caf\xe9"}]}'  # not UTF-8
    lines[11] = json.dumps({"prompt": "Old style ->", "completion": " answer"}).encode()
    lines[12] = b'{"messages": [], "n": 123456789012345678901234567890}'
    lines[13] = b"[1, 2, 3]"
    lines[14] = json.dumps({"input": {"messages": [{"role": "user", "content": "Hi"}]},
                            "preferred_output": [{"role": "assistant", "content": "Hello!"}],
                            "non_preferred_output": [{"role": "assistant", "content": "Go."}]}
                           ).encode()  # fmt: skip
    lines[15] = json.dumps(chat(15)).encode() + b"\r"  # CRLF
    lines[16] = json.dumps({"messages": [{"role": "user", "content": "x " * 5000}]}).encode()
    lines[17] = json.dumps(chat(17, system="")).encode()
    lines[18] = json.dumps({"conversations": [{"from": "human", "value": "hi"}]}).encode()
    body = b"\n".join(lines[:-1]) + b"\n" + lines[-1]  # no line ending at the end
    return b"\xef\xbb\xbf" + body


def reference(path: Path, model: str = MODEL, validation: Path | None = None) -> dict:
    """What the app reports for the file: read whole, analysed record by record."""
    dataset = read_dataset(path)
    analysis = DatasetAnalysis(CATALOG, model)
    analysis.merge(analyze_records(list(dataset), counter_for_model(model)))
    if validation is not None:
        other = reference(validation, model)["analysis"]
        analysis.set_validation_facts(other.example_facts())
    return {
        "analysis": analysis,
        "container": dataset.container,
        "layout": detect_kind(dataset),
        "broken": sum(1 for r in dataset if r.state.value == "broken"),
    }


def assert_same(checked, expected) -> None:
    analysis = expected["analysis"]
    assert checked.analysis.estimate() == analysis.estimate()
    assert checked.analysis.findings() == analysis.findings()
    assert checked.analysis.example_facts() == analysis.example_facts()
    assert checked.container is expected["container"]
    assert checked.kind is expected["layout"]
    assert checked.broken_lines == expected["broken"]


@pytest.fixture
def messy(tmp_path) -> Path:
    path = tmp_path / "messy.jsonl"
    path.write_bytes(messy_bytes())
    return path


@pytest.mark.parametrize("range_bytes", [1, 700, 3000, 10**7])
def test_a_streamed_check_reports_what_the_app_reports(messy, monkeypatch, range_bytes):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", range_bytes)
    checked = check_path(messy, CATALOG, MODEL, cache=False)
    assert_same(checked, reference(messy))


def test_the_shipped_messy_sample_is_checked_the_same(tmp_path):
    path = ROOT / "tests" / "data" / "messy.jsonl"
    assert_same(check_path(path, CATALOG, MODEL, cache=False), reference(path))


def test_a_changed_file_checked_again_with_the_cache_gives_the_same_report(
    messy, tmp_path, monkeypatch
):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", 2000)
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    check_path(messy, CATALOG, MODEL, cache=cache)
    changed = messy_bytes().replace(b"\n\n", b"\n", 1).replace(b"Answer 2,", b"Answer two,")
    messy.write_bytes(changed)  # lines moved up by one, one line edited
    assert_same(check_path(messy, CATALOG, MODEL, cache=cache), reference(messy))
    other_model = check_path(messy, CATALOG, "gpt-3.5-turbo-0125", cache=cache)
    assert_same(other_model, reference(messy, "gpt-3.5-turbo-0125"))


def spy_on_reads(monkeypatch) -> list[bytes]:
    """The lines the check parses from now on."""
    parsed: list[bytes] = []
    real = filecheck.read_line

    def spy(raw: bytes):
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(filecheck, "read_line", spy)
    return parsed


def test_a_cached_check_of_a_changed_file_parses_no_known_line(messy, tmp_path, monkeypatch):
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    check_path(messy, CATALOG, MODEL, cache=cache)
    messy.write_bytes(messy_bytes().replace(b"Answer 2,", b"Answer two,"))
    parsed = spy_on_reads(monkeypatch)
    assert_same(check_path(messy, CATALOG, MODEL, cache=cache), reference(messy))
    # The edited line is read, and so are the lines not cached: those that are no examples
    # and the one with an integer beyond 64 bits.
    assert len(parsed) == 8
    assert sum(b"123456789012345678901234567890" in raw for raw in parsed) == 1
    assert sum(b"Answer two," in raw for raw in parsed) == 1


def test_a_file_with_lines_moved_is_found_in_the_cache_range_by_range(messy, tmp_path, monkeypatch):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", 1000)  # about 60 ranges: all are kept
    more = [json.dumps(chat(i)).encode() for i in range(100, 400)]
    messy.write_bytes(b"\n".join([messy_bytes(), *more]))
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    check_path(messy, CATALOG, MODEL, cache=cache)
    lines = messy.read_bytes().split(b"\n")
    lines.append(lines.pop(25))
    messy.write_bytes(b"\n".join(lines))
    looked_up: list[int] = []
    real = filecheck.analyze_lines

    def spy(raws, counter, cache):
        looked_up.append(len(raws))
        return real(raws, counter, cache)

    monkeypatch.setattr(filecheck, "analyze_lines", spy)
    assert_same(check_path(messy, CATALOG, MODEL, cache=cache), reference(messy))
    # Only the ranges around the line's old and new places are looked up line by line.
    assert 0 < sum(looked_up) < 40  # of 340 lines


@pytest.mark.parametrize("range_bytes", [700, 10**7])
def test_an_unchanged_file_checked_again_reads_no_line(messy, tmp_path, monkeypatch, range_bytes):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", range_bytes)
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    first = check_path(messy, CATALOG, MODEL, cache=cache)
    parsed = spy_on_reads(monkeypatch)
    again = check_path(messy, CATALOG, MODEL, cache=cache)
    assert parsed == []
    assert_same(again, reference(messy))
    assert again.columns.to_bytes() == first.columns.to_bytes()
    # The same bytes counted for a model with another tokenizer are another range.
    other_model = check_path(messy, CATALOG, "gpt-3.5-turbo-0125", cache=cache)
    assert len(parsed) > 0
    assert_same(other_model, reference(messy, "gpt-3.5-turbo-0125"))


def test_half_characters_in_texts_are_checked_with_the_cache_as_without(tmp_path):
    path = tmp_path / "halves.jsonl"
    path.write_bytes(
        b'{"messages":[{"role":"system","content":"sys \\ud800 x"},'
        b'{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}]}\n'
        b'{"messages":[{"role":"user","content":"hi \\udc00"},'
        b'{"role":"assistant","content":"ok"}]}\n'
        b'{"messages":[{"role":"\\ud800","content":"x"},{"role":"assistant","content":"ok"}]}\n'
        + b"".join(json.dumps(chat(i)).encode() + b"\n" for i in range(5))
    )
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    for _ in range(2):  # filling the cache, then reading it
        checked = check_path(path, CATALOG, MODEL, cache=cache)
        assert_same(checked, reference(path))
        assert "broken_character" in {f.code for f in checked.analysis.findings()}


def test_a_kept_range_of_another_number_of_lines_is_not_taken(tmp_path, caplog):
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    shorter, longer = tmp_path / "shorter.jsonl", tmp_path / "longer.jsonl"
    shorter.write_bytes(b"".join(json.dumps(chat(i)).encode() + b"\n" for i in range(3)))
    longer.write_bytes(shorter.read_bytes() + json.dumps(chat(9)).encode() + b"\n")
    check_path(shorter, CATALOG, MODEL, cache=cache)
    with sqlite3.connect(cache.path) as connection:  # the shorter file's range, keyed as the longer
        (data,) = connection.execute("SELECT data FROM ranges").fetchone()
        connection.execute("DELETE FROM ranges")
    key = range_key(counter_for_model(MODEL).encoding_name, longer.read_bytes())
    cache.store_ranges([(key, bytes(data))])
    assert_same(check_path(longer, CATALOG, MODEL, cache=cache), reference(longer))
    assert "another number of lines" in caplog.text


def test_a_range_of_many_broken_lines_is_not_kept_when_it_would_not_fit(tmp_path):
    path = tmp_path / "braces.jsonl"
    path.write_bytes(b"{\n" * 500 + json.dumps(chat(1)).encode() + b"\n")
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test", max_range_bytes=64_000)
    for _ in range(2):
        assert_same(check_path(path, CATALOG, MODEL, cache=cache), reference(path))
    with sqlite3.connect(cache.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM ranges").fetchone() == (0,)
    roomy = AnalysisCache(tmp_path / "roomy.sqlite3", signature="test")
    check_path(path, CATALOG, MODEL, cache=roomy)
    with sqlite3.connect(roomy.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM ranges").fetchone() == (1,)


def test_a_damaged_range_in_the_cache_is_analysed_again(messy, tmp_path, monkeypatch, caplog):
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    check_path(messy, CATALOG, MODEL, cache=cache)
    with sqlite3.connect(cache.path) as connection:
        (data,) = connection.execute("SELECT data FROM ranges").fetchone()
        connection.execute("UPDATE ranges SET data=?", (data[: len(data) // 2],))
    parsed = spy_on_reads(monkeypatch)
    assert_same(check_path(messy, CATALOG, MODEL, cache=cache), reference(messy))
    # Found line by line instead: only the lines the cache does not keep are read.
    assert len(parsed) == 7
    assert "could not be read" in caplog.text
    parsed.clear()
    check_path(messy, CATALOG, MODEL, cache=cache)
    assert parsed == []  # and kept whole again


def ranges_of(path: Path, step: int) -> list[bytes]:
    data = path.read_bytes()
    return [data[a:b] for a, b in filecheck._ranges(path, 0, len(data), step)]


def test_ranges_are_whole_lines_that_cover_the_file_within_their_limit(tmp_path):
    path = tmp_path / "lines.jsonl"
    lines = [b"a" * 200_000, b"b", *(b"line %d " % n * (n % 7 + 1) for n in range(3000)), b"end"]
    path.write_bytes(b"\n".join(lines))  # no line ending at the end
    ranges = ranges_of(path, 1000)
    assert b"".join(ranges) == path.read_bytes()
    assert all(r.endswith(b"\n") for r in ranges[:-1])
    assert ranges[0] == b"a" * 200_000 + b"\n"  # one line longer than the limit is one range
    assert max(len(r) for r in ranges[1:]) < 1000 * filecheck.RANGE_LIMIT + 100
    assert 10 < len(ranges) < 200  # about one range per 1000 bytes of lines
    assert [r for r in ranges_of(path, 1) if r] == ranges_of(path, 1)


def test_ranges_after_lines_inserted_moved_or_deleted_hold_the_same_lines(tmp_path):
    lines = [b'{"n": %d, "text": "%s"}\n' % (n, b"x" * (n % 50)) for n in range(20_000)]
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(lines))
    before = set(ranges_of(path, 20_000))
    edits = {
        "inserted": lines[:100] + [b'{"new": %d}\n' % n for n in range(500)] + lines[100:],
        "moved to the end": lines[:100] + lines[1100:] + lines[100:1100],
        "deleted": lines[:100] + lines[600:],
    }
    for name, edited in edits.items():
        path.write_bytes(b"".join(edited))
        after = ranges_of(path, 20_000)
        changed = sum(r not in before for r in after)
        assert changed <= 3, name  # the ranges around the edit, and no others
        assert len(after) > 30, name


def test_several_processes_report_what_one_does(messy, monkeypatch):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", 1500)
    monkeypatch.setattr(filecheck, "FANOUT_MIN_SECONDS", 0.0)
    monkeypatch.setattr(filecheck, "FANOUT_MIN_SECONDS_SPAWN", 0.0)
    monkeypatch.setattr(filecheck, "_cpus", lambda: 2)
    checked = check_path(messy, CATALOG, MODEL, cache=False)
    assert checked.workers == 2
    assert_same(checked, reference(messy))


def test_other_processes_start_only_for_ranges_the_cache_does_not_keep(
    messy, tmp_path, monkeypatch
):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", 1000)
    # From the second range the cache does not keep, processes would always pay.
    monkeypatch.setattr(filecheck, "FANOUT_MIN_SECONDS", 0.0)
    monkeypatch.setattr(filecheck, "FANOUT_MIN_SECONDS_SPAWN", 0.0)
    monkeypatch.setattr(filecheck, "_cpus", lambda: 2)
    more = [json.dumps(chat(i)).encode() for i in range(100, 400)]
    messy.write_bytes(b"\n".join([messy_bytes(), *more]))
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="test")
    assert check_path(messy, CATALOG, MODEL, cache=cache).workers == 2  # nothing kept yet
    assert check_path(messy, CATALOG, MODEL, cache=cache).workers == 1  # every range kept
    # One line changed in the first range: that range is analysed again, the others are kept.
    messy.write_bytes(messy.read_bytes().replace(b"Answer 2,", b"Answer two,", 1))
    changed = check_path(messy, CATALOG, MODEL, cache=cache)
    assert changed.workers == 1
    assert_same(changed, reference(messy))
    # Lines the cache has never seen, after kept ones: the rest goes to other processes.
    messy.write_bytes(messy.read_bytes() + b"\n" + b"\n".join(more).replace(b"Be kind", b"Be new"))
    grown = check_path(messy, CATALOG, MODEL, cache=cache)
    assert grown.workers == 2
    assert_same(grown, reference(messy))


def test_json_arrays_and_csv_files_are_read_whole_as_the_app_reads_them(tmp_path):
    array = tmp_path / "train.json"
    array.write_text(json.dumps([chat(i) for i in range(12)], indent=2))
    assert_same(check_path(array, CATALOG, MODEL, cache=False), reference(array))
    table = tmp_path / "train.csv"
    table.write_text('prompt,completion\nHi,Hello\n"Bye","See you"\n')
    assert_same(check_path(table, CATALOG, MODEL, cache=False), reference(table))


def test_a_validation_file_is_compared_the_same_way(messy, tmp_path):
    validation = tmp_path / "valid.jsonl"
    validation.write_text("".join(json.dumps(chat(i)) + "\n" for i in (1, 2, 50)))
    checked = check_path(messy, CATALOG, MODEL, cache=False)
    checked.analysis.set_validation_facts(
        check_path(validation, CATALOG, MODEL, cache=False).analysis.example_facts()
    )
    assert_same(checked, reference(messy, validation=validation))


def test_another_trainers_file_is_recognised_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setattr(filecheck, "RANGE_BYTES", 100)
    path = tmp_path / "sharegpt.jsonl"
    item = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}
    path.write_text("".join(json.dumps(item) + "\n" for _ in range(5)) + json.dumps(chat(1)))
    assert check_path(path, CATALOG, MODEL, cache=False).foreign.value == "sharegpt"
    path.write_text("".join(json.dumps(chat(i)) + "\n" for i in range(5)) + json.dumps(item))
    assert check_path(path, CATALOG, MODEL, cache=False).foreign is None


def test_a_large_file_is_checked_without_holding_it(tmp_path):
    """Peak memory stays well under the file's size (reading it whole took several times)."""
    script = textwrap.dedent(
        """
        import json, resource, sys
        from pathlib import Path
        from desktop.core.catalog import Catalog
        from desktop.core.filecheck import check_path
        from desktop.core.tokens import counter_for_model
        from tests.benchmarks.generate import write_dataset

        path = write_dataset(Path(sys.argv[1]), 25_000)
        catalog = Catalog.load()
        counter_for_model("gpt-4.1-mini")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        checked = check_path(path, catalog, "gpt-4.1-mini", cache=False, workers=1)
        checked.analysis.findings()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"kib": after - before, "size": path.stat().st_size,
                          "examples": checked.analysis.estimate().examples}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "big.jsonl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["examples"] == 25_000
    assert measured["kib"] * 1024 < measured["size"] / 2

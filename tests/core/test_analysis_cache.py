"""The persistent count cache: exact keys, bounded size, safe against damage and other writers."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3

import orjson
import pytest

from desktop.core import analysis_cache
from desktop.core.analysis_cache import AnalysisCache, CachedLine, line_key, range_key
from desktop.core.findings import Severity
from desktop.core.kinds import ExampleKind


def line(n: int, *, system: str | None = "Be kind.", encodings=("o200k_base",)) -> CachedLine:
    return CachedLine(
        kind=ExampleKind.CHAT,
        findings=(("empty_message", Severity.WARNING, f"Message {n} is empty.", 1, "Fill it."),)
        if n % 3 == 0
        else (),
        fingerprint=f"{n:032x}",
        system_text=system,
        has_system=system is not None,
        counts={name: (100 + n, 40 + n, n % 2 == 0) for name in encodings},
    )


def raw(n: int) -> bytes:
    return b'{"messages": [{"role": "user", "content": "question %d"}]}' % n


@pytest.fixture
def cache(tmp_path) -> AnalysisCache:
    return AnalysisCache(tmp_path / "cache" / "counts.sqlite3", signature="one")


def test_what_is_stored_comes_back_and_nothing_else(cache):
    keys = [line_key(raw(n)) for n in range(10)]
    cache.store([(keys[n], line(n, system=None if n == 4 else "Be kind.")) for n in range(6)])
    found = cache.lookup(keys)
    assert found[:6] == [line(n, system=None if n == 4 else "Be kind.") for n in range(6)]
    assert found[6:] == [None] * 4
    placed = found[3].findings_at(17, 42)
    assert [(f.line, f.record_id, f.message_index) for f in placed] == [(17, 42, 1)]


def test_a_line_without_counts_for_the_encoding_asked_for_is_unknown(cache):
    key = line_key(raw(1))
    cache.store([(key, line(1))])
    assert cache.lookup([key], "o200k_base") == [line(1)]
    assert cache.lookup([key], "cl100k_base") == [None]


def test_the_second_half_of_the_key_is_checked(cache):
    k, chk = line_key(raw(1))
    cache.store([((k, chk), line(1))])
    assert cache.lookup([(k, chk + 1)]) == [None]


def test_another_version_of_the_code_starts_with_an_empty_cache(tmp_path):
    path = tmp_path / "counts.sqlite3"
    key = line_key(raw(1))
    AnalysisCache(path, signature="one").store([(key, line(1))])
    assert AnalysisCache(path, signature="one").lookup([key]) == [line(1)]
    assert AnalysisCache(path, signature="two").lookup([key]) == [None]
    assert AnalysisCache(path, signature="one").lookup([key]) == [None]


def test_the_signature_follows_the_source_of_the_analysing_code(tmp_path):
    module = type(analysis_cache)("fake")
    source = tmp_path / "fake.py"
    source.write_text("A = 1\n")
    module.__file__ = str(source)
    before = analysis_cache.code_signature([module], "1.0")
    source.write_text("A = 2\n")
    assert analysis_cache.code_signature([module], "1.0") != before
    assert analysis_cache.code_signature([module], "1.1") != before


def test_in_a_frozen_app_the_signature_follows_the_compiled_code():
    """A frozen app's modules have no source, only the code its loader holds."""

    class FrozenLoader:
        def __init__(self, source: str | None) -> None:
            self.source = source

        def get_code(self, name: str):
            if self.source is None:
                raise ImportError(name)
            return compile(self.source, f"{name}.py", "exec")

    def module(source: str | None):
        frozen = type(analysis_cache)("fake")
        frozen.__file__ = "/nowhere/fake.pyc"
        frozen.__loader__ = FrozenLoader(source)
        return frozen

    before = analysis_cache.code_signature([module("A = 1\n")], "1.0")
    assert analysis_cache.code_signature([module("A = 1\n")], "1.0") == before
    assert analysis_cache.code_signature([module("A = 2\n")], "1.0") != before
    # Without any code to read, the version alone stands for it.
    unreadable = analysis_cache.code_signature([module(None)], "1.0")
    assert unreadable == analysis_cache.code_signature([], "1.0") != before


def test_a_damaged_file_is_started_again(cache, caplog):
    key = line_key(raw(1))
    cache.store([(key, line(1))])
    caplog.set_level(logging.WARNING, logger="desktop.core.analysis_cache")
    for suffix in ("-wal", "-shm"):
        cache.path.with_name(cache.path.name + suffix).unlink(missing_ok=True)
    cache.path.write_bytes(b"this is not a database" * 1000)
    fresh = AnalysisCache(cache.path, signature="one")
    assert fresh.lookup([key]) == [None]
    assert "damaged" in caplog.text
    fresh.store([(key, line(2))])
    assert fresh.lookup([key]) == [line(2)]


def test_a_row_written_by_other_code_is_not_taken(cache):
    key = line_key(raw(1))
    cache.store([(key, line(1))])
    with sqlite3.connect(cache.path) as connection:
        connection.execute("UPDATE lines SET data = ?", (b'["not", "what", "we", "wrote"]',))
    assert cache.lookup([key]) == [None]


def test_a_writer_that_waits_too_long_gives_up_quietly(cache, monkeypatch):
    key = line_key(raw(1))
    cache.store([(key, line(1))])
    monkeypatch.setattr(analysis_cache, "BUSY_TIMEOUT_MS", 50)
    blocker = sqlite3.connect(cache.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        waiting = AnalysisCache(cache.path, signature="one")
        waiting.store([(line_key(raw(2)), line(2))])  # no exception
        assert waiting.lookup([key]) == [line(1)]  # reading goes on meanwhile
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert cache.lookup([line_key(raw(2))]) == [None]


def _write_many(path: str, start: int) -> None:
    writer = AnalysisCache(analysis_cache.Path(path), signature="one")
    for first in range(start, start + 400, 50):
        writer.store([(line_key(raw(n)), line(n)) for n in range(first, first + 50)])
        writer.lookup([line_key(raw(n)) for n in range(0, 1200, 7)])


def test_several_processes_write_at_once_without_losing_a_row(cache):
    cache.store([(line_key(raw(0)), line(0))])  # created before the others start
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_many, args=(str(cache.path), start))
        for start in (0, 400, 800)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    found = cache.lookup([line_key(raw(n)) for n in range(1200)])
    assert found == [line(n) for n in range(1200)]


def test_the_file_stays_bounded_and_keeps_the_lines_used_lately(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis_cache, "SIZE_CHECK_EVERY", 500)
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="one", max_rows=3000)
    today = analysis_cache._today()
    monkeypatch.setattr(analysis_cache, "_today", lambda: today - 30)
    old = [(line_key(raw(n)), line(n, system=f"system {n}")) for n in range(2000)]
    cache.store(old)
    monkeypatch.setattr(analysis_cache, "_today", lambda: today)
    sizes = []
    for first in range(2000, 20_000, 500):
        cache.store([(line_key(raw(n)), line(n)) for n in range(first, first + 500)])
        sizes.append(cache.path.stat().st_size)
    with sqlite3.connect(cache.path) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM lines").fetchone()[0]
    assert rows <= 3000
    assert max(sizes[-10:]) <= max(sizes[:10]) * 1.5  # the file stopped growing
    assert cache.lookup([key for key, _ in old[:50]]) == [None] * 50  # the oldest went first
    latest = [line_key(raw(n)) for n in range(19_900, 20_000)]
    assert cache.lookup(latest) == [line(n) for n in range(19_900, 20_000)]


def test_the_cache_lives_in_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    cache = AnalysisCache(signature="one")
    cache.store([(line_key(raw(1)), line(1))])
    assert cache.path == tmp_path / "cache" / analysis_cache.FILE_NAME
    assert cache.path.exists()


def test_whole_ranges_come_back_by_their_exact_key_and_stay_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis_cache, "RANGE_SHARE_MAX", 2)
    cache = AnalysisCache(tmp_path / "counts.sqlite3", signature="one", max_range_bytes=40)
    clock = [1_000_000]
    monkeypatch.setattr(analysis_cache, "_now", lambda: clock[0])
    keys = [range_key("o200k_base", b"range %d" % n) for n in range(6)]
    blobs = [b"%010d" % n for n in range(6)]  # 10 bytes each: four fit
    assert range_key("cl100k_base", b"range 0") != keys[0]
    cache.store_ranges([(keys[0], blobs[0]), (keys[1], blobs[1])])
    assert cache.lookup_range(keys[0]) == blobs[0]
    assert cache.lookup_range((keys[0][0], keys[0][1] + 1)) is None  # the check half differs
    assert cache.lookup_range(keys[2]) is None
    clock[0] += analysis_cache.RANGE_REFRESH_AFTER + 1
    assert cache.lookup_range(keys[0]) == blobs[0]  # marked used again, unlike keys[1]
    clock[0] += 1
    cache.store_ranges([(keys[n], blobs[n]) for n in range(2, 5)])
    assert cache.lookup_range(keys[1]) is None  # used least recently: gone first
    assert [cache.lookup_range(keys[n]) for n in (0, 2, 3, 4)] == [blobs[n] for n in (0, 2, 3, 4)]
    cache.store_ranges([(keys[5], b"x" * 21)])  # more than half the bound: not kept
    assert cache.lookup_range(keys[5]) is None
    assert cache.lookup_range(keys[4]) == blobs[4]
    cache.clear()
    assert cache.lookup_range(keys[0]) is None


def test_another_version_of_the_code_forgets_the_ranges_too(tmp_path):
    key = range_key("o200k_base", b"lines")
    AnalysisCache(tmp_path / "counts.sqlite3", signature="one").store_ranges([(key, b"kept")])
    assert AnalysisCache(tmp_path / "counts.sqlite3", signature="one").lookup_range(key) == b"kept"
    assert AnalysisCache(tmp_path / "counts.sqlite3", signature="two").lookup_range(key) is None


def test_a_line_holding_half_of_a_character_is_left_uncached_not_a_crash(cache):
    halves = [(line_key(raw(1)), line(1, system="sys \ud800")), (line_key(raw(2)), line(2))]
    cache.store(halves)
    assert cache.lookup([key for key, _ in halves]) == [None, line(2)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda row: row.__setitem__(1, "not hexadecimal, but 32 long!!!!"),
        lambda row: row.__setitem__(1, "00ff"),  # a fingerprint cut short
        lambda row: row.__setitem__(0, -1),  # a kind that does not exist
        lambda row: row[5]["o200k_base"].__setitem__(0, 2**64 - 1),  # a count past 64 bits
        lambda row: row[4][0].__setitem__(1, -1),  # a severity that does not exist
    ],
)
def test_a_damaged_row_is_unknown_not_taken(cache, damage):
    key = line_key(raw(3))
    cache.store([(key, line(3))])  # n=3 has a finding
    assert cache.lookup([key]) == [line(3)]
    with sqlite3.connect(cache.path) as connection:
        (data,) = connection.execute("SELECT data FROM lines").fetchone()
        row = orjson.loads(data)
        damage(row)
        connection.execute("UPDATE lines SET data=?", (orjson.dumps(row),))
    assert cache.lookup([key]) == [None]

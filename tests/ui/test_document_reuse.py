"""A large dataset in the window: counts are reused, not redone, and freed off the UI thread."""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool

from desktop.core import analysis as analysis_module
from desktop.core import dataset as dataset_module
from desktop.core.analysis import DatasetAnalysis, analyze_records
from desktop.core.bulk import plan_set_system_message
from desktop.core.dataset import Record, with_value
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.tokens import get_counter
from desktop.ui.dataset import document as document_module
from desktop.ui.dataset import document_results
from desktop.ui.dataset.commands import RemoveRecordsCommand, ReplaceRecordsCommand
from desktop.ui.dataset.document import DatasetDocument

pytestmark = pytest.mark.gui

MODEL = "gpt-4.1-mini-2025-04-14"
OTHER_TOKENIZER = "gpt-3.5-turbo-0125"
EXAMPLES = 700  # more than the document re-checks inline


def write_file(path, count=EXAMPLES):
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are Bea, of Fernhill Coffee."},
                    {"role": "user", "content": f"Where is order FH-{i}? " * (i % 4 + 1)},
                    {"role": "assistant", "content": f"It left on day {i} — über schnell 🚚."},
                ]
            },
            ensure_ascii=False,
        )
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def document(qtbot, catalog):
    document = DatasetDocument(catalog, MODEL)
    document.load_tokenizers()  # as the app does before its window shows
    yield document
    document.cancel_work()
    assert QThreadPool.globalInstance().waitForDone(10_000)
    # Deleted here, on the UI thread: left to the garbage collector, its file watcher could
    # be destroyed on a worker thread.
    document.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def open_and_wait(qtbot, document, path):
    document.open(path)
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()


class Parses:
    """Counts how often example lines are parsed (``Record.value`` and the reader's parse)."""

    def __init__(self, monkeypatch):
        self.count = 0
        real_value = Record.value.fget
        real_read = dataset_module.read_line

        def value(record):
            self.count += 1
            return real_value(record)

        def read(raw):
            self.count += 1
            return real_read(raw)

        monkeypatch.setattr(Record, "value", property(value))
        monkeypatch.setattr(analysis_module, "read_line", read)


def fresh_estimate(catalog, document, model):
    analysis = DatasetAnalysis(catalog, model)
    analysis.merge(analyze_records(list(document.dataset), analysis.counter))
    return analysis.estimate()


def test_choosing_a_model_with_another_tokenizer_counts_nothing_again(
    qtbot, document, catalog, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    parses = Parses(monkeypatch)
    before = get_counter("cl100k_base").cache_info().misses
    document.set_model(OTHER_TOKENIZER)
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert document.analysis.counter.encoding_name == "cl100k_base"
    assert parses.count == 0
    assert get_counter("cl100k_base").cache_info().misses == before
    monkeypatch.undo()
    assert document.analysis.estimate() == fresh_estimate(catalog, document, OTHER_TOKENIZER)


def test_a_bulk_edit_while_another_tokenizer_counts_leaves_no_example_uncounted(
    qtbot, document, catalog, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    monkeypatch.setattr(document_module, "ANALYSIS_CHUNK", 100)
    # The re-check for the new tokenizer hands over its first chunk, then waits: the bulk
    # edit comes while most examples still have no counts for it.
    handed_over = threading.Event()
    go_on = threading.Event()
    calls = []
    real = document_module.analyze_records

    def held(*args, **kwargs):
        calls.append(len(args[0]))
        if len(calls) == 2:
            handed_over.set()
            go_on.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(document_module, "analyze_records", held)
    document.set_model(OTHER_TOKENIZER)
    qtbot.waitUntil(lambda: handed_over.is_set() and len(document._store.results) == 100)
    values = plan_set_system_message(list(document.dataset)[300:700], "You are Bea.")
    pairs = [(r, with_value(r, values[r.id])) for r in document.dataset if r.id in values]
    document.push(ReplaceRecordsCommand(document.dataset, pairs, "Set system"))
    document.flush_analysis()  # the edit is larger than is checked inline: a new re-check
    go_on.set()
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert document.analysis.counter.encoding_name == "cl100k_base"
    assert document.analysis.estimate().examples == EXAMPLES
    assert document.analysis.estimate() == fresh_estimate(catalog, document, OTHER_TOKENIZER)


def test_results_a_bulk_edit_worked_out_leave_the_room_kept_for_undos_alone(catalog, tmp_path):
    # The results kept for undos are bounded (and trimming them runs on the UI thread). A
    # bulk edit's own results, handed over for the re-check, were kept there too: 100,000 of
    # them filled half the room, and trimming it stalled the window for a third of a second.
    records = list(read_jsonl_bytes(write_file(tmp_path / "train.jsonl", count=50).read_bytes()))
    assert len(records) == 50
    counter = get_counter("o200k_base")
    store = document_results.ResultStore(DatasetAnalysis(catalog, MODEL))
    store.merge(records, analyze_records(records, counter))
    values = plan_set_system_message(records, "You are Bea.")
    new_records = [with_value(r, values[r.id]) for r in records]
    worked_out = analyze_records(new_records, counter)
    store.keep_worked_out({id(r): (r, a) for r, a in zip(new_records, worked_out, strict=True)})
    reuse = store.reuse("o200k_base")
    assert [reuse(r) for r in new_records] == worked_out  # the re-check takes them over
    store.merge(new_records, worked_out)
    store.drop_previous()  # the re-check has ended
    assert sorted(pair[0].id for pair in store.retired.values()) == [r.id for r in records]
    assert all(pair[0] is records[pair[0].id - 1] for pair in store.retired.values())


def test_undoing_a_bulk_edit_brings_its_results_back_without_analysing(
    qtbot, document, catalog, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    original = document.analysis.estimate()
    values = plan_set_system_message(list(document.dataset), "You are Bea.")
    pairs = [(r, with_value(r, values[r.id])) for r in document.dataset if r.id in values]
    document.push(ReplaceRecordsCommand(document.dataset, pairs, "Set system"))
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    edited = document.analysis.estimate()
    assert edited.total_tokens < original.total_tokens
    parses = Parses(monkeypatch)
    document.undo_stack.undo()
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert parses.count == 0
    assert document.analysis.estimate() == original
    document.undo_stack.redo()  # the edited results come back too
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert parses.count == 0
    assert document.analysis.estimate() == edited


def test_opening_a_file_again_takes_its_lines_from_the_count_cache(
    qtbot, document, catalog, tmp_path, monkeypatch
):
    path = write_file(tmp_path / "train.jsonl")
    open_and_wait(qtbot, document, path)
    first = document.analysis.estimate()
    findings = document.findings
    parses = Parses(monkeypatch)
    open_and_wait(qtbot, document, path)
    assert parses.count == 0
    assert document.analysis.estimate() == first
    assert document.findings == findings


def test_closing_a_large_dataset_hands_it_to_a_worker_to_free(
    qtbot, document, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl", 6000))
    records = list(document.dataset)
    handed: list[list] = []
    real = getattr(document_module, "release_in_background", lambda items: None)

    def capture(items):
        handed.append(list(items))  # the worker empties the list it is handed
        real(items)

    monkeypatch.setattr(document_module, "release_in_background", capture, raising=False)
    document.new()
    freed = [item for items in handed for item in items]
    assert len(document.dataset) == 0
    assert {id(r) for r in records} <= {id(item) for item in freed}
    results = [item for item in freed if isinstance(item, analysis_module.RecordAnalysis)]
    assert len(results) == len(records)


def test_a_finished_job_leaves_the_count_cache_file_closed(qtbot, document, tmp_path):
    import contextlib
    import os
    from pathlib import Path

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs Linux's /proc")
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl", 50))
    cache = analysis_module.default_cache().path
    assert cache.exists()
    opened = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            opened.append(os.readlink(f"/proc/self/fd/{fd}"))
    assert not [name for name in opened if name.startswith(str(cache))]


def test_setting_the_system_message_checks_and_counts_only_the_new_text(
    qtbot, document, catalog, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    records = list(document.dataset)
    values = plan_set_system_message(records, "You are Bea.")
    pairs = [(record, with_value(record, values[record.id])) for record in records]
    walked = []
    for name in ("validate_example", "plan_example"):
        real = getattr(analysis_module, name)
        monkeypatch.setattr(
            analysis_module, name, lambda *a, real=real, **k: walked.append(a) or real(*a, **k)
        )
    document.push(ReplaceRecordsCommand(document.dataset, pairs, "Set system"))
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert walked == []  # no example was checked or planned again: only its new text
    monkeypatch.undo()
    assert document.analysis.estimate() == fresh_estimate(catalog, document, MODEL)
    findings = document.findings
    fresh = DatasetAnalysis(catalog, MODEL)
    fresh.merge(analyze_records(list(document.dataset), fresh.counter))
    assert findings == fresh.findings()


def test_undoing_a_large_deletion_brings_its_results_back_without_analysing(
    qtbot, document, tmp_path, monkeypatch
):
    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    original = document.analysis.estimate()
    ids = [record.id for record in document.dataset][::2]
    document.push(RemoveRecordsCommand(document.dataset, ids, "Delete"))
    assert document.analysis.estimate().examples == EXAMPLES - len(ids)
    parses = Parses(monkeypatch)
    document.undo_stack.undo()
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.flush_analysis()
    assert parses.count == 0
    assert document.analysis.estimate() == original


def test_a_bulk_edit_is_checked_without_waiting_for_a_pause_in_typing(qtbot, document, tmp_path):
    from desktop.ui.dataset.document import ANALYSIS_DEBOUNCE_MS

    open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
    records = list(document.dataset)
    values = plan_set_system_message(records, "You are Bea.")
    pairs = [(record, with_value(record, values[record.id])) for record in records]
    timer = document._analysis_timer
    document.push(ReplaceRecordsCommand(document.dataset, pairs, "Set system"))
    assert timer.isActive() and timer.remainingTime() < ANALYSIS_DEBOUNCE_MS // 2
    qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
    document.edit_value(records[0].id, {"messages": [{"role": "user", "content": "Hi"}]})
    assert timer.remainingTime() > ANALYSIS_DEBOUNCE_MS // 2  # typing still waits for its pause


def test_a_recheck_tells_the_views_once_per_pause_not_once_per_hand_over(
    qtbot, catalog, tmp_path, monkeypatch
):
    # A re-check hands over its results in chunks every few milliseconds; repainting the
    # table and the totals after each one kept the worker waiting for the window most of the
    # time. Views hear of results at most every REFRESH_EVERY_MS, and of all by the end.
    monkeypatch.setattr(document_module, "ANALYSIS_CHUNK", 20)
    monkeypatch.setattr(document_results, "REFRESH_EVERY_MS", 60_000)
    document = DatasetDocument(catalog, MODEL)
    document.load_tokenizers()
    try:
        open_and_wait(qtbot, document, write_file(tmp_path / "train.jsonl"))
        told: list[list[int]] = []
        document.analysis_updated.connect(
            lambda ids: told.append(list(ids)) if isinstance(ids, list) else None
        )
        shown = []
        document.table.dataChanged.connect(lambda first, _last: shown.append(first.row()))
        hand_overs = []
        real_chunk = document._on_analysis_chunk
        monkeypatch.setattr(
            document, "_on_analysis_chunk", lambda item: (hand_overs.append(1), real_chunk(item))
        )
        document.set_model(OTHER_TOKENIZER)
        qtbot.waitUntil(lambda: not document.busy, timeout=30_000)
        assert len(hand_overs) == EXAMPLES // 20
        assert len(told) == 1  # at the end, not once per hand-over
        assert sorted(told[0]) == sorted(record.id for record in document.dataset)
        # The switch repaints every row as it starts; the results, in one run, once more.
        assert shown == [0, 0]
        document.flush_analysis()
        assert document.analysis.estimate() == fresh_estimate(catalog, document, OTHER_TOKENIZER)
    finally:
        document.cancel_work()
        assert QThreadPool.globalInstance().waitForDone(10_000)
        document.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

"""The running analysis: incremental results equal a full recount, whatever the edits."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.analysis import (
    ALL_FINDING_CODES,
    BATCH_SIZE,
    DatasetAnalysis,
    analyze_records,
    derive_analysis,
    other_counters,
    set_system_text_unread,
    validation_file_findings,
)
from desktop.core.analysis_cache import AnalysisCache
from desktop.core.catalog import Catalog
from desktop.core.dataset import Record
from desktop.core.findings import Severity
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.tokens import TokenCounter, get_counter, get_encoding

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def chat(text: str, system: str | None = "Be kind.") -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": text}, {"role": "assistant", "content": text[::-1]}]
    return {"messages": messages}


def build(values: list[dict], extra: bytes = b""):
    data = b"".join(json.dumps(v).encode() + b"\n" for v in values) + extra
    return read_jsonl_bytes(data)


def full(catalog, dataset, model=MODEL, epochs=None):
    analysis = DatasetAnalysis(catalog, model, epochs)
    analysis.merge(analyze_records(list(dataset), analysis.counter))
    return analysis


def test_ready_dataset_has_no_errors(catalog):
    dataset = build([chat(f"question {i}") for i in range(12)])
    analysis = full(catalog, dataset)
    assert analysis.ready
    assert analysis.severity_counts()[Severity.ERROR] == 0
    assert analysis.estimate().examples == 12


def test_broken_and_blank_lines_are_reported(catalog):
    dataset = build([chat(f"q{i}") for i in range(10)], b"\n{oops\n")
    analysis = full(catalog, dataset)
    codes = [f.code for f in analysis.findings()]
    assert "invalid_json" in codes
    assert "blank_line" in codes
    assert not analysis.ready
    broken = dataset[-1]
    assert analysis.get(broken.id).severity is Severity.ERROR
    dataset.set_text(broken.id, json.dumps(chat("fixed")))
    analysis.update(dataset.record(broken.id))
    assert "invalid_json" not in [f.code for f in analysis.findings()]


def test_all_codes_are_documented(catalog):
    dataset = build([chat("x")], b"\n[1]\n{bad\n")
    codes = {f.code for f in full(catalog, dataset).findings()}
    assert codes <= set(ALL_FINDING_CODES)


def test_changing_model_to_another_encoding_asks_for_a_recount(catalog):
    dataset = build([chat("héllo wörld " * 5) for _ in range(3)])
    analysis = full(catalog, dataset)
    assert analysis.set_model("gpt-4o-mini-2024-07-18") is False
    assert analysis.set_model("gpt-3.5-turbo-0125") is True
    assert len(analysis) == 0
    analysis.merge(analyze_records(list(dataset), analysis.counter))
    assert (
        analysis.estimate().total_tokens
        == full(catalog, dataset, "gpt-3.5-turbo-0125").estimate().total_tokens
    )


def test_duplicates_point_at_the_first_line_even_when_results_arrive_out_of_order(catalog):
    values = [chat(f"q{i}") for i in range(11)] + [chat("q0")]
    dataset = build(values)
    analysis = DatasetAnalysis(catalog, MODEL)
    results = analyze_records(list(dataset), analysis.counter)
    analysis.merge(reversed(results))
    duplicates = [f for f in analysis.findings() if f.code == "duplicate_example"]
    assert [f.line for f in duplicates] == [12]
    assert "1" in duplicates[0].text


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["edit", "add", "remove", "break"]), st.integers(0, 50)),
        max_size=15,
    )
)
def test_incremental_updates_equal_a_full_recount(ops):
    catalog = Catalog.load()
    rng = random.Random(len(ops))
    dataset = build([chat(f"question {i}", None if i % 4 == 0 else "Be kind.") for i in range(12)])
    analysis = full(catalog, dataset)
    for op, n in ops:
        records = list(dataset)
        target = records[n % len(records)] if records else None
        if op == "add" or target is None:
            record = dataset.append_value(chat(f"new {n} " * rng.randint(1, 5)))
            analysis.update(record)
        elif op == "edit":
            dataset.set_value(target.id, chat(f"edited {n} " * rng.randint(1, 9)))
            analysis.update(dataset.record(target.id))
        elif op == "remove":
            dataset.remove(target.id)
            analysis.remove(target.id)
        else:
            dataset.set_text(target.id, '{"messages": [')
            analysis.update(dataset.record(target.id))
    fresh = full(catalog, dataset)
    assert analysis.estimate() == fresh.estimate()
    assert Counter(analysis.findings()) == Counter(fresh.findings())
    assert analysis.ready == fresh.ready


def test_cancelled_analysis_returns_what_it_has(catalog):
    dataset = build([chat(f"q{i}") for i in range(5000)])
    records = list(dataset)
    counter = DatasetAnalysis(catalog, MODEL).counter
    analyze_records(records, counter)  # every text cached: no checks between encodings below
    calls = []

    # One check before the batch, one per example while counting (no texts to encode: all
    # cached), then one before each record: stop at the 100th record.
    limit = 1 + BATCH_SIZE + 100

    def should_continue() -> bool:
        calls.append(1)
        return len(calls) < limit

    results = analyze_records(records, counter, should_continue)
    # It stops between records, keeping what it has, in order.
    assert len(results) == 99
    assert [r.record_id for r in results] == [r.id for r in records[: len(results)]]


def test_records_whose_results_are_known_are_taken_over_without_a_check_each(catalog):
    # A worker's check lets the UI thread go first: 100,000 known results (an undo) checked
    # one by one spent most of their time waiting for the window.
    dataset = build([chat(f"q{i}") for i in range(5000)])
    records = list(dataset)
    counter = DatasetAnalysis(catalog, MODEL).counter
    known = {r.record_id: r for r in analyze_records(records, counter)}
    calls = []

    def should_continue() -> bool:
        calls.append(1)
        return True

    results = analyze_records(
        records, counter, should_continue, reuse=lambda record: known[record.id]
    )
    assert results == [known[r.id] for r in records]
    assert len(calls) == -(-len(records) // BATCH_SIZE)  # one before each batch


def _cache(tmp_path) -> AnalysisCache:
    return AnalysisCache(tmp_path / "counts.sqlite3", signature="test")


def test_a_second_analysis_with_the_cache_counts_nothing_and_gives_the_same_results(
    catalog, tmp_path, monkeypatch
):
    values = [chat(f"question {i} " * (i % 7 + 1)) for i in range(60)] + [chat("question 0 ")]
    dataset = build(values, b"{broken\n\n")
    records = list(dataset)
    cache = _cache(tmp_path)
    counter = TokenCounter(get_encoding("o200k_base"))
    plain = analyze_records(records, counter)
    first = analyze_records(records, counter, cache=cache)
    assert first == plain
    parsed = []
    original = Record.value.fget

    def spy(record):
        parsed.append(record.id)
        return original(record)

    monkeypatch.setattr(Record, "value", property(spy))
    fresh = TokenCounter(get_encoding("o200k_base"))
    second = analyze_records(records, fresh, cache=cache)
    assert second == plain
    assert parsed == [] and fresh.cache_info().misses == 0


def test_cached_lines_are_placed_where_they_are_now_and_changed_lines_analysed_again(
    catalog, tmp_path
):
    cache = _cache(tmp_path)
    counter = DatasetAnalysis(catalog, MODEL).counter
    values = [chat(f"q{i}", system=None if i == 3 else "Be kind.") for i in range(12)]
    values[5]["messages"][1]["content"] = ""  # a finding on line 6
    analyze_records(list(build(values)), counter, cache=cache)
    moved = [chat("a new first line"), *values]
    moved[8] = chat("changed")
    dataset = build(moved)
    with_cache = analyze_records(list(dataset), counter, cache=cache)
    assert with_cache == analyze_records(list(dataset), counter)
    lines = [f.line for r in with_cache for f in r.findings]
    assert lines == [7]


def test_other_encodings_are_counted_beside_the_chosen_one_when_counting_is_fast(catalog):
    dataset = build([chat("héllo wörld " * 5), chat("second")])
    counter = get_counter("o200k_base")
    others = other_counters(counter)
    assert [o.encoding_name for o in others] == ["cl100k_base"]
    results = analyze_records(list(dataset), counter, others=others)
    cl100k = analyze_records(list(dataset), get_counter("cl100k_base"))
    for result, expected in zip(results, cl100k, strict=True):
        assert [name for name, _ in result.counts] == ["o200k_base", "cl100k_base"]
        switched = result.for_encoding("cl100k_base")
        assert switched.tokens == expected.tokens
        assert switched.facts == expected.facts
        assert switched.findings == expected.findings
    assert results[0].for_encoding("llama3") is None
    assert other_counters(TokenCounter(get_encoding("o200k_base"), fast=False)) == ()


@pytest.mark.parametrize("depth", [985, 1000, 1023])
def test_a_deeply_nested_line_is_one_finding_even_in_a_worker_with_a_small_stack(depth):
    """A Qt worker thread may have a 512 KiB stack; the line must not stop the whole file."""
    import threading

    inner = depth - 1
    deep = b'{"messages":[],"x":' + b"[" * inner + b"]" * inner + b"}\n"
    dataset = build([chat(f"question {i}") for i in range(3)], extra=deep)
    counter = DatasetAnalysis(Catalog.load(), MODEL).counter
    results: list = []
    old = threading.stack_size(512 * 1024)
    try:
        worker = threading.Thread(
            target=lambda: results.extend(analyze_records(list(dataset), counter))
        )
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old)
    assert len(results) == 4
    assert [r.findings for r in results[:3]] == [(), (), ()]
    (finding,) = results[3].findings
    assert finding.code == "invalid_json" and finding.line == 4
    assert "levels deep" in finding.text


def _varied_examples() -> list[dict]:
    """Examples a new system message meets: with and without one, with findings elsewhere,
    a system message in parts or with a name, a user message holding the new text."""
    examples = [chat(f"Question {i}?", system="Be kind." if i % 3 else None) for i in range(12)]
    examples.append(
        {"messages": [{"role": "system", "content": "Old."}, {"role": "user", "content": "Hi"}]}
    )
    examples.append(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " "}]}
    )
    examples.append(
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "In parts."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ]
        }
    )
    examples.append(
        {
            "messages": [
                {"role": "user", "content": "You are Bea."},
                {"role": "system", "content": "Late.", "name": "rules"},
                {"role": "assistant", "content": "Hello", "weight": 1},
            ],
            "extra": True,
        }
    )
    examples.append(chat("Hi", system="  "))
    # The new system message's very bytes, earlier in the example than the message itself.
    examples.append(
        {
            "a_note": {"content": "You are Bea.", "role": "system"},
            "messages": [{"role": "system", "content": "Old."}, {"role": "user", "content": "Hi"}],
        }
    )
    return examples


@pytest.mark.parametrize("text", ["You are Bea.", "  ", ""])
def test_a_new_system_message_is_derived_exactly_from_the_results_before_it(monkeypatch, text):
    from desktop.core.bulk import plan_set_system_message
    from desktop.core.dataset import with_value

    records = list(
        read_jsonl_bytes("\n".join(json.dumps(e) for e in _varied_examples()).encode() + b"\n")
    )
    counter = get_counter("o200k_base")
    others = other_counters(counter)
    before = {r.record_id: r for r in analyze_records(records, counter, others=others)}
    values = plan_set_system_message(records, text)
    edited = [with_value(r, values[r.id]) for r in records if r.id in values]
    assert edited
    full = analyze_records(edited, counter, others=others)
    counters = (counter, *others)
    shortcuts = [derive_analysis(r, before[r.id], counters) is not None for r in edited]
    # Derived: the twelve plain ones, two whose findings concern other parts, and the one
    # holding the new message's very bytes before it; not the blank system text, the one in
    # parts, nor a finding's messages moved down by one.
    assert sum(shortcuts) == (15 if text == "You are Bea." else 0)
    derived = analyze_records(
        edited, counter, others=others, previous=lambda record: before[record.id]
    )
    assert derived == full


def test_a_system_text_set_unread_reads_and_analyses_as_the_planned_edit():
    from desktop.core.bulk import plan_set_system_message
    from desktop.core.dataset import with_value

    huge = '{"messages": [{"role": "user", "content": "Hi"}], "n": 18446744073709551616}'
    lines = [json.dumps(e) for e in _varied_examples()] + [huge]
    records = list(read_jsonl_bytes("\n".join(lines).encode() + b"\n"))
    counter = get_counter("o200k_base")
    others = other_counters(counter)
    counters = (counter, *others)
    before = {r.record_id: r for r in analyze_records(records, counter, others=others)}
    planned = plan_set_system_message(records, "You are Bea.")
    told = {
        r.id: set_system_text_unread(r, before[r.id], "You are Bea.", counters) for r in records
    }
    # Only the twelve clean ones: not those with findings, the one in parts, nor the line
    # whose integer orjson alone cannot read exactly.
    unread = {record_id: pair for record_id, pair in told.items() if pair is not None}
    assert list(unread) == [r.id for r in records[:12]]
    by_id = {r.id: r for r in records}
    for record_id, (new, result) in unread.items():
        assert new.system_set is not None
        assert new.value == planned[record_id]
        assert [result] == analyze_records([new], counter, others=others)
        again = set_system_text_unread(new, result, "Be brief.", counters)
        assert again is not None
        assert again[0].value == plan_set_system_message([by_id[record_id]], "Be brief.")[record_id]
        assert [again[1]] == analyze_records([again[0]], counter, others=others)
    first = records[0]
    edited = with_value(first, first.value)
    assert set_system_text_unread(edited, before[first.id], "You are Bea.", counters) is None
    for text in ("", "  "):  # a text with a finding of its own
        assert set_system_text_unread(first, before[first.id], text, counters) is None


def test_a_system_text_set_unread_keeps_the_counts_its_result_had():
    """A result counted with one encoding gives one counted with it alone, not none."""
    records = list(read_jsonl_bytes((json.dumps(chat("Hi")) + "\n").encode()))
    counter = get_counter("o200k_base")
    before = analyze_records(records, counter)[0]
    assert [name for name, _ in before.counts] == ["o200k_base"]
    counters = (counter, get_counter("cl100k_base"))
    told = set_system_text_unread(records[0], before, "You are Bea.", counters)
    assert told is not None
    assert [told[1]] == analyze_records([told[0]], counter)
    # Without the first encoding's count there is nothing to work it out from.
    assert set_system_text_unread(records[0], before, "You are Bea.", counters[::-1]) is None


def test_setting_the_system_message_on_clean_examples_checks_and_counts_only_the_new_text(
    monkeypatch,
):
    from desktop.core import analysis as analysis_module
    from desktop.core.bulk import plan_set_system_message
    from desktop.core.dataset import with_value

    examples = [chat(f"Question {i}?", system="Be kind." if i % 3 else None) for i in range(40)]
    records = list(read_jsonl_bytes("\n".join(json.dumps(e) for e in examples).encode() + b"\n"))
    counter = TokenCounter(get_encoding("o200k_base"))
    before = {r.record_id: r for r in analyze_records(records, counter)}
    values = plan_set_system_message(records, "You are Bea.")
    edited = [with_value(r, values[r.id]) for r in records]
    validated = []
    real_validate = analysis_module.validate_example
    monkeypatch.setattr(
        analysis_module,
        "validate_example",
        lambda value, **kw: validated.append(value) or real_validate(value, **kw),
    )
    counted: list[str] = []
    real_count = counter._count_one
    monkeypatch.setattr(counter, "_count_one", lambda t: counted.append(t) or real_count(t))
    monkeypatch.setattr(counter, "_count_all", lambda ts, _p: [counter._count_one(t) for t in ts])
    derived = analyze_records(edited, counter, previous=lambda record: before[record.id])
    assert validated == []
    assert counted == ["You are Bea."]
    monkeypatch.undo()
    assert derived == analyze_records(edited, TokenCounter(get_encoding("o200k_base")))


def test_deriving_results_stops_between_records_when_asked(monkeypatch):
    """A worker's checkpoint runs between derived records too, so the UI thread goes first."""
    from desktop.core import analysis as analysis_module
    from desktop.core.bulk import plan_set_system_message
    from desktop.core.dataset import with_value

    examples = [chat(f"Question {i}?") for i in range(50)]
    records = list(read_jsonl_bytes("\n".join(json.dumps(e) for e in examples).encode() + b"\n"))
    counter = get_counter("o200k_base")
    before = {r.record_id: r for r in analyze_records(records, counter)}
    values = plan_set_system_message(records, "You are Bea.")
    edited = [with_value(r, values[r.id]) for r in records]
    derived = []
    real = analysis_module.derive_analysis
    monkeypatch.setattr(
        analysis_module, "derive_analysis", lambda *a: derived.append(a[0]) or real(*a)
    )
    asked = []

    def should_continue() -> bool:
        asked.append(len(derived))
        return len(asked) < 10

    results = analyze_records(
        edited, counter, should_continue, previous=lambda record: before[record.id]
    )
    assert len(derived) < 10
    assert len(results) < 10


def _chat_line(i: int, topic: str = "order") -> bytes:
    value = {
        "messages": [
            {"role": "user", "content": f"Where is my {topic} number {i}?"},
            {"role": "assistant", "content": f"Your {topic} {i} ships today."},
        ]
    }
    return json.dumps(value).encode() + b"\n"


def test_a_validation_file_is_checked_as_check_validation_does():
    catalog = Catalog.load()
    model = "gpt-4.1-mini-2025-04-14"
    training = read_jsonl_bytes(b"".join(_chat_line(i) for i in range(20)))
    analysis = DatasetAnalysis(catalog, model)
    analysis.merge(analyze_records(list(training), analysis.counter))
    facts = analysis.example_facts()

    fine = read_jsonl_bytes(b"".join(_chat_line(i, "parcel") for i in range(10)))
    assert validation_file_findings(catalog, model, facts, list(fine)) == []

    bad = read_jsonl_bytes(_chat_line(3) + b'{"messages": [\n' + _chat_line(4, "parcel"))
    found = validation_file_findings(catalog, model, facts, list(bad))
    assert all(f.severity is Severity.ERROR for f in found)
    # The validation file's own findings point nowhere in the training examples.
    assert all(f.record_id is None for f in found if f.text.startswith("Validation file"))
    texts = [(f.code, f.line, f.text) for f in found]
    assert (
        "train_validation_overlap",
        4,
        "This example also appears in the validation file (line 1).",
    ) in texts
    own = [t for t in texts if t[2].startswith("Validation file")]
    assert any(t[2].startswith("Validation file, line 2: ") and t[1] is None for t in own)
    assert any("The file has 2 examples; OpenAI needs at least 10" in t[2] for t in own)

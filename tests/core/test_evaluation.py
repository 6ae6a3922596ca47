"""Evaluation: items from examples, scores, runs that resume, exports, cost and scheduling."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.catalog import Catalog
from desktop.core.conversations import StoreError
from desktop.core.evaluation import (
    CSV_COLUMNS,
    EvalItem,
    EvalRun,
    EvalScheduler,
    EvalStore,
    ItemSelection,
    Pair,
    RunState,
    SkipReason,
    Thumb,
    estimate_eval_cost,
    exact_match,
    item_from_example,
    items_from_dataset,
    items_from_examples,
    sample_items,
    similarity,
    word_tokens,
)
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.tokens import ExampleTokens, counter_for_model

CATALOG = Catalog.load()
FT = "ft:gpt-4.1-mini-2025-04-14:acme::AbC123"
BASE = "gpt-4.1-mini-2025-04-14"


def example(*turns: tuple[str, object], **extra) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


def qa(question: str, answer: str, system: str | None = None) -> dict:
    turns = [("system", system)] if system else []
    return example(*turns, ("user", question), ("assistant", answer))


# Items ----------------------------------------------------------------------------------------


def test_the_prompt_is_everything_before_the_last_reply():
    data = example(
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
    )
    data["messages"][2]["weight"] = 0
    item = item_from_example(data, "7", line=12)
    assert isinstance(item, EvalItem)
    assert item.id == "7"
    assert item.line == 12
    assert item.reference == "Paris."
    assert item.question == "Capital of France?"
    assert list(item.prompt) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert item.request() == {"messages": list(item.prompt)}
    assert "weight" in data["messages"][2]


def test_tools_and_text_parts_are_kept():
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    data = example(
        ("user", [{"type": "text", "text": "Where is "}, {"type": "text", "text": "order 5?"}]),
        ("assistant", [{"type": "text", "text": "On its "}, {"type": "text", "text": "way."}]),
        tools=tools,
    )
    item = item_from_example(data, "1")
    assert isinstance(item, EvalItem)
    assert item.reference == "On its way."
    assert item.question == "Where is order 5?"
    assert item.request()["tools"] == tools


TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"prompt": "a", "completion": "b"}, SkipReason.NOT_CHAT),
        ("just text", SkipReason.NOT_CHAT),
        ({"messages": "hello"}, SkipReason.NOT_CHAT),
        ({"messages": [{"role": "user", "content": "a"}, "b"]}, SkipReason.NOT_CHAT),
        ({"messages": []}, SkipReason.NO_FINAL_REPLY),
        (example(("user", "a"), ("assistant", "b"), ("user", "c")), SkipReason.NO_FINAL_REPLY),
        ({"messages": [{"role": "user", "content": "a"}, TOOL_CALL]}, SkipReason.NOT_TEXT_REPLY),
        (
            example(("user", "a"), ("assistant", [{"type": "image_url", "image_url": {}}])),
            SkipReason.NOT_TEXT_REPLY,
        ),
        (example(("user", "a"), ("assistant", " \n")), SkipReason.EMPTY_REPLY),
        (example(("assistant", "hello")), SkipReason.NO_PROMPT),
    ],
)
def test_examples_without_a_final_text_reply_are_skipped_with_a_reason(data, reason):
    assert item_from_example(data, "1") is reason


def test_skips_are_counted_per_reason_and_said_plainly():
    selection = items_from_examples(
        [
            qa("a", "b"),
            {"prompt": "x", "completion": "y"},
            example(("user", "a"), ("assistant", "")),
            example(("user", "a"), ("assistant", " ")),
            qa("c", "d"),
        ]
    )
    assert [item.id for item in selection.items] == ["1", "5"]
    assert selection.skipped == Counter({SkipReason.EMPTY_REPLY: 2, SkipReason.NOT_CHAT: 1})
    assert selection.skip_sentences() == [
        "2 examples skipped: the last reply is empty.",
        "1 example skipped: not a readable chat example.",
    ]


def test_dataset_items_remember_their_line_and_ignore_blank_and_broken_lines():
    lines = [
        json.dumps(qa("one", "1")),
        "",
        "{broken",
        json.dumps(example(("user", "two"))),
        json.dumps(qa("three", "3")),
    ]
    dataset = read_jsonl_bytes("\n".join(lines).encode())
    selection = items_from_dataset(dataset)
    assert [(item.line, item.reference) for item in selection.items] == [(1, "1"), (5, "3")]
    assert len({item.id for item in selection.items}) == 2
    assert selection.skipped == Counter({SkipReason.NO_FINAL_REPLY: 1})


def test_sampling_is_reproducible_and_keeps_order():
    items = list(range(100))
    first = sample_items(items, 10, seed=7)
    assert first == sample_items(items, 10, seed=7)
    assert first == sorted(first)
    assert len(set(first)) == 10
    assert first != sample_items(items, 10, seed=8)
    assert sample_items(items, 100, seed=1) == items
    assert sample_items(items, 500, seed=1) == items
    assert sample_items(items, 0, seed=1) == []
    with pytest.raises(ValueError, match="negative"):
        sample_items(items, -1, seed=1)


@given(st.lists(st.integers(), unique=True, max_size=50), st.integers(0, 60), st.integers())
def test_a_sample_is_an_ordered_subset_of_the_right_size(items, n, seed):
    chosen = sample_items(items, n, seed)
    assert len(chosen) == min(n, len(items))
    positions = [items.index(x) for x in chosen]
    assert positions == sorted(set(positions))


# Scores ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Paris", "Paris", True),
        ("  Paris \n", "Paris", True),
        ("New   York\tCity", "New York City", True),
        ("Paris", "paris", False),
        ("Paris.", "Paris", False),
        ("", "", True),
        ("", "   ", True),
        ("", "x", False),
        ("café", "cafe\u0301", True),
        ("a\u00a0b", "a b", True),
    ],
)
def test_exact_match_ignores_only_spacing_and_unicode_form(a, b, same):
    assert exact_match(a, b) is same
    assert exact_match(b, a) is same


def test_exact_match_can_ignore_case():
    assert exact_match("PARIS", "paris", case_sensitive=False)
    assert exact_match("Straße", "STRASSE", case_sensitive=False)
    assert not exact_match("Paris", "London", case_sensitive=False)


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        # 2 shared words of 3 and 4: F1 = 2·2 / (3 + 4).
        ("the cat sat", "the cat ran away", 4 / 7),
        ("Paris", "paris!", 1.0),
        ("a a b", "a b b", 2 * 2 / 6),
        ("yes", "no", 0.0),
        ("", "", 1.0),
        ("", "word", 0.0),
        ("!!!", "!!!", 1.0),
        ("!!!", "???", 0.0),
        ("😀", "", 0.0),
        ("東京都", "東京", 2 * 2 / 5),
        ("Straße", "STRASSE", 1.0),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full width", 1.0),
    ],
)
def test_similarity_is_token_f1(a, b, score):
    assert similarity(a, b) == pytest.approx(score)


def test_words_are_letter_and_digit_runs_and_cjk_characters():
    assert word_tokens("It's 42°C in São Paulo!") == ["it", "s", "42", "c", "in", "são", "paulo"]
    assert word_tokens("東京abc") == ["東", "京", "abc"]


@given(st.text(max_size=300), st.text(max_size=300))
def test_similarity_is_symmetric_and_between_0_and_1(a, b):
    score = similarity(a, b)
    assert 0.0 <= score <= 1.0
    assert score == similarity(b, a)


@given(st.text(max_size=300))
def test_identical_text_scores_1(text):
    assert similarity(text, text) == 1.0
    assert similarity(text, f"  {text}\n") == 1.0


def test_similarity_is_fast_on_long_replies():
    long_a = " ".join(f"word{i % 500}" for i in range(20_000))
    long_b = " ".join(f"word{i % 700}" for i in range(20_000))
    assert 0.0 < similarity(long_a, long_b) < 1.0


# Runs -----------------------------------------------------------------------------------------


def four_items() -> list[EvalItem]:
    return items_from_examples(
        [qa("q1", "Paris"), qa("q2", "the cat sat"), qa("q3", "blue"), qa("q4", "42")]
    ).items


def scored_run() -> EvalRun:
    run = EvalRun(four_items(), [FT, BASE], run_id="run1", created=1000.0)
    run.start()
    run.record("1", FT, reply="Paris", tokens_in=10, tokens_out=2, latency_s=1.0)
    run.record("1", BASE, reply="It is Paris", tokens_in=10, tokens_out=4, latency_s=3.0)
    run.record("2", FT, reply="the cat ran away", tokens_in=12, tokens_out=5, latency_s=2.0)
    run.record("2", BASE, reply="the cat ran away", tokens_in=12, tokens_out=5, latency_s=2.0)
    run.record("3", FT, reply="red", tokens_in=8, tokens_out=1)
    run.record("3", BASE, error="The provider took too long to answer.")
    run.record("4", FT, reply="42", tokens_in=9, tokens_out=1, latency_s=0.5)
    run.rate("1", FT, Thumb.UP)
    run.rate("3", FT, Thumb.DOWN)
    run.rate("1", BASE, Thumb.UP)
    return run


def test_record_scores_each_answer_against_the_reference():
    run = scored_run()
    paris = run.result("1", BASE)
    assert paris is not None
    assert paris.similarity == pytest.approx(2 / 4)
    assert paris.exact_match is False
    exact = run.result("1", FT)
    assert exact is not None and exact.similarity == 1.0 and exact.exact_match is True
    failed = run.result("3", BASE)
    assert failed is not None and not failed.ok
    assert failed.similarity is None and failed.exact_match is None
    assert run.result("4", BASE) is None


def test_the_summary_has_a_row_per_model_with_win_rates():
    first, second = scored_run().summary()
    assert (first.model, second.model) == (FT, BASE)
    assert (first.items, first.answered, first.errors, first.pending) == (4, 4, 0, 0)
    assert (second.items, second.answered, second.errors, second.pending) == (4, 2, 1, 1)
    assert first.mean_similarity == pytest.approx((1 + 4 / 7 + 0 + 1) / 4)
    assert second.mean_similarity == pytest.approx((0.5 + 4 / 7) / 2)
    assert first.exact_match_rate == pytest.approx(2 / 4)
    assert second.exact_match_rate == 0.0
    assert (first.thumbs_up, first.thumbs_down) == (1, 1)
    assert (second.thumbs_up, second.thumbs_down) == (1, 0)
    # Compared on items 1 and 2 only (both answered): FT wins item 1, item 2 is a tie.
    assert (first.wins, first.ties, first.losses, first.win_rate) == (1, 1, 0, 0.5)
    assert (second.wins, second.ties, second.losses, second.win_rate) == (0, 1, 1, 0.0)
    assert first.mean_latency_s == pytest.approx((1.0 + 2.0 + 0.5) / 3)
    assert (first.tokens_in, first.tokens_out) == (39, 9)
    assert (second.tokens_in, second.tokens_out) == (22, 9)
    assert first.cost_usd is None


def test_the_summary_prices_answers_with_a_catalog():
    first, second = scored_run().summary(CATALOG)
    assert first.cost_usd == pytest.approx((39 * 0.80 + 9 * 3.20) / 1_000_000)
    assert second.cost_usd is None


def test_a_single_model_run_has_no_win_rate_and_empty_means_are_none():
    run = EvalRun(four_items(), [FT])
    (row,) = run.summary()
    assert row.wins is row.ties is row.losses is row.win_rate is None
    assert row.mean_similarity is None and row.exact_match_rate is None
    assert row.mean_latency_s is None
    assert row.pending == 4


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        ([], "one model"),
        ([FT, BASE, "x"], "one model"),
        ([FT, FT], "different"),
        ([" "], "model id"),
    ],
)
def test_a_run_has_one_or_two_different_models(models, problem):
    with pytest.raises(ValueError, match=problem):
        EvalRun(four_items(), models)


def test_a_run_needs_items_with_distinct_ids():
    with pytest.raises(ValueError, match="at least one"):
        EvalRun([], [FT])
    item = four_items()[0]
    with pytest.raises(ValueError, match="same id"):
        EvalRun([item, item], [FT])


def test_unknown_pairs_and_unanswered_ratings_are_refused():
    run = EvalRun(four_items(), [FT])
    with pytest.raises(ValueError, match="not part of this run"):
        run.record("99", FT, reply="x")
    with pytest.raises(ValueError, match="not part of this run"):
        run.record("1", BASE, reply="x")
    with pytest.raises(ValueError, match="no answer"):
        run.rate("1", FT, Thumb.UP)


def test_state_moves_from_pending_to_finished():
    run = EvalRun(four_items()[:1], [FT])
    assert run.state is RunState.PENDING
    assert run.progress == (0, 1)
    run.start()
    assert run.state is RunState.RUNNING
    run.record("1", FT, reply="Paris")
    assert run.state is RunState.FINISHED
    assert run.progress == (1, 1)
    run.cancel()
    assert run.state is RunState.FINISHED


def test_a_new_answer_replaces_the_old_one_and_its_rating():
    run = scored_run()
    run.record("1", FT, reply="London")
    result = run.result("1", FT)
    assert result is not None
    assert (result.reply, result.rating, result.similarity) == ("London", None, 0.0)


def test_a_cancelled_run_resumes_with_only_the_unanswered_pairs(tmp_path):
    run = EvalRun(four_items(), [FT, BASE], run_id="resume")
    run.start()
    scheduler = EvalScheduler(run.pending_pairs(), max_concurrency=3, clock=lambda: 0.0)
    sent = [scheduler.next_pair() for _ in range(3)]
    assert sent == [Pair("1", FT), Pair("1", BASE), Pair("2", FT)]
    assert scheduler.next_pair() is None
    run.record("1", BASE, reply="Paris")
    scheduler.on_result(sent[1])
    run.cancel()
    assert scheduler.cancel() == [p for p in run.pairs() if p not in sent]
    # An answer that arrives after the cancel was paid for and is kept.
    run.record("2", FT, reply="the cat sat")
    scheduler.on_result(sent[2])
    assert run.state is RunState.CANCELLED
    store = EvalStore(tmp_path)
    store.save(run)

    resumed = store.load("resume")
    assert resumed.state is RunState.CANCELLED
    assert resumed.next_pending() == Pair("1", FT)
    pending = resumed.pending_pairs()
    assert Pair("1", BASE) not in pending and Pair("2", FT) not in pending
    assert len(pending) == 6
    resumed.start()
    again = EvalScheduler(pending, max_concurrency=8, clock=lambda: 0.0)
    handed = []
    while (pair := again.next_pair()) is not None:
        handed.append(pair)
    assert handed == pending
    for pair in handed:
        resumed.record(pair.item_id, pair.model, reply="x")
        again.on_result(pair)
    assert again.is_finished
    assert resumed.state is RunState.FINISHED
    assert resumed.result("1", BASE).reply == "Paris"  # type: ignore[union-attr]


def test_a_run_saved_while_running_loads_as_cancelled(tmp_path):
    run = EvalRun(four_items(), [FT], run_id="crashed")
    run.start()
    run.record("1", FT, reply="Paris")
    store = EvalStore(tmp_path)
    store.save(run)
    assert store.load("crashed").state is RunState.CANCELLED
    fresh = EvalRun(four_items(), [FT], run_id="fresh")
    store.save(fresh)
    assert store.load("fresh").state is RunState.PENDING


def test_failed_answers_can_be_sent_again():
    run = EvalRun(four_items()[:2], [FT])
    run.record("1", FT, reply="Paris")
    run.record("2", FT, error="Rate limit reached.")
    assert run.state is RunState.FINISHED
    assert run.retry_failed() == 1
    assert run.pending_pairs() == [Pair("2", FT)]
    assert run.state is RunState.PENDING
    assert run.retry_failed() == 0


def test_the_csv_has_one_row_per_item_and_model():
    run = scored_run()
    run.record("4", BASE, reply='=HYPERLINK("http://x")')
    run.rate("4", BASE, Thumb.DOWN)
    extra = EvalRun(four_items(), [FT, BASE])
    rows = list(csv.DictReader(io.StringIO(run.to_csv())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 8
    assert [(r["item"], r["model"]) for r in rows[:2]] == [("1", FT), ("1", BASE)]
    first = rows[0]
    assert first["question"] == "q1"
    assert first["reference"] == "Paris"
    assert (first["status"], first["reply"], first["similarity"]) == ("answered", "Paris", "1.0000")
    assert (first["exact_match"], first["rating"], first["tokens_in"]) == ("yes", "up", "10")
    assert first["latency_seconds"] == "1.000"
    failed = rows[5]
    assert (failed["status"], failed["error"], failed["reply"]) == (
        "error",
        "The provider took too long to answer.",
        "",
    )
    assert failed["similarity"] == failed["exact_match"] == ""
    formula = rows[7]
    assert formula["reply"] == '\'=HYPERLINK("http://x")'
    assert formula["rating"] == "down"
    pending = list(csv.DictReader(io.StringIO(extra.to_csv())))
    assert {r["status"] for r in pending} == {"pending"}


def test_the_csv_keeps_unicode_and_newlines():
    items = items_from_examples([qa("Wie geht's?\nGut?", "Sehr gut, danke 😊")]).items
    run = EvalRun(items, [FT])
    run.record("1", FT, reply='Gut,\n"danke"')
    (row,) = csv.DictReader(io.StringIO(run.to_csv()))
    assert row["question"] == "Wie geht's?\nGut?"
    assert row["reference"] == "Sehr gut, danke 😊"
    assert row["reply"] == 'Gut,\n"danke"'


# The store ------------------------------------------------------------------------------------


def test_a_saved_run_loads_back_with_its_answers_and_scores(tmp_path):
    store = EvalStore(tmp_path)
    run = scored_run()
    run.label = "support.jsonl, 4 examples"
    run.profile_id = "openai-1"
    run.temperature = 0.0
    run.max_output_tokens = 300
    run.cancel()
    path = store.save(run)
    assert path == tmp_path / "run1.json"
    loaded = store.load("run1")
    assert loaded.to_dict() == run.to_dict()
    assert loaded.items == run.items
    assert loaded.summary(CATALOG) == run.summary(CATALOG)
    assert loaded.result("1", BASE) == run.result("1", BASE)


def test_runs_are_listed_newest_first_and_damaged_files_reported(tmp_path):
    store = EvalStore(tmp_path)
    for run_id, created in (("a", 3.0), ("b", 1.0), ("c", 2.0)):
        store.save(EvalRun(four_items(), [FT], run_id=run_id, created=created))
    (tmp_path / "bad.json").write_text('{"schema_version": 1, "items": "nope"}')
    listing = store.list()
    assert [run.id for run in listing.items] == ["a", "c", "b"]
    assert [s.path.name for s in listing.skipped] == ["bad.json"]
    assert "items" in listing.skipped[0].reason
    assert store.delete("c") is True
    assert store.delete("c") is False
    assert [run.id for run in store.list().items] == ["a", "b"]
    with pytest.raises(StoreError):
        store.load("bad")
    with pytest.raises(ValueError, match="not a run id"):
        store.load("../a")


def test_a_run_file_renamed_by_hand_is_skipped(tmp_path):
    store = EvalStore(tmp_path)
    path = store.save(EvalRun(four_items(), [FT], run_id="original"))
    path.rename(tmp_path / "copy.json")
    listing = store.list()
    assert listing.items == []
    assert "renamed by hand" in listing.skipped[0].reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(state="exploded"), "state"),
        (lambda d: d.update(schema_version=2), "newer version"),
        (lambda d: d["results"].append({"item": "9", "model": FT, "reply": "x"}), "not part"),
        (lambda d: d["results"][0].update(rating="meh"), "rating"),
        (lambda d: d["results"][0].update(tokens_in=-1), "tokens_in"),
        (lambda d: d["items"][0].update(messages=[1]), "messages"),
        (lambda d: d.update(models=[FT, FT]), "different"),
    ],
)
def test_damaged_runs_are_refused_with_the_reason(tmp_path, change, reason):
    data = scored_run().to_dict()
    change(data)
    (tmp_path / "run1.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match=reason):
        EvalStore(tmp_path).load("run1")


# Cost estimate --------------------------------------------------------------------------------


class WordCounter:
    """A stand-in counter: every message costs 10 tokens, every word of text 1."""

    def count(self, example: dict) -> ExampleTokens:
        return ExampleTokens(10 * len(example["messages"]), 0)

    def count_text(self, text: str) -> int:
        return len(text.split())


def test_the_estimate_prices_prompt_and_reference_tokens():
    items = items_from_examples([qa("q", "one two three", system="s"), qa("q", "four five")]).items
    estimate = estimate_eval_cost(items, [FT, BASE], CATALOG, lambda _: WordCounter())
    ft, base = estimate.models
    assert (ft.prompt_tokens, ft.output_tokens) == (30, 5)
    assert ft.cost_usd == pytest.approx((30 * 0.80 + 5 * 3.20) / 1_000_000)
    assert (base.prompt_tokens, base.output_tokens, base.cost_usd) == (30, 5, None)
    assert estimate.total_usd == ft.cost_usd
    assert estimate.unknown_price_models == (BASE,)


def test_the_expected_answer_length_can_be_set():
    items = four_items()
    estimate = estimate_eval_cost(items, [FT], CATALOG, lambda _: WordCounter(), 100)
    (ft,) = estimate.models
    assert ft.output_tokens == 400
    assert ft.cost_usd == pytest.approx((4 * 10 * 0.80 + 400 * 3.20) / 1_000_000)
    with pytest.raises(ValueError, match="negative"):
        estimate_eval_cost(items, [FT], CATALOG, lambda _: WordCounter(), -1)


def test_no_known_price_gives_no_total():
    estimate = estimate_eval_cost(four_items(), ["llama3"], CATALOG, lambda _: WordCounter())
    assert estimate.total_usd is None


def test_the_estimate_counts_real_tokens_like_a_request():
    counter = counter_for_model(FT)
    items = items_from_examples([qa("Hello", "Hi there")]).items
    (ft,) = estimate_eval_cost(items, [FT], CATALOG).models
    per_message = 3 + counter.count_text("user") + counter.count_text("Hello")
    assert ft.prompt_tokens == per_message + 3
    assert ft.output_tokens == counter.count_text("Hi there")


# Scheduler ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pairs(n: int) -> list[Pair]:
    return [Pair(str(i), FT) for i in range(1, n + 1)]


def take_all(scheduler: EvalScheduler) -> list[Pair]:
    out = []
    while (pair := scheduler.next_pair()) is not None:
        out.append(pair)
    return out


def test_no_more_than_the_limit_is_in_flight_and_results_come_back_in_any_order():
    scheduler = EvalScheduler(pairs(5), max_concurrency=2, clock=Clock())
    first = take_all(scheduler)
    assert first == pairs(2)
    assert scheduler.wait_seconds() is None
    scheduler.on_result(first[1])
    assert take_all(scheduler) == [Pair("3", FT)]
    scheduler.on_result(first[0])
    scheduler.on_result(Pair("3", FT))
    assert take_all(scheduler) == [Pair("4", FT), Pair("5", FT)]
    assert scheduler.remaining == 0 and scheduler.in_flight == 2
    assert not scheduler.is_finished
    scheduler.on_result(Pair("5", FT))
    scheduler.on_result(Pair("4", FT))
    assert scheduler.is_finished
    assert scheduler.wait_seconds() is None


def test_a_rate_limit_requeues_halves_and_pauses_for_retry_after():
    clock = Clock()
    scheduler = EvalScheduler(pairs(10), max_concurrency=4, clock=clock)
    sent = take_all(scheduler)
    assert len(sent) == 4
    assert scheduler.on_rate_limited(sent[0], retry_after=7.5) == 7.5
    assert scheduler.limit == 2
    assert scheduler.remaining == 7
    # Three still in flight, limit two: nothing goes out, whatever the time.
    clock.now += 60
    assert scheduler.next_pair() is None
    scheduler.on_result(sent[1])
    scheduler.on_result(sent[2])
    assert scheduler.wait_seconds() == 0.0
    assert scheduler.next_pair() == sent[0]  # the refused pair goes first again
    assert scheduler.next_pair() is None


def test_the_pause_is_respected_with_an_injected_clock():
    clock = Clock()
    scheduler = EvalScheduler(pairs(3), max_concurrency=2, clock=clock)
    first, second = take_all(scheduler)
    scheduler.on_result(second)
    scheduler.on_rate_limited(first, retry_after=5)
    assert scheduler.wait_seconds() == 5.0
    assert scheduler.next_pair() is None
    clock.now += 4.5
    assert scheduler.wait_seconds() == pytest.approx(0.5)
    assert scheduler.next_pair() is None
    clock.now += 0.5
    assert scheduler.next_pair() == first


def test_without_retry_after_the_pause_doubles_up_to_the_maximum():
    clock = Clock()
    scheduler = EvalScheduler(pairs(2), max_concurrency=1, clock=clock, max_delay=5.0)
    delays = []
    for _ in range(5):
        pair = scheduler.next_pair()
        assert pair is not None
        delays.append(scheduler.on_rate_limited(pair))
        clock.now += delays[-1]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert scheduler.limit == 1
    pair = scheduler.next_pair()
    assert pair is not None
    scheduler.on_result(pair)
    assert scheduler.on_rate_limited(take_all(scheduler)[0]) == 1.0


def test_one_burst_of_refusals_is_one_back_off():
    clock = Clock()
    scheduler = EvalScheduler(pairs(8), max_concurrency=8, clock=clock)
    sent = take_all(scheduler)
    assert scheduler.on_rate_limited(sent[0], retry_after=2) == 2
    for pair in sent[1:4]:
        scheduler.on_rate_limited(pair, retry_after=3)
    assert scheduler.limit == 4
    for pair in sent[4:]:
        scheduler.on_rate_limited(pair)
    assert scheduler.limit == 4
    assert scheduler.in_flight == 0
    assert scheduler.wait_seconds() == 3.0
    clock.now += 3
    assert take_all(scheduler) == sent[:4]


def test_the_limit_recovers_one_step_per_run_of_answers():
    clock = Clock()
    scheduler = EvalScheduler(pairs(40), max_concurrency=4, clock=clock, recover_after=3)
    sent = take_all(scheduler)
    scheduler.on_rate_limited(sent[0], retry_after=0)
    for pair in sent[1:]:
        scheduler.on_result(pair)  # sent before the back-off: they do not count
    assert scheduler.limit == 2
    limits = []
    for _ in range(12):
        pair = scheduler.next_pair()
        assert pair is not None
        scheduler.on_result(pair)
        limits.append(scheduler.limit)
    assert limits == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]


def test_cancel_drops_what_was_not_sent_but_accepts_answers_in_flight():
    scheduler = EvalScheduler(pairs(5), max_concurrency=2, clock=Clock())
    sent = take_all(scheduler)
    assert scheduler.cancel() == pairs(5)[2:]
    assert scheduler.next_pair() is None
    scheduler.on_result(sent[0])
    scheduler.on_result(sent[1])
    assert scheduler.is_finished


def test_answers_for_pairs_not_in_flight_are_refused():
    scheduler = EvalScheduler(pairs(2), clock=Clock())
    with pytest.raises(ValueError, match="not handed out"):
        scheduler.on_result(Pair("1", FT))
    pair = scheduler.next_pair()
    assert pair is not None
    scheduler.on_result(pair)
    with pytest.raises(ValueError, match="already answered"):
        scheduler.on_rate_limited(pair)


def test_the_scheduler_needs_a_positive_limit_and_ignores_repeated_pairs():
    with pytest.raises(ValueError, match="At least one"):
        EvalScheduler(pairs(1), max_concurrency=0)
    scheduler = EvalScheduler([*pairs(2), Pair("1", FT)], clock=Clock())
    assert scheduler.remaining == 2


def test_item_selection_without_skips_says_nothing():
    assert ItemSelection([], Counter()).skip_sentences() == []


def test_replies_that_score_almost_alike_tie_instead_of_deciding_the_win_rate():
    reference = " ".join(f"word{i}" for i in range(40))  # a long reply of 40 words
    run = EvalRun(
        items_from_examples([qa("q1", reference), qa("q2", reference)]).items,
        [FT, BASE],
        run_id="run2",
        created=1000.0,
    )
    run.start()
    one_word_more = " ".join(f"word{i}" for i in range(21))  # 21 of 40 words against 20
    half = " ".join(f"word{i}" for i in range(20))
    run.record("1", FT, reply=one_word_more)
    run.record("1", BASE, reply=half)
    run.record("2", FT, reply=reference)  # every word against half of them: a real win
    run.record("2", BASE, reply=half)
    ft = run.result("1", FT)
    base = run.result("1", BASE)
    assert ft is not None and base is not None
    assert 0 < ft.similarity - base.similarity < 0.05
    first, second = run.summary()
    assert (first.wins, first.ties, first.losses, first.win_rate) == (1, 1, 0, 0.5)
    assert (second.wins, second.ties, second.losses, second.win_rate) == (0, 1, 1, 0.0)

"""Few-shot prompts: which examples are shown, the system prompt, and the cost comparison."""

from __future__ import annotations

import pytest

from desktop.core.catalog import Catalog
from desktop.core.conversations import InferencePrices
from desktop.core.fewshot import build_few_shot, few_shot_tokens, most_common_system
from desktop.core.tokens import ExampleTokens, counter_for_model

CATALOG = Catalog.load()
BASE = "gpt-4.1-mini-2025-04-14"
FT = "ft:gpt-4.1-mini-2025-04-14:acme::AbC123"


def example(*turns: tuple[str, object]) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def qa(question: str, answer: str, system: str | None = None) -> dict:
    turns = [("system", system)] if system is not None else []
    return example(*turns, ("user", question), ("assistant", answer))


TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}


# The system prompt ----------------------------------------------------------------------------


def test_the_most_common_system_message_wins():
    examples = [qa("a", "b", "Be kind."), qa("c", "d", "Be brief."), qa("e", "f", "Be brief.")]
    assert most_common_system(examples) == "Be brief."


def test_a_tie_goes_to_the_first_system_message_seen():
    examples = [qa("a", "b", "Second"), qa("c", "d", "First"), qa("e", "f", "First")]
    examples.append(qa("g", "h", "Second"))
    assert most_common_system(examples) == "Second"


@pytest.mark.parametrize(
    "examples",
    [
        [],
        [qa("a", "b")],
        [qa("a", "b", "  "), qa("c", "d", "")],
        [example(("user", "a"), ("system", "late"), ("assistant", "b"))],
        [{"prompt": "a", "completion": "b"}, "text", {"messages": "x"}, {"messages": [1]}],
        [example(("system", [{"type": "text", "text": "parts"}]), ("user", "a"))],
    ],
)
def test_no_leading_text_system_message_means_none(examples):
    assert most_common_system(examples) is None


# Building the prompt --------------------------------------------------------------------------

EXAMPLES = [
    qa("Where is my parcel?", "It is on its way.", "You help customers."),
    {"messages": [{"role": "user", "content": "Call the tool"}, TOOL_CALL]},
    example(
        ("system", "You help customers."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Refund?"),
        ("assistant", "Within 30 days."),
    ),
    example(("assistant", "I start the chat"), ("user", "ok"), ("assistant", "fine")),
    example(("user", "No answer")),
    qa("Opening hours?", "9 to 5.", "Something else."),
    qa("Empty reply?", "  "),
    qa("Last one?", "Yes."),
]


def test_the_first_usable_examples_are_shown_in_order_after_the_system_prompt():
    messages = build_few_shot(EXAMPLES, 2)
    assert messages == [
        {"role": "system", "content": "You help customers."},
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It is on its way."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Refund?"},
        {"role": "assistant", "content": "Within 30 days."},
    ]


def test_asking_for_more_examples_than_usable_shows_every_usable_one():
    messages = build_few_shot(EXAMPLES, 50)
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["Where is my parcel?", "Hi", "Refund?", "Opening hours?", "Last one?"]
    assert [m["role"] for m in messages].count("system") == 1


def test_the_system_prompt_can_be_chosen_or_left_out():
    custom = build_few_shot(EXAMPLES, 1, system="Answer in French.")
    assert custom[0] == {"role": "system", "content": "Answer in French."}
    assert build_few_shot(EXAMPLES, 1, system="")[0]["role"] == "user"
    assert build_few_shot([qa("a", "b")], 1) == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]


def test_zero_examples_leaves_only_the_system_prompt():
    assert build_few_shot(EXAMPLES, 0) == [{"role": "system", "content": "You help customers."}]
    with pytest.raises(ValueError, match="negative"):
        build_few_shot(EXAMPLES, -1)


def test_a_seed_picks_a_reproducible_sample_kept_in_dataset_order():
    examples = [qa(f"q{i}", f"a{i}") for i in range(30)]
    first = build_few_shot(examples, 5, seed=3)
    assert first == build_few_shot(examples, 5, seed=3)
    assert first != build_few_shot(examples, 5, seed=4)
    questions = [int(m["content"][1:]) for m in first if m["role"] == "user"]
    assert len(questions) == 5
    assert questions == sorted(questions)
    for question in questions:
        position = first.index({"role": "user", "content": f"q{question}"})
        assert first[position + 1] == {"role": "assistant", "content": f"a{question}"}


def test_extra_keys_are_not_copied_into_the_prompt():
    data = qa("a", "b")
    data["messages"][0]["name"] = "alice"
    data["messages"][1]["weight"] = 0
    assert build_few_shot([data], 1) == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]


# Sizes and costs ------------------------------------------------------------------------------


class WordCounter:
    """A stand-in counter: a message costs 4 tokens plus its words, a request 3 more."""

    def count(self, example: dict) -> ExampleTokens:
        messages = example["messages"]
        return ExampleTokens(3 + sum(4 + len(m["content"].split()) for m in messages), 0)

    def count_text(self, text: str) -> int:
        return len(text.split())


SIZED = [
    qa("a b", "c d e", "Be brief please"),
    qa("f", "g h", "Be brief please"),
    qa("x y z", "v", "Other"),
]


def test_the_figures_compare_few_shot_with_a_fine_tuned_model():
    messages = build_few_shot(SIZED, 2)
    figures = few_shot_tokens(
        messages,
        SIZED,
        BASE,
        catalog=CATALOG,
        counter=WordCounter(),  # type: ignore[arg-type]
        base_prices=InferencePrices(input_per_1m=1.0, output_per_1m=2.0),
    )
    # System 4+3, shown turns (4+2) + (4+3) + (4+1) + (4+2).
    assert figures.prefix_tokens == 31
    assert figures.system_tokens == 7
    # Questions cost 4 + words + 3 for the request: 9, 8, 10; answers 3, 2, 1 words.
    assert figures.question_tokens == 9
    assert figures.answer_tokens == 2
    assert figures.few_shot_prompt_tokens == 40
    assert figures.fine_tuned_prompt_tokens == 16
    assert figures.few_shot_per_1000 == pytest.approx((40_000 * 1.0 + 2_000 * 2.0) / 1e6)
    # Fine-tuned gpt-4.1-mini: 0.80 in, 3.20 out per 1M tokens.
    assert figures.fine_tuned_per_1000 == pytest.approx((16_000 * 0.80 + 2_000 * 3.20) / 1e6)


def test_a_base_model_without_a_known_price_has_no_few_shot_cost():
    messages = build_few_shot(SIZED, 2)
    figures = few_shot_tokens(messages, SIZED, BASE, catalog=CATALOG, counter=WordCounter())  # type: ignore[arg-type]
    assert figures.few_shot_per_1000 is None
    assert figures.fine_tuned_per_1000 is not None


def test_few_shot_on_a_fine_tuned_model_uses_its_price():
    messages = build_few_shot(SIZED, 2)
    figures = few_shot_tokens(messages, SIZED, FT, catalog=CATALOG, counter=WordCounter())  # type: ignore[arg-type]
    assert figures.few_shot_per_1000 == pytest.approx((40_000 * 0.80 + 2_000 * 3.20) / 1e6)


def test_unknown_models_and_no_examples_give_no_costs_and_no_question_size():
    figures = few_shot_tokens([], [], "llama3:8b", catalog=CATALOG, counter=WordCounter())  # type: ignore[arg-type]
    assert (figures.prefix_tokens, figures.system_tokens) == (0, 0)
    assert (figures.question_tokens, figures.answer_tokens) == (0.0, 0.0)
    assert figures.few_shot_per_1000 is None and figures.fine_tuned_per_1000 is None


def test_real_token_counts_follow_the_notebook_rules():
    counter = counter_for_model(BASE)
    messages = build_few_shot(EXAMPLES, 3)
    figures = few_shot_tokens(messages, EXAMPLES, BASE, catalog=CATALOG)
    expected = sum(
        3 + counter.count_text(m["role"]) + counter.count_text(m["content"]) for m in messages
    )
    assert figures.prefix_tokens == expected
    system = messages[0]
    assert figures.system_tokens == 3 + counter.count_text("system") + counter.count_text(
        system["content"]
    )
    assert figures.prefix_tokens > figures.system_tokens > 0

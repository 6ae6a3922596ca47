"""The fast counter (quicktok) counts exactly what tiktoken counts, or is not used at all."""

from __future__ import annotations

import logging
import random
import sys

import pytest
import quicktok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core import tokens
from desktop.core.tokens import (
    OPEN_MODEL_ENCODINGS,
    SELF_CHECK_TEXTS,
    SUPPORTED_ENCODINGS,
    ExampleTokens,
    TokenCounter,
    encoding_choice,
    get_counter,
    get_encoding,
)
from tests.benchmarks.generate import SYSTEM_PROMPTS, WORDS, example, paragraph

ALL_ENCODINGS = (*SUPPORTED_ENCODINGS, *OPEN_MODEL_ENCODINGS)

CODE = (
    "import os\n\n\ndef main(argv: list[str]) -> int:\n    for i, arg in enumerate(argv):\n"
    "        print(f'{i:>3}: {arg!r}')  # show each\n    return 0\n",
    "SELECT id, name FROM users WHERE email LIKE '%@example.com' ORDER BY 2 DESC;",
    '#include <stdio.h>\nint main(void){printf("%d\\n", 42);return 0;}',
    "const x = async () => { await fetch(`/api/${id}?q=${encodeURIComponent(q)}`); };",
    '{"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function"}]}',
    "    \t\t    \n\n\n\r\n\r\n        indented\u3000\u3000全角",
)
SPECIAL = (
    "<|endoftext|>",
    "before<|endoftext|>after",
    "<|fim_prefix|><|fim_middle|><|fim_suffix|>",
    "<|endofprompt|> <|im_start|>system<|im_end|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|><|eot_id|>",
    "<|reserved_special_token_0|> <tool_call></tool_call> <|vision_start|>",
)


def corpus() -> list[str]:
    """Multilingual prose, emoji, code, whitespace runs and special-token strings."""
    rng = random.Random(16)
    texts = list(SELF_CHECK_TEXTS) + list(CODE) + list(SPECIAL) + list(SYSTEM_PROMPTS)
    for language in WORDS:
        texts.extend(paragraph(rng, language, 40) for _ in range(25))
    for _ in range(100):
        for message in example(rng)["messages"]:
            texts.append(message["content"])
    emoji = "😀🚀🔥👍🏽👨‍👩‍👧‍👦🇩🇪❤️☕️1️⃣🙂"
    for _ in range(50):
        pieces = rng.choices(
            [*emoji, " ", "\n", "  ", "a", "Ä", "日", "1", "'s", "<|endoftext|>"], k=40
        )
        texts.append("".join(pieces))
    for size in (1, 2, 3, 10, 100, 1000, 5000):
        texts.extend([" " * size, "\n" * size, "\t" * size, "x" * size, "9" * size, "é" * size])
    return texts


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_the_fast_counter_agrees_with_tiktoken_on_the_corpus(name):
    counter = get_counter(name)
    fast = tokens._fast_counter(name)
    texts = corpus()
    mismatches = []
    for text in texts:
        expected = counter.reference_count(text)
        counted = fast(text)
        if counted != expected:
            mismatches.append((text[:40], counted, expected))
    assert len(texts) > 700
    assert mismatches == []


_ANY_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()),
    max_size=200,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ANY_TEXT | st.lists(st.sampled_from(corpus()[:60]), max_size=5).map("".join))
def test_the_fast_counter_agrees_with_tiktoken_on_any_text(text):
    for name in ALL_ENCODINGS:
        expected = get_counter(name).reference_count(text)
        assert tokens._fast_counter(name)(text) == expected


def test_the_app_counts_with_the_fast_counter_when_it_is_installed():
    assert quicktok.__version__
    for name in ALL_ENCODINGS:
        assert get_counter(name).accelerated, get_counter(name).fallback_reason


def test_a_counter_that_fails_the_start_up_check_is_not_used(caplog):
    caplog.set_level(logging.WARNING, logger="desktop.core.tokens")
    wrong = TokenCounter(get_encoding("o200k_base"), fast=len)  # counts characters
    assert not wrong.accelerated
    assert "tiktoken from now on" in caplog.text
    assert wrong.count_text("Hello, world!") == 4


def test_a_disagreement_on_a_dataset_switches_to_tiktoken_and_counts_the_batch_again(caplog):
    caplog.set_level(logging.WARNING, logger="desktop.core.tokens")
    encoding = get_encoding("o200k_base")
    real = tokens._fast_counter("o200k_base")

    def off_by_one_on_zebras(text: str) -> int:
        return real(text) + ("zebra" in text)

    counter = TokenCounter(encoding, fast=off_by_one_on_zebras)
    assert counter.accelerated  # the start-up corpus has no zebra
    examples = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(200)]
    examples.append({"messages": [{"role": "user", "content": "a zebra crossing " * 50}]})
    expected = [TokenCounter(encoding, fast=False).count(e) for e in examples]
    assert counter.count_many(examples) == expected
    assert not counter.accelerated
    assert "zebra" not in caplog.text  # the text itself is private
    assert "o200k_base" in caplog.text and "tiktoken from now on" in caplog.text


def test_the_sample_holds_the_longest_and_the_non_ascii_texts():
    texts = [f"text {i}" for i in range(1000)] + ["x" * 5000, "日本語", "y" * 80_000]
    sample = tokens._sample(texts, 24)
    assert len(sample) <= 24
    assert "x" * 5000 in sample and "日本語" in sample
    assert "y" * 80_000 not in sample  # too long to count twice cheaply


def test_a_failed_import_falls_back_to_tiktoken_silently(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="desktop.core.tokens")
    monkeypatch.setitem(sys.modules, "quicktok", None)  # "import quicktok" raises ImportError
    assert tokens._fast_counter("o200k_base") is None
    counter = TokenCounter(get_encoding("o200k_base"))
    assert not counter.accelerated
    assert counter.count({"messages": [{"role": "user", "content": "hi"}]}) == ExampleTokens(
        3 + 1 + 1 + 3, 0
    )
    assert caplog.text == ""


def test_the_fast_counter_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(tokens.FAST_COUNTER_VARIABLE, "0")
    assert not TokenCounter(get_encoding("cl100k_base")).accelerated


def test_each_batch_of_new_texts_has_its_longest_and_non_ascii_texts_checked():
    encoding = get_encoding("o200k_base")
    counter = TokenCounter(encoding)
    checked: list[str] = []

    def reference(text: str) -> list[int]:
        checked.append(text)
        return encoding.encode_ordinary(text)

    counter._reference = reference
    counter.CHUNK_EXAMPLES = 300
    examples = []
    for batch in range(3):
        for i in range(300):
            content = f"batch {batch} question {i}"
            if i == 100:
                content = f"the longest text of batch {batch} " * 40
            if i == 200:
                content = f"Größe {batch} — 日本語"
            examples.append({"messages": [{"role": "user", "content": content}]})
    counter.count_many(examples)
    for batch in range(3):
        assert f"the longest text of batch {batch} " * 40 in checked
        assert f"Größe {batch} — 日本語" in checked
    assert len(checked) <= 3 * tokens.SAMPLE_PER_BATCH
    assert counter.accelerated


@pytest.mark.parametrize(
    ("model_id", "encoding"),
    [
        ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "llama3"),
        ("meta-llama/Llama-3.3-70B-Instruct", "llama3"),
        ("ft:meta-llama/Llama-3.2-3B-Instruct:team:run:1", "llama3"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen3"),
        ("Qwen/Qwen3-14B", "qwen3"),
        ("qwen2-72b-instruct", "qwen3"),
    ],
)
def test_open_models_are_counted_with_their_own_tokenizer(model_id, encoding):
    choice = encoding_choice(model_id)
    assert (choice.encoding, choice.is_guess) == (encoding, False)
    counter = tokens.counter_for_model(model_id)
    assert counter.encoding_name == encoding and counter.accelerated
    text = "Straße — 日本語 🚀 don't <|begin_of_text|> e\u0301"
    assert counter.count_text(text) == counter.reference_count(text)


def test_qwen_counts_text_in_normal_form_c_as_its_tokenizer_does():
    counter = get_counter("qwen3")
    assert counter.count_text("e\u0301") == counter.count_text("\u00e9")
    llama = get_counter("llama3")
    assert llama.count_text("e\u0301") != llama.count_text("\u00e9")


def test_other_open_models_are_a_guess(monkeypatch):
    for model_id in ("meta-llama/Llama-4-Scout-17B", "mistralai/Mistral-7B", "Qwen/QwQ-32B"):
        assert encoding_choice(model_id).is_guess
    monkeypatch.setenv(tokens.FAST_COUNTER_VARIABLE, "0")  # as without quicktok
    tokens.open_model_encodings.cache_clear()
    try:
        choice = encoding_choice("meta-llama/Llama-3.3-70B-Instruct")
        assert (choice.encoding, choice.is_guess) == ("o200k_base", True)
    finally:
        tokens.open_model_encodings.cache_clear()

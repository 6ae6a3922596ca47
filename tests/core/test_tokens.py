"""Token counting: shipped encodings only, notebook-exact text counts, documented estimates."""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import time
from pathlib import Path

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core import tokens
from desktop.core.resources import resources_dir
from desktop.core.tokens import (
    CL100K_BASE,
    IMAGE_TOKENS_HIGH,
    IMAGE_TOKENS_LOW,
    O200K_BASE,
    TOOL_CALL_OVERHEAD,
    EncodingCache,
    EncodingFileError,
    ExampleTokens,
    TokenCounter,
    encoding_choice,
    encoding_for_model,
    get_encoding,
    load_encoding,
)

O200K = get_encoding(O200K_BASE)
CL100K = get_encoding(CL100K_BASE)


def pieces(encoding: tiktoken.Encoding, text: str) -> list[bytes]:
    return [encoding.decode_single_token_bytes(t) for t in encoding.encode_ordinary(text)]


def notebook_count(example: dict, encoding: tiktoken.Encoding) -> tuple[int, int]:
    """The cookbook notebook's counter, with special-token text allowed as plain text."""
    total = 0
    for message in example["messages"]:
        total += 3
        for key, value in message.items():
            total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += 1
    total += 3
    assistant = sum(
        len(encoding.encode(m["content"], disallowed_special=()))
        for m in example["messages"]
        if m["role"] == "assistant"
    )
    return total, assistant


def n(encoding: tiktoken.Encoding, text: str) -> int:
    return len(encoding.encode_ordinary(text))


# -- hand-checked counts ------------------------------------------------------------------------


def test_two_message_example_counted_by_hand_o200k():
    assert pieces(O200K, "user") == [b"user"]
    assert pieces(O200K, "Hello!") == [b"Hello", b"!"]
    assert pieces(O200K, "assistant") == [b"assistant"]
    assert pieces(O200K, "Hi there.") == [b"Hi", b" there", b"."]
    example = {
        "messages": [
            {"role": "user", "content": "Hello!"},
            {"role": "assistant", "content": "Hi there."},
        ]
    }
    # (3 + 1 + 2) + (3 + 1 + 3) + 3 priming = 16; assistant content = 3.
    assert TokenCounter(O200K).count(example) == ExampleTokens(16, 3, False)


def test_message_with_name_counted_by_hand_cl100k():
    assert pieces(CL100K, "system") == [b"system"]
    assert pieces(CL100K, "example_user") == [b"example", b"_user"]
    assert pieces(CL100K, "Hi") == [b"Hi"]
    example = {
        "messages": [
            {"role": "system", "name": "example_user", "content": "Hi"},
            {"role": "assistant", "content": "Hi there."},
        ]
    }
    # (3 + 1 + 2 + 1 for the name key + 1) + (3 + 1 + 3) + 3 = 18.
    assert TokenCounter(CL100K).count(example) == ExampleTokens(18, 3, False)


def test_endoftext_in_user_text_is_plain_text():
    text = "Say <|endoftext|> now"
    assert pieces(O200K, text) == [
        b"Say",
        b" <",
        b"|",
        b"end",
        b"of",
        b"text",
        b"|",
        b">",
        b" now",
    ]
    with pytest.raises(ValueError):  # what the notebook's plain encode() would do
        O200K.encode(text)
    example = {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
    }
    # (3 + 1 + 9) + (3 + 1 + 0) + 3 = 20.
    assert TokenCounter(O200K).count(example) == ExampleTokens(20, 0, False)


# -- model → encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("gpt-4o-2024-08-06", O200K_BASE),
        ("gpt-4o-mini", O200K_BASE),
        ("gpt-4o-mini-2024-07-18", O200K_BASE),
        ("gpt-4.1-2025-04-14", O200K_BASE),
        ("gpt-4.1-nano-2025-04-14", O200K_BASE),
        ("o4-mini", O200K_BASE),
        ("o4-mini-2025-04-16", O200K_BASE),
        ("gpt-3.5-turbo", CL100K_BASE),
        ("gpt-3.5-turbo-0613", CL100K_BASE),
        ("gpt-4", CL100K_BASE),
        ("gpt-4-0613", CL100K_BASE),
        ("gpt-4-turbo", CL100K_BASE),
        ("davinci-002", CL100K_BASE),
        ("babbage-002", CL100K_BASE),
        # tiktoken maps this one to cl100k_base (its "ft:gpt-4" prefix wins):
        ("ft:gpt-4.1-mini-2025-04-14:org:suffix:abc123", O200K_BASE),
        # tiktoken raises KeyError for this one:
        ("ft:o4-mini-2025-04-16:org:suffix:abc123", O200K_BASE),
        ("ft:gpt-4o-mini-2024-07-18:org:suffix:abc123:ckpt-step-88", O200K_BASE),
        ("ft:gpt-3.5-turbo-0125:org::abc123", CL100K_BASE),
        ("ft:gpt-4-0613:org:suffix:abc123", CL100K_BASE),
        ("ft:davinci-002:org:suffix:abc123", CL100K_BASE),
        ("  GPT-4O-MINI ", O200K_BASE),
    ],
)
def test_encoding_for_model(model_id, expected):
    choice = encoding_choice(model_id)
    assert choice.encoding == expected
    assert encoding_for_model(model_id) == expected
    assert choice.is_guess is False


@pytest.mark.parametrize("model_id", ["my-azure-deployment", "ft:mystery-model:org::x", "", "ft:"])
def test_unknown_model_is_a_guess_of_o200k(model_id):
    choice = encoding_choice(model_id)
    assert choice.encoding == O200K_BASE
    assert choice.is_guess is True
    assert "not known" in choice.note


def test_base_model_of_checkpoint():
    assert (
        tokens.base_model_id("ft:gpt-4o-mini-2024-07-18:org:suffix:abc:ckpt-step-88")
        == "gpt-4o-mini-2024-07-18"
    )


# -- loading the shipped files -------------------------------------------------------------------


def test_shipped_checksums_match_pinned_hashes():
    sums = {}
    for line in (resources_dir() / "encodings" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    for spec in tokens._SPECS.values():
        assert sums[spec.file_name] == spec.sha256


def test_loaded_encoding_matches_tiktoken_definition():
    assert O200K.name == O200K_BASE
    assert O200K.n_vocab == 200019
    assert CL100K.n_vocab == 100277
    assert O200K.encode("<|endoftext|>", allowed_special="all") == [199999]
    assert CL100K.encode("<|endoftext|>", allowed_special="all") == [100257]


def test_corrupted_file_fails_with_clear_error(tmp_path: Path):
    source = resources_dir() / "encodings" / "cl100k_base.tiktoken"
    target = tmp_path / "cl100k_base.tiktoken"
    shutil.copyfile(source, target)
    data = bytearray(target.read_bytes())
    data[1000] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(EncodingFileError) as caught:
        load_encoding(CL100K_BASE, tmp_path)
    message = str(caught.value)
    assert str(target) in message
    assert "damaged" in message


def test_missing_file_fails_with_clear_error(tmp_path: Path):
    with pytest.raises(EncodingFileError) as caught:
        EncodingCache(tmp_path).get(O200K_BASE)
    assert str(tmp_path / "o200k_base.tiktoken") in str(caught.value)
    assert "missing" in str(caught.value)


def test_unknown_encoding_name_is_refused():
    with pytest.raises(ValueError, match="p50k_base"):
        load_encoding("p50k_base")


def test_loading_touches_no_network_and_no_tiktoken_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache_dir = tmp_path / "tiktoken-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    encoding = EncodingCache().get(CL100K_BASE)
    assert encoding.encode_ordinary("hello world") == CL100K.encode_ordinary("hello world")
    assert list(cache_dir.iterdir()) == []


def test_encoding_cache_loads_once_and_shares_counters(tmp_path: Path):
    shutil.copyfile(
        resources_dir() / "encodings" / "cl100k_base.tiktoken", tmp_path / "cl100k_base.tiktoken"
    )
    cache = EncodingCache(tmp_path)
    assert cache.loaded() == ()
    first = cache.get(CL100K_BASE)
    (tmp_path / "cl100k_base.tiktoken").unlink()  # a second load would now fail
    assert cache.get(CL100K_BASE) is first
    assert cache.loaded() == (CL100K_BASE,)
    assert cache.counter(CL100K_BASE) is cache.counter(CL100K_BASE)
    assert tokens.get_encoding(O200K_BASE) is O200K
    assert tokens.counter_for_model("ft:o4-mini-2025-04-16:o::x").encoding_name == O200K_BASE


# -- the text cache ------------------------------------------------------------------------------


def _spying_counter(encoding: tiktoken.Encoding, **options) -> tuple[TokenCounter, list[str]]:
    """A counter whose fast counter is tiktoken itself, recording what it counts."""
    calls: list[str] = []

    def spy(text: str) -> int:
        calls.append(text)
        return len(encoding.encode_ordinary(text))

    counter = TokenCounter(encoding, fast=spy, **options)
    calls.clear()  # the start-up check
    return counter, calls


def test_identical_texts_are_encoded_once():
    counter, calls = _spying_counter(O200K)
    system = {"role": "system", "content": "You are terse."}
    examples = [{"messages": [system, {"role": "user", "content": f"q{i}"}]} for i in range(3)]
    for example in examples:
        counter.count(example)
    assert calls.count("You are terse.") == 1
    assert calls.count("system") == 1
    assert calls.count("user") == 1
    info = counter.cache_info()
    assert info.misses == len(calls) == 6
    assert info.hits == 6  # "system", its content and "user" in examples 2 and 3
    calls.clear()
    assert counter.count_many(examples) == [counter.count(e) for e in examples]
    assert calls == []  # every text was cached


def test_cache_is_bounded_and_drops_its_older_half_when_full():
    counter, calls = _spying_counter(O200K, max_cached_texts=4)
    for text in ["a", "bb", "ccc", "dddd", "eeeee"]:
        counter.count_text(text)
    assert counter.cache_info().entries == 3  # "ccc", "dddd" and the new "eeeee"
    calls.clear()
    for text in ["ccc", "dddd", "eeeee"]:
        assert counter.count_text(text) == n(O200K, text)
    assert calls == []
    assert counter.count_text("a") == 1
    assert calls == ["a"]
    counter.clear_cache()
    assert counter.cache_info().entries == 0
    assert TokenCounter(O200K, max_cached_texts=0).count_text("hi") == 1


def test_the_cache_keeps_no_text_alive():
    counter = TokenCounter(O200K)
    counter.count_many([{"messages": [{"role": "user", "content": "x" * 10_000}]}])
    assert counter.cache_info().entries == 2
    assert all(type(key) is int for key in counter._cache._data)


def test_a_text_with_the_same_hash_but_another_length_is_not_taken_for_it():
    counter, calls = _spying_counter(O200K)
    counter.count_text("one two three")
    cache = counter._cache
    packed = cache._data.pop(hash("one two three"))
    cache._data[hash("four")] = packed  # as if "four" collided with it
    assert counter.count_text("four") == n(O200K, "four")
    assert calls[-1] == "four"


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.text(alphabet="abcd", min_size=1, max_size=4), max_size=6) | st.just(None),
        max_size=12,
    ),
    max_texts=st.integers(0, 6),
)
def test_cache_keeps_its_newest_half_when_full_like_the_policy_spelled_out(batches, max_texts):
    counter = TokenCounter(O200K, fast=False, max_cached_texts=max_texts)
    cache = counter._cache
    kept: dict[str, int] = {}  # the same policy, spelled out
    for batch in batches:
        if batch is None:
            cache.clear()
            kept.clear()
            continue
        cache.put_many((text, len(text) + 1) for text in batch)
        step = max(1, max_texts // 2)
        for start in range(0, len(batch) if max_texts > 0 else 0, step):
            part = batch[start : start + step]
            if len(kept) + len(part) > max_texts:
                kept = dict(list(kept.items())[len(kept) - max_texts // 2 :])
            for text in part:
                kept[text] = len(text) + 1
        assert cache.info().entries == len(kept)
        for text, count in kept.items():
            assert cache.get(text) == count


# -- estimates for what the notebook cannot count ----------------------------------------------


def test_tool_calls_and_tools_are_estimated():
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    example = {
        "messages": [
            {"role": "user", "content": "Add 2 and 3."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a":2,"b":3}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "5"},
            {"role": "assistant", "content": "5."},
        ],
        "tools": tools,
        "parallel_tool_calls": False,
    }
    call = n(O200K, "add") + n(O200K, '{"a":2,"b":3}') + TOOL_CALL_OVERHEAD
    expected_total = (
        (3 + n(O200K, "user") + n(O200K, "Add 2 and 3."))
        + (3 + n(O200K, "assistant") + call)
        + (3 + n(O200K, "tool") + n(O200K, "call_1") + n(O200K, "5"))
        + (3 + n(O200K, "assistant") + n(O200K, "5."))
        + 3
        + n(O200K, json.dumps(tools, separators=(",", ":")))
    )
    result = TokenCounter(O200K).count(example)
    assert result == ExampleTokens(expected_total, call + n(O200K, "5."), True)


def test_image_parts_use_documented_fixed_counts():
    def example(detail: str | None) -> dict:
        image: dict = {"url": "https://example.com/cat.png"}
        if detail is not None:
            image["detail"] = detail
        return {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": image},
                    ],
                },
                {"role": "assistant", "content": "A cat."},
            ]
        }

    text_only = 3 + 1 + n(O200K, "What is this?") + 3 + 1 + n(O200K, "A cat.") + 3
    counter = TokenCounter(O200K)
    assert counter.count(example("low")) == ExampleTokens(
        text_only + IMAGE_TOKENS_LOW, n(O200K, "A cat."), True
    )
    for detail in ("high", "auto", None):
        assert counter.count(example(detail)).total == text_only + IMAGE_TOKENS_HIGH


def test_weight_counts_zero_but_marks_estimate():
    plain = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    }
    weighted = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo", "weight": 0},
        ]
    }
    counter = TokenCounter(O200K)
    assert counter.count(plain).estimated is False
    assert counter.count(weighted) == ExampleTokens(counter.count(plain).total, 1, True)


def test_odd_values_never_raise():
    counter = TokenCounter(O200K)
    odd = {
        "messages": [
            "not a message",
            {"role": 7, "content": {"x": [1, 2]}, "name": None},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}, {"type": "audio"}]},
            {"role": "assistant", "function_call": {"name": "f", "arguments": {"a": 1}}},
            {"role": "assistant", "tool_calls": ["bad call"]},
        ]
    }
    result = counter.count(odd)
    assert result.estimated is True
    assert result.total > 5 * 3 + 3
    assert result.assistant >= n(O200K, "ok") + TOOL_CALL_OVERHEAD
    assert counter.count({"messages": "nope"}).estimated is True
    assert counter.count({"other": 1}) == ExampleTokens(0, 0, True)
    assert counter.count([1, 2]) == ExampleTokens(0, 0, True)


def test_preference_example_counts_input_and_both_outputs():
    example = {
        "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "London, I think."}],
    }
    good = n(O200K, "Paris.")
    bad = n(O200K, "London, I think.")
    expected = (3 + 1 + n(O200K, "Capital of France?") + 3) + (3 + 1 + good) + (3 + 1 + bad)
    assert TokenCounter(O200K).count(example) == ExampleTokens(expected, good + bad, True)


@pytest.mark.parametrize("answer_key", ["completion", "response"])
def test_legacy_examples_count_prompt_plus_answer(answer_key):
    example = {"prompt": "Translate: chat ->", answer_key: " cat"}
    answer = n(CL100K, " cat")
    assert TokenCounter(CL100K).count(example) == ExampleTokens(
        n(CL100K, "Translate: chat ->") + answer, answer, False
    )
    assert TokenCounter(CL100K).count({"prompt": 5, answer_key: "x"}).estimated is True


# -- batch == single == notebook ----------------------------------------------------------------


def _mixed_examples() -> list[object]:
    examples: list[object] = []
    for i in range(300):
        examples.append(
            {
                "messages": [
                    {"role": "system", "content": "Shared system prompt."},
                    {"role": "user", "content": f"Question number {i} about {i * 7}?"},
                    {"role": "assistant", "content": f"Answer {i}: " + "blah " * (i % 13)},
                ]
            }
        )
    examples += [
        {"prompt": "p", "completion": "c"},
        {"prompt": "p", "response": "r"},
        {
            "input": {"messages": [{"role": "user", "content": "x"}]},
            "preferred_output": [{"role": "assistant", "content": "y"}],
            "non_preferred_output": [{"role": "assistant", "content": "z"}],
        },
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "not an example",
        None,
    ]
    return examples


def test_count_many_equals_count():
    examples = _mixed_examples()
    singles = [TokenCounter(O200K).count(e) for e in examples]
    batch = TokenCounter(O200K).count_many(examples)
    assert batch == singles
    tiny = TokenCounter(O200K, max_cached_texts=5)
    tiny.CHUNK_EXAMPLES = 50  # several rounds with eviction in between
    assert tiny.count_many(iter(examples)) == singles
    assert tiny.count_many(examples) == singles  # second pass, partly cached


_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>", " ", "\n\n", "Hi!"]),
    st.lists(st.sampled_from(["<|endoftext|>", "héllo", "  ", "\n", "123", "🙂"]), max_size=6).map(
        "".join
    ),
)
_MESSAGE = st.builds(
    lambda role, content, name: (
        {"role": role, "content": content} | ({"name": name} if name is not None else {})
    ),
    st.sampled_from(["system", "user", "assistant"]),
    _TEXT,
    st.none() | _TEXT,
)
_EXAMPLE = st.builds(lambda messages: {"messages": messages}, st.lists(_MESSAGE, max_size=5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples=st.lists(_EXAMPLE, min_size=1, max_size=6), use_cl100k=st.booleans())
def test_text_examples_match_the_notebook(examples, use_cl100k):
    encoding = CL100K if use_cl100k else O200K
    expected = [ExampleTokens(*notebook_count(e, encoding), False) for e in examples]
    counter = TokenCounter(encoding, max_cached_texts=4)
    assert [counter.count(e) for e in examples] == expected
    assert TokenCounter(encoding, max_cached_texts=4).count_many(examples) == expected


def test_single_count_is_fast_enough_for_keystrokes():
    counter = TokenCounter(O200K)
    example = {
        "messages": [
            {"role": "system", "content": "You are a friendly support agent for Acme. " * 5},
            {"role": "user", "content": "My order has not arrived, what can I do? " * 3},
            {"role": "assistant", "content": "Sorry to hear that. Let me check. " * 20},
        ]
    }
    counter.count(example)
    durations = []
    for i in range(50):
        example["messages"][2]["content"] += f" {i}"  # one message changes, as when typing
        start = time.perf_counter()
        counter.count(example)
        durations.append(time.perf_counter() - start)
    assert statistics.median(durations) < 0.005


def test_counting_many_pauses_between_texts_with_the_same_results():
    examples = [
        {"messages": [{"role": "user", "content": f"question {i} " * (i % 7 + 1)}]}
        for i in range(600)
    ]
    plain = TokenCounter(O200K).count_many(examples)
    paused: list[int] = []
    counter = TokenCounter(O200K)
    assert counter.count_many(examples, lambda: paused.append(1)) == plain
    # once per example and once per text encoded
    assert len(paused) == len(examples) + counter.cache_info().misses


def test_a_value_nested_deeper_than_the_call_stack_allows_is_counted():
    """Non-text values count as their compact JSON, whatever their depth."""
    deep: list = []
    for _ in range(3000):
        deep = [deep]
    example = {"messages": [{"role": "user", "content": "hi", "x": deep}]}
    counter = TokenCounter(O200K)
    counted = counter.count(example)
    compact = "[" * 3001 + "]" * 3001
    texts = len(O200K.encode_ordinary("user")) + len(O200K.encode_ordinary("hi"))
    expected = 3 + 3 + texts + counter.count_text(compact)
    assert counted == ExampleTokens(expected, 0, True)
    assert counter.count_many([example]) == [counted]


def test_halves_of_characters_in_an_example_are_counted_without_failing():
    counter = TokenCounter(O200K)
    example = {"messages": [{"role": "user", "content": "hi \ud83d"}, {"weird": ["\udc00"]}]}
    assert counter.count(example).total > 0

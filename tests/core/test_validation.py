"""Validation: each finding code fires on a minimal bad example and not on its corrected form."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.findings import Finding, Severity
from desktop.core.kinds import ExampleKind
from desktop.core.validation import (
    FINDING_CODES,
    FINDING_SEVERITY,
    MAX_IMAGE_BYTES,
    ExampleFacts,
    example_facts,
    fingerprint,
    leaves_out_system_text,
    validate_dataset,
    validate_example,
)

LINE = 7
RECORD = 42


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def system(text="You are a helpful assistant.", **extra):
    return {"role": "system", "content": text, **extra}


def user(text="What is the capital of France?", **extra):
    return {"role": "user", "content": text, **extra}


def assistant(text="Paris.", **extra):
    return {"role": "assistant", "content": text, **extra}


def chat(*messages, **top):
    return {"messages": list(messages), **top}


PLAIN = chat(system(), user(), assistant())


def call(call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_result(call_id="call_1", text='{"temp": 21}', **extra):
    return {"role": "tool", "tool_call_id": call_id, "content": text, **extra}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def with_tool_call(*, calls=None, result=None):
    return chat(
        user("Weather in Paris?"),
        {"role": "assistant", "tool_calls": calls if calls is not None else [call()]},
        result if result is not None else tool_result(),
        assistant("It is 21 degrees in Paris."),
        tools=[WEATHER_TOOL],
    )


def image_part(url="https://example.com/cat.png", **extra):
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def with_image(*parts):
    return chat(
        user([{"type": "text", "text": "What is in this picture?"}, *parts]),
        assistant("A cat."),
    )


def data_url(mime, payload_bytes):
    """A data URL whose base64 payload decodes to exactly payload_bytes bytes (no padding)."""
    assert payload_bytes % 3 == 0
    return f"data:{mime};base64," + "A" * (payload_bytes // 3 * 4)


def preference(*, prompt=None, preferred=None, rejected=None, **top):
    return {
        "input": {"messages": prompt if prompt is not None else [user("Say hi.")]},
        "preferred_output": preferred
        if preferred is not None
        else [assistant("Hello! How can I help?")],
        "non_preferred_output": rejected if rejected is not None else [assistant("What.")],
        **top,
    }


def codes(findings):
    return {f.code for f in findings}


def errors(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


# ---------------------------------------------------------------------------------------------
# Per-example codes: (code, bad example, corrected example, message_index of the finding)
# ---------------------------------------------------------------------------------------------

EXAMPLE_CASES = [
    ("data_type", ["user", "hi"], PLAIN, None),
    ("missing_messages_list", {"messages": []}, PLAIN, None),
    ("message_missing_key", chat(user(), {"role": "assistant"}), chat(user(), assistant()), 1),
    (
        "message_unrecognized_key",
        chat(user(mood="curious"), assistant()),
        chat(user(), assistant()),
        0,
    ),
    (
        "unrecognized_role",
        chat({"role": "human", "content": "Hi"}, assistant()),
        chat(user("Hi"), assistant()),
        0,
    ),
    ("missing_content", chat(user(), assistant("")), chat(user(), assistant()), 1),
    ("example_missing_assistant_message", chat(system(), user()), PLAIN, None),
    ("empty_message", chat(user(), assistant("  \n ")), chat(user(), assistant()), 1),
    ("missing_user_message", chat(system(), assistant()), PLAIN, None),
    ("invalid_name", chat(user(name=5), assistant()), chat(user(name="alice"), assistant()), 0),
    ("invalid_weight", chat(user(), assistant(weight=0.5)), chat(user(), assistant(weight=1)), 1),
    (
        "all_weights_zero",
        chat(user(), assistant(weight=0)),
        chat(user(), assistant(weight=1)),
        None,
    ),
    (
        "invalid_tool_call",
        with_tool_call(calls=[{"id": "call_1", "function": call()["function"]}]),
        with_tool_call(),
        1,
    ),
    (
        "invalid_tool_arguments",
        with_tool_call(calls=[call(arguments="{city: Paris}")]),
        with_tool_call(),
        1,
    ),
    (
        "unmatched_tool_call_id",
        with_tool_call(result=tool_result("call_2")),
        with_tool_call(),
        2,
    ),
    (
        "invalid_tools",
        {**PLAIN, "tools": [{"type": "function", "function": {"name": "get weather"}}]},
        {**PLAIN, "tools": [WEATHER_TOOL]},
        None,
    ),
    (
        "invalid_parallel_tool_calls",
        {**with_tool_call(), "parallel_tool_calls": "false"},
        {**with_tool_call(), "parallel_tool_calls": False},
        None,
    ),
    (
        "deprecated_function_calling",
        chat(
            user("Weather in Paris?"),
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
        ),
        chat(user("Weather in Paris?"), {"role": "assistant", "tool_calls": [call()]}),
        1,
    ),
    ("unknown_top_level_key", {**PLAIN, "id": 17}, PLAIN, None),
    (
        "invalid_content_part",
        chat(user([{"type": "audio", "audio": {}}, {"type": "text", "text": "Hi"}]), assistant()),
        chat(user([{"type": "text", "text": "Hi"}]), assistant()),
        0,
    ),
    (
        "image_not_allowed",
        chat(user(), assistant([image_part()])),
        with_image(image_part()),
        1,
    ),
    ("too_many_images", with_image(*[image_part()] * 11), with_image(*[image_part()] * 10), None),
    (
        "invalid_image_url",
        with_image(image_part("file:///home/me/cat.png")),
        with_image(image_part("https://example.com/cat.png")),
        0,
    ),
    (
        "image_too_large",
        with_image(image_part(data_url("image/png", MAX_IMAGE_BYTES + 2))),
        with_image(image_part(data_url("image/png", MAX_IMAGE_BYTES - 1))),
        0,
    ),
    (
        "invalid_image_detail",
        with_image(image_part(detail="medium")),
        with_image(image_part(detail="low")),
        0,
    ),
    (
        "dpo_shape",
        preference(preferred=[assistant("Hello!"), assistant("Anything else?")]),
        preference(),
        None,
    ),
    (
        "dpo_same_outputs",
        preference(preferred=[assistant("Hi.")], rejected=[assistant("Hi. ")]),
        preference(),
        None,
    ),
    ("legacy_format", {"prompt": "Capital of France?", "completion": " Paris"}, PLAIN, None),
    (
        "legacy_shape",
        {"prompt": "Capital of France?", "completion": ["Paris"]},
        {"prompt": "Capital of France?", "completion": " Paris"},
        None,
    ),
    (
        "broken_character",
        chat(user("Nice \ud83d"), assistant()),
        chat(user("Nice \U0001f600"), assistant()),
        0,
    ),
]


@pytest.mark.parametrize(
    ("code", "bad", "good", "index"), EXAMPLE_CASES, ids=[c[0] for c in EXAMPLE_CASES]
)
def test_each_example_code_fires_on_bad_and_not_on_corrected(code, bad, good, index):
    found = [f for f in validate_example(bad, line=LINE, record_id=RECORD) if f.code == code]
    assert found, f"{code} not produced"
    first = found[0]
    assert first.severity is FINDING_SEVERITY[code]
    assert first.message_index == index
    assert (first.line, first.record_id) == (LINE, RECORD)
    assert first.text.endswith(".") and first.fix
    corrected = validate_example(good, line=LINE, record_id=RECORD)
    assert code not in codes(corrected)
    assert errors(corrected) == []


# ---------------------------------------------------------------------------------------------
# Valid examples of every supported shape
# ---------------------------------------------------------------------------------------------

VALID = {
    "plain chat": (PLAIN, set()),
    "multi-turn without system": (
        chat(user("Hi"), assistant("Hello"), user("Bye"), assistant("Goodbye")),
        set(),
    ),
    "tool call and result": (with_tool_call(), set()),
    "parallel tool calls": (
        chat(
            user("Weather in Paris and Rome?"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("a"), call("b", arguments='{"city": "Rome"}')],
            },
            tool_result("a"),
            tool_result("b", "{}"),
            assistant("Both are warm."),
            tools=[WEATHER_TOOL],
            parallel_tool_calls=True,
        ),
        set(),
    ),
    "tool call as the last message": (
        chat(user("Weather?"), {"role": "assistant", "tool_calls": [call(arguments="{}")]}),
        set(),
    ),
    "weights 0 and 1": (
        chat(user("Hi"), assistant("Bad", weight=0), user("Again"), assistant("Good", weight=1)),
        set(),
    ),
    "named speakers": (chat(user("Hi", name="alice"), assistant("Hello", name="bot")), set()),
    "text parts everywhere": (
        chat(
            system([{"type": "text", "text": "Be brief."}]),
            user([{"type": "text", "text": "Hi"}]),
            assistant([{"type": "text", "text": "Hello"}]),
        ),
        set(),
    ),
    "images by address and embedded": (
        with_image(
            image_part("https://example.com/a.jpg", detail="high"),
            image_part("http://example.com/b.png", detail="auto"),
            image_part(data_url("image/jpeg", 300)),
            image_part(data_url("image/png", 3), detail="low"),
            image_part("data:image/webp;base64,UklGRg=="),
        ),
        set(),
    ),
    "preference pair": (preference(), set()),
    "preference pair with system, history and tools": (
        {
            "input": {
                "messages": [system(), user("Hi"), assistant("Hello"), user("Weather?")],
                "tools": [WEATHER_TOOL],
                "parallel_tool_calls": False,
            },
            "preferred_output": [assistant("Let me check.")],
            "non_preferred_output": [assistant("No.")],
        },
        set(),
    ),
    "prompt and completion": (
        {"prompt": "Capital of France?", "completion": " Paris"},
        {"legacy_format"},
    ),
    "prompt and response": ({"prompt": "Capital?", "response": "Paris"}, {"legacy_format"}),
    "old-style functions": (
        chat(
            user("Weather?"),
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
            {"role": "function", "name": "get_weather", "content": "21"},
            assistant("21 degrees."),
            functions=[WEATHER_TOOL["function"]],
        ),
        {"deprecated_function_calling"},
    ),
}


@pytest.mark.parametrize(("example", "expected"), VALID.values(), ids=VALID.keys())
def test_valid_examples_of_every_shape_have_no_errors(example, expected):
    findings = validate_example(example, line=1, record_id=1)
    assert errors(findings) == []
    assert codes(findings) == expected


# ---------------------------------------------------------------------------------------------
# Specific rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [True, False, "1", 0.5, 1.0, 2, -1, None, [1]])
def test_weight_must_be_the_integer_0_or_1(weight):
    findings = validate_example(chat(user(), assistant(weight=weight)))
    assert [f.code for f in findings] == ["invalid_weight"]
    assert findings[0].message_index == 1


@pytest.mark.parametrize("message", [system(weight=1), user(weight=0), tool_result(weight=1)])
def test_weight_is_only_allowed_on_assistant_messages(message):
    example = chat(
        user(), {"role": "assistant", "tool_calls": [call()]}, message, assistant("Done.")
    )
    assert codes(validate_example(example)) == {"invalid_weight"}


def test_empty_text_is_an_error_and_blank_text_a_warning():
    empty = validate_example(chat(user(""), assistant()))
    blank = validate_example(chat(user(" \t\n"), assistant()))
    assert [(f.code, f.severity) for f in empty] == [("missing_content", Severity.ERROR)]
    assert [(f.code, f.severity) for f in blank] == [("empty_message", Severity.WARNING)]
    assert "trim" in blank[0].fix.lower()
    blank_parts = validate_example(chat(user([{"type": "text", "text": "  "}]), assistant()))
    assert codes(blank_parts) == {"empty_message"}


@pytest.mark.parametrize("content", [None, 5, {"text": "hi"}, True, []])
def test_content_that_is_not_text_is_missing_content(content):
    assert codes(validate_example(chat(user(content), assistant()))) == {"missing_content"}


def test_assistant_text_is_optional_only_with_a_tool_call():
    with_call = chat(user(), {"role": "assistant", "content": "", "tool_calls": [call()]})
    assert validate_example(with_call) == []
    blank_with_call = chat(user(), {"role": "assistant", "content": " ", "tool_calls": [call()]})
    assert validate_example(blank_with_call) == []
    without = chat(user(), {"role": "assistant", "content": None})
    assert codes(validate_example(without)) == {"missing_content"}


def test_tool_result_must_answer_an_earlier_call_of_the_same_example():
    before_the_call = chat(
        user(), tool_result("call_1"), {"role": "assistant", "tool_calls": [call()]}
    )
    found = [f for f in validate_example(before_the_call) if f.code == "unmatched_tool_call_id"]
    assert [f.message_index for f in found] == [1]
    no_id = chat(
        user(), {"role": "assistant", "tool_calls": [call()]}, {"role": "tool", "content": "1"}
    )
    assert codes(validate_example(no_id)) == {"message_missing_key"}


def test_tool_keys_on_the_wrong_role_are_unrecognized():
    calling_user = chat(user(tool_calls=[call()]), assistant())
    assert codes(validate_example(calling_user)) == {"message_unrecognized_key"}
    assistant_with_id = chat(user(), assistant(tool_call_id="call_1"))
    assert codes(validate_example(assistant_with_id)) == {"message_unrecognized_key"}


@pytest.mark.parametrize(
    ("calls", "code"),
    [
        ("call_1", "invalid_tool_call"),
        ([{"type": "function", "function": call()["function"]}], "invalid_tool_call"),
        ([call(), call()], "invalid_tool_call"),
        ([{"id": "c", "type": "function", "function": {"arguments": "{}"}}], "invalid_tool_call"),
        ([call(arguments={"city": "Paris"})], "invalid_tool_call"),
        ([call(arguments="")], "invalid_tool_arguments"),
        ([call(arguments='{"city": "Paris"')], "invalid_tool_arguments"),
    ],
)
def test_tool_call_shape(calls, code):
    example = chat(user(), {"role": "assistant", "tool_calls": calls})
    assert code in codes(validate_example(example))


def test_function_role_needs_a_name():
    example = chat(
        user(),
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "content": "1"},
        assistant(),
    )
    found = validate_example(example)
    assert codes(found) == {"deprecated_function_calling", "message_missing_key"}
    assert [f.message_index for f in found if f.code == "message_missing_key"] == [2]


@pytest.mark.parametrize(
    "url",
    [
        "data:image/gif;base64,R0lGOD",
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png,rawbytes",
        "data:image/png;base64,",
        "ftp://example.com/cat.png",
        "https://",
        "",
        "cat.png",
    ],
)
def test_image_urls_that_are_not_accepted(url):
    assert codes(validate_example(with_image(image_part(url)))) == {"invalid_image_url"}


def test_gif_finding_names_the_accepted_formats():
    (finding,) = validate_example(with_image(image_part("data:image/gif;base64,R0lGOD")))
    assert "GIF" in finding.text and "JPEG, PNG and WEBP" in finding.text


def test_image_size_limit_counts_decoded_bytes():
    assert MAX_IMAGE_BYTES % 3 == 1  # so the payloads below end in padding
    whole = "data:image/png;base64," + "A" * (MAX_IMAGE_BYTES // 3 * 4)  # MAX - 1 bytes
    exactly_max = whole + "AA=="  # + 1 byte
    one_more = whole + "AAA="  # + 2 bytes
    assert len(base64.b64decode(exactly_max.split(",")[1])) == MAX_IMAGE_BYTES
    assert validate_example(with_image(image_part(exactly_max))) == []
    assert codes(validate_example(with_image(image_part(one_more)))) == {"image_too_large"}


def test_images_are_only_accepted_in_user_messages():
    example = chat(system([image_part()]), user(), assistant())
    assert codes(validate_example(example)) == {"image_not_allowed"}


@pytest.mark.parametrize(
    ("example", "fragment"),
    [
        (preference(prompt=[user("Hi"), assistant("Hello")]), "end with a user message"),
        (preference(prompt=[]), "no messages"),
        (preference(preferred=[]), "exactly one"),
        (preference(rejected=[user("Hello")]), "assistant"),
        (preference(preferred=[assistant("Hi", tool_calls=[call()])]), "plain text"),
        (preference(preferred=[assistant("Hi", weight=1)]), "plain text"),
        (preference(rejected=[assistant([{"type": "text", "text": "x"}])]), "plain text"),
        ({"input": {"messages": [user()]}, "preferred_output": [assistant()]}, "non-preferred"),
        ({**preference(), "input": "Say hi."}, "prompt"),
        ({"input": {"messages": [user()]}}, "preferred"),
    ],
)
def test_preference_pair_shape(example, fragment):
    found = [f for f in validate_example(example) if f.code == "dpo_shape"]
    assert found and any(fragment in f.text for f in found), found


def test_preference_prompt_messages_get_the_chat_message_checks():
    example = preference(prompt=[{"role": "user", "content": "Hi", "mood": 1}])
    found = validate_example(example)
    assert codes(found) == {"message_unrecognized_key"}
    assert found[0].message_index == 0


def test_empty_preferred_reply():
    assert codes(validate_example(preference(preferred=[assistant("")]))) == {"missing_content"}


def test_legacy_values_must_be_text():
    found = validate_example({"prompt": 3, "response": "x"})
    assert codes(found) == {"legacy_shape", "legacy_format"}
    info = [f for f in found if f.code == "legacy_format"]
    assert info[0].severity is Severity.INFO and "chat" in info[0].text


def test_unrecognized_role_suggests_the_right_one():
    (finding, *_) = validate_example(chat(user(), {"role": "Assistant", "content": "Hi"}))
    assert finding.code == "unrecognized_role"
    assert '"assistant"' in finding.fix


def test_unknown_top_level_keys_are_named_in_one_warning():
    found = validate_example({**PLAIN, "id": 1, "source": "web"})
    assert [(f.code, f.severity) for f in found] == [("unknown_top_level_key", Severity.WARNING)]
    assert '"id"' in found[0].text and '"source"' in found[0].text


@pytest.mark.parametrize(
    "tools",
    [
        {"type": "function"},
        [{"type": "retrieval"}],
        [{"type": "function", "function": {"name": "x" * 65}}],
        [{"type": "function", "function": {"name": "ok", "parameters": "none"}}],
        [{"type": "function", "function": "get_weather"}],
    ],
)
def test_tool_list_shape(tools):
    assert codes(validate_example({**PLAIN, "tools": tools})) == {"invalid_tools"}


# ---------------------------------------------------------------------------------------------
# Facts and fingerprints
# ---------------------------------------------------------------------------------------------


def test_fingerprint_ignores_spacing_and_key_order():
    a = json.loads(
        '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}'
    )
    b = json.loads(
        '{ "messages" : [ { "content" : "hi", "role" : "user" },\n'
        '  {"content": "yo",   "role": "assistant"} ] }'
    )
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({"messages": [user("hi"), assistant("yo ")]})


def _digest(canonical: str, *, apart: bool) -> str:
    digest = bytearray(hashlib.blake2b(canonical.encode(), digest_size=16).digest())
    digest[-1] = (digest[-1] & 0xFE) | apart  # the last bit: was a system text left out
    return digest.hex()


def test_fingerprint_is_a_digest_of_sorted_compact_utf8_json():
    digest = fingerprint({"b": 2, "a": [1, "é"]})
    assert digest == _digest('{"a":[1,"é"],"b":2}', apart=False)
    assert not leaves_out_system_text(digest)


def test_a_chat_fingerprint_leaves_out_the_first_system_text_so_setting_it_keeps_it():
    def example(text: object, second: str = "Second.") -> dict:
        named = {"role": "system", "content": text, "name": "rules"}
        return chat(user("hi"), named, system(second), assistant("yo"))

    digest = fingerprint(example("Be kind."))
    assert digest == _digest(
        '{"messages":[{"content":"hi","role":"user"},'
        '{"content":"","name":"rules","role":"system"},'
        '{"content":"Second.","role":"system"},{"content":"yo","role":"assistant"}]}',
        apart=True,
    )
    assert leaves_out_system_text(digest)
    assert fingerprint(example("Be brief.")) == digest
    assert fingerprint(example("Be kind.", second="Other.")) != digest
    # A plain system message put first where there was none keeps it too; one with more
    # keys does not.
    bare = fingerprint(chat(user("hi"), assistant("yo")))
    assert leaves_out_system_text(bare)
    assert fingerprint(chat(system("Anything."), user("hi"), assistant("yo"))) == bare
    assert fingerprint(chat(system("Anything.", name="n"), user("hi"), assistant("yo"))) != bare
    # A system message that is not one string is covered whole.
    parts = fingerprint(example([{"type": "text", "text": "Be kind."}]))
    assert not leaves_out_system_text(parts)
    assert parts != fingerprint(example([{"type": "text", "text": "Be brief."}]))
    assert parts != digest


def test_fingerprint_accepts_what_orjson_cannot_write():
    assert fingerprint({"n": 2**70}) != fingerprint({"n": 2**70 + 1})
    assert fingerprint(["\ud800"]) == fingerprint(["\ud800"])


def test_example_facts():
    facts = example_facts(PLAIN, line=3, record_id=9, tokens=12)
    assert facts == ExampleFacts(
        9, 3, ExampleKind.CHAT, fingerprint(PLAIN), "You are a helpful assistant.", True, 12
    )
    parts = chat(system([{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]))
    assert example_facts(parts, line=1, record_id=1).system_text == "Be brief."
    dpo = example_facts(preference(prompt=[system("S"), user()]), line=1, record_id=1)
    assert (dpo.kind, dpo.system_text, dpo.has_system) == (ExampleKind.PREFERENCE, "S", True)
    odd = example_facts(chat({"role": "system", "content": 5}), line=1, record_id=1)
    assert (odd.has_system, odd.system_text) == (True, None)
    none = example_facts(7, line=1, record_id=1)
    assert (none.kind, none.has_system, none.tokens) == (ExampleKind.NOT_AN_EXAMPLE, False, None)


# ---------------------------------------------------------------------------------------------
# Dataset-level codes
# ---------------------------------------------------------------------------------------------


def conversation(i, system_text="You are terse."):
    messages = [user(f"Question {i}?"), assistant(f"Answer {i}.")]
    if system_text is not None:
        messages.insert(0, system(system_text))
    return chat(*messages)


def facts_of(examples, *, tokens=None, first_line=1):
    return [
        example_facts(ex, line=first_line + i, record_id=1000 + i, tokens=tokens)
        for i, ex in enumerate(examples)
    ]


def dataset_codes(facts, **kwargs):
    kwargs.setdefault("token_limit", None)
    return codes(validate_dataset(facts, **kwargs))


CLEAN = facts_of(conversation(i) for i in range(60))


def test_a_clean_dataset_has_no_findings():
    assert (
        validate_dataset(
            CLEAN,
            token_limit=65536,
            validation_facts=facts_of([conversation(i) for i in range(100, 110)]),
        )
        == []
    )


def test_too_few_examples():
    found = validate_dataset(CLEAN[:9], token_limit=None)
    assert [(f.code, f.severity, f.line) for f in found] == [
        ("too_few_examples", Severity.ERROR, None)
    ]
    assert "9 examples" in found[0].text and "10" in found[0].text
    assert "too_few_examples" not in dataset_codes(CLEAN[:10])
    assert "no examples" in validate_dataset([], token_limit=None)[0].text


def test_lines_that_are_not_examples_do_not_count():
    broken = facts_of([{"oops": 1}] * 5 + [5] * 5)
    assert "too_few_examples" in dataset_codes(broken + CLEAN[:9])
    assert "duplicate_example" not in dataset_codes(broken + CLEAN)


def test_few_examples_is_advice_between_the_minimum_and_50():
    (finding,) = validate_dataset(CLEAN[:20], token_limit=None)
    assert (finding.code, finding.severity) == ("few_examples", Severity.INFO)
    assert "50" in finding.text
    assert validate_dataset(CLEAN[:50], token_limit=None) == []
    assert "few_examples" not in dataset_codes(CLEAN[:5])


def test_too_many_tokens():
    facts = [replace(f, tokens=100) for f in CLEAN]
    facts[4] = replace(facts[4], tokens=70_000)
    facts[5] = replace(facts[5], tokens=65_536)
    facts[6] = replace(facts[6], tokens=None)
    found = validate_dataset(facts, token_limit=65_536, model_id="gpt-4o-mini-2024-07-18")
    assert [(f.code, f.line, f.record_id) for f in found] == [("too_many_tokens", 5, 1004)]
    text = found[0].text
    assert "70,000" in text and "65,536" in text and "gpt-4o-mini-2024-07-18" in text
    assert "end" in text  # says that OpenAI cuts it from the end
    assert validate_dataset(facts, token_limit=None) == []
    assert validate_dataset(facts, token_limit=70_000) == []


def test_duplicates_point_at_the_first_occurrence():
    spaced = json.loads(json.dumps(conversation(3), indent=4, sort_keys=True))
    facts = [*CLEAN, *facts_of([spaced, conversation(3)], first_line=200)]
    found = validate_dataset(facts, token_limit=None)
    assert [(f.code, f.line) for f in found] == [
        ("duplicate_example", 200),
        ("duplicate_example", 201),
    ]
    assert all("line 4" in f.text for f in found)
    changed = facts_of([conversation(3, system_text="You are verbose.")], first_line=200)
    assert "duplicate_example" not in dataset_codes([*CLEAN, *changed])


def test_examples_differing_only_in_the_system_text_are_no_duplicates():
    """The fingerprint leaves that text out: it counts beside it, in duplicates and overlap."""

    def facts(*examples: dict) -> list[ExampleFacts]:
        return [example_facts(e, line=i + 1, record_id=i) for i, e in enumerate(examples)]

    talk = [user("hi"), assistant("yo")]
    variants = [
        chat(*talk),
        chat(system("A"), *talk),
        chat(system("B"), *talk),
        chat(system(""), *talk),
        chat(system([{"type": "text", "text": "B"}]), *talk),
    ]
    assert len({f.fingerprint for f in facts(*variants)}) == 2
    assert "duplicate_example" not in dataset_codes(facts(*variants))
    found = validate_dataset(facts(*variants, chat(system("B"), *talk)), token_limit=None)
    repeats = [(f.line, f.text) for f in found if f.code == "duplicate_example"]
    assert repeats == [(6, "This example is the same as the one on line 3.")]

    def overlap(other: dict) -> list[tuple[int | None, str]]:
        found = validate_dataset(facts(*variants), token_limit=None, validation_facts=facts(other))
        return [(f.line, f.text) for f in found if f.code == "train_validation_overlap"]

    assert overlap(chat(system("C"), *talk)) == []
    assert overlap(chat(system("B"), *talk)) == [
        (3, "This example also appears in the validation file (line 1).")
    ]


def test_train_validation_overlap_is_reported_on_the_training_line():
    validation = facts_of([conversation(500), conversation(7)], first_line=1)
    found = validate_dataset(CLEAN, token_limit=None, validation_facts=validation)
    assert [(f.code, f.severity, f.line, f.record_id) for f in found] == [
        ("train_validation_overlap", Severity.ERROR, 8, 1007)
    ]
    assert "line 2" in found[0].text
    fresh = facts_of([conversation(500), conversation(501)])
    assert validate_dataset(CLEAN, token_limit=None, validation_facts=fresh) == []


def test_some_examples_without_system_message():
    examples = [conversation(i, system_text=None if i in (3, 9) else "S") for i in range(60)]
    found = validate_dataset(facts_of(examples), token_limit=None)
    assert codes(found) == {"inconsistent_system_message"}
    summary = [f for f in found if f.line is None]
    assert len(summary) == 1 and "2 examples have no system message" in summary[0].text
    assert sorted(f.line for f in found if f.line is not None) == [4, 10]


def test_a_few_examples_with_a_different_system_message():
    examples = [conversation(i, system_text="Other" if i == 5 else "Main") for i in range(60)]
    found = validate_dataset(facts_of(examples), token_limit=None)
    assert [(f.code, f.line) for f in found] == [
        ("inconsistent_system_message", None),
        ("inconsistent_system_message", 6),
    ]
    assert "59 of 60" in found[0].text and "Main" in found[0].fix


def test_deliberately_varied_system_messages_are_not_reported():
    examples = [conversation(i, system_text=f"Context {i % 3}") for i in range(60)]
    assert validate_dataset(facts_of(examples), token_limit=None) == []


def test_mixed_formats():
    examples = [conversation(i) for i in range(57)] + [preference()] * 2
    examples.append({"prompt": "p", "completion": "c"})
    found = [f for f in validate_dataset(facts_of(examples), token_limit=None)]
    mixed = [f for f in found if f.code == "mixed_formats"]
    assert mixed[0].line is None and mixed[0].severity is Severity.ERROR
    assert "57 chat examples" in mixed[0].text and "2 preference pairs" in mixed[0].text
    assert [f.line for f in mixed[1:]] == [58, 59, 60]
    assert "mixed_formats" not in dataset_codes(CLEAN)


def test_validation_file_in_another_layout_is_mixed_formats():
    validation = facts_of([preference()] * 3)
    found = validate_dataset(CLEAN, token_limit=None, validation_facts=validation)
    assert [(f.code, f.line) for f in found] == [("mixed_formats", None)]
    assert "validation file" in found[0].text


def test_a_file_of_preference_pairs_is_a_dpo_dataset():
    pairs = facts_of(preference(preferred=[assistant(f"Reply {i}")]) for i in range(60))
    assert [(f.code, f.severity) for f in validate_dataset(pairs, token_limit=None)] == [
        ("dpo_dataset", Severity.INFO)
    ]
    assert "dpo_dataset" not in dataset_codes(CLEAN)


def test_prompt_completion_pairs_block_a_chat_only_model_and_say_how_to_convert():
    pairs = facts_of({"prompt": f"Q{i}", "completion": f" A{i}"} for i in range(60))
    found = validate_dataset(
        pairs, token_limit=None, model_id="gpt-4.1-mini-2025-04-14", trains_on_legacy=False
    )
    assert [(f.code, f.severity, f.line) for f in found] == [
        ("legacy_needs_conversion", Severity.ERROR, None)
    ]
    assert found[0].text == (
        "gpt-4.1-mini-2025-04-14 trains only on chat examples, and the file holds 60 "
        "prompt/completion pairs; they are not converted on upload, so they must be converted "
        "first."
    )
    assert "each prompt becomes the user's message" in found[0].fix
    assert validate_dataset(pairs, token_limit=None, trains_on_legacy=True) == []
    assert validate_dataset(pairs, token_limit=None) == []  # an unknown model: nothing said
    assert "legacy_needs_conversion" not in dataset_codes(CLEAN, trains_on_legacy=False)


def test_findings_stay_bounded_for_100000_facts():
    base = ExampleFacts(None, None, ExampleKind.CHAT, "same", "S", True, 10**6)
    facts = []
    for i in range(100_000):
        kind = ExampleKind.PREFERENCE if i % 10 == 0 else ExampleKind.CHAT
        has_system = i % 4 != 0
        facts.append(
            replace(
                base,
                record_id=i,
                line=i + 1,
                kind=kind,
                has_system=has_system,
                system_text=("S" if i % 50 else "T") if has_system else None,
            )
        )
    started = time.perf_counter()
    found = validate_dataset(
        facts, token_limit=65_536, validation_facts=facts[:1000], max_findings_per_code=100
    )
    elapsed = time.perf_counter() - started
    per_code: dict[str, int] = {}
    for f in found:
        per_code[f.code] = per_code.get(f.code, 0) + 1
    assert set(per_code) == {
        "mixed_formats",
        "inconsistent_system_message",
        "duplicate_example",
        "too_many_tokens",
        "train_validation_overlap",
    }
    # At most the cap per code, plus its summaries (mixed and system messages have two).
    assert all(count <= 100 + 3 for count in per_code.values()), per_code
    overflow = [f for f in found if f.code == "duplicate_example" and f.line is None]
    # One fingerprint with three system texts (S, T and none): three different examples.
    assert len(overflow) == 1 and "99,897 more examples" in overflow[0].text
    assert elapsed < 2.0  # O(n): a quadratic step would take minutes here


# ---------------------------------------------------------------------------------------------
# Coverage of the code list, and robustness
# ---------------------------------------------------------------------------------------------

DATASET_SCENARIOS = [
    lambda: validate_dataset(CLEAN[:3], token_limit=None),
    lambda: validate_dataset(CLEAN[:20], token_limit=None),
    lambda: validate_dataset([replace(CLEAN[0], tokens=10**6), *CLEAN], token_limit=1000),
    lambda: validate_dataset([*CLEAN, CLEAN[0]], token_limit=None),
    lambda: validate_dataset(CLEAN, token_limit=None, validation_facts=CLEAN[:1]),
    lambda: validate_dataset(
        facts_of(conversation(i, None if i == 0 else "S") for i in range(60)), token_limit=None
    ),
    lambda: validate_dataset([*CLEAN, *facts_of([preference()])], token_limit=None),
    lambda: validate_dataset(facts_of([preference()] * 12), token_limit=None),
    lambda: validate_dataset(
        facts_of([{"prompt": "Q", "completion": " A"}] * 12),
        token_limit=None,
        trains_on_legacy=False,
    ),
]


def test_finding_codes_list_exactly_the_codes_emitted():
    emitted: set[str] = set()
    for _code, bad, _good, _index in EXAMPLE_CASES:
        findings = validate_example(bad)
        assert all(f.severity is FINDING_SEVERITY[f.code] for f in findings)
        emitted |= codes(findings)
    for scenario in DATASET_SCENARIOS:
        findings = scenario()
        assert all(f.severity is FINDING_SEVERITY[f.code] for f in findings)
        emitted |= codes(findings)
    assert emitted == set(FINDING_CODES)
    assert set(FINDING_SEVERITY) == set(FINDING_CODES)
    assert all(desc and not desc.endswith(".") for desc in FINDING_CODES.values())


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
VOCABULARY = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "name",
        "weight",
        "tool_calls",
        "tool_call_id",
        "id",
        "type",
        "function",
        "arguments",
        "function_call",
        "functions",
        "tools",
        "text",
        "image_url",
        "url",
        "detail",
        "input",
        "preferred_output",
        "non_preferred_output",
        "prompt",
        "completion",
        "response",
        "parallel_tool_calls",
        "parameters",
    ]
)
VALUES_WE_LOOK_FOR = st.sampled_from(
    [
        "system",
        "user",
        "assistant",
        "tool",
        "function",
        "text",
        "image_url",
        "call_1",
        "{}",
        "{",
        "https://x",
        "data:image/png;base64,AAAA",
        "data:image/gif;base64,",
        "low",
        0,
        1,
        "",
    ]
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
NEAR_EXAMPLES = st.recursive(
    JSON_SCALARS | VALUES_WE_LOOK_FOR,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(VOCABULARY, children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON_VALUES, NEAR_EXAMPLES))
def test_any_json_value_gives_known_findings_and_never_raises(data):
    findings = validate_example(data, line=LINE, record_id=RECORD)
    assert isinstance(findings, list)
    for f in findings:
        assert isinstance(f, Finding)
        assert f.code in FINDING_CODES
        assert f.severity is FINDING_SEVERITY[f.code]
        assert (f.line, f.record_id) == (LINE, RECORD)
        assert f.text and f.fix
    facts = example_facts(data, line=LINE, record_id=RECORD)
    assert len(facts.fingerprint) == 32


def test_validate_example_is_fast_on_100000_chat_examples():
    examples = [json.loads(json.dumps(conversation(i))) for i in range(2000)] * 50
    started = time.perf_counter()
    total = sum(len(validate_example(ex, line=i, record_id=i)) for i, ex in enumerate(examples))
    elapsed = time.perf_counter() - started
    assert total == 0
    assert elapsed < 5.0  # about 0.3 s here; generous for slow CI machines


def test_fingerprints_of_values_deeper_than_the_call_stack_allows():
    def deep(leaf: object) -> list:
        value: list = [leaf]
        for _ in range(3000):
            value = [value]
        return value

    assert fingerprint(deep(1)) == fingerprint(deep(1))
    assert fingerprint(deep(1)) != fingerprint(deep(2))
    assert fingerprint({"a": 2**70, "b": "\ud83d"}) == fingerprint({"b": "\ud83d", "a": 2**70})


@pytest.mark.parametrize(
    "bad",
    [
        chat(user("Nice \ud83d"), assistant()),
        chat({"role": "hum\udc00n", "content": "Hi"}, assistant()),
        chat(user(), assistant(), **{"extra \ud83d": 1}),
        chat(user(name="al\ud83dce"), assistant()),
    ],
)
def test_findings_that_quote_half_a_character_can_always_be_printed(bad):
    findings = validate_example(bad, line=2)
    assert "broken_character" in codes(findings)
    for finding in findings:
        finding.text.encode("utf-8")
        (finding.fix or "").encode("utf-8")


@pytest.mark.parametrize(
    ("preferred", "words"),
    [
        ([], "but it is an empty list."),
        (["Hello"], 'but it is a list holding "Hello".'),
        ([assistant("a"), assistant("b")], "but it is a list of 2 items."),
        ("Hello", 'but it is "Hello".'),
    ],
)
def test_a_badly_formed_preference_reply_is_described_in_natural_words(preferred, words):
    found = [f for f in validate_example(preference(preferred=preferred)) if f.code == "dpo_shape"]
    assert words in found[0].text

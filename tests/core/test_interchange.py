"""Importing ShareGPT, Alpaca and Gemini datasets, and exporting to them without silent loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.dataset import Container, LineState, serialize_value
from desktop.core.interchange import (
    ExportFormat,
    ForeignFormat,
    InterchangeError,
    export_split,
    export_values,
    foreign_format_of,
    import_foreign,
    imported_dataset,
    pair_paths,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "interchange"


def chat(*turns, **extra):
    """A chat value from (role, content) pairs."""
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


SIMPLE = chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"))
MULTI = chat(("user", "Hi"), ("assistant", "Hello!"), ("user", "Bye"), ("assistant", "Bye!"))
TOOL_CHAT = {
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":3}'},
        {"role": "assistant", "content": "3 degrees."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
    ],
}
PREFERENCE = {
    "input": {"messages": [{"role": "user", "content": "Hi"}]},
    "preferred_output": [{"role": "assistant", "content": "Hello!"}],
    "non_preferred_output": [{"role": "assistant", "content": "What do you want?"}],
}


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


# Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [ExportFormat.SHAREGPT, ExportFormat.GEMINI])
def test_multi_turn_chats_survive_sharegpt_and_gemini_unchanged(fmt):
    values = [SIMPLE, MULTI]
    exported = export_values(values, fmt)
    assert exported.dropped == []
    assert exported.count == 2
    imported = import_foreign(exported.data, fmt.suffix)
    assert imported.format.value == fmt.value
    assert imported.failures == []
    assert imported.dropped == []
    assert [v for _, v in imported.values] == values
    assert [line for line, _ in imported.values] == [1, 2]


def test_single_turn_chats_survive_alpaca_unchanged():
    values = [SIMPLE, chat(("user", "2+2?"), ("assistant", "4"))]
    exported = export_values(values, ExportFormat.ALPACA)
    assert exported.dropped == []
    items = json.loads(exported.data)
    assert items[0] == {"instruction": "Hi", "input": "", "output": "Hello!", "system": "Be brief."}
    imported = import_foreign(exported.data, ".json")
    assert imported.format is ForeignFormat.ALPACA
    assert [v for _, v in imported.values] == values


def test_tool_calls_and_definitions_survive_sharegpt_unchanged():
    exported = export_values([TOOL_CHAT], ExportFormat.SHAREGPT)
    assert exported.dropped == []
    item = lines(exported.data)[0]
    assert [t["from"] for t in item["conversations"]] == [
        "human",
        "function_call",
        "observation",
        "gpt",
    ]
    assert json.loads(item["conversations"][1]["value"]) == {
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    assert json.loads(item["tools"]) == [{"name": "get_weather", "parameters": {"type": "object"}}]
    imported = import_foreign(exported.data)
    assert imported.dropped == []
    assert imported.values[0][1] == TOOL_CHAT


def test_extra_fields_travel_through_sharegpt_and_alpaca():
    value = chat(("user", "Hi"), ("assistant", "Hello"), id="ex-7", source="support")
    for fmt in (ExportFormat.SHAREGPT, ExportFormat.ALPACA):
        exported = export_values([value], fmt)
        assert exported.dropped == []
        assert import_foreign(exported.data, fmt.suffix).values[0][1] == value


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    system=st.one_of(st.none(), text.filter(bool)),
    pairs=st.lists(st.tuples(text, text), min_size=1, max_size=4),
)
def test_any_text_conversation_round_trips(system, pairs):
    turns = [("system", system)] if system else []
    for question, answer in pairs:
        turns += [("user", question), ("assistant", answer)]
    value = chat(*turns)
    for fmt in (ExportFormat.SHAREGPT, ExportFormat.GEMINI):
        exported = export_values([value], fmt)
        assert exported.dropped == []
        assert import_foreign(exported.data, fmt.suffix).values[0][1] == value


# Export details -------------------------------------------------------------------------------


def test_openai_export_is_compact_canonical_jsonl_and_keeps_every_layout():
    legacy = {"prompt": "a", "completion": "b"}
    reordered = {
        "messages": [{"content": "Hi", "role": "user"}, {"content": "Yo", "role": "assistant"}]
    }
    result = export_values([reordered, PREFERENCE, legacy], ExportFormat.OPENAI_CHAT)
    assert result.data == b"".join(
        serialize_value(v) + b"\n" for v in (reordered, PREFERENCE, legacy)
    )
    assert result.data.startswith(b'{"messages":[{"role":"user","content":"Hi"}')
    assert result.dropped == []
    assert result.count == 3


def test_gemini_export_uses_model_role_and_system_instruction():
    item = lines(export_values([SIMPLE], ExportFormat.GEMINI).data)[0]
    assert item == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
        ],
    }


def test_alpaca_keeps_the_last_exchange_of_a_long_conversation():
    result = export_values([MULTI], ExportFormat.ALPACA)
    assert json.loads(result.data) == [{"instruction": "Bye", "input": "", "output": "Bye!"}]
    assert result.dropped == [
        "2 other turns were left out, because Alpaca holds one instruction and one reply "
        "per example."
    ]


def test_preference_examples_export_prompt_and_preferred_reply():
    result = export_values([PREFERENCE], ExportFormat.SHAREGPT)
    assert lines(result.data)[0]["conversations"] == [
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello!"},
    ]
    assert result.dropped == [
        "1 preference example was exported as its prompt and preferred reply; "
        "the rejected reply was left out."
    ]


def test_legacy_pairs_export_as_one_exchange():
    result = export_values([{"prompt": "Q", "completion": "A"}], ExportFormat.ALPACA)
    assert json.loads(result.data) == [{"instruction": "Q", "input": "", "output": "A"}]
    assert result.dropped == []


WEIGHTED = {
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hm.", "weight": 0},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Hello!", "weight": 1},
    ]
}
NAMED = {
    "messages": [
        {"role": "user", "name": "ann", "content": "Hi"},
        {"role": "assistant", "name": "bot", "content": "Hello"},
    ]
}
IMAGE = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {"role": "assistant", "content": "A cat."},
    ]
}
TALK_AND_CALL = {
    "messages": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
    ]
}
TWO_SYSTEMS = chat(
    ("system", "Be kind."), ("user", "Hi"), ("system", "Be brief."), ("assistant", "Yo")
)


@pytest.mark.parametrize(
    ("values", "fmt", "sentence"),
    [
        ([{"foo": 1}], ExportFormat.SHAREGPT, "1 item that is not an example was left out."),
        (
            [{"foo": 1}, [1]],
            ExportFormat.OPENAI_CHAT,
            "2 items that are not examples were left out.",
        ),
        (
            [PREFERENCE, PREFERENCE],
            ExportFormat.GEMINI,
            "2 preference examples were exported as their prompt and preferred reply; "
            "the rejected replies were left out.",
        ),
        (
            [chat(("user", "Hi")), chat(("assistant", "Hello"))],
            ExportFormat.ALPACA,
            "2 examples had no user message followed by an assistant reply and were left out.",
        ),
        (
            [TALK_AND_CALL],
            ExportFormat.SHAREGPT,
            "1 assistant text sent together with a tool call was left out.",
        ),
        (
            [TOOL_CHAT],
            ExportFormat.GEMINI,
            "1 function-call turn was turned into plain text.",
        ),
        ([TOOL_CHAT], ExportFormat.GEMINI, "1 tool-result turn was turned into plain text."),
        ([TOOL_CHAT], ExportFormat.GEMINI, "1 example's tool definitions were left out."),
        (
            [TOOL_CHAT, TOOL_CHAT],
            ExportFormat.ALPACA,
            "2 examples' tool definitions were left out.",
        ),
        (
            [TWO_SYSTEMS],
            ExportFormat.GEMINI,
            "1 example had several system messages; they were joined into one.",
        ),
        (
            [chat(("user", "Hi"), ("narrator", "Silence."), ("assistant", "Yo"))],
            ExportFormat.GEMINI,
            "1 turn with an unusual role was sent as a user turn.",
        ),
        (
            [WEIGHTED],
            ExportFormat.SHAREGPT,
            "1 assistant turn marked not to be trained on (weight 0) lost that mark.",
        ),
        ([NAMED], ExportFormat.GEMINI, "2 speaker names on messages were left out."),
        (
            [IMAGE],
            ExportFormat.SHAREGPT,
            "1 image or other non-text part was left out; only text was kept.",
        ),
        (
            [
                chat(
                    ("user", "Hi"),
                    ("assistant", "Yo"),
                    metadata={"a": 1},
                    parallel_tool_calls=False,
                )
            ],
            ExportFormat.SHAREGPT,
            "Fields this format has no place for were left out: parallel_tool_calls (1 example).",
        ),
        (
            [chat(("user", "Hi"), ("assistant", "Yo"), metadata={"a": 1})] * 2,
            ExportFormat.GEMINI,
            "Fields this format has no place for were left out: metadata (2 examples).",
        ),
    ],
)
def test_every_loss_is_said_with_its_count(values, fmt, sentence):
    assert sentence in export_values(values, fmt).dropped


def test_alpaca_says_when_a_kept_reply_also_called_tools():
    result = export_values([TALK_AND_CALL], ExportFormat.ALPACA)
    assert json.loads(result.data) == [
        {"instruction": "Weather?", "input": "", "output": "Let me check."}
    ]
    assert result.dropped == ["1 tool call made by a kept reply was left out."]


def test_images_lose_only_the_image_and_text_parts_are_kept():
    item = lines(export_values([IMAGE], ExportFormat.GEMINI).data)[0]
    assert item["contents"][0] == {"role": "user", "parts": [{"text": "What is this?"}]}


def test_split_export_gives_disjoint_files_covering_everything():
    values = [chat(("user", f"q{i}"), ("assistant", f"a{i}")) for i in range(20)]
    train, validation = export_split(values, 25, 7, ExportFormat.OPENAI_CHAT)
    assert (train.count, validation.count) == (15, 5)
    train_lines = set(train.data.splitlines())
    validation_lines = set(validation.data.splitlines())
    assert not train_lines & validation_lines
    assert train_lines | validation_lines == {serialize_value(v) for v in values}
    again = export_split(values, 25, 7, ExportFormat.OPENAI_CHAT)
    assert again == (train, validation)


# Import details -------------------------------------------------------------------------------


def test_sharegpt_file_converts_good_items_and_reports_bad_ones_by_line():
    result = import_foreign((DATA / "sharegpt.jsonl").read_bytes(), ".jsonl")
    assert result.format is ForeignFormat.SHAREGPT
    assert [line for line, _ in result.values] == [1, 2, 6]
    first = result.values[0][1]
    assert first == {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
        "id": "a1",
    }
    tool = result.values[1][1]
    assert tool["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert tool["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"temp":3}',
    }
    assert tool["tools"][0]["function"]["name"] == "get_weather"
    assert result.values[2][1]["messages"][0] == {"role": "system", "content": "Reply in one word."}
    assert [line for line, _ in result.failures] == [4, 5, 7]
    reasons = dict(result.failures)
    assert "unknown speaker 'narrator'" in reasons[4]
    assert "cut off" in reasons[5]
    assert "no turns" in reasons[7]
    assert result.dropped == []


def test_alpaca_array_items_keep_the_line_they_start_on():
    result = import_foreign((DATA / "alpaca.json").read_bytes(), ".json")
    assert result.format is ForeignFormat.ALPACA
    assert [line for line, _ in result.values] == [2, 7, 16]
    assert result.values[0][1]["messages"] == [
        {"role": "user", "content": "Translate to French\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]
    assert result.values[1][1]["messages"][0] == {
        "role": "system",
        "content": "Answer with a number.",
    }
    assert result.values[2][1]["messages"] == [
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "Seven."},
        {"role": "user", "content": "And the next one?"},
        {"role": "assistant", "content": "Eleven."},
    ]
    assert result.failures == [(13, "This item is not a ShareGPT, Alpaca or Gemini example.")]


def test_gemini_file_joins_text_parts_and_says_what_it_dropped():
    result = import_foreign((DATA / "gemini.jsonl").read_bytes(), ".jsonl")
    assert result.format is ForeignFormat.GEMINI
    assert result.values[0][1] == chat(
        ("system", "You are a helpful travel agent."),
        ("user", "Cheapest month for Rome?"),
        ("assistant", "Usually February."),
    )
    assert result.values[1][1]["messages"][0]["content"] == "What is in this picture?"
    assert result.dropped == ["1 image or other non-text part was left out; only text was kept."]
    assert result.failures == [
        (
            3,
            'Turn 1 of this Gemini item has the role \'assistant\'; it should be "user" or "model".',
        )
    ]


def test_gemini_function_parts_become_text_and_are_counted():
    item = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"c": "Oslo"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"t": 3}}}]},
            {"role": "model", "parts": [{"text": "3 degrees."}]},
        ]
    }
    result = import_foreign(json.dumps(item).encode())
    assert [m["content"] for m in result.values[0][1]["messages"]] == [
        "Weather?",
        'w({"c":"Oslo"})',
        '{"t":3}',
        "3 degrees.",
    ]
    assert result.dropped == [
        "1 function-call turn was turned into plain text.",
        "1 tool-result turn was turned into plain text.",
    ]


def test_sharegpt_calls_that_cannot_be_read_become_text_and_are_counted():
    item = {
        "conversations": [
            {"from": "human", "value": "Do it"},
            {"from": "function_call", "value": "launch rockets"},
            {"from": "observation", "value": "done"},
            {"from": "gpt", "value": "Done."},
        ],
        "tools": "not json",
    }
    result = import_foreign((json.dumps(item) + "\n").encode() * 12)
    assert result.values[0][1]["messages"][1:3] == [
        {"role": "assistant", "content": "launch rockets"},
        {"role": "user", "content": "done"},
    ]
    assert "tools" not in result.values[0][1]
    assert result.dropped == [
        "12 function-call turns were turned into plain text.",
        "12 tool-result turns were turned into plain text.",
        "12 examples' tool definitions could not be read and were left out.",
    ]


def test_sharegpt_turn_weights_carry_over_and_the_rest_is_listed():
    item = {
        "conversations": [
            {"from": "human", "value": "Hi", "weight": 0},
            {"from": "gpt", "value": "Hello, how may I help?", "weight": 0},
            {"from": "human", "value": "Price?"},
            {"from": "gpt", "value": "€5", "weight": 1.0, "mood": "brief"},
            {"from": "gpt", "value": "Anything else?", "weight": 0.5},
            {"from": "function_call", "value": '{"name": "stock", "arguments": {}}', "weight": 0},
            {"from": "observation", "value": "12"},
            {"from": "gpt", "value": "12 left.", "weight": False},
        ]
    }
    result = import_foreign((json.dumps(item) + "\n").encode())
    messages = result.values[0][1]["messages"]
    assert [m.get("weight") for m in messages] == [None, 0, None, 1, None, 0, None, 0]
    assert type(messages[3]["weight"]) is int
    assert result.dropped == [
        "2 training weights on turns that are not assistant replies, or that are not 0 or 1, "
        "were left out (only replies can be weighted, with 0 or 1).",
        "Turn fields a chat message has no place for were left out: mood (1 turn).",
    ]
    exported = json.loads(export_values([result.values[0][1]], ExportFormat.OPENAI_CHAT).data)
    assert exported["messages"][1] == {
        "role": "assistant",
        "content": "Hello, how may I help?",
        "weight": 0,
    }


def test_a_file_is_foreign_when_most_of_its_items_are():
    sharegpt = {"conversations": [{"from": "human", "value": "Hi"}]}
    alpaca = {"instruction": "Hi", "output": "Hello"}
    assert foreign_format_of([sharegpt, sharegpt, alpaca, "junk"]) is ForeignFormat.SHAREGPT
    assert foreign_format_of([alpaca, SIMPLE]) is None
    assert foreign_format_of([alpaca, alpaca, SIMPLE]) is ForeignFormat.ALPACA
    assert foreign_format_of([SIMPLE, "junk", None]) is None
    assert foreign_format_of([]) is None


def test_parallel_calls_pair_with_their_results_in_order():
    item = {
        "conversations": [
            {"from": "human", "value": "Two cities"},
            {
                "from": "function_call",
                "value": '[{"name":"w","arguments":{"c":"A"}},{"name":"w","arguments":{"c":"B"}}]',
            },
            {"from": "observation", "value": "1"},
            {"from": "observation", "value": "2"},
            {"from": "gpt", "value": "1 and 2"},
        ]
    }
    messages = import_foreign(json.dumps(item).encode()).values[0][1]["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_1", "call_2"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:4]] == [
        ("call_1", "1"),
        ("call_2", "2"),
    ]
    exported = lines(export_values([{"messages": messages}], ExportFormat.SHAREGPT).data)[0]
    assert json.loads(exported["conversations"][1]["value"]) == [
        {"name": "w", "arguments": {"c": "A"}},
        {"name": "w", "arguments": {"c": "B"}},
    ]


def test_system_message_is_added_only_where_missing():
    data = (DATA / "sharegpt.jsonl").read_bytes()
    result = import_foreign(data, system="Default system.")
    systems = [v["messages"][0] for _, v in result.values]
    assert systems == [
        {"role": "system", "content": "You are terse."},
        {"role": "system", "content": "Default system."},
        {"role": "system", "content": "Reply in one word."},
    ]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (
            {"conversations": [{"from": "human"}]},
            'Turn 1 of this ShareGPT item has no text ("value").',
        ),
        (
            {"conversations": [{"value": "x"}]},
            'Turn 1 of this ShareGPT item has no speaker ("from").',
        ),
        ({"conversations": ["hi"]}, "Turn 1 of this ShareGPT item is not an object."),
        ({"instruction": 3, "output": "x"}, 'This Alpaca item\'s "instruction" is not text.'),
        ({"instruction": "x", "output": None}, 'This Alpaca item\'s "output" is not text.'),
        (
            {"instruction": "x", "input": 2, "output": "y"},
            'This Alpaca item\'s "input" is not text.',
        ),
        (
            {"instruction": "x", "output": "y", "history": [["only question"]]},
            "Entry 1 of this Alpaca item's history is not a question and reply.",
        ),
        ({"contents": []}, 'This Gemini item has no turns in "contents".'),
        ({"contents": [{"role": "user"}]}, "Turn 1 of this Gemini item has no parts."),
        (
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "systemInstruction": "be nice",
            },
            "This Gemini item's system instruction is not an object.",
        ),
        ([1, 2], "This item is not a JSON object."),
        ({"hello": "world"}, "This item is not a ShareGPT, Alpaca or Gemini example."),
    ],
)
def test_malformed_items_are_reported_on_their_line(item, reason):
    good = json.dumps({"instruction": "a", "output": "b"})
    data = f"{good}\n{json.dumps(item)}\n{good}\n".encode()
    result = import_foreign(data)
    assert result.failures == [(2, reason)]
    assert [line for line, _ in result.values] == [1, 3]


def test_bom_and_crlf_are_accepted():
    data = b"\xef\xbb\xbf" + json.dumps({"instruction": "a", "output": "b"}).encode() + b"\r\n"
    result = import_foreign(data)
    assert result.values == [(1, chat(("user", "a"), ("assistant", "b")))]


def test_an_openai_file_is_refused_with_advice():
    with pytest.raises(InterchangeError, match="open the file instead"):
        import_foreign((DATA / "openai_chat.jsonl").read_bytes(), ".jsonl")


@pytest.mark.parametrize("data", [b"", b"\n\n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(InterchangeError, match="holds no examples"):
        import_foreign(data)


def test_a_damaged_json_array_is_refused_with_its_position():
    data = b'[\n  {"instruction": "a", "output": "b"},\n  {"instruction": \n]'
    with pytest.raises(InterchangeError, match="line 4"):
        import_foreign(data, ".json")


def test_an_unterminated_json_array_is_refused():
    with pytest.raises(InterchangeError, match="closing bracket"):
        import_foreign(b'[\n{"instruction": "a", "output": "b"},\n', ".json")


def test_mixed_files_convert_every_item_and_name_the_main_format():
    rows = [
        {"instruction": "a", "output": "b"},
        {"instruction": "c", "output": "d"},
        {"conversations": [{"from": "human", "value": "e"}, {"from": "gpt", "value": "f"}]},
    ]
    result = import_foreign("\n".join(json.dumps(r) for r in rows).encode())
    assert result.format is ForeignFormat.ALPACA
    assert len(result.values) == 3


def test_formats_name_their_usual_file_ending():
    assert ExportFormat.ALPACA.suffix == ".json"
    assert {f.suffix for f in ExportFormat if f is not ExportFormat.ALPACA} == {".jsonl"}
    assert ForeignFormat.GEMINI.label == ExportFormat.GEMINI.label


def test_developer_messages_count_as_the_system_prompt():
    value = chat(("developer", "Be brief."), ("user", "Hi"), ("assistant", "Yo"))
    sharegpt = lines(export_values([value], ExportFormat.SHAREGPT).data)[0]
    assert sharegpt["conversations"][0] == {"from": "system", "value": "Be brief."}
    gemini = lines(export_values([value], ExportFormat.GEMINI).data)[0]
    assert gemini["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_the_older_functions_form_exports_to_sharegpt_calls():
    value = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "function_call": {"name": "w", "arguments": '{"c":"Oslo"}'}},
            {"role": "function", "name": "w", "content": "3"},
            {"role": "assistant", "content": "3 degrees."},
        ],
        "functions": [{"name": "w", "parameters": {"type": "object"}}],
    }
    result = export_values([value], ExportFormat.SHAREGPT)
    item = lines(result.data)[0]
    assert [t["from"] for t in item["conversations"]] == [
        "human",
        "function_call",
        "observation",
        "gpt",
    ]
    assert json.loads(item["tools"]) == value["functions"]
    assert result.dropped == ["1 speaker name on a message was left out."]
    back = import_foreign(result.data).values[0][1]
    assert back["messages"][1]["tool_calls"][0]["function"] == {
        "name": "w",
        "arguments": '{"c":"Oslo"}',
    }
    assert back["tools"] == [{"type": "function", "function": value["functions"][0]}]


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_halves_of_characters_and_huge_numbers_export_as_valid_utf8(fmt):
    value = {
        "messages": [
            {"role": "user", "content": "Nice \ud83d"},
            {"role": "assistant", "content": "Thanks \udc00", "weight": 1},
        ],
        "n": 123456789012345678901234567890,
    }
    result = export_values([value], fmt)
    text = result.data.decode("utf-8")
    assert "\\ud83d" in text and "\\udc00" in text


def test_an_array_item_too_deep_or_too_large_is_reported_on_its_line():
    deep = "[" * 2000 + "]" * 2000
    good = '{"instruction": "Hi", "input": "", "output": "Hello"}'
    data = f'[\n{good},\n{deep},\n{{"instruction": 1e400, "output": "x"}},\n{good}\n]'.encode()
    result = import_foreign(data, ".json")
    assert [line for line, _ in result.values] == [2, 5]
    reasons = dict(result.failures)
    assert "levels deep" in reasons[3]
    assert "too large" in reasons[4]


def test_an_imported_dataset_keeps_the_items_it_could_not_convert_in_their_place():
    data = (
        b'{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}\n'
        b'{"conversations": "not a list"}\n'
        b'{"conversations": [{"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Ciao"}]}\n'
    )
    result = import_foreign(data, ".jsonl")
    assert [line for line, _reason in result.failures] == [2]
    dataset = imported_dataset(data, result.values, result.failures)
    records = list(dataset)
    assert [record.line for record in records] == [1, 2, 3]
    assert [record.state for record in records] == [
        LineState.EXAMPLE,
        LineState.BROKEN,
        LineState.EXAMPLE,
    ]
    assert records[1].edited_text == '{"conversations": "not a list"}'
    assert records[1].error == result.failures[0][1]
    assert dataset.container is Container.NEW  # nothing is written back to the foreign file


def test_a_pair_is_named_after_the_file_without_its_training_ending(tmp_path):
    assert pair_paths(tmp_path / "support-train.jsonl", ".jsonl") == (
        tmp_path / "support-train.jsonl",
        tmp_path / "support-validation.jsonl",
    )
    assert pair_paths(tmp_path / "notes", ".csv") == (
        tmp_path / "notes-train.csv",
        tmp_path / "notes-validation.csv",
    )

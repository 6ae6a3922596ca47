"""Chats kept per model: files, titles, request messages, training examples and reply costs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.catalog import Catalog
from desktop.core.conversations import (
    NEW_CHAT_TITLE,
    ChatMessage,
    Conversation,
    ConversationStore,
    InferencePrices,
    Rating,
    StoreError,
    example_from_turn,
    inference_prices,
    model_folder_name,
    reply_cost,
    to_request_messages,
)
from desktop.core.validation import validate_example

CATALOG = Catalog.load()
FT_MINI = "ft:gpt-4.1-mini-2025-04-14:acme:support:AbC123xy"


def user(text: str, created: float = 100.0) -> ChatMessage:
    return ChatMessage("user", text, created=created)


def reply(text: str, created: float = 101.0, **meta) -> ChatMessage:
    return ChatMessage("assistant", text, created=created, **meta)


def chat(model_id: str = FT_MINI, *, created: float = 50.0, **kwargs) -> Conversation:
    kwargs.setdefault(
        "messages",
        [
            user("Where is my parcel?", 100.0),
            reply("It left our depot today.", 101.0, model=model_id, tokens_in=20),
        ],
    )
    return Conversation(model_id, created=created, **kwargs)


# Messages and conversations ---------------------------------------------------------------------


def test_a_message_must_come_from_the_user_or_the_assistant():
    with pytest.raises(ValueError, match="user or assistant"):
        ChatMessage("system", "Be brief.")
    with pytest.raises(ValueError, match="text"):
        ChatMessage("user", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("messages", "title"),
    [
        ([], NEW_CHAT_TITLE),
        ([user("   "), reply("Hello")], NEW_CHAT_TITLE),
        ([user("  How   do I\nreset my password? ")], "How do I reset my password?"),
        ([reply("Hi!"), user("Second"), user("Third")], "Second"),
        (
            [user("Please explain in detail how the refund process works for orders abroad")],
            "Please explain in detail how the refund process works for…",
        ),
        ([user("x" * 80)], "x" * 59 + "…"),
    ],
)
def test_the_title_is_the_first_user_message_on_one_short_line(messages, title):
    conversation = Conversation("gpt-4.1-mini", messages=messages)
    assert conversation.title == title
    assert len(conversation.title) <= 60


def test_updated_is_the_newest_message_or_the_creation_time():
    conversation = Conversation("m", created=10.0)
    assert conversation.updated == 10.0
    conversation.messages += [user("a", 30.0), reply("b", 20.0)]
    assert conversation.updated == 30.0


def test_total_cost_adds_the_known_reply_costs():
    conversation = Conversation(
        "m", messages=[user("a"), reply("b", cost_usd=0.25), reply("c"), reply("d", cost_usd=0.5)]
    )
    assert conversation.total_cost_usd == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"model_id": " "}, "model id"),
        ({"model_id": "m", "id": "../escape"}, "conversation id"),
        ({"model_id": "m", "id": ""}, "conversation id"),
        ({"model_id": "m", "temperature": 2.5}, "temperature"),
        ({"model_id": "m", "temperature": -0.1}, "temperature"),
        ({"model_id": "m", "max_output_tokens": 0}, "at least 1"),
    ],
)
def test_conversation_settings_are_checked(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        Conversation(**kwargs)


def test_only_replies_can_be_rated():
    conversation = chat()
    conversation.set_rating(1, Rating.BETTER)
    assert conversation.messages[1].rating is Rating.BETTER
    assert conversation.messages[1].content == "It left our depot today."
    conversation.set_rating(1, None)
    assert conversation.messages[1].rating is None
    with pytest.raises(ValueError, match="reply"):
        conversation.set_rating(0, Rating.WORSE)


# Request messages and training examples ---------------------------------------------------------


def test_request_messages_put_the_system_prompt_first_and_drop_metadata():
    conversation = chat(system_prompt="You are a support agent.")
    conversation.messages.append(user("Thanks", 102.0))
    assert to_request_messages(conversation) == [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It left our depot today."},
        {"role": "user", "content": "Thanks"},
    ]


def test_a_blank_system_prompt_is_not_sent():
    conversation = chat(system_prompt=" \n ")
    assert [m["role"] for m in to_request_messages(conversation)] == ["user", "assistant"]


def long_chat() -> Conversation:
    return Conversation(
        FT_MINI,
        system_prompt="Answer in one sentence.",
        messages=[
            user("Hi"),
            reply("Hello! How can I help?"),
            user("What are your opening hours?"),
            reply("We open at 9.", cost_usd=0.01, rating=Rating.WORSE),
            user("And on Sunday?"),
            reply("Closed on Sundays."),
        ],
    )


def test_a_turn_becomes_a_training_example_up_to_that_reply():
    example = example_from_turn(long_chat(), 3)
    assert example == {
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "What are your opening hours?"},
            {"role": "assistant", "content": "We open at 9."},
        ]
    }
    assert [f for f in validate_example(example) if f.blocking] == []


def test_an_edited_reply_replaces_the_models_answer_in_the_example():
    conversation = long_chat()
    example = example_from_turn(conversation, 3, edited_reply="We open at 9:00 on weekdays.")
    assert example["messages"][-1] == {
        "role": "assistant",
        "content": "We open at 9:00 on weekdays.",
    }
    assert len(example["messages"]) == 5
    assert conversation.messages[3].content == "We open at 9."


def test_an_example_without_system_prompt_starts_with_the_user():
    conversation = long_chat()
    conversation.system_prompt = ""
    assert example_from_turn(conversation, 1)["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
    ]


@pytest.mark.parametrize(
    ("index", "edited", "problem"),
    [
        (2, None, "reply"),
        (6, None, "no message number 7"),
        (-1, None, "no message number 0"),
        (5, "  \n", "empty"),
    ],
)
def test_only_a_non_empty_reply_can_end_an_example(index, edited, problem):
    with pytest.raises(ValueError, match=problem):
        example_from_turn(long_chat(), index, edited)


# Costs ----------------------------------------------------------------------------------------


def test_a_fine_tuned_reply_costs_input_cached_and_output_at_the_catalog_price():
    # gpt-4.1-mini fine-tuned: 0.80 in / 0.20 cached / 3.20 out per 1M tokens.
    expected = (600 * 0.80 + 400 * 0.20 + 500 * 3.20) / 1_000_000
    assert reply_cost(FT_MINI, 1000, 500, 400, catalog=CATALOG) == pytest.approx(expected)
    assert reply_cost(FT_MINI, 1000, 500, catalog=CATALOG) == pytest.approx(
        (1000 * 0.80 + 500 * 3.20) / 1_000_000
    )


def test_a_checkpoint_is_priced_like_its_model():
    checkpoint = FT_MINI + ":ckpt-step-88"
    assert reply_cost(checkpoint, 2_000_000, 0, catalog=CATALOG) == pytest.approx(1.60)


def test_cached_tokens_pay_the_input_price_when_there_is_no_cached_price():
    # gpt-3.5-turbo fine-tuned: 3.00 in / no cached price / 6.00 out.
    model = "ft:gpt-3.5-turbo-0125:acme::x1"
    assert reply_cost(model, 1000, 100, 500, catalog=CATALOG) == pytest.approx(0.0036)


@pytest.mark.parametrize(
    "model",
    ["gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "ft:unknown-model:acme::x", "llama3:8b", ""],
)
def test_the_price_is_unknown_for_base_and_unknown_models(model):
    # The catalog only knows what calls to fine-tuned models cost.
    assert inference_prices(model, CATALOG) is None
    assert reply_cost(model, 1000, 1000, catalog=CATALOG) is None


@pytest.mark.parametrize(
    ("prompt", "completion", "cached", "problem"),
    [(-1, 0, 0, "prompt"), (0, -1, 0, "completion"), (10, 0, -1, "cached"), (10, 0, 11, "exceed")],
)
def test_impossible_token_counts_are_refused(prompt, completion, cached, problem):
    with pytest.raises(ValueError, match=problem):
        reply_cost(FT_MINI, prompt, completion, cached, catalog=CATALOG)


def test_prices_compute_cost_per_million_tokens():
    prices = InferencePrices(input_per_1m=2.0, output_per_1m=8.0, cached_input_per_1m=0.5)
    assert prices.cost(1_000_000, 1_000_000, 1_000_000) == pytest.approx(8.5)
    assert prices.cost(0, 0) == 0.0


# Folder names ---------------------------------------------------------------------------------

SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def test_ft_ids_get_readable_folder_names_without_colons():
    name = model_folder_name(FT_MINI)
    assert SAFE_NAME.fullmatch(name)
    assert name.startswith("ft_gpt-4.1-mini-2025-04-14_acme_support_abc123xy-")
    assert model_folder_name(FT_MINI) == name


def test_ids_that_differ_only_in_case_or_punctuation_get_different_folders():
    names = {
        model_folder_name(FT_MINI),
        model_folder_name(FT_MINI.replace("AbC123xy", "abc123xy")),
        model_folder_name(FT_MINI.replace("acme:support", "acme::support")),
        model_folder_name(FT_MINI + ":ckpt-step-88"),
    }
    assert len(names) == 4


@pytest.mark.parametrize(
    "model", ["", "..", "CON", "a/b\\c", "meta-llama/Llama-3.1-8B-Instruct", "é" * 300]
)
def test_awkward_ids_still_get_safe_names(model):
    name = model_folder_name(model)
    assert SAFE_NAME.fullmatch(name)
    assert len(name) <= 80
    assert name.lower() != "con"


@given(st.text(max_size=200), st.text(max_size=200))
def test_folder_names_are_always_safe_and_tell_ids_apart(first, second):
    assert SAFE_NAME.fullmatch(model_folder_name(first))
    assert (model_folder_name(first) == model_folder_name(second)) == (first == second)


# The store ------------------------------------------------------------------------------------


def test_a_saved_conversation_loads_back_equal(tmp_path):
    store = ConversationStore(tmp_path)
    conversation = Conversation(
        FT_MINI,
        profile_id="openai-1a2b3c4d",
        system_prompt="Be kind. 😊",
        temperature=0.7,
        max_output_tokens=256,
        messages=[
            user("Grüße aus Köln"),
            reply(
                "Hallo!",
                model=FT_MINI,
                tokens_in=12,
                tokens_out=3,
                cost_usd=0.0000192,
                finish_reason="stop",
                rating=Rating.BETTER,
            ),
        ],
    )
    path = store.save(conversation)
    assert path == tmp_path / model_folder_name(FT_MINI) / f"{conversation.id}.json"
    assert json.loads(path.read_text(encoding="utf-8"))["model_id"] == FT_MINI
    assert store.load(FT_MINI, conversation.id) == conversation
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_saving_again_replaces_the_file(tmp_path):
    store = ConversationStore(tmp_path)
    conversation = chat()
    store.save(conversation)
    conversation.messages.append(user("More?", 200.0))
    store.save(conversation)
    assert store.load(FT_MINI, conversation.id).messages[-1].content == "More?"
    assert len(store.list(FT_MINI).items) == 1


def test_the_list_is_per_model_and_newest_first(tmp_path):
    store = ConversationStore(tmp_path)
    old = chat(created=1.0, messages=[user("old", 10.0)])
    new = chat(created=2.0, messages=[user("new", 30.0)])
    revived = chat(created=0.5, messages=[user("early", 5.0), reply("late", 40.0)])
    other = chat("gpt-4o-mini", created=3.0, messages=[user("other", 20.0)])
    for conversation in (old, new, revived, other):
        store.save(conversation)
    listing = store.list(FT_MINI)
    assert [c.title for c in listing.items] == ["early", "new", "old"]
    assert listing.skipped == []
    assert [c.title for c in store.list().items] == ["early", "new", "other", "old"]
    assert store.list("ft:never-used:x::y").items == []


def test_an_empty_or_missing_folder_lists_nothing(tmp_path):
    assert ConversationStore(tmp_path / "not-yet").list().items == []
    assert ConversationStore(tmp_path / "not-yet").list(FT_MINI).items == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"schema_version": 99}', "newer version"),
        (
            b'{"schema_version": 1, "id": "x", "model_id": "m", "created": 1, '
            b'"messages": [{"role": "robot", "content": "hi", "created": 1}]}',
            "messages[0].role",
        ),
        (
            b'{"schema_version": 1, "id": "x", "model_id": "m", "created": 1, '
            b'"messages": [{"role": "user", "content": "hi", "created": 1, "tokens_in": -3}]}',
            "tokens_in",
        ),
        (b'{"schema_version": 1, "id": "x", "created": 1, "messages": []}', "model_id"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_damaged_file_is_skipped_and_reported(tmp_path, content, reason):
    store = ConversationStore(tmp_path)
    good = chat()
    store.save(good)
    bad = tmp_path / model_folder_name(FT_MINI) / "damaged.json"
    bad.write_bytes(content)
    listing = store.list()
    assert listing.items == [good]
    assert len(listing.skipped) == 1
    assert listing.skipped[0].path == bad
    assert reason in listing.skipped[0].reason
    assert store.list(FT_MINI).skipped[0].path == bad
    with pytest.raises(StoreError, match=re.escape(reason)):
        store.load(FT_MINI, "damaged")


def test_a_file_moved_or_renamed_by_hand_is_skipped(tmp_path):
    store = ConversationStore(tmp_path)
    source = store.save(chat())
    moved = tmp_path / model_folder_name("gpt-4o-mini") / source.name
    moved.parent.mkdir()
    moved.write_bytes(source.read_bytes())
    renamed = source.with_name("other.json")
    renamed.write_bytes(source.read_bytes())
    listing = store.list()
    assert [c.id for c in listing.items] == [source.stem]
    assert sorted(s.path for s in listing.skipped) == sorted([moved, renamed])
    assert all("moved or renamed" in s.reason for s in listing.skipped)
    with pytest.raises(StoreError, match="moved or renamed"):
        store.load(FT_MINI, "other")


def test_files_that_are_not_chats_are_ignored(tmp_path):
    store = ConversationStore(tmp_path)
    folder = tmp_path / model_folder_name(FT_MINI)
    folder.mkdir()
    (folder / ".abc.json.x1.tmp").write_text("{")
    (folder / "notes.txt").write_text("hello")
    (tmp_path / "stray.json").write_text("{}")
    listing = store.list()
    assert listing.items == []
    assert listing.skipped == []


def test_loading_a_missing_conversation_says_so(tmp_path):
    with pytest.raises(StoreError, match="no longer exists"):
        ConversationStore(tmp_path).load(FT_MINI, "abc")


def test_ids_that_are_not_file_names_are_refused(tmp_path):
    store = ConversationStore(tmp_path)
    for bad in ("../../etc/passwd", "a/b", "", "x" * 65):
        with pytest.raises(ValueError, match="not a conversation id"):
            store.load(FT_MINI, bad)


def test_delete_removes_one_chat_and_the_emptied_folder(tmp_path):
    store = ConversationStore(tmp_path)
    first, second = chat(), chat()
    store.save(first)
    store.save(second)
    assert store.delete(FT_MINI, first.id) is True
    assert store.delete(FT_MINI, first.id) is False
    assert store.list().items == [second]
    assert store.delete(FT_MINI, second.id) is True
    assert not (tmp_path / model_folder_name(FT_MINI)).exists()


def test_clear_removes_every_chat_of_one_model_only(tmp_path):
    store = ConversationStore(tmp_path)
    for _ in range(3):
        store.save(chat())
    keep = chat("gpt-4o-mini")
    store.save(keep)
    (tmp_path / model_folder_name(FT_MINI) / "damaged.json").write_text("{")
    assert store.clear(FT_MINI) == 4
    assert not (tmp_path / model_folder_name(FT_MINI)).exists()
    assert store.list().items == [keep]
    assert store.clear(FT_MINI) == 0


def test_save_checks_settings_changed_after_creation(tmp_path):
    conversation = chat()
    conversation.temperature = 3.0
    with pytest.raises(ValueError, match="temperature"):
        ConversationStore(tmp_path).save(conversation)
    assert not any(tmp_path.iterdir())


def test_a_store_that_cannot_write_raises_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    with pytest.raises(StoreError):
        ConversationStore(blocker).save(chat())

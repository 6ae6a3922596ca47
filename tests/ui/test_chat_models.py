"""The chat screens' helpers: model lists, cost text, few-shot prefixes, examples from chats."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from desktop.api.profiles import profile_from_template
from desktop.core.catalog import Catalog
from desktop.core.conversations import ChatMessage, Conversation
from desktop.core.jobs import CheckpointSummary, JobSummary
from desktop.ui.chat.chat_examples import example_from_chat, few_shot_length
from desktop.ui.chat.chat_wording import format_cost, reply_footer
from desktop.ui.chat.model_picker import ModelGroup, build_entries, is_legacy_model

TODAY = date(2026, 11, 22)
OLD_FT = "ft:gpt-4o-mini-2024-07-18:org:first:aaa"
NEW_FT = "ft:gpt-4.1-mini-2025-04-14:org:second:bbb"
CKPT = "ft:gpt-4.1-mini-2025-04-14:org:second:bbb:ckpt-step-20"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _job(job_id: str, model: str, finished: int) -> JobSummary:
    return JobSummary.from_dict(
        {
            "id": job_id,
            "status": "succeeded",
            "model": "x",
            "fine_tuned_model": model,
            "finished_at": finished,
        }
    )


@pytest.mark.parametrize(
    ("usd", "text"),
    [
        (None, "cost unknown"),
        (0.0, "$0"),
        (0.000062, "$0.000062"),
        (0.0123, "$0.012"),
        (0.5, "$0.50"),
        (12.345, "$12.35"),
    ],
)
def test_costs_show_two_significant_digits(usd, text):
    assert format_cost(usd) == text


def test_the_footer_tells_tokens_cost_and_how_a_reply_ended():
    reply = ChatMessage(
        "assistant",
        "Hi",
        model="m",
        tokens_in=1200,
        tokens_out=30,
        cost_usd=None,
        finish_reason="length",
    )
    assert reply_footer(reply) == (
        "1,200 tokens in · 30 out · cost unknown · cut off at the length limit"
    )
    stopped = ChatMessage("assistant", "Hi", model="m", finish_reason="stopped")
    assert reply_footer(stopped) == "usage not reported, cost unknown · stopped by you"


def test_fine_tunes_come_first_newest_first_then_checkpoints_then_chat_base_models(catalog):
    profile = profile_from_template("openai", profile_id="p")
    listed = [
        ("gpt-4o-mini-2024-07-18", 1.0),
        ("text-embedding-3-small", 2.0),
        ("whisper-1", 3.0),
        ("gpt-5", 4.0),
        (OLD_FT, 1_700_000_000.0),
        ("davinci-002", 5.0),
    ]
    jobs = [_job("j2", NEW_FT, 1_790_000_000)]
    checkpoints = [
        CheckpointSummary.from_dict(
            {
                "id": "c",
                "fine_tuned_model_checkpoint": CKPT,
                "step_number": 20,
                "created_at": 1_789_999_000,
            }
        )
    ]

    entries = build_entries(profile, listed, jobs, checkpoints, catalog, TODAY)

    assert [(e.group, e.model_id) for e in entries] == [
        (ModelGroup.FINE_TUNED, NEW_FT),
        (ModelGroup.FINE_TUNED, OLD_FT),
        (ModelGroup.CHECKPOINTS, CKPT),
        (ModelGroup.BASE, "gpt-4o-mini-2024-07-18"),
        (ModelGroup.BASE, "gpt-5"),
        (ModelGroup.BASE, "davinci-002"),  # shut down: last, never the one picked first
    ]
    new, _old, checkpoint = entries[:3]
    davinci = entries[-1]
    when = datetime.fromtimestamp(1_790_000_000, tz=timezone.utc).astimezone().date()
    assert new.label == f"second · {when.isoformat()}"
    assert new.base_model == "gpt-4.1-mini-2025-04-14" and new.created == 1_790_000_000
    assert checkpoint.label.startswith("second · step 20 · ")
    assert davinci.legacy and davinci.note == "shut down 2026-10-23"
    assert not new.legacy and new.note == "retiring 2027-01-14"


def test_without_the_provider_list_the_catalog_models_stand_in(catalog):
    profile = profile_from_template("openai", profile_id="p")
    entries = build_entries(profile, None, [], [], catalog, TODAY)
    assert {e.model_id for e in entries} == set(profile.capabilities.catalog_models)
    assert {e.group for e in entries} == {ModelGroup.BASE}
    first = entries[0]  # what the chat picks when nothing was chosen
    assert not first.legacy and (first.shutdown_date is None or first.shutdown_date > TODAY)
    gone = [e.shutdown_date is not None and e.shutdown_date <= TODAY for e in entries]
    assert gone == sorted(gone) and gone[-1]  # the shut down ones (babbage-002 …) come last


def test_a_local_server_lists_its_own_models(catalog):
    profile = profile_from_template("local", profile_id="local")
    entries = build_entries(
        profile, [("llama3.2", None), ("qwen3:8b", None)], [], [], catalog, TODAY
    )
    assert [(e.group, e.model_id, e.legacy) for e in entries] == [
        (ModelGroup.SERVER, "llama3.2", False),
        (ModelGroup.SERVER, "qwen3:8b", False),
    ]


def test_legacy_models_are_the_completion_ones(catalog):
    assert is_legacy_model("babbage-002", catalog)
    assert is_legacy_model("ft:davinci-002:org:x:1", catalog)
    assert not is_legacy_model("gpt-4o-mini", catalog)
    assert not is_legacy_model("llama3.2", catalog)


def _few_shot_chat() -> Conversation:
    return Conversation(
        model_id="gpt-4o-mini",
        system_prompt="Be Bea.",
        messages=[
            ChatMessage("user", "Example question"),
            ChatMessage("assistant", "Example answer"),
            ChatMessage("user", "Real question"),
            ChatMessage("assistant", "Real answer", model="gpt-4o-mini"),
        ],
    )


def test_few_shot_examples_are_the_replies_no_model_wrote():
    chat = _few_shot_chat()
    assert few_shot_length(chat.messages) == 2
    assert few_shot_length(chat.messages[2:]) == 0
    assert few_shot_length([]) == 0


def test_an_example_from_a_few_shot_chat_leaves_the_shown_examples_out():
    assert example_from_chat(_few_shot_chat(), 3, legacy=False) == {
        "messages": [
            {"role": "system", "content": "Be Bea."},
            {"role": "user", "content": "Real question"},
            {"role": "assistant", "content": "Real answer"},
        ]
    }


def test_an_example_from_a_legacy_chat_is_a_prompt_and_completion():
    chat = Conversation(
        model_id="davinci-002",
        messages=[
            ChatMessage("user", "Once upon"),
            ChatMessage("assistant", " a time", model="davinci-002"),
        ],
    )
    assert example_from_chat(chat, 1, legacy=True) == {
        "prompt": "Once upon",
        "completion": " a time",
    }


def test_only_a_reply_can_end_an_example():
    with pytest.raises(ValueError, match="Only a model's reply"):
        example_from_chat(_few_shot_chat(), 2, legacy=False)

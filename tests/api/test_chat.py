"""Streaming chat, legacy completions and failure explanations against the fake provider."""

from __future__ import annotations

import threading
from datetime import date

import openai
import pytest

from desktop.api.chat import (
    LEGACY_DEFAULT_MAX_TOKENS,
    NOT_READY_WINDOW_SECONDS,
    STOPPED,
    ChatError,
    ChatUsage,
    FailureKind,
    complete_chat,
    complete_legacy,
    describe_failure,
    stream_chat,
    token_limit_field,
)
from desktop.api.client import build_client
from desktop.api.errors import ErrorKind, FriendlyError
from desktop.api.profiles import TEMPLATES, profile_from_template
from tests.fake_openai.chat_control import ChatControlServer

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
NOW = 2_000_000_000.0


def test_stream_yields_deltas_then_usage_and_finish_reason(fake_openai, openai_client):
    chunks = list(stream_chat(openai_client, "gpt-4o-mini", HELLO, temperature=0.2))

    *deltas, last = chunks
    assert "".join(c.delta for c in deltas) == "Echo from gpt-4o-mini: hello there"
    assert len(deltas) == 5 and not any(c.done for c in deltas)
    assert last.done and last.finish_reason == "stop"
    assert last.usage == ChatUsage(prompt_tokens=13, completion_tokens=5)
    sent = fake_openai.requests_to("POST", "/chat/completions")[-1].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.2
    assert "max_tokens" not in sent and "max_completion_tokens" not in sent


def test_length_limit_uses_the_field_given_and_reports_length(fake_openai, openai_client):
    chunks = list(
        stream_chat(
            openai_client, "gpt-4o-mini", HELLO, max_tokens=2, limit_field="max_completion_tokens"
        )
    )

    assert "".join(c.delta for c in chunks) == "Echo from"
    assert chunks[-1].finish_reason == "length"
    assert (
        fake_openai.requests_to("POST", "/chat/completions")[-1].json["max_completion_tokens"] == 2
    )


def test_should_stop_ends_the_stream_between_chunks(fake_openai, openai_client):
    seen: list[str] = []

    def stop_after_two() -> bool:
        return len(seen) >= 2

    for chunk in stream_chat(openai_client, "gpt-4o-mini", HELLO, should_stop=stop_after_two):
        if chunk.delta:
            seen.append(chunk.delta)
        last = chunk

    assert seen == ["Echo", " from"]
    assert last.done and last.finish_reason == STOPPED and last.usage is None


def test_a_dropped_stream_raises_with_the_partial_text(fake_openai, openai_client):
    fake_openai.inject("drop", path="/chat/completions", after_chunks=3)
    received = []

    with pytest.raises(ChatError) as caught:
        for chunk in stream_chat(openai_client, "gpt-4o-mini", HELLO):
            received.append(chunk.delta)

    assert caught.value.partial == "Echo from" == "".join(received)
    assert caught.value.friendly.kind is ErrorKind.NO_NETWORK
    failure = describe_failure(caught.value, model="gpt-4o-mini", model_created=None, now=NOW)
    assert failure.kind is FailureKind.INTERRUPTED and failure.can_retry
    assert "part that arrived is kept" in failure.text()


def test_a_server_refusing_stream_options_is_asked_again_without(fake_openai, openai_client):
    fake_openai.inject(
        "server_error",
        status=400,
        message="Unrecognized request argument supplied: stream_options",
        path="/chat/completions",
    )

    chunks = list(stream_chat(openai_client, "gpt-4o-mini", HELLO))

    assert "".join(c.delta for c in chunks) == "Echo from gpt-4o-mini: hello there"
    assert chunks[-1].usage is None
    sent = [r.json for r in fake_openai.requests_to("POST", "/chat/completions")]
    assert [("stream_options" in s, s.get("stream")) for s in sent] == [
        (True, True),
        (False, True),
    ]


def test_a_server_that_cannot_stream_gets_a_plain_request(fake_openai, openai_client):
    fake_openai.inject(
        "server_error", status=400, message="Streaming is not supported.", path="/chat/completions"
    )

    chunks = list(stream_chat(openai_client, "gpt-4o-mini", HELLO))

    assert [c.delta for c in chunks[:-1]] == ["Echo from gpt-4o-mini: hello there"]
    assert chunks[-1].usage == ChatUsage(13, 5)
    assert fake_openai.requests_to("POST", "/chat/completions")[-1].json.get("stream") is None


def test_other_refusals_are_not_retried(fake_openai, openai_client):
    fake_openai.inject("insufficient_quota", path="/chat/completions")

    with pytest.raises(ChatError) as caught:
        list(stream_chat(openai_client, "gpt-4o-mini", HELLO))

    assert caught.value.friendly.kind is ErrorKind.OUT_OF_CREDIT
    assert caught.value.partial == ""
    assert len(fake_openai.requests_to("POST", "/chat/completions")) == 1


def test_complete_chat_returns_the_whole_reply(fake_openai, openai_client):
    reply = complete_chat(openai_client, "gpt-4o-mini", HELLO, max_tokens=3)

    assert reply.text == "Echo from gpt-4o-mini:"
    assert reply.finish_reason == "length"
    assert reply.usage == ChatUsage(13, 3)


def test_legacy_completion_uses_the_completions_endpoint(fake_openai, openai_client):
    reply = complete_legacy(openai_client, "davinci-002", "Roses are red", temperature=0.5)

    assert reply.text == " Echo from davinci-002: Roses are red"
    assert reply.usage == ChatUsage(3, 6)
    sent = fake_openai.requests_to("POST", "/completions")[-1].json
    assert sent == {
        "model": "davinci-002",
        "prompt": "Roses are red",
        "max_tokens": LEGACY_DEFAULT_MAX_TOKENS,
        "temperature": 0.5,
    }


def test_legacy_errors_are_chat_errors(fake_openai, openai_client):
    with pytest.raises(ChatError) as caught:
        complete_legacy(openai_client, "ft:davinci-002:org:gone:123", "Hi")
    assert caught.value.friendly.kind is ErrorKind.MODEL_NOT_FOUND


def test_a_local_server_needs_no_key():
    with ChatControlServer(api_key=None) as server:
        profile = profile_from_template("local", base_url=server.base_url)
        with build_client(profile, None) as client:
            reply = complete_chat(client, "gpt-4o-mini", HELLO)
        assert reply.text.startswith("Echo from gpt-4o-mini")
        assert server.requests[-1].key_ok is None  # the server checked no key
        assert token_limit_field(profile) == "max_tokens"
    assert token_limit_field(profile_from_template("openai")) == "max_completion_tokens"
    assert TEMPLATES["local"].capabilities.needs_key is False


def test_paused_streams_deliver_the_first_chunks_at_once():
    with ChatControlServer(api_key=None) as server:
        server.pause_streams(after_chunks=3)
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        seen: list[str] = []
        arrived = threading.Event()

        def read() -> None:
            for chunk in stream_chat(client, "gpt-4o-mini", HELLO):
                seen.append(chunk.delta)
                if "".join(seen) == "Echo from":
                    arrived.set()

        thread = threading.Thread(target=read)
        thread.start()
        assert arrived.wait(5)
        assert server.wait_for_waiting(1)
        server.release()
        thread.join(5)
        assert "".join(seen) == "Echo from gpt-4o-mini: hello there"
        client.close()


# Telling failures apart ----------------------------------------------------------------------


def _error(kind: ErrorKind, partial: str = "", status: int | None = 404) -> ChatError:
    return ChatError(
        FriendlyError(kind, f"{kind.value} happened.", "Do something.", False, status_code=status),
        partial,
    )


FT = "ft:gpt-4o-mini-2024-07-18:org:bot:abc"


@pytest.mark.parametrize("kind", [ErrorKind.MODEL_NOT_FOUND, ErrorKind.TIMEOUT])
def test_right_after_training_a_missing_model_is_not_ready(kind):
    failure = describe_failure(_error(kind), model=FT, model_created=NOW - 60, now=NOW)

    assert failure.kind is FailureKind.NOT_READY
    assert failure.can_retry
    assert failure.message == "Your new model is not ready to answer yet."


def test_an_old_missing_model_is_shut_down_without_retry():
    failure = describe_failure(
        _error(ErrorKind.MODEL_NOT_FOUND),
        model=FT,
        model_created=NOW - NOT_READY_WINDOW_SECONDS - 1,
        now=NOW,
    )

    assert failure.kind is FailureKind.SHUT_DOWN
    assert not failure.can_retry
    assert "shut it down or it was deleted" in failure.message


def test_a_shut_down_base_model_is_named_with_its_date():
    failure = describe_failure(
        _error(ErrorKind.MODEL_NOT_FOUND),
        model=FT,
        model_created=NOW - 10 * NOT_READY_WINDOW_SECONDS,
        now=NOW,
        shutdown_date=date(2026, 10, 23),
        today=date(2026, 11, 22),
    )

    assert failure.message == (
        "This model no longer answers: its base model was shut down on 2026-10-23."
    )


def test_a_missing_model_of_unknown_age_is_explained_both_ways():
    failure = describe_failure(
        _error(ErrorKind.MODEL_NOT_FOUND), model=FT, model_created=None, now=NOW
    )

    assert failure.kind is FailureKind.UNAVAILABLE
    assert failure.can_retry
    assert "shut down" in failure.message and "not be ready" in failure.message


def test_an_old_model_timing_out_is_an_ordinary_timeout():
    friendly = FriendlyError(ErrorKind.TIMEOUT, "Too slow.", "Wait.", True)
    failure = describe_failure(ChatError(friendly), model=FT, model_created=NOW - 10**6, now=NOW)

    assert failure.kind is FailureKind.OTHER
    assert failure.can_retry
    assert failure.text() == "Too slow. Wait."


def test_a_refused_request_quotes_the_provider():
    friendly = FriendlyError(
        ErrorKind.INVALID_REQUEST,
        "The provider refused the request.",
        "Change it.",
        False,
        provider_message="temperature must be at most 2",
        status_code=400,
    )
    failure = describe_failure(ChatError(friendly), model="gpt-4o", model_created=None, now=NOW)

    assert failure.text().endswith("The provider said: “temperature must be at most 2”")

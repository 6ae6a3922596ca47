"""Every SDK failure maps to the right plain-language error (real SDK, injected faults)."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest

from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    MissingKeyError,
    ProviderError,
    friendly_error,
    may_have_acted,
    never_sent,
)
from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl


def _failure(call: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as info:  # any failure will do; callers check the type
        call()
    return info.value


def _list_models(client: openai.OpenAI) -> Callable[[], object]:
    return lambda: client.models.list()


@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "status"),
    [
        ("invalid_api_key", ErrorKind.WRONG_KEY, False, 401),
        ("permission_denied", ErrorKind.NO_PERMISSION, False, 403),
        ("training_not_available", ErrorKind.TRAINING_NOT_AVAILABLE, False, 403),
        ("model_not_found", ErrorKind.MODEL_NOT_FOUND, False, 404),
        ("rate_limit", ErrorKind.RATE_LIMITED, True, 429),
        ("insufficient_quota", ErrorKind.OUT_OF_CREDIT, False, 429),
        ("server_error", ErrorKind.SERVER_ERROR, True, 500),
    ],
)
def test_status_faults_map_to_kinds(
    fake_openai: FakeOpenAIServer,
    openai_client: openai.OpenAI,
    fault: str,
    kind: ErrorKind,
    retryable: bool,
    status: int,
) -> None:
    fake_openai.inject(fault, path="/models")  # type: ignore[arg-type]
    error = friendly_error(_failure(_list_models(openai_client)))
    assert error.kind is kind
    assert error.retryable is retryable
    assert error.status_code == status
    assert error.provider_message  # the provider's own words are kept for details
    assert error.message.endswith(".")
    assert error.next_step


def test_wrong_key_from_real_auth_check_never_shows_the_key(fake_openai: FakeOpenAIServer) -> None:
    wrong = "sk-proj-" + "ThisIsTheWrongKeyButStillSecret1234567890"
    with openai.OpenAI(base_url=fake_openai.base_url, api_key=wrong, max_retries=0) as client:
        exc = _failure(_list_models(client))
    error = friendly_error(exc, secrets=[wrong])
    assert error.kind is ErrorKind.WRONG_KEY
    for text in (error.message, error.next_step, error.provider_message or "", error.text()):
        assert wrong not in text
        assert "ThisIsTheWrongKey" not in text


def test_training_not_available_points_to_another_profile(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = openai_client.files.create(file=("t.jsonl", chat_jsonl()), purpose="fine-tune")
    fake_openai.inject("training_not_available", method="POST", path="/fine_tuning/jobs")
    exc = _failure(
        lambda: openai_client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=training.id
        )
    )
    error = friendly_error(exc)
    assert error.kind is ErrorKind.TRAINING_NOT_AVAILABLE
    assert "another provider" in error.next_step and "Together AI" in error.next_step
    assert error.code == "training_not_available"


def test_plain_not_found(openai_client: openai.OpenAI) -> None:
    error = friendly_error(_failure(lambda: openai_client.fine_tuning.jobs.retrieve("ftjob-x")))
    assert error.kind is ErrorKind.NOT_FOUND
    assert error.retryable is False


def test_unknown_chat_model_is_model_not_found(openai_client: openai.OpenAI) -> None:
    exc = _failure(
        lambda: openai_client.chat.completions.create(
            model="ft:deleted", messages=[{"role": "user", "content": "x"}]
        )
    )
    assert friendly_error(exc).kind is ErrorKind.MODEL_NOT_FOUND


def test_rate_limit_carries_retry_after(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("rate_limit", path="/models", retry_after=12)
    error = friendly_error(_failure(_list_models(openai_client)))
    assert error.retry_after == 12
    assert "12 seconds" in error.next_step


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(1, "Wait about 1 second and"), (0.4, None), (150, "Wait about 3 minutes and")],
)
def test_the_wait_asked_for_reads_naturally(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, retry_after: float, wait: str
) -> None:
    fake_openai.inject("rate_limit", path="/models", retry_after=retry_after)
    error = friendly_error(_failure(_list_models(openai_client)))
    if wait is None:  # under a second: the usual "Wait a moment"
        assert error.next_step == "Wait a moment and try again."
    else:
        assert error.next_step.startswith(wait)


@pytest.mark.parametrize(
    ("fault", "acted"),
    [
        ("drop", True),
        ("malformed_json", True),
        ("server_error", True),
        ("rate_limit", False),
        ("invalid_api_key", False),
        ("insufficient_quota", False),
    ],
)
def test_a_failure_says_whether_the_provider_may_have_acted(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, fault: str, acted: bool
) -> None:
    fake_openai.inject(fault, path="/models")  # type: ignore[arg-type]
    assert may_have_acted(_failure(_list_models(openai_client))) is acted


def test_a_connection_never_made_certainly_did_nothing() -> None:
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-x", max_retries=0) as c:
        exc = _failure(_list_models(c))
    assert friendly_error(exc).kind is ErrorKind.NO_NETWORK
    assert never_sent(exc) and not may_have_acted(exc)


def test_rate_limit_versus_out_of_credit_differ_only_by_code(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("rate_limit", path="/models")
    fake_openai.inject("insufficient_quota", path="/models")
    first = _failure(_list_models(openai_client))
    second = _failure(_list_models(openai_client))
    assert type(first) is type(second) is openai.RateLimitError
    assert friendly_error(first).kind is ErrorKind.RATE_LIMITED
    out = friendly_error(second)
    assert out.kind is ErrorKind.OUT_OF_CREDIT
    assert out.retryable is False
    assert "billing" in out.next_step


def test_502_is_a_server_error(fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI) -> None:
    fake_openai.inject("server_error", path="/models", status=502)
    error = friendly_error(_failure(_list_models(openai_client)))
    assert (error.kind, error.status_code) == (ErrorKind.SERVER_ERROR, 502)


def test_slow_answer_becomes_timeout(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject("slow", path="/models", delay=2.0)
    with openai.OpenAI(
        base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=0, timeout=0.2
    ) as client:
        exc = _failure(_list_models(client))
    assert isinstance(exc, openai.APITimeoutError)
    error = friendly_error(exc)
    assert error.kind is ErrorKind.TIMEOUT
    assert error.retryable is True


def test_dropped_connection_is_no_network(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("drop", path="/models")
    exc = _failure(_list_models(openai_client))
    assert isinstance(exc, openai.APIConnectionError)
    assert friendly_error(exc).kind is ErrorKind.NO_NETWORK


def test_stream_cut_midway_is_no_network(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("drop", path="/chat/completions", after_chunks=2)
    received: list[str] = []

    def consume() -> None:
        stream = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    exc = _failure(consume)
    assert received == ["", "Echo"]  # two chunks arrived before the cut
    assert friendly_error(exc).kind is ErrorKind.NO_NETWORK


def test_malformed_json_is_a_bad_response(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("malformed_json", path="/models")
    exc = _failure(_list_models(openai_client))
    assert isinstance(exc, json.JSONDecodeError)
    error = friendly_error(exc)
    assert error.kind is ErrorKind.BAD_RESPONSE
    assert "Traceback" not in error.text()


def test_malformed_stream_chunk_is_a_bad_response(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("malformed_json", path="/chat/completions", after_chunks=1)
    exc = _failure(
        lambda: list(
            openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    )
    assert friendly_error(exc).kind is ErrorKind.BAD_RESPONSE


def test_closed_port_is_no_network() -> None:
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-x", max_retries=0) as c:
        exc = _failure(_list_models(c))
    assert friendly_error(exc).kind is ErrorKind.NO_NETWORK


@pytest.mark.parametrize(
    ("hyperparameters", "param"),
    [
        ({"n_epochs": 0}, "method.supervised.hyperparameters.n_epochs"),
        ({"batch_size": 300}, "method.supervised.hyperparameters.batch_size"),
    ],
)
def test_invalid_request_shows_provider_message_and_param(
    openai_client: openai.OpenAI, hyperparameters: dict, param: str
) -> None:
    training = openai_client.files.create(file=("t.jsonl", chat_jsonl()), purpose="fine-tune")
    exc = _failure(
        lambda: openai_client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18",
            training_file=training.id,
            method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        )
    )
    error = friendly_error(exc)
    assert error.kind is ErrorKind.INVALID_REQUEST
    assert error.param == param
    assert param in error.message
    assert error.provider_message is not None and "Invalid" in error.provider_message
    assert error.retryable is False


def test_missing_key_and_unexpected_errors() -> None:
    assert friendly_error(MissingKeyError("x")).kind is ErrorKind.NO_KEY
    weird = friendly_error(RuntimeError("Traceback (most recent call last): sk-abcdefghijklmnop"))
    assert weird.kind is ErrorKind.UNKNOWN
    assert "Traceback" not in weird.text()
    assert "sk-" not in weird.text()


def test_provider_error_wraps_and_is_unwrapped() -> None:
    inner = FriendlyError(ErrorKind.SERVER_ERROR, "m.", "n.", True)
    assert friendly_error(ProviderError(inner)) is inner


def test_provider_message_is_redacted(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    leaked = "sk-live-0123456789abcdefghijkl"
    fake_openai.inject("server_error", path="/models", message=f"upstream said Bearer {leaked}")
    error = friendly_error(_failure(_list_models(openai_client)))
    assert error.provider_message is not None
    assert leaked not in error.provider_message
    assert "[redacted]" in error.provider_message

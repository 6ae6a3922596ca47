"""Clients built from profiles, the retry policy and the connection test."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import openai
import pytest

from desktop.api import client as api_client
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    MissingKeyError,
    ProviderError,
    friendly_error,
)
from desktop.api.profiles import (
    AZURE_CAPABILITIES,
    LOCAL_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
    profile_from_template,
)
from desktop.api.redaction import Secret
from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl


def _profile(server: FakeOpenAIServer, **changes: object) -> ProviderProfile:
    base = ProviderProfile(
        id="fake",
        display_name="Fake provider",
        kind=ProviderKind.COMPATIBLE,
        base_url=server.base_url,
    )
    return base.with_changes(**changes) if changes else base


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- build_client ----------------------------------------------------------------------------
def test_client_sends_bearer_key_org_and_project(fake_openai: FakeOpenAIServer) -> None:
    profile = _profile(fake_openai, organization="org-123", project="proj_456")
    with api_client.build_client(profile, Secret(fake_openai.api_key or "")) as client:
        client.models.list()
    record = fake_openai.requests[-1]
    assert record.auth == "bearer"
    assert record.key_ok is True
    assert record.headers["openai-organization"] == "org-123"
    assert record.headers["openai-project"] == "proj_456"


def test_azure_client_uses_v1_endpoint_with_api_key_header(fake_openai: FakeOpenAIServer) -> None:
    profile = ProviderProfile(
        id="az",
        display_name="Azure",
        kind=ProviderKind.AZURE,
        base_url=fake_openai.azure_base_url,
        capabilities=AZURE_CAPABILITIES,
    )
    with api_client.build_client(profile, fake_openai.api_key) as client:
        client.models.list()
    record = fake_openai.requests[-1]
    assert record.raw_path == "/openai/v1/models"
    assert "api-key" in record.auth.split("+")  # type: ignore[union-attr]
    assert record.key_ok is True


def test_local_profile_needs_no_key() -> None:
    with FakeOpenAIServer(api_key=None) as server:
        profile = profile_from_template("local", base_url=server.base_url)
        with api_client.build_client(profile, None) as client:
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
    assert reply.choices[0].message.content == "Echo from gpt-4o-mini: hello"
    assert server.requests[-1].auth == "bearer"  # a placeholder key is still sent


def _this_computers_network_address() -> str | None:
    """An address of this computer that is not loopback, as another computer would be seen."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.fixture
def network_server() -> Iterator[FakeOpenAIServer]:
    """The fake provider on a non-loopback address: to the app, another computer."""
    address = _this_computers_network_address()
    if address is None:
        pytest.skip("this computer has no network address besides loopback")
    with FakeOpenAIServer(host=address) as server:
        yield server


def test_plain_http_to_another_computer_is_refused_before_any_request() -> None:
    profile = ProviderProfile(
        id="lan", display_name="LAN", kind=ProviderKind.COMPATIBLE, base_url="http://192.0.2.2/v1"
    )
    with pytest.raises(api_client.PlainHttpRefusedError) as info:
        api_client.build_client(profile, Secret("sk-would-travel-in-clear-000000"))
    friendly = friendly_error(info.value)
    assert friendly.message.startswith("Nothing was sent: 192.0.2.2 is reached over plain http")
    assert "https://" in friendly.next_step and "allow plain http" in friendly.next_step
    assert not friendly.retryable
    for key in (None, "sk-anything-0000000000"):  # refused whatever the key
        with pytest.raises(ProviderError):
            api_client.build_client(profile.with_changes(capabilities=LOCAL_CAPABILITIES), key)


def test_plain_http_key_never_reaches_another_computer(network_server: FakeOpenAIServer) -> None:
    profile = _profile(network_server)
    assert profile.base_url.startswith("http://") and "127.0.0.1" not in profile.base_url
    result = api_client.test_connection(profile, network_server.api_key)
    assert result.ok is False
    assert result.sentence.startswith("Nothing was sent:")
    assert network_server.requests == []  # nothing at all reached it

    allowed = profile.with_changes(allow_plain_http=True)  # the user said yes, for this profile
    assert api_client.test_connection(allowed, network_server.api_key).ok is True
    assert network_server.requests[-1].key_ok is True


def test_a_redirect_is_not_followed_so_an_azure_key_stays_put(
    fake_openai: FakeOpenAIServer,
) -> None:
    with FakeOpenAIServer(api_key=None) as elsewhere:
        fake_openai.inject("redirect", path="/models", message=f"{elsewhere.base_url}/models")
        profile = ProviderProfile(
            id="az",
            display_name="Azure",
            kind=ProviderKind.AZURE,
            base_url=fake_openai.azure_base_url,
            capabilities=AZURE_CAPABILITIES,
        )
        result = api_client.test_connection(profile, fake_openai.api_key)
        assert elsewhere.requests == []  # neither the api-key header nor anything else went
    assert result.ok is False
    assert "pointed the request to another address" in result.sentence
    assert elsewhere.base_url in result.sentence


def test_this_computer_by_name_needs_no_permission(fake_openai: FakeOpenAIServer) -> None:
    by_name = _profile(fake_openai, base_url=fake_openai.base_url.replace("127.0.0.1", "localhost"))
    assert api_client.test_connection(by_name, fake_openai.api_key).ok is True


def test_missing_key_is_refused_before_any_request(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(MissingKeyError):
        api_client.build_client(_profile(fake_openai), None)
    with pytest.raises(MissingKeyError):
        api_client.build_client(_profile(fake_openai), Secret("  "))
    assert fake_openai.requests == []


def test_client_has_sdk_retries_off_and_profile_timeout(fake_openai: FakeOpenAIServer) -> None:
    profile = _profile(fake_openai, timeout_seconds=42)
    with api_client.build_client(profile, "sk-x") as client:
        assert client.max_retries == 0
        assert client.timeout.read == 42  # type: ignore[union-attr]
        assert client.timeout.connect == api_client.CONNECT_TIMEOUT_SECONDS  # type: ignore[union-attr]


# ---- with_retries ----------------------------------------------------------------------------
class _Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_rate_limit_is_retried_after_the_servers_delay(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("rate_limit", path="/models", retry_after=3)
    sleeps = _Sleeps()
    retried: list[FriendlyError] = []
    page = api_client.with_retries(
        openai_client.models.list, sleep=sleeps, on_retry=lambda e, d: retried.append(e)
    )
    assert page.data
    assert sleeps.delays == [3]
    assert [e.kind for e in retried] == [ErrorKind.RATE_LIMITED]
    assert len(fake_openai.requests_to("GET", "/models")) == 2


def test_out_of_credit_is_not_retried(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("insufficient_quota", path="/models", times=None)
    sleeps = _Sleeps()
    with pytest.raises(ProviderError) as info:
        api_client.with_retries(openai_client.models.list, sleep=sleeps)
    assert info.value.friendly.kind is ErrorKind.OUT_OF_CREDIT
    assert sleeps.delays == []
    assert len(fake_openai.requests_to("GET", "/models")) == 1


def test_server_errors_back_off_then_give_up(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("server_error", path="/models", times=None)
    sleeps = _Sleeps()
    with pytest.raises(ProviderError) as info:
        api_client.with_retries(openai_client.models.list, attempts=3, sleep=sleeps)
    assert info.value.friendly.kind is ErrorKind.SERVER_ERROR
    assert sleeps.delays == [1.0, 2.0]
    assert len(fake_openai.requests_to("GET", "/models")) == 3


def test_job_creation_is_not_repeated_after_a_dropped_answer(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = openai_client.files.create(file=("t.jsonl", chat_jsonl()), purpose="fine-tune")
    fake_openai.inject("drop", method="POST", path="/fine_tuning/jobs")
    sleeps = _Sleeps()
    with pytest.raises(ProviderError) as info:
        api_client.with_retries(
            lambda: openai_client.fine_tuning.jobs.create(
                model="gpt-4o-mini-2024-07-18", training_file=training.id
            ),
            idempotent=False,
            sleep=sleeps,
        )
    assert info.value.friendly.kind is ErrorKind.NO_NETWORK
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    assert len(fake_openai.state.jobs) == 1  # it did reach the provider: never send it twice
    assert sleeps.delays == []


def test_job_creation_is_retried_after_a_rate_limit(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = openai_client.files.create(file=("t.jsonl", chat_jsonl()), purpose="fine-tune")
    fake_openai.inject("rate_limit", method="POST", path="/fine_tuning/jobs")
    job = api_client.with_retries(
        lambda: openai_client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=training.id
        ),
        idempotent=False,
        sleep=_Sleeps(),
    )
    assert job.status == "validating_files"
    assert len(fake_openai.state.jobs) == 1


def test_retry_delay_is_capped(fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI) -> None:
    fake_openai.inject("rate_limit", path="/models", retry_after=100)
    sleeps = _Sleeps()
    api_client.with_retries(openai_client.models.list, sleep=sleeps, max_delay=5)
    assert sleeps.delays == [5]


# ---- test_connection -------------------------------------------------------------------------
def test_connection_ok_counts_models(fake_openai: FakeOpenAIServer) -> None:
    result = api_client.test_connection(_profile(fake_openai), fake_openai.api_key)
    expected = len(fake_openai.state.models)
    assert result.ok is True
    assert result.model_count == expected
    assert result.sentence == f"Connected to Fake provider: {expected} models available."


def test_connection_with_wrong_key(fake_openai: FakeOpenAIServer) -> None:
    wrong = "sk-" + "wrong-but-secret-0123456789abcdef"
    result = api_client.test_connection(_profile(fake_openai), Secret(wrong))
    assert result.ok is False
    assert result.error is not None and result.error.kind is ErrorKind.WRONG_KEY
    assert result.sentence == "The provider did not accept the API key."
    assert wrong not in repr(result)


def test_connection_without_network() -> None:
    profile = ProviderProfile(
        id="x",
        display_name="Nowhere",
        kind=ProviderKind.COMPATIBLE,
        base_url=f"http://127.0.0.1:{_closed_port()}/v1",
    )
    result = api_client.test_connection(profile, "sk-anything-1234")
    assert result.ok is False
    assert result.error is not None and result.error.kind is ErrorKind.NO_NETWORK
    assert result.sentence == "The provider could not be reached."


def test_connection_timeout_is_short(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject("slow", path="/models", delay=3)
    result = api_client.test_connection(_profile(fake_openai), fake_openai.api_key, timeout=0.2)
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT


def test_connection_without_key_says_so(fake_openai: FakeOpenAIServer) -> None:
    result = api_client.test_connection(_profile(fake_openai), None)
    assert result.error is not None and result.error.kind is ErrorKind.NO_KEY
    assert fake_openai.requests == []

"""Build SDK clients from profiles, retry only what is safe to retry, and test a connection.

The SDK's own retries are switched off (``max_retries=0``): it would retry ``insufficient_quota``
(an empty balance, not a passing problem) and repeat non-idempotent calls such as job creation
after a timeout. ``with_retries`` retries by ``FriendlyError.retryable`` instead, honours the
provider's ``Retry-After`` and, for calls that create something, only retries rate limits,
where the provider has certainly not acted on the request.

Every client is built here, so this is also where plain http to another computer is refused
unless the user allowed it for that profile: the key would otherwise cross the network
unencrypted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    MissingKeyError,
    ProviderError,
    friendly_error,
)
from desktop.api.model_list import provider_models
from desktop.api.profiles import ProviderKind, ProviderProfile
from desktop.api.redaction import Secret, register_secret, reveal

if TYPE_CHECKING:
    import openai

T = TypeVar("T")

LOCAL_PLACEHOLDER_KEY = "not-needed"
CONNECT_TIMEOUT_SECONDS = 10.0
TEST_TIMEOUT_SECONDS = 10.0
MAX_RETRY_DELAY_SECONDS = 60.0


class PlainHttpRefusedError(ProviderError):
    """The profile's address is plain http to another computer and the user has not allowed it."""


def check_transport(profile: ProviderProfile) -> None:
    """Raise ``PlainHttpRefusedError`` unless requests to the profile may be sent as they are."""
    if not profile.plain_http_refused:
        return
    raise PlainHttpRefusedError(
        FriendlyError(
            kind=ErrorKind.INVALID_REQUEST,
            message=f"Nothing was sent: {profile.plain_http_warning}",
            next_step=(
                "Change the address to https:// in Settings, or allow plain http for this"
                " provider there if you trust every network in between."
            ),
            retryable=False,
        )
    )


def build_client(
    profile: ProviderProfile,
    key: str | Secret | None,
    *,
    timeout: float | None = None,
    max_retries: int = 0,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for the profile (Azure: v1 endpoint plus ``api-key`` header).

    Raises ``PlainHttpRefusedError`` before anything is sent when the address is plain http to
    another computer and the profile does not allow it, and ``MissingKeyError`` without a key.
    The SDK is loaded here, by the first client that can be made, not when the app starts.
    """
    check_transport(profile)
    plain = reveal(key).strip() if key is not None else ""
    if not plain:
        if profile.capabilities.needs_key:
            raise MissingKeyError("no API key for this profile")
        plain = LOCAL_PLACEHOLDER_KEY
    else:
        register_secret(plain)
    import openai

    seconds = float(timeout if timeout is not None else profile.timeout_seconds)
    headers: dict[str, str] = {}
    if profile.kind is ProviderKind.AZURE:
        headers["api-key"] = plain
    return openai.OpenAI(
        api_key=plain,
        base_url=profile.base_url,
        organization=profile.organization,
        project=profile.project,
        timeout=openai.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT_SECONDS)),
        max_retries=max_retries,
        default_headers=headers or None,
        # A redirect is never followed: the key headers (Azure's api-key above all) would go
        # along to whatever address the server names, perhaps over plain http.
        http_client=openai.DefaultHttpxClient(follow_redirects=False),
    )


def with_retries(
    call: Callable[[], T],
    *,
    idempotent: bool = True,
    attempts: int = 3,
    base_delay: float = 1.0,
    max_delay: float = MAX_RETRY_DELAY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[FriendlyError, float], None] | None = None,
    secrets: tuple[str | Secret | None, ...] = (),
) -> T:
    """Run ``call``; on a retryable failure wait and try again, else raise ``ProviderError``.

    ``idempotent=False`` (creating a job, uploading a file) retries only rate limits, so a
    request that may have reached the provider is never sent twice.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            friendly = friendly_error(exc, secrets=secrets)
            can_retry = friendly.retryable and (
                idempotent or friendly.kind is ErrorKind.RATE_LIMITED
            )
            if not can_retry or attempt >= attempts:
                raise ProviderError(friendly) from exc
            if friendly.retry_after is not None:
                delay = min(friendly.retry_after, max_delay)
            else:
                delay = min(base_delay * 2 ** (attempt - 1), max_delay)
            if on_retry is not None:
                on_retry(friendly, delay)
            sleep(delay)


@dataclass(frozen=True)
class ConnectionResult:
    """Outcome of ``test_connection``: one sentence for the user, details for the UI."""

    ok: bool
    sentence: str
    model_count: int | None = None
    error: FriendlyError | None = None


def test_connection(
    profile: ProviderProfile,
    key: str | Secret | None,
    *,
    timeout: float = TEST_TIMEOUT_SECONDS,
) -> ConnectionResult:
    """Try one cheap call (list models) and say in one sentence whether it worked."""
    try:
        with build_client(profile, key, timeout=timeout) as client:
            count = len(provider_models(client))
    except Exception as exc:
        friendly = friendly_error(exc, secrets=(key,))
        return ConnectionResult(ok=False, sentence=friendly.message, error=friendly)
    noun = "model" if count == 1 else "models"
    return ConnectionResult(
        ok=True,
        sentence=f"Connected to {profile.display_name}: {count} {noun} available.",
        model_count=count,
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

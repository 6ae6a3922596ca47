"""The one place that turns provider failures into sentences a non-programmer can act on.

Every SDK exception (and a few of our own) maps to a ``FriendlyError``: what happened, what to
do next, whether trying again can help, and for refused requests the provider's own
explanation and the setting it complained about. No sentence ever contains a key or a
traceback.

Nothing here imports the SDK: an SDK exception can only exist once something has loaded the
SDK to talk to a provider, so the checks look for it among the loaded modules. The app starts
without the half second the SDK takes to import, and work that never reaches a provider (the
dataset screens, training on this computer) never pays for it.
"""

from __future__ import annotations

import email.utils
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING

from desktop.api.redaction import Secret, redact

if TYPE_CHECKING:
    import openai

_MAX_PROVIDER_MESSAGE = 500


class ErrorKind(str, Enum):
    """Families of failure the UI treats differently."""

    WRONG_KEY = "wrong_key"
    NO_KEY = "no_key"
    NO_PERMISSION = "no_permission"
    TRAINING_NOT_AVAILABLE = "training_not_available"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    RATE_LIMITED = "rate_limited"
    OUT_OF_CREDIT = "out_of_credit"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NO_NETWORK = "no_network"
    INVALID_REQUEST = "invalid_request"
    BAD_RESPONSE = "bad_response"
    UNKNOWN = "unknown"
    #: A request that creates something may or may not have been carried out, and looking
    #: for its result found nothing yet: only the user may decide to send it again.
    UNKNOWN_OUTCOME = "unknown_outcome"


@dataclass(frozen=True)
class FriendlyError:
    """A failure explained: one sentence, a next step, and whether retrying can help."""

    kind: ErrorKind
    message: str
    next_step: str
    retryable: bool
    provider_message: str | None = None
    param: str | None = None
    status_code: int | None = None
    code: str | None = None
    retry_after: float | None = None

    def text(self) -> str:
        """Sentence and next step together, for a message box."""
        return f"{self.message} {self.next_step}"


class MissingKeyError(Exception):
    """A profile that needs a key has none (found before any client is built)."""


class UploadCancelled(Exception):
    """The user stopped an upload; nothing was left behind on the provider."""


class ProviderError(Exception):
    """Raised by the app's provider wrappers; ``friendly`` says what to tell the user."""

    def __init__(self, friendly: FriendlyError) -> None:
        super().__init__(friendly.message)
        self.friendly = friendly


_SENTENCES: dict[ErrorKind, tuple[str, str, bool]] = {
    ErrorKind.WRONG_KEY: (
        "The provider did not accept the API key.",
        "Check the key in Settings, or create a new one in the provider's dashboard.",
        False,
    ),
    ErrorKind.NO_KEY: (
        "There is no API key for this provider profile yet.",
        "Enter the key in Settings.",
        False,
    ),
    ErrorKind.NO_PERMISSION: (
        "This key is not allowed to do that.",
        "Ask the account owner for access, or use a key from a project that has it.",
        False,
    ),
    ErrorKind.TRAINING_NOT_AVAILABLE: (
        "This provider no longer accepts new fine-tuning jobs from your account.",
        "Train the same dataset with another provider: Together AI or Nebius Token Factory"
        " (add one in Settings), or on this computer.",
        False,
    ),
    ErrorKind.NOT_FOUND: (
        "The provider could not find what was asked for.",
        "It may have been deleted; refresh the list and try again.",
        False,
    ),
    ErrorKind.MODEL_NOT_FOUND: (
        "The provider does not have this model, or this key cannot use it.",
        "Pick another model; a model trained a moment ago can take a few minutes to appear.",
        False,
    ),
    ErrorKind.RATE_LIMITED: (
        "The provider is receiving too many requests from this account right now.",
        "Wait a moment and try again.",
        True,
    ),
    ErrorKind.OUT_OF_CREDIT: (
        "The account has run out of credit or reached its spending limit.",
        "Check the billing page of your provider account, then try again.",
        False,
    ),
    ErrorKind.SERVER_ERROR: (
        "The provider had a problem on its side.",
        "Try again in a few minutes.",
        True,
    ),
    ErrorKind.TIMEOUT: (
        "The provider took too long to answer.",
        "Check your connection, or allow more time in Settings (network timeout).",
        True,
    ),
    ErrorKind.NO_NETWORK: (
        "The provider could not be reached.",
        "Check your internet connection and the address in Settings.",
        True,
    ),
    ErrorKind.INVALID_REQUEST: (
        "The provider refused the request.",
        "Read the provider's explanation, change that setting and try again.",
        False,
    ),
    ErrorKind.BAD_RESPONSE: (
        "The provider sent an answer the app could not read.",
        "Try again; if it keeps happening, check the address in Settings.",
        False,
    ),
    ErrorKind.UNKNOWN: (
        "Something unexpected went wrong while talking to the provider.",
        "Try again; if it keeps happening, look at the log file.",
        False,
    ),
    ErrorKind.UNKNOWN_OUTCOME: (
        "The provider did not confirm the request, and what it would have made has not "
        "appeared yet.",
        "It may still appear: look again in a few minutes, and send it again only if it does not.",
        True,
    ),
}

#: Failures after which the provider may still have carried the request out: the answer was
#: lost, cut off, unreadable or a server error. Refusals (4xx) are certain not to have acted.
_MAYBE_ACTED = frozenset(
    {
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.NO_NETWORK,
        ErrorKind.BAD_RESPONSE,
        ErrorKind.UNKNOWN,
    }
)


def _make(
    kind: ErrorKind,
    *,
    message: str | None = None,
    next_step: str | None = None,
    provider_message: str | None = None,
    param: str | None = None,
    status_code: int | None = None,
    code: str | None = None,
    retry_after: float | None = None,
    secrets: Iterable[str | Secret | None] = (),
) -> FriendlyError:
    default_message, default_next, retryable = _SENTENCES[kind]
    secrets = list(secrets)
    cleaned = None
    if provider_message:
        cleaned = redact(provider_message, secrets).strip()[:_MAX_PROVIDER_MESSAGE] or None
    return FriendlyError(
        kind=kind,
        message=redact(message or default_message, secrets),
        next_step=next_step or default_next,
        retryable=retryable,
        provider_message=cleaned,
        param=param,
        status_code=status_code,
        code=code,
        retry_after=retry_after,
    )


def retry_after_seconds(exc: openai.APIStatusError) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` or ``Retry-After``)."""
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _provider_text(exc: openai.APIError) -> str | None:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body and not body.lstrip().startswith("<"):
        return body
    return None


def _loaded(name: str) -> ModuleType | None:
    """The library ``name`` if something already imported it, else None (then none of its
    exceptions can exist, so there is nothing of it to recognise)."""
    return sys.modules.get(name)


def friendly_error(
    exc: BaseException, *, secrets: Iterable[str | Secret | None] = ()
) -> FriendlyError:
    """Explain any exception raised while talking to a provider."""
    secrets = list(secrets)
    if isinstance(exc, ProviderError):
        return exc.friendly
    if isinstance(exc, MissingKeyError):
        return _make(ErrorKind.NO_KEY, secrets=secrets)
    sdk = _loaded("openai")
    if sdk is not None:
        if isinstance(exc, sdk.APITimeoutError):
            return _make(ErrorKind.TIMEOUT, secrets=secrets)
        if isinstance(exc, sdk.APIConnectionError):
            return _make(ErrorKind.NO_NETWORK, secrets=secrets)
        if isinstance(exc, sdk.APIResponseValidationError):
            return _make(ErrorKind.BAD_RESPONSE, status_code=exc.status_code, secrets=secrets)
        if isinstance(exc, sdk.APIStatusError):
            return _from_status(exc, secrets)
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return _make(ErrorKind.BAD_RESPONSE, secrets=secrets)
    if isinstance(exc, TimeoutError):
        return _make(ErrorKind.TIMEOUT, secrets=secrets)
    if isinstance(exc, ConnectionError):
        return _make(ErrorKind.NO_NETWORK, secrets=secrets)
    return _make(ErrorKind.UNKNOWN, secrets=secrets)


def wait_words(seconds: float) -> str:
    """A wait in words, rounded up: "1 second", "40 seconds", "2 minutes"."""
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(whole / 60)} minutes"


def never_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the provider: the connection itself
    could not be made (so nothing was sent, and sending it again cannot do anything twice)."""
    http = _loaded("httpx2")
    if http is None:
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (http.ConnectError, http.ConnectTimeout)):
            return True
        cause = cause.__cause__
    return False


def may_have_acted(exc: BaseException) -> bool:
    """True when a failed request may still have been carried out by the provider.

    Its answer was lost on the way (a dropped connection, a timeout), cut off or unreadable,
    or a server error came back after the work may have been done. Repeating such a request
    could do it twice, so whatever it makes must be looked for first.
    """
    if never_sent(exc):
        return False
    return friendly_error(exc).kind in _MAYBE_ACTED


def unknown_outcome(cause: FriendlyError, *, message: str, next_step: str) -> FriendlyError:
    """A request whose outcome could not be learnt, told with what it would have made."""
    return FriendlyError(
        kind=ErrorKind.UNKNOWN_OUTCOME,
        message=message,
        next_step=next_step,
        retryable=True,
        provider_message=cause.provider_message,
        status_code=cause.status_code,
        code=cause.code,
    )


def _from_status(exc: openai.APIStatusError, secrets: list[str | Secret | None]) -> FriendlyError:
    status = exc.status_code
    code = exc.code
    error_type = exc.type
    details = {
        "provider_message": _provider_text(exc),
        "status_code": status,
        "code": code,
        "secrets": secrets,
    }
    if 300 <= status < 400:
        location = exc.response.headers.get("location", "")
        where = f" ({location})" if location else ""
        return _make(
            ErrorKind.INVALID_REQUEST,
            message=(
                f"The server pointed the request to another address{where}. It was not "
                "followed, so your key goes nowhere you did not choose."
            ),
            next_step="If that address is right, enter it for this provider in Settings.",
            **details,
        )
    if status == 401:
        return _make(ErrorKind.WRONG_KEY, **details)
    if status == 403:
        if code == "training_not_available":
            return _make(ErrorKind.TRAINING_NOT_AVAILABLE, **details)
        return _make(ErrorKind.NO_PERMISSION, **details)
    if status == 404:
        if code == "model_not_found":
            return _make(ErrorKind.MODEL_NOT_FOUND, **details)
        return _make(ErrorKind.NOT_FOUND, **details)
    if status == 429:
        if code == "insufficient_quota" or error_type == "insufficient_quota":
            return _make(ErrorKind.OUT_OF_CREDIT, **details)
        wait = retry_after_seconds(exc)
        next_step = None
        if wait is not None and wait >= 1:
            next_step = f"Wait about {wait_words(wait)} and try again."
        return _make(ErrorKind.RATE_LIMITED, retry_after=wait, next_step=next_step, **details)
    if status == 408:
        return _make(ErrorKind.TIMEOUT, **details)
    if status >= 500:
        return _make(ErrorKind.SERVER_ERROR, **details)
    if status in (400, 409, 422):
        param = exc.param
        message = None
        if param:
            message = f"The provider refused the request because of the setting “{param}”."
        return _make(ErrorKind.INVALID_REQUEST, message=message, param=param, **details)
    return _make(ErrorKind.UNKNOWN, **details)

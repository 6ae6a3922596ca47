"""Talk to a model: stream a chat reply token by token, or ask a legacy completions model.

Why a module of its own: the chat screens need more than ``chat.completions.create``. The usage
(tokens in and out, hence the cost) only arrives on the stream's last chunk when asked for with
``stream_options``; some local servers refuse ``stream_options`` or streaming altogether, so the
request falls back step by step; a stop must end the stream between two chunks; a connection
that breaks mid-reply must keep the text already received; and a 404 means "not ready yet" for a
model trained a minute ago but "shut down" for an old one, which the user must be told apart
(reference section 5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Any

from desktop.api.errors import ErrorKind, FriendlyError, ProviderError, friendly_error
from desktop.api.profiles import ProviderKind, ProviderProfile

if TYPE_CHECKING:
    import openai

#: How long after training finished a missing or silent model counts as "not ready yet".
NOT_READY_WINDOW_SECONDS = 30 * 60
#: The completions endpoint answers with 16 tokens unless told otherwise; far too few to judge.
LEGACY_DEFAULT_MAX_TOKENS = 256
#: ``finish_reason`` of a reply the user stopped.
STOPPED = "stopped"

ShouldStop = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class ChatUsage:
    """Tokens a reply cost, as the provider counted them (``prompt_tokens`` includes cached)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One piece of a streamed reply: a text ``delta``, or (``done``) the end of the reply.

    The final chunk carries the finish reason (``stop``, ``length``… or :data:`STOPPED`) and the
    usage when the provider reported it.
    """

    delta: str = ""
    done: bool = False
    finish_reason: str | None = None
    usage: ChatUsage | None = None


@dataclass(frozen=True, slots=True)
class ChatReply:
    """A whole reply from a request that was not streamed."""

    text: str
    finish_reason: str | None
    usage: ChatUsage | None


class ChatError(ProviderError):
    """A reply failed; ``partial`` holds the text that arrived before it did."""

    def __init__(self, friendly: FriendlyError, partial: str = "") -> None:
        super().__init__(friendly)
        self.partial = partial


class FailureKind(str, Enum):
    """The failures the chat screens explain differently."""

    NOT_READY = "not_ready"
    SHUT_DOWN = "shut_down"
    UNAVAILABLE = "unavailable"
    INTERRUPTED = "interrupted"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ChatFailure:
    """A failed reply explained: one sentence, the next step, and whether Retry can help."""

    kind: FailureKind
    message: str
    next_step: str
    can_retry: bool
    friendly: FriendlyError
    partial: str = ""

    def text(self) -> str:
        """Sentence and next step together, with the provider's own words when it refused."""
        text = f"{self.message} {self.next_step}"
        provider = self.friendly.provider_message
        if self.kind is FailureKind.OTHER and provider and self.friendly.status_code in (400, 422):
            text += f" The provider said: “{provider}”"
        return text


def token_limit_field(profile: ProviderProfile) -> str:
    """The request field that limits the reply's length for this provider.

    OpenAI and Azure replaced ``max_tokens`` with ``max_completion_tokens`` (reasoning models
    refuse the old name); local and other compatible servers mostly know only ``max_tokens``.
    """
    if profile.kind in (ProviderKind.OPENAI, ProviderKind.AZURE):
        return "max_completion_tokens"
    return "max_tokens"


def _options(temperature: float | None, max_tokens: int | None, limit_field: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options[limit_field] = max_tokens
    return options


def _usage(raw: Any) -> ChatUsage | None:
    """The SDK's usage object as a ChatUsage (None when the provider sent none)."""
    if raw is None:
        return None
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return ChatUsage(
        prompt_tokens=int(getattr(raw, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(raw, "completion_tokens", 0) or 0),
        cached_tokens=int(cached or 0),
    )


def _refuses(exc: BaseException, word: str) -> bool:
    """True when the provider refused the request because of the ``word`` field."""
    import openai  # loaded already: the refusal came from a client

    if not isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return False
    param = exc.param or ""
    return word in param or word in str(exc.message).lower()


def complete_chat(
    client: openai.OpenAI,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    limit_field: str = "max_tokens",
    tools: list[Any] | None = None,
) -> ChatReply:
    """Ask for one whole reply (no streaming); ChatError says what went wrong."""
    extra: dict[str, Any] = {"tools": tools} if tools else {}
    try:
        response = client.chat.completions.create(
            model=model,
            messages=[dict(m) for m in messages],
            **_options(temperature, max_tokens, limit_field),
            **extra,
        )
    except Exception as exc:
        raise ChatError(friendly_error(exc)) from exc
    choice = response.choices[0] if response.choices else None
    text = (choice.message.content or "") if choice is not None else ""
    return ChatReply(
        text=text,
        finish_reason=choice.finish_reason if choice is not None else None,
        usage=_usage(response.usage),
    )


def stream_chat(
    client: openai.OpenAI,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    limit_field: str = "max_tokens",
    should_stop: ShouldStop | None = None,
) -> Iterator[ChatChunk]:
    """Yield a reply as text deltas, then one ``done`` chunk with finish reason and usage.

    ``should_stop`` is asked between chunks; when it says yes the stream is closed and the final
    chunk's finish reason is :data:`STOPPED`. A server that refuses ``stream_options`` is asked
    again without it (the reply then has no usage); one that refuses streaming gets a plain
    request. Raises ChatError, whose ``partial`` keeps the text received before a failure.
    """
    request = {
        "model": model,
        "messages": [dict(m) for m in messages],
        **_options(temperature, max_tokens, limit_field),
    }
    attempts: list[dict[str, Any] | None] = [{"include_usage": True}, None]
    stream = None
    for index, stream_options in enumerate(attempts):
        extra = {"stream_options": stream_options} if stream_options is not None else {}
        try:
            stream = client.chat.completions.create(**request, stream=True, **extra)
            break
        except Exception as exc:
            if _refuses(exc, "stream_options") and index + 1 < len(attempts):
                continue
            if not _refuses(exc, "stream"):
                raise ChatError(friendly_error(exc)) from exc
            break
    if stream is None:
        yield from _plain_as_chunks(client, request, temperature, max_tokens, limit_field)
        return
    yield from _read_stream(stream, should_stop)


def _plain_as_chunks(
    client: openai.OpenAI,
    request: Mapping[str, Any],
    temperature: float | None,
    max_tokens: int | None,
    limit_field: str,
) -> Iterator[ChatChunk]:
    """The fallback for servers that cannot stream: one whole reply as a delta and the end."""
    reply = complete_chat(
        client,
        request["model"],
        request["messages"],
        temperature=temperature,
        max_tokens=max_tokens,
        limit_field=limit_field,
    )
    if reply.text:
        yield ChatChunk(delta=reply.text)
    yield ChatChunk(done=True, finish_reason=reply.finish_reason, usage=reply.usage)


def _read_stream(stream: Any, should_stop: ShouldStop | None) -> Iterator[ChatChunk]:
    received: list[str] = []
    finish_reason: str | None = None
    usage: ChatUsage | None = None
    try:
        for chunk in stream:
            if should_stop is not None and should_stop():
                yield ChatChunk(done=True, finish_reason=STOPPED)
                return
            usage = _usage(getattr(chunk, "usage", None)) or usage
            for choice in chunk.choices or ():
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
                delta = choice.delta.content if choice.delta is not None else None
                if delta:
                    received.append(delta)
                    yield ChatChunk(delta=delta)
    except Exception as exc:
        raise ChatError(friendly_error(exc), "".join(received)) from exc
    finally:
        stream.close()
    yield ChatChunk(done=True, finish_reason=finish_reason, usage=usage)


def complete_legacy(
    client: openai.OpenAI,
    model: str,
    prompt: str,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> ChatReply:
    """Continue ``prompt`` with a prompt/completion model (babbage-002, davinci-002, their
    fine-tunes) through the completions endpoint; ChatError says what went wrong."""
    options: dict[str, Any] = {
        "max_tokens": max_tokens if max_tokens is not None else LEGACY_DEFAULT_MAX_TOKENS
    }
    if temperature is not None:
        options["temperature"] = temperature
    if stop:
        options["stop"] = list(stop)
    try:
        response = client.completions.create(model=model, prompt=prompt, **options)
    except Exception as exc:
        raise ChatError(friendly_error(exc)) from exc
    choice = response.choices[0] if response.choices else None
    return ChatReply(
        text=choice.text if choice is not None else "",
        finish_reason=choice.finish_reason if choice is not None else None,
        usage=_usage(response.usage),
    )


_CUT_OFF = frozenset(
    {
        ErrorKind.NO_NETWORK,
        ErrorKind.TIMEOUT,
        ErrorKind.SERVER_ERROR,
        ErrorKind.BAD_RESPONSE,
        ErrorKind.UNKNOWN,
    }
)


def describe_failure(
    error: ChatError,
    *,
    model: str,
    model_created: float | None,
    now: float,
    shutdown_date: date | None = None,
    today: date | None = None,
) -> ChatFailure:
    """Explain a failed reply, telling "not ready yet" from "shut down".

    ``model_created`` is when the model appeared (its job finished), in seconds since the epoch;
    within :data:`NOT_READY_WINDOW_SECONDS` of it a missing model or a timeout means the
    provider is still bringing it up. ``shutdown_date`` is the base model's shutdown day from
    the catalog, named in the message when it has passed by ``today``.
    """
    friendly = error.friendly
    partial = error.partial
    if partial and friendly.kind in _CUT_OFF:
        return ChatFailure(
            FailureKind.INTERRUPTED,
            "The connection broke off before the reply was complete; the part that arrived "
            "is kept.",
            "Try again to get the whole reply.",
            True,
            friendly,
            partial,
        )
    recent = model_created is not None and 0 <= now - model_created < NOT_READY_WINDOW_SECONDS
    missing = friendly.kind is ErrorKind.MODEL_NOT_FOUND or (
        friendly.kind is ErrorKind.NOT_FOUND and model.startswith("ft:")
    )
    if recent and (missing or friendly.kind is ErrorKind.TIMEOUT):
        return ChatFailure(
            FailureKind.NOT_READY,
            "Your new model is not ready to answer yet.",
            "A model usually starts answering a few minutes after training finishes; try "
            "again in a minute.",
            True,
            friendly,
            partial,
        )
    if missing and model_created is not None:
        message = "This model no longer answers: the provider has shut it down or it was deleted."
        if shutdown_date is not None and today is not None and shutdown_date <= today:
            message = (
                "This model no longer answers: its base model was shut down on "
                f"{shutdown_date.isoformat()}."
            )
        return ChatFailure(
            FailureKind.SHUT_DOWN,
            message,
            "Pick another model; to get this one back, train it again from the job's saved "
            "files (Jobs → Export).",
            False,
            friendly,
            partial,
        )
    if missing:
        return ChatFailure(
            FailureKind.UNAVAILABLE,
            "The provider does not answer for this model: it may have been shut down or "
            "deleted, or, if it was trained a moment ago, it may not be ready yet.",
            "Try again in a few minutes, or pick another model.",
            True,
            friendly,
            partial,
        )
    return ChatFailure(
        FailureKind.OTHER,
        friendly.message,
        friendly.next_step,
        friendly.retryable,
        friendly,
        partial,
    )

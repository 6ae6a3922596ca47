"""Asking a model for one reply: the request, its outcome, the work that sends it on a pool
thread, ``ReplyStream`` that hands its text to the UI chunk by chunk, and what a finished reply
is saved as (tokens, cost) or how its failure is told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop.api.chat import (
    STOPPED,
    ChatChunk,
    ChatError,
    ChatUsage,
    complete_legacy,
    describe_failure,
    stream_chat,
    token_limit_field,
)
from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.errors import friendly_error
from desktop.api.profiles import ProviderKind, ProviderProfile
from desktop.core.catalog import Catalog
from desktop.core.conversations import ChatMessage, reply_cost
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext

if TYPE_CHECKING:
    from desktop.ui.chat.chat_services import ChatServices
    from desktop.ui.chat.model_picker import ModelEntry


@dataclass(frozen=True)
class ReplyRequest:
    """Everything needed to ask one model for one reply.

    ``prompt`` set means a legacy prompt/completion model: the completions endpoint is used
    and ``messages`` is ignored.
    """

    profile: ProviderProfile
    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class ReplyOutcome:
    """How a reply ended: its text, why it ended, what it used, or the error."""

    text: str
    finish_reason: str | None = None
    usage: ChatUsage | None = None
    error: ChatError | None = None

    @property
    def ok(self) -> bool:
        """True when the model answered (completely, or until the user stopped it)."""
        return self.error is None


def run_reply(request: ReplyRequest, keys: KeyStore, context: JobContext) -> ReplyOutcome:
    """Send ``request`` (on a pool thread), handing each chunk's text to ``context.yield_``."""
    received: list[str] = []
    try:
        client = build_client(request.profile, keys.get(request.profile.id))
    except Exception as exc:
        return ReplyOutcome("", error=ChatError(friendly_error(exc)))
    try:
        if request.prompt is not None:
            reply = complete_legacy(
                client,
                request.model,
                request.prompt,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
            )
            context.yield_(reply.text)
            return ReplyOutcome(reply.text, reply.finish_reason, reply.usage)
        last = ChatChunk(done=True)
        for chunk in stream_chat(
            client,
            request.model,
            request.messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            limit_field=token_limit_field(request.profile),
            should_stop=lambda: context.cancelled,
        ):
            if chunk.done:
                last = chunk
            elif chunk.delta:
                received.append(chunk.delta)
                context.yield_(chunk.delta)
        return ReplyOutcome("".join(received), last.finish_reason, last.usage)
    except ChatError as exc:
        return ReplyOutcome("".join(received), error=exc)
    finally:
        client.close()


class ReplyStream(QObject):
    """One reply on its way: ``delta`` per piece of text, then ``finished`` with the outcome.

    ``stop()`` ends it at once for the UI (``finished`` arrives with the text so far and
    finish reason "stopped"); the worker closes the connection at its next chunk.
    """

    delta = Signal(str)
    finished = Signal(object)

    def __init__(
        self,
        request: ReplyRequest,
        keys: KeyStore,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.request = request
        self.text = ""
        self._keys = keys
        self._op: Op[ReplyOutcome] | None = None
        self._done = False

    @property
    def running(self) -> bool:
        """True until the outcome has been delivered."""
        return self._op is not None and not self._done

    def start(self) -> None:
        """Send the request on the thread pool."""
        request, keys = self.request, self._keys
        self._op = run_op(
            self,
            lambda context: run_reply(request, keys, context),
            name="a reply",
            success=self._on_result,
            failure=self._on_error,
            yielded=self._on_yielded,
        )

    def stop(self) -> None:
        """Stop the reply where it is; the text so far is kept."""
        if self._op is None or self._done:
            return
        self._op.cancel()
        self._finish(ReplyOutcome(self.text, STOPPED))

    def _on_yielded(self, piece: object) -> None:
        if self._done or not isinstance(piece, str):
            return
        self.text += piece
        self.delta.emit(piece)

    def _on_result(self, outcome: object) -> None:
        if isinstance(outcome, ReplyOutcome):
            self._finish(outcome)

    def _on_error(self, message: str) -> None:
        # Only a bug gets here (run_reply returns provider errors); keep the UI consistent.
        error = ChatError(friendly_error(RuntimeError(message)), self.text)
        self._finish(ReplyOutcome(self.text, error=error))

    def _finish(self, outcome: ReplyOutcome) -> None:
        if self._done:
            return
        self._done = True
        self.finished.emit(outcome)


def reply_message(
    entry: ModelEntry, outcome: ReplyOutcome, services: ChatServices, finish_reason: str | None
) -> ChatMessage:
    """A saved reply: its text, tokens, cost at the model's price, and how it ended."""
    profile = services.directory.profile(entry.profile_id)
    usage = outcome.usage
    cost = message_cost(entry.model_id, usage, services.catalog)
    if usage is not None and profile is not None and profile.kind is ProviderKind.LOCAL:
        cost = 0.0
    return ChatMessage(
        role="assistant",
        content=outcome.text,
        model=entry.model_id,
        tokens_in=usage.prompt_tokens if usage else None,
        tokens_out=usage.completion_tokens if usage else None,
        cost_usd=cost,
        finish_reason=finish_reason,
    )


def explain(outcome: ReplyOutcome, entry: ModelEntry, services: ChatServices) -> tuple[str, bool]:
    """A failed reply as (sentence for the user, whether to offer Retry)."""
    assert outcome.error is not None
    now = services.clock()
    failure = describe_failure(
        outcome.error,
        model=entry.model_id,
        model_created=entry.created,
        now=now,
        shutdown_date=entry.shutdown_date,
        today=datetime.fromtimestamp(now).date(),
    )
    return failure.text(), failure.can_retry


def message_cost(model: str, usage: ChatUsage | None, catalog: Catalog) -> float | None:
    """What a reply cost at ``model``'s inference price (None: usage or price unknown)."""
    if usage is None:
        return None
    return reply_cost(
        model,
        usage.prompt_tokens,
        usage.completion_tokens,
        min(usage.cached_tokens, usage.prompt_tokens),
        catalog=catalog,
    )

"""The non-widget pieces the chat, compare and evaluation screens share.

``ReplyStream`` runs one reply on the thread pool and hands its text over chunk by chunk;
``WorkerKeeper`` keeps workers alive until they are really done; the small formatters keep
numbers the same on every screen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QObject,
    QThreadPool,
    QTimer,
    Signal,
)

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
from desktop.core.conversations import (
    ChatMessage,
    Conversation,
    ConversationStore,
    example_from_turn,
    fine_tuned_prices,
    reply_cost,
)
from desktop.core.dataset import Record
from desktop.core.evaluation import EvalItem, EvalStore
from desktop.ui.workers import JobContext, Worker

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog, QWidget

    from desktop.ui.model_picker import ModelDirectory, ModelEntry

#: ``finished`` is emitted while the pool thread is still inside ``run()``; keep the worker a
#: moment longer so Python never frees it under the running thread.
RELEASE_DELAY_MS = 1000

MUTED = "#5f6368"
#: How many of the dataset's first examples suggestions look at (system prompt, few-shot).
SUGGESTION_EXAMPLES = 2000
ADDED_NOTE = "Added to the open dataset as a new example; Edit → Undo takes it out again."


# Formatting ----------------------------------------------------------------------------------


def format_cost(usd: float | None) -> str:
    """A reply's cost with two significant digits ("$0.000062"); "cost unknown" for None."""
    if usd is None:
        return "cost unknown"
    if usd <= 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(usd)))
    return f"${usd:.{decimals}f}"


def reply_footer(message: ChatMessage) -> str:
    """The line under a reply: tokens in and out, cost, and why it ended early."""
    parts = []
    if message.tokens_in is not None and message.tokens_out is not None:
        parts.append(f"{message.tokens_in:,} tokens in · {message.tokens_out:,} out")
        parts.append(format_cost(message.cost_usd))
    elif message.model:
        parts.append("usage not reported, cost unknown")
    reason = {
        STOPPED: "stopped by you",
        "length": "cut off at the length limit",
        "interrupted": "incomplete: the connection broke off",
        "content_filter": "cut off by the provider's content filter",
    }.get(message.finish_reason or "")
    if reason:
        parts.append(reason)
    return " · ".join(parts)


# Shared dependencies ---------------------------------------------------------------------------

#: Shows the reply-edit dialog: (parent, question, reply) -> the edited reply, None to cancel.
EditReply = Callable[["QWidget", str, str], "str | None"]
#: Asks a yes/no question: (parent, title, text) -> True for yes.
Confirm = Callable[["QWidget", str, str], bool]
#: Runs a dialog modally: True when the user accepted it.
RunDialog = Callable[["QDialog"], bool]


@dataclass
class ChatServices:
    """What the chat, compare and evaluation pages share; the panel builds it once.

    ``edit_reply``, ``confirm`` and ``run_dialog`` open dialogs; tests replace them.
    """

    directory: ModelDirectory
    keys: KeyStore
    catalog: Catalog
    conversations: ConversationStore
    evaluations: EvalStore
    keeper: WorkerKeeper
    dataset_records: Callable[[], Sequence[Record]]
    add_example: Callable[[dict[str, Any]], None]
    edit_reply: EditReply
    confirm: Confirm
    run_dialog: RunDialog
    notify: Callable[[str], None]
    clock: Callable[[], float] = time.time

    def dataset_examples(self, limit: int | None = None) -> list[Any]:
        """The open dataset's examples as plain values (blank and broken lines left out).

        ``limit`` reads only the first examples, for suggestions that a huge file must not
        slow down (the usual system message, few-shot candidates).
        """
        examples = []
        for record in self.dataset_records():
            if limit is not None and len(examples) >= limit:
                break
            if record.is_example:
                examples.append(record.value)
        return examples

    def offer_example(self, parent: QWidget, value: dict[str, Any], question: str) -> bool:
        """Let the user edit the final reply of ``value``, then add it to the dataset.

        ``value`` is a chat example ending with the reply (``messages``) or a legacy
        ``prompt``/``completion`` pair. Returns True when it was added.
        """
        legacy = "completion" in value
        reply = value["completion"] if legacy else value["messages"][-1]["content"]
        edited = self.edit_reply(parent, question, reply)
        if edited is None:
            return False
        if not edited.strip():
            self.notify("The reply is empty, so nothing was added to the dataset.")
            return False
        if legacy:
            value = {**value, "completion": edited}
        else:
            messages = [*value["messages"][:-1], {"role": "assistant", "content": edited}]
            value = {**value, "messages": messages}
        self.add_example(value)
        self.notify(ADDED_NOTE)
        return True


def few_shot_length(messages: Sequence[ChatMessage]) -> int:
    """How many leading messages are examples shown to the model rather than a real chat.

    Example replies are the user's own text and so carry no model; real replies always do.
    The prefix ends with the last such example reply before the chat proper starts.
    """
    end = 0
    for index, message in enumerate(messages):
        if message.role == "assistant":
            if message.model is not None:
                break
            end = index + 1
    return end


def example_from_chat(conversation: Conversation, index: int, legacy: bool) -> dict[str, Any]:
    """The training example a chat reply makes: the chat up to it (few-shot examples left
    out), or for a legacy model the prompt and its completion."""
    if legacy:
        return {
            "prompt": conversation.messages[index - 1].content if index > 0 else "",
            "completion": conversation.messages[index].content,
        }
    prefix = few_shot_length(conversation.messages)
    live = Conversation(
        model_id=conversation.model_id,
        system_prompt=conversation.system_prompt,
        messages=conversation.messages[prefix:],
    )
    return example_from_turn(live, index - prefix)


def example_from_item(item: EvalItem, reply: str) -> dict[str, Any]:
    """The training example an evaluation answer makes: the item's prompt and the reply."""
    value: dict[str, Any] = {
        "messages": [*(dict(m) for m in item.prompt), {"role": "assistant", "content": reply}]
    }
    if item.tools is not None:
        value["tools"] = item.tools
    return value


def model_summary(entry: ModelEntry | None, services: ChatServices) -> str:
    """One line about a model: what it is and what its replies cost."""
    if entry is None:
        return ""
    profile = services.directory.profile(entry.profile_id)
    parts = []
    if entry.is_fine_tuned and entry.base_model:
        parts.append(f"Fine-tuned from {entry.base_model}")
    if entry.legacy:
        parts.append("prompt/completion model: it continues the text you give it")
    if profile is not None and profile.kind is ProviderKind.LOCAL:
        parts.append("runs on a local server, no charge")
    elif entry.is_fine_tuned:
        prices = fine_tuned_prices(entry.model_id, services.catalog)
        if prices is not None:
            parts.append(
                f"${prices.input_per_1m:.2f} in / ${prices.output_per_1m:.2f} out per 1M tokens"
            )
    else:
        parts.append("cost per reply unknown: the app only knows fine-tuned models' prices")
    if entry.note:
        parts.append(entry.note)
    return " · ".join(parts)


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


# Background work -----------------------------------------------------------------------------


class WorkerKeeper:
    """Starts workers and keeps each alive until a moment after it finishes.

    The connection to the worker's own ``finished`` signal holds the reference, so a worker
    outlives the widget that started it (a pool thread must never run a freed worker).
    """

    def __init__(self, pool: QThreadPool | None = None) -> None:
        self.pool = pool or QThreadPool.globalInstance()
        self._running: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        """Queue ``worker`` on the pool and keep it alive until it is done."""
        self._running.add(worker)

        def release() -> None:
            QTimer.singleShot(RELEASE_DELAY_MS, forget)

        def forget() -> None:
            self._running.discard(worker)
            worker.signals.finished.disconnect(release)

        worker.signals.finished.connect(release)
        return worker.start(self.pool)

    def cancel_all(self) -> None:
        """Ask every running worker to stop."""
        for worker in list(self._running):
            worker.cancel()


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
        keeper: WorkerKeeper,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.request = request
        self.text = ""
        self._keys = keys
        self._keeper = keeper
        self._worker: Worker | None = None
        self._done = False

    @property
    def running(self) -> bool:
        """True until the outcome has been delivered."""
        return self._worker is not None and not self._done

    def start(self) -> None:
        """Send the request on the thread pool."""
        request, keys = self.request, self._keys
        worker = Worker(lambda context: run_reply(request, keys, context), name="a reply")
        worker.signals.yielded.connect(self._on_yielded)
        worker.signals.result.connect(self._on_result)
        worker.signals.error.connect(self._on_error)
        self._worker = worker
        self._keeper.start(worker)

    def stop(self) -> None:
        """Stop the reply where it is; the text so far is kept."""
        if self._worker is None or self._done:
            return
        self._worker.cancel()
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

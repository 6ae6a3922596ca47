"""Sending an evaluation run: its pending pairs go out a few at a time through an
``EvalScheduler`` (slowing down on rate limits and honouring Retry-After), and every answer is
recorded and saved at once. A model trained a moment ago that does not answer yet is asked
again a little later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.api.chat import (
    NOT_READY_WINDOW_SECONDS,
    ChatError,
    complete_chat,
    token_limit_field,
)
from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.errors import ErrorKind, friendly_error
from desktop.api.profiles import ProviderProfile
from desktop.core.conversations import StoreError
from desktop.core.evaluation import EvalItem, EvalRun, EvalScheduler, Pair
from desktop.ui.chat.chat_services import ChatServices
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext

#: A model trained a moment ago may answer 404 for a few minutes: wait this long, then ask
#: again, for at most :data:`NOT_READY_TRIES` tries per pair.
NOT_READY_RETRY_SECONDS = 30.0
NOT_READY_TRIES = 12


@dataclass(frozen=True)
class _Answer:
    """What one request brought back (made on a pool thread)."""

    pair: Pair
    reply: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: ChatError | None = None


def _ask(
    profile: ProviderProfile,
    keys: KeyStore,
    item: EvalItem,
    model: str,
    temperature: float | None,
    max_tokens: int | None,
) -> _Answer:
    """Send one item to one model (on a pool thread); errors come back in the answer."""
    pair = Pair(item.id, model)
    started = time.monotonic()
    try:
        with build_client(profile, keys.get(profile.id)) as client:
            reply = complete_chat(
                client,
                model,
                item.request()["messages"],
                temperature=temperature,
                max_tokens=max_tokens,
                limit_field=token_limit_field(profile),
                tools=item.tools,
            )
    except ChatError as exc:
        return _Answer(pair, error=exc)
    except Exception as exc:
        return _Answer(pair, error=ChatError(friendly_error(exc)))
    usage = reply.usage
    return _Answer(
        pair,
        reply=reply.text,
        tokens_in=usage.prompt_tokens if usage else None,
        tokens_out=usage.completion_tokens if usage else None,
        latency_s=time.monotonic() - started,
    )


class EvalRunner(QObject):
    """Sends a run's pending pairs through an ``EvalScheduler`` and records every answer.

    ``answered(item_id)`` fires after each recorded answer (the run is saved first);
    ``finished(sentence)`` when nothing is left to send or wait for.
    """

    answered = Signal(str)
    waiting = Signal(str)
    finished = Signal(str)

    def __init__(
        self,
        run: EvalRun,
        services: ChatServices,
        profiles: dict[str, ProviderProfile],
        created: dict[str, float | None],
        concurrency: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.run = run
        self.services = services
        self._profiles = profiles
        self._created = created
        self._scheduler = EvalScheduler(run.pending_pairs(), concurrency)
        self._not_ready: dict[Pair, int] = {}
        self._stopped_for: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._pump)
        self._running = False
        #: The requests on their way.
        self._ops: set[Op[_Answer]] = set()

    @property
    def running(self) -> bool:
        """True until ``finished`` was emitted."""
        return self._running

    def start(self) -> None:
        """Start sending (the run is marked running and saved)."""
        self._running = True
        self.run.start()
        self._save()
        self._pump()

    def cancel(self, reason: str = "Cancelled.") -> None:
        """Send nothing more; answers already on their way are still recorded."""
        if not self._running:
            return
        self._stopped_for = reason
        self._scheduler.cancel()
        self._timer.stop()
        self.run.cancel()
        self._save()
        self._check_done()

    def _pump(self) -> None:
        if not self._running:
            return
        if self._stopped_for is not None:
            self._scheduler.cancel()  # drops pairs a late rate limit put back in line
            self._check_done()
            return
        while (pair := self._scheduler.next_pair()) is not None:
            self._send(pair)
        wait = self._scheduler.wait_seconds()
        if wait is not None and wait > 0:
            self._timer.start(int(wait * 1000) + 1)
            self.waiting.emit(f"The provider asked to slow down; continuing in {wait:.0f} s.")
        self._check_done()

    def _send(self, pair: Pair) -> None:
        profile = self._profiles[pair.model]
        item = self.run.item(pair.item_id)
        keys = self.services.keys
        temperature, max_tokens = self.run.temperature, self.run.max_output_tokens

        def job(_context: JobContext) -> _Answer:
            return _ask(profile, keys, item, pair.model, temperature, max_tokens)

        op = run_op(
            self,
            job,
            name="an evaluation request",
            success=self._on_answer,
            done=lambda: self._ops.discard(op),
        )
        self._ops.add(op)

    def drop_answers(self) -> None:
        """Record none of the answers still on their way (the window is closing); their pairs
        stay pending for a later run."""
        for op in list(self._ops):
            op.cancel()

    def _on_answer(self, answer: _Answer) -> None:
        pair, error = answer.pair, answer.error
        if error is not None and self._should_wait(pair, error):
            self._check_done()
            self._pump()
            return
        self._scheduler.on_result(pair)
        sentence = None
        if error is not None:
            sentence = error.friendly.text()
        self.run.record(
            pair.item_id,
            pair.model,
            reply=answer.reply,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            latency_s=answer.latency_s,
            error=sentence,
        )
        self._save()
        self.answered.emit(pair.item_id)
        if error is not None and error.friendly.kind is ErrorKind.OUT_OF_CREDIT:
            self.cancel(f"Stopped: {error.friendly.text()}")
        self._pump()

    def _should_wait(self, pair: Pair, error: ChatError) -> bool:
        """Requeue after a rate limit, or while a just-trained model is not ready yet."""
        friendly = error.friendly
        if friendly.kind is ErrorKind.RATE_LIMITED:
            self._scheduler.on_rate_limited(pair, friendly.retry_after)
            return True
        created = self._created.get(pair.model)
        age = self.services.clock() - created if created is not None else None
        recent = age is not None and age < NOT_READY_WINDOW_SECONDS
        tries = self._not_ready.get(pair, 0)
        not_ready = friendly.kind in (ErrorKind.MODEL_NOT_FOUND, ErrorKind.TIMEOUT)
        if recent and not_ready and tries < NOT_READY_TRIES:
            self._not_ready[pair] = tries + 1
            self._scheduler.on_rate_limited(pair, NOT_READY_RETRY_SECONDS)
            self.waiting.emit("The new model is not ready to answer yet; asking again shortly.")
            return True
        return False

    def _check_done(self) -> None:
        if self._running and self._scheduler.is_finished:
            self._running = False
            self._save()
            done, total = self.run.progress
            sentence = self._stopped_for or (
                "Finished." if done == total else f"{total - done} requests were not sent."
            )
            self.finished.emit(sentence)

    def _save(self) -> None:
        try:
            self.services.evaluations.save(self.run)
        except StoreError as exc:
            self.waiting.emit(f"The run could not be saved: {exc}")

"""The fake provider with the controls chat tests need: held answers, paused streams, scripts.

Why a subclass and not more fault kinds: the chat screens are tested on timing (stop a reply
halfway, cancel an evaluation while a request is on its way) and shown with realistic answers
in screenshots. ``hold()`` makes chat and completion requests wait before answering,
``pause_streams()`` stops streams after some chunks, both until ``release()``; ``script`` picks
the reply text for a request (the fake's echo is used when it returns None). ``answer_delay``
and ``chunk_delay`` (seconds) make answers take as long as a real provider's, for screenshots
and hand-driven sessions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.fake_openai import replies
from tests.fake_openai.server import FakeOpenAIServer, Handler, RecordedRequest, _Call, _Reply
from tests.fake_openai.server import _RequestHandler as _BaseHandler

Script = Callable[[str, Sequence[Mapping[str, Any]]], str | None]

_ANSWERING = frozenset({"createChatCompletion", "createCompletion"})


class ChatControlServer(FakeOpenAIServer):
    """``FakeOpenAIServer`` plus holding, pausing and scripted replies (see module notes)."""

    def __init__(
        self,
        *,
        script: Script | None = None,
        answer_delay: float = 0.0,
        chunk_delay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.answer_delay = answer_delay
        self.chunk_delay = chunk_delay
        self._gate = threading.Condition()
        self._open = True
        self._hold_after: int | None = None
        self._answers_let_through = 0
        self._pause_after: int | None = None
        self._waiting = 0

    def start(self) -> ChatControlServer:
        """Start serving with the controlling request handler."""
        super().start()
        assert self._httpd is not None
        # Each request reads RequestHandlerClass afresh, so swapping it before the first one
        # arrives puts every request through the controls.
        self._httpd.RequestHandlerClass = type(
            "ChatControlHandler", (_ChatControlHandler,), {"fake": self}
        )
        return self

    def stop(self) -> None:
        """Let every held request go, then stop."""
        self.release()
        super().stop()

    def hold(self, after: int = 0) -> None:
        """Hold chat and completion answers, letting the next ``after`` through first."""
        with self._gate:
            self._open = False
            self._hold_after = after
            self._answers_let_through = 0

    def pause_streams(self, after_chunks: int) -> None:
        """Pause every stream once it has sent ``after_chunks`` chunks, until ``release()``."""
        with self._gate:
            self._open = False
            self._pause_after = after_chunks

    def release(self) -> None:
        """Let everything held or paused continue, and hold nothing more."""
        with self._gate:
            self._open = True
            self._hold_after = None
            self._pause_after = None
            self._gate.notify_all()

    @property
    def waiting(self) -> int:
        """How many requests are held or paused right now."""
        with self._gate:
            return self._waiting

    def wait_for_waiting(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests are held or paused; False after ``timeout`` s."""
        with self._gate:
            return self._gate.wait_for(lambda: self._waiting >= count, timeout)

    def _wait_if_held(self) -> None:
        with self._gate:
            if self._hold_after is None:
                return
            if self._answers_let_through < self._hold_after:
                self._answers_let_through += 1
                return
            self._wait()

    def _wait_if_paused(self, sent: int) -> None:
        with self._gate:
            if self._pause_after is not None and sent == self._pause_after:
                self._wait()

    def _wait(self) -> None:
        """Block (lock held by the caller) until released or stopping."""
        self._waiting += 1
        self._gate.notify_all()
        try:
            while not self._open and not self._stopping.is_set():
                self._gate.wait(0.05)
        finally:
            self._waiting -= 1


class _ChatControlHandler(_BaseHandler):
    fake: ChatControlServer

    def _respond(self, record: RecordedRequest, call: _Call, handler: Handler | None) -> None:
        if record.operation_id in _ANSWERING:
            self.fake._wait_if_held()
            if self.fake.answer_delay:
                self.fake._stopping.wait(self.fake.answer_delay)
        if record.operation_id == "createChatCompletion" and handler is not None:
            handler = _scripted(handler)
        self._chunks_sent = 0
        super()._respond(record, call, handler)

    def _write_chunk(self, data: bytes) -> None:
        self.fake._wait_if_paused(self._chunks_sent)
        if self.fake.chunk_delay and self._chunks_sent:
            self.fake._stopping.wait(self.fake.chunk_delay)
        self._chunks_sent += 1
        super()._write_chunk(data)


def _scripted(handler: Handler) -> Handler:
    """``handler`` with its reply text replaced by the server's script, when it has one."""

    def answer(fake: FakeOpenAIServer, call: _Call) -> _Reply:
        reply = handler(fake, call)
        script = getattr(fake, "script", None)
        body = call.json if isinstance(call.json, dict) else {}
        messages = body.get("messages") or []
        text = script(str(body.get("model")), messages) if script is not None else None
        if text is None or reply.status != 200:
            return reply
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        text, finish = replies.truncate(text, limit)
        completion_tokens = replies.count_tokens(text)
        if reply.chunks is None:
            choice = reply.body["choices"][0]
            choice["message"]["content"] = text
            choice["finish_reason"] = finish
            _set_usage(reply.body["usage"], completion_tokens)
            return reply
        first, *_, finish_chunk = (c for c in reply.chunks if c.get("choices"))
        usage_chunks = [c for c in reply.chunks if not c.get("choices")]
        finish_chunk["choices"][0]["finish_reason"] = finish
        pieces = []
        for piece in replies.stream_pieces(text):
            chunk = {**first, "choices": [dict(first["choices"][0], delta={"content": piece})]}
            pieces.append(chunk)
        for usage_chunk in usage_chunks:
            _set_usage(usage_chunk["usage"], completion_tokens)
        reply.chunks = [first, *pieces, finish_chunk, *usage_chunks]
        return reply

    return answer


def _set_usage(usage: dict[str, Any], completion_tokens: int) -> None:
    usage["completion_tokens"] = completion_tokens
    usage["total_tokens"] = usage["prompt_tokens"] + completion_tokens

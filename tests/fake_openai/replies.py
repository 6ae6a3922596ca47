"""Deterministic chat and completion answers, so tests can assert exact text and token counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the last user message (text parts joined), or an empty string."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def chat_reply(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The full answer the fake gives: ``Echo from <model>: <last user text>``."""
    text = last_user_text(messages)
    return f"Echo from {model}: {text}" if text else f"Hello from {model}."


def completion_reply(model: str, prompt: str) -> str:
    """The legacy completions answer."""
    return f" Echo from {model}: {prompt}"


def count_tokens(text: str) -> int:
    """A crude, stable token count: whitespace-separated words."""
    return len(text.split())


def prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Words of every message plus three per message, like the cookbook's overhead."""
    return sum(count_tokens(_text_of(m.get("content"))) + 3 for m in messages) + 3


def truncate(reply: str, max_tokens: int | None) -> tuple[str, str]:
    """Cut the reply to ``max_tokens`` words; returns (text, finish_reason)."""
    words = reply.split(" ")
    if max_tokens is not None and max_tokens < len(words):
        return " ".join(words[:max_tokens]), "length"
    return reply, "stop"


def stream_pieces(reply: str) -> list[str]:
    """Split a reply into the content deltas the stream sends (word by word, spaces kept)."""
    words = reply.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]

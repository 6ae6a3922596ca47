"""What one parsed JSONL line is: a chat example, a preference pair, a legacy pair, or nothing."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ExampleKind(str, Enum):
    """The layout of one example, decided from its top-level keys."""

    CHAT = "chat"
    PREFERENCE = "preference"
    PROMPT_COMPLETION = "prompt_completion"
    PROMPT_RESPONSE = "prompt_response"
    NOT_AN_EXAMPLE = "not_an_example"

    @property
    def is_legacy(self) -> bool:
        """True for layouts that must be converted before chat fine-tuning."""
        return self in (ExampleKind.PROMPT_COMPLETION, ExampleKind.PROMPT_RESPONSE)


def classify(data: object) -> ExampleKind:
    """Decide the layout of a parsed line; anything unrecognisable is NOT_AN_EXAMPLE."""
    if not isinstance(data, dict):
        return ExampleKind.NOT_AN_EXAMPLE
    if "messages" in data:
        return ExampleKind.CHAT
    if "input" in data and ("preferred_output" in data or "non_preferred_output" in data):
        return ExampleKind.PREFERENCE
    if "prompt" in data:
        if "completion" in data:
            return ExampleKind.PROMPT_COMPLETION
        if "response" in data:
            return ExampleKind.PROMPT_RESPONSE
    return ExampleKind.NOT_AN_EXAMPLE


def first_system(messages: list[Any]) -> int | None:
    """Where the first system message of a conversation is; None when it has none.

    A plain loop: bulk edits and their analyses ask it of 100,000 examples.
    """
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "system":
            return index
    return None

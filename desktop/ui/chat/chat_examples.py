"""Training examples made from what the chat screens show: a chat reply (few-shot examples
left out) or an evaluation answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop.core.conversations import ChatMessage, Conversation, example_from_turn
from desktop.core.evaluation import EvalItem


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

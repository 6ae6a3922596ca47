"""Turning the app's examples into what the trainers take, honouring ``weight: 0``.

Chat examples become token ids with a mask of the tokens to learn: the assistant replies
(with the end-of-turn marker the chat template puts after them), except replies marked
``"weight": 0``. The spans come from the model's own chat template, rendered for the
conversation up to each reply, so any template works without special markers. Preference
examples become the prompt, chosen and rejected conversations of TRL's DPO trainer.

No torch here: the tokenizer is passed in, and the tests use it on their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.core.wording import count


class ChatTokenizer(Protocol):
    """What is used of a Transformers tokenizer."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


class DataError(ValueError):
    """The data cannot be trained on; the message says why in plain words."""


@dataclass
class Converted:
    """Rows ready for a trainer, and what was left out (plain sentences, at most a few)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0

    def skip(self, line: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 5:
            self.skipped.append(f"Line {line}: {reason}")

    def summary(self, what: str) -> str | None:
        """``2 examples of the training data were left out (Line 3: …).``, or None."""
        if not self.skipped_count:
            return None
        first = "; ".join(self.skipped)
        verb = "was" if self.skipped_count == 1 else "were"
        return f"{count(self.skipped_count, 'example')} of the {what} {verb} left out ({first})."


def read_examples(path: Path) -> list[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSONL file; unreadable lines give
    ``None`` values, so they can be reported."""
    examples: list[tuple[int, Any]] = []
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                examples.append((number, json.loads(raw.decode("utf-8-sig"))))
            except (UnicodeDecodeError, ValueError):
                examples.append((number, None))
    return examples


def _text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text")
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "".join(parts) if parts else None
    return None


def clean_messages(messages: Any) -> tuple[list[dict[str, str]], list[bool]]:
    """The messages as the chat template takes them (role and text), and for each whether it
    is a reply to learn (an assistant message without ``weight: 0``)."""
    if not isinstance(messages, list) or not messages:
        raise DataError("it has no messages")
    clean: list[dict[str, str]] = []
    learn: list[bool] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise DataError("a message is not an object")
        role = message.get("role")
        text = _text(message.get("content"))
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise DataError(f"a message has the role {role!r}, which cannot be trained")
        if text is None:
            if role == "assistant" and message.get("tool_calls"):
                text = json.dumps(message["tool_calls"], ensure_ascii=False)
            else:
                raise DataError(f"a {role} message has no text")
        clean.append({"role": "system" if role == "developer" else str(role), "content": text})
        learn.append(role == "assistant" and message.get("weight") != 0)
    return clean, learn


def _render(tokenizer: ChatTokenizer, messages: list[dict[str, str]], prompt: bool) -> str:
    return str(
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
    )


def assistant_spans(
    tokenizer: ChatTokenizer, messages: list[dict[str, str]], learn: Sequence[bool]
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of the replies to learn.

    A reply's span runs from the end of the conversation before it (with the assistant's
    header) to the end of the conversation with it (its end-of-turn marker included). A
    template that renders earlier turns differently once more follow (some drop old
    reasoning) gives no span for those replies rather than a wrong one.
    """
    text = _render(tokenizer, messages, prompt=False)
    spans = []
    for index, wanted in enumerate(learn):
        if not wanted:
            continue
        before = _render(tokenizer, messages[:index], prompt=True) if index else ""
        upto = _render(tokenizer, messages[: index + 1], prompt=False)
        if text.startswith(upto) and upto.startswith(before) and len(upto) > len(before):
            spans.append((len(before), len(upto)))
    return text, spans


def tokenize_chat(
    tokenizer: ChatTokenizer, example: Mapping[str, Any], max_length: int
) -> dict[str, list[int]]:
    """``input_ids`` and ``assistant_masks`` (1 for tokens to learn) of one chat example.

    ``DataError`` when nothing in it can be learnt (no reply, every reply ``weight: 0``, or
    the replies start after ``max_length`` tokens).
    """
    messages, learn = clean_messages(example.get("messages"))
    if not any(learn):
        raise DataError("it has no assistant reply to learn from (or every reply has weight 0)")
    text, spans = assistant_spans(tokenizer, messages, learn)
    if not spans:
        raise DataError("the model's chat template does not show where its replies are")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    mask = [
        int(any(start < end_span and end > start_span for start_span, end_span in spans))
        for start, end in encoded["offset_mapping"]
    ]
    ids, mask = ids[:max_length], mask[:max_length]
    if not any(mask):
        raise DataError(
            f"its first reply starts after {max_length:,} tokens, the most one example may hold"
        )
    return {"input_ids": ids, "assistant_masks": mask}


def chat_rows(
    tokenizer: ChatTokenizer, examples: Iterable[tuple[int, Any]], max_length: int
) -> Converted:
    """Every usable chat example tokenized; the others noted."""
    converted = Converted()
    for number, value in examples:
        if not isinstance(value, Mapping):
            converted.skip(number, "it is not a readable JSON object")
            continue
        if "messages" not in value:
            converted.skip(number, "it is not a chat example (it has no messages)")
            continue
        try:
            converted.rows.append(tokenize_chat(tokenizer, value, max_length))
        except DataError as exc:
            converted.skip(number, str(exc))
    return converted


def _reply(value: Any) -> list[dict[str, str]]:
    """A preference reply (a list with one assistant message) as a conversation."""
    if isinstance(value, Mapping):
        value = [value]
    messages, _learn = clean_messages(value)
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise DataError("a preferred or non-preferred reply is not one assistant message")
    return messages


def preference_rows(examples: Iterable[tuple[int, Any]]) -> Converted:
    """``prompt``, ``chosen`` and ``rejected`` conversations for DPO from preference examples
    (``input.messages``, ``preferred_output``, ``non_preferred_output``)."""
    converted = Converted()
    for number, value in examples:
        if not isinstance(value, Mapping):
            converted.skip(number, "it is not a readable JSON object")
            continue
        source = value.get("input")
        try:
            if not isinstance(source, Mapping):
                raise DataError("it is not a preference example (it has no input)")
            prompt, _learn = clean_messages(source.get("messages"))
            if prompt[-1]["role"] == "assistant":
                raise DataError("its conversation ends with a reply, not with a question")
            converted.rows.append(
                {
                    "prompt": prompt,
                    "chosen": _reply(value.get("preferred_output")),
                    "rejected": _reply(value.get("non_preferred_output")),
                }
            )
        except DataError as exc:
            converted.skip(number, str(exc))
    return converted

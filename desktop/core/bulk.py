"""Edits that touch many examples at once, planned here and applied by the UI.

Each function only works out what would change, as ``{record_id: new value}`` or a list of
ids, the way ``formats.plan_legacy_conversion`` does: the editor applies the plan through
undoable commands, so one Undo takes a bulk edit back. Values are never modified in place,
because edited records share their value with the undo history.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from desktop.core.dataset import Record, canonical_json_bytes, messages_with_system_text
from desktop.core.kinds import ExampleKind, first_system
from desktop.core.validation import ExampleFacts, leaves_out_system_text

Messages = list[Any]
#: Takes a message list and returns the edited copy, or None when nothing would change.
MessageEdit = Callable[[Messages], Messages | None]


def _edit_messages(
    value: Any, kind: ExampleKind, edit: MessageEdit, *, outputs: bool
) -> dict[str, Any] | None:
    """Apply ``edit`` to the conversation of a chat or preference example.

    With ``outputs``, the preferred and non-preferred replies of a preference example are
    edited too. Returns a new value (sharing what did not change), or None if nothing changed.
    """
    if not isinstance(value, dict):
        return None
    if kind is ExampleKind.CHAT:
        messages = _edited(value.get("messages"), edit)
        return None if messages is None else {**value, "messages": messages}
    if kind is not ExampleKind.PREFERENCE:
        return None
    result = dict(value)
    changed = False
    prompt = value.get("input")
    if isinstance(prompt, dict):
        messages = _edited(prompt.get("messages"), edit)
        if messages is not None:
            result["input"] = {**prompt, "messages": messages}
            changed = True
    if outputs:
        for key in ("preferred_output", "non_preferred_output"):
            replies = _edited(value.get(key), edit)
            if replies is not None:
                result[key] = replies
                changed = True
    return result if changed else None


def _edited(messages: Any, edit: MessageEdit) -> Messages | None:
    return edit(messages) if isinstance(messages, list) else None


def _is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "system"


def plan_set_system_message(
    records: Iterable[Record],
    text: str,
    *,
    only_replace_existing: bool = False,
    only_add_missing: bool = False,
) -> dict[int, dict[str, Any]]:
    """Plan giving every chat and preference example the system message ``text``.

    An example that has a system message gets the first one's content replaced (its place
    and other fields kept); one without gets it added at the start. Empty ``text`` removes
    every system message instead. ``only_replace_existing`` leaves examples without a system
    message alone; ``only_add_missing`` leaves those with one alone.
    """
    if only_replace_existing and only_add_missing:
        raise ValueError("Choose at most one of only_replace_existing and only_add_missing.")

    def edit(messages: Messages) -> Messages | None:
        first = first_system(messages)
        if not text:
            if first is None or only_add_missing:
                return None
            return [m for m in messages if not _is_system(m)]
        if first is None:
            unchanged = only_replace_existing
        else:
            unchanged = only_add_missing or messages[first].get("content") == text
        return None if unchanged else messages_with_system_text(messages, text, first)

    return _plan(records, edit, outputs=False)


def system_message_changes(
    facts: ExampleFacts | None,
    text: str,
    *,
    only_replace_existing: bool = False,
    only_add_missing: bool = False,
) -> bool | None:
    """Whether ``plan_set_system_message`` would change the example ``facts`` describe, told
    from the facts alone, so that a bulk edit of 100,000 examples need not read them.

    None when they cannot tell: no facts, no chat example whose first system message (if
    any) is one string, or empty ``text`` (removing system messages reads every example).
    """
    if not text or facts is None or not leaves_out_system_text(facts.fingerprint):
        return None
    if facts.has_system:  # its text is one string: the plan compares it with ``text``
        return not only_add_missing and facts.system_text != text
    return not only_replace_existing


def plan_trim_whitespace(records: Iterable[Record]) -> dict[int, dict[str, Any]]:
    """Plan stripping surrounding whitespace from every message text; only changes are listed.

    Covers string contents and text parts, in chat examples and in the prompt and both
    replies of preference examples.
    """

    def trim_content(content: Any) -> Any:
        if isinstance(content, str):
            return content.strip()
        if isinstance(content, list):
            return [
                {**part, "text": part["text"].strip()}
                if isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
                else part
                for part in content
            ]
        return content

    def edit(messages: Messages) -> Messages | None:
        result = [
            {**m, "content": trim_content(m["content"])}
            if isinstance(m, dict) and "content" in m
            else m
            for m in messages
        ]
        return None if result == messages else result

    return _plan(records, edit, outputs=True)


def _plan(
    records: Iterable[Record], edit: MessageEdit, *, outputs: bool
) -> dict[int, dict[str, Any]]:
    plan = {}
    for record in records:
        if not record.is_example:
            continue
        new = _edit_messages(record.value, record.kind, edit, outputs=outputs)
        if new is not None:
            plan[record.id] = new
    return plan


def _canonical_digest(value: Any) -> bytes:
    """A fingerprint of a value that ignores key order and spacing."""
    return hashlib.sha256(canonical_json_bytes(value)).digest()


def plan_remove_duplicates(records: Iterable[Record]) -> list[int]:
    """Ids of examples that repeat an earlier example exactly; the first occurrence is kept.

    Two examples are the same when their JSON is, whatever the key order and spacing.
    """
    seen: set[bytes] = set()
    duplicates = []
    for record in records:
        if not record.is_example:
            continue
        digest = _canonical_digest(record.value)
        if digest in seen:
            duplicates.append(record.id)
        else:
            seen.add(digest)
    return duplicates


def split_train_validation(
    record_ids: Sequence[int], percent: float, seed: int
) -> tuple[list[int], list[int]]:
    """Split ids into training and validation parts, the same way on every run and platform.

    Validation gets ``round(n * percent / 100)`` examples, at least 1 when ``percent`` > 0 and
    there are 2 or more, and never all of them: training keeps at least one. Each part keeps
    the original order.
    """
    if math.isnan(percent) or not 0 <= percent <= 100:
        raise ValueError(f"The validation share must be between 0 and 100 percent, not {percent}.")
    n = len(record_ids)
    size = round(n * percent / 100)
    if percent > 0 and n >= 2:
        size = max(size, 1)
    size = min(size, max(n - 1, 0))
    chosen = set(random.Random(seed).sample(range(n), size))
    train = [rid for i, rid in enumerate(record_ids) if i not in chosen]
    validation = [rid for i, rid in enumerate(record_ids) if i in chosen]
    return train, validation

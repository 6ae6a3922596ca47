"""Checks that tell a non-programmer what OpenAI would reject in a dataset, and why.

Two levels:

* :func:`validate_example` looks at one parsed line. It covers every check of OpenAI's
  data-prep notebook (same codes) plus what the notebook misses: tools, weights, images,
  preference (DPO) pairs and the older prompt/completion layout.
* :func:`validate_dataset` looks at small per-example summaries (:class:`ExampleFacts`) and
  finds what only shows across lines: too few examples, duplicates, examples over the token
  limit, overlap with the validation file, inconsistent system messages and mixed layouts.
  It is O(n) and keeps the number of findings bounded, so the UI can re-run it after
  every edit.

Decisions worth knowing:

* Empty text (``""`` or a missing/null value where text is required) is the notebook's
  ``missing_content`` error; text made only of spaces is the ``empty_message`` warning.
* Unknown top-level keys are a warning (``unknown_top_level_key``): the app keeps them, but
  OpenAI's upload check may reject the file because of them.
* Images are accepted only in user messages (the API allows only text parts in system, tool
  and assistant messages). Extra keys inside a content part are not checked.
* An assistant message needs text unless it makes a tool call (``tool_calls`` non-empty) or
  an old-style ``function_call``; ``"tool_calls": []`` counts as no call.
* The deprecated ``function`` role is treated like ``tool``: it needs text, plus a ``name``.
* Each side of a preference pair must be one assistant message whose content is a plain
  string (text only, no tool calls, no weight).
* Every code has one fixed severity, listed in :data:`FINDING_SEVERITY`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import orjson

from desktop.core.dataset import (
    canonical_json_bytes,
    escape_surrogates,
    has_surrogate,
    json_text_error,
)
from desktop.core.findings import Finding, Severity
from desktop.core.frozen import quick_init
from desktop.core.kinds import ExampleKind, classify, first_system

__all__ = [
    "FINDING_CODES",
    "FINDING_SEVERITY",
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_IMAGE_BYTES",
    "RECOMMENDED_EXAMPLES",
    "ExampleFacts",
    "example_facts",
    "fingerprint",
    "leaves_out_system_text",
    "text_raises_nothing",
    "validate_dataset",
    "validate_example",
]

MAX_IMAGES_PER_EXAMPLE = 10
"""OpenAI's limit on images in one example (Azure allows more; we follow OpenAI)."""

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""OpenAI's per-image size limit ("10 MB"), read as 10 MiB of decoded image data."""

RECOMMENDED_EXAMPLES = 50
"""Below this many examples the guide says gains are unlikely; 50–100 is where they appear."""

_SYSTEM_MAJORITY = 0.8
"""Share of system messages one prompt must have before the others count as strays."""

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

# code -> (severity, short plain description for a filter menu)
_CODES: dict[str, tuple[Severity, str]] = {
    # The data-prep notebook's error counters (same names).
    "data_type": (_E, "Line is not an example"),
    "missing_messages_list": (_E, "Example has no messages"),
    "message_missing_key": (_E, "Message is missing its role, text or another required part"),
    "message_unrecognized_key": (_E, "Message holds something OpenAI does not accept"),
    "unrecognized_role": (_E, "Message has an unknown speaker (role)"),
    "missing_content": (_E, "Message has no text"),
    "example_missing_assistant_message": (_E, "Example has no assistant reply"),
    # What the notebook misses, per example.
    "empty_message": (_W, "Message text is only spaces"),
    "missing_user_message": (_W, "Example has no user message"),
    "invalid_name": (_E, "Message has a speaker name that is not text"),
    "invalid_weight": (_E, "Message has a weight other than 0 or 1, or on a non-assistant message"),
    "all_weights_zero": (_W, "Every reply in the example has weight 0"),
    "invalid_tool_call": (_E, "Tool call is incomplete or badly formed"),
    "invalid_tool_arguments": (_E, "Tool call arguments are not valid JSON"),
    "unmatched_tool_call_id": (_E, "Tool result does not answer an earlier tool call"),
    "invalid_tools": (_E, "Tool list is badly formed"),
    "invalid_parallel_tool_calls": (_E, "Parallel tool calls setting is not true or false"),
    "deprecated_function_calling": (_W, "Example uses the old function-calling format"),
    "unknown_top_level_key": (_W, "Example holds extra information OpenAI may reject"),
    "invalid_content_part": (_E, "Message has a part that is not valid text or image"),
    "image_not_allowed": (_E, "Image in a message that cannot hold images"),
    "too_many_images": (_E, f"More than {MAX_IMAGES_PER_EXAMPLE} images in one example"),
    "invalid_image_url": (_E, "Image address or embedded image type is not accepted"),
    "image_too_large": (_E, "Embedded image is larger than 10 MB"),
    "invalid_image_detail": (_E, "Image detail setting is not low, high or auto"),
    "dpo_shape": (_E, "Preference pair is badly formed"),
    "dpo_same_outputs": (_W, "Preferred and non-preferred replies are the same"),
    "legacy_format": (_I, "Example uses the older prompt/completion layout"),
    "legacy_shape": (_E, "Prompt/completion example is badly formed"),
    "broken_character": (_E, "Text holds half of a character, such as a cut emoji"),
    # Whole-dataset checks.
    "too_few_examples": (_E, "Too few examples to fine-tune"),
    "few_examples": (_I, f"Fewer than {RECOMMENDED_EXAMPLES} examples"),
    "too_many_tokens": (_W, "Example is longer than the model's limit"),
    "duplicate_example": (_W, "Example is a duplicate of an earlier one"),
    "train_validation_overlap": (_E, "Example is also in the validation file"),
    "inconsistent_system_message": (_W, "System message differs between examples"),
    "mixed_formats": (_E, "File mixes different layouts"),
    "legacy_needs_conversion": (_E, "Model trains only on chat examples"),
    "dpo_dataset": (_I, "File holds preference pairs (DPO)"),
}

FINDING_CODES: Mapping[str, str] = MappingProxyType({k: v[1] for k, v in _CODES.items()})
"""Every code this module can emit, with a short plain description (for filters)."""

FINDING_SEVERITY: Mapping[str, Severity] = MappingProxyType({k: v[0] for k, v in _CODES.items()})
"""The fixed severity of each code."""

_MISSING: Any = object()

_ROLE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "weight", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}

_ROLE_HINTS: dict[str, str] = {
    "human": "user",
    "customer": "user",
    "bot": "assistant",
    "ai": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "chatbot": "assistant",
    "developer": "system",
}

_WHAT_TO_TYPE: dict[str, str] = {
    "system": "the instructions the assistant should follow",
    "user": "what the user says",
    "assistant": "the reply the assistant should give",
    "tool": "the result the tool returned",
    "function": "the result the function returned",
}

_CHAT_TOP_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_DPO_TOP_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
_DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
_DPO_OUTPUT_KEYS = frozenset({"role", "content", "name"})
_IMAGE_TYPES = frozenset({"image/jpeg;base64", "image/png;base64", "image/webp;base64"})
_DETAILS = frozenset({"low", "high", "auto"})

_KIND_NAMES: dict[ExampleKind, tuple[str, str]] = {
    ExampleKind.CHAT: ("chat example", "chat examples"),
    ExampleKind.PREFERENCE: ("preference pair", "preference pairs"),
    ExampleKind.PROMPT_COMPLETION: ("prompt/completion pair", "prompt/completion pairs"),
    ExampleKind.PROMPT_RESPONSE: ("prompt/response pair", "prompt/response pairs"),
    ExampleKind.NOT_AN_EXAMPLE: ("line that is not an example", "lines that are not examples"),
}


# ---------------------------------------------------------------------------------------------
# Small helpers (used only when a finding is made, never on the happy path)
# ---------------------------------------------------------------------------------------------


def _short(text: str, limit: int = 40) -> str:
    """Cut long text so a finding stays one readable sentence (halves of characters escaped,
    so the finding can always be printed)."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape_surrogates(text)


def _describe(value: object) -> str:
    """Name a JSON value in words a non-programmer understands."""
    if value is None:
        return "empty (null)"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return f"the number {_short(_number_text(value))}"
    if isinstance(value, str):
        return f'"{_short(value)}"' if value else "empty"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a group of named values"
    return type(value).__name__


def _describe_weight(value: object) -> str:
    """A weight as the user would see it: 0.5, "1" written as text, true."""
    if isinstance(value, str):
        return f'"{_short(value)}", written as text'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return _describe(value)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _is_function_name(name: str) -> bool:
    """OpenAI's tool-name rule: 1-64 characters from a-z, A-Z, 0-9, '_' and '-' (no regex)."""
    if not 0 < len(name) <= 64 or not name.isascii():
        return False
    rest = name.replace("_", "").replace("-", "")
    return not rest or rest.isalnum()


def _number_text(value: float) -> str:
    try:
        return str(value)
    except ValueError:  # an integer with more digits than Python writes at once
        return "with thousands of digits"


def _is_json_text(text: str) -> bool:
    """True when text parses as JSON, judged exactly as a line of the file would be."""
    return json_text_error(escape_surrogates(text).encode("utf-8")) is None


class _Report:
    """Collects the findings of one example, stamping each with its line and record id."""

    __slots__ = ("findings", "line", "record_id")

    def __init__(self, line: int | None, record_id: int | None) -> None:
        self.findings: list[Finding] = []
        self.line = line
        self.record_id = record_id

    def add(self, code: str, text: str, fix: str | None = None, index: int | None = None) -> None:
        self.findings.append(
            Finding(code, _CODES[code][0], text, self.line, index, fix, self.record_id)
        )


class _Conversation:
    """What the message checks learn while walking one list of messages."""

    __slots__ = ("call_ids", "has_assistant", "has_user", "images", "trained", "untrained")

    def __init__(self) -> None:
        self.call_ids: set[str] | None = None
        self.has_assistant = False
        self.has_user = False
        self.images = 0
        self.trained = 0
        self.untrained = 0


# ---------------------------------------------------------------------------------------------
# Per-example checks
# ---------------------------------------------------------------------------------------------


def validate_example(
    data: object, *, line: int | None = None, record_id: int | None = None
) -> list[Finding]:
    """Check one parsed JSONL line; return its findings (an empty list when all is well).

    Never raises, whatever JSON value it is given.
    """
    r = _Report(line, record_id)
    _check_characters(data, r)
    if not isinstance(data, dict):
        r.add(
            "data_type",
            f"This line is not an example: it holds {_describe(data)} instead of a conversation.",
            "Delete the line, or rewrite it as a conversation.",
        )
        return r.findings
    if "messages" in data:
        _check_chat(data, r)
        return r.findings
    kind = classify(data)
    if kind is ExampleKind.PREFERENCE:
        _check_preference(data, r)
    elif kind.is_legacy:
        _check_legacy(data, kind, r)
    else:
        _check_not_an_example(data, r)
    return r.findings


def text_raises_nothing(text: str, role: str, index: int) -> bool:
    """True when a message's plain ``text`` is no problem on its own: not empty, not only
    spaces, no half characters. A bulk edit that changes only such a text (a new system
    message) leaves the rest of the example's findings as they were."""
    r = _Report(None, None)
    _check_content(text, role, True, index, r, _Conversation())
    return not r.findings and not has_surrogate(text)


def _check_characters(data: object, r: _Report) -> None:
    """Half of a character (``\\ud83d``, e.g. an emoji cut in two): JSON lets it be
    written, but it is not text, and OpenAI cannot read it."""
    try:
        orjson.dumps(data)
    except TypeError:  # orjson refuses such halves (and a few other things)
        pass
    else:
        return
    index = None
    found = None
    messages = _messages_of(data)
    for i, message in enumerate(messages):
        found = _text_with_surrogate(message)
        if found is not None:
            index = i
            break
    else:
        found = _text_with_surrogate(data)
    if found is None:
        return
    where = f"Message {index + 1}" if index is not None else "This example"
    r.add(
        "broken_character",
        f"{where} holds half of a character ({_around_surrogate(found)}), probably an emoji "
        "or other symbol cut in two; OpenAI cannot read it as text.",
        "Delete the broken character, or type the whole character again in its place.",
        index,
    )


def _messages_of(data: object) -> list[Any]:
    """The conversation of a chat example or of a preference pair's prompt (else empty)."""
    if not isinstance(data, dict):
        return []
    messages = data.get("messages")
    if messages is None and isinstance(data.get("input"), dict):
        messages = data["input"].get("messages")
    return messages if type(messages) is list else []


def _text_with_surrogate(value: object) -> str | None:
    """The first text (value or field name) in ``value`` holding a surrogate; never recurses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _around_surrogate(text: str) -> str:
    """A few characters either side of the first surrogate, which shows as ``\\udXXX``."""
    at = next(i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff")
    start, end = max(0, at - 15), at + 16
    before = "…" if start else ""
    after = "…" if end < len(text) else ""
    return f'"{before}{escape_surrogates(text[start:end])}{after}"'


def _check_chat(data: dict[str, Any], r: _Report) -> None:
    """A chat (SFT) example: ``{"messages": [...], "tools"?, "parallel_tool_calls"?}``."""
    messages = data["messages"]
    if len(data) > 1:
        _check_chat_extras(data, r)
    if type(messages) is not list or not messages:
        if isinstance(messages, list):
            text = "This example has no messages: its list of messages is empty."
        else:
            text = f"This example has no list of messages (it holds {_describe(messages)})."
        r.add(
            "missing_messages_list",
            text,
            "Add at least a user message and the assistant's reply, or delete the example.",
        )
        return
    conv = _Conversation()
    for i, message in enumerate(messages):
        _check_message(message, i, r, conv)
    _check_images_total(conv, r)
    if not conv.has_assistant:
        r.add(
            "example_missing_assistant_message",
            "This example has no assistant message, so there is no reply to learn from.",
            "Add the reply the assistant should give.",
        )
    elif conv.trained == 0 and conv.untrained > 0:
        r.add(
            "all_weights_zero",
            "Every assistant reply in this example has weight 0, so the model learns nothing "
            "from it.",
            "Set the weight of the replies worth learning from to 1, or delete the example.",
        )
    if not conv.has_user:
        r.add(
            "missing_user_message",
            "This example has no user message, so the model never sees what it is replying to.",
            "Add a user message before the assistant's reply.",
        )


def _check_chat_extras(data: dict[str, Any], r: _Report) -> None:
    """Top-level keys beside ``messages``: tools, parallel_tool_calls, functions, others."""
    unknown = [key for key in data if key not in _CHAT_TOP_KEYS]
    if "tools" in data:
        _check_tools(data["tools"], r)
    if "parallel_tool_calls" in data:
        _check_parallel(data["parallel_tool_calls"], r)
    if "functions" in data:
        r.add(
            "deprecated_function_calling",
            "This example lists functions in the old way (functions) that OpenAI has replaced "
            "with tools.",
            "Convert the functions to tools.",
        )
        _check_functions(data["functions"], r)
    if unknown:
        _report_unknown_top(unknown, "this example", r)


def _report_unknown_top(keys: list[str], where: str, r: _Report) -> None:
    names = ", ".join(f'"{_short(str(k), 30)}"' for k in keys[:5])
    if len(keys) > 5:
        names += f" and {len(keys) - 5:,} more"
    r.add(
        "unknown_top_level_key",
        f"{where[0].upper()}{where[1:]} holds extra information ({names}) that is not part of "
        "the training layout; it is kept, but OpenAI may reject the file because of it.",
        "Remove the extra information before uploading if you do not need it.",
    )


def _check_message(m: object, i: int, r: _Report, conv: _Conversation) -> None:
    """One message of a conversation; the common case runs with no allocations."""
    if not isinstance(m, dict):
        r.add(
            "message_missing_key",
            f"Message {i + 1} is not a message: it holds {_describe(m)} instead of a role "
            "and text.",
            "Delete it, or rebuild it as a message with a role and text.",
            i,
        )
        return
    role = m.get("role")
    if type(role) is not str or role not in _ROLE_KEYS:
        _report_role(role, "role" in m and role is not None, i, r)
        return
    if not m.keys() <= _ROLE_KEYS[role]:
        _check_message_keys(m, role, i, r)
    if "name" in m:
        name = m["name"]
        if type(name) is not str or not name:
            r.add(
                "invalid_name",
                f"The speaker name of message {i + 1} is {_describe(name)}, not a name.",
                "Type a name, or remove it.",
                i,
            )
    if role == "user":
        conv.has_user = True
        _check_content(m.get("content", _MISSING), role, True, i, r, conv)
    elif role == "assistant":
        _check_assistant(m, i, r, conv)
    elif role == "system":
        _check_content(m.get("content", _MISSING), role, True, i, r, conv)
    elif role == "tool":
        _check_tool_result(m, i, r, conv)
        _check_content(m.get("content", _MISSING), role, True, i, r, conv)
    else:  # function (deprecated)
        r.add(
            "deprecated_function_calling",
            f"Message {i + 1} is a function result in the old format that OpenAI has replaced "
            "with tool results.",
            "Convert it to a tool result that answers a tool call.",
            i,
        )
        if "name" not in m:
            r.add(
                "message_missing_key",
                f"Message {i + 1} is a function result but does not say which function it "
                "comes from.",
                "Add the name of the function.",
                i,
            )
        _check_content(m.get("content", _MISSING), role, True, i, r, conv)


def _report_role(role: object, present: bool, i: int, r: _Report) -> None:
    if not present:
        r.add(
            "message_missing_key",
            f"Message {i + 1} does not say who is speaking (it has no role).",
            "Set who is speaking: system, user, assistant or tool.",
            i,
        )
        return
    hint = _ROLE_HINTS.get(role.strip().lower()) if isinstance(role, str) else None
    if hint is None and isinstance(role, str) and role.strip().lower() in _ROLE_KEYS:
        hint = role.strip().lower()
    fix = (
        f'Change the role to "{hint}".'
        if hint
        else "Change the role to system, user, assistant or tool."
    )
    r.add(
        "unrecognized_role",
        f"Message {i + 1} has the role {_describe(role)}, which OpenAI does not know.",
        fix,
        i,
    )


def _check_message_keys(m: dict[str, Any], role: str, i: int, r: _Report) -> None:
    """Explain each key that does not belong on a message of this role."""
    allowed = _ROLE_KEYS[role]
    unknown: list[str] = []
    for key in m:
        if key in allowed:
            continue
        if key == "weight":
            r.add(
                "invalid_weight",
                f"Message {i + 1} is from the {role}, but only assistant messages can have a "
                "weight.",
                "Remove the weight from this message.",
                i,
            )
        elif key in ("tool_calls", "function_call"):
            r.add(
                "message_unrecognized_key",
                f"Message {i + 1} is from the {role}, but only assistant messages can call tools.",
                "Move the tool call to an assistant message, or remove it.",
                i,
            )
        elif key == "tool_call_id":
            r.add(
                "message_unrecognized_key",
                f"Message {i + 1} is from the {role} but carries a tool call id, which only tool "
                "results can have.",
                "Change the role to tool if this is a tool result, or remove the id.",
                i,
            )
        else:
            unknown.append(str(key))
    if unknown:
        names = ", ".join(f'"{_short(k, 30)}"' for k in unknown[:5])
        if len(unknown) > 5:
            names += f" and {len(unknown) - 5:,} more"
        r.add(
            "message_unrecognized_key",
            f"Message {i + 1} holds extra information ({names}) that OpenAI does not accept.",
            "Remove the extra information from the message.",
            i,
        )


def _check_assistant(m: dict[str, Any], i: int, r: _Report, conv: _Conversation) -> None:
    conv.has_assistant = True
    has_call = False
    calls = m.get("tool_calls")
    if calls is not None:
        if type(calls) is list:
            if calls:
                has_call = True
                _check_tool_calls(calls, i, r, conv)
        else:
            has_call = True
            r.add(
                "invalid_tool_call",
                f"The tool calls of message {i + 1} are {_describe(calls)} instead of a list "
                "of calls.",
                "Rebuild the tool calls as a list, or remove them.",
                i,
            )
    function_call = m.get("function_call")
    if function_call is not None:
        has_call = True
        r.add(
            "deprecated_function_calling",
            f"Message {i + 1} calls a function in the old format that OpenAI has replaced with "
            "tool calls.",
            "Convert the function call to a tool call.",
            i,
        )
        if isinstance(function_call, dict):
            _check_called_function(function_call, f"The function call in message {i + 1}", i, r)
        else:
            r.add(
                "invalid_tool_call",
                f"The function call in message {i + 1} is {_describe(function_call)} instead of "
                "a function name and arguments.",
                "Rebuild it with the function's name and arguments, or remove it.",
                i,
            )
    _check_content(m.get("content", _MISSING), "assistant", not has_call, i, r, conv)
    if "weight" in m:
        weight = m["weight"]
        if type(weight) is not int or (weight != 0 and weight != 1):
            r.add(
                "invalid_weight",
                f"Message {i + 1} has the weight {_describe_weight(weight)}; only 0 (do not "
                "learn from this reply) or 1 (learn from it) are allowed.",
                "Set the weight to 0 or 1, or remove it.",
                i,
            )
        elif weight:
            conv.trained += 1
        else:
            conv.untrained += 1
    else:
        conv.trained += 1


def _check_tool_calls(calls: list[Any], i: int, r: _Report, conv: _Conversation) -> None:
    """``[{"id", "type": "function", "function": {"name", "arguments": "<JSON>"}}]``."""
    if conv.call_ids is None:
        conv.call_ids = set()
    ids = conv.call_ids
    for j, call in enumerate(calls):
        label = f"Tool call {j + 1} in message {i + 1}"
        if not isinstance(call, dict):
            r.add(
                "invalid_tool_call",
                f"{label} is {_describe(call)} instead of a tool call.",
                "Rebuild it with an id, the function's name and its arguments, or remove it.",
                i,
            )
            continue
        call_id = call.get("id")
        if type(call_id) is not str or not call_id:
            r.add(
                "invalid_tool_call",
                f"{label} has no id, so no tool result can answer it.",
                "Give it an id such as call_1, and use the same id in the tool result.",
                i,
            )
        elif call_id in ids:
            r.add(
                "invalid_tool_call",
                f'{label} uses the id "{_short(call_id)}", which an earlier tool call in this '
                "example already uses.",
                "Give each tool call its own id.",
                i,
            )
        else:
            ids.add(call_id)
        if call.get("type") != "function":
            r.add(
                "invalid_tool_call",
                f"{label} is not marked as a function call (its type is "
                f'{_describe(call.get("type"))}, not "function").',
                'Set its type to "function".',
                i,
            )
        function = call.get("function")
        if isinstance(function, dict):
            _check_called_function(function, label, i, r)
        else:
            r.add(
                "invalid_tool_call",
                f"{label} does not say which function it calls.",
                "Add the function's name and its arguments.",
                i,
            )


def _check_called_function(function: dict[str, Any], label: str, i: int, r: _Report) -> None:
    """The ``{"name", "arguments"}`` of a tool call or an old-style function call."""
    name = function.get("name")
    if type(name) is not str or not name:
        r.add(
            "invalid_tool_call",
            f"{label} does not name the function it calls.",
            "Type the name of the function.",
            i,
        )
    arguments = function.get("arguments", _MISSING)
    if arguments is _MISSING or arguments is None:
        r.add(
            "invalid_tool_call",
            f"{label} has no arguments.",
            "Add the arguments as JSON text; use {} if the function takes none.",
            i,
        )
    elif type(arguments) is not str:
        r.add(
            "invalid_tool_call",
            f"The arguments of {label[0].lower()}{label[1:]} are {_describe(arguments)}, but "
            "they must be written as JSON text (in quotes).",
            'Write the arguments as text, for example "{\\"city\\": \\"Paris\\"}".',
            i,
        )
    elif not _is_json_text(arguments):
        r.add(
            "invalid_tool_arguments",
            f"The arguments of {label[0].lower()}{label[1:]} are not valid JSON "
            f"({_describe(arguments)}).",
            "Check for missing quotes, commas or braces; use {} if there are no arguments.",
            i,
        )


def _check_tool_result(m: dict[str, Any], i: int, r: _Report, conv: _Conversation) -> None:
    call_id = m.get("tool_call_id")
    if call_id is None:
        r.add(
            "message_missing_key",
            f"Message {i + 1} is a tool result but does not say which tool call it answers.",
            "Add the id of the tool call it answers.",
            i,
        )
    elif type(call_id) is not str or conv.call_ids is None or call_id not in conv.call_ids:
        r.add(
            "unmatched_tool_call_id",
            f"Message {i + 1} is a tool result for the call {_describe(call_id)}, but no earlier "
            "assistant message makes that call.",
            "Use the id of a tool call made earlier in this example, or delete the tool result.",
            i,
        )


def _check_content(
    content: Any, role: str, required: bool, i: int, r: _Report, conv: _Conversation
) -> None:
    """A message's text: a string, or a list of text (and, for users, image) parts."""
    if type(content) is str:
        if content:
            if required and content.isspace():
                r.add(
                    "empty_message",
                    f"The text of message {i + 1} is only spaces or blank lines.",
                    f"Trim it or fill in {_WHAT_TO_TYPE[role]}, or delete the message.",
                    i,
                )
        elif required:
            _report_no_text(role, i, r)
        return
    if content is _MISSING:
        if required:
            r.add(
                "message_missing_key",
                f"Message {i + 1} has no text at all.",
                f"Type {_WHAT_TO_TYPE[role]}, or delete the message.",
                i,
            )
        return
    if content is None:
        if required:
            _report_no_text(role, i, r)
        return
    if type(content) is list:
        _check_parts(content, role, required, i, r, conv)
        return
    r.add(
        "missing_content",
        f"The text of message {i + 1} is {_describe(content)} instead of text.",
        f"Replace it with {_WHAT_TO_TYPE[role]} as plain text.",
        i,
    )


def _report_no_text(role: str, i: int, r: _Report) -> None:
    r.add(
        "missing_content",
        f"Message {i + 1} has no text.",
        f"Type {_WHAT_TO_TYPE[role]}, or delete the message.",
        i,
    )


def _check_parts(
    parts: list[Any], role: str, required: bool, i: int, r: _Report, conv: _Conversation
) -> None:
    """List content: text parts everywhere, image parts only in user messages."""
    real_text = blank_text = empty_text = has_image = False
    for j, part in enumerate(parts):
        label = f"Part {j + 1} of message {i + 1}"
        kind = part.get("type") if isinstance(part, dict) else _MISSING
        if kind == "text":
            text = part.get("text")
            if type(text) is not str:
                r.add(
                    "invalid_content_part",
                    f"{label} is marked as text but holds {_describe(text)}.",
                    "Type the text of this part, or remove the part.",
                    i,
                )
            elif not text:
                empty_text = True
            elif text.isspace():
                blank_text = True
            else:
                real_text = True
        elif kind == "image_url":
            if role != "user":
                r.add(
                    "image_not_allowed",
                    f"{label} is an image, but only user messages can contain images.",
                    "Move the image to a user message, or remove it.",
                    i,
                )
                continue
            conv.images += 1
            has_image = True
            _check_image(part.get("image_url"), label, i, r)
        else:
            allowed = "text and images" if role == "user" else "text"
            if kind is _MISSING:
                what = _describe(part)
            elif kind is None:
                what = "a part with no type"
            else:
                what = f"a part of type {_describe(kind)}"
            r.add(
                "invalid_content_part",
                f"{label} is {what} that OpenAI does not accept; only {allowed} can be used here.",
                "Remove the part, or replace it with text.",
                i,
            )
    if not parts:
        if required:
            _report_no_text(role, i, r)
    elif required and not real_text and not has_image:
        if blank_text:
            r.add(
                "empty_message",
                f"The text of message {i + 1} is only spaces or blank lines.",
                f"Trim it or fill in {_WHAT_TO_TYPE[role]}, or delete the message.",
                i,
            )
        elif empty_text:
            _report_no_text(role, i, r)


def _check_image(image: Any, label: str, i: int, r: _Report) -> None:
    """``{"url": "https://…" | "data:image/png;base64,…", "detail"?: low|high|auto}``."""
    if not isinstance(image, dict) or type(image.get("url")) is not str:
        r.add(
            "invalid_content_part",
            f"{label} is marked as an image but has no image address.",
            "Attach the image again, or remove the part.",
            i,
        )
        return
    url: str = image["url"]
    if not url:
        r.add(
            "invalid_image_url",
            f"{label} is an image with an empty address.",
            "Attach the image again, or remove the part.",
            i,
        )
        return
    scheme = url[:8].lower()
    if scheme.startswith("data:"):
        comma = url.find(",", 5, 256)
        meta = url[5:comma].lower() if comma > 0 else ""
        if meta not in _IMAGE_TYPES:
            shown = meta.split(";", 1)[0] or "unknown"
            if comma > 0 and meta.startswith("image/") and meta.endswith(";base64"):
                text = (
                    f"{label} is an embedded {shown.removeprefix('image/').upper()} image; "
                    "OpenAI accepts only JPEG, PNG and WEBP images."
                )
            else:
                text = f"{label} embeds data ({_short(shown, 30)}) that is not an accepted image."
            r.add(
                "invalid_image_url",
                text,
                "Convert the image to JPEG, PNG or WEBP and attach it again.",
                i,
            )
            return
        payload = len(url) - comma - 1
        if payload <= 0:
            r.add(
                "invalid_image_url",
                f"{label} is an embedded image with no image data.",
                "Attach the image again, or remove the part.",
                i,
            )
            return
        size = payload * 3 // 4 - (2 if url.endswith("==") else 1 if url.endswith("=") else 0)
        if size > MAX_IMAGE_BYTES:
            r.add(
                "image_too_large",
                f"{label} is an image of about {size / 1048576:.1f} MB; OpenAI accepts images of "
                "up to 10 MB.",
                "Make the image smaller (fewer pixels or stronger compression) and attach it "
                "again.",
                i,
            )
    elif not (
        (scheme.startswith("https://") and len(url) > 8)
        or (scheme.startswith("http://") and len(url) > 7)
    ):
        r.add(
            "invalid_image_url",
            f"{label} is an image at the address {_describe(url)}, which is neither a web "
            "address (https://…) nor an embedded image.",
            "Use a web address that starts with https://, or embed the image file.",
            i,
        )
    if "detail" in image:
        detail = image["detail"]
        if type(detail) is not str or detail not in _DETAILS:
            r.add(
                "invalid_image_detail",
                f"{label} asks for image detail {_describe(detail)}; only low, high or auto "
                "are possible.",
                "Set the detail to low, high or auto, or remove it.",
                i,
            )


def _check_images_total(conv: _Conversation, r: _Report) -> None:
    if conv.images > MAX_IMAGES_PER_EXAMPLE:
        r.add(
            "too_many_images",
            f"This example has {conv.images} images; OpenAI accepts at most "
            f"{MAX_IMAGES_PER_EXAMPLE} per example.",
            "Remove some images, or split the conversation into several examples.",
        )


def _check_tools(tools: Any, r: _Report) -> None:
    """``[{"type": "function", "function": {"name", "description"?, "parameters"?}}]``."""
    if type(tools) is not list:
        r.add(
            "invalid_tools",
            f"The tool list of this example is {_describe(tools)} instead of a list of tools.",
            "Rebuild the tool list, or remove it.",
        )
        return
    for j, tool in enumerate(tools):
        label = f"Tool {j + 1} in this example's tool list"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            r.add(
                "invalid_tools",
                f'{label} is not described as a function (its type must be "function").',
                'Set its type to "function" and describe the function, or remove it.',
            )
            continue
        _check_function_description(tool.get("function"), label, r)


def _check_functions(functions: Any, r: _Report) -> None:
    """The deprecated ``functions`` list: ``[{"name", "description"?, "parameters"?}]``."""
    if type(functions) is not list:
        r.add(
            "invalid_tools",
            f"The function list of this example is {_describe(functions)} instead of a list.",
            "Rebuild the function list as tools, or remove it.",
        )
        return
    for j, function in enumerate(functions):
        _check_function_description(function, f"Function {j + 1} in this example's list", r)


def _check_function_description(function: Any, label: str, r: _Report) -> None:
    if not isinstance(function, dict):
        r.add(
            "invalid_tools",
            f"{label} does not describe a function.",
            "Give it a name, a description and its parameters, or remove it.",
        )
        return
    name = function.get("name")
    if type(name) is not str or not _is_function_name(name):
        r.add(
            "invalid_tools",
            f"{label} has the name {_describe(name)}; a function name must be 1 to 64 letters, "
            "digits, _ or -, without spaces.",
            "Rename the function, for example get_weather.",
        )
    if "parameters" in function and not isinstance(function["parameters"], dict):
        r.add(
            "invalid_tools",
            f"{label} describes its parameters as {_describe(function['parameters'])} instead of "
            "a JSON schema.",
            "Describe the parameters as a JSON schema object, or remove them.",
        )
    if "description" in function and type(function["description"]) is not str:
        r.add(
            "invalid_tools",
            f"{label} has a description that is not text.",
            "Type a description, or remove it.",
        )


def _check_parallel(value: Any, r: _Report) -> None:
    if type(value) is not bool:
        r.add(
            "invalid_parallel_tool_calls",
            f"This example's parallel tool calls setting is {_describe(value)}; it must be "
            "true or false.",
            "Set it to true or false, or remove it.",
        )


def _check_preference(data: dict[str, Any], r: _Report) -> None:
    """``{"input": {"messages"}, "preferred_output": [reply], "non_preferred_output": [reply]}``."""
    unknown = [key for key in data if key not in _DPO_TOP_KEYS]
    if unknown:
        _report_unknown_top(unknown, "this preference pair", r)
    prompt = data["input"]
    if not isinstance(prompt, dict):
        r.add(
            "dpo_shape",
            f"The prompt of this preference pair is {_describe(prompt)} instead of a conversation.",
            "Rebuild the prompt as a list of messages ending with a user message.",
        )
    else:
        _check_dpo_input(prompt, r)
    preferred = _check_dpo_output(data.get("preferred_output", _MISSING), "preferred", r)
    rejected = _check_dpo_output(data.get("non_preferred_output", _MISSING), "non-preferred", r)
    if preferred is not None and rejected is not None and preferred.strip() == rejected.strip():
        r.add(
            "dpo_same_outputs",
            "The preferred and non-preferred replies of this pair are the same, so the model "
            "cannot learn which one is better.",
            "Change one of the replies so they differ, or delete the pair.",
        )


def _check_dpo_input(prompt: dict[str, Any], r: _Report) -> None:
    unknown = [key for key in prompt if key not in _DPO_INPUT_KEYS]
    if unknown:
        _report_unknown_top(unknown, "the prompt of this preference pair", r)
    if "tools" in prompt:
        _check_tools(prompt["tools"], r)
    if "parallel_tool_calls" in prompt:
        _check_parallel(prompt["parallel_tool_calls"], r)
    messages = prompt.get("messages")
    if type(messages) is not list or not messages:
        r.add(
            "dpo_shape",
            "The prompt of this preference pair has no messages.",
            "Add the conversation that leads to the reply, ending with a user message.",
        )
        return
    conv = _Conversation()
    for i, message in enumerate(messages):
        _check_message(message, i, r, conv)
    _check_images_total(conv, r)
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        r.add(
            "dpo_shape",
            "The prompt of this preference pair must end with a user message, because the two "
            "replies answer it.",
            "Make the last message of the prompt a user message, or remove what follows it.",
            len(messages) - 1,
        )


def _check_dpo_output(value: Any, which: str, r: _Report) -> str | None:
    """One side of a pair: a list holding exactly one plain-text assistant message.

    Returns its text when it is well formed, so the caller can compare both sides.
    """
    label = f"The {which} reply"
    if value is _MISSING:
        r.add(
            "dpo_shape",
            f"This preference pair has no {which} reply.",
            f"Add the {which} reply of the assistant.",
        )
        return None
    if type(value) is not list or len(value) != 1 or not isinstance(value[0], dict):
        if type(value) is not list:
            what = _describe(value)
        elif not value:
            what = "an empty list"
        elif len(value) == 1:
            what = f"a list holding {_describe(value[0])}"
        else:
            what = f"a list of {len(value):,} items"
        r.add(
            "dpo_shape",
            f"{label} must be exactly one assistant message, but it is {what}.",
            "Keep a single assistant reply on each side of the pair.",
        )
        return None
    message = value[0]
    if message.get("role") != "assistant":
        r.add(
            "dpo_shape",
            f"{label} must come from the assistant, not from {_describe(message.get('role'))}.",
            'Set its role to "assistant".',
        )
    if not message.keys() <= _DPO_OUTPUT_KEYS:
        r.add(
            "dpo_shape",
            f"{label} may only hold plain text; tool calls, weights and other extras are not "
            "allowed in preference pairs.",
            "Remove everything but the reply's text.",
        )
    content = message.get("content")
    if type(content) is not str:
        if content is None:
            r.add("missing_content", f"{label} has no text.", "Type the reply.")
        else:
            r.add(
                "dpo_shape",
                f"{label} must be plain text, but it is {_describe(content)}.",
                "Replace it with the reply as plain text.",
            )
        return None
    if not content:
        r.add("missing_content", f"{label} has no text.", "Type the reply.")
        return None
    if content.isspace():
        r.add(
            "empty_message",
            f"{label} is only spaces or blank lines.",
            "Trim it or fill in the reply.",
        )
    return content


def _check_legacy(data: dict[str, Any], kind: ExampleKind, r: _Report) -> None:
    """``{"prompt", "completion"}`` (older models) or ``{"prompt", "response"}`` (other tools)."""
    answer_key = "completion" if kind is ExampleKind.PROMPT_COMPLETION else "response"
    prompt, answer = data["prompt"], data[answer_key]
    if type(prompt) is not str:
        r.add(
            "legacy_shape",
            f"The prompt of this example is {_describe(prompt)} instead of text.",
            "Replace it with the prompt as plain text.",
        )
    if type(answer) is not str:
        r.add(
            "legacy_shape",
            f"The {answer_key} of this example is {_describe(answer)} instead of text.",
            f"Replace it with the {answer_key} as plain text.",
        )
    elif not answer or answer.isspace():
        r.add(
            "empty_message",
            f"The {answer_key} of this example is blank, so there is nothing to learn.",
            f"Trim it or fill in the {answer_key}, or delete the example.",
        )
    if kind is ExampleKind.PROMPT_COMPLETION:
        text = (
            "This example uses the older prompt-and-completion layout, which current models "
            "do not train on (the two that did, babbage-002 and davinci-002, are retired); it "
            "can be converted to a chat example."
        )
    else:
        text = (
            "This example uses a prompt-and-response layout, which OpenAI does not accept as "
            "it is; it can be converted to a chat example."
        )
    r.add(
        "legacy_format",
        text,
        "Convert the file with Tools › Convert to Chat Examples to fine-tune current models.",
    )
    unknown = [key for key in data if key != "prompt" and key != answer_key]
    if unknown:
        _report_unknown_top(unknown, "this example", r)


def _check_not_an_example(data: dict[str, Any], r: _Report) -> None:
    """A JSON object in none of the known layouts: say what it most looks like."""
    if "input" in data or "preferred_output" in data or "non_preferred_output" in data:
        missing = [
            k for k in ("input", "preferred_output", "non_preferred_output") if k not in data
        ]
        words = {
            "input": "prompt",
            "preferred_output": "preferred reply",
            "non_preferred_output": "non-preferred reply",
        }
        r.add(
            "dpo_shape",
            "This looks like a preference pair but has no "
            + " and no ".join(words[k] for k in missing)
            + ".",
            "Add the prompt and both replies, or rewrite the line as a chat example.",
        )
    elif "prompt" in data or "completion" in data or "response" in data:
        what = "completion" if "prompt" in data else "prompt"
        r.add(
            "legacy_shape",
            f"This looks like a prompt-and-completion example but has no {what}.",
            f"Add the {what}, or rewrite the line as a chat example.",
        )
    else:
        r.add(
            "missing_messages_list",
            "This line has no conversation: it holds no list of messages.",
            "Rewrite the line as a conversation, or delete it.",
        )


# ---------------------------------------------------------------------------------------------
# Per-example facts for the dataset-level checks
# ---------------------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class ExampleFacts:
    """What the dataset-level checks need to know about one example (small, cheap to keep).

    Attributes:
        record_id: stable id of the record, for jumping to it.
        line: 1-based line in the file.
        kind: the example's layout.
        fingerprint: digest of the example apart from the text of its first system message
            (see :func:`fingerprint`): equal examples, and only they, have equal
            ``fingerprint`` and ``system_text`` together.
        system_text: text of the first system message, or None.
        has_system: True when the conversation has a system message (even one without text).
        tokens: the example's token count, filled in by the caller; None when unknown.
    """

    record_id: int | None
    line: int | None
    kind: ExampleKind
    fingerprint: str
    system_text: str | None
    has_system: bool
    tokens: int | None = None


def fingerprint(data: object) -> str:
    """A stable digest of an example, taken of its canonical JSON (sorted keys, compact,
    UTF-8: spacing and key order do not matter). Never raises for a parsed JSON value.

    The text of a chat example's first system message is left out (as ``""``, and a plain
    empty one stands in for a missing message), because ``ExampleFacts.system_text`` holds
    it: setting the system message then keeps the fingerprint, so it need not be taken again
    of 100,000 examples. The digest's last bit says whether the text was left out
    (see :func:`leaves_out_system_text`); where the message's content is not a string it is
    not, and the digest covers everything.
    """
    messages = data.get("messages") if type(data) is dict else None
    if type(messages) is not list or classify(data) is not ExampleKind.CHAT:
        return _fingerprint(data, apart=False)
    return _chat_fingerprint(data, messages, first_system(messages))


def _chat_fingerprint(data: dict[str, Any], messages: list[Any], first: int | None) -> str:
    if first is None:
        # A plain empty system message stands in for the missing one: adding a plain system
        # message first then keeps the fingerprint too.
        listed = [{"content": "", "role": "system"}, *messages]
    else:
        message = messages[first]
        if type(message.get("content")) is not str:
            return _fingerprint(data, apart=False)
        listed = messages.copy()
        listed[first] = {**message, "content": ""}
    return _fingerprint({**data, "messages": listed}, apart=True)


def _fingerprint(data: object, *, apart: bool) -> str:
    digest = bytearray(hashlib.blake2b(canonical_json_bytes(data), digest_size=16).digest())
    digest[-1] = (digest[-1] & 0xFE) | apart
    return digest.hex()


def leaves_out_system_text(fingerprint: str) -> bool:
    """True when ``fingerprint`` was taken apart from a first system message's text (or of a
    chat example without one), so that setting the text keeps it."""
    return int(fingerprint[-1], 16) & 1 == 1


def example_facts(
    data: object, *, line: int | None, record_id: int | None, tokens: int | None = None
) -> ExampleFacts:
    """Summarise one parsed line for :func:`validate_dataset`."""
    kind = classify(data)
    messages: Any = None
    if isinstance(data, dict):
        if kind is ExampleKind.CHAT:
            messages = data["messages"]
        elif kind is ExampleKind.PREFERENCE:
            prompt = data["input"]
            messages = prompt.get("messages") if isinstance(prompt, dict) else None
    first = first_system(messages) if type(messages) is list else None
    has_system = first is not None
    system_text = None if first is None else _plain_text(messages[first].get("content"))
    if kind is ExampleKind.CHAT and type(data) is dict and type(messages) is list:
        digest = _chat_fingerprint(data, messages, first)
    else:
        digest = _fingerprint(data, apart=False)
    return ExampleFacts(record_id, line, kind, digest, system_text, has_system, tokens)


def _plain_text(content: object) -> str | None:
    """The text of a message's content (string or text parts), or None when it has none."""
    if type(content) is str:
        return content
    if type(content) is list:
        texts = [
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and type(p.get("text")) is str
        ]
        return "".join(texts) if texts else None
    return None


# ---------------------------------------------------------------------------------------------
# Dataset-level checks
# ---------------------------------------------------------------------------------------------


class _Capped:
    """Per-line findings of one code: listed up to a cap, the rest summed up in one more."""

    __slots__ = ("cap", "code", "count", "findings")

    def __init__(self, code: str, cap: int) -> None:
        self.code = code
        self.cap = cap
        self.count = 0
        self.findings: list[Finding] = []

    @property
    def full(self) -> bool:
        """True once the cap is reached, so callers can stop looking."""
        return len(self.findings) >= self.cap

    def add(self, text: str, fix: str | None, facts: ExampleFacts) -> None:
        self.findings.append(
            Finding(self.code, _CODES[self.code][0], text, facts.line, None, fix, facts.record_id)
        )

    def flush(self, out: list[Finding], total: int, what: str, fix: str | None) -> None:
        """Move the listed findings to out, then one finding for the ``total`` minus listed.

        ``what`` completes "N more examples …", e.g. "repeat earlier ones".
        """
        out.extend(self.findings)
        shown = len(self.findings)
        hidden = total - shown
        if hidden > 0:
            out.append(
                Finding(
                    self.code,
                    _CODES[self.code][0],
                    f"{hidden:,} more {'example' if hidden == 1 else 'examples'} {what} "
                    f"(only the first {shown:,} are listed).",
                    fix=fix,
                )
            )


_HAS_MESSAGES = (ExampleKind.CHAT, ExampleKind.PREFERENCE)
_EXAMPLE_KINDS = tuple(kind for kind in ExampleKind if kind is not ExampleKind.NOT_AN_EXAMPLE)
_get_kind = attrgetter("kind")
_get_fingerprint = attrgetter("fingerprint")
_get_tokens = attrgetter("tokens")
_get_has_system = attrgetter("has_system")
_get_system_text = attrgetter("system_text")

_DUPLICATE_FIX = "Delete the duplicate, or change it so it teaches something new."
_TOO_LONG_FIX = "Shorten the conversation, or split it into several smaller examples."
_OVERLAP_FIX = "Remove the example from one of the two files."


def validate_dataset(
    facts: Sequence[ExampleFacts],
    *,
    token_limit: int | None,
    model_id: str | None = None,
    validation_facts: Sequence[ExampleFacts] | None = None,
    min_examples: int = 10,
    max_findings_per_code: int = 500,
    trains_on_legacy: bool | None = None,
) -> list[Finding]:
    """Whole-file checks over the examples' facts; O(n), fast enough to re-run after each edit.

    ``trains_on_legacy`` says whether the model takes prompt/completion pairs (False: chat
    only, so such pairs block the upload; None: unknown, nothing is said).

    Lines that are not examples (``NOT_AN_EXAMPLE``) are left out: validate_example already
    reports them. Per-line findings of each code are listed up to ``max_findings_per_code``;
    the rest are summed up in one more finding of that code with no line, so a 100,000-line
    file gives a bounded list. The work is done column by column (map, Counter, set) so that
    the common case, a clean file, runs mostly in C.
    """
    out: list[Finding] = []
    cap = max(0, max_findings_per_code)
    kinds = list(map(_get_kind, facts))
    kind_counts = _count_kinds(kinds)
    n = sum(kind_counts.values())
    _check_count(n, min_examples, out)
    main_kind = max(kind_counts, key=kind_counts.__getitem__) if kind_counts else None
    if len(kind_counts) > 1:
        _report_mixed(facts, kinds, kind_counts, main_kind, cap, out)
    if main_kind is ExampleKind.PREFERENCE:
        out.append(
            Finding(
                "dpo_dataset",
                _I,
                "This file holds preference pairs, so it will be used for preference tuning "
                "(DPO): the model learns to prefer one reply over the other.",
            )
        )
    legacy = kind_counts[ExampleKind.PROMPT_COMPLETION] + kind_counts[ExampleKind.PROMPT_RESPONSE]
    if legacy and trains_on_legacy is False:
        out.append(_legacy_needs_conversion(legacy, model_id))
    with_messages = kind_counts[ExampleKind.CHAT] + kind_counts[ExampleKind.PREFERENCE]
    _check_systems(facts, kinds, with_messages, cap, out)
    fingerprints = list(map(_get_fingerprint, facts))
    unique = set(fingerprints)
    if len(unique) < len(fingerprints):
        # Examples with one fingerprint may still differ in the system text it leaves out.
        contents = list(zip(fingerprints, map(_get_system_text, facts), strict=True))
        _check_duplicates(facts, kinds, contents, cap, out)
    if token_limit is not None:
        _check_tokens(facts, kinds, token_limit, model_id, cap, out)
    if validation_facts:
        _check_validation(facts, kinds, fingerprints, unique, validation_facts, main_kind, cap, out)
    return out


def _count_kinds(kinds: list[ExampleKind]) -> Counter[ExampleKind]:
    """How many examples of each layout, leaving out lines that are not examples.

    list.count compares by identity first, which beats hashing enum members in a Counter.
    """
    counts: Counter[ExampleKind] = Counter()
    for kind in _EXAMPLE_KINDS:
        count = kinds.count(kind)
        if count:
            counts[kind] = count
    return counts


def _check_count(n: int, min_examples: int, out: list[Finding]) -> None:
    if n < min_examples:
        have = "no examples" if n == 0 else _plural(n, "example", "examples")
        out.append(
            Finding(
                "too_few_examples",
                _E,
                f"The file has {have}; OpenAI needs at least {min_examples} to fine-tune.",
                fix=f"Add examples until there are at least {min_examples}; "
                f"{RECOMMENDED_EXAMPLES} to 100 good ones usually work much better.",
            )
        )
    elif n < RECOMMENDED_EXAMPLES:
        out.append(
            Finding(
                "few_examples",
                _I,
                f"The file has {_plural(n, 'example', 'examples')}; fine-tuning usually starts to "
                f"help at {RECOMMENDED_EXAMPLES} to 100.",
                fix=f"Add examples; about {RECOMMENDED_EXAMPLES} good ones is a good start.",
            )
        )


def _legacy_needs_conversion(count: int, model_id: str | None) -> Finding:
    """Prompt/completion pairs sent to a chat model are refused: say so once, and how to
    convert them."""
    model = model_id or "This model"
    pairs = _plural(count, "prompt/completion pair", "prompt/completion pairs")
    return Finding(
        "legacy_needs_conversion",
        _E,
        f"{model} trains only on chat examples, and the file holds {pairs}; they are not "
        "converted on upload, so they must be converted first.",
        fix="Convert them with Tools › Convert to Chat Examples in the app: each prompt "
        "becomes the user's message and each completion the assistant's reply (a system "
        "message can be added to all).",
    )


def _report_mixed(
    facts: Sequence[ExampleFacts],
    kinds: list[ExampleKind],
    kind_counts: Counter[ExampleKind],
    main_kind: ExampleKind | None,
    cap: int,
    out: list[Finding],
) -> None:
    """One finding with the counts, then the lines not in the main layout (bounded)."""
    parts = [_plural(count, *_KIND_NAMES[kind]) for kind, count in kind_counts.most_common()]
    fix = "Convert the odd lines to the file's main layout, or move them to a separate file."
    out.append(
        Finding(
            "mixed_formats",
            _E,
            f"This file mixes layouts ({', '.join(parts)}); every line of a training file must "
            "use the same one.",
            fix=fix,
        )
    )
    if main_kind is None:
        return
    main_name = _KIND_NAMES[main_kind][1]
    odd = _Capped("mixed_formats", cap)
    skip = (main_kind, ExampleKind.NOT_AN_EXAMPLE)
    for i, kind in enumerate(kinds):
        if odd.full:
            break
        if kind not in skip:
            odd.add(
                f"This line is a {_KIND_NAMES[kind][0]}, but most of the file is {main_name}.",
                fix,
                facts[i],
            )
    total = sum(kind_counts.values()) - kind_counts[main_kind]
    odd.flush(out, total, "use another layout", fix)


def _check_systems(
    facts: Sequence[ExampleFacts],
    kinds: list[ExampleKind],
    with_messages: int,
    cap: int,
    out: list[Finding],
) -> None:
    """Some examples with a system message and some without, or a few strays from the
    common one: report once with counts, then list the minority's lines (bounded)."""
    if with_messages < 2:
        return
    has_system = list(map(_get_has_system, facts))
    with_system = has_system.count(True)
    lines = _Capped("inconsistent_system_message", cap)
    total = 0
    without = with_messages - with_system
    if 0 < with_system < with_messages:
        fix = (
            "Give every example the same system message, or remove it from all of them; the "
            "model expects the setup it was trained with."
        )
        out.append(
            Finding(
                "inconsistent_system_message",
                _W,
                f"{_plural(without, 'example has', 'examples have')} no system message, while "
                f"{_plural(with_system, 'example has', 'examples have')} one.",
                fix=fix,
            )
        )
        minority = with_system < without
        total += min(with_system, without)
        text = (
            "This example has a system message, unlike most others."
            if minority
            else "This example has no system message, unlike most others."
        )
        for i, flag in enumerate(has_system):
            if lines.full:
                break
            if flag is minority and kinds[i] in _HAS_MESSAGES:
                lines.add(text, fix, facts[i])
    if with_system >= 2:
        texts = list(map(_get_system_text, facts))
        first_text = next((t for t in texts if t is not None), None)
        if first_text is not None and texts.count(first_text) == with_system:
            counts: Counter[str | None] = Counter()  # the common case: all the same, no hashing
        else:
            counts = Counter(texts)
            counts.pop(None, None)
        if counts:
            common_text, common = counts.most_common(1)[0]
            differ = with_system - common
            if differ > 0 and common >= _SYSTEM_MAJORITY * with_system:
                fix = (
                    f'Use the common system message ("{_short(common_text, 60)}") in these '
                    "examples too, unless they really need a different one."
                )
                out.append(
                    Finding(
                        "inconsistent_system_message",
                        _W,
                        f"{common:,} of {with_system:,} examples with a system message share "
                        f"the same one, but {_plural(differ, 'uses', 'use')} a different one.",
                        fix=fix,
                    )
                )
                total += differ
                for i, flag in enumerate(has_system):
                    if lines.full:
                        break
                    if flag and texts[i] != common_text:
                        lines.add(
                            "This example's system message differs from the one most examples use.",
                            fix,
                            facts[i],
                        )
    lines.flush(out, total, "differ in their system message", None)


def _check_duplicates(
    facts: Sequence[ExampleFacts],
    kinds: list[ExampleKind],
    contents: list[tuple[str, str | None]],
    cap: int,
    out: list[Finding],
) -> None:
    """Each repeat points at the line of the first occurrence; runs only when some repeat.

    ``contents`` are the examples' fingerprints with their system texts: equal only for
    equal examples.
    """
    not_an_example = ExampleKind.NOT_AN_EXAMPLE
    first: dict[tuple[str, str | None], int] = {}
    # setdefault records the first occurrence and returns it, so later ones differ from i.
    # Equal content means an equal layout, so a line that is not an example never pairs
    # with one that is.
    repeats = [
        i
        for i, content in enumerate(contents)
        if first.setdefault(content, i) != i and kinds[i] is not not_an_example
    ]
    duplicates = _Capped("duplicate_example", cap)
    for i in repeats[:cap]:
        line = facts[first[contents[i]]].line
        where = f"line {line:,}" if line is not None else "an earlier line"
        duplicates.add(f"This example is the same as the one on {where}.", _DUPLICATE_FIX, facts[i])
    duplicates.flush(out, len(repeats), "repeat earlier ones", _DUPLICATE_FIX)


def _check_tokens(
    facts: Sequence[ExampleFacts],
    kinds: list[ExampleKind],
    limit: int,
    model_id: str | None,
    cap: int,
    out: list[Finding],
) -> None:
    """Examples over the model's per-example limit; a C-speed max() rules out the clean case."""
    tokens = list(map(_get_tokens, facts))
    if max(filter(None, tokens), default=0) <= limit:
        return
    not_an_example = ExampleKind.NOT_AN_EXAMPLE
    over = [
        i
        for i, count in enumerate(tokens)
        if count is not None and count > limit and kinds[i] is not not_an_example
    ]
    model = f" of {model_id}" if model_id else ""
    too_long = _Capped("too_many_tokens", cap)
    for i in over[:cap]:
        too_long.add(
            f"This example has {tokens[i]:,} tokens, more than the {limit:,}-token limit{model}; "
            "OpenAI will cut it off from the end, so the last part will not be learned.",
            _TOO_LONG_FIX,
            facts[i],
        )
    too_long.flush(out, len(over), f"are over the {limit:,}-token limit{model}", _TOO_LONG_FIX)


def _check_validation(
    facts: Sequence[ExampleFacts],
    kinds: list[ExampleKind],
    fingerprints: list[str],
    unique: set[str],
    validation_facts: Sequence[ExampleFacts],
    main_kind: ExampleKind | None,
    cap: int,
    out: list[Finding],
) -> None:
    """Overlap (reported on the training line) and a layout that differs between the files."""
    not_an_example = ExampleKind.NOT_AN_EXAMPLE
    validation_kinds = _count_kinds(list(map(_get_kind, validation_facts)))
    if validation_kinds and main_kind is not None:
        validation_main = validation_kinds.most_common(1)[0][0]
        if validation_main is not main_kind:
            out.append(
                Finding(
                    "mixed_formats",
                    _E,
                    f"The validation file holds {_KIND_NAMES[validation_main][1]}, but the "
                    f"training file holds {_KIND_NAMES[main_kind][1]}; both must use the same "
                    "layout.",
                    fix="Convert the validation file to the training file's layout.",
                )
            )
    common = unique.intersection(map(_get_fingerprint, validation_facts))
    if not common:
        return
    # Examples with one fingerprint may still differ in the system text it leaves out.
    first: dict[tuple[str, str | None], ExampleFacts] = {}
    for i, fp in enumerate(fingerprints):
        if fp in common and kinds[i] is not not_an_example:
            first.setdefault((fp, facts[i].system_text), facts[i])
    hits = [
        v
        for v in validation_facts
        if (v.fingerprint, v.system_text) in first and v.kind is not not_an_example
    ]
    overlap = _Capped("train_validation_overlap", cap)
    for v in hits[:cap]:
        where = f" (line {v.line:,})" if v.line is not None else ""
        overlap.add(
            f"This example also appears in the validation file{where}.",
            _OVERLAP_FIX,
            first[v.fingerprint, v.system_text],
        )
    overlap.flush(out, len(hits), "also appear in the validation file", _OVERLAP_FIX)

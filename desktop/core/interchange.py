"""Moving datasets to and from the formats other trainers read: ShareGPT, Alpaca and Gemini.

OpenAI stops taking fine-tuning jobs on 2027-01-06, so a dataset curated here must be able to
train elsewhere, and datasets made for other trainers must open here. Nothing is lost silently:
a foreign item that cannot be converted is reported with its line, and every conversion that
cannot carry something across says what, with counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from desktop.core.bulk import split_train_validation
from desktop.core.dataset import (
    Container,
    Dataset,
    LineState,
    Record,
    dump_json,
    parse_json_bytes,
    serialize_value,
)
from desktop.core.formats import decode_array_item, legacy_to_chat
from desktop.core.jsonl_io import iter_lines, split_bom
from desktop.core.kinds import ExampleKind, classify


class ForeignFormat(str, Enum):
    """A layout other trainers use that the app can import."""

    SHAREGPT = "sharegpt"
    ALPACA = "alpaca"
    GEMINI = "gemini"

    @property
    def label(self) -> str:
        """The name people know the format by."""
        return _LABELS[self.value]


class ExportFormat(str, Enum):
    """A layout the app can write a dataset in."""

    OPENAI_CHAT = "openai_chat"
    SHAREGPT = "sharegpt"
    ALPACA = "alpaca"
    GEMINI = "gemini"

    @property
    def label(self) -> str:
        """The name people know the format by."""
        return _LABELS[self.value]

    @property
    def suffix(self) -> str:
        """The file name ending the format is usually saved with."""
        return ".json" if self is ExportFormat.ALPACA else ".jsonl"


_LABELS = {
    "openai_chat": "OpenAI chat (JSONL)",
    "sharegpt": "ShareGPT (JSONL)",
    "alpaca": "Alpaca (JSON)",
    "gemini": "Gemini / Vertex AI tuning (JSONL)",
}


class InterchangeError(ValueError):
    """A file that cannot be imported at all; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import produced.

    Attributes:
        format: the format most items were in.
        values: (source line, chat example) for every item that converted, in file order.
        failures: (source line, reason) for every item that did not; the UI shows them as
            broken lines so they can be repaired.
        dropped: plain sentences about information the conversion could not keep.
    """

    format: ForeignFormat
    values: list[tuple[int, dict[str, Any]]]
    failures: list[tuple[int, str]]
    dropped: list[str]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """An exported file's content, how many examples it holds, and what could not be kept."""

    data: bytes
    dropped: list[str]
    count: int


# What a conversion could not keep ------------------------------------------------------------

#: Loss key -> (sentence for one, sentence for several with {n}); the order is the report order.
_SENTENCES: dict[str, tuple[str, str]] = {
    "not_example": (
        "1 item that is not an example was left out.",
        "{n} items that are not examples were left out.",
    ),
    "preference": (
        "1 preference example was exported as its prompt and preferred reply; "
        "the rejected reply was left out.",
        "{n} preference examples were exported as their prompt and preferred reply; "
        "the rejected replies were left out.",
    ),
    "no_pair": (
        "1 example had no user message followed by an assistant reply and was left out.",
        "{n} examples had no user message followed by an assistant reply and were left out.",
    ),
    "other_turns": (
        "1 other turn was left out, because Alpaca holds one instruction and one reply "
        "per example.",
        "{n} other turns were left out, because Alpaca holds one instruction and one reply "
        "per example.",
    ),
    "calls_dropped": (
        "1 tool call made by a kept reply was left out.",
        "{n} tool calls made by kept replies were left out.",
    ),
    "call_as_text": (
        "1 function-call turn was turned into plain text.",
        "{n} function-call turns were turned into plain text.",
    ),
    "result_as_text": (
        "1 tool-result turn was turned into plain text.",
        "{n} tool-result turns were turned into plain text.",
    ),
    "text_with_calls": (
        "1 assistant text sent together with a tool call was left out.",
        "{n} assistant texts sent together with tool calls were left out.",
    ),
    "system_merged": (
        "1 example had several system messages; they were joined into one.",
        "{n} examples had several system messages; they were joined into one each.",
    ),
    "other_role": (
        "1 turn with an unusual role was sent as a user turn.",
        "{n} turns with unusual roles were sent as user turns.",
    ),
    "weight": (
        "1 assistant turn marked not to be trained on (weight 0) lost that mark.",
        "{n} assistant turns marked not to be trained on (weight 0) lost that mark.",
    ),
    "turn_weight": (
        "1 training weight on a turn that is not an assistant reply, or that is not 0 or 1, "
        "was left out (only replies can be weighted, with 0 or 1).",
        "{n} training weights on turns that are not assistant replies, or that are not 0 or "
        "1, were left out (only replies can be weighted, with 0 or 1).",
    ),
    "name": (
        "1 speaker name on a message was left out.",
        "{n} speaker names on messages were left out.",
    ),
    "non_text": (
        "1 image or other non-text part was left out; only text was kept.",
        "{n} images or other non-text parts were left out; only text was kept.",
    ),
    "tools": (
        "1 example's tool definitions were left out.",
        "{n} examples' tool definitions were left out.",
    ),
    "tools_unreadable": (
        "1 example's tool definitions could not be read and were left out.",
        "{n} examples' tool definitions could not be read and were left out.",
    ),
}


class _Losses:
    """Counts what a conversion could not carry across, to say it in sentences."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._fields: Counter[str] = Counter()
        self._turn_fields: Counter[str] = Counter()

    def add(self, key: str, count: int = 1) -> None:
        """Count ``count`` losses of the kind ``key`` (a key of ``_SENTENCES``)."""
        if count:
            self._counts[key] += count

    def add_field(self, name: str) -> None:
        """Count one example whose top-level field ``name`` had no place in the target."""
        self._fields[name] += 1

    def add_turn_field(self, name: str) -> None:
        """Count one turn whose field ``name`` has no place on a chat message."""
        self._turn_fields[name] += 1

    def sentences(self) -> list[str]:
        """One plain sentence per kind of loss, in a stable order."""
        result = []
        for key, (one, several) in _SENTENCES.items():
            n = self._counts[key]
            if n:
                result.append(one if n == 1 else several.format(n=n))
        if self._fields:
            listed = ", ".join(
                f"{name} ({n} example{'s' if n != 1 else ''})"
                for name, n in sorted(self._fields.items())
            )
            result.append(f"Fields this format has no place for were left out: {listed}.")
        if self._turn_fields:
            listed = ", ".join(
                f"{name} ({n} turn{'s' if n != 1 else ''})"
                for name, n in sorted(self._turn_fields.items())
            )
            result.append(f"Turn fields a chat message has no place for were left out: {listed}.")
        return result


# Reading chat messages ------------------------------------------------------------------------


def _text_of(content: Any, losses: _Losses) -> str:
    """The text of a message's content; images and other parts are counted as lost."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                losses.add("non_text")
        return "\n".join(texts)
    return json.dumps(content, ensure_ascii=False)


def _has_text(content: Any) -> bool:
    """True when a message's content holds some text (a reply worth keeping)."""
    return bool(_text_of(content, _Losses()))


def _note_message_losses(message: dict[str, Any], losses: _Losses) -> None:
    """Count the per-message details no foreign format keeps: names and weight 0."""
    if "name" in message:
        losses.add("name")
    if message.get("weight") == 0:
        losses.add("weight")


def _calls_of(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(function name, arguments JSON text) for each tool call of an assistant message."""
    calls = []
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        for call in tool_calls:
            function = call.get("function", {}) if isinstance(call, dict) else {}
            function = function if isinstance(function, dict) else {}
            calls.append((str(function.get("name", "")), _arguments_text(function)))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append((str(legacy.get("name", "")), _arguments_text(legacy)))
    return calls


def _arguments_text(function: dict[str, Any]) -> str:
    arguments = function.get("arguments", "")
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _call_text(name: str, arguments: str) -> str:
    """How a tool call reads when a format can only hold text."""
    return f"{name}({arguments})"


def _as_chat(value: Any, target: ExportFormat, losses: _Losses) -> dict[str, Any] | None:
    """The example as a chat value the exporters can read; None when it is no example.

    Preference examples become their prompt plus preferred reply and legacy pairs become
    chat turns, except for OpenAI's own format, which holds both as they are.
    """
    kind = classify(value)
    if kind is ExampleKind.NOT_AN_EXAMPLE:
        losses.add("not_example")
        return None
    if target is ExportFormat.OPENAI_CHAT or kind is ExampleKind.CHAT:
        return value
    if kind.is_legacy:
        return legacy_to_chat(value)
    losses.add("preference")
    prompt = value.get("input")
    prompt = prompt if isinstance(prompt, dict) else {}
    preferred = value.get("preferred_output")
    messages = list(prompt.get("messages") or []) + list(
        preferred if isinstance(preferred, list) else []
    )
    chat = {k: v for k, v in prompt.items() if k != "messages"}
    chat["messages"] = messages
    skip = {"input", "preferred_output", "non_preferred_output"}
    chat.update((k, v) for k, v in value.items() if k not in skip and k not in chat)
    return chat


def _messages_of(chat: dict[str, Any]) -> list[dict[str, Any]]:
    messages = chat.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _system_text(messages: list[dict[str, Any]], losses: _Losses) -> str:
    """All system messages joined (foreign formats hold one system prompt per example)."""
    texts = []
    for message in messages:
        if message.get("role") in ("system", "developer"):
            _note_message_losses(message, losses)
            texts.append(_text_of(message.get("content"), losses))
    if len(texts) > 1:
        losses.add("system_merged")
    return "\n\n".join(texts)


def _extra_fields(
    chat: dict[str, Any], target: dict[str, Any], losses: _Losses, *, keep: bool
) -> None:
    """Carry top-level fields across where the target tolerates them; count the rest.

    Tool definitions are the exporter's business: counted here as lost unless the target
    already holds them.
    """
    if "tools" not in target and (chat.get("tools") or chat.get("functions")):
        losses.add("tools")
    for key, item in chat.items():
        if key in ("messages", "tools", "functions"):
            continue
        if keep and key not in target and key != "parallel_tool_calls":
            target[key] = item
        else:
            losses.add_field(key)


# Export ---------------------------------------------------------------------------------------

_SHAREGPT_SPEAKER = {"system": "system", "developer": "system", "user": "human", "assistant": "gpt"}


def _to_sharegpt(chat: dict[str, Any], losses: _Losses) -> dict[str, Any]:
    turns: list[dict[str, str]] = []
    for message in _messages_of(chat):
        role = message.get("role")
        _note_message_losses(message, losses)
        calls = _calls_of(message) if role == "assistant" else []
        if calls:
            if _text_of(message.get("content"), losses):
                losses.add("text_with_calls")
            objects = [{"name": n, "arguments": _loads_or_text(a)} for n, a in calls]
            payload = objects[0] if len(objects) == 1 else objects
            turns.append({"from": "function_call", "value": _compact(payload)})
        elif role in ("tool", "function"):
            turns.append({"from": "observation", "value": _text_of(message.get("content"), losses)})
        else:
            speaker = _SHAREGPT_SPEAKER.get(str(role), str(role))
            turns.append({"from": speaker, "value": _text_of(message.get("content"), losses)})
    result: dict[str, Any] = {"conversations": turns}
    specs = _tool_specs(chat)
    if specs:
        result["tools"] = _compact(specs)
    _extra_fields(chat, result, losses, keep=True)
    return result


def _tool_specs(chat: dict[str, Any]) -> list[Any]:
    """Function descriptions from ``tools`` and the older ``functions``, as ShareGPT lists them."""
    specs: list[Any] = []
    tools = chat.get("tools")
    if isinstance(tools, list):
        specs.extend(t["function"] if isinstance(t, dict) and "function" in t else t for t in tools)
    functions = chat.get("functions")
    if isinstance(functions, list):
        specs.extend(functions)
    return specs


def _loads_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _to_alpaca(chat: dict[str, Any], losses: _Losses) -> dict[str, Any] | None:
    messages = _messages_of(chat)
    reply_at = next(
        (
            i
            for i in range(len(messages) - 1, -1, -1)
            if messages[i].get("role") == "assistant" and _has_text(messages[i].get("content"))
        ),
        None,
    )
    question_at = None
    if reply_at is not None:
        question_at = next(
            (i for i in range(reply_at - 1, -1, -1) if messages[i].get("role") == "user"), None
        )
    if reply_at is None or question_at is None:
        losses.add("no_pair")
        return None
    question, reply = messages[question_at], messages[reply_at]
    for message in (question, reply):
        _note_message_losses(message, losses)
    losses.add("calls_dropped", len(_calls_of(reply)))
    others = sum(
        1
        for i, m in enumerate(messages)
        if i not in (question_at, reply_at) and m.get("role") not in ("system", "developer")
    )
    losses.add("other_turns", others)
    result: dict[str, Any] = {
        "instruction": _text_of(question.get("content"), losses),
        "input": "",
        "output": _text_of(reply.get("content"), losses),
    }
    system = _system_text(messages, losses)
    if system:
        result["system"] = system
    _extra_fields(chat, result, losses, keep=True)
    return result


def _to_gemini(chat: dict[str, Any], losses: _Losses) -> dict[str, Any]:
    messages = _messages_of(chat)
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        _note_message_losses(message, losses)
        text = _text_of(message.get("content"), losses)
        if role == "assistant":
            calls = _calls_of(message)
            if calls:
                losses.add("call_as_text")
                lines = [text] if text else []
                text = "\n".join(lines + [_call_text(n, a) for n, a in calls])
            contents.append({"role": "model", "parts": [{"text": text}]})
            continue
        if role in ("tool", "function"):
            losses.add("result_as_text")
        elif role != "user":
            losses.add("other_role")
        contents.append({"role": "user", "parts": [{"text": text}]})
    result: dict[str, Any] = {}
    system = _system_text(messages, losses)
    if system:
        result["systemInstruction"] = {"parts": [{"text": system}]}
    result["contents"] = contents
    _extra_fields(chat, result, losses, keep=False)
    return result


def _dumps(value: Any, *, indent: bool = False) -> bytes:
    """Compact (or two-space indented) UTF-8 JSON, keeping integers beyond 64 bits and
    escaped halves of characters, at any depth."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0)
    except TypeError:
        return dump_json(value, indent=2 if indent else None).encode("utf-8")


def export_values(values: Iterable[dict[str, Any]], fmt: ExportFormat) -> ExportResult:
    """Write examples in ``fmt``; say what the format could not hold."""
    losses = _Losses()
    items: list[Any] = []
    for value in values:
        chat = _as_chat(value, fmt, losses)
        if chat is None:
            continue
        if fmt is ExportFormat.OPENAI_CHAT:
            items.append(chat)
        elif fmt is ExportFormat.SHAREGPT:
            items.append(_to_sharegpt(chat, losses))
        elif fmt is ExportFormat.GEMINI:
            items.append(_to_gemini(chat, losses))
        else:
            converted = _to_alpaca(chat, losses)
            if converted is not None:
                items.append(converted)
    if fmt is ExportFormat.ALPACA:
        data = _dumps(items, indent=True) + b"\n"
    elif fmt is ExportFormat.OPENAI_CHAT:
        data = b"".join(serialize_value(item) + b"\n" for item in items)
    else:
        data = b"".join(_dumps(item) + b"\n" for item in items)
    return ExportResult(data=data, dropped=losses.sentences(), count=len(items))


def export_split(
    values: Sequence[dict[str, Any]], percent: float, seed: int, fmt: ExportFormat
) -> tuple[ExportResult, ExportResult]:
    """Export a training file and a validation file, split as ``split_train_validation`` does."""
    train, validation = split_train_validation(range(len(values)), percent, seed)
    return (
        export_values([values[i] for i in train], fmt),
        export_values([values[i] for i in validation], fmt),
    )


# Import ---------------------------------------------------------------------------------------


class _ItemError(ValueError):
    """One foreign item that cannot be converted; the message is shown on its line."""


_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "function_call": "function_call",
    "observation": "observation",
    "tool": "observation",
    "function": "observation",
}


def _from_sharegpt(item: dict[str, Any], losses: _Losses) -> dict[str, Any]:
    key = "conversations" if "conversations" in item else "messages"
    turns = item[key]
    if not isinstance(turns, list) or not turns:
        raise _ItemError(f'This ShareGPT item has no turns in "{key}".')
    messages: list[dict[str, Any]] = []
    system = item.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    waiting: list[str] = []
    calls_made = 0
    for number, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            raise _ItemError(f"Turn {number} of this ShareGPT item is not an object.")
        speaker, text = turn.get("from"), turn.get("value")
        if not isinstance(speaker, str):
            raise _ItemError(f'Turn {number} of this ShareGPT item has no speaker ("from").')
        if not isinstance(text, str):
            raise _ItemError(f'Turn {number} of this ShareGPT item has no text ("value").')
        role = _SHAREGPT_ROLES.get(speaker.lower())
        if role is None:
            raise _ItemError(
                f"Turn {number} of this ShareGPT item has an unknown speaker {speaker!r}."
            )
        weight = _turn_details(turn, role in ("assistant", "function_call"), losses)
        if role == "function_call":
            calls = _parse_calls(text)
            if calls is None:
                losses.add("call_as_text")
                messages.append({"role": "assistant", "content": text, **weight})
                continue
            tool_calls = []
            waiting = []
            for name, arguments in calls:
                calls_made += 1
                call_id = f"call_{calls_made}"
                waiting.append(call_id)
                tool_calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                )
            messages.append({"role": "assistant", "tool_calls": tool_calls, **weight})
        elif role == "observation":
            if waiting:
                messages.append({"role": "tool", "tool_call_id": waiting.pop(0), "content": text})
            else:
                losses.add("result_as_text")
                messages.append({"role": "user", "content": text})
        else:
            messages.append({"role": role, "content": text, **weight})
    result: dict[str, Any] = {"messages": messages}
    if "tools" in item:
        tools = _parse_tools(item["tools"])
        if tools is None:
            losses.add("tools_unreadable")
        elif tools:
            result["tools"] = tools
    _keep_other_fields(item, result, {key, "system", "tools"})
    return result


def _turn_details(turn: dict[str, Any], reply: bool, losses: _Losses) -> dict[str, int]:
    """A ShareGPT turn's ``weight`` as the chat format holds it (on replies only, 0 or 1);
    any other detail of the turn is counted as left out."""
    kept: dict[str, int] = {}
    for key, value in turn.items():
        if key in ("from", "value"):
            continue
        if key != "weight":
            losses.add_turn_field(key)
        elif reply and type(value) in (bool, int, float) and value in (0, 1):
            kept["weight"] = int(value)
        else:
            losses.add("turn_weight")
    return kept


def _parse_calls(text: str) -> list[tuple[str, str]] | None:
    """(name, arguments JSON) for a ShareGPT function-call turn; None when it is not one."""
    payload = _loads_or_text(text)
    objects = payload if isinstance(payload, list) else [payload]
    calls = []
    for call in objects:
        if not (isinstance(call, dict) and isinstance(call.get("name"), str)):
            return None
        calls.append((call["name"], _arguments_text(call)))
    return calls or None


def _parse_tools(tools: Any) -> list[dict[str, Any]] | None:
    """ShareGPT's tool list (often a JSON string) in OpenAI's shape; None when unreadable."""
    if isinstance(tools, str):
        if not tools.strip():
            return []
        tools = _loads_or_text(tools)
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return None
    return [
        t if t.get("type") == "function" else {"type": "function", "function": t} for t in tools
    ]


def _from_alpaca(item: dict[str, Any], _losses: _Losses) -> dict[str, Any]:
    """Alpaca holds nothing the chat format cannot, so nothing is counted as lost."""
    instruction, output = item.get("instruction"), item.get("output")
    extra_input = item.get("input", "")
    if not isinstance(instruction, str):
        raise _ItemError('This Alpaca item\'s "instruction" is not text.')
    if not isinstance(output, str):
        raise _ItemError('This Alpaca item\'s "output" is not text.')
    if extra_input is None:
        extra_input = ""
    if not isinstance(extra_input, str):
        raise _ItemError('This Alpaca item\'s "input" is not text.')
    messages: list[dict[str, Any]] = []
    system = item.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    history = item.get("history") or []
    if not isinstance(history, list):
        raise _ItemError('This Alpaca item\'s "history" is not a list of turns.')
    for number, pair in enumerate(history, 1):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        ):
            raise _ItemError(
                f"Entry {number} of this Alpaca item's history is not a question and reply."
            )
        messages.append({"role": "user", "content": pair[0]})
        messages.append({"role": "assistant", "content": pair[1]})
    question = "\n\n".join(part for part in (instruction, extra_input) if part)
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": output})
    result: dict[str, Any] = {"messages": messages}
    _keep_other_fields(item, result, {"instruction", "input", "output", "system", "history"})
    return result


_GEMINI_ROLES = {"user": "user", "model": "assistant"}


def _from_gemini(item: dict[str, Any], losses: _Losses) -> dict[str, Any]:
    contents = item.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _ItemError('This Gemini item has no turns in "contents".')
    messages: list[dict[str, Any]] = []
    system_key = "systemInstruction" if "systemInstruction" in item else "system_instruction"
    instruction = item.get(system_key)
    if instruction is not None:
        if not isinstance(instruction, dict):
            raise _ItemError("This Gemini item's system instruction is not an object.")
        system = _gemini_text(instruction.get("parts"), losses)
        if system is None:
            raise _ItemError("This Gemini item's system instruction has no parts.")
        if system:
            messages.append({"role": "system", "content": system})
    for number, turn in enumerate(contents, 1):
        if not isinstance(turn, dict):
            raise _ItemError(f"Turn {number} of this Gemini item is not an object.")
        role = _GEMINI_ROLES.get(str(turn.get("role")))
        if role is None:
            raise _ItemError(
                f"Turn {number} of this Gemini item has the role {turn.get('role')!r}; "
                'it should be "user" or "model".'
            )
        text = _gemini_text(turn.get("parts"), losses)
        if text is None:
            raise _ItemError(f"Turn {number} of this Gemini item has no parts.")
        messages.append({"role": role, "content": text})
    result: dict[str, Any] = {"messages": messages}
    _keep_other_fields(item, result, {"contents", system_key})
    return result


def _gemini_text(parts: Any, losses: _Losses) -> str | None:
    """The text of a Gemini turn's parts; calls become text, files are counted as lost."""
    if not isinstance(parts, list) or not parts:
        return None
    texts = []
    for part in parts:
        if not isinstance(part, dict):
            losses.add("non_text")
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            losses.add("call_as_text")
            texts.append(_call_text(str(call.get("name", "")), _compact(call.get("args", {}))))
        elif isinstance(part.get("functionResponse"), dict):
            losses.add("result_as_text")
            texts.append(_compact(part["functionResponse"].get("response", {})))
        else:
            losses.add("non_text")
    return "".join(texts)


def _keep_other_fields(item: dict[str, Any], result: dict[str, Any], used: set[str]) -> None:
    """Fields the importer does not know stay on the example, as legacy conversion keeps them."""
    result.update((k, v) for k, v in item.items() if k not in used and k not in result)


def _detect(item: Any) -> ForeignFormat | None:
    if not isinstance(item, dict):
        return None
    if "conversations" in item:
        return ForeignFormat.SHAREGPT
    messages = item.get("messages")
    if isinstance(messages, list) and any(isinstance(m, dict) and "from" in m for m in messages):
        return ForeignFormat.SHAREGPT
    if "contents" in item:
        return ForeignFormat.GEMINI
    if "instruction" in item and "output" in item:
        return ForeignFormat.ALPACA
    return None


def foreign_format_of(items: Iterable[Any]) -> ForeignFormat | None:
    """The layout of a file whose items are mostly ShareGPT, Alpaca or Gemini examples (the
    most common of them, as Import would read them); None when most are not foreign."""
    formats: Counter[ForeignFormat] = Counter()
    others = 0
    for item in items:
        fmt = _detect(item)
        if fmt is not None:
            formats[fmt] += 1
        elif classify(item) is not ExampleKind.NOT_AN_EXAMPLE:
            others += 1
    if sum(formats.values()) <= others:
        return None
    return formats.most_common(1)[0][0]


def _unrecognised(item: Any) -> str:
    if not isinstance(item, dict):
        return "This item is not a JSON object."
    if classify(item) is not ExampleKind.NOT_AN_EXAMPLE:
        return "This item is already in OpenAI's format; open the file instead of importing it."
    return "This item is not a ShareGPT, Alpaca or Gemini example."


_CONVERTERS = {
    ForeignFormat.SHAREGPT: _from_sharegpt,
    ForeignFormat.ALPACA: _from_alpaca,
    ForeignFormat.GEMINI: _from_gemini,
}


def import_foreign(data: bytes, suffix: str = "", system: str | None = None) -> ImportResult:
    """Convert a ShareGPT, Alpaca or Gemini file (JSONL or a JSON array) to chat examples.

    ``system`` is added as the system message of converted examples that have none. Raises
    InterchangeError when the file holds no item of a known format at all.
    """
    items, failures = _read_items(data, suffix)
    losses = _Losses()
    formats: Counter[ForeignFormat] = Counter()
    values: list[tuple[int, dict[str, Any]]] = []
    for line, item in items:
        fmt = _detect(item)
        if fmt is None:
            failures.append((line, _unrecognised(item)))
            continue
        formats[fmt] += 1
        try:
            value = _CONVERTERS[fmt](item, losses)
        except _ItemError as exc:
            failures.append((line, str(exc)))
            continue
        if system and not any(m.get("role") == "system" for m in value["messages"]):
            value["messages"].insert(0, {"role": "system", "content": system})
        values.append((line, value))
    if not formats:
        if failures:
            line, reason = min(failures)
            raise InterchangeError(
                "No item in this file is a ShareGPT, Alpaca or Gemini example "
                f"(line {line}: {reason})"
            )
        raise InterchangeError("This file holds no examples.")
    failures.sort()
    return ImportResult(formats.most_common(1)[0][0], values, failures, losses.sentences())


def _read_items(data: bytes, suffix: str) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """(line, item) for every item of a JSONL file or JSON array, and lines that are not JSON."""
    _, body = split_bom(data)
    if body.lstrip().startswith(b"[") and (suffix.lower() != ".jsonl" or _spans_lines(body)):
        return _read_array(body)
    items: list[tuple[int, Any]] = []
    failures: list[tuple[int, str]] = []
    for line, raw, _eol, _end in iter_lines(body):
        if not raw.strip():
            continue
        value, error = parse_json_bytes(raw)
        if error is None:
            items.append((line, value))
        else:
            failures.append((line, error))
    return items, failures


def _spans_lines(body: bytes) -> bool:
    return b"\n" in body.strip()


def _read_array(body: bytes) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InterchangeError(
            f"This file is not UTF-8 text (unreadable byte at position {exc.start + 1})."
        ) from exc
    position = text.index("[") + 1
    line, counted_to = 1, 0
    items: list[tuple[int, Any]] = []
    failures: list[tuple[int, str]] = []
    while True:
        position = _skip_separators(text, position)
        if position >= len(text):
            raise InterchangeError("This JSON list ends before its closing bracket.")
        if text[position] == "]":
            return items, failures
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            item, position = decode_array_item(text, position, line)
        except json.JSONDecodeError as exc:
            raise InterchangeError(
                f"This JSON list is damaged at line {exc.lineno}, column {exc.colno}: {exc.msg}."
            ) from exc
        if item.error is None:
            items.append((line, item.value))
        else:
            failures.append((line, item.error))


def _skip_separators(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n,":
        position += 1
    return position


def imported_dataset(
    data: bytes, values: list[tuple[int, Any]], failures: list[tuple[int, str]]
) -> Dataset:
    """The new dataset an import makes: the converted examples in file order, and each item
    that could not be converted kept as a damaged line with its reason and text."""
    _, body = split_bom(data)
    texts = {line: raw for line, raw, _eol, _end in iter_lines(body)} if failures else {}
    dataset = Dataset(container=Container.NEW)
    items: list[tuple[int, Record]] = [
        (line, dataset.make_record(value, line=line)) for line, value in values
    ]
    for line, reason in failures:
        text = texts.get(line, b"").decode("utf-8", errors="replace")
        record = Record(
            id=dataset.new_id(),
            line=line,
            raw=None,
            eol=dataset.newline,
            state=LineState.BROKEN,
            kind=ExampleKind.NOT_AN_EXAMPLE,
            error=reason,
            edited_text=text,
        )
        items.append((line, record))
    items.sort(key=lambda item: item[0])
    for _line, record in items:
        dataset.insert(len(dataset), record)
    return dataset


def pair_paths(path: Path, suffix: str) -> tuple[Path, Path]:
    """The training and validation files written beside ``path``."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for ending in ("-train", "_train", "-training"):
        stem = stem.removesuffix(ending)
    return (
        path.with_name(f"{stem}-train{suffix}"),
        path.with_name(f"{stem}-validation{suffix}"),
    )

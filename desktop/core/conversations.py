"""Chats with a model, kept per model, and what each reply cost.

Why one folder per model and one file per chat: the chat panel lists the chats of the model it
talks to, clearing one model's chats must not touch another's, and a damaged file must cost one
chat, not the whole list. Files are written atomically, so a crash leaves the old chat or the
new one, never half of it.

Prices: the catalog lists what calls to a *fine-tuned* model cost (reference section 4). Calls
to the base model itself are billed at the base model's own rate, which the catalog does not
hold, so only ``ft:`` ids (and their checkpoints) get a price here; anything else is "unknown"
(None) rather than a wrong number.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from desktop.core.catalog import Catalog
from desktop.core.jsonl_io import SaveError, atomic_write

SCHEMA_VERSION = 1
TITLE_LENGTH = 60
NEW_CHAT_TITLE = "New chat"
MIN_TEMPERATURE = 0.0
MAX_TEMPERATURE = 2.0
ROLES: tuple[str, ...] = ("user", "assistant")

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNSAFE_IN_FOLDER = re.compile(r"[^a-z0-9.-]+")
_FOLDER_SLUG_LENGTH = 64
_FOLDER_HASH_LENGTH = 10

T = TypeVar("T")


class StoreError(ValueError):
    """A saved chat or evaluation run cannot be read, written or removed; one plain sentence."""


class Rating(str, Enum):
    """The user's verdict on a reply when two models are compared."""

    BETTER = "better"
    WORSE = "worse"


def new_id() -> str:
    """A fresh id that is also a safe file name."""
    return uuid.uuid4().hex


def is_safe_id(text: object) -> bool:
    """True for ids that can be used as a file name as they are (1–64 of A–Z a–z 0–9 - _)."""
    return isinstance(text, str) and _SAFE_ID.fullmatch(text) is not None


# Prices ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InferencePrices:
    """USD per 1M tokens for one model's replies; no cached rate means cached input pays full."""

    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """The cost in USD; ``prompt_tokens`` includes the cached ones, as the API reports it."""
        for name, value in (
            ("prompt tokens", prompt_tokens),
            ("completion tokens", completion_tokens),
            ("cached tokens", cached_tokens),
        ):
            if value < 0:
                raise ValueError(f"The number of {name} cannot be negative ({value}).")
        if cached_tokens > prompt_tokens:
            raise ValueError(
                f"Cached tokens ({cached_tokens}) cannot exceed prompt tokens ({prompt_tokens})."
            )
        cached_rate = self.cached_input_per_1m
        if cached_rate is None:
            cached_rate = self.input_per_1m
        return (
            (prompt_tokens - cached_tokens) * self.input_per_1m
            + cached_tokens * cached_rate
            + completion_tokens * self.output_per_1m
        ) / 1_000_000


def is_fine_tuned(model_id: str) -> bool:
    """True for ``ft:`` model ids, checkpoints included."""
    return model_id.strip().lower().startswith("ft:")


def fine_tuned_prices(model_id: str, catalog: Catalog) -> InferencePrices | None:
    """What calls to a model fine-tuned from ``model_id``'s base cost (None when unknown).

    Works for a base id too, which is how the few-shot comparison prices a model not trained yet.
    """
    info = catalog.get(model_id)
    if info is None or info.inference_input_per_1m is None or info.inference_output_per_1m is None:
        return None
    return InferencePrices(
        input_per_1m=info.inference_input_per_1m,
        output_per_1m=info.inference_output_per_1m,
        cached_input_per_1m=info.inference_cached_input_per_1m,
    )


def inference_prices(model_id: str, catalog: Catalog) -> InferencePrices | None:
    """What calls to ``model_id`` itself cost: known for ``ft:`` ids only (see module notes)."""
    if not is_fine_tuned(model_id):
        return None
    return fine_tuned_prices(model_id, catalog)


def reply_cost(
    model_id: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    *,
    catalog: Catalog,
) -> float | None:
    """The USD cost of one reply at ``model_id``'s inference price; None when it is unknown.

    Raises ValueError for negative counts or more cached than prompt tokens.
    """
    prices = inference_prices(model_id, catalog)
    if prices is None:
        return None
    return prices.cost(prompt_tokens, completion_tokens, cached_tokens)


# Messages and conversations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a chat; replies also say which model wrote them and what they cost.

    ``created`` is seconds since the epoch; ``cost_usd`` is None when the price is unknown.
    """

    role: str
    content: str
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    created: float = field(default_factory=time.time)
    rating: Rating | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"A chat message must come from {' or '.join(ROLES)}, not {self.role!r}."
            )
        if not isinstance(self.content, str):
            raise ValueError("A chat message's content must be text.")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape saved to disk; empty metadata is left out."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        for key in ("model", "tokens_in", "tokens_out", "cost_usd", "finish_reason"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data["created"] = self.created
        if self.rating is not None:
            data["rating"] = self.rating.value
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "message") -> ChatMessage:
        """Read a saved message; ValueError says which field is wrong."""
        data = _object(data, where)
        role = data.get("role")
        if role not in ROLES:
            raise ValueError(f"{where}.role must be {' or '.join(ROLES)}")
        rating = data.get("rating")
        if rating is not None and rating not in {r.value for r in Rating}:
            raise ValueError(f"{where}.rating must be better, worse or null")
        return cls(
            role=role,
            content=_text(data.get("content"), f"{where}.content"),
            model=_optional_text(data.get("model"), f"{where}.model"),
            tokens_in=_count(data.get("tokens_in"), f"{where}.tokens_in"),
            tokens_out=_count(data.get("tokens_out"), f"{where}.tokens_out"),
            cost_usd=_amount(data.get("cost_usd"), f"{where}.cost_usd"),
            finish_reason=_optional_text(data.get("finish_reason"), f"{where}.finish_reason"),
            created=_time(data.get("created"), f"{where}.created"),
            rating=Rating(rating) if rating is not None else None,
        )


@dataclass(slots=True)
class Conversation:
    """A chat with one model through one provider profile, with the settings it was sent with.

    ``temperature`` and ``max_output_tokens`` are None to use the provider's defaults.
    """

    model_id: str
    profile_id: str | None = None
    system_prompt: str = ""
    temperature: float | None = None
    max_output_tokens: int | None = None
    messages: list[ChatMessage] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError when a field holds something that cannot be sent or saved."""
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise ValueError("A conversation needs a model id.")
        if not is_safe_id(self.id):
            raise ValueError(
                f"The conversation id {self.id!r} must be 1–64 letters, digits, '-' or '_'."
            )
        if self.temperature is not None and not (
            MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE
        ):
            raise ValueError(
                f"The temperature must be from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}, "
                f"not {self.temperature!r}."
            )
        if self.max_output_tokens is not None and self.max_output_tokens < 1:
            raise ValueError(
                f"The reply length limit must be at least 1 token, not {self.max_output_tokens}."
            )

    @property
    def title(self) -> str:
        """The first user message on one line, shortened at a word; "New chat" before that."""
        for message in self.messages:
            if message.role == "user":
                text = " ".join(message.content.split())
                if text:
                    return _shorten(text, TITLE_LENGTH)
        return NEW_CHAT_TITLE

    @property
    def updated(self) -> float:
        """When the chat last changed: its newest message, or its creation."""
        return max([self.created, *(m.created for m in self.messages)])

    @property
    def total_cost_usd(self) -> float:
        """The sum of the replies' known costs."""
        return sum(m.cost_usd for m in self.messages if m.cost_usd is not None)

    def set_rating(self, index: int, rating: Rating | None) -> None:
        """Mark the reply at ``index`` better or worse (None clears the mark)."""
        message = self.messages[index]
        if message.role != "assistant":
            raise ValueError("Only a model's reply can be rated.")
        self.messages[index] = replace(message, rating=rating)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape saved to disk."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "model_id": self.model_id,
            "profile_id": self.profile_id,
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "created": self.created,
            "messages": [m.to_dict() for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Conversation:
        """Read a saved conversation; ValueError says which field is wrong."""
        data = _object(data, "the file")
        _check_schema(data)
        raw_messages = data.get("messages")
        if not isinstance(raw_messages, list):
            raise ValueError("messages must be a list")
        temperature = data.get("temperature")
        if temperature is not None and not _is_number(temperature):
            raise ValueError("temperature must be a number or null")
        return cls(
            model_id=_text(data.get("model_id"), "model_id"),
            profile_id=_optional_text(data.get("profile_id"), "profile_id"),
            system_prompt=_text(data.get("system_prompt", ""), "system_prompt"),
            temperature=float(temperature) if temperature is not None else None,
            max_output_tokens=_count(data.get("max_output_tokens"), "max_output_tokens"),
            messages=[
                ChatMessage.from_dict(m, f"messages[{i}]") for i, m in enumerate(raw_messages)
            ],
            id=_text(data.get("id"), "id"),
            created=_time(data.get("created"), "created"),
        )


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def to_request_messages(conversation: Conversation) -> list[dict[str, str]]:
    """The ``messages`` to send for the next reply: the system prompt first when there is one."""
    return _chat_messages(conversation, conversation.messages)


def _chat_messages(conversation: Conversation, messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as plain role/content pairs after the conversation's system prompt."""
    result: list[dict[str, str]] = []
    if conversation.system_prompt.strip():
        result.append({"role": "system", "content": conversation.system_prompt})
    result.extend({"role": m.role, "content": m.content} for m in messages)
    return result


def example_from_turn(
    conversation: Conversation, upto_index: int, edited_reply: str | None = None
) -> dict[str, Any]:
    """A training example made of the chat up to and including the reply at ``upto_index``.

    ``edited_reply`` replaces that reply's text, so the user can teach the answer they wanted.
    Raises ValueError when the index is not a reply or the reply is empty.
    """
    if not 0 <= upto_index < len(conversation.messages):
        raise ValueError(f"There is no message number {upto_index + 1} in this chat.")
    reply = conversation.messages[upto_index]
    if reply.role != "assistant":
        raise ValueError("Only a model's reply can end a training example; pick a reply.")
    text = reply.content if edited_reply is None else edited_reply
    if not text.strip():
        raise ValueError("The reply is empty; write the answer the model should give first.")
    messages = _chat_messages(conversation, conversation.messages[:upto_index])
    messages.append({"role": "assistant", "content": text})
    return {"messages": messages}


# Reading saved values --------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be text")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where} must be a whole number ≥ 0 or null")
    return value


def _amount(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or value < 0:
        raise ValueError(f"{where} must be a number ≥ 0 or null")
    return float(value)


def _time(value: Any, where: str) -> float:
    if not _is_number(value):
        raise ValueError(f"{where} must be a time in seconds")
    return float(value)


def _check_schema(data: dict[str, Any]) -> None:
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("schema_version is missing or wrong")
    if version > SCHEMA_VERSION:
        raise ValueError("it was saved by a newer version of the app")


# Files -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A saved file that could not be read, and why, so the UI can tell the user."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """What a store holds (newest first) and the files it had to skip."""

    items: list[T]
    skipped: list[SkippedFile]


def read_json_object(path: Path, parse: Callable[[Any], T]) -> T:
    """Read one saved JSON file and turn it into an object; StoreError says what is wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise StoreError(f"{path.name} no longer exists.") from exc
    except OSError as exc:
        raise StoreError(
            f"{path.name} could not be read: {exc.strerror or 'the system refused'}."
        ) from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path.name} is damaged: it is not valid JSON.") from exc
    try:
        return parse(data)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{path.name} cannot be used: {exc}.") from exc


def write_json_object(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically, creating the folder; StoreError on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    except SaveError as exc:
        raise StoreError(str(exc)) from exc
    except OSError as exc:
        raise StoreError(
            f"Could not create the folder {path.parent}: {exc.strerror or 'the system refused'}."
        ) from exc


def remove_file(path: Path) -> bool:
    """Delete ``path``; False when it was already gone, StoreError when the system refuses."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(
            f"Could not delete {path.name}: {exc.strerror or 'the system refused'}."
        ) from exc
    return True


def json_files(folder: Path) -> list[Path]:
    """The saved files in ``folder`` (not the hidden temporary files of an atomic write)."""
    return [
        p
        for p in _entries(folder)
        if p.suffix == ".json" and not p.name.startswith(".") and p.is_file()
    ]


def load_all(paths: Iterable[Path], read: Callable[[Path], T]) -> tuple[list[T], list[SkippedFile]]:
    """Read every file with ``read``, skipping (and reporting) the ones that cannot be read."""
    items: list[T] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        try:
            items.append(read(path))
        except StoreError as exc:
            skipped.append(SkippedFile(path, str(exc)))
    return items, skipped


def model_folder_name(model_id: str) -> str:
    """A folder name for a model's chats that every file system accepts.

    ``ft:gpt-4o-mini-2024-07-18:acme::AbC12`` becomes
    ``ft_gpt-4o-mini-2024-07-18_acme_abc12-<hash>``: readable, lower case, no ``:``/``/``, and
    the hash of the exact id keeps ids that differ only in case or punctuation apart (on
    case-insensitive disks too). The exact id is inside every chat file, which is how the list
    gets it back; the name only has to be unique and recognisable.
    """
    slug = _UNSAFE_IN_FOLDER.sub("_", model_id.strip().lower()).strip("._-")
    slug = slug[:_FOLDER_SLUG_LENGTH].rstrip("._-") or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:_FOLDER_HASH_LENGTH]
    return f"{slug}-{digest}"


class ConversationStore:
    """Chats saved as ``<folder>/<model folder>/<conversation id>.json``."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path_for(self, model_id: str, conversation_id: str) -> Path:
        """Where a conversation is saved (ValueError for an id that is not a safe name)."""
        if not is_safe_id(conversation_id):
            raise ValueError(f"{conversation_id!r} is not a conversation id.")
        return self.folder / model_folder_name(model_id) / f"{conversation_id}.json"

    def save(self, conversation: Conversation) -> Path:
        """Write the conversation atomically; return its file."""
        conversation.check()
        path = self.path_for(conversation.model_id, conversation.id)
        write_json_object(path, conversation.to_dict())
        return path

    def load(self, model_id: str, conversation_id: str) -> Conversation:
        """Read one conversation; StoreError when it is missing or damaged."""
        return self._read(self.path_for(model_id, conversation_id))

    def list(self, model_id: str | None = None) -> Listing[Conversation]:
        """The chats of ``model_id`` (of every model when None), most recently active first."""
        if model_id is None:
            folders = [p for p in _entries(self.folder) if p.is_dir()]
        else:
            folders = [self.folder / model_folder_name(model_id)]
        paths = [path for folder in folders for path in json_files(folder)]
        items, skipped = load_all(paths, self._read)
        items.sort(key=lambda c: (c.updated, c.created, c.id), reverse=True)
        return Listing(items, skipped)

    def _read(self, path: Path) -> Conversation:
        """Read the file at ``path``, which must be where its own model and id would put it."""
        conversation = read_json_object(path, Conversation.from_dict)
        if self.path_for(conversation.model_id, conversation.id) != path:
            raise StoreError(
                f"{path.name} cannot be used: it was moved or renamed by hand (it holds chat "
                f"{conversation.id} of {conversation.model_id})."
            )
        return conversation

    def delete(self, model_id: str, conversation_id: str) -> bool:
        """Remove one conversation; False when it was already gone."""
        path = self.path_for(model_id, conversation_id)
        removed = remove_file(path)
        _remove_if_empty(path.parent)
        return removed

    def clear(self, model_id: str) -> int:
        """Remove every chat file of ``model_id`` (damaged ones too); return how many."""
        folder = self.folder / model_folder_name(model_id)
        removed = sum(remove_file(path) for path in json_files(folder))
        _remove_if_empty(folder)
        return removed


def _entries(folder: Path) -> list[Path]:
    """What ``folder`` holds, sorted; nothing when it does not exist yet."""
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StoreError(
            f"Could not open the folder {folder}: {exc.strerror or 'the system refused'}."
        ) from exc


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()

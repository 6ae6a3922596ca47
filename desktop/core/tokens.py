"""Offline token counting for fine-tuning examples, the way OpenAI's data-prep notebook counts.

Why this module exists: the cost preview must be right, fast (100,000 examples, and again on
every keystroke) and must never touch the network. tiktoken's own ``get_encoding`` downloads
its files and ``encoding_name_for_model`` maps ``ft:gpt-4.1-…`` to the wrong encoding, so both
are replaced here.

Encodings
    ``o200k_base`` and ``cl100k_base`` are read only from the files shipped in
    ``resources/encodings``. The SHA-256 of each file is checked against the hash tiktoken itself
    pins (copied below); a missing or damaged file raises :class:`EncodingFileError`. The file
    is read and verified here rather than through ``tiktoken.load.load_tiktoken_bpe``, because
    that function also copies the file into tiktoken's cache folder (``TIKTOKEN_CACHE_DIR`` or
    ``<tmp>/data-gym-cache``) and would prefer a copy found there over the shipped file. The file
    format (``base64-token rank`` per line) is parsed exactly as tiktoken parses it.

Counting rules for text (identical to the notebook, ``Chat_finetuning_data_prep.ipynb``)
    * every message costs 3 tokens, plus the tokens of every string value in it (``role``,
      ``content``, ``name``, ``tool_call_id``…), plus 1 more when it has a ``name`` key;
    * every example costs 3 more tokens for reply priming;
    * assistant tokens are the tokens of the ``content`` strings of assistant messages;
    * strings are encoded with ``encode_ordinary``: text such as ``<|endoftext|>`` typed by a
      user is counted as plain text and never raises.

Estimate rules (the notebook cannot count these; any of them sets ``estimated=True``)
    * ``weight`` (any value) and ``None`` values: 0 tokens;
    * ``tool_calls``: per call, the tokens of the function name and of the ``arguments`` string
      (compact JSON if it is not a string) plus :data:`TOOL_CALL_OVERHEAD` (10) tokens for the
      call id, type and wrapping; a legacy ``function_call`` counts as one call. On assistant
      messages these tokens also count as assistant tokens, since the model learns to write them;
    * list ``content``: ``text`` parts count the tokens of their text (assistant text parts also
      count as assistant tokens); ``image_url`` parts count :data:`IMAGE_TOKENS_LOW` (85) for
      ``detail: "low"`` and :data:`IMAGE_TOKENS_HIGH` (765, a 1024×1024 image at high detail:
      85 + 4 tiles × 170) for ``high``, ``auto`` or no detail, since the image size is unknown
      offline; any other part counts the tokens of its compact JSON;
    * an example's ``tools`` or ``functions`` definitions: tokens of their compact JSON
      (``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``);
    * any other non-string value in a message (number, bool, object, list) and any message that
      is not an object: tokens of its compact JSON (a message that is not an object still costs
      the 3 per-message tokens);
    * other top-level keys (``parallel_tool_calls``, grader fields of reinforcement examples)
      are not sent to the model as text and are not counted.

Other layouts
    * preference (DPO) examples: the ``input`` counted like a chat example (messages, priming,
      tools) plus the messages of ``preferred_output`` and of ``non_preferred_output`` at 3 + value
      tokens each, without extra priming. Assistant tokens are those of both outputs only (the
      trained part). Always ``estimated=True``: OpenAI does not publish how DPO tokens are billed;
    * legacy ``prompt``/``completion`` and ``prompt``/``response`` examples: tokens of the prompt
      plus tokens of the completion (or response), no per-example overhead; the assistant tokens
      are those of the completion. Estimated only if a value is not a string;
    * anything else (not an example): 0 tokens, ``estimated=True``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from desktop.core.dataset import dump_json
from desktop.core.kinds import ExampleKind, classify
from desktop.core.paths import resources_dir

O200K_BASE = "o200k_base"
CL100K_BASE = "cl100k_base"
DEFAULT_ENCODING = O200K_BASE

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
TOOL_CALL_OVERHEAD = 10
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    """What tiktoken_ext.openai_public defines for an encoding (copied: its functions download)."""

    file_name: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT_STR = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501

_SPECS: dict[str, _EncodingSpec] = {
    O200K_BASE: _EncodingSpec(
        file_name="o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PAT_STR,
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    CL100K_BASE: _EncodingSpec(
        file_name="cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT_STR,
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_SPECS)


class EncodingFileError(RuntimeError):
    """A shipped encoding file is missing, unreadable or damaged; the message is one sentence."""


# --------------------------------------------------------------------------------------------
# Loading encodings
# --------------------------------------------------------------------------------------------


def encodings_dir() -> Path:
    """The folder holding the shipped ``*.tiktoken`` files."""
    return resources_dir() / "encodings"


def _spec(name: str) -> _EncodingSpec:
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(SUPPORTED_ENCODINGS)
        raise ValueError(f"Unknown token encoding {name!r}; the app ships {known}.") from None


def load_encoding(name: str, directory: Path | None = None) -> tiktoken.Encoding:
    """Build the encoding ``name`` from its shipped file, verifying its SHA-256; never downloads.

    Not cached: use :class:`EncodingCache` (or :func:`get_encoding`) for that.
    """
    spec = _spec(name)
    path = (directory if directory is not None else encodings_dir()) / spec.file_name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EncodingFileError(
            f"The token encoding file {path} is missing; reinstall the app to restore it."
        ) from None
    except OSError as exc:
        raise EncodingFileError(
            f"The token encoding file {path} could not be read ({exc.strerror or exc})."
        ) from exc
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise EncodingFileError(
            f"The token encoding file {path} is damaged (its SHA-256 checksum does not match); "
            "reinstall the app to restore it."
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except (ValueError, binascii.Error) as exc:  # unreachable once the hash matched
            raise EncodingFileError(f"The token encoding file {path} is damaged.") from exc
    return tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )


class EncodingCache:
    """Loads each encoding at most once, and keeps one shared :class:`TokenCounter` per encoding.

    Thread-safe: a UI thread and a worker asking at the same time still load the file once.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._counters: dict[str, TokenCounter] = {}

    def get(self, name: str) -> tiktoken.Encoding:
        """The encoding ``name``, loaded and verified on first use."""
        with self._lock:
            encoding = self._encodings.get(name)
            if encoding is None:
                encoding = load_encoding(name, self._directory)
                self._encodings[name] = encoding
            return encoding

    def counter(self, name: str) -> TokenCounter:
        """The shared counter for ``name``, so its text cache serves the whole app."""
        encoding = self.get(name)
        with self._lock:
            counter = self._counters.get(name)
            if counter is None:
                counter = TokenCounter(encoding)
                self._counters[name] = counter
            return counter

    def loaded(self) -> tuple[str, ...]:
        """Names of the encodings loaded so far (for tests and diagnostics)."""
        with self._lock:
            return tuple(self._encodings)


_DEFAULT_CACHE = EncodingCache()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The process-wide cached encoding ``name`` from the shipped files."""
    return _DEFAULT_CACHE.get(name)


def get_counter(name: str) -> TokenCounter:
    """The process-wide shared counter for encoding ``name``."""
    return _DEFAULT_CACHE.counter(name)


def loaded_encodings() -> tuple[str, ...]:
    """Encodings already loaded in this process (loading one takes a few hundred ms)."""
    return _DEFAULT_CACHE.loaded()


def counter_for_model(model_id: str) -> TokenCounter:
    """The shared counter for the encoding that ``model_id`` uses (o200k_base when unknown)."""
    return get_counter(encoding_for_model(model_id))


# --------------------------------------------------------------------------------------------
# Model id → encoding
# --------------------------------------------------------------------------------------------

# Families matched as the whole base name or the base name followed by "-": so "gpt-4" never
# captures "gpt-4o" or "gpt-4.1" (tiktoken's prefix table gets ft:gpt-4.1-… wrong that way).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K_BASE),
    ("chatgpt-4o", O200K_BASE),
    ("gpt-4.1", O200K_BASE),
    ("gpt-4.5", O200K_BASE),
    ("gpt-5", O200K_BASE),
    ("o1", O200K_BASE),
    ("o3", O200K_BASE),
    ("o4-mini", O200K_BASE),
    ("gpt-4", CL100K_BASE),
    ("gpt-3.5-turbo", CL100K_BASE),
    ("gpt-3.5", CL100K_BASE),
    ("gpt-35-turbo", CL100K_BASE),
    ("davinci-002", CL100K_BASE),
    ("babbage-002", CL100K_BASE),
    ("text-embedding-ada-002", CL100K_BASE),
    ("text-embedding-3-small", CL100K_BASE),
    ("text-embedding-3-large", CL100K_BASE),
)


@dataclass(frozen=True, slots=True)
class EncodingChoice:
    """Which encoding a model uses, and whether that is known or only a guess."""

    encoding: str
    base_model: str
    is_guess: bool

    @property
    def note(self) -> str:
        """A plain sentence the UI can show."""
        if self.is_guess:
            return (
                f"The model {self.base_model or '(none)'!r} is not known to the app, so tokens are "
                f"counted with {self.encoding}, the tokenizer of current OpenAI models; "
                "the count may be off."
            )
        return f"Tokens are counted with {self.encoding}, the tokenizer of {self.base_model}."


def base_model_id(model_id: str) -> str:
    """The base model of a model id: ``ft:BASE:org:suffix:id[:ckpt-step-N]`` → ``BASE``."""
    model = model_id.strip().lower()
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def encoding_choice(model_id: str) -> EncodingChoice:
    """Map a model id (base, snapshot, alias, ``ft:`` or checkpoint) to its encoding."""
    base = base_model_id(model_id)
    for family, encoding in _FAMILIES:
        if base == family or base.startswith(family + "-"):
            return EncodingChoice(encoding=encoding, base_model=base, is_guess=False)
    return EncodingChoice(encoding=DEFAULT_ENCODING, base_model=base, is_guess=True)


def encoding_for_model(model_id: str) -> str:
    """The encoding name for ``model_id``; unknown models get o200k_base (see encoding_choice)."""
    return encoding_choice(model_id).encoding


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExampleTokens:
    """Token counts of one example: ``estimated`` when any part was outside the notebook's rules."""

    total: int
    assistant: int
    estimated: bool = False


_NOT_AN_EXAMPLE = ExampleTokens(0, 0, True)

# A plan is what counting one example needs besides encoding: fixed tokens for the total, fixed
# tokens for the assistant count, the strings whose tokens add to the total, the strings whose
# tokens add to the assistant count (also in the first list), and the estimated flag.
_Plan = tuple[int, int, list[str], list[str], bool]


def _compact_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (RecursionError, ValueError):
        # Deeper than the call stack allows here, or an integer too long to write at once:
        # the same text, written without recursion.
        return dump_json(value)


def _plan_tool_call(call: object, texts: list[str], asst: list[str] | None) -> int:
    """Add one tool call's strings; return its fixed tokens."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        text = _compact_json(call)
        texts.append(text)
        if asst is not None:
            asst.append(text)
        return 0
    for key in ("name", "arguments"):
        value = function.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else _compact_json(value)
        texts.append(text)
        if asst is not None:
            asst.append(text)
    return TOOL_CALL_OVERHEAD


def _plan_parts(parts: list[object], texts: list[str], asst: list[str] | None) -> int:
    """Add the strings of list content; return its fixed (image) tokens."""
    fixed = 0
    for part in parts:
        if isinstance(part, dict):
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
                if asst is not None:
                    asst.append(part["text"])
                continue
            if kind == "image_url":
                image = part.get("image_url")
                detail = image.get("detail") if isinstance(image, dict) else None
                fixed += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
                continue
        texts.append(_compact_json(part))
    return fixed


def _plan_messages(
    messages: object, texts: list[str], asst: list[str] | None
) -> tuple[int, int, bool]:
    """Add the strings of a message list; return (fixed, assistant fixed, estimated).

    ``asst`` is None when assistant tokens are not wanted from these messages.
    """
    if not isinstance(messages, list):
        if messages is None:
            return 0, 0, True
        texts.append(_compact_json(messages))
        return 0, 0, True
    fixed = 0
    asst_fixed = 0
    estimated = False
    for message in messages:
        fixed += TOKENS_PER_MESSAGE
        if not isinstance(message, dict):
            texts.append(_compact_json(message))
            estimated = True
            continue
        mine = asst if asst is not None and message.get("role") == "assistant" else None
        for key, value in message.items():
            if key == "name":
                fixed += TOKENS_PER_NAME
            if isinstance(value, str):
                texts.append(value)
                if mine is not None and key == "content":
                    mine.append(value)
                continue
            estimated = True
            if value is None or key == "weight":
                continue
            if key == "content" and isinstance(value, list):
                fixed += _plan_parts(value, texts, mine)
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    overhead = _plan_tool_call(call, texts, mine)
                    fixed += overhead
                    if mine is not None:
                        asst_fixed += overhead
            elif key == "function_call" and isinstance(value, dict):
                overhead = _plan_tool_call({"function": value}, texts, mine)
                fixed += overhead
                if mine is not None:
                    asst_fixed += overhead
            else:
                texts.append(_compact_json(value))
    return fixed, asst_fixed, estimated


def _plan_chat(example: dict[str, object], texts: list[str], asst: list[str] | None) -> _Plan:
    fixed, asst_fixed, estimated = _plan_messages(example.get("messages"), texts, asst)
    fixed += REPLY_PRIMING_TOKENS
    for key in ("tools", "functions"):
        value = example.get(key)
        if value is not None:
            texts.append(_compact_json(value))
            estimated = True
    return fixed, asst_fixed, texts, asst if asst is not None else [], estimated


def _plan(example: object) -> _Plan | None:
    """Everything needed to count ``example`` except encoding; None when it is no example."""
    kind = classify(example)
    if kind is ExampleKind.NOT_AN_EXAMPLE or not isinstance(example, dict):
        return None
    texts: list[str] = []
    asst: list[str] = []
    if kind is ExampleKind.CHAT:
        return _plan_chat(example, texts, asst)
    if kind is ExampleKind.PREFERENCE:
        source = example.get("input")
        if isinstance(source, dict):
            fixed, asst_fixed, _, _, _ = _plan_chat(source, texts, None)
        else:
            fixed, asst_fixed = 0, 0
            if source is not None:
                texts.append(_compact_json(source))
        for key in ("preferred_output", "non_preferred_output"):
            output = example.get(key)
            if isinstance(output, dict):
                output = [output]
            if output is None:
                continue
            more, more_asst, _ = _plan_messages(output, texts, asst)
            fixed += more
            asst_fixed += more_asst
        return fixed, asst_fixed, texts, asst, True
    # Legacy prompt/completion and prompt/response.
    answer_key = "completion" if kind is ExampleKind.PROMPT_COMPLETION else "response"
    estimated = False
    for key in ("prompt", answer_key):
        value = example.get(key)
        if value is None:
            estimated = True
            continue
        if not isinstance(value, str):
            value = _compact_json(value)
            estimated = True
        texts.append(value)
        if key == answer_key:
            asst.append(value)
    return 0, 0, texts, asst, estimated


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """How the text → token-count cache is doing."""

    hits: int
    misses: int
    entries: int
    chars: int
    max_entries: int
    max_chars: int


class _TextCache:
    """A bounded text → token count map; evicts the oldest entries first (insertion order).

    FIFO rather than LRU keeps hits free of bookkeeping; a popular text that got evicted is
    encoded once more and cached again, which costs little. The insertion order is kept in a
    deque: finding a dict's oldest key with ``next(iter(...))`` walks past every slot freed by
    earlier evictions, which made re-counting 100,000 edited examples take 20 seconds.
    """

    __slots__ = (
        "_chars",
        "_data",
        "_lock",
        "_order",
        "hits",
        "max_chars",
        "max_entries",
        "misses",
    )

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self._data: dict[str, int] = {}
        self._order: deque[str] = deque()
        self._chars = 0
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> int | None:
        return self._data.get(text)

    def put_many(self, items: Iterable[tuple[str, int]]) -> None:
        data = self._data
        order = self._order
        with self._lock:
            for text, count in items:
                size = len(text)
                if size > self.max_chars or text in data:
                    continue
                while data and (
                    len(data) >= self.max_entries or self._chars + size > self.max_chars
                ):
                    oldest = order.popleft()
                    del data[oldest]
                    self._chars -= len(oldest)
                if self.max_entries <= 0:
                    return
                data[text] = count
                order.append(text)
                self._chars += size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._order.clear()
            self._chars = 0
            self.hits = 0
            self.misses = 0

    def info(self) -> CacheInfo:
        return CacheInfo(
            hits=self.hits,
            misses=self.misses,
            entries=len(self._data),
            chars=self._chars,
            max_entries=self.max_entries,
            max_chars=self.max_chars,
        )


class TokenCounter:
    """Counts examples for one encoding, encoding each distinct text once.

    Texts repeat a lot in real datasets (system prompts, role names, tool definitions), so the
    count of every text is cached, bounded by ``max_cached_texts`` entries and
    ``max_cached_chars`` characters. ``count`` is meant for per-keystroke use; ``count_many``
    first collects the distinct texts of a batch that are not cached yet, then encodes them
    once each, split across ``num_threads`` threads (tiktoken releases the GIL while encoding).
    """

    #: Below this many new texts, encoding in this thread beats starting a thread pool.
    PARALLEL_MIN_TEXTS = 64
    #: Examples handled per batch round in ``count_many``: bounds the memory of token lists.
    CHUNK_EXAMPLES = 8192

    def __init__(
        self,
        encoding: tiktoken.Encoding,
        *,
        max_cached_texts: int = 250_000,
        max_cached_chars: int = 50_000_000,
        num_threads: int | None = None,
    ) -> None:
        self.encoding = encoding
        self._cache = _TextCache(max_cached_texts, max_cached_chars)
        self._threads = num_threads if num_threads is not None else _available_cpus()
        self._encode = encoding.encode_ordinary

    @property
    def encoding_name(self) -> str:
        """The encoding's name, e.g. ``o200k_base``."""
        return self.encoding.name

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the text cache."""
        return self._cache.info()

    def clear_cache(self) -> None:
        """Forget every cached text (and the hit/miss statistics)."""
        self._cache.clear()

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` as plain text (special-token text counts as ordinary text)."""
        cache = self._cache
        count = cache.get(text)
        if count is not None:
            cache.hits += 1
            return count
        cache.misses += 1
        count = len(self._encode(text))
        cache.put_many(((text, count),))
        return count

    def count(self, example: object) -> ExampleTokens:
        """Token counts of one parsed example (chat, preference or legacy)."""
        plan = _plan(example)
        if plan is None:
            return _NOT_AN_EXAMPLE
        fixed, asst_fixed, texts, asst, estimated = plan
        count_text = self.count_text
        local: dict[str, int] = {}
        total = fixed
        for text in texts:
            count = local.get(text)
            if count is None:
                count = local[text] = count_text(text)
            total += count
        assistant = asst_fixed
        for text in asst:
            assistant += local[text]
        return ExampleTokens(total, assistant, estimated)

    def count_many(
        self, examples: Iterable[object], pause: Callable[[], object] | None = None
    ) -> list[ExampleTokens]:
        """Token counts of many examples, in order; same results as ``count`` on each.

        ``pause`` is called between examples and between the texts encoded (from every
        encoding thread), so a worker can let the UI thread go first.
        """
        results: list[ExampleTokens] = []
        for chunk in _chunks(examples, self.CHUNK_EXAMPLES):
            results.extend(self._count_chunk(chunk, pause))
        return results

    def _count_chunk(
        self, chunk: list[object], pause: Callable[[], object] | None = None
    ) -> list[ExampleTokens]:
        if pause is None:
            plans = [_plan(example) for example in chunk]
        else:
            plans = []
            for example in chunk:
                pause()
                plans.append(_plan(example))
        cache = self._cache
        cached = cache._data
        local: dict[str, int] = {}
        missing: list[str] = []
        hits = 0
        for plan in plans:
            if plan is None:
                continue
            for text in plan[2]:
                if text in local:
                    continue
                count = cached.get(text)
                if count is None:
                    local[text] = -1
                    missing.append(text)
                else:
                    local[text] = count
                    hits += 1
        if missing:
            counts = self._encode_all(missing, pause)
            local.update(zip(missing, counts, strict=True))
            cache.put_many(zip(missing, counts, strict=True))
        cache.hits += hits
        cache.misses += len(missing)
        results: list[ExampleTokens] = []
        get = local.__getitem__
        for plan in plans:
            if plan is None:
                results.append(_NOT_AN_EXAMPLE)
                continue
            fixed, asst_fixed, texts, asst, estimated = plan
            results.append(
                ExampleTokens(
                    fixed + sum(map(get, texts)), asst_fixed + sum(map(get, asst)), estimated
                )
            )
        return results

    def _encode_all(self, texts: list[str], pause: Callable[[], object] | None = None) -> list[int]:
        """Token counts of ``texts``: one contiguous slice per thread when there are many.

        Not ``encode_ordinary_batch``: it submits one pool task per text, and on short texts
        (chat messages) that overhead made it 2-3 times slower than a plain loop when measured
        with tiktoken 0.14 on 2 cores. A slice per thread keeps the parallel gain on long texts
        (tiktoken releases the GIL while encoding) without the per-text overhead.
        """
        threads = min(self._threads, len(texts) // self.PARALLEL_MIN_TEXTS)
        if threads <= 1:
            return _encode_counts(self._encode, texts, pause)
        size = -(-len(texts) // threads)
        slices = [texts[start : start + size] for start in range(0, len(texts), size)]
        encode = self._encode
        counts: list[int] = []
        with ThreadPoolExecutor(max_workers=len(slices)) as pool:
            for part in pool.map(lambda part: _encode_counts(encode, part, pause), slices):
                counts.extend(part)
        return counts


def _encode_counts(
    encode: Callable[[str], list[int]], texts: list[str], pause: Callable[[], object] | None
) -> list[int]:
    if pause is None:
        return [len(encode(text)) for text in texts]
    counts = []
    for text in texts:
        pause()
        counts.append(len(encode(text)))
    return counts


def _chunks(items: Iterable[object], size: int) -> Iterator[list[object]]:
    chunk: list[object] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

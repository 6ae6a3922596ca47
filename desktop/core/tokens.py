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

Counting fast, and exactly
    tiktoken is the reference. quicktok, when installed, counts the same tokens several times
    faster; it is used only after it agreed with tiktoken on :data:`SELF_CHECK_TEXTS`, and a
    sample of every batch of new texts (the longest and non-ASCII ones among them) is counted
    both ways. Any disagreement switches that counter to tiktoken for the session and is
    logged; a failed import falls back to tiktoken silently. Counts are cached per text in
    memory, keyed by the text's hash, so an edit that keeps most texts re-counts only the
    new ones.

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

import binascii
import functools
import hashlib
import heapq
import itertools
import json
import logging
import operator
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from desktop.core.dataset import dump_json
from desktop.core.frozen import quick_init
from desktop.core.kinds import ExampleKind, classify
from desktop.core.resources import resources_dir

log = logging.getLogger(__name__)

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

LLAMA3 = "llama3"
QWEN3 = "qwen3"

_LLAMA3_PAT_STR = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501
_QWEN_PAT_STR = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501


@dataclass(frozen=True, slots=True)
class _OpenSpec:
    """An open model family's encoding, whose vocabulary only quicktok ships."""

    pat_str: str
    nfc: bool  # the tokenizer puts text in Unicode normal form C first


#: Encodings of open models (Llama 3, Qwen 2 to 3). The app counts with them only when
#: quicktok is installed: their vocabularies come with it, and tiktoken, built from the same
#: vocabulary with the model family's own pre-tokenizer, checks it as for OpenAI's encodings.
OPEN_MODEL_ENCODINGS: tuple[str, ...] = (LLAMA3, QWEN3)
_OPEN_SPECS = {LLAMA3: _OpenSpec(_LLAMA3_PAT_STR, False), QWEN3: _OpenSpec(_QWEN_PAT_STR, True)}


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
        known = ", ".join((*SUPPORTED_ENCODINGS, *OPEN_MODEL_ENCODINGS))
        raise ValueError(f"Unknown token encoding {name!r}; the app knows {known}.") from None


def load_encoding(name: str, directory: Path | None = None) -> tiktoken.Encoding:
    """Build the encoding ``name`` from its shipped file, verifying its SHA-256; never downloads.

    An open model's encoding is built from quicktok's vocabulary (EncodingFileError when
    quicktok cannot provide it). Not cached: use :class:`EncodingCache` (or
    :func:`get_encoding`) for that.
    """
    if name in _OPEN_SPECS:
        return _load_open_encoding(name)
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
    # Each line is a token in base64 and its rank; decoding them all at C speed makes loading
    # the tokenizers (done before the window shows) take a third of the time.
    words = data.split()
    try:
        if len(words) % 2:
            raise ValueError("a token without its rank")
        ranks = dict(zip(map(binascii.a2b_base64, words[0::2]), map(int, words[1::2]), strict=True))
    except (ValueError, binascii.Error) as exc:  # unreachable once the hash matched
        raise EncodingFileError(f"The token encoding file {path} is damaged.") from exc
    return tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )


def _load_open_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's encoding of an open model, from quicktok's vocabulary (rank = token id)."""
    try:
        import quicktok

        vocabulary = quicktok.get_encoding(name)
        size = len(vocabulary.token_byte_values())
        ranks = {vocabulary.decode_single_token_bytes(rank): rank for rank in range(size)}
    except Exception as exc:
        raise EncodingFileError(
            f"Tokens for {name} models cannot be counted here: the quicktok package that "
            "brings their vocabulary is missing or damaged; reinstall the app to restore it."
        ) from exc
    return tiktoken.Encoding(
        name, pat_str=_OPEN_SPECS[name].pat_str, mergeable_ranks=ranks, special_tokens={}
    )


@functools.cache
def open_model_encodings() -> tuple[str, ...]:
    """The open models' encodings this installation can count with (quicktok brings them)."""
    return tuple(name for name in OPEN_MODEL_ENCODINGS if _fast_counter(name) is not None)


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
                spec = _OPEN_SPECS.get(name)
                nfc = spec is not None and spec.nfc
                counter = TokenCounter(encoding, normalize=_nfc if nfc else None)
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


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


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


# Open model families, matched on the name after the last "/" (``meta-llama/Llama-3.1-8B…``):
# their tokens are counted exactly when quicktok brings their vocabulary.
_OPEN_FAMILIES: tuple[tuple[str, str], ...] = (
    ("meta-llama-3", LLAMA3),
    ("llama-3", LLAMA3),
    ("llama3", LLAMA3),
    ("qwen2.5", QWEN3),
    ("qwen3", QWEN3),
    ("qwen2", QWEN3),
)


def encoding_choice(model_id: str) -> EncodingChoice:
    """Map a model id (base, snapshot, alias, ``ft:`` or checkpoint) to its encoding."""
    base = base_model_id(model_id)
    for family, encoding in _FAMILIES:
        if base == family or base.startswith(family + "-"):
            return EncodingChoice(encoding=encoding, base_model=base, is_guess=False)
    name = base.rsplit("/", 1)[-1]
    for family, encoding in _OPEN_FAMILIES:
        if name == family or name.startswith((family + "-", family + ".")):
            if encoding in open_model_encodings():
                return EncodingChoice(encoding=encoding, base_model=base, is_guess=False)
            break
    return EncodingChoice(encoding=DEFAULT_ENCODING, base_model=base, is_guess=True)


def encoding_for_model(model_id: str) -> str:
    """The encoding name for ``model_id``; unknown models get o200k_base (see encoding_choice)."""
    return encoding_choice(model_id).encoding


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


@quick_init
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
        if type(message) is dict and len(message) == 2:
            # The usual message, {"role": ..., "content": ...}, without the general walk.
            role = message.get("role")
            content = message.get("content")
            if type(role) is str and type(content) is str:
                texts.append(role)
                texts.append(content)
                if asst is not None and role == "assistant":
                    asst.append(content)
                continue
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


# --------------------------------------------------------------------------------------------
# The fast counter and its checks
# --------------------------------------------------------------------------------------------

#: Texts both counters must agree on before the fast one is used: every script and kind of
#: text the tokenizers treat specially (letters with and without case, CJK, emoji and
#: combining marks, digits, contractions, code, runs of spaces and line breaks, special-token
#: text typed as plain text, halves of characters, long runs without a break).
SELF_CHECK_TEXTS: tuple[str, ...] = (
    "",
    " ",
    "a",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX.",
    "don't can't I'll we've they're 'tis 'TWAS O'Neill's rock'n'roll",
    "café résumé naïve — Zürich, Straße, ÆØÅ æøå, İstanbul ıi, ǅ Ǆ ǆ",
    "Привет, как дела? Ελληνικά κείμενα. Հայերեն. ქართული.",
    "日本語のトークナイザー、中文分词，한국어 형태소 분석기. ｶﾀｶﾅ ＡＢＣ１２３",
    "مرحبا بالعالم. שלום עולם. हिन्दी भाषा। ภาษาไทย ไม่มีการเว้นวรรค",
    "emoji 🚀🔥👍🏽 👨‍👩‍👧‍👦 🇩🇪🇯🇵 ❤️ ☕️ 1️⃣ mixed😀text",
    "á̛z e\u0301 n\u0303 a\u030a\u0323 Z̷̢̛a̴l̶g̵o̸",
    "1234567890 3.14159 -42 1,000,000 0xDEADBEEF 99.99% 2024-06-01T12:30:00Z ١٢٣٤",
    "def f(x):\n    return [i**2 for i in range(100)]  # 1+2+3==6\n",
    "if (a && b || !c) { x->y = *p++; } else { return -1; }\r\n\t// done",
    '{"role": "user", "content": "Hi\\n"} <html><body class="x">&amp;</body></html>',
    "https://example.com/path?q=1&x=2#frag user@example.org C:\\Users\\me\\file.txt",
    "   leading\n\ttabs and  spaces   \r\n windows lines \r\n\r\n\n\n trailing   ",
    "\n\n\n\n",
    "\t\t\t\t  \t \u00a0\u2003\u3000 \u200b\u200d\ufeff",
    " " * 257,
    "\n" * 129 + "x",
    "a" * 3001,
    "ab" * 1500,
    "1" * 2000,
    "😀" * 400,
    "<|endoftext|>",
    "<|fim_prefix|>code<|fim_middle|>more<|fim_suffix|> <|endofprompt|>",
    "text<|endoftext|>more text <|im_start|>user\nhi<|im_end|> <|begin_of_text|>",
    "half of a character: \ud83d, another \udc00 end",
    "\x00\x01\x07\x1b[31mred\x1b[0m \x7f",
    "Ω≈ç√∫ Икс ∀x∈ℝ: x²≥0 ½ ¼ ™ © ® ° ± µ",
)

#: Set to 0 to count with tiktoken alone.
FAST_COUNTER_VARIABLE = "FINETUNE_STUDIO_FAST_TOKENS"
#: Texts of a batch checked against the reference counter (see ``TokenCounter.verify``): a
#: file is counted in batches of a few thousand examples, so a few hundred texts of a
#: 100,000-example file are checked, the longest and non-ASCII ones among them.
SAMPLE_PER_BATCH = 9
#: Longer texts are not put in a sample: the reference counter slows down on them.
SAMPLE_MAX_CHARS = 50_000


def _tiktoken_safe(text: str) -> str:
    """What tiktoken counts for a text holding halves of characters (its own fix-up)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _fast_counter(name: str) -> Callable[[str], int] | None:
    """quicktok's count function for the encoding ``name``; None when it cannot be used.

    A missing or broken quicktok is no error: counting falls back to tiktoken silently.
    Setting FINETUNE_STUDIO_FAST_TOKENS=0 turns it off (to compare, or to rule it out).
    """
    if os.environ.get(FAST_COUNTER_VARIABLE, "").strip() == "0":
        return None
    try:
        import quicktok
    except Exception as exc:  # not installed, or its library does not load here
        log.debug("Counting tokens with tiktoken alone (quicktok: %s)", exc)
        return None
    try:
        count = quicktok.get_encoding(name).count
    except Exception as exc:
        log.debug("Counting %s with tiktoken alone (quicktok: %s)", name, exc)
        return None

    def fast(text: str) -> int:
        try:
            return count(text)
        except (UnicodeEncodeError, TypeError):
            # Halves of characters cannot be handed over as UTF-8: count what tiktoken counts.
            return count(_tiktoken_safe(text))

    return fast


def _sample(texts: Sequence[str], size: int) -> list[str]:
    """Up to ``size`` texts worth checking: the longest, those beyond ASCII, and a spread."""
    usable = [text for text in texts if len(text) <= SAMPLE_MAX_CHARS]
    if len(usable) <= size:
        return usable
    third = max(1, size // 3)
    longest = heapq.nlargest(third, usable, key=len)
    foreign = [text for text in usable if not text.isascii()][:third]
    step = max(1, len(usable) // max(1, size - len(longest) - len(foreign)))
    spread = usable[::step]
    return list(dict.fromkeys([*longest, *foreign, *spread]))[:size]


# --------------------------------------------------------------------------------------------
# Counting many texts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """How the text → token-count cache is doing."""

    hits: int
    misses: int
    entries: int
    max_entries: int


#: Bits of a cached entry that hold the count; the text's length is kept above them.
_COUNT_BITS = 40
_COUNT_MASK = (1 << _COUNT_BITS) - 1


class _CountCache:
    """A bounded text → token count map that keeps no text alive.

    Entries are keyed by the text's hash (Python keeps it with the string, so looking a text
    up again costs nothing) and hold the text's length beside the count: a different text
    would need the same 64-bit hash and the same length to be taken for another. When full,
    the older half of the entries goes at once, so eviction costs O(1) per entry.
    """

    __slots__ = ("_data", "_lock", "hits", "max_entries", "misses")

    def __init__(self, max_entries: int) -> None:
        self._data: dict[int, int] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> int | None:
        packed = self._data.get(hash(text))
        if packed is None or packed >> _COUNT_BITS != len(text):
            return None
        return packed & _COUNT_MASK

    def put_many(self, items: Iterable[tuple[str, int]]) -> None:
        """Add counts, up to half the cache at a time: when a part does not fit, only the
        newest half of the entries is kept before it goes in."""
        maximum = self.max_entries
        if maximum <= 0:
            return
        pairs = list(items)
        step = max(1, maximum // 2)
        with self._lock:
            for start in range(0, len(pairs), step):
                part = pairs[start : start + step]
                data = self._data
                if len(data) + len(part) > maximum:
                    keep = maximum // 2
                    data = self._data = dict(itertools.islice(data.items(), len(data) - keep, None))
                texts = [text for text, _count in part]
                lengths = map(operator.lshift, map(len, texts), itertools.repeat(_COUNT_BITS))
                packed = map(operator.or_, lengths, [count for _text, count in part])
                data.update(zip(map(hash, texts), packed, strict=True))

    def clear(self) -> None:
        with self._lock:
            self._data = {}
            self.hits = 0
            self.misses = 0

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, len(self._data), self.max_entries)


class TokenCounter:
    """Counts examples for one encoding, counting each distinct text once.

    tiktoken is the reference. When quicktok (an exact, several times faster counter) is
    installed and agrees with tiktoken on :data:`SELF_CHECK_TEXTS`, it counts instead, and
    every batch of new texts has a sample (its longest and non-ASCII texts among them)
    counted both ways: any disagreement switches this counter to tiktoken for the rest of the
    session, counts the batch again and is logged. Counts are cached per text (bounded by
    ``max_cached_texts``), since texts repeat a lot in real datasets. Counting stays on the
    calling thread: quicktok holds the interpreter lock, and threads cost more than they gave.
    """

    #: Examples handled per batch in ``count_many``: bounds the memory of the plans.
    CHUNK_EXAMPLES = 8192

    def __init__(
        self,
        encoding: tiktoken.Encoding,
        *,
        fast: Callable[[str], int] | bool | None = True,
        max_cached_texts: int = 2_000_000,
        normalize: Callable[[str], str] | None = None,
    ) -> None:
        self.encoding = encoding
        self._cache = _CountCache(max_cached_texts)
        if normalize is None:
            self._reference = encoding.encode_ordinary
        else:  # a tokenizer that normalizes text first (Qwen: Unicode normal form C)

            def reference(text: str) -> list[int]:
                return encoding.encode_ordinary(normalize(text))

            self._reference = reference
        if fast is True:
            fast = _fast_counter(encoding.name)
        self._fast: Callable[[str], int] | None = fast or None
        self.fallback_reason: str | None = None
        if self._fast is not None:
            self.verify(SELF_CHECK_TEXTS)

    @property
    def encoding_name(self) -> str:
        """The encoding's name, e.g. ``o200k_base``."""
        return self.encoding.name

    @property
    def accelerated(self) -> bool:
        """True while the fast counter counts (it agreed with tiktoken on every check)."""
        return self._fast is not None

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the text cache."""
        return self._cache.info()

    def clear_cache(self) -> None:
        """Forget every cached text (and the hit/miss statistics)."""
        self._cache.clear()

    def reference_count(self, text: str) -> int:
        """Tokens of ``text`` counted by tiktoken itself (never cached)."""
        return len(self._reference(text))

    def verify(self, texts: Iterable[str]) -> bool:
        """Count ``texts`` with both counters; on any difference use tiktoken from now on.

        Returns True when they agree (or when tiktoken already counts alone).
        """
        fast = self._fast
        if fast is None:
            return True
        reference = self._reference
        for position, text in enumerate(texts):
            if fast(text) != len(reference(text)):
                self._fast = None
                self.fallback_reason = (
                    f"quicktok and tiktoken counted a text of {len(text):,} characters "
                    f"differently (text {position + 1} checked)"
                )
                log.warning(
                    "Counting %s with tiktoken from now on: %s.",
                    self.encoding_name,
                    self.fallback_reason,
                )
                return False
        return True

    def _count_one(self, text: str) -> int:
        fast = self._fast
        return fast(text) if fast is not None else len(self._reference(text))

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` as plain text (special-token text counts as ordinary text)."""
        cache = self._cache
        count = cache.get(text)
        if count is not None:
            cache.hits += 1
            return count
        cache.misses += 1
        count = self._count_one(text)
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

        ``pause`` is called between examples and between the texts counted, so a worker can
        let the UI thread go first.
        """
        results: list[ExampleTokens] = []
        for chunk in _chunks(examples, self.CHUNK_EXAMPLES):
            if pause is None:
                plans = [_plan(example) for example in chunk]
            else:
                plans = []
                for example in chunk:
                    pause()
                    plans.append(_plan(example))
            results.extend(self.count_plans(plans, pause))
        return results

    def count_plans(
        self, plans: Sequence[Plan | None], pause: Callable[[], object] | None = None
    ) -> list[ExampleTokens]:
        """Token counts of planned examples (see :func:`plan_example`), in order."""
        return count_plans_with((self,), plans, pause)[0]

    def counts_of(
        self, texts: Sequence[str], pause: Callable[[], object] | None = None
    ) -> list[int]:
        """The token count of every text, in order, from the cache or counted now (each
        distinct text not in the cache is counted once)."""
        cache = self._cache
        repeat = itertools.repeat
        # Every step is a C-level map over the texts: a Python loop over them here cost as
        # much as counting.
        packed = list(map(cache._data.get, map(hash, texts), repeat(0)))
        lengths = map(operator.rshift, packed, repeat(_COUNT_BITS))
        unknown = list(map(operator.ne, lengths, map(len, texts)))
        counts = list(map(operator.and_, packed, repeat(_COUNT_MASK)))
        if not any(unknown):
            cache.hits += len(texts)
            return counts
        missing = list(dict.fromkeys(itertools.compress(texts, unknown)))
        cache.hits += len(texts) - sum(unknown)
        cache.misses += len(missing)
        counted = self._count_all(missing, pause)
        if self._fast is not None and not self.verify(_sample(missing, SAMPLE_PER_BATCH)):
            counted = self._count_all(missing, pause)  # again, with tiktoken
        cache.put_many(zip(missing, counted, strict=True))
        new = dict(zip(missing, counted, strict=True))
        # Known texts keep their count, the others get theirs (a text is one or the other).
        kept = map(operator.mul, counts, map(operator.not_, unknown))
        return list(map(operator.add, kept, map(new.get, texts, repeat(0))))

    def count_texts(
        self, texts: Iterable[str], pause: Callable[[], object] | None = None
    ) -> dict[str, int]:
        """The token count of each distinct text, from the cache or counted now."""
        unique = list(dict.fromkeys(texts))
        return dict(zip(unique, self.counts_of(unique, pause), strict=True))

    def _count_all(self, texts: list[str], pause: Callable[[], object] | None) -> list[int]:
        count = self._fast
        if count is None:
            reference = self._reference

            def count(text: str) -> int:
                return len(reference(text))

        if pause is None:
            return list(map(count, texts))
        counts = []
        for text in texts:
            pause()
            counts.append(count(text))
        return counts


Plan = _Plan


def count_plans_with(
    counters: Sequence[TokenCounter],
    plans: Sequence[Plan | None],
    pause: Callable[[], object] | None = None,
) -> list[list[ExampleTokens]]:
    """The token counts of planned examples with each counter (one list per counter), the
    plans' texts gathered once for all of them."""
    flat: list[str] = []
    extend = flat.extend
    for plan in plans:
        if plan is not None:
            extend(plan[2])
            extend(plan[3])
    columns = [counter.counts_of(flat, pause) for counter in counters]
    results: list[list[ExampleTokens]] = [[] for _ in counters]
    pairs = list(zip(results, columns, strict=True))
    start = 0
    for plan in plans:
        if plan is None:
            for result, _values in pairs:
                result.append(_NOT_AN_EXAMPLE)
            continue
        fixed, asst_fixed, texts, asst, estimated = plan
        middle = start + len(texts)
        end = middle + len(asst)
        for result, values in pairs:
            total = fixed + sum(values[start:middle])
            result.append(ExampleTokens(total, asst_fixed + sum(values[middle:end]), estimated))
        start = end
    return results


def plan_example(example: object) -> Plan | None:
    """What counting ``example`` needs besides a tokenizer (None when it is no example).

    Planning once and counting the plan with several counters (``count_plans``) walks the
    example once, whatever the number of encodings.
    """
    return _plan(example)


def _chunks(items: Iterable[object], size: int) -> Iterator[list[object]]:
    chunk: list[object] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

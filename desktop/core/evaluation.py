"""Evaluate one model, or compare two, on examples the user already trusts.

Each chat example becomes an item: everything before its last reply is the prompt, the reply is
the reference answer. A run sends every item to every model, scores each answer against the
reference, and keeps the user's thumbs up or down. Runs are saved after each answer, so a
cancelled or interrupted run resumes with exactly the pairs still unanswered.

Scores
    * :func:`exact_match`: equal after Unicode NFC, trimming and collapsing whitespace; case
      counts unless asked otherwise. Strict, but the right test for labels and short answers.
    * :func:`similarity`: token-level F1 (as in SQuAD) over lower-cased word tokens: the share
      of words two answers have in common, counted with repeats. Chosen over difflib's ratio
      because it is symmetric by construction (difflib's is not, with its junk heuristics),
      runs in linear time (difflib is quadratic on long replies) and ignores word order and
      punctuation, which matter little for whether a reply says the same thing. Words are runs
      of letters and digits; Chinese and Japanese characters, written without spaces, count one
      character each. Two texts without any word (empty, only punctuation or emoji) score 1
      when they are equal after normalising whitespace and 0 otherwise.

The scheduler is pure bookkeeping for the layer that sends requests: which (item, model) pair
to send next, and when to slow down after a rate limit. Time comes from an injected clock.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from random import Random
from typing import Any, NamedTuple, TypeVar

from desktop.core.catalog import Catalog
from desktop.core.conversations import (
    Listing,
    StoreError,
    inference_prices,
    is_safe_id,
    json_files,
    load_all,
    new_id,
    read_json_object,
    remove_file,
    write_json_object,
)
from desktop.core.dataset import Record
from desktop.core.kinds import ExampleKind, classify
from desktop.core.tokens import TokenCounter, counter_for_model

T = TypeVar("T")

SCHEMA_VERSION = 1
MAX_MODELS = 2
#: Two similarities closer than this are a tie: one word more or less in a long reply moves
#: the score by about a hundredth, which says nothing about which model answered better.
TIE_MARGIN = 0.05

# Items ----------------------------------------------------------------------------------------


class SkipReason(str, Enum):
    """Why an example cannot be used as an evaluation item."""

    NOT_CHAT = "not_chat"
    NO_FINAL_REPLY = "no_final_reply"
    NOT_TEXT_REPLY = "not_text_reply"
    EMPTY_REPLY = "empty_reply"
    NO_PROMPT = "no_prompt"

    @property
    def sentence(self) -> str:
        """The reason in a few plain words."""
        return {
            SkipReason.NOT_CHAT: "not a readable chat example",
            SkipReason.NO_FINAL_REPLY: "the last message is not an assistant reply",
            SkipReason.NOT_TEXT_REPLY: "the last reply is a tool call, not text",
            SkipReason.EMPTY_REPLY: "the last reply is empty",
            SkipReason.NO_PROMPT: "nothing comes before the reply",
        }[self]


@dataclass(frozen=True)
class EvalItem:
    """One question for the models: the messages to send and the answer hoped for.

    ``line`` is where the example sits in its file, when known, so the user can find it.
    """

    id: str
    prompt: tuple[dict[str, Any], ...]
    reference: str
    tools: list[Any] | None = None
    line: int | None = None

    @property
    def question(self) -> str:
        """The text of the last user message, for tables and exports."""
        for message in reversed(self.prompt):
            if message.get("role") == "user":
                return _text_of(message.get("content")) or ""
        return ""

    def request(self) -> dict[str, Any]:
        """The prompt as a chat example (``messages`` and ``tools``), for sending or counting."""
        request: dict[str, Any] = {"messages": [dict(m) for m in self.prompt]}
        if self.tools is not None:
            request["tools"] = self.tools
        return request

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape saved with a run."""
        data: dict[str, Any] = {"id": self.id, **self.request(), "reference": self.reference}
        if self.line is not None:
            data["line"] = self.line
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str) -> EvalItem:
        """Read a saved item; ValueError says which field is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be a JSON object")
        messages = data.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError(f"{where}.messages must be a list of messages")
        tools = data.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise ValueError(f"{where}.tools must be a list")
        return cls(
            id=_expect(data.get("id"), str, f"{where}.id"),
            prompt=tuple(messages),
            reference=_expect(data.get("reference"), str, f"{where}.reference"),
            tools=tools,
            line=_optional_count(data.get("line"), f"{where}.line"),
        )


@dataclass(frozen=True, slots=True)
class ItemSelection:
    """The items made from some examples, and how many examples were skipped for each reason."""

    items: list[EvalItem]
    skipped: Counter[SkipReason]

    def skip_sentences(self) -> list[str]:
        """One sentence per reason, e.g. "3 examples skipped: the last reply is empty."."""
        return [
            f"{count} example{'s' if count != 1 else ''} skipped: {reason.sentence}."
            for reason, count in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0].value))
        ]


def _text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or the joined text parts; None otherwise."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts: list[str] = []
    for part in content:
        text = part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "".join(texts)


def item_from_example(example: Any, item_id: str, line: int | None = None) -> EvalItem | SkipReason:
    """An item from one chat example, or why the example cannot be one."""
    if classify(example) is not ExampleKind.CHAT:
        return SkipReason.NOT_CHAT
    messages = example["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return SkipReason.NOT_CHAT
    if not messages or messages[-1].get("role") != "assistant":
        return SkipReason.NO_FINAL_REPLY
    last = messages[-1]
    reference = _text_of(last.get("content"))
    if reference is None or last.get("tool_calls") or last.get("function_call"):
        return SkipReason.NOT_TEXT_REPLY
    if not reference.strip():
        return SkipReason.EMPTY_REPLY
    if len(messages) == 1:
        return SkipReason.NO_PROMPT
    # ``weight`` only steers training; a chat request would reject it.
    prompt = tuple({k: v for k, v in m.items() if k != "weight"} for m in messages[:-1])
    tools = example.get("tools")
    return EvalItem(
        id=item_id,
        prompt=prompt,
        reference=reference,
        tools=tools if isinstance(tools, list) else None,
        line=line,
    )


def _select(candidates: Iterable[tuple[Any, str, int | None]]) -> ItemSelection:
    items: list[EvalItem] = []
    skipped: Counter[SkipReason] = Counter()
    for example, item_id, line in candidates:
        result = item_from_example(example, item_id, line)
        if isinstance(result, SkipReason):
            skipped[result] += 1
        else:
            items.append(result)
    return ItemSelection(items, skipped)


def items_from_examples(examples: Iterable[Any]) -> ItemSelection:
    """Items from parsed examples; item ids are the examples' 1-based positions."""
    return _select((example, str(n), None) for n, example in enumerate(examples, start=1))


def items_from_dataset(records: Iterable[Record]) -> ItemSelection:
    """Items from a dataset's records; blank and broken lines are not examples and not counted."""
    return _select((r.value, str(r.id), r.line) for r in records if r.is_example)


def sample_items(items: Sequence[T], n: int, seed: int) -> list[T]:
    """``n`` items chosen at random but reproducibly from ``seed``, kept in their order.

    Asking for as many items as there are, or more, returns them all.
    """
    if n < 0:
        raise ValueError(f"The number of items to sample cannot be negative ({n}).")
    if n >= len(items):
        return list(items)
    chosen = sorted(Random(seed).sample(range(len(items)), n))
    return [items[i] for i in chosen]


# Scores ---------------------------------------------------------------------------------------

# Scripts written without spaces between words: each character is a token.
_NO_SPACES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_NO_SPACES}]|[^\W{_NO_SPACES}]+")


def normalize_text(text: str) -> str:
    """NFC, trimmed, every run of whitespace made one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def exact_match(a: str, b: str, *, case_sensitive: bool = True) -> bool:
    """True when the texts are equal after :func:`normalize_text` (and case folding if asked)."""
    a, b = normalize_text(a), normalize_text(b)
    if not case_sensitive:
        a, b = a.casefold(), b.casefold()
    return a == b


def word_tokens(text: str) -> list[str]:
    """The lower-cased (case-folded, NFKC) word tokens :func:`similarity` compares."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def similarity(a: str, b: str) -> float:
    """Token-level F1 of two texts, from 0 (no word in common) to 1 (same words)."""
    tokens_a, tokens_b = Counter(word_tokens(a)), Counter(word_tokens(b))
    size_a, size_b = sum(tokens_a.values()), sum(tokens_b.values())
    if size_a == 0 or size_b == 0:
        return 1.0 if size_a == size_b and normalize_text(a) == normalize_text(b) else 0.0
    common = sum((tokens_a & tokens_b).values())
    return 2 * common / (size_a + size_b)


# Runs -----------------------------------------------------------------------------------------


class Thumb(str, Enum):
    """The user's verdict on one answer."""

    UP = "up"
    DOWN = "down"


class RunState(str, Enum):
    """Where a run stands."""

    PENDING = "pending"
    RUNNING = "running"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class Pair(NamedTuple):
    """One request of a run: an item for a model."""

    item_id: str
    model: str


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model's answer to one item; scores are None when the request failed.

    ``error`` is a plain sentence; ``latency_s`` the seconds until the answer was complete.
    """

    reply: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: str | None = None
    similarity: float | None = None
    exact_match: bool | None = None
    rating: Thumb | None = None

    @property
    def ok(self) -> bool:
        """True when the model answered."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One row of a run's summary table.

    Means and rates cover answered items only (None when there are none). ``wins``, ``ties``,
    ``losses`` and ``win_rate`` compare the two models' similarity on the items both answered
    (None when the run has one model; scores closer than ``TIE_MARGIN`` tie); win rate =
    wins ÷ those items, so ties lower it.
    ``cost_usd`` is None when no catalog was given or the model's price is unknown.
    """

    model: str
    items: int
    answered: int
    errors: int
    pending: int
    mean_similarity: float | None
    exact_match_rate: float | None
    thumbs_up: int
    thumbs_down: int
    wins: int | None
    ties: int | None
    losses: int | None
    win_rate: float | None
    mean_latency_s: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


CSV_COLUMNS: tuple[str, ...] = (
    "item",
    "line",
    "question",
    "reference",
    "model",
    "status",
    "reply",
    "similarity",
    "exact_match",
    "rating",
    "tokens_in",
    "tokens_out",
    "latency_seconds",
    "error",
)
# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class EvalRun:
    """The items, the models (one or two), every answer so far, and where the run stands.

    A run that was running when it was saved (the app closed or crashed) loads as cancelled.
    Answers that arrive after a cancel are still recorded: they were paid for.
    """

    def __init__(
        self,
        items: Iterable[EvalItem],
        models: Iterable[str],
        *,
        run_id: str | None = None,
        created: float | None = None,
        label: str = "",
        profile_id: str | None = None,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
    ) -> None:
        self.items: tuple[EvalItem, ...] = tuple(items)
        self.models: tuple[str, ...] = tuple(models)
        self.id = run_id if run_id is not None else new_id()
        self.created = created if created is not None else time.time()
        self.label = label
        self.profile_id = profile_id
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        if not is_safe_id(self.id):
            raise ValueError(f"{self.id!r} is not a usable run id.")
        if not 1 <= len(self.models) <= MAX_MODELS:
            raise ValueError("An evaluation runs one model, or compares two.")
        if not all(isinstance(m, str) and m.strip() for m in self.models):
            raise ValueError("Every model of an evaluation needs a model id.")
        if len(set(self.models)) != len(self.models):
            raise ValueError("Compare two different models.")
        if not self.items:
            raise ValueError("An evaluation needs at least one example.")
        self._by_id = {item.id: item for item in self.items}
        if len(self._by_id) != len(self.items):
            raise ValueError("Two evaluation items have the same id.")
        self._results: dict[Pair, ModelResult] = {}
        self._state = RunState.PENDING

    # Reading --------------------------------------------------------------------------------

    def item(self, item_id: str) -> EvalItem:
        """The item with this id (KeyError when there is none)."""
        return self._by_id[item_id]

    def pairs(self) -> list[Pair]:
        """Every request of the run, item by item, in the models' order."""
        return [Pair(item.id, model) for item in self.items for model in self.models]

    def result(self, item_id: str, model: str) -> ModelResult | None:
        """The recorded answer (or failure) of one pair; None while it is pending."""
        return self._results.get(Pair(item_id, model))

    def pending_pairs(self) -> list[Pair]:
        """The pairs with nothing recorded yet, in run order: what a resume sends."""
        return [pair for pair in self.pairs() if pair not in self._results]

    def next_pending(self) -> Pair | None:
        """The first pair still to send, or None when every pair has a result."""
        return next((pair for pair in self.pairs() if pair not in self._results), None)

    @property
    def progress(self) -> tuple[int, int]:
        """(pairs with a result, all pairs)."""
        return len(self._results), len(self.items) * len(self.models)

    @property
    def state(self) -> RunState:
        """Pending, running, cancelled, or finished (every pair has a result)."""
        return self._state

    # Changing -------------------------------------------------------------------------------

    def start(self) -> None:
        """Mark the run as sending (also to resume a cancelled one)."""
        if self._state is not RunState.FINISHED:
            self._state = RunState.RUNNING

    def cancel(self) -> None:
        """Stop handing out requests; what is recorded stays."""
        if self._state is not RunState.FINISHED:
            self._state = RunState.CANCELLED

    def record(
        self,
        item_id: str,
        model: str,
        *,
        reply: str = "",
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        latency_s: float | None = None,
        error: str | None = None,
    ) -> ModelResult:
        """Store one model's answer (or ``error``), scored against the reference.

        A new answer replaces an earlier one and its rating.
        """
        pair = self._pair(item_id, model)
        result = _scored(
            self.item(item_id),
            ModelResult(
                reply=reply,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_s=latency_s,
                error=error,
            ),
        )
        self._results[pair] = result
        self._update_finished()
        return result

    def rate(self, item_id: str, model: str, rating: Thumb | None) -> None:
        """Thumbs up or down on an answer (None clears it)."""
        pair = self._pair(item_id, model)
        result = self._results.get(pair)
        if result is None:
            raise ValueError("There is no answer to rate yet.")
        self._results[pair] = replace(result, rating=rating)

    def retry_failed(self) -> int:
        """Forget failed answers so they are sent again; return how many."""
        failed = [pair for pair, result in self._results.items() if not result.ok]
        for pair in failed:
            del self._results[pair]
        if failed and self._state is RunState.FINISHED:
            self._state = RunState.PENDING
        return len(failed)

    def _pair(self, item_id: str, model: str) -> Pair:
        if item_id not in self._by_id or model not in self.models:
            raise ValueError(f"Item {item_id!r} for model {model!r} is not part of this run.")
        return Pair(item_id, model)

    def _update_finished(self) -> None:
        done, total = self.progress
        if done == total:
            self._state = RunState.FINISHED

    # Reporting ------------------------------------------------------------------------------

    def summary(self, catalog: Catalog | None = None) -> list[ModelSummary]:
        """One row per model, in the run's model order."""
        rows = []
        for model in self.models:
            results = [self._results.get(Pair(item.id, model)) for item in self.items]
            answered = [r for r in results if r is not None and r.ok]
            recorded = [r for r in results if r is not None]
            latencies = [r.latency_s for r in answered if r.latency_s is not None]
            duel = self._duel(model)
            wins, ties, losses = duel if duel is not None else (None, None, None)
            compared = sum(duel) if duel is not None else 0
            rows.append(
                ModelSummary(
                    model=model,
                    items=len(self.items),
                    answered=len(answered),
                    errors=len(recorded) - len(answered),
                    pending=len(results) - len(recorded),
                    mean_similarity=_mean([r.similarity or 0.0 for r in answered]),
                    exact_match_rate=_mean([1.0 if r.exact_match else 0.0 for r in answered]),
                    thumbs_up=sum(r.rating is Thumb.UP for r in recorded),
                    thumbs_down=sum(r.rating is Thumb.DOWN for r in recorded),
                    wins=wins,
                    ties=ties,
                    losses=losses,
                    win_rate=duel[0] / compared if duel is not None and compared else None,
                    mean_latency_s=_mean(latencies),
                    tokens_in=sum(r.tokens_in or 0 for r in recorded),
                    tokens_out=sum(r.tokens_out or 0 for r in recorded),
                    cost_usd=_cost(model, recorded, catalog),
                )
            )
        return rows

    def _duel(self, model: str) -> tuple[int, int, int] | None:
        """(wins, ties, losses) of ``model`` against the other one; None with one model."""
        if len(self.models) < MAX_MODELS:
            return None
        other = self.models[1] if model == self.models[0] else self.models[0]
        wins = ties = losses = 0
        for item in self.items:
            mine = self._results.get(Pair(item.id, model))
            theirs = self._results.get(Pair(item.id, other))
            if mine is None or theirs is None or not (mine.ok and theirs.ok):
                continue
            if abs((mine.similarity or 0.0) - (theirs.similarity or 0.0)) < TIE_MARGIN:
                ties += 1
            elif (mine.similarity or 0.0) > (theirs.similarity or 0.0):
                wins += 1
            else:
                losses += 1
        return wins, ties, losses

    def to_csv(self) -> str:
        """One row per item and model (pending ones too), for a spreadsheet.

        Write it as ``utf-8-sig`` so spreadsheet programs detect UTF-8. Text cells starting
        with = + - @ get a leading apostrophe so a spreadsheet shows them instead of running
        them as formulas.
        """
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for item in self.items:
            for model in self.models:
                result = self._results.get(Pair(item.id, model))
                if result is None:
                    status = "pending"
                    result = ModelResult()
                else:
                    status = "answered" if result.ok else "error"
                writer.writerow(
                    [
                        item.id,
                        "" if item.line is None else item.line,
                        _cell(item.question),
                        _cell(item.reference),
                        _cell(model),
                        status,
                        _cell(result.reply),
                        "" if result.similarity is None else f"{result.similarity:.4f}",
                        {None: "", True: "yes", False: "no"}[result.exact_match],
                        "" if result.rating is None else result.rating.value,
                        "" if result.tokens_in is None else result.tokens_in,
                        "" if result.tokens_out is None else result.tokens_out,
                        "" if result.latency_s is None else f"{result.latency_s:.3f}",
                        _cell(result.error or ""),
                    ]
                )
        return out.getvalue()

    # Saving ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape saved to disk (scores are recomputed when loading)."""
        results = []
        for (item_id, model), result in self._results.items():
            entry: dict[str, Any] = {"item": item_id, "model": model, "reply": result.reply}
            for key in ("tokens_in", "tokens_out", "latency_s", "error"):
                value = getattr(result, key)
                if value is not None:
                    entry[key] = value
            if result.rating is not None:
                entry["rating"] = result.rating.value
            results.append(entry)
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "created": self.created,
            "label": self.label,
            "state": self._state.value,
            "models": list(self.models),
            "profile_id": self.profile_id,
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "items": [item.to_dict() for item in self.items],
            "results": results,
        }

    @classmethod
    def from_dict(cls, data: Any) -> EvalRun:
        """Read a saved run; ValueError says which field is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the file must hold a JSON object")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("schema_version is missing or wrong")
        if version > SCHEMA_VERSION:
            raise ValueError("it was saved by a newer version of the app")
        raw_items = _expect(data.get("items"), list, "items")
        models = _expect(data.get("models"), list, "models")
        if not all(isinstance(m, str) for m in models):
            raise ValueError("models must be a list of model ids")
        temperature = data.get("temperature")
        if temperature is not None and not _is_number(temperature):
            raise ValueError("temperature must be a number or null")
        created = data.get("created")
        if not _is_number(created):
            raise ValueError("created must be a time in seconds")
        run = cls(
            [EvalItem.from_dict(raw, f"items[{i}]") for i, raw in enumerate(raw_items)],
            models,
            run_id=_expect(data.get("id"), str, "id"),
            created=float(created),
            label=_expect(data.get("label", ""), str, "label"),
            profile_id=_optional(data.get("profile_id"), str, "profile_id"),
            temperature=float(temperature) if temperature is not None else None,
            max_output_tokens=_optional_count(data.get("max_output_tokens"), "max_output_tokens"),
        )
        for i, raw in enumerate(_expect(data.get("results", []), list, "results")):
            run._load_result(raw, f"results[{i}]")
        try:
            saved = RunState(data.get("state"))
        except ValueError:
            raise ValueError("state must be pending, running, cancelled or finished") from None
        run._update_finished()
        if run._state is not RunState.FINISHED:
            interrupted = saved in (RunState.RUNNING, RunState.FINISHED)
            run._state = RunState.CANCELLED if interrupted else saved
        return run

    def _load_result(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise ValueError(f"{where} must be a JSON object")
        item_id = _expect(raw.get("item"), str, f"{where}.item")
        model = _expect(raw.get("model"), str, f"{where}.model")
        pair = self._pair(item_id, model)
        latency = raw.get("latency_s")
        if latency is not None and not (_is_number(latency) and latency >= 0):
            raise ValueError(f"{where}.latency_s must be a number of seconds ≥ 0")
        rating = raw.get("rating")
        if rating is not None and rating not in {t.value for t in Thumb}:
            raise ValueError(f"{where}.rating must be up, down or null")
        result = ModelResult(
            reply=_expect(raw.get("reply", ""), str, f"{where}.reply"),
            tokens_in=_optional_count(raw.get("tokens_in"), f"{where}.tokens_in"),
            tokens_out=_optional_count(raw.get("tokens_out"), f"{where}.tokens_out"),
            latency_s=float(latency) if latency is not None else None,
            error=_optional(raw.get("error"), str, f"{where}.error"),
            rating=Thumb(rating) if rating is not None else None,
        )
        self._results[pair] = _scored(self.item(item_id), result)


def _scored(item: EvalItem, result: ModelResult) -> ModelResult:
    """``result`` with its similarity and exact match against the item's reference."""
    if not result.ok:
        return replace(result, similarity=None, exact_match=None)
    return replace(
        result,
        similarity=similarity(result.reply, item.reference),
        exact_match=exact_match(result.reply, item.reference),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _cost(model: str, results: list[ModelResult], catalog: Catalog | None) -> float | None:
    prices = inference_prices(model, catalog) if catalog is not None else None
    if prices is None:
        return None
    return sum(prices.cost(r.tokens_in or 0, r.tokens_out or 0) for r in results)


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expect(value: Any, kind: type[T], where: str) -> T:
    if not isinstance(value, kind):
        raise ValueError(f"{where} must be {'text' if kind is str else 'a ' + kind.__name__}")
    return value


def _optional(value: Any, kind: type[T], where: str) -> T | None:
    return None if value is None else _expect(value, kind, where)


def _optional_count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where} must be a whole number ≥ 0 or null")
    return value


class EvalStore:
    """Runs saved as ``<folder>/<run id>.json``."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path_for(self, run_id: str) -> Path:
        """Where a run is saved (ValueError for an id that is not a safe name)."""
        if not is_safe_id(run_id):
            raise ValueError(f"{run_id!r} is not a run id.")
        return self.folder / f"{run_id}.json"

    def save(self, run: EvalRun) -> Path:
        """Write the run atomically; return its file."""
        path = self.path_for(run.id)
        write_json_object(path, run.to_dict())
        return path

    def load(self, run_id: str) -> EvalRun:
        """Read one run; StoreError when it is missing or damaged."""
        return self._read(self.path_for(run_id))

    def list(self) -> Listing[EvalRun]:
        """Every saved run, newest first; damaged files are skipped and reported."""
        items, skipped = load_all(json_files(self.folder), self._read)
        items.sort(key=lambda run: (run.created, run.id), reverse=True)
        return Listing(items, skipped)

    def _read(self, path: Path) -> EvalRun:
        """Read the file at ``path``, which must be named after the run it holds."""
        run = read_json_object(path, EvalRun.from_dict)
        if path.stem != run.id:
            raise StoreError(
                f"{path.name} cannot be used: it was renamed by hand (it holds run {run.id})."
            )
        return run

    def delete(self, run_id: str) -> bool:
        """Remove one run; False when it was already gone."""
        return remove_file(self.path_for(run_id))


# Cost before starting -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelCostEstimate:
    """What sending every item to one model should cost (None when its price is unknown)."""

    model: str
    prompt_tokens: int
    output_tokens: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class EvalCostEstimate:
    """The estimate for every model of a run."""

    models: tuple[ModelCostEstimate, ...]

    @property
    def total_usd(self) -> float | None:
        """The sum over models whose price is known; None when no price is known."""
        known = [m.cost_usd for m in self.models if m.cost_usd is not None]
        return sum(known) if known else None

    @property
    def unknown_price_models(self) -> tuple[str, ...]:
        """Models left out of the total because the app does not know their price."""
        return tuple(m.model for m in self.models if m.cost_usd is None)


def estimate_eval_cost(
    items: Sequence[EvalItem],
    models: Sequence[str],
    catalog: Catalog,
    counter_for: Callable[[str], TokenCounter] = counter_for_model,
    expected_output_tokens: int | None = None,
) -> EvalCostEstimate:
    """The inference cost of a run before it starts, counted offline.

    Prompt tokens are counted as the data-prep notebook counts a chat (per-message overhead and
    reply priming included); each answer is expected to be as long as the reference reply,
    or ``expected_output_tokens`` long when given.
    """
    if expected_output_tokens is not None and expected_output_tokens < 0:
        raise ValueError("The expected answer length cannot be negative.")
    estimates = []
    for model in models:
        counter = counter_for(model)
        prompt = sum(counter.count(item.request()).total for item in items)
        if expected_output_tokens is None:
            output = sum(counter.count_text(item.reference) for item in items)
        else:
            output = expected_output_tokens * len(items)
        prices = inference_prices(model, catalog)
        cost = prices.cost(prompt, output) if prices is not None else None
        estimates.append(ModelCostEstimate(model, prompt, output, cost))
    return EvalCostEstimate(tuple(estimates))


# Scheduling -----------------------------------------------------------------------------------


class EvalScheduler:
    """Hands out pairs to send, at most ``limit`` at a time, and slows down after rate limits.

    After a rate limit the pair goes back in line, nothing is handed out for the server's
    ``Retry-After`` (or 1 s, doubling with each further back-off up to ``max_delay``) and the
    limit halves; every ``recover_after`` answers since then raise it by one, up to
    ``max_concurrency``. Rate limits on requests sent before the latest back-off do not halve
    the limit again: one burst of refusals is one back-off. Pairs always come out in the order
    given. A quota that is used up is not a rate limit: report it as a result and cancel.
    """

    def __init__(
        self,
        pairs: Iterable[Pair],
        max_concurrency: int = 4,
        *,
        clock: Callable[[], float] = time.monotonic,
        recover_after: int = 5,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("At least one request must be allowed at a time.")
        if recover_after < 1:
            raise ValueError("recover_after must be at least 1.")
        self._order: dict[Pair, int] = {}
        for pair in pairs:
            self._order.setdefault(pair, len(self._order))
        self._queue = [(index, pair) for pair, index in self._order.items()]
        heapq.heapify(self._queue)
        self._flying: dict[Pair, int] = {}
        self._max = max_concurrency
        self._limit = max_concurrency
        self._clock = clock
        self._recover_after = recover_after
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._epoch = 0
        self._streak = 0
        self._answers = 0
        self._resume_at = -math.inf

    @property
    def limit(self) -> int:
        """How many requests may be on their way at once right now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests handed out and not yet answered."""
        return len(self._flying)

    @property
    def remaining(self) -> int:
        """Pairs waiting to be handed out."""
        return len(self._queue)

    @property
    def is_finished(self) -> bool:
        """True when nothing waits and nothing is on its way."""
        return not self._queue and not self._flying

    def wait_seconds(self) -> float | None:
        """Seconds until :meth:`next_pair` can hand something out: 0 now, None when that
        depends on an answer arriving first (or nothing is left)."""
        if not self._queue or len(self._flying) >= self._limit:
            return None
        return max(0.0, self._resume_at - self._clock())

    def next_pair(self) -> Pair | None:
        """The next pair to send, or None when nothing may be sent now."""
        if self.wait_seconds() != 0.0:
            return None
        _, pair = heapq.heappop(self._queue)
        self._flying[pair] = self._epoch
        return pair

    def on_result(self, pair: Pair) -> None:
        """The pair got an answer, or failed for a reason other than a rate limit."""
        epoch = self._land(pair)
        if epoch != self._epoch:
            return
        self._streak = 0
        self._answers += 1
        if self._limit < self._max and self._answers >= self._recover_after:
            self._limit += 1
            self._answers = 0

    def on_rate_limited(self, pair: Pair, retry_after: float | None = None) -> float:
        """The pair was refused for a rate limit: requeue it and pause; return the pause (s)."""
        epoch = self._land(pair)
        heapq.heappush(self._queue, (self._order[pair], pair))
        now = self._clock()
        fresh = epoch == self._epoch
        if fresh:
            self._epoch += 1
            self._streak += 1
            self._answers = 0
            self._limit = max(1, self._limit // 2)
        if retry_after is not None:
            delay = max(0.0, retry_after)
        elif fresh:
            delay = min(self._max_delay, self._first_delay * 2.0 ** min(self._streak - 1, 30))
        else:
            delay = 0.0
        self._resume_at = max(self._resume_at, now + delay)
        return self._resume_at - now

    def cancel(self) -> list[Pair]:
        """Hand out nothing more; return the pairs that will not be sent."""
        dropped = [pair for _, pair in sorted(self._queue)]
        self._queue.clear()
        return dropped

    def _land(self, pair: Pair) -> int:
        try:
            return self._flying.pop(pair)
        except KeyError:
            raise ValueError(f"{pair} was not handed out, or was already answered.") from None

"""What a training run will cost, kept up to date while the user edits one example at a time.

Why incremental: the dataset editor re-estimates after every keystroke, so changing one example
must not re-walk the other 100,000. :class:`RunningTotals` keeps sums and a count map keyed by
token count, which keeps the maximum and the over-limit figures right after edits and removals.

The rules follow OpenAI's data-prep notebook: epochs from its heuristic when not given, and
billed tokens = Σ min(limit, tokens of the example) × epochs (examples over the model's limit
are truncated, so only the limit is billed). Only the training file is billed: validation
examples must not be added here.
"""

from __future__ import annotations

import itertools
import operator
from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from desktop.core.catalog import ModelInfo
from desktop.core.tokens import ExampleTokens, encoding_for_model

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
MIN_EPOCHS = 1
MAX_EPOCHS = 50


def auto_epochs(n_examples: int) -> int:
    """The notebook's default epochs for ``n_examples`` (OpenAI's real rule is unpublished).

    An empty dataset gets MAX_DEFAULT_EPOCHS, the rule's limit as the count falls to zero;
    its cost is zero anyway.
    """
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 0:
        raise ValueError(f"The number of examples must be a whole number ≥ 0, not {n_examples!r}.")
    if n_examples == 0:
        return MAX_DEFAULT_EPOCHS
    epochs = TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


def resolve_epochs(n_examples: int, epochs: int | None) -> int:
    """``epochs`` checked against the API's range 1–50, or the notebook default when None."""
    if epochs is None:
        return auto_epochs(n_examples)
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        raise ValueError(f"Epochs must be a whole number from 1 to 50, not {epochs!r}.")
    if not MIN_EPOCHS <= epochs <= MAX_EPOCHS:
        raise ValueError(f"Epochs must be from {MIN_EPOCHS} to {MAX_EPOCHS}, not {epochs}.")
    return epochs


@dataclass(frozen=True, slots=True)
class Estimate:
    """Tokens and cost of training one model on one training file.

    ``estimated_cost_usd`` is None when the model has no per-token training price (o4-mini is
    billed per hour); ``cost_note`` then says why. ``estimated_examples`` counts examples whose
    tokens were estimated (tools, images, DPO…), so the UI can show "about".
    """

    model_id: str
    model_name: str
    encoding: str
    examples: int
    total_tokens: int
    assistant_tokens: int
    max_example_tokens: int
    token_limit: int | None
    token_limit_confirmed: bool
    over_limit: int
    billable_tokens_per_epoch: int
    epochs: int
    epochs_auto: bool
    billable_tokens_total: int
    price_per_1m: float | None
    estimated_cost_usd: float | None
    cost_note: str | None
    price_as_of: date | None
    price_source: str
    price_is_override: bool
    estimated_examples: int

    @property
    def truncated_tokens_per_epoch(self) -> int:
        """Tokens cut off the end of over-limit examples, per epoch (not trained, not billed)."""
        return self.total_tokens - self.billable_tokens_per_epoch

    @property
    def estimated(self) -> bool:
        """True when any example's count is an estimate rather than the notebook's count."""
        return self.estimated_examples > 0


def _build(
    model: ModelInfo,
    encoding: str,
    epochs: int | None,
    *,
    automatic_epochs: int | None = None,
    examples: int,
    total: int,
    assistant: int,
    max_tokens: int,
    over_limit: int,
    billable_per_epoch: int,
    estimated_examples: int,
) -> Estimate:
    if epochs is None and automatic_epochs is not None:
        n_epochs = automatic_epochs
    else:
        n_epochs = resolve_epochs(examples, epochs)
    billable_total = billable_per_epoch * n_epochs
    price = model.training_price_per_1m
    cost: float | None = None
    note: str | None = None
    if price is not None:
        cost = billable_total * price / 1_000_000
    elif model.training_price_per_hour is not None:
        note = (
            f"{model.display_name} is billed per hour of training "
            f"(${model.training_price_per_hour:g} an hour), so the cost cannot be worked out "
            "from the tokens."
        )
    else:
        note = (
            f"The app knows no training price for {model.display_name}; "
            "you can add one in your price file."
        )
    overridden = "training_price_per_1m" in model.overridden
    return Estimate(
        model_id=model.id,
        model_name=model.display_name,
        encoding=encoding,
        examples=examples,
        total_tokens=total,
        assistant_tokens=assistant,
        max_example_tokens=max_tokens,
        token_limit=model.max_tokens_per_example,
        token_limit_confirmed=model.max_tokens_confirmed,
        over_limit=over_limit,
        billable_tokens_per_epoch=billable_per_epoch,
        epochs=n_epochs,
        epochs_auto=epochs is None,
        billable_tokens_total=billable_total,
        price_per_1m=price,
        estimated_cost_usd=cost,
        cost_note=note,
        price_as_of=None if overridden else model.price_as_of,
        price_source=model.price_source("training_price_per_1m"),
        price_is_override=overridden,
        estimated_examples=estimated_examples,
    )


def estimate_from_tokens(
    counts: Iterable[ExampleTokens],
    model: ModelInfo | None,
    epochs: int | None = None,
    *,
    encoding: str | None = None,
    model_id: str | None = None,
    automatic_epochs: int | None = None,
) -> Estimate:
    """Estimate from scratch over ``counts`` (one per training example); epochs None = auto.

    ``model`` None stands for a model the catalog does not know, as in RunningTotals.estimate.
    ``automatic_epochs`` is what "automatic" means at a provider that uses a fixed number;
    without it, automatic follows OpenAI's rule for the dataset's size.
    """
    if model is None:
        model = unknown_model(model_id or "", encoding)
    examples = total = assistant = max_tokens = over = billable = estimated = 0
    limit = model.max_tokens_per_example
    for count in counts:
        examples += 1
        total += count.total
        assistant += count.assistant
        max_tokens = max(max_tokens, count.total)
        estimated += count.estimated
        if limit is not None and count.total > limit:
            over += 1
            billable += limit
        else:
            billable += count.total
    return _build(
        model,
        encoding or model.encoding,
        epochs,
        automatic_epochs=automatic_epochs,
        examples=examples,
        total=total,
        assistant=assistant,
        max_tokens=max_tokens,
        over_limit=over,
        billable_per_epoch=billable,
        estimated_examples=estimated,
    )


def estimate_from_columns(
    totals: Sequence[int],
    assistants: Sequence[int],
    estimated_examples: int,
    model: ModelInfo | None,
    epochs: int | None = None,
) -> Estimate:
    """``estimate_from_tokens`` over columns of counts (one entry per training example),
    summed in C: a check of a large file has them in arrays."""
    if model is None:
        model = unknown_model("")
    limit = model.max_tokens_per_example
    total = sum(totals)
    over = billable = 0
    if limit is not None:
        longer = [tokens for tokens in totals if tokens > limit]
        over = len(longer)
        billable = total - (sum(longer) - limit * over)
    else:
        billable = total
    return _build(
        model,
        model.encoding,
        epochs,
        examples=len(totals),
        total=total,
        assistant=sum(assistants),
        max_tokens=max(totals, default=0),
        over_limit=over,
        billable_per_epoch=billable,
        estimated_examples=estimated_examples,
    )


def unknown_model(model_id: str, encoding: str | None = None) -> ModelInfo:
    """A stand-in for a model the catalog does not know: no limit, no prices."""
    name = model_id or "this model"
    return ModelInfo(
        id=model_id,
        display_name=name,
        provider="unknown",
        encoding=encoding or encoding_for_model(model_id),
        max_tokens_per_example=None,
        max_tokens_confirmed=False,
        methods=(),
        methods_unconfirmed=(),
        training_price_per_1m=None,
        training_price_per_hour=None,
        inference_input_per_1m=None,
        inference_cached_input_per_1m=None,
        inference_output_per_1m=None,
        shutdown_date=None,
        shutdown_confirmed=False,
        source="not in the app's catalog",
    )


_TOTAL = operator.attrgetter("total")
_ASSISTANT = operator.attrgetter("assistant")
_ESTIMATED = operator.attrgetter("estimated")
_NO_LIMIT_CACHED = -1


class RunningTotals:
    """Per-record token counts with sums kept up to date, for estimates after every edit.

    ``set`` and ``remove`` cost O(log k) plus a short list move (k = distinct token counts).
    ``estimate`` is O(1) while the model's limit stays the same; a new limit is applied by
    walking only the distinct counts above it. ``encoding``, when given, is the encoding the
    counts were made with, and estimating for a model with another encoding is refused.
    """

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding
        self._reset()

    def _reset(self) -> None:
        self._records: dict[Hashable, ExampleTokens] = {}
        self._total = 0
        self._assistant = 0
        self._estimated = 0
        self._per_count: dict[int, int] = {}
        self._distinct: list[int] = []  # sorted distinct totals
        self._limit = _NO_LIMIT_CACHED
        self._excess = 0  # Σ (total − limit) over examples above the cached limit
        self._over = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

    def get(self, record_id: Hashable) -> ExampleTokens | None:
        """The counts stored for ``record_id``, if any."""
        return self._records.get(record_id)

    @property
    def total_tokens(self) -> int:
        """Σ tokens over all records."""
        return self._total

    @property
    def max_example_tokens(self) -> int:
        """Tokens of the longest record (0 when empty)."""
        return self._distinct[-1] if self._distinct else 0

    def length_counts(self) -> list[tuple[int, int]]:
        """(tokens, how many records have that many) for each distinct total, shortest first.

        Cheap (k distinct totals, usually a few thousand even for 100,000 records), so a
        length histogram can be redrawn after every edit.
        """
        per_count = self._per_count
        return [(tokens, per_count[tokens]) for tokens in self._distinct]

    def _add(self, counts: ExampleTokens) -> None:
        tokens = counts.total
        self._total += tokens
        self._assistant += counts.assistant
        self._estimated += counts.estimated
        seen = self._per_count.get(tokens, 0)
        if not seen:
            insort(self._distinct, tokens)
        self._per_count[tokens] = seen + 1
        if self._limit != _NO_LIMIT_CACHED and tokens > self._limit:
            self._excess += tokens - self._limit
            self._over += 1

    def _subtract(self, counts: ExampleTokens) -> None:
        tokens = counts.total
        self._total -= tokens
        self._assistant -= counts.assistant
        self._estimated -= counts.estimated
        seen = self._per_count[tokens]
        if seen == 1:
            del self._per_count[tokens]
            del self._distinct[bisect_right(self._distinct, tokens) - 1]
        else:
            self._per_count[tokens] = seen - 1
        if self._limit != _NO_LIMIT_CACHED and tokens > self._limit:
            self._excess -= tokens - self._limit
            self._over -= 1

    def set(self, record_id: Hashable, counts: ExampleTokens) -> None:
        """Store (or replace) the counts of one record."""
        old = self._records.get(record_id)
        if old is not None:
            self._subtract(old)
        self._records[record_id] = counts
        self._add(counts)

    def set_many(self, items: Iterable[tuple[Hashable, ExampleTokens]]) -> None:
        """Store many records at once: the same as ``set`` on each in turn, with the sums and
        the length table adjusted once per distinct length (a worker's results arrive on the
        UI thread thousands at a time)."""
        latest = dict(items)  # a record given twice ends with its last counts, as with set
        if not latest:
            return
        records = self._records
        gone = [c for c in map(records.get, latest) if c is not None]
        records.update(latest)
        self._adjust(gone, list(latest.values()))

    def remove(self, record_id: Hashable) -> bool:
        """Forget one record; False when it was not there (e.g. a line that was never counted)."""
        old = self._records.pop(record_id, None)
        if old is None:
            return False
        self._subtract(old)
        return True

    def remove_many(self, record_ids: Iterable[Hashable]) -> None:
        """Forget many records at once (a deletion of thousands): the same as ``remove`` on
        each, with the sums and the length table adjusted once per distinct length."""
        pop = self._records.pop
        gone = [c for c in map(pop, record_ids, itertools.repeat(None)) if c is not None]
        if not gone:
            return
        self._adjust(gone, [])

    def _adjust(self, gone: list[ExampleTokens], added: list[ExampleTokens]) -> None:
        """Take ``gone`` out of the sums and the length table and put ``added`` in."""
        total, assistant, estimated = _TOTAL, _ASSISTANT, _ESTIMATED
        self._total += sum(map(total, added)) - sum(map(total, gone))
        self._assistant += sum(map(assistant, added)) - sum(map(assistant, gone))
        self._estimated += sum(map(estimated, added)) - sum(map(estimated, gone))
        change = Counter(map(total, added))
        change.subtract(map(total, gone))
        per_count = self._per_count
        limit = self._limit
        reshaped = False
        for tokens, n in change.items():
            if not n:
                continue
            before = per_count.get(tokens, 0)
            if before + n:
                per_count[tokens] = before + n
            else:
                del per_count[tokens]
            reshaped = reshaped or not before or not before + n
            if limit != _NO_LIMIT_CACHED and tokens > limit:
                self._excess += (tokens - limit) * n
                self._over += n
        if reshaped:
            self._distinct = sorted(per_count)

    def clear(self) -> None:
        """Forget every record."""
        self._reset()

    def _apply_limit(self, limit: int) -> None:
        if limit == self._limit:
            return
        start = bisect_right(self._distinct, limit)
        excess = over = 0
        per_count = self._per_count
        for tokens in self._distinct[start:]:
            n = per_count[tokens]
            excess += (tokens - limit) * n
            over += n
        self._limit, self._excess, self._over = limit, excess, over

    def estimate(
        self, model: ModelInfo | None, epochs: int | None = None, *, model_id: str | None = None
    ) -> Estimate:
        """The estimate for training ``model`` on the stored records; epochs None = auto.

        ``model`` None means a model the catalog does not know (``model_id`` names it): no
        token limit and no price, so tokens are reported but no cost.
        """
        if model is None:
            model = unknown_model(model_id or "", self.encoding)
        if self.encoding is not None and self.encoding != model.encoding:
            raise ValueError(
                f"These token counts were made with {self.encoding}, but {model.display_name} "
                f"uses {model.encoding}; count the examples again for this model."
            )
        limit = model.max_tokens_per_example
        if limit is None:
            billable, over = self._total, 0
        else:
            self._apply_limit(limit)
            billable, over = self._total - self._excess, self._over
        return _build(
            model,
            self.encoding or model.encoding,
            epochs,
            examples=len(self._records),
            total=self._total,
            assistant=self._assistant,
            max_tokens=self.max_example_tokens,
            over_limit=over,
            billable_per_epoch=billable,
            estimated_examples=self._estimated,
        )

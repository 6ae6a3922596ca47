"""Training advice in plain words, read from a job's loss curves.

Why these rules: per-step losses are noisy (small batches), so every check compares medians of
whole segments of the curve against the noise measured on the curve itself, and fires only on
a change several standard errors large. That keeps a healthy noisy curve quiet while a real
rise in validation loss, a curve still falling at the end, or large swings are named, each with
one concrete change following OpenAI's guidance (fewer epochs when overfitting, 1–2 more epochs
or a higher learning-rate multiplier when underfitting, a lower multiplier or a larger batch
when the loss swings, more varied examples when the dataset is small).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from desktop.core.metrics import Curve, MetricSeries

MIN_POINTS = 20
#: Points this many steps apart or more come from checkpoints (one an epoch, say), not from
#: every step: a few of them are all there will ever be, so they are judged as they are.
CHECKPOINT_GAP = 5
#: A training loss that ends above this share of where it started barely moved.
BARELY_FELL = 0.9
#: A validation loss this far above its lowest point has turned up.
TURNED_UP = 1.05
SMALL_DATASET_EXAMPLES = 50
VARIED_EXAMPLES_HINT = 100
MAX_EPOCHS = 50
MAX_BATCH_SIZE = 256
_SEGMENTS = 10
_FIFTHS = 5
_OSCILLATION_SEGMENTS = 20
_SIGNIFICANT = 4.0
_MEDIAN_SE = 1.2533  # standard error of a median relative to that of a mean (normal noise)


class AdviceKind(str, Enum):
    """What the curves show."""

    NOT_ENOUGH_DATA = "not_enough_data"
    OVERFITTING = "overfitting"
    UNDERFITTING = "underfitting"
    OSCILLATION = "oscillation"
    SMALL_DATASET = "small_dataset"
    GOOD_FIT = "good_fit"


class Severity(str, Enum):
    """How much the advice matters, most important last."""

    GOOD = "good"
    INFO = "info"
    WARNING = "warning"


_RANK = {Severity.WARNING: 0, Severity.INFO: 1, Severity.GOOD: 2}
_KIND_ORDER = {kind: i for i, kind in enumerate(AdviceKind)}


@dataclass(frozen=True)
class Advice:
    """One finding: what is happening, what to change, and the numbers behind it."""

    kind: AdviceKind
    severity: Severity
    message: str
    suggestion: str
    evidence: tuple[tuple[str, float], ...] = ()


# --------------------------------------------------------------------------------------------
# Curve statistics
# --------------------------------------------------------------------------------------------


def _noise(values: Sequence[float]) -> float:
    """Per-point noise, from the median step-to-step change (robust to slow trends)."""
    diffs = [abs(b - a) for a, b in itertools.pairwise(values)]
    return statistics.median(diffs) / (0.6745 * math.sqrt(2.0)) if diffs else 0.0


def _segments(values: Sequence[float], count: int) -> list[tuple[int, int]]:
    size = len(values)
    return [(k * size // count, (k + 1) * size // count) for k in range(count)]


def _levels(values: Sequence[float], count: int) -> tuple[list[float], float]:
    """Medians of ``count`` equal segments, and the standard error of a difference of two."""
    bounds = _segments(values, count)
    levels = [statistics.median(values[a:b]) for a, b in bounds]
    smallest = min(b - a for a, b in bounds)
    se_diff = _MEDIAN_SE * _noise(values) * math.sqrt(2.0 / smallest)
    return levels, se_diff


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _about(value: float) -> str:
    """A typical level, to two figures (three would claim a precision noise does not have)."""
    return f"{value:.2g}"


def _int_param(hyperparameters: Mapping[str, Any], key: str) -> int | None:
    value = hyperparameters.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _float_param(hyperparameters: Mapping[str, Any], key: str) -> float | None:
    value = hyperparameters.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    train: Curve
    n_epochs: int | None
    batch_size: int | None
    learning_rate: float | None
    #: What the job calls its learning rate: OpenAI's is a multiplier, other services (and
    #: this computer) take the rate itself.
    rate_name: str
    n_examples: int | None
    end_step: int
    complete: bool


def _change_rate(ctx: _Context, *, lower: bool) -> str:
    """ "Lower the learning rate from 2e-05 to 1e-05", or, while the provider chooses it, how
    to set it (a multiplier has an obvious scale; a rate itself is said relative)."""
    value = ctx.learning_rate
    if value is not None:
        target = value / 2 if lower else value * 2
        verb = "Lower" if lower else "Raise"
        return f"{verb} the {ctx.rate_name} from {value:g} to {target:g}"
    if ctx.rate_name == "learning-rate multiplier":
        if lower:
            return "Set a lower learning-rate multiplier than the automatic choice, e.g. 0.5"
        return "Set the learning-rate multiplier above the automatic choice, e.g. 2"
    amount = "about half" if lower else "about twice"
    return f"Set the learning rate to {amount} the automatic choice"


def _train_level_after(train: Curve, step: int) -> float | None:
    """The median training loss of the stretch right after ``step``."""
    start = next((i for i, s in enumerate(train.steps) if s >= step), None)
    if start is None:
        return None
    width = max(3, len(train) // _SEGMENTS)
    return statistics.median(train.values[start : start + width])


def _overfitting(series: MetricSeries, ctx: _Context) -> Advice | None:
    """Validation loss rising clearly above its lowest point while training loss still falls."""
    found = _rise_in_steps(series["valid_loss"]) or _rise_in_epochs(series["full_valid_loss"])
    if found is None:
        return None
    best_step, lowest, final, label = found
    train_then = _train_level_after(ctx.train, best_step)
    train_end = statistics.median(ctx.train.values[-max(3, len(ctx.train) // _SEGMENTS) :])
    if train_then is None or train_end >= train_then:
        return None
    message = (
        f"The model is starting to memorise its examples: the {label} was lowest "
        f"({_fmt(lowest)}) around step {best_step} and rose to {_fmt(final)}, while the "
        f"training loss kept falling ({_fmt(train_then)} → {_fmt(train_end)})."
    )
    n = ctx.n_epochs
    if n is not None and n > 1:
        best_epoch = min(n - 1, max(1, math.ceil(best_step * n / ctx.end_step)))
        suggestion = f"Try {best_epoch} epoch{'s' if best_epoch > 1 else ''} instead of {n}."
    elif n == 1:
        suggestion = _change_rate(ctx, lower=True) + "."
    else:
        suggestion = "Train for fewer epochs (1 or 2 fewer than this job used)."
    if ctx.n_examples is not None and ctx.n_examples < VARIED_EXAMPLES_HINT:
        suggestion = (
            suggestion[:-1] + f", or add more varied examples (this dataset has {ctx.n_examples})."
        )
    return Advice(
        AdviceKind.OVERFITTING,
        Severity.WARNING,
        message,
        suggestion,
        (
            (f"lowest {label}", lowest),
            ("step of the lowest validation loss", float(best_step)),
            (f"{label} at the end", final),
            ("training loss at that step", train_then),
            ("training loss at the end", train_end),
        ),
    )


def _rise_in_steps(valid: Curve) -> tuple[int, float, float, str] | None:
    """(step, lowest, final, label) when per-step validation loss rose significantly."""
    if len(valid) < MIN_POINTS:
        return None
    levels, se_diff = _levels(valid.values, _SEGMENTS)
    lowest = min(levels)
    best = levels.index(lowest)
    final = levels[-1]
    rise = final - lowest
    if best == len(levels) - 1 or rise <= _SIGNIFICANT * se_diff or rise < 0.05 * abs(lowest):
        return None
    start, stop = _segments(valid.values, _SEGMENTS)[best]
    return valid.steps[(start + stop - 1) // 2], lowest, final, "validation loss"


def _rise_in_epochs(full: Curve) -> tuple[int, float, float, str] | None:
    """The same from the end-of-epoch full validation loss, which is exact but sparse."""
    if len(full) < 2:
        return None
    lowest = min(full.values[:-1])
    final = full.values[-1]
    if final - lowest < 0.05 * abs(lowest) or final - lowest <= 0:
        return None
    best_step = full.steps[list(full.values).index(lowest)]
    return best_step, lowest, final, "full validation loss"


def _underfitting(ctx: _Context, *, swinging: bool) -> Advice | None:
    """Training loss that barely moved, or that was still falling steeply at the end.

    The second check is skipped when the loss swings (``swinging``): the end of a swing would
    look like a steep fall.
    """
    levels, se_diff = _levels(ctx.train.values, _FIFTHS)
    start, end = levels[0], levels[-1]
    drop = start - end
    evidence = (("training loss at the start", start), ("training loss at the end", end))
    if drop < 0.10 * abs(start) and end > 0.25:
        suggestion = _change_rate(ctx, lower=False) + "."
        return Advice(
            AdviceKind.UNDERFITTING,
            Severity.WARNING,
            f"The model is hardly learning: the training loss only went from {_fmt(start)} to "
            f"{_fmt(end)}.",
            suggestion,
            evidence,
        )
    late_drop = levels[-2] - end
    if (
        swinging
        or not ctx.complete
        or drop <= _SIGNIFICANT * se_diff
        or late_drop <= _SIGNIFICANT * se_diff
    ):
        return None
    share = late_drop / drop
    if share < 0.15:
        return None
    more = 2 if share >= 0.2 else 1
    if ctx.n_epochs is not None:
        target = min(MAX_EPOCHS, ctx.n_epochs + more)
        suggestion = f"Try {target} epochs instead of {ctx.n_epochs}."
    else:
        suggestion = f"Train for {more} more epoch{'s' if more > 1 else ''} than this job used."
    return Advice(
        AdviceKind.UNDERFITTING,
        Severity.WARNING,
        f"The model had not finished learning: the training loss was still falling steeply at "
        f"the end ({_fmt(levels[-2])} → {_fmt(end)} over the last fifth of training).",
        suggestion,
        (*evidence, ("share of the total drop in the last fifth", share)),
    )


def _oscillation(ctx: _Context) -> Advice | None:
    """Large swings up and down of the smoothed training loss, well above the noise."""
    count = min(_OSCILLATION_SEGMENTS, len(ctx.train) // 5)
    if count < 8:
        return None
    levels, se_diff = _levels(ctx.train.values, count)
    floor = max(_SIGNIFICANT * se_diff, 0.02 * abs(statistics.median(levels)))
    moves = [b - a for a, b in itertools.pairwise(levels) if abs(b - a) > floor]
    turns = sum(1 for a, b in itertools.pairwise(moves) if (a > 0) != (b > 0))
    if turns < 3:
        return None
    swing = statistics.median(abs(m) for m in moves)
    parts = []
    change = _change_rate(ctx, lower=True)
    parts.append(change[0].lower() + change[1:])
    if ctx.batch_size is not None and ctx.batch_size < MAX_BATCH_SIZE:
        parts.append(
            f"raise the batch size from {ctx.batch_size} to "
            f"{min(MAX_BATCH_SIZE, ctx.batch_size * 2)}"
        )
    elif ctx.batch_size is None:
        parts.append("set a larger batch size")
    return Advice(
        AdviceKind.OSCILLATION,
        Severity.WARNING,
        f"The training loss swings up and down instead of settling: it changed direction "
        f"{turns} times by about {_fmt(swing)} each time.",
        " or ".join(parts).capitalize() + ".",
        (("changes of direction", float(turns)), ("typical swing", swing)),
    )


def _small_dataset(n_examples: int | None) -> Advice | None:
    if n_examples is None or n_examples >= SMALL_DATASET_EXAMPLES:
        return None
    return Advice(
        AdviceKind.SMALL_DATASET,
        Severity.INFO,
        f"The dataset has only {n_examples} example{'s' if n_examples != 1 else ''}; "
        "fine-tuning usually shows clear gains from 50 to 100.",
        "Add more examples, and make them varied: different questions, phrasings and cases.",
        (("examples", float(n_examples)),),
    )


def _good_fit(series: MetricSeries, ctx: _Context) -> Advice:
    levels, _ = _levels(ctx.train.values, _SEGMENTS)
    start, end = levels[0], levels[-1]
    valid = series["full_valid_loss"] if len(series["full_valid_loss"]) else series["valid_loss"]
    follow = (
        f", and the validation loss followed it, ending at {_fmt(valid.values[-1])}"
        if valid
        else ""
    )
    lead = "Training looks healthy" if ctx.complete else "So far training looks healthy"
    evidence: tuple[tuple[str, float], ...] = (
        ("training loss at the start", start),
        ("training loss at the end", end),
    )
    if valid:
        evidence = (*evidence, ("validation loss at the end", valid.values[-1]))
    return Advice(
        AdviceKind.GOOD_FIT,
        Severity.GOOD,
        # Typical levels (medians of the first and last tenth of the steps), not single
        # steps: said as such, so they are not taken for the values the events list.
        f"{lead}: the training loss fell from about {_about(start)} in the first steps to "
        f"about {_about(end)} in the last ones{follow}.",
        "No change needed; try the model in the chat and compare its answers with your examples.",
        evidence,
    )


def _from_checkpoints(train: Curve) -> bool:
    """True for a curve of a few points far apart (a provider that reports the loss only
    at each checkpoint), which will never have MIN_POINTS steps to judge."""
    steps = train.steps
    if len(steps) < 2:
        return False
    return min(b - a for a, b in itertools.pairwise(steps)) >= CHECKPOINT_GAP


def _checkpoint_advice(series: MetricSeries, n_examples: int | None) -> list[Advice]:
    """What a few checkpoints can say: whether the loss fell, and whether the validation
    loss turned up at the end while the training loss kept falling."""
    train = series["train_loss"]
    points = len(train)
    first, last = train.values[0], train.values[-1]
    valid = series["valid_loss"]
    found: list[Advice] = []
    across = f"Across {points} checkpoints"
    evidence = (("training loss at the first checkpoint", first), ("at the last", last))
    if len(valid) >= 2 and valid.values[-1] > min(valid.values) * TURNED_UP and last < first:
        lowest = min(range(len(valid)), key=lambda i: valid.values[i])
        found.append(
            Advice(
                AdviceKind.OVERFITTING,
                Severity.WARNING,
                f"{across} the training loss kept falling, but the validation loss turned up "
                f"after step {valid.steps[lowest]:,} (from {_fmt(valid.values[lowest])} to "
                f"{_fmt(valid.values[-1])}): the model may be starting to memorise.",
                f"Use the checkpoint at step {valid.steps[lowest]:,}, or train again for fewer "
                "epochs.",
                (*evidence, ("lowest validation loss", valid.values[lowest])),
            )
        )
    elif last > first * BARELY_FELL:
        found.append(
            Advice(
                AdviceKind.UNDERFITTING,
                Severity.WARNING,
                f"{across} the training loss barely fell (from {_fmt(first)} to "
                f"{_fmt(last)}): the model has not learnt much from the examples yet.",
                "Train for 1 or 2 more epochs, or raise the learning rate a little.",
                evidence,
            )
        )
    small = _small_dataset(n_examples)
    if small is not None:
        found.append(small)
    if not any(a.severity is Severity.WARNING for a in found):
        found.append(
            Advice(
                AdviceKind.GOOD_FIT,
                Severity.GOOD,
                f"{across} the training loss fell from {_fmt(first)} to {_fmt(last)}.",
                "Try the model in the chat and compare its answers with your examples.",
                evidence,
            )
        )
    return sorted(found, key=lambda a: (_RANK[a.severity], _KIND_ORDER[a.kind]))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def advise(
    series: MetricSeries,
    *,
    hyperparameters: Mapping[str, Any] | None = None,
    n_examples: int | None = None,
) -> list[Advice]:
    """Findings about a job's curves, most important first; deterministic.

    ``hyperparameters`` are the job's (``n_epochs``, ``batch_size``,
    ``learning_rate_multiplier``; ``"auto"`` counts as unknown) so the advice can name concrete
    numbers; ``n_examples`` is the training set's size when known. With fewer than
    :data:`MIN_POINTS` training-loss points the only finding is that there is too little data.
    """
    train = series["train_loss"]
    if len(train) < MIN_POINTS and _from_checkpoints(train):
        return _checkpoint_advice(series, n_examples)
    if len(train) < MIN_POINTS:
        steps = len(train)
        if steps == 0:
            told = "No training steps reported yet, so it is too early to judge training."
        else:
            told = (
                f"Only {steps} training step{'s' if steps != 1 else ''} reported so far: too "
                "few to judge how training is going."
            )
        return [
            Advice(
                AdviceKind.NOT_ENOUGH_DATA,
                Severity.INFO,
                told,
                f"Wait for more steps; advice appears once {MIN_POINTS} steps are in.",
                (("training steps", float(steps)),),
            )
        ]
    params = hyperparameters or {}
    if "learning_rate" in params and "learning_rate_multiplier" not in params:
        rate_key, rate_name = "learning_rate", "learning rate"
    else:
        rate_key, rate_name = "learning_rate_multiplier", "learning-rate multiplier"
    last_step = train.steps[-1]
    end_step = max(series.total_steps or 0, last_step)
    ctx = _Context(
        train=train,
        n_epochs=_int_param(params, "n_epochs") or series.n_epochs,
        batch_size=_int_param(params, "batch_size"),
        learning_rate=_float_param(params, rate_key),
        rate_name=rate_name,
        n_examples=n_examples,
        end_step=end_step,
        complete=last_step >= 0.95 * end_step,
    )
    swings = _oscillation(ctx)
    found = [
        a
        for a in (
            _overfitting(series, ctx),
            _underfitting(ctx, swinging=swings is not None),
            swings,
            _small_dataset(n_examples),
        )
        if a is not None
    ]
    if not any(a.severity is Severity.WARNING for a in found):
        found.append(_good_fit(series, ctx))
    return sorted(found, key=lambda a: (_RANK[a.severity], _KIND_ORDER[a.kind]))

"""Loss and accuracy curves of a fine-tuning job, gathered from events and the results file.

Why this is careful: the events list comes newest first in pages that overlap from one poll to
the next, some providers send only the message text ("Step 3/9: training loss=0.15, ..."), and
the results CSV may arrive base64-encoded with blank cells. :class:`MetricsAccumulator` keeps
each step once whatever the order, and :class:`MetricSeries` hands the chart compact arrays
(``array('l')`` steps, ``array('d')`` values) that stay cheap at 50,000 points.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

METRIC_NAMES: tuple[str, ...] = (
    "train_loss",
    "valid_loss",
    "full_valid_loss",
    "train_mean_token_accuracy",
    "valid_mean_token_accuracy",
    "full_valid_mean_token_accuracy",
)
_INDEX = {name: index for index, name in enumerate(METRIC_NAMES)}
_CSV_COLUMNS = {
    **{name: name for name in METRIC_NAMES},
    "train_accuracy": "train_mean_token_accuracy",
    "valid_accuracy": "valid_mean_token_accuracy",
    "full_valid_accuracy": "full_valid_mean_token_accuracy",
}
_TEXT_NAMES = {
    "training loss": "train_loss",
    "validation loss": "valid_loss",
    "full validation loss": "full_valid_loss",
    "training accuracy": "train_mean_token_accuracy",
    "validation accuracy": "valid_mean_token_accuracy",
    "full validation accuracy": "full_valid_mean_token_accuracy",
}
_WORD_FORMS = {"train": "training", "valid": "validation", "acc": "accuracy"}
_STEP_TEXT = re.compile(r"^\s*step\s+(\d+)\s*(?:/\s*(\d+))?\s*:(.*)$", re.IGNORECASE | re.DOTALL)
_PAIR_TEXT = re.compile(
    r"([A-Za-z][A-Za-z _]*?)\s*[=:]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
)
_MISSING = math.nan


class MetricsFormatError(ValueError):
    """A results file that cannot be read; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class Curve:
    """One metric over training: ``steps[i]`` is the step of ``values[i]``, steps increasing."""

    steps: array
    values: array

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def last(self) -> float | None:
        """The latest value, or None when the metric has no point yet."""
        return self.values[-1] if self.values else None


def _empty_curve() -> Curve:
    return Curve(array("l"), array("d"))


@dataclass(frozen=True)
class MetricSeries:
    """Every metric's curve plus what the chart needs to draw epochs.

    ``curves`` holds all names of :data:`METRIC_NAMES` (empty curves included);
    ``epoch_starts`` are the first steps of the second and later epochs.
    """

    curves: Mapping[str, Curve]
    total_steps: int | None = None
    n_epochs: int | None = None
    epoch_starts: tuple[int, ...] = ()

    @classmethod
    def empty(cls) -> MetricSeries:
        """A series with no points (a job that has not started)."""
        return cls({name: _empty_curve() for name in METRIC_NAMES})

    def __getitem__(self, name: str) -> Curve:
        return self.curves[name]

    @property
    def is_empty(self) -> bool:
        """True when no metric has a point."""
        return not any(len(curve) for curve in self.curves.values())

    @property
    def last_step(self) -> int | None:
        """The latest step any metric reached."""
        ends = [curve.steps[-1] for curve in self.curves.values() if len(curve)]
        return max(ends) if ends else None


def epoch_boundaries(
    total_steps: int | None,
    n_epochs: int | None,
    full_valid_steps: Sequence[int] = (),
    last_step: int | None = None,
) -> tuple[int, ...]:
    """First steps of epochs 2, 3, …: from total_steps and n_epochs when both are known,
    else one step after each full-validation point (computed at the end of every epoch)."""
    if total_steps and n_epochs and 1 < n_epochs <= total_steps:
        return tuple(k * total_steps // n_epochs + 1 for k in range(1, n_epochs))
    end = total_steps or last_step
    return tuple(sorted({s + 1 for s in full_valid_steps if end is None or s < end}))


# --------------------------------------------------------------------------------------------
# Reading values
# --------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _step(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        step = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.strip().isdigit()
    ):
        step = int(value)
    else:
        return None
    return step if 0 <= step < 2**31 else None


def _text_name(key: str) -> str | None:
    words = [_WORD_FORMS.get(w, w) for w in key.lower().replace("_", " ").split()]
    return _TEXT_NAMES.get(" ".join(w for w in words if w not in ("mean", "token")))


def parse_metrics_message(message: str) -> tuple[int, int | None, dict[str, float]] | None:
    """(step, total steps, values) from "Step 300/300: training loss=0.15, ...", or None."""
    match = _STEP_TEXT.match(message)
    if match is None:
        return None
    values: dict[str, float] = {}
    for key, raw in _PAIR_TEXT.findall(match.group(3)):
        name = _text_name(key)
        number = _number(raw)
        if name is not None and number is not None:
            values.setdefault(name, number)
    if not values:
        return None
    step = int(match.group(1))
    total = int(match.group(2)) if match.group(2) else None
    return step, total, values


def decode_results(content: str | bytes) -> str:
    """The results CSV as text, decoding base64 when it does not start with ``step``."""
    raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if raw.lstrip()[:4].lower() == b"step":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MetricsFormatError("The results file is not UTF-8 text.") from exc
    if not raw.strip():
        raise MetricsFormatError("The results file is empty.")
    try:
        decoded = base64.b64decode(b"".join(raw.split()), validate=True)
        text = decoded.decode("utf-8").removeprefix("\ufeff")
    except (binascii.Error, ValueError) as exc:
        raise MetricsFormatError(
            "The results file is neither a CSV table starting with 'step' nor base64 text."
        ) from exc
    if text.lstrip()[:4].lower() != "step":
        raise MetricsFormatError("The decoded results file does not start with a 'step' column.")
    return text


# --------------------------------------------------------------------------------------------
# Accumulating
# --------------------------------------------------------------------------------------------


class MetricsAccumulator:
    """Collects metric points from event pages and results files, each step once.

    Event ids already seen are skipped; a step seen again only fills values it lacked, except
    that exact numbers (event ``data``, the results file) replace the rounded ones read from a
    message's text.
    """

    def __init__(self) -> None:
        self._rows: dict[int, array] = {}
        self._approximate: set[int] = set()
        self._event_ids: set[str] = set()
        self._total_steps: int | None = None
        self._cached: MetricSeries | None = None
        self._cached_epochs: int | None = None

    def __len__(self) -> int:
        """The number of steps with at least one value."""
        return len(self._rows)

    @property
    def total_steps(self) -> int | None:
        """The job's total steps as the events last said, if they did."""
        return self._total_steps

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Take one page of events (any order, repeats welcome); returns steps added or filled."""
        return sum(self.add_event(event) for event in events)

    def add_event(self, event: Mapping[str, Any]) -> bool:
        """Take one event; True when it added or filled a step. Non-metrics events are ignored."""
        if not isinstance(event, Mapping):
            return False
        event_id = event.get("id")
        if isinstance(event_id, str) and event_id:
            if event_id in self._event_ids:
                return False
            self._event_ids.add(event_id)
        kind = event.get("type")
        data = event.get("data")
        if kind in ("metrics", None) and isinstance(data, Mapping):
            step = _step(data.get("step"))
            values = {
                name: number
                for name in METRIC_NAMES
                if (number := _number(data.get(name))) is not None
            }
            if step is not None and values:
                self._note_total(_step(data.get("total_steps")))
                return self._merge(step, values, exact=True)
        message = event.get("message")
        if kind not in ("metrics", "message", None) or not isinstance(message, str):
            return False
        parsed = parse_metrics_message(message)
        if parsed is None:
            return False
        step, total, values = parsed
        self._note_total(total)
        return self._merge(step, values, exact=False)

    def merge_results_csv(self, content: str | bytes) -> int:
        """Merge a results file (plain or base64); returns steps added or filled.

        Columns ``train_accuracy`` and ``valid_mean_token_accuracy`` map to the event names;
        unknown columns, blank cells and rows without a step are skipped.
        """
        reader = csv.reader(io.StringIO(decode_results(content)))
        header = [cell.strip().lower() for cell in next(reader, [])]
        if "step" not in header:
            raise MetricsFormatError("The results file has no 'step' column.")
        step_column = header.index("step")
        columns = [(i, _CSV_COLUMNS[h]) for i, h in enumerate(header) if h in _CSV_COLUMNS]
        changed = 0
        for row in reader:
            if step_column >= len(row):
                continue
            step = _step(row[step_column])
            if step is None:
                continue
            values = {
                name: number
                for i, name in columns
                if i < len(row) and (number := _number(row[i])) is not None
            }
            if values:
                changed += self._merge(step, values, exact=True)
        return changed

    def _note_total(self, total: int | None) -> None:
        if total is not None and total > 0 and total != self._total_steps:
            self._total_steps = total
            self._cached = None

    def _merge(self, step: int, values: Mapping[str, float], *, exact: bool) -> bool:
        row = self._rows.get(step)
        if row is None:
            row = array("d", [_MISSING] * len(METRIC_NAMES))
            self._rows[step] = row
            if not exact:
                self._approximate.add(step)
        replace = exact and step in self._approximate
        changed = False
        for name, value in values.items():
            index = _INDEX[name]
            old = row[index]
            if math.isnan(old) or (replace and old != value):
                row[index] = value
                changed = True
        if replace:
            self._approximate.discard(step)
        if changed:
            self._cached = None
        return changed

    def series(self, n_epochs: int | None = None) -> MetricSeries:
        """The curves so far; ``n_epochs`` (when known) places the epoch lines exactly."""
        if self._cached is not None and self._cached_epochs == n_epochs:
            return self._cached
        ordered = sorted(self._rows)
        curves: dict[str, Curve] = {}
        for name, index in _INDEX.items():
            steps = array("l")
            values = array("d")
            for step in ordered:
                value = self._rows[step][index]
                if not math.isnan(value):
                    steps.append(step)
                    values.append(value)
            curves[name] = Curve(steps, values)
        last = ordered[-1] if ordered else None
        full_steps = (
            curves["full_valid_loss"].steps or curves["full_valid_mean_token_accuracy"].steps
        )
        series = MetricSeries(
            curves,
            total_steps=self._total_steps,
            n_epochs=n_epochs,
            epoch_starts=epoch_boundaries(self._total_steps, n_epochs, full_steps, last),
        )
        self._cached, self._cached_epochs = series, n_epochs
        return series


# --------------------------------------------------------------------------------------------
# For the chart and export
# --------------------------------------------------------------------------------------------


def downsample(
    steps: Sequence[int], values: Sequence[float], max_points: int
) -> tuple[array, array]:
    """At most ``max_points`` points that keep the curve's shape, for a fast chart.

    The first and last points are kept; the points between are cut into
    ``(max_points - 2) // 2`` buckets of equal count (bucket ``b`` covers indices
    ``1 + b*m//k`` up to ``1 + (b+1)*m//k``, ``m`` interior points, ``k`` buckets), and each
    bucket keeps its minimum and maximum in step order. Values must be finite.
    """
    if len(steps) != len(values):
        raise ValueError("Steps and values must have the same length.")
    if max_points < 4:
        raise ValueError(f"Keep at least 4 points, not {max_points}.")
    count = len(steps)
    if count <= max_points:
        return array("l", steps), array("d", values)
    source = values if isinstance(values, array) else array("d", values)
    out_steps = array("l", [steps[0]])
    out_values = array("d", [source[0]])
    buckets = (max_points - 2) // 2
    interior = count - 2
    for bucket in range(buckets):
        start = 1 + bucket * interior // buckets
        stop = 1 + (bucket + 1) * interior // buckets
        if start >= stop:
            continue
        chunk = source[start:stop]
        low = start + chunk.index(min(chunk))
        high = start + chunk.index(max(chunk))
        for index in sorted({low, high}):
            out_steps.append(steps[index])
            out_values.append(source[index])
    out_steps.append(steps[-1])
    out_values.append(source[-1])
    return out_steps, out_values


def to_csv(series: MetricSeries) -> str:
    """The curves as one CSV table (``step`` then every metric; blank where none), for export."""
    table: dict[int, list[str]] = {}
    for index, name in enumerate(METRIC_NAMES):
        curve = series[name]
        for step, value in zip(curve.steps, curve.values, strict=True):
            row = table.get(step)
            if row is None:
                row = table[step] = [""] * len(METRIC_NAMES)
            row[index] = repr(value)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *METRIC_NAMES])
    for step in sorted(table):
        writer.writerow([step, *table[step]])
    return out.getvalue()

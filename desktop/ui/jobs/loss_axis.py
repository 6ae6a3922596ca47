"""The loss plot's value axis: on a logarithmic scale, labels that never overlap and read as
plain numbers (1, 2, 5… of each decade, or round values on a short range), and unlabelled ticks
between them.

It lives apart from the chart because it is a pyqtgraph class: the chart loads pyqtgraph only
when it first draws, and imports this module then.
"""

from __future__ import annotations

import itertools
import math

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetricsF

#: Leading digits of the labelled values in each decade, from the sparsest choice to the
#: densest: the densest whose labels do not touch is used.
_LOG_LABEL_DIGITS: tuple[tuple[int, ...], ...] = (
    (1,),
    (1, 3),
    (1, 2, 5),
    (1, 2, 3, 5),
    (1, 2, 3, 4, 5, 6, 7, 8, 9),
)
#: Smallest room between two unlabelled ticks, in pixels.
_MIN_MINOR_GAP = 4.0


def log_ticks(
    low: float, high: float, pixels: float, min_gap: float
) -> tuple[list[float], list[float]]:
    """Labelled and unlabelled tick positions for a logarithmic axis showing 10**low to
    10**high over ``pixels``, labels at least ``min_gap`` pixels apart.

    Labels are 1, 2, 5… of each decade (every few decades on a very tall range), or evenly
    spaced round values (0.4, 0.6, 0.8) when those give more labels on a short range.
    Positions are logarithms, as pyqtgraph places them; the unlabelled ticks mark 1 to 9 of
    each decade.
    """
    low, high = sorted((low, high))
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low or pixels <= 0:
        return [], []
    per_decade = pixels / (high - low)
    first, last = math.floor(low), math.ceil(high)
    labelled: list[float] = []
    for digits in reversed(_LOG_LABEL_DIGITS):
        candidates = _decade_positions(first, last, digits, low, high)
        if len(candidates) >= 2 and _min_gap(candidates) * per_decade >= min_gap:
            labelled = candidates
            break
    if not labelled:
        every = max(1, math.ceil(min_gap / per_decade))
        labelled = [float(d) for d in range(first, last + 1) if d % every == 0 and low <= d <= high]
    even = _even_ticks(low, high, per_decade, min_gap)
    if len(even) > len(labelled):
        labelled = even
    minor = [
        p
        for p in _decade_positions(first, last, _LOG_LABEL_DIGITS[-1], low, high)
        if not any(abs(p - q) < 1e-9 for q in labelled)
    ]
    if len(minor) >= 2 and _min_gap(minor) * per_decade < _MIN_MINOR_GAP:
        minor = []
    return labelled, minor


def _decade_positions(
    first: int, last: int, digits: tuple[int, ...], low: float, high: float
) -> list[float]:
    positions = (d + math.log10(digit) for d in range(first, last + 1) for digit in digits)
    return [p for p in positions if low - 1e-9 <= p <= high + 1e-9]


def _min_gap(positions: list[float]) -> float:
    return min((b - a for a, b in itertools.pairwise(positions)), default=math.inf)


def _even_ticks(low: float, high: float, per_decade: float, min_gap: float) -> list[float]:
    """Round values evenly spaced between 10**low and 10**high, as far apart as the labels
    need where they are closest (at the top of a logarithmic axis)."""
    if not -300 < low < high < 300:
        return []  # beyond what a float holds (a view zoomed far out)
    bottom, top = 10.0**low, 10.0**high
    if top - bottom <= top * 1e-6:
        return []  # labels of six significant digits could not tell the values apart
    step = 10.0 ** math.floor(math.log10(top - bottom))
    for factor in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0):
        candidate = step * factor
        values = [
            candidate * k
            for k in range(math.ceil(bottom / candidate), math.floor(top / candidate) + 1)
        ]
        positions = [math.log10(v) for v in values if v > 0]
        if len(positions) < 2 or _min_gap(positions) * per_decade >= min_gap:
            return positions
    return []


def _log_label(position: float) -> str:
    """The value at a logarithmic position as people write it: 0.2, 1, 50, 0.045."""
    if not -300 < position < 300:
        return f"1e{round(position)}"
    return f"{10.0**position:.6g}"


class LossAxis(pg.AxisItem):
    """pyqtgraph's axis, with ticks that suit a logarithmic scale: labels that never overlap
    and read as plain numbers, and unlabelled ticks between them."""

    def tickValues(self, low: float, high: float, size: float) -> list:
        """Labelled ticks, then unlabelled ones (pyqtgraph override)."""
        if not self.logMode:
            return super().tickValues(low, high, size)
        font = self.style["tickFont"] or QFont()
        min_gap = QFontMetricsF(font).height() * 1.4
        labelled, minor = log_ticks(low, high, size, min_gap)
        return [(1.0, labelled), (None, minor)]

    def tickStrings(self, values: list[float], scale: float, spacing: float | None) -> list[str]:
        """Plain numbers for labelled ticks, nothing for the others (pyqtgraph override)."""
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        if spacing is None:
            return ["" for _ in values]
        return [_log_label(value) for value in values]

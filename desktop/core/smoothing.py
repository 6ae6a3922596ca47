"""Smoothing a training curve without making it lag: the debiased exponential moving average.

Why debiased: a moving average that starts from the first value keeps a share of that value
for a long time (0.99 ** 100 is still a third), so on a loss that falls fast the smoothed line
stays far above the loss. TensorBoard starts the average at zero and divides by the weight the
values seen so far carry (1 - weight ** n); every output is then a true weighted mean of the
values so far, the first value included, and soon forgets the start.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class DebiasedEma:
    """The running state of one curve's average, so new points only extend it.

    ``weight`` in [0, 1) is how much of the average carries over at each step (TensorBoard's
    "smoothing"): 0 gives the raw values, 0.9 averages over roughly the last ten points. A
    non-finite value repeats the previous output (NaN before the first finite value); each
    output lies between the previous output and the new value.
    """

    weight: float
    _decay: float = 1.0
    _last: float = math.nan

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight < 1.0:
            raise ValueError(
                f"The smoothing weight must be at least 0 and below 1, not {self.weight!r}."
            )

    def extend(self, values: Iterable[float]) -> array:
        """The smoothed values of ``values``, continuing from the ones seen before.

        Kept as the mean itself rather than TensorBoard's running sum: each step mixes the
        previous mean and the new value (the new value's share is 1 - weight over the weight
        of everything seen), which never overflows on extreme numbers.
        """
        weight = self.weight
        smoothed = array("d")
        for raw in values:
            value = float(raw)
            if not math.isfinite(value):
                smoothed.append(self._last)
                continue
            self._decay *= weight
            previous = self._last
            if math.isnan(previous):
                self._last = value
            else:
                share = (1.0 - weight) / (1.0 - self._decay)
                mixed = (1.0 - share) * previous + share * value
                self._last = min(max(mixed, min(previous, value)), max(previous, value))
            smoothed.append(self._last)
        return smoothed


def debiased_ema(values: Iterable[float], weight: float) -> array:
    """``values`` smoothed with a debiased exponential moving average of ``weight``."""
    return DebiasedEma(weight).extend(values)

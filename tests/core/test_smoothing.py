"""The debiased moving average behind the loss chart's smoothing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.core.smoothing import DebiasedEma, debiased_ema

finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
weights = st.floats(min_value=0.0, max_value=0.999)


def tensorboard(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing as it is written there: a running sum started at zero."""
    last, out = 0.0, []
    for n, value in enumerate(values, 1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out


def test_it_is_tensorboards_debiased_average():
    values = [3.0, 2.0, 1.0, 0.5, 0.4, 0.45, 0.3]
    assert list(debiased_ema(values, 0.6)) == pytest.approx(tensorboard(values, 0.6))
    assert list(debiased_ema([], 0.6)) == []


def test_a_falling_loss_is_not_held_up_by_its_first_value():
    loss = [3.0] + [0.2] * 99
    assert debiased_ema(loss, 0.95)[-1] == pytest.approx(0.2, abs=0.01)


@given(st.lists(finite, max_size=60))
def test_weight_zero_is_the_raw_curve(values):
    assert list(debiased_ema(values, 0.0)) == values


@given(st.lists(finite, min_size=1, max_size=60), weights)
def test_it_starts_on_the_first_value_and_stays_within_the_values_seen(values, weight):
    smoothed = debiased_ema(values, weight)
    assert smoothed[0] == values[0]
    for i, value in enumerate(smoothed):
        assert min(values[: i + 1]) <= value <= max(values[: i + 1])


@given(st.lists(finite, max_size=40), st.lists(finite, max_size=40), weights)
def test_extending_gives_what_one_pass_gives(head, tail, weight):
    state = DebiasedEma(weight)
    assert list(state.extend(head)) + list(state.extend(tail)) == list(
        debiased_ema(head + tail, weight)
    )


def test_non_finite_values_repeat_the_previous_output():
    out = list(debiased_ema([math.nan, 1.0, math.inf, 3.0], 0.5))
    assert math.isnan(out[0])
    assert out[1:] == [1.0, 1.0, pytest.approx(2.0 + 1 / 3)]


@pytest.mark.parametrize("weight", [1.0, -0.1, 1.5, math.nan])
def test_weights_outside_zero_to_one_are_refused(weight):
    with pytest.raises(ValueError):
        DebiasedEma(weight)

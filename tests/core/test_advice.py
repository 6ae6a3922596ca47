"""Advice fires on the curve it describes, names concrete numbers, and keeps quiet on health."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from desktop.core.advice import MIN_POINTS, Advice, AdviceKind, Severity, advise
from desktop.core.metrics import MetricsAccumulator, MetricSeries

Shape = Callable[[float], float]
HP = {"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 1.8}


def curves(
    train: Shape,
    valid: Shape | None = None,
    *,
    n: int = 1000,
    noise: float = 0.0,
    seed: int = 0,
    valid_every: int = 1,
    total: int | None = None,
    n_epochs: int | None = 4,
) -> MetricSeries:
    """Synthetic per-step losses with multiplicative (log-normal) noise, as small batches give."""
    rng = random.Random(seed)

    def noisy(value: float) -> float:
        return value * math.exp(rng.gauss(0.0, noise) - noise * noise / 2) if noise else value

    events = []
    for step in range(1, n + 1):
        p = step / (total or n)
        data = {"step": step, "total_steps": total or n, "train_loss": noisy(train(p))}
        if valid is not None and step % valid_every == 0:
            data["valid_loss"] = noisy(valid(p))
        events.append({"id": f"e{step}", "type": "metrics", "data": data})
    acc = MetricsAccumulator()
    acc.add_events(events)
    return acc.series(n_epochs=n_epochs)


def healthy_train(p: float) -> float:
    return 2.0 * math.exp(-5 * p) + 0.3


def healthy_valid(p: float) -> float:
    return 2.1 * math.exp(-5 * p) + 0.35


def overfit_train(p: float) -> float:
    return 2.0 * math.exp(-5 * p) + 0.3 - 0.1 * p


def overfit_valid(p: float) -> float:
    return 2.1 * math.exp(-8 * p) + 0.35 + 0.5 * max(0.0, p - 0.35)


def linear_train(p: float) -> float:
    return 2.0 - 0.9 * p


def flat_train(p: float) -> float:
    return 2.0


def swinging_train(p: float) -> float:
    return 1.5 * math.exp(-4 * p) + 0.5 + 0.25 * math.sin(2 * math.pi * 7 * p)


def kinds(found: list[Advice]) -> list[AdviceKind]:
    return [a.kind for a in found]


def only(found: list[Advice], kind: AdviceKind) -> Advice:
    matches = [a for a in found if a.kind is kind]
    assert len(matches) == 1, kinds(found)
    return matches[0]


# ------------------------------------------------------------------------------ healthy


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.3, 0.6])
@pytest.mark.parametrize("valid_every", [1, 10])
def test_no_false_alarm_on_healthy_noisy_curves(noise, valid_every):
    for seed in range(8):
        series = curves(
            healthy_train, healthy_valid, noise=noise, seed=seed, n=600, valid_every=valid_every
        )
        found = advise(series, hyperparameters=HP)
        assert kinds(found) == [AdviceKind.GOOD_FIT], (seed, [a.message for a in found])


def test_good_fit_says_so_with_numbers():
    found = advise(curves(healthy_train, healthy_valid), hyperparameters=HP)
    advice = only(found, AdviceKind.GOOD_FIT)
    assert advice.severity is Severity.GOOD
    assert advice.message == (
        "Training looks healthy: the training loss fell from about 1.9 in the first steps to "
        "about 0.32 in the last ones, and the validation loss followed it, ending at 0.364."
    )  # typical levels said as such, to two figures; the last validation value as it is
    assert dict(advice.evidence)["training loss at the end"] == pytest.approx(0.31, abs=0.02)


def test_a_job_still_running_is_not_called_underfit():
    series = curves(linear_train, n=500, total=1000)
    found = advise(series, hyperparameters=HP)
    assert kinds(found) == [AdviceKind.GOOD_FIT]
    assert found[0].message.startswith("So far training looks healthy")


# ------------------------------------------------------------------------------ overfitting


@pytest.mark.parametrize(("noise", "n"), [(0.0, 1000), (0.1, 1000), (0.3, 3000)])
def test_overfitting_fires_and_suggests_fewer_epochs(noise, n):
    for seed in range(3):
        found = advise(
            curves(overfit_train, overfit_valid, noise=noise, seed=seed, n=n), hyperparameters=HP
        )
        advice = only(found, AdviceKind.OVERFITTING)
        assert advice.severity is Severity.WARNING
        assert advice.suggestion == "Try 2 epochs instead of 4."
        evidence = dict(advice.evidence)
        assert evidence["validation loss at the end"] > evidence["lowest validation loss"] * 1.2
        assert 300 <= evidence["step of the lowest validation loss"] / n * 1000 <= 500


def test_overfitting_from_end_of_epoch_validation_alone():
    acc = MetricsAccumulator()
    full = {100: 1.0, 200: 0.8, 300: 0.86, 400: 0.97}
    acc.add_events(
        {
            "id": f"e{s}",
            "type": "metrics",
            "data": {"step": s, "total_steps": 400, "train_loss": 2.0 - s / 250}
            | ({"full_valid_loss": full[s]} if s in full else {}),
        }
        for s in range(1, 401)
    )
    found = advise(acc.series(), hyperparameters=HP, n_examples=80)
    advice = only(found, AdviceKind.OVERFITTING)
    assert "full validation loss was lowest (0.8) around step 200" in advice.message
    assert advice.suggestion == (
        "Try 2 epochs instead of 4, or add more varied examples (this dataset has 80)."
    )


def test_overfitting_without_known_epochs_still_gives_a_direction():
    found = advise(curves(overfit_train, overfit_valid, n_epochs=None), hyperparameters={})
    assert only(found, AdviceKind.OVERFITTING).suggestion == (
        "Train for fewer epochs (1 or 2 fewer than this job used)."
    )


def test_validation_rising_while_training_also_rises_is_not_overfitting():
    found = advise(curves(lambda p: 1.0 + 0.5 * p, lambda p: 1.0 + 0.6 * p), hyperparameters=HP)
    assert AdviceKind.OVERFITTING not in kinds(found)


# ------------------------------------------------------------------------------ underfitting


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_still_falling_at_the_end_suggests_more_epochs(noise):
    found = advise(curves(linear_train, noise=noise, n=2000), hyperparameters=HP)
    advice = only(found, AdviceKind.UNDERFITTING)
    assert advice.severity is Severity.WARNING
    assert advice.suggestion == "Try 6 epochs instead of 4."
    assert "still falling steeply" in advice.message
    assert dict(advice.evidence)["share of the total drop in the last fifth"] == pytest.approx(
        0.25, abs=0.05
    )


def test_a_gently_slowing_curve_gets_one_more_epoch():
    found = advise(curves(lambda p: 2.0 * math.exp(-1.3 * p) + 0.2), hyperparameters=HP)
    assert only(found, AdviceKind.UNDERFITTING).suggestion == "Try 5 epochs instead of 4."


def test_still_falling_without_known_epochs():
    found = advise(curves(linear_train, n_epochs=None), hyperparameters={"n_epochs": "auto"})
    assert only(found, AdviceKind.UNDERFITTING).suggestion == (
        "Train for 2 more epochs than this job used."
    )


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_a_loss_that_barely_moved_suggests_a_higher_learning_rate(noise):
    found = advise(curves(flat_train, noise=noise), hyperparameters=HP)
    advice = only(found, AdviceKind.UNDERFITTING)
    assert advice.message.startswith("The model is hardly learning")
    assert advice.suggestion == "Raise the learning-rate multiplier from 1.8 to 3.6."
    auto = advise(
        curves(flat_train, noise=noise), hyperparameters={"learning_rate_multiplier": "auto"}
    )
    assert "above the automatic choice" in only(auto, AdviceKind.UNDERFITTING).suggestion


def test_a_service_that_takes_the_rate_itself_is_told_about_the_rate_not_a_multiplier():
    found = advise(curves(flat_train), hyperparameters={"learning_rate": 2e-05, "n_epochs": 3})
    assert only(found, AdviceKind.UNDERFITTING).suggestion == (
        "Raise the learning rate from 2e-05 to 4e-05."
    )
    auto = advise(curves(flat_train), hyperparameters={"learning_rate": "auto"})
    assert only(auto, AdviceKind.UNDERFITTING).suggestion == (
        "Set the learning rate to about twice the automatic choice."
    )


def test_a_flat_but_already_low_loss_is_not_underfitting():
    found = advise(curves(lambda p: 0.1), hyperparameters=HP)
    assert kinds(found) == [AdviceKind.GOOD_FIT]


# ------------------------------------------------------------------------------ oscillation


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_large_swings_suggest_a_lower_learning_rate_or_larger_batch(noise):
    found = advise(curves(swinging_train, noise=noise, n=2000), hyperparameters=HP)
    assert kinds(found) == [AdviceKind.OSCILLATION]
    advice = found[0]
    assert advice.suggestion == (
        "Lower the learning-rate multiplier from 1.8 to 0.9 or raise the batch size from 8 to 16."
    )
    assert dict(advice.evidence)["changes of direction"] >= 3


def test_oscillation_advice_without_known_settings():
    found = advise(curves(swinging_train), hyperparameters=None)
    assert only(found, AdviceKind.OSCILLATION).suggestion == (
        "Set a lower learning-rate multiplier than the automatic choice, e.g. 0.5 or set a "
        "larger batch size."
    )


# ------------------------------------------------------------------------------ data size


def test_small_dataset_advice_comes_with_the_rest():
    found = advise(curves(healthy_train, healthy_valid), hyperparameters=HP, n_examples=20)
    assert kinds(found) == [AdviceKind.SMALL_DATASET, AdviceKind.GOOD_FIT]
    assert "only 20 examples" in found[0].message
    big = advise(curves(healthy_train, healthy_valid), hyperparameters=HP, n_examples=500)
    assert kinds(big) == [AdviceKind.GOOD_FIT]


def test_too_few_points_gives_no_advice_but_says_so():
    found = advise(curves(overfit_train, overfit_valid, n=MIN_POINTS - 1), hyperparameters=HP)
    assert kinds(found) == [AdviceKind.NOT_ENOUGH_DATA]
    assert f"Only {MIN_POINTS - 1} training steps" in found[0].message
    assert kinds(advise(MetricSeries.empty())) == [AdviceKind.NOT_ENOUGH_DATA]


def test_step_and_example_counts_read_naturally():
    none = advise(MetricSeries.empty())[0]
    assert none.message.startswith("No training steps reported yet")
    assert "0 training" not in none.message
    one = advise(curves(healthy_train, n=1))[0]
    assert one.message.startswith("Only 1 training step reported so far")
    small = advise(curves(healthy_train, healthy_valid), hyperparameters=HP, n_examples=1)
    assert "only 1 example;" in only(small, AdviceKind.SMALL_DATASET).message


# ------------------------------------------------------------------------------ general


def test_advice_is_deterministic_and_warnings_come_first():
    series = curves(overfit_train, overfit_valid, noise=0.1)
    first = advise(series, hyperparameters=HP, n_examples=30)
    assert first == advise(series, hyperparameters=HP, n_examples=30)
    assert kinds(first) == [AdviceKind.OVERFITTING, AdviceKind.SMALL_DATASET]
    assert all(a.message.endswith(".") and a.suggestion.endswith(".") for a in first)


# ------------------------------------------------------------------ losses only at checkpoints


def checkpoints(
    train: list[float], valid: list[float] | None = None, gap: int = 30
) -> MetricSeries:
    """A provider that reports the loss once per checkpoint (an epoch), ``gap`` steps apart."""
    events = []
    for i, loss in enumerate(train):
        data = {"step": (i + 1) * gap, "train_loss": loss}
        if valid is not None:
            data["valid_loss"] = valid[i]
        events.append({"id": f"c{i}", "type": "metrics", "data": data})
    acc = MetricsAccumulator()
    acc.add_events(events)
    return acc.series()


def test_a_few_checkpoints_are_judged_instead_of_waiting_for_steps_that_never_come():
    (advice,) = advise(checkpoints([1.9, 0.9, 0.5, 0.4], [2.0, 1.0, 0.6, 0.55]))
    assert advice.kind is AdviceKind.GOOD_FIT
    assert advice.message == "Across 4 checkpoints the training loss fell from 1.9 to 0.4."


def test_a_validation_loss_that_turns_up_at_the_last_checkpoints_is_named():
    advice = advise(checkpoints([1.9, 0.9, 0.5, 0.3], [2.0, 1.0, 1.1, 1.3]))
    assert advice[0].kind is AdviceKind.OVERFITTING
    assert "turned up after step 60" in advice[0].message
    assert advice[0].suggestion.startswith("Use the checkpoint at step 60")


def test_a_loss_that_barely_moved_across_checkpoints_says_so():
    advice = advise(checkpoints([1.9, 1.85, 1.8]))
    assert advice[0].kind is AdviceKind.UNDERFITTING
    assert "barely fell (from 1.9 to 1.8)" in advice[0].message


def test_a_few_dense_steps_still_wait_for_more():
    (advice,) = advise(checkpoints([1.9, 1.5, 1.2], gap=1))
    assert advice.kind is AdviceKind.NOT_ENOUGH_DATA

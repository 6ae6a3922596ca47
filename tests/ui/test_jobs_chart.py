"""The loss chart and the job tables: thinning, smoothing, zoom, export, and responsiveness."""

from __future__ import annotations

import csv
import itertools
import math
import random
import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QColor, QImage, QPainter

from desktop.api.jobs_service import JobTracker
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import CheckpointSummary
from desktop.core.metrics import MetricsAccumulator, MetricSeries
from desktop.core.settings import AppSettings
from desktop.core.smoothing import debiased_ema
from desktop.ui.common import palette
from desktop.ui.jobs.job_models import (
    CheckpointsTableModel,
    EventsTableModel,
    format_duration,
)
from desktop.ui.jobs.job_view import JobRecord, JobView
from desktop.ui.jobs.jobs_panel import JobsPanel
from desktop.ui.jobs.loss_axis import log_ticks
from desktop.ui.jobs.loss_chart import MAX_DRAWN_POINTS, LossChart
from tests.api.keyrings import MemoryKeyring
from tests.ui.test_jobs_helpers import destroy

pytestmark = pytest.mark.gui

STEPS = 50_000


def metric_events(steps: int, epochs: int = 5, seed: int = 3) -> list[dict]:
    """A long run's metrics events, newest first as the API sends them."""
    rng = random.Random(seed)
    per_epoch = steps // epochs
    events = []
    for step in range(1, steps + 1):
        loss = 2.2 * math.exp(-3 * step / steps) + 0.08 + rng.gauss(0, 0.04)
        data = {
            "step": step,
            "total_steps": steps,
            "train_loss": loss,
            "train_mean_token_accuracy": 1 - loss / 2.6,
            "valid_loss": loss * 1.08,
        }
        if step % per_epoch == 0:
            data["full_valid_loss"] = loss * 1.1
        events.append(
            {
                "id": f"ftevent-{step}",
                "created_at": 1_763_769_600 + step,
                "level": "info",
                "message": f"Step {step}/{steps}: training loss={loss:.2f}",
                "type": "metrics",
                "data": data,
            }
        )
    events.reverse()
    return events


@pytest.fixture(scope="module")
def long_events() -> list[dict]:
    return metric_events(STEPS)


@pytest.fixture
def owned():
    """Widgets the test creates; deleted on the UI thread once background work is done."""
    widgets: list = []
    yield widgets
    assert QThreadPool.globalInstance().waitForDone(10_000)
    for widget in widgets:
        destroy(widget)


@pytest.fixture
def chart(owned) -> LossChart:
    chart = LossChart()
    owned.append(chart)
    chart.resize(1100, 650)
    chart.show()
    assert chart.plots  # made now rather than after the first paint
    return chart


def small_series(steps: int = 30) -> MetricSeries:
    metrics = MetricsAccumulator()
    metrics.add_events(metric_events(steps, epochs=3))
    return metrics.series(n_epochs=3)


def test_fifty_thousand_steps_are_thinned_and_drawn_quickly(qtbot, chart, long_events):
    metrics = MetricsAccumulator()
    metrics.add_events(long_events)
    chart.set_series(metrics.series(n_epochs=5))
    assert chart.smoothing_pending  # long curves are smoothed on the thread pool
    assert len(chart.curve_items["train_loss"].xData) <= MAX_DRAWN_POINTS  # raw, meanwhile
    qtbot.waitUntil(lambda: not chart.smoothing_pending, timeout=10_000)
    for name in ("train_loss", "valid_loss", "train_mean_token_accuracy"):
        drawn = chart.curve_items[name].xData
        assert len(drawn) <= MAX_DRAWN_POINTS
        assert drawn[0] == 1 and drawn[-1] == STEPS  # the whole run is in view
        assert chart.raw_items[name].isVisible()  # smoothed on top of the faint raw curve
    assert len(chart.curve_items["full_valid_loss"].xData) == 5
    assert [line.value() for _p, line in chart._epoch_lines][::2] == [
        10000.5,
        20000.5,
        30000.5,
        40000.5,
    ]

    step = STEPS + 1  # one more step, as a poll brings it
    metrics.add_event(
        {"id": "ftevent-next", "type": "metrics", "data": {"step": step, "train_loss": 0.1}}
    )
    chart.set_series(metrics.series(n_epochs=5))
    assert not chart.smoothing_pending  # the smoothing was only extended
    drawn = chart.curve_items["train_loss"].xData
    assert drawn[-1] == step

    chart.loss_plot.getViewBox().setXRange(1000, 1400, padding=0)
    qtbot.waitUntil(lambda: len(chart.curve_items["train_loss"].xData) < 1000, timeout=5000)
    zoomed = chart.curve_items["train_loss"].xData
    assert zoomed[0] <= 1000 and zoomed[-1] >= 1400
    assert list(zoomed[1:-1]) == list(range(int(zoomed[1]), int(zoomed[-2]) + 1))  # every step
    chart.reset_zoom()
    assert chart.curve_items["train_loss"].xData[-1] == step


def test_a_long_job_is_read_on_the_pool_and_shown_whole(
    qtbot, tmp_path, long_events, owned, monkeypatch
):
    """A 50,000-step job is read off the UI thread and then shown whole; how long the UI
    thread pauses meanwhile is measured by tests/benchmarks/bench_long_job.py."""
    readers: list[threading.Thread] = []
    original = JobTracker.open

    def watched(*args, **kwargs):
        readers.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(JobTracker, "open", watched)
    open_long_job(qtbot, tmp_path, long_events, owned)
    assert readers and threading.main_thread() not in readers


def open_long_job(qtbot, tmp_path, long_events, owned) -> None:
    """Open a 50,000-step job in the Jobs tab and wait until all of it is shown."""
    archive = JobArchive(tmp_path / "archive")
    archive.save_job(
        "old-provider",
        {
            "id": "ftjob-long",
            "status": "succeeded",
            "model": "gpt-4.1-mini-2025-04-14",
            "created_at": 1_763_769_600,
            "finished_at": 1_763_769_600 + STEPS,
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 5}}},
        },
    )
    archive.add_events("old-provider", "ftjob-long", long_events)
    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import ProfileStore

    panel = JobsPanel(
        ProfileStore(tmp_path / "config"),
        KeyStore(MemoryKeyring()),
        archive,
        Catalog.load(),
        AppSettings(),
    )
    owned.append(panel)
    panel.resize(1300, 850)
    panel.show()
    qtbot.waitExposed(panel)
    try:
        qtbot.waitUntil(lambda: len(panel.view.chart.series["train_loss"]) == STEPS, timeout=30_000)
    finally:
        panel.shutdown()
    assert QThreadPool.globalInstance().waitForDone(10_000)
    assert panel.view.events_model.rowCount() == STEPS


def test_smoothing_log_scale_and_readout(qtbot, chart):
    series = small_series()
    chart.set_series(series)
    raw = list(series["train_loss"].values)
    smoothed = list(chart.curve_items["train_loss"].yData)
    assert smoothed == pytest.approx(list(debiased_ema(raw, 0.6)))
    assert chart.raw_items["train_loss"].isVisible()
    chart.smoothing.setValue(0)
    assert list(chart.curve_items["train_loss"].yData) == raw
    assert not chart.raw_items["train_loss"].isVisible()
    chart.smoothing.setValue(90)
    # 30 steps are too few to average over the last ten or so: a tenth of them at most
    assert list(chart.curve_items["train_loss"].yData) == pytest.approx(
        list(debiased_ema(raw, 0.75))
    )

    chart.log_scale.setChecked(True)
    assert chart.loss_plot.getAxis("left").logMode
    chart.log_scale.setChecked(False)
    assert not chart.loss_plot.getAxis("left").logMode

    chart.show_readout(10.3)
    text = chart.readout.text()
    assert "Step 10</b> (epoch 1)" in text
    assert f"training loss {raw[9]:.4g}" in text and "smoothed" in text
    chart.show_readout(11)
    assert "(epoch 2)" in chart.readout.text()
    assert chart.cursors[0].value() == 11 and chart.cursors[0].isVisible()


def test_other_runs_can_be_overlaid_and_removed(chart):
    chart.set_series(small_series(30))
    other = small_series(40)
    chart.set_overlay("p/other", "other run", other)
    overlay = chart._overlays["p/other"]
    loss, accuracy = overlay.loss_item, overlay.accuracy_item
    assert len(loss.xData) == 40 and loss in chart.loss_plot.listDataItems()
    # The other run's accuracy is drawn too, smoothed the same way, in the same colour.
    assert len(accuracy.xData) == 40 and accuracy in chart.accuracy_plot.listDataItems()
    raw = list(other["train_mean_token_accuracy"].values)
    assert list(accuracy.yData) == pytest.approx(list(debiased_ema(raw, 0.6)))
    assert accuracy.opts["pen"].color() == loss.opts["pen"].color()
    assert "other run" in [label.text for _sample, label in chart.accuracy_plot.legend.items]
    chart.remove_overlay("p/other")
    assert chart.overlay_keys() == [] and loss not in chart.loss_plot.listDataItems()
    assert accuracy not in chart.accuracy_plot.listDataItems()
    assert "other run" not in [label.text for _sample, label in chart.accuracy_plot.legend.items]


def test_what_the_chart_is_given_before_its_plots_exist_is_drawn_once_they_are(qtbot, owned):
    chart = LossChart()  # never shown, so its plots are not made yet
    owned.append(chart)
    chart.log_scale.setChecked(True)
    chart.set_series(small_series(30))
    chart.set_overlay("p/gone", "removed run", small_series(20))
    chart.set_overlay("p/other", "other run", small_series(40))
    chart.remove_overlay("p/gone")
    plots = chart.plots  # made now, with everything above
    assert list(plots.curve_items["train_loss"].xData) == list(range(1, 31))
    assert not plots.empty_text.isVisible()
    assert plots.loss_plot.getAxis("left").logMode
    assert [line.value() for _plot, line in chart._epoch_lines][::2] == [10.5, 20.5]
    overlay = chart._overlays["p/other"]
    assert len(overlay.loss_item.xData) == 40
    assert overlay.loss_item in plots.loss_plot.listDataItems()
    assert overlay.accuracy_item in plots.accuracy_plot.listDataItems()
    assert overlay.loss_item.opts["pen"].color().name() == palette.SERIES_TEAL.lower()
    assert [label.text for _sample, label in plots.loss_plot.legend.items][-1] == "other run"


def falling_series(steps: int = 120) -> MetricSeries:
    """A loss that falls from 3 to 0.2 within the first quarter of the run, then stays."""
    rng = random.Random(7)
    events = []
    for step in range(1, steps + 1):
        loss = 0.2 + 2.8 * math.exp(-step / 12) + rng.gauss(0, 0.03)
        data = {"step": step, "train_loss": loss, "train_mean_token_accuracy": 1 - loss / 3.5}
        events.append({"id": f"e{step}", "type": "metrics", "data": data})
    metrics = MetricsAccumulator()
    metrics.add_events(events)
    return metrics.series(n_epochs=3)


def test_the_strongest_smoothing_keeps_up_with_a_falling_loss(qtbot, chart):
    series = falling_series()
    chart.set_series(series)
    chart.smoothing.setValue(chart.smoothing.maximum())
    raw = list(series["train_loss"].values)
    smoothed = chart.curve_items["train_loss"].yData
    recent = sum(raw[-20:]) / 20
    assert abs(smoothed[-1] - recent) < 0.05  # not stuck near the start of the run
    assert chart.raw_items["train_loss"].isVisible()
    assert smoothed[0] == pytest.approx(raw[0])  # starts on the loss, not at zero


def drawn_labels(axis) -> list[tuple[float, float, str]]:
    """(top, bottom, text) of each label the axis draws, top first."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return sorted((rect.top(), rect.bottom(), text) for rect, _flags, text in texts)


@pytest.mark.parametrize(("start", "floor"), [(1.1, 0.45), (3.0, 0.2), (30.0, 0.01)])
def test_log_scale_labels_are_plain_numbers_that_never_overlap(qtbot, owned, start, floor):
    chart = LossChart()
    owned.append(chart)
    chart.resize(1000, 380)
    chart.show()
    metrics = MetricsAccumulator()
    rng = random.Random(3)
    events = []
    for step in range(1, 121):
        loss = floor + (start - floor) * math.exp(-step / 12) + rng.gauss(0, 0.02)
        events.append(
            {"id": f"e{step}", "type": "metrics", "data": {"step": step, "train_loss": loss}}
        )
    metrics.add_events(events)
    chart.set_series(metrics.series(n_epochs=3))
    chart.log_scale.setChecked(True)
    qtbot.waitUntil(lambda: chart.loss_plot.getAxis("left").logMode)
    labels = drawn_labels(chart.loss_plot.getAxis("left"))
    assert len(labels) >= 3
    assert all(upper[1] <= lower[0] for upper, lower in itertools.pairwise(labels))
    values = [float(text) for _top, _bottom, text in labels]  # "0.5", "1", never "10¹"
    assert values == sorted(values, reverse=True)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-8, 8),
    st.floats(1e-6, 12),
    st.floats(20, 2000),
    st.floats(8, 40),
)
def test_log_ticks_keep_their_labels_apart_and_in_view(low, span, pixels, gap):
    labelled, minor = log_ticks(low, low + span, pixels, gap)
    per_decade = pixels / span
    assert all(low - 1e-9 <= p <= low + span + 1e-9 for p in labelled + minor)
    assert all((b - a) * per_decade >= gap - 1e-6 for a, b in itertools.pairwise(labelled))
    assert not set(labelled) & set(minor)


def test_an_empty_job_says_so(chart):
    chart.set_series(MetricSeries.empty())
    assert chart.empty_text.isVisible()
    chart.set_series(small_series())
    assert not chart.empty_text.isVisible()


def test_the_chart_exports_a_picture_and_a_table(qtbot, tmp_path, owned):
    view = JobView(Catalog.load(), AppSettings().format_money)
    owned.append(view)
    view.resize(1100, 700)
    view.show()
    from desktop.core.jobs import JobSummary

    summary = JobSummary.from_dict(
        {"id": "ftjob-1", "status": "running", "model": "gpt-4.1-mini-2025-04-14"}
    )
    record = JobRecord("p", summary, live=True, series=small_series(), loaded=True)
    view.show_record(record)
    targets = iter([tmp_path / "curves.png", tmp_path / "curves.csv"])
    view.choose_save_path = lambda *_args: next(targets)
    view.chart.png_button.click()
    view.chart.csv_button.click()
    image = QImage(str(tmp_path / "curves.png"))
    assert image.width() > 500 and image.height() > 200
    rows = list(csv.DictReader((tmp_path / "curves.csv").open()))
    assert len(rows) == 30 and float(rows[0]["train_loss"]) == pytest.approx(
        small_series()["train_loss"].values[0]
    )


def test_events_are_newest_first_with_levels_coloured(qtbot):
    model = EventsTableModel()
    model.set_events([(1.0, "info", "first"), (2.0, "warn", "careful")])
    model.add_events([(3.0, "error", "broken")])
    assert [model.index(r, 2).data() for r in range(3)] == ["broken", "careful", "first"]
    assert [model.index(r, 1).data() for r in range(3)] == ["Error", "Warning", "Info"]
    colour = model.index(0, 2).data(Qt.ItemDataRole.ForegroundRole).color()
    assert colour == QColor("#d93025")
    assert model.index(2, 2).data(Qt.ItemDataRole.ForegroundRole) is None


def test_checkpoints_show_their_metrics_latest_first():
    model = CheckpointsTableModel()
    model.set_checkpoints(
        CheckpointSummary.from_dict(
            {
                "id": f"ck{step}",
                "fine_tuned_model_checkpoint": f"ft:x:o:s:j:ckpt-step-{step}",
                "step_number": step,
                "metrics": {"train_loss": 1 / step, "full_valid_loss": 2 / step},
            }
        )
        for step in (10, 30, 20)
    )
    assert [model.index(r, 0).data() for r in range(3)] == ["30", "20", "10"]
    assert model.index(0, 2).data() == "0.0333" and model.index(0, 4).data() == "0.0667"
    assert model.index(0, 3).data() == "—"
    assert model.checkpoint_at(0).model.endswith("ckpt-step-30")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(40, "40 s"), (600, "10 min"), (3900, "1 h 05 min"), (3 * 86400 + 7200, "3 days 2 h")],
)
def test_durations_read_naturally(seconds, text):
    assert format_duration(timedelta(seconds=seconds)) == text


def _axis_numbers(chart: LossChart) -> list[bool]:
    return [
        plot.getAxis(side).style["showValues"]
        for plot in (chart.loss_plot, chart.accuracy_plot)
        for side in ("left", "bottom")
    ]


def test_an_empty_chart_shows_no_numbers_and_forgets_the_previous_job(qtbot, chart):
    box = chart.loss_plot.getViewBox()
    assert not any(_axis_numbers(chart))  # no meaningless 0.1 to 0.9 before any step
    chart.set_series(small_series(300))
    assert all(_axis_numbers(chart))
    qtbot.waitUntil(lambda: box.viewRange()[0][1] > 290)
    chart.clear()  # another job, with no steps yet
    assert chart.empty_text.isVisible() and not any(_axis_numbers(chart))
    assert box.viewRange()[0][1] < 290  # not the previous job's range
    chart.set_series(small_series(20))
    assert all(_axis_numbers(chart))
    qtbot.waitUntil(lambda: 20 <= box.viewRange()[0][1] < 25)
    chart.set_series(MetricSeries.empty())
    assert not any(_axis_numbers(chart))

"""Curves from events and results files: each step once, any order, any provider's format."""

from __future__ import annotations

import base64
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.metrics import (
    METRIC_NAMES,
    MetricsAccumulator,
    MetricSeries,
    MetricsFormatError,
    decode_results,
    downsample,
    epoch_boundaries,
    parse_metrics_message,
    to_csv,
)

RESULTS_CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,2.5,0.40,,\n"
    "2,2.25,0.45,2.4,0.42\n"
    "3,2.0,0.5,,\n"
)


def metrics_event(step: int, total: int = 100, **extra) -> dict:
    data = {
        "step": step,
        "total_steps": total,
        "train_loss": 3.0 - step * 0.01,
        "train_mean_token_accuracy": 0.5 + step * 0.001,
    }
    data.update(extra)
    return {
        "id": f"ftevent-{step}",
        "object": "fine_tuning.job.event",
        "created_at": 1_700_000_000 + step,
        "level": "info",
        "message": f"Step {step}/{total}: training loss={data['train_loss']:.2f}",
        "type": "metrics",
        "data": data,
    }


def newest_first_pages(events: list[dict], size: int, overlap: int) -> list[list[dict]]:
    newest = events[::-1]
    pages, start = [], 0
    while start < len(newest):
        pages.append(newest[start : start + size])
        start += size - overlap
    return pages


def values(series: MetricSeries, name: str) -> list[float]:
    return list(series[name].values)


def steps(series: MetricSeries, name: str) -> list[int]:
    return list(series[name].steps)


# ------------------------------------------------------------------------------ events


def test_overlapping_newest_first_pages_keep_each_step_once():
    events = [metrics_event(s) for s in range(1, 101)]
    acc = MetricsAccumulator()
    added = [acc.add_events(page) for page in newest_first_pages(events, size=20, overlap=5)]
    assert sum(added) == 100
    again = [acc.add_events(page) for page in newest_first_pages(events, size=20, overlap=5)]
    assert sum(again) == 0
    series = acc.series()
    assert steps(series, "train_loss") == list(range(1, 101))
    assert values(series, "train_loss")[0] == pytest.approx(2.99)
    assert series.total_steps == 100
    assert len(series["valid_loss"]) == 0


def test_the_same_step_under_a_new_event_id_is_not_counted_twice():
    acc = MetricsAccumulator()
    first = metrics_event(5)
    repeat = dict(metrics_event(5), id="ftevent-other")
    repeat["data"] = dict(repeat["data"], train_loss=9.9, valid_loss=1.5)
    assert acc.add_events([first]) == 1
    assert acc.add_events([repeat]) == 1  # it filled the missing valid_loss
    series = acc.series()
    assert values(series, "train_loss") == [pytest.approx(2.95)]  # the first value is kept
    assert values(series, "valid_loss") == [1.5]
    assert len(acc) == 1


def test_non_metrics_and_malformed_events_are_ignored():
    acc = MetricsAccumulator()
    junk = [
        {"id": "a", "type": "message", "message": "Fine-tuning job started", "data": {}},
        {"id": "b", "type": "message", "message": "Checkpoint created at step 3"},
        {"id": "c", "type": "metrics", "data": None, "message": None},
        {"id": "d", "type": "metrics", "data": "oops", "message": ""},
        {"id": "e", "type": "metrics", "data": {"step": "abc", "train_loss": 1.0}},
        {"id": "f", "type": "metrics", "data": {"step": 4, "train_loss": None}},
        {"id": "g", "type": "metrics", "data": {"step": True, "train_loss": 1.0}},
        {"id": "h", "type": "metrics", "data": {"step": 5, "train_loss": "NaN"}},
        {"id": "i", "type": "metrics", "data": {"step": -1, "train_loss": 1.0}},
        {"id": "j", "type": "something_new", "message": "Step 1/2: training loss=1"},
        "not an event",
        None,
    ]
    assert acc.add_events(junk) == 0  # type: ignore[arg-type]
    assert acc.series().is_empty


def test_loose_value_types_are_read():
    acc = MetricsAccumulator()
    acc.add_event({"type": "metrics", "data": {"step": 7.0, "train_loss": "0.5", "valid_loss": 1}})
    series = acc.series()
    assert steps(series, "train_loss") == [7]
    assert values(series, "train_loss") == [0.5]
    assert values(series, "valid_loss") == [1.0]


# ------------------------------------------------------------------------------ text only


def test_metrics_are_read_from_the_message_when_data_is_missing():
    acc = MetricsAccumulator()
    event = {
        "id": "ev-300",
        "type": "metrics",
        "message": "Step 300/300: training loss=0.15, validation loss=0.27, full validation loss=0.40",
    }
    assert acc.add_event(event)
    series = acc.series()
    assert values(series, "train_loss") == [0.15]
    assert values(series, "valid_loss") == [0.27]
    assert values(series, "full_valid_loss") == [0.40]
    assert series.total_steps == 300


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Step 1/10: training loss=2.31", (1, 10, {"train_loss": 2.31})),
        (
            "step 5: train_loss=1.5e-1, valid_loss: 0.2, train accuracy=0.9",
            (5, None, {"train_loss": 0.15, "valid_loss": 0.2, "train_mean_token_accuracy": 0.9}),
        ),
        (
            "Step 2/4: full validation mean token accuracy=0.81",
            (2, 4, {"full_valid_mean_token_accuracy": 0.81}),
        ),
        ("Checkpoint created at step 3", None),
        ("Step 3/9: nothing to see", None),
        ("New fine-tuned model created", None),
    ],
)
def test_parse_metrics_message(message, expected):
    assert parse_metrics_message(message) == expected


def test_exact_numbers_replace_the_rounded_ones_from_text():
    acc = MetricsAccumulator()
    acc.add_event({"type": "message", "message": "Step 2/3: training loss=2.3"})
    assert values(acc.series(), "train_loss") == [2.3]
    acc.merge_results_csv(RESULTS_CSV)
    assert values(acc.series(), "train_loss") == [2.5, 2.25, 2.0]
    acc.add_event({"type": "message", "message": "Step 2/3: training loss=9.9"})
    assert values(acc.series(), "train_loss")[1] == 2.25


# ------------------------------------------------------------------------------ results files


def test_results_csv_maps_columns_and_treats_blank_cells_as_missing():
    acc = MetricsAccumulator()
    assert acc.merge_results_csv(RESULTS_CSV) == 3
    series = acc.series()
    assert steps(series, "train_loss") == [1, 2, 3]
    assert values(series, "train_mean_token_accuracy") == [0.40, 0.45, 0.5]
    assert steps(series, "valid_loss") == [2]
    assert values(series, "valid_mean_token_accuracy") == [0.42]
    assert acc.merge_results_csv(RESULTS_CSV) == 0


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: base64.b64encode(text.encode()),
        lambda text: base64.b64encode(text.encode()).decode(),
        lambda text: base64.encodebytes(text.encode()),  # wrapped lines
        lambda text: b"\xef\xbb\xbf" + text.encode(),
        lambda text: text.replace("\n", "\r\n"),
    ],
)
def test_results_csv_in_base64_or_with_a_bom_reads_the_same(encode):
    plain, other = MetricsAccumulator(), MetricsAccumulator()
    plain.merge_results_csv(RESULTS_CSV)
    other.merge_results_csv(encode(RESULTS_CSV))
    for name in METRIC_NAMES:
        assert steps(other.series(), name) == steps(plain.series(), name)
        assert values(other.series(), name) == values(plain.series(), name)


@pytest.mark.parametrize(
    "content", [b"", b"   \n", b"hello, world!!", b"\xff\xfe\x00", "bm90IGEgY3N2"]
)
def test_unreadable_results_files_raise_a_plain_error(content):
    with pytest.raises(MetricsFormatError):
        MetricsAccumulator().merge_results_csv(content)


def test_results_rows_without_a_usable_step_are_skipped():
    acc = MetricsAccumulator()
    acc.merge_results_csv("step,train_loss,extra\nx,1.0,9\n,2.0,9\n4,0.5\n5\n6,oops\n")
    assert steps(acc.series(), "train_loss") == [4]


def test_decode_results_returns_plain_text():
    assert decode_results(base64.b64encode(RESULTS_CSV.encode())) == RESULTS_CSV


# ------------------------------------------------------------------------------ epochs


def test_epoch_boundaries_from_total_steps_and_epochs():
    assert epoch_boundaries(300, 3) == (101, 201)
    assert epoch_boundaries(10, 4) == (3, 6, 8)
    assert epoch_boundaries(300, 1) == ()


def test_epoch_boundaries_from_full_validation_points_when_epochs_are_unknown():
    assert epoch_boundaries(300, None, [100, 200, 300]) == (101, 201)
    assert epoch_boundaries(None, None, [50, 100], last_step=120) == (51, 101)
    assert epoch_boundaries(None, None, []) == ()


def test_series_places_epoch_lines():
    acc = MetricsAccumulator()
    events = [metrics_event(s, total=12) for s in range(1, 13)]
    for event in events:
        if event["data"]["step"] % 4 == 0:
            event["data"]["full_valid_loss"] = 1.0
    acc.add_events(events)
    assert acc.series().epoch_starts == (5, 9)
    assert acc.series(n_epochs=2).epoch_starts == (7,)
    assert acc.series(n_epochs=2).n_epochs == 2


# ------------------------------------------------------------------------------ downsampling


def bucket_bounds(count: int, max_points: int) -> list[tuple[int, int]]:
    buckets = (max_points - 2) // 2
    interior = count - 2
    return [
        (1 + b * interior // buckets, 1 + (b + 1) * interior // buckets) for b in range(buckets)
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=400),
    st.integers(4, 60),
)
def test_downsample_keeps_ends_and_each_buckets_extremes(ys, max_points):
    xs = [3 * i + 1 for i in range(len(ys))]
    out_x, out_y = downsample(xs, ys, max_points)
    assert len(out_x) == len(out_y) <= max_points
    assert list(out_x) == sorted(set(out_x))  # strictly increasing
    kept = dict(zip(out_x, out_y, strict=True))
    assert all(ys[(x - 1) // 3] == y for x, y in kept.items())  # real points only
    assert (out_x[0], out_y[0]) == (xs[0], ys[0])
    assert (out_x[-1], out_y[-1]) == (xs[-1], ys[-1])
    if len(ys) <= max_points:
        assert list(out_y) == ys
        return
    for start, stop in bucket_bounds(len(ys), max_points):
        inside = [kept[x] for x in xs[start:stop] if x in kept]
        assert min(ys[start:stop]) in inside
        assert max(ys[start:stop]) in inside


def test_downsample_rejects_bad_arguments():
    with pytest.raises(ValueError):
        downsample([1, 2], [1.0], 10)
    with pytest.raises(ValueError):
        downsample([1, 2], [1.0, 2.0], 3)


def test_fifty_thousand_points_are_gathered_and_thinned():
    acc = MetricsAccumulator()
    events = [
        {"id": f"e{s}", "type": "metrics", "data": {"step": s, "train_loss": math.sin(s / 500)}}
        for s in range(1, 50_001)
    ]
    for start in range(0, 50_000, 1000):  # newest-first pages
        acc.add_events(events[::-1][start : start + 1000])
    curve = acc.series()["train_loss"]
    assert len(curve) == 50_000 and curve.steps.typecode == "l" and curve.values.typecode == "d"
    xs, ys = downsample(curve.steps, curve.values, 2000)
    assert len(xs) <= 2000
    assert max(ys) == max(curve.values) and min(ys) == min(curve.values)


# ------------------------------------------------------------------------------ export


def test_to_csv_round_trips_through_the_results_reader():
    acc = MetricsAccumulator()
    events = [metrics_event(s, total=6, valid_loss=1.0 / s) for s in range(1, 7)]
    events[-1]["data"]["full_valid_loss"] = 0.123456789012
    acc.add_events(events)
    text = to_csv(acc.series())
    assert text.splitlines()[0] == "step," + ",".join(METRIC_NAMES)
    assert text.splitlines()[1].startswith("1,2.99,1.0,,0.501,,")
    again = MetricsAccumulator()
    again.merge_results_csv(text)
    for name in METRIC_NAMES:
        assert steps(again.series(), name) == steps(acc.series(), name)
        assert values(again.series(), name) == values(acc.series(), name)


def test_empty_series():
    series = MetricSeries.empty()
    assert series.is_empty and series.last_step is None
    assert to_csv(series) == "step," + ",".join(METRIC_NAMES) + "\n"
    assert MetricsAccumulator().series().is_empty

"""Cost estimates: the notebook's epochs rule, billed tokens, and incremental running totals."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.catalog import Catalog, ModelInfo
from desktop.core.estimate import (
    RunningTotals,
    auto_epochs,
    estimate_from_columns,
    estimate_from_tokens,
    resolve_epochs,
)
from desktop.core.tokens import ExampleTokens

CATALOG = Catalog.load()


def model(model_id: str) -> ModelInfo:
    info = CATALOG.get(model_id)
    assert info is not None
    return info


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [
        (0, 25),
        (1, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (33, 3),
        (34, 3),
        (8333, 3),
        (8334, 2),
        (12500, 2),
        (12501, 1),
        (25001, 1),
        (1_000_000, 1),
    ],
)
def test_auto_epochs_edges(n_examples, epochs):
    assert auto_epochs(n_examples) == epochs
    assert resolve_epochs(n_examples, None) == epochs


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3"])
def test_auto_epochs_refuses_bad_counts(bad):
    with pytest.raises(ValueError):
        auto_epochs(bad)


@pytest.mark.parametrize("epochs", [1, 7, 50])
def test_explicit_epochs_in_range(epochs):
    assert resolve_epochs(10, epochs) == epochs


@pytest.mark.parametrize("epochs", [0, 51, -3, True, 2.5, "auto"])
def test_explicit_epochs_out_of_range(epochs):
    with pytest.raises(ValueError):
        resolve_epochs(10, epochs)


def test_notebook_example_five_examples_4306_tokens():
    counts = [ExampleTokens(t, t // 3) for t in (800, 900, 850, 956, 800)]
    assert sum(c.total for c in counts) == 4306
    info = model("gpt-3.5-turbo-0125")
    totals = RunningTotals(encoding="cl100k_base")
    for record_id, count in enumerate(counts):
        totals.set(record_id, count)
    result = totals.estimate(info)
    assert result.epochs == 20
    assert result.epochs_auto is True
    assert result.billable_tokens_per_epoch == 4306
    assert result.billable_tokens_total == 86_120
    assert result.estimated_cost_usd == pytest.approx(86_120 * 8.0 / 1_000_000)
    assert result.examples == 5
    assert result.max_example_tokens == 956
    assert result.over_limit == 0
    assert result.encoding == "cl100k_base"
    assert result.price_source == info.source
    assert result.price_is_override is False
    assert result.estimated is False
    assert result == estimate_from_tokens(counts, info)


def test_guide_example_100k_tokens_three_epochs():
    # GUIDE: 100k tokens x 3 epochs ≈ $0.90 on gpt-4o-mini and $2.40 on gpt-3.5-turbo.
    counts = [ExampleTokens(1000, 100)] * 100
    assert estimate_from_tokens(counts, model("gpt-4o-mini"), 3).estimated_cost_usd == (
        pytest.approx(0.90)
    )
    assert estimate_from_tokens(counts, model("gpt-3.5-turbo"), 3).estimated_cost_usd == (
        pytest.approx(2.40)
    )


def test_over_limit_examples_are_billed_at_the_limit():
    info = replace(model("gpt-3.5-turbo-0613"), max_tokens_per_example=100)
    counts = [ExampleTokens(50, 10), ExampleTokens(150, 20), ExampleTokens(300, 30, True)]
    result = estimate_from_tokens(counts, info, epochs=2)
    assert result.total_tokens == 500
    assert result.billable_tokens_per_epoch == 50 + 100 + 100
    assert result.truncated_tokens_per_epoch == 250
    assert result.billable_tokens_total == 500
    assert result.over_limit == 2
    assert result.max_example_tokens == 300
    assert result.assistant_tokens == 60
    assert result.estimated_examples == 1
    assert result.epochs_auto is False


def test_unknown_limit_bills_everything():
    result = estimate_from_tokens([ExampleTokens(10**6, 0)], model("davinci-002"), 1)
    assert result.token_limit is None
    assert result.billable_tokens_total == 10**6
    assert result.over_limit == 0


def test_per_hour_model_has_no_token_cost():
    result = estimate_from_tokens([ExampleTokens(100, 10)] * 20, model("o4-mini"))
    assert result.estimated_cost_usd is None
    assert result.cost_note is not None
    assert "per hour" in result.cost_note
    assert result.billable_tokens_total == 100 * 20 * 5
    nothing = replace(model("gpt-4o"), training_price_per_1m=None, training_price_per_hour=None)
    assert "knows no training price" in (estimate_from_tokens([], nothing).cost_note or "")


def test_user_price_is_reported(tmp_path: Path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"gpt-4o-mini": {"training_price_per_1m": 1.0}}}))
    info = CATALOG.with_overrides(path).get("gpt-4o-mini")
    assert info is not None
    result = estimate_from_tokens([ExampleTokens(50_000, 0)] * 10, info, 2)
    assert result.estimated_cost_usd == pytest.approx(1.0)
    assert result.price_is_override is True
    assert result.price_source == "your price"
    assert result.price_as_of is None


def test_empty_dataset():
    result = RunningTotals().estimate(model("gpt-4o"))
    assert (result.examples, result.total_tokens, result.max_example_tokens) == (0, 0, 0)
    assert result.estimated_cost_usd == 0.0


def test_unknown_model_gives_tokens_but_no_cost():
    totals = RunningTotals(encoding="cl100k_base")
    totals.set(1, ExampleTokens(70_000, 10, True))
    result = totals.estimate(None, 2, model_id="my-azure-deployment")
    assert result.model_id == "my-azure-deployment"
    assert result.encoding == "cl100k_base"
    assert result.token_limit is None
    assert result.billable_tokens_total == 140_000
    assert result.estimated_cost_usd is None
    assert result.cost_note is not None
    assert "my-azure-deployment" in result.cost_note
    assert result.estimated is True
    assert estimate_from_tokens([ExampleTokens(5, 1)], None).encoding == "o200k_base"


def test_running_totals_refuses_other_encoding():
    totals = RunningTotals(encoding="cl100k_base")
    totals.set(1, ExampleTokens(10, 1))
    with pytest.raises(ValueError, match="count the examples again"):
        totals.estimate(model("gpt-4o"))


def test_running_totals_edit_and_remove():
    info = replace(model("gpt-4o"), max_tokens_per_example=100)
    totals = RunningTotals()
    totals.set_many([("a", ExampleTokens(90, 9)), ("b", ExampleTokens(120, 12))])
    assert totals.estimate(info, 1).over_limit == 1
    totals.set("b", ExampleTokens(80, 8))  # edited below the limit
    result = totals.estimate(info, 1)
    assert (result.over_limit, result.max_example_tokens, result.total_tokens) == (0, 90, 170)
    totals.set("a", ExampleTokens(500, 50))
    assert totals.estimate(info, 1).billable_tokens_per_epoch == 180
    assert totals.remove("a") is True
    assert totals.estimate(info, 1).max_example_tokens == 80
    assert totals.remove("a") is False  # never counted or already gone: nothing changes
    assert totals.estimate(info, 1).total_tokens == 80
    assert "b" in totals
    assert len(totals) == 1
    assert totals.get("b") == ExampleTokens(80, 8)
    totals.clear()
    assert len(totals) == 0
    assert totals.total_tokens == 0


_COUNTS = st.builds(
    lambda total, share, estimated: ExampleTokens(total, total * share // 10, estimated),
    st.integers(0, 400),
    st.integers(0, 10),
    st.booleans(),
)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 12), _COUNTS),
        st.tuples(st.just("remove"), st.integers(0, 12), st.none()),
        st.tuples(st.just("remove_many"), st.lists(st.integers(0, 12), max_size=8), st.none()),
        st.tuples(
            st.just("set_many"),
            st.lists(st.tuples(st.integers(0, 12), _COUNTS), max_size=8),
            st.none(),
        ),
        st.tuples(st.just("estimate"), st.sampled_from([None, 1, 100, 250, 399]), st.none()),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(ops=_OPS, epochs=st.none() | st.integers(1, 50))
def test_running_totals_match_recomputation(ops, epochs):
    base = model("gpt-4o")
    totals = RunningTotals()
    records: dict[int, ExampleTokens] = {}
    limit: int | None = 100
    for op, key, value in ops:
        if op == "set":
            totals.set(key, value)
            records[key] = value
        elif op == "remove":
            assert totals.remove(key) is (records.pop(key, None) is not None)
        elif op == "set_many":
            totals.set_many(key)
            records.update(key)
        elif op == "remove_many":
            totals.remove_many(key)
            for gone in key:
                records.pop(gone, None)
        elif op == "estimate":
            limit = key
        info = replace(base, max_tokens_per_example=limit)
        got = totals.estimate(info, epochs)
        values = list(records.values())
        assert got.examples == len(values)
        assert got.total_tokens == sum(v.total for v in values)
        assert got.assistant_tokens == sum(v.assistant for v in values)
        assert got.max_example_tokens == max((v.total for v in values), default=0)
        cap = limit if limit is not None else 10**9
        assert got.over_limit == sum(v.total > cap for v in values)
        assert got.billable_tokens_per_epoch == sum(min(cap, v.total) for v in values)
        assert got.estimated_examples == sum(v.estimated for v in values)
        assert got == estimate_from_tokens(values, info, epochs)
        expected_lengths = sorted(Counter(v.total for v in values).items())
        assert totals.length_counts() == expected_lengths


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(
        st.tuples(st.integers(0, 200_000), st.integers(0, 1000), st.booleans()), max_size=30
    ),
    model_id=st.sampled_from(["gpt-4.1-mini-2025-04-14", "gpt-3.5-turbo-0125", None]),
    epochs=st.none() | st.integers(1, 50),
)
def test_an_estimate_from_columns_equals_one_from_counts(counts, model_id, epochs):
    info = CATALOG.get(model_id) if model_id is not None else None
    tokens = [ExampleTokens(*c) for c in counts]
    expected = estimate_from_tokens(tokens, info, epochs)
    got = estimate_from_columns(
        [t.total for t in tokens],
        [t.assistant for t in tokens],
        sum(c[2] for c in counts),
        info,
        epochs,
    )
    assert got == expected

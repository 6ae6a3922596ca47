"""The evaluation tables: every item's answers and scores, and one summary row per model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from PySide6.QtCore import QObject

from desktop.core.catalog import Catalog
from desktop.core.evaluation import EvalItem, EvalRun, ModelResult, ModelSummary, Thumb
from desktop.ui.chat.chat_wording import format_cost
from desktop.ui.common import palette
from desktop.ui.common.table_model import CENTER, Column, ListTableModel

FAILED = palette.ERROR_TEXT
T = TypeVar("T")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_THUMB_TEXT = {Thumb.UP: "✓ good", Thumb.DOWN: "✗ bad", None: ""}


def _reply_text(result: ModelResult | None) -> str:
    if result is None:
        return "waiting…"
    return _one_line(result.reply) if result.ok else f"⚠ {result.error}"


def _reply_tip(result: ModelResult | None) -> str | None:
    if result is None:
        return None
    return result.reply if result.ok else result.error


def _similarity_text(result: ModelResult | None) -> str:
    if result is None or not result.ok:
        return ""
    return _score(result.similarity) + (" ✓ exact" if result.exact_match else "")


def _rating_text(result: ModelResult | None) -> str:
    return "" if result is None else _THUMB_TEXT[result.rating]


def _result_colour(result: ModelResult | None) -> str | None:
    """Grey while waiting, red for a failed request."""
    if result is None:
        return palette.MUTED
    return None if result.ok else FAILED


def _text_column(header: str, text: Callable[[EvalItem], str]) -> Column[EvalItem]:
    """A column of the item's own text: one line in the cell, all of it on hover."""
    return Column(header, lambda item: _one_line(text(item)), text, header_tooltip=header)


def _model_columns(run: EvalRun, model: str, label: str) -> list[Column[EvalItem]]:
    """Reply, similarity and rating of one model, greyed while waiting, red when failed."""

    def cells(text: Callable[[ModelResult | None], T]) -> Callable[[EvalItem], T]:
        return lambda item: text(run.result(item.id, model))

    colour = cells(_result_colour)
    reply = f"{label}: reply"
    return [
        Column(reply, cells(_reply_text), cells(_reply_tip), colour, header_tooltip=reply),
        Column(
            "Similarity",
            cells(_similarity_text),
            colour=colour,
            alignment=CENTER,
            header_tooltip="Similarity",
        ),
        Column(
            "Rating", cells(_rating_text), colour=colour, alignment=CENTER, header_tooltip="Rating"
        ),
    ]


class EvalResultsModel(ListTableModel[EvalItem]):
    """One row per item: the question, the reference, and each model's reply and scores."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__((), parent)
        self.run: EvalRun | None = None

    def set_run(self, run: EvalRun | None, labels: Sequence[str] = ()) -> None:
        """Show ``run``; ``labels`` are the models' short names for the headers."""
        columns: list[Column[EvalItem]] = []
        if run is not None:
            names = tuple(labels) or run.models
            columns = [
                _text_column("Question", lambda item: item.question),
                _text_column("Reference reply", lambda item: item.reference),
            ]
            for number, model in enumerate(run.models):
                label = names[number] if number < len(names) else f"Model {number + 1}"
                columns += _model_columns(run, model, label)
        self.run = run
        self.set_rows(run.items if run is not None else (), columns)

    def item_changed(self, item_id: str) -> None:
        """Repaint the row of one item after an answer or a rating."""
        row = next((r for r, item in enumerate(self._rows) if item.id == item_id), None)
        if row is not None:
            self.update_cells(row, row)

    def item_id_at(self, row: int) -> str | None:
        """The item id shown in ``row``."""
        item = self.row_at(row)
        return item.id if item is not None else None


SUMMARY_COLUMNS: tuple[tuple[str, Callable[[ModelSummary], str]], ...] = (
    ("Answered", lambda s: f"{s.answered} of {s.items}"),
    ("Errors", lambda s: str(s.errors)),
    ("Mean similarity", lambda s: _score(s.mean_similarity)),
    ("Exact match", lambda s: _percent(s.exact_match_rate)),
    ("Rated good / bad", lambda s: f"{s.thumbs_up} / {s.thumbs_down}"),
    (
        "Wins · ties · losses",
        lambda s: "–" if s.wins is None else f"{s.wins} · {s.ties} · {s.losses}",
    ),
    ("Win rate", lambda s: _percent(s.win_rate)),
    (
        "Mean time",
        lambda s: "–" if s.mean_latency_s is None else f"{s.mean_latency_s:.1f} s",
    ),
    ("Tokens in / out", lambda s: f"{s.tokens_in:,} / {s.tokens_out:,}"),
    ("Cost", lambda s: format_cost(s.cost_usd)),
)

#: A summary row: the model's short name and its summary.
SummaryRow = tuple[str, ModelSummary]


def _summary_column(header: str, text: Callable[[ModelSummary], str]) -> Column[SummaryRow]:
    return Column(header, lambda row: text(row[1]), alignment=CENTER)


class EvalSummaryModel(ListTableModel[SummaryRow]):
    """One row per model of a run: answered, scores, ratings, wins, time, tokens and cost."""

    def __init__(self, catalog: Catalog, parent: QObject | None = None) -> None:
        super().__init__(
            (
                Column("Model", lambda row: row[0], lambda row: row[1].model),
                *(_summary_column(header, text) for header, text in SUMMARY_COLUMNS),
            ),
            parent,
        )
        self._catalog = catalog

    def refresh(self, run: EvalRun | None, labels: Sequence[str] = ()) -> None:
        """Recompute the rows from ``run``; a model without a label shows its id."""
        summaries = run.summary(self._catalog) if run is not None else []
        self.set_rows(
            (labels[number] if number < len(labels) else summary.model, summary)
            for number, summary in enumerate(summaries)
        )

    @property
    def rows(self) -> list[ModelSummary]:
        """The summaries shown, in the run's model order."""
        return [summary for _label, summary in self._rows]

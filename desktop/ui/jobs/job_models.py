"""Thin table adapters for the Jobs screen: the job list, a job's events and its checkpoints.

They only format what ``core.jobs`` already worked out (statuses, sentences, costs), so the
rules live in one place and the tables stay cheap with tens of thousands of events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QObject, Qt

from desktop.api.jobs_service import EventLine
from desktop.core.catalog import Catalog
from desktop.core.jobs import (
    SUFFIX_KEY,
    CheckpointSummary,
    JobStatus,
    JobSummary,
    model_display_name,
    to_datetime,
)
from desktop.ui.common import palette
from desktop.ui.common.table_model import RIGHT, Column, ListTableModel

STATUS_COLORS: Mapping[JobStatus, str] = {
    JobStatus.VALIDATING_FILES: palette.MUTED,
    JobStatus.QUEUED: palette.MUTED,
    JobStatus.RUNNING: palette.ACCENT,
    JobStatus.PAUSED: palette.CAUTION_TEXT,
    JobStatus.SUCCEEDED: palette.SUCCESS_STRONG,
    JobStatus.FAILED: palette.ERROR,
    JobStatus.CANCELLED: palette.FAINT,
    JobStatus.UNKNOWN: palette.FAINT,
}
LEVEL_COLORS: Mapping[str, str] = {
    "warn": palette.CAUTION_TEXT,
    "warning": palette.CAUTION_TEXT,
    "error": palette.ERROR,
}


def format_duration(span: timedelta | None) -> str:
    """``1 h 05 min``, ``12 min``, ``40 s``; an em dash when unknown."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days {hours % 24} h"


def format_time(moment: datetime | None, now: datetime | None = None) -> str:
    """A local time: ``14:05`` today, ``22 Nov 14:05`` this year, else with the year."""
    if moment is None:
        return "—"
    local = moment.astimezone()
    today = (now or datetime.now(timezone.utc)).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y %H:%M")


def job_title(job: JobSummary) -> str:
    """``support-bot · 2026-11-20``: the suffix the user chose names the job from the start
    (the provider only reports it in the model name once training has finished)."""
    chosen = job.metadata.get(SUFFIX_KEY)
    if job.suffix is None and chosen:
        moment = job.finished_at or job.created_at
        return model_display_name(chosen, moment.astimezone() if moment else None)
    return job.display_name()


def format_loss(value: float | None) -> str:
    """A metric with three significant digits, or an em dash."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _status_text(job: JobSummary) -> str:
    return job.status.label if job.status is not JobStatus.UNKNOWN else job.raw_status


def _tokens_text(job: JobSummary) -> str:
    return f"{job.trained_tokens:,}" if job.trained_tokens is not None else "—"


def _model_text(job: JobSummary) -> str:
    return job.fine_tuned_model or "—"


class JobsTableModel(ListTableModel[JobSummary]):
    """The jobs of one provider (or of the archive), newest first."""

    NAME, STATUS, BASE, CREATED, ELAPSED, FINISH, TOKENS, COST, MODEL = range(9)

    def __init__(
        self,
        catalog: Catalog,
        format_money: Callable[[float], str],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(
            (
                _shown(
                    "Name",
                    job_title,
                    "The name of the model this job makes: its suffix (or base model) and date.",
                    tooltip=lambda job: job.id,
                ),
                _shown(
                    "Status",
                    _status_text,
                    "Where the job is in its life; hover for what it means.",
                    tooltip=lambda job: job.error or job.status.sentence,
                    colour=lambda job: STATUS_COLORS[job.status],
                ),
                _shown("Base model", lambda job: job.base_model, "The model the job trains from."),
                _shown("Created", self._created, "When the job was sent to the provider."),
                _shown("Elapsed", self._elapsed, "How long the job has been running (or ran)."),
                _shown(
                    "Finish",
                    self._finish,
                    "The provider's estimate of when training ends, or when it ended.",
                ),
                _shown(
                    "Trained tokens",
                    _tokens_text,
                    "Tokens the provider billed for (known once training ends).",
                    alignment=RIGHT,
                ),
                _shown(
                    "Cost",
                    self._cost,
                    "What the training cost, from the billed tokens and the app's price list.",
                    alignment=RIGHT,
                ),
                _shown(
                    "Fine-tuned model",
                    _model_text,
                    "The name to use in chat once training has finished.",
                ),
            ),
            parent,
        )
        self.catalog = catalog
        self.format_money = format_money
        self.now = now

    def _created(self, job: JobSummary) -> str:
        return format_time(job.created_at, self.now())

    def _elapsed(self, job: JobSummary) -> str:
        return format_duration(job.elapsed(self.now()))

    def _finish(self, job: JobSummary) -> str:
        now = self.now()
        if job.status.is_terminal:
            return format_time(job.finished_at, now)
        left = job.time_left(now)
        return f"in {format_duration(left)}" if left is not None else "—"

    def _cost(self, job: JobSummary) -> str:
        cost = job.actual_cost(self.catalog)
        return self.format_money(cost) if cost is not None else "—"

    # Rows ----------------------------------------------------------------------------------

    def set_jobs(self, jobs: Iterable[JobSummary]) -> None:
        """Show these jobs (newest first), replacing what was shown."""
        self.set_rows(_newest_first({j.id: j for j in jobs}.values()))

    def upsert(self, job: JobSummary) -> int:
        """Add or update one job, keeping the order; returns its row."""
        row = self.row_of(job.id)
        if row is not None and self._rows[row].created_at == job.created_at:
            self.replace_row(row, job)
            return row
        if row is not None:
            self.remove_row(row)
        position = next(
            (i for i, other in enumerate(self._rows) if _key(other) < _key(job)), len(self._rows)
        )
        self.insert_rows(position, [job])
        return position

    def row_of(self, job_id: str) -> int | None:
        """The row showing ``job_id``, if any."""
        return next((i for i, job in enumerate(self._rows) if job.id == job_id), None)

    def job_at(self, row: int) -> JobSummary | None:
        """The job on ``row``, if the row exists."""
        return self.row_at(row)

    def jobs(self) -> list[JobSummary]:
        """Every job shown, in order."""
        return self.all_rows()

    def refresh_times(self) -> None:
        """Repaint the columns that change with the clock (elapsed, finish estimate)."""
        self.update_cells(first_column=self.ELAPSED, last_column=self.FINISH)


def _shown(
    header: str,
    text: Callable[[JobSummary], str],
    header_tooltip: str,
    *,
    tooltip: Callable[[JobSummary], str | None] | None = None,
    colour: Callable[[JobSummary], str | None] | None = None,
    alignment: Qt.AlignmentFlag | None = None,
) -> Column[JobSummary]:
    """A jobs column; a cell's tooltip repeats its text unless told otherwise (long names
    are cut short in the table)."""
    return Column(header, text, tooltip or text, colour, alignment, header_tooltip)


_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def _key(job: JobSummary) -> tuple[datetime, str]:
    return (job.created_at or _OLDEST, job.id)


def _newest_first(jobs: Iterable[JobSummary]) -> list[JobSummary]:
    return sorted(jobs, key=_key, reverse=True)


_LEVEL_WORDS = {"warn": "Warning", "warning": "Warning", "error": "Error"}


def _event_time(event: EventLine) -> str:
    moment = to_datetime(event[0])
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def _event_level(event: EventLine) -> str:
    return _LEVEL_WORDS.get(event[1].lower(), "Info")


def _event_message(event: EventLine) -> str:
    return event[2]


def _event_colour(event: EventLine) -> str | None:
    return LEVEL_COLORS.get(event[1].lower())


class EventsTableModel(ListTableModel[EventLine]):
    """A job's events, newest first, warnings and errors coloured."""

    TIME, LEVEL, MESSAGE = range(3)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(
            tuple(
                Column(header, text, text, _event_colour)
                for header, text in (
                    ("Time", _event_time),
                    ("Level", _event_level),
                    ("Message", _event_message),
                )
            ),
            parent,
        )

    def event_at(self, row: int) -> EventLine:
        """The event on ``row`` (row 0 is the newest)."""
        return self._rows[row]

    def set_events(self, events: Sequence[EventLine]) -> None:
        """Show these events (given oldest first)."""
        self.set_rows(reversed(events))

    def add_events(self, events: Sequence[EventLine]) -> None:
        """Put newer events (given oldest first) on top."""
        self.insert_rows(0, events[::-1])


def _checkpoint_tip(checkpoint: CheckpointSummary) -> str:
    return f"{checkpoint.display_name()}\n{checkpoint.model}"


def _metric_column(header: str, metric: str) -> Column[CheckpointSummary]:
    return Column(
        header, lambda c: format_loss(c.metrics.get(metric)), _checkpoint_tip, alignment=RIGHT
    )


class CheckpointsTableModel(ListTableModel[CheckpointSummary]):
    """A job's checkpoints with their metrics; each can be chatted with."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(
            (
                Column(
                    "Step",
                    lambda c: "—" if c.step is None else f"{c.step:,}",
                    _checkpoint_tip,
                    alignment=RIGHT,
                ),
                Column(
                    "Saved", lambda c: format_time(c.created_at), _checkpoint_tip, alignment=RIGHT
                ),
                _metric_column("Training loss", "train_loss"),
                _metric_column("Validation loss", "valid_loss"),
                _metric_column("Full validation loss", "full_valid_loss"),
                _metric_column("Token accuracy", "train_mean_token_accuracy"),
                Column("Model name", lambda c: c.model, _checkpoint_tip),
            ),
            parent,
        )

    def set_checkpoints(self, checkpoints: Iterable[CheckpointSummary]) -> None:
        """Show these checkpoints, latest step first."""
        self.set_rows(
            sorted(checkpoints, key=lambda c: c.step if c.step is not None else -1, reverse=True)
        )

    def checkpoint_at(self, row: int) -> CheckpointSummary | None:
        """The checkpoint on ``row``, if the row exists."""
        return self.row_at(row)

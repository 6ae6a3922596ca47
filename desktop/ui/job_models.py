"""Thin table adapters for the Jobs screen: the job list, a job's events and its checkpoints.

They only format what ``core.jobs`` already worked out (statuses, sentences, costs), so the
rules live in one place and the tables stay cheap with tens of thousands of events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from desktop.api.jobs_service import EventLine
from desktop.core.catalog import Catalog
from desktop.core.jobs import (
    CheckpointSummary,
    JobStatus,
    JobSummary,
    model_display_name,
    to_datetime,
)
from desktop.core.training import SUFFIX_KEY

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

STATUS_COLORS: Mapping[JobStatus, str] = {
    JobStatus.VALIDATING_FILES: "#5f6368",
    JobStatus.QUEUED: "#5f6368",
    JobStatus.RUNNING: "#1a73e8",
    JobStatus.PAUSED: "#b06000",
    JobStatus.SUCCEEDED: "#188038",
    JobStatus.FAILED: "#d93025",
    JobStatus.CANCELLED: "#80868b",
    JobStatus.UNKNOWN: "#80868b",
}
LEVEL_COLORS: Mapping[str, str] = {"warn": "#b06000", "warning": "#b06000", "error": "#d93025"}


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


class JobsTableModel(QAbstractTableModel):
    """The jobs of one provider (or of the archive), newest first."""

    COLUMNS = (
        "Name",
        "Status",
        "Base model",
        "Created",
        "Elapsed",
        "Finish",
        "Trained tokens",
        "Cost",
        "Fine-tuned model",
    )
    NAME, STATUS, BASE, CREATED, ELAPSED, FINISH, TOKENS, COST, MODEL = range(len(COLUMNS))
    TIPS = (
        "The name of the model this job makes: its suffix (or base model) and date.",
        "Where the job is in its life; hover for what it means.",
        "The model the job trains from.",
        "When the job was sent to the provider.",
        "How long the job has been running (or ran).",
        "The provider's estimate of when training ends, or when it ended.",
        "Tokens the provider billed for (known once training ends).",
        "What the training cost, from the billed tokens and the app's price list.",
        "The name to use in chat once training has finished.",
    )

    def __init__(
        self,
        catalog: Catalog,
        format_money: Callable[[float], str],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.format_money = format_money
        self.now = now
        self._rows: list[JobSummary] = []

    # Qt ------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is not Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(job, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.STATUS:
                return job.error or job.status.sentence
            if column == self.NAME:
                return job.id
            return self._text(job, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATUS:
            return QBrush(QColor(STATUS_COLORS[job.status]))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.TOKENS, self.COST):
            return _RIGHT
        if role == Qt.ItemDataRole.UserRole:
            return job.id
        return None

    def _text(self, job: JobSummary, column: int) -> str:
        now = self.now()
        if column == self.NAME:
            return job_title(job)
        if column == self.STATUS:
            return job.status.label if job.status is not JobStatus.UNKNOWN else job.raw_status
        if column == self.BASE:
            return job.base_model
        if column == self.CREATED:
            return format_time(job.created_at, now)
        if column == self.ELAPSED:
            return format_duration(job.elapsed(now))
        if column == self.FINISH:
            if job.status.is_terminal:
                return format_time(job.finished_at, now)
            left = job.time_left(now)
            return f"in {format_duration(left)}" if left is not None else "—"
        if column == self.TOKENS:
            return f"{job.trained_tokens:,}" if job.trained_tokens is not None else "—"
        if column == self.COST:
            cost = job.actual_cost(self.catalog)
            return self.format_money(cost) if cost is not None else "—"
        return job.fine_tuned_model or "—"

    # Rows ----------------------------------------------------------------------------------

    def set_jobs(self, jobs: Iterable[JobSummary]) -> None:
        """Show these jobs (newest first), replacing what was shown."""
        self.beginResetModel()
        self._rows = _newest_first({j.id: j for j in jobs}.values())
        self.endResetModel()

    def upsert(self, job: JobSummary) -> int:
        """Add or update one job, keeping the order; returns its row."""
        row = self.row_of(job.id)
        if row is not None and self._rows[row].created_at == job.created_at:
            self._rows[row] = job
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
            return row
        if row is not None:
            self.beginRemoveRows(_ROOT, row, row)
            del self._rows[row]
            self.endRemoveRows()
        position = next(
            (i for i, other in enumerate(self._rows) if _key(other) < _key(job)), len(self._rows)
        )
        self.beginInsertRows(_ROOT, position, position)
        self._rows.insert(position, job)
        self.endInsertRows()
        return position

    def row_of(self, job_id: str) -> int | None:
        """The row showing ``job_id``, if any."""
        return next((i for i, job in enumerate(self._rows) if job.id == job_id), None)

    def job_at(self, row: int) -> JobSummary | None:
        """The job on ``row``, if the row exists."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def jobs(self) -> list[JobSummary]:
        """Every job shown, in order."""
        return list(self._rows)

    def refresh_times(self) -> None:
        """Repaint the columns that change with the clock (elapsed, finish estimate)."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, self.ELAPSED), self.index(len(self._rows) - 1, self.FINISH)
            )


_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def _key(job: JobSummary) -> tuple[datetime, str]:
    return (job.created_at or _OLDEST, job.id)


def _newest_first(jobs: Iterable[JobSummary]) -> list[JobSummary]:
    return sorted(jobs, key=_key, reverse=True)


class EventsTableModel(QAbstractTableModel):
    """A job's events, newest first, warnings and errors coloured."""

    COLUMNS = ("Time", "Level", "Message")
    TIME, LEVEL, MESSAGE = range(3)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._events: list[EventLine] = []  # oldest first; row r shows [-1 - r]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def event_at(self, row: int) -> EventLine:
        """The event on ``row`` (row 0 is the newest)."""
        return self._events[len(self._events) - 1 - row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        created, level, message = self.event_at(index.row())
        level = level.lower()
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == self.TIME:
                moment = to_datetime(created)
                return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "—"
            if column == self.LEVEL:
                return {"warn": "Warning", "warning": "Warning", "error": "Error"}.get(
                    level, "Info"
                )
            return message
        if role == Qt.ItemDataRole.ForegroundRole and level in LEVEL_COLORS:
            return QBrush(QColor(LEVEL_COLORS[level]))
        return None

    def set_events(self, events: Sequence[EventLine]) -> None:
        """Show these events (given oldest first)."""
        self.beginResetModel()
        self._events = list(events)
        self.endResetModel()

    def add_events(self, events: Sequence[EventLine]) -> None:
        """Put newer events (given oldest first) on top."""
        if not events:
            return
        self.beginInsertRows(_ROOT, 0, len(events) - 1)
        self._events.extend(events)
        self.endInsertRows()


class CheckpointsTableModel(QAbstractTableModel):
    """A job's checkpoints with their metrics; each can be chatted with."""

    COLUMNS = (
        "Step",
        "Saved",
        "Training loss",
        "Validation loss",
        "Full validation loss",
        "Token accuracy",
        "Model name",
    )
    METRICS = (
        None,
        None,
        "train_loss",
        "valid_loss",
        "full_valid_loss",
        "train_mean_token_accuracy",
        None,
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[CheckpointSummary] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        checkpoint = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return "—" if checkpoint.step is None else f"{checkpoint.step:,}"
            if column == 1:
                return format_time(checkpoint.created_at)
            metric = self.METRICS[column]
            if metric is not None:
                return format_loss(checkpoint.metrics.get(metric))
            return checkpoint.model
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{checkpoint.display_name()}\n{checkpoint.model}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column != len(self.COLUMNS) - 1:
            return _RIGHT
        return None

    def set_checkpoints(self, checkpoints: Iterable[CheckpointSummary]) -> None:
        """Show these checkpoints, latest step first."""
        self.beginResetModel()
        self._rows = sorted(
            checkpoints, key=lambda c: c.step if c.step is not None else -1, reverse=True
        )
        self.endResetModel()

    def checkpoint_at(self, row: int) -> CheckpointSummary | None:
        """The checkpoint on ``row``, if the row exists."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

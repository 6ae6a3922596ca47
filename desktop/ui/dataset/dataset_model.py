"""The examples table: a thin QAbstractTableModel over the core Dataset.

The model keeps only the list of record ids it shows (file order, or the order a search or
sort produced in a worker) and a small cache of cell text for rows that were painted. Cell
text is computed on demand from the immutable record, so 100,000 rows cost one parse per
visible row, and an edit invalidates exactly one cache entry.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from desktop.core.analysis import DatasetAnalysis, RecordAnalysis
from desktop.core.dataset import Change, Dataset, LineState, Record
from desktop.core.findings import Finding, Severity
from desktop.ui.common import palette
from desktop.ui.common.icons import SEVERITY_LABELS, status_icon
from desktop.ui.dataset.example_rows import RowSummary, summarize

Index = QModelIndex | QPersistentModelIndex

#: Custom role: the record id of a row.
RECORD_ID_ROLE = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("#", "User message", "Assistant reply", "Messages", "Tokens", "Status")
COL_LINE, COL_USER, COL_REPLY, COL_MESSAGES, COL_TOKENS, COL_STATUS = range(len(COLUMNS))

_HEADER_TIPS = {
    COL_LINE: "The line of the file this example came from (new examples have none yet).",
    COL_USER: "The first thing the user says in the conversation.",
    COL_REPLY: "The last reply the assistant gives, which the model learns to write.",
    COL_MESSAGES: "How many messages the conversation has.",
    COL_TOKENS: (
        "Tokens are the pieces of text a model reads; training is priced per token. "
        "This is the example's size as the chosen model counts it."
    ),
    COL_STATUS: "Whether the example is ready for training, or has something to look at.",
}

#: Rows whose cell text stays cached (a few screens' worth).
CACHE_ROWS = 2048


def _worst(a: Severity | None, b: Severity | None) -> Severity | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.rank <= b.rank else b


_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class ExampleTableModel(QAbstractTableModel):
    """Rows of a Dataset, in the order ``show_ids`` chose; read-only (editing goes through undo)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dataset: Dataset | None = None
        self._analysis: DatasetAnalysis | None = None
        self._ids: list[int] = []
        self._rows: dict[int, int] | None = None
        self._cache: OrderedDict[int, tuple[Record, RowSummary]] = OrderedDict()
        self._dataset_severity: dict[int, Severity] = {}
        self._dataset_codes: dict[int, set[str]] = {}
        self._in_file_order = True
        self._listening = False

    # Wiring --------------------------------------------------------------------------------

    @property
    def dataset(self) -> Dataset | None:
        """The dataset shown (None before a file is opened)."""
        return self._dataset

    def set_dataset(
        self, dataset: Dataset | None, analysis: DatasetAnalysis | None, *, loading: bool = False
    ) -> None:
        """Show ``dataset``. While ``loading``, rows are announced with ``sync_appended``."""
        self.beginResetModel()
        if self._dataset is not None and self._listening:
            self._dataset.unsubscribe(self._on_change)
        self._listening = False
        self._dataset = dataset
        self._analysis = analysis
        self._cache.clear()
        self._dataset_severity.clear()
        self._dataset_codes.clear()
        self._ids = [r.id for r in dataset] if dataset is not None else []
        self._rows = None
        self._in_file_order = True
        if dataset is not None and not loading:
            dataset.subscribe(self._on_change)
            self._listening = True
        self.endResetModel()

    def sync_appended(self) -> None:
        """Announce records appended to the dataset since the last call (while loading)."""
        if self._dataset is None:
            return
        start = len(self._ids)
        end = len(self._dataset)
        if end <= start:
            return
        self.beginInsertRows(QModelIndex(), start, end - 1)
        self._ids.extend(self._dataset[i].id for i in range(start, end))
        self._rows = None
        self.endInsertRows()

    def finish_loading(self) -> None:
        """Start following edits once the whole file is in."""
        self.sync_appended()
        if self._dataset is not None and not self._listening:
            self._dataset.subscribe(self._on_change)
            self._listening = True

    # View order ----------------------------------------------------------------------------

    @property
    def in_file_order(self) -> bool:
        """True when every record is shown in file order (no search, filter or sort)."""
        return self._in_file_order

    def show_ids(self, ids: Sequence[int] | None) -> None:
        """Show these records in this order; None shows every record in file order."""
        if self._dataset is None:
            return
        # A reset, not a layout change: the number of rows changes, and views handle a reset
        # of 100,000 rows far faster than remapping every persistent index.
        self.beginResetModel()
        if ids is None:
            self._ids = [r.id for r in self._dataset]
            self._in_file_order = True
        else:
            present = {r.id for r in self._dataset}
            self._ids = [i for i in ids if i in present]
            self._in_file_order = False
        self._rows = None
        self.endResetModel()

    def _row_map(self) -> dict[int, int]:
        if self._rows is None:
            self._rows = {record_id: row for row, record_id in enumerate(self._ids)}
        return self._rows

    def row_of(self, record_id: int) -> int | None:
        """The row showing ``record_id`` (None when it is filtered out or gone)."""
        return self._row_map().get(record_id)

    def record_id_at(self, row: int) -> int | None:
        """The record id of a row (None when out of range)."""
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def record_at(self, row: int) -> Record | None:
        """The record of a row (None when out of range or gone)."""
        record_id = self.record_id_at(row)
        if record_id is None or self._dataset is None:
            return None
        if self._in_file_order and row < len(self._dataset):
            # In file order the row is the position: no id lookup (whose index the dataset
            # rebuilds after every insert, which matters while a large file streams in).
            record = self._dataset[row]
            if record.id == record_id:
                return record
        try:
            return self._dataset.record(record_id)
        except KeyError:
            return None

    # Following the dataset -----------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        handler = getattr(self, f"_on_{change.kind}")
        handler(change)

    def _on_replace(self, change: Change) -> None:
        self._cache.pop(change.record_id, None)
        row = self.row_of(change.record_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _on_replace_many(self, change: Change) -> None:
        if len(change.record_ids) > len(self._cache):
            # Cached rows check their record anyway: forgetting all is cheaper than looking
            # up 100,000 ids on the UI thread.
            self._cache.clear()
        else:
            for record_id in change.record_ids:
                self._cache.pop(record_id, None)
        if self._ids:
            # One signal for a bulk edit; the view repaints only the rows it shows.
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._ids) - 1, len(COLUMNS) - 1)
            )

    def _on_insert(self, change: Change) -> None:
        in_order = self._in_file_order
        row = change.position if in_order else self._view_row_after(change.position)
        self.beginInsertRows(QModelIndex(), row, row)
        self._ids.insert(row, change.record_id)
        self._rows = None
        self.endInsertRows()

    def _view_row_after(self, position: int) -> int:
        """Where a record inserted at ``position`` goes in a filtered view: after the nearest
        earlier record that is shown, so a new example appears next to where it was added."""
        assert self._dataset is not None
        rows = self._row_map()
        for pos in range(position - 1, max(-1, position - 64), -1):
            row = rows.get(self._dataset[pos].id)
            if row is not None:
                return row + 1
        return len(self._ids)

    def _on_insert_many(self, change: Change) -> None:
        """Show records put in at once: in file order all rows are rebuilt; in a filtered or
        sorted view each new record goes after the nearest earlier record shown."""
        assert self._dataset is not None
        self.beginResetModel()
        if self._in_file_order:
            self._ids = [record.id for record in self._dataset]
        else:
            shown = set(self._ids)
            after: dict[int | None, list[int]] = {}
            for record_id in change.record_ids:
                position = self._dataset.position(record_id)
                anchor = None
                for pos in range(position - 1, max(-1, position - 64), -1):
                    earlier = self._dataset[pos].id
                    if earlier in shown:
                        anchor = earlier
                        break
                after.setdefault(anchor, []).append(record_id)
                shown.add(record_id)
            ids: list[int] = []
            for record_id in self._ids:
                ids.append(record_id)
                ids.extend(_chain_after(record_id, after))
            ids.extend(_chain_after(None, after))
            self._ids = ids
        self._rows = None
        self.endResetModel()

    def _on_remove_many(self, change: Change) -> None:
        gone = set(change.record_ids)
        for record_id in gone:
            self._cache.pop(record_id, None)
            self._dataset_severity.pop(record_id, None)
        self.beginResetModel()
        self._ids = list(itertools.filterfalse(gone.__contains__, self._ids))
        self._rows = None
        self.endResetModel()

    def _on_remove(self, change: Change) -> None:
        self._cache.pop(change.record_id, None)
        self._dataset_severity.pop(change.record_id, None)
        row = self.row_of(change.record_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._ids[row]
        self._rows = None
        self.endRemoveRows()

    def _on_move(self, change: Change) -> None:
        if not self._in_file_order or change.new_position is None:
            return
        old, new = change.position, change.new_position
        if old == new:
            return
        # Qt's destination row counts the row being moved when moving down.
        destination = new + 1 if new > old else new
        self.beginMoveRows(QModelIndex(), old, old, QModelIndex(), destination)
        record_id = self._ids.pop(old)
        self._ids.insert(new, record_id)
        self._rows = None
        self.endMoveRows()

    # Analysis ------------------------------------------------------------------------------

    def set_dataset_findings(self, findings: Iterable[Finding]) -> None:
        """Fold whole-dataset findings (duplicates, over the limit) into each row's status."""
        severity: dict[int, Severity] = {}
        codes: dict[int, set[str]] = {}
        for finding in findings:
            if finding.record_id is None:
                continue
            severity[finding.record_id] = (
                _worst(severity.get(finding.record_id), finding.severity) or finding.severity
            )
            codes.setdefault(finding.record_id, set()).add(finding.code)
        if severity != self._dataset_severity or codes != self._dataset_codes:
            self._dataset_severity = severity
            self._dataset_codes = codes
            self.refresh_analysis_columns()

    def refresh_analysis_columns(self, record_ids: Iterable[int] | None = None) -> None:
        """Repaint tokens and status of these records (all rows when None)."""
        if not self._ids:
            return
        if record_ids is None:
            self.dataChanged.emit(
                self.index(0, COL_TOKENS), self.index(len(self._ids) - 1, COL_STATUS)
            )
            return
        rows = sorted(row for row in map(self._row_map().get, record_ids) if row is not None)
        if not rows:
            return
        if rows[-1] - rows[0] + 1 == len(rows):  # one run (a worker's chunk, in file order)
            self.dataChanged.emit(self.index(rows[0], COL_TOKENS), self.index(rows[-1], COL_STATUS))
            return
        # One signal per run of consecutive rows keeps a 2,000-row merge cheap.
        start = prev = rows[0]
        for row in [*rows[1:], None]:
            if row is not None and row == prev + 1:
                prev = row
                continue
            self.dataChanged.emit(self.index(start, COL_TOKENS), self.index(prev, COL_STATUS))
            if row is not None:
                start = prev = row

    def analysis_of(self, record_id: int) -> RecordAnalysis | None:
        """The analysis result of a record, if it has one yet."""
        return self._analysis.get(record_id) if self._analysis is not None else None

    def severity_of(self, record_id: int) -> Severity | None:
        """The worst severity of a record, including whole-dataset findings."""
        result = self.analysis_of(record_id)
        own = result.severity if result is not None else None
        return _worst(own, self._dataset_severity.get(record_id))

    def dataset_finding_maps(self) -> tuple[dict[int, Severity], dict[int, frozenset[str]]]:
        """Copies of the whole-dataset findings per record: worst severity and codes."""
        codes = {record_id: frozenset(found) for record_id, found in self._dataset_codes.items()}
        return dict(self._dataset_severity), codes

    # Qt model interface --------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return _HEADER_TIPS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        # Called for every cell of a selection: keep it free of work.
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def _summary(self, record: Record) -> RowSummary:
        cached = self._cache.get(record.id)
        if cached is not None and cached[0] is record:
            self._cache.move_to_end(record.id)
            return cached[1]
        summary = summarize(record)
        self._cache[record.id] = (record, summary)
        if len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return summary

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        record = self.record_at(index.row())
        if record is None:
            return None
        return self._value(record, index.column(), role)

    def multiData(self, index: Index, role_data_span: QModelRoleDataSpan) -> None:
        # Views ask for every role of a cell at once: answering in one Python call instead of
        # one per role keeps painting fast while workers compete for the interpreter lock.
        record = None
        if index.isValid() and 0 <= index.row() < len(self._ids):
            record = self.record_at(index.row())
        for role_data in role_data_span:
            value = self._value(record, index.column(), role_data.role()) if record else None
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    def _value(self, record: Record, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(record, column)
        if role == RECORD_ID_ROLE:
            return record.id
        if role == Qt.ItemDataRole.DecorationRole and column == COL_STATUS:
            if record.state is LineState.BLANK:
                return None
            result = self.analysis_of(record.id)
            if result is None and record.state is LineState.EXAMPLE:
                return None
            return status_icon(self.severity_of(record.id))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            COL_LINE,
            COL_MESSAGES,
            COL_TOKENS,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and record.state is not LineState.EXAMPLE
            and column in (COL_USER, COL_REPLY)
        ):
            color = palette.ERROR_TEXT if record.state is LineState.BROKEN else palette.FAINT
            return QBrush(QColor(color))
        return None

    def _display(self, record: Record, column: int) -> Any:
        if column == COL_LINE:
            return str(record.line) if record.line is not None else "new"
        if column == COL_TOKENS:
            result = self.analysis_of(record.id)
            if result is None or result.tokens is None:
                return "" if record.state is not LineState.EXAMPLE else "…"
            return f"{result.tokens.total:,}"
        if column == COL_STATUS:
            if record.state is LineState.BLANK:
                return "Empty"
            if record.state is LineState.BROKEN:
                return "Damaged"
            if self.analysis_of(record.id) is None:
                return "Checking…"
            return SEVERITY_LABELS[self.severity_of(record.id)]
        summary = self._summary(record)
        if column == COL_USER:
            return summary.first_user
        if column == COL_REPLY:
            return summary.last_reply
        return "" if summary.message_count is None else str(summary.message_count)

    def _tooltip(self, record: Record, column: int) -> str | None:
        if column == COL_STATUS or record.state is LineState.BROKEN:
            result = self.analysis_of(record.id)
            texts = [f.text for f in result.findings] if result is not None else []
            if record.state is LineState.BROKEN and record.error and record.error not in texts:
                texts.insert(0, record.error)
            if not texts:
                return "No problems found in this example."
            shown = texts[:6]
            more = len(texts) - len(shown)
            return "\n".join(["• " + t for t in shown] + ([f"…and {more} more"] if more else []))
        if column == COL_TOKENS:
            result = self.analysis_of(record.id)
            if result is None or result.tokens is None:
                return None
            tokens = result.tokens
            note = " (estimated: parts of it are not plain text)" if tokens.estimated else ""
            return (
                f"{tokens.total:,} tokens in this example{note}; "
                f"{tokens.assistant:,} of them are assistant replies the model learns to write."
            )
        if column in (COL_USER, COL_REPLY):
            summary = self._summary(record)
            text = summary.first_user if column == COL_USER else summary.last_reply
            return text or None
        return None


def _chain_after(anchor: int | None, after: dict[int | None, list[int]]) -> list[int]:
    """The records to show after ``anchor``, each followed by those anchored to it in turn."""
    chained: list[int] = []
    pending = list(reversed(after.pop(anchor, [])))
    while pending:
        record_id = pending.pop()
        chained.append(record_id)
        pending.extend(reversed(after.pop(record_id, [])))
    return chained

"""A read-only table over a plain Python list, described by one ``Column`` per column.

The rows are what the core hands over (job summaries, events, checkpoints, evaluation items);
each model says once per column what its header is and how a row reads in it, and the Qt
side (counts, headers, roles, resets, inserts and removals) is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

Row = TypeVar("Row")
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()
#: Numbers line up on the right.
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: its ``header`` and how each row reads in it.

    ``value`` gives what the cell shows. The others are optional: ``tooltip`` (None shows no
    tooltip), ``colour`` (a colour name for the text, None for the usual one), a fixed
    ``alignment``, and ``header_tooltip``, which says what the column means.
    """

    header: str
    value: Callable[[Row], str]
    tooltip: Callable[[Row], str | None] | None = None
    colour: Callable[[Row], str | None] | None = None
    alignment: Qt.AlignmentFlag | None = None
    header_tooltip: str | None = None


class ListTableModel(QAbstractTableModel, Generic[Row]):
    """Shows a list of rows through ``columns``; subclasses add the operations their screen
    needs (find a row, keep an order) on top of ``set_rows``, ``insert_rows``, ``remove_row``,
    ``replace_row`` and ``update_cells``."""

    def __init__(self, columns: Sequence[Column[Row]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns: tuple[Column[Row], ...] = tuple(columns)
        self._rows: list[Row] = []

    # Qt ------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is not Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.header_tooltip
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.value(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip(row) if column.tooltip is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and column.colour is not None:
            colour = column.colour(row)
            return QBrush(QColor(colour)) if colour is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.alignment is not None:
            return int(column.alignment)
        return None

    # Rows ----------------------------------------------------------------------------------

    def row_at(self, row: int) -> Row | None:
        """The row object shown on ``row``, if the row exists."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def all_rows(self) -> list[Row]:
        """Every row shown, in order."""
        return list(self._rows)

    def set_rows(self, rows: Iterable[Row], columns: Sequence[Column[Row]] | None = None) -> None:
        """Show ``rows`` (and ``columns``, when they change with the rows) instead."""
        self.beginResetModel()
        self._rows = list(rows)
        if columns is not None:
            self._columns = tuple(columns)
        self.endResetModel()

    def insert_rows(self, position: int, rows: Sequence[Row]) -> None:
        """Insert ``rows`` before ``position`` (``rowCount()`` appends them)."""
        if not rows:
            return
        self.beginInsertRows(ROOT, position, position + len(rows) - 1)
        self._rows[position:position] = rows
        self.endInsertRows()

    def remove_row(self, row: int) -> None:
        """Take one row out."""
        self.beginRemoveRows(ROOT, row, row)
        del self._rows[row]
        self.endRemoveRows()

    def replace_row(self, row: int, value: Row) -> None:
        """Show ``value`` on ``row`` instead of what was there (same place in the order)."""
        self._rows[row] = value
        self.update_cells(row, row)

    def update_cells(
        self,
        first_row: int = 0,
        last_row: int | None = None,
        first_column: int = 0,
        last_column: int | None = None,
    ) -> None:
        """Repaint cells whose text changed without their rows changing (by default all)."""
        last_row = len(self._rows) - 1 if last_row is None else last_row
        last_column = len(self._columns) - 1 if last_column is None else last_column
        if last_row >= first_row and last_column >= first_column:
            self.dataChanged.emit(
                self.index(first_row, first_column), self.index(last_row, last_column)
            )

"""The dataset editor: the examples table with search and filters, beside the example editor.

Searching, filtering and sorting a large file run in a worker over immutable records; the
table then shows the ids it produced. A search reads the records' lower-cased texts from a
search index that follows every edit in the background. Example-level edits (add, duplicate,
delete, move) are undoable commands pushed through the document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QStyle,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.analysis import ALL_FINDING_CODES
from desktop.core.dataset import Change, Dataset, LineState, Record
from desktop.core.kinds import ExampleKind
from desktop.core.search import SearchIndex
from desktop.ui.common import palette
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext, release_in_background
from desktop.ui.dataset.commands import (
    InsertRecordsCommand,
    MoveRecordCommand,
    RemoveRecordsCommand,
)
from desktop.ui.dataset.dataset_model import (
    COL_LINE,
    COL_MESSAGES,
    COL_REPLY,
    COL_STATUS,
    COL_TOKENS,
    COL_USER,
)
from desktop.ui.dataset.document import DatasetDocument
from desktop.ui.dataset.example_editor import ExampleEditor
from desktop.ui.dataset.example_rows import (
    SortKey,
    StatusFilter,
    ViewQuery,
    build_row_facts,
    compute_view,
)

#: Pause after typing in the search box before searching (milliseconds): a search takes
#: well under a tenth of a second, and a newer keystroke cancels one still running.
SEARCH_DEBOUNCE_MS = 60
#: Pause after the last edit before the search index reads what changed (milliseconds):
#: typing in a message makes a new record at every pause, bulk edits replace thousands.
INDEX_DELAY_MS = 500
#: Deleting more examples than this shows the next one after the window has repainted.
SHOW_NEXT_AT_ONCE_MAX = 1000
#: The user's and the reply's columns of the example list never get narrower than this...
MIN_TEXT_COLUMN = 60
#: ...and a window layout that left them narrower than this is not brought back (pixels).
COMFORTABLE_TEXT_COLUMN = 100

_SORT_KEYS = {
    COL_LINE: SortKey.POSITION,
    COL_USER: SortKey.FIRST_USER,
    COL_REPLY: SortKey.LAST_REPLY,
    COL_MESSAGES: SortKey.MESSAGES,
    COL_TOKENS: SortKey.TOKENS,
    COL_STATUS: SortKey.STATUS,
}

_STATUS_ITEMS = (
    ("All examples", StatusFilter.ALL),
    ("With errors", StatusFilter.ERRORS),
    ("With warnings", StatusFilter.WARNINGS),
    ("With errors or warnings", StatusFilter.PROBLEMS),
    ("Without problems", StatusFilter.OK),
)


def new_example_value(system: str | None) -> dict[str, Any]:
    """An empty conversation, starting with the dataset's usual system message if it has one."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": ""})
    messages.append({"role": "assistant", "content": ""})
    return {"messages": messages}


class DatasetEditorPanel(QWidget):
    """Search and filters, the examples table, and the editor of the selected example."""

    #: The selection changed (so the window can enable its actions).
    selection_changed = Signal()
    #: A search, filter or sort finished or started (so the window can show progress).
    view_busy = Signal(bool)

    def __init__(self, document: DatasetDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model = document.table
        #: Asked before another example is shown while JSON typed into this one is not
        #: applied (it cannot be yet): True to go on without that text.
        self.confirm_leave_unapplied: Callable[[str], bool] | None = None
        #: The example the user chose to stay with, selected again once the click that left
        #: it is handled (the view selects the clicked row after telling of it).
        self._staying_with: int | None = None
        #: Damaged and empty lines among the rows, as last counted.
        self._other_lines = 0
        self._view_op: Op[list[int]] | None = None
        self._searched: tuple[Dataset | None, int, list[Record]] = (None, 0, [])
        # The records' texts, lower-cased, read in the background after a file is read and
        # after edits; a search reads directly whatever it does not hold yet.
        self._search_index = SearchIndex()
        self._index_op: Op[bool] | None = None
        self._indexed_dataset: Dataset | None = None
        self._index_timer = QTimer(self, singleShot=True, interval=INDEX_DELAY_MS)
        self._index_timer.timeout.connect(self._refresh_index)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_list())
        self._keep_list_readable()
        self.editor = ExampleEditor(document, self)
        self.splitter.addWidget(self.editor)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([600, 500])
        layout.addWidget(self.splitter)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_query)
        document.dataset_replaced.connect(self._on_dataset_replaced)
        document.load_finished.connect(self._on_load_finished)
        document.findings_changed.connect(self._refresh_code_filter)
        document.findings_changed.connect(self._count_other_lines)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)
        self.model.modelReset.connect(self._after_reset)
        self._update_count()

    # Building --------------------------------------------------------------------------------

    def _keep_list_readable(self) -> None:
        """Never let the list get so narrow that its headers and texts are cut to nothing."""
        self.list_box.setMinimumWidth(self.list_width_for(MIN_TEXT_COLUMN))

    def list_width_for(self, text_column: int) -> int:
        """How wide the list must be to give its user and reply columns ``text_column``
        pixels each, next to the other columns, the scroll bar and the margins."""
        header = self.table.horizontalHeader()
        fixed = sum(
            header.sectionSize(column)
            for column in range(self.model.columnCount())
            if column not in (COL_USER, COL_REPLY)
        )
        scrollbar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        margins = self.list_box.layout().contentsMargins()
        frame = 2 * self.table.frameWidth()
        return fixed + 2 * text_column + scrollbar + frame + margins.left() + margins.right()

    def comfortable_list_width(self) -> int:
        """The narrowest list a saved window layout may bring back."""
        return self.list_width_for(COMFORTABLE_TEXT_COLUMN)

    def _build_list(self) -> QWidget:
        box = QWidget()
        self.list_box = box
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.setSpacing(6)
        filters = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search all messages…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Find examples containing this text in any message (Ctrl+F).")
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        filters.addWidget(self.search, 3)
        self.status_filter = QComboBox()
        for label, value in _STATUS_ITEMS:
            self.status_filter.addItem(label, value)
        self.status_filter.setToolTip("Show only examples with this status.")
        self.status_filter.currentIndexChanged.connect(self._apply_query)
        filters.addWidget(self.status_filter, 2)
        self.code_filter = QComboBox()
        self.code_filter.addItem("Any finding", None)
        self.code_filter.setToolTip("Show only examples with this kind of finding.")
        self.code_filter.currentIndexChanged.connect(self._apply_query)
        filters.addWidget(self.code_filter, 2)
        layout.addLayout(filters)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.table.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(COL_LINE, Qt.SortOrder.AscendingOrder)
        header.sortIndicatorChanged.connect(self._on_sort)
        header.setStretchLastSection(False)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)  # "User me…", not "er messa"
        header.setSectionResizeMode(COL_USER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_REPLY, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (COL_LINE, 46),
            (COL_MESSAGES, 74),
            (COL_TOKENS, 64),
            (COL_STATUS, 92),
        ):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.selection_changed.emit()
        )
        layout.addWidget(self.table, 1)

        bottom = QHBoxLayout()
        self.count_label = QLabel()
        self.count_label.setStyleSheet(f"color: {palette.MUTED};")
        bottom.addWidget(self.count_label, 1)
        self.buttons: dict[str, QToolButton] = {}
        for name, text, tip in (
            ("add", "+ Add", "Add a new example after the selected one (Ctrl+Shift+N)."),
            ("duplicate", "Duplicate", "Duplicate the selected examples (Ctrl+D)."),
            ("delete", "Delete", "Delete the selected examples (Delete)."),
            ("up", "↑", "Move the selected example up (Alt+Up)."),
            ("down", "↓", "Move the selected example down (Alt+Down)."),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setObjectName(f"example_{name}")
            bottom.addWidget(button)
            self.buttons[name] = button
        self.buttons["add"].clicked.connect(self.add_example)
        self.buttons["duplicate"].clicked.connect(self.duplicate_selected)
        self.buttons["delete"].clicked.connect(self.delete_selected)
        self.buttons["up"].clicked.connect(lambda: self.move_selected(-1))
        self.buttons["down"].clicked.connect(lambda: self.move_selected(1))
        layout.addLayout(bottom)
        return box

    def set_editable(self, editable: bool) -> None:
        """Allow or block changes (blocked while a file is still being read)."""
        self.editor.setEnabled(editable)
        for button in self.buttons.values():
            button.setEnabled(editable)

    # Selection -------------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        """Record ids of the selected rows, top to bottom.

        Read from the selection's row ranges: ``selectedRows`` asks the model about every
        selected cell, which took a tenth of a second for 10,000 selected rows.
        """
        ids = [self.model.record_id_at(row) for row in self._selected_rows()]
        return [i for i in ids if i is not None]

    def _selected_rows(self) -> list[int]:
        rows: set[int] = set()
        for selected in self.table.selectionModel().selection():
            rows.update(range(selected.top(), selected.bottom() + 1))
        return sorted(rows)

    def current_id(self) -> int | None:
        """The record shown in the editor."""
        return self.editor.record_id

    def select_record(self, record_id: int, message_index: int | None = None) -> bool:
        """Select and show a record (clearing a filter that hides it); False if it is gone."""
        row = self.model.row_of(record_id)
        if row is None:
            try:
                self.document.dataset.record(record_id)
            except KeyError:
                return False
            self.clear_filters()
            row = self.model.row_of(record_id)
            if row is None:
                return False
        self._show_row(row, record_id, message_index)
        return True

    def _show_row(self, row: int, record_id: int, message_index: int | None = None) -> None:
        index = self.model.index(row, COL_USER)
        self.table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        if self._staying_with is not None:
            return  # the user chose to stay with JSON text not applied yet
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        if self.editor.record_id != record_id:
            self.editor.show_record(record_id)
        self.editor.focus_message(message_index)

    def _after_reset(self) -> None:
        """Keep the example being edited selected when rows were rebuilt (bulk inserts and
        removals, a new search): a reset clears the table's selection silently. A reset that
        brings another dataset keeps nothing: its ids start again at 1 and mean other rows."""
        record_id = self.current_id()
        same_dataset = self.model.dataset is self.editor.dataset_shown
        if same_dataset and record_id is not None and self.model.row_of(record_id) is not None:
            self._reselect(record_id)
        else:
            self._update_count()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        record_id = self.model.record_id_at(current.row()) if current.isValid() else None
        if self._staying_with is not None:
            return  # going back to the example the user stayed with
        shown = self.editor.record_id
        if record_id is not None and shown is not None and record_id != shown:
            problem = self.editor.unapplied_problem()
            ask = self.confirm_leave_unapplied
            if problem is not None and ask is not None and not ask(problem):
                self._staying_with = shown
                QTimer.singleShot(0, self._stay)
                return
        self.editor.show_record(record_id)
        self.selection_changed.emit()

    def _stay(self) -> None:
        """Select again the example whose JSON text is not applied yet."""
        record_id, self._staying_with = self._staying_with, None
        self._reselect(record_id)

    def _on_dataset_replaced(self) -> None:
        self._other_lines = 0  # counted again once its findings come
        self._reset_view_controls()
        self._searched = (None, 0, [])
        self._forget_index()
        if not self.document.loading:  # a file being read is indexed once it is in
            self._follow_edits()
        self._cancel_view_op()
        self._update_count()

    def _on_load_finished(self, _complete: bool) -> None:
        self._follow_edits()

    # The search index ----------------------------------------------------------------------

    def _forget_index(self) -> None:
        self._index_timer.stop()
        if self._index_op is not None:
            self._index_op.cancel()
            self._index_op = None
        if self._indexed_dataset is not None:
            self._indexed_dataset.unsubscribe(self._on_dataset_change)
            self._indexed_dataset = None
        release_in_background(self._search_index.release())
        self._search_index = SearchIndex()

    def _follow_edits(self) -> None:
        """Index the open dataset in the background, and again after each pause in editing."""
        if self._indexed_dataset is not self.document.dataset:
            self._forget_index()
            self._indexed_dataset = self.document.dataset
            self._indexed_dataset.subscribe(self._on_dataset_change)
        self._refresh_index()

    def _on_dataset_change(self, change: Change) -> None:
        # A move too: the index answers from where its records sit once it has learnt that.
        self._index_timer.start()

    def _refresh_index(self) -> None:
        """Read, in the background, the records the search index does not hold yet (after
        reading and counting: a search is right without it, only slower)."""
        if self._index_op is not None or self.document.busy:  # try again after a pause
            self._index_timer.start()
            return
        index, records = self._search_index, list(self.document.dataset)
        op: Op[bool] | None = None

        def ended() -> None:
            if self._index_op is op:
                self._index_op = None

        op = run_op(
            self,
            lambda context: index.refresh(records, context.checkpoint),
            name="indexing for search",
            done=ended,
        )
        self._index_op = op

    @property
    def search_index(self) -> SearchIndex:
        """The open dataset's search index."""
        return self._search_index

    @property
    def indexing(self) -> bool:
        """True while the search index is reading records or waits to."""
        return self._index_op is not None or self._index_timer.isActive()

    # Search, filter, sort ------------------------------------------------------------------

    def clear_filters(self) -> None:
        """Show every example in file order."""
        self._reset_view_controls()
        self._cancel_view_op()
        self.model.show_ids(None)

    def _reset_view_controls(self) -> None:
        """Empty the search, clear the filters and sort by line, without starting a search."""
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        for combo in (self.status_filter, self.code_filter):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        header = self.table.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(COL_LINE, Qt.SortOrder.AscendingOrder)
        header.blockSignals(False)

    def _on_sort(self, column: int, order: Qt.SortOrder) -> None:
        self._apply_query()

    def current_query(self) -> ViewQuery:
        """The search, filters and order chosen in the widgets."""
        header = self.table.horizontalHeader()
        return ViewQuery(
            text=self.search.text(),
            status=StatusFilter(self.status_filter.currentData() or StatusFilter.ALL),
            code=self.code_filter.currentData(),
            sort=_SORT_KEYS.get(header.sortIndicatorSection(), SortKey.POSITION),
            descending=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder,
        )

    def _apply_query(self) -> None:
        self._search_timer.stop()
        query = self.current_query()
        self._cancel_view_op()
        selected = self.current_id()
        if query.is_identity:
            self.model.show_ids(None)
            self._reselect(selected)
            return
        records: list[Record] = list(self.document.dataset)
        self._searched = (self.document.dataset, self.document.dataset.version, records)
        needs_facts = (
            query.status is not StatusFilter.ALL
            or query.code is not None
            or query.sort in (SortKey.TOKENS, SortKey.STATUS)
        )
        results = self.document.results_snapshot() if needs_facts else {}
        severity, codes = self.model.dataset_finding_maps()
        index = self._search_index

        def job(context: JobContext) -> list[int]:
            facts = (
                build_row_facts(records, results, severity, codes, context.checkpoint)
                if needs_facts
                else {}
            )
            return compute_view(records, facts, query, context.checkpoint, index)

        op: Op[list[int]] | None = None

        def found(ids: list[int]) -> None:
            if self._view_op is op:  # not a search that a newer one replaced
                self._on_view_result(ids)

        def ended() -> None:
            if self._view_op is op:
                self._on_view_finished()

        self.view_busy.emit(True)
        self.count_label.setText("Searching…")
        op = run_op(
            self, job, name="searching", success=found, failure=self.document.failed, done=ended
        )
        self._view_op = op

    def _cancel_view_op(self) -> None:
        if self._view_op is not None:
            self._view_op.cancel()
            self._view_op = None
            self.view_busy.emit(False)

    def _on_view_result(self, ids: list[int]) -> None:
        selected = self.current_id()
        # Examples added while the search ran are shown too, so a new one never vanishes.
        dataset, version, records = self._searched
        added_since: list[int] = []
        if dataset is not self.document.dataset or version != dataset.version:
            searched = {r.id for r in records}
            added_since = [r.id for r in self.document.dataset if r.id not in searched]
        self.model.show_ids([*ids, *added_since])
        self._reselect(selected)

    def _on_view_finished(self) -> None:
        self._view_op = None
        self.view_busy.emit(False)
        self._update_count()

    @property
    def searching(self) -> bool:
        """True while a search or sort runs in the background."""
        return self._view_op is not None or self._search_timer.isActive()

    def _reselect(self, record_id: int | None) -> None:
        if record_id is None:
            return
        row = self.model.row_of(record_id)
        if row is not None:
            index = self.model.index(row, COL_USER)
            self.table.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.scrollTo(index)
        self._update_count()

    def _refresh_code_filter(self) -> None:
        current = self.code_filter.currentData()
        codes = sorted(self.document.finding_codes)
        if current is not None and current not in codes:
            codes.append(current)
        wanted = [None, *codes]
        shown = [self.code_filter.itemData(i) for i in range(self.code_filter.count())]
        if wanted == shown:
            return
        self.code_filter.blockSignals(True)
        self.code_filter.clear()
        self.code_filter.addItem("Any finding", None)
        for code in codes:
            self.code_filter.addItem(ALL_FINDING_CODES.get(code, code), code)
        self.code_filter.setCurrentIndex(max(0, self.code_filter.findData(current)))
        self.code_filter.blockSignals(False)

    def _count_other_lines(self) -> None:
        """Count the damaged and empty lines again, once the findings are current (one pass
        over the records, not one per edit)."""
        example = LineState.EXAMPLE  # the state, not ``is_example``: 3 ms at 100,000, not 13
        self._other_lines = sum(1 for r in self.document.dataset if r.state is not example)
        self._update_count()

    def _update_count(self) -> None:
        total = len(self.document.dataset)
        shown = self.model.rowCount()
        # The rows hold damaged and empty lines too: saying "examples" for all of them
        # disagreed with the findings and the estimate.
        other = min(self._other_lines, total)
        if other:
            lines = f"{total:,} line{'s' if total != 1 else ''}"
            examples = total - other
            whole = f"{lines} ({examples:,} example{'s' if examples != 1 else ''})"
        else:
            lines = whole = f"{total:,} example{'s' if total != 1 else ''}"
        if self.model.in_file_order:
            self.count_label.setText(whole)
        else:
            self.count_label.setText(f"Showing {shown:,} of {lines}")

    # Example-level edits -----------------------------------------------------------------------

    def usual_system(self) -> str | None:
        """The system message of the first conversation, to start new examples with."""
        for record in self.document.dataset.examples():
            if record.kind is not ExampleKind.CHAT:
                continue
            messages = record.value.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            if (
                isinstance(first, dict)
                and first.get("role") == "system"
                and isinstance(first.get("content"), str)
            ):
                return first["content"]
            return None
        return None

    def add_example(self) -> int | None:
        """Add an empty conversation after the current example and open it."""
        dataset = self.document.dataset
        current = self.current_id()
        position = dataset.position(current) + 1 if current is not None else len(dataset)
        ids = self.document.insert_values(
            [(position, new_example_value(self.usual_system()))], "Add example"
        )
        if not ids:
            return None
        self.select_record(ids[0])
        if self.editor.chat.cards:
            index = 1 if len(self.editor.chat.cards) > 2 else 0
            self.editor.chat.focus_message(index)
        return ids[0]

    def duplicate_selected(self) -> list[int]:
        """Put a copy of each selected example right after it."""
        dataset = self.document.dataset
        placed = []
        ordered = sorted(self.selected_ids(), key=dataset.position)
        for offset, record_id in enumerate(ordered, start=1):
            record = dataset.record(record_id)
            if record.is_example:
                copy = dataset.make_record(record.value)
            else:
                copy = _text_record(dataset, record)
            # Each earlier copy shifts the later ones down by one.
            placed.append((dataset.position(record_id) + offset, copy))
        if not placed:
            return []
        label = "Duplicate example" if len(placed) == 1 else f"Duplicate {len(placed)} examples"
        command = InsertRecordsCommand(dataset, placed, label)
        self.document.push(command)
        self.select_record(command.record_ids[-1])
        return command.record_ids

    def delete_selected(self) -> int:
        """Delete the selected examples (one undo step); returns how many."""
        rows = self._selected_rows()
        ids = [i for i in map(self.model.record_id_at, rows) if i is not None]
        if not ids:
            return 0
        dataset = self.document.dataset
        next_id = self.model.record_id_at(rows[-1] + 1)
        next_row = rows[-1] + 1 - len(rows)  # where it is once the selected rows are gone
        label = "Delete example" if len(ids) == 1 else f"Delete {len(ids)} examples"
        self.document.push(RemoveRecordsCommand(dataset, ids, label))
        if next_id is None and self.model.rowCount():
            next_row = self.model.rowCount() - 1
            next_id = self.model.record_id_at(next_row)
        if next_id is not None and len(ids) > SHOW_NEXT_AT_ONCE_MAX:
            # Removing the rows and building the next example's editor each take a good part
            # of a tenth of a second at this size: the window repaints between the two.
            QTimer.singleShot(1, self, lambda: self._show_next(next_id, next_row))
        elif next_id is not None:
            self.select_record(next_id)
        return len(ids)

    def _show_next(self, record_id: int, row: int) -> None:
        """Show the example after a large deletion, unless it went meanwhile. Its row is
        checked, not looked up: the table's map of rows, stale after a removal, would be
        rebuilt for 100,000 rows."""
        if self.model.record_id_at(row) != record_id:
            found = self.model.row_of(record_id)
            if found is None:
                return
            row = found
        self._show_row(row, record_id)

    def move_selected(self, step: int) -> bool:
        """Move the current example up (-1) or down (+1) in the file."""
        current = self.current_id()
        if current is None or not self.model.in_file_order:
            return False
        dataset = self.document.dataset
        position = dataset.position(current)
        target = position + step
        if not 0 <= target < len(dataset):
            return False
        label = "Move example up" if step < 0 else "Move example down"
        self.document.push(MoveRecordCommand(dataset, current, target, label))
        self.select_record(current)
        return True


def _text_record(dataset: Dataset, source: Record) -> Record:
    """A new record carrying the text of a damaged or empty line (for duplicating it)."""
    return replace(
        source, id=dataset.new_id(), line=None, raw=None, edited_value=None, edited_text=source.text
    )

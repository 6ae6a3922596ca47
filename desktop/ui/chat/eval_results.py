"""The results of an evaluation run: a summary per model, a row per item, and the chosen item's
question, reference and answers side by side, where each answer can be rated or added to the
dataset.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.evaluation import EvalRun, Thumb
from desktop.ui.chat.chat_services import ChatServices
from desktop.ui.chat.chat_view import MarkdownView
from desktop.ui.chat.eval_models import EvalResultsModel, EvalSummaryModel
from desktop.ui.common import palette


class EvalResults(QWidget):
    """The summary table over the results table and the details of the selected item.

    ``rated(item_id, model, thumb)`` and ``add_requested(item_id, model)`` carry what the
    user asked for in the details; the page acts on them.
    """

    rated = Signal(str, str, object)
    add_requested = Signal(str, str)

    def __init__(self, services: ChatServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.run: EvalRun | None = None
        self.summary_model = EvalSummaryModel(services.catalog, self)
        self.summary_table = QTableView()
        self.summary_table.setModel(self.summary_model)
        self.results_model = EvalResultsModel(self)
        self.results_table = QTableView()
        self.results_table.setModel(self.results_model)
        self.detail = QScrollArea()
        self.detail.setWidgetResizable(True)
        self.detail.setFrameShape(QFrame.Shape.NoFrame)
        self._detail_item: str | None = None
        self._build_layout()
        self.results_table.selectionModel().selectionChanged.connect(self._on_row_selected)

    def _build_layout(self) -> None:
        for table in (self.summary_table, self.results_table):
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setAlternatingRowColors(True)
            table.verticalHeader().hide()
            table.setWordWrap(False)
        self.summary_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        summary_header = self.summary_table.horizontalHeader()
        summary_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        summary_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.results_table.horizontalHeader().setStretchLastSection(True)
        self.results_table.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )

        summary_box = QWidget()
        summary_layout = QVBoxLayout(summary_box)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("Summary")
        heading.setStyleSheet("font-weight: 600;")
        summary_layout.addWidget(heading)
        summary_layout.addWidget(self.summary_table)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.results_table)
        lower.addWidget(self.detail)
        lower.setSizes([980, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(summary_box)
        layout.addWidget(lower, 1)

    def labels(self, run: EvalRun) -> list[str]:
        """The models' short names (their id when the directory does not know them)."""
        labels = []
        for model in run.models:
            entry = None
            if run.profile_id is not None:
                entry = self.services.directory.find(run.profile_id, model)
            labels.append(entry.label if entry is not None else model)
        return labels

    def show_run(self, run: EvalRun) -> None:
        """Show a run's answers and summary; no item is selected yet."""
        self.run = run
        self.results_model.set_run(run, self.labels(run))
        self.results_table.setColumnWidth(0, 190)
        self.results_table.setColumnWidth(1, 190)
        for model_index in range(len(run.models)):
            self.results_table.setColumnWidth(2 + 3 * model_index, 180)
            self.results_table.setColumnWidth(3 + 3 * model_index, 90)
            self.results_table.setColumnWidth(4 + 3 * model_index, 60)
        self.refresh_summary()
        self._detail_item = None
        self.detail.setWidget(QWidget())

    def reload(self) -> None:
        """Show every answer of the run again (after some were forgotten)."""
        if self.run is not None:
            self.results_model.set_run(self.run, self.labels(self.run))

    def refresh_summary(self) -> None:
        """Recompute the summary and fit the table to its rows."""
        run = self.run
        self.summary_model.refresh(run, self.labels(run) if run is not None else ())
        header = self.summary_table.horizontalHeader().height()
        rows = self.summary_model.rowCount()
        height = self.summary_table.verticalHeader().defaultSectionSize()
        self.summary_table.setFixedHeight(header + max(1, rows) * height + 4)

    def item_changed(self, item_id: str) -> None:
        """An item got an answer or a rating: repaint its row, the summary and its details."""
        self.results_model.item_changed(item_id)
        self.refresh_summary()
        if item_id == self._detail_item:
            self.show_detail(item_id)

    def _on_row_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in selected.indexes()}
        item_id = self.results_model.item_id_at(min(rows)) if rows else None
        if item_id is not None:
            self.show_detail(item_id)

    def show_detail(self, item_id: str) -> None:
        """Show one item's question, reference and answers, with their scores and ratings."""
        run = self.run
        if run is None:
            return
        self._detail_item = item_id
        item = run.item(item_id)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(_heading("Question"))
        layout.addWidget(_text_block(item.question, markdown=False))
        layout.addWidget(_heading("Reference reply"))
        layout.addWidget(_text_block(item.reference, markdown=True))
        for model, label in zip(run.models, self.labels(run), strict=True):
            result = run.result(item_id, model)
            layout.addWidget(_heading(label))
            if result is None:
                layout.addWidget(_muted("Waiting for the answer…"))
                continue
            if not result.ok:
                layout.addWidget(_muted(f"⚠ {result.error}"))
                continue
            layout.addWidget(_text_block(result.reply, markdown=True))
            row = QGridLayout()
            score = f"Similarity {result.similarity:.2f}" if result.similarity is not None else ""
            if result.exact_match:
                score += " · exact match"
            row.addWidget(_muted(score), 0, 0)
            thumbs = ((Thumb.UP, "✓ Good"), (Thumb.DOWN, "✗ Bad"))
            for column, (thumb, text) in enumerate(thumbs, 1):
                button = QToolButton()
                button.setText(text)
                button.setCheckable(True)
                button.setChecked(result.rating is thumb)
                button.setToolTip("Good answer" if thumb is Thumb.UP else "Bad answer")
                button.clicked.connect(
                    lambda checked, m=model, t=thumb: self.rated.emit(
                        item_id, m, t if checked else None
                    )
                )
                row.addWidget(button, 0, column)
            add = QPushButton("Add to dataset…")
            add.setToolTip("Make this question and answer a training example (edit it first).")
            add.clicked.connect(lambda _checked=False, m=model: self.add_requested.emit(item_id, m))
            row.addWidget(add, 0, 3)
            row.setColumnStretch(0, 1)
            layout.addLayout(row)
        layout.addStretch(1)
        self.detail.setWidget(box)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; margin-top: 6px;")
    label.setWordWrap(True)
    return label


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {palette.MUTED};")
    label.setWordWrap(True)
    return label


def _text_block(text: str, *, markdown: bool) -> QWidget:
    frame = QFrame()
    frame.setObjectName("evalText")
    frame.setStyleSheet(
        "#evalText { background: white; "
        f"border: 1px solid {palette.BORDER}; border-radius: 6px; }}"
    )
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(8, 4, 8, 4)
    view = MarkdownView()
    view.show_text(text, markdown=markdown)
    layout.addWidget(view)
    return frame

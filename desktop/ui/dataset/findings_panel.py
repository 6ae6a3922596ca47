"""The findings list: what would stop training, in plain words, and where it is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.findings import Finding, Severity
from desktop.core.wording import count
from desktop.ui.common import palette
from desktop.ui.common.icons import status_icon
from desktop.ui.dataset.document import DatasetDocument

Index = QModelIndex | QPersistentModelIndex

#: The list shows at most this many findings (errors first); the counts cover all of them.
MAX_LISTED = 500

#: Role holding a finding's fix (the second line).
FIX_ROLE = Qt.ItemDataRole.UserRole + 2
#: Role holding the Finding itself.
FINDING_ROLE = Qt.ItemDataRole.UserRole + 3


class FindingsModel(QAbstractListModel):
    """A read-only list over the document's current findings."""

    def __init__(
        self,
        locate: Callable[[int], int | None] = lambda _record_id: None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._findings: list[Finding] = []
        #: Where a record sits in the dataset now (None when gone): new examples have no line.
        self._locate = locate

    def set_findings(self, findings: Sequence[Finding]) -> None:
        """Show a new list of findings."""
        self.beginResetModel()
        self._findings = list(findings)
        self.endResetModel()

    def finding(self, row: int) -> Finding | None:
        """The finding shown in ``row``."""
        return self._findings[row] if 0 <= row < len(self._findings) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._findings)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        finding = self.finding(index.row()) if index.isValid() else None
        if finding is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            where = self._where(finding)
            if finding.message_index is not None:
                where += f", message {finding.message_index + 1}"
            return f"{where}: {finding.text}"
        if role == Qt.ItemDataRole.DecorationRole:
            return status_icon(finding.severity)
        if role in (Qt.ItemDataRole.ToolTipRole, FIX_ROLE):
            if finding.fix:
                return f"How to fix: {finding.fix}" if role == FIX_ROLE else finding.fix
            return None
        if role == FINDING_ROLE:
            return finding
        return None

    def _where(self, finding: Finding) -> str:
        """ "Line 12" for a line of the file, "Example 40 (new)" for an example made in the app
        (it has no line yet), "Whole dataset" for what concerns all the examples together."""
        if finding.line is not None:
            return f"Line {finding.line:,}"
        if finding.record_id is not None:
            position = self._locate(finding.record_id)
            return f"Example {position + 1:,} (new)" if position is not None else "New example"
        return "Whole dataset"


class FindingDelegate(QStyledItemDelegate):
    """Two lines per finding: what is wrong, and (in grey) how to fix it."""

    PADDING = 6
    ICON = 16

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() - 1))
        return option.font, small

    def _text_width(self, option: QStyleOptionViewItem) -> int:
        view = option.widget
        width = option.rect.width()
        if isinstance(view, QListView):
            width = view.viewport().width()
        return max(80, width - self.ICON - 3 * self.PADDING)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        font, small = self._fonts(option)
        width = self._text_width(option)
        flags = int(Qt.TextFlag.TextWordWrap)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        height = QFontMetrics(font).boundingRect(QRect(0, 0, width, 10_000), flags, text).height()
        fix = index.data(FIX_ROLE)
        if fix:
            height += (
                2
                + QFontMetrics(small).boundingRect(QRect(0, 0, width, 10_000), flags, fix).height()
            )
        return QSize(width, height + 2 * self.PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            background = QStyleOptionViewItem(option)
            self.initStyleOption(background, index)
            background.text = ""
            background.icon = QIcon()
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        font, small = self._fonts(option)
        rect = option.rect
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        if icon is not None:
            icon.paint(
                painter,
                QRect(
                    rect.left() + self.PADDING, rect.top() + self.PADDING + 1, self.ICON, self.ICON
                ),
            )
        left = rect.left() + self.ICON + 2 * self.PADDING
        width = self._text_width(option)
        flags = int(Qt.TextFlag.TextWordWrap)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(option.palette.color(role))
        painter.setFont(font)
        bounds = painter.boundingRect(
            QRect(left, rect.top() + self.PADDING, width, 10_000), flags, text
        )
        painter.drawText(bounds, flags, text)
        fix = index.data(FIX_ROLE)
        if fix:
            painter.setFont(small)
            painter.setPen(option.palette.color(role) if selected else QColor(palette.MUTED))
            fix_rect = QRect(left, bounds.bottom() + 2, width, 10_000)
            painter.drawText(painter.boundingRect(fix_rect, flags, fix), flags, fix)
        painter.restore()


class FindingsPanel(QWidget):
    """Counts per severity, a 'Ready to train' banner, and the list of findings."""

    #: The user wants to see a finding: (record id, message index or None).
    jump_requested = Signal(int, object)

    def __init__(self, document: DatasetDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        counts = QHBoxLayout()
        counts.setSpacing(12)
        self.count_labels: dict[Severity, QLabel] = {}
        for severity, tip in (
            (Severity.ERROR, "Errors: OpenAI would reject the file until these are fixed."),
            (Severity.WARNING, "Warnings: training works, but results may suffer."),
            (Severity.INFO, "Notes: worth knowing, nothing to fix."),
        ):
            icon = QLabel()
            icon.setPixmap(status_icon(severity).pixmap(16, 16))
            icon.setToolTip(tip)
            label = QLabel("0")
            label.setToolTip(tip)
            label.setObjectName(f"count_{severity.value}")
            counts.addWidget(icon)
            counts.addWidget(label)
            self.count_labels[severity] = label
        counts.addStretch(1)
        layout.addLayout(counts)
        self.ready_label = QLabel()
        self.ready_label.setObjectName("readyLabel")
        self.ready_label.setWordWrap(True)
        layout.addWidget(self.ready_label)
        self.model = FindingsModel(self._position_of, self)
        self.view = QListView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(FindingDelegate(self.view))
        self.view.setWordWrap(True)
        self.view.setUniformItemSizes(False)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.view.setToolTip("Double-click a finding to go to the example.")
        self.view.doubleClicked.connect(self._on_activated)
        self.view.activated.connect(self._on_activated)
        layout.addWidget(self.view, 1)
        self.more_label = QLabel()
        self.more_label.setWordWrap(True)
        self.more_label.setStyleSheet(f"color: {palette.MUTED};")
        layout.addWidget(self.more_label)
        self.empty_label = QLabel("Open or create a dataset to see what needs fixing here.")
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet(f"color: {palette.MUTED};")
        layout.addWidget(self.empty_label)
        document.findings_changed.connect(self.refresh)
        self.refresh()

    def _position_of(self, record_id: int) -> int | None:
        dataset = self.document.dataset
        return dataset.position(record_id) if dataset.has_record(record_id) else None

    def refresh(self) -> None:
        """Show the document's current findings and counts."""
        findings = self.document.findings
        self.model.set_findings(findings[:MAX_LISTED])
        hidden = len(findings) - MAX_LISTED
        self.more_label.setText(
            f"{count(hidden, 'more finding')} {'is' if hidden == 1 else 'are'} not listed. "
            "Filter the examples by finding type to see them all."
            if hidden > 0
            else ""
        )
        self.more_label.setVisible(hidden > 0)
        counts = self.document.severity_counts()
        for severity, label in self.count_labels.items():
            n = counts[severity]
            noun = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[
                severity
            ]
            label.setText(count(n, noun))
        has_examples = any(True for _ in self.document.dataset.examples())
        busy = self.document.checking
        if busy:
            self._banner("Checking the examples…", palette.MUTED, palette.SURFACE)
        elif not has_examples:
            self._banner("Add examples to get started.", palette.MUTED, palette.SURFACE)
        elif counts[Severity.ERROR] == 0:
            self._banner("✓ Ready to train", palette.SUCCESS_TEXT, palette.SUCCESS_BACKGROUND)
        else:
            n = counts[Severity.ERROR]
            self._banner(
                f"Fix {count(n, 'error')} before training.",
                palette.ERROR_STRONG,
                palette.ERROR_BACKGROUND,
            )
        self.ready_label.setProperty(
            "ready", not busy and has_examples and not counts[Severity.ERROR]
        )
        self.empty_label.setVisible(not findings and not has_examples)
        self.view.setVisible(bool(findings))

    def _banner(self, text: str, color: str, background: str) -> None:
        self.ready_label.setText(text)
        self.ready_label.setStyleSheet(
            f"QLabel {{ color: {color}; background: {background}; border-radius: 6px; "
            "padding: 6px 8px; font-weight: 600; }"
        )

    @property
    def is_ready(self) -> bool:
        """True when the panel says 'Ready to train'."""
        return bool(self.ready_label.property("ready"))

    def _on_activated(self, index: QModelIndex) -> None:
        finding = self.model.finding(index.row())
        if finding is not None and finding.record_id is not None:
            self.jump_requested.emit(finding.record_id, finding.message_index)

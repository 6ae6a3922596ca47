"""The first thing a new user sees: open a file, start from scratch, or try the sample."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.ui.common import palette


class WelcomePage(QWidget):
    """Three ways to start, plus the recent files."""

    open_requested = Signal()
    new_requested = Signal()
    sample_requested = Signal()
    recent_requested = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        column = QVBoxLayout()
        column.setSpacing(14)
        title = QLabel(f"Welcome to {APP_NAME}")
        title.setStyleSheet("font-size: 22pt; font-weight: 600;")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(title)
        intro = QLabel(
            "Teach a chat model your way of answering. Collect example conversations, see "
            "what training will cost while you type, fine-tune, and chat with the result."
        )
        intro.setWordWrap(True)
        intro.setAlignment(Qt.AlignmentFlag.AlignCenter)
        intro.setStyleSheet(f"font-size: 11pt; color: {palette.MUTED};")
        column.addWidget(intro)
        buttons = QHBoxLayout()
        buttons.setSpacing(12)
        for name, text, detail, signal in (
            ("open", "Open a file…", "JSONL, JSON or CSV", self.open_requested),
            ("new", "Start a new dataset", "Write your own examples", self.new_requested),
            (
                "sample",
                "Open the sample",
                "40 support conversations",
                self.sample_requested,
            ),
        ):
            button = QPushButton(f"{text}\n{detail}")
            button.setObjectName(f"welcome_{name}")
            button.setMinimumSize(240, 76)
            button.setStyleSheet("QPushButton { font-size: 11pt; padding: 8px 14px; }")
            button.clicked.connect(signal)
            buttons.addWidget(button)
        column.addLayout(buttons)
        column.addLayout(self._steps())
        self.recent_title = QLabel("Recent files")
        self.recent_title.setStyleSheet("font-weight: 600; margin-top: 12px;")
        column.addWidget(self.recent_title)
        self.recent = QListWidget()
        self.recent.setFrameShape(QFrame.Shape.NoFrame)
        self.recent.setCursor(Qt.CursorShape.PointingHandCursor)
        self.recent.setStyleSheet(
            "QListWidget { background: transparent; }"
            "QListWidget::item { padding: 4px 6px; border-radius: 4px; }"
            "QListWidget::item:hover { background: rgba(26, 115, 232, 0.08); }"
        )
        self.recent.itemActivated.connect(self._on_recent)
        self.recent.itemClicked.connect(self._on_recent)
        column.addWidget(self.recent)
        tip = QLabel("Tip: you can also drop a file onto this window.")
        tip.setStyleSheet(f"color: {palette.FAINT};")
        tip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(tip)
        holder = QHBoxLayout()
        holder.addStretch(1)
        box = QWidget()
        box.setLayout(column)
        box.setMaximumWidth(820)
        holder.addWidget(box, 4)
        holder.addStretch(1)
        outer.addLayout(holder)
        outer.addStretch(3)

    #: The whole journey in three steps, in the app's own words.
    STEPS = (
        (
            "1  Curate",
            "Write or import example conversations: what people ask, and the reply you want. "
            "The app checks every example and shows what training will cost as you type.",
        ),
        (
            "2  Train",
            "When the dataset is ready, press Train a model… under the cost estimate: it is "
            "uploaded to your provider, which teaches a copy of the model. You watch it learn "
            "in the Jobs tab.",
        ),
        (
            "3  Chat",
            "Talk to the model you made in the Chat tab, compare it with the original, and "
            "turn its best replies into new examples.",
        ),
    )

    def _steps(self) -> QHBoxLayout:
        """How the app works, so a first-time user knows where the path leads."""
        row = QHBoxLayout()
        row.setSpacing(12)
        for title, text in self.STEPS:
            card = QLabel(f"<b>{title}</b><br>{text}")
            card.setObjectName("welcome_step")
            card.setWordWrap(True)
            card.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            card.setMinimumWidth(240)
            card.setStyleSheet(
                "QLabel { background: rgba(26, 115, 232, 0.06); border-radius: 6px;"
                f" padding: 10px 12px; color: {palette.TEXT}; }}"
            )
            row.addWidget(card, 1)
        return row

    def set_recent(self, paths: list[str]) -> None:
        """Show the recent files (hidden when there are none)."""
        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(f"{Path(path).name}   ·   {Path(path).parent}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent.addItem(item)
        rows = min(len(paths), 6)
        self.recent.setFixedHeight(rows * (self.recent.sizeHintForRow(0) if paths else 0) + 6)
        self.recent.setVisible(bool(paths))
        self.recent_title.setVisible(bool(paths))

    def _on_recent(self, item: QListWidgetItem) -> None:
        self.recent_requested.emit(Path(item.data(Qt.ItemDataRole.UserRole)))

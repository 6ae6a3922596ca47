"""A one-line label that ends in "…" when it has no room, instead of being cut mid-word."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Shows as much of its text as fits, then "…"; the whole text is its tooltip then.

    It asks for its whole text's width but makes do with less, so a long text cannot push
    the widgets beside it out of view. ``text()`` stays the whole text.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        self._details = ""
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        """Room for "…" only: it asks for its whole text, but takes what it is given."""
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") + 2, hint.height())

    def set_details(self, details: str) -> None:
        """A tooltip of its own, shown always, in place of the whole text when shortened."""
        self._details = details
        self._update_tooltip()

    def setText(self, text: str) -> None:
        """Set the whole text (shortened only where it is painted)."""
        super().setText(text)
        self._update_tooltip()

    def shown_text(self) -> str:
        """The text as painted at the current width."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        shortened = self.shown_text() != self.text()
        self.setToolTip(self._details or (self.text() if shortened else ""))

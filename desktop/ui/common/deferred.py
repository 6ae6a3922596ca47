"""A place kept for a widget that is slow to make, made right after the place is first painted.

Why: the charts are drawn with pyqtgraph, which takes a fifth of a second to import. Making a
chart once the screen around it has been painted lets the window (or a tab) appear at once and
the chart follow a moment later, instead of everything waiting for it. Whatever needs the
widget sooner (saving a picture, a test) makes it there and then with ``widget()``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class DeferredWidget(QWidget):
    """Holds the place of the widget ``make`` returns, and makes it after its first paint."""

    def __init__(self, make: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make = make
        self._widget: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def is_made(self) -> bool:
        """True once the widget exists."""
        return self._widget is not None

    def widget(self) -> QWidget:
        """The widget, made now if it was not yet."""
        if self._widget is None:
            self._widget = self._make()
            self._layout.addWidget(self._widget)
            if self.isVisible():
                self._widget.show()  # now, not at the next turn of the event loop
                self._layout.activate()
        return self._widget

    def paintEvent(self, event: QPaintEvent) -> None:
        """Painted empty: make the widget as soon as this paint is on screen."""
        super().paintEvent(event)
        if self._widget is None:
            QTimer.singleShot(0, self, self.widget)

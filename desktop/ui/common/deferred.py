"""A place kept for a widget that is slow to make, made right after the place is first painted.

Why: the charts are drawn with pyqtgraph, which takes a fifth of a second to import. Making a
chart once the screen around it has been painted lets the window (or a tab) appear at once and
the chart follow a moment later, instead of everything waiting for it. The library the widget
needs is imported on a worker, a moment after the window has shown (while the user looks at
it) or at the place's first paint if that comes first, and the widget is made once the import
is done: on the UI thread the import held the window for a third of a second, and even on a
worker it slowed the first paint of a file just opened. Whatever needs the widget sooner
(saving a picture, a test) makes it there and then with ``widget()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktop.ui.common.ops import run_op

#: The library of a deferred widget is imported this long after the widget is made
#: (milliseconds): the window is built, then the tokenizers load (most of a second), then it
#: shows, so the import runs while the window idles, before a file is opened.
PRELOAD_DELAY_MS = 1500


class DeferredWidget(QWidget):
    """Holds the place of the widget ``make`` returns, and makes it after its first paint.

    ``library`` names the module ``make`` imports; it is imported on a worker first.
    """

    def __init__(
        self,
        make: Callable[[], QWidget],
        parent: QWidget | None = None,
        *,
        library: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._make = make
        self._library = library
        self._importing = False
        self._painted = False
        self._widget: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        if library is not None:
            QTimer.singleShot(PRELOAD_DELAY_MS, self, self._import)

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
        """Painted empty: make the widget once this paint is on screen and its library is in."""
        super().paintEvent(event)
        if self._widget is not None:
            return
        self._painted = True
        if self._library is None:
            QTimer.singleShot(0, self, self.widget)
        else:
            self._import()

    def _import(self) -> None:
        """Import the library on a worker, then make the widget if its place was painted.

        Imported there even when another place started the same import, or finished it:
        waiting for that import's lock there keeps the wait off the UI thread, and a finished
        import returns at once.
        """
        library = self._library
        if library is None or self._importing or self._widget is not None:
            return
        self._importing = True
        run_op(
            self,
            lambda _context: importlib.import_module(library),
            name=f"importing {library}",
            done=self._on_imported,
        )

    def _on_imported(self) -> None:
        self._importing = False
        if self._painted:
            self.widget()

"""A plain-text editor that grows with its text and leaves Undo/Redo to the window.

Message texts are edited in place, so each box is as tall as its text (up to a cap) and the
conversation reads like a chat. The app's undo stack owns undo: Ctrl+Z inside a box undoes the
last edit of the dataset, exactly as it does anywhere else.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent, QKeySequence, QTextOption
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextEdit, QWidget

#: Qt's plain text uses these separators between paragraphs and for soft breaks.
_PARAGRAPH = "\u2029"
_LINE = "\u2028"


def _shown(text: str) -> str:
    """What a QTextEdit reads back after showing ``text`` (its newlines are normalised)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class GrowingTextEdit(QTextEdit):
    """A plain-text box whose height follows its content.

    ``text_edited`` fires only for the user's typing, never for ``set_text``. ``text()``
    returns the exact text given to ``set_text`` while the user has not changed it, so opening
    and closing an editor never rewrites a message (not even its line endings or
    non-breaking spaces).
    """

    text_edited = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        monospace: bool = False,
        min_lines: int = 1,
        max_lines: int = 24,
    ) -> None:
        super().__init__(parent)
        self.setAcceptRichText(False)
        self.setUndoRedoEnabled(False)
        self.setTabChangesFocus(True)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        if monospace:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._min_lines = min_lines
        self._max_lines = max_lines
        self._given = ""
        self._given_shown = ""
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.textChanged.connect(self._on_text_changed)
        self._fit()

    def set_text(self, text: str) -> None:
        """Show ``text`` without reporting an edit."""
        self._given = text
        self._given_shown = _shown(text)
        if self._read() == self._given_shown:
            return
        self.blockSignals(True)
        self.setPlainText(text)
        self.blockSignals(False)
        self._fit()

    def _read(self) -> str:
        # toPlainText() would turn non-breaking spaces into plain ones; the raw text keeps them.
        return self.document().toRawText().replace(_PARAGRAPH, "\n").replace(_LINE, "\n")

    def text(self) -> str:
        """The current text (exactly the given text while unchanged)."""
        current = self._read()
        return self._given if current == self._given_shown else current

    def _on_text_changed(self) -> None:
        self._fit()
        self.text_edited.emit(self.text())

    def _fit(self) -> None:
        line = self.fontMetrics().lineSpacing()
        document = self.document()
        document.setTextWidth(max(50, self.viewport().width()))
        margins = self.contentsMargins()
        chrome = margins.top() + margins.bottom() + 2 * int(document.documentMargin())
        content = int(document.size().height()) + margins.top() + margins.bottom()
        low = self._min_lines * line + chrome
        high = self._max_lines * line + chrome
        self.setFixedHeight(max(low, min(content, high)))

    def resizeEvent(self, event: QEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(320, self.height())

    def event(self, event: QEvent) -> bool:
        # Let Undo/Redo reach the window's actions instead of the box's own history.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.matches(QKeySequence.StandardKey.Undo) or event.matches(
                QKeySequence.StandardKey.Redo
            ):
                event.ignore()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):
                event.ignore()
                return True
        return super().event(event)

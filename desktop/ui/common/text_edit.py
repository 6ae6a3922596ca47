"""A plain-text editor that grows with its text and leaves Undo/Redo to the window.

Message texts are edited in place, so each box is as tall as its text (up to a cap) and the
conversation reads like a chat. The app's undo stack owns undo: Ctrl+Z inside a box undoes the
last edit of the dataset, exactly as it does anywhere else.

Qt lays out a paragraph as a whole, before showing it and again after every keystroke in it,
so a 10 MB message (often one paragraph) would freeze the window for minutes. A text longer
than ``PAGE_CHARS`` is therefore shown one page at a time: the box holds only the page being
read and keeps the other pages as they are, so showing and typing cost the same as for a
message of one page, and nothing outside the page is ever rewritten.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent, QKeySequence, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTextEdit,
    QToolButton,
    QWidget,
)

from desktop.ui.common import palette

#: Qt's plain text uses these separators between paragraphs and for soft breaks.
_PARAGRAPH = "\u2029"
_LINE = "\u2028"

#: A text longer than this many characters is shown one page (of at most this many) at a time.
PAGE_CHARS = 20_000
#: A run of this many characters without a space is wrapped anywhere: Qt's search for a word
#: boundary in it takes time that grows with the square of its length.
LONG_RUN_CHARS = 4_000
_LONG_RUN = re.compile(rf"\S{{{LONG_RUN_CHARS}}}")


def _shown(text: str) -> str:
    """What a QTextEdit reads back after showing ``text`` (its newlines are normalised)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def paginate(text: str, size: int = PAGE_CHARS) -> list[str]:
    """``text`` cut into pages of at most ``size`` characters (one page when it fits).

    A page ends after a line break or a space in its last quarter when there is one, so words
    are not cut; never between CR and LF, which read back as two line breaks once edited.
    """
    if len(text) <= size:
        return [text]
    pages = []
    start = 0
    while len(text) - start > size:
        end = start + size
        floor = end - size // 4
        cut = text.rfind("\n", floor, end) + 1
        if cut <= floor:
            cut = max(text.rfind(" ", floor, end), text.rfind("\t", floor, end)) + 1
        if cut <= floor:
            cut = end - 1 if text[end - 1] == "\r" and text[end] == "\n" else end
        pages.append(text[start:cut])
        start = cut
    pages.append(text[start:])
    return pages


def _index(text: str, position: int) -> int:
    """The index in ``text`` of a Qt cursor ``position`` (Qt counts UTF-16 code units)."""
    if text.isascii():
        return position
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * position]
    return len(units.decode("utf-16-le", "surrogatepass"))


def _position(text: str, index: int) -> int:
    """The Qt cursor position of ``index`` in ``text`` (the inverse of ``_index``)."""
    if text.isascii():
        return index
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def _locate(pages: list[str], offset: int) -> tuple[int, int]:
    """The page holding character ``offset`` of the joined ``pages``, and the offset in it."""
    last = len(pages) - 1
    for page, piece in enumerate(pages):
        if offset <= len(piece) or page == last:
            return page, min(offset, len(piece))
        offset -= len(piece)
    return last, 0


class PageBar(QFrame):
    """Which page of a long text is shown, and buttons to move to another one."""

    #: The user asked for this page (0-based).
    page_wanted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageBar")
        self.setStyleSheet(
            f"#pageBar {{ background: {palette.SURFACE}; border: none; "
            f"border-bottom: 1px solid {palette.BORDER}; }}"
            f"QLabel {{ color: {palette.TEXT}; background: transparent; }}"
        )
        self.setToolTip(
            "This text is too long to show at once, so it is shown one page at a time. "
            "Edits change only what you type; the other pages stay exactly as they are."
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 1, 6, 1)
        layout.setSpacing(4)
        self.previous_button = QToolButton()
        self.previous_button.setArrowType(Qt.ArrowType.LeftArrow)
        self.previous_button.setAutoRaise(True)
        self.previous_button.setToolTip("Show the previous page of this text")
        self.previous_button.setAccessibleName("Previous page")
        layout.addWidget(self.previous_button)
        layout.addWidget(QLabel("Page"))
        self.page_box = QSpinBox()
        self.page_box.setKeyboardTracking(False)  # move when the number is complete
        self.page_box.setAccessibleName("Page")
        self.page_box.setToolTip("Type a page number and press Enter to show that page")
        layout.addWidget(self.page_box)
        self.count_label = QLabel()
        layout.addWidget(self.count_label)
        self.next_button = QToolButton()
        self.next_button.setArrowType(Qt.ArrowType.RightArrow)
        self.next_button.setAutoRaise(True)
        self.next_button.setToolTip("Show the next page of this text")
        self.next_button.setAccessibleName("Next page")
        layout.addWidget(self.next_button)
        self.range_label = QLabel()
        # Cut short in a narrow box rather than pushing the buttons out of it.
        self.range_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.range_label, 1)
        self.previous_button.clicked.connect(
            lambda: self.page_wanted.emit(self.page_box.value() - 2)
        )
        self.next_button.clicked.connect(lambda: self.page_wanted.emit(self.page_box.value()))
        self.page_box.valueChanged.connect(lambda value: self.page_wanted.emit(value - 1))

    def show_page(self, page: int, count: int, first: int, last: int, total: int) -> None:
        """Show that page ``page`` (0-based) of ``count`` holds characters first–last of total."""
        self.page_box.blockSignals(True)
        self.page_box.setRange(1, count)
        self.page_box.setValue(page + 1)
        self.page_box.blockSignals(False)
        self.count_label.setText(f"of {count:,}")
        self.previous_button.setEnabled(page > 0)
        self.next_button.setEnabled(page < count - 1)
        self.show_range(first, last, total)

    def show_range(self, first: int, last: int, total: int) -> None:
        """Show which characters the page holds (they move while the user types)."""
        where = f"characters {first:,}–{last:,}" if last >= first else "an empty page"
        self.range_label.setText(f"· {where} of {total:,}")


class GrowingTextEdit(QTextEdit):
    """A plain-text box whose height follows its content; long texts are shown in pages.

    ``text_edited`` fires only for the user's typing, never for ``set_text``. ``text()``
    returns the exact text given to ``set_text`` while the user has not changed it, so opening
    and closing an editor never rewrites a message (not even its line endings or
    non-breaking spaces). In a long text, only the pages the user typed into are read back.
    """

    #: The new text (a str, sent as an object so that a long text is not copied through Qt).
    text_edited = Signal(object)

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
        #: The text as pages (one page unless it is long); the shown one may be edited.
        self._pages = [""]
        self._page = 0
        #: The pages before and after the shown one, joined.
        self._before = ""
        self._after = ""
        #: The shown page as given, and as the box reads it back while unchanged.
        self._given = ""
        self._given_shown = ""
        self.page_bar = PageBar(self)
        self.page_bar.hide()
        self.page_bar.page_wanted.connect(self.show_page)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.textChanged.connect(self._on_text_changed)
        self._fit()

    @property
    def paged(self) -> bool:
        """True when the text is long and shown one page at a time."""
        return len(self._pages) > 1

    @property
    def page(self) -> int:
        """The page shown (0-based; always 0 for a short text)."""
        return self._page

    @property
    def page_count(self) -> int:
        """How many pages the text has (1 for a short text)."""
        return len(self._pages)

    def set_text(self, text: str) -> None:
        """Show ``text`` without reporting an edit.

        A long text given again with the pages before the shown one unchanged (an undo of
        typing, say) stays on the page being read.
        """
        if self.paged and text == self.text():
            return
        if len(text) > PAGE_CHARS and self.paged and text.startswith(self._before):
            self._load(self._pages[: self._page] + paginate(text[len(self._before) :]), self._page)
        else:
            self._load(paginate(text), 0)

    def _load(self, pages: list[str], page: int) -> None:
        """Show ``pages`` (a text cut by ``paginate``) at page ``page``."""
        if len(pages) > 1:
            self._pages = pages
            self._show(page)
            return
        self._pages, self._page, self._before, self._after = pages, 0, "", ""
        self._given = pages[0]
        self._given_shown = _shown(self._given)
        self._show_bar(False)
        if self._read() == self._given_shown:
            return
        self._put(self._given)
        self._fit()

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based) of a long text; what was typed on this one is kept."""
        if not self.paged or not 0 <= page < len(self._pages) or page == self._page:
            return
        self._pages[self._page] = self._page_text()
        self._show(page)
        self.setFocus()

    def _show(self, page: int) -> None:
        self._page = page
        self._before = "".join(self._pages[:page])
        self._after = "".join(self._pages[page + 1 :])
        self._given = self._pages[page]
        self._given_shown = _shown(self._given)
        if self._read() != self._given_shown:
            self._put(self._given)
        self._show_bar(True)
        self._update_bar()
        self._fit()

    def _put(self, text: str) -> None:
        """Put ``text`` in the box (laid out once, in the wrap mode that suits it)."""
        wrap = (
            QTextOption.WrapMode.WrapAnywhere
            if _LONG_RUN.search(text)
            else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        )
        self.blockSignals(True)
        if self.wordWrapMode() != wrap:
            self.setWordWrapMode(wrap)
        self.setPlainText(text)
        self.blockSignals(False)

    def _show_bar(self, shown: bool) -> None:
        if shown != self.page_bar.isHidden():
            return
        self.page_bar.setVisible(shown)
        self.setViewportMargins(0, self.page_bar.sizeHint().height() if shown else 0, 0, 0)
        self._place_bar()

    def _place_bar(self) -> None:
        if not self.page_bar.isHidden():
            area = self.contentsRect()
            width = self.viewport().width() if self.viewport().width() > 0 else area.width()
            self.page_bar.setGeometry(
                area.left(), area.top(), width, self.page_bar.sizeHint().height()
            )

    def _update_bar(self) -> None:
        first = len(self._before) + 1
        last = len(self._before) + len(self._given)
        total = last + len(self._after)
        self.page_bar.show_page(self._page, len(self._pages), first, last, total)

    def _read(self) -> str:
        # toPlainText() would turn non-breaking spaces into plain ones; the raw text keeps them.
        return self.document().toRawText().replace(_PARAGRAPH, "\n").replace(_LINE, "\n")

    def _page_text(self) -> str:
        """The shown page's text (exactly as given while unchanged)."""
        current = self._read()
        return self._given if current == self._given_shown else current

    def text(self) -> str:
        """The current text (exactly the given text while unchanged)."""
        page = self._page_text()
        return self._before + page + self._after if self.paged else page

    def _on_text_changed(self) -> None:
        if self.paged:
            page = self._page_text()
            length = len(page)
            self.page_bar.show_range(
                len(self._before) + 1,
                len(self._before) + length,
                len(self._before) + length + len(self._after),
            )
            self.text_edited.emit(self._before + page + self._after)
            return
        self._fit()
        self.text_edited.emit(self.text())

    def insertFromMimeData(self, source: QMimeData) -> None:
        """Paste; a paste that makes the text long shows it in pages instead of laying it out."""
        pasted = source.text() if source.hasText() else ""
        if self.isReadOnly() or len(pasted) + len(self._given_shown) <= PAGE_CHARS:
            super().insertFromMimeData(source)
            return
        page = self._read()
        cursor = self.textCursor()
        start = _index(page, cursor.selectionStart())
        end = _index(page, cursor.selectionEnd())
        head = self._before + page[:start] + _shown(pasted)
        text = head + page[end:] + self._after
        if len(text) <= PAGE_CHARS and not self.paged:
            super().insertFromMimeData(source)
            return
        pages = paginate(text)
        shown, offset = _locate(pages, len(head))
        self._load(pages, shown)
        cursor = self.textCursor()
        cursor.setPosition(_position(self._read(), offset))
        self.setTextCursor(cursor)
        self.ensureCursorVisible()
        self.text_edited.emit(self.text())

    def _fit(self) -> None:
        line = self.fontMetrics().lineSpacing()
        document = self.document()
        margins = self.contentsMargins()
        chrome = margins.top() + margins.bottom() + 2 * int(document.documentMargin())
        high = self._max_lines * line + chrome
        if self.paged:
            # One height for every page, so moving through the text does not shift the
            # editor, and no page has to be laid out in full to know it.
            self.setFixedHeight(high + self.page_bar.sizeHint().height())
            return
        document.setTextWidth(max(50, self.viewport().width()))
        content = int(document.size().height()) + margins.top() + margins.bottom()
        low = self._min_lines * line + chrome
        self.setFixedHeight(max(low, min(content, high)))

    def resizeEvent(self, event: QEvent) -> None:
        super().resizeEvent(event)
        self._place_bar()
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

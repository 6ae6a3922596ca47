"""How a chat looks: message cards with readable Markdown, a notice bar and the input box.

Replies are rendered with QTextDocument's Markdown (no web engine): code blocks get a
monospace font on a grey background so they read like code. A streaming reply is re-rendered
at most every :data:`RENDER_INTERVAL_MS`, so a long answer arriving token by token costs a
few dozen layouts, not thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QGuiApplication,
    QKeyEvent,
    QResizeEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.conversations import ChatMessage, Conversation
from desktop.ui.chat.chat_examples import few_shot_length
from desktop.ui.chat.chat_wording import reply_footer
from desktop.ui.common import palette

RENDER_INTERVAL_MS = 40
_CODE_BACKGROUND = palette.SURFACE
_INLINE_CODE_BACKGROUND = palette.INLINE_CODE
CARD_COLORS = {
    "user": palette.ACCENT_BACKGROUND,
    "assistant": palette.WHITE,
    "example": palette.SURFACE_LIGHT,
}

#: Actions a reply card can offer, with their button text and tooltip.
ACTIONS: dict[str, tuple[str, str]] = {
    "copy": ("Copy", "Copy this reply's text."),
    "regenerate": ("Regenerate", "Ask the model for a new reply instead of this one."),
    "add_example": (
        "Add to dataset…",
        "Make the chat up to this reply a training example (you can edit the reply first).",
    ),
    "better": ("This one is better", "Mark this reply as the better of the two."),
}


def temperature_spin() -> QDoubleSpinBox:
    """Temperature from 0 to 2; the lowest step reads "default" (the provider's own)."""
    spin = QDoubleSpinBox()
    spin.setRange(-0.1, 2.0)
    spin.setSingleStep(0.1)
    spin.setDecimals(1)
    spin.setSpecialValueText("default")
    spin.setToolTip(
        "How adventurous the replies are: 0 gives the most likely answer every time, "
        "higher values vary more. “default” leaves it to the provider (usually 1)."
    )
    spin.setValue(-0.1)
    return spin


def temperature_of(spin: QDoubleSpinBox) -> float | None:
    """The chosen temperature, or None for the provider's default."""
    value = round(spin.value(), 1)
    return None if value < 0 else value


def max_tokens_spin() -> QSpinBox:
    """The reply length limit in tokens; 0 reads "no limit"."""
    spin = QSpinBox()
    spin.setRange(0, 128_000)
    spin.setSingleStep(64)
    spin.setSpecialValueText("no limit")
    spin.setToolTip("The longest reply you want, in tokens (a token is about ¾ of a word).")
    return spin


def max_tokens_of(spin: QSpinBox) -> int | None:
    """The chosen limit, or None for none."""
    return spin.value() or None


class MarkdownView(QTextBrowser):
    """Read-only text as tall as its content; Markdown with code styled as code."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
        self.document().documentLayout().documentSizeChanged.connect(self._fit)

    def show_text(self, text: str, *, markdown: bool) -> None:
        """Show ``text`` as Markdown (replies) or as typed (the user's messages)."""
        if markdown:
            self.setMarkdown(text)
            self._style_code()
        else:
            self.setPlainText(text)
        self._fit()

    def _style_code(self) -> None:
        """Give code blocks and inline code a real monospace font and a grey background."""
        document = self.document()
        cursor = QTextCursor(document)
        cursor.beginEditBlock()
        block = document.begin()
        while block.isValid():
            if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
                block_format = QTextBlockFormat()
                block_format.setBackground(QColor(_CODE_BACKGROUND))
                block_format.setLeftMargin(6)
                block_format.setRightMargin(6)
                cursor.setPosition(block.position())
                cursor.mergeBlockFormat(block_format)
                code = QTextCharFormat()
                code.setFontFamilies([self._mono])
                cursor.setPosition(block.position())
                cursor.setPosition(
                    block.position() + block.length() - 1, QTextCursor.MoveMode.KeepAnchor
                )
                cursor.mergeCharFormat(code)
            else:
                fragments = block.begin()
                while not fragments.atEnd():
                    fragment = fragments.fragment()
                    if fragment.isValid() and fragment.charFormat().fontFixedPitch():
                        inline = QTextCharFormat()
                        inline.setFontFamilies([self._mono])
                        inline.setBackground(QColor(_INLINE_CODE_BACKGROUND))
                        cursor.setPosition(fragment.position())
                        cursor.setPosition(
                            fragment.position() + fragment.length(),
                            QTextCursor.MoveMode.KeepAnchor,
                        )
                        cursor.mergeCharFormat(inline)
                    fragments += 1
            block = block.next()
        cursor.endEditBlock()

    def _fit(self) -> None:
        document = self.document()
        document.setTextWidth(max(80, self.viewport().width()))
        margins = self.contentsMargins()
        self.setFixedHeight(int(document.size().height()) + margins.top() + margins.bottom() + 2)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


class MessageCard(QFrame):
    """One message: who wrote it, its text, a footer (tokens, cost) and action buttons.

    ``action(name)`` fires when one of the card's buttons is clicked.
    """

    action = Signal(str)

    def __init__(
        self,
        role: str,
        title: str,
        *,
        actions: Iterable[str] = (),
        example: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.text = ""
        self._markdown = role == "assistant"
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render)
        self.setObjectName("messageCard")
        color = CARD_COLORS["example" if example else role]
        self.setStyleSheet(
            f"#messageCard {{ background: {color}; border: 1px solid {palette.BORDER}; "
            "border-radius: 10px; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.title = QLabel(title)
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.body = MarkdownView()
        layout.addWidget(self.body)
        self.bottom = QWidget()
        bottom = QHBoxLayout(self.bottom)
        bottom.setContentsMargins(0, 0, 0, 0)
        self.footer = QLabel()
        self.footer.setStyleSheet(f"color: {palette.MUTED}; font-size: 9pt;")
        self.footer.setWordWrap(True)
        self.footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom.addWidget(self.footer, 1)
        self.buttons: dict[str, QToolButton] = {}
        for name in actions:
            text, tip = ACTIONS[name]
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.setCheckable(name == "better")
            button.clicked.connect(lambda _checked=False, n=name: self.action.emit(n))
            bottom.addWidget(button)
            self.buttons[name] = button
        self.bottom.setVisible(bool(self.buttons))
        layout.addWidget(self.bottom)

    def set_text(self, text: str, *, now: bool = True) -> None:
        """Show ``text``; with ``now=False`` the rendering waits for the next render tick."""
        self.text = text
        if now:
            self._render_timer.stop()
            self._render()
        elif not self._render_timer.isActive():
            self._render_timer.start()

    def append(self, piece: str) -> None:
        """Add a streamed piece of text (rendered at the next tick)."""
        self.set_text(self.text + piece, now=False)

    def _render(self) -> None:
        self.body.show_text(self.text, markdown=self._markdown)

    def set_footer(self, text: str, *, warning: bool = False) -> None:
        """Show ``text`` under the message (hidden when empty)."""
        color = palette.ERROR_TEXT if warning else palette.MUTED
        self.footer.setStyleSheet(f"color: {color}; font-size: 9pt;")
        self.footer.setText(text)
        self.bottom.setVisible(bool(text or self.buttons))

    def set_busy(self, busy: bool) -> None:
        """Disable the buttons while the reply is still arriving."""
        for button in self.buttons.values():
            button.setEnabled(not busy)


class ChatView(QScrollArea):
    """A conversation as a column of cards, scrolled to the newest message.

    ``action_requested(name, index)`` fires for a card's button, with the message's index in
    the conversation.
    """

    action_requested = Signal(str, int)

    def __init__(
        self,
        *,
        reply_actions: Sequence[str] = ("copy", "regenerate", "add_example"),
        empty_text: str = "Ask something to see how the model answers.",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.reply_actions = tuple(reply_actions)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("chatContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self._empty = QLabel(empty_text)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setStyleSheet(f"color: {palette.MUTED}; font-size: 11pt; padding: 40px;")
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.cards: list[MessageCard] = []
        self._card_index: dict[int, int] = {}
        self._examples: QFrame | None = None
        self._follow = True
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    @property
    def has_examples(self) -> bool:
        """True when few-shot examples are shown in front of the chat."""
        return self._examples is not None

    def clear(self) -> None:
        """Remove every card."""
        for card in self.cards:
            self._discard(card)
        self.cards.clear()
        self._card_index.clear()
        if self._examples is not None:
            self._discard(self._examples)
            self._examples = None
        self._empty.show()

    def _discard(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        widget.hide()
        widget.deleteLater()

    def show_conversation(self, conversation: Conversation, model_label: str = "") -> None:
        """Show every message of ``conversation`` (few-shot examples folded into one card)."""
        self.clear()
        messages = conversation.messages
        prefix = few_shot_length(messages)
        if prefix:
            self._examples = _examples_card(messages[:prefix])
            self._layout.insertWidget(self._layout.count() - 1, self._examples)
        for index in range(prefix, len(messages)):
            self.add_message(index, messages[index], model_label)
        self._follow = True
        self._empty.setVisible(not messages)

    def add_message(self, index: int, message: ChatMessage, model_label: str = "") -> MessageCard:
        """Append the card of one saved message."""
        if message.role == "user":
            card = MessageCard("user", "You")
        else:
            title = model_label or message.model or "Reply"
            card = MessageCard("assistant", title, actions=self.reply_actions)
            card.title.setToolTip(message.model or "")
            card.set_footer(reply_footer(message), warning=message.finish_reason == "interrupted")
            if message.rating is not None and "better" in card.buttons:
                card.buttons["better"].setChecked(message.rating.value == "better")
        card.set_text(message.content)
        self._append(card, index)
        return card

    def begin_reply(self, title: str) -> MessageCard:
        """Append an empty reply card that fills as the text streams in."""
        card = MessageCard("assistant", title, actions=self.reply_actions)
        card.set_busy(True)
        card.set_footer("writing…")
        self._follow = True
        self._append(card, None)
        return card

    def bind(self, card: MessageCard, index: int) -> None:
        """Tie a streamed card to the index of the message it became."""
        self._card_index[id(card)] = index
        card.set_busy(False)

    def remove_card(self, card: MessageCard) -> None:
        """Take a card out (a reply that never started)."""
        if card in self.cards:
            self.cards.remove(card)
            self._card_index.pop(id(card), None)
            self._discard(card)
        self._empty.setVisible(not self.cards and self._examples is None)

    def card_for(self, index: int) -> MessageCard | None:
        """The card showing the message at ``index``."""
        return next((c for c in self.cards if self._card_index.get(id(c)) == index), None)

    def _append(self, card: MessageCard, index: int | None) -> None:
        self._empty.hide()
        self._layout.insertWidget(self._layout.count() - 1, card)
        self.cards.append(card)
        if index is not None:
            self._card_index[id(card)] = index
        card.action.connect(lambda name, c=card: self._on_card_action(c, name))

    def _on_card_action(self, card: MessageCard, name: str) -> None:
        index = self._card_index.get(id(card))
        if index is not None:
            self.action_requested.emit(name, index)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)


def _examples_card(messages: Sequence[ChatMessage]) -> QFrame:
    """One folded card standing for the few-shot examples in front of the chat."""
    frame = QFrame()
    frame.setObjectName("examplesCard")
    frame.setStyleSheet(
        f"#examplesCard {{ background: {palette.SURFACE_LIGHT}; "
        f"border: 1px dashed {palette.DASHED_BORDER}; border-radius: 10px; }}"
    )
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(12, 8, 12, 8)
    pairs = sum(1 for m in messages if m.role == "assistant")
    header = QHBoxLayout()
    label = QLabel(
        f"<b>{pairs} example conversation{'s' if pairs != 1 else ''}</b> are shown to the model "
        "before every question (few-shot prompt)."
    )
    label.setWordWrap(True)
    toggle = QToolButton()
    toggle.setText("Show")
    toggle.setCheckable(True)
    toggle.setAutoRaise(True)
    header.addWidget(label, 1)
    header.addWidget(toggle)
    layout.addLayout(header)
    body = QLabel(
        "\n\n".join(
            f"{'Q' if m.role == 'user' else 'A'}: {' '.join(m.content.split())}" for m in messages
        )
    )
    body.setWordWrap(True)
    body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    body.setStyleSheet(f"color: {palette.MUTED};")
    body.hide()
    layout.addWidget(body)
    toggle.toggled.connect(body.setVisible)
    toggle.toggled.connect(lambda shown: toggle.setText("Hide" if shown else "Show"))
    return frame


class NoticeBar(QFrame):
    """A one-line message above the input: a failure with an optional Retry, or a note."""

    retry_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton("Retry")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide this message.")
        layout.addWidget(self.label, 1)
        layout.addWidget(self.retry_button)
        layout.addWidget(self.close_button)
        self.retry_button.clicked.connect(self.retry_clicked)
        self.close_button.clicked.connect(self.hide)
        self.hide()

    def show_problem(self, text: str, *, retry: bool) -> None:
        """Show a failure in red, with a Retry button when trying again can help."""
        self._style(palette.ERROR_BACKGROUND, palette.ERROR_TEXT)
        self.label.setText(text)
        self.retry_button.setVisible(retry)
        self.show()

    def show_note(self, text: str) -> None:
        """Show a neutral note."""
        self._style(palette.ACCENT_BACKGROUND, palette.ACCENT_TEXT)
        self.label.setText(text)
        self.retry_button.hide()
        self.show()

    def _style(self, background: str, color: str) -> None:
        self.setStyleSheet(
            f"#noticeBar {{ background: {background}; border-radius: 6px; }}"
            f"#noticeBar QLabel {{ color: {color}; }}"
        )


class ChatInput(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter starts a new line; grows up to eight lines."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Write a message… (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def _fit(self) -> None:
        lines = max(2, min(8, self.document().lineCount()))
        height = lines * self.fontMetrics().lineSpacing()
        margins = self.contentsMargins()
        extra = margins.top() + margins.bottom() + 2 * int(self.document().documentMargin())
        self.setFixedHeight(height + extra + 4)


def copy_text(text: str) -> None:
    """Put ``text`` on the clipboard."""
    QGuiApplication.clipboard().setText(text)


class ReplyEditDialog(QDialog):
    """Edit a reply before it becomes a training example: the answer the model should give."""

    def __init__(self, question: str, reply: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add to dataset")
        self.resize(620, 460)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "The chat up to this reply becomes one training example in the open dataset. "
            "Change the reply into the answer the model should have given; Undo in the "
            "dataset takes it out again."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if question:
            asked = QLabel(f"<b>Question:</b> {_escape(question)}")
            asked.setWordWrap(True)
            asked.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(asked)
        layout.addWidget(QLabel("<b>Reply to learn:</b>"))
        self.reply_edit = QPlainTextEdit(reply)
        layout.addWidget(self.reply_edit, 1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Add to dataset")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.reply_edit.textChanged.connect(
            lambda: ok.setEnabled(bool(self.reply_edit.toPlainText().strip()))
        )
        layout.addWidget(buttons)

    def reply(self) -> str:
        """The reply as edited."""
        return self.reply_edit.toPlainText()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

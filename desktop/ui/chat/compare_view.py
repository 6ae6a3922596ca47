"""Compare two models side by side: the same questions, both replies streaming at once.

Typically the base model against its fine-tune, so the user sees what training changed. Each
side keeps its own chat (each model sees its own earlier replies) and is saved with that
model's chats under one shared id; marking one reply better marks the other side's reply to
the same question worse, in both saved chats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.api.chat import STOPPED
from desktop.core.conversations import (
    ChatMessage,
    Conversation,
    Rating,
    StoreError,
    new_id,
    to_request_messages,
)
from desktop.core.fewshot import most_common_system
from desktop.ui.chat.chat_examples import example_from_chat
from desktop.ui.chat.chat_replies import (
    ReplyOutcome,
    ReplyRequest,
    ReplyStream,
    explain,
    reply_message,
)
from desktop.ui.chat.chat_services import ADDED_NOTE, SUGGESTION_EXAMPLES, ChatServices
from desktop.ui.chat.chat_view import (
    ChatInput,
    ChatView,
    MessageCard,
    NoticeBar,
    copy_text,
    max_tokens_of,
    max_tokens_spin,
    temperature_of,
    temperature_spin,
)
from desktop.ui.chat.chat_wording import reply_footer
from desktop.ui.chat.model_picker import ModelEntry, ModelPicker
from desktop.ui.common import palette

SIDE_NAMES = ("A", "B")


@dataclass
class _Side:
    """One model of the comparison and the state of its chat."""

    name: str
    picker: ModelPicker
    view: ChatView
    conversation: Conversation | None = None
    stream: ReplyStream | None = None
    card: MessageCard | None = None
    failed: bool = False
    entry: ModelEntry | None = field(default=None)

    @property
    def busy(self) -> bool:
        """True while this side's reply is on its way."""
        return self.stream is not None and self.stream.running


def turn_of(messages: list[ChatMessage], index: int) -> int:
    """Which question (0-based) the message at ``index`` answers."""
    return sum(1 for m in messages[:index] if m.role == "user") - 1


def reply_for_turn(messages: list[ChatMessage], turn: int) -> int | None:
    """The index of the reply to question ``turn``, if there is one."""
    seen = -1
    for index, message in enumerate(messages):
        if message.role == "user":
            seen += 1
        elif seen == turn and message.model is not None:
            return index
    return None


class ComparePage(QWidget):
    """Two pickers, two chats side by side, one input; "this one is better" per reply."""

    def __init__(self, services: ChatServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.sides: list[_Side] = []
        self._user_chose = False
        self._shared_id = new_id()
        self.system_edit = QPlainTextEdit()
        self.system_edit.setPlaceholderText("System prompt sent to both models…")
        self.system_edit.setFixedHeight(64)
        self.temperature = temperature_spin()
        self.max_tokens = max_tokens_spin()
        self.notice = NoticeBar()
        self.input = ChatInput()
        self.input.setPlaceholderText(
            "Ask both models the same thing… (Enter sends, Shift+Enter for a new line)"
        )
        self.send_button = QPushButton("Send to both")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.new_button = QPushButton("New comparison")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for name in SIDE_NAMES:
            picker = ModelPicker(
                services.directory, allow_legacy=False, label=f"Model {name}", stretch=True
            )
            view = ChatView(
                reply_actions=("better", "copy", "add_example"),
                empty_text=f"Model {name}'s replies appear here.",
            )
            column = QWidget()
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            column_layout.addWidget(picker)
            frame = QWidget()
            frame.setObjectName("compareArea")
            frame.setStyleSheet(
                f"#compareArea {{ background: {palette.CANVAS}; "
                f"border: 1px solid {palette.BORDER}; }}"
            )
            frame_layout = QVBoxLayout(frame)
            frame_layout.setContentsMargins(0, 0, 0, 0)
            frame_layout.addWidget(view)
            column_layout.addWidget(frame, 1)
            splitter.addWidget(column)
            side = _Side(name, picker, view)
            self.sides.append(side)
            picker.changed.connect(lambda s=side: self._on_model_changed(s))
            view.action_requested.connect(
                lambda action, index, s=side: self._on_reply_action(s, action, index)
            )
        settings = QFormLayout()
        settings.addRow("System prompt", self.system_edit)
        knobs = QHBoxLayout()
        knobs.addWidget(QLabel("Temperature"))
        knobs.addWidget(self.temperature)
        knobs.addSpacing(16)
        knobs.addWidget(QLabel("Longest reply"))
        knobs.addWidget(self.max_tokens)
        knobs.addStretch(1)
        knobs.addWidget(self.new_button)
        settings.addRow("", knobs)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notice)
        layout.addLayout(input_row)
        self.input.submitted.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.new_button.clicked.connect(self.new_comparison)
        self.notice.retry_clicked.connect(self.retry)
        examples = services.dataset_examples(SUGGESTION_EXAMPLES)
        self.system_edit.setPlainText(most_common_system(examples) or "")
        for side in self.sides:
            side.entry = side.picker.current()
        self._update_buttons()

    # Models -----------------------------------------------------------------------------------

    def set_models(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        """Compare model ``a`` with model ``b``, each as (profile id, model id)."""
        for side, (profile_id, model_id) in zip(self.sides, (a, b), strict=True):
            side.picker.select(profile_id, model_id)
        self._user_chose = True

    def suggest(self, entry: ModelEntry | None) -> None:
        """Before the user picks: put ``entry`` on side B and its base model on side A."""
        if self._user_chose or entry is None or self.has_messages:
            return
        base = self.services.directory.counterpart(entry)
        if base is None:
            return
        self.sides[0].picker.select(entry.profile_id, base)
        self.sides[1].picker.select(entry.profile_id, entry.model_id)

    @property
    def has_messages(self) -> bool:
        """True once something was sent in this comparison."""
        return any(s.conversation is not None and s.conversation.messages for s in self.sides)

    def _on_model_changed(self, side: _Side) -> None:
        entry = side.picker.current()
        if entry == side.entry:
            return
        side.entry = entry
        if self.isVisible():
            self._user_chose = True
        if self.has_messages:
            self.new_comparison()
            # Said, so the empty columns do not look like lost replies.
            self.notice.show_note(
                "A new comparison started with the other model. The last one is kept in "
                "each model's chats in the Chat tab."
            )
        self._update_buttons()

    def new_comparison(self) -> None:
        """Start over with empty chats (the previous comparison stays saved)."""
        self.stop()
        self._shared_id = new_id()
        for side in self.sides:
            side.conversation = None
            side.failed = False
            side.view.clear()
        self.notice.hide()
        self._update_buttons()

    # Sending ----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while either reply is on its way."""
        return any(side.busy for side in self.sides)

    def send(self) -> None:
        """Send the typed question to both models at once."""
        text = self.input.toPlainText()
        entries = [side.picker.current() for side in self.sides]
        if not text.strip() or self.busy or any(e is None for e in entries):
            return
        if entries[0] == entries[1]:
            self.notice.show_note("Pick two different models to compare.")
            return
        self.input.clear()
        self.notice.hide()
        for side in self.sides:
            conversation = self._conversation(side)
            conversation.messages.append(ChatMessage("user", text))
            side.view.add_message(len(conversation.messages) - 1, conversation.messages[-1])
            self._start(side)
        self._update_buttons()

    def _conversation(self, side: _Side) -> Conversation:
        entry = side.picker.current()
        assert entry is not None
        if side.conversation is None or side.conversation.model_id != entry.model_id:
            side.conversation = Conversation(
                model_id=entry.model_id, profile_id=entry.profile_id, id=self._shared_id
            )
        side.conversation.system_prompt = self.system_edit.toPlainText()
        side.conversation.temperature = temperature_of(self.temperature)
        side.conversation.max_output_tokens = max_tokens_of(self.max_tokens)
        return side.conversation

    def _start(self, side: _Side) -> None:
        entry, conversation = side.picker.current(), side.conversation
        assert entry is not None and conversation is not None
        profile = self.services.directory.profile(entry.profile_id)
        if profile is None:
            return
        request = ReplyRequest(
            profile=profile,
            model=entry.model_id,
            messages=to_request_messages(conversation),
            temperature=conversation.temperature,
            max_tokens=conversation.max_output_tokens,
        )
        side.failed = False
        side.card = side.view.begin_reply(f"{side.name} · {entry.label}")
        side.stream = ReplyStream(request, self.services.keys, self)
        side.stream.delta.connect(side.card.append)
        side.stream.finished.connect(lambda outcome, s=side: self._on_finished(s, outcome))
        side.stream.start()

    def stop(self) -> None:
        """Stop both replies, keeping what arrived."""
        for side in self.sides:
            if side.stream is not None and side.stream.running:
                side.stream.stop()

    def retry(self) -> None:
        """Ask again on the sides whose reply failed."""
        if self.busy:
            return
        self.notice.hide()
        for side in self.sides:
            if side.failed and side.conversation is not None:
                last = side.conversation.messages[-1]
                if last.role == "assistant":
                    card = side.view.card_for(len(side.conversation.messages) - 1)
                    if card is not None:
                        side.view.remove_card(card)
                    side.conversation.messages.pop()
                self._start(side)
        self._update_buttons()

    def _on_finished(self, side: _Side, outcome: object) -> None:
        card, entry, conversation = side.card, side.picker.current(), side.conversation
        if not isinstance(outcome, ReplyOutcome) or card is None:
            return
        side.card = None
        if side.stream is not None:
            side.stream.deleteLater()
            side.stream = None
        if entry is None or conversation is None:
            side.view.remove_card(card)
            self._update_buttons()
            return
        if outcome.error is not None or (outcome.finish_reason == STOPPED and not outcome.text):
            side.failed = outcome.error is not None
            if outcome.text:
                message = reply_message(entry, outcome, self.services, "interrupted")
                conversation.messages.append(message)
                card.set_text(message.content)
                card.set_footer(reply_footer(message), warning=True)
                side.view.bind(card, len(conversation.messages) - 1)
            else:
                side.view.remove_card(card)
            if outcome.error is not None:
                text, can_retry = explain(outcome, entry, self.services)
                self.notice.show_problem(f"Model {side.name}: {text}", retry=can_retry)
        else:
            message = reply_message(entry, outcome, self.services, outcome.finish_reason)
            conversation.messages.append(message)
            card.set_text(message.content)
            card.set_footer(reply_footer(message))
            side.view.bind(card, len(conversation.messages) - 1)
        self._save(side)
        self._update_buttons()

    def _save(self, side: _Side) -> None:
        if side.conversation is None:
            return
        try:
            self.services.conversations.save(side.conversation)
        except (StoreError, ValueError) as exc:
            self.notice.show_problem(f"The comparison could not be saved: {exc}", retry=False)

    def _update_buttons(self) -> None:
        busy = self.busy
        ready = all(side.picker.current() is not None for side in self.sides)
        self.send_button.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy)

    # Reply actions ----------------------------------------------------------------------------

    def _on_reply_action(self, side: _Side, action: str, index: int) -> None:
        conversation = side.conversation
        if conversation is None or not 0 <= index < len(conversation.messages):
            return
        if action == "copy":
            copy_text(conversation.messages[index].content)
            self.services.notify("Reply copied.")
        elif action == "better":
            self.mark_better(side, index)
        elif action == "add_example":
            try:
                value = example_from_chat(conversation, index, legacy=False)
            except ValueError as exc:
                self.notice.show_problem(str(exc), retry=False)
                return
            question = conversation.messages[index - 1].content if index > 0 else ""
            if self.services.offer_example(self, value, question):
                self.notice.show_note(ADDED_NOTE)

    def mark_better(self, side: _Side, index: int) -> None:
        """Mark the reply at ``index`` better than the other model's reply to the same
        question (clicking a reply already marked better clears both marks)."""
        conversation = side.conversation
        assert conversation is not None
        other = self.sides[1] if side is self.sides[0] else self.sides[0]
        clearing = conversation.messages[index].rating is Rating.BETTER
        conversation.set_rating(index, None if clearing else Rating.BETTER)
        self._show_rating(side, index)
        if other.conversation is not None:
            other_index = reply_for_turn(
                other.conversation.messages, turn_of(conversation.messages, index)
            )
            if other_index is not None:
                other.conversation.set_rating(other_index, None if clearing else Rating.WORSE)
                self._show_rating(other, other_index)
                self._save(other)
        self._save(side)

    def _show_rating(self, side: _Side, index: int) -> None:
        assert side.conversation is not None
        card = side.view.card_for(index)
        message = side.conversation.messages[index]
        if card is not None and "better" in card.buttons:
            card.buttons["better"].setChecked(message.rating is Rating.BETTER)
            card.title.setText(
                card.title.text().removesuffix("  ✓ better").removesuffix("  (worse)")
                + {Rating.BETTER: "  ✓ better", Rating.WORSE: "  (worse)", None: ""}[message.rating]
            )

"""The Chat tab: talk to the model you made, compare it with another, evaluate it.

``ChatPanel`` is self-contained: the main window hands it the stores and two callables (the
open dataset's records, and ``add_example`` which adds one training example as one undoable
edit) and it does the rest. Replies stream on the thread pool (``ReplyStream``); every widget
is touched on the UI thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpacerItem,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.api.chat import STOPPED
from desktop.api.credentials import KeyStore
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.conversations import (
    ChatMessage,
    Conversation,
    ConversationStore,
    InferencePrices,
    StoreError,
    to_request_messages,
)
from desktop.core.dataset import Record
from desktop.core.evaluation import EvalStore
from desktop.core.fewshot import build_few_shot, few_shot_tokens, most_common_system
from desktop.core.jobs import JobSummary
from desktop.ui.chat.chat_examples import example_from_chat, few_shot_length
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
    ReplyEditDialog,
    copy_text,
    max_tokens_of,
    max_tokens_spin,
    temperature_of,
    temperature_spin,
)
from desktop.ui.chat.chat_wording import format_cost, model_summary, reply_footer
from desktop.ui.chat.compare_view import ComparePage
from desktop.ui.chat.eval_panel import EvalPage
from desktop.ui.chat.model_picker import ModelDirectory, ModelEntry, ModelGroup, ModelPicker
from desktop.ui.common import palette
from desktop.ui.jobs.result_actions import ServedChat, Serving, ServingBanner

DEFAULT_FEW_SHOT_EXAMPLES = 5


# The chat page -------------------------------------------------------------------------------


class ChatPage(QWidget):
    """Chat with one model: saved chats on the left, the chat in the middle, settings right."""

    def __init__(self, services: ChatServices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.conversation: Conversation | None = None
        self.stream: ReplyStream | None = None
        self._card: MessageCard | None = None
        self._entry: ModelEntry | None = None
        self._prefilled_system = ""

        self.picker = ModelPicker(services.directory)
        self.model_info = QLabel()
        self.model_info.setStyleSheet(f"color: {palette.MUTED};")
        self.model_info.setWordWrap(True)

        self.chat_list = QListWidget()
        self.chat_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.chat_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chat_list.setUniformItemSizes(True)
        self.chat_list.setStyleSheet("QListWidget::item { padding: 4px 2px; }")
        self.chat_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.new_button = QPushButton("New chat")
        self.clear_button = QPushButton("Clear all…")
        self.clear_button.setToolTip("Delete every saved chat with this model.")

        self.view = ChatView()
        self.notice = NoticeBar()
        self.input = ChatInput()
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop the reply here; the text so far is kept.")

        self.system_edit = QPlainTextEdit()
        self.system_edit.setMinimumHeight(120)
        self.system_edit.setMaximumHeight(260)
        self.system_edit.setPlaceholderText("Instructions the model sees before every chat…")
        self.system_from_dataset = QPushButton("Use the dataset's system message")
        self.system_from_dataset.setToolTip(
            "Use the system message most examples of the open dataset start with."
        )
        self.temperature = temperature_spin()
        self.max_tokens = max_tokens_spin()
        self.few_shot_button = QPushButton("Try it as a prompt first…")
        self.few_shot_button.setToolTip(
            "Show a base model some of your examples instead of training it, and compare "
            "what that costs per 1,000 questions."
        )
        self.total_label = QLabel()
        self.total_label.setStyleSheet(f"color: {palette.MUTED};")
        self.total_label.setWordWrap(True)

        self._build_layout()
        self._connect()
        self._prefill_system(force=True)
        self._on_model_changed()

    # Layout ---------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        chats = QWidget()
        chats_layout = QVBoxLayout(chats)
        chats_layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("Chats with this model")
        heading.setStyleSheet("font-weight: 600;")
        chats_layout.addWidget(heading)
        chats_layout.addWidget(self.chat_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.clear_button)
        chats_layout.addLayout(row)

        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        frame = QWidget()
        frame.setObjectName("chatArea")
        frame.setStyleSheet(
            f"#chatArea {{ background: {palette.CANVAS}; border: 1px solid {palette.BORDER}; }}"
        )
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.view)
        middle_layout.addWidget(frame, 1)
        middle_layout.addWidget(self.notice)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row.addLayout(buttons)
        middle_layout.addLayout(input_row)

        settings = QWidget()
        form = QFormLayout(settings)
        form.setContentsMargins(0, 0, 0, 0)
        system_label = QLabel("System prompt")
        system_label.setStyleSheet("font-weight: 600;")
        form.addRow(system_label)
        form.addRow(self.system_edit)
        form.addRow(self.system_from_dataset)
        form.addRow("Temperature", self.temperature)
        form.addRow("Longest reply", self.max_tokens)
        form.addRow(self.few_shot_button)
        form.addRow(self.total_label)
        form.addItem(QSpacerItem(0, 0, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Expanding))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(chats)
        splitter.addWidget(middle)
        splitter.addWidget(settings)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([220, 760, 300])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.picker)
        top.addWidget(self.model_info, 1)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def _connect(self) -> None:
        self.picker.changed.connect(self._on_model_changed)
        self.chat_list.currentItemChanged.connect(self._on_chat_chosen)
        self.chat_list.customContextMenuRequested.connect(self._chat_menu)
        self.new_button.clicked.connect(self.new_chat)
        self.clear_button.clicked.connect(self.clear_chats)
        self.input.submitted.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.view.action_requested.connect(self._on_reply_action)
        self.notice.retry_clicked.connect(self.retry)
        self.system_from_dataset.clicked.connect(lambda: self._prefill_system(force=True))
        self.few_shot_button.clicked.connect(self.try_few_shot)

    # Model and chats --------------------------------------------------------------------------

    @property
    def entry(self) -> ModelEntry | None:
        """The model this page talks to."""
        return self._entry

    def open_model(self, profile_id: str, model_id: str) -> None:
        """Talk to ``model_id`` of ``profile_id`` in a new chat."""
        if self.services.directory.profile(profile_id) is None:
            self.notice.show_problem(
                f"The provider profile of {model_id} no longer exists; add it again in "
                "Settings to chat with this model.",
                retry=False,
            )
            return
        self.picker.select(profile_id, model_id)
        self.new_chat()

    def _on_model_changed(self) -> None:
        entry = self.picker.current()
        if entry == self._entry:
            return
        self.stop()
        self._entry = entry
        self.model_info.setText(model_summary(entry, self.services))
        legacy = entry is not None and entry.legacy
        self.system_edit.setEnabled(not legacy)
        self.system_from_dataset.setEnabled(not legacy)
        self.few_shot_button.setEnabled(not legacy)
        self.input.setPlaceholderText(
            "Write the prompt for the model to continue… (Enter sends, Shift+Enter for a new "
            "line; no chat history is sent)"
            if legacy
            else "Write a message… (Enter sends, Shift+Enter for a new line)"
        )
        self.conversation = None
        self.view.clear()
        self.notice.hide()
        self._fill_chat_list(report_skipped=True)
        self._update_buttons()

    def _fill_chat_list(self, *, report_skipped: bool = False) -> None:
        self.chat_list.blockSignals(True)
        self.chat_list.clear()
        if self._entry is not None:
            try:
                listing = self.services.conversations.list(self._entry.model_id)
            except StoreError as exc:
                self.notice.show_problem(str(exc), retry=False)
                listing = None
            for conversation in listing.items if listing is not None else []:
                item = QListWidgetItem(_chat_title(conversation))
                item.setData(Qt.ItemDataRole.UserRole, conversation.id)
                item.setToolTip(_chat_tooltip(conversation))
                self.chat_list.addItem(item)
                if self.conversation is not None and conversation.id == self.conversation.id:
                    self.chat_list.setCurrentItem(item)
            if report_skipped and listing is not None and listing.skipped:
                self.notice.show_note(
                    f"{len(listing.skipped)} saved chat(s) could not be read and are not shown."
                )
        self.chat_list.blockSignals(False)
        self.clear_button.setEnabled(self.chat_list.count() > 0)

    def _on_chat_chosen(self, item: QListWidgetItem | None) -> None:
        if item is None or self._entry is None:
            return
        self.stop()
        try:
            conversation = self.services.conversations.load(
                self._entry.model_id, item.data(Qt.ItemDataRole.UserRole)
            )
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
            return
        self.show_conversation(conversation)

    def show_conversation(self, conversation: Conversation) -> None:
        """Show a saved chat and take over its settings."""
        self.conversation = conversation
        self.notice.hide()
        self.system_edit.setPlainText(conversation.system_prompt)
        self.temperature.setValue(
            conversation.temperature if conversation.temperature is not None else -0.1
        )
        self.max_tokens.setValue(conversation.max_output_tokens or 0)
        self.view.show_conversation(conversation, self._label())
        self._update_total()
        self._update_buttons()

    def new_chat(self) -> None:
        """Start an empty chat with the current model (saved once something is sent)."""
        self.stop()
        self.conversation = None
        self.chat_list.blockSignals(True)
        self.chat_list.clearSelection()
        self.chat_list.setCurrentItem(None)
        self.chat_list.blockSignals(False)
        self.view.clear()
        self.notice.hide()
        self._prefill_system()
        self._update_total()
        self._update_buttons()
        self.input.setFocus()

    def clear_chats(self) -> None:
        """Delete every saved chat with the current model, after asking."""
        if self._entry is None:
            return
        count = self.chat_list.count()
        if not self.services.confirm(
            self,
            "Clear chats",
            f"Delete all {count} saved chat{'s' if count != 1 else ''} with "
            f"{self._entry.label}? This cannot be undone.",
        ):
            return
        self.stop()
        try:
            self.services.conversations.clear(self._entry.model_id)
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
        self.conversation = None
        self.view.clear()
        self._fill_chat_list()
        self._update_total()

    def _chat_menu(self, position: Any) -> None:
        item = self.chat_list.itemAt(position)
        if item is None or self._entry is None:
            return
        menu = QMenu(self)
        delete = menu.addAction("Delete this chat")
        if menu.exec(self.chat_list.mapToGlobal(position)) is delete:
            self.delete_chat(item.data(Qt.ItemDataRole.UserRole))

    def delete_chat(self, conversation_id: str) -> None:
        """Delete one saved chat."""
        if self._entry is None:
            return
        if self.conversation is not None and self.conversation.id == conversation_id:
            self.stop()
            self.conversation = None
            self.view.clear()
        try:
            self.services.conversations.delete(self._entry.model_id, conversation_id)
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
        self._fill_chat_list()

    def refresh_dataset_defaults(self) -> None:
        """Offer the open dataset's system message again, unless a chat is shown."""
        if self.conversation is None:
            self._prefill_system()

    def _prefill_system(self, *, force: bool = False) -> None:
        """Offer the dataset's most common system message, unless the user wrote their own."""
        current = self.system_edit.toPlainText()
        if not force and current.strip() and current != self._prefilled_system:
            return
        examples = self.services.dataset_examples(SUGGESTION_EXAMPLES)
        system = most_common_system(examples) or ""
        self._prefilled_system = system
        self.system_edit.setPlainText(system)

    # Sending ----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a reply is on its way."""
        return self.stream is not None and self.stream.running

    def send(self) -> None:
        """Send the typed message (the input stays usable while the reply streams)."""
        text = self.input.toPlainText()
        if not text.strip() or self.busy:
            return
        if self._entry is None:
            self.notice.show_note(self._no_model_hint())  # the message stays in the box
            return
        conversation = self._current_conversation()
        conversation.messages.append(ChatMessage("user", text))
        self.input.clear()
        self.notice.hide()
        if not self._save():
            return
        self.view.add_message(len(conversation.messages) - 1, conversation.messages[-1])
        self._start_reply()

    def _no_model_hint(self) -> str:
        """What to do when there is no model to send to: the answer to a silent Enter."""
        profile_id = self.picker.profile_id()
        directory = self.services.directory
        if profile_id is None:
            return (
                "There is no provider to chat with yet: add one in Settings, then pick a model"
                " above. Your message is kept."
            )
        if directory.loading(profile_id):
            return "The list of models is still loading; press Enter again once a model is chosen."
        problem = directory.problem(profile_id)
        return (
            f"{problem + ' ' if problem else ''}There is no model to chat with here: pick"
            " another provider above, or check this one in Settings."
        )

    def _current_conversation(self) -> Conversation:
        """The chat being shown, created on first use; takes the settings from the controls."""
        assert self._entry is not None
        if self.conversation is None or self.conversation.model_id != self._entry.model_id:
            self.conversation = Conversation(
                model_id=self._entry.model_id, profile_id=self._entry.profile_id
            )
        conversation = self.conversation
        conversation.system_prompt = "" if self._entry.legacy else self.system_edit.toPlainText()
        conversation.temperature = temperature_of(self.temperature)
        conversation.max_output_tokens = max_tokens_of(self.max_tokens)
        return conversation

    def _start_reply(self) -> None:
        entry, conversation = self._entry, self.conversation
        assert entry is not None and conversation is not None
        profile = self.services.directory.profile(entry.profile_id)
        if profile is None:
            self.notice.show_problem(
                "This provider profile no longer exists; pick another model.", retry=False
            )
            return
        prompt = conversation.messages[-1].content if entry.legacy else None
        request = ReplyRequest(
            profile=profile,
            model=entry.model_id,
            messages=to_request_messages(conversation),
            temperature=conversation.temperature,
            max_tokens=conversation.max_output_tokens,
            prompt=prompt,
        )
        self._card = self.view.begin_reply(self._label())
        self.stream = ReplyStream(request, self.services.keys, self)
        self.stream.delta.connect(self._card.append)
        self.stream.finished.connect(self._on_reply_finished)
        self.stream.start()
        self._update_buttons()

    def stop(self) -> None:
        """Stop the reply on its way, keeping what arrived."""
        if self.stream is not None and self.stream.running:
            self.stream.stop()

    def _on_reply_finished(self, outcome: object) -> None:
        stream, card, entry = self.stream, self._card, self._entry
        conversation = self.conversation
        if not isinstance(outcome, ReplyOutcome) or stream is None or card is None:
            return
        self._card = None
        self.stream = None
        stream.deleteLater()
        if entry is None or conversation is None or entry.model_id != conversation.model_id:
            self.view.remove_card(card)
            self._update_buttons()
            return
        stopped = outcome.ok and outcome.finish_reason == STOPPED
        if outcome.error is not None or (stopped and not outcome.text):
            if outcome.text:
                self._keep_reply(card, entry, outcome, "interrupted")
            else:
                self.view.remove_card(card)
            if outcome.error is not None:
                text, can_retry = explain(outcome, entry, self.services)
                self.notice.show_problem(text, retry=can_retry)
        else:
            self._keep_reply(card, entry, outcome, outcome.finish_reason)
        self._update_buttons()
        self._update_total()

    def _keep_reply(
        self, card: MessageCard, entry: ModelEntry, outcome: ReplyOutcome, finish: str | None
    ) -> None:
        conversation = self.conversation
        assert conversation is not None
        message = reply_message(entry, outcome, self.services, finish)
        conversation.messages.append(message)
        card.set_text(message.content)
        card.set_footer(reply_footer(message), warning=finish == "interrupted")
        self.view.bind(card, len(conversation.messages) - 1)
        self._save()

    def retry(self) -> None:
        """Send the chat again after a failure (an incomplete reply is replaced)."""
        conversation = self.conversation
        if conversation is None or not conversation.messages or self.busy:
            return
        last = conversation.messages[-1]
        if last.role == "assistant":
            if last.finish_reason != "interrupted":
                return
            self._drop_last_reply()
        self.notice.hide()
        self._start_reply()

    def regenerate(self, index: int) -> None:
        """Replace the last reply with a new one."""
        conversation = self.conversation
        if conversation is None or self.busy or index != len(conversation.messages) - 1:
            return
        self._drop_last_reply()
        self.notice.hide()
        self._start_reply()

    def _drop_last_reply(self) -> None:
        conversation = self.conversation
        assert conversation is not None
        index = len(conversation.messages) - 1
        card = self.view.card_for(index)
        if card is not None:
            self.view.remove_card(card)
        del conversation.messages[index]
        self._save()

    def _on_reply_action(self, name: str, index: int) -> None:
        conversation = self.conversation
        if conversation is None or not 0 <= index < len(conversation.messages):
            return
        if name == "copy":
            copy_text(conversation.messages[index].content)
            self.services.notify("Reply copied.")
        elif name == "regenerate":
            if index != len(conversation.messages) - 1:
                self.notice.show_note("Only the last reply can be regenerated.")
                return
            self.regenerate(index)
        elif name == "add_example":
            self.add_to_dataset(index)

    def add_to_dataset(self, index: int) -> bool:
        """Offer the chat up to the reply at ``index`` as a training example."""
        conversation = self.conversation
        if conversation is None or self._entry is None:
            return False
        try:
            value = example_from_chat(conversation, index, self._entry.legacy)
        except ValueError as exc:
            self.notice.show_problem(str(exc), retry=False)
            return False
        question = conversation.messages[index - 1].content if index > 0 else ""
        added = self.services.offer_example(self, value, question)
        if added:
            self.notice.show_note(ADDED_NOTE)
        return added

    def _save(self) -> bool:
        if self.conversation is None:
            return False
        try:
            self.services.conversations.save(self.conversation)
        except (StoreError, ValueError) as exc:
            self.notice.show_problem(f"The chat could not be saved: {exc}", retry=False)
            return False
        self._fill_chat_list()
        return True

    def _label(self) -> str:
        return self._entry.label if self._entry is not None else ""

    def _update_buttons(self) -> None:
        busy = self.busy
        self.send_button.setEnabled(not busy and self._entry is not None)
        self.stop_button.setEnabled(busy)
        self.new_button.setEnabled(self._entry is not None)

    def _update_total(self) -> None:
        conversation = self.conversation
        replies = [m for m in conversation.messages if m.model] if conversation else []
        if not replies:
            self.total_label.setText("")
            return
        known = [m.cost_usd for m in replies if m.cost_usd is not None]
        unknown = len(replies) - len(known)
        text = f"This chat: {len(replies)} repl{'y' if len(replies) == 1 else 'ies'}, "
        if not known:
            text += "cost unknown"
        else:
            text += format_cost(sum(known))
            if unknown:
                text += f" (+ {unknown} of unknown cost)"
        self.total_label.setText(text)

    # Few-shot ---------------------------------------------------------------------------------

    def try_few_shot(self) -> None:
        """Build a few-shot prompt from the dataset and chat with a base model."""
        examples = self.services.dataset_examples(SUGGESTION_EXAMPLES)
        if not any(build_few_shot(examples, 1, system="")):
            self.notice.show_note(
                "Open a dataset with chat examples first: the few-shot prompt is made of them."
            )
            return
        dialog = FewShotDialog(self.services, examples, self._entry, self)
        if self.services.run_dialog(dialog):
            self.start_few_shot(dialog.chosen_entry(), dialog.messages())

    def start_few_shot(self, entry: ModelEntry | None, messages: Sequence[dict[str, str]]) -> None:
        """Start a chat with ``entry`` whose first messages are the few-shot examples."""
        if entry is None:
            return
        self.picker.select(entry.profile_id, entry.model_id)
        self.new_chat()
        system = ""
        body = list(messages)
        if body and body[0]["role"] == "system":
            system = body.pop(0)["content"]
        self.system_edit.setPlainText(system)
        conversation = self._current_conversation()
        conversation.messages.extend(ChatMessage(m["role"], m["content"]) for m in body)
        self.view.show_conversation(conversation, self._label())
        self.notice.show_note(
            "The model sees your examples before every question. Ask it something your "
            "fine-tuned model should handle."
        )


def _chat_title(conversation: Conversation) -> str:
    """The chat's title (its first real question), marked when it is a few-shot chat."""
    prefix = few_shot_length(conversation.messages)
    live = [m for m in conversation.messages[prefix:] if m.role == "user"]
    title = " ".join(live[0].content.split()) if live else "New chat"
    if len(title) > 60:
        title = title[:59] + "…"
    return f"Few-shot · {title}" if prefix else title


def _chat_tooltip(conversation: Conversation) -> str:
    when = datetime.fromtimestamp(conversation.updated).strftime("%Y-%m-%d %H:%M")
    replies = sum(1 for m in conversation.messages if m.model)
    return f"Last message {when} · {replies} repl{'y' if replies == 1 else 'ies'}"


class FewShotDialog(QDialog):
    """Choose examples and a base model for a few-shot chat; shows size and cost per 1,000."""

    def __init__(
        self,
        services: ChatServices,
        examples: list[Any],
        current: ModelEntry | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Try it as a prompt first")
        self.resize(640, 420)
        self.services = services
        self.examples = examples
        self.picker = ModelPicker(services.directory, allow_legacy=False, label="Base model")
        base = current.base_model if current is not None and current.is_fine_tuned else None
        profile_id = current.profile_id if current is not None else None
        if profile_id is not None:
            entries = services.directory.entries(profile_id)
            wanted = base or next(
                (e.model_id for e in entries if e.group is ModelGroup.BASE and not e.legacy),
                None,
            )
            if wanted is not None:
                self.picker.select(profile_id, wanted)
        usable = max(1, len(build_few_shot(examples, len(examples), system="")) // 2)
        self.count = QSpinBox()
        self.count.setMaximumWidth(120)
        self.count.setRange(1, max(1, min(100, len(examples))))
        self.count.setValue(min(DEFAULT_FEW_SHOT_EXAMPLES, usable))
        self.random = QCheckBox("Pick them at random (otherwise the first ones)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setValue(42)
        self.seed.setPrefix("seed ")
        self.price_in = QDoubleSpinBox()
        self.price_out = QDoubleSpinBox()
        for spin in (self.price_in, self.price_out):
            spin.setRange(0, 1000)
            spin.setDecimals(3)
            spin.setPrefix("$")
            spin.setSpecialValueText("unknown")
        self.figures = QLabel()
        self.figures.setWordWrap(True)
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        intro = QLabel(
            "Instead of training, show a base model some of your examples in front of every "
            "question. It costs nothing to set up, but every question then carries the "
            "examples as input tokens."
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow(self.picker)
        random_row = QHBoxLayout()
        random_row.addWidget(self.random)
        random_row.addWidget(self.seed)
        random_row.addStretch(1)
        form.addRow("Examples to show", self.count)
        form.addRow("", random_row)
        prices = QHBoxLayout()
        prices.addWidget(QLabel("in"))
        prices.addWidget(self.price_in)
        prices.addWidget(QLabel("out"))
        prices.addWidget(self.price_out)
        prices.addStretch(1)
        form.addRow("Base model's price (USD per 1M tokens, optional)", prices)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start the chat")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.figures, 1)
        layout.addWidget(buttons)
        for signal in (
            self.count.valueChanged,
            self.random.toggled,
            self.seed.valueChanged,
            self.price_in.valueChanged,
            self.price_out.valueChanged,
        ):
            signal.connect(self._update)
        self.picker.changed.connect(self._update)
        self._update()

    def chosen_entry(self) -> ModelEntry | None:
        """The base model to chat with."""
        return self.picker.current()

    def messages(self) -> list[dict[str, str]]:
        """System prompt and the chosen examples, in order."""
        seed = self.seed.value() if self.random.isChecked() else None
        return build_few_shot(self.examples, self.count.value(), seed=seed)

    def _update(self) -> None:
        self.seed.setEnabled(self.random.isChecked())
        entry = self.picker.current()
        if entry is None:
            self.figures.setText("Pick a base model.")
            return
        base_prices = None
        if self.price_in.value() > 0 and self.price_out.value() > 0:
            base_prices = InferencePrices(self.price_in.value(), self.price_out.value())
        figures = few_shot_tokens(
            self.messages(),
            self.examples,
            entry.model_id,
            catalog=self.services.catalog,
            base_prices=base_prices,
        )
        few = format_cost(figures.few_shot_per_1000)
        tuned = format_cost(figures.fine_tuned_per_1000)
        if figures.few_shot_per_1000 is None:
            few += " (enter the base model's price above)"
        verdict = ""
        if figures.few_shot_per_1000 is not None and figures.fine_tuned_per_1000:
            ratio = figures.few_shot_per_1000 / figures.fine_tuned_per_1000
            verdict = (
                f"<br><b>Few-shot costs {ratio:.1f}× as much per question</b>; training "
                "pays off once enough questions are asked."
                if ratio > 1
                else "<br><b>Few-shot is cheaper per question</b>; try it before training."
            )
        self.figures.setText(
            f"<p>The examples add <b>{figures.prefix_tokens:,} tokens</b> to every question "
            f"(the system prompt alone: {figures.system_tokens:,}). A typical question is "
            f"{figures.question_tokens:,.0f} tokens, a typical answer "
            f"{figures.answer_tokens:,.0f}.</p>"
            "<p><b>Per 1,000 questions</b><br>"
            f"Few-shot with {entry.model_id}: {few}<br>"
            f"A model fine-tuned from it: {tuned}{verdict}</p>"
            f"<p style='color:{palette.MUTED}'>Prompt caching can make repeated examples "
            "cheaper than shown.</p>"
        )


# The panel -----------------------------------------------------------------------------------


def _served_profile(profile: ProviderProfile, label: str) -> ProviderProfile:
    """The local server's profile, named after the model it serves."""
    return profile.with_changes(display_name=f"This computer: {label}")


def _edit_reply_dialog(parent: QWidget, question: str, reply: str) -> str | None:
    dialog = ReplyEditDialog(question, reply, parent)
    return dialog.reply() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _run_dialog(dialog: QDialog) -> bool:
    return dialog.exec() == QDialog.DialogCode.Accepted


def _confirm_dialog(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


class ChatPanel(QWidget):
    """Chat, Compare and Evaluate in one tab of the main window.

    Dependencies come in through the constructor: the provider profiles and keys, the model
    catalog, where chats and evaluation runs are saved, the job archive (fine-tuned models and
    checkpoints of past jobs), ``dataset_records`` (the open dataset's records, for the system
    prompt, evaluation samples and few-shot prompts) and ``add_example`` (adds one training
    example to the open dataset as one undoable edit). ``auto_evaluate`` is the user's choice
    to evaluate every finished job without asking (``auto_evaluate_changed`` reports changes,
    for the settings). ``status_message`` carries short notes for the window's status bar.
    """

    status_message = Signal(str)
    auto_evaluate_changed = Signal(bool)
    #: Stop something that bills while it runs (profile id, name), from the banner.
    stop_serving_requested = Signal(str, str)

    def __init__(
        self,
        *,
        profiles: ProfileStore,
        keys: KeyStore,
        catalog: Catalog,
        conversations: ConversationStore,
        evaluations: EvalStore,
        archive: JobArchive,
        dataset_records: Callable[[], Sequence[Record]],
        add_example: Callable[[dict[str, Any]], None],
        auto_evaluate: bool = False,
        clock: Callable[[], float] = time.time,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.directory = ModelDirectory(profiles, keys, catalog, archive, clock=clock)
        self.directory.setParent(self)
        self.services = ChatServices(
            directory=self.directory,
            keys=keys,
            catalog=catalog,
            conversations=conversations,
            evaluations=evaluations,
            dataset_records=dataset_records,
            add_example=add_example,
            edit_reply=_edit_reply_dialog,
            confirm=_confirm_dialog,
            run_dialog=_run_dialog,
            notify=self.status_message.emit,
            clock=clock,
        )
        self.chat = ChatPage(self.services)
        self.compare = ComparePage(self.services)
        self.evaluate = EvalPage(self.services, auto_evaluate=auto_evaluate)
        self.evaluate.auto_evaluate_changed.connect(self.auto_evaluate_changed)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.chat, "Chat")
        self.tabs.addTab(self.compare, "Compare two models")
        self.tabs.addTab(self.evaluate, "Evaluate")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.serving_banner = ServingBanner()
        self.serving_banner.stop_requested.connect(self.stop_serving_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.serving_banner)
        layout.addWidget(self.tabs)

    def _on_tab_changed(self) -> None:
        if self.tabs.currentWidget() is self.compare:
            self.compare.suggest(self.chat.entry)
        elif self.tabs.currentWidget() is self.evaluate:
            self.evaluate.suggest(self.chat.entry)

    def open_model(self, profile_id: str, model_id: str) -> None:
        """Chat with ``model_id`` of ``profile_id`` (e.g. "chat with this checkpoint")."""
        self.tabs.setCurrentWidget(self.chat)
        self.chat.open_model(profile_id, model_id)

    def evaluate_after_job(self, job: JobSummary, validation_records: Sequence[Record]) -> None:
        """Offer (or, when the user chose so, start) an evaluation of a job's new model against
        its base model on the job's validation examples; connect to the Jobs panel's
        ``job_finished``."""
        self.evaluate.evaluate_after_job(job, validation_records)

    def open_served(self, served: ServedChat) -> None:
        """Chat with a model served on this computer, through its local server's profile
        (kept only while it runs), shown under its label rather than its folder path."""
        profile = _served_profile(served.profile, served.label)
        self.directory.add_served(profile, served.name, served.label)
        self.open_model(profile.id, served.name)

    def compare_served(self, base: ServedChat, trained: ServedChat) -> None:
        """Compare a model trained on this computer (side B) with its base model (side A),
        both served here."""
        for served, is_trained in ((base, False), (trained, True)):
            profile = _served_profile(served.profile, served.label)
            self.directory.add_served(profile, served.name, served.label, trained=is_trained)
        compare = self.compare
        if not compare.has_messages and not compare.system_edit.toPlainText().strip():
            examples = self.services.dataset_examples(SUGGESTION_EXAMPLES)
            compare.system_edit.setPlainText(most_common_system(examples) or "")
        self.tabs.setCurrentWidget(compare)
        compare.set_models((base.profile.id, base.name), (trained.profile.id, trained.name))

    def show_serving(self, entries: Sequence[Serving], providers: Mapping[str, str]) -> None:
        """Keep in sight what runs (and what bills by the minute) while the user chats with
        it; a model served on this computer that stopped is no longer offered."""
        self.serving_banner.set_serving(entries, providers)
        self.directory.keep_served({s.name for s in entries if s.local})

    def reload_profiles(self) -> None:
        """Re-read provider profiles after Settings changed them."""
        self.directory.reload_profiles()

    def cancel_work(self) -> None:
        """Stop replies and evaluations on their way (before the window closes)."""
        self.chat.stop()
        self.compare.stop()
        self.evaluate.cancel_work()
        self.directory.cancel_loading()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.chat.refresh_dataset_defaults()

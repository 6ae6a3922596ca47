"""A conversation as a column of message cards: who speaks, what they say, what tools run.

Edits never change the message dictionaries they were given: every change builds new ones
and hands the whole new message list up, where it becomes one undoable edit.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.dataset import dump_json
from desktop.ui.common import palette
from desktop.ui.common.icons import tool_icon
from desktop.ui.common.text_edit import GrowingTextEdit

ROLES = ("system", "user", "assistant", "tool")

ROLE_LABELS = {
    "system": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool result",
}

ROLE_TIPS = {
    "system": "Instructions the assistant follows in every conversation (its persona and rules).",
    "user": "What the person chatting says.",
    "assistant": "The reply you want the model to learn to give.",
    "tool": "What a tool (a function your software runs) returned to the assistant.",
}

ROLE_COLORS = {
    "system": palette.SURFACE,
    "user": palette.ACCENT_BACKGROUND,
    "assistant": palette.SUCCESS_BACKGROUND,
    "tool": palette.WARNING_BACKGROUND,
}

WEIGHT_TIP = (
    "When ticked, the model learns from this reply. Untick it to keep a reply as context "
    "only (for example an earlier, imperfect answer): it is sent with the example but the "
    "model is not trained to write it (weight 0)."
)


def pretty_arguments(arguments: Any) -> str:
    """Tool-call arguments shown readably: pretty JSON when they parse, else as they are."""
    if not isinstance(arguments, str):
        return dump_json(arguments, indent=2)
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):  # not JSON, or a number too long to read
        return arguments
    return dump_json(parsed, indent=2)


def compact_arguments(text: str, original: Any, shown: str | None = None) -> Any:
    """Arguments to store for edited text: the original if unchanged, compact JSON if valid.

    ``shown`` is ``pretty_arguments(original)`` when the caller already has it (long
    arguments are not parsed again on every keystroke).
    """
    if text == (pretty_arguments(original) if shown is None else shown):
        return original
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return dump_json(parsed)


class ToolCallEditor(QFrame):
    """One tool call: the function's name and its arguments (editable)."""

    edited = Signal(object)

    def __init__(self, call: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolCall")
        self._call = call
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        top = QHBoxLayout()
        label = QLabel("Calls function")
        label.setToolTip(
            "The assistant asks your software to run this function with these arguments; "
            "the next tool message holds what it returned."
        )
        top.addWidget(label)
        self.name_edit = QLineEdit(str(function.get("name", "")))
        self.name_edit.setPlaceholderText("function name")
        self.name_edit.setToolTip("The name of the function the assistant calls.")
        top.addWidget(self.name_edit, 1)
        if call.get("id"):
            call_id = QLabel(f"id {call['id']}")
            call_id.setStyleSheet(f"color: {palette.MUTED};")
            call_id.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            top.addWidget(call_id)
        layout.addLayout(top)
        self.arguments_edit = GrowingTextEdit(self, monospace=True, max_lines=16)
        self.arguments_edit.setToolTip("The function's arguments, as JSON.")
        self._shown_arguments = pretty_arguments(function.get("arguments", ""))
        self.arguments_edit.set_text(self._shown_arguments)
        layout.addWidget(self.arguments_edit)
        self.name_edit.textEdited.connect(self._emit)
        self.arguments_edit.text_edited.connect(self._emit)

    def _emit(self) -> None:
        function = dict(self._call.get("function") or {})
        function["name"] = self.name_edit.text()
        function["arguments"] = compact_arguments(
            self.arguments_edit.text(),
            (self._call.get("function") or {}).get("arguments", ""),
            self._shown_arguments,
        )
        call = dict(self._call)
        call["function"] = function
        self.edited.emit(call)


class MessageCard(QFrame):
    """One message: role, optional name, text, weight toggle and tool calls."""

    #: A field changed: (new message, field name for undo merging).
    edited = Signal(object, str)
    #: A button asked for a structural change: "up", "down", "duplicate" or "delete".
    action = Signal(str)

    def __init__(
        self, message: dict[str, Any], index: int, count: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.message = message
        self.index = index
        role = message.get("role")
        self.role = role if isinstance(role, str) else ""
        self.setObjectName("messageCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        color = ROLE_COLORS.get(self.role, palette.ERROR_BACKGROUND)
        self.setStyleSheet(
            f"#messageCard {{ background: {color}; border: 1px solid {palette.BORDER}; "
            "border-radius: 8px; }"
            "#toolCall { background: rgba(255,255,255,0.6); "
            f"border: 1px dashed {palette.DASHED_BORDER}; "
            "border-radius: 6px; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        layout.addLayout(self._header(count))
        self.text_edit = GrowingTextEdit(self, min_lines=2)
        self.text_edit.setPlaceholderText(self._placeholder())
        self.text_edit.setStyleSheet("QTextEdit { background: white; border-radius: 4px; }")
        content = message.get("content")
        self._structured = isinstance(content, list)
        if self._structured:
            self.text_edit.set_text(self._parts_text(content))
            self.text_edit.setReadOnly(True)
            self.text_edit.setToolTip(
                "This message has several parts (text and images). Use 'Edit as text (JSON)' "
                "to change them."
            )
        else:
            self.text_edit.set_text(content if isinstance(content, str) else "")
            self.text_edit.text_edited.connect(self._on_text)
        layout.addWidget(self.text_edit)
        if self.role == "assistant":
            self.weight_box = QCheckBox("Learn from this reply")
            self.weight_box.setChecked(message.get("weight", 1) != 0)
            self.weight_box.setToolTip(WEIGHT_TIP)
            self.weight_box.toggled.connect(self._on_weight)
            layout.addWidget(self.weight_box)
        self.tool_editors: list[ToolCallEditor] = []
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if not isinstance(call, dict):
                    continue
                editor = ToolCallEditor(call, self)
                editor.edited.connect(
                    lambda new_call, p=position: self._on_call(p, new_call)  # type: ignore[misc]
                )
                self.tool_editors.append(editor)
                layout.addWidget(editor)

    def _header(self, count: int) -> QHBoxLayout:
        header = QHBoxLayout()
        header.setSpacing(6)
        self.role_combo = QComboBox()
        for role in ROLES:
            self.role_combo.addItem(ROLE_LABELS[role], role)
            self.role_combo.setItemData(
                self.role_combo.count() - 1, ROLE_TIPS[role], Qt.ItemDataRole.ToolTipRole
            )
        if self.role not in ROLES:
            self.role_combo.addItem(self.role or "(no role)", self.role)
        self.role_combo.setCurrentIndex(self.role_combo.findData(self.role))
        self.role_combo.setToolTip("Who says this message.")
        self.role_combo.currentIndexChanged.connect(self._on_role)
        header.addWidget(self.role_combo)
        self.name_edit = QLineEdit(str(self.message.get("name", "") or ""))
        self.name_edit.setPlaceholderText("name")
        self.name_edit.setToolTip(
            "Optional: a name for the speaker, e.g. to tell two users apart. Letters, digits, "
            "_ and - only."
        )
        self.name_edit.setMaximumWidth(110)
        self.name_edit.setMinimumWidth(60)
        self.name_edit.textEdited.connect(self._on_name)
        header.addWidget(self.name_edit)
        self.weight_box: QCheckBox | None = None
        self.call_id_edit: QLineEdit | None = None
        if self.role == "tool":
            self.call_id_edit = QLineEdit(str(self.message.get("tool_call_id", "") or ""))
            self.call_id_edit.setPlaceholderText("answers call id")
            self.call_id_edit.setToolTip(
                "The id of the tool call this result answers (shown on the assistant's call)."
            )
            self.call_id_edit.setMaximumWidth(180)
            self.call_id_edit.textEdited.connect(self._on_call_id)
            header.addWidget(self.call_id_edit)
        header.addStretch(1)
        for name, tip, enabled in (
            ("up", "Move this message up", self.index > 0),
            ("down", "Move this message down", self.index < count - 1),
            ("duplicate", "Duplicate this message", True),
            ("delete", "Delete this message", True),
        ):
            button = QToolButton()
            button.setIcon(tool_icon(name))
            button.setToolTip(tip)
            button.setAccessibleName(tip)
            button.setObjectName(f"message_{name}")
            button.setEnabled(enabled)
            button.setAutoRaise(True)
            button.clicked.connect(lambda _=False, n=name: self.action.emit(n))
            header.addWidget(button)
        return header

    def _placeholder(self) -> str:
        if self.message.get("tool_calls"):
            return "No text: this reply calls a tool (type here to add text)."
        return {
            "system": "Instructions for the assistant, e.g. “You are a friendly support agent…”",
            "user": "What the user says…",
            "assistant": "The reply the assistant should give…",
            "tool": "What the tool returned…",
        }.get(self.role, "Message text…")

    @staticmethod
    def _parts_text(parts: list[Any]) -> str:
        lines = []
        for part in parts:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                lines.append(part["text"])
            elif isinstance(part, dict) and part.get("type") == "image_url":
                lines.append("[image]")
            else:
                lines.append(dump_json(part))
        return "\n".join(lines)

    def _changed(self, key: str, value: Any, *, remove: bool = False) -> None:
        message = dict(self.message)
        if remove:
            message.pop(key, None)
        else:
            message[key] = value
        self.message = message
        self.edited.emit(message, key)

    def _on_text(self, text: str) -> None:
        original = self.message.get("content")
        if original is None and text == "":
            self._changed("content", None)
            return
        self._changed("content", text)

    def _on_name(self, text: str) -> None:
        self._changed("name", text, remove=not text)

    def _on_call_id(self, text: str) -> None:
        self._changed("tool_call_id", text)

    def _on_role(self) -> None:
        role = self.role_combo.currentData()
        message = dict(self.message)
        message["role"] = role
        if role != "assistant":
            message.pop("weight", None)
        self.message = message
        # A new role changes the card's fields, so the editor rebuilds it.
        self.edited.emit(message, "role")

    def _on_weight(self, checked: bool) -> None:
        if checked:
            self._changed("weight", 1)
        else:
            self._changed("weight", 0)

    def _on_call(self, position: int, call: dict[str, Any]) -> None:
        calls = list(self.message.get("tool_calls") or [])
        calls[position] = call
        self._changed("tool_calls", calls)


def next_role(messages: list[dict[str, Any]]) -> str:
    """The role a new message most likely has: the other side of the last speaker."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "user" or role == "tool":
            return "assistant"
        if role in ("assistant", "system"):
            return "user"
    return "system" if not messages else "user"


class ConversationEditor(QWidget):
    """Message cards for one list of messages, plus an 'Add message' button."""

    #: The new message list, and a merge key (None for structural edits).
    messages_edited = Signal(object, object)

    def __init__(self, parent: QWidget | None = None, *, add_label: str = "Add message") -> None:
        super().__init__(parent)
        self._messages: list[Any] = []
        self.cards: list[MessageCard] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(8)
        self.empty_label = QLabel("This conversation has no messages yet.")
        self.empty_label.setStyleSheet(f"color: {palette.MUTED};")
        self._layout.addWidget(self.empty_label)
        self.add_button = QPushButton(add_label)
        self.add_button.setToolTip("Add a message at the end of the conversation (Ctrl+Enter).")
        self.add_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.add_button.clicked.connect(self.add_message)
        self._layout.addWidget(self.add_button)
        self._layout.addStretch(1)

    @property
    def messages(self) -> list[Any]:
        """The messages shown (never mutated: edits build new lists)."""
        return self._messages

    def set_messages(self, messages: list[Any]) -> None:
        """Show ``messages``; cards are kept when only texts changed, so focus stays put."""
        same_shape = len(messages) == len(self.cards) and all(
            isinstance(m, dict)
            and m.get("role") == card.role
            and isinstance(m.get("content"), list) == card._structured
            and m.get("tool_calls") == card.message.get("tool_calls")
            for m, card in zip(messages, self.cards, strict=False)
        )
        self._messages = list(messages)
        if same_shape:
            for message, card in zip(messages, self.cards, strict=True):
                card.message = message
                content = message.get("content")
                if not isinstance(content, list):
                    card.text_edit.set_text(content if isinstance(content, str) else "")
                card.name_edit.setText(str(message.get("name", "") or ""))
                if card.weight_box is not None:
                    card.weight_box.blockSignals(True)
                    card.weight_box.setChecked(message.get("weight", 1) != 0)
                    card.weight_box.blockSignals(False)
                if card.call_id_edit is not None:
                    card.call_id_edit.setText(str(message.get("tool_call_id", "") or ""))
            return
        self._rebuild()

    def _rebuild(self) -> None:
        for card in self.cards:
            self._layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = []
        for index, message in enumerate(self._messages):
            card = MessageCard(
                message if isinstance(message, dict) else {"content": message},
                index,
                len(self._messages),
                self,
            )
            card.edited.connect(lambda m, key, c=card: self._on_card_edited(c, m, key))
            card.action.connect(lambda name, c=card: self._on_card_action(c, name))
            self._layout.insertWidget(self._layout.indexOf(self.add_button), card)
            self.cards.append(card)
        self.empty_label.setVisible(not self._messages)

    def _on_card_edited(self, card: MessageCard, message: dict[str, Any], key: str) -> None:
        messages = list(self._messages)
        messages[card.index] = message
        self._messages = messages
        structural = key == "role"
        self.messages_edited.emit(messages, None if structural else (card.index, key))
        if structural:
            self._rebuild()

    def _on_card_action(self, card: MessageCard, name: str) -> None:
        messages = list(self._messages)
        index = card.index
        if name == "delete":
            del messages[index]
        elif name == "duplicate":
            messages.insert(index + 1, dict(messages[index]))
        elif name == "up" and index > 0:
            messages[index - 1], messages[index] = messages[index], messages[index - 1]
        elif name == "down" and index < len(messages) - 1:
            messages[index + 1], messages[index] = messages[index], messages[index + 1]
        else:
            return
        self._messages = messages
        self._rebuild()
        self.messages_edited.emit(messages, None)

    def add_message(self) -> None:
        """Add an empty message from the next speaker and put the cursor in it."""
        role = next_role([m for m in self._messages if isinstance(m, dict)])
        self._messages = [*self._messages, {"role": role, "content": ""}]
        self._rebuild()
        self.messages_edited.emit(self._messages, None)
        self.cards[-1].text_edit.setFocus()

    def focus_message(self, index: int) -> None:
        """Put the cursor in message ``index`` (when jumping from a finding)."""
        if 0 <= index < len(self.cards):
            self.cards[index].text_edit.setFocus()

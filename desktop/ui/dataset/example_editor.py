"""The editor for the selected example: chat, preference pair, legacy pair or a damaged line.

It shows one record and turns every change into an undoable edit through the document; it
follows undo and redo by re-reading the record, keeping the cards (and the cursor) when only
texts changed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.dataset import (
    Change,
    Dataset,
    LineState,
    Record,
    dump_json,
    escape_surrogates,
    parse_json_bytes,
)
from desktop.core.findings import Severity
from desktop.core.kinds import ExampleKind
from desktop.ui.common import palette
from desktop.ui.common.elided_label import ElidedLabel
from desktop.ui.common.icons import status_icon
from desktop.ui.common.text_edit import GrowingTextEdit
from desktop.ui.dataset.conversation_editor import ConversationEditor
from desktop.ui.dataset.document import DatasetDocument

#: Pause before a typed JSON text is applied (milliseconds).
RAW_APPLY_MS = 300

PAGE_EMPTY, PAGE_CHAT, PAGE_PREFERENCE, PAGE_LEGACY, PAGE_RAW = range(5)


def _with(value: dict[str, Any], key: str, item: Any) -> dict[str, Any]:
    """A copy of ``value`` with ``key`` set (values are never changed in place)."""
    result = dict(value)
    result[key] = item
    return result


def _messages_of(value: Any) -> list[Any]:
    messages = value.get("messages") if isinstance(value, dict) else None
    return messages if isinstance(messages, list) else []


def _first_content(output: Any) -> str:
    if isinstance(output, dict):
        output = [output]
    if isinstance(output, list) and output and isinstance(output[0], dict):
        content = output[0].get("content")
        return content if isinstance(content, str) else ""
    return ""


def _with_first_content(output: Any, text: str) -> list[Any]:
    if isinstance(output, dict):
        output = [output]
    if not isinstance(output, list) or not output or not isinstance(output[0], dict):
        return [{"role": "assistant", "content": text}]
    first = dict(output[0])
    first["content"] = text
    return [first, *output[1:]]


def _label(text: str, *, muted: bool = False, bold: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    style = []
    if muted:
        style.append(f"color: {palette.MUTED};")
    if bold:
        style.append("font-weight: 600;")
    label.setStyleSheet(" ".join(style))
    return label


class PreferenceEditor(QWidget):
    """A preference (DPO) pair: the prompt conversation, then the two replies side by side."""

    value_edited = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(_label("Prompt", bold=True))
        layout.addWidget(
            _label(
                "The conversation so far. The model learns which of the two replies below "
                "to prefer as the next message.",
                muted=True,
            )
        )
        self.prompt = ConversationEditor(self)
        self.prompt.messages_edited.connect(self._on_prompt)
        layout.addWidget(self.prompt)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        preferred = _label("✓ Preferred reply", bold=True)
        preferred.setToolTip("The reply you want the model to give.")
        rejected = _label("✗ Non-preferred reply", bold=True)
        rejected.setToolTip("A worse reply the model should learn to avoid.")
        grid.addWidget(preferred, 0, 0)
        grid.addWidget(rejected, 0, 1)
        self.preferred_edit = GrowingTextEdit(self, min_lines=4)
        self.preferred_edit.setStyleSheet(
            f"QTextEdit {{ background: {palette.SUCCESS_BACKGROUND}; }}"
        )
        self.rejected_edit = GrowingTextEdit(self, min_lines=4)
        self.rejected_edit.setStyleSheet(f"QTextEdit {{ background: {palette.ERROR_BACKGROUND}; }}")
        # Both replies start at the top, however long the other one is.
        grid.addWidget(self.preferred_edit, 1, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.rejected_edit, 1, 1, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.preferred_edit.text_edited.connect(
            lambda text: self._on_reply("preferred_output", text)
        )
        self.rejected_edit.text_edited.connect(
            lambda text: self._on_reply("non_preferred_output", text)
        )

    def set_value(self, value: dict[str, Any]) -> None:
        """Show one preference pair."""
        self._value = value
        prompt = value.get("input")
        self.prompt.set_messages(_messages_of(prompt))
        self.preferred_edit.set_text(_first_content(value.get("preferred_output")))
        self.rejected_edit.set_text(_first_content(value.get("non_preferred_output")))

    def _on_prompt(self, messages: list[Any], merge_key: object) -> None:
        prompt = self._value.get("input")
        prompt = prompt if isinstance(prompt, dict) else {}
        self._value = _with(self._value, "input", _with(prompt, "messages", messages))
        self.value_edited.emit(self._value, None if merge_key is None else ("prompt", merge_key))

    def _on_reply(self, key: str, text: str) -> None:
        self._value = _with(self._value, key, _with_first_content(self._value.get(key), text))
        self.value_edited.emit(self._value, key)


class LegacyEditor(QWidget):
    """An older prompt/completion pair, with the offer to convert the file to chat."""

    value_edited = Signal(object, object)
    convert_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value: dict[str, Any] = {}
        self._reply_key = "completion"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        banner = QFrame()
        banner.setStyleSheet(
            f"QFrame {{ background: {palette.ACCENT_BACKGROUND}; border-radius: 6px; }}"
        )
        banner_layout = QHBoxLayout(banner)
        banner_layout.addWidget(
            _label(
                "This example uses the older prompt/completion layout. Chat models are trained "
                "on conversations; convert the examples to train them."
            ),
            1,
        )
        self.convert_button = QPushButton("Convert to chat examples…")
        self.convert_button.setToolTip(
            "Turn every prompt/completion example into a user message and an assistant reply "
            "(you can undo this)."
        )
        self.convert_button.clicked.connect(self.convert_requested)
        banner_layout.addWidget(self.convert_button)
        layout.addWidget(banner)
        layout.addWidget(_label("Prompt", bold=True))
        self.prompt_edit = GrowingTextEdit(self, min_lines=3)
        layout.addWidget(self.prompt_edit)
        self.reply_label = _label("Completion", bold=True)
        layout.addWidget(self.reply_label)
        self.reply_edit = GrowingTextEdit(self, min_lines=3)
        layout.addWidget(self.reply_edit)
        layout.addStretch(1)
        self.prompt_edit.text_edited.connect(lambda text: self._on_text("prompt", text))
        self.reply_edit.text_edited.connect(lambda text: self._on_text(self._reply_key, text))

    def set_value(self, value: dict[str, Any], kind: ExampleKind) -> None:
        """Show one legacy pair."""
        self._value = value
        self._reply_key = "completion" if kind is ExampleKind.PROMPT_COMPLETION else "response"
        self.reply_label.setText(self._reply_key.capitalize())
        prompt = value.get("prompt")
        reply = value.get(self._reply_key)
        self.prompt_edit.set_text(prompt if isinstance(prompt, str) else "")
        self.reply_edit.set_text(reply if isinstance(reply, str) else "")

    def _on_text(self, key: str, text: str) -> None:
        self._value = _with(self._value, key, text)
        self.value_edited.emit(self._value, key)


class RawEditor(QWidget):
    """The text of a line: to repair a damaged line in place, or to edit any example as JSON."""

    #: The user typed (the new text, a str sent as an object: a long one is not copied).
    text_edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.problem = _label("")
        self.problem.setObjectName("rawProblem")
        self.problem.setStyleSheet(
            f"QLabel {{ background: {palette.ERROR_BACKGROUND}; color: {palette.ERROR_STRONG}; "
            "border-radius: 6px; padding: 8px; }"
        )
        layout.addWidget(self.problem)
        self.hint = _label("", muted=True)
        layout.addWidget(self.hint)
        self.editor = GrowingTextEdit(self, monospace=True, min_lines=6, max_lines=40)
        self.editor.setLineWrapMode(GrowingTextEdit.LineWrapMode.WidgetWidth)
        layout.addWidget(self.editor)
        layout.addStretch(1)
        self.editor.text_edited.connect(self.text_edited)

    def show_text(self, text: str, problem: str | None, hint: str) -> None:
        """Show a line's text with what is wrong with it (None when nothing is)."""
        self.editor.set_text(text)
        self.show_problem(problem)
        self.hint.setText(hint)

    def show_problem(self, problem: str | None) -> None:
        """Show or hide the problem banner."""
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))


class ExampleEditor(QWidget):
    """The right-hand editor: one record at a time, every change an undoable edit."""

    #: Ask the window to convert every legacy example (the banner's button).
    convert_requested = Signal()
    #: Text typed as JSON was left without being applied (it never became valid); a plain
    #: sentence saying so, for the status bar.
    unapplied_dropped = Signal(str)

    def __init__(self, document: DatasetDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.record: Record | None = None
        self._applying = False
        self._as_json = False
        #: Why the JSON text being typed is not applied (None when it is, or nothing is typed).
        self._unapplied: str | None = None
        #: The record last parsed and its example (see ``_value``).
        self._parsed: tuple[Record, Any] | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_header())
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(14, 10, 14, 14)
        self.findings_label = _label("")
        self.findings_label.setObjectName("exampleFindings")
        self.findings_label.setTextFormat(Qt.TextFormat.RichText)
        body_layout.addWidget(self.findings_label)
        self.pages = QStackedWidget()
        body_layout.addWidget(self.pages)
        body_layout.addStretch(1)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll, 1)

        empty = _label(
            "Select an example in the list to see and edit its conversation.", muted=True
        )
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(empty)
        self.chat = ConversationEditor()
        self.chat.messages_edited.connect(self._on_messages)
        self.pages.addWidget(self.chat)
        self.preference = PreferenceEditor()
        self.preference.value_edited.connect(self._apply_value)
        self.pages.addWidget(self.preference)
        self.legacy = LegacyEditor()
        self.legacy.value_edited.connect(self._apply_value)
        self.legacy.convert_requested.connect(self.convert_requested)
        self.pages.addWidget(self.legacy)
        self.raw = RawEditor()
        self.raw.text_edited.connect(self._on_raw_text)
        self.pages.addWidget(self.raw)
        self._raw_timer = QTimer(self, singleShot=True, interval=RAW_APPLY_MS)
        self._raw_timer.timeout.connect(self._apply_raw)
        document.dataset_replaced.connect(self._on_dataset_replaced)
        document.pending_edits_wanted.connect(self._apply_pending)
        document.analysis_updated.connect(self._on_analysis_updated)
        document.dataset.subscribe(self._on_change)
        self._subscribed = document.dataset
        self.show_record(None)

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setObjectName("exampleHeader")
        header.setStyleSheet(f"#exampleHeader {{ border-bottom: 1px solid {palette.BORDER}; }}")
        rows = QVBoxLayout(header)
        rows.setContentsMargins(14, 8, 14, 8)
        rows.setSpacing(2)
        layout = QHBoxLayout()
        rows.addLayout(layout)
        self.status_icon = QLabel()
        layout.addWidget(self.status_icon)
        self.title = ElidedLabel("No example selected")  # narrow columns shorten it, not hide
        self.title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        layout.addWidget(self.title, 1)
        # Below the title, where the buttons leave it the whole width; shortened ("…") where
        # even that is too narrow, never forcing the editor wider.
        self.subtitle = ElidedLabel("")
        self.subtitle.setStyleSheet(f"color: {palette.MUTED};")
        self.json_button = QPushButton("Edit as JSON")
        self.json_button.setCheckable(True)
        self.json_button.setToolTip(
            "Edit the whole example as JSON text, for anything the form does not show."
        )
        self.json_button.toggled.connect(self._on_json_toggled)
        layout.addWidget(self.json_button)
        self.add_button = QPushButton("Add message")
        self.add_button.setToolTip("Add a message at the end of the conversation (Ctrl+Enter).")
        self.add_button.clicked.connect(self.add_message)
        layout.addWidget(self.add_button)
        rows.addWidget(self.subtitle)
        return header

    # Showing ---------------------------------------------------------------------------------

    @property
    def dataset_shown(self) -> Dataset | None:
        """The dataset the shown record belongs to (until the editor hears of a new one)."""
        return self._subscribed

    @property
    def record_id(self) -> int | None:
        """The id of the record shown (None when nothing is)."""
        return self.record.id if self.record is not None else None

    def _show_page(self, page: int) -> None:
        """Show one page; the others stop claiming height, so a short page stays short."""
        for index in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if index == page else QSizePolicy.Policy.Ignored
            self.pages.widget(index).setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(page)
        self.pages.adjustSize()

    def _value(self, record: Record) -> Any:
        """The record's example, parsed once while it is shown (never changed in place).

        An untouched record parses its line on every ``value``; a 10 MB line takes tens of
        milliseconds, and showing or editing it asked several times.
        """
        if self._parsed is None or self._parsed[0] is not record:
            self._parsed = (record, record.value)
        return self._parsed[1]

    def _on_dataset_replaced(self) -> None:
        self._raw_timer.stop()  # typed into the dataset that is gone (it was offered for saving)
        self._unapplied = None
        if self._subscribed is not None:
            with contextlib.suppress(ValueError):
                self._subscribed.unsubscribe(self._on_change)
        self.document.dataset.subscribe(self._on_change)
        self._subscribed = self.document.dataset
        self.show_record(None)

    def unapplied_problem(self) -> str | None:
        """Why text typed as JSON is not part of the dataset (None when nothing is left out).

        Closing the dataset asks first: unlike other edits, that text is only in the editor.
        """
        self._apply_pending()
        return self._unapplied

    def show_record(self, record_id: int | None) -> None:
        """Show the record with this id (None clears the editor)."""
        self._apply_pending()  # text typed into the record shown so far is kept
        shown = self.record
        if (
            shown is not None
            and record_id == shown.id
            and self._unapplied is not None
            and self.document.dataset.has_record(record_id)
        ):
            # Shown again (a sort or a search rebuilt the rows): keep the text being typed.
            self.record = self.document.dataset.record(record_id)
            self._update_header()
            return
        if shown is not None and record_id != shown.id:
            self._drop_unapplied(shown)
        record = None
        if record_id is not None:
            try:
                record = self.document.dataset.record(record_id)
            except KeyError:
                record = None
        if record is not None and record is shown and self._unapplied is None:
            # The very example shown (rows were rebuilt around it after a deletion or a
            # search): its editor stays; building it again took a good part of the stall.
            self._update_header()
            return
        if record is None or (self.record is None or record.id != self.record.id):
            self._as_json = False
            self.json_button.blockSignals(True)
            self.json_button.setChecked(False)
            self.json_button.blockSignals(False)
        self.record = record
        self._refresh()

    def _refresh(self) -> None:
        record = self.record
        self._update_header()
        if record is None:
            self._show_page(PAGE_EMPTY)
            self.json_button.setEnabled(False)
            self.add_button.setEnabled(False)
            return
        self.json_button.setEnabled(record.is_example)
        self.add_button.setEnabled(record.kind is ExampleKind.CHAT and not self._as_json)
        if not record.is_example:
            self._show_raw_line(record)
            return
        if self._as_json:
            self._drop_unapplied(record)  # the text shown is the example's own again
            self.raw.show_text(
                dump_json(self._value(record), indent=2),  # halves of characters stay escapes
                None,
                "Changes apply as soon as the text is a valid example.",
            )
            self._show_page(PAGE_RAW)
            return
        value = self._value(record)
        if record.kind is ExampleKind.CHAT:
            self.chat.set_messages(_messages_of(value))
            self._show_page(PAGE_CHAT)
        elif record.kind is ExampleKind.PREFERENCE:
            self.preference.set_value(value)
            self._show_page(PAGE_PREFERENCE)
        else:
            self.legacy.set_value(value, record.kind)
            self._show_page(PAGE_LEGACY)

    def _show_raw_line(self, record: Record) -> None:
        if record.state is LineState.BLANK:
            problem = "This line is empty. Empty lines can make an upload fail."
            hint = "Delete it (Delete key), or type an example here."
        else:
            problem = record.error or "This line cannot be read as an example."
            hint = "Correct the text below; the line becomes an example as soon as it is valid."
        self.raw.show_text(record.text, problem, hint)
        self._show_page(PAGE_RAW)

    def _update_header(self) -> None:
        record = self.record
        if record is None:
            self.title.setText("No example selected")
            self.subtitle.setText("")
            self.status_icon.clear()
            self.findings_label.setVisible(False)
            return
        where = f"Line {record.line}" if record.line is not None else "New example"
        kind = {
            ExampleKind.CHAT: "conversation",
            ExampleKind.PREFERENCE: "preference pair",
            ExampleKind.PROMPT_COMPLETION: "prompt/completion",
            ExampleKind.PROMPT_RESPONSE: "prompt/response",
        }.get(record.kind, "damaged line" if record.state is LineState.BROKEN else "empty line")
        self.title.setText(where)
        result = self.document.analysis.get(record.id)
        details = [kind]
        if record.kind is ExampleKind.CHAT:  # the form shows it is a conversation: room saved
            count = len(_messages_of(self._value(record)))
            details = [f"{count} message{'s' if count != 1 else ''}"]
        if result is not None and result.tokens is not None:
            details.append(f"{result.tokens.total:,} tokens")
        self.subtitle.setText(" · ".join(details))
        severity = self.document.table.severity_of(record.id)
        if result is None and record.is_example:
            self.status_icon.clear()
        else:
            self.status_icon.setPixmap(status_icon(severity).pixmap(20, 20))
        findings = list(result.findings) if result is not None else []
        findings += [f for f in self.document.dataset_findings if f.record_id == record.id]
        if record.state is LineState.BROKEN:
            findings = [f for f in findings if f.code != "invalid_json"]
        if not findings:
            self.findings_label.setVisible(False)
            return
        colors = {
            Severity.ERROR: palette.ERROR_STRONG,
            Severity.WARNING: palette.WARNING_TEXT,
            Severity.INFO: palette.ACCENT_TEXT,
        }
        rows = []
        for finding in findings[:8]:
            fix = (
                f"<br><span style='color:{palette.MUTED}'>{_escape(finding.fix)}</span>"
                if finding.fix
                else ""
            )
            rows.append(
                f"<p style='margin:2px 0; color:{colors[finding.severity]}'>"
                f"• {_escape(finding.text)}{fix}</p>"
            )
        if len(findings) > 8:
            rows.append(f"<p>…and {len(findings) - 8} more</p>")
        self.findings_label.setText("".join(rows))
        self.findings_label.setVisible(True)

    # Following changes -----------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if self.record is None:
            return
        if change.kind == "replace_many":
            if self.record.id in change.record_ids:
                self._follow_replace()
            return
        if change.kind == "remove_many":
            if self.record.id in change.record_ids:
                self._forget_removed()
            return
        if change.record_id != self.record.id:
            return
        if change.kind == "remove":
            self._forget_removed()
            return
        if change.kind == "replace":
            self._follow_replace()

    def _forget_removed(self) -> None:
        """The example shown was removed: text typed into it goes with it."""
        self._raw_timer.stop()
        self._unapplied = None
        self.record = None
        self._refresh()

    def _follow_replace(self) -> None:
        assert self.record is not None
        record = self.document.dataset.record(self.record.id)
        was_example = self.record.is_example
        self.record = record
        if self._applying and record.is_example == was_example:
            self._update_header()
            return
        self._refresh()

    def _on_analysis_updated(self, ids: object) -> None:
        if self.record is not None and (ids is None or self.record.id in ids):
            self._update_header()

    # Editing ---------------------------------------------------------------------------------

    def _apply_value(self, value: Any, merge_key: object) -> None:
        if self.record is None:
            return
        self._applying = True
        try:
            key = None if merge_key is None else (self.record.id, merge_key)
            self.document.edit_value(self.record.id, value, "Edit example", key)
        finally:
            self._applying = False

    def _on_messages(self, messages: list[Any], merge_key: object) -> None:
        if self.record is None:
            return
        value = self._value(self.record)
        value = value if isinstance(value, dict) else {}
        self._apply_value(_with(value, "messages", messages), merge_key)
        self._update_header()

    def add_message(self) -> None:
        """Add a message to the shown conversation (Ctrl+Enter)."""
        if self.record is not None and self.record.kind is ExampleKind.CHAT and not self._as_json:
            self.chat.add_message()
        elif self.record is not None and self.record.kind is ExampleKind.PREFERENCE:
            self.preference.prompt.add_message()

    def focus_message(self, index: int | None) -> None:
        """Bring message ``index`` into view and put the cursor in it."""
        if index is None:
            return
        editor = self.chat if self.pages.currentIndex() == PAGE_CHAT else self.preference.prompt
        if 0 <= index < len(editor.cards):
            self.scroll.ensureWidgetVisible(editor.cards[index])
            editor.focus_message(index)

    def _on_json_toggled(self, checked: bool) -> None:
        self._apply_pending()
        if self.record is not None:
            self._drop_unapplied(self.record)
        self._as_json = checked
        self._refresh()

    def _drop_unapplied(self, record: Record) -> None:
        """Leave JSON text that never became valid, telling the user so."""
        if self._unapplied is None:
            return
        self._unapplied = None
        dataset = self.document.dataset
        where = (
            f" for example {dataset.position(record.id) + 1:,}"
            if dataset.has_record(record.id)
            else ""
        )
        self.unapplied_dropped.emit(f"The JSON typed{where} was not valid, so it was not applied.")

    def _on_raw_text(self, _text: str) -> None:
        self._raw_timer.start()

    def _apply_pending(self) -> None:
        if self._raw_timer.isActive():
            self._raw_timer.stop()
            if self._subscribed is self.document.dataset:
                self._apply_raw()

    def _apply_raw(self) -> None:
        """Apply the typed text: a damaged line is stored as typed, JSON edits once valid."""
        record = self.record
        if record is None or not self.document.dataset.has_record(record.id):
            return  # deleted meanwhile: its text goes with it
        if self.document.saving:
            self._raw_timer.start()  # the file is being written; apply right after
            return
        text = self.raw.editor.text()
        self._applying = True
        try:
            if record.is_example and self._as_json:
                self._apply_json(record, text)
                return
            line = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
            self.document.edit_text(record.id, line, (record.id, "raw"))
        finally:
            self._applying = False
        updated = self.record
        if updated is not None and updated.is_example:
            self._refresh()
        elif updated is not None:
            self.raw.show_problem(updated.error)
            self._update_header()

    def _apply_json(self, record: Record, text: str) -> None:
        # The same rules as a line of the file: exact integers, no NaN, bounded nesting.
        value, error = parse_json_bytes(escape_surrogates(text).encode("utf-8"))
        if error is not None:
            self._unapplied = _json_problem(text, error)
            self.raw.show_problem(f"Not applied yet: {self._unapplied}.")
            return
        if not isinstance(value, dict):
            self._unapplied = "an example must be a JSON object { … }"
            self.raw.show_problem(f"Not applied yet: {self._unapplied}.")
            return
        self._unapplied = None
        self.raw.show_problem(None)
        if value != self._value(record):
            self.document.edit_value(record.id, value, "Edit example as text", (record.id, "json"))


#: What the JSON reader's complaints mean, in words for people who do not write JSON.
JSON_ERRORS = (
    ("Expecting value", "a value is missing or misspelt (texts need double quotes)"),
    ("Expecting ',' delimiter", "a comma is missing between two items"),
    ("Expecting ':' delimiter", "a colon is missing after a name"),
    ("Expecting property name", "a name is not in double quotes, or a comma is one too many"),
    ("Extra data", "there is more text after the example's last closing brace"),
    ("Unterminated string", "a text is missing its closing double quote"),
    ("Invalid control character", "a text holds a line break or tab; write it as \\n or \\t"),
    ("Invalid \\escape", "a backslash is followed by a letter JSON does not know"),
    ("Invalid \\u", "a \\u escape needs four hexadecimal digits"),
)


def _json_problem(text: str, reason: str) -> str:
    """Why typed JSON cannot be applied, as a clause: where a syntax error is, when there is
    one, else the reason a file line would be refused for."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        what = next((plain for start, plain in JSON_ERRORS if exc.msg.startswith(start)), None)
        return f"the text is not valid JSON: on line {exc.lineno} of the text, {what or exc.msg}"
    except (ValueError, RecursionError):
        pass
    # The reasons speak of a line of the file; here it is the text being typed.
    reason = reason.rstrip(".").replace("This line ", "it ", 1)
    return f"the text cannot be used as it is ({reason[:1].lower()}{reason[1:]})"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

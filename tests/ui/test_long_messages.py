"""Messages of 10 MB: shown at once, typed into, undone, and never altered by being shown.

Qt lays out a paragraph as a whole, so a box given all of a 10 MB text freezes the window for
minutes. What is checked here is what makes that impossible, whatever the machine's speed: the
text box never holds more than one page of the text, yet the editor returns all of it exactly.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QMimeData

from desktop.core import dataset
from desktop.core.dataset import LineState
from desktop.core.kinds import ExampleKind
from desktop.ui.common import text_edit
from desktop.ui.common.text_edit import GrowingTextEdit
from desktop.ui.dataset import conversation_editor
from desktop.ui.dataset.example_editor import PAGE_RAW, RAW_APPLY_MS
from tests.ui.conftest import wait_idle

pytestmark = pytest.mark.gui

#: The size of the long messages (characters).
LONG = 10_000_000
#: The most characters a text box may hold: one page, far below the texts shown.
BOX_LIMIT = 100_000


def long_text(kind: str, size: int = LONG) -> str:
    """A text of ``size`` characters: one line with no space, or ordinary words."""
    # Letters and a digit: Qt finds no place to break this line, yet it counts quickly.
    base = "abcdefghi1" if kind == "no spaces" else "the quick brown fox jumps over a lazy dog "
    return (base * (size // len(base) + 1))[:size]


def held(edit: GrowingTextEdit) -> int:
    """How many characters the box's document holds (and lays out)."""
    return edit.document().characterCount() - 1


def open_lines(qtbot, window, tmp_path, *values) -> bytes:
    path = tmp_path / "long.jsonl"
    lines = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    window.open_path(path)
    wait_idle(qtbot, window)
    assert window.editor_visible
    return path.read_bytes()


def select_row(window, row: int) -> int:
    record_id = window.document.table.record_id_at(row)
    assert window.editor_panel.select_record(record_id)
    return record_id


def undo_all(window) -> None:
    while window.document.undo_stack.canUndo():
        window.actions["undo"].trigger()


@pytest.mark.parametrize("kind", ["no spaces", "words"])
def test_a_10_mb_message_shows_whole_and_typing_and_undo_keep_it_exact(
    qtbot, window, tmp_path, kind
):
    big = long_text(kind)
    original = open_lines(
        qtbot,
        window,
        tmp_path,
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Summarise"},
                {"role": "assistant", "content": big},
            ]
        },
    )
    record_id = select_row(window, 1)
    edit = window.editor_panel.editor.chat.cards[1].text_edit

    def content() -> str:
        return window.document.dataset.record(record_id).value["messages"][1]["content"]

    # All of the text is there, unchanged, but the box holds (and lays out) one page of it.
    assert edit.text() == big
    assert content() == big
    assert not window.isWindowModified()
    assert held(edit) <= BOX_LIMIT
    assert edit.height() <= 40 * edit.fontMetrics().lineSpacing()
    pages = text_edit.paginate(big)
    assert edit.paged and edit.page_count == len(pages)
    assert edit.page_bar.isVisible()
    assert edit.page_bar.range_label.text() == f"· characters 1–{len(pages[0]):,} of {LONG:,}"

    # Typing on the first page and on the next one changes exactly what was typed.
    edit.setFocus()
    qtbot.keyClicks(edit, "Hi! ")
    assert content() == "Hi! " + big
    edit.page_bar.next_button.click()
    assert edit.page == 1 and held(edit) <= BOX_LIMIT
    qtbot.keyClicks(edit, "X")
    first = len(pages[0])
    assert content() == "Hi! " + big[:first] + "X" + big[first:]
    assert edit.text() == content()

    # Undo gives back the very bytes of the file; redo the edits.
    undo_all(window)
    assert window.document.dataset.to_bytes() == original
    assert not window.isWindowModified()
    assert edit.text() == big and held(edit) <= BOX_LIMIT
    while window.document.undo_stack.canRedo():
        window.actions["redo"].trigger()
    assert content() == "Hi! " + big[:first] + "X" + big[first:]
    assert edit.text() == content() and held(edit) <= BOX_LIMIT


def test_a_10_mb_damaged_line_is_shown_in_pages_and_can_be_repaired(qtbot, window, tmp_path):
    big = long_text("words")
    cut = '{"messages": [{"role": "user", "content": "Summarise"}, {"role": "user", "content": "'
    original = open_lines(qtbot, window, tmp_path, cut + big)
    record_id = select_row(window, 0)
    editor = window.editor_panel.editor
    raw = editor.raw.editor
    assert editor.pages.currentIndex() == PAGE_RAW
    assert raw.text() == cut + big
    assert held(raw) <= BOX_LIMIT and raw.paged
    raw.show_page(raw.page_count - 1)
    raw.setFocus()
    raw.moveCursor(raw.textCursor().MoveOperation.End)
    qtbot.keyClicks(raw, '"}]}')
    qtbot.waitUntil(lambda: window.document.dataset.record(record_id).is_example, timeout=5000)
    record = window.document.dataset.record(record_id)
    assert record.kind is ExampleKind.CHAT
    assert record.value["messages"][1]["content"] == big
    assert held(editor.chat.cards[1].text_edit) <= BOX_LIMIT
    undo_all(window)
    assert window.document.dataset.record(record_id).state is LineState.BROKEN
    assert window.document.dataset.to_bytes() == original


def test_a_10_mb_example_edited_as_json_is_shown_in_pages(qtbot, window, tmp_path):
    big = long_text("no spaces")
    value = {
        "messages": [
            {"role": "user", "content": "Summarise"},
            {"role": "assistant", "content": big},
        ]
    }
    open_lines(qtbot, window, tmp_path, value)
    record_id = select_row(window, 0)
    editor = window.editor_panel.editor
    editor.json_button.click()
    raw = editor.raw.editor
    shown = json.dumps(value, ensure_ascii=False, indent=2)
    assert raw.text() == shown
    assert held(raw) <= BOX_LIMIT and raw.paged
    cursor = raw.textCursor()
    cursor.setPosition(raw.toPlainText().index("Summarise"))
    raw.setTextCursor(cursor)
    raw.setFocus()
    qtbot.keyClicks(raw, "Please ")
    qtbot.wait(RAW_APPLY_MS)
    expected = {"messages": [{"role": "user", "content": "Please Summarise"}, value["messages"][1]]}
    qtbot.waitUntil(
        lambda: window.document.dataset.record(record_id).value == expected, timeout=5000
    )
    assert held(raw) <= BOX_LIMIT


def test_10_mb_preference_replies_and_legacy_texts_are_shown_in_pages(qtbot, window, tmp_path):
    big = long_text("no spaces")
    pair = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": big}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }
    legacy = {"prompt": big, "completion": "Short."}
    open_lines(qtbot, window, tmp_path, pair, legacy)
    record_id = select_row(window, 0)
    preferred = window.editor_panel.editor.preference.preferred_edit
    assert preferred.text() == big and held(preferred) <= BOX_LIMIT
    rejected = window.editor_panel.editor.preference.rejected_edit
    qtbot.waitUntil(lambda: rejected.y() == preferred.y(), timeout=2000)  # both start at the top
    preferred.setFocus()
    qtbot.keyClicks(preferred, "!")
    value = window.document.dataset.record(record_id).value
    assert value["preferred_output"][0]["content"] == "!" + big
    select_row(window, 1)
    prompt = window.editor_panel.editor.legacy.prompt_edit
    assert prompt.text() == big and held(prompt) <= BOX_LIMIT


def test_showing_and_typing_into_a_long_example_parses_its_line_once(
    qtbot, window, tmp_path, monkeypatch
):
    big = long_text("words", 1_000_000)
    value = {
        "messages": [{"role": "user", "content": "Sum up"}, {"role": "assistant", "content": big}]
    }
    open_lines(qtbot, window, tmp_path, value)
    parsed: list[int] = []
    real = dataset.parse_json_bytes
    monkeypatch.setattr(
        dataset, "parse_json_bytes", lambda raw: parsed.append(len(raw)) or real(raw)
    )
    real_value = dataset.Record.value.fget

    def value(record):
        if record.plain and record.raw is not None:  # read by orjson alone
            parsed.append(len(record.raw))
        return real_value(record)

    monkeypatch.setattr(dataset.Record, "value", property(value))
    record_id = select_row(window, 0)
    edit = window.editor_panel.editor.chat.cards[1].text_edit
    edit.setFocus()
    qtbot.keyClicks(edit, "So: ")
    assert window.document.dataset.record(record_id).value["messages"][1]["content"] == "So: " + big
    assert len([size for size in parsed if size > len(big)]) == 1


def test_typing_in_long_tool_arguments_does_not_format_them_again(qtbot, monkeypatch):
    arguments = json.dumps({"document": long_text("words", 3 * text_edit.PAGE_CHARS)})
    function = {"name": "save", "arguments": arguments}
    editor = conversation_editor.ToolCallEditor(
        {"id": "c1", "type": "function", "function": function}
    )
    qtbot.addWidget(editor)
    pretty = conversation_editor.pretty_arguments(arguments)
    assert editor.arguments_edit.text() == pretty and held(editor.arguments_edit) <= BOX_LIMIT
    formatted: list[object] = []
    real = conversation_editor.pretty_arguments
    monkeypatch.setattr(
        conversation_editor,
        "pretty_arguments",
        lambda value: formatted.append(value) or real(value),
    )
    edits: list[dict] = []
    editor.edited.connect(edits.append)
    editor.arguments_edit.setFocus()
    qtbot.keyClicks(editor.arguments_edit, "ab")
    assert edits[-1]["function"]["arguments"] == "ab" + pretty  # not JSON: kept as typed
    assert formatted == []  # the original arguments were formatted once, when shown


# The box itself ------------------------------------------------------------------------------


def test_a_short_message_is_not_paged(qtbot):
    edit = GrowingTextEdit()
    qtbot.addWidget(edit)
    text = "word " * (text_edit.PAGE_CHARS // 5)
    edit.set_text(text)
    assert not edit.paged and edit.page_bar.isHidden()
    assert edit.toPlainText() == text


def test_pages_keep_what_was_not_typed_into_exactly(qtbot):
    # CR LF line ends and non-breaking spaces read back differently once a page is edited:
    # only the page typed into may change, and only there.
    edit = GrowingTextEdit()
    qtbot.addWidget(edit)
    text = ("line\u00a0one\r\n" * 10_000)[:-2]
    pages = text_edit.paginate(text)
    assert len(pages) > 3
    edit.set_text(text)
    assert edit.text() == text
    typed: list[str] = []
    edit.text_edited.connect(typed.append)
    edit.show_page(2)
    edit.show_page(0)
    assert edit.text() == text and not typed
    edit.show_page(1)
    edit.insertPlainText("new ")
    expected = pages[0] + "new " + pages[1].replace("\r\n", "\n") + "".join(pages[2:])
    assert typed[-1] == expected
    edit.show_page(3)
    assert edit.text() == expected


def test_giving_the_text_again_stays_on_the_page_being_read(qtbot):
    edit = GrowingTextEdit()
    qtbot.addWidget(edit)
    text = long_text("words", 5 * text_edit.PAGE_CHARS)
    edit.set_text(text)
    edit.show_page(3)
    edit.insertPlainText("typed")
    edited = edit.text()
    edit.set_text(text)  # the edit undone
    assert edit.page == 3 and edit.text() == text
    edit.set_text(edited)  # and done again
    assert edit.page == 3 and edit.text() == edited
    edit.set_text(long_text("no spaces", 3 * text_edit.PAGE_CHARS))  # another message
    assert edit.page == 0
    edit.set_text("short")
    assert not edit.paged and edit.page_bar.isHidden() and edit.text() == "short"


def test_pasting_a_long_text_into_a_short_message_shows_it_in_pages(qtbot):
    edit = GrowingTextEdit()
    qtbot.addWidget(edit)
    edit.set_text("Before  after")
    typed: list[str] = []
    edit.text_edited.connect(typed.append)
    cursor = edit.textCursor()
    cursor.setPosition(len("Before "))
    edit.setTextCursor(cursor)
    pasted = long_text("no spaces", 1_000_000)
    mime = QMimeData()
    mime.setText(pasted)
    edit.insertFromMimeData(mime)
    assert typed == ["Before " + pasted + " after"]
    assert edit.text() == typed[0]
    assert held(edit) <= BOX_LIMIT and edit.paged
    # The cursor is where the paste ended, on the page that holds that place.
    before = sum(len(page) for page in text_edit.paginate(typed[0])[: edit.page])
    assert before + edit.textCursor().position() == len("Before ") + len(pasted)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab \r\n\t\u00e9\U0001f600"), max_size=300),
    size=st.integers(4, 40),
)
def test_pages_join_to_the_text_and_never_split_a_line_end(text, size):
    pages = text_edit.paginate(text, size)
    assert "".join(pages) == text
    assert all(len(page) <= size for page in pages)
    assert all(page for page in pages) or pages == [""]
    assert not any(a.endswith("\r") and b.startswith("\n") for a, b in itertools.pairwise(pages))


def test_the_details_beside_the_line_number_end_in_an_ellipsis_when_short_of_room(
    qtbot, window, sample_copy
):
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    panel = window.editor_panel
    assert panel.select_record(window.document.table.record_id_at(2))
    subtitle = panel.editor.subtitle
    whole = subtitle.text()
    assert whole.endswith(" tokens") and " messages · " in whole
    subtitle.resize(subtitle.fontMetrics().horizontalAdvance(whole) // 2, subtitle.height())
    shown = subtitle.shown_text()
    assert shown.endswith("…") and whole.startswith(shown[:-1].rstrip())
    assert subtitle.toolTip() == whole  # the whole text, for the mouse
    subtitle.resize(subtitle.fontMetrics().horizontalAdvance(whole) + 20, subtitle.height())
    assert subtitle.shown_text() == whole and subtitle.toolTip() == ""

"""Editing an example as JSON follows the rules a line of the file follows, and never
raises: huge numbers, NaN, deep nesting and halves of characters included."""

from __future__ import annotations

import json

import pytest

from tests.ui.conftest import save_and_wait, wait_idle


def open_line(qtbot, window, tmp_path, line: str):
    path = tmp_path / "one.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    window.open_path(path)
    wait_idle(qtbot, window)
    record_id = window.document.table.record_id_at(0)
    window.editor_panel.select_record(record_id)
    editor = window.editor_panel.editor
    editor.json_button.setChecked(True)
    return record_id, editor


def type_json(editor, text: str) -> None:
    editor.raw.editor.selectAll()
    editor.raw.editor.insertPlainText(text)
    editor._apply_pending()


CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ho"}]}


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ('{"messages": [], "n": ' + "1" * 5000 + "}", "number"),
        ('{"messages": [], "n": NaN}', "NaN"),
        ('{"messages": [], "x": ' + "[" * 1000 + "]" * 1000 + "}", "levels deep"),
        ('{"messages": [', "not valid JSON: on line 1 of the text, a value is missing or misspelt"),
        (
            '{"messages": []}\n\n  x',
            "on line 3 of the text, there is more text after the example's last",
        ),
        ('{"messages": [] "n": 1}', "on line 1 of the text, a comma is missing between two items"),
        ('{"messages": "cut', "a text is missing its closing double quote"),
    ],
    ids=["5000-digit number", "NaN", "nested 1000 deep", "unfinished", "extra", "comma", "quote"],
)
def test_json_the_file_could_not_hold_is_not_applied_and_says_why(
    qtbot, window, tmp_path, typed, problem
):
    record_id, editor = open_line(qtbot, window, tmp_path, json.dumps(CHAT))
    type_json(editor, typed)
    assert window.document.dataset.record(record_id).value == CHAT
    assert editor.unapplied_problem() is not None
    assert problem in editor.raw.problem.text()


def test_huge_integers_and_halves_of_characters_survive_editing_as_json(qtbot, window, tmp_path):
    line = (
        '{"messages": [{"role": "user", "content": "cut \\ud83d"}, '
        '{"role": "assistant", "content": "Ho"}], "n": 123456789012345678901234567890}'
    )
    record_id, editor = open_line(qtbot, window, tmp_path, line)
    shown = editor.raw.editor.text()
    assert "\\ud83d" in shown and "123456789012345678901234567890" in shown
    type_json(editor, shown.replace('"Ho"', '"Hello"'))
    value = window.document.dataset.record(record_id).value
    assert value["n"] == 123456789012345678901234567890
    assert value["messages"][0]["content"] == "cut \ud83d"
    assert value["messages"][1]["content"] == "Hello"
    assert save_and_wait(qtbot, window)
    saved = window.document.path.read_bytes()
    assert b"123456789012345678901234567890" in saved and b"\\ud83d" in saved


def test_tool_arguments_holding_a_huge_number_are_shown(qtbot, window, tmp_path):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"n": ' + "9" * 5000 + "}"},
    }
    value = {
        "messages": [
            {"role": "user", "content": "Look it up"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            {"role": "assistant", "content": "Found it."},
        ]
    }
    record_id, editor = open_line(qtbot, window, tmp_path, json.dumps(value))
    editor.json_button.setChecked(False)  # the conversation cards show the arguments
    assert window.document.dataset.record(record_id).value == value
    assert len(editor.chat.cards) == 4

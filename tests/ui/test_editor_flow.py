"""The editor end to end: open, edit, watch totals, undo, repair, add, delete, split, save."""

from __future__ import annotations

import json
import math
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from desktop.core.dataset import LineState
from desktop.core.findings import Severity
from desktop.core.kinds import ExampleKind
from desktop.ui.dataset.dataset_model import COL_STATUS, COL_TOKENS, COL_USER
from tests.ui.conftest import save_and_wait, wait_idle

pytestmark = pytest.mark.gui


def open_file(qtbot, window, path):
    window.open_path(path)
    wait_idle(qtbot, window)
    assert window.editor_visible


def select_row(window, row):
    record_id = window.document.table.record_id_at(row)
    assert window.editor_panel.select_record(record_id)
    return record_id


def test_unedited_open_then_save_is_byte_identical(qtbot, window, messy_copy):
    original = messy_copy.read_bytes()
    open_file(qtbot, window, messy_copy)
    assert window.document.table.rowCount() == 7
    assert not window.isWindowModified()
    assert save_and_wait(qtbot, window)
    assert messy_copy.read_bytes() == original


def test_typing_updates_tokens_and_totals_and_undo_restores_bytes(qtbot, window, sample_copy):
    original = sample_copy.read_bytes()
    open_file(qtbot, window, sample_copy)
    before_total = window.document.analysis.estimate().total_tokens
    before_label = window.estimator.values["tokens"].text()
    record_id = select_row(window, 0)
    before_row = window.document.analysis.get(record_id).tokens.total
    cards = window.editor_panel.editor.chat.cards
    assert [c.role for c in cards] == ["system", "user", "assistant"]
    reply = cards[2].text_edit
    reply.setFocus()
    reply.moveCursor(reply.textCursor().MoveOperation.End)
    qtbot.keyClicks(reply, " Have a lovely day and enjoy every single cup of our coffee!")
    qtbot.waitUntil(
        lambda: window.document.analysis.get(record_id).tokens.total > before_row, timeout=2000
    )
    qtbot.waitUntil(lambda: window.estimator.values["tokens"].text() != before_label, timeout=2000)
    after_total = window.document.analysis.estimate().total_tokens
    assert after_total - before_total == (
        window.document.analysis.get(record_id).tokens.total - before_row
    )
    assert window.isWindowModified()
    row_tokens = window.document.table.index(0, COL_TOKENS).data()
    assert row_tokens == f"{window.document.analysis.get(record_id).tokens.total:,}"
    # One burst of typing is one undo step, and undoing it gives the original bytes back.
    assert window.document.undo_stack.count() == 1
    window.actions["undo"].trigger()
    assert window.document.dataset.to_bytes() == original
    assert not window.isWindowModified()
    assert cards[2].text_edit.text().endswith("right away.") or "!" in cards[2].text_edit.text()
    qtbot.waitUntil(
        lambda: window.document.analysis.estimate().total_tokens == before_total, timeout=2000
    )


def test_edit_then_save_writes_only_that_line(qtbot, window, sample_copy):
    original_lines = sample_copy.read_bytes().split(b"\n")
    open_file(qtbot, window, sample_copy)
    select_row(window, 1)
    user = window.editor_panel.editor.chat.cards[1].text_edit
    user.selectAll()
    qtbot.keyClicks(user, "Can I pause my plan?")
    assert save_and_wait(qtbot, window)
    saved_lines = sample_copy.read_bytes().split(b"\n")
    changed = [
        i for i, (a, b) in enumerate(zip(original_lines, saved_lines, strict=True)) if a != b
    ]
    assert changed == [1]
    assert json.loads(saved_lines[1])["messages"][1]["content"] == "Can I pause my plan?"
    assert not window.isWindowModified()


def test_repair_a_damaged_line_in_place(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    errors_before = window.document.severity_counts()
    broken_id = select_row(window, 3)
    editor = window.editor_panel.editor
    assert editor.raw.isVisible() or editor.pages.currentWidget() is editor.raw
    assert "cut off" in editor.raw.problem.text()
    fixed = '{"messages": [{"role": "user", "content": "broken"}, {"role": "assistant", "content": "fixed"}]}'
    editor.raw.editor.selectAll()
    qtbot.keyClicks(editor.raw.editor, fixed)
    qtbot.waitUntil(lambda: window.document.dataset.record(broken_id).is_example, timeout=3000)
    assert editor.pages.currentWidget() is editor.chat
    assert [c.role for c in editor.chat.cards] == ["user", "assistant"]
    wait_idle(qtbot, window)
    assert window.document.severity_counts()[Severity.ERROR] == errors_before[Severity.ERROR] - 1
    assert window.document.table.index(3, COL_STATUS).data() != "Damaged"
    assert save_and_wait(qtbot, window)
    assert messy_copy.read_bytes().split(b"\n")[3].rstrip(b"\r") == fixed.encode()


def type_raw_without_waiting(window, record_id, text):
    """Type into the raw editor; the edit is still waiting for its typing pause."""
    select_row(window, window.document.dataset.position(record_id))
    editor = window.editor_panel.editor
    editor.raw.editor.selectAll()
    editor.raw.editor.insertPlainText(text)  # as typed or pasted: text_edited fires
    assert editor._raw_timer.isActive()


def test_a_repair_typed_just_before_saving_is_saved(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    broken_id = window.document.table.record_id_at(3)
    fixed = '{"messages": [{"role": "user", "content": "quick"}, {"role": "assistant", "content": "save"}]}'
    type_raw_without_waiting(window, broken_id, fixed)
    assert save_and_wait(qtbot, window)
    assert messy_copy.read_bytes().split(b"\n")[3].rstrip(b"\r") == fixed.encode()
    assert not window.isWindowModified()


def test_closing_right_after_typing_a_repair_asks_to_save(qtbot, window, messy_copy, answers):
    open_file(qtbot, window, messy_copy)
    broken_id = window.document.table.record_id_at(3)
    type_raw_without_waiting(window, broken_id, '{"oops": ')
    answers.save_changes = "cancel"
    assert not window.close()
    assert answers.asked == ["save_changes"]
    assert window.document.dataset.record(broken_id).raw == b'{"oops": '


def test_a_typing_pause_that_ends_during_a_save_applies_after_it(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    broken_id = window.document.table.record_id_at(3)
    type_raw_without_waiting(window, broken_id, "still broken")
    editor = window.editor_panel.editor
    window.document.saving = True
    editor._raw_timer.stop()
    editor._apply_raw()  # what the timer does if it fires inside the save's event loop
    assert window.document.dataset.record(broken_id).raw != b"still broken"
    assert editor._raw_timer.isActive()
    window.document.saving = False
    qtbot.waitUntil(
        lambda: window.document.dataset.record(broken_id).raw == b"still broken", timeout=2000
    )
    assert window.isWindowModified()


@pytest.mark.parametrize("second", ["file", "sample"])
def test_opening_another_dataset_selects_nothing_of_it(qtbot, window, messy_copy, second):
    open_file(qtbot, window, messy_copy)
    select_row(window, 2)
    assert window.editor_panel.current_id() is not None
    if second == "file":
        window.open_path(messy_copy)
    else:
        window.open_sample()  # a dataset made whole in memory, as imports and recovery are
    wait_idle(qtbot, window)
    # Ids of the new dataset start again at 1: the old selection means nothing there.
    assert window.editor_panel.current_id() is None
    assert not window.editor_panel.table.selectionModel().hasSelection()


def test_a_repair_typed_just_before_moving_to_another_row_is_kept(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    broken_id = window.document.table.record_id_at(3)
    fixed = '{"messages": [{"role": "user", "content": "move"}, {"role": "assistant", "content": "on"}]}'
    type_raw_without_waiting(window, broken_id, fixed)
    select_row(window, 0)  # a click or an arrow key, before the typing pause ends
    assert window.document.dataset.record(broken_id).is_example
    assert window.isWindowModified()


def test_json_typed_while_a_bulk_change_is_worked_out_survives_it(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    document = window.document
    record_id = select_row(window, 2)
    editor = window.editor_panel.editor
    editor.json_button.setChecked(True)

    def run(dialog):
        dialog.text_edit.set_text("You are a pirate.")
        return True

    window.run_dialog = run
    window.set_system_message()
    value = document.dataset.record(record_id).value
    value["messages"][-1]["content"] = "Typed as JSON."
    editor.raw.editor.selectAll()
    editor.raw.editor.insertPlainText(json.dumps(value))  # waiting for its typing pause
    assert editor._raw_timer.isActive()
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=10_000)
    messages = document.dataset.record(record_id).value["messages"]
    assert messages[-1]["content"] == "Typed as JSON."
    assert messages[0] == {"role": "system", "content": "You are a pirate."}


def test_json_that_never_became_valid_is_not_dropped_unasked(qtbot, window, sample_copy, answers):
    open_file(qtbot, window, sample_copy)
    record_id = select_row(window, 2)
    before = window.document.dataset.record(record_id).value
    editor = window.editor_panel.editor
    editor.json_button.setChecked(True)
    editor.raw.editor.selectAll()
    editor.raw.editor.insertPlainText('{"messages": [')  # still being written
    answers.leave_unapplied = False
    assert not window.close()  # asked, and the user went back to the text
    assert answers.asked == ["leave_unapplied"]
    assert "not valid JSON" in editor.raw.problem.text()
    assert window.document.dataset.record(record_id).value == before
    # Moving to another example asks too; staying keeps the row and the text.
    answers.asked.clear()
    table = window.editor_panel.table
    first = table.visualRect(window.document.table.index(0, COL_USER)).center()
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=first)
    assert answers.asked == ["leave_unapplied"]
    qtbot.waitUntil(lambda: table.currentIndex().row() == 2)
    assert [i.row() for i in table.selectionModel().selectedRows()] == [2]
    assert window.editor_panel.current_id() == record_id
    assert editor.raw.editor.text() == '{"messages": ['
    window.jump_to(window.document.table.record_id_at(0))  # from the findings list
    assert answers.asked == ["leave_unapplied"] * 2
    qtbot.waitUntil(lambda: table.currentIndex().row() == 2)
    assert window.editor_panel.current_id() == record_id
    assert editor.raw.editor.text() == '{"messages": ['
    # Going on leaves the text, and the status bar says so.
    answers.leave_unapplied = True
    window.editor_panel.table.selectRow(0)
    assert window.editor_panel.current_id() == window.document.table.record_id_at(0)
    assert "was not valid, so it was not applied" in window.statusBar().currentMessage()
    answers.asked.clear()
    assert window.close()  # nothing is left out any more: no question
    assert answers.asked == []


def type_invalid_json(window, row):
    record_id = select_row(window, row)
    editor = window.editor_panel.editor
    editor.json_button.setChecked(True)
    editor.raw.editor.selectAll()
    editor.raw.editor.insertPlainText('{"messages": [')
    assert editor.unapplied_problem() is not None
    return record_id


def test_invalid_json_being_typed_survives_a_sort(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    record_id = type_invalid_json(window, 2)
    editor = window.editor_panel.editor
    window.editor_panel.table.sortByColumn(COL_TOKENS, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: not window.editor_panel.searching, timeout=5000)
    assert window.editor_panel.current_id() == record_id
    assert editor.raw.editor.text() == '{"messages": ['
    assert "not applied" not in window.statusBar().currentMessage()


def test_deleting_the_example_being_typed_into_leaves_nothing_to_ask(
    qtbot, window, sample_copy, answers
):
    open_file(qtbot, window, sample_copy)
    record_id = type_invalid_json(window, 2)
    selection = window.editor_panel.table.selectionModel()
    flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
    selection.select(window.document.table.index(3, 0), flags)  # ctrl-click: still on row 2
    assert window.editor_panel.current_id() == record_id
    window.actions["delete"].trigger()  # two rows: removed in one pass
    assert len(window.document.dataset) == 38
    assert window.editor_panel.editor.unapplied_problem() is None
    answers.save_changes = "discard"
    assert window.close()
    assert answers.asked == ["save_changes"]


def test_add_duplicate_move_and_delete_examples(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    dataset = window.document.dataset
    count = len(dataset)
    first = select_row(window, 0)
    new_id = window.editor_panel.add_example()
    assert len(dataset) == count + 1
    assert dataset.position(new_id) == 1
    value = dataset.record(new_id).value
    assert [m["role"] for m in value["messages"]] == ["system", "user", "assistant"]
    assert window.editor_panel.current_id() == new_id
    window.editor_panel.select_record(first)
    window.actions["duplicate"].trigger()
    assert len(dataset) == count + 2
    copy_id = dataset[1].id
    assert dataset.record(copy_id).value == dataset.record(first).value
    window.editor_panel.select_record(copy_id)
    window.actions["move_down"].trigger()
    assert dataset.position(copy_id) == 2
    assert window.document.table.record_id_at(2) == copy_id
    window.actions["delete"].trigger()
    assert len(dataset) == count + 1
    with pytest.raises(KeyError):
        dataset.position(copy_id)
    while window.document.undo_stack.canUndo():
        window.document.undo_stack.undo()
    assert dataset.to_bytes() == sample_copy.read_bytes()
    assert [window.document.table.record_id_at(r) for r in range(len(dataset))] == [
        r.id for r in dataset
    ]


def test_message_cards_add_reorder_delete(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    record_id = select_row(window, 0)
    editor = window.editor_panel.editor
    window.actions["add_message"].trigger()
    messages = window.document.dataset.record(record_id).value["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    qtbot.keyClicks(editor.chat.cards[3].text_edit, "And to Austria?")
    editor.chat.cards[3].findChild(QToolButton, "message_up").click()
    messages = window.document.dataset.record(record_id).value["messages"]
    assert messages[2] == {"role": "user", "content": "And to Austria?"}
    editor.chat.cards[2].findChild(QToolButton, "message_delete").click()
    messages = window.document.dataset.record(record_id).value["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert window.document.undo_stack.count() == 4


def test_weight_toggle_sets_weight_zero(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    record_id = select_row(window, 0)
    card = window.editor_panel.editor.chat.cards[2]
    assert card.weight_box is not None and card.weight_box.isChecked()
    card.weight_box.click()
    assert window.document.dataset.record(record_id).value["messages"][2]["weight"] == 0
    window.actions["undo"].trigger()
    assert "weight" not in window.document.dataset.record(record_id).value["messages"][2]
    assert card.weight_box.isChecked()


def test_tool_call_is_shown_readably_and_editable(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    row = next(
        r
        for r in range(window.document.table.rowCount())
        if "tools" in (window.document.table.record_at(r).value or {})
    )
    record_id = select_row(window, row)
    card = window.editor_panel.editor.chat.cards[2]
    assert len(card.tool_editors) == 1
    call = card.tool_editors[0]
    assert call.name_edit.text() == "lookup_order"
    assert call.arguments_edit.text() == '{\n  "order_id": "FH-10482"\n}'
    call.arguments_edit.selectAll()
    qtbot.keyClicks(call.arguments_edit, '{"order_id": "FH-99"}')
    arguments = window.document.dataset.record(record_id).value["messages"][2]["tool_calls"][0]
    assert arguments["function"]["arguments"] == '{"order_id":"FH-99"}'


def test_preference_example_has_side_by_side_editor(qtbot, window, tmp_path):
    path = tmp_path / "dpo.jsonl"
    pair = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello! How can I help?"}],
        "non_preferred_output": [{"role": "assistant", "content": "What."}],
    }
    path.write_text(json.dumps(pair) + "\n", encoding="utf-8")
    open_file(qtbot, window, path)
    record_id = select_row(window, 0)
    editor = window.editor_panel.editor
    assert editor.pages.currentWidget() is editor.preference
    assert editor.preference.preferred_edit.text() == "Hello! How can I help?"
    assert editor.preference.rejected_edit.text() == "What."
    rejected = editor.preference.rejected_edit
    rejected.moveCursor(rejected.textCursor().MoveOperation.End)
    qtbot.keyClicks(rejected, " Go away.")
    value = window.document.dataset.record(record_id).value
    assert value["non_preferred_output"][0]["content"] == "What. Go away."
    assert window.document.dataset.record(record_id).kind is ExampleKind.PREFERENCE


def test_split_writes_seeded_training_and_validation_files(qtbot, window, sample_copy, tmp_path):
    open_file(qtbot, window, sample_copy)
    target = tmp_path / "out" / "support-train.jsonl"
    target.parent.mkdir()
    written = window.write_split(target, 25, 7)
    assert [p.name for p in written] == ["support-train.jsonl", "support-validation.jsonl"]
    train = written[0].read_bytes().splitlines()
    validation = written[1].read_bytes().splitlines()
    assert (len(train), len(validation)) == (30, 10)
    assert sorted(train + validation) == sorted(sample_copy.read_bytes().splitlines())
    again = window.write_split(tmp_path / "out" / "again.jsonl", 25, 7)
    assert again[1].read_bytes() == written[1].read_bytes()


def test_split_dialog_flow_uses_chosen_path(qtbot, window, sample_copy, tmp_path, answers):
    open_file(qtbot, window, sample_copy)
    answers.save_path = tmp_path / "mine.jsonl"
    written = window.split_dataset()
    assert [p.name for p in written] == ["mine-train.jsonl", "mine-validation.jsonl"]
    assert "save_path" in answers.asked


def test_search_and_status_filter(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    panel = window.editor_panel
    panel.search.setText("pedido")
    qtbot.waitUntil(lambda: not panel.searching and window.document.table.rowCount() == 1)
    assert window.document.table.index(0, COL_USER).data() == "¿Dónde está mi pedido?"
    assert "Showing 1 of 7" in panel.count_label.text()
    panel.search.clear()
    qtbot.waitUntil(lambda: not panel.searching and window.document.table.rowCount() == 7)
    panel.status_filter.setCurrentIndex(1)  # With errors
    qtbot.waitUntil(lambda: not panel.searching)
    states = [
        window.document.table.index(r, COL_STATUS).data()
        for r in range(window.document.table.rowCount())
    ]
    assert states and all(s in ("Error", "Damaged") for s in states)
    panel.clear_filters()
    assert window.document.table.rowCount() == 7


def test_a_search_around_the_example_shown_keeps_its_editor(
    qtbot, window, sample_copy, monkeypatch
):
    # Rows rebuilt around the example being shown (a search, a deletion of others) select
    # it again; its editor stays as it is instead of being built anew.
    open_file(qtbot, window, sample_copy)
    panel = window.editor_panel
    record_id = select_row(window, 2)
    built = []
    real_set_messages = panel.editor.chat.set_messages
    monkeypatch.setattr(
        panel.editor.chat, "set_messages", lambda *a: (built.append(1), real_set_messages(*a))
    )
    text = panel.editor.chat.cards[1].text_edit.toPlainText()
    panel.search.setText(text[:12])
    qtbot.waitUntil(lambda: not panel.searching and window.document.table.rowCount() < 40)
    assert panel.current_id() == record_id
    assert built == []
    panel.search.clear()
    qtbot.waitUntil(lambda: not panel.searching and window.document.table.rowCount() == 40)
    assert panel.current_id() == record_id
    assert built == []
    select_row(window, 0)  # another example is shown as before
    assert built == [1]


def test_sorting_by_tokens(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    header = window.editor_panel.table.horizontalHeader()
    header.setSortIndicator(COL_TOKENS, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(
        lambda: not window.editor_panel.searching and not window.document.table.in_file_order
    )
    tokens = [
        window.document.analysis.get(window.document.table.record_id_at(r)).tokens.total
        for r in range(window.document.table.rowCount())
    ]
    assert tokens == sorted(tokens, reverse=True)
    assert len(tokens) == 40


def test_findings_double_click_jumps_to_example(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    panel = window.findings_panel
    assert not panel.is_ready
    assert "error" in panel.ready_label.text()
    row = next(
        r
        for r in range(panel.model.rowCount())
        if panel.model.finding(r).record_id is not None and panel.model.finding(r).line == 6
    )
    index = panel.model.index(row)
    panel.view.scrollTo(index)
    rect = panel.view.visualRect(index)
    # A real double-click is a click followed by a double-click event.
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.editor_panel.current_id() is None
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    current = window.editor_panel.current_id()
    assert window.document.dataset.record(current).line == 6


def test_ready_to_train_only_without_errors(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    assert window.findings_panel.is_ready
    assert "Ready to train" in window.findings_panel.ready_label.text()
    record_id = select_row(window, 0)
    reply = window.editor_panel.editor.chat.cards[2].text_edit
    reply.selectAll()
    qtbot.keyClick(reply, Qt.Key.Key_Delete)
    window.document.flush_analysis()
    qtbot.waitUntil(lambda: not window.findings_panel.is_ready, timeout=2000)
    assert window.document.table.index(0, COL_STATUS).data() == "Error"
    assert window.document.analysis.get(record_id).severity is not None


def test_blank_line_is_a_row_and_can_be_deleted(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    assert window.document.dataset[1].state is LineState.BLANK
    select_row(window, 1)
    window.actions["delete"].trigger()
    assert all(r.state is not LineState.BLANK for r in window.document.dataset)


def histogram_heights(window) -> list[int]:
    return [int(h) for h in window.estimator.bars.opts["height"]]


def test_length_histogram_counts_every_example_and_follows_deletes(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    analysis = window.document.analysis
    lengths = [analysis.get(r.id).tokens.total for r in window.document.dataset]
    qtbot.waitUntil(lambda: sum(histogram_heights(window)) == len(lengths), timeout=2000)
    # Each bar holds exactly the examples whose length falls between its edges.
    opts = window.estimator.bars.opts
    top = opts["x1"][-1]
    for low, high, height in zip(opts["x0"], opts["x1"], opts["height"], strict=True):
        inside = [n for n in lengths if low <= math.log10(n) < high or math.log10(n) == top]
        assert len(inside) == height
    select_row(window, 0)
    window.actions["delete"].trigger()
    qtbot.waitUntil(lambda: sum(histogram_heights(window)) == len(lengths) - 1, timeout=2000)


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_an_added_example_uses_the_files_line_ending(qtbot, window, tmp_path, newline):
    path = tmp_path / "endings.jsonl"
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}).encode() for i in range(3)
    ]
    path.write_bytes(newline.join(lines) + newline)
    open_file(qtbot, window, path)
    select_row(window, 2)
    window.editor_panel.add_example()
    assert save_and_wait(qtbot, window)
    saved = path.read_bytes()
    assert saved.startswith(newline.join(lines) + newline)
    assert saved.count(newline) == 4
    if newline == b"\n":
        assert b"\r\n" not in saved


def test_an_edit_made_while_a_file_is_written_is_kept_and_stays_unsaved(
    qtbot, window, sample_copy, monkeypatch
):
    from desktop.ui.dataset import document as document_module

    real_stage = document_module.stage_write
    writing = []

    def slow_stage(path, parts):
        writing.append(True)
        time.sleep(0.3)
        return real_stage(path, parts)

    monkeypatch.setattr(document_module, "stage_write", slow_stage)
    open_file(qtbot, window, sample_copy)
    select_row(window, 0)
    window.actions["duplicate"].trigger()
    expected = window.document.dataset.to_bytes()
    assert window.save()
    qtbot.waitUntil(lambda: bool(writing), timeout=5000)
    assert window.document.saving  # the window goes on while the worker writes
    record = window.document.dataset[0]
    value = json.loads(json.dumps(record.value))
    value["messages"][-1]["content"] = "Typed during the save."
    window.document.edit_value(record.id, value)
    qtbot.waitUntil(lambda: not window.document.saving, timeout=5000)
    assert sample_copy.read_bytes() == expected  # the file holds what was there when saved
    assert window.document.dataset[0].value == value  # the edit was not lost
    assert window.isWindowModified()  # and it is not taken as saved
    window.document.undo_stack.undo()
    assert window.document.dataset.to_bytes() == expected
    assert not window.isWindowModified()


def select_rows(window, rows):
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    model = window.document.table
    selection = QItemSelection()
    for row in rows:
        selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
    window.editor_panel.table.selectionModel().select(
        selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
    )


@pytest.mark.parametrize("searching", [False, True])
def test_deleting_many_examples_and_undoing_puts_each_back(
    qtbot, window, sample_copy, qtmodeltester, searching
):
    open_file(qtbot, window, sample_copy)
    document, model, panel = window.document, window.document.table, window.editor_panel
    original = document.dataset.to_bytes()
    if searching:  # a filtered view: rows are rebuilt around the ones shown
        panel.search.setText("delivery")
        qtbot.waitUntil(lambda: not panel.searching and model.rowCount() < 40, timeout=5000)
    shown = [model.record_id_at(row) for row in range(model.rowCount())]
    assert len(shown) >= 6
    select_rows(window, [1, 2, 4, 5])
    doomed = {shown[1], shown[2], shown[4], shown[5]}
    window.actions["delete"].trigger()
    assert len(document.dataset) == 40 - 4
    assert [model.record_id_at(r) for r in range(model.rowCount())] == [
        i for i in shown if i not in doomed
    ]
    assert panel.current_id() == shown[6]  # the next example is shown
    qtmodeltester.check(model)
    document.undo_stack.undo()
    assert document.dataset.to_bytes() == original
    assert [model.record_id_at(r) for r in range(model.rowCount())] == shown
    assert panel.current_id() == shown[6]  # still the example being edited
    assert panel.table.currentIndex().row() == 6
    qtmodeltester.check(model)
    document.undo_stack.redo()
    assert len(document.dataset) == 40 - 4
    wait_idle(qtbot, window)
    assert document.analysis.estimate().examples == 36


def test_a_large_deletion_shows_the_next_example_after_the_rows_are_repainted(
    qtbot, window, tmp_path
):
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    from desktop.core.analysis import DatasetAnalysis, analyze_records

    path = tmp_path / "many.jsonl"
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a" * (i % 9 + 1)},
                ]
            }
        )
        for i in range(1500)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    open_file(qtbot, window, path)
    document, model, panel = window.document, window.document.table, window.editor_panel
    doomed = 1301
    next_id = model.record_id_at(doomed)
    select_row(window, 0)
    panel.table.selectionModel().select(
        QItemSelection(model.index(0, 0), model.index(doomed - 1, model.columnCount() - 1)),
        QItemSelectionModel.SelectionFlag.ClearAndSelect,
    )
    window.actions["delete"].trigger()
    assert len(document.dataset) == 199
    assert panel.current_id() is None  # the next example's editor is not built in this pass
    qtbot.waitUntil(lambda: panel.current_id() == next_id, timeout=5000)
    fresh = DatasetAnalysis(document.catalog, document.analysis.model_id)
    fresh.merge(analyze_records(list(document.dataset), fresh.counter))
    assert document.analysis.estimate() == fresh.estimate()
    document.undo_stack.undo()
    assert path.read_bytes() == document.dataset.to_bytes()


def test_split_says_how_many_damaged_lines_it_left_out(qtbot, window, messy_copy, tmp_path):
    open_file(qtbot, window, messy_copy)
    damaged = [r for r in window.document.dataset if not r.is_example and r.text.strip()]
    assert damaged
    written = window.write_split(tmp_path / "messy-train.jsonl", 50, 7)
    kept = sum(len(p.read_bytes().splitlines()) for p in written)
    assert kept == len(list(window.document.dataset.examples()))
    said = window.statusBar().currentMessage()
    many = len(damaged) != 1
    expected = f"{len(damaged)} damaged line{'s' if many else ''} {'were' if many else 'was'}"
    assert f"{expected} left out." in said


def test_the_count_below_the_list_tells_lines_from_examples(qtbot, window, messy_copy, sample_copy):
    open_file(qtbot, window, messy_copy)
    dataset = window.document.dataset
    examples = len(list(dataset.examples()))
    assert 0 < examples < len(dataset) == 7
    label = window.editor_panel.count_label
    assert label.text() == f"7 lines ({examples} examples)"
    broken = next(r for r in dataset if r.state is LineState.BROKEN)
    repaired = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ho"}]
    }
    window.document.edit_text(broken.id, json.dumps(repaired), (broken.id, "raw"))
    wait_idle(qtbot, window)
    assert label.text() == f"7 lines ({examples + 1} examples)"
    open_file(qtbot, window, sample_copy)
    assert label.text() == "40 examples"

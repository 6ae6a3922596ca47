"""The main window: files, questions, recovery, shortcuts, import/export and bulk tools."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
import weakref

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QThreadPool, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QKeySequence
from PySide6.QtWidgets import QPushButton

from desktop.app import make_excepthook
from desktop.core.dataset import Dataset, LineState
from desktop.core.interchange import ExportFormat
from desktop.core.kinds import ExampleKind
from desktop.ui.common.workers import Worker
from desktop.ui.dataset.dataset_model import COL_USER
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import make_window, save_and_wait, wait_idle

pytestmark = pytest.mark.gui


def open_file(qtbot, window, path):
    window.open_path(path)
    wait_idle(qtbot, window)


def type_into_first_reply(qtbot, window, text):
    record_id = window.document.table.record_id_at(0)
    window.editor_panel.select_record(record_id)
    reply = window.editor_panel.editor.chat.cards[2].text_edit
    reply.moveCursor(reply.textCursor().MoveOperation.End)
    qtbot.keyClicks(reply, text)
    return record_id


# Files ------------------------------------------------------------------------------------------


def test_title_shows_name_and_unsaved_mark(qtbot, window, sample_copy):
    assert window.windowTitle() == "Fine-Tune Studio"
    open_file(qtbot, window, sample_copy)
    assert window.windowTitle().startswith("support.jsonl[*]")
    assert not window.isWindowModified()
    type_into_first_reply(qtbot, window, "!")
    assert window.isWindowModified()
    assert str(sample_copy) in window.settings.recent_files[0]


def test_close_with_unsaved_changes_asks(qtbot, window, sample_copy, answers):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    answers.save_changes = "cancel"
    assert not window.close()
    assert window.isVisible()
    assert answers.asked.count("save_changes") == 1
    answers.save_changes = "save"
    assert not window.close()  # the file is written in the background first
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert b"Thanks!" in sample_copy.read_bytes()


def test_close_discard_leaves_file_alone(qtbot, window, sample_copy, answers):
    original = sample_copy.read_bytes()
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    answers.save_changes = "discard"
    assert window.close()
    assert sample_copy.read_bytes() == original


def test_failed_save_says_why_and_keeps_edits(qtbot, window, sample_copy, answers):
    if os.geteuid() == 0:
        # root ignores folder permissions, so make the target a folder instead.
        target = sample_copy.parent / "blocked.jsonl"
        target.mkdir()
    else:
        locked = sample_copy.parent / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "blocked.jsonl"
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    answers.save_path = target
    assert not save_and_wait(qtbot, window, window.save_as)
    assert answers.errors and answers.errors[0].startswith("Could not save blocked.jsonl")
    assert "Traceback" not in answers.errors[0]
    assert window.isWindowModified()
    assert window.document.path == sample_copy


def test_json_array_is_never_overwritten_with_jsonl(qtbot, window, tmp_path, answers):
    source = tmp_path / "examples.json"
    items = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ]
    source.write_text(json.dumps(items, indent=2), encoding="utf-8")
    original = source.read_bytes()
    open_file(qtbot, window, source)
    assert window.document.dataset.container.value == "json_array"
    answers.save_path = tmp_path / "examples"
    assert save_and_wait(qtbot, window)
    assert "save_path" in answers.asked
    assert source.read_bytes() == original
    saved = tmp_path / "examples.jsonl"
    assert json.loads(saved.read_bytes()) == items[0]
    assert window.document.path == saved


def test_file_changed_on_disk_is_noticed(qtbot, window, sample_copy, answers):
    open_file(qtbot, window, sample_copy)
    answers.reload_or_keep = "reload"
    time.sleep(0.01)
    lines = sample_copy.read_bytes().splitlines(keepends=True)
    sample_copy.write_bytes(b"".join(lines[:5]))
    qtbot.waitUntil(lambda: "reload_or_keep" in answers.asked, timeout=5000)
    wait_idle(qtbot, window)
    assert len(window.document.dataset) == 5


def test_save_checks_disk_before_overwriting(qtbot, window, sample_copy, answers):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    window.document.disk.stop()  # as if the change went unnoticed
    sample_copy.write_bytes(b"")
    answers.overwrite = False
    assert not window.save()
    assert "overwrite" in answers.asked
    assert sample_copy.read_bytes() == b""
    answers.overwrite = True
    assert save_and_wait(qtbot, window)
    assert b"Thanks!" in sample_copy.read_bytes()


def test_drop_a_file_opens_it(qtbot, window, sample_copy):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(sample_copy))])
    event = QDropEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    wait_idle(qtbot, window)
    assert window.document.path == sample_copy
    assert len(window.document.dataset) == 40


def test_missing_file_says_so(window, tmp_path, answers):
    window.open_path(tmp_path / "nope.jsonl")
    assert answers.errors == ["nope.jsonl was not found."]
    assert not window.editor_visible


def test_welcome_sample_and_new(qtbot, window):
    assert not window.editor_visible
    window.welcome.findChild(QPushButton, "welcome_sample").click()
    wait_idle(qtbot, window)
    assert window.editor_visible
    assert len(window.document.dataset) == 40
    assert window.document.path is None
    assert window.findings_panel.is_ready
    window.new_dataset()
    assert len(window.document.dataset) == 1
    assert not window.isWindowModified()


def test_large_file_streams_rows_before_it_is_read(qtbot, window, tmp_path):
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Where is my parcel number %d?"},
                {"role": "assistant", "content": "It left our warehouse today."},
            ]
        }
    )
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(line.replace("%d", str(i)) for i in range(20_000)) + "\n")
    inserted: list[int] = []
    window.document.table.rowsInserted.connect(
        lambda _p, first, last: inserted.append(last - first + 1)
    )
    window.open_path(path)
    assert window.document.loading
    wait_idle(qtbot, window, timeout=60_000)
    assert sum(inserted) == 20_000
    assert len(inserted) > 5
    assert window.document.analysis.estimate().examples == 20_000
    assert (
        window.document.table.index(19_999, COL_USER).data() == "Where is my parcel number 19999?"
    )


# Recovery ---------------------------------------------------------------------------------------


def test_journal_restores_edits_after_the_window_dies(
    qtbot, catalog, tmp_path, sample_copy, answers
):
    first = make_window(qtbot, catalog, tmp_path, answers)
    open_file(qtbot, first, sample_copy)
    type_into_first_reply(qtbot, first, " We ship on Mondays.")
    first.editor_panel.select_record(first.document.table.record_id_at(3))
    first.actions["delete"].trigger()
    edited = first.document.dataset.to_bytes()
    qtbot.waitUntil(first.autosave, timeout=5000)  # once the file's copy is kept
    qtbot.waitUntil(lambda: not first.autosaving, timeout=5000)
    # The window goes away without saving or closing, as in a crash.
    with qtbot.waitSignal(first.destroyed):
        first.deleteLater()
    second = make_window(qtbot, catalog, tmp_path, answers)
    assert second.offer_recovery()
    assert "restore" in answers.asked
    assert second.document.dataset.to_bytes() == edited
    assert second.isWindowModified()
    assert second.document.path == sample_copy
    answers.save_changes = "save"
    assert not second.close()  # the file is written in the background first
    qtbot.waitUntil(lambda: not second.document.busy, timeout=5000)
    assert sample_copy.read_bytes() == edited
    third = make_window(qtbot, catalog, tmp_path, answers)
    answers.asked.clear()
    assert not third.offer_recovery()
    assert "restore" not in answers.asked


def test_saving_while_the_journal_is_written_leaves_nothing_to_recover(
    qtbot, window, sample_copy, answers
):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " We ship on Mondays.")
    qtbot.waitUntil(window.autosave, timeout=5000)  # once the file's copy is kept
    assert window.autosaving
    assert not window.autosave()  # one write at a time
    assert save_and_wait(qtbot, window)  # before the background write is published
    qtbot.waitUntil(lambda: not window.autosaving, timeout=5000)
    assert window.journal.pending() == []
    assert [p for p in window.journal.folder.iterdir() if p.is_file()] == []


def test_quitting_does_not_wait_for_other_work_queued_before_the_journal(
    qtbot, window, sample_copy, answers
):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    qtbot.waitUntil(lambda: not window.recovery.preparing, timeout=5000)
    pool = QThreadPool.globalInstance()
    release = threading.Event()
    done: list[int] = []

    def busy(_context):
        release.wait(10)  # a slow download, say, holding a pool thread
        done.append(1)

    blockers = [Worker(busy).start() for _ in range(pool.maxThreadCount())]
    try:
        assert window.autosave()  # queued behind them
        answers.save_changes = "discard"
        assert window.close()
        assert done == []  # it did not wait for them
        assert not window.autosaving
        assert not window.autosave()  # nor is anything journalled after the close
        assert [p.name for p in window.journal.folder.rglob("*") if p.is_file()] == []
    finally:
        release.set()
        assert pool.waitForDone(10_000)
    assert len(blockers) == len(done)


def test_a_closed_datasets_journal_goes_even_if_the_app_quits_before_its_deletion_ran(
    qtbot, window, sample_copy, answers
):
    # Closing renames the journal's files away and deletes them in the background; quitting
    # with that deletion still queued behind other work must not leave the discarded edits
    # on disk.
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    qtbot.waitUntil(lambda: not window.recovery.preparing, timeout=5000)
    assert window.autosave()
    qtbot.waitUntil(lambda: not window.autosaving, timeout=5000)
    journal_files = [p for p in window.journal.folder.rglob("*") if p.is_file()]
    assert journal_files  # the entry and the copy of the file
    pool = QThreadPool.globalInstance()
    release = threading.Event()
    blockers = [
        Worker(lambda _context: release.wait(10)).start() for _ in range(pool.maxThreadCount())
    ]
    try:
        answers.save_changes = "discard"
        assert window.close_dataset()
        assert [p for p in window.journal.folder.rglob("*") if p.is_file()]  # not yet deleted
        assert window.close()
        assert [p.name for p in window.journal.folder.rglob("*") if p.is_file()] == []
    finally:
        release.set()
        assert pool.waitForDone(10_000)
    assert len(blockers) == pool.maxThreadCount()


def test_quitting_while_the_journal_is_written_leaves_no_file_behind(qtbot, window, answers):
    dataset = Dataset()
    for number in range(30_000):
        value = {"messages": [{"role": "user", "content": f"Question {number}?"}]}
        dataset.insert(len(dataset), dataset.make_record(value))
    window.show_editor()
    window.document.adopt(dataset, None, modified=True)  # every record goes into the journal
    wait_idle(qtbot, window, timeout=60_000)
    assert window.autosave()
    assert window.autosaving
    answers.save_changes = "discard"
    assert window.close()
    # Nothing runs after the window closes when the app quits: the folder must be clean now.
    assert not window.autosaving
    assert [p.name for p in window.journal.folder.rglob("*") if p.is_file()] == []


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_closing_a_dataset_frees_cycles_that_died_while_frozen(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    assert gc.get_freeze_count() > 0  # the analysis of the open file is kept frozen
    cycle = _Cycle()
    cycle_ref = weakref.ref(cycle)
    gc.freeze()  # as a checkpoint or a merge of results does while it is alive
    del cycle
    gc.collect()
    assert cycle_ref() is not None
    assert window.close_dataset()
    assert cycle_ref() is None


# Model, shortcuts and errors ----------------------------------------------------------------------


def test_table_model_passes_the_model_tester(qtbot, window, messy_copy, qtmodeltester):
    open_file(qtbot, window, messy_copy)
    model = window.document.table
    qtmodeltester.check(model)
    window.editor_panel.select_record(model.record_id_at(0))
    window.actions["add_example"].trigger()
    window.actions["duplicate"].trigger()
    window.actions["move_up"].trigger()
    window.actions["delete"].trigger()
    window.document.undo_stack.undo()
    window.editor_panel.search.setText("pedido")
    qtbot.waitUntil(lambda: not window.editor_panel.searching)
    assert model.rowCount() == 1
    qtmodeltester.check(model)


def menu_shortcuts(window) -> dict[str, str]:
    shortcuts = {}
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            for sequence in action.shortcuts():
                shortcuts[sequence.toString(QKeySequence.SequenceFormat.PortableText)] = (
                    action.text()
                )
    return shortcuts


def test_shortcuts_are_listed_in_menus(window):
    shortcuts = menu_shortcuts(window)
    for keys in (
        "Ctrl+N",
        "Ctrl+O",
        "Ctrl+S",
        "Ctrl+Shift+S",
        "Ctrl+Z",
        "Ctrl+Shift+Z",
        "Ctrl+F",
        "Del",
        "Ctrl+D",
        "Ctrl+Return",
    ):
        assert keys in shortcuts, keys


def test_ctrl_z_in_a_message_box_undoes_the_dataset_edit(qtbot, window, sample_copy):
    original = sample_copy.read_bytes()
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Extra")
    reply = window.editor_panel.editor.chat.cards[2].text_edit
    qtbot.keyClick(reply, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.dataset.to_bytes() == original
    qtbot.keyClick(reply, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    roles = [m["role"] for m in window.document.dataset[0].value["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_excepthook_logs_and_shows_one_sentence(caplog, tmp_path):
    shown: list[str] = []
    hook = make_excepthook(shown.append, tmp_path / "app.log")
    try:
        raise RuntimeError("internal detail")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR):
            hook(type(exc), exc, exc.__traceback__)
    assert len(shown) == 1
    assert "Traceback" not in shown[0] and "internal detail" not in shown[0]
    assert str(tmp_path / "app.log") in shown[0]
    assert "RuntimeError: internal detail" in caplog.text


# Bulk tools, conversion, import and export ---------------------------------------------------


def ask_for_a_pirate_system_message(window):
    """Start "Set system message" on every example (worked out in the background)."""

    def run(dialog):
        dialog.text_edit.set_text("You are a pirate.")
        return True

    window.run_dialog = run
    window.set_system_message()


def test_set_system_message_is_one_undo_step(qtbot, window, sample_copy, monkeypatch):
    open_file(qtbot, window, sample_copy)
    original = window.document.dataset.to_bytes()

    ask_for_a_pirate_system_message(window)
    assert window.bulk_running
    assert not window.actions["set_system"].isEnabled()
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    assert window.actions["set_system"].isEnabled()
    systems = {r.value["messages"][0]["content"] for r in window.document.dataset.examples()}
    assert systems == {"You are a pirate."}
    assert window.document.undo_stack.count() == 1
    window.actions["undo"].trigger()
    assert window.document.dataset.to_bytes() == original


def test_set_system_message_works_out_the_new_analyses_in_the_same_pass(
    qtbot, window, catalog, tmp_path, monkeypatch
):
    from desktop.core import analysis as analysis_module
    from desktop.core.analysis import DatasetAnalysis, analyze_records
    from desktop.core.kinds import classify
    from desktop.ui.dataset.document import INLINE_ANALYSIS_LIMIT

    path = tmp_path / "many.jsonl"
    lines = []
    for n in range(INLINE_ANALYSIS_LIMIT + 100):  # enough to be checked in the background
        messages = [
            {"role": "user", "content": f"Where is order FH-{n}?"},
            {"role": "assistant", "content": "On its way." if n % 3 else ""},  # some findings
        ]
        if n % 2:
            messages.insert(0, {"role": "system", "content": f"You are Bea {n % 5}."})
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n")
    open_file(qtbot, window, path)
    wait_idle(qtbot, window)
    derived_again = []
    real = analysis_module.derive_analysis

    def derive(*args, **kwargs):
        result = real(*args, **kwargs)
        derived_again.append(result)
        return result

    monkeypatch.setattr(analysis_module, "derive_analysis", derive)
    ask_for_a_pirate_system_message(window)
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    wait_idle(qtbot, window)
    # Checking the new examples took over what the change worked out: it derived none again
    # (it only tried those the change could not derive either, and checked them in full).
    assert derived_again and not any(derived_again)
    monkeypatch.undo()
    document = window.document
    examples = list(document.dataset.examples())
    assert all(record.kind is classify(record.value) for record in examples)
    fresh = DatasetAnalysis(catalog, document.analysis.model_id)
    fresh.merge(analyze_records(list(document.dataset), fresh.counter))
    assert document.analysis.estimate() == fresh.estimate()
    assert document.findings == fresh.findings()


def test_set_system_message_keeps_clean_examples_as_their_lines_and_saves_them_exactly(
    qtbot, window, tmp_path, monkeypatch
):
    from desktop.core.bulk import plan_set_system_message
    from desktop.core.dataset import Record, serialize_value

    def talk(n: int) -> list[dict]:
        return [
            {"role": "user", "content": f"Where is order FH-{n}?"},
            {"role": "assistant", "content": "On its way."},
        ]

    clean = [{"messages": talk(n)} for n in range(4)]
    clean += [{"messages": [{"role": "system", "content": "Be Bea."}, *talk(n)]} for n in (4, 5)]
    others = [
        {"messages": [{"role": "system", "content": [{"type": "text", "text": "In parts."}]}]},
        {"messages": talk(6)[:1]},  # a finding: no reply
    ]
    path = tmp_path / "mixed.jsonl"
    huge = '{"messages": [{"role": "user", "content": "Hi"}], "n": 18446744073709551616}'
    lines = [json.dumps(v) for v in clean + others] + [huge]
    path.write_text("\n".join(lines) + "\n")
    original = path.read_bytes()
    open_file(qtbot, window, path)
    records = list(window.document.dataset)
    planned = plan_set_system_message(records, "You are a pirate.")
    assert len(planned) == len(records)

    ask_for_a_pirate_system_message(window)
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    wait_idle(qtbot, window)
    dataset = window.document.dataset
    kept = [record.system_set is not None for record in dataset]
    assert kept == [True] * len(clean) + [False] * (len(others) + 1)
    assert [record.value for record in dataset] == [planned[r.id] for r in records]
    # Writing an edited example takes a while: the save worker does it, not the window.
    on_ui_thread = []
    to_bytes = Record.to_bytes

    def spy(record: Record) -> bytes:
        on_ui_thread.append(threading.current_thread() is threading.main_thread())
        return to_bytes(record)

    monkeypatch.setattr(Record, "to_bytes", spy)
    assert save_and_wait(qtbot, window)
    monkeypatch.undo()
    assert on_ui_thread and not any(on_ui_thread)
    assert path.read_bytes() == b"".join(serialize_value(planned[r.id]) + r.eol for r in records)
    window.actions["undo"].trigger()
    assert window.document.dataset.to_bytes() == original


def test_set_system_message_on_the_selected_examples_only(qtbot, window, sample_copy):
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    open_file(qtbot, window, sample_copy)
    model = window.document.table
    selection = QItemSelection(model.index(2, 0), model.index(4, model.columnCount() - 1))
    window.editor_panel.table.selectionModel().select(
        selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    chosen = {model.record_id_at(row) for row in (2, 3, 4)}

    def run(dialog):
        assert dialog.selected_button.isEnabled()
        dialog.selected_button.setChecked(True)
        dialog.text_edit.set_text("You are a pirate.")
        return True

    window.run_dialog = run
    window.set_system_message()
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    pirates = {
        r.id
        for r in window.document.dataset.examples()
        if r.value["messages"][0]["content"] == "You are a pirate."
    }
    assert pirates == chosen


def test_an_edit_made_while_a_bulk_tool_works_is_kept(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    document = window.document

    ask_for_a_pirate_system_message(window)
    # Edited before the plan comes back: the plan is stale, so it is made again.
    target = document.dataset[5]
    value = target.value
    value["messages"][-1]["content"] = "Edited while the tool worked."
    document.edit_value(target.id, value)
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    edited = document.dataset.record(target.id).value
    assert edited["messages"][-1]["content"] == "Edited while the tool worked."
    systems = {r.value["messages"][0]["content"] for r in document.dataset.examples()}
    assert systems == {"You are a pirate."}
    assert document.undo_stack.count() == 2


def test_a_bulk_change_edited_under_it_waits_for_a_pause_in_editing(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    document = window.document
    target = document.dataset[5]
    ask_for_a_pirate_system_message(window)
    labels: list[str] = []
    for step in range(12):  # keep editing for a while, as someone typing does
        value = document.dataset.record(target.id).value
        value["messages"][-1]["content"] = f"Typed {step}"
        document.edit_value(target.id, value, merge_key="typing")
        qtbot.wait(100)
        labels.append(window.progress_label.text())
    assert window.bulk_running  # not given up: waiting for the typing to stop
    assert any("waiting for a pause in editing" in label for label in labels)
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    systems = {r.value["messages"][0]["content"] for r in document.dataset.examples()}
    assert systems == {"You are a pirate."}
    assert document.dataset.record(target.id).value["messages"][-1]["content"] == "Typed 11"


def test_remove_duplicates_and_trim(qtbot, window, tmp_path):
    example = {
        "messages": [
            {"role": "user", "content": "  Hi  "},
            {"role": "assistant", "content": "Hello\n"},
        ]
    }
    path = tmp_path / "dupes.jsonl"
    path.write_text(
        "\n".join(
            [json.dumps(example)] * 3 + [json.dumps(example, indent=None, separators=(",", ":"))]
        )
        + "\n"
    )
    open_file(qtbot, window, path)
    window.remove_duplicates()
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    assert len(window.document.dataset) == 1
    assert window.document.undo_stack.count() == 1
    assert window.document.undo_stack.text(0) == "Remove 3 duplicate examples"
    window.trim_whitespace()
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    assert window.document.dataset[0].value["messages"][0]["content"] == "Hi"
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert window.document.dataset.to_bytes() == path.read_bytes()


def test_convert_legacy_examples_is_undoable(qtbot, window, tmp_path):
    path = tmp_path / "legacy.jsonl"
    path.write_text(
        '{"prompt": "Hello ->", "completion": " Hi there END"}\n'
        '{"prompt": "Bye ->", "completion": " See you END"}\n'
    )
    open_file(qtbot, window, path)
    assert window.actions["convert"].isEnabled()
    window.editor_panel.select_record(window.document.table.record_id_at(0))
    assert window.editor_panel.editor.pages.currentWidget() is window.editor_panel.editor.legacy
    assert window.convert_legacy() == 2
    value = window.document.dataset[0].value
    assert value == {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there"},
        ]
    }
    assert window.document.undo_stack.count() == 1
    window.actions["undo"].trigger()
    assert window.document.dataset.to_bytes() == path.read_bytes()


def test_import_csv_converts_with_system_message(qtbot, window, tmp_path, answers):
    path = tmp_path / "faq.csv"
    path.write_text('question,answer\n"Opening hours?","9 to 5, Monday to Friday."\n')

    def run(dialog):
        dialog.text_edit.set_text("Be brief.")
        return True

    window.run_dialog = run
    assert window.import_path(path)
    wait_idle(qtbot, window)
    value = window.document.dataset[0].value
    assert value["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Opening hours?"},
        {"role": "assistant", "content": "9 to 5, Monday to Friday."},
    ]
    assert window.isWindowModified()
    assert window.document.needs_new_name_to_save
    assert path.read_text().startswith("question,answer")


def test_import_sharegpt_reports_what_was_dropped(qtbot, window, tmp_path, answers):
    path = tmp_path / "chats.jsonl"
    rows = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
        {"conversations": [{"from": "human", "value": "Price?"}, {"from": "gpt", "value": "€5"}]},
        "not an example",
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert window.import_path(path, ask=False)
    wait_idle(qtbot, window)
    dataset = window.document.dataset
    assert [r.state for r in dataset] == [LineState.EXAMPLE, LineState.EXAMPLE, LineState.BROKEN]
    assert dataset[2].text == '"not an example"'
    assert dataset[0].kind is ExampleKind.CHAT
    assert "ShareGPT" in answers.infos[0]
    assert "could not be converted" in answers.infos[0]


def test_export_alpaca_says_what_it_dropped(qtbot, window, sample_copy, tmp_path, answers):
    open_file(qtbot, window, sample_copy)
    written = window.export_to(tmp_path / "out.json", ExportFormat.ALPACA)
    assert written == [tmp_path / "out.json"]
    data = json.loads(written[0].read_text())
    assert len(data) == 40
    assert "could not keep" in answers.infos[-1]


def test_export_split_pair(qtbot, window, sample_copy, tmp_path, answers):
    open_file(qtbot, window, sample_copy)
    written = window.export_to(
        tmp_path / "share.jsonl", ExportFormat.SHAREGPT, split=True, percent=10, seed=1
    )
    assert [p.name for p in written] == ["share-train.jsonl", "share-validation.jsonl"]
    counts = [len(p.read_text().splitlines()) for p in written]
    assert counts == [36, 4]


def test_model_and_epochs_change_the_estimate(qtbot, window, sample_copy):
    open_file(qtbot, window, sample_copy)
    cost = window.estimator.values["cost"].text()
    window.estimator.auto_epochs.setChecked(False)
    window.estimator.epochs_spin.setValue(10)
    assert window.document.analysis.estimate().epochs == 10
    assert window.estimator.values["cost"].text() != cost
    index = window.estimator.model_combo.findData("gpt-3.5-turbo-0125")
    window.estimator.model_combo.setCurrentIndex(index)
    wait_idle(qtbot, window)
    estimate = window.document.analysis.estimate()
    assert estimate.encoding == "cl100k_base"
    assert estimate.examples == 40
    assert window.settings.last_model == "gpt-3.5-turbo-0125"


def test_settings_remember_layout_recent_files_and_model(
    qtbot, catalog, tmp_path, sample_copy, answers
):
    first = make_window(qtbot, catalog, tmp_path, answers)
    first.show()
    open_file(qtbot, first, sample_copy)
    first.estimator.model_combo.setCurrentIndex(
        first.estimator.model_combo.findData("gpt-4o-2024-08-06")
    )
    wait_idle(qtbot, first)
    first.main_splitter.setSizes([900, 500])
    assert first.close()
    saved = json.loads((tmp_path / "config" / "settings.json").read_text())
    assert saved["last_model"] == "gpt-4o-2024-08-06"
    assert saved["recent_files"][0] == str(sample_copy)
    assert saved["splitter_sizes"]["main"] == first.main_splitter.sizes()
    settings = first.settings_store.load()
    second = MainWindow(settings=settings, catalog=catalog)
    qtbot.addWidget(second)
    assert second.document.analysis.model_id == "gpt-4o-2024-08-06"
    assert second.estimator.model_combo.currentData() == "gpt-4o-2024-08-06"
    assert [a.toolTip() for a in second.recent_menu.actions()] == [str(sample_copy)]
    assert second.settings.window_geometry


def test_crlf_file_round_trips_byte_for_byte(qtbot, window, tmp_path):
    path = tmp_path / "windows.jsonl"
    lines = [
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}',
        "",
        '{"prompt": "x", "completion": "y"}',
    ]
    path.write_bytes(("\r\n".join(lines)).encode())
    original = path.read_bytes()
    open_file(qtbot, window, path)
    assert save_and_wait(qtbot, window)
    assert path.read_bytes() == original


def test_rows_cannot_be_changed_while_the_file_is_read(qtbot, window, tmp_path):
    line = json.dumps(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    )
    path = tmp_path / "medium.jsonl"
    path.write_text("\n".join([line] * 30_000) + "\n")
    window.open_path(path)
    assert window.document.loading
    assert not window.actions["add_example"].isEnabled()
    assert not window.editor_panel.editor.isEnabled()
    wait_idle(qtbot, window, timeout=60_000)
    assert window.actions["add_example"].isEnabled()
    assert window.editor_panel.editor.isEnabled()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_cancelled_read_never_saves_over_the_whole_file(qtbot, window, tmp_path, answers, newline):
    line = json.dumps(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ).encode()
    path = tmp_path / "long.jsonl"
    path.write_bytes(newline.join([line] * 60_000) + newline)
    original = path.read_bytes()
    # Press Cancel as soon as the first rows arrive, while the rest is still being read.
    window.document.table.rowsInserted.connect(
        lambda *_: window.document.loading and window.cancel_button.click()
    )
    window.open_path(path)
    wait_idle(qtbot, window)
    kept = len(window.document.dataset)
    assert 0 < kept < 60_000
    assert window.document.path is None
    assert "first" in window.windowTitle()
    answers.save_path = tmp_path / "part.jsonl"
    assert save_and_wait(qtbot, window)
    assert "save_path" in answers.asked
    assert path.read_bytes() == original
    assert len((tmp_path / "part.jsonl").read_bytes().splitlines()) == kept
    # Examples added to the part read end their lines as the file's lines do.
    assert window.document.dataset.newline == newline


def test_remove_empty_lines_tool(qtbot, window, messy_copy):
    open_file(qtbot, window, messy_copy)
    assert any(f.code == "blank_line" for f in window.document.findings)
    assert window.remove_empty_lines() == 1
    wait_idle(qtbot, window)
    assert not any(f.code == "blank_line" for f in window.document.findings)
    window.actions["undo"].trigger()
    assert window.document.dataset.to_bytes() == messy_copy.read_bytes()


def test_a_tokenizer_not_used_yet_is_loaded_in_the_background(
    qtbot, window, sample_copy, monkeypatch
):
    from desktop.core import tokens
    from desktop.ui.dataset import document as document_module

    open_file(qtbot, window, sample_copy)
    loaded = {window.document.analysis.counter.encoding_name}
    loads: list[str] = []

    def load(name: str) -> tokens.TokenCounter:
        loads.append(name)
        if name == "cl100k_base" and len(loads) > 1:
            raise OSError("the tokenizer file is damaged")
        loaded.add(name)
        return tokens.get_counter(name)

    monkeypatch.setattr(document_module, "loaded_encodings", lambda: tuple(loaded))
    monkeypatch.setattr(document_module, "get_counter", load)
    document = window.document
    document.set_model("gpt-3.5-turbo-0125")
    assert document.busy and document.model_id == "gpt-3.5-turbo-0125"
    assert document.analysis.counter.encoding_name == "o200k_base"  # not switched yet
    wait_idle(qtbot, window)
    assert loads == ["cl100k_base"]
    assert document.analysis.estimate().encoding == "cl100k_base"
    # A tokenizer that cannot be loaded is reported, and the estimate stays as it was.
    loaded.discard("cl100k_base")
    document.set_model("gpt-4o-2024-08-06")
    errors: list[str] = []
    document.failed.connect(errors.append)
    combo = window.estimator.model_combo
    combo.setCurrentIndex(combo.findData("gpt-3.5-turbo-1106"))  # as the user picks it
    wait_idle(qtbot, window)
    assert errors == ["the tokenizer file is damaged"]
    assert document.analysis.model_id == "gpt-4o-2024-08-06"
    # The panel and the settings show the model the estimate still uses, not the failed one.
    assert combo.currentData() == "gpt-4o-2024-08-06"
    assert window.settings.last_model == "gpt-4o-2024-08-06"


@pytest.fixture
def slow_saves(monkeypatch):
    """Saving takes 0.3 s, so that something can arrive while the file is written."""
    from desktop.ui.dataset import document as document_module

    real_stage = document_module.stage_write

    def slow_stage(path, parts):
        time.sleep(0.3)
        return real_stage(path, parts)

    monkeypatch.setattr(document_module, "stage_write", slow_stage)


def test_an_undo_while_the_file_is_written_leaves_unsaved_changes(
    qtbot, window, sample_copy, monkeypatch
):
    """The worker writes the dataset as it was; the undo made meanwhile is not on disk."""
    from desktop.ui.dataset import document as document_module

    writing = threading.Event()
    go_on = threading.Event()
    real_stage = document_module.stage_write

    def slow_stage(path, parts):
        writing.set()
        go_on.wait(5)
        return real_stage(path, parts)

    monkeypatch.setattr(document_module, "stage_write", slow_stage)
    open_file(qtbot, window, sample_copy)
    original = sample_copy.read_bytes()
    window.editor_panel.select_record(window.document.table.record_id_at(0))
    window.actions["duplicate"].trigger()
    edited = window.document.dataset.to_bytes()
    assert window.save()
    qtbot.waitUntil(writing.is_set, timeout=5000)
    window.document.undo_stack.undo()
    go_on.set()
    qtbot.waitUntil(lambda: not window.document.saving, timeout=5000)
    assert sample_copy.read_bytes() == edited
    assert window.document.dataset.to_bytes() == original
    assert window.document.is_modified and window.isWindowModified()
    assert save_and_wait(qtbot, window)
    assert sample_copy.read_bytes() == original
    assert not window.document.is_modified


def test_closing_during_a_save_closes_once_the_file_is_written(
    qtbot, window, sample_copy, answers, slow_saves
):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    answers.save_changes = "save"
    QTimer.singleShot(50, window.close)  # the window manager's close, while the file is written
    assert window.save()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert b"Thanks!" in sample_copy.read_bytes()
    assert answers.asked == []  # saved by then: nothing to ask, and no second save ran


def test_a_close_asked_for_during_a_save_wins_over_opening_a_file(
    qtbot, window, sample_copy, answers, slow_saves
):
    open_file(qtbot, window, sample_copy)
    type_into_first_reply(qtbot, window, " Thanks!")
    answers.save_changes = "save"
    QTimer.singleShot(50, window.close)  # arrives while the file is written
    window.open_dialog()  # asks to save first
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert b"Thanks!" in sample_copy.read_bytes()
    assert "open_path" not in answers.asked  # no file dialog under a closing window


def test_closing_while_a_bulk_change_is_worked_out_asks_once_it_is_made(
    qtbot, window, sample_copy, answers
):
    open_file(qtbot, window, sample_copy)
    ask_for_a_pirate_system_message(window)
    assert window.bulk_running
    answers.save_changes = "discard"
    assert not window.close()  # the change is not made yet: wait for it
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert answers.asked == ["save_changes"]  # then the usual question about unsaved changes


def test_closing_while_a_bulk_change_is_worked_out_then_saving_closes(
    qtbot, window, sample_copy, answers
):
    open_file(qtbot, window, sample_copy)
    ask_for_a_pirate_system_message(window)
    answers.save_changes = "save"
    assert not window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert answers.asked == ["save_changes"]
    assert b"You are a pirate." in sample_copy.read_bytes()


def test_a_bulk_change_ready_during_a_save_waits_for_the_save(
    qtbot, window, sample_copy, slow_saves
):
    open_file(qtbot, window, sample_copy)
    window.editor_panel.select_record(window.document.table.record_id_at(0))
    window.actions["duplicate"].trigger()  # something to save
    saved = window.document.dataset.to_bytes()
    ask_for_a_pirate_system_message(window)  # its plan (a few ms) is ready during the save
    assert save_and_wait(qtbot, window)
    assert sample_copy.read_bytes() == saved
    qtbot.waitUntil(lambda: not window.bulk_running, timeout=5000)
    systems = {r.value["messages"][0]["content"] for r in window.document.dataset.examples()}
    assert systems == {"You are a pirate."}
    assert window.document.dataset.is_modified  # the bulk change is not in the saved file
    assert window.isWindowModified()

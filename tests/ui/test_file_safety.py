"""What the window opens and what it replaces: only datasets, and never a file by surprise."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.ui.conftest import save_and_wait, wait_idle

posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links and modes")


def edit_first_reply(window, text: str) -> None:
    record = window.document.dataset[0]
    value = json.loads(json.dumps(record.value))
    value["messages"][-1]["content"] = text
    window.document.edit_value(record.id, value)


def test_a_folder_is_not_opened_and_not_remembered(qtbot, window, tmp_path, answers):
    folder = tmp_path / "adir"
    folder.mkdir()
    window.open_path(folder)
    assert answers.errors == [
        "adir is a folder, not a dataset. Open a .jsonl, .json or .csv file inside it."
    ]
    assert not window.editor_visible
    assert window.settings.recent_files == []


def test_a_program_is_not_a_dataset(qtbot, window, tmp_path, answers):
    program = tmp_path / "ls"
    shutil.copyfile(shutil.which("ls") or "/bin/ls", program)
    window.open_path(program)
    assert answers.errors and "ls is not a dataset" in answers.errors[0]
    assert "binary file" in answers.errors[0]
    assert not window.editor_visible
    assert len(window.document.dataset) == 0
    assert window.settings.recent_files == []


def test_a_dataset_joins_open_recent_once_it_has_opened(qtbot, window, sample_copy):
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    assert window.settings.recent_files[0] == str(sample_copy)


@posix_only
def test_a_read_only_file_is_replaced_only_when_the_user_says_so(
    qtbot, window, sample_copy, answers
):
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    original = sample_copy.read_bytes()
    sample_copy.chmod(0o444)
    edit_first_reply(window, "Changed.")
    answers.replace_read_only = False
    assert not window.save()
    assert answers.asked.count("replace_read_only") == 1
    assert sample_copy.read_bytes() == original
    assert window.isWindowModified()
    answers.replace_read_only = True
    assert save_and_wait(qtbot, window)
    assert b"Changed." in sample_copy.read_bytes()
    assert sample_copy.stat().st_mode & 0o777 == 0o444
    assert not window.isWindowModified()


@posix_only
def test_saving_a_file_opened_through_a_link_keeps_the_link(qtbot, window, sample_copy, tmp_path):
    link = tmp_path / "linked.jsonl"
    link.symlink_to(sample_copy)
    window.open_path(link)
    wait_idle(qtbot, window)
    assert window.document.path == link
    assert window.windowTitle().startswith("linked.jsonl")
    edit_first_reply(window, "Through the link.")
    assert save_and_wait(qtbot, window)
    assert link.is_symlink()
    assert b"Through the link." in sample_copy.read_bytes()


def test_leftovers_of_an_interrupted_save_go_when_the_file_opens(
    qtbot, window, sample_copy, tmp_path
):
    leftover = tmp_path / f".{sample_copy.name}.k3j4h5g6.tmp"
    leftover.write_bytes(b"x" * 1000)
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    assert not leftover.exists()


def test_a_line_typed_with_half_a_character_saves(qtbot, window, sample_copy):
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    record = window.document.dataset[0]
    typed = '{"messages": [{"role": "user", "content": "cut \ud83d"}]}'
    window.document.edit_text(record.id, typed)
    assert save_and_wait(qtbot, window)
    first_line = sample_copy.read_bytes().splitlines()[0]
    assert first_line == b'{"messages": [{"role": "user", "content": "cut \\ud83d"}]}'
    window.document.undo_stack.undo()
    assert window.document.dataset[0].raw == record.raw

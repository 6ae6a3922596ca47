"""What a file is, from its first bytes: a dataset, or something opened by mistake."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.filekind import binary_kind, not_a_dataset
from desktop.core.formats import DatasetReadError, read_dataset

LINE = json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n"


PAD = bytes(range(256)) * 3  # enough bytes to judge, none of them text


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(600), "a binary file"),
        (b"\x89PNG\r\n\x1a\n" + PAD, "an image"),
        (b"PK\x03\x04\x14\x00\x06\x00" + PAD, "spreadsheet, save it as CSV"),
        (b"%PDF-1.7\n" + PAD, "a PDF document"),
        (b"\x1f\x8b\x08\x00" + PAD, "extract it first"),
        (b"SQLite format 3\x00" + PAD, "a database"),
        (b"\xff\xfe" + LINE.encode("utf-16-le") * 10, "UTF-16"),
        (LINE.encode("utf-16-le") * 10, "UTF-16"),  # no byte-order mark
    ],
)
def test_things_that_are_not_datasets_are_named(head, says):
    assert says in (binary_kind(head) or "")


@pytest.mark.parametrize(
    "head",
    [
        LINE.encode() * 20,
        b"\xef\xbb\xbf" + LINE.encode() * 20,
        "prompt,completion\nHallo,Grüß dich\n".encode("latin-1") * 30,  # another encoding
        # Damaged lines, many NUL bytes among them, beside lines that are examples.
        (b"\x00" * 40 + b"\n" + LINE.encode()) * 20,
        b"\xff\xfe" + LINE.encode() * 20,  # damaged first bytes of a JSONL file
        b"\x00\x00\x00\n" * 10,  # too little to judge: shown as damaged lines
        b"",
    ],
)
def test_text_even_damaged_text_is_a_dataset(head):
    assert binary_kind(head) is None


def test_folders_programs_and_missing_files_get_one_sentence(tmp_path):
    program = tmp_path / "tool"
    shutil.copyfile(sys.executable, program)
    assert not_a_dataset(program) == (
        "tool is not a dataset: it is a binary file (a program, an image or another kind "
        "of document)."
    )
    assert not_a_dataset(tmp_path) is not None and "is a folder" in not_a_dataset(tmp_path)
    assert not_a_dataset(tmp_path / "gone.jsonl") == "gone.jsonl was not found."
    good = tmp_path / "good.jsonl"
    good.write_text(LINE)
    assert not_a_dataset(good) is None
    with pytest.raises(DatasetReadError, match="tool is not a dataset"):
        read_dataset(program)


def test_check_refuses_a_program_in_one_sentence(tmp_path):
    program = tmp_path / "tool"
    shutil.copyfile(sys.executable, program)
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "check", str(program)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "finetune-studio check: tool is not a dataset: it is a binary file (a program, an "
        "image or another kind of document)."
    )

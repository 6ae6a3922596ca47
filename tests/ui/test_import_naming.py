"""After an import, saving suggests a name of its own beside the imported file, and never that
file itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ui.conftest import wait_idle

pytestmark = pytest.mark.gui


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        (
            "chats.jsonl",
            [
                {
                    "conversations": [
                        {"from": "human", "value": "Hi"},
                        {"from": "gpt", "value": "Hello"},
                    ]
                }
            ],
        ),
        ("pairs.jsonl", [{"prompt": "Capital of France?", "completion": " Paris"}]),
    ],
)
def test_saving_an_import_never_offers_the_source_file(qtbot, window, sample_copy, name, rows):
    window.open_path(sample_copy)  # remembered: the last file's folder, not the one to offer
    wait_idle(qtbot, window)
    source = sample_copy.parent / "elsewhere" / name
    source.parent.mkdir()
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    original = source.read_bytes()
    assert window.import_path(source, ask=False)
    wait_idle(qtbot, window)
    offered: list[Path] = []

    def choose(suggested: Path, _title: str, _filter: str) -> None:
        offered.append(suggested)

    window.choose_save_path = choose
    assert not window.save()

    assert offered == [source.parent / f"{source.stem}-chat.jsonl"]
    assert source.read_bytes() == original
    assert window.windowTitle().startswith(f"{source.stem}-chat.jsonl")

"""The cost panel says why tokens are estimated, and only when they are."""

from __future__ import annotations

import json

import pytest

from tests.ui.conftest import wait_idle

pytestmark = pytest.mark.gui


def pair(i: int) -> dict:
    return {
        "input": {"messages": [{"role": "user", "content": f"Question {i}?"}]},
        "preferred_output": [{"role": "assistant", "content": f"A good answer {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"A poor answer {i}."}],
    }


def chat(i: int, **extra) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ],
        **extra,
    }


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def open_lines(qtbot, window, path, values) -> str:
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    window.open_path(path)
    wait_idle(qtbot, window)
    return window.estimator.price_note.text()


def test_plain_preference_pairs_are_estimated_for_their_own_reason(qtbot, window, tmp_path):
    note = open_lines(qtbot, window, tmp_path / "pairs.jsonl", [pair(i) for i in range(12)])
    assert "the tokens of 12 preference pairs are estimated, as OpenAI does not publish" in note
    assert "tools" not in note and "images" not in note

    window.document.insert_values([(12, chat(99, tools=[TOOL]))], "Add example")
    wait_idle(qtbot, window)
    note = window.estimator.price_note.text()
    assert "the tokens of 12 preference pairs are estimated" in note
    assert "the tokens of 1 example are estimated, as it holds tools, images" in note


def test_plain_chats_say_nothing_is_estimated(qtbot, window, tmp_path):
    note = open_lines(qtbot, window, tmp_path / "chats.jsonl", [chat(i) for i in range(12)])
    assert "estimated" not in note

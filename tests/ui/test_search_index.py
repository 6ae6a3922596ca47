"""The example list's search index keeps up with every edit, so searches answer from it."""

from __future__ import annotations

import json

import pytest

from desktop.core import search
from tests.ui.conftest import wait_idle

pytestmark = pytest.mark.gui


def conversation(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Ok"}]}


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.jsonl"
    lines = [json.dumps(conversation(f"Where is order {i}?")) for i in range(30)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def direct_reads(monkeypatch):
    """The records a search reads directly, not from the index."""
    read: list[int] = []
    real = search.record_matches

    def spy(record, needle):
        read.append(record.id)
        return real(record, needle)

    monkeypatch.setattr(search, "record_matches", spy)
    return read


def shown_after_search(qtbot, window, text: str) -> list[str]:
    panel = window.editor_panel
    panel.search.clear()  # the same text again would not search again
    panel.search.setText(text)
    qtbot.waitUntil(lambda: not panel.searching, timeout=5000)
    model = window.document.table
    return [model.record_at(row).value["messages"][0]["content"] for row in range(model.rowCount())]


def wait_indexed(qtbot, window) -> None:
    panel = window.editor_panel
    qtbot.waitUntil(lambda: not panel.indexing, timeout=5000)
    assert panel.search_index.size == len(window.document.dataset)


def test_searches_answer_from_an_index_kept_current_through_edits_and_undo(
    qtbot, window, orders, direct_reads
):
    window.open_path(orders)
    wait_idle(qtbot, window)
    wait_indexed(qtbot, window)
    document, panel = window.document, window.editor_panel
    assert shown_after_search(qtbot, window, "ORDER 7") == ["Where is order 7?"]
    assert direct_reads == []

    # An edit: found by its new text only, first directly, then from the index.
    record_id = document.dataset[7].id
    document.edit_value(record_id, conversation("A parcel arrived broken"))
    assert shown_after_search(qtbot, window, "parcel") == ["A parcel arrived broken"]
    assert shown_after_search(qtbot, window, "order 7") == []
    wait_indexed(qtbot, window)
    direct_reads.clear()
    assert shown_after_search(qtbot, window, "parcel") == ["A parcel arrived broken"]
    assert direct_reads == []

    # Undo brings the old text back.
    document.undo_stack.undo()
    wait_indexed(qtbot, window)
    assert shown_after_search(qtbot, window, "parcel") == []
    assert shown_after_search(qtbot, window, "order 7") == ["Where is order 7?"]

    # An added example, and a deletion with its undo.
    panel.search.clear()
    qtbot.waitUntil(lambda: not panel.searching, timeout=5000)
    document.insert_values([(0, conversation("Gift card question"))], "Add example")
    wait_indexed(qtbot, window)
    assert shown_after_search(qtbot, window, "gift card") == ["Gift card question"]
    panel.search.clear()
    qtbot.waitUntil(lambda: not panel.searching, timeout=5000)
    assert panel.select_record(document.dataset[0].id)
    assert panel.delete_selected() == 1
    wait_indexed(qtbot, window)
    assert shown_after_search(qtbot, window, "gift card") == []
    document.undo_stack.undo()
    wait_indexed(qtbot, window)
    direct_reads.clear()
    assert shown_after_search(qtbot, window, "gift card") == ["Gift card question"]
    assert shown_after_search(qtbot, window, "order 2") == [
        f"Where is order {i}?" for i in (2, *range(20, 30))
    ]
    assert direct_reads == []

    # A move: the index learns where its records sit now, and answers in the new order.
    panel.search.clear()
    qtbot.waitUntil(lambda: not panel.searching, timeout=5000)
    assert panel.select_record(document.dataset[3].id)  # order 2
    assert panel.move_selected(-1)
    assert panel.indexing
    wait_indexed(qtbot, window)
    assert shown_after_search(qtbot, window, "where is order")[:3] == [
        "Where is order 0?",
        "Where is order 2?",
        "Where is order 1?",
    ]
    assert direct_reads == []


def test_opening_another_file_starts_a_new_index(qtbot, window, orders, sample_copy):
    window.open_path(orders)
    wait_idle(qtbot, window)
    wait_indexed(qtbot, window)
    first = window.editor_panel.search_index
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    wait_indexed(qtbot, window)
    assert window.editor_panel.search_index is not first
    assert first.size == 0  # the old one let its records go

"""What the window says reads the way a person would say it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import Qt

from desktop.core.journal import JournalEntry
from desktop.ui.window.prompts import describe_entry
from tests.ui.conftest import wait_idle


def listed(window) -> list[str]:
    model = window.findings_panel.model
    return [
        model.index(row, 0).data(Qt.ItemDataRole.DisplayRole) for row in range(model.rowCount())
    ]


def test_a_new_examples_finding_names_the_example_not_the_whole_file(qtbot, window):
    window.new_dataset()
    window.document.flush_analysis()
    shown = listed(window)
    about_the_example = [text for text in shown if "has no text" in text]
    assert about_the_example, shown
    assert all(text.startswith("Example 1 (new), message") for text in about_the_example)


def test_findings_about_the_whole_dataset_still_say_so(qtbot, window, tmp_path):
    empty = tmp_path / "one.jsonl"
    empty.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, '
        '{"role": "assistant", "content": "Hello"}]}\n'
    )
    window.open_path(empty)
    wait_idle(qtbot, window)
    assert any(text.startswith("Whole dataset: ") for text in listed(window))  # too few


def test_counts_agree_with_their_nouns(qtbot, window, tmp_path, answers):
    one = tmp_path / "one.jsonl"
    one.write_text('{"messages": [{"role": "user", "content": "Hi"}]}\n')
    window.open_path(one)
    wait_idle(qtbot, window)
    assert "1 row." in window.statusBar().currentMessage()
    labels = [label.text() for label in window.findings_panel.count_labels.values()]
    assert all(not text.startswith("1 ") or not text.endswith("s") for text in labels), labels
    answers.save_path = tmp_path / "out.jsonl"
    from desktop.core.interchange import ExportFormat

    window.export_to(tmp_path / "out.json", ExportFormat.SHAREGPT)
    assert any("Wrote 1 example to" in text for text in answers.infos), answers.infos


def test_the_restore_question_counts_in_words():
    entry = JournalEntry(
        session_id="s",
        recipe_path=Path("s.json"),
        source_path=Path("small.jsonl"),
        written_at=datetime(2026, 12, 4, 12, 3, tzinfo=timezone.utc),
        edited_count=1,
        removed_count=0,
        record_count=5,
    )
    text = describe_entry(entry)
    assert text.startswith("1 example edited or added, last autosaved ")
    assert "removed" not in text


def test_the_train_button_the_welcome_page_names_sits_beside_the_estimate(
    qtbot, window, sample_copy
):
    button = window.estimator.train_button
    steps = " ".join(text for _title, text in window.welcome.STEPS)
    assert f"press {button.text()}" in steps
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    assert button.isVisible() and button.isEnabled()
    with qtbot.waitSignal(window.train_requested, timeout=2000):
        button.click()

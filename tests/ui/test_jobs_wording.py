"""Counts on the Jobs screen and in the wizard read naturally: "1 job", "1 example"."""

from __future__ import annotations

import pytest

from desktop.ui.jobs.train_wizard import TrainingData
from tests.fake_openai.samples import chat_jsonl
from tests.ui.test_jobs_helpers import jobs_harness, training_data

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path) as harness:
        yield harness


def test_one_job_is_one_job(qtbot, harness):
    panel = harness.panel()
    qtbot.waitUntil(lambda: "at OpenAI" in panel.status_line.text(), timeout=10_000)
    assert panel.status_line.text() == "No jobs at OpenAI."
    harness.start_job(panel)
    panel.refresh()
    qtbot.waitUntil(lambda: "job at" in panel.status_line.text(), timeout=10_000)
    assert panel.status_line.text() == "1 job at OpenAI; following 1 that has not finished."


def test_one_example_is_one_example(harness):
    one = training_data(harness.catalog, chat_jsonl(1), name="one.jsonl")
    wizard = harness.panel().start_training(lambda: TrainingData(one.name, one.examples))
    assert (
        wizard.choose_page.examples_box.training_label.text()
        == "Training on <b>one.jsonl</b>: 1 example"
    )
    wizard.reject()

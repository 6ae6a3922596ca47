"""Train → live chart → chat on this computer, for real, through the widgets: the wizard
trains the tiny model the local-training tests build (nothing is downloaded), the Jobs tab
charts every step (and a restarted app follows the job again), then the trained model and
its base model answer in the Chat tab through ``transformers serve``, and quitting stops
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.jobs import JobStatus
from desktop.local_training.serving import find_server
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.train_wizard import PAGE_REVIEW
from tests.local_training.tiny_model import build_tiny_model
from tests.ui.test_this_computer import here

pytestmark = [pytest.mark.gui, pytest.mark.local_training]

STEPS = 12
#: Starting a training or chat process loads PyTorch and Transformers first.
SLOW = 180_000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in ("torch", "transformers", "peft", "trl", "datasets", "tokenizers", "fastapi"):
        pytest.importorskip(name)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def test_train_chart_and_chat_with_the_trained_model(qtbot, tmp_path, tiny_model):
    with here(qtbot, tmp_path) as harness:
        first = harness.panel()
        wizard = harness.wizard(first)
        wizard.choose_page.choose_model_folder = lambda: tiny_model
        wizard.choose_page.chooser.folder_button.click()
        qtbot.waitUntil(
            lambda: wizard.choose_page.chooser.model_id == str(tiny_model), timeout=10_000
        )
        wizard.choose_page.settings_form.suffix.setText("adder")
        for name, value in (
            ("learning_rate", 0.01),
            ("batch_size", 1),
            ("max_length", 128),
            ("max_steps", STEPS),
        ):
            wizard.choose_page.settings_form.parameter(name).set_value(value)
        qtbot.waitUntil(lambda: not wizard.choose_page.estimating, timeout=10_000)
        wizard.go_to(PAGE_REVIEW)
        wizard.review_page.start_button.click()
        qtbot.waitUntil(lambda: not wizard.sending, timeout=30_000)
        assert wizard.send_page.started is not None, wizard.send_page.failure
        job_id = wizard.send_page.started.summary.id
        qtbot.waitUntil(lambda: len(first.view.chart.series["train_loss"]) >= 1, timeout=SLOW)

        first.shutdown()  # the app quits while it trains; the next start follows it again
        jobs = harness.panel()
        chat = harness.chat(jobs)
        assert jobs.resume_monitoring() == 1
        jobs.select_job(job_id)
        view = jobs.view
        qtbot.waitUntil(
            lambda: view.record is not None and view.record.summary.status.is_terminal,
            timeout=SLOW,
        )
        summary = view.record.summary
        assert summary.status is JobStatus.SUCCEEDED, summary.error
        assert list(view.chart.series["train_loss"].steps) == list(range(1, STEPS + 1))
        assert view.record.checkpoints  # each can be chatted with too

        view.chat_button.click()
        page = chat.chat
        qtbot.waitUntil(lambda: page.entry is not None, timeout=SLOW)
        assert page.entry.label == job_title(summary)
        page.max_tokens.setValue(8)
        page.input.setPlainText("What is 3 plus 3?")
        page.send()
        qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
        reply = page.conversation.messages[-1]
        assert reply.role == "assistant" and reply.tokens_out and reply.cost_usd == 0.0

        view.compare_base_button.click()
        compare = chat.compare
        qtbot.waitUntil(lambda: chat.tabs.currentWidget() is compare, timeout=SLOW)
        assert len(jobs.serving) == 2
        compare.max_tokens.setValue(8)
        compare.input.setPlainText("What is 4 plus 4?")
        compare.send()
        qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
        assert all(side.conversation.messages[-1].tokens_out for side in compare.sides)

        names = [name for _profile, name in jobs.serving]
        assert jobs.before_quit() is True  # nothing trains or bills: the servers just stop
        qtbot.waitUntil(lambda: not jobs.quit_check.ending, timeout=SLOW)
        assert jobs.serving == {}
        assert [find_server(name, tmp_path / "serving") for name in names] == [None, None]

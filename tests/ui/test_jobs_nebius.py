"""The whole flow at Nebius Token Factory, through the real widgets and the fake server's
Nebius flavour: LoRA settings in the wizard, the loss from each checkpoint, a deployment made
for chat (billed per token, so nothing to stop), and the adapter download."""

from __future__ import annotations

import pytest

from desktop.ui.jobs.train_wizard import PAGE_REVIEW
from tests.ui.test_jobs_helpers import SAMPLE, jobs_harness, training_data

pytestmark = pytest.mark.gui

NEBIUS_ID = "nebius-main"


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path, flavor="nebius") as harness:
        yield harness


def test_lora_settings_are_offered_and_sent_as_nebius_names_them(qtbot, harness):
    wizard = harness.open_wizard(harness.panel())
    form = wizard.choose_page.settings_form.parameter_form
    assert form.field("lora").value() is True  # on by default in the app
    assert form.field("lora").auto is None and "LoRA" in form.field("lora").toolTip()
    assert "not a multiple" in form.field("learning_rate").toolTip()
    assert not form.field("lora_r").isVisible()
    form.more_button.click()
    form.set_value("lora_r", 16)
    form.set_value("learning_rate", 0.00002)
    wizard.choose_page.settings_form.epochs.set_value(2)
    wizard.go_to(PAGE_REVIEW)
    assert not wizard.review_page.tile_frames["price"].isVisible()  # Nebius gives no price first
    text = wizard.review_page.review_text.text()
    assert "LoRA rank 16" in text and "learning rate 2e-05" in text
    assert "cancel it there" in wizard.review_page.next_steps.text()
    harness.send(wizard)
    assert wizard.send_page.started is not None, wizard.send_page.failure
    sent = harness.server.requests_to("POST", "/fine_tuning/jobs")[0].json["hyperparameters"]
    assert sent["lora"] is True and sent["lora_r"] == 16 and sent["n_epochs"] == 2
    assert sent["learning_rate"] == pytest.approx(0.00002)


def finished_job(harness, panel) -> str:
    job_id = harness.start_job(panel)
    harness.server.advance(5000)
    harness.qtbot.waitUntil(
        lambda: (
            panel.view.record is not None and panel.view.record.summary.status.value == "succeeded"
        ),
        timeout=15_000,
    )
    return job_id


def test_the_loss_comes_with_checkpoints_and_chat_deploys_without_a_meter(qtbot, harness):
    panel = harness.panel()
    finished_job(harness, panel)
    qtbot.waitUntil(lambda: len(panel.view.chart.series["train_loss"]) > 0, timeout=10_000)
    assert not panel.view.pause_button.isVisible()  # Nebius cannot pause
    chats: list[tuple[str, str]] = []
    panel.chat_with_model.connect(lambda profile, name: chats.append((profile, name)))
    panel.view.chat_button.click()
    qtbot.waitUntil(lambda: panel.serve_dialog is not None, timeout=10_000)
    dialog = panel.serve_dialog
    assert not dialog.warning.isVisible()  # billed per token: no per-minute warning
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(chats), timeout=15_000)
    (deployed,) = harness.server.requests_to("POST", "/v0/models")
    ((profile_id, name),) = chats  # the name Nebius gave the deployment
    assert profile_id == NEBIUS_ID and deployed.json["name"] in name
    assert not panel.banner.isVisible() and panel.serving == {}


def test_the_trained_adapter_downloads_into_the_archive(qtbot, harness):
    panel = harness.panel()
    job_id = finished_job(harness, panel)
    assert panel.view.download_button.isVisible()
    panel.view.download_button.click()
    dialog = panel.download_dialog
    qtbot.waitUntil(lambda: dialog.file is not None, timeout=15_000)
    folder = panel.archive.job_folder(NEBIUS_ID, job_id)
    assert dialog.file.parent == folder and any(dialog.file.iterdir())


def test_automatic_epochs_mean_nebiuss_own_three_whatever_the_dataset_size(qtbot, harness):
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:14]  # OpenAI's rule would say 7
    small = training_data(harness.catalog, b"".join(lines))
    wizard = harness.open_wizard(harness.panel(), small)
    epochs = wizard.choose_page.settings_form.epochs
    assert epochs.value() is None  # Automatic
    assert epochs.spin.value() == 3  # the number Nebius will use, greyed
    qtbot.waitUntil(lambda: wizard.choose_page.estimate is not None)
    assert wizard.choose_page.estimate.epochs == 3 and wizard.choose_page.estimate.epochs_auto

"""The whole flow at Together AI, through the real widgets and the fake Together server:
its own settings in the wizard, its price next to the app's estimate, a live loss chart, a
dedicated endpoint that is said to bill and stopped in one click, and the adapter download."""

from __future__ import annotations

import threading

import pytest

from desktop.api.backends.together import BILLING_WARNING, TogetherBackend
from desktop.api.client import build_client
from desktop.core.training import ParameterRole
from desktop.ui.jobs.result_actions import ServingLedger
from desktop.ui.jobs.train_wizard import PAGE_REVIEW
from tests.ui.test_jobs_helpers import jobs_harness

pytestmark = pytest.mark.gui

TOGETHER_ID = "together-main"


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path, flavor="together") as harness:
        yield harness


def test_the_wizard_shows_togethers_own_settings(harness):
    wizard = harness.open_wizard(harness.panel())
    form = wizard.choose_page.settings_form.parameter_form
    names = [field.spec.name for field in form.fields()]
    assert names[:5] == ["training_type", "n_epochs", "learning_rate", "batch_size", "n_evals"]
    assert form.field("training_type").value() == "Lora"
    assert form.field("n_epochs").auto is None  # Together wants a number of epochs
    assert wizard.choose_page.settings_form.epochs is form.field("n_epochs")
    assert form.field_for(ParameterRole.LEARNING_RATE).auto.isChecked()
    assert "0.00001" in form.field("learning_rate").toolTip()
    assert not form.field("lora_r").isVisible()  # folded under More settings
    form.more_button.click()
    assert form.field("lora_r").isVisible()
    assert (
        not wizard.choose_page.settings_form.wandb_box.isVisible()
    )  # Together wants the W&B key in each job
    assert form.field("dpo_beta") is None  # chat examples: no preference setting
    assert "approximately" in wizard.choose_page.chooser.model_note.text()
    assert wizard.choose_page.estimate_line.text().startswith("about ")
    assert (
        "Together AI quotes the price on the next page" in wizard.choose_page.estimate_line.text()
    )


def test_togethers_price_is_shown_beside_the_estimate_and_the_file_is_sent_once(qtbot, harness):
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.settings_form.epochs.set_value(2)
    wizard.go_to(PAGE_REVIEW)
    frame = wizard.review_page.tile_frames["price"]
    assert (
        frame.isVisible()
        and wizard.review_page.tile_captions["price"].text() == "Together AI's price"
    )
    assert wizard.review_page.price_button.text() == "Ask Together AI"
    assert "uploading is free" in wizard.review_page.reassurance.text()
    assert harness.server.requests_to("POST", "/files/upload") == []  # nothing sent yet
    assert "approximate" in wizard.review_page.tiles["tokens"][1].text()

    wizard.review_page.price_button.click()
    qtbot.waitUntil(lambda: wizard.review_page.current_price() is not None, timeout=10_000)
    price = wizard.review_page.current_price()
    value, detail = wizard.review_page.tiles["price"]
    assert value.text() == harness.settings.format_money(price.total_usd)
    assert "the figure to trust" in detail.text()
    assert "Within your account's limit of $100.00." in detail.text()
    assert wizard.review_page.start_button.text().endswith("Together AI's price)")
    estimate = harness.server.requests_to("POST", "/fine-tunes/estimate-price")[0].json
    assert estimate["n_epochs"] == 2

    wizard.choose_page.settings_form.epochs.set_value(
        3
    )  # another job: the old price no longer applies
    qtbot.waitUntil(lambda: not wizard.choose_page.estimating, timeout=10_000)
    assert (
        wizard.review_page.current_price() is None
        and wizard.review_page.tiles["price"][0].text() == "—"
    )
    wizard.choose_page.settings_form.epochs.set_value(2)
    harness.send(wizard)
    assert wizard.send_page.started is not None, wizard.send_page.failure
    assert len(harness.server.requests_to("POST", "/files/upload")) == 2  # training, validation
    body = harness.server.requests_to("POST", "/fine-tunes")[0].json
    assert body["n_epochs"] == 2 and body["training_type"]["type"] == "Lora"


def test_a_price_over_the_accounts_limit_stops_the_job_before_it_is_sent(qtbot, harness):
    harness.server.state.user_limit = 0.01
    wizard = harness.open_wizard(harness.panel())
    wizard.go_to(PAGE_REVIEW)
    wizard.review_page.price_button.click()
    qtbot.waitUntil(lambda: wizard.review_page.current_price() is not None, timeout=10_000)
    assert not wizard.review_page.current_price().allowed
    assert "would not start this job" in wizard.review_page.tiles["price"][1].text()
    assert "your limit is $0.01" in wizard.review_page.review_blocking.text()
    assert not wizard.review_page.start_button.isEnabled()


def finished_job(harness, panel) -> str:
    job_id = harness.start_job(panel)
    harness.server.finish_job(job_id)
    harness.qtbot.waitUntil(
        lambda: (
            panel.view.record is not None and panel.view.record.summary.status.value == "succeeded"
        ),
        timeout=15_000,
    )
    return job_id


def test_a_running_job_charts_togethers_loss_per_step(qtbot, harness):
    panel = harness.panel()
    job_id = harness.start_job(panel)
    harness.server.advance(2 + 12)  # pending, queued, then some steps
    qtbot.waitUntil(lambda: len(panel.view.chart.series["train_loss"]) >= 5, timeout=10_000)
    assert panel.view.record.summary.status.value == "running"
    assert not panel.view.pause_button.isEnabled()  # Together cannot pause
    assert panel.view.cancel_button.isEnabled()
    harness.server.finish_job(job_id)
    qtbot.waitUntil(lambda: panel.view.record.summary.status.value == "succeeded", timeout=10_000)
    assert len(panel.view.chart.series["train_loss"]) > 5
    assert panel.view.download_button.isVisible() and panel.view.download_button.isEnabled()


def test_chatting_starts_an_endpoint_only_after_saying_it_bills_and_stops_it(qtbot, harness):
    panel = harness.panel()
    finished_job(harness, panel)
    model = panel.view.record.summary.fine_tuned_model
    chats: list[tuple[str, str]] = []
    panel.chat_with_model.connect(lambda profile, name: chats.append((profile, name)))
    panel.view.chat_button.click()
    qtbot.waitUntil(lambda: panel.serve_dialog is not None, timeout=10_000)
    dialog = panel.serve_dialog
    assert dialog.warning.isVisible() and BILLING_WARNING in dialog.warning.text()
    assert harness.server.state.endpoints == {}  # nothing starts before the user says so

    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(chats), timeout=15_000)
    (endpoint,) = harness.server.state.endpoints.values()
    assert endpoint.model == model and endpoint.state == "STARTED"
    assert chats == [(TOGETHER_ID, endpoint.name)]
    assert not dialog.isVisible()
    assert panel.banner.isVisible() and BILLING_WARNING in panel.banner.texts()[0]
    (noted,) = ServingLedger(panel.archive.root).load()
    assert (noted.profile_id, noted.name, noted.model) == (TOGETHER_ID, endpoint.name, model)

    panel.view.chat_button.click()  # asking again uses the running endpoint
    qtbot.waitUntil(lambda: len(chats) == 2, timeout=10_000)
    assert chats[1] == chats[0] and len(harness.server.state.endpoints) == 1

    panel.banner.stop_button(TOGETHER_ID, endpoint.name).click()
    qtbot.waitUntil(lambda: not panel.banner.isVisible(), timeout=10_000)
    assert harness.server.state.endpoints == {}
    assert harness.server.requests_to("DELETE", "/endpoints/*")
    assert ServingLedger(panel.archive.root).load() == []


def test_stopping_while_the_endpoint_starts_shuts_it_down(qtbot, harness):
    gate = threading.Event()

    def held_back(profile):  # each wait of the endpoint's start holds until the test says
        def wait(seconds: float) -> None:
            harness.server.advance(seconds)
            gate.wait(10)

        client = build_client(profile, harness.keys.get(profile.id))
        return TogetherBackend(profile, client, sleep=wait)

    panel = harness.panel()
    finished_job(harness, panel)
    panel.backend_factory = held_back
    panel.view.chat_button.click()
    qtbot.waitUntil(lambda: panel.serve_dialog is not None, timeout=10_000)
    dialog = panel.serve_dialog
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(harness.server.state.endpoints), timeout=10_000)
    dialog.cancel_button.click()  # "Stop"
    gate.set()
    qtbot.waitUntil(lambda: "Deploying was stopped." in dialog.error.text(), timeout=10_000)
    assert harness.server.state.endpoints == {}
    assert not panel.banner.isVisible() and panel.serving == {}
    assert dialog.start_button.text() == "Try again"


def test_the_adapter_downloads_into_the_jobs_archive_folder(qtbot, harness):
    panel = harness.panel()
    job_id = finished_job(harness, panel)
    panel.view.download_button.click()
    dialog = panel.download_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.file is not None, timeout=15_000)
    folder = panel.archive.job_folder(TOGETHER_ID, job_id)
    assert dialog.file.parent == folder and dialog.file.stat().st_size > 0
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
    assert dialog.progress.value() == 1000 and dialog.folder_button.isVisible()
    assert "Saved as" in dialog.stage.text()


def test_a_checkpoint_together_cannot_serve_says_how_to_get_it(qtbot, harness):
    panel = harness.panel()
    finished_job(harness, panel)
    said: list[str] = []
    panel.view.show_error = said.append
    panel.chat_with("ft-some-earlier-checkpoint:10")
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    assert "together fine-tuning download ft-some-earlier-checkpoint:10" in said[0]
    assert panel.serve_dialog is None and harness.server.state.endpoints == {}

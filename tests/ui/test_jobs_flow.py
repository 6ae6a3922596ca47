"""The Jobs screen against the fake provider: train, follow, act, survive restarts and faults."""

from __future__ import annotations

import json
import zipfile

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication

from desktop.core.archive import JobArchive
from desktop.core.interchange import ExportFormat, export_split
from desktop.core.jobs import SUFFIX_KEY, JobStatus
from desktop.core.smoothing import debiased_ema
from desktop.core.training import REQUEST_KEY
from desktop.ui.common.ops import run_op
from desktop.ui.jobs.train_wizard import PAGE_SEND
from tests.fake_openai.samples import chat_jsonl
from tests.ui.test_jobs_helpers import (
    BASE,
    PROFILE_ID,
    SAMPLE,
    destroy,
    jobs_harness,
    training_data,
)

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path) as harness:
        yield harness


def view_status(panel) -> str | None:
    record = panel.view.record
    return record.summary.status.value if record is not None else None


def test_a_worker_finishing_as_the_panel_goes_is_let_go_quietly(qtbot, harness):
    panel = harness.panel()
    harness.panels.remove(panel)
    panel.shutdown()
    run_op(panel, lambda _context: None, name="nothing", success=lambda _result: None)
    assert QThreadPool.globalInstance().waitForDone(5000)  # its "finished" is still queued
    destroy(panel)
    qtbot.wait(50)  # "finished" arrives with the panel gone: nothing may touch it


def test_training_uploads_the_split_and_creates_one_tagged_job(qtbot, harness):
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    wizard.choose_page.settings_form.suffix.setText("support-bot")
    wizard.choose_page.settings_form.fixed_seed.setChecked(True)
    wizard.choose_page.settings_form.seed.setValue(7)
    harness.send(wizard)

    assert wizard.send_page.started is not None
    server = harness.server
    uploads = server.requests_to("POST", "/files")
    assert [r.form["purpose"] for r in uploads] == ["fine-tune", "fine-tune"]
    assert server.requests_to("POST", "/uploads") == []
    values = list(wizard.choose_page.data.examples)
    train, held = export_split(values, 10, 42, ExportFormat.OPENAI_CHAT)
    stored = sorted(server.state.files.values(), key=lambda f: f.filename)
    assert [f.content for f in stored] == [train.data, held.data]
    (create,) = server.requests_to("POST", "/fine_tuning/jobs")
    body = create.json
    assert body["model"] == BASE and body["suffix"] == "support-bot" and body["seed"] == 7
    assert body["metadata"][REQUEST_KEY] == wizard.send_page.plan.request_id
    assert body["metadata"][SUFFIX_KEY] == "support-bot"
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {}}}
    # the panel follows the new job at once
    job_id = wizard.send_page.started.summary.id
    qtbot.waitUntil(lambda: panel.view.record is not None and panel.view.record.loaded)
    assert panel.view.record.summary.id == job_id
    assert panel.view.title.text().startswith("support-bot · ")
    assert panel.table_model.job_at(0).id == job_id
    assert not wizard.isVisible()


def test_the_uploads_api_is_used_above_the_limit_with_progress(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path, upload_parts=2000) as harness:
        panel = harness.panel()
        wizard = harness.open_wizard(panel)
        seen: list[int] = []
        wizard.send_page.progress.valueChanged.connect(seen.append)
        harness.send(wizard)
        assert wizard.send_page.started is not None
        server = harness.server
        assert server.requests_to("POST", "/files") == []
        assert len(server.requests_to("POST", "/uploads")) == 2  # training and validation
        assert len(server.requests_to("POST", "/uploads/*/parts")) > 4
        assert seen == sorted(seen) and seen[-1] == 1000 and len(seen) > 4


def test_stopping_an_upload_creates_nothing(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path, upload_parts=2000) as harness:
        harness.server.inject("slow", method="POST", path="/uploads/*/parts", times=None, delay=0.2)
        panel = harness.panel()
        wizard = harness.open_wizard(panel)
        wizard.go_to(1)
        wizard.review_page.start_button.click()
        qtbot.waitUntil(lambda: len(harness.server.requests_to("POST", "/uploads/*/parts")) >= 1)
        assert wizard.send_page.stop_button.isEnabled()
        wizard.send_page.stop_button.click()
        qtbot.waitUntil(lambda: not wizard.sending, timeout=10_000)
        assert wizard.send_page.send_title.text() == "Upload stopped"
        assert wizard.pages.currentIndex() == PAGE_SEND
        assert harness.server.state.jobs == {}
        (upload,) = harness.server.state.uploads.values()
        assert upload.status == "cancelled"


def test_an_identical_file_is_not_uploaded_twice(qtbot, harness):
    panel = harness.panel()
    first = harness.open_wizard(panel)
    harness.send(first)
    assert len(harness.server.requests_to("POST", "/files")) == 2
    second = harness.open_wizard(panel)
    harness.send(second)
    assert second.send_page.started is not None
    assert len(harness.server.requests_to("POST", "/files")) == 2  # both files reused
    assert len(harness.server.requests_to("GET", "/files/*")) == 2  # each checked once
    assert any("already has these training examples" in s for s in second.send_page.stage_log)
    assert not any("already has" in s for s in first.send_page.stage_log)
    assert len(harness.server.state.jobs) == 2
    first_job = harness.server.job(first.send_page.started.summary.id)
    second_job = harness.server.job(second.send_page.started.summary.id)
    assert first_job.training_file == second_job.training_file


def test_a_job_is_followed_to_success_with_curves_checkpoints_and_results(qtbot, harness):
    panel = harness.panel()
    finished = []
    panel.job_finished.connect(lambda job_id, status: finished.append((job_id, status)))
    chats: list[tuple[str, str]] = []
    panel.chat_with_model.connect(lambda profile_id, model: chats.append((profile_id, model)))
    job_id = harness.start_job(panel)
    server = harness.server

    server.advance(2 + 50)  # checked, queued, then 50 of 108 steps
    # a poll may see the steps before the new status; the next one brings the checkpoint
    qtbot.waitUntil(
        lambda: (
            len(panel.view.chart.series["train_loss"]) == 50
            and view_status(panel) == "running"
            and panel.view.checkpoints_model.rowCount() == 1
        ),
        timeout=10_000,
    )
    chart = panel.view.chart
    raw = [m["train_loss"] for m in server.job(job_id).metrics]
    assert list(chart.raw_items["train_loss"].yData) == raw
    assert list(chart.curve_items["train_loss"].yData) == pytest.approx(
        list(debiased_ema(raw, 0.6))
    )
    assert list(chart.curve_items["train_loss"].xData) == list(range(1, 51))
    assert len(chart.curve_items["valid_loss"].xData) == 50
    assert list(chart.curve_items["full_valid_loss"].xData) == [36.0]
    # 108 steps in 3 epochs: the boundary reached is marked on both plots, the next is not yet
    assert [line.value() for _plot, line in chart._epoch_lines] == [36.5, 36.5]
    assert chart.curve_items["train_mean_token_accuracy"].yData[-1] > 0.5
    assert panel.view.checkpoints_model.rowCount() == 1
    assert view_status(panel) == "running"
    assert panel.view.pause_button.isEnabled() and panel.view.cancel_button.isEnabled()
    assert panel.view.timeline.labels[2].text() == "Training"
    assert "in " in panel.view.facts["finish"].text()
    assert panel.view.events_model.rowCount() == len(server.job(job_id).events)
    newest = panel.view.events_model.event_at(0)[2]
    assert newest.startswith("Step 50/108")

    server.advance(100)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert finished == [(job_id, "succeeded")]
    qtbot.waitUntil(lambda: panel.monitors[(PROFILE_ID, job_id)].following is False)
    view = panel.view
    assert view_status(panel) == "succeeded"
    model = server.job(job_id).fine_tuned_model
    assert view.model_name.text() == model and view.copy_button.isEnabled()
    view.copy_model_name()
    assert QApplication.clipboard().text() == model
    assert view.facts["tokens"].text() == f"{server.job(job_id).trained_tokens:,}"
    assert view.facts["cost"].text().startswith("$")
    assert "Training finished" in panel.status_line.text()
    assert view.checkpoints_model.rowCount() == 3
    view.select_checkpoint(0)
    assert view.checkpoint_chat_button.isEnabled()
    view.checkpoint_chat_button.click()
    qtbot.waitUntil(lambda: len(chats) == 1, timeout=10_000)
    view.chat_button.click()
    qtbot.waitUntil(lambda: len(chats) == 2, timeout=10_000)
    assert chats == [(PROFILE_ID, f"{model}:ckpt-step-108"), (PROFILE_ID, model)]
    advice = view.advice.texts()
    assert any("only 36 examples" in text for text in advice)
    assert any(text.startswith("Training looks healthy") for text in advice)
    archived = harness.archive().load(PROFILE_ID, job_id)
    assert len(archived.events) == len(server.job(job_id).events)
    assert len(archived.checkpoints) == 3 and len(archived.result_files) == 1
    assert archived.dataset["training"].is_file() and archived.dataset["validation"].is_file()
    assert len(archived.metrics["train_loss"]) == 108


def test_pause_resume_and_a_confirmed_cancel(qtbot, harness):
    panel = harness.panel()
    finished = []
    panel.job_finished.connect(lambda job_id, status: finished.append(status))
    job_id = harness.start_job(panel)
    harness.server.advance(2 + 5)
    qtbot.waitUntil(lambda: view_status(panel) == "running", timeout=10_000)
    view = panel.view

    view.pause_button.click()
    qtbot.waitUntil(lambda: view_status(panel) == "paused", timeout=10_000)
    assert harness.server.job(job_id).status == "paused"
    assert view.resume_button.isVisible() and view.resume_button.isEnabled()
    assert not view.pause_button.isVisible()
    assert view.timeline.labels[2].text() == "Training (paused)"

    view.resume_button.click()
    qtbot.waitUntil(lambda: view_status(panel) == "running", timeout=10_000)

    questions: list[str] = []
    view.confirm = lambda _title, text: questions.append(text) or False
    view.cancel_button.click()
    assert len(questions) == 1 and "cannot be resumed" in questions[0]
    assert harness.server.requests_to("POST", "/fine_tuning/jobs/*/cancel") == []

    view.confirm = lambda _title, _text: True
    view.cancel_button.click()
    qtbot.waitUntil(lambda: finished == ["cancelled"], timeout=10_000)
    assert harness.server.job(job_id).status == "cancelled"
    assert not view.cancel_button.isEnabled() and not view.pause_button.isEnabled()
    assert view.timeline.labels[3].text() == "Cancelled"
    # Nothing promises what a cancelled job will never bring; the suffix chosen stays.
    assert view.facts["tokens"].text() == "—"
    assert view.model_name.text() == "None: the job did not finish"
    qtbot.waitUntil(lambda: view.details.rowCount() > 0, timeout=10_000)
    label, field = view.details.ItemRole.LabelRole, view.details.ItemRole.FieldRole
    shown = {}
    for row in range(view.details.rowCount()):
        caption, value = view.details.itemAt(row, label), view.details.itemAt(row, field)
        if caption is not None and value is not None:
            shown[caption.widget().text()] = value.widget().text()
    assert shown["Suffix"] == "support-bot"


def test_monitoring_resumes_after_a_restart(qtbot, harness):
    first = harness.panel()
    job_id = harness.start_job(first)
    harness.server.advance(2 + 10)
    qtbot.waitUntil(lambda: len(first.view.chart.series["train_loss"]) == 10, timeout=10_000)
    first.shutdown()  # the app quits while the job runs
    assert QThreadPool.globalInstance().waitForDone(5000)
    assert not first.monitors[(PROFILE_ID, job_id)].following
    assert harness.archive().open_jobs()[0].id == job_id
    harness.server.advance(200)  # ...and the job finishes meanwhile

    second = harness.panel()  # a new start, on the same archive folder
    finished = []
    second.job_finished.connect(lambda done_id, status: finished.append((done_id, status)))
    assert second.resume_monitoring() == 1
    assert "Following 1 job" in second.status_line.text()
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert finished == [(job_id, "succeeded")]
    archived = JobArchive(harness.root / "archive").load(PROFILE_ID, job_id)
    assert archived.summary.status is JobStatus.SUCCEEDED
    ids = [e["id"] for e in archived.events]
    assert len(ids) == len(set(ids)) == len(harness.server.job(job_id).events)
    assert harness.archive().open_jobs() == []


@pytest.mark.parametrize(
    ("fault", "sentence", "hint"),
    [
        (
            "training_not_available",
            "This provider no longer accepts new fine-tuning jobs from your account.",
            "Train the same dataset with another provider",
        ),
        (
            "insufficient_quota",
            "The account has run out of credit or reached its spending limit.",
            "billing page",
        ),
    ],
)
def test_refusals_are_told_in_one_plain_sentence(qtbot, harness, fault, sentence, hint):
    harness.server.inject(fault, method="POST", path="/fine_tuning/jobs")
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    harness.send(wizard)
    assert wizard.send_page.started is None and wizard.send_page.failure is not None
    assert wizard.send_page.failure.message == sentence
    text = wizard.send_page.error_box.text()
    assert sentence in text and hint in text and "The provider said:" in text
    assert (
        wizard.send_page.change_button.isVisible() and not wizard.send_page.retry_button.isVisible()
    )
    assert harness.server.state.jobs == {}
    assert len(harness.server.requests_to("POST", "/fine_tuning/jobs")) == 1
    wizard.send_page.change_button.click()
    assert wizard.pages.currentIndex() == 0


def test_a_lost_create_answer_still_gives_exactly_one_job(qtbot, harness):
    harness.server.inject("drop", method="POST", path="/fine_tuning/jobs")
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    harness.send(wizard)
    assert wizard.send_page.started is not None, wizard.send_page.failure
    assert list(harness.server.state.jobs) == [wizard.send_page.started.summary.id]
    assert len(harness.server.requests_to("POST", "/fine_tuning/jobs")) == 1


def test_polling_recovers_from_a_dropped_connection(qtbot, harness):
    panel = harness.panel()
    job_id = harness.start_job(panel)
    harness.server.advance(2 + 3)
    qtbot.waitUntil(lambda: len(panel.view.chart.series["train_loss"]) == 3, timeout=10_000)
    harness.server.inject("drop", method="GET", path="/fine_tuning/jobs/*/events", times=2)
    harness.server.advance(3)
    qtbot.waitUntil(lambda: panel.view.problem.isVisible(), timeout=10_000)
    assert panel.view.problem.text().startswith("Could not update this job: The provider")
    qtbot.waitUntil(lambda: len(panel.view.chart.series["train_loss"]) == 6, timeout=10_000)
    assert not panel.view.problem.isVisible()
    events = harness.archive().load(PROFILE_ID, job_id).events
    assert len(events) == len({e["id"] for e in events}) == len(harness.server.job(job_id).events)


def test_blocking_findings_keep_the_examples_on_this_computer(qtbot, harness):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[2])
    broken["messages"] = [m for m in broken["messages"] if m["role"] != "assistant"]
    lines[2] = json.dumps(broken)
    data = training_data(harness.catalog, ("\n".join(lines) + "\n").encode())
    assert not data.analysis.ready
    panel = harness.panel()
    wizard = harness.open_wizard(panel, data)
    assert wizard.choose_page.blocking_note.isVisible()
    assert "1 problem the provider would reject; fix it in the Dataset tab" in (
        wizard.choose_page.blocking_note.text()
    )
    assert "Line 3" in wizard.choose_page.blocking_note.text()
    wizard.go_to(1)
    assert not wizard.review_page.start_button.isEnabled()
    assert "Line 3" in wizard.review_page.review_blocking.text()
    wizard.start()  # called directly too, nothing leaves the computer
    assert not wizard.sending and wizard.pages.currentIndex() == 1
    assert harness.server.requests_to("POST", "/files") == []
    assert harness.server.requests_to("POST", "/fine_tuning/jobs") == []


def test_jobs_from_elsewhere_are_paged_archived_and_exported(qtbot, harness, tmp_path):
    server = harness.server
    file_id = server.add_file("elsewhere.jsonl", chat_jsonl(12))
    for _ in range(23):
        server.state.create_job({"model": BASE, "training_file": file_id})
    other = JobArchive(harness.root / "archive")
    other.save_job("old-azure", {"id": "ftjob-old", "status": "succeeded", "model": BASE})
    panel = harness.panel()
    qtbot.waitUntil(lambda: panel.table_model.rowCount() == 20, timeout=10_000)
    assert panel.load_more_button.isVisible()
    # The rows arrive a moment before the listing ends and the button is enabled again;
    # a click on the disabled button in between does nothing, as for a user.
    qtbot.waitUntil(panel.load_more_button.isEnabled, timeout=10_000)
    panel.load_more_button.click()
    qtbot.waitUntil(lambda: panel.table_model.rowCount() == 23, timeout=10_000)
    assert not panel.load_more_button.isVisible()
    assert len(harness.archive().list_jobs(PROFILE_ID)) == 23
    qtbot.waitUntil(lambda: "following 23" in panel.status_line.text(), timeout=10_000)

    labels = [panel.source_combo.itemText(i) for i in range(panel.source_combo.count())]
    assert labels == ["OpenAI (active)", "Archive: old-azure"]
    panel.select_source("old-azure")
    assert [j.id for j in panel.table_model.jobs()] == ["ftjob-old"]
    qtbot.waitUntil(lambda: panel.view.record is not None and panel.view.record.loaded)
    assert not panel.view.cancel_button.isEnabled()
    target = tmp_path / "exports" / "old.zip"
    panel.view.choose_save_path = lambda *_args: target
    panel.view.export_button.click()
    qtbot.waitUntil(lambda: str(target) in panel.status_line.text(), timeout=10_000)
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert "ftjob-old/job.json" in names and "ftjob-old/README.txt" in names


def test_another_job_can_be_drawn_for_comparison(qtbot, harness):
    panel = harness.panel()
    first = harness.start_job(panel)
    harness.server.advance(2 + 200)
    qtbot.waitUntil(lambda: view_status(panel) == "succeeded", timeout=10_000)
    second = harness.start_job(panel)
    qtbot.waitUntil(lambda: panel.view.record.summary.id == second)
    actions = panel.view.compare_menu.actions()
    assert [a.data() for a in actions] == [f"{PROFILE_ID}/{first}"]
    actions[0].setChecked(True)
    chart = panel.view.chart
    qtbot.waitUntil(lambda: chart.overlay_keys() == [f"{PROFILE_ID}/{first}"], timeout=10_000)
    overlay = chart._overlays[f"{PROFILE_ID}/{first}"]
    assert len(overlay.loss_item.xData) == 108
    assert len(overlay.accuracy_item.xData) == 108
    actions[0].setChecked(False)
    assert chart.overlay_keys() == []


def test_the_table_shows_times_tokens_cost_and_model(qtbot, harness):
    panel = harness.panel()
    job_id = harness.start_job(panel)
    harness.server.advance(2 + 200)
    qtbot.waitUntil(lambda: view_status(panel) == "succeeded", timeout=10_000)
    model = panel.table_model
    row = model.row_of(job_id)
    cells = [model.index(row, c).data() for c in range(model.columnCount())]
    job = harness.server.job(job_id)
    assert cells[0].startswith("support-bot · ")
    assert cells[1] == "Finished"
    assert cells[2] == BASE
    assert cells[4] == "1 min"  # 110 fake seconds from creation to the end
    assert cells[6] == f"{job.trained_tokens:,}"
    assert cells[7] == harness.settings.format_money(job.trained_tokens * 5.0 / 1_000_000)
    assert cells[8] == job.fine_tuned_model
    status_tip = model.index(row, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert status_tip == JobStatus.SUCCEEDED.sentence

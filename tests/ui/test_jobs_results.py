"""Using a trained model from the Jobs tab: chat the way its provider allows, stop what bills
(also when the app quits, and after a restart), download what can be downloaded."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QTimer

from desktop.api.profiles import (
    AZURE_CAPABILITIES,
    COMPATIBLE_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
)
from desktop.ui.jobs.jobs_panel import QuitGuard
from desktop.ui.jobs.result_actions import Serving, ServingLedger
from tests.ui.test_jobs_helpers import PROFILE_ID, destroy, jobs_harness

pytestmark = pytest.mark.gui

WARNING = "Billed for every minute it is up."


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path) as harness:
        yield harness


def finished_job(harness, panel) -> str:
    """Train through the wizard and let the fake provider finish the job."""
    job_id = harness.start_job(panel)
    harness.server.advance(1000)
    harness.qtbot.waitUntil(
        lambda: (
            panel.view.record is not None and panel.view.record.summary.status.value == "succeeded"
        ),
        timeout=10_000,
    )
    return job_id


def test_a_model_that_answers_by_name_opens_with_its_own_jobs_profile(qtbot, harness):
    panel = harness.panel()
    finished_job(harness, panel)
    harness.profiles.add(  # another profile becomes the active one meanwhile
        ProviderProfile(
            id="elsewhere",
            display_name="Elsewhere",
            kind=ProviderKind.OPENAI,
            base_url=harness.server.base_url,
        ),
        make_active=True,
    )
    chats: list[tuple[str, str]] = []
    panel.chat_with_model.connect(lambda profile, model: chats.append((profile, model)))
    view = panel.view
    assert view.chat_button.isEnabled() and not view.download_button.isVisible()
    view.chat_button.click()
    qtbot.waitUntil(lambda: bool(chats), timeout=10_000)
    assert chats == [(PROFILE_ID, view.record.summary.fine_tuned_model)]
    assert panel.serve_dialog is None and panel.deploy_dialog is None


def test_an_azure_model_shows_the_deployment_steps_then_chats_by_the_name_given(qtbot, harness):
    harness.profiles.add(
        ProviderProfile(
            id="azure",
            display_name="Azure OpenAI (res)",
            kind=ProviderKind.AZURE,
            base_url=harness.server.azure_base_url,
            capabilities=AZURE_CAPABILITIES,
        ),
        make_active=True,
    )
    harness.keys.set("azure", harness.server.api_key)
    panel = harness.panel()
    finished_job(harness, panel)
    assert "deployed in its own portal" in panel.view.chat_button.toolTip()
    chats: list[tuple[str, str]] = []
    panel.chat_with_model.connect(lambda profile, model: chats.append((profile, model)))
    panel.view.chat_button.click()
    qtbot.waitUntil(lambda: panel.deploy_dialog is not None, timeout=10_000)
    dialog = panel.deploy_dialog
    steps = dialog.steps.text()
    assert "Microsoft Entra" in steps and "az cognitiveservices account deployment" in steps
    assert panel.view.record.summary.fine_tuned_model in steps
    assert not dialog.chat_button.isEnabled()
    dialog.name_edit.setText("  support-bot  ")
    dialog.chat_button.click()
    assert chats == [("azure", "support-bot")]
    assert not dialog.isVisible()


def serving(name: str = "endpoint-1") -> Serving:
    return Serving(PROFILE_ID, name, "ft:gpt-4.1-mini:org:bot:1", WARNING)


def test_what_bills_is_remembered_across_a_restart_and_stopped_in_one_click(qtbot, harness):
    archive = harness.archive()
    ServingLedger(archive.root).add(serving())  # left running when the app last closed
    panel = harness.panel()
    shown: list[list[Serving]] = []
    panel.serving_changed.connect(shown.append)
    panel.resume_monitoring()
    qtbot.waitUntil(lambda: panel.banner.isVisible(), timeout=10_000)
    (text,) = panel.banner.texts()
    assert "ft:gpt-4.1-mini:org:bot:1" in text and WARNING in text
    assert "costs money while it runs" in text
    assert shown[-1] == [serving()]

    panel.banner.stop_button(PROFILE_ID, "endpoint-1").click()
    qtbot.waitUntil(lambda: not panel.banner.isVisible(), timeout=10_000)
    assert panel.serving == {} and shown[-1] == []
    assert ServingLedger(archive.root).load() == []


def test_the_ledger_survives_a_damaged_file_and_keeps_entries_apart(tmp_path):
    ledger = ServingLedger(tmp_path)
    ledger.add(serving("a"))
    ledger.add(serving("b"))
    ledger.add(serving("a"))  # the same endpoint noted twice is one entry
    assert [s.name for s in ledger.load()] == ["b", "a"]
    ledger.remove(PROFILE_ID, "b")
    assert [s.name for s in ledger.load()] == ["a"]
    assert json.loads(ledger.path.read_text())["serving"][0]["warning"] == WARNING
    ledger.path.write_text("{not json")
    assert ledger.load() == []


@pytest.mark.parametrize("answer", ["stop", "keep", "cancel"])
def test_quitting_offers_to_stop_what_still_bills(qtbot, harness, answer):
    archive = harness.archive()
    ServingLedger(archive.root).add(serving())
    panel = harness.panel()
    panel.resume_monitoring()
    qtbot.waitUntil(lambda: panel.banner.isVisible(), timeout=10_000)
    asked: list[list[Serving]] = []
    panel.ask_about_serving = lambda entries: asked.append(entries) or answer
    window = harness.panel()  # stands in for the main window being closed
    harness.panels.remove(window)
    window.installEventFilter(QuitGuard(panel, window))
    closed = window.close()
    assert asked == [[serving()]]
    assert closed is (answer == "keep")  # "stop": the window closes once it has stopped
    if answer == "stop":
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    remaining = ServingLedger(archive.root).load()
    if answer == "stop":
        assert remaining == [] and panel.serving == {}
    else:
        assert remaining == [serving()] and not panel.banner.isHidden()
    if answer == "keep":
        assert window.close()  # asked once: keeping it running was the answer
        assert len(asked) == 1
    window.shutdown()
    destroy(window)


def test_the_close_returns_at_once_and_the_window_closes_once_the_stop_ended(qtbot, harness):
    archive = harness.archive()
    ServingLedger(archive.root).add(serving())
    panel = harness.panel()
    panel.resume_monitoring()
    qtbot.waitUntil(lambda: panel.banner.isVisible(), timeout=10_000)
    panel.ask_about_serving = lambda entries: "stop"
    window = harness.panel()  # stands in for the main window being closed
    harness.panels.remove(window)
    window.installEventFilter(QuitGuard(panel, window))
    ran: list[bool] = []
    QTimer.singleShot(0, lambda: ran.append(True))
    assert window.close() is False  # refused for now: the endpoint is still being stopped
    assert ran == []  # and no event loop ran inside the close
    assert panel.running.stopping and panel.quit_check.ending
    assert window.isVisible() and not window.isEnabled()  # no new work meanwhile
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert panel.serving == {} and ServingLedger(archive.root).load() == []
    assert window.isEnabled() and not panel.quit_check.ending
    assert window.close()  # settled: asked once
    window.shutdown()
    destroy(window)


def test_quitting_with_nothing_running_asks_nothing(harness):
    panel = harness.panel()
    panel.ask_about_serving = lambda entries: pytest.fail("nothing bills, nothing to ask")
    assert panel.before_quit()


def test_a_provider_that_cannot_pause_offers_only_cancel(qtbot, harness):
    harness.profiles.add(
        ProviderProfile(
            id="compatible",
            display_name="Compatible host",
            kind=ProviderKind.COMPATIBLE,
            base_url=harness.server.base_url,
            capabilities=COMPATIBLE_CAPABILITIES,
        ),
        make_active=True,
    )
    harness.keys.set("compatible", harness.server.api_key)
    panel = harness.panel()
    harness.start_job(panel)
    harness.server.advance(2 + 10)
    qtbot.waitUntil(lambda: panel.view.record.summary.status.value == "running", timeout=10_000)
    view = panel.view
    assert not view.pause_button.isVisible() and not view.pause_button.isEnabled()
    assert view.cancel_button.isEnabled()

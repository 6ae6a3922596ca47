"""The training wizard when the provider's answer to "create the job" is lost or cut off.

A job whose outcome is unknown is never sent again by the app: the wizard asks the user, in
plain words, whether to look again or send it again.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool

from desktop.api.errors import ErrorKind
from desktop.api.jobs_service import TransferOptions
from desktop.ui.jobs.train_wizard import PAGE_REVIEW
from tests.ui.test_jobs_helpers import PROFILE_ID, jobs_harness

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path) as harness:
        yield harness


def creates(harness) -> int:
    return len(harness.server.requests_to("POST", "/fine_tuning/jobs"))


def lose_the_answer(harness, appear_after: float) -> None:
    """The provider makes the job but the answer never comes, and it lists the job late."""
    harness.server.inject(
        "no_answer", method="POST", path="/fine_tuning/jobs", delay=0, appear_after=appear_after
    )


def test_an_unknown_outcome_is_asked_about_and_look_again_finds_the_job(qtbot, harness):
    lose_the_answer(harness, appear_after=120)
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    harness.send(wizard)
    assert wizard.send_page.started is None
    assert wizard.send_page.failure.kind is ErrorKind.UNKNOWN_OUTCOME
    assert creates(harness) == 1  # looked for, never sent again by itself
    assert wizard.send_page.send_title.text() == "Was the job started?"
    text = wizard.send_page.error_box.text()
    assert "not known whether the job was started" in text
    assert "look again, or send the job again?" in text
    assert wizard.send_page.look_button.isVisible() and wizard.send_page.retry_button.isVisible()
    assert wizard.send_page.retry_button.text() == "Send again"
    assert not wizard.send_page.change_button.isVisible()
    assert any("looking for the job" in line for line in wizard.send_page.stage_log)

    wizard.send_page.look_button.click()  # still not listed: asked again, nothing sent
    qtbot.waitUntil(lambda: not wizard.sending, timeout=10_000)
    assert wizard.send_page.failure.kind is ErrorKind.UNKNOWN_OUTCOME
    assert "still not in the provider's job list" in wizard.send_page.error_box.text()
    assert creates(harness) == 1

    harness.server.advance(150)  # now the provider lists it
    wizard.send_page.look_button.click()
    qtbot.waitUntil(lambda: wizard.send_page.started is not None, timeout=10_000)
    assert creates(harness) == 1
    job_id = wizard.send_page.started.summary.id
    assert list(harness.server.state.jobs) == [job_id]
    assert harness.archive().load(PROFILE_ID, job_id).summary.id == job_id
    qtbot.waitUntil(lambda: panel.select_job(job_id), timeout=10_000)


def test_sending_again_happens_only_when_the_user_says_so(qtbot, harness):
    lose_the_answer(harness, appear_after=3600)
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    harness.send(wizard)
    assert wizard.send_page.failure.kind is ErrorKind.UNKNOWN_OUTCOME and creates(harness) == 1
    wizard.send_page.retry_button.click()
    qtbot.waitUntil(lambda: wizard.send_page.started is not None, timeout=10_000)
    assert creates(harness) == 2
    first, second = harness.server.requests_to("POST", "/fine_tuning/jobs")
    assert first.json["metadata"] == second.json["metadata"]  # the same request, looked up first


def test_a_cut_off_answer_to_job_creation_is_a_started_job(qtbot, harness):
    harness.server.inject("malformed_json", method="POST", path="/fine_tuning/jobs")
    panel = harness.panel()
    wizard = harness.open_wizard(panel)
    harness.send(wizard)
    assert wizard.send_page.failure is None, wizard.send_page.failure
    assert wizard.send_page.started is not None
    assert list(harness.server.state.jobs) == [wizard.send_page.started.summary.id]
    assert creates(harness) == 1


def test_quitting_while_the_wizard_waits_to_look_again_ends_the_wait(qtbot, tmp_path):
    patient = TransferOptions(lookup_waits=(600.0,))
    with jobs_harness(qtbot, tmp_path, transfer=patient) as harness:
        lose_the_answer(harness, appear_after=3600)
        panel = harness.panel()
        wizard = harness.open_wizard(panel)
        wizard.go_to(PAGE_REVIEW)
        wizard.review_page.start_button.click()
        qtbot.waitUntil(
            lambda: any("looking for the job" in line for line in wizard.send_page.stage_log),
            timeout=10_000,
        )
        panel.shutdown()
        assert QThreadPool.globalInstance().waitForDone(5_000)  # not ten minutes
        qtbot.waitUntil(lambda: wizard.send_page.failure is not None, timeout=5_000)
        assert wizard.send_page.failure.kind is ErrorKind.UNKNOWN_OUTCOME
        assert creates(harness) == 1

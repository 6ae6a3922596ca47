"""Evaluation runs against the fake provider: estimate, scores, rate limits, cancel and resume."""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QThreadPool

from desktop.core.dataset import Dataset
from desktop.core.evaluation import (
    EvalCostEstimate,
    EvalRun,
    ModelCostEstimate,
    RunState,
    Thumb,
)
from desktop.core.jobs import JobSummary
from desktop.ui.chat.eval_panel import EvalPage
from desktop.ui.chat.eval_setup import describe_cost, documents_folder
from tests.ui.test_chat_helpers import (
    BASE,
    FINE_TUNED,
    PROFILE,
    QUESTIONS,
    SYSTEM,
    archive_job,
    harness_for,
    sample_examples,
)

pytestmark = pytest.mark.gui

REFERENCE = dict(QUESTIONS)


class Replies:
    """The fine-tune answers like the references, the base model differently; records when
    each request arrived (on the server's threads)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, model: str, messages) -> str:
        question = messages[-1]["content"]
        with self._lock:
            self.arrivals.append((time.monotonic(), question))
        if model == FINE_TUNED:
            return REFERENCE[question]
        return f"I am not sure about that: {question.lower()}"


@pytest.fixture
def replies():
    return Replies()


@pytest.fixture
def harness(qtbot, tmp_path, replies):
    with harness_for(qtbot, tmp_path, script=replies) as harness:
        page = harness.panel.evaluate
        harness.panel.tabs.setCurrentWidget(page)
        page.sample_size.setValue(len(QUESTIONS))
        page.picker_a.select(PROFILE, BASE)
        page.compare_box.setChecked(True)
        page.picker_b.select(PROFILE, FINE_TUNED)
        yield harness


def start(qtbot, page) -> None:
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)


def test_the_estimated_cost_is_shown_before_anything_is_sent(harness):
    page = harness.panel.evaluate
    page.update_estimate()

    text = page.estimate.text()
    assert "This sends 8 requests (4 examples to each of 2 models)." in text
    assert f"plus what {BASE} costs: the app does not know its price" in text
    assert "support-bot" in text and "tokens sent" in text
    assert harness.server.requests_to("POST", "/chat/completions") == []


def test_starting_asks_with_the_cost_before_any_request_is_sent(qtbot, harness):
    page = harness.panel.evaluate
    asked: list[tuple[str, int]] = []
    answer = False

    def ask(cost) -> bool:
        sent = len(harness.server.requests_to("POST", "/chat/completions"))
        asked.append((cost.question(), sent))
        return answer

    page.ask_to_start = ask
    start(qtbot, page)

    assert len(asked) == 1
    question, sent_before = asked[0]
    assert sent_before == 0
    assert question.startswith("This sends 8 requests (4 examples to each of 2 models).")
    assert f"• {BASE}: 4 requests, about " in question
    assert "cost cannot be estimated for this model" in question
    assert "Estimated cost: about $" in question and question.endswith("Start the evaluation?")
    assert page.run is None and not page.running
    assert harness.server.requests_to("POST", "/chat/completions") == []

    answer = True
    start(qtbot, page)
    qtbot.waitUntil(lambda: page.run is not None and not page.running, timeout=10_000)
    assert len(asked) == 2
    assert len(harness.server.requests_to("POST", "/chat/completions")) == 8


def test_declining_the_default_question_sends_nothing(qtbot, harness):
    page = harness.panel.evaluate
    harness.confirm_answer = False
    start(qtbot, page)
    assert page.run is None
    assert harness.server.requests_to("POST", "/chat/completions") == []


def test_a_model_price_nobody_knows_is_said_in_words():
    estimate = EvalCostEstimate((ModelCostEstimate(BASE, 1200, 300, None),))
    cost = describe_cost(estimate, [BASE], 12)
    assert cost.headline == "This sends 12 requests (12 examples to 1 model)."
    assert cost.total == (
        f"The cost cannot be estimated for {BASE}: the app does not know its price. "
        "The provider bills each request."
    )
    assert cost.lines == (
        f"{BASE}: 12 requests, about 1,200 tokens sent and 300 back (replies as long as the "
        "reference ones), cost cannot be estimated for this model",
    )


def test_compare_with_never_defaults_to_the_model_itself(qtbot, harness):
    fresh = EvalPage(harness.panel.services)
    qtbot.addWidget(fresh)
    qtbot.waitUntil(lambda: fresh.picker_a.current() is not None, timeout=5000)
    # Both lists start on the newest fine-tune: compare it with its base model.
    assert fresh.picker_a.current().model_id == FINE_TUNED
    assert fresh.compare_box.isChecked()
    assert [m.model_id for m in fresh.models()] == [FINE_TUNED, BASE]

    # A base model has no base: compare with nothing rather than with itself.
    fresh.picker_b.select(PROFILE, BASE)
    fresh.picker_a.select(PROFILE, BASE)
    assert not fresh.compare_box.isChecked()
    assert [m.model_id for m in fresh.models()] == [BASE]
    assert fresh.picker_b.isHidden()

    # Ticking "Compare with" then offers another model, never the same one.
    fresh.compare_box.setChecked(True)
    other = fresh.picker_b.current()
    assert other is not None and other.model_id != BASE
    assert fresh.picker_b.isVisibleTo(fresh)


def test_file_dialogs_open_beside_the_data_or_in_documents(qtbot, harness, tmp_path):
    page = harness.panel.evaluate
    page.show_run(EvalRun(page.selection().items, [BASE], label="four examples"))
    offered: list[Path] = []

    def choose(_parent, suggested: Path) -> None:
        offered.append(suggested)

    page.choose_csv_path = choose
    page.choose_jsonl_path = choose
    page.export_csv()
    assert offered[-1].parent == documents_folder() and offered[-1].is_absolute()
    assert offered[-1].name == f"evaluation-{page.run.id[:8]}.csv"

    dataset = tmp_path / "data" / "support.jsonl"
    dataset.parent.mkdir()
    page.dataset_path = lambda: dataset
    page.export_csv()
    assert offered[-1].parent == dataset.parent
    page.setup.choose_file()
    assert offered[-1] == dataset.parent

    validation = tmp_path / "held" / "validation.jsonl"
    validation.parent.mkdir()
    validation.write_text("")
    page.use_file(validation)
    page.export_csv()
    assert offered[-1].parent == validation.parent


def test_a_run_scores_every_answer_and_sums_up_each_model(qtbot, harness, tmp_path):
    page = harness.panel.evaluate
    start(qtbot, page)
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)

    run = page.run
    assert run.state is RunState.FINISHED and run.progress == (8, 8)
    base, tuned = page.summary_model.rows
    assert (tuned.exact_match_rate, tuned.mean_similarity) == (1.0, 1.0)
    assert base.exact_match_rate == 0.0 and base.mean_similarity < 0.5
    assert (tuned.wins, tuned.losses, tuned.win_rate) == (4, 0, 1.0)
    assert tuned.cost_usd is not None and base.cost_usd is None
    assert page.progress.format() == "8 of 8 answers"
    model = page.results_model
    assert model.data(model.index(0, 0)) == QUESTIONS[0][0]
    assert model.data(model.index(0, 6)) == "1.00 ✓ exact"
    sent = harness.server.requests_to("POST", "/chat/completions")
    assert all(r.json["temperature"] == 0.0 for r in sent)
    assert all(r.json["messages"][0] == {"role": "system", "content": SYSTEM} for r in sent)

    saved = harness.evaluations.load(run.id)
    assert saved.state is RunState.FINISHED
    assert saved.result("1", FINE_TUNED).reply == QUESTIONS[0][1]

    target = tmp_path / "export.csv"
    page.choose_csv_path = lambda _parent, _name: target
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 8
    assert {(r["model"], r["exact_match"]) for r in rows} == {(BASE, "no"), (FINE_TUNED, "yes")}


def test_a_cancelled_run_resumes_only_the_pending_pairs(qtbot, harness, replies):
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)
    page.concurrency.setValue(1)
    harness.server.hold(after=2)
    start(qtbot, page)
    qtbot.waitUntil(lambda: page.run.progress[0] == 2 and harness.server.waiting == 1)

    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert page.run.state is RunState.CANCELLED
    harness.server.release()
    qtbot.waitUntil(lambda: not page.running, timeout=5000)

    # The answer already on its way was paid for, so it is kept; one pair is left.
    assert page.run.progress == (3, 4)
    assert [p.item_id for p in page.run.pending_pairs()] == ["4"]
    assert page.resume_button.isEnabled()

    # Resume the saved run as after a restart: pick it from the saved runs.
    index = page.runs.findData(page.run.id)
    page.runs.setCurrentIndex(index)
    page.runs.activated.emit(index)
    assert harness.evaluations.load(page.run.id).state is RunState.CANCELLED
    replies.arrivals.clear()
    qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.running, timeout=5000)

    assert [question for _, question in replies.arrivals] == [QUESTIONS[3][0]]
    assert page.run.state is RunState.FINISHED and page.run.progress == (4, 4)


def test_closing_the_window_records_no_answer_still_on_its_way(qtbot, harness):
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)
    page.concurrency.setValue(1)
    harness.server.hold(after=2)
    start(qtbot, page)
    qtbot.waitUntil(lambda: page.run.progress[0] == 2 and harness.server.waiting == 1)

    harness.panel.cancel_work()
    harness.server.release()
    assert QThreadPool.globalInstance().waitForDone(5000)
    QCoreApplication.processEvents()  # delivers what the finished request sent, if anything

    assert page.run.progress == (2, 4)
    assert harness.evaluations.load(page.run.id).progress == (2, 4)


def test_rate_limits_wait_as_long_as_the_provider_asks(qtbot, harness, replies):
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)
    page.concurrency.setValue(1)
    harness.server.inject("rate_limit", path="/chat/completions", retry_after=0.4)
    notes: list[str] = []

    start(qtbot, page)
    page.runner.waiting.connect(notes.append)
    refused_at = time.monotonic()
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)

    assert page.run.progress == (4, 4)
    assert all(page.run.result(str(i), BASE).ok for i in range(1, 5))
    first_answer = replies.arrivals[0][0]
    assert first_answer - refused_at >= 0.35
    assert len(harness.server.requests_to("POST", "/chat/completions")) == 5
    assert notes and "slow down" in notes[0]


def test_running_out_of_credit_stops_the_run(qtbot, harness):
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)
    page.concurrency.setValue(1)
    harness.server.inject("insufficient_quota", path="/chat/completions")

    start(qtbot, page)
    qtbot.waitUntil(lambda: not page.running, timeout=5000)

    assert page.run.state is RunState.CANCELLED
    assert page.run.progress == (1, 4)
    assert "run out of credit" in page.run.result("1", BASE).error
    assert "Stopped: The account has run out of credit" in page.status.text()
    assert page.retry_button.isEnabled() and page.resume_button.isEnabled()


def test_answers_can_be_rated_and_added_to_the_dataset(qtbot, harness):
    page = harness.panel.evaluate
    start(qtbot, page)
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)

    page.results_table.selectRow(1)
    page.rate("2", FINE_TUNED, Thumb.UP)
    page.rate("2", BASE, Thumb.DOWN)

    assert harness.evaluations.load(page.run.id).result("2", FINE_TUNED).rating is Thumb.UP
    base, tuned = page.summary_model.rows
    assert (tuned.thumbs_up, base.thumbs_down) == (1, 1)

    harness.reply_edit = lambda reply: reply + " We'll email you a reminder."
    assert page.add_to_dataset("2", BASE)
    value = harness.dataset[0].value
    assert value["messages"][:2] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTIONS[1][0]},
    ]
    assert value["messages"][2]["content"].endswith("We'll email you a reminder.")
    harness.undo.undo()
    assert len(harness.dataset) == 0


def _job() -> JobSummary:
    return JobSummary.from_dict(
        {
            "id": "ftjob-1",
            "status": "succeeded",
            "model": BASE,
            "fine_tuned_model": FINE_TUNED,
            "finished_at": int(time.time()) - 7200,
        },
        provider_id=PROFILE,
    )


def _validation() -> Dataset:
    dataset = Dataset()
    for value in sample_examples()[:3]:
        dataset.append_value(value)
    return dataset


def test_a_finished_job_is_set_up_for_evaluation_without_sending(qtbot, harness):
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)

    harness.panel.evaluate_after_job(_job(), list(_validation()))

    assert [m.model_id for m in page.models()] == [BASE, FINE_TUNED]
    assert page.selection().items and len(page.selection().items) == 3
    assert "press Start evaluation" in page.notice.label.text()
    assert not page.running
    assert harness.server.requests_to("POST", "/chat/completions") == []


def test_auto_evaluation_starts_when_a_job_finishes(qtbot, harness):
    page = harness.panel.evaluate
    with qtbot.waitSignal(harness.panel.auto_evaluate_changed) as changed:
        page.auto_box.setChecked(True)
    assert changed.args == [True]

    harness.panel.evaluate_after_job(_job(), list(_validation()))
    qtbot.waitUntil(lambda: page.run is not None and not page.running, timeout=10_000)

    assert page.run.models == (BASE, FINE_TUNED)
    assert page.run.progress == (6, 6)
    assert page.run.label.startswith("3 validation examples of support-bot")


def test_the_evaluate_tab_starts_with_the_fine_tune_against_its_base(qtbot, tmp_path):
    with harness_for(qtbot, tmp_path) as harness:
        page = harness.panel.evaluate
        harness.panel.tabs.setCurrentWidget(page)
        assert page.compare_box.isChecked()
        assert [m.model_id for m in page.models()] == [BASE, FINE_TUNED]


def test_a_model_that_is_not_ready_yet_is_asked_again(qtbot, harness, monkeypatch):
    from desktop.ui.chat import eval_runner

    monkeypatch.setattr(eval_runner, "NOT_READY_RETRY_SECONDS", 0.2)
    fresh = "ft:gpt-4o-mini-2024-07-18:fake-org:fresh:f7e5h000"
    archive_job(harness.archive, fresh, time.time() - 60, job_id="ftjob-fresh")
    page = harness.panel.evaluate
    page.compare_box.setChecked(False)
    page.picker_a.select(PROFILE, fresh)
    page.concurrency.setValue(2)
    notes: list[str] = []

    start(qtbot, page)
    page.runner.waiting.connect(notes.append)
    qtbot.waitUntil(lambda: any("not ready" in n for n in notes), timeout=5000)
    harness.server.add_model(fresh, owned_by="fake-org")
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)

    assert page.run.progress == (4, 4)
    assert all(page.run.result(str(i), fresh).ok for i in range(1, 5))
    assert page.run.result("1", fresh).reply.endswith(QUESTIONS[0][0].lower())
    assert len(harness.server.requests_to("POST", "/chat/completions")) > 4  # asked again

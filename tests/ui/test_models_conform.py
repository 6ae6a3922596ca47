"""Every item model in the ui passes pytest-qt's model tester with realistic rows.

The tester checks what views rely on: counts, parents, indexes, headers and the data of every
role, before and after the model changes (it stays attached while rows are added, changed,
moved and removed).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from PySide6.QtCore import QAbstractItemModel

from desktop.core.analysis import DatasetAnalysis
from desktop.core.catalog import Catalog
from desktop.core.evaluation import EvalItem, EvalRun, Thumb
from desktop.core.findings import Finding, Severity
from desktop.core.jobs import CheckpointSummary, JobSummary
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.ui.chat.eval_models import EvalResultsModel, EvalSummaryModel
from desktop.ui.dataset.dataset_model import ExampleTableModel
from desktop.ui.dataset.findings_panel import FindingsModel
from desktop.ui.jobs.job_models import CheckpointsTableModel, EventsTableModel, JobsTableModel

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("qapp")]

BASE = "gpt-4o-mini-2024-07-18"
TUNED = "ft:gpt-4o-mini-2024-07-18:acme:support-bot:abc123"
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
START = int(NOW.timestamp()) - 3600


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _rows_present(model: QAbstractItemModel) -> None:
    """The check is only worth something with cells to look at."""
    assert model.rowCount() > 0 and model.hasIndex(0, 0)
    assert model.index(0, 0).data() is not None


def _job(job_id: str, status: str, created: int, **fields: object) -> JobSummary:
    return JobSummary.from_dict(
        {"id": job_id, "status": status, "model": BASE, "created_at": created, **fields}
    )


def test_the_jobs_table(qtmodeltester, catalog):
    model = JobsTableModel(catalog, lambda usd: f"${usd:.2f}", now=lambda: NOW)
    model.set_jobs(
        [
            _job(
                "ftjob-1",
                "succeeded",
                START - 86_400,
                finished_at=START - 80_000,
                fine_tuned_model=TUNED,
                trained_tokens=120_000,
            ),
            _job(
                "ftjob-2",
                "running",
                START,
                estimated_finish=START + 7200,
                metadata={"suffix": "support-bot"},
            ),
            _job("ftjob-3", "failed", START - 400_000, error={"message": "The file is bad."}),
            _job("ftjob-4", "thawing", START - 50),
        ]
    )
    _rows_present(model)
    qtmodeltester.check(model)
    model.upsert(_job("ftjob-5", "queued", START + 60))  # a new job goes on top
    model.upsert(_job("ftjob-2", "succeeded", START, trained_tokens=5_000))  # changed in place
    model.upsert(_job("ftjob-4", "running", START - 500_000))  # moved: its creation changed
    model.refresh_times()
    assert [job.id for job in model.jobs()] == [
        "ftjob-5",
        "ftjob-2",
        "ftjob-1",
        "ftjob-3",
        "ftjob-4",
    ]
    qtmodeltester.check(model)
    model.set_jobs([])
    qtmodeltester.check(model)


def test_the_events_table(qtmodeltester):
    model = EventsTableModel()
    model.set_events(
        [
            (START, "info", "Validating training file"),
            (START + 10, "warn", "The file has 3 examples over the token limit."),
            (START + 20, "info", "Step 1/100: training loss=1.20"),
        ]
    )
    _rows_present(model)
    qtmodeltester.check(model)
    model.add_events([(START + 30, "error", "Training failed."), (START + 40, "INFO", "Done")])
    assert model.rowCount() == 5 and model.event_at(0)[2] == "Done"
    qtmodeltester.check(model)


def test_the_checkpoints_table(qtmodeltester):
    model = CheckpointsTableModel()
    model.set_checkpoints(
        CheckpointSummary.from_dict(
            {
                "id": f"ckpt-{step}",
                "fine_tuned_model_checkpoint": f"{TUNED}:ckpt-step-{step}",
                "step_number": step,
                "created_at": START + step,
                "metrics": {"train_loss": 1 / step, "valid_loss": 1.2 / step},
            }
        )
        for step in (100, 300, 200)
    )
    _rows_present(model)
    qtmodeltester.check(model)


def _run() -> EvalRun:
    items = [
        EvalItem(
            str(n),
            ({"role": "user", "content": f"Question {n}?"},),
            f"Answer {n}.",
        )
        for n in range(1, 5)
    ]
    run = EvalRun(items, [BASE, TUNED], label="4 examples")
    run.start()
    run.record("1", BASE, reply="Answer 1.", tokens_in=10, tokens_out=3, latency_s=0.4)
    run.record("1", TUNED, reply="Something else", tokens_in=10, tokens_out=2, latency_s=0.3)
    run.record("2", TUNED, error="The provider did not answer in time.")
    run.rate("1", BASE, Thumb.UP)
    return run


def test_the_evaluation_results_table(qtmodeltester):
    model = EvalResultsModel()
    run = _run()
    model.set_run(run, ["Base", "Tuned"])
    _rows_present(model)
    qtmodeltester.check(model)
    run.record("3", BASE, reply="Answer 3.")
    model.item_changed("3")
    qtmodeltester.check(model)
    model.set_run(None)
    qtmodeltester.check(model)


def test_the_evaluation_summary_table(qtmodeltester, catalog):
    model = EvalSummaryModel(catalog)
    model.refresh(_run(), ["Base", "Tuned"])
    _rows_present(model)
    qtmodeltester.check(model)


def test_the_examples_table(qtmodeltester, catalog):
    raw = (
        b'{"messages": [{"role": "user", "content": "Hi"}, '
        b'{"role": "assistant", "content": "Hello!"}]}\n'
        b"{not json\n"
        b"\n"
        b'{"messages": [{"role": "user", "content": "Where is my order?"}]}\n'
        b'{"prompt": "Say hi", "completion": "hi"}\n'
    )
    dataset = read_jsonl_bytes(raw)
    analysis = DatasetAnalysis(catalog, BASE)
    for record in dataset:
        analysis.update(record)
    model = ExampleTableModel()
    model.set_dataset(dataset, analysis)
    _rows_present(model)
    qtmodeltester.check(model)


def test_the_findings_list(qtmodeltester):
    model = FindingsModel(locate=lambda record_id: record_id - 1)
    model.set_findings(
        [
            Finding(
                "missing_content",
                Severity.ERROR,
                "A message has no text.",
                line=3,
                message_index=1,
                fix="Write the reply.",
            ),
            Finding("long_example", Severity.WARNING, "This example is long.", record_id=7),
            Finding("few_examples", Severity.INFO, "There are only 5 examples."),
        ]
    )
    _rows_present(model)
    qtmodeltester.check(model)

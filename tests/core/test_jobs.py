"""Job state: statuses (known, new and odd), summaries from job dicts, times, cost and names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from desktop.core.catalog import Catalog
from desktop.core.jobs import (
    SUFFIX_KEY,
    CheckpointSummary,
    JobStatus,
    JobSummary,
    assert_never,
    error_sentence,
    model_display_name,
    parse_model_name,
    to_datetime,
)

UTC = timezone.utc
T0 = 1_795_000_000  # 2026-11-18 11:06:40 UTC
FT_MODEL = "ft:gpt-4o-mini-2024-07-18:acme:support-bot:AbC123"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def openai_job(**changes) -> dict:
    job = {
        "id": "ftjob-abc",
        "object": "fine_tuning.job",
        "created_at": T0,
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {"n_epochs": 4, "batch_size": 2, "learning_rate_multiplier": 1.8},
        "model": "gpt-4o-mini-2024-07-18",
        "organization_id": "org-1",
        "result_files": [],
        "seed": 42,
        "status": "running",
        "trained_tokens": None,
        "training_file": "file-train",
        "validation_file": "file-valid",
        "estimated_finish": T0 + 3600,
        "integrations": [{"type": "wandb", "wandb": {"project": "p"}}],
        "metadata": {"team": "support"},
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": 4, "batch_size": 2, "learning_rate_multiplier": 1.8}
            },
        },
    }
    job.update(changes)
    return job


# ------------------------------------------------------------------------------ statuses


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("validating_files", JobStatus.VALIDATING_FILES),
        ("queued", JobStatus.QUEUED),
        ("running", JobStatus.RUNNING),
        ("paused", JobStatus.PAUSED),
        ("succeeded", JobStatus.SUCCEEDED),
        ("failed", JobStatus.FAILED),
        ("cancelled", JobStatus.CANCELLED),
        ("canceled", JobStatus.CANCELLED),
        (" RUNNING ", JobStatus.RUNNING),
        ("archived", JobStatus.UNKNOWN),
        ("", JobStatus.UNKNOWN),
        (None, JobStatus.UNKNOWN),
        (42, JobStatus.UNKNOWN),
    ],
)
def test_status_parsing_never_fails(raw, expected):
    assert JobStatus.parse(raw) is expected


@pytest.mark.parametrize(
    ("status", "terminal", "cancel", "pause", "resume"),
    [
        (JobStatus.VALIDATING_FILES, False, True, False, False),
        (JobStatus.QUEUED, False, True, False, False),
        (JobStatus.RUNNING, False, True, True, False),
        (JobStatus.PAUSED, False, True, False, True),
        (JobStatus.SUCCEEDED, True, False, False, False),
        (JobStatus.FAILED, True, False, False, False),
        (JobStatus.CANCELLED, True, False, False, False),
        (JobStatus.UNKNOWN, False, True, False, False),
    ],
)
def test_actions_allowed_per_status(status, terminal, cancel, pause, resume):
    assert status.is_terminal is terminal
    assert (status.can_cancel, status.can_pause, status.can_resume) == (cancel, pause, resume)


def test_every_status_has_its_own_label_and_sentence():
    labels = {status.label for status in JobStatus}
    sentences = {status.sentence for status in JobStatus}
    assert len(labels) == len(sentences) == len(JobStatus)
    assert all(s.endswith(".") and "_" not in s for s in sentences)


def test_assert_never_raises_on_anything_that_reaches_it():
    with pytest.raises(AssertionError, match="bogus"):
        assert_never("bogus")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ summaries


def test_summary_reads_an_openai_job():
    s = JobSummary.from_dict(openai_job(), provider_id="openai")
    assert s.id == "ftjob-abc" and s.provider_id == "openai"
    assert s.status is JobStatus.RUNNING and s.raw_status == "running"
    assert s.base_model == "gpt-4o-mini-2024-07-18"
    assert s.created_at == datetime.fromtimestamp(T0, UTC)
    assert s.estimated_finish == datetime.fromtimestamp(T0 + 3600, UTC)
    assert s.finished_at is None and s.fine_tuned_model is None and s.trained_tokens is None
    assert s.method == "supervised"
    assert (s.n_epochs, s.batch_size, s.learning_rate_multiplier) == (4, 2, 1.8)
    assert s.seed == 42
    assert (s.training_file, s.validation_file) == ("file-train", "file-valid")
    assert s.integrations == ({"type": "wandb", "wandb": {"project": "p"}},)
    assert s.metadata == {"team": "support"}
    assert s.error is None


def test_method_hyperparameters_win_and_the_deprecated_field_fills_gaps():
    job = openai_job(
        method={
            "type": "dpo",
            "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": "auto", "batch_size": 4}},
        },
        hyperparameters={"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": None},
    )
    s = JobSummary.from_dict(job)
    assert s.method == "dpo"
    assert s.hyperparameters == {"beta": 0.1, "n_epochs": 3, "batch_size": 4}
    assert (s.n_epochs, s.batch_size, s.learning_rate_multiplier) == (3, 4, None)


def test_hyperparameters_still_auto_are_unknown_numbers():
    auto = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    s = JobSummary.from_dict(openai_job(method={"type": "supervised"}, hyperparameters=auto))
    assert s.hyperparameters == auto
    assert s.n_epochs is None and s.batch_size is None and s.learning_rate_multiplier is None


def test_reinforcement_keeps_its_grader():
    grader = {"type": "string_check", "name": "g", "operation": "eq"}
    job = openai_job(
        model="o4-mini-2025-04-16",
        method={
            "type": "reinforcement",
            "reinforcement": {"grader": grader, "hyperparameters": {"reasoning_effort": "low"}},
        },
    )
    s = JobSummary.from_dict(job)
    assert s.method == "reinforcement"
    assert s.grader == grader
    assert s.hyperparameters["reasoning_effort"] == "low"


def test_a_bare_record_is_read_and_one_without_id_is_refused():
    s = JobSummary.from_dict({"id": "ftjob-x", "status": "brand_new_state", "created_at": "x"})
    assert s.status is JobStatus.UNKNOWN and s.raw_status == "brand_new_state"
    assert s.base_model == "unknown model" and s.created_at is None
    assert s.hyperparameters == {} and s.result_files == () and s.metadata == {}
    with pytest.raises(ValueError):
        JobSummary.from_dict({"status": "running"})


def test_failed_job_error_is_one_plain_sentence():
    error = {
        "code": "invalid_training_file",
        "message": "The file has 3 lines without an assistant message",
        "param": "training_file",
    }
    s = JobSummary.from_dict(openai_job(status="failed", error=error))
    assert s.error == (
        "The file has 3 lines without an assistant message. It concerns the training file. "
        "(Error code: invalid_training_file.)"
    )
    assert s.error_code == "invalid_training_file"
    assert error_sentence({"code": None, "message": None, "param": None}) is None
    assert error_sentence({"code": "x", "message": "", "param": None}) == (
        "The provider gave no reason. (Error code: x.)"
    )


def test_suffix_comes_from_the_model_name_when_the_job_does_not_carry_it():
    s = JobSummary.from_dict(openai_job(status="succeeded", fine_tuned_model=FT_MODEL))
    assert s.suffix == "support-bot"
    assert JobSummary.from_dict(openai_job(suffix="given")).suffix == "given"


def test_times_accept_seconds_and_iso_text():
    assert to_datetime(0) is None and to_datetime(True) is None and to_datetime("nope") is None
    assert to_datetime("2026-11-20T10:00:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert to_datetime("2026-11-20T10:00:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)


# ------------------------------------------------------------------------------ durations


def test_elapsed_runs_to_now_while_running_and_stops_at_the_finish():
    now = datetime.fromtimestamp(T0 + 600, UTC)
    running = JobSummary.from_dict(openai_job())
    assert running.elapsed(now) == timedelta(minutes=10)
    assert running.elapsed(now.replace(tzinfo=None)) == timedelta(minutes=10)
    done = JobSummary.from_dict(openai_job(status="succeeded", finished_at=T0 + 120))
    assert done.elapsed(now) == timedelta(minutes=2)
    assert JobSummary.from_dict({"id": "j"}).elapsed(now) is None


def test_time_left_comes_from_the_estimate_and_never_goes_negative():
    running = JobSummary.from_dict(openai_job())
    assert running.time_left(datetime.fromtimestamp(T0 + 600, UTC)) == timedelta(minutes=50)
    assert running.time_left(datetime.fromtimestamp(T0 + 7200, UTC)) == timedelta(0)
    done = JobSummary.from_dict(openai_job(status="succeeded"))
    assert done.time_left(datetime.fromtimestamp(T0, UTC)) is None


# ------------------------------------------------------------------------------ cost


def test_actual_cost_from_trained_tokens(catalog):
    s = JobSummary.from_dict(openai_job(status="succeeded", trained_tokens=2_000_000))
    assert s.actual_cost(catalog) == pytest.approx(6.0)  # gpt-4o-mini: $3 per 1M


def test_cost_of_a_job_continuing_from_a_fine_tuned_model_uses_its_base_price(catalog):
    s = JobSummary.from_dict(openai_job(model=FT_MODEL, trained_tokens=500_000))
    assert s.actual_cost(catalog) == pytest.approx(1.5)


@pytest.mark.parametrize(
    "changes",
    [
        {"trained_tokens": None},
        {"trained_tokens": 1000, "model": "my-own-model"},
        {"trained_tokens": 1000, "model": "o4-mini-2025-04-16"},  # billed per hour
        {"trained_tokens": -5},
    ],
)
def test_cost_is_unknown_rather_than_wrong(catalog, changes):
    assert JobSummary.from_dict(openai_job(**changes)).actual_cost(catalog) is None


# ------------------------------------------------------------------------------ names


def test_model_and_checkpoint_display_names():
    day = datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert model_display_name(FT_MODEL, day) == "support-bot · 2026-11-20"
    assert model_display_name(FT_MODEL + ":ckpt-step-88", day) == (
        "support-bot · step 88 · 2026-11-20"
    )
    no_suffix = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
    assert model_display_name(no_suffix, day) == "gpt-4o-mini-2024-07-18 · 2026-11-20"
    assert model_display_name("my-azure-deployment") == "my-azure-deployment"
    assert parse_model_name(FT_MODEL) == ("gpt-4o-mini-2024-07-18", "support-bot", None)


def test_job_display_name_uses_the_finish_date_in_the_chosen_time_zone():
    job = openai_job(status="succeeded", fine_tuned_model=FT_MODEL, finished_at=1_795_212_000)
    s = JobSummary.from_dict(job)  # finished 2026-11-20T22:00:00Z
    assert s.finished_at == datetime(2026, 11, 20, 22, tzinfo=UTC)
    assert s.display_name(UTC) == "support-bot · 2026-11-20"
    assert s.display_name(timezone(timedelta(hours=3))) == "support-bot · 2026-11-21"
    running = JobSummary.from_dict(openai_job(suffix="draft"))
    assert running.display_name(UTC) == f"draft · {running.created_at.date().isoformat()}"


def test_checkpoint_summary():
    c = CheckpointSummary.from_dict(
        {
            "id": "ftckpt_1",
            "created_at": 1_795_212_000,
            "fine_tuned_model_checkpoint": FT_MODEL + ":ckpt-step-88",
            "fine_tuning_job_id": "ftjob-abc",
            "step_number": 88,
            "metrics": {"step": 88, "train_loss": 0.25, "valid_loss": None, "x": "bad"},
        }
    )
    assert (c.step, c.job_id) == (88, "ftjob-abc")
    assert c.metrics == {"step": 88.0, "train_loss": 0.25}
    assert c.display_name(UTC) == "support-bot · step 88 · 2026-11-20"
    with pytest.raises(ValueError):
        CheckpointSummary.from_dict({"id": "ftckpt_2"})


def test_a_hosts_long_model_path_is_named_by_the_users_suffix():
    job = JobSummary.from_dict(
        {
            "id": "ft-1",
            "status": "succeeded",
            "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "fine_tuned_model": "acct/Meta-Llama-3.1-8B-Instruct-Reference-bot-st1a2b3c4d-9f8e",
            "suffix": "bot",
            "finished_at": 1_764_000_000,
        }
    )
    assert job.display_name(timezone.utc) == "bot · 2025-11-24"
    unnamed = JobSummary.from_dict(
        {"id": "ft-2", "status": "succeeded", "model": "m", "fine_tuned_model": "acct/m-x"}
    )
    assert unnamed.display_name() == "acct/m-x"


def test_a_job_that_never_finished_keeps_the_suffix_the_app_put_in_its_metadata():
    cancelled = openai_job(status="cancelled", fine_tuned_model=None, metadata={SUFFIX_KEY: "bot"})
    assert "suffix" not in cancelled  # OpenAI's job object has no such field
    assert JobSummary.from_dict(cancelled).suffix == "bot"
    assert JobSummary.from_dict(openai_job(fine_tuned_model=None)).suffix is None

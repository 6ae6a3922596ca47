"""The whole job flow without Qt: upload once, create once, poll, archive, against the fake."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import openai
import pytest

from desktop.api import fine_tuning as ft
from desktop.api import jobs_service as svc
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.profiles import OPENAI_CAPABILITIES, ProviderKind, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.jobs import JobStatus
from desktop.core.training import new_request_id
from tests.fake_openai import FakeOpenAIServer, Timing
from tests.fake_openai.samples import chat_jsonl

BASE = "gpt-4o-mini-2024-07-18"
FAST = svc.TransferOptions(retry_delay=0.01)


def no_wait(_seconds: float) -> None:
    """Waits that take no time (nothing here depends on the provider's clock)."""


@pytest.fixture
def profile(fake_openai: FakeOpenAIServer) -> ProviderProfile:
    return ProviderProfile(
        id="openai-test",
        display_name="Fake OpenAI",
        kind=ProviderKind.OPENAI,
        base_url=fake_openai.base_url,
        capabilities=OPENAI_CAPABILITIES,
    )


@pytest.fixture
def backend(openai_client, profile) -> OpenAIProtocolBackend:
    """The OpenAI-protocol backend over the real SDK client pointed at the fake server."""
    return OpenAIProtocolBackend(profile, openai_client)


@pytest.fixture
def archive(tmp_path) -> JobArchive:
    return JobArchive(tmp_path / "archive")


def plan(profile: ProviderProfile, **changes) -> svc.TrainingPlan:
    values = {
        "profile": profile,
        "dataset_name": "support answers.jsonl",
        "training": chat_jsonl(40),
        "validation": chat_jsonl(10, topic="billing"),
        "model": BASE,
        "request_id": new_request_id(),
        "hyperparameters": {"n_epochs": 2, "batch_size": 4},
        "suffix": "support",
        "seed": 7,
    }
    values.update(changes)
    return svc.TrainingPlan(**values)


def test_upload_streams_progress_and_is_recorded(fake_openai, backend, archive, profile):
    data = chat_jsonl(3000)  # ~300 KB: several chunks through the Files API
    seen: list[int] = []
    uploaded = svc.upload_dataset(
        backend,
        archive,
        profile.id,
        data,
        role="training",
        filename="d-training.jsonl",
        progress=lambda sent, total: seen.append(sent),
    )
    assert not uploaded.reused
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == len(data)
    assert fake_openai.state.files[uploaded.file_id].content == data
    assert archive.find_upload(profile.id, uploaded.sha256) == uploaded.file_id
    assert fake_openai.requests_to("POST", "/uploads") == []


def test_upload_above_the_limit_goes_in_parts(fake_openai, backend, archive, profile):
    data = chat_jsonl(40)
    in_parts = OpenAIProtocolBackend(profile, backend.client, direct_limit=1000, part_size=1000)
    uploaded = svc.upload_dataset(
        in_parts, archive, profile.id, data, role="training", filename="d-training.jsonl"
    )
    parts = fake_openai.requests_to("POST", "/uploads/*/parts")
    assert len(parts) == -(-len(data) // 1000)
    assert fake_openai.requests_to("POST", "/files") == []
    assert fake_openai.state.files[uploaded.file_id].content == data


def test_identical_file_is_reused_while_the_provider_still_has_it(
    fake_openai, backend, archive, profile
):
    data = chat_jsonl(20)

    def send():
        return svc.upload_dataset(
            backend, archive, profile.id, data, role="training", filename="a.jsonl"
        )

    first = send()
    second = send()
    assert second.reused and second.file_id == first.file_id
    assert len(fake_openai.requests_to("POST", "/files")) == 1
    assert len(fake_openai.requests_to("GET", f"/files/{first.file_id}")) == 1

    fake_openai.state.delete_file(first.file_id)  # expired or deleted at the provider
    third = send()
    assert not third.reused and third.file_id != first.file_id
    assert len(fake_openai.requests_to("POST", "/files")) == 2


def test_start_training_uploads_creates_and_archives(fake_openai, backend, archive, profile):
    stages: list[str] = []
    started = svc.start_training(
        backend,
        archive,
        plan(profile, integrations=(ft.WandbIntegration("studio", tags=("a", "b")),)),
        stage=stages.append,
        options=FAST,
    )
    (request,) = fake_openai.requests_to("POST", "/fine_tuning/jobs")
    body = request.json
    assert body["metadata"][ft.REQUEST_KEY] and body["suffix"] == "support"
    assert body["metadata"][ft.SUFFIX_KEY] == "support"
    assert body["integrations"] == [
        {"type": "wandb", "wandb": {"project": "studio", "tags": ["a", "b"]}}
    ]
    assert body["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2, "batch_size": 4}
    assert started.summary.status is JobStatus.VALIDATING_FILES
    names = sorted(f.filename for f in fake_openai.state.files.values())
    tags = [u.sha256[: svc.CONTENT_TAG_LENGTH] for u in started.uploads]
    assert names == [
        f"support-answers-training-{tags[0]}.jsonl",
        f"support-answers-validation-{tags[1]}.jsonl",
    ]
    archived = archive.load(profile.id, started.summary.id)
    assert archived.dataset["training"].read_bytes() == chat_jsonl(40)
    assert archived.dataset["validation"].read_bytes() == chat_jsonl(10, topic="billing")
    assert stages[-1] == "Creating the training job…"


def test_create_whose_answer_is_lost_is_not_sent_twice(fake_openai, backend, archive, profile):
    fake_openai.inject("drop", method="POST", path="/fine_tuning/jobs")
    started = svc.start_training(backend, archive, plan(profile), options=FAST, sleep=no_wait)
    assert len(fake_openai.state.jobs) == 1
    assert started.summary.id in fake_openai.state.jobs
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    lookups = fake_openai.requests_to("GET", "/fine_tuning/jobs")
    assert lookups and lookups[0].query[f"metadata[{ft.REQUEST_KEY}]"]


def test_create_answered_by_a_server_error_is_not_sent_again_unasked(
    fake_openai, backend, archive, profile
):
    fake_openai.inject("server_error", method="POST", path="/fine_tuning/jobs")
    confirmed = plan(profile)
    with pytest.raises(ProviderError) as info:  # the error may come after the job was made
        svc.start_training(backend, archive, confirmed, options=FAST, sleep=no_wait)
    assert info.value.friendly.kind is ErrorKind.UNKNOWN_OUTCOME
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    again = svc.start_training(backend, archive, confirmed, options=FAST, look_first=True)
    assert list(fake_openai.state.jobs) == [again.summary.id]  # the user chose to send again
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 2


def test_user_retry_finds_the_job_an_earlier_attempt_made(fake_openai, backend, archive, profile):
    fake_openai.inject("drop", method="POST", path="/fine_tuning/jobs")
    fake_openai.inject("drop", method="GET", path="/fine_tuning/jobs", times=None)
    confirmed = plan(profile)
    with pytest.raises(ProviderError) as info:
        svc.start_training(backend, archive, confirmed, options=FAST, sleep=no_wait)
    assert info.value.friendly.kind is ErrorKind.UNKNOWN_OUTCOME
    fake_openai.clear_faults()
    again = svc.start_training(backend, archive, confirmed, options=FAST, look_first=True)
    assert list(fake_openai.state.jobs) == [again.summary.id]
    assert len(fake_openai.requests_to("POST", "/files")) == 2  # files reused on the retry


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("training_not_available", ErrorKind.TRAINING_NOT_AVAILABLE),
        ("insufficient_quota", ErrorKind.OUT_OF_CREDIT),
    ],
)
def test_refusals_are_not_retried(fake_openai, backend, archive, profile, fault, kind):
    fake_openai.inject(fault, method="POST", path="/fine_tuning/jobs")
    with pytest.raises(ProviderError) as info:
        svc.start_training(backend, archive, plan(profile), options=FAST)
    assert info.value.friendly.kind is kind
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    assert fake_openai.state.jobs == {}


def test_lookup_matches_only_its_own_request(fake_openai, backend, archive, profile):
    file_id = svc.upload_dataset(
        backend, archive, profile.id, chat_jsonl(12), role="training", filename="x.jsonl"
    ).file_id
    made = {
        rid: ft.create_job(
            backend.client,
            profile,
            model=BASE,
            training_file=file_id,
            metadata={ft.REQUEST_KEY: rid},
        ).id
        for rid in ("one", "two")
    }
    assert ft.find_job_by_request(backend.client, "one").id == made["one"]
    assert ft.find_job_by_request(backend.client, "two").id == made["two"]
    assert ft.find_job_by_request(backend.client, "three") is None


def test_wandb_settings_are_checked_before_sending(fake_openai, backend, profile):
    too_many = ft.WandbIntegration("p", tags=tuple(str(i) for i in range(51)))
    for integration in (
        ft.WandbIntegration(" "),
        too_many,
        ft.WandbIntegration("p", tags=("x" * 65,)),
    ):
        with pytest.raises(ProviderError) as info:
            ft.create_job(
                backend.client, profile, model=BASE, training_file="f", integrations=(integration,)
            )
        assert info.value.friendly.param == "integrations"
    assert fake_openai.requests_to("POST", "/fine_tuning/jobs") == []


def test_poll_follows_a_job_to_success_and_archives_everything(
    fake_openai, backend, archive, profile
):
    started = svc.start_training(
        backend,
        archive,
        plan(profile, hyperparameters={"n_epochs": 3, "batch_size": 1}),
        options=FAST,
    )
    job_id = started.summary.id
    tracker = svc.JobTracker.open(archive, profile.id, job_id)
    first = tracker.poll(backend)
    assert first.full and first.summary.status is JobStatus.VALIDATING_FILES
    assert not first.complete and not first.just_finished

    fake_openai.advance(5 + 60)  # validated, queued, 60 of 120 steps
    running = tracker.poll(backend)
    assert running.summary.status is JobStatus.RUNNING and not running.full
    assert running.series is not None and len(running.series["train_loss"]) == 60
    assert [c.step for c in running.checkpoints] == [40]
    assert running.summary.estimated_finish is not None

    fake_openai.advance(100)
    done = tracker.poll(backend)
    assert done.just_finished and done.complete
    assert done.summary.status is JobStatus.SUCCEEDED
    assert [c.step for c in done.checkpoints] == [40, 80, 120]
    assert len(done.series["train_loss"]) == 120
    assert len(done.series["full_valid_loss"]) == 3
    assert done.series.epoch_starts == (41, 81)
    assert done.advice  # plain-language advice from core.advice
    # 130+ events came back in pages of 100, each exactly once
    archived = archive.load(profile.id, job_id)
    ids = [e["id"] for e in archived.events]
    assert len(ids) == len(set(ids)) == len(fake_openai.job(job_id).events)
    assert len(archived.checkpoints) == 3
    assert tuple(archived.result_files) == done.summary.result_files
    rows = list(csv.DictReader(io.StringIO((archived.folder / "metrics.csv").read_text())))
    assert len(rows) == 120 and rows[0]["train_loss"]
    assert json.loads((archived.folder / "job.json").read_text())["status"] == "succeeded"


def test_poll_recovers_after_a_dropped_connection(fake_openai, backend, archive, profile):
    job_id = svc.start_training(
        backend,
        archive,
        plan(profile, hyperparameters={"n_epochs": 1, "batch_size": 4}),
        options=FAST,
    ).summary.id
    tracker = svc.JobTracker.open(archive, profile.id, job_id)
    tracker.poll(backend)
    fake_openai.advance(8)
    fake_openai.inject("drop", method="GET", path="/fine_tuning/jobs/*/events")
    with pytest.raises(ProviderError) as info:
        tracker.poll(backend)
    assert info.value.friendly.retryable
    after = tracker.poll(backend)
    assert after.summary.status is JobStatus.RUNNING
    assert after.series is not None and len(after.series["train_loss"]) == 3
    ids = [e["id"] for e in archive.load(profile.id, job_id).events]
    assert len(ids) == len(set(ids)) == len(fake_openai.job(job_id).events)


def test_a_reopened_tracker_fetches_only_what_is_new(fake_openai, backend, archive, profile):
    job_id = svc.start_training(
        backend,
        archive,
        plan(profile, hyperparameters={"n_epochs": 1, "batch_size": 1}),
        options=FAST,
    ).summary.id
    svc.JobTracker.open(archive, profile.id, job_id).poll(backend)
    fake_openai.advance(20)
    svc.JobTracker.open(archive, profile.id, job_id).poll(backend)
    known = len(archive.load(profile.id, job_id).events)

    fake_openai.clear_requests()
    reopened = svc.JobTracker.open(archive, profile.id, job_id)  # as after a restart
    fake_openai.advance(2)
    snapshot = reopened.poll(backend)
    assert snapshot.full and len(snapshot.new_events) == known + 2
    assert snapshot.previous_status is JobStatus.RUNNING
    assert len(fake_openai.requests_to("GET", "/fine_tuning/jobs/*/events")) == 1


def test_jobs_started_elsewhere_are_listed_and_archived(fake_openai, backend, archive, profile):
    file_id = fake_openai.add_file("other.jsonl", chat_jsonl(12))
    for _ in range(3):
        backend.client.fine_tuning.jobs.create(model=BASE, training_file=file_id)
    first = svc.list_job_page(backend, archive, profile.id, limit=2)
    rest = svc.list_job_page(backend, archive, profile.id, after=first.next_after, limit=2)
    assert len(first.summaries) == 2 and first.next_after is not None and first.first_page
    assert len(rest.summaries) == 1 and rest.next_after is None and not rest.first_page
    assert len(archive.list_jobs(profile.id)) == 3
    job_id = first.summaries[0].id
    assert svc.act_on_job(backend, archive, profile.id, job_id, "cancel").status is (
        JobStatus.CANCELLED
    )
    assert archive.load(profile.id, job_id).summary.status is JobStatus.CANCELLED
    again = svc.list_job_page(backend, archive, profile.id, limit=2)
    assert again.summaries[0].status is JobStatus.CANCELLED


def test_pause_and_resume_through_the_service(fake_openai, backend, archive, profile):
    job_id = svc.start_training(backend, archive, plan(profile), options=FAST).summary.id
    fake_openai.advance(6)
    assert svc.act_on_job(backend, archive, profile.id, job_id, "pause").status is (
        JobStatus.PAUSED
    )
    fake_openai.advance(1000)  # paused jobs do not move
    tracker = svc.JobTracker.open(archive, profile.id, job_id)
    assert tracker.poll(backend).summary.status is JobStatus.PAUSED
    svc.act_on_job(backend, archive, profile.id, job_id, "resume")
    assert tracker.poll(backend).summary.status is JobStatus.RUNNING


def test_poll_policy_backs_off_and_stops():
    policy = svc.PollPolicy(running=5, waiting=20, paused=30, error_base=10, error_max=300)
    assert policy.delay(JobStatus.RUNNING) == 5
    assert policy.delay(JobStatus.QUEUED) == 20
    assert policy.delay(JobStatus.PAUSED) == 30
    assert policy.delay(JobStatus.SUCCEEDED) is None
    assert [policy.delay(JobStatus.RUNNING, n) for n in (1, 2, 3, 10)] == [10, 20, 40, 300]
    assert policy.delay(JobStatus.RUNNING, 1, retry_after=45) == 45


def test_results_in_base64_are_archived_decoded(tmp_path, profile):
    archive = JobArchive(tmp_path / "a")
    with (
        FakeOpenAIServer(results_base64=True, timing=Timing(1, 1, 1)) as server,
        openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as client,
    ):
        backend = OpenAIProtocolBackend(profile, client)
        job_id = svc.start_training(
            backend,
            archive,
            plan(profile, validation=None, hyperparameters={"n_epochs": 1, "batch_size": 10}),
            options=FAST,
        ).summary.id
        server.advance(100)
        done = svc.JobTracker.open(archive, profile.id, job_id).poll(backend)
    assert done.complete
    (path,) = archive.load(profile.id, job_id).result_files.values()
    assert path.read_text().startswith("step,train_loss")


def test_a_listing_never_swallows_the_finished_notice(fake_openai, backend, archive, profile):
    job_id = svc.start_training(
        backend,
        archive,
        plan(profile, hyperparameters={"n_epochs": 1, "batch_size": 10}),
        options=FAST,
    ).summary.id
    svc.JobTracker.open(archive, profile.id, job_id).poll(backend)
    fake_openai.advance(100)
    page = svc.list_job_page(backend, archive, profile.id)
    assert page.summaries[0].status is JobStatus.SUCCEEDED  # shown as the provider says
    assert archive.load(profile.id, job_id).summary.status is JobStatus.VALIDATING_FILES
    snapshot = svc.JobTracker.open(archive, profile.id, job_id).poll(backend)
    assert snapshot.just_finished


def test_checkpoints_come_even_when_steps_arrive_with_an_older_status(
    fake_openai, backend, archive, profile
):
    job_id = svc.start_training(backend, archive, plan(profile), options=FAST).summary.id
    tracker = svc.JobTracker.open(archive, profile.id, job_id)
    tracker.poll(backend)
    retrieved = len(fake_openai.requests_to("GET", f"/fine_tuning/jobs/{job_id}"))
    fake_openai.inject("slow", method="GET", path="/fine_tuning/jobs/*/events", delay=0.5)
    done: list[svc.JobSnapshot] = []
    poll = threading.Thread(target=lambda: done.append(tracker.poll(backend)))
    poll.start()
    deadline = time.monotonic() + 5
    while len(fake_openai.requests_to("GET", f"/fine_tuning/jobs/{job_id}")) == retrieved:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    fake_openai.advance(5 + 12)  # while the events request waits: 12 steps, one epoch done
    poll.join(5)
    (raced,) = done
    assert raced.summary.status is JobStatus.VALIDATING_FILES  # the job as first retrieved
    assert len(raced.series["train_loss"]) == 12 and raced.checkpoints == ()
    after = tracker.poll(backend)  # no new events, but the status moved on
    assert after.summary.status is JobStatus.RUNNING
    assert [c.step for c in after.checkpoints] == [10]

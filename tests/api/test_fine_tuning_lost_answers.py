"""Answers lost on the way back never make a second job or a second upload.

A provider may carry a request out and its answer still not arrive: the connection drops, the
client stops waiting, or the body comes cut off. The job or file it made is looked for before
anything is sent again; a job that does not show is never sent again without the user.
The waits run on the fake provider's clock, so the production schedule (over a minute) is
what is tested, in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from desktop.api import fine_tuning as ft
from desktop.api import jobs_service as svc
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.profiles import OPENAI_CAPABILITIES, ProviderKind, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.training import new_request_id
from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl

BASE = "gpt-4o-mini-2024-07-18"
#: The client stops waiting for an answer after this many real seconds.
IMPATIENT = 0.3


class ProviderClock:
    """A ``sleep`` that moves the fake provider's clock instead of waiting, and keeps count."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.server.advance(seconds)

    @property
    def total(self) -> float:
        return sum(self.waits)


@pytest.fixture
def clock(fake_openai: FakeOpenAIServer) -> ProviderClock:
    return ProviderClock(fake_openai)


@pytest.fixture
def impatient(openai_client: openai.OpenAI) -> Iterator[openai.OpenAI]:
    """The SDK client with a short timeout, so an answer that never comes times out fast."""
    client = openai_client.with_options(timeout=IMPATIENT)
    yield client


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
def archive(tmp_path) -> JobArchive:
    return JobArchive(tmp_path / "archive")


def _request(fake: FakeOpenAIServer) -> ft.JobRequest:
    return ft.JobRequest(model=BASE, training_file=fake.add_file("t.jsonl", chat_jsonl(20)))


def _create(
    client: openai.OpenAI,
    fake: FakeOpenAIServer,
    profile: ProviderProfile,
    clock: ProviderClock,
    request_id: str,
    **options: object,
):
    return ft.create_job_once(
        client,
        profile,
        request=_request(fake),
        request_id=request_id,
        sleep=clock,
        **options,  # type: ignore[arg-type]
    )


# ---- a job the provider lists late -----------------------------------------------------------


@pytest.mark.parametrize("late", [5.5, 8.0, 60.0])
def test_a_job_listed_late_after_a_timeout_is_found_and_not_sent_again(
    fake_openai, impatient, profile, clock, late
):
    fake_openai.inject(
        "no_answer", method="POST", path="/fine_tuning/jobs", delay=5, appear_after=late
    )
    looks: list[tuple[int, int]] = []
    job = _create(
        impatient,
        fake_openai,
        profile,
        clock,
        "req-late",
        on_look=lambda n, t: looks.append((n, t)),
    )
    assert fake_openai.requests_to("POST", "/fine_tuning/jobs")[0].fault == "no_answer"
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    assert job.metadata[ft.REQUEST_KEY] == "req-late"
    assert late <= clock.total <= late + 20  # kept looking, with growing waits, until it showed
    assert clock.waits == sorted(clock.waits)
    assert looks and looks[0] == (1, len(ft.LOOKUP_WAITS))
    fake_openai.advance(600)
    assert list(fake_openai.state.jobs) == [job.id]


def test_a_job_that_never_shows_is_not_sent_again_without_the_user(
    fake_openai, impatient, profile, clock
):
    fake_openai.inject(
        "no_answer", method="POST", path="/fine_tuning/jobs", delay=5, appear_after=3600
    )
    with pytest.raises(ProviderError) as info:
        _create(impatient, fake_openai, profile, clock, "req-slow")
    friendly = info.value.friendly
    assert friendly.kind is ErrorKind.UNKNOWN_OUTCOME and friendly.retryable
    assert "not known whether the job was started" in friendly.message
    assert "second job would be billed" in friendly.next_step
    assert clock.total >= 60  # "up to a minute or more" of looking, on the provider's clock
    assert clock.waits == list(ft.LOOKUP_WAITS)
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    lookups = fake_openai.requests_to("GET", "/fine_tuning/jobs")
    assert len(lookups) == len(ft.LOOKUP_WAITS)
    assert all(r.query[f"metadata[{ft.REQUEST_KEY}]"] == ["req-slow"] for r in lookups)

    fake_openai.advance(3600)  # the user asks again once the job shows: nothing is sent
    job = _create(impatient, fake_openai, profile, clock, "req-slow", look_first=True)
    assert list(fake_openai.state.jobs) == [job.id]
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1


def test_looking_goes_on_while_the_job_list_cannot_be_read(fake_openai, impatient, profile, clock):
    fake_openai.inject("drop", method="POST", path="/fine_tuning/jobs")
    fake_openai.inject("server_error", method="GET", path="/fine_tuning/jobs", times=3)
    job = _create(impatient, fake_openai, profile, clock, "req-flaky")
    assert list(fake_openai.state.jobs) == [job.id]
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1
    assert len(clock.waits) == 4  # three looks failed, the fourth found it


def test_a_connection_that_was_never_made_is_not_looked_for(profile, clock):
    closed = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-x", max_retries=0)
    with closed, pytest.raises(ProviderError) as info:
        ft.create_job_once(
            closed,
            profile,
            request=ft.JobRequest(model=BASE, training_file="file-x"),
            request_id="req-nowhere",
            sleep=clock,
        )
    assert info.value.friendly.kind is ErrorKind.NO_NETWORK  # certainly not sent: no question
    assert clock.waits == []


def test_a_rate_limit_is_sent_again_without_looking(fake_openai, openai_client, profile, clock):
    fake_openai.inject("rate_limit", method="POST", path="/fine_tuning/jobs", retry_after=3)
    job = _create(openai_client, fake_openai, profile, clock, "req-busy")
    assert list(fake_openai.state.jobs) == [job.id]
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 2
    assert clock.waits == [3] and fake_openai.requests_to("GET", "/fine_tuning/jobs") == []


# ---- a truncated answer to job creation ------------------------------------------------------


def test_a_cut_off_answer_to_job_creation_is_looked_up(fake_openai, openai_client, profile, clock):
    fake_openai.inject("malformed_json", method="POST", path="/fine_tuning/jobs")
    job = _create(openai_client, fake_openai, profile, clock, "req-cut")
    assert fake_openai.requests_to("POST", "/fine_tuning/jobs")[0].status == 200
    assert list(fake_openai.state.jobs) == [job.id]
    assert job.metadata[ft.REQUEST_KEY] == "req-cut"
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1


def test_start_training_reports_a_job_whose_answer_was_cut_off_as_started(
    fake_openai, openai_client, archive, profile, clock
):
    fake_openai.inject("malformed_json", method="POST", path="/fine_tuning/jobs")
    plan = svc.TrainingPlan(
        profile=profile,
        dataset_name="support.jsonl",
        training=chat_jsonl(20),
        validation=None,
        model=BASE,
        request_id=new_request_id(),
    )
    started = svc.start_training(
        OpenAIProtocolBackend(profile, openai_client), archive, plan, sleep=clock
    )
    assert list(fake_openai.state.jobs) == [started.summary.id]
    assert archive.load(profile.id, started.summary.id).summary.id == started.summary.id


# ---- uploads whose answer was lost -----------------------------------------------------------


def _upload(client, archive, profile, clock, data: bytes, **options: object) -> svc.UploadedFile:
    return svc.upload_dataset(
        OpenAIProtocolBackend(profile, client),
        archive,
        profile.id,
        data,
        role="training",
        filename="support-training.jsonl",
        sleep=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("fault", ["drop", "malformed_json", "no_answer"])
def test_an_upload_whose_answer_was_lost_is_found_not_sent_again(
    fake_openai, impatient, archive, profile, clock, fault
):
    data = chat_jsonl(30)
    fake_openai.inject(fault, method="POST", path="/files", delay=5)
    uploaded = _upload(impatient, archive, profile, clock, data)
    assert len(fake_openai.requests_to("POST", "/files")) == 1
    assert list(fake_openai.state.files) == [uploaded.file_id]
    assert fake_openai.state.files[uploaded.file_id].content == data
    assert archive.find_upload(profile.id, uploaded.sha256) == uploaded.file_id


def test_a_retry_after_a_lost_upload_answer_sends_nothing_again(
    fake_openai, openai_client, archive, profile, clock
):
    data = chat_jsonl(30)
    fake_openai.inject("drop", method="POST", path="/files")
    fake_openai.inject("drop", method="GET", path="/files", times=None)
    with pytest.raises(ProviderError):  # the answer and every look at the list were lost
        _upload(openai_client, archive, profile, clock, data)
    fake_openai.clear_faults()
    again = _upload(openai_client, archive, profile, clock, data)
    assert again.reused
    assert len(fake_openai.requests_to("POST", "/files")) == 1
    assert list(fake_openai.state.files) == [again.file_id]


def test_a_file_with_the_same_name_and_size_but_other_bytes_is_not_taken(
    fake_openai, openai_client, archive, profile, clock
):
    first = chat_jsonl(30)
    second = first.replace(b"weather", b"WEATHER", 1)
    assert len(second) == len(first) and second != first
    earlier = _upload(openai_client, archive, profile, clock, first)
    later = _upload(openai_client, archive, profile, clock, second)
    assert later.file_id != earlier.file_id and not later.reused
    assert fake_openai.state.files[later.file_id].content == second
    names = {f.filename for f in fake_openai.state.files.values()}
    assert names == {
        svc.tagged_name("support-training.jsonl", earlier.sha256),
        svc.tagged_name("support-training.jsonl", later.sha256),
    }

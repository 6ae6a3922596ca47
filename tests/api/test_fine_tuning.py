"""Upload and job wrappers against the fake provider."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from desktop.api import fine_tuning as ft
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.profiles import (
    AZURE_CAPABILITIES,
    LOCAL_CAPABILITIES,
    OPENAI_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
)
from desktop.core.metrics import MetricsAccumulator
from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl

BASE = "gpt-4o-mini-2024-07-18"


def _profile(server: FakeOpenAIServer, kind: ProviderKind = ProviderKind.OPENAI) -> ProviderProfile:
    caps = {
        ProviderKind.OPENAI: OPENAI_CAPABILITIES,
        ProviderKind.AZURE: AZURE_CAPABILITIES,
        ProviderKind.LOCAL: LOCAL_CAPABILITIES,
    }[kind]
    url = server.azure_base_url if kind is ProviderKind.AZURE else server.base_url
    return ProviderProfile(
        id=kind.value, display_name=f"Fake {kind.value}", kind=kind, base_url=url, capabilities=caps
    )


@pytest.fixture
def training_path(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(40))
    return path


def test_small_file_goes_through_files_api(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    created = ft.upload_file(
        openai_client, training_path, progress=lambda s, t: seen.append((s, t))
    )
    size = training_path.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert created.purpose == "fine-tune"
    assert openai_client.files.content(created.id).read() == training_path.read_bytes()
    assert fake_openai.requests_to("POST", "/uploads") == []


def test_large_file_goes_through_uploads_in_parts(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    size = training_path.stat().st_size
    seen: list[int] = []
    created = ft.upload_file(
        openai_client,
        training_path,
        progress=lambda s, _t: seen.append(s),
        direct_limit=1000,
        part_size=1000,
    )
    parts = fake_openai.requests_to("POST", "/uploads/*/parts")
    assert len(parts) == -(-size // 1000)
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == size
    assert openai_client.files.content(created.id).read() == training_path.read_bytes()
    complete = fake_openai.requests_to("POST", "/uploads/*/complete")[0]
    assert complete.json is not None and "md5" in complete.json
    assert fake_openai.requests_to("POST", "/files") == []


def test_cancelled_upload_is_cancelled_on_the_provider(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    calls = {"n": 0}

    def stop_after_two_parts() -> bool:
        calls["n"] += 1
        return calls["n"] > 3  # first check is before anything is sent

    with pytest.raises(ft.UploadCancelled):
        ft.upload_file(
            openai_client,
            training_path,
            should_cancel=stop_after_two_parts,
            direct_limit=1000,
            part_size=1000,
        )
    assert len(fake_openai.requests_to("POST", "/uploads/*/parts")) == 2
    assert len(fake_openai.requests_to("POST", "/uploads/*/cancel")) == 1
    (upload,) = fake_openai.state.uploads.values()
    assert upload.status == "cancelled"
    assert fake_openai.state.files == {}


def test_create_job_sends_method_and_profile_extras(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    file_id = ft.upload_file(openai_client, training_path).id
    azure = _profile(fake_openai, ProviderKind.AZURE)
    job = ft.create_job(
        openai_client,
        azure,
        model=BASE,
        training_file=file_id,
        hyperparameters={"n_epochs": 2, "batch_size": None},
        suffix="my-model",
        seed=5,
        metadata={"dataset": "d1"},
    )
    assert job.status == "validating_files"
    (request,) = fake_openai.requests_to("POST", "/fine_tuning/jobs")
    assert request.json == {
        "model": BASE,
        "training_file": file_id,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        "suffix": "my-model",
        "seed": 5,
        "metadata": {"dataset": "d1"},
        "trainingType": "Standard",
    }


@pytest.mark.parametrize(
    ("kind", "method", "suffix", "param"),
    [
        (ProviderKind.AZURE, "supervised", "v1.2", "suffix"),
        (ProviderKind.OPENAI, "supervised", "x" * 65, "suffix"),
        (ProviderKind.OPENAI, "reinforcement", None, "method.type"),
        (ProviderKind.LOCAL, "supervised", None, None),
    ],
)
def test_create_job_refuses_locally_what_the_profile_cannot_do(
    fake_openai: FakeOpenAIServer,
    openai_client: openai.OpenAI,
    kind: ProviderKind,
    method: str,
    suffix: str | None,
    param: str | None,
) -> None:
    with pytest.raises(ProviderError) as info:
        ft.create_job(
            openai_client,
            _profile(fake_openai, kind),
            model=BASE,
            training_file="file-x",
            method=method,
            suffix=suffix,
        )
    assert info.value.friendly.kind is ErrorKind.INVALID_REQUEST
    assert info.value.friendly.param == param
    assert fake_openai.requests_to("POST", "/fine_tuning/jobs") == []


def test_create_job_is_not_resent_after_a_server_error(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    file_id = ft.upload_file(openai_client, training_path).id
    fake_openai.inject("server_error", method="POST", path="/fine_tuning/jobs")
    with pytest.raises(ProviderError) as info:
        ft.create_job(openai_client, _profile(fake_openai), model=BASE, training_file=file_id)
    assert info.value.friendly.kind is ErrorKind.SERVER_ERROR
    assert len(fake_openai.requests_to("POST", "/fine_tuning/jobs")) == 1


def test_training_not_available_surfaces_as_provider_error(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    file_id = ft.upload_file(openai_client, training_path).id
    fake_openai.inject("training_not_available", method="POST", path="/fine_tuning/jobs")
    with pytest.raises(ProviderError) as info:
        ft.create_job(openai_client, _profile(fake_openai), model=BASE, training_file=file_id)
    assert info.value.friendly.kind is ErrorKind.TRAINING_NOT_AVAILABLE


def test_job_lifecycle_pages_events_checkpoints_and_results(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, training_path: Path
) -> None:
    profile = _profile(fake_openai)
    file_id = ft.upload_file(openai_client, training_path).id
    jobs = [
        ft.create_job(
            openai_client,
            profile,
            model=BASE,
            training_file=file_id,
            hyperparameters={"n_epochs": 3, "batch_size": 10},
        )
        for _ in range(3)
    ]
    first = ft.list_jobs(openai_client, limit=2)
    assert [j.id for j in first.items] == [jobs[2].id, jobs[1].id]
    assert first.next_after == jobs[1].id
    rest = ft.list_jobs(openai_client, after=first.next_after, limit=2)
    assert [j.id for j in rest.items] == [jobs[0].id] and rest.next_after is None

    job_id = jobs[0].id
    assert ft.cancel_job(openai_client, jobs[1].id).status == "cancelled"
    fake_openai.advance(6)
    assert ft.pause_job(openai_client, job_id).status == "paused"
    assert ft.resume_job(openai_client, job_id).status == "running"
    fake_openai.advance(100)
    done = ft.retrieve_job(openai_client, job_id)
    assert done.status == "succeeded"

    events = ft.list_events(openai_client, job_id, limit=100)
    metrics = MetricsAccumulator()
    metrics.add_events(e.model_dump() for e in events.items)
    steps = list(metrics.series(n_epochs=3)["train_loss"].steps)
    assert steps == list(range(1, 13))  # 40 examples / 10 * 3 epochs
    checkpoints = ft.list_checkpoints(openai_client, job_id)
    assert [c.step_number for c in checkpoints.items] == [12, 8, 4]
    csv_text = ft.download_results_csv(openai_client, done.result_files[0])
    assert csv_text.splitlines()[0].startswith("step,train_loss")
    assert len(csv_text.splitlines()) == 13


def test_results_csv_is_decoded_from_base64(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(chat_jsonl(10))
    with (
        FakeOpenAIServer(results_base64=True) as server,
        openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as client,
    ):
        job = ft.create_job(
            client,
            _profile(server),
            model=BASE,
            training_file=ft.upload_file(client, path).id,
            hyperparameters={"n_epochs": 1},
        )
        server.advance(100)
        result = ft.retrieve_job(client, job.id).result_files[0]
        assert ft.download_results_csv(client, result).startswith("step,train_loss")


def test_wrapper_errors_are_provider_errors(openai_client: openai.OpenAI) -> None:
    with pytest.raises(ProviderError) as info:
        ft.retrieve_job(openai_client, "ftjob-missing")
    assert info.value.friendly.kind is ErrorKind.NOT_FOUND

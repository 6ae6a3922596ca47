"""Nebius Token Factory through the training seam, over real HTTP against the fake's Nebius
flavour: profile, upload, create once, poll, loss from checkpoints, archive, deploy, chat."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from desktop.api import jobs_service as svc
from desktop.api.backends import backend_for, trains, traits_of
from desktop.api.backends.base import CreateOptions, UploadCancelled
from desktop.api.backends.nebius import (
    NebiusBackend,
    metric_event_id,
    parse_source,
    request_tag,
)
from desktop.api.chat import complete_chat
from desktop.api.client import build_client
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.profiles import (
    NEBIUS_BASE_URL,
    NEBIUS_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
    profile_from_template,
)
from desktop.core.archive import JobArchive
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.training import ChatRoute, ParameterRole, TrainingRequest, new_request_id
from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl, dpo_jsonl

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct"
FAST = svc.TransferOptions(retry_delay=0.01, lookup_waits=(1.0, 1.0), file_lookup_waits=(1.0,))


def no_wait(_seconds: float) -> None:
    """Waits that take no time (nothing here depends on the provider's clock)."""


@pytest.fixture
def profile(fake_nebius: FakeOpenAIServer) -> ProviderProfile:
    return profile_from_template("nebius", base_url=fake_nebius.base_url, profile_id="nebius-test")


@pytest.fixture
def backend(fake_nebius: FakeOpenAIServer, profile: ProviderProfile):
    """The Nebius backend over the real SDK, its waits moving the fake's clock."""
    with NebiusBackend(
        profile, build_client(profile, fake_nebius.api_key), sleep=fake_nebius.advance
    ) as made:
        yield made


@pytest.fixture
def archive(tmp_path: Path) -> JobArchive:
    return JobArchive(tmp_path / "archive")


def plan(profile: ProviderProfile, **changes) -> svc.TrainingPlan:
    values = {
        "profile": profile,
        "dataset_name": "support answers.jsonl",
        "training": chat_jsonl(40),
        "validation": chat_jsonl(10, topic="billing"),
        "model": BASE,
        "request_id": new_request_id(),
        "hyperparameters": {
            "n_epochs": 4,
            "batch_size": 4,
            "learning_rate": 0.00002,
            "lora_r": 16,
            "lora_alpha": 32,
        },
        "suffix": "support",
        "seed": 7,
    }
    values.update(changes)
    return svc.TrainingPlan(**values)


def finished(
    fake: FakeOpenAIServer, backend: NebiusBackend, archive: JobArchive, profile, **changes
) -> JobSummary:
    """A job of ``plan`` started through the service and followed to its end."""
    started = svc.start_training(backend, archive, plan(profile, **changes), options=FAST)
    fake.advance(1000)
    tracker = svc.JobTracker.open(archive, profile.id, started.summary.id)
    snapshot = tracker.poll(backend)
    assert snapshot.complete
    return snapshot.summary


# ---- profiles and the registry ----------------------------------------------------------------


def test_the_nebius_template_makes_a_profile_that_trains_through_its_own_backend(fake_nebius):
    made = profile_from_template("nebius")
    assert made.kind is ProviderKind.NEBIUS and made.base_url == NEBIUS_BASE_URL
    assert made.capabilities == NEBIUS_CAPABILITIES
    assert trains(made)
    traits = traits_of(made)
    assert traits is not None and traits.name == "Nebius Token Factory"
    assert not traits.can_pause and ChatRoute.DEPLOY_IN_APP in traits.chat_routes
    assert traits.metrics == "per checkpoint" and traits.limits
    local = profile_from_template("nebius", base_url=fake_nebius.base_url)
    with backend_for(local, fake_nebius.api_key) as backend:
        assert isinstance(backend, NebiusBackend)
    assert fake_nebius.requests == []


def test_a_saved_compatible_profile_at_nebius_becomes_a_nebius_profile_and_keeps_its_id():
    saved = {
        "id": "nebius-token-factory-1a2b3c4d",
        "display_name": "Nebius Token Factory",
        "kind": "compatible",
        "base_url": "https://api.tokenfactory.nebius.com/v1/",
        "capabilities": {"fine_tuning": True, "methods": ["supervised"]},
    }
    loaded = ProviderProfile.from_dict(saved)
    assert loaded.kind is ProviderKind.NEBIUS and loaded.id == saved["id"]
    assert loaded.capabilities == NEBIUS_CAPABILITIES
    assert ProviderProfile.from_dict(loaded.to_dict()) == loaded
    regional = dict(saved, base_url="https://api.tokenfactory.us-central1.nebius.com/v1/")
    assert ProviderProfile.from_dict(regional).kind is ProviderKind.NEBIUS
    preset = profile_from_template("compatible", preset="Nebius Token Factory")
    assert preset.kind is ProviderKind.NEBIUS
    elsewhere = dict(saved, base_url="https://llm.example/v1")
    assert ProviderProfile.from_dict(elsewhere).kind is ProviderKind.COMPATIBLE


def test_nebius_declares_its_own_settings_with_an_absolute_learning_rate(backend):
    specs = {spec.name: spec for spec in backend.parameters("supervised")}
    assert set(specs) == {
        "n_epochs",
        "learning_rate",
        "batch_size",
        "lora",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "context_length",
        "packing",
    }
    rate = specs["learning_rate"]
    assert rate.role is ParameterRole.LEARNING_RATE and "not a multiple" in rate.help
    assert rate.default == 0.00001 and rate.problem(0.05) is not None
    assert specs["lora"].default is True and not specs["lora"].automatic
    assert specs["lora"].problem(None) is not None  # the app always says yes or no
    assert specs["lora_dropout"].problem(0.6) == "LoRA dropout can be at most 0.5."
    assert specs["n_epochs"].role is ParameterRole.EPOCHS
    assert all(spec.help for spec in specs.values())


def test_trainable_models_are_the_documented_lora_bases(backend, fake_nebius):
    from desktop.core.catalog import Catalog

    models = backend.trainable_models(Catalog.load())
    assert [m.id for m in models] == list(NEBIUS_CAPABILITIES.catalog_models)
    assert all(not m.exact_tokens and m.methods == ("supervised",) for m in models)


# ---- the whole flow ---------------------------------------------------------------------------


def test_upload_create_poll_archive_deploy_and_chat(fake_nebius, backend, archive, profile):
    chosen = plan(profile)
    started = svc.start_training(backend, archive, chosen, options=FAST)
    (create,) = fake_nebius.requests_to("POST", "/fine_tuning/jobs")
    assert create.status == 200 and create.schema_errors == []
    assert create.json == {
        "model": BASE,
        "training_file": started.uploads[0].file_id,
        "validation_file": started.uploads[1].file_id,
        "hyperparameters": {
            "n_epochs": 4,
            "batch_size": 4,
            "learning_rate": 0.00002,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora": True,  # on unless the user turns it off
        },
        "suffix": f"support-{request_tag(chosen.request_id)}",
        "seed": 7,
    }
    summary = started.summary
    assert summary.suffix == "support"  # the tag is the app's bookkeeping, not the name
    assert summary.hyperparameters["learning_rate"] == 0.00002
    assert summary.hyperparameters["lora"] is True

    tracker = svc.JobTracker.open(archive, profile.id, summary.id)
    first = tracker.poll(backend)
    assert first.summary.status is JobStatus.VALIDATING_FILES and first.series is not None
    assert first.series.is_empty

    fake_nebius.advance(5 + 15)  # validated, queued, 15 of 40 steps: one checkpoint
    running = tracker.poll(backend)
    assert running.summary.status is JobStatus.RUNNING
    assert running.series is not None and list(running.series["train_loss"].steps) == [10]
    assert [c.step for c in running.checkpoints] == [10]

    fake_nebius.advance(100)
    done = tracker.poll(backend)
    assert done.just_finished and done.complete
    job = fake_nebius.job(summary.id)
    expected = {c["step_number"]: c["metrics"] for c in job.checkpoints}
    assert sorted(expected) == [10, 20, 30, 40]
    series = done.series
    assert series is not None and series.total_steps == 40
    for name in ("train_loss", "valid_loss", "train_mean_token_accuracy"):
        curve = series[name]
        assert list(curve.steps) == [10, 20, 30, 40]
        assert list(curve.values) == [expected[step][name] for step in (10, 20, 30, 40)]
    assert done.advice  # the same advice code reads the same curves
    assert [c.step for c in done.checkpoints] == [10, 20, 30, 40]
    assert done.checkpoints[-1].metrics["train_loss"] == expected[40]["train_loss"]

    archived = archive.load(profile.id, summary.id)
    assert len(archived.checkpoints) == 4
    points = [e for e in archived.events if e.get("type") == "metrics"]
    assert [e["id"] for e in points] == [metric_event_id(c["id"]) for c in job.checkpoints]
    assert len(archived.metrics["train_loss"]) == 4  # a reopened job draws the same chart
    stored = json.loads((archived.folder / "job.json").read_text())
    assert stored["provider_record"]["hyperparameters"]["lora_r"] == 16

    target = backend.chat_target(done.summary)
    assert target.route is ChatRoute.DEPLOY_IN_APP and target.billing_warning is None
    assert parse_source(target.model) == (summary.id, job.checkpoints[-1]["id"])
    said: list[str] = []
    name = backend.prepare_chat(target, progress=said.append)
    (deploy,) = fake_nebius.requests_to("POST", "/v0/models")
    assert deploy.schema_errors == [] and deploy.status == 200
    assert deploy.json["source"] == target.model and deploy.json["base_model"] == BASE
    assert deploy.json["name"].startswith("support-")
    assert fake_nebius.state.get_custom_model(name).status == "active"
    assert any("getting the trained model ready" in s for s in said)
    assert said[-1] == "The trained model is ready."

    with build_client(profile, fake_nebius.api_key) as client:
        reply = complete_chat(client, name, [{"role": "user", "content": "hello"}])
    assert reply.text == f"Echo from {name}: hello"

    again = backend.prepare_chat(backend.chat_target(done.summary))
    assert again == name
    assert len(fake_nebius.requests_to("POST", "/v0/models")) == 1  # reused, not made twice
    backend.stop_serving(name)  # billed per token: nothing runs by the minute
    assert fake_nebius.state.get_custom_model(name).status == "active"
    assert fake_nebius.internal_errors == []


def test_an_earlier_checkpoint_can_be_deployed_by_its_name(fake_nebius, backend, archive, profile):
    summary = finished(fake_nebius, backend, archive, profile)
    first = archive.load(profile.id, summary.id).checkpoints[0]
    target = backend.chat_target(summary, first["fine_tuned_model_checkpoint"])
    assert target.route is ChatRoute.DEPLOY_IN_APP
    name = backend.prepare_chat(target)
    deployed = fake_nebius.state.get_custom_model(name)
    assert deployed.checkpoint_id == first["id"] and deployed.status == "active"
    # a name Nebius already answers to needs nothing more
    named = backend.chat_target(summary, name)
    assert named.route is ChatRoute.SAME_PROFILE and backend.prepare_chat(named) == name


# ---- refused extras ---------------------------------------------------------------------------


def test_the_fake_refuses_unknown_and_ill_typed_extras_like_nebius(fake_nebius, profile):
    with build_client(profile, fake_nebius.api_key) as client:
        training = client.files.create(file=("t.jsonl", chat_jsonl(20)), purpose="fine-tune")
        bodies = {
            "hyperparameters.learning_rate_multiplier": {"learning_rate_multiplier": 2},
            "hyperparameters.lora": {"lora": "yes"},
            "hyperparameters.lora_r": {"lora_r": 8.5},
            "hyperparameters.lora_dropout": {"lora_dropout": 1.0},
            "hyperparameters.packing": {"packing": 1},
            "hyperparameters.context_length": {"context_length": "8k"},
        }
        for param, hyperparameters in bodies.items():
            with pytest.raises(openai.BadRequestError) as info:
                client.post(
                    "/fine_tuning/jobs",
                    body={
                        "model": BASE,
                        "training_file": training.id,
                        "hyperparameters": hyperparameters,
                    },
                    cast_to=object,
                )
            assert info.value.body["param"] == param, info.value.body
        with pytest.raises(openai.BadRequestError) as info:
            client.post(
                "/fine_tuning/jobs",
                body={"model": BASE, "training_file": training.id, "metadata": {"a": "b"}},
                cast_to=object,
            )
        assert info.value.body["code"] == "unknown_parameter"
    refused = fake_nebius.requests_to("POST", "/fine_tuning/jobs")
    assert len(refused) == 7 and all(r.status == 400 and r.schema_errors for r in refused)
    assert fake_nebius.state.jobs == {}


def test_the_openai_backend_sends_what_nebius_refuses(fake_nebius, profile, archive):
    """Why Nebius needs its own backend: OpenAI's request shape is refused, not ignored."""
    from desktop.api.backends.openai_protocol import OpenAIProtocolBackend

    client = build_client(profile, fake_nebius.api_key)
    with (
        OpenAIProtocolBackend(profile, client) as openai_shaped,
        pytest.raises(ProviderError) as info,
    ):
        svc.start_training(
            openai_shaped, archive, plan(profile, hyperparameters={"n_epochs": 2}), options=FAST
        )
    assert info.value.friendly.kind is ErrorKind.INVALID_REQUEST
    assert fake_nebius.state.jobs == {}


def test_settings_nebius_would_refuse_are_refused_before_anything_is_sent(
    fake_nebius, backend, profile
):
    def request(**changes) -> TrainingRequest:
        values = {"model": BASE, "training_file": "file-1", "parameters": {}}
        values.update(changes)
        return TrainingRequest(**values)

    options = CreateOptions(lookup_waits=(), sleep=no_wait)
    cases = {
        "learning_rate_multiplier": request(parameters={"learning_rate_multiplier": 2.0}),
        "lora_r": request(parameters={"lora_r": 0}),
        "method": request(method="dpo"),
        "suffix": request(suffix="x" * 52),
    }
    for param, case in cases.items():
        with pytest.raises(ProviderError) as info:
            backend.create_job_once(case, new_request_id(), options)
        assert info.value.friendly.kind is ErrorKind.INVALID_REQUEST
        assert info.value.friendly.param == param
    assert fake_nebius.requests == []


def test_lora_off_sends_no_lora_settings_and_can_only_be_downloaded(
    fake_nebius, backend, archive, profile
):
    summary = finished(
        fake_nebius,
        backend,
        archive,
        profile,
        hyperparameters={"n_epochs": 1, "lora": False, "lora_r": 16, "packing": False},
    )
    (create,) = fake_nebius.requests_to("POST", "/fine_tuning/jobs")
    assert create.json["hyperparameters"] == {"n_epochs": 1, "lora": False, "packing": False}
    target = backend.chat_target(summary)
    assert target.route is ChatRoute.DOWNLOAD and "LoRA" in (target.instructions or "")
    with pytest.raises(ProviderError) as info:
        backend.prepare_chat(target)
    assert "cannot serve" in info.value.friendly.message
    assert fake_nebius.requests_to("POST", "/v0/models") == []
    # Nebius itself refuses to deploy a full fine-tune, and says why
    checkpoint = fake_nebius.job(summary.id).checkpoints[-1]["id"]
    with (
        build_client(profile, fake_nebius.api_key) as client,
        pytest.raises(openai.BadRequestError, match="Only LoRA"),
    ):
        client.post(
            fake_nebius.nebius_models_url,
            body={"name": "full", "base_model": BASE, "source": f"{summary.id}:{checkpoint}"},
            cast_to=object,
        )


# ---- never twice ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drop", "malformed_json"])
def test_a_lost_create_answer_finds_the_job_by_its_tag_instead_of_sending_again(
    fake_nebius, backend, archive, profile, fault
):
    fake_nebius.inject(fault, method="POST", path="/fine_tuning/jobs")
    looks: list[str] = []
    chosen = plan(profile)
    started = svc.start_training(
        backend, archive, chosen, stage=looks.append, options=FAST, sleep=no_wait
    )
    assert len(fake_nebius.requests_to("POST", "/fine_tuning/jobs")) == 1
    assert list(fake_nebius.state.jobs) == [started.summary.id]
    assert any("looking for the job" in line for line in looks)
    assert started.summary.suffix == "support"
    # the user's "Look again" finds it by the request alone; another request finds nothing
    found = svc.find_started_job(backend, archive, chosen)
    assert found is not None and found.summary.id == started.summary.id
    assert svc.find_started_job(backend, archive, plan(profile)) is None
    assert len(fake_nebius.requests_to("POST", "/fine_tuning/jobs")) == 1


def test_a_rate_limited_create_is_sent_again_and_an_unfound_job_is_an_unknown_outcome(
    fake_nebius, backend, archive, profile
):
    fake_nebius.inject("rate_limit", method="POST", path="/fine_tuning/jobs", retry_after=0)
    started = svc.start_training(backend, archive, plan(profile), options=FAST, sleep=no_wait)
    assert len(fake_nebius.requests_to("POST", "/fine_tuning/jobs")) == 2
    assert len(fake_nebius.state.jobs) == 1 and started.summary.id in fake_nebius.state.jobs

    lost = plan(profile)
    fake_nebius.inject("no_answer", method="POST", path="/fine_tuning/jobs", appear_after=1e6)
    quick = NebiusBackend(profile, build_client(profile, fake_nebius.api_key, timeout=0.5))
    with quick, pytest.raises(ProviderError) as info:
        svc.start_training(quick, archive, lost, options=FAST, sleep=no_wait)
    assert info.value.friendly.kind is ErrorKind.UNKNOWN_OUTCOME
    assert len(fake_nebius.requests_to("POST", "/fine_tuning/jobs")) == 3
    fake_nebius.advance(2e6)  # it appears after all: "Look again" finds it, sends nothing
    found = svc.find_started_job(backend, archive, lost)
    assert found is not None and len(fake_nebius.state.jobs) == 2
    assert len(fake_nebius.requests_to("POST", "/fine_tuning/jobs")) == 3


def test_a_lost_deploy_answer_is_looked_for_not_deployed_again(
    fake_nebius, backend, archive, profile
):
    summary = finished(fake_nebius, backend, archive, profile)
    fake_nebius.inject("drop", method="POST", path="/v0/models")
    name = backend.prepare_chat(backend.chat_target(summary))
    assert len(fake_nebius.requests_to("POST", "/v0/models")) == 1
    assert [m.name for m in fake_nebius.state.list_custom_models()] == [name]


def test_stopping_the_wait_leaves_the_deployment_to_be_reused(
    fake_nebius, backend, archive, profile
):
    summary = finished(fake_nebius, backend, archive, profile)
    target = backend.chat_target(summary)
    said: list[str] = []
    with pytest.raises(UploadCancelled):
        backend.prepare_chat(target, progress=said.append, should_cancel=lambda: bool(said[1:]))
    (deployed,) = fake_nebius.state.list_custom_models()
    assert deployed.status == "validating"
    name = backend.prepare_chat(target)
    assert name == deployed.name and len(fake_nebius.requests_to("POST", "/v0/models")) == 1


def test_a_deployment_that_never_gets_ready_is_said_plainly(fake_nebius, archive, profile, backend):
    summary = finished(fake_nebius, backend, archive, profile)
    impatient = NebiusBackend(
        profile,
        build_client(profile, fake_nebius.api_key),
        sleep=fake_nebius.advance,
        deploy_poll=2,
        deploy_wait=6,
    )
    with impatient:
        with pytest.raises(ProviderError) as info:
            impatient.prepare_chat(impatient.chat_target(summary))
        assert info.value.friendly.kind is ErrorKind.TIMEOUT
        assert "same deployment" in info.value.friendly.next_step
        fake_nebius.advance(20)
        assert impatient.prepare_chat(impatient.chat_target(summary))  # ready on a later try
    assert len(fake_nebius.requests_to("POST", "/v0/models")) == 1


# ---- jobs, cancel, download -------------------------------------------------------------------


def test_a_job_can_be_cancelled_but_not_paused(fake_nebius, backend, archive, profile):
    started = svc.start_training(backend, archive, plan(profile), options=FAST)
    with pytest.raises(ProviderError, match="cannot pause"):
        svc.act_on_job(backend, archive, profile.id, started.summary.id, "pause")
    cancelled = svc.act_on_job(backend, archive, profile.id, started.summary.id, "cancel")
    assert cancelled.status is JobStatus.CANCELLED
    assert fake_nebius.requests_to("POST", "/fine_tuning/jobs/*/pause") == []
    page = svc.list_job_page(backend, archive, profile.id)
    assert [s.id for s in page.summaries] == [started.summary.id]
    assert page.summaries[0].suffix == "support"


def test_the_trained_adapter_downloads_with_progress_and_a_stop_leaves_nothing(
    fake_nebius, backend, archive, profile, tmp_path
):
    summary = finished(fake_nebius, backend, archive, profile)
    last = fake_nebius.job(summary.id).checkpoints[-1]
    expected = {
        fake_nebius.state.files[f].filename: fake_nebius.state.files[f].content
        for f in last["result_files"]
    }
    first_size = len(next(iter(expected.values())))
    reached: list[int] = []
    with pytest.raises(UploadCancelled):  # stopped once the first file is whole
        backend.download_result(
            summary,
            tmp_path / "stopped",
            progress=lambda done, _total: reached.append(done),
            should_cancel=lambda: bool(reached) and reached[-1] >= first_size,
        )
    assert reached and list((tmp_path / "stopped").iterdir()) == []

    seen: list[tuple[int, int]] = []
    folder = backend.download_result(
        summary, tmp_path / "models", progress=lambda done, total: seen.append((done, total))
    )
    assert folder.parent == tmp_path / "models" and "step-40" in folder.name
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected
    total = sum(len(v) for v in expected.values())
    assert seen[-1] == (total, total) and [d for d, _t in seen] == sorted(d for d, _t in seen)
    again = backend.download_result(summary, tmp_path / "models")  # never over the first
    assert again != folder and again.name == f"{folder.name}-2"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected


def test_a_preference_job_is_refused_before_it_is_created(fake_nebius, backend, archive, profile):
    with pytest.raises(ProviderError, match="only supervised"):
        svc.start_training(
            backend, archive, plan(profile, training=dpo_jsonl(), method="dpo"), options=FAST
        )
    assert fake_nebius.requests_to("POST", "/fine_tuning/jobs") == []

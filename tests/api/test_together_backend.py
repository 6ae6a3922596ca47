"""Training, serving and downloading through Together AI's own API, against the fake server.

Every call goes over real HTTP through the client the app builds for a profile; the fake checks
each request and answer against Together's OpenAPI description (``fake_together`` fixture).
"""

from __future__ import annotations

import json

import pytest

from desktop.api import jobs_service as svc
from desktop.api.backends import BACKENDS, TRAITS, backend_for, traits_of
from desktop.api.backends.base import CreateOptions
from desktop.api.backends.together import (
    BILLING_WARNING,
    TogetherBackend,
    job_from_together,
    request_tag,
    split_suffix,
)
from desktop.api.chat import stream_chat, token_limit_field
from desktop.api.client import build_client, test_connection
from desktop.api.errors import ErrorKind, ProviderError, UploadCancelled
from desktop.api.model_list import list_models
from desktop.api.profiles import TEMPLATES, ProviderKind, profile_from_template
from desktop.core.advice import advise
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import SUFFIX_KEY, JobStatus, JobSummary
from desktop.core.training import (
    ChatRoute,
    ParameterRole,
    TrainingRequest,
    new_request_id,
)
from tests.fake_openai.samples import chat_jsonl, dpo_jsonl
from tests.fake_together import HARDWARE, FakeTogetherServer

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
QWEN = "Qwen/Qwen2.5-7B-Instruct"


def no_wait(_seconds: float) -> None:
    """Waits that take no time."""


@pytest.fixture
def backend(fake_together, together_profile):
    """The Together backend as the app builds it, with waits that move the fake's clock."""
    made = TogetherBackend(
        together_profile,
        build_client(together_profile, fake_together.api_key),
        hardware=HARDWARE[0],
        sleep=fake_together.advance,
    )
    with made:
        yield made


@pytest.fixture
def archive(tmp_path) -> JobArchive:
    return JobArchive(tmp_path / "archive")


def options(fake: FakeTogetherServer, **changes) -> CreateOptions:
    values = {"lookup_waits": (2.0, 4.0, 8.0), "retry_delay": 0.01, "sleep": fake.advance}
    values.update(changes)
    return CreateOptions(**values)


def plan(profile, **changes) -> svc.TrainingPlan:
    values = {
        "profile": profile,
        "dataset_name": "support answers.jsonl",
        "training": chat_jsonl(40),
        "validation": chat_jsonl(10, topic="billing"),
        "model": LLAMA,
        "request_id": new_request_id(),
        "hyperparameters": {"n_epochs": 3, "batch_size": 4},
        "suffix": "support",
        "seed": 7,
    }
    values.update(changes)
    return svc.TrainingPlan(**values)


def uploaded(fake: FakeTogetherServer, data: bytes | None = None) -> str:
    return fake.add_file("train.jsonl", data or chat_jsonl(20))


def created_jobs(fake: FakeTogetherServer) -> int:
    return len(fake.state.jobs)


# ---- the profile and what the backend declares ----------------------------------------------


def test_the_together_template_makes_a_profile_that_trains_through_its_own_backend(
    fake_together,
):
    template = TEMPLATES["together"]
    assert template.display_name == "Together AI"
    assert template.base_url == "https://api.together.xyz/v1"
    assert template.capabilities.methods == ("supervised", "dpo")
    assert template.capabilities.needs_key
    profile = profile_from_template("together")
    assert profile.kind is ProviderKind.TOGETHER and profile.base_url == template.base_url
    assert ProviderKind.TOGETHER in BACKENDS and ProviderKind.TOGETHER in TRAITS
    traits = traits_of(profile)
    assert traits is not None and traits.name == "Together AI"
    assert traits.price_estimate and traits.downloadable and not traits.can_pause
    assert ChatRoute.DEPLOY_IN_APP in traits.chat_routes
    assert any("paused" in line for line in traits.limits)
    local = profile_from_template("together", base_url=fake_together.base_url)
    with backend_for(local, fake_together.api_key) as made:
        assert isinstance(made, TogetherBackend)
    with pytest.raises(ProviderError) as info:
        backend_for(local, None)
    assert info.value.friendly.kind is ErrorKind.NO_KEY
    assert fake_together.requests == []


def test_a_together_profile_connects_and_lists_its_models_for_the_chat_panel(
    fake_together, together_profile
):
    """Together answers ``GET /models`` with a bare array, not OpenAI's page."""
    result = test_connection(together_profile, fake_together.api_key)
    assert result.ok and result.model_count == 3, result.sentence
    with build_client(together_profile, fake_together.api_key) as client:
        models = list_models(client)
    assert [m.id for m in models] == sorted(fake_together.state.listed)
    assert all(m.listed_by_provider and m.created for m in models)


def test_the_settings_are_together_s_own_with_plain_help(backend):
    supervised = {spec.name: spec for spec in backend.parameters("supervised")}
    dpo = {spec.name for spec in backend.parameters("dpo")}
    assert set(supervised) == {
        "training_type",
        "n_epochs",
        "learning_rate",
        "batch_size",
        "n_evals",
        "lora_r",
        "lora_alpha",
        "n_checkpoints",
    }
    assert dpo == set(supervised) | {"dpo_beta"}
    assert supervised["learning_rate"].role is ParameterRole.LEARNING_RATE
    assert supervised["learning_rate"].default == 0.00001  # absolute, not a multiplier
    assert supervised["n_epochs"].role is ParameterRole.EPOCHS
    assert supervised["batch_size"].role is ParameterRole.BATCH_SIZE
    assert [c for c, _label in supervised["training_type"].choices] == ["Lora", "Full"]
    assert supervised["lora_r"].advanced and supervised["lora_r"].automatic
    assert all(spec.help.strip() for spec in supervised.values())


def test_trainable_models_are_together_s_with_approximate_tokens(fake_together, backend):
    models = backend.trainable_models(Catalog.load())
    by_id = {m.id: m for m in models}
    assert set(by_id) == set(fake_together.state.trainable)
    qwen = by_id[QWEN]
    assert qwen.context_limit == 32768 and qwen.label == "Qwen 2.5 7B Instruct"
    assert by_id[LLAMA].context_limit is None  # not listed by /models
    assert all(not m.exact_tokens and "approximately" in (m.note or "") for m in models)
    assert fake_together.requests_to("GET", "/fine-tunes/models/supported")


# ---- files -----------------------------------------------------------------------------------


def test_upload_streams_progress_and_sends_the_multipart_fields(
    fake_together, backend, archive, together_profile
):
    data = chat_jsonl(3000)  # ~300 KB: several chunks
    seen: list[int] = []
    result = svc.upload_dataset(
        backend,
        archive,
        together_profile.id,
        data,
        role="training",
        filename="d-training.jsonl",
        progress=lambda sent, _total: seen.append(sent),
    )
    assert not result.reused
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == len(data)
    stored = fake_together.state.files[result.file_id]
    assert stored.content == data and stored.purpose == "fine-tune"
    sent = fake_together.requests_to("POST", "/files/upload")[0].form
    assert sent["purpose"] == "fine-tune" and sent["file_name"] == stored.filename
    assert stored.filename.startswith("d-training-")  # the content's hash is in the name


def test_an_upload_whose_answer_was_lost_is_found_and_not_sent_again(
    fake_together, backend, archive, together_profile
):
    fake_together.inject("drop", method="POST", path="/files/upload")
    result = svc.upload_dataset(
        backend,
        archive,
        together_profile.id,
        chat_jsonl(20),
        role="training",
        filename="a.jsonl",
        sleep=no_wait,
    )
    assert len(fake_together.requests_to("POST", "/files/upload")) == 1
    assert list(fake_together.state.files) == [result.file_id]


def test_a_file_the_provider_no_longer_holds_is_sent_again(
    fake_together, backend, archive, together_profile
):
    def send():
        return svc.upload_dataset(
            backend, archive, together_profile.id, chat_jsonl(20), role="training", filename="a"
        )

    first = send()
    assert send().reused
    fake_together.state.delete_file(first.file_id)
    third = send()
    assert not third.reused and third.file_id != first.file_id


def test_a_cancelled_upload_sends_nothing_more(fake_together, backend):
    with pytest.raises(UploadCancelled):
        backend.upload(chat_jsonl(3000), "x.jsonl", should_cancel=lambda: True)
    assert fake_together.requests_to("POST", "/files/upload") == []


# ---- the whole flow --------------------------------------------------------------------------


def test_profile_to_chat_and_download_end_to_end(
    fake_together, backend, archive, together_profile, tmp_path
):
    job_plan = plan(together_profile)
    started = svc.start_training(backend, archive, job_plan, sleep=fake_together.advance)
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 1
    body = fake_together.requests_to("POST", "/fine-tunes")[0].json
    assert body["suffix"] == f"support-st{request_tag(job_plan.request_id)}"
    assert body["training_type"] == {"type": "Lora", "lora_r": 64, "lora_alpha": 128}
    assert body["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    assert (body["n_epochs"], body["batch_size"], body["n_evals"]) == (3, 4, 5)
    assert body["random_seed"] == 7 and "validation_file" in body
    summary = started.summary
    assert summary.status is JobStatus.QUEUED and summary.suffix == "support"
    assert summary.metadata[SUFFIX_KEY] == "support"

    tracker = svc.JobTracker.open(archive, together_profile.id, summary.id)
    statuses = []
    snapshot = None
    for _ in range(200):
        fake_together.advance(3)
        snapshot = tracker.poll(backend)
        statuses.append(snapshot.summary.status)
        if snapshot.complete:
            break
    assert snapshot is not None and snapshot.complete
    assert snapshot.summary.status is JobStatus.SUCCEEDED
    assert JobStatus.RUNNING in statuses
    job = fake_together.state.jobs[summary.id]
    assert snapshot.summary.fine_tuned_model == job.model_output_name
    assert snapshot.summary.hyperparameters["learning_rate"] == 1e-5

    # the chart and the advice read the same series as for any other provider
    loaded = archive.load(together_profile.id, summary.id)
    train = loaded.metrics["train_loss"]
    assert list(train.steps) == list(range(1, job.total_steps + 1)) and job.total_steps == 30
    assert len(loaded.metrics["valid_loss"]) == 5
    assert train.values[-1] < train.values[0]
    assert advise(loaded.metrics, hyperparameters=loaded.summary.hyperparameters, n_examples=40)
    assert any("Training completed" in e["message"] for e in loaded.events)
    assert [c["fine_tuned_model_checkpoint"] for c in loaded.checkpoints] == [summary.id]

    # chat through a dedicated endpoint the app starts and stops
    target = backend.chat_target(snapshot.summary)
    assert target.route is ChatRoute.DEPLOY_IN_APP and target.billing_warning == BILLING_WARNING
    said: list[str] = []
    name = backend.prepare_chat(target, progress=said.append)
    assert any("billed per minute" in line for line in said)
    created = fake_together.requests_to("POST", "/endpoints")[0].json
    assert created["model"] == job.model_output_name and created["hardware"] == HARDWARE[0]
    assert created["inactive_timeout"] == 15
    with build_client(together_profile, fake_together.api_key) as client:
        reply = "".join(
            chunk.delta
            for chunk in stream_chat(
                client,
                name,
                [{"role": "user", "content": "Hello there"}],
                limit_field=token_limit_field(together_profile),
            )
        )
    assert reply == f"Echo from {name}: Hello there"
    assert backend.prepare_chat(target) == name  # the running endpoint is used again
    assert len(fake_together.requests_to("POST", "/endpoints")) == 1
    backend.stop_serving(name)
    assert fake_together.state.endpoints == {}

    # the adapter, downloaded into the job's archive folder
    folder = archive.job_folder(together_profile.id, summary.id)
    progress: list[tuple[int, int]] = []
    path = backend.download_result(
        snapshot.summary, folder, progress=lambda done, total: progress.append((done, total))
    )
    expected = fake_together.state.adapter_bytes(job, "adapter")
    assert path.parent == folder and path.name.endswith("-adapter.tar.zst")
    assert path.read_bytes() == expected
    assert progress[-1] == (len(expected), len(expected)) and len(progress) > 2
    query = fake_together.requests_to("GET", "/finetune/download")[0].query
    assert query == {"ft_id": [summary.id], "checkpoint": ["adapter"]}


def test_a_job_logs_per_step_metrics_as_metric_points(fake_together, backend):
    file_id = uploaded(fake_together)
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=file_id),
        new_request_id(),
        options(fake_together),
    )
    fake_together.advance(8)  # past pending and queued, three steps in
    events = backend.new_events(job["id"], set())
    points = [e for e in events if e["type"] == "metrics"]
    assert [p["data"]["step"] for p in points] == [3, 2, 1]  # newest first
    assert points[-1]["message"].startswith("Step 1/")
    assert set(points[0]["data"]) >= {"step", "train_loss", "total_steps"}
    assert backend.new_events(job["id"], {e["id"] for e in events}) == []


def test_the_job_list_is_paged_newest_first_and_archived(
    fake_together, backend, archive, together_profile
):
    file_id = uploaded(fake_together)
    made = []
    for _ in range(3):
        made.append(
            backend.create_job_once(
                TrainingRequest(model=LLAMA, training_file=file_id),
                new_request_id(),
                options(fake_together),
            )["id"]
        )
        fake_together.advance(1)
    first = svc.list_job_page(backend, archive, together_profile.id, limit=2)
    assert [s.id for s in first.summaries] == made[:0:-1] and first.next_after == made[1]
    rest = svc.list_job_page(backend, archive, together_profile.id, after=first.next_after)
    assert [s.id for s in rest.summaries] == [made[0]] and rest.next_after is None
    assert {s.id for s in archive.list_jobs(together_profile.id)} == set(made)


def test_together_statuses_map_onto_the_app_s(fake_together):
    expected = {
        "pending": JobStatus.QUEUED,
        "queued": JobStatus.QUEUED,
        "running": JobStatus.RUNNING,
        "compressing": JobStatus.RUNNING,
        "uploading": JobStatus.RUNNING,
        "cancel_requested": JobStatus.RUNNING,
        "cancelled": JobStatus.CANCELLED,
        "error": JobStatus.FAILED,
        "completed": JobStatus.SUCCEEDED,
    }
    for word, status in expected.items():
        record = job_from_together({"id": "ft-1", "status": word, "model": LLAMA})
        assert JobSummary.from_dict(record).status is status, word
        assert record["provider_record"]["status"] == word
    odd = job_from_together({"id": "ft-1", "status": "thawing", "model": LLAMA})
    assert JobSummary.from_dict(odd).raw_status == "thawing"


def test_a_failed_job_says_why_in_together_s_words(fake_together, backend):
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
        new_request_id(),
        options(fake_together),
    )
    fake_together.state.fail_job(job["id"], "The training data has too few tokens.")
    summary = JobSummary.from_dict(backend.retrieve_job(job["id"]))
    assert summary.status is JobStatus.FAILED
    assert summary.error == "The training data has too few tokens."


def test_the_suffix_tag_is_read_back_from_either_field():
    assert split_suffix({"suffix": "Bot-st0123abcd"}) == ("Bot", "0123abcd")
    assert split_suffix({"suffix": "st0123abcd"}) == (None, "0123abcd")
    assert split_suffix({"suffix": "mine"}) == ("mine", None)
    named = {
        "model": LLAMA,
        "model_output_name": "me/Meta-Llama-3.1-8B-Instruct-Reference-my-bot-st0123abcd-9f8e7d6c",
    }
    assert split_suffix(named) == ("my-bot", "0123abcd")
    assert split_suffix({"model": LLAMA, "model_output_name": "me/x-9f8e7d6c"}) == (None, None)


# ---- created exactly once ------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drop", "malformed_json"])
def test_a_lost_create_answer_finds_the_job_instead_of_creating_another(
    fake_together, backend, fault
):
    fake_together.inject(fault, method="POST", path="/fine-tunes")
    request_id = new_request_id()
    looks: list[tuple[int, int]] = []
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together), suffix="bot"),
        request_id,
        options(fake_together, on_look=lambda n, total: looks.append((n, total))),
    )
    assert created_jobs(fake_together) == 1 and job["id"] in fake_together.state.jobs
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 1
    assert looks == [(1, 3)]
    assert JobSummary.from_dict(job).suffix == "bot"


def test_a_timed_out_create_keeps_looking_until_the_job_is_listed(fake_together, together_profile):
    quick = together_profile.with_changes(timeout_seconds=1)
    fake_together.inject("no_answer", method="POST", path="/fine-tunes", appear_after=5, delay=5)
    with TogetherBackend(quick, build_client(quick, fake_together.api_key)) as backend:
        job = backend.create_job_once(
            TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
            new_request_id(),
            options(fake_together),
        )
    assert created_jobs(fake_together) == 1 and job["id"] in fake_together.state.jobs
    assert len(fake_together.requests_to("GET", "/fine-tunes")) >= 2  # not listed at first


def test_a_job_that_never_shows_is_an_unknown_outcome_and_send_again_looks_first(
    fake_together, backend
):
    fake_together.inject("drop", method="POST", path="/fine-tunes", appear_after=1000)
    request = TrainingRequest(model=LLAMA, training_file=uploaded(fake_together))
    request_id = new_request_id()
    with pytest.raises(ProviderError) as info:
        backend.create_job_once(request, request_id, options(fake_together))
    assert info.value.friendly.kind is ErrorKind.UNKNOWN_OUTCOME
    assert "14 seconds" in info.value.friendly.message
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 1
    assert backend.find_job(request_id) is None

    fake_together.advance(1000)  # the provider lists it at last
    again = backend.create_job_once(request, request_id, options(fake_together, look_first=True))
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 1
    assert created_jobs(fake_together) == 1 and again["id"] in fake_together.state.jobs


def test_a_rate_limited_create_waits_as_asked_and_is_sent_again(fake_together, backend):
    fake_together.inject("rate_limit", method="POST", path="/fine-tunes", retry_after=7)
    waits: list[float] = []
    retries: list[str] = []
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
        new_request_id(),
        options(fake_together, sleep=waits.append, on_retry=retries.append),
    )
    assert waits == [7.0] and len(retries) == 1
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 2
    assert created_jobs(fake_together) == 1 and job["id"] in fake_together.state.jobs


def test_a_server_error_is_looked_for_but_never_sent_twice(fake_together, backend):
    fake_together.inject("server_error", method="POST", path="/fine-tunes")
    with pytest.raises(ProviderError) as info:
        backend.create_job_once(
            TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
            new_request_id(),
            options(fake_together),
        )
    assert info.value.friendly.kind is ErrorKind.UNKNOWN_OUTCOME
    assert len(fake_together.requests_to("POST", "/fine-tunes")) == 1
    assert created_jobs(fake_together) == 0


def test_a_refused_key_is_said_plainly_and_nothing_is_looked_for(fake_together, backend):
    fake_together.inject("invalid_api_key", method="POST", path="/fine-tunes")
    with pytest.raises(ProviderError) as info:
        backend.create_job_once(
            TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
            new_request_id(),
            options(fake_together),
        )
    assert info.value.friendly.kind is ErrorKind.WRONG_KEY
    assert fake_together.api_key not in info.value.friendly.text()
    assert fake_together.requests_to("GET", "/fine-tunes") == []


def test_what_together_would_refuse_is_refused_before_anything_is_sent(fake_together, backend):
    file_id = uploaded(fake_together)
    cases = [
        ({"lora_r": 128}, "LoRA rank can be at most 64"),
        ({"batch_size": 64}, "batch size must be between 1 and 8"),
        ({"learning_rate_multiplier": 2.0}, "no setting called"),
        ({"n_evals": 3}, "need validation examples"),
    ]
    for parameters, words in cases:
        with pytest.raises(ProviderError, match=words):
            backend.create_job_once(
                TrainingRequest(model=LLAMA, training_file=file_id, parameters=parameters),
                new_request_id(),
                options(fake_together),
            )
    full_70b = TrainingRequest(
        model="meta-llama/Llama-3.3-70B-Instruct-Reference",
        training_file=file_id,
        parameters={"training_type": "Full"},
    )
    with pytest.raises(ProviderError, match="only LoRA"):
        backend.create_job_once(full_70b, new_request_id(), options(fake_together))
    with pytest.raises(ProviderError, match="does not fine-tune"):
        backend.create_job_once(
            TrainingRequest(model="nobody/none", training_file=file_id),
            new_request_id(),
            options(fake_together),
        )
    assert fake_together.requests_to("POST", "/fine-tunes") == []


def test_preference_training_sends_dpo_with_its_beta(fake_together, backend):
    file_id = uploaded(fake_together, dpo_jsonl(16))
    job = backend.create_job_once(
        TrainingRequest(
            model=QWEN,
            training_file=file_id,
            method="dpo",
            parameters={"dpo_beta": 0.3, "training_type": "Full", "n_epochs": 1},
        ),
        new_request_id(),
        options(fake_together),
    )
    body = fake_together.requests_to("POST", "/fine-tunes")[0].json
    assert body["training_method"] == {"method": "dpo", "dpo_beta": 0.3}
    assert body["training_type"] == {"type": "Full"} and "suffix" in body
    summary = JobSummary.from_dict(job)
    assert summary.method == "dpo" and summary.hyperparameters["dpo_beta"] == 0.3


# ---- price -----------------------------------------------------------------------------------


def test_the_price_comes_from_together_before_training(fake_together, backend):
    training = uploaded(fake_together, chat_jsonl(400))
    validation = uploaded(fake_together, chat_jsonl(40))
    estimate = backend.estimate_price(
        TrainingRequest(
            model=LLAMA,
            training_file=training,
            validation_file=validation,
            parameters={"n_epochs": 2},
        )
    )
    sent = fake_together.requests_to("POST", "/fine-tunes/estimate-price")[0].json
    answer = fake_together.requests_to("POST", "/fine-tunes/estimate-price")[0].response_json
    assert sent["n_epochs"] == 2 and sent["n_evals"] == 5 and "suffix" not in sent
    assert estimate is not None and estimate.allowed
    assert estimate.total_usd == answer["estimated_total_price"] > 0
    assert estimate.limit_usd == 100.0
    assert f"{answer['estimated_train_token_count']:,}" in (estimate.note or "")
    assert fake_together.requests_to("POST", "/fine-tunes") == []

    fake_together.state.user_limit = 0.001
    refused = backend.estimate_price(TrainingRequest(model=LLAMA, training_file=training))
    assert refused is not None and not refused.allowed
    assert "Together would refuse this job" in (refused.note or "")


# ---- watching, cancelling, faults while polling ----------------------------------------------


def test_cancel_stops_the_job_and_pause_is_refused_plainly(fake_together, backend):
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
        new_request_id(),
        options(fake_together),
    )
    with pytest.raises(ProviderError, match="cannot pause"):
        backend.act(job["id"], "pause")
    answer = backend.act(job["id"], "cancel")
    assert answer["provider_record"]["status"] == "cancel_requested"
    fake_together.advance(2)
    assert JobSummary.from_dict(backend.retrieve_job(job["id"])).status is JobStatus.CANCELLED


def test_a_cancel_whose_answer_was_lost_is_confirmed_from_the_job(fake_together, backend):
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
        new_request_id(),
        options(fake_together),
    )
    fake_together.inject("drop", method="POST", path="/fine-tunes/*/cancel")
    answer = backend.act(job["id"], "cancel")
    assert answer["provider_record"]["status"] == "cancel_requested"
    assert len(fake_together.requests_to("POST", "/fine-tunes/*/cancel")) == 1


def test_polls_ride_out_rate_limits_and_lose_nothing_to_a_server_error(
    fake_together, backend, archive, together_profile
):
    started = svc.start_training(
        backend, archive, plan(together_profile), sleep=fake_together.advance
    )
    tracker = svc.JobTracker.open(archive, together_profile.id, started.summary.id)
    fake_together.advance(12)
    fake_together.inject("rate_limit", method="GET", path="/fine-tunes/*", retry_after=0.01)
    assert tracker.poll(backend, attempts=2).summary.status is JobStatus.RUNNING
    fake_together.advance(6)
    fake_together.inject("server_error", method="GET", path="/fine-tunes/*/metrics")
    with pytest.raises(ProviderError) as info:
        tracker.poll(backend)
    assert info.value.friendly.kind is ErrorKind.SERVER_ERROR
    snapshot = tracker.poll(backend)
    steps = list(snapshot.series["train_loss"].steps) if snapshot.series else []
    assert steps == list(range(1, fake_together.state.jobs[started.summary.id].steps_done + 1))


# ---- serving and downloading -----------------------------------------------------------------


def finished(fake: FakeTogetherServer, backend: TogetherBackend, **parameters) -> JobSummary:
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake), parameters=parameters),
        new_request_id(),
        options(fake),
    )
    fake.finish_job(job["id"])
    return JobSummary.from_dict(backend.retrieve_job(job["id"]))


def test_stopping_a_starting_endpoint_leaves_nothing_billing(fake_together, backend):
    job = finished(fake_together, backend)
    looks = iter(range(3))
    with pytest.raises(UploadCancelled):
        backend.prepare_chat(backend.chat_target(job), should_cancel=lambda: next(looks, 99) >= 2)
    assert fake_together.state.endpoints == {}
    assert len(fake_together.requests_to("DELETE", "/endpoints/*")) == 1


def test_a_stopped_endpoint_is_started_again_rather_than_made_twice(fake_together, backend):
    job = finished(fake_together, backend)
    name = backend.prepare_chat(backend.chat_target(job))
    (endpoint,) = fake_together.state.endpoints.values()
    fake_together.state.update_endpoint(endpoint.id, {"state": "STOPPED"})
    fake_together.advance(10)
    assert backend.prepare_chat(backend.chat_target(job)) == name
    assert len(fake_together.requests_to("POST", "/endpoints")) == 1
    assert fake_together.requests_to("PATCH", "/endpoints/*")[0].json == {"state": "STARTED"}


def test_a_lost_endpoint_answer_is_found_in_the_list(fake_together, backend):
    job = finished(fake_together, backend)
    fake_together.inject("drop", method="POST", path="/endpoints")
    name = backend.prepare_chat(backend.chat_target(job))
    assert len(fake_together.state.endpoints) == 1
    assert len(fake_together.requests_to("POST", "/endpoints")) == 1
    assert name == next(iter(fake_together.state.endpoints.values())).name
    backend.stop_serving(job.fine_tuned_model or "")  # the model's name stops it too
    assert fake_together.state.endpoints == {}


def test_chat_before_the_endpoint_is_up_is_refused_by_together(
    fake_together, backend, together_profile
):
    job = finished(fake_together, backend)
    fake_together.state.create_endpoint({"model": job.fine_tuned_model, "hardware": HARDWARE[0]})
    client = build_client(together_profile, fake_together.api_key)
    with client, pytest.raises(ProviderError) as info:
        list(stream_chat(client, job.fine_tuned_model, [{"role": "user", "content": "hi"}]))
    assert info.value.friendly.status_code == 400
    assert "not running" in (info.value.friendly.provider_message or "")


def test_an_unfinished_job_has_nothing_to_serve_or_download(fake_together, backend, tmp_path):
    job = backend.create_job_once(
        TrainingRequest(model=LLAMA, training_file=uploaded(fake_together)),
        new_request_id(),
        options(fake_together),
    )
    summary = JobSummary.from_dict(job)
    with pytest.raises(ProviderError, match="no model to serve"):
        backend.prepare_chat(backend.chat_target(summary))
    with pytest.raises(ProviderError, match="nothing to download"):
        backend.download_result(summary, tmp_path)
    assert fake_together.requests_to("POST", "/endpoints") == []


def test_an_intermediate_checkpoint_is_only_for_download(fake_together, backend):
    job = finished(fake_together, backend, n_checkpoints=3)
    names = [c["fine_tuned_model_checkpoint"] for c in backend.checkpoints(job.id)]
    assert job.id in names and f"{job.id}:3" in names
    target = backend.chat_target(job, checkpoint_model=f"{job.id}:3")
    assert target.route is ChatRoute.DOWNLOAD and "together fine-tuning download" in (
        target.instructions or ""
    )
    with pytest.raises(ProviderError):
        backend.prepare_chat(target)
    assert backend.chat_target(job, checkpoint_model=job.id).route is ChatRoute.DEPLOY_IN_APP


def test_a_cut_off_or_stopped_download_leaves_no_file(fake_together, backend, tmp_path):
    job = finished(fake_together, backend)
    fake_together.inject("drop", method="GET", path="/finetune/download", after_chunks=2)
    with pytest.raises(ProviderError) as info:
        backend.download_result(job, tmp_path)
    assert info.value.friendly.kind is ErrorKind.NO_NETWORK
    assert list(tmp_path.iterdir()) == []
    calls = iter(range(100))
    with pytest.raises(UploadCancelled):
        backend.download_result(job, tmp_path, should_cancel=lambda: next(calls) > 2)
    assert list(tmp_path.iterdir()) == []
    path = backend.download_result(job, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_full_training_job_downloads_the_whole_model(fake_together, backend, tmp_path):
    job = finished(fake_together, backend, training_type="Full")
    path = backend.download_result(job, tmp_path)
    query = fake_together.requests_to("GET", "/finetune/download")[0].query
    assert query["checkpoint"] == ["model_output_path"]
    assert path.name.endswith("-model_output_path.tar.zst")


def test_the_recorded_requests_hold_no_key(fake_together, backend):
    backend.trainable_models(Catalog.load())
    dumped = json.dumps([r.headers for r in fake_together.requests])
    assert fake_together.api_key not in dumped and "***" in dumped

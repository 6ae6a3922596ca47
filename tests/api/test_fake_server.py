"""The fake provider behaves like the API the app is built against (through the real SDK)."""

from __future__ import annotations

import csv
import hashlib
import io
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.fake_openai import DEFAULT_TEST_KEY, FakeOpenAIServer, Timing, chat_reply
from tests.fake_openai.samples import chat_jsonl, dpo_jsonl
from tests.fake_openai.server import MissingDependency

BASE = "gpt-4o-mini-2024-07-18"


def _upload(client: openai.OpenAI, content: bytes | None = None, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, content or chat_jsonl()), purpose="fine-tune").id


def _supervised(**hp: object) -> dict:
    return {"type": "supervised", "supervised": {"hyperparameters": hp}}


# ---- auth ------------------------------------------------------------------------------------
def test_wrong_key_is_rejected_with_401(fake_openai: FakeOpenAIServer) -> None:
    with (
        openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-wrong", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        c.models.list()
    assert info.value.code == "invalid_api_key"
    assert fake_openai.requests[-1].key_ok is False


def test_azure_api_key_header_is_accepted(fake_openai: FakeOpenAIServer) -> None:
    with openai.OpenAI(
        base_url=fake_openai.azure_base_url,
        api_key="sk-wrong-bearer",
        default_headers={"api-key": fake_openai.api_key or ""},
        max_retries=0,
    ) as c:
        assert c.models.list().data
    record = fake_openai.requests[-1]
    assert record.auth == "bearer+api-key"
    assert record.raw_path == "/openai/v1/models"
    assert record.headers["api-key"] == "***"


def test_keyless_server_accepts_any_key() -> None:
    with (
        FakeOpenAIServer(api_key=None) as server,
        openai.OpenAI(base_url=server.base_url, api_key="anything", max_retries=0) as c,
    ):
        reply = c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == "Echo from gpt-4o-mini: hi"


def test_recorded_headers_never_hold_the_key(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    openai_client.models.list()
    record = fake_openai.requests[-1]
    assert record.headers["authorization"] == "***"
    assert fake_openai.api_key not in repr(fake_openai.requests)


def test_unknown_route_answers_404_in_error_shape(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.get("/nope", cast_to=object)
    assert "Invalid URL" in str(info.value)


# ---- files -----------------------------------------------------------------------------------
def test_file_create_list_retrieve_content_delete(openai_client: openai.OpenAI) -> None:
    data = chat_jsonl(11)
    created = openai_client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert (created.bytes, created.purpose, created.filename) == (
        len(data),
        "fine-tune",
        "train.jsonl",
    )
    assert openai_client.files.retrieve(created.id).id == created.id
    assert openai_client.files.content(created.id).read() == data
    assert [f.id for f in openai_client.files.list(purpose="fine-tune")] == [created.id]
    assert openai_client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(created.id)


def test_fine_tune_file_must_be_jsonl(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.files.create(file=("train.csv", b"a,b\n"), purpose="fine-tune")
    assert info.value.param == "file"


def test_file_list_paginates_with_after_and_order(openai_client: openai.OpenAI) -> None:
    ids = [_upload(openai_client, name=f"f{i}.jsonl") for i in range(5)]
    first = openai_client.files.list(limit=2, order="asc")
    assert [f.id for f in first.data] == ids[:2]
    assert first.has_more is True
    assert [f.id for f in openai_client.files.list(order="asc", limit=2)] == ids  # auto-paging
    assert [f.id for f in openai_client.files.list(order="desc")] == ids[::-1]


def test_file_expires_after_is_applied(openai_client: openai.OpenAI) -> None:
    created = openai_client.files.create(
        file=("train.jsonl", chat_jsonl()),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert created.expires_at == created.created_at + 7200


# ---- uploads ---------------------------------------------------------------------------------
def test_upload_in_parts_joins_in_given_order(openai_client: openai.OpenAI) -> None:
    data = chat_jsonl(30)
    pieces = [data[:100], data[100:250], data[250:]]
    upload = openai_client.uploads.create(
        bytes=len(data), filename="big.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert upload.status == "pending"
    # Send parts out of order; the part_ids list decides the final order.
    part_ids = {}
    for index in (2, 0, 1):
        part_ids[index] = openai_client.uploads.parts.create(upload.id, data=pieces[index]).id
    done = openai_client.uploads.complete(
        upload.id,
        part_ids=[part_ids[0], part_ids[1], part_ids[2]],
        md5=hashlib.md5(data).hexdigest(),
    )
    assert done.status == "completed"
    assert done.file is not None
    assert openai_client.files.content(done.file.id).read() == data


def test_upload_complete_rejects_wrong_byte_total(openai_client: openai.OpenAI) -> None:
    upload = openai_client.uploads.create(
        bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = openai_client.uploads.parts.create(upload.id, data=b"12345")
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.uploads.complete(upload.id, part_ids=[part.id])
    assert "does not match" in str(info.value)


def test_cancelled_and_expired_uploads_take_no_parts(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    upload = openai_client.uploads.create(
        bytes=5, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert openai_client.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        openai_client.uploads.parts.create(upload.id, data=b"12345")
    later = openai_client.uploads.create(
        bytes=5, filename="y.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    fake_openai.advance(3601)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.uploads.parts.create(later.id, data=b"12345")
    assert "expired" in str(info.value)


# ---- jobs ------------------------------------------------------------------------------------
def test_job_runs_through_every_status_on_the_test_clock(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = _upload(openai_client, chat_jsonl(10))
    job = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=training,
        suffix="demo",
        method=_supervised(n_epochs=4, batch_size=2),
    )
    seen = [job.status]
    for _ in range(40):
        fake_openai.advance(1)
        status = openai_client.fine_tuning.jobs.retrieve(job.id).status
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["validating_files", "queued", "running", "succeeded"]
    done = openai_client.fine_tuning.jobs.retrieve(job.id)
    short = job.id.removeprefix("ftjob-")[:8]
    assert done.fine_tuned_model == f"ft:{BASE}:fake-org:demo:{short}"
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.finished_at is not None
    assert done.hyperparameters.n_epochs == 4
    # the fine-tuned model can be listed and chatted with
    assert done.fine_tuned_model in {m.id for m in openai_client.models.list()}


def test_metrics_events_one_per_step_newest_first(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = _upload(openai_client, chat_jsonl(10))
    validation = _upload(openai_client, chat_jsonl(10, topic="tides"), name="valid.jsonl")
    job = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=training,
        validation_file=validation,
        method=_supervised(n_epochs=3, batch_size=5),
    )
    fake_openai.advance(1000)
    events = list(openai_client.fine_tuning.jobs.list_events(job.id, limit=4))
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    metrics = [e for e in events if e.type == "metrics"]
    steps = [e.data["step"] for e in metrics]
    assert steps == list(range(6, 0, -1))  # 10 examples / batch 5 * 3 epochs
    last = metrics[0].data
    assert set(last) == {
        "step",
        "total_steps",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    }
    assert "full_valid_loss" not in metrics[-1].data  # step 1 is not an epoch end
    assert metrics[0].data["train_loss"] < metrics[-1].data["train_loss"]
    page = openai_client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert page.has_more is True
    following = openai_client.fine_tuning.jobs.list_events(job.id, limit=3, after=page.data[-1].id)
    assert following.data[0].id == events[3].id


def test_losses_are_deterministic_by_seed() -> None:
    def run() -> list[float]:
        with (
            FakeOpenAIServer() as server,
            openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as c,
        ):
            job = c.fine_tuning.jobs.create(
                model=BASE, training_file=_upload(c), seed=7, method=_supervised(n_epochs=2)
            )
            server.advance(500)
            return [
                e.data["train_loss"]
                for e in c.fine_tuning.jobs.list_events(job.id)
                if e.type == "metrics"
            ]

    first, second = run(), run()
    assert first == second
    assert len(set(first)) > 1  # noisy, not constant


def test_checkpoints_keep_only_the_last_three_epochs(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    job = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=_upload(openai_client, chat_jsonl(10)),
        method=_supervised(n_epochs=5, batch_size=10),
    )
    fake_openai.advance(500)
    checkpoints = list(openai_client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [5, 4, 3]
    model = openai_client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{model}:ckpt-step-5"
    reply = openai_client.chat.completions.create(
        model=checkpoints[-1].fine_tuned_model_checkpoint,
        messages=[{"role": "user", "content": "hello"}],
    )
    assert reply.choices[0].message.content.endswith("hello")


def test_result_file_is_a_metrics_csv(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    job = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=_upload(openai_client, chat_jsonl(10)),
        method=_supervised(n_epochs=2, batch_size=10),
    )
    fake_openai.advance(500)
    done = openai_client.fine_tuning.jobs.retrieve(job.id)
    info = openai_client.files.retrieve(done.result_files[0])
    assert info.purpose == "fine-tune-results"
    rows = list(csv.DictReader(io.StringIO(openai_client.files.content(info.id).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [r["step"] for r in rows] == ["1", "2"]
    assert rows[0]["valid_loss"] == ""


def test_result_file_can_be_base64_like_the_real_api() -> None:
    import base64

    with (
        FakeOpenAIServer(results_base64=True) as server,
        openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as c,
    ):
        job = c.fine_tuning.jobs.create(
            model=BASE, training_file=_upload(c), method=_supervised(n_epochs=1)
        )
        server.advance(500)
        file_id = c.fine_tuning.jobs.retrieve(job.id).result_files[0]
        text = c.files.content(file_id).text
    assert not text.startswith("step")
    assert base64.b64decode(text).startswith(b"step,train_loss")


def test_pause_stops_the_clock_for_a_job_and_resume_continues(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    job = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=_upload(openai_client, chat_jsonl(10)),
        method=_supervised(n_epochs=1, batch_size=1),
    )
    fake_openai.advance(7)  # 2 validating + 3 queued + 2 steps
    assert fake_openai.job(job.id).steps_done == 2
    assert openai_client.fine_tuning.jobs.pause(job.id).status == "paused"
    fake_openai.advance(100)
    assert fake_openai.job(job.id).steps_done == 2
    assert openai_client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    assert openai_client.fine_tuning.jobs.resume(job.id).status == "running"
    fake_openai.advance(3)
    assert fake_openai.job(job.id).steps_done == 5
    fake_openai.advance(100)
    assert openai_client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_cancelled_is_terminal(fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI) -> None:
    job = openai_client.fine_tuning.jobs.create(model=BASE, training_file=_upload(openai_client))
    assert openai_client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    fake_openai.advance(1000)
    assert openai_client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        openai_client.fine_tuning.jobs.resume(job.id)
    with pytest.raises(openai.BadRequestError):
        openai_client.fine_tuning.jobs.cancel(job.id)


def test_too_few_examples_fail_during_validation(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    job = openai_client.fine_tuning.jobs.create(
        model=BASE, training_file=_upload(openai_client, chat_jsonl(3))
    )
    fake_openai.advance(10)
    failed = openai_client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.param == "training_file"
    assert "at least 10" in failed.error.message


def test_dpo_job_reports_beta(fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI) -> None:
    job = openai_client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=_upload(openai_client, dpo_jsonl()),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.5, "n_epochs": 1}}},
    )
    fake_openai.advance(100)
    done = openai_client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.method is not None and done.method.type == "dpo"
    assert done.method.dpo is not None
    assert done.method.dpo.hyperparameters is not None
    assert done.method.dpo.hyperparameters.beta == 0.5


@pytest.mark.parametrize(
    ("method", "param"),
    [
        (_supervised(n_epochs=0), "method.supervised.hyperparameters.n_epochs"),
        (_supervised(n_epochs=51), "method.supervised.hyperparameters.n_epochs"),
        (_supervised(n_epochs=2.5), "method.supervised.hyperparameters.n_epochs"),
        (_supervised(batch_size=0), "method.supervised.hyperparameters.batch_size"),
        (_supervised(batch_size=257), "method.supervised.hyperparameters.batch_size"),
        (
            _supervised(learning_rate_multiplier=0),
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        (
            {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0}}},
            "method.dpo.hyperparameters.beta",
        ),
        (
            {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.01}}},
            "method.dpo.hyperparameters.beta",
        ),
        ({"type": "shouting"}, "method.type"),
    ],
)
def test_hyperparameter_ranges_are_enforced(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI, method: dict, param: str
) -> None:
    training = _upload(openai_client)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.fine_tuning.jobs.create(model=BASE, training_file=training, method=method)
    assert info.value.param == param
    assert info.value.type == "invalid_request_error"
    assert fake_openai.state.jobs == {}


def test_boundary_values_are_accepted(openai_client: openai.OpenAI) -> None:
    training = _upload(openai_client)
    ok = openai_client.fine_tuning.jobs.create(
        model=BASE,
        training_file=training,
        suffix="x" * 64,
        method={
            "type": "dpo",
            "dpo": {"hyperparameters": {"beta": 2, "n_epochs": 50, "batch_size": 256}},
        },
    )
    assert ok.status == "validating_files"


def test_suffix_longer_than_64_is_refused(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.fine_tuning.jobs.create(
            model=BASE, training_file=_upload(openai_client), suffix="x" * 65
        )
    assert info.value.param == "suffix"


def test_training_file_must_exist(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.fine_tuning.jobs.create(model=BASE, training_file="file-missing")
    assert info.value.param == "training_file"


def test_unknown_model_cannot_be_fine_tuned(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.fine_tuning.jobs.create(model="gpt-9", training_file=_upload(openai_client))
    assert info.value.param == "model"


def test_job_list_pages_newest_first_and_filters_metadata(openai_client: openai.OpenAI) -> None:
    training = _upload(openai_client)
    ids = [
        openai_client.fine_tuning.jobs.create(
            model=BASE, training_file=training, metadata={"project": "a" if i % 2 else "b"}
        ).id
        for i in range(5)
    ]
    plain = openai_client.fine_tuning.jobs.create(model=BASE, training_file=training).id
    page = openai_client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == [plain, ids[4]]
    assert page.has_more is True
    assert [j.id for j in openai_client.fine_tuning.jobs.list(limit=2)] == [plain, *ids[::-1]]
    tagged = openai_client.fine_tuning.jobs.list(metadata={"project": "a"})
    assert [j.id for j in tagged] == [ids[3], ids[1]]
    untagged = openai_client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [j.id for j in untagged.data] == [plain]


def test_realtime_mode_moves_jobs_without_help() -> None:
    server = FakeOpenAIServer(timing=Timing(validating=0.1, queued=0.1, per_step=0.1))
    with server:
        server.start_realtime(speed=20.0, interval=0.02)
        with openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as c:
            job = c.fine_tuning.jobs.create(
                model=BASE, training_file=_upload(c), method=_supervised(n_epochs=1, batch_size=12)
            )
            import time

            deadline = time.monotonic() + 5
            status = job.status
            while status != "succeeded" and time.monotonic() < deadline:
                time.sleep(0.02)
                status = c.fine_tuning.jobs.retrieve(job.id).status
    assert status == "succeeded"


# ---- models ----------------------------------------------------------------------------------
def test_models_list_retrieve_and_delete(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    models = {m.id: m for m in openai_client.models.list()}
    assert models[BASE].shutdown_date == "2027-01-14"
    assert models["gpt-4o-mini"].shutdown_date is None
    fake_openai.add_model("ft:gpt-4o-mini-2024-07-18:fake-org:x:abc", owned_by="fake-org")
    ft = "ft:gpt-4o-mini-2024-07-18:fake-org:x:abc"
    assert openai_client.models.retrieve(ft).owned_by == "fake-org"
    assert openai_client.models.delete(ft).deleted is True
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.models.retrieve(ft)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        openai_client.models.delete(BASE)


# ---- chat ------------------------------------------------------------------------------------
def test_chat_reply_is_deterministic(openai_client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "what is up"},
    ]
    reply = openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert reply.choices[0].message.content == chat_reply("gpt-4o-mini", messages)
    assert reply.choices[0].message.content == "Echo from gpt-4o-mini: what is up"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 6


def test_chat_stream_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo from gpt-4o-mini: stream me"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_chat_stream_without_usage_has_no_usage_chunk(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)


def test_chat_max_tokens_cuts_with_length(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "one two three"}],
        max_completion_tokens=2,
    )
    assert reply.choices[0].message.content == "Echo from"
    assert reply.choices[0].finish_reason == "length"


def test_chat_unknown_model_is_model_not_found(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.chat.completions.create(
            model="ft:gone", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "model_not_found"


def test_legacy_completion(openai_client: openai.OpenAI) -> None:
    reply = openai_client.completions.create(model="davinci-002", prompt="Once")
    assert reply.choices[0].text == " Echo from davinci-002: Once"


# ---- faults and records ----------------------------------------------------------------------
def test_fault_applies_for_n_calls_then_stops(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    rule = fake_openai.inject("server_error", method="GET", path="/v1/models", times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            openai_client.models.list()
    assert openai_client.models.list().data
    assert rule.hits == 2
    assert [r.fault for r in fake_openai.requests_to("GET", "/models")] == [
        "server_error",
        "server_error",
        None,
    ]


def test_fault_always_and_route_matching(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("insufficient_quota", method="POST", path="/chat/completions", times=None)
    for _ in range(3):
        with pytest.raises(openai.RateLimitError):
            openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
    assert openai_client.models.list().data  # other routes unaffected
    fake_openai.clear_faults()
    assert openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    ).choices


def test_rate_limit_fault_sends_retry_after(
    openai_client: openai.OpenAI, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.inject("rate_limit", path="/models", retry_after=7)
    with pytest.raises(openai.RateLimitError) as info:
        openai_client.models.list()
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"


def test_unknown_fault_kind_is_refused(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake_openai.inject("explode")  # type: ignore[arg-type]


def test_requests_are_recorded_with_json_bodies(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    training = _upload(openai_client)
    openai_client.fine_tuning.jobs.create(model=BASE, training_file=training, suffix="s")
    creates = fake_openai.requests_to("POST", "/fine_tuning/jobs")
    assert len(creates) == 1
    assert creates[0].json == {"model": BASE, "training_file": training, "suffix": "s"}
    assert creates[0].operation_id == "createFineTuningJob"
    upload = fake_openai.requests_to("POST", "/files")[0]
    assert upload.form is not None and upload.form["purpose"] == "fine-tune"
    assert upload.body_size > len(chat_jsonl())


def test_can_be_started_by_hand() -> None:
    import queue
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--speed", "100"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line.strip()) for line in process.stdout],  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        printed = [lines.get(timeout=20) for _ in range(3)]
        base_url = printed[0].rsplit(" ", 1)[-1]
        key = printed[2].rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with openai.OpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
            job = client.fine_tuning.jobs.create(
                model=BASE, training_file=_upload(client), method=_supervised(n_epochs=1)
            )
            deadline = time.monotonic() + 10
            while client.fine_tuning.jobs.retrieve(job.id).status != "succeeded":
                assert time.monotonic() < deadline, "jobs did not progress on their own"
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        reader.join(timeout=5)
        process.stdout.close()  # type: ignore[union-attr]


def _by_hand(*args: str, without: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """``python -m tests.fake_openai ARGS`` as the README runs it, with ``without`` packages
    made impossible to import (as after the plain install, which lacks the test extras)."""
    code = (
        "import runpy, sys\n"
        f"for name in {without!r}: sys.modules[name] = None\n"
        f"sys.argv = ['tests.fake_openai', *{args!r}]\n"
        "runpy.run_module('tests.fake_openai', run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_by_hand_after_the_plain_install_answers_every_request() -> None:
    process = _by_hand("--port", "0", without=("jsonschema", "referencing", "pytest"))
    try:
        assert process.stdout is not None and process.stderr is not None
        base_url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:"), process.stderr.read()
        with openai.OpenAI(base_url=base_url, api_key=DEFAULT_TEST_KEY, max_retries=0) as c:
            job = c.fine_tuning.jobs.create(model=BASE, training_file=_upload(c))
            assert c.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "not checked against the OpenAPI description" in process.stderr.read()
    finally:
        _end(process)


def test_by_hand_ctrl_c_stops_it_even_when_started_from_a_background_job() -> None:
    """A shell's background job starts with SIGINT ignored, and Ctrl+C may come as soon as
    the address is printed, before the rest is: the server still stops cleanly."""
    code = (
        "import runpy, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "sys.argv = ['tests.fake_openai', '--port', '0']\n"
        "runpy.run_module('tests.fake_openai', run_name='__main__', alter_sys=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Fake OpenAI-compatible server at ")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        _end(process)


def test_by_hand_a_missing_dependency_stops_the_server_at_once() -> None:
    process = _by_hand("--port", "0", "--check-schemas", without=("jsonschema",))
    try:
        assert process.wait(timeout=20) == 2
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read() == ""  # no address is offered
        said = process.stderr.read()
        assert "Cannot start" in said and "pip install 'jsonschema" in said
        assert "Traceback" not in said
    finally:
        _end(process)


def test_a_server_that_cannot_check_requests_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tests.fake_openai

    monkeypatch.setitem(sys.modules, "jsonschema", None)
    monkeypatch.delitem(sys.modules, "tests.fake_openai.openapi", raising=False)
    monkeypatch.delattr(tests.fake_openai, "openapi", raising=False)
    server = FakeOpenAIServer()
    with pytest.raises(MissingDependency, match="jsonschema"):
        server.start()
    server.stop()
    with FakeOpenAIServer(check_schemas=False) as unchecked:  # asked not to check: serves
        with openai.OpenAI(
            base_url=unchecked.base_url, api_key=DEFAULT_TEST_KEY, max_retries=0
        ) as client:
            assert client.models.list().data
        assert unchecked.internal_errors == []


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()

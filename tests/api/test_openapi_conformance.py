"""Requests and answers of every route match the official OpenAPI description."""

from __future__ import annotations

import openai
import pytest

from tests.fake_openai import FakeOpenAIServer
from tests.fake_openai import openapi as spec
from tests.fake_openai.samples import chat_jsonl, dpo_jsonl
from tests.fake_openai.server import iter_routes

# Operations in the subset the app does not call (and the server does not serve).
NOT_SERVED = {
    "listChatCompletions",
    "runGrader",
    "validateGrader",
    "listFineTuningCheckpointPermissions",
    "createFineTuningCheckpointPermission",
    "deleteFineTuningCheckpointPermission",
}


def _exercise_every_route(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    """Call each served operation at least once, in success and error forms."""
    client.models.list()
    client.models.retrieve("gpt-4o-mini-2024-07-18")
    server.add_model("ft:gpt-4o-mini-2024-07-18:fake-org::old", owned_by="fake-org")
    client.models.delete("ft:gpt-4o-mini-2024-07-18:fake-org::old")

    training = client.files.create(file=("t.jsonl", chat_jsonl()), purpose="fine-tune")
    validation = client.files.create(
        file=("v.jsonl", chat_jsonl(10, topic="x")),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    prefs = client.files.create(file=("p.jsonl", dpo_jsonl()), purpose="fine-tune")
    client.files.list(limit=2, order="asc")
    client.files.list(purpose="batch")  # empty page
    client.files.retrieve(training.id)
    client.files.content(training.id).read()

    data = chat_jsonl(20)
    upload = client.uploads.create(
        bytes=len(data), filename="u.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    first = client.uploads.parts.create(upload.id, data=data[:50])
    second = client.uploads.parts.create(upload.id, data=data[50:])
    client.uploads.complete(upload.id, part_ids=[first.id, second.id])
    other = client.uploads.create(
        bytes=3, filename="c.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    client.uploads.cancel(other.id)

    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training.id,
        validation_file=validation.id,
        suffix="conf",
        seed=3,
        metadata={"run": "conformance"},
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}},
        },
    )
    dpo = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=prefs.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    legacy = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training.id,
        hyperparameters={"n_epochs": 1},
    )
    client.fine_tuning.jobs.retrieve(job.id)  # validating_files, hyperparameters still "auto"
    server.advance(6)
    client.fine_tuning.jobs.pause(dpo.id)
    client.fine_tuning.jobs.retrieve(dpo.id)
    client.fine_tuning.jobs.resume(dpo.id)
    client.fine_tuning.jobs.cancel(legacy.id)
    client.fine_tuning.jobs.retrieve(job.id)  # running, estimated_finish set
    server.advance(1000)
    client.fine_tuning.jobs.list(limit=2)
    client.fine_tuning.jobs.list(metadata={"run": "conformance"})
    done = client.fine_tuning.jobs.retrieve(job.id)
    client.fine_tuning.jobs.list_events(job.id, limit=50)
    client.fine_tuning.jobs.checkpoints.list(job.id)
    client.fine_tuning.jobs.checkpoints.list(legacy.id)  # empty page
    client.files.content(done.result_files[0]).read()
    client.files.delete(validation.id)

    assert done.fine_tuned_model is not None
    client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}]
    )
    list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "text", "text": "parts"}]},
            ],
            stream=True,
            stream_options={"include_usage": True},
            max_completion_tokens=50,
            temperature=0.2,
        )
    )
    client.completions.create(model="davinci-002", prompt="p", max_tokens=5)

    # error answers
    for call in (
        lambda: client.files.retrieve("file-nope"),
        lambda: client.fine_tuning.jobs.retrieve("ftjob-nope"),
        lambda: client.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        ),
        lambda: client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=training.id, suffix="x" * 65
        ),
    ):
        with pytest.raises(openai.APIStatusError):
            call()
    server.inject("rate_limit", path="/chat/completions", retry_after=2)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )


def test_every_served_route_is_in_the_spec_and_vice_versa() -> None:
    served = {operation_id for _method, operation_id in iter_routes()}
    assert served <= set(spec.operation_ids())
    assert set(spec.operation_ids()) - served == NOT_SERVED


def test_responses_and_requests_match_the_openapi_schemas(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    _exercise_every_route(fake_openai, openai_client)
    records = fake_openai.requests
    covered = {r.operation_id for r in records if r.status == 200}
    assert covered == {op for _m, op in iter_routes()}

    problems: list[str] = []
    for record in records:
        where = f"{record.method} {record.path} ({record.operation_id}, {record.status})"
        if record.status != 400:  # 400s come from deliberately invalid requests
            problems += [f"{where} request: {e}" for e in record.schema_errors]
        if record.status is None or record.operation_id is None:
            continue
        if record.status != 200:
            validator = spec.schema_validator("ErrorResponse")
            problems += [f"{where}: {e}" for e in spec.errors_of(validator, record.response_json)]
            continue
        if record.stream_chunks:
            validator = spec.response_validator(record.operation_id, "200", "text/event-stream")
            for chunk in record.stream_chunks:
                problems += [f"{where} chunk: {e}" for e in spec.errors_of(validator, chunk)]
        elif record.operation_id != "downloadFile":
            validator = spec.response_validator(record.operation_id)
            problems += [f"{where}: {e}" for e in spec.errors_of(validator, record.response_json)]
    assert problems == []
    refused = [r for r in records if r.status == 400]
    assert refused and all(r.schema_errors for r in refused)  # the request check is live


def test_rate_limit_answer_matches_the_documented_429(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    fake_openai.inject("rate_limit", path="/completions", retry_after=3)
    with pytest.raises(openai.RateLimitError) as info:
        openai_client.completions.create(model="davinci-002", prompt="x")
    validator = spec.response_validator("createCompletion", "429")
    assert spec.errors_of(validator, info.value.response.json()) == []
    assert int(info.value.response.headers["Retry-After"]) >= 1


def test_the_validator_is_not_vacuous() -> None:
    """A wrong shape must be reported, otherwise the tests above prove nothing."""
    job_validator = spec.schema_validator("FineTuningJob")
    assert spec.errors_of(job_validator, {"id": "ftjob-1", "object": "fine_tuning.job"})
    hp = spec.schema_validator("FineTuneSupervisedHyperparameters")
    assert spec.errors_of(hp, {"learning_rate_multiplier": 0})
    assert spec.errors_of(hp, {"learning_rate_multiplier": 0.5}) == []
    create = spec.request_validator("createFineTuningJob")
    assert create is not None
    assert spec.errors_of(create, {"model": "m", "training_file": "f", "suffix": None}) == []
    assert spec.errors_of(create, {"model": "m"})
    upload = spec.schema_validator("Upload")
    base = {
        "id": "u",
        "bytes": 1,
        "created_at": 1,
        "expires_at": 2,
        "filename": "f",
        "purpose": "fine-tune",
        "status": "pending",
    }
    assert spec.errors_of(upload, {**base, "file": None}) == []
    assert spec.errors_of(upload, {**base, "file": {"id": "x"}})

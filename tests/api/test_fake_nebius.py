"""The fake server's Nebius Token Factory flavour: Nebius's own job fields checked (never
ignored), the loss with each checkpoint, no pause, and LoRA deployments under ``/v0/models``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fake_openai import DEFAULT_TEST_KEY, FakeOpenAIServer
from tests.fake_openai.samples import chat_jsonl

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct"


@pytest.fixture
def client(fake_nebius: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=fake_nebius.base_url, api_key=fake_nebius.api_key, max_retries=0
    ) as made:
        yield made


def upload(client: openai.OpenAI, count: int = 20, topic: str = "weather") -> str:
    return client.files.create(
        file=("t.jsonl", chat_jsonl(count, topic=topic)), purpose="fine-tune"
    ).id


def create(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    return client.post("/fine_tuning/jobs", body={"model": BASE, **body}, cast_to=object)


def test_a_job_is_shown_as_nebius_shows_it(fake_nebius, client):
    job = create(
        client,
        training_file=upload(client),
        hyperparameters={"lora": True, "learning_rate": 0.00002, "n_epochs": 2},
        suffix="bot",
    )
    assert job["status"] == "validating_files" and job["suffix"] == "bot"
    assert job["hyperparameters"] == {
        "batch_size": 8,
        "learning_rate": 0.00002,
        "n_epochs": 2,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "lora": True,
        "lora_r": 8,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "packing": True,
        "max_grad_norm": 1.0,
        "context_length": 8192,
    }
    assert not {"method", "metadata", "fine_tuned_model"} & set(job)
    assert fake_nebius.requests_to("POST", "/fine_tuning/jobs")[0].schema_errors == []


def test_hyperparameters_may_come_inside_the_method_but_not_twice(fake_nebius, client):
    training = upload(client)
    inner = {"type": "supervised", "supervised": {"hyperparameters": {"lora": True}}}
    job = create(client, training_file=training, method=inner)
    assert job["hyperparameters"]["lora"] is True
    with pytest.raises(openai.BadRequestError, match="not both"):
        create(client, training_file=training, method=inner, hyperparameters={"n_epochs": 1})
    dpo = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}
    with pytest.raises(openai.BadRequestError) as info:
        create(client, training_file=training, method=dpo)
    assert info.value.body["param"] == "method.dpo"  # an unknown field, not ignored


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (
            {"hyperparameters": {"learning_rate_multiplier": 2}},
            "hyperparameters.learning_rate_multiplier",
            "unknown_parameter",
        ),
        ({"hyperparameters": {"lora": 1}}, "hyperparameters.lora", "invalid_type"),
        ({"hyperparameters": {"lora_alpha": "16"}}, "hyperparameters.lora_alpha", "invalid_type"),
        (
            {"hyperparameters": {"learning_rate": 0}},
            "hyperparameters.learning_rate",
            "invalid_value",
        ),
        ({"hyperparameters": {"n_epochs": True}}, "hyperparameters.n_epochs", "invalid_type"),
        ({"hyperparameters": {"warmup_ratio": 2}}, "hyperparameters.warmup_ratio", "invalid_value"),
        ({"metadata": {"k": "v"}}, "metadata", "unknown_parameter"),
        ({"suffix": "x" * 65}, "suffix", "string_above_max_length"),
        (
            {"integrations": [{"type": "wandb", "wandb": {"project": "p", "extra": 1}}]},
            "integrations.0.wandb.extra",
            "unknown_parameter",
        ),
    ],
)
def test_unknown_or_ill_typed_fields_are_refused_with_a_400(fake_nebius, client, body, param, code):
    with pytest.raises(openai.BadRequestError) as info:
        create(client, training_file=upload(client), **body)
    assert (info.value.body["param"], info.value.body["code"]) == (param, code)
    (refused,) = fake_nebius.requests_to("POST", "/fine_tuning/jobs")
    assert refused.status == 400 and any(e.startswith(param) for e in refused.schema_errors)
    assert fake_nebius.state.jobs == {}


def test_the_loss_comes_with_each_checkpoint_never_with_the_events(fake_nebius, client):
    job = create(
        client,
        training_file=upload(client),
        validation_file=upload(client, 10, "billing"),
        hyperparameters={"n_epochs": 3, "batch_size": 5, "lora": True},
    )
    fake_nebius.advance(100)
    done = client.get(f"/fine_tuning/jobs/{job['id']}", cast_to=object)
    assert done["status"] == "succeeded" and done["result_files"] == []
    assert (done["trained_steps"], done["total_steps"]) == (12, 12)
    events = client.get(f"/fine_tuning/jobs/{job['id']}/events", cast_to=object)["data"]
    assert all(e["type"] == "message" and not e["data"] for e in events)
    assert not any("loss" in e["message"] for e in events)
    checkpoints = client.get(f"/fine_tuning/jobs/{job['id']}/checkpoints", cast_to=object)
    steps = [c["step_number"] for c in checkpoints["data"]]
    assert steps == [12, 8, 4]  # newest first, every epoch kept
    for checkpoint in checkpoints["data"]:
        metrics = checkpoint["metrics"]
        assert {"train_loss", "valid_loss", "train_mean_token_accuracy"} <= set(metrics)
        assert metrics["step"] == checkpoint["step_number"]
        names = [client.files.retrieve(f).filename for f in checkpoint["result_files"]]
        assert names == ["adapter_config.json", "adapter_model.safetensors"]
    assert BASE in {m.id for m in client.models.list().data}
    assert not any(m.id.startswith("ft:") for m in client.models.list().data)


def test_nebius_has_no_pause_and_no_uploads_api_and_openai_has_no_v0(
    fake_nebius, fake_openai, client
):
    job = create(client, training_file=upload(client), hyperparameters={"lora": True})
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.pause(job["id"])
    with pytest.raises(openai.NotFoundError):
        client.uploads.create(
            bytes=3, filename="a.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        )
    assert client.fine_tuning.jobs.cancel(job["id"]).status == "cancelled"
    with (
        openai.OpenAI(base_url=fake_openai.base_url, api_key=DEFAULT_TEST_KEY, max_retries=0) as c,
        pytest.raises(openai.NotFoundError),
    ):
        c.get(f"{fake_openai.root_url}/v0/models", cast_to=object)


def test_the_openai_requests_of_the_nebius_flavour_are_still_checked(fake_nebius, client):
    with pytest.raises(openai.BadRequestError):
        client.post("/chat/completions", body={"model": BASE, "messages": "hi"}, cast_to=object)
    (chat,) = fake_nebius.requests_to("POST", "/chat/completions")
    assert chat.schema_errors  # "messages" is not an array in the OpenAPI description


def deploy(client: openai.OpenAI, fake: FakeOpenAIServer, **body: Any) -> dict[str, Any]:
    return client.post(fake.nebius_models_url, body=body, cast_to=object)


def finished_lora_job(client: openai.OpenAI, fake: FakeOpenAIServer) -> tuple[str, str]:
    job = create(client, training_file=upload(client), hyperparameters={"lora": True})
    fake.advance(100)
    checkpoints = client.get(f"/fine_tuning/jobs/{job['id']}/checkpoints", cast_to=object)
    return job["id"], checkpoints["data"][0]["id"]


def test_a_deployed_lora_answers_once_it_is_active(fake_nebius, client):
    job_id, checkpoint_id = finished_lora_job(client, fake_nebius)
    made = deploy(
        client, fake_nebius, name="bot", base_model=BASE, source=f"{job_id}:{checkpoint_id}"
    )
    name = made["name"]
    assert made["status"] == "validating" and name.startswith(f"{BASE}-LoRa:bot-")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}])
    fake_nebius.advance(fake_nebius.state.timing.deploying)
    short = name.rsplit(":", 1)[-1]
    by_name = client.get(f"{fake_nebius.nebius_models_url}/{short}", cast_to=object)
    assert by_name["status"] == "active" and by_name["name"] == name
    listed = client.get(fake_nebius.nebius_models_url, cast_to=object)["data"]
    assert [(m["name"], m["source"]) for m in listed] == [(name, f"{job_id}:{checkpoint_id}")]
    reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == f"Echo from {name}: x"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"colour": "red"}, "colour"),
        ({"name": "has space"}, "name"),
        ({"name": None}, "name"),
        ({"source": "file-123"}, "source"),
        ({"base_model": "meta-llama/Llama-3.3-70B-Instruct"}, "base_model"),
    ],
)
def test_a_deployment_request_is_checked(fake_nebius, client, change, param):
    job_id, checkpoint_id = finished_lora_job(client, fake_nebius)
    body = {"name": "bot", "base_model": BASE, "source": f"{job_id}:{checkpoint_id}", **change}
    with pytest.raises(openai.BadRequestError) as info:
        deploy(client, fake_nebius, **body)
    assert info.value.body["param"] == param
    assert fake_nebius.state.custom_models == {}


def _by_hand(*args: str, without: tuple[str, ...] = ()) -> subprocess.Popen[str]:
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


def test_the_nebius_flavour_runs_by_hand_and_checks_its_fields_without_jsonschema() -> None:
    process = _by_hand(
        "--flavor",
        "nebius",
        "--port",
        "0",
        "--speed",
        "200",
        "--deploy-seconds",
        "2",
        without=("jsonschema", "referencing", "pytest"),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline().strip()
        second = process.stdout.readline().strip()
        assert first.startswith("Fake Nebius Token Factory at"), process.stderr.read()
        base_url, models_url = first.rsplit(" ", 1)[-1], second.rsplit(" ", 1)[-1]
        assert models_url == base_url.removesuffix("/v1") + "/v0/models"
        with openai.OpenAI(base_url=base_url, api_key=DEFAULT_TEST_KEY, max_retries=0) as c:
            with pytest.raises(openai.BadRequestError, match="learning_rate_multiplier"):
                create(c, training_file=upload(c), hyperparameters={"learning_rate_multiplier": 2})
            job = create(c, training_file=upload(c), hyperparameters={"lora": True})
            deadline = time.monotonic() + 10
            while c.get(f"/fine_tuning/jobs/{job['id']}", cast_to=object)["status"] != "succeeded":
                assert time.monotonic() < deadline, "jobs did not progress on their own"
                time.sleep(0.05)
            checkpoints = c.get(f"/fine_tuning/jobs/{job['id']}/checkpoints", cast_to=object)
            source = f"{job['id']}:{checkpoints['data'][0]['id']}"
            made = c.post(
                models_url,
                body={"name": "bot", "base_model": BASE, "source": source},
                cast_to=object,
            )
            while c.get(models_url, cast_to=object)["data"][0]["status"] != "active":
                assert time.monotonic() < deadline, "the deployment did not become active"
                time.sleep(0.05)
            reply = c.chat.completions.create(
                model=made["name"], messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == f"Echo from {made['name']}: hi"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

"""The fake Together AI server: Together's shapes (checked), its clock, its faults, its CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai
import pytest

from tests.fake_openai.samples import chat_jsonl, dpo_jsonl
from tests.fake_together import DEFAULT_TEST_KEY, HARDWARE, FakeTogetherServer
from tests.fake_together import openapi as spec
from tests.fake_together.server import iter_routes

ROOT = Path(__file__).resolve().parents[2]
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
#: Operations in the subset the app never calls, so the fake does not serve them.
NOT_SERVED = {
    ("DELETE", "/files/{id}"),
    ("GET", "/files/{id}/content"),
    ("DELETE", "/fine-tunes/{id}"),
    ("POST", "/models"),
}


def client_for(server: FakeTogetherServer, **options) -> openai.OpenAI:
    values = {"base_url": server.base_url, "api_key": server.api_key, "max_retries": 0}
    values.update(options)
    return openai.OpenAI(**values)


def upload(client: openai.OpenAI, data: bytes, name: str = "t.jsonl") -> str:
    answer = client.post(
        "/files/upload",
        cast_to=object,
        body={"file_name": name, "purpose": "fine-tune"},
        files=[("file", (name, data))],
        options={"headers": {"Content-Type": "multipart/form-data"}},
    )
    return answer["id"]


def test_the_fake_serves_every_operation_of_the_subset_the_app_calls():
    served = set(iter_routes())
    assert served <= set(spec.operations())
    assert set(spec.operations()) - served == NOT_SERVED


def test_every_route_answers_in_together_s_shapes(fake_together):
    """Each route in success and error forms; the fixture fails on any schema mismatch."""
    client = client_for(fake_together)
    training = upload(client, chat_jsonl(24))
    validation = upload(client, chat_jsonl(8, topic="x"), "v.jsonl")
    prefs = upload(client, dpo_jsonl(12), "p.jsonl")
    client.get("/files", cast_to=object)
    client.get(f"/files/{training}", cast_to=object)
    client.get("/fine-tunes/models/supported", cast_to=object)
    client.get(
        "/fine-tunes/models/limits", cast_to=object, options={"params": {"model_name": LLAMA}}
    )
    client.get("/models", cast_to=object)
    client.post(
        "/fine-tunes/estimate-price",
        cast_to=object,
        body={"training_file": training, "model": LLAMA, "n_epochs": 2},
    )
    job = client.post(
        "/fine-tunes",
        cast_to=object,
        body={
            "model": LLAMA,
            "training_file": training,
            "validation_file": validation,
            "n_evals": 2,
            "n_checkpoints": 2,
            "suffix": "conf",
            "random_seed": 3,
            "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
            "training_method": {"method": "sft", "train_on_inputs": "auto"},
        },
    )
    dpo = client.post(
        "/fine-tunes",
        cast_to=object,
        body={
            "model": "Qwen/Qwen2.5-7B-Instruct",
            "training_file": prefs,
            "training_type": {"type": "Full"},
            "training_method": {"method": "dpo", "dpo_beta": 0.2},
        },
    )
    fake_together.advance(8)
    for path in ("", "/events", "/checkpoints", "/metrics"):
        client.get(f"/fine-tunes/{job['id']}{path}", cast_to=object)
    client.get("/fine-tunes", cast_to=object)
    client.post(f"/fine-tunes/{dpo['id']}/cancel", cast_to=object)
    fake_together.finish_job(job["id"])
    client.get(f"/fine-tunes/{job['id']}", cast_to=object)
    client.get(f"/fine-tunes/{job['id']}/checkpoints", cast_to=object)
    client.get(
        "/finetune/download",
        cast_to=bytes,
        options={"params": {"ft_id": job["id"], "checkpoint": "adapter"}},
    )
    model = job["model_output_name"]
    endpoint = client.post(
        "/endpoints",
        cast_to=object,
        body={
            "model": model,
            "hardware": HARDWARE[0],
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
    )
    fake_together.advance(30)
    client.get("/endpoints", cast_to=object)
    client.get(f"/endpoints/{endpoint['id']}", cast_to=object)
    name = endpoint["name"]
    reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "a"}])
    assert reply.choices[0].message.content == f"Echo from {name}: a"
    streamed = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "b c"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == f"Echo from {name}: b c"
    client.patch(f"/endpoints/{endpoint['id']}", cast_to=object, body={"state": "STOPPED"})
    client.delete(f"/endpoints/{endpoint['id']}", cast_to=type(None))
    for call in (
        lambda: client.get("/fine-tunes/ft-missing", cast_to=object),
        lambda: client.get("/endpoints/endpoint-missing", cast_to=object),
        lambda: client.post(
            "/fine-tunes", cast_to=object, body={"model": LLAMA, "training_file": "file-none"}
        ),
        lambda: client.chat.completions.create(
            model="nobody/none", messages=[{"role": "user", "content": "x"}]
        ),
    ):
        with pytest.raises(openai.APIStatusError):
            call()
    answered = {r.operation for r in fake_together.requests if r.operation is not None}
    assert answered == set(iter_routes())


def test_the_checks_catch_what_breaks_the_description():
    assert spec.errors_of(spec.schema_validator("FinetuneResponseTruncated"), {"status": "running"})
    assert spec.errors_of(spec.schema_validator("FinetuneJobStatus"), "succeeded")
    sft = spec.schema_validator("TrainingMethodSFT")
    assert spec.errors_of(sft, {"method": "sft", "train_on_inputs": "auto"}) == []
    assert spec.errors_of(sft, {"method": "sft"})  # train_on_inputs is required
    server = FakeTogetherServer().start()
    try:
        client_for(server).post("/fine-tunes", cast_to=object, body={"training_file": 3})
    except openai.APIStatusError:
        pass
    finally:
        server.stop()
    assert any("request POST /fine-tunes" in p for p in server.schema_problems)


def test_jobs_progress_on_the_clock_and_endpoints_start_and_stop(fake_together):
    state = fake_together.state
    file_id = fake_together.add_file("t.jsonl", chat_jsonl(16))
    job = state.create_job({"model": LLAMA, "training_file": file_id, "n_epochs": 2})
    seen = []
    for _ in range(40):
        seen.append(state.get_job(job.id).status)
        fake_together.advance(1)
    ordered = list(dict.fromkeys(seen))
    assert ordered == ["pending", "queued", "running", "compressing", "uploading", "completed"]
    assert [m["train/global_step"] for m in job.metrics] == list(range(1, job.total_steps + 1))

    endpoint = state.create_endpoint({"model": job.model_output_name, "hardware": HARDWARE[0]})
    states = []
    for _ in range(25):
        fake_together.advance(1)
        states.append(state.get_endpoint(endpoint.id).state)
    assert list(dict.fromkeys(states)) == ["STARTING", "STARTED"]
    state.update_endpoint(endpoint.id, {"state": "STOPPED"})
    assert state.get_endpoint(endpoint.id).state == "STOPPING"
    fake_together.advance(5)
    assert state.get_endpoint(endpoint.id).state == "STOPPED"


def test_at_speed_50_a_new_job_has_per_step_metrics_within_3_seconds(fake_together):
    file_id = fake_together.add_file("t.jsonl", chat_jsonl(16))
    job = fake_together.state.create_job({"model": LLAMA, "training_file": file_id})
    fake_together.advance(3 * 50)
    assert fake_together.state.get_job(job.id).metrics


def test_each_fault_misbehaves_as_told(fake_together):
    client = client_for(fake_together, timeout=1.0)
    fake_together.inject("invalid_api_key", path="/models")
    with pytest.raises(openai.AuthenticationError):
        client.get("/models", cast_to=object)
    fake_together.inject("rate_limit", path="/models", retry_after=9)
    with pytest.raises(openai.RateLimitError) as limited:
        client.get("/models", cast_to=object)
    assert limited.value.response.headers["retry-after"] == "9"
    fake_together.inject("server_error", path="/models")
    with pytest.raises(openai.InternalServerError):
        client.get("/models", cast_to=object)
    fake_together.inject("drop", path="/models")
    with pytest.raises(openai.APIConnectionError):
        client.get("/models", cast_to=object)
    fake_together.inject("no_answer", path="/models", delay=5)
    with pytest.raises(openai.APITimeoutError):
        client.get("/models", cast_to=object)
    fake_together.inject("malformed_json", path="/models")
    with pytest.raises(ValueError):
        client.get("/models", cast_to=object)
    with pytest.raises(openai.AuthenticationError):
        client_for(fake_together, api_key="tgp_v1_wrong").get("/models", cast_to=object)
    assert isinstance(client.get("/models", cast_to=object), list)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_command_line_server_runs_jobs_on_a_hurried_clock():
    command = [sys.executable, "-m", "tests.fake_together", "--port", "0", "--key", "k-1"]
    process = subprocess.Popen(
        [*command, "--speed", "50"],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Fake Together AI server at http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[-1].strip()
        client = openai.OpenAI(base_url=base_url, api_key="k-1", max_retries=0)
        training = upload(client, chat_jsonl(16))
        job = client.post(
            "/fine-tunes", cast_to=object, body={"model": LLAMA, "training_file": training}
        )
        metrics: list = []
        deadline = time.monotonic() + 30
        while not metrics and time.monotonic() < deadline:
            time.sleep(0.05)
            metrics = client.get(f"/fine-tunes/{job['id']}/metrics", cast_to=object)["metrics"]
        assert metrics and "train/loss" in metrics[0]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base_url, api_key="other", max_retries=0).models.list()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def test_the_command_line_server_refuses_to_start_without_jsonschema():
    hide = (
        "import sys, runpy\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'jsonschema':\n"
        "            raise ImportError('no jsonschema', name='jsonschema')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "sys.argv = ['fake', '--port', '0']\n"
        "runpy.run_module('tests.fake_together', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Cannot start" in result.stderr and "pip install 'jsonschema" in result.stderr
    assert result.stdout == ""


def test_a_download_streams_in_pieces(fake_together):
    file_id = fake_together.add_file("t.jsonl", chat_jsonl(8))
    job = fake_together.state.create_job({"model": LLAMA, "training_file": file_id})
    fake_together.finish_job(job.id)
    url = f"{fake_together.base_url}/finetune/download"
    headers = {"Authorization": f"Bearer {DEFAULT_TEST_KEY}"}
    params = {"ft_id": job.id, "checkpoint": "adapter"}
    with httpx2.stream("GET", url, params=params, headers=headers) as response:
        pieces = list(response.iter_raw())
        assert response.headers["content-disposition"].endswith('-adapter.tar.zst"')
    assert b"".join(pieces) == fake_together.state.adapter_bytes(job, "adapter")

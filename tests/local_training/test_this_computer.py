"""The "This computer" backend end to end on a tiny model: jobs run in processes of their
own, the chart (through jobs_service's JobTracker) gets every step even across a pause, a
resume and an interruption, cancel stops the process, and the result is chatted with through
``transformers serve`` the way the Chat tab talks to any local server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from desktop.api.backends.local import LocalTrainingBackend, parse_model_name
from desktop.api.chat import stream_chat
from desktop.api.client import build_client
from desktop.api.jobs_service import JobTracker, TrainingPlan, start_training
from desktop.api.profiles import profile_from_template
from desktop.core.archive import JobArchive
from desktop.core.jobs import JobStatus
from desktop.core.training import new_request_id
from desktop.local_training import locks
from desktop.local_training.protocol import JobFiles, checkpoints
from tests.local_training.tiny_model import examples

pytestmark = pytest.mark.local_training

PROFILE = profile_from_template("this_computer", profile_id="this-computer")
DATA = "".join(json.dumps(e) + "\n" for e in examples()).encode()


def wait_for(condition, timeout: float = 120.0, every: float = 0.1):
    """Poll ``condition`` until it returns something true (a bounded wait, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("gave up waiting")


def make_backend(root: Path) -> LocalTrainingBackend:
    """A backend as the app builds one for each task (so a new one is a restarted app)."""
    return LocalTrainingBackend(PROFILE, root=root / "data", serving_root=root / "serving")


def start(root: Path, model: Path, **parameters):
    plan = TrainingPlan(
        profile=PROFILE,
        dataset_name="adds.jsonl",
        training=DATA,
        validation=DATA[: DATA.index(b"\n") + 1] * 2,
        model=str(model),
        request_id=new_request_id(),
        hyperparameters={"learning_rate": 0.01, "batch_size": 1, "max_length": 128, **parameters},
        suffix="adder",
    )
    archive = JobArchive(root / "data")
    return plan, archive, start_training(make_backend(root), archive, plan)


def steps_seen(files: JobFiles) -> list[int]:
    from desktop.local_training.protocol import read_lines

    return [v["step"] for _n, v in read_lines(files.progress) if v.get("event") == "step"]


@pytest.fixture(scope="module")
def finished_job(tiny_model, tmp_path_factory):
    """One job paused, resumed, killed (as a crash or a power cut would), picked up again by
    a new backend (as the app does at start), and finished; with every poll's snapshot."""
    root = tmp_path_factory.mktemp("this-computer")
    plan, archive, started = start(root, tiny_model, max_steps=40)
    job_id = started.summary.id
    files = JobFiles(archive.job_folder(PROFILE.id, job_id))
    tracker = JobTracker.open(archive, PROFILE.id, job_id)
    snapshots = []

    def poll(backend):
        snapshots.append(tracker.poll(backend))
        return snapshots[-1]

    backend = make_backend(root)
    wait_for(lambda: poll(backend) and len(steps_seen(files)) >= 3)
    paused = backend.act(job_id, "pause")
    assert paused["status"] in ("running", "paused")
    wait_for(lambda: poll(backend).summary.status is JobStatus.PAUSED)
    paused_at = max(steps_seen(files))
    assert checkpoints(files)[-1][0] == paused_at  # the pause saved a checkpoint first
    resumed = backend.act(job_id, "resume")
    assert resumed["status"] == "running"
    wait_for(lambda: max(steps_seen(files)) >= paused_at + 2, every=0.02)
    state = json.loads(files.state.read_text())
    pid = state["runs"][-1]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not locks.is_held(files.lock))
    restarted = make_backend(root)
    wait_for(lambda: poll(restarted).complete, timeout=180)
    return {
        "root": root,
        "plan": plan,
        "archive": archive,
        "job_id": job_id,
        "files": files,
        "snapshots": snapshots,
        "tracker": tracker,
        "paused_at": paused_at,
        "backend": restarted,
    }


def test_the_chart_gets_every_step_across_pause_resume_and_an_interruption(finished_job):
    last = finished_job["snapshots"][-1]
    assert last.summary.status is JobStatus.SUCCEEDED
    series = finished_job["tracker"].snapshot().series
    assert list(series["train_loss"].steps) == list(range(1, 41))
    assert series.total_steps == 40
    assert len(series["valid_loss"]) >= 2  # the validation file was scored along the way
    text = [message for _t, _level, message in finished_job["tracker"].snapshot().new_events]
    paused_at = finished_job["paused_at"]
    assert f"Training paused at step {paused_at}; resume it to go on from there." in text
    assert f"Training resumes from step {paused_at}." in text
    assert any(
        m.startswith("Training was interrupted (the app or the computer stopped)") for m in text
    )
    assert any(m.startswith("Step 40/40: training loss=") for m in text)


def test_a_finished_job_names_its_model_and_its_checkpoints(finished_job, tiny_model):
    summary = finished_job["snapshots"][-1].summary
    assert summary.fine_tuned_model == f"ft:{tiny_model.name}:local:adder:{summary.id}"
    assert summary.display_name().startswith("adder · ")
    saved = finished_job["snapshots"][-1].checkpoints
    assert saved and all(parse_model_name(c.model) == (summary.id, c.step) for c in saved)
    assert (finished_job["files"].adapter / "adapter_model.safetensors").is_file()


def test_a_job_is_created_once_per_request(finished_job):
    backend = finished_job["backend"]
    again = backend.create_job_once  # the same request id finds the job instead
    from desktop.api.backends.base import CreateOptions
    from desktop.core.training import TrainingRequest

    record = again(
        TrainingRequest(model="ignored", training_file="ignored"),
        finished_job["plan"].request_id,
        CreateOptions(lookup_waits=()),
    )
    assert record["id"] == finished_job["job_id"]
    assert len(backend.list_jobs().records) == 1


def test_export_writes_the_adapter_the_exact_data_a_readme_and_a_modelfile(finished_job, tmp_path):
    backend = finished_job["backend"]
    summary = finished_job["snapshots"][-1].summary
    folder = backend.download_result(summary, tmp_path)
    assert folder.parent == tmp_path
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    assert (folder / "data" / "training.jsonl").read_bytes() == DATA
    assert "LoRA adapter" in (folder / "README.txt").read_text()
    modelfile = (folder / "Modelfile").read_text()  # the tiny model is a Llama
    assert "ADAPTER ./adapter" in modelfile and "FROM " in modelfile


def test_chat_with_the_trained_model_through_transformers_serve(finished_job):
    backend = finished_job["backend"]
    summary = finished_job["snapshots"][-1].summary
    target = backend.chat_target(summary)
    said: list[str] = []
    name = backend.prepare_chat(target, progress=said.append)
    try:
        profile = backend.chat_profile(name)
        assert profile.base_url.startswith("http://127.0.0.1:")
        assert not profile.capabilities.needs_key
        client = build_client(profile, None)
        chunks = list(
            stream_chat(
                client, name, [{"role": "user", "content": "What is 3 plus 3?"}], max_tokens=8
            )
        )
        assert chunks[-1].done and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens > 0
        assert sum(1 for c in chunks if c.delta) >= 1  # streamed, piece by piece
        assert backend.prepare_chat(target) == name  # already up: reused, not started twice
    finally:
        backend.stop_serving(name)
    assert "The model is ready." in said
    with pytest.raises(Exception, match="not running on this computer any more"):
        backend.chat_profile(name)


def greedy_reply(served, question: str) -> str:
    """The served model's reply to ``question``, its most likely tokens each time."""
    from desktop.api.backends.local import chat_profile_for

    client = build_client(chat_profile_for(served.base_url, served.port), None)
    message = [{"role": "user", "content": question}]
    chunks = list(stream_chat(client, served.name, message, temperature=0, max_tokens=6))
    assert chunks[-1].done and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    return "".join(c.delta for c in chunks if c.delta)


def test_an_adapter_downloaded_from_together_is_chatted_with_the_same_way(
    finished_job, tiny_model, tmp_path
):
    from desktop.api.backends.local import serve_adapter, serve_base
    from desktop.local_training import serving

    unpacked = tmp_path / "ft-7e2a-adapter"  # as unpacked from Together's download
    shutil.copytree(finished_job["files"].adapter, unpacked)
    config = json.loads((unpacked / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "/mnt/together/models/tiny-chat"  # where it trained
    (unpacked / "adapter_config.json").write_text(json.dumps(config))
    root = finished_job["root"] / "serving"
    tuned = serve_adapter(tiny_model, unpacked, serving_root=root)
    base = serve_base(str(tiny_model), serving_root=root)
    try:
        question = "What is 2 plus 2?"
        assert greedy_reply(tuned, question) != greedy_reply(base, question)  # the adapter counts
    finally:
        serving.stop_server(tuned.name, root)
        serving.stop_server(base.name, root)


def test_cancel_ends_the_training_process(tiny_model, tmp_path):
    _plan, archive, started = start(tmp_path, tiny_model, max_steps=100000)
    job_id = started.summary.id
    files = JobFiles(archive.job_folder(PROFILE.id, job_id))
    backend = make_backend(tmp_path)
    wait_for(lambda: locks.is_held(files.lock))
    record = backend.act(job_id, "cancel")
    assert record["status"] == "cancelled"
    assert not locks.is_held(files.lock)  # the process is gone once cancel returns
    assert backend.retrieve_job(job_id)["status"] == "cancelled"  # and it is not picked up

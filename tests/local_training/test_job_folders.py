"""The "This computer" backend read from its folders, without the training libraries: the
settings it offers, the models it lists, the datasets it keeps, what a job's JSON lines
become (every step a point of the chart), a job cut short picked up again, and the export."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

from desktop.api.backends.base import CreateOptions
from desktop.api.backends.local import LocalTrainingBackend, model_name, parse_model_name
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.jobs_service import JobTracker, tagged_name
from desktop.api.profiles import profile_from_template
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus
from desktop.core.training import ChatRoute, TrainingRequest
from desktop.local_training import command, unavailable_reason
from desktop.local_training.hardware import (
    Device,
    Hardware,
    duration_words,
    tokens_per_second,
)
from desktop.local_training.jobs import Condition, LocalJobs, Request
from desktop.local_training.models import epoch_time_words, parameters_billion
from desktop.local_training.protocol import JobSpec, Settings
from desktop.local_training.serving import with_adapter
from desktop.local_training.settings import parameters_for

PROFILE = profile_from_template("this_computer", profile_id="this-computer")
CPU = Hardware(Device.CPU, "processor", 2)
DATA = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


def fake_model(folder: Path, family: str = "llama") -> Path:
    """Just enough of a model folder to pass for one (no weights that load)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": family}))
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    return folder


def together_adapter(folder: Path, base: str) -> Path:
    """An adapter folder as unpacked from Together AI's download."""
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 8, "base_model_name_or_path": base}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return folder


def make_job(root: Path, base: Path, lines: list[dict], *, job_id: str = "local-1", state=None):
    """A job folder as a training process would have left it."""
    jobs = LocalJobs(root, PROFILE.id)
    files = jobs.job_files(job_id)
    files.training.mkdir(parents=True)
    files.data_file("training").write_bytes(DATA)
    spec = JobSpec(
        job_id=job_id,
        base_model=str(base),
        method="supervised",
        training_file=str(files.data_file("training")),
        output_dir=str(files.folder),
        settings=Settings(epochs=2, batch_size=1),
    )
    files.spec.write_bytes(spec.to_json())
    request = Request(
        request_id="request-1",
        created_at=1_800_000_000.0,
        model=str(base),
        method="supervised",
        parameters={"n_epochs": 2},
        training_file="local-file-" + hashlib.sha256(DATA).hexdigest(),
        suffix="helper",
    )
    (files.training / "request.json").write_text(json.dumps(request.to_dict()))
    runs = [{"started_at": 0, "pid": 0, "first_line": 0}]
    files.state.write_text(json.dumps(state or {"wanted": "run", "runs": runs, "pickups": []}))
    files.progress.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return files


def progress_lines(steps: int, *, end: bool = True) -> list[dict]:
    lines: list[dict] = [
        {"event": "hello", "time": 1.0, "pid": 0},
        {
            "event": "start",
            "time": 2.0,
            "total_steps": steps,
            "epochs": 2,
            "examples": 3,
            "device": "cpu",
        },
    ]
    for step in range(1, steps + 1):
        lines.append(
            {
                "event": "step",
                "time": 2.0 + step,
                "step": step,
                "total_steps": steps,
                "epoch": step / 3,
                "loss": 3.0 - step * 0.1,
                "learning_rate": 2e-4,
                "accuracy": 0.1 * step,
                "tokens_per_second": 120.0,
                "eta_seconds": float(steps - step),
            }
        )
        if step % 3 == 0:
            lines.append(
                {"event": "eval", "time": 2.5 + step, "step": step, "valid_loss": 2.9 - step * 0.05}
            )
    if end:
        lines.append(
            {
                "event": "end",
                "time": 100.0,
                "status": "succeeded",
                "message": "Training finished after 6 steps.",
                "step": steps,
                "trained_tokens": 321,
            }
        )
    return lines


def test_model_names_name_the_job_and_the_checkpoint():
    name = model_name("Qwen/Qwen2.5-0.5B-Instruct", "helper", "local-1")
    assert name == "ft:Qwen2.5-0.5B-Instruct:local:helper:local-1"
    assert parse_model_name(name) == ("local-1", None)
    assert parse_model_name(model_name("/models/mine", None, "local-2", 40)) == ("local-2", 40)
    assert parse_model_name("ft:gpt-4o-mini-2024-07-18:org:helper:abc") is None
    assert parse_model_name("Qwen/Qwen2.5-0.5B-Instruct") is None


@pytest.mark.parametrize(
    ("device", "batch", "length"),
    [(Device.CPU, 2, 512), (Device.MPS, 4, 1024), (Device.CUDA, 8, 2048)],
)
def test_the_defaults_suit_the_hardware(device, batch, length):
    specs = {s.name: s for s in parameters_for(Hardware(device, "x", 8))}
    assert specs["batch_size"].default == batch
    assert specs["max_length"].default == length
    assert {"n_epochs", "learning_rate", "lora_r", "lora_alpha", "max_steps"} <= set(specs)
    assert specs["learning_rate"].problem(0.5) == "Learning rate can be at most 0.01."


def test_every_listed_model_says_its_size_licence_and_time_here(tmp_path):
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    models = backend.trainable_models(Catalog.load())
    assert len(models) >= 4
    for model in models:
        assert "parameters, a " in model.note and "GB download, licence: " in model.note
        assert (
            "On this computer's processor (2 cores), one epoch of 100 examples of about 300 tokens takes about"
            in model.note
        )
        assert model.methods == ("supervised", "dpo")
    gated = [m for m in models if "accept the licence" in m.note]
    assert {m.id for m in gated} == {"meta-llama/Llama-3.2-1B-Instruct", "google/gemma-3-1b-it"}


def safetensors(path: Path, shapes: dict[str, list[int]]) -> Path:
    """A ``.safetensors`` file with these tensors (float32 zeros)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + bytes(offset))
    return path


def test_the_time_an_epoch_takes_comes_from_the_model_size(tmp_path):
    assert parameters_billion("HuggingFaceTB/SmolLM2-135M-Instruct") == 0.135
    assert parameters_billion("someone/unlisted-model") is None
    folder = fake_model(tmp_path / "my-model")
    assert parameters_billion(str(folder)) is None  # its weights are not a safetensors file
    safetensors(folder / "model.safetensors", {"embed": [1000, 500], "norm": [500]})
    safetensors(folder / "model-2.safetensors", {"head": [500, 499]})
    assert parameters_billion(str(folder)) == (1000 * 500 + 500 + 500 * 499) / 1e9
    # 40 tokens a second on 2 cores for a model of 0.4 billion parameters, 4 times that on 8
    assert epoch_time_words(CPU, 0.4, 40 * 1200) == (
        "about 20 minutes an epoch on this computer's processor (2 cores), a rough guide"
    )
    eight = Hardware(Device.CPU, "processor", 8)
    assert epoch_time_words(eight, 0.4, 40 * 1200).startswith("about 5 minutes an epoch")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.4, "a few seconds"),
        (3, "a few seconds"),
        (12, "about 10 seconds"),
        (44, "about 40 seconds"),
        (600, "about 10 minutes"),
        (3 * 3600, "about 3 hours"),
        (30 * 3600, "about 30 hours"),
        (40 * 3600, "about 2 days"),
    ],
)
def test_durations_read_naturally(seconds, words):
    assert duration_words(seconds) == words


@pytest.mark.parametrize(
    ("size", "measured"),
    [(0.1345, 99.2), (0.494, 29.1)],  # SmolLM2-135M, Qwen2.5-0.5B: tests/benchmarks
)
def test_the_processor_speed_is_within_a_fifth_of_what_was_measured(size, measured):
    assert abs(tokens_per_second(CPU, size) / measured - 1) < 0.2


def test_a_folder_on_disk_can_be_trained_and_is_offered_again(tmp_path):
    base = fake_model(tmp_path / "my-model")
    backend = LocalTrainingBackend(PROFILE, root=tmp_path / "data", hardware=CPU)
    assert backend.folder_model(base).id == str(base)
    with pytest.raises(ProviderError, match=r"has no config\.json"):
        backend.folder_model(tmp_path)
    make_job(tmp_path / "data", base, progress_lines(3))
    assert str(base) in {m.id for m in backend.trainable_models(Catalog.load())}


def test_uploads_are_kept_once_by_content_and_found_by_the_tag_in_their_name(tmp_path):
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    seen: list[tuple[int, int]] = []
    first = backend.upload(DATA, "a.jsonl", progress=lambda d, t: seen.append((d, t)))
    assert backend.upload(DATA, "b.jsonl") == first
    assert seen == [(len(DATA), len(DATA))]
    assert backend.file_usable(first, len(DATA))
    assert not backend.file_usable(first, len(DATA) + 1)
    name = tagged_name("adds-training.jsonl", hashlib.sha256(DATA).hexdigest())
    assert backend.find_file(name, len(DATA)) == first
    assert backend.find_file(name, 3) is None


def test_without_the_extra_a_job_is_refused_with_the_install_command(tmp_path, monkeypatch):
    import desktop.api.backends.local as local

    monkeypatch.setattr(
        local, "unavailable_reason", lambda: unavailable_reason(("no_such_module_x",))
    )
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    with pytest.raises(ProviderError) as caught:
        backend.create_job_once(
            TrainingRequest(
                model="Qwen/Qwen2.5-0.5B-Instruct", training_file=backend.upload(DATA, "a")
            ),
            "request-x",
            CreateOptions(lookup_waits=()),
        )
    friendly = caught.value.friendly
    assert friendly.kind is ErrorKind.TRAINING_NOT_AVAILABLE
    assert friendly.message == "Training on this computer needs libraries that are not installed."
    assert 'pip install "' in friendly.next_step and "[local]" in friendly.next_step


def test_an_installer_build_says_which_install_trains_here(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    reason = unavailable_reason()
    assert reason is not None
    assert reason.startswith("The installer builds of Fine-Tune Studio do not include")
    assert reason.endswith('.venv/bin/pip install ".[local]"')  # the README's third command


def test_train_local_without_the_extra_exits_2_with_the_install_command(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        command, "unavailable_reason", lambda: unavailable_reason(("no_such_module_x",))
    )
    from desktop.__main__ import main

    code = main(
        [
            "train-local",
            str(tmp_path / "a.jsonl"),
            "--base-model",
            "x/y",
            "--output",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "finetune-studio train-local: Training on this computer needs the optional"
    )
    assert f'{sys.executable} -m pip install "' in err and '[local]"' in err


def test_a_job_folder_gives_every_step_to_the_chart_and_names_its_model(tmp_path):
    base = fake_model(tmp_path / "base")
    files = make_job(tmp_path, base, progress_lines(6))
    (files.checkpoints / "checkpoint-3").mkdir(parents=True)
    (files.checkpoints / "checkpoint-3" / "adapter_config.json").write_text("{}")
    (files.checkpoints / "checkpoint-3" / "trainer_state.json").write_text("{}")
    (files.checkpoints / "checkpoint-6").mkdir()  # cut short by a crash: not a checkpoint
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    archive = JobArchive(tmp_path)
    snapshot = JobTracker.open(archive, PROFILE.id, "local-1").poll(backend)
    assert snapshot.summary.status is JobStatus.SUCCEEDED
    assert snapshot.summary.fine_tuned_model == "ft:base:local:helper:local-1"
    assert snapshot.summary.trained_tokens == 321
    assert snapshot.summary.n_epochs == 2
    assert list(snapshot.series["train_loss"].steps) == [1, 2, 3, 4, 5, 6]
    assert list(snapshot.series["valid_loss"].steps) == [3, 6]
    assert snapshot.series["train_mean_token_accuracy"].last == pytest.approx(0.6)
    assert [c.step for c in snapshot.checkpoints] == [3]
    assert snapshot.checkpoints[0].model == "ft:base:local:helper:local-1:ckpt-step-3"
    messages = [m for _t, _l, m in snapshot.new_events]
    assert "Training started on the processor: 6 steps, 2 epochs, 3 examples." in messages
    assert (
        "Step 2/6: training loss=2.8000, learning rate=2.00e-04, epoch 0.67, 120 tokens/s, about 4 seconds left"
        in messages
    )
    assert messages[-1] == "Training finished after 6 steps."
    assert (
        backend.new_events("local-1", {e["id"] for e in backend.new_events("local-1", set())}) == []
    )


def test_a_job_still_going_shows_its_estimated_end(tmp_path):
    base = fake_model(tmp_path / "base")
    files = make_job(tmp_path, base, progress_lines(4, end=False)[:-1])  # at step 3 of 4
    from desktop.local_training import locks

    held = locks.try_lock(files.lock)  # as the running process holds it
    try:
        backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
        record = backend.retrieve_job("local-1")
        assert record["status"] == "running"
        assert record["estimated_finish"] == pytest.approx(6.0)  # the last step's time + its ETA
        with pytest.raises(
            ProviderError, match="Only a paused job can be resumed; this one is training"
        ):
            backend.act("local-1", "resume")
    finally:
        locks.release(held)


@pytest.mark.skipif(os.name != "posix", reason="a shell script stands in for Python")
def test_a_job_cut_short_is_picked_up_again_and_given_up_when_it_keeps_dying(tmp_path):
    base = fake_model(tmp_path / "base")
    make_job(tmp_path, base, progress_lines(3, end=False))
    dies = tmp_path / "python-that-dies"
    dies.write_text("#!/bin/sh\nexit 0\n")
    dies.chmod(0o755)
    jobs = LocalJobs(tmp_path, PROFILE.id, python=str(dies))
    assert jobs.view("local-1").condition is Condition.INTERRUPTED
    for _attempt in range(2):
        view = jobs.pick_up("local-1")
        assert view.condition in (Condition.STARTING, Condition.INTERRUPTED)
        deadline = time.monotonic() + 30
        while jobs.view("local-1").condition is not Condition.INTERRUPTED:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    view = jobs.pick_up("local-1")
    assert view.condition is Condition.FAILED
    assert view.error.startswith("Training stopped 3 times at the same point without saying why")
    notes = [v["text"] for _n, v in view.notes]
    assert (
        notes
        == [
            "Training was interrupted (the app or the computer stopped); it goes on from the start."
        ]
        * 2
    )
    record = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU).retrieve_job("local-1")
    assert record["status"] == "failed"
    assert record["error"]["message"].startswith("Training stopped 3 times")


def test_export_of_a_qwen_adapter_has_no_modelfile(tmp_path):
    base = fake_model(tmp_path / "qwen", family="qwen2")
    files = make_job(tmp_path, base, progress_lines(2))
    files.adapter.mkdir()
    (files.adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/elsewhere"})
    )
    (files.adapter / "adapter_model.safetensors").write_bytes(b"lora")
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    summary = JobTracker.open(JobArchive(tmp_path), PROFILE.id, "local-1").poll(backend).summary
    folder = backend.download_result(summary, tmp_path / "exports")
    assert folder == tmp_path / "exports" / "helper"
    assert (folder / "data" / "training.jsonl").read_bytes() == DATA
    assert not (folder / "Modelfile").exists()
    config = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base)
    assert "With Ollama" not in (folder / "README.txt").read_text()
    assert (
        backend.download_result(summary, tmp_path / "exports")
        == tmp_path / "exports" / "helper (2)"
    )


def test_an_adapter_from_elsewhere_is_served_on_the_base_it_is_given(tmp_path):
    base = fake_model(tmp_path / "base")
    adapter = tmp_path / "together-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/together/x"})
    )
    (adapter / "adapter_model.safetensors").write_bytes(b"lora")
    folder = with_adapter(base, adapter, tmp_path / "serving")
    assert json.loads((folder / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ] == str(base.resolve())
    assert (folder / "model.safetensors").read_bytes() == b"weights"
    assert (folder / "adapter_model.safetensors").read_bytes() == b"lora"
    assert with_adapter(base, adapter, tmp_path / "serving") == folder  # prepared once
    with pytest.raises(Exception, match="not an adapter folder"):
        with_adapter(base, tmp_path, tmp_path / "serving")


def test_the_base_model_is_offered_to_compare_with(tmp_path):
    base = fake_model(tmp_path / "base")
    make_job(tmp_path, base, progress_lines(2))
    backend = LocalTrainingBackend(PROFILE, root=tmp_path, hardware=CPU)
    summary = JobTracker.open(JobArchive(tmp_path), PROFILE.id, "local-1").poll(backend).summary
    trained, original = backend.chat_target(summary), backend.base_target(summary)
    assert trained.model == "ft:base:local:helper:local-1"
    assert original.model == str(base)
    assert trained.route is original.route is ChatRoute.DEPLOY_IN_APP


def test_an_app_installed_from_a_folder_is_told_to_install_the_extra_from_it(tmp_path, monkeypatch):
    import importlib.metadata

    import desktop.local_training as local_training

    folder = tmp_path / "Fine Tune Studio"  # spaces and all, as pip records it
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[project]\n")

    class Installed:
        def read_text(self, name: str) -> str | None:
            assert name == "direct_url.json"
            return json.dumps({"url": folder.as_uri(), "dir_info": {}})

    monkeypatch.setattr(local_training, "_source_checkout", lambda: None)
    monkeypatch.setattr(importlib.metadata, "distribution", lambda _name: Installed())
    assert local_training.install_command().endswith(f'pip install "{folder}[local]"')
    (folder / "pyproject.toml").unlink()  # the folder was cleaned up since: no such advice
    assert local_training.install_command().endswith('pip install "finetune-studio[local]"')

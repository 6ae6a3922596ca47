"""Downloading a base model, against a local stand-in for the Hugging Face Hub (the library's
endpoint setting points at it): progress, stop and go on, disk space first, gated models
explained, and a job whose base model is a Hub name downloading it itself. No test here
reaches the internet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_training.fake_hub import FakeHub
from tests.local_training.tiny_model import examples, write_jsonl

pytestmark = pytest.mark.local_training
pytest.importorskip("huggingface_hub")

from desktop.local_training import hub  # noqa: E402
from desktop.local_training.models import model_folder_problem  # noqa: E402

REPO = "tester/tiny-chat"


@pytest.fixture
def fake_hub(tiny_model, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_model, repo)
    server = FakeHub(repos={REPO: repo}, gated={"tester/gated"}).start()
    yield server
    server.stop()


def test_a_model_downloads_with_progress_into_a_folder_that_trains(fake_hub, tmp_path):
    seen: list[tuple[int, int]] = []
    folder = hub.download_model(
        REPO,
        cache_dir=tmp_path / "cache",
        endpoint=fake_hub.url,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert model_folder_problem(folder) is None
    total = sum(len(b) for b in fake_hub.files(REPO).values())
    assert seen[-1] == (total, total)
    assert [d for d, _t in seen] == sorted(d for d, _t in seen)
    assert hub.cached_model(REPO, cache_dir=tmp_path / "cache") == folder


def test_a_stopped_download_keeps_what_arrived_and_the_next_one_goes_on(fake_hub, tmp_path):
    (fake_hub.repos[REPO] / "z-extra.safetensors").write_bytes(os.urandom(12 * 1024 * 1024))
    cache = tmp_path / "cache"
    seen: list[int] = []
    with pytest.raises(hub.DownloadCancelled):
        hub.download_model(
            REPO,
            cache_dir=cache,
            endpoint=fake_hub.url,
            progress=lambda done, _total: seen.append(done),
            should_cancel=lambda: bool(seen) and seen[-1] > 10 * 1024 * 1024,
        )
    assert hub.cached_model(REPO, cache_dir=cache) is None  # not whole yet
    fetched_before = {r for r in fake_hub.requests if r.startswith("GET") and "/resolve/" in r}
    assert any("model.safetensors" in r for r in fetched_before)
    fake_hub.requests.clear()
    folder = hub.download_model(REPO, cache_dir=cache, endpoint=fake_hub.url)
    again = [r for r in fake_hub.requests if r.startswith("GET") and "/resolve/" in r]
    assert again and all("z-extra.safetensors" in r for r in again)  # the rest was kept
    assert (folder / "z-extra.safetensors").stat().st_size == 12 * 1024 * 1024


def test_disk_space_is_checked_before_anything_is_fetched(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "SPARE_BYTES", 10**18)
    with pytest.raises(hub.HubError) as caught:
        hub.download_model(REPO, cache_dir=tmp_path / "cache", endpoint=fake_hub.url)
    assert caught.value.message.startswith(f"Downloading {REPO} needs ")
    assert "are free on the disk" in caught.value.message
    assert not [r for r in fake_hub.requests if r.startswith("GET") and "/resolve/" in r]


def test_a_gated_model_is_explained_and_a_missing_one_named(fake_hub, tmp_path):
    with pytest.raises(hub.HubError) as gated:
        hub.download_model("tester/gated", cache_dir=tmp_path / "cache", endpoint=fake_hub.url)
    assert "ask everyone to accept their licence" in gated.value.message
    assert "https://huggingface.co/tester/gated" in gated.value.next_step
    assert "hf auth login" in gated.value.next_step
    with pytest.raises(hub.HubError) as missing:
        hub.download_model("tester/nothing", cache_dir=tmp_path / "cache", endpoint=fake_hub.url)
    assert missing.value.message == (
        "There is no model called tester/nothing on the Hugging Face Hub (or it is private)."
    )


def train_local(fake_hub: FakeHub, tmp_path: Path, base_model: str):
    """``train-local --json`` in a process of its own, its Hub the fake one."""
    data = write_jsonl(tmp_path / "adds.jsonl", examples())
    env = {**os.environ, "HF_ENDPOINT": fake_hub.url, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop",
            "train-local",
            str(data),
            "--base-model",
            base_model,
            "--output",
            str(tmp_path / "result"),
            "--max-steps",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    return result, [json.loads(text) for text in result.stdout.splitlines()]


def test_train_local_downloads_a_hub_model_through_hf_endpoint(fake_hub, tmp_path):
    result, lines = train_local(fake_hub, tmp_path, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(line.get("text", "").startswith(f"Downloading {REPO}: 100%") for line in lines)
    assert lines[-1]["status"] == "succeeded"
    assert list((tmp_path / "hf").rglob("model.safetensors"))


def test_train_local_explains_a_gated_model_and_exits_2(fake_hub, tmp_path):
    result, lines = train_local(fake_hub, tmp_path, "tester/gated")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == ""
    end = lines[-1]
    assert end["event"] == "end" and end["status"] == "failed"
    assert end["message"].startswith(
        "The makers of tester/gated ask everyone to accept their licence before downloading it."
    )
    assert "https://huggingface.co/tester/gated" in end["message"]


def test_a_job_paused_while_its_base_model_downloads_goes_on_from_there(
    fake_hub, tmp_path, monkeypatch
):
    from huggingface_hub import constants

    from desktop.local_training import trainer
    from desktop.local_training.protocol import JobSpec, Settings
    from desktop.local_training.trainer import run_training

    # what HF_ENDPOINT sets when the library is imported (the training process's own way)
    monkeypatch.setattr(constants, "ENDPOINT", fake_hub.url)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        fake_hub.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trainer, "DOWNLOAD_REPORT_SECONDS", 0.2)
    (fake_hub.repos[REPO] / "z-extra.safetensors").write_bytes(os.urandom(8 * 1024 * 1024))
    fake_hub.chunk_delay = 0.001  # about two seconds for the whole model
    spec = JobSpec(
        job_id="download",
        base_model=REPO,
        method="supervised",
        training_file=str(write_jsonl(tmp_path / "adds.jsonl", examples())),
        output_dir=str(tmp_path / "job"),
        settings=Settings(max_steps=1),
    )
    said: list[dict] = []

    def pause_once_it_downloads() -> str | None:
        downloading = any(line.get("download_done", 0) > 0 for line in said)
        return "pause" if downloading else None

    paused = run_training(
        spec, emit=lambda text: said.append(json.loads(text)), stop=pause_once_it_downloads
    )
    assert (paused.status, paused.message) == ("paused", "Training was paused before it began.")
    assert hub.cached_model(REPO, cache_dir=tmp_path / "cache") is None  # not whole yet

    fake_hub.requests.clear()
    fake_hub.chunk_delay = 0.0
    resumed = run_training(spec, emit=lambda text: said.append(json.loads(text)))
    assert resumed.status == "succeeded", resumed.message
    fetched = [r for r in fake_hub.requests if r.startswith("GET") and "/resolve/" in r]
    assert len(fetched) < len(fake_hub.files(REPO))  # what arrived before the pause was kept

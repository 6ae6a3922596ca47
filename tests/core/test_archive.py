"""The job archive: a full round trip, one copy per upload, crash safety, restart, zip, delete."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from pathlib import Path

import orjson
import pytest

from desktop import __version__
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.jobs import JobStatus

TRAIN = (
    b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}\r\n' * 3
)
VALID = b'{"messages":[{"role":"user","content":"yo"},{"role":"assistant","content":"hey"}]}\n'
RESULTS = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,2.0,0.5,,\n2,1.5,0.6,1.6,0.55\n"


def job(job_id: str = "ftjob-1", status: str = "running", created: int = 1_790_000_000, **more):
    record = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": created,
        "status": status,
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": "file-train",
        "validation_file": "file-valid",
        "hyperparameters": {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 2},
        "result_files": [],
        "fine_tuned_model": None,
        "trained_tokens": None,
    }
    record.update(more)
    return record


def event(n: int, *, metrics: bool = True) -> dict:
    base = {
        "id": f"ftevent-{n:04d}",
        "object": "fine_tuning.job.event",
        "created_at": 1_790_000_000 + n,
        "level": "info",
    }
    if not metrics:
        return base | {"type": "message", "message": f"Note {n}", "data": {}}
    return base | {
        "type": "metrics",
        "message": f"Step {n}/20: training loss={2 - n / 20:.2f}",
        "data": {"step": n, "total_steps": 20, "train_loss": 2 - n / 20},
    }


def pages(first: int, last: int, size: int = 5, overlap: int = 2) -> list[list[dict]]:
    """Newest-first pages of events first..last that overlap, as repeated polls give."""
    newest = [event(n) for n in range(last, first - 1, -1)]
    return [newest[i : i + size] for i in range(0, len(newest), size - overlap)]


@pytest.fixture
def archive(tmp_path) -> JobArchive:
    return JobArchive(tmp_path / "data")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def stored(archive: JobArchive, n_jobs: int = 1) -> None:
    archive.record_upload("openai", "file-train", TRAIN, "training")
    archive.record_upload("openai", "file-valid", VALID, "validation")
    for i in range(1, n_jobs + 1):
        archive.save_job("openai", job(f"ftjob-{i}"))


# ------------------------------------------------------------------------------ round trip


def test_round_trip_keeps_everything(archive):
    sha_train = archive.record_upload("openai", "file-train", TRAIN, "training")
    sha_valid = archive.record_upload("openai", "file-valid", VALID, "validation")
    assert sha_train == hashlib.sha256(TRAIN).hexdigest()
    summary = archive.save_job("openai", job())
    assert summary.status is JobStatus.RUNNING and summary.provider_id == "openai"
    added = sum(archive.add_events("openai", "ftjob-1", page) for page in pages(1, 20))
    assert added == 20
    checkpoints = [
        {
            "id": f"ftckpt_{s}",
            "step_number": s,
            "created_at": s,
            "fine_tuned_model_checkpoint": f"ft:x:o:s:j:ckpt-step-{s}",
        }
        for s in (10, 20)
    ]
    assert archive.save_checkpoints("openai", "ftjob-1", checkpoints) == 2
    finished = job(status="succeeded", result_files=["file-res"], trained_tokens=1234)
    archive.save_job("openai", finished)
    archive.save_result_file("openai", "ftjob-1", "file-res", base64.b64encode(RESULTS.encode()))

    loaded = archive.load("openai", "ftjob-1")
    assert loaded.job == finished
    assert loaded.summary.status is JobStatus.SUCCEEDED and loaded.summary.trained_tokens == 1234
    assert [e["id"] for e in loaded.events] == [f"ftevent-{n:04d}" for n in range(1, 21)]
    assert [c["id"] for c in loaded.checkpoints] == ["ftckpt_10", "ftckpt_20"]
    assert loaded.dataset["training"].read_bytes() == TRAIN
    assert loaded.dataset["validation"].read_bytes() == VALID
    assert loaded.training_examples() == 3
    assert loaded.result_files["file-res"].read_text() == RESULTS  # stored decoded
    curve = loaded.metrics["train_loss"]
    assert list(curve.steps) == list(range(1, 21))
    assert list(loaded.metrics["valid_loss"].steps) == [2]  # from the results file
    assert loaded.metrics.total_steps == 20 and loaded.metrics.n_epochs == 2
    assert loaded.metrics.epoch_starts == (11,)

    manifest = loaded.manifest
    assert manifest["schema_version"] == 1 and manifest["provider"] == "openai"
    assert manifest["job_id"] == "ftjob-1" and manifest["app_version"] == __version__
    assert manifest["created"].startswith("2026-09-21")
    assert manifest["files"]["training"] == {
        "file_id": "file-train",
        "sha256": sha_train,
        "bytes": len(TRAIN),
        "archived": True,
    }
    assert manifest["files"]["validation"]["sha256"] == sha_valid
    assert manifest["result_files"] == ["file-res"] and manifest["notes"] == []


def test_metrics_csv_follows_the_events(archive):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(2), event(1)])
    text = (archive.job_folder("openai", "ftjob-1") / "metrics.csv").read_text()
    assert text.splitlines()[0].startswith("step,train_loss")
    assert [row.split(",")[0] for row in text.splitlines()[1:]] == ["1", "2"]
    archive.add_events("openai", "ftjob-1", [event(3)])
    text = (archive.job_folder("openai", "ftjob-1") / "metrics.csv").read_text()
    assert len(text.splitlines()) == 4


def test_events_are_kept_once_and_oldest_first_even_when_older_ones_come_late(archive):
    stored(archive)
    assert (
        archive.add_events("openai", "ftjob-1", [event(9), event(8, metrics=False), event(7)]) == 3
    )
    assert archive.add_events("openai", "ftjob-1", [event(9), event(8, metrics=False)]) == 0
    assert archive.add_events("openai", "ftjob-1", [event(3), event(2)]) == 2  # an older page
    assert archive.add_events("openai", "ftjob-1", [event(10)]) == 1
    path = archive.job_folder("openai", "ftjob-1") / "events.jsonl"
    assert [e["id"] for e in lines(path)] == [f"ftevent-{n:04d}" for n in (2, 3, 7, 8, 9, 10)]


def test_events_without_ids_are_deduplicated_by_content(archive):
    stored(archive)
    anonymous = {"created_at": 5, "type": "message", "message": "hello"}
    assert archive.add_events("openai", "ftjob-1", [anonymous, dict(anonymous)]) == 1
    assert archive.add_events("openai", "ftjob-1", [anonymous]) == 0


def test_checkpoints_that_the_provider_dropped_are_kept(archive):
    stored(archive)
    ckpt = lambda s: {"id": f"c{s}", "step_number": s, "fine_tuned_model_checkpoint": f"m{s}"}  # noqa: E731
    assert archive.save_checkpoints("openai", "ftjob-1", [ckpt(3), ckpt(1), ckpt(2)]) == 3
    assert archive.save_checkpoints("openai", "ftjob-1", [ckpt(4), ckpt(3), ckpt(2)]) == 1
    loaded = archive.load("openai", "ftjob-1")
    assert [c["step_number"] for c in loaded.checkpoints] == [1, 2, 3, 4]


def test_an_unreadable_results_file_is_kept_as_received(archive):
    stored(archive)
    path = archive.save_result_file("openai", "ftjob-1", "file-odd", b"\x00\x01 not csv")
    assert path.read_bytes() == b"\x00\x01 not csv"
    assert archive.load("openai", "ftjob-1").result_files == {"file-odd": path}


# ------------------------------------------------------------------------------ uploads


def test_identical_uploads_are_stored_once_and_can_be_found(archive, tmp_path):
    sha = archive.record_upload("openai", "file-a", TRAIN, "training")
    assert archive.record_upload("openai", "file-b", TRAIN, "training") == sha
    source = tmp_path / "train.jsonl"
    source.write_bytes(TRAIN)
    assert archive.record_upload("azure", "file-c", source, "training") == sha
    blobs = [
        p for p in (archive.root / "uploads" / "blobs").iterdir() if not p.name.startswith(".")
    ]
    assert [p.name for p in blobs] == [f"{sha}.jsonl"]
    assert archive.find_upload("openai", sha) in {"file-a", "file-b"}
    assert archive.find_upload("azure", sha.upper()) == "file-c"
    assert archive.find_upload("other", sha) is None
    assert archive.find_upload("openai", hashlib.sha256(b"x").hexdigest()) is None


def test_upload_from_a_path_keeps_the_exact_bytes(archive, tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_bytes(VALID * 5000)
    sha = archive.record_upload("openai", "file-big", source, "validation")
    assert sha == hashlib.sha256(VALID * 5000).hexdigest()
    assert (archive.root / "uploads" / "blobs" / f"{sha}.jsonl").read_bytes() == VALID * 5000


def test_upload_role_is_checked(archive):
    with pytest.raises(ValueError):
        archive.record_upload("openai", "file-a", TRAIN, "test")


def test_a_job_whose_files_were_not_uploaded_here_says_so(archive):
    archive.save_job("openai", job())
    loaded = archive.load("openai", "ftjob-1")
    assert loaded.dataset == {}
    assert loaded.manifest["files"]["training"] == {"file_id": "file-train", "archived": False}
    assert any("file-train" in note for note in loaded.manifest["notes"])
    archive.record_upload("openai", "file-train", TRAIN, "training")
    archive.save_job("openai", job())  # the next poll links it in
    assert archive.load("openai", "ftjob-1").dataset["training"].read_bytes() == TRAIN


# ------------------------------------------------------------------------------ crash safety


def test_a_cut_off_last_line_and_leftover_temp_files_do_not_break_the_archive(archive):
    stored(archive)
    folder = archive.job_folder("openai", "ftjob-1")
    archive.add_events("openai", "ftjob-1", [event(2), event(1)])
    path = folder / "events.jsonl"
    body = path.read_bytes()
    path.write_bytes(body + orjson.dumps(event(3))[:25])  # crash in the middle of an append
    (folder / ".job.json.abc123.tmp").write_bytes(b'{"id": "half')
    (folder / ".events.jsonl.x.tmp").write_bytes(b"")

    reopened = JobArchive(archive.root)  # a restart
    loaded = reopened.load("openai", "ftjob-1")
    assert [e["id"] for e in loaded.events] == ["ftevent-0001", "ftevent-0002"]
    assert [s.id for s in reopened.list_jobs()] == ["ftjob-1"]

    assert reopened.add_events("openai", "ftjob-1", [event(4), event(3)]) == 2
    assert [e["id"] for e in lines(path)] == [f"ftevent-{n:04d}" for n in range(1, 5)]
    assert reopened.load("openai", "ftjob-1").metrics["train_loss"].steps.tolist() == [1, 2, 3, 4]


def test_a_file_cut_mid_line_loses_only_that_event_and_the_next_poll_restores_it(archive):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(3), event(2), event(1)])
    path = archive.job_folder("openai", "ftjob-1") / "events.jsonl"
    path.write_bytes(path.read_bytes()[:-10])
    reopened = JobArchive(archive.root)
    assert len(reopened.load("openai", "ftjob-1").events) == 2
    assert reopened.add_events("openai", "ftjob-1", [event(3), event(2)]) == 1
    assert [e["id"] for e in lines(path)] == [f"ftevent-{n:04d}" for n in (1, 2, 3)]


def test_a_stale_metrics_file_is_rebuilt_after_a_restart(archive):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(2), event(1)])
    metrics = archive.job_folder("openai", "ftjob-1") / "metrics.csv"
    metrics.write_text("step,train_loss\n")  # crash between the events and the table
    JobArchive(archive.root).add_events("openai", "ftjob-1", [event(2)])
    assert len(metrics.read_text().splitlines()) == 3


def test_a_damaged_job_record_is_skipped_in_lists_and_reported_on_load(archive):
    stored(archive, n_jobs=2)
    (archive.job_folder("openai", "ftjob-2") / "job.json").write_bytes(b'{"id": "ftj')
    assert [s.id for s in archive.list_jobs("openai")] == ["ftjob-1"]
    with pytest.raises(ArchiveError):
        archive.load("openai", "ftjob-2")
    with pytest.raises(ArchiveError):
        archive.load("openai", "ftjob-missing")


# ------------------------------------------------------------------------------ listing


def test_open_jobs_survive_a_restart(archive):
    archive.save_job("openai", job("ftjob-a", "running", 1))
    archive.save_job("openai", job("ftjob-b", "succeeded", 2))
    archive.save_job("openai", job("ftjob-c", "paused", 3))
    archive.save_job("openai", job("ftjob-d", "something_new", 4))
    archive.save_job("openai", job("ftjob-e", "cancelled", 5))
    archive.save_job("azure", job("ftjob-f", "queued", 6))
    reopened = JobArchive(archive.root)
    assert [s.id for s in reopened.open_jobs("openai")] == ["ftjob-d", "ftjob-c", "ftjob-a"]
    assert [s.id for s in reopened.open_jobs()] == ["ftjob-f", "ftjob-d", "ftjob-c", "ftjob-a"]


def test_list_jobs_covers_providers_newest_first(archive):
    archive.save_job("openai", job("ftjob-old", created=100))
    archive.save_job("azure-east", job("ftjob-new", created=300))
    archive.save_job("openai", job("ftjob-mid", created=200))
    summaries = archive.list_jobs()
    assert [(s.provider_id, s.id) for s in summaries] == [
        ("azure-east", "ftjob-new"),
        ("openai", "ftjob-mid"),
        ("openai", "ftjob-old"),
    ]
    assert [s.id for s in archive.list_jobs("openai")] == ["ftjob-mid", "ftjob-old"]
    assert archive.list_jobs("nobody") == []
    assert JobArchive(archive.root / "empty").list_jobs() == []


def test_odd_ids_become_safe_folder_names(archive):
    odd = "arn:aws:bedrock/job:1"
    archive.save_job("bedrock/us-west-2", job(odd))
    folder = archive.job_folder("bedrock/us-west-2", odd)
    assert folder.parent.parent == archive.root / "jobs"
    assert ":" not in folder.name and "/" not in folder.name
    assert [(s.provider_id, s.id) for s in archive.list_jobs()] == [("bedrock/us-west-2", odd)]
    with pytest.raises(ValueError):
        archive.job_folder("openai", "")
    assert archive.job_folder("openai", "..").name == "%2E."


# ------------------------------------------------------------------------------ export and delete


def test_export_zip_holds_everything_and_a_readme(archive, tmp_path):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(1)])
    archive.save_checkpoints("openai", "ftjob-1", [{"id": "c1", "step_number": 1}])
    archive.save_result_file("openai", "ftjob-1", "file-res", RESULTS)
    folder = archive.job_folder("openai", "ftjob-1")
    (folder / ".job.json.leftover.tmp").write_bytes(b"junk")
    dest = archive.export_zip("openai", "ftjob-1", tmp_path / "out" / "job.zip")
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
        assert names == {
            "ftjob-1/README.txt",
            "ftjob-1/job.json",
            "ftjob-1/manifest.json",
            "ftjob-1/events.jsonl",
            "ftjob-1/metrics.csv",
            "ftjob-1/checkpoints.json",
            "ftjob-1/results/file-res.csv",
            "ftjob-1/dataset/training.jsonl",
            "ftjob-1/dataset/validation.jsonl",
        }
        assert zf.read("ftjob-1/dataset/training.jsonl") == TRAIN
        readme = zf.read("ftjob-1/README.txt").decode()
        assert "dataset/training.jsonl" in readme and "base model is retired" in readme
        manifest = json.loads(zf.read("ftjob-1/manifest.json"))
        assert manifest["files"]["training"]["sha256"] == hashlib.sha256(TRAIN).hexdigest()
    assert [p.name for p in dest.parent.iterdir()] == ["job.zip"]
    with pytest.raises(ArchiveError):
        archive.export_zip("openai", "ftjob-none", tmp_path / "x.zip")


def test_delete_removes_the_job_and_uploads_no_other_job_uses(archive):
    stored(archive, n_jobs=2)
    archive.save_job("openai", job("ftjob-3", training_file="file-other", validation_file=None))
    archive.record_upload("openai", "file-other", b"other\n", "training")
    blobs = archive.root / "uploads" / "blobs"
    sha_other = hashlib.sha256(b"other\n").hexdigest()
    sha_train = hashlib.sha256(TRAIN).hexdigest()

    assert archive.delete("openai", "ftjob-3")
    assert not archive.job_folder("openai", "ftjob-3").exists()
    assert not (blobs / f"{sha_other}.jsonl").exists()
    assert archive.find_upload("openai", sha_other) is None

    assert archive.delete("openai", "ftjob-1")
    assert (blobs / f"{sha_train}.jsonl").exists()  # ftjob-2 still uses it
    assert archive.load("openai", "ftjob-2").dataset["training"].read_bytes() == TRAIN
    assert archive.delete("openai", "ftjob-2")
    assert not (blobs / f"{sha_train}.jsonl").exists()
    assert archive.find_upload("openai", sha_train) is None
    assert not archive.delete("openai", "ftjob-2")
    assert archive.list_jobs() == []


# ------------------------------------------------------------------------------ permissions


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_every_archive_file_is_private_including_the_events(archive):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(3), event(2)])  # appended
    archive.add_events("openai", "ftjob-1", [event(1)])  # an older one: rewritten in order
    archive.add_events("openai", "ftjob-1", [event(4)])
    archive.save_checkpoints("openai", "ftjob-1", [{"id": "ftckpt_1", "step_number": 1}])
    archive.save_result_file("openai", "ftjob-1", "file-res", base64.b64encode(RESULTS.encode()))
    files = [path for path in archive.root.rglob("*") if path.is_file()]
    assert any(path.name == "events.jsonl" for path in files)
    modes = {
        path.relative_to(archive.root).as_posix(): oct(path.stat().st_mode & 0o777)
        for path in files
    }
    assert set(modes.values()) == {"0o600"}, modes


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_events_file_left_readable_by_others_is_made_private(archive):
    stored(archive)
    archive.add_events("openai", "ftjob-1", [event(1)])
    path = archive.job_folder("openai", "ftjob-1") / "events.jsonl"
    path.chmod(0o644)  # as older versions left it
    archive.add_events("openai", "ftjob-1", [event(2)])
    assert path.stat().st_mode & 0o777 == 0o600
    assert [e["id"] for e in lines(path)] == ["ftevent-0001", "ftevent-0002"]

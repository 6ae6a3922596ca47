"""Training jobs on this computer, seen from the app: folders, processes and their state.

Each job is a folder of the job archive (see ``protocol``) and a training process started
apart from the app (``trainer``), in a session of its own so it keeps going when the app
quits. Whether it is alive is read from its lock, not from a process id; what it did, from
the JSON lines it printed. So the job list, each job's state and its curves come from the
folders alone, and a job the app left running (or a computer restart cut short) is found
again at the next start: ``pick_up`` continues it from its last checkpoint.

Nothing here imports torch: starting a process and reading its files is all the app does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from desktop.core.archive import JobArchive
from desktop.core.jsonl_io import atomic_write
from desktop.local_training import locks
from desktop.local_training.processes import process_environment, start_detached, terminate
from desktop.local_training.protocol import (
    JobFiles,
    JobSpec,
    Settings,
    checkpoints,
    read_lines,
)

#: A process that has not taken its lock yet counts as starting for this long (seconds).
STARTUP_GRACE = 120.0
#: How long a cancelled process gets to stop before it is killed (seconds).
STOP_WAIT = 5.0
#: A job interrupted this many times in a row at the same checkpoint is given up.
MAX_PICKUPS = 3
FILE_PREFIX = "local-file-"
JOB_PREFIX = "local-"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class JobError(Exception):
    """Something asked of a job cannot be done now; the message says why in plain words."""


class Condition(str, Enum):
    """Where a local job is, as its folder tells."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: The process is gone without saying how it ended (the app or the computer stopped).
    INTERRUPTED = "interrupted"

    @property
    def ended(self) -> bool:
        return self in (Condition.SUCCEEDED, Condition.FAILED, Condition.CANCELLED)


@dataclass(frozen=True)
class Request:
    """What the user asked for, as the app keeps it beside the spec (``request.json``)."""

    request_id: str
    created_at: float
    model: str
    method: str
    parameters: Mapping[str, Any]
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "created_at": self.created_at,
            "model": self.model,
            "method": self.method,
            "parameters": dict(self.parameters),
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "suffix": self.suffix,
            "seed": self.seed,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        return cls(
            request_id=str(data.get("request_id") or ""),
            created_at=float(data.get("created_at") or 0.0),
            model=str(data.get("model") or ""),
            method=str(data.get("method") or "supervised"),
            parameters=dict(data.get("parameters") or {}),
            training_file=str(data.get("training_file") or ""),
            validation_file=data.get("validation_file") or None,
            suffix=data.get("suffix") or None,
            seed=data.get("seed") if isinstance(data.get("seed"), int) else None,
            metadata={str(k): str(v) for k, v in dict(data.get("metadata") or {}).items()},
        )


@dataclass(frozen=True)
class JobView:
    """Everything known about one job, read from its folder."""

    job_id: str
    files: JobFiles
    request: Request
    spec: JobSpec
    condition: Condition
    progress: list[tuple[int, dict[str, Any]]]
    notes: list[tuple[int, dict[str, Any]]]
    end: dict[str, Any] | None
    finished_at: float | None
    error: str | None

    @property
    def last_step(self) -> dict[str, Any] | None:
        """The latest ``step`` line of any run."""
        return next((v for _n, v in reversed(self.progress) if v.get("event") == "step"), None)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _complete_lines(path: Path) -> int:
    """How many complete lines the file holds (a cut-off last line is closed first)."""
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return 0
    if body and not body.endswith(b"\n"):
        with path.open("ab") as stream:
            stream.write(b"\n")
        body += b"\n"
    return body.count(b"\n")


class LocalFiles:
    """Uploaded datasets, each content stored once under its SHA-256 (like the archive)."""

    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / "local-training" / "files"

    def put(self, data: bytes) -> str:
        """Keep ``data`` and return its file id (the same bytes give the same id)."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.folder / f"{sha256}.jsonl"
        if not (path.is_file() and path.stat().st_size == len(data)):
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        return FILE_PREFIX + sha256

    def path(self, file_id: str) -> Path | None:
        """Where a file id's content is, or None when it is not held."""
        sha256 = file_id.removeprefix(FILE_PREFIX)
        if not file_id.startswith(FILE_PREFIX) or not _SHA256.match(sha256):
            return None
        path = self.folder / f"{sha256}.jsonl"
        return path if path.is_file() else None

    def find(self, tag: str, size: int) -> str | None:
        """The id of held content whose SHA-256 starts with ``tag`` and has this size."""
        if not re.fullmatch(r"[0-9a-f]{6,64}", tag):
            return None
        for path in sorted(self.folder.glob(f"{tag}*.jsonl")):
            if path.stat().st_size == size:
                return FILE_PREFIX + path.stem
        return None


class LocalJobs:
    """The jobs of one profile (``provider_id``) under the job archive's ``root``."""

    def __init__(
        self,
        root: Path,
        provider_id: str,
        *,
        python: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.provider_id = provider_id
        self.archive = JobArchive(self.root)
        self.files = LocalFiles(self.root)
        self.python = python or sys.executable
        self.clock = clock

    # Folders ---------------------------------------------------------------------------------

    def job_files(self, job_id: str) -> JobFiles:
        return JobFiles(self.archive.job_folder(self.provider_id, job_id))

    def job_ids(self) -> list[str]:
        """Every job of this profile, newest first."""
        provider = self.archive.job_folder(self.provider_id, "x").parent
        found: list[tuple[float, str]] = []
        with contextlib.suppress(OSError):
            for folder in provider.iterdir():
                request = _read_json(JobFiles(folder).training / "request.json")
                spec = _read_json(JobFiles(folder).spec)
                if request is not None and spec is not None:
                    found.append((float(request.get("created_at") or 0), str(spec["job_id"])))
        return [job_id for _created, job_id in sorted(found, reverse=True)]

    def find_by_request(self, request_id: str) -> str | None:
        """The job an earlier create request with this id made, if any."""
        for job_id in self.job_ids():
            request = _read_json(self.job_files(job_id).training / "request.json")
            if request is not None and request.get("request_id") == request_id:
                return job_id
        return None

    # Starting ----------------------------------------------------------------------------------

    def create(self, request: Request, settings: Settings, base_model: str) -> str:
        """Make the job's folder (with its exact data) and start training; the job's id."""
        training = self.files.path(request.training_file)
        if training is None:
            raise JobError("The training data is not on this computer any more; send it again.")
        validation = None
        if request.validation_file is not None:
            validation = self.files.path(request.validation_file)
            if validation is None:
                raise JobError(
                    "The validation data is not on this computer any more; send it again."
                )
        job_id = f"{JOB_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        files = self.job_files(job_id)
        files.training.mkdir(parents=True, exist_ok=True)
        _link(training, files.data_file("training"))
        if validation is not None:
            _link(validation, files.data_file("validation"))
        spec = JobSpec(
            job_id=job_id,
            base_model=base_model,
            method=request.method,
            training_file=str(files.data_file("training")),
            validation_file=str(files.data_file("validation")) if validation else None,
            output_dir=str(files.folder),
            settings=settings,
        )
        atomic_write(files.spec, spec.to_json())
        _write_json(files.state, {"wanted": "run", "runs": [], "pickups": []})
        _write_json(files.training / "request.json", request.to_dict())
        self.launch(job_id)
        return job_id

    def launch(self, job_id: str, resume_from: tuple[int, Path] | None = None) -> None:
        """Start the job's training process (from a checkpoint when given)."""
        files = self.job_files(job_id)
        state = self._state(files)
        with contextlib.suppress(FileNotFoundError):
            files.stop.unlink()
        first_line = _complete_lines(files.progress)
        command = [self.python, "-m", "desktop.local_training.trainer", str(files.spec)]
        if resume_from is not None:
            command += ["--resume", str(resume_from[1])]
        try:
            pid = start_detached(
                command,
                stdout=files.progress,
                stderr=files.log,
                cwd=files.folder,
                env=process_environment(),
            )
        except OSError as exc:
            raise JobError(f"The training process could not be started ({exc}).") from exc
        state["wanted"] = "run"
        state.setdefault("runs", []).append(
            {
                "started_at": self.clock(),
                "pid": pid,
                "first_line": first_line,
                "resume_from": resume_from[0] if resume_from else None,
            }
        )
        _write_json(files.state, state)

    # Reading ----------------------------------------------------------------------------------

    def _state(self, files: JobFiles) -> dict[str, Any]:
        return _read_json(files.state) or {"wanted": "run", "runs": [], "pickups": []}

    def view(self, job_id: str) -> JobView:
        """The job as its folder tells (``JobError`` when there is no such job)."""
        files = self.job_files(job_id)
        request_data = _read_json(files.training / "request.json")
        try:
            spec = JobSpec.load(files.spec)
        except (OSError, ValueError) as exc:
            raise JobError(f"There is no training job {job_id} on this computer.") from exc
        if request_data is None:
            raise JobError(f"The training job {job_id} has lost its settings file.")
        state = self._state(files)
        progress = list(read_lines(files.progress))
        notes = list(read_lines(files.app_events))
        runs = state.get("runs") or []
        current = (
            [v for n, v in progress if n >= int(runs[-1].get("first_line", 0))] if runs else []
        )
        end = next((v for v in reversed(current) if v.get("event") == "end"), None)
        condition = self._condition(files, state, runs, current, end)
        finished = state.get("finished_at")
        if finished is None and end is not None and condition.ended:
            finished = end.get("time")
        error = state.get("error")
        if error is None and condition is Condition.FAILED and end is not None:
            error = end.get("message")
        return JobView(
            job_id=job_id,
            files=files,
            request=Request.from_dict(request_data),
            spec=spec,
            condition=condition,
            progress=progress,
            notes=notes,
            end=end,
            finished_at=float(finished) if isinstance(finished, (int, float)) else None,
            error=error if isinstance(error, str) else None,
        )

    def _alive(self, files: JobFiles, runs: list[dict[str, Any]], current: list[dict]) -> bool:
        if locks.is_held(files.lock):
            return True
        if not runs or any(v.get("event") == "hello" for v in current):
            return False
        run = runs[-1]
        young = self.clock() - float(run.get("started_at") or 0) < STARTUP_GRACE
        return young and locks.process_exists(int(run.get("pid") or 0))

    def _condition(
        self,
        files: JobFiles,
        state: Mapping[str, Any],
        runs: list[dict[str, Any]],
        current: list[dict[str, Any]],
        end: Mapping[str, Any] | None,
    ) -> Condition:
        wanted = state.get("wanted")
        if wanted == "cancel":
            return Condition.CANCELLED
        if state.get("error"):
            return Condition.FAILED
        if self._alive(files, runs, current):
            if wanted == "pause":
                return Condition.PAUSING
            started = any(v.get("event") == "start" for v in current)
            return Condition.RUNNING if started else Condition.STARTING
        if end is not None:
            return {
                "succeeded": Condition.SUCCEEDED,
                "paused": Condition.PAUSED,
                "cancelled": Condition.CANCELLED,
            }.get(str(end.get("status")), Condition.FAILED)
        if wanted == "pause":
            return Condition.PAUSED
        return Condition.INTERRUPTED

    # Acting -------------------------------------------------------------------------------------

    def note(self, job_id: str, text: str, level: str = "info") -> None:
        """Add a line of the app's own to the job's events."""
        files = self.job_files(job_id)
        files.training.mkdir(parents=True, exist_ok=True)
        _complete_lines(files.app_events)
        entry = {"event": "message", "time": self.clock(), "text": text, "level": level}
        with files.app_events.open("ab") as stream:
            stream.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))

    def pick_up(self, job_id: str) -> JobView:
        """The job, continued from its last checkpoint when its process was cut short."""
        view = self.view(job_id)
        if view.condition is not Condition.INTERRUPTED:
            return view
        files = view.files
        state = self._state(files)
        saved = checkpoints(files)
        step = saved[-1][0] if saved else 0
        pickups = [*list(state.get("pickups") or []), step]
        state["pickups"] = pickups
        if len(pickups) >= MAX_PICKUPS and len(set(pickups[-MAX_PICKUPS:])) == 1:
            state["error"] = (
                f"Training stopped {MAX_PICKUPS} times at the same point without saying why "
                "(perhaps the computer ran out of memory). Lower the batch size or the "
                "maximum example length, or choose a smaller base model, then train again."
            )
            state["finished_at"] = self.clock()
            _write_json(files.state, state)
            return self.view(job_id)
        _write_json(files.state, state)
        where = f"from step {step}" if saved else "from the start"
        self.note(
            job_id,
            f"Training was interrupted (the app or the computer stopped); it goes on {where}.",
            "warning",
        )
        self.launch(job_id, saved[-1] if saved else None)
        return self.view(job_id)

    def pause(self, job_id: str) -> JobView:
        """Ask the process to save a checkpoint after the current step and stop."""
        view = self.view(job_id)
        if view.condition in (Condition.PAUSING, Condition.PAUSED):
            return view
        if view.condition not in (Condition.RUNNING, Condition.STARTING):
            raise JobError(f"Only a job that is training can be paused; this one is {_word(view)}.")
        state = self._state(view.files)
        state["wanted"] = "pause"
        _write_json(view.files.state, state)
        atomic_write(view.files.stop, b"pause")
        self.note(job_id, "Pausing: the current step finishes and a checkpoint is saved first.")
        return self.view(job_id)

    def resume(self, job_id: str) -> JobView:
        """Start training again from the last checkpoint of a paused job."""
        view = self.view(job_id)
        if view.condition is Condition.PAUSING:
            raise JobError("The job is still saving its checkpoint; resume it in a moment.")
        if view.condition not in (Condition.PAUSED, Condition.INTERRUPTED):
            raise JobError(f"Only a paused job can be resumed; this one is {_word(view)}.")
        saved = checkpoints(view.files)
        where = f"from step {saved[-1][0]}" if saved else "from the start"
        self.note(job_id, f"Training resumes {where}.")
        self.launch(job_id, saved[-1] if saved else None)
        return self.view(job_id)

    def cancel(self, job_id: str, *, wait: float = STOP_WAIT) -> JobView:
        """Stop the job for good within seconds: its process is ended, not asked."""
        view = self.view(job_id)
        if view.condition.ended:
            return view
        files = view.files
        state = self._state(files)
        state["wanted"] = "cancel"
        state["finished_at"] = self.clock()
        _write_json(files.state, state)
        atomic_write(files.stop, b"cancel")
        runs = state.get("runs") or []
        pid = int(runs[-1].get("pid") or 0) if runs else 0
        if pid and view.condition not in (Condition.PAUSED, Condition.INTERRUPTED):
            terminate(pid)
            deadline = time.monotonic() + wait
            while locks.is_held(files.lock) and time.monotonic() < deadline:
                time.sleep(0.05)
            if locks.is_held(files.lock):
                terminate(pid, hard=True)
        self.note(job_id, "Training was cancelled.")
        return self.view(job_id)


def _word(view: JobView) -> str:
    return {
        Condition.STARTING: "starting",
        Condition.RUNNING: "training",
        Condition.PAUSING: "pausing",
        Condition.PAUSED: "paused",
        Condition.SUCCEEDED: "finished",
        Condition.FAILED: "failed",
        Condition.CANCELLED: "cancelled",
        Condition.INTERRUPTED: "interrupted",
    }[view.condition]


def _link(source: Path, target: Path) -> None:
    """Give ``target`` the bytes of ``source``: a hard link where possible, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        atomic_write(target, source.read_bytes())

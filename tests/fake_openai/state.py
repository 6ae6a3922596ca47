"""In-memory provider state for the fake server: files, uploads, jobs, models and a test clock.

Everything here is plain Python with one lock, independent of HTTP, so the simulation can be
driven and inspected directly. Jobs only move when the clock is advanced, which keeps tests
fast and deterministic: ``validating_files`` -> ``queued`` -> ``running`` (one metrics event per
step) -> ``succeeded``. Paused jobs do not consume time; cancelled jobs stay cancelled.

The ``nebius`` flavour keeps the same paths but behaves like Nebius Token Factory: its own
hyperparameters (checked by ``nebius``), no metrics in the events (the loss comes with each
checkpoint, one per epoch, with the adapter's files), no pause, and a trained LoRA answers only
once it is deployed as a custom model that turns ``active`` on the clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fake_openai import nebius

DEFAULT_START = 1_763_769_600.0  # 2025-11-22T00:00:00Z, fixed so created_at values are stable
ORG_NAME = "fake-org"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
MIN_TRAINING_EXAMPLES = 10
FLAVORS = ("openai", "nebius")


class ApiError(Exception):
    """An error answer in OpenAI's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body the API sends for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class FakeClock:
    """A clock only the test moves; listeners run after every advance."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[float, float], None]] = []

    def now(self) -> float:
        """Current fake time in unix seconds."""
        with self._lock:
            return self._now

    def add_listener(self, listener: Callable[[float, float], None]) -> None:
        """Call ``listener(previous, now)`` after each advance."""
        with self._lock:
            self._listeners.append(listener)

    def advance(self, seconds: float) -> float:
        """Move time forward and let the simulation catch up; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            previous = self._now
            self._now += seconds
            now = self._now
            listeners = list(self._listeners)
        for listener in listeners:
            listener(previous, now)
        return now


@dataclass(frozen=True)
class Timing:
    """How long each job phase lasts, in fake seconds."""

    validating: float = 2.0
    queued: float = 3.0
    per_step: float = 1.0
    #: How long a deployed custom model (Nebius) takes to become ``active``.
    deploying: float = 20.0


@dataclass
class StoredFile:
    """A file object plus its bytes."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    expires_at: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The ``OpenAIFile`` JSON shape."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        return out


@dataclass
class StoredUpload:
    """An Uploads API session and the parts received so far."""

    id: str
    filename: str
    purpose: str
    mime_type: str
    total_bytes: int
    created_at: int
    expires_at: int
    status: str = "pending"
    parts: dict[str, bytes] = field(default_factory=dict)
    file: StoredFile | None = None

    def to_api(self) -> dict[str, Any]:
        """The ``Upload`` JSON shape."""
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.total_bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "file": self.file.to_api() if self.file else None,
        }


@dataclass
class StoredModel:
    """A model the provider lists."""

    id: str
    created: int
    owned_by: str = "system"
    shutdown_date: str | None = None
    fine_tunable: bool = False

    def to_api(self) -> dict[str, Any]:
        """The ``Model`` JSON shape (``shutdown_date`` only where announced)."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }
        if self.shutdown_date is not None:
            out["shutdown_date"] = self.shutdown_date
        return out


DEFAULT_MODELS: tuple[StoredModel, ...] = (
    StoredModel("gpt-4o-mini", 1721172741),
    StoredModel(
        "gpt-4o-mini-2024-07-18", 1721172717, shutdown_date="2027-01-14", fine_tunable=True
    ),
    StoredModel("gpt-4o-2024-08-06", 1722814719, shutdown_date="2027-01-14", fine_tunable=True),
    StoredModel("gpt-4.1-2025-04-14", 1744315746, shutdown_date="2027-01-14", fine_tunable=True),
    StoredModel(
        "gpt-4.1-mini-2025-04-14", 1744317547, shutdown_date="2027-01-14", fine_tunable=True
    ),
    StoredModel(
        "gpt-4.1-nano-2025-04-14", 1744321025, shutdown_date="2026-10-23", fine_tunable=True
    ),
    StoredModel("babbage-002", 1692634615, fine_tunable=True),
    StoredModel("davinci-002", 1692634301, fine_tunable=True),
)


#: The base models the Nebius flavour lists; the first two can be fine-tuned (LoRA).
NEBIUS_MODELS: tuple[StoredModel, ...] = (
    StoredModel("meta-llama/Meta-Llama-3.1-8B-Instruct", 1721347200, "meta", fine_tunable=True),
    StoredModel("meta-llama/Llama-3.3-70B-Instruct", 1733443200, "meta", fine_tunable=True),
    StoredModel("deepseek-ai/DeepSeek-R1-0528", 1748390400, "deepseek"),
)


@dataclass
class CustomModel:
    """A LoRA checkpoint deployed at Nebius (``POST /v0/models``), answering once ``active``."""

    name: str
    short_name: str
    base_model: str
    source: str
    job_id: str
    checkpoint_id: str
    created_at: int
    ready_at: float
    description: str | None = None
    status: str = "validating"

    def to_api(self) -> dict[str, Any]:
        """The custom model's JSON shape."""
        return {
            "name": self.name,
            "base_model": self.base_model,
            "source": self.source,
            "created_at": self.created_at,
            "status": self.status,
            "description": self.description,
            "job_id": self.job_id,
            "checkpoint_id": self.checkpoint_id,
            "status_reason": None,
        }


@dataclass
class Job:
    """One simulated fine-tuning job."""

    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    method_type: str
    requested: dict[str, Any]
    metadata: dict[str, str] | None
    integrations: list[dict[str, Any]] | None
    created_at: int
    status: str = "validating_files"
    paused_from: str | None = None
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    resolved: dict[str, Any] = field(default_factory=dict)
    n_examples: int = 0
    tokens_per_epoch: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    elapsed: float = 0.0
    steps_done: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    estimated_finish: int | None = None
    listed_from: float = 0.0


def _hp_shown(job: Job) -> dict[str, Any]:
    """Hyperparameters as the API shows them: requested until validated, then resolved."""
    return dict(job.resolved) if job.resolved else dict(job.requested)


class FakeState:
    """All provider objects, guarded by one lock, advanced by the clock."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        timing: Timing | None = None,
        seed: int = 1234,
        models: Iterable[StoredModel] = DEFAULT_MODELS,
        max_file_bytes: int = 512 * 1024 * 1024,
        max_part_bytes: int = 64 * 1024 * 1024,
        results_base64: bool = False,
        flavor: str = "openai",
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; expected one of {FLAVORS}")
        self.flavor = flavor
        self.clock = clock
        self.timing = timing or Timing()
        self.lock = threading.RLock()
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, StoredUpload] = {}
        self.jobs: dict[str, Job] = {}
        self.custom_models: dict[str, CustomModel] = {}
        self.models: dict[str, StoredModel] = {
            m.id: StoredModel(m.id, m.created, m.owned_by, m.shutdown_date, m.fine_tunable)
            for m in models
        }
        self.max_file_bytes = max_file_bytes
        self.max_part_bytes = max_part_bytes
        self.results_base64 = results_base64
        self._rng = random.Random(seed)
        self._counter = 0
        clock.add_listener(self._on_advance)

    # ---- helpers -------------------------------------------------------------------------
    def new_id(self, prefix: str, length: int = 24) -> str:
        """A deterministic, realistic-looking id."""
        with self.lock:
            self._counter += 1
            digest = hashlib.sha256(f"{prefix}{self._counter}".encode()).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        text = "".join(alphabet[b % len(alphabet)] for b in digest)
        return prefix + text[:length]

    def now_int(self) -> int:
        """Current fake time, whole seconds."""
        return int(self.clock.now())

    # ---- files ---------------------------------------------------------------------------
    def create_file(
        self,
        filename: str,
        purpose: str,
        content: bytes,
        *,
        expires_after_seconds: int | None = None,
    ) -> StoredFile:
        """Store a file as the Files API does (fine-tune files must be .jsonl)."""
        if purpose not in FILE_PURPOSES and purpose != "fine-tune-results":
            raise ApiError(
                400,
                f"Invalid value for 'purpose': '{purpose}'.",
                param="purpose",
                code="invalid_value",
            )
        if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
            raise ApiError(
                400,
                "Invalid file format for Fine-Tuning API. Must be .jsonl",
                param="file",
            )
        if len(content) > self.max_file_bytes:
            raise ApiError(
                400,
                f"File is too large ({len(content)} bytes). The limit is {self.max_file_bytes}"
                " bytes; use the Uploads API for larger files.",
                param="file",
            )
        now = self.now_int()
        stored = StoredFile(
            id=self.new_id("file-"),
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=now,
            expires_at=now + expires_after_seconds if expires_after_seconds else None,
        )
        with self.lock:
            self.files[stored.id] = stored
        return stored

    def get_file(self, file_id: str) -> StoredFile:
        """Look a file up or answer 404 like the API."""
        with self.lock:
            found = self.files.get(file_id)
        if found is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return found

    def delete_file(self, file_id: str) -> None:
        """Remove a file (404 when missing)."""
        self.get_file(file_id)
        with self.lock:
            del self.files[file_id]

    def list_files(self, purpose: str | None, order: str) -> list[StoredFile]:
        """Files in ``created_at`` order (``desc`` newest first)."""
        with self.lock:
            items = [f for f in self.files.values() if purpose is None or f.purpose == purpose]
        return items if order == "asc" else list(reversed(items))

    # ---- uploads -------------------------------------------------------------------------
    def create_upload(
        self, filename: str, purpose: str, total_bytes: int, mime_type: str
    ) -> StoredUpload:
        """Open an Upload that expires an hour later."""
        if purpose not in UPLOAD_PURPOSES:
            raise ApiError(
                400,
                f"Invalid value for 'purpose': '{purpose}'.",
                param="purpose",
                code="invalid_value",
            )
        if purpose == "fine-tune" and mime_type != "text/jsonl":
            raise ApiError(
                400,
                f"Invalid mime type {mime_type!r} for purpose 'fine-tune'; use 'text/jsonl'.",
                param="mime_type",
            )
        if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
            raise ApiError(
                400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="filename"
            )
        if total_bytes < 0 or total_bytes > 8 * 1024**3:
            raise ApiError(400, "An Upload can hold at most 8 GB.", param="bytes")
        now = self.now_int()
        upload = StoredUpload(
            id=self.new_id("upload_"),
            filename=filename,
            purpose=purpose,
            mime_type=mime_type,
            total_bytes=total_bytes,
            created_at=now,
            expires_at=now + 3600,
        )
        with self.lock:
            self.uploads[upload.id] = upload
        return upload

    def _pending_upload(self, upload_id: str) -> StoredUpload:
        with self.lock:
            upload = self.uploads.get(upload_id)
            if upload is None:
                raise ApiError(404, f"No such Upload object: {upload_id}", param="upload_id")
            if upload.status == "pending" and self.now_int() >= upload.expires_at:
                upload.status = "expired"
            if upload.status != "pending":
                raise ApiError(
                    400,
                    f"Upload {upload_id} is {upload.status}; no further changes are allowed.",
                    param="upload_id",
                )
            return upload

    def add_part(self, upload_id: str, data: bytes) -> dict[str, Any]:
        """Store one part (at most ``max_part_bytes``)."""
        upload = self._pending_upload(upload_id)
        if len(data) > self.max_part_bytes:
            raise ApiError(
                400,
                f"A Part can be at most {self.max_part_bytes} bytes; got {len(data)}.",
                param="data",
            )
        part_id = self.new_id("part_")
        with self.lock:
            upload.parts[part_id] = data
        return {
            "id": part_id,
            "object": "upload.part",
            "created_at": self.now_int(),
            "upload_id": upload_id,
        }

    def complete_upload(
        self, upload_id: str, part_ids: Sequence[str], md5: str | None
    ) -> StoredUpload:
        """Join the parts in the given order into a File; the byte total must match."""
        upload = self._pending_upload(upload_id)
        unknown = [p for p in part_ids if p not in upload.parts]
        if unknown:
            raise ApiError(400, f"Unknown part id(s): {', '.join(unknown)}", param="part_ids")
        data = b"".join(upload.parts[p] for p in part_ids)
        if len(data) != upload.total_bytes:
            raise ApiError(
                400,
                f"The number of bytes uploaded ({len(data)}) does not match the number of bytes"
                f" specified when the Upload was created ({upload.total_bytes}).",
                param="part_ids",
            )
        if md5 is not None and hashlib.md5(data).hexdigest() != md5.lower():
            raise ApiError(400, "The md5 checksum does not match the uploaded data.", param="md5")
        stored = self.create_file(upload.filename, upload.purpose, b"", expires_after_seconds=None)
        with self.lock:
            stored.content = data
            upload.file = stored
            upload.status = "completed"
        return upload

    def cancel_upload(self, upload_id: str) -> StoredUpload:
        """Cancel a pending Upload."""
        upload = self._pending_upload(upload_id)
        with self.lock:
            upload.status = "cancelled"
        return upload

    # ---- models --------------------------------------------------------------------------
    def get_model(self, model_id: str) -> StoredModel:
        """Look a model up or answer 404 ``model_not_found``."""
        with self.lock:
            found = self.models.get(model_id)
        if found is None:
            raise ApiError(
                404,
                f"The model `{model_id}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return found

    def model_usable(self, model_id: str) -> bool:
        """Whether chat may use this id (listed models and kept checkpoints)."""
        with self.lock:
            if model_id in self.models:
                return True
            return any(
                c["fine_tuned_model_checkpoint"] == model_id
                for job in self.jobs.values()
                for c in job.checkpoints
            )

    def delete_model(self, model_id: str) -> None:
        """Delete a fine-tuned model; base models belong to the provider."""
        model = self.get_model(model_id)
        if not model_id.startswith("ft:"):
            raise ApiError(
                403,
                "You have insufficient permissions for this operation.",
                code="insufficient_permissions",
            )
        with self.lock:
            del self.models[model.id]

    # ---- jobs ----------------------------------------------------------------------------
    def create_job(self, body: Mapping[str, Any], *, hidden_for: float = 0.0) -> Job:
        """Validate a create request like the API, then start the job in ``validating_files``.

        ``hidden_for`` (fake seconds) makes a slow provider: the job exists and runs, but is
        neither listed nor found by id until the clock has moved that far.
        """
        if self.flavor == "nebius":
            return self._create_nebius_job(body, hidden_for=hidden_for)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        with self.lock:
            known = self.models.get(model)
        if known is None or not (known.fine_tunable or model.startswith("ft:")):
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        training_file = body.get("training_file")
        if not isinstance(training_file, str):
            raise ApiError(
                400, "Missing required parameter: 'training_file'.", param="training_file"
            )
        self._fine_tune_file(training_file, "training_file")
        validation_file = body.get("validation_file")
        if validation_file is not None:
            self._fine_tune_file(validation_file, "validation_file")
        suffix = body.get("suffix")
        if suffix is not None:
            if not isinstance(suffix, str) or not suffix:
                raise ApiError(
                    400, "Invalid 'suffix': expected a non-empty string.", param="suffix"
                )
            if len(suffix) > 64:
                raise ApiError(
                    400,
                    "Invalid 'suffix': string too long. Expected a string with maximum length 64,"
                    f" but got a string with length {len(suffix)} instead.",
                    param="suffix",
                    code="string_above_max_length",
                )
        seed = body.get("seed")
        if seed is None:
            with self.lock:
                seed = self._rng.randrange(0, 2**31 - 1)
        elif not _is_int(seed) or not 0 <= seed <= 2147483647:
            raise ApiError(
                400, "Invalid 'seed': expected an integer in [0, 2147483647].", param="seed"
            )
        metadata = _check_metadata(body.get("metadata"))
        method_type, requested = _check_method(body)
        job = Job(
            id=self.new_id("ftjob-"),
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            suffix=suffix,
            seed=int(seed),
            method_type=method_type,
            requested=requested,
            metadata=metadata,
            integrations=body.get("integrations"),
            created_at=self.now_int(),
            listed_from=self.clock.now() + hidden_for,
        )
        return self._open_job(job)

    def _open_job(self, job: Job) -> Job:
        self._event(job, f"Created fine-tuning job: {job.id}", at=job.created_at)
        self._event(job, f"Validating training file: {job.training_file}", at=job.created_at)
        if job.validation_file:
            self._event(
                job, f"Validating validation file: {job.validation_file}", at=job.created_at
            )
        with self.lock:
            self.jobs[job.id] = job
        return job

    def _create_nebius_job(self, body: Mapping[str, Any], *, hidden_for: float) -> Job:
        """Nebius's create: every field checked against its own schema, the defaults filled in
        (Nebius reports concrete values, never "auto")."""
        problems = nebius.job_problems(body)
        if problems:
            first = problems[0]
            raise ApiError(400, first.message, param=first.param, code=first.code)
        model = str(body["model"])
        with self.lock:
            known = self.models.get(model)
        if known is None or not known.fine_tunable:
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning.",
                param="model",
                code="model_not_available",
            )
        training_file = str(body["training_file"])
        self._fine_tune_file(training_file, "training_file")
        validation_file = body.get("validation_file")
        if validation_file is not None:
            self._fine_tune_file(validation_file, "validation_file")
        seed = body.get("seed")
        if seed is None:
            with self.lock:
                seed = self._rng.randrange(0, 2**31 - 1)
        job = Job(
            id=self.new_id("ftjob-"),
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            suffix=body.get("suffix"),
            seed=int(seed),
            method_type="supervised",
            requested={**nebius.HYPERPARAMETER_DEFAULTS, **nebius.job_hyperparameters(body)},
            metadata=None,
            integrations=body.get("integrations"),
            created_at=self.now_int(),
            listed_from=self.clock.now() + hidden_for,
        )
        return self._open_job(job)

    def _fine_tune_file(self, file_id: str, param: str) -> StoredFile:
        with self.lock:
            found = self.files.get(file_id)
        if found is None:
            raise ApiError(
                400,
                f"Invalid file: {file_id} does not exist.",
                param=param,
                code="invalid_file",
            )
        if found.purpose != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose '{found.purpose}', expected 'fine-tune'.",
                param=param,
                code="invalid_file_purpose",
            )
        return found

    def get_job(self, job_id: str) -> Job:
        """Look a job up or answer 404."""
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or job.listed_from > self.clock.now():
            raise ApiError(
                404,
                f"Could not find fine tune: {job_id}",
                param="fine_tuning_job_id",
                code="fine_tune_not_found",
            )
        return job

    def list_jobs(self, metadata_filter: Mapping[str, str] | None, want_null: bool) -> list[Job]:
        """Jobs newest first, filtered by metadata pairs (or by having none)."""
        now = self.clock.now()
        with self.lock:
            jobs = [j for j in reversed(self.jobs.values()) if j.listed_from <= now]
        if want_null:
            return [j for j in jobs if not j.metadata]
        if metadata_filter:
            return [
                j
                for j in jobs
                if j.metadata and all(j.metadata.get(k) == v for k, v in metadata_filter.items())
            ]
        return jobs

    def cancel_job(self, job_id: str) -> Job:
        """Cancel any job that has not ended yet."""
        job = self.get_job(job_id)
        with self.lock:
            if job.status in TERMINAL_STATUSES:
                raise ApiError(
                    400, f"Job {job_id} has already {job.status}; it cannot be cancelled."
                )
            job.status = "cancelled"
            job.paused_from = None
            job.finished_at = self.now_int()
            job.estimated_finish = None
            self._event(job, "Fine-tuning job cancelled", at=job.finished_at)
        return job

    def pause_job(self, job_id: str) -> Job:
        """Pause a job that is still moving; it keeps its place."""
        job = self.get_job(job_id)
        with self.lock:
            if job.status in TERMINAL_STATUSES or job.status == "paused":
                raise ApiError(
                    400, f"Job {job_id} is {job.status}; only active jobs can be paused."
                )
            job.paused_from = job.status
            job.status = "paused"
            job.estimated_finish = None
            self._event(job, "Fine-tuning job paused", at=self.now_int())
        return job

    def resume_job(self, job_id: str) -> Job:
        """Resume a paused job where it stopped."""
        job = self.get_job(job_id)
        with self.lock:
            if job.status != "paused":
                raise ApiError(
                    400, f"Job {job_id} is {job.status}; only paused jobs can be resumed."
                )
            job.status = job.paused_from or "queued"
            job.paused_from = None
            self._event(job, "Fine-tuning job resumed", at=self.now_int())
            self._update_estimate(job, self.clock.now())
        return job

    def job_to_api(self, job: Job) -> dict[str, Any]:
        """The ``FineTuningJob`` JSON shape (Nebius's own in that flavour)."""
        if self.flavor == "nebius":
            return self._nebius_job_to_api(job)
        with self.lock:
            hp = _hp_shown(job)
            common = {k: hp[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")}
            method_hp = dict(common)
            if job.method_type == "dpo":
                method_hp["beta"] = hp.get("beta", "auto")
            return {
                "id": job.id,
                "object": "fine_tuning.job",
                "created_at": job.created_at,
                "error": dict(job.error) if job.error else None,
                "fine_tuned_model": job.fine_tuned_model,
                "finished_at": job.finished_at,
                "hyperparameters": common,
                "model": job.model,
                "organization_id": "org-fake",
                "result_files": list(job.result_files),
                "seed": job.seed,
                "status": job.status,
                "trained_tokens": job.trained_tokens,
                "training_file": job.training_file,
                "validation_file": job.validation_file,
                "integrations": job.integrations,
                "estimated_finish": job.estimated_finish,
                "method": {
                    "type": job.method_type,
                    job.method_type: {"hyperparameters": method_hp},
                },
                "metadata": dict(job.metadata) if job.metadata else None,
            }

    def _nebius_job_to_api(self, job: Job) -> dict[str, Any]:
        """A job as Nebius shows it: top-level hyperparameters, steps counted, no ``method``,
        ``metadata`` or ``fine_tuned_model`` (a trained LoRA is named when it is deployed)."""
        with self.lock:
            return {
                "id": job.id,
                "object": "fine_tuning.job",
                "created_at": job.created_at,
                "model": job.model,
                "status": job.status,
                "training_file": job.training_file,
                "validation_file": job.validation_file,
                "error": dict(job.error) if job.error else None,
                "finished_at": job.finished_at,
                "hyperparameters": _hp_shown(job),
                "integrations": job.integrations,
                "organization_id": "",
                "result_files": [],
                "seed": job.seed,
                "suffix": job.suffix,
                "trained_tokens": job.trained_tokens,
                "estimated_finish": job.estimated_finish,
                "trained_steps": job.steps_done,
                "total_steps": job.total_steps or None,
            }

    # ---- custom models (Nebius) ----------------------------------------------------------
    def create_custom_model(self, body: Mapping[str, Any]) -> CustomModel:
        """Deploy a LoRA checkpoint: ``validating`` now, ``active`` once the clock has moved
        ``timing.deploying``; its name is the base model's, the given name and a random tail."""
        problems = nebius.custom_model_problems(body)
        if problems:
            first = problems[0]
            raise ApiError(400, first.message, param=first.param, code=first.code)
        source = str(body["source"])
        found = nebius.CHECKPOINT_SOURCE.match(source)
        assert found is not None  # checked above
        with self.lock:
            job = self.jobs.get(found["job"])
        if job is None:
            raise ApiError(400, f"Fine-tuning job {found['job']} not found.", param="source")
        if not any(c["id"] == found["checkpoint"] for c in job.checkpoints):
            raise ApiError(
                400, f"Checkpoint {found['checkpoint']} not found in {job.id}.", param="source"
            )
        if not _hp_shown(job).get("lora"):
            raise ApiError(
                400,
                "Only LoRA adapters can be deployed as custom models; this job trained all"
                " weights.",
                param="source",
            )
        if body["base_model"] != job.model:
            raise ApiError(
                400,
                f"The base model must be the one the job trained ({job.model}).",
                param="base_model",
            )
        short = f"{body['name']}-{self.new_id('', 4).lower()}"
        now = self.clock.now()
        model = CustomModel(
            name=f"{job.model}-LoRa:{short}",
            short_name=short,
            base_model=job.model,
            source=source,
            job_id=job.id,
            checkpoint_id=found["checkpoint"],
            created_at=int(now),
            ready_at=now + self.timing.deploying,
            description=body.get("description"),
        )
        with self.lock:
            self.custom_models[model.name] = model
        return model

    def list_custom_models(self) -> list[CustomModel]:
        """Custom models, newest first (deleted ones are not listed)."""
        with self.lock:
            models = [m for m in self.custom_models.values() if m.status != "deleted"]
        return list(reversed(models))

    def get_custom_model(self, name: str) -> CustomModel:
        """A custom model by its full or short name, or the API's 404."""
        with self.lock:
            for model in self.custom_models.values():
                if name in (model.name, model.short_name) and model.status != "deleted":
                    return model
        raise ApiError(404, f"Custom model {name} not found.", param="name", code="not_found")

    def _settle_custom_models(self, now: float) -> None:
        for model in self.custom_models.values():
            if model.status == "validating" and now >= model.ready_at:
                model.status = "active"
                self.models[model.name] = StoredModel(model.name, int(now), owned_by="custom")

    # ---- simulation ----------------------------------------------------------------------
    def _on_advance(self, previous: float, now: float) -> None:
        dt = now - previous
        with self.lock:
            for job in list(self.jobs.values()):
                if job.status in TERMINAL_STATUSES or job.status == "paused":
                    continue
                job.elapsed += dt
                self._catch_up(job, now)
            for upload in self.uploads.values():
                if upload.status == "pending" and now >= upload.expires_at:
                    upload.status = "expired"
            self._settle_custom_models(now)

    def _when(self, job: Job, elapsed_mark: float, now: float) -> int:
        """Clock time at which a job reached ``elapsed_mark`` of active time."""
        return int(now - (job.elapsed - elapsed_mark))

    def _catch_up(self, job: Job, now: float) -> None:
        t = self.timing
        if job.status == "validating_files" and job.elapsed >= t.validating:
            if not self._validate_job_files(job, self._when(job, t.validating, now)):
                return
            job.status = "queued"
            self._event(
                job,
                "Files validated, moving job to queued state",
                at=self._when(job, t.validating, now),
            )
        start = t.validating + t.queued
        if job.status == "queued" and job.elapsed >= start:
            job.status = "running"
            self._event(job, "Fine-tuning job started", at=self._when(job, start, now))
        if job.status == "running":
            done = min(job.total_steps, int((job.elapsed - start) // t.per_step))
            while job.steps_done < done:
                job.steps_done += 1
                at = self._when(job, start + job.steps_done * t.per_step, now)
                self._step(job, job.steps_done, at)
            if job.steps_done >= job.total_steps:
                self._succeed(job, self._when(job, start + job.total_steps * t.per_step, now))
            else:
                self._update_estimate(job, now)

    def _update_estimate(self, job: Job, now: float) -> None:
        if job.status != "running":
            job.estimated_finish = None
            return
        remaining = (job.total_steps - job.steps_done) * self.timing.per_step
        job.estimated_finish = int(now + remaining)

    def _validate_job_files(self, job: Job, at: int) -> bool:
        training = self.files.get(job.training_file)
        problem: str | None = None
        examples: list[dict[str, Any]] = []
        if training is None:
            problem = f"File {job.training_file} was deleted before validation."
        else:
            examples, problem = _parse_jsonl(training.content)
            if problem is None and len(examples) < MIN_TRAINING_EXAMPLES:
                problem = (
                    f"Training file has {len(examples)} example(s), but must have at least"
                    f" {MIN_TRAINING_EXAMPLES} examples"
                )
        if problem is not None:
            job.status = "failed"
            job.finished_at = at
            job.error = {
                "code": "invalid_training_file",
                "message": problem,
                "param": "training_file",
            }
            self._event(job, f"Training file validation failed: {problem}", at=at, level="error")
            return False
        job.n_examples = len(examples)
        job.tokens_per_epoch = sum(max(1, len(json.dumps(e)) // 4) for e in examples)
        resolved = dict(job.requested)
        if self.flavor == "openai":
            if resolved.get("n_epochs", "auto") == "auto":
                resolved["n_epochs"] = _auto_epochs(job.n_examples)
            if resolved.get("batch_size", "auto") == "auto":
                resolved["batch_size"] = max(1, min(256, job.n_examples // 50))
            if resolved.get("learning_rate_multiplier", "auto") == "auto":
                resolved["learning_rate_multiplier"] = 1.8
            if job.method_type == "dpo" and resolved.get("beta", "auto") == "auto":
                resolved["beta"] = 0.1
        job.resolved = resolved
        job.steps_per_epoch = math.ceil(job.n_examples / int(resolved["batch_size"]))
        job.total_steps = job.steps_per_epoch * int(resolved["n_epochs"])
        return True

    def _step(self, job: Job, step: int, at: int) -> None:
        rng = random.Random(job.seed * 100_003 + step)
        progress = step / job.total_steps
        loss = max(0.01, 2.2 * math.exp(-3.0 * progress) + 0.08 + rng.gauss(0.0, 0.04))
        data: dict[str, Any] = {
            "step": step,
            "total_steps": job.total_steps,
            "train_loss": round(loss, 6),
            "train_mean_token_accuracy": round(_accuracy(loss), 6),
        }
        if job.validation_file:
            valid = max(0.01, loss * 1.08 + rng.gauss(0.0, 0.05))
            data["valid_loss"] = round(valid, 6)
            data["valid_mean_token_accuracy"] = round(_accuracy(valid), 6)
        epoch_end = step % job.steps_per_epoch == 0
        if job.validation_file and epoch_end:
            full = max(0.01, loss * 1.1 + 0.02)
            data["full_valid_loss"] = round(full, 6)
            data["full_valid_mean_token_accuracy"] = round(_accuracy(full), 6)
        job.metrics.append(data)
        if self.flavor == "openai":  # Nebius reports the loss only with each checkpoint
            parts = [f"training loss={data['train_loss']:.2f}"]
            if "valid_loss" in data:
                parts.append(f"validation loss={data['valid_loss']:.2f}")
            if "full_valid_loss" in data:
                parts.append(f"full validation loss={data['full_valid_loss']:.2f}")
            self._event(
                job,
                f"Step {step}/{job.total_steps}: {', '.join(parts)}",
                at=at,
                type_="metrics",
                data=data,
            )
        if epoch_end:
            self._checkpoint(job, step, at, data)

    def _model_name(self, job: Job) -> str:
        base = job.model.split(":")[1] if job.model.startswith("ft:") else job.model
        short = job.id.removeprefix("ftjob-")[:8]
        return f"ft:{base}:{ORG_NAME}:{job.suffix or ''}:{short}"

    def _checkpoint(self, job: Job, step: int, at: int, data: Mapping[str, Any]) -> None:
        metrics = {k: v for k, v in data.items() if k != "total_steps"}
        if self.flavor == "nebius":
            self._nebius_checkpoint(job, step, at, metrics)
            return
        job.checkpoints.append(
            {
                "id": self.new_id("ftckpt_"),
                "object": "fine_tuning.job.checkpoint",
                "created_at": at,
                "fine_tuned_model_checkpoint": f"{self._model_name(job)}:ckpt-step-{step}",
                "fine_tuning_job_id": job.id,
                "step_number": step,
                "metrics": metrics,
            }
        )
        del job.checkpoints[:-3]  # only the last three epochs are kept
        self._event(job, f"Checkpoint created at step {step}", at=at)

    def _nebius_checkpoint(self, job: Job, step: int, at: int, metrics: dict[str, Any]) -> None:
        """A Nebius checkpoint: its metrics and the adapter's files; every one is kept."""
        checkpoint_id = self.new_id("ftckpt_")
        files = [
            self.create_file(name, "fine-tune-results", content).id
            for name, content in _adapter_files(job, step)
        ]
        for file_id in files:
            self.files[file_id].created_at = at
        job.checkpoints.append(
            {
                "id": checkpoint_id,
                "object": "fine_tuning.job.checkpoint",
                "created_at": at,
                "fine_tuned_model_checkpoint": f"{job.id}:{checkpoint_id}",
                "fine_tuning_job_id": job.id,
                "step_number": step,
                "metrics": metrics,
                "result_files": files,
            }
        )
        self._event(job, f"Checkpoint created at step {step}", at=at)

    def _succeed(self, job: Job, at: int) -> None:
        if self.flavor == "nebius":
            job.status = "succeeded"
            job.finished_at = at
            job.estimated_finish = None
            job.trained_tokens = job.tokens_per_epoch * int(job.resolved["n_epochs"])
            self._event(job, "The job has successfully completed", at=at)
            return
        name = self._model_name(job)
        job.status = "succeeded"
        job.finished_at = at
        job.estimated_finish = None
        job.fine_tuned_model = name
        job.trained_tokens = job.tokens_per_epoch * int(job.resolved["n_epochs"])
        results = self.create_file("step_metrics.csv", "fine-tune-results", b"")
        csv = _results_csv(job.metrics)
        results.content = base64.b64encode(csv) if self.results_base64 else csv
        results.created_at = at
        job.result_files = [results.id]
        self.models[name] = StoredModel(name, at, owned_by=ORG_NAME)
        self._event(job, f"New fine-tuned model created: {name}", at=at)
        self._event(job, "The job has successfully completed", at=at)

    def _event(
        self,
        job: Job,
        message: str,
        *,
        at: int,
        level: str = "info",
        type_: str = "message",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": self.new_id("ftevent-"),
                "created_at": at,
                "level": level,
                "message": message,
                "type": type_,
                "data": dict(data or {}),
            }
        )


# ---- validation helpers ------------------------------------------------------------------
_HP_LIMITS: dict[str, tuple[str, float, float | None, bool]] = {
    # name: (kind, low, high, low_exclusive)
    "n_epochs": ("integer", 1, 50, False),
    "batch_size": ("integer", 1, 256, False),
    "learning_rate_multiplier": ("decimal", 0, None, True),
    "beta": ("decimal", 0, 2, True),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_hp(name: str, value: object, param: str) -> None:
    kind, low, high, low_exclusive = _HP_LIMITS[name]
    if value == "auto":
        return
    ok_type = _is_int(value) if kind == "integer" else _is_number(value)
    if not ok_type:
        raise ApiError(
            400,
            f"Invalid type for '{param}': expected 'auto' or an {kind}, but got {value!r}.",
            param=param,
            code="invalid_type",
        )
    assert isinstance(value, (int, float))
    too_low = value <= low if low_exclusive else value < low
    if too_low:
        bound = f"> {low:g}" if low_exclusive else f">= {low:g}"
        raise ApiError(
            400,
            f"Invalid '{param}': {kind} below minimum value. Expected a value {bound},"
            f" but got {value} instead.",
            param=param,
            code=f"{kind}_below_min_value",
        )
    if high is not None and value > high:
        raise ApiError(
            400,
            f"Invalid '{param}': {kind} above maximum value. Expected a value <= {high:g},"
            f" but got {value} instead.",
            param=param,
            code=f"{kind}_above_max_value",
        )


def _check_method(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    method = body.get("method")
    legacy = body.get("hyperparameters")
    if method is None:
        hp = legacy if isinstance(legacy, Mapping) else {}
        requested = {
            k: hp.get(k, "auto") for k in ("n_epochs", "batch_size", "learning_rate_multiplier")
        }
        for name, value in requested.items():
            _check_hp(name, value, f"hyperparameters.{name}")
        return "supervised", requested
    if not isinstance(method, Mapping):
        raise ApiError(400, "Invalid 'method': expected an object.", param="method")
    method_type = method.get("type")
    if method_type == "reinforcement":
        raise ApiError(
            400,
            "Reinforcement fine-tuning is not available on this server.",
            param="method.type",
            code="unsupported_method",
        )
    if method_type not in ("supervised", "dpo"):
        raise ApiError(
            400,
            f"Invalid 'method.type': {method_type!r}. Expected 'supervised', 'dpo' or"
            " 'reinforcement'.",
            param="method.type",
            code="invalid_value",
        )
    section = method.get(method_type) or {}
    hp = section.get("hyperparameters") or {} if isinstance(section, Mapping) else {}
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"]
    if method_type == "dpo":
        names.append("beta")
    requested = {k: hp.get(k, "auto") for k in names}
    for name, value in requested.items():
        _check_hp(name, value, f"method.{method_type}.hyperparameters.{name}")
    return str(method_type), requested


def _check_metadata(metadata: object) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise ApiError(400, "Invalid 'metadata': expected an object.", param="metadata")
    if len(metadata) > 16:
        raise ApiError(400, "Invalid 'metadata': at most 16 pairs are allowed.", param="metadata")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(str(key)) > 64 or len(value) > 512:
            raise ApiError(
                400,
                "Invalid 'metadata': keys are strings up to 64 characters and values strings up"
                " to 512 characters.",
                param="metadata",
            )
    return {str(k): str(v) for k, v in metadata.items()}


def _parse_jsonl(content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    examples: list[dict[str, Any]] = []
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [], "Training file is not valid UTF-8"
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            return [], f"Invalid JSON on line {number}"
        if not isinstance(value, dict):
            return [], f"Line {number} is not a JSON object"
        examples.append(value)
    return examples, None


def _auto_epochs(n_examples: int) -> int:
    epochs = 3
    if n_examples * epochs < 100:
        epochs = min(25, 100 // max(1, n_examples))
    elif n_examples * epochs > 25000:
        epochs = max(1, 25000 // n_examples)
    return epochs


def _adapter_files(job: Job, step: int) -> list[tuple[str, bytes]]:
    """A LoRA adapter's two files, small but recognisable (the weights are 40 KB of bytes)."""
    hp = _hp_shown(job)
    config = {
        "base_model_name_or_path": job.model,
        "peft_type": "LORA",
        "r": hp.get("lora_r"),
        "lora_alpha": hp.get("lora_alpha"),
        "lora_dropout": hp.get("lora_dropout"),
        "step": step,
    }
    weights = hashlib.sha256(f"{job.id}:{step}".encode()).digest() * 1280
    return [
        ("adapter_config.json", json.dumps(config, indent=2).encode()),
        ("adapter_model.safetensors", weights),
    ]


def _accuracy(loss: float) -> float:
    return min(1.0, max(0.0, 1.0 - loss / 2.6))


def _results_csv(metrics: Sequence[Mapping[str, Any]]) -> bytes:
    lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    for m in metrics:
        valid = m.get("valid_loss")
        valid_acc = m.get("valid_mean_token_accuracy")
        lines.append(
            f"{m['step']},{m['train_loss']},{m['train_mean_token_accuracy']},"
            f"{'' if valid is None else valid},{'' if valid_acc is None else valid_acc}"
        )
    return ("\n".join(lines) + "\n").encode()

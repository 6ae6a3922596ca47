"""In-memory Together AI account for the fake server: files, fine-tuning jobs, endpoints, a clock.

Plain Python behind one lock, independent of HTTP, so the simulation can be driven and inspected
directly. Nothing moves unless the clock does (tests advance it; a server run by hand lets it
follow wall time). A job goes ``pending`` -> ``queued`` -> ``running`` (one metrics snapshot per
step, evaluations and checkpoints on the way) -> ``compressing`` -> ``uploading`` ->
``completed``; a cancelled one goes ``cancel_requested`` -> ``cancelled``. A dedicated endpoint
goes ``PENDING`` -> ``STARTING`` -> ``STARTED`` and back down through ``STOPPING`` -> ``STOPPED``,
and only a started one answers chat requests.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.fake_openai.state import ApiError, FakeClock

DEFAULT_START = 1_796_342_400.0  # 2026-12-04T00:00:00Z, fixed so times are stable
ACCOUNT = "studio-tester"
DEFAULT_USER_LIMIT = 100.0
HARDWARE = ("1x_nvidia_h100_80gb_sxm", "2x_nvidia_h100_80gb_sxm", "1x_nvidia_a100_80gb_pcie")
ENDPOINT_STATES = ("PENDING", "STARTING", "STARTED", "STOPPING", "STOPPED", "ERROR")
TERMINAL = frozenset({"cancelled", "error", "completed"})
MIN_EXAMPLES = 1
ADAPTER_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """How long each phase lasts, in fake seconds."""

    pending: float = 2.0
    queued: float = 3.0
    per_step: float = 1.0
    compressing: float = 2.0
    uploading: float = 2.0
    cancelling: float = 1.0
    endpoint_start: float = 20.0
    endpoint_stop: float = 5.0


@dataclass(frozen=True)
class TrainableModel:
    """A base model the account may fine-tune, with its limits and training price."""

    name: str
    max_rank: int = 64
    lora_max_batch: int = 8
    lora_max_batch_dpo: int = 4
    full_max_batch: int | None = 16
    full_max_batch_dpo: int | None = 8
    min_batch: int = 1
    max_epochs: int = 20
    max_evals: int = 100
    min_learning_rate: float = 1e-6
    max_learning_rate: float = 1e-2
    price_per_1m: float = 0.48

    def limits(self) -> dict[str, Any]:
        """The ``FineTuneModelLimits`` shape."""
        out: dict[str, Any] = {
            "model_name": self.name,
            "lora_training": {
                "max_batch_size": self.lora_max_batch,
                "max_batch_size_dpo": self.lora_max_batch_dpo,
                "min_batch_size": self.min_batch,
                "max_rank": self.max_rank,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
            },
            "max_num_epochs": self.max_epochs,
            "max_num_evals": self.max_evals,
            "max_learning_rate": self.max_learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "supports_vision": False,
            "supports_tools": True,
            "supports_reasoning": False,
            "merge_output_lora": True,
        }
        if self.full_max_batch is not None:
            out["full_training"] = {
                "max_batch_size": self.full_max_batch,
                "max_batch_size_dpo": self.full_max_batch_dpo or self.full_max_batch,
                "min_batch_size": self.min_batch,
            }
        return out


@dataclass(frozen=True)
class ListedModel:
    """A model ``GET /models`` lists (serverless ones answer chat requests)."""

    id: str
    display_name: str
    type: str = "chat"
    context_length: int | None = None
    serverless: bool = True

    def to_api(self) -> dict[str, Any]:
        """The ``ModelInfo`` shape."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": 1_730_000_000,
            "type": self.type,
            "display_name": self.display_name,
            "organization": self.id.split("/", 1)[0],
            "license": "other",
            "pricing": {"hourly": 0, "input": 0.18, "output": 0.18, "base": 0, "finetune": 0},
        }
        if self.context_length is not None:
            out["context_length"] = self.context_length
        return out


DEFAULT_TRAINABLE: tuple[TrainableModel, ...] = (
    TrainableModel("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
    TrainableModel("Qwen/Qwen2.5-7B-Instruct", max_rank=32),
    TrainableModel(
        "meta-llama/Llama-3.3-70B-Instruct-Reference",
        lora_max_batch=4,
        lora_max_batch_dpo=2,
        full_max_batch=None,
        full_max_batch_dpo=None,
        price_per_1m=2.9,
    ),
)
DEFAULT_LISTED: tuple[ListedModel, ...] = (
    ListedModel(
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "Llama 3.1 8B Turbo", "chat", 131072
    ),
    ListedModel("Qwen/Qwen2.5-7B-Instruct", "Qwen 2.5 7B Instruct", "chat", 32768),
    ListedModel("BAAI/bge-base-en-v1.5", "BGE Base", "embedding", 512),
)


def iso(moment: float) -> str:
    """An ISO-8601 UTC time with milliseconds, as Together writes them."""
    stamp = datetime.fromtimestamp(moment, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass
class StoredFile:
    """An uploaded file and its bytes."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    hidden_until: float = 0.0

    def to_api(self) -> dict[str, Any]:
        """The ``FileResponse`` shape."""
        return {
            "id": self.id,
            "object": "file",
            "created_at": self.created_at,
            "filename": self.filename,
            "bytes": len(self.content),
            "purpose": self.purpose,
            "FileType": "jsonl",
            "Processed": True,
        }


@dataclass
class Job:
    """A simulated fine-tuning job: its request, its schedule and what it has logged."""

    id: str
    model: str
    training_file: str
    validation_file: str | None
    n_examples: int
    n_epochs: int
    batch_size: int
    total_steps: int
    n_evals: int
    n_checkpoints: int
    learning_rate: float
    training_type: dict[str, Any]
    training_method: dict[str, Any]
    suffix: str | None
    random_seed: int | None
    model_output_name: str
    token_count: int
    created_at: float
    hidden_until: float = 0.0
    status: str = "pending"
    updated_at: float = 0.0
    started_at: float = 0.0
    steps_done: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    schedule: list[tuple[float, int, str, int]] = field(default_factory=list)
    stopped_at: float | None = None

    @property
    def is_lora(self) -> bool:
        """True for LoRA training (the adapter can be downloaded on its own)."""
        return self.training_type.get("type") == "Lora"


@dataclass
class Endpoint:
    """A dedicated endpoint serving one model, billed per minute while up."""

    id: str
    name: str
    display_name: str
    model: str
    hardware: str
    autoscaling: dict[str, int]
    created_at: float
    inactive_timeout: int | None
    state: str = "PENDING"
    target: str = "STARTED"
    changed_at: float = 0.0
    hidden_until: float = 0.0

    def to_api(self) -> dict[str, Any]:
        """The ``DedicatedEndpoint`` shape."""
        return {
            "object": "endpoint",
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "model": self.model,
            "hardware": self.hardware,
            "type": "dedicated",
            "owner": ACCOUNT,
            "state": self.state,
            "autoscaling": dict(self.autoscaling),
            "created_at": iso(self.created_at),
        }

    def to_list_api(self) -> dict[str, Any]:
        """The ``ListEndpoint`` shape."""
        full = self.to_api()
        return {k: full[k] for k in ("object", "id", "name", "model", "type", "owner", "state")} | {
            "created_at": full["created_at"]
        }


class FakeTogether:
    """The account: call its methods with the lock free; each takes it."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        timing: Timing | None = None,
        seed: int = 4321,
        trainable: tuple[TrainableModel, ...] = DEFAULT_TRAINABLE,
        listed: tuple[ListedModel, ...] = DEFAULT_LISTED,
        user_limit: float = DEFAULT_USER_LIMIT,
    ) -> None:
        self.clock = clock
        self.timing = timing or Timing()
        self.lock = threading.RLock()
        self.random = random.Random(seed)
        self.trainable = {m.name: m for m in trainable}
        self.listed = {m.id: m for m in listed}
        self.user_limit = user_limit
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        self.endpoints: dict[str, Endpoint] = {}

    # ---- ids and time ----------------------------------------------------------------------
    def new_uuid(self) -> str:
        """A random-looking but seeded UUID."""
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def now(self) -> float:
        """The fake time."""
        return self.clock.now()

    # ---- files -----------------------------------------------------------------------------
    def create_file(
        self, filename: str, purpose: str, content: bytes, *, hidden_for: float = 0.0
    ) -> StoredFile:
        """Store an uploaded file after checking it is JSONL Together can read."""
        if purpose != "fine-tune":
            raise ApiError(400, f"Purpose {purpose!r} is not accepted here.", param="purpose")
        if not filename:
            raise ApiError(400, "A file name is required.", param="file_name")
        _examples(content)  # refuses what is not JSONL
        with self.lock:
            now = self.now()
            stored = StoredFile(
                id=f"file-{self.new_uuid()}",
                filename=filename,
                purpose=purpose,
                content=content,
                created_at=int(now),
                hidden_until=now + hidden_for,
            )
            self.files[stored.id] = stored
            return stored

    def get_file(self, file_id: str) -> StoredFile:
        """A stored file, or the API's 404."""
        with self.lock:
            stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"File {file_id} not found.", code="file_not_found")
        return stored

    def delete_file(self, file_id: str) -> None:
        """Forget a file (an expired or deleted one)."""
        self.get_file(file_id)
        with self.lock:
            del self.files[file_id]

    def list_files(self) -> list[StoredFile]:
        """Files as the list shows them (newest first; a file whose answer was lost is listed
        only once the clock passes its ``hidden_until``)."""
        with self.lock:
            now = self.now()
            shown = [f for f in self.files.values() if f.hidden_until <= now]
        return sorted(shown, key=lambda f: f.created_at, reverse=True)

    # ---- models ----------------------------------------------------------------------------
    def trainable_model(self, name: object) -> TrainableModel:
        """A model this account may fine-tune, or the API's refusal."""
        model = self.trainable.get(name) if isinstance(name, str) else None
        if model is None:
            raise ApiError(
                404, f"Model {name!r} is not available for fine-tuning.", code="model_not_found"
            )
        return model

    # ---- fine-tuning jobs ------------------------------------------------------------------
    def estimate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """What ``POST /fine-tunes/estimate-price`` answers."""
        training = self._training_file(body.get("training_file"), "training_file")
        model = self.trainable_model(body.get("model"))
        epochs = _whole(body.get("n_epochs", 1), "n_epochs")
        evals = _whole(body.get("n_evals", 0), "n_evals")
        train_tokens = _token_count(training.content) * epochs
        eval_tokens = 0
        if body.get("validation_file"):
            validation = self._training_file(body["validation_file"], "validation_file")
            eval_tokens = _token_count(validation.content) * evals
        price = round((train_tokens + eval_tokens) * model.price_per_1m / 1_000_000, 6)
        return {
            "estimated_total_price": price,
            "allowed_to_proceed": price <= self.user_limit,
            "user_limit": self.user_limit,
            "estimated_train_token_count": train_tokens,
            "estimated_eval_token_count": eval_tokens,
        }

    def create_job(self, body: Mapping[str, Any], *, hidden_for: float = 0.0) -> Job:
        """Check a create request as Together would and schedule the job."""
        training = self._training_file(body.get("training_file"), "training_file")
        model = self.trainable_model(body.get("model"))
        method = body.get("training_method") or {"method": "sft", "train_on_inputs": "auto"}
        kind = method.get("method") if isinstance(method, Mapping) else None
        if kind not in ("sft", "dpo"):
            raise ApiError(400, "training_method must be sft or dpo.", param="training_method")
        examples = _examples(training.content)
        if kind == "dpo" and not all("preferred_output" in e for e in examples):
            raise ApiError(
                400, "DPO needs preference examples (preferred_output).", param="training_file"
            )
        if kind == "sft" and not all("messages" in e or "prompt" in e for e in examples):
            raise ApiError(400, "The training file has no conversations.", param="training_file")
        validation_id = body.get("validation_file") or None
        if validation_id is not None:
            self._training_file(validation_id, "validation_file")
        training_type = body.get("training_type") or {
            "type": "Lora",
            "lora_r": model.max_rank,
            "lora_alpha": model.max_rank * 2,
        }
        lora = training_type.get("type") == "Lora"
        if lora:
            rank = _whole(training_type.get("lora_r"), "training_type.lora_r")
            if not 1 <= rank <= model.max_rank:
                raise ApiError(
                    400,
                    f"lora_r must be between 1 and {model.max_rank} for {model.name}.",
                    param="training_type.lora_r",
                )
            _whole(training_type.get("lora_alpha"), "training_type.lora_alpha")
            top = model.lora_max_batch_dpo if kind == "dpo" else model.lora_max_batch
        else:
            if model.full_max_batch is None:
                raise ApiError(
                    400, f"Full training is not supported for {model.name}.", param="training_type"
                )
            top = (model.full_max_batch_dpo or 0) if kind == "dpo" else model.full_max_batch
        batch = body.get("batch_size", "max")
        batch = top if batch == "max" else _whole(batch, "batch_size")
        if not model.min_batch <= batch <= top:
            raise ApiError(
                400,
                f"batch_size must be between {model.min_batch} and {top} for {model.name}.",
                param="batch_size",
            )
        epochs = _whole(body.get("n_epochs", 1), "n_epochs")
        if not 1 <= epochs <= model.max_epochs:
            raise ApiError(
                400, f"n_epochs must be between 1 and {model.max_epochs}.", param="n_epochs"
            )
        evals = _whole(body.get("n_evals", 0), "n_evals")
        if evals and validation_id is None:
            raise ApiError(400, "n_evals needs a validation_file.", param="n_evals")
        if not 0 <= evals <= model.max_evals:
            raise ApiError(400, f"n_evals can be at most {model.max_evals}.", param="n_evals")
        rate = body.get("learning_rate", 1e-5)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise ApiError(400, "learning_rate must be a number.", param="learning_rate")
        if not model.min_learning_rate <= rate <= model.max_learning_rate:
            raise ApiError(
                400,
                f"learning_rate must be between {model.min_learning_rate:g} and "
                f"{model.max_learning_rate:g}.",
                param="learning_rate",
            )
        suffix = body.get("suffix") or None
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 40):
            raise ApiError(400, "suffix can be at most 40 characters.", param="suffix")
        checkpoints = _whole(body.get("n_checkpoints", 1), "n_checkpoints")
        with self.lock:
            now = self.now()
            steps_per_epoch = max(1, math.ceil(len(examples) / batch))
            total = steps_per_epoch * epochs
            short = model.name.split("/")[-1]
            tail = self.new_uuid()[:8]
            output = f"{ACCOUNT}/{short}-{suffix}-{tail}" if suffix else f"{ACCOUNT}/{short}-{tail}"
            job = Job(
                id=f"ft-{self.new_uuid()}",
                model=model.name,
                training_file=training.id,
                validation_file=validation_id,
                n_examples=len(examples),
                n_epochs=epochs,
                batch_size=batch,
                total_steps=total,
                n_evals=evals,
                n_checkpoints=max(1, checkpoints),
                learning_rate=float(rate),
                training_type=dict(training_type),
                training_method=dict(method),
                suffix=suffix,
                random_seed=body.get("random_seed"),
                model_output_name=output,
                token_count=_token_count(training.content) * epochs,
                created_at=now,
                hidden_until=now + hidden_for,
                updated_at=now,
                started_at=now,
            )
            self._schedule(job, steps_per_epoch)
            self._event(job, now, "job_pending", "Fine tune request created")
            self.jobs[job.id] = job
            return job

    def _schedule(self, job: Job, steps_per_epoch: int) -> None:
        t = self.timing
        start = job.created_at + t.pending + t.queued
        plan: list[tuple[float, str, int]] = [
            (job.created_at + t.pending, "queued", 0),
            (start, "running", 0),
        ]
        every_eval = max(1, job.total_steps // job.n_evals) if job.n_evals else 0
        every_checkpoint = max(1, job.total_steps // job.n_checkpoints)
        for step in range(1, job.total_steps + 1):
            at = start + step * t.per_step
            plan.append((at, "step", step))
            if every_eval and (step % every_eval == 0 or step == job.total_steps):
                plan.append((at, "eval", step))
            if step % steps_per_epoch == 0:
                plan.append((at, "epoch", step // steps_per_epoch))
            if step % every_checkpoint == 0 and step != job.total_steps:
                plan.append((at, "checkpoint", step))
        end = start + job.total_steps * t.per_step
        plan += [
            (end, "compressing", 0),
            (end + t.compressing, "uploading", 0),
            (end + t.compressing + t.uploading, "completed", 0),
        ]
        job.schedule = [(at, order, what, n) for order, (at, what, n) in enumerate(plan)]

    def _catch_up(self, job: Job) -> None:
        now = self.now()
        if job.status == "cancel_requested" and job.stopped_at is not None:
            done = job.stopped_at + self.timing.cancelling
            if done <= now:
                job.status = "cancelled"
                job.updated_at = done
                self._event(job, done, "job_stopped", "Fine tune job cancelled")
            return
        if job.status in TERMINAL:
            return
        while job.schedule and job.schedule[0][0] <= now:
            at, _order, what, number = job.schedule.pop(0)
            self._happen(job, at, what, number)

    def _happen(self, job: Job, at: float, what: str, number: int) -> None:
        job.updated_at = at
        if what == "queued":
            job.status = "queued"
        elif what == "running":
            job.status = "running"
            job.started_at = at
            self._event(job, at, "job_start", "Job started")
            self._event(job, at, "training_start", "Training started")
        elif what == "step":
            job.steps_done = number
            job.metrics.append(
                {
                    "train/loss": round(self._loss(job, number), 6),
                    "train/learning_rate": job.learning_rate * (1 - (number - 1) / job.total_steps),
                    "train/global_step": number,
                }
            )
        elif what == "eval":
            job.metrics.append(
                {"eval/loss": round(self._loss(job, number) + 0.08, 6), "train/global_step": number}
            )
        elif what == "epoch":
            self._event(job, at, "epoch_complete", f"Epoch completed, at step {job.steps_done}")
        elif what == "checkpoint":
            job.checkpoints.append(
                {
                    "step": number,
                    "path": f"s3://together-fake/{job.id}/checkpoint-{number}",
                    "created_at": iso(at),
                    "checkpoint_type": "Intermediate",
                }
            )
            self._event(job, at, "checkpoint_save", f"New checkpoint saved at step {number}")
        elif what == "compressing":
            job.status = "compressing"
            self._event(job, at, "training_complete", "Training completed")
            self._event(job, at, "model_compressing", "Compressing output model")
        elif what == "uploading":
            job.status = "uploading"
            self._event(job, at, "model_uploading", "Uploading output model")
        elif what == "completed":
            job.status = "completed"
            kinds = ("Final Merged", "Final Adapter") if job.is_lora else ("Final",)
            for kind in kinds:
                job.checkpoints.append(
                    {
                        "step": job.total_steps,
                        "path": f"s3://together-fake/{job.id}/{kind.lower().replace(' ', '-')}",
                        "created_at": iso(at),
                        "checkpoint_type": kind,
                    }
                )
            self._event(job, at, "model_upload_complete", "Model upload complete")
            self._event(
                job, at, "job_complete", f"Fine tuning job completed: {job.model_output_name}"
            )

    def _loss(self, job: Job, step: int) -> float:
        seed = int(hashlib.sha256(f"{job.id}:{step}".encode()).hexdigest()[:8], 16)
        wobble = (seed % 1000) / 1000 * 0.05
        return 0.35 + 1.8 * math.exp(-3.0 * step / job.total_steps) + wobble

    def _event(self, job: Job, at: float, kind: str, message: str, level: str = "info") -> None:
        text = f"{job.id}:{len(job.events)}:{kind}:{at}"
        job.events.append(
            {
                "object": "fine-tune-event",
                "created_at": iso(at),
                "level": level,
                "message": message,
                "type": kind,
                "param_count": 8_030_261_248,
                "token_count": job.token_count,
                "total_steps": job.total_steps,
                "wandb_url": "",
                "step": job.steps_done,
                "checkpoint_path": "",
                "model_path": "",
                "training_offset": 0,
                "hash": hashlib.sha256(text.encode()).hexdigest()[:16],
            }
        )

    def get_job(self, job_id: str) -> Job:
        """A job brought up to the clock, or the API's 404."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise ApiError(404, f"Fine-tune job {job_id} not found.", code="not_found")
            self._catch_up(job)
            return job

    def list_jobs(self) -> list[Job]:
        """Jobs the list shows, brought up to the clock, oldest first as Together lists them."""
        with self.lock:
            now = self.now()
            shown = [j for j in self.jobs.values() if j.hidden_until <= now]
            for job in shown:
                self._catch_up(job)
        return sorted(shown, key=lambda j: j.created_at)

    def cancel_job(self, job_id: str) -> Job:
        """Ask a job to stop; an ended job cannot be cancelled."""
        with self.lock:
            job = self.get_job(job_id)
            if job.status in TERMINAL or job.status == "cancel_requested":
                raise ApiError(400, f"Job {job_id} has already ended or is being cancelled.")
            now = self.now()
            job.status = "cancel_requested"
            job.stopped_at = now
            job.updated_at = now
            job.schedule.clear()
            self._event(job, now, "cancel_requested", "Cancel requested")
            return job

    def fail_job(self, job_id: str, message: str) -> Job:
        """Make a job end in error now, as a provider problem would."""
        with self.lock:
            job = self.get_job(job_id)
            now = self.now()
            job.status = "error"
            job.updated_at = now
            job.schedule.clear()
            self._event(job, now, "job_error", message, level="error")
            return job

    def adapter_bytes(self, job: Job, checkpoint: str) -> bytes:
        """The compressed weights a finished job hands out (deterministic per job)."""
        seed = hashlib.sha256(f"{job.id}:{checkpoint}".encode()).digest()
        block = hashlib.sha256(seed).digest() * (ADAPTER_SIZE // 32)
        return b"\x28\xb5\x2f\xfd" + block  # the zstd magic number, then the "archive"

    def job_truncated(self, job: Job) -> dict[str, Any]:
        """The ``FinetuneResponseTruncated`` shape (create, list, cancel)."""
        out = self._job_common(job)
        out.update(
            {
                "user_id": f"user_{ACCOUNT}",
                "owner_address": f"{ACCOUNT}@example.com",
                "packing": True,
                "random_seed": job.random_seed,
            }
        )
        if job.suffix:
            out["suffix"] = job.suffix
        return out

    def job_full(self, job: Job) -> dict[str, Any]:
        """The ``FinetuneResponse`` shape (retrieve)."""
        out = self._job_common(job)
        training = self.files.get(job.training_file)
        out.update(
            {
                "job_id": job.id,
                "model_output_path": f"s3://together-fake/{job.id}/final",
                "trainingfile_numlines": job.n_examples,
                "trainingfile_size": len(training.content) if training else 0,
                "eval_steps": max(1, job.total_steps // job.n_evals) if job.n_evals else 0,
                "param_count": 8_030_261_248,
                "epochs_completed": job.steps_done * job.n_epochs // job.total_steps,
                "queue_depth": 0,
            }
        )
        return out

    def _job_common(self, job: Job) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": job.id,
            "status": job.status,
            "created_at": iso(job.created_at),
            "updated_at": iso(job.updated_at),
            "started_at": iso(job.started_at),
            "total_price": 0,
            "token_count": job.token_count,
            "events": [dict(e) for e in job.events],
            "training_file": job.training_file,
            "model": job.model,
            "model_output_name": job.model_output_name,
            "n_epochs": job.n_epochs,
            "n_evals": job.n_evals,
            "n_checkpoints": job.n_checkpoints,
            "batch_size": job.batch_size,
            "learning_rate": job.learning_rate,
            "lr_scheduler": {
                "lr_scheduler_type": "linear",
                "lr_scheduler_args": {"min_lr_ratio": 0.0},
            },
            "warmup_ratio": 0.0,
            "max_grad_norm": 1.0,
            "weight_decay": 0.0,
            "training_type": dict(job.training_type),
            "training_method": dict(job.training_method),
        }
        if job.validation_file:
            out["validation_file"] = job.validation_file
        if job.status == "running":
            left = (job.total_steps - job.steps_done) * self.timing.per_step
            out["progress"] = {"estimate_available": True, "seconds_remaining": int(left)}
        return out

    def _training_file(self, file_id: object, param: str) -> StoredFile:
        if not isinstance(file_id, str) or not file_id:
            raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
        try:
            return self.get_file(file_id)
        except ApiError:
            raise ApiError(400, f"File {file_id} does not exist.", param=param) from None

    # ---- endpoints -------------------------------------------------------------------------
    def create_endpoint(self, body: Mapping[str, Any], *, hidden_for: float = 0.0) -> Endpoint:
        """Start a dedicated endpoint for a fine-tuned (or listed) model."""
        model = body.get("model")
        if not isinstance(model, str) or not self._deployable(model):
            raise ApiError(
                400, f"Model {model!r} cannot be deployed on a dedicated endpoint.", param="model"
            )
        hardware = body.get("hardware")
        if hardware not in HARDWARE:
            raise ApiError(400, f"Hardware {hardware!r} is not available.", param="hardware")
        scaling = body.get("autoscaling") or {}
        with self.lock:
            now = self.now()
            endpoint = Endpoint(
                id=f"endpoint-{self.new_uuid()}",
                name=f"{model}-{self.new_uuid()[:8]}",
                display_name=str(body.get("display_name") or model),
                model=model,
                hardware=str(hardware),
                autoscaling={
                    "min_replicas": int(scaling.get("min_replicas", 1)),
                    "max_replicas": int(scaling.get("max_replicas", 1)),
                },
                created_at=now,
                inactive_timeout=body.get("inactive_timeout"),
                state="PENDING",
                target=str(body.get("state") or "STARTED"),
                changed_at=now,
                hidden_until=now + hidden_for,
            )
            self.endpoints[endpoint.id] = endpoint
            return endpoint

    def _deployable(self, model: str) -> bool:
        with self.lock:
            finished = {j.model_output_name for j in self.jobs.values() if j.status == "completed"}
        return model in finished or model in self.listed

    def _settle(self, endpoint: Endpoint) -> None:
        since = self.now() - endpoint.changed_at
        t = self.timing
        if endpoint.target == "STARTED" and endpoint.state in ("PENDING", "STARTING"):
            if since >= t.endpoint_start:
                endpoint.state = "STARTED"
                endpoint.changed_at += t.endpoint_start
            elif since > 0:
                endpoint.state = "STARTING"
        elif (
            endpoint.target == "STOPPED"
            and endpoint.state == "STOPPING"
            and (since >= t.endpoint_stop)
        ):
            endpoint.state = "STOPPED"
            endpoint.changed_at += t.endpoint_stop

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """An endpoint brought up to the clock, or the API's 404."""
        with self.lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                raise ApiError(404, f"Endpoint {endpoint_id} not found.", code="not_found")
            self._settle(endpoint)
            return endpoint

    def list_endpoints(self) -> list[Endpoint]:
        """Endpoints the list shows, brought up to the clock."""
        with self.lock:
            now = self.now()
            shown = [e for e in self.endpoints.values() if e.hidden_until <= now]
            for endpoint in shown:
                self._settle(endpoint)
            return shown

    def update_endpoint(self, endpoint_id: str, body: Mapping[str, Any]) -> Endpoint:
        """Rename, rescale, start or stop an endpoint."""
        with self.lock:
            endpoint = self.get_endpoint(endpoint_id)
            if "display_name" in body:
                endpoint.display_name = str(body["display_name"])
            state = body.get("state")
            if state == "STOPPED" and endpoint.state not in ("STOPPING", "STOPPED"):
                endpoint.target = "STOPPED"
                endpoint.state = "STOPPING"
                endpoint.changed_at = self.now()
            elif state == "STARTED" and endpoint.state in ("STOPPED", "ERROR"):
                endpoint.target = "STARTED"
                endpoint.state = "PENDING"
                endpoint.changed_at = self.now()
            return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Remove an endpoint for good (it stops billing at once)."""
        with self.lock:
            self.get_endpoint(endpoint_id)
            del self.endpoints[endpoint_id]

    def chat_model(self, model: object) -> str:
        """The model a chat request may use: a serverless one or a started endpoint's name."""
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        listed = self.listed.get(model)
        if listed is not None and listed.serverless and listed.type == "chat":
            return model
        with self.lock:
            served = [e for e in self.list_endpoints() if model in (e.name, e.model)]
        if any(e.state == "STARTED" for e in served):
            return model
        if served:
            raise ApiError(
                400,
                f"The dedicated endpoint for {model} is not running. Start it and try again.",
                code="endpoint_not_running",
            )
        raise ApiError(
            404,
            f"Unable to access model {model}. Please visit https://api.together.ai/models to "
            "view the list of supported models.",
            code="model_not_available",
        )


def _whole(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{param} must be a whole number.", param=param)
    return value


def _examples(content: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; a line that is not one is refused."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ApiError(400, f"Line {number} is not valid JSON.", param="file") from None
        if not isinstance(row, dict):
            raise ApiError(400, f"Line {number} is not a JSON object.", param="file")
        rows.append(row)
    if len(rows) < MIN_EXAMPLES:
        raise ApiError(400, "The file holds no examples.", param="file")
    return rows


def _token_count(content: bytes) -> int:
    """A stable stand-in for a tokenizer: one token per four bytes."""
    return max(1, len(content) // 4)

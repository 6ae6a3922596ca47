"""Fine-tuning job state that the Jobs screen can rely on, built from plain job dicts.

Why a layer of its own: providers send statuses the SDK does not list (``paused``; a new one any
day), errors as three loose fields, hyperparameters in two places (``method`` and the deprecated
top-level ``hyperparameters``) and times as Unix seconds. :class:`JobSummary` turns a job dict
(the API layer's ``model_dump()``) into one typed value with plain-language sentences, so the
screen never guesses and never crashes on something new.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from enum import Enum
from typing import Any, NoReturn

from desktop.core.catalog import Catalog

_STATUS_ALIASES = {"canceled": "cancelled"}

#: The metadata key that repeats the suffix, so a job can be named before its model exists.
SUFFIX_KEY = "studio_suffix"


def assert_never(value: NoReturn) -> NoReturn:
    """Fail loudly when a match misses an enum member (``typing.assert_never`` is 3.11+)."""
    raise AssertionError(f"Unhandled value: {value!r}")


class JobStatus(str, Enum):
    """Where a job is in its life; ``UNKNOWN`` stands for any status the app does not know yet."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> JobStatus:
        """The status for a provider's string (any case, ``canceled`` too); else ``UNKNOWN``."""
        if not isinstance(value, str):
            return cls.UNKNOWN
        key = value.strip().lower()
        key = _STATUS_ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change (monitoring stops)."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def can_cancel(self) -> bool:
        """Any job that has not ended can be cancelled; the provider has the last word."""
        return not self.is_terminal

    @property
    def can_pause(self) -> bool:
        """Only a running job can be paused."""
        return self is JobStatus.RUNNING

    @property
    def can_resume(self) -> bool:
        """Only a paused job can be resumed."""
        return self is JobStatus.PAUSED

    @property
    def label(self) -> str:
        """A few words for a table cell."""
        match self:
            case JobStatus.VALIDATING_FILES:
                return "Checking files"
            case JobStatus.QUEUED:
                return "Waiting to start"
            case JobStatus.RUNNING:
                return "Training"
            case JobStatus.PAUSED:
                return "Paused"
            case JobStatus.SUCCEEDED:
                return "Finished"
            case JobStatus.FAILED:
                return "Failed"
            case JobStatus.CANCELLED:
                return "Cancelled"
            case JobStatus.UNKNOWN:
                return "Unknown state"
            case _:
                assert_never(self)

    @property
    def sentence(self) -> str:
        """One sentence for a person who does not program: what is happening and what is next."""
        match self:
            case JobStatus.VALIDATING_FILES:
                return (
                    "The provider is checking your training files before training can start; "
                    "this usually takes a few minutes."
                )
            case JobStatus.QUEUED:
                return (
                    "Your files passed the checks and the job is waiting its turn; training "
                    "starts when the provider has room."
                )
            case JobStatus.RUNNING:
                return (
                    "The model is learning from your examples; the chart shows how the loss "
                    "goes down as it learns."
                )
            case JobStatus.PAUSED:
                return (
                    "Training is paused; nothing is lost, and you can resume it to continue "
                    "from where it stopped."
                )
            case JobStatus.SUCCEEDED:
                return "Training finished and your fine-tuned model is ready to chat with."
            case JobStatus.FAILED:
                return (
                    "Training stopped because of a problem; the reason is shown below, and no "
                    "fine-tuned model was made."
                )
            case JobStatus.CANCELLED:
                return "The job was cancelled before it finished, so no fine-tuned model was made."
            case JobStatus.UNKNOWN:
                return (
                    "The provider reports a state this app does not know yet; the app keeps "
                    "checking the job."
                )
            case _:
                assert_never(self)


# --------------------------------------------------------------------------------------------
# Reading loose job fields
# --------------------------------------------------------------------------------------------


def to_datetime(value: object) -> datetime | None:
    """A UTC time from Unix seconds (int/float) or an ISO-8601 text; None when absent or odd."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            return None
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def _aware(moment: datetime) -> datetime:
    """Treat a naive time as UTC so comparisons never raise."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def error_sentence(error: object) -> str | None:
    """A job's ``error`` object (code, message, param) as one plain sentence, or None."""
    if isinstance(error, str):
        return _text(error)
    if not isinstance(error, Mapping):
        return None
    message = _text(error.get("message"))
    code = _text(error.get("code"))
    param = _text(error.get("param"))
    if message is None and code is None and param is None:
        return None
    parts = []
    if message is None:
        parts.append("The provider gave no reason.")
    else:
        parts.append(message if message.endswith((".", "!", "?")) else message + ".")
    if param is not None:
        parts.append(f"It concerns the {param.replace('_', ' ')}.")
    if code is not None:
        parts.append(f"(Error code: {code}.)")
    return " ".join(parts)


def parse_model_name(model_id: str) -> tuple[str, str | None, str | None]:
    """Split ``ft:BASE:org:suffix:id[:ckpt-step-N]`` into (base, suffix, checkpoint step).

    Other names (a base model, an Azure deployment, another host's id) come back whole as base.
    """
    if not model_id.startswith("ft:"):
        return model_id, None, None
    parts = model_id[3:].split(":")
    base = parts[0]
    suffix = parts[2] if len(parts) > 2 and parts[2] else None
    step = None
    if len(parts) > 4 and parts[-1].startswith("ckpt-step-"):
        step = parts[-1].removeprefix("ckpt-step-") or None
    return base, suffix, step


def model_display_name(model_id: str, created: datetime | None = None) -> str:
    """A short name for a fine-tuned model or checkpoint: ``support-bot · 2026-11-20``.

    The suffix the user chose is the name (the base model when there is none); a checkpoint adds
    its step. ``created`` is shown as the calendar date in its own time zone.
    """
    base, suffix, step = parse_model_name(model_id)
    parts = [suffix or base]
    if step is not None:
        parts.append(f"step {step}")
    if created is not None:
        parts.append(created.date().isoformat())
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSummary:
    """One fine-tuning job as the Jobs screen shows it.

    Attributes:
        id: the provider's job id.
        status: the status; ``raw_status`` keeps the provider's own word for unknown ones.
        base_model: the model trained from (a base snapshot or an ``ft:`` model).
        method: ``supervised``, ``dpo`` or ``reinforcement`` (supervised when not given).
        hyperparameters: the method's hyperparameters, completed from the deprecated top-level
            field (values are numbers or ``"auto"``).
        grader: a reinforcement job's grader, else None.
        error: the failure as one plain sentence; ``error_code`` the provider's code.
        times: UTC datetimes (None when the provider has not set them yet).
        provider_id: the provider profile the job belongs to, when the caller knows it.
    """

    id: str
    status: JobStatus
    raw_status: str
    base_model: str
    fine_tuned_model: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    estimated_finish: datetime | None = None
    trained_tokens: int | None = None
    error: str | None = None
    error_code: str | None = None
    method: str = "supervised"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    grader: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    training_file: str | None = None
    validation_file: str | None = None
    result_files: tuple[str, ...] = ()
    integrations: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    organization_id: str | None = None
    provider_id: str | None = None

    @classmethod
    def from_dict(cls, job: Mapping[str, Any], *, provider_id: str | None = None) -> JobSummary:
        """Read a job dict leniently; only a missing ``id`` is an error (ValueError)."""
        job_id = _text(job.get("id"))
        if job_id is None:
            raise ValueError("The job record has no id.")
        raw_status = _text(job.get("status")) or "unknown"
        method_info = _mapping(job.get("method"))
        method = _text(method_info.get("type")) or "supervised"
        details = _mapping(method_info.get(method))
        hyperparameters = _mapping(details.get("hyperparameters"))
        for key, value in _mapping(job.get("hyperparameters")).items():
            if value is not None and hyperparameters.get(key) in (None, "auto"):
                hyperparameters[key] = value  # a resolved number beats "auto"
        hyperparameters = {k: v for k, v in hyperparameters.items() if v is not None}
        grader = _mapping(details.get("grader")) or None
        fine_tuned_model = _text(job.get("fine_tuned_model"))
        base_model = _text(job.get("model")) or "unknown model"
        error = job.get("error")
        metadata = {
            str(k): str(v) for k, v in _mapping(job.get("metadata")).items() if v is not None
        }
        # OpenAI's job object has no suffix: it shows in the model's name, which a job that
        # did not finish lacks; the app repeats it in the job's metadata.
        suffix = _text(job.get("suffix")) or metadata.get(SUFFIX_KEY)
        if suffix is None and fine_tuned_model is not None:
            suffix = parse_model_name(fine_tuned_model)[1]
        raw_files = job.get("result_files")
        result_files = tuple(
            f for f in (raw_files if isinstance(raw_files, list) else []) if isinstance(f, str)
        )
        raw_integrations = job.get("integrations")
        integrations = tuple(
            dict(i)
            for i in (raw_integrations if isinstance(raw_integrations, list) else [])
            if isinstance(i, Mapping)
        )
        trained = _int(job.get("trained_tokens"))
        return cls(
            id=job_id,
            status=JobStatus.parse(raw_status),
            raw_status=raw_status,
            base_model=base_model,
            fine_tuned_model=fine_tuned_model,
            created_at=to_datetime(job.get("created_at")),
            finished_at=to_datetime(job.get("finished_at")),
            estimated_finish=to_datetime(job.get("estimated_finish")),
            trained_tokens=trained if trained is not None and trained >= 0 else None,
            error=error_sentence(error),
            error_code=_text(error.get("code")) if isinstance(error, Mapping) else None,
            method=method,
            hyperparameters=hyperparameters,
            grader=grader,
            suffix=suffix,
            seed=_int(job.get("seed")),
            training_file=_text(job.get("training_file")),
            validation_file=_text(job.get("validation_file")),
            result_files=result_files,
            integrations=integrations,
            metadata=metadata,
            organization_id=_text(job.get("organization_id")),
            provider_id=provider_id,
        )

    @property
    def n_epochs(self) -> int | None:
        """Epochs as a number, or None while the provider still says ``auto``."""
        value = _int(self.hyperparameters.get("n_epochs"))
        return value if value is not None and value > 0 else None

    @property
    def batch_size(self) -> int | None:
        """Batch size as a number, or None while ``auto``."""
        value = _int(self.hyperparameters.get("batch_size"))
        return value if value is not None and value > 0 else None

    @property
    def learning_rate_multiplier(self) -> float | None:
        """Learning-rate multiplier as a number, or None while ``auto``."""
        value = self.hyperparameters.get("learning_rate_multiplier")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value) if math.isfinite(value) and value > 0 else None

    def elapsed(self, now: datetime) -> timedelta | None:
        """How long the job has been going (or went, once finished); None without a start."""
        if self.created_at is None:
            return None
        end = _aware(now)
        if self.status.is_terminal and self.finished_at is not None:
            end = self.finished_at
        return max(timedelta(0), end - self.created_at)

    def time_left(self, now: datetime) -> timedelta | None:
        """The provider's estimate of the time left, or None when it gives none or it ended."""
        if self.status.is_terminal or self.estimated_finish is None:
            return None
        return max(timedelta(0), self.estimated_finish - _aware(now))

    def actual_cost(self, catalog: Catalog) -> float | None:
        """What the job cost in USD from ``trained_tokens`` and the base model's training price.

        None while the token count is unknown, for a model missing from the catalog or without
        a per-token price (e.g. reinforcement jobs billed per hour). ``ft:`` bases resolve to
        their original base model through the catalog.
        """
        if self.trained_tokens is None:
            return None
        model = catalog.get(self.base_model)
        if model is None or model.training_price_per_1m is None:
            return None
        return self.trained_tokens * model.training_price_per_1m / 1_000_000

    def display_name(self, tz: tzinfo | None = None) -> str:
        """``support-bot · 2026-11-20`` for the model this job makes (local date by default)."""
        moment = self.finished_at or self.created_at
        local = moment.astimezone(tz) if moment is not None else None
        # An OpenAI-style ``ft:`` name carries the suffix; other hosts' names are long account
        # paths, so the suffix the user chose names them better.
        model = self.fine_tuned_model
        named = model if model is not None and model.startswith("ft:") else None
        return model_display_name(named or self.suffix or model or self.base_model, local)


@dataclass(frozen=True)
class CheckpointSummary:
    """One saved checkpoint of a job; its model name can be chatted with like a final model."""

    id: str
    job_id: str | None
    model: str
    step: int | None
    created_at: datetime | None
    metrics: dict[str, float]

    @classmethod
    def from_dict(cls, checkpoint: Mapping[str, Any]) -> CheckpointSummary:
        """Read a checkpoint dict leniently; a missing id or model name is a ValueError."""
        checkpoint_id = _text(checkpoint.get("id"))
        model = _text(checkpoint.get("fine_tuned_model_checkpoint"))
        if checkpoint_id is None or model is None:
            raise ValueError("The checkpoint record has no id or no model name.")
        metrics = {
            str(k): float(v)
            for k, v in _mapping(checkpoint.get("metrics")).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        return cls(
            id=checkpoint_id,
            job_id=_text(checkpoint.get("fine_tuning_job_id")),
            model=model,
            step=_int(checkpoint.get("step_number")),
            created_at=to_datetime(checkpoint.get("created_at")),
            metrics=metrics,
        )

    def display_name(self, tz: tzinfo | None = None) -> str:
        """``support-bot · step 88 · 2026-11-20`` (local date by default)."""
        local = self.created_at.astimezone(tz) if self.created_at is not None else None
        return model_display_name(self.model, local)

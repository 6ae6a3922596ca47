"""Training in the app's own terms, whatever service does it.

Every training backend (OpenAI and the services that copy its API, Together AI, this
computer…) describes itself with these types, and turns what its provider sends into the
app's records, so the wizard, the Jobs tab, the loss chart, the advice and the archive never
see a provider's shapes:

- ``ParameterSpec``: one setting the user may change (epochs, learning rate, LoRA rank…), with
  its range, default and help in plain words; the wizard builds its form from them.
- ``TrainableModel``: a base model the backend can train, with what is known of its limits.
- ``BackendTraits``: what the backend can and cannot do (pause, price before training,
  download the result, how to chat with it), and until when.
- Records (plain dicts) in the app's format, built with ``job_record``, ``event_record`` and
  ``checkpoint_record``. ``JobSummary.from_dict`` and ``CheckpointSummary.from_dict`` read
  them, and the archive stores them. The format is the one OpenAI's API uses for jobs,
  events and checkpoints (so its answers need no translation), written down here so other
  backends produce exactly what the app reads.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

from desktop.core.catalog import ModelInfo
from desktop.core.jobs import JobStatus
from desktop.core.kinds import ExampleKind

#: A job, event or checkpoint in the app's record format (see the module docstring).
Record = dict[str, Any]
#: The metadata key that carries the id the app gave one create request, so a job whose
#: answer was lost can be found again instead of created twice.
REQUEST_KEY = "studio_request"


def new_request_id() -> str:
    """A fresh id for one create request (kept by the caller to retry the same request)."""
    return uuid.uuid4().hex


class ParameterKind(str, Enum):
    """The kind of value a training setting takes."""

    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"
    BOOL = "bool"


class ParameterRole(str, Enum):
    """What a setting means to the app, whatever the provider calls it: the wizard shares
    the epochs with the cost estimate, and the advice reads the learning rate and batch."""

    EPOCHS = "epochs"
    BATCH_SIZE = "batch_size"
    LEARNING_RATE = "learning_rate"
    OTHER = "other"


@dataclass(frozen=True)
class ParameterSpec:
    """One training setting a backend accepts.

    Attributes:
        name: the key the backend sends (``n_epochs``, ``lora_r``…).
        label: a few words for the form ("LoRA rank").
        kind: int, float, a choice among ``choices`` or a yes/no.
        help: what it does and when to change it, for someone who does not program.
        default: the value shown first; with ``automatic`` the provider decides unless the
            user sets one.
        minimum, maximum: the accepted range (numbers).
        decimals: digits shown for a float.
        choices: (value, label) pairs of a choice.
        methods: the training methods it applies to (empty: all).
        automatic: whether it may be left to the provider ("Automatic").
        automatic_value: what Automatic stands for at a provider that uses a fixed value
            (None: the provider decides from the dataset; for epochs the app then follows
            OpenAI's published rule, as the data-prep notebook does).
        role: what it means to the app (see ``ParameterRole``).
        advanced: shown folded away, for settings most people never touch.
    """

    name: str
    label: str
    kind: ParameterKind
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    decimals: int = 0
    choices: tuple[tuple[str, str], ...] = ()
    methods: tuple[str, ...] = ()
    automatic: bool = True
    automatic_value: Any = None
    role: ParameterRole = ParameterRole.OTHER
    advanced: bool = False

    def applies_to(self, method: str) -> bool:
        """True when the setting is part of a job of this training method."""
        return not self.methods or method in self.methods

    def problem(self, value: Any) -> str | None:
        """Why ``value`` would be refused, in one sentence; None when it is fine (None means
        "automatic", fine where the provider may choose)."""
        if value is None:
            return None if self.automatic else f"Choose a value for {self.label.lower()}."
        if self.kind is ParameterKind.BOOL:
            return None if isinstance(value, bool) else f"{self.label} must be yes or no."
        if self.kind is ParameterKind.CHOICE:
            allowed = [choice for choice, _label in self.choices]
            return None if value in allowed else f"{self.label} must be one of {allowed}."
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.label} must be a number."
        if self.kind is ParameterKind.INT and not float(value).is_integer():
            return f"{self.label} must be a whole number."
        if not math.isfinite(float(value)):
            return f"{self.label} must be a number."
        if self.minimum is not None and value < self.minimum:
            return f"{self.label} must be at least {_number(self.minimum)}."
        if self.maximum is not None and value > self.maximum:
            return f"{self.label} can be at most {_number(self.maximum)}."
        return None


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class TrainableModel:
    """A base model a backend can train.

    ``context_limit`` is the most tokens one example may hold, ``training_price_per_1m`` the
    price of a million trained tokens in USD, ``retires_on`` the day it stops working; each is
    None when the backend does not say. ``exact_tokens`` is False when the app cannot count
    this model's tokens the way the provider does (its estimate is then approximate).
    """

    id: str
    label: str
    methods: tuple[str, ...] = ("supervised",)
    context_limit: int | None = None
    training_price_per_1m: float | None = None
    retires_on: date | None = None
    exact_tokens: bool = True
    note: str | None = None

    @classmethod
    def from_catalog(cls, info: ModelInfo, methods: tuple[str, ...]) -> TrainableModel:
        """A model the app's catalog knows (its tokens are counted exactly, offline)."""
        return cls(
            id=info.id,
            label=info.display_name,
            methods=methods,
            context_limit=info.max_tokens_per_example,
            training_price_per_1m=info.training_price_per_1m,
            retires_on=info.shutdown_date,
        )


class ChatRoute(str, Enum):
    """How a trained model can be talked to."""

    #: Ask the same provider for it by its new name (OpenAI, most compatible hosts).
    SAME_PROFILE = "same_profile"
    #: The app first deploys it through the provider's API (a paid endpoint or a model host).
    DEPLOY_IN_APP = "deploy_in_app"
    #: A deployment made outside the app (Azure's control plane), then chat by its name.
    DEPLOY_ELSEWHERE = "deploy_elsewhere"
    #: The weights can be downloaded and run on this computer.
    DOWNLOAD = "download"


@dataclass(frozen=True)
class BackendTraits:
    """What a training backend can and cannot do, for the wizard, the Jobs tab and Settings.

    ``limits`` are plain sentences about what is not possible through the provider's API;
    ``takes_jobs_until`` and ``serves_until`` are the days after which it accepts no new jobs
    or its trained models stop answering (None when none is announced).
    """

    name: str
    methods: tuple[str, ...]
    formats: tuple[ExampleKind, ...] = (ExampleKind.CHAT,)
    can_cancel: bool = True
    can_pause: bool = False
    price_estimate: bool = False
    chat_routes: tuple[ChatRoute, ...] = (ChatRoute.SAME_PROFILE,)
    metrics: str = "per step"
    #: Services the curves can also be sent to (``"wandb"``), where the provider takes them
    #: without secrets the app does not keep.
    integrations: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()
    takes_jobs_until: date | None = None
    serves_until: date | None = None

    @property
    def downloadable(self) -> bool:
        """True when the trained weights can be downloaded."""
        return ChatRoute.DOWNLOAD in self.chat_routes


@dataclass(frozen=True)
class PriceEstimate:
    """What the provider says a job will cost before it starts.

    ``total_usd`` is None when it gave no figure; ``allowed`` False when it would refuse the
    job (over the account's limit, ``limit_usd``); ``note`` says anything else worth knowing.
    """

    total_usd: float | None
    allowed: bool = True
    limit_usd: float | None = None
    note: str | None = None


MAX_WANDB_TAGS = 50
MAX_WANDB_TAG_LENGTH = 64


@dataclass(frozen=True)
class WandbIntegration:
    """Also send the job's curves to Weights & Biases (the W&B key must be set up at the
    provider)."""

    project: str
    name: str | None = None
    entity: str | None = None
    tags: tuple[str, ...] = ()

    def problem(self) -> str | None:
        """A plain sentence saying why the provider would refuse this, or None."""
        if not self.project.strip():
            return "Weights & Biases needs a project name."
        if len(self.tags) > MAX_WANDB_TAGS:
            return f"Weights & Biases allows at most {MAX_WANDB_TAGS} tags."
        long = [t for t in self.tags if len(t) > MAX_WANDB_TAG_LENGTH]
        if long:
            return f"Each tag can be at most {MAX_WANDB_TAG_LENGTH} characters (“{long[0][:20]}…”)."
        return None


@dataclass(frozen=True)
class TrainingRequest:
    """A job as the user set it up, in the app's terms; each backend turns it into its
    provider's request. ``parameters`` holds only the settings the user fixed (by
    ``ParameterSpec.name``); the rest are left to the provider."""

    model: str
    training_file: str
    validation_file: str | None = None
    method: str = "supervised"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    integrations: tuple[WandbIntegration, ...] = ()


@dataclass(frozen=True)
class ChatTarget:
    """How to talk to a trained model: which model name to ask for, and what has to happen
    first (``route``); ``instructions`` say it in plain words when the user must act."""

    model: str
    route: ChatRoute
    instructions: str | None = None
    #: What serving it costs while it is up, when that is billed by the minute (said every
    #: time before it starts, and while it runs).
    billing_warning: str | None = None


# --------------------------------------------------------------------------------------------
# Records in the app's format
# --------------------------------------------------------------------------------------------


def job_record(
    *,
    job_id: str,
    status: JobStatus,
    model: str,
    provider_status: str | None = None,
    created_at: float | None = None,
    finished_at: float | None = None,
    estimated_finish: float | None = None,
    fine_tuned_model: str | None = None,
    method: str = "supervised",
    hyperparameters: Mapping[str, Any] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    training_file: str | None = None,
    validation_file: str | None = None,
    result_files: tuple[str, ...] = (),
    trained_tokens: int | None = None,
    error_message: str | None = None,
    error_code: str | None = None,
    metadata: Mapping[str, str] | None = None,
    provider_record: Mapping[str, Any] | None = None,
) -> Record:
    """A job record in the app's format; ``provider_record`` keeps what the provider sent
    (the archive keeps it whole, for the user to read later). Times are Unix seconds.
    ``provider_status`` is the provider's own word, shown when the app does not know it."""
    record: Record = {
        "object": "fine_tuning.job",
        "id": job_id,
        "status": provider_status
        if status is JobStatus.UNKNOWN and provider_status
        else status.value,
        "model": model,
        "created_at": created_at,
        "finished_at": finished_at,
        "estimated_finish": estimated_finish,
        "fine_tuned_model": fine_tuned_model,
        "method": {"type": method, method: {"hyperparameters": dict(hyperparameters or {})}},
        "suffix": suffix,
        "seed": seed,
        "training_file": training_file,
        "validation_file": validation_file,
        "result_files": list(result_files),
        "trained_tokens": trained_tokens,
        "error": {"message": error_message, "code": error_code, "param": None}
        if error_message or error_code
        else None,
        "metadata": dict(metadata or {}),
    }
    if provider_record is not None:
        record["provider_record"] = dict(provider_record)
    return record


def event_record(
    *,
    event_id: str,
    created_at: float,
    message: str,
    level: str = "info",
    step: int | None = None,
    total_steps: int | None = None,
    metrics: Mapping[str, float] | None = None,
) -> Record:
    """An event record; with ``step`` and ``metrics`` (names of ``metrics.METRIC_NAMES``:
    ``train_loss``, ``valid_loss``, ``train_mean_token_accuracy``…) it is one point of the
    curves, which the chart and the advice read the same whatever the backend."""
    record: Record = {
        "object": "fine_tuning.job.event",
        "id": event_id,
        "created_at": created_at,
        "level": level,
        "message": message,
        "type": "message",
    }
    if step is not None and metrics:
        data: dict[str, Any] = {"step": step, **dict(metrics)}
        if total_steps is not None:
            data["total_steps"] = total_steps
        record["type"] = "metrics"
        record["data"] = data
    return record


def checkpoint_record(
    *,
    checkpoint_id: str,
    model: str,
    job_id: str | None = None,
    step: int | None = None,
    created_at: float | None = None,
    metrics: Mapping[str, float] | None = None,
) -> Record:
    """A checkpoint record: ``model`` is the name to chat with it (or to deploy it by)."""
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": checkpoint_id,
        "fine_tuned_model_checkpoint": model,
        "fine_tuning_job_id": job_id,
        "step_number": step,
        "created_at": created_at,
        "metrics": dict(metrics or {}),
    }

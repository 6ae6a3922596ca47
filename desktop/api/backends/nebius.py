"""Nebius Token Factory: OpenAI's fine-tuning paths with payloads of Nebius's own.

Files go up exactly as with OpenAI (inherited from the OpenAI-protocol backend). What differs,
and so is overridden here:

- A job's ``hyperparameters`` are Nebius's: an absolute learning rate, LoRA (on unless the
  user turns it off), its rank, alpha and dropout, the context length and packing. Jobs carry
  no metadata, so the id of a create request travels as a short tag at the end of the suffix;
  a job whose answer was lost is found by it instead of being created twice.
- The loss comes with each checkpoint (``GET …/checkpoints``), not with the events: each
  checkpoint's metrics become one metric event record (a step and its metrics), so the loss
  chart, the advice and the archive read them like any other backend's.
- A trained LoRA answers only once it is deployed as a custom model (``POST /v0/models``,
  beside ``/v1``). The app deploys it, waits until it is ``active`` and chats with the name
  Nebius returns; a deployment of the same checkpoint is found and reused, never made twice.
- A checkpoint lists its files (the adapter), which the Files API downloads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from desktop.api import fine_tuning as ft
from desktop.api.backends.base import (
    CancelCheck,
    CreateOptions,
    ProgressCallback,
    RecordPage,
    Sleep,
    UploadCancelled,
)
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.client import MAX_RETRY_DELAY_SECONDS, with_retries
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    ProviderError,
    friendly_error,
    may_have_acted,
    unknown_outcome,
    wait_words,
)
from desktop.api.profiles import NEBIUS_FINE_TUNABLE, ProviderProfile
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.kinds import ExampleKind
from desktop.core.metrics import METRIC_NAMES
from desktop.core.training import (
    BackendTraits,
    ChatRoute,
    ChatTarget,
    ParameterKind,
    ParameterRole,
    ParameterSpec,
    Record,
    TrainableModel,
    TrainingRequest,
    checkpoint_record,
    event_record,
    job_record,
)

if TYPE_CHECKING:
    import openai

#: Nebius takes files of up to 5 GB through the Files API (it has no Uploads API).
FILE_LIMIT = 5 * 1024**3
#: Hex digits of the create request's tag at the end of a job's suffix.
TAG_LENGTH = 12
#: Seconds between looks at a deployment that is not ready yet, and the longest wait.
DEPLOY_POLL_SECONDS = 5.0
DEPLOY_WAIT_SECONDS = 20 * 60.0
#: Seconds to wait before each look for a deployment whose answer was lost.
DEPLOY_LOOKUP_WAITS: tuple[float, ...] = (2.0, 5.0, 10.0)
#: Pages of jobs searched for a lost create answer, and pages of a long list followed.
LOOKUP_PAGES = 3
MAX_PAGES = 100
PAGE_SIZE = 100
#: Bytes read at a time while downloading a trained adapter.
CHUNK_BYTES = 256 * 1024

_TAGGED = re.compile(rf"^(?:(?P<suffix>.+)-)?(?P<tag>[0-9a-f]{{{TAG_LENGTH}}})$")
_SOURCE = re.compile(r"^(?P<job>ftjob-[^:\s]+):(?P<checkpoint>ftckpt_[^:\s]+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LORA_ONLY = ("lora_r", "lora_alpha", "lora_dropout")

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="n_epochs",
        label="Epochs",
        kind=ParameterKind.INT,
        help=(
            "An epoch is one pass over all your examples. More epochs teach them more firmly, "
            "cost more and can make the model repeat them word for word. Automatic uses "
            "Nebius's choice (3)."
        ),
        default=3,
        minimum=1,
        maximum=20,
        automatic_value=3,
        role=ParameterRole.EPOCHS,
    ),
    ParameterSpec(
        name="learning_rate",
        label="Learning rate",
        kind=ParameterKind.FLOAT,
        help=(
            "How big each adjustment is. This is the rate itself, not a multiple of a normal "
            "one: 0.00001 is a careful, common choice. Lower it if the loss swings up and "
            "down; raise it (a little) if the model barely changes."
        ),
        default=0.00001,
        minimum=0.000001,
        maximum=0.01,
        decimals=6,
        role=ParameterRole.LEARNING_RATE,
    ),
    ParameterSpec(
        name="batch_size",
        label="Batch size",
        kind=ParameterKind.INT,
        help=(
            "How many examples the model looks at before each adjustment. Larger batches "
            "learn more smoothly but take fewer steps. Automatic uses Nebius's choice (8)."
        ),
        default=8,
        automatic_value=8,
        minimum=1,
        maximum=256,
        role=ParameterRole.BATCH_SIZE,
    ),
    ParameterSpec(
        name="lora",
        label="LoRA",
        kind=ParameterKind.BOOL,
        help=(
            "Train a small add-on (a LoRA adapter) instead of every weight of the model. It is "
            "cheaper, and only a LoRA can be deployed at Nebius to chat with it. Turn it off "
            "only to download a fully trained model and run it yourself."
        ),
        default=True,
        automatic=False,
    ),
    ParameterSpec(
        name="lora_r",
        label="LoRA rank",
        kind=ParameterKind.INT,
        help=(
            "How much the add-on can learn (with LoRA on). A higher rank holds more detail "
            "but trains more slowly; 8 or 16 suits most datasets."
        ),
        default=8,
        minimum=1,
        maximum=128,
        advanced=True,
    ),
    ParameterSpec(
        name="lora_alpha",
        label="LoRA alpha",
        kind=ParameterKind.INT,
        help=(
            "How strongly the add-on changes the model's answers (with LoRA on). It is often "
            "set to the rank or twice the rank."
        ),
        default=8,
        minimum=1,
        maximum=256,
        advanced=True,
    ),
    ParameterSpec(
        name="lora_dropout",
        label="LoRA dropout",
        kind=ParameterKind.FLOAT,
        help=(
            "A share of the add-on left out at random at each step (with LoRA on), so it does "
            "not learn the examples by heart. 0 to 0.1 is usual; raise it for a small dataset."
        ),
        default=0.0,
        minimum=0.0,
        maximum=0.5,
        decimals=2,
        advanced=True,
    ),
    ParameterSpec(
        name="context_length",
        label="Context length",
        kind=ParameterKind.INT,
        help=(
            "The most tokens of one example the model reads during training; longer examples "
            "are cut. Raise it only if your conversations are long (8192 by default)."
        ),
        default=8192,
        minimum=1024,
        maximum=131072,
        advanced=True,
    ),
    ParameterSpec(
        name="packing",
        label="Packing",
        kind=ParameterKind.BOOL,
        help=(
            "Put several short examples into one training sequence, which makes training "
            "faster and cheaper without changing what is learnt. On by default."
        ),
        default=True,
        advanced=True,
    ),
)
_SPECS: Mapping[str, ParameterSpec] = {spec.name: spec for spec in PARAMETERS}

_DEPLOY_NOTE = (
    "Nebius answers with a trained model only once it is deployed as a custom model. The app "
    "deploys it for you (a few minutes, once per checkpoint) and Nebius then bills it per "
    "token used, nothing by the minute."
)
_FULL_WEIGHTS_NOTE = (
    "This job trained every weight (LoRA was off), and Nebius deploys only LoRA adapters for "
    "chat. Download the trained model and run it on your own computer or server instead."
)


def traits_for(profile: ProviderProfile) -> BackendTraits:
    """What Nebius Token Factory can and cannot do through its API (no network)."""
    return BackendTraits(
        name="Nebius Token Factory",
        methods=profile.capabilities.methods,
        formats=(ExampleKind.CHAT,),
        can_cancel=True,
        can_pause=False,
        price_estimate=False,
        chat_routes=(ChatRoute.DEPLOY_IN_APP, ChatRoute.DOWNLOAD),
        metrics="per checkpoint",
        limits=(
            "A job cannot be paused, only cancelled.",
            "No price before training; the app's estimate is approximate (it cannot count "
            "these models' tokens exactly).",
            "The loss comes only with each saved checkpoint, so the chart has few points.",
            "Only LoRA training can be deployed for chat; a full fine-tune can only be downloaded.",
            "Supervised training only, on the models Nebius's documentation names (its API "
            "does not list them).",
        ),
    )


def request_tag(request_id: str) -> str:
    """The short tag that identifies one create request in a job's suffix."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()[:TAG_LENGTH]


def tagged_suffix(suffix: str | None, tag: str) -> str:
    """The suffix sent to Nebius: the user's, then the request's tag (``bot-3f2a…``)."""
    return f"{suffix}-{tag}" if suffix else tag


def untagged_suffix(sent: object) -> tuple[str | None, str | None]:
    """(the user's suffix, the request's tag) from a suffix Nebius reports."""
    if not isinstance(sent, str) or not sent:
        return None, None
    found = _TAGGED.match(sent)
    if found is None:
        return sent, None
    return found["suffix"] or None, found["tag"]


def checkpoint_source(job_id: str, checkpoint_id: str) -> str:
    """What ``POST /v0/models`` deploys: ``ftjob-…:ftckpt_…``."""
    return f"{job_id}:{checkpoint_id}"


def parse_source(text: str) -> tuple[str, str] | None:
    """(job id, checkpoint id) of a checkpoint source; None for any other name."""
    found = _SOURCE.match(text or "")
    return (found["job"], found["checkpoint"]) if found else None


def models_url(profile: ProviderProfile) -> str:
    """Where custom models live: ``/v0/models`` beside the profile's ``/v1``."""
    parts = urlsplit(profile.base_url)
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/v0/models", "", ""))


def _bad_answer(what: str) -> ProviderError:
    return ProviderError(
        FriendlyError(
            kind=ErrorKind.BAD_RESPONSE,
            message=f"Nebius answered, but not with {what} the app could read.",
            next_step="Try again; if it keeps happening, check the address in Settings.",
            retryable=False,
        )
    )


def _refuse(message: str, next_step: str, param: str | None = None) -> ProviderError:
    return ProviderError(
        FriendlyError(
            kind=ErrorKind.INVALID_REQUEST,
            message=message,
            next_step=next_step,
            retryable=False,
            param=param,
        )
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def _whole(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _items(page: object, what: str) -> tuple[list[Mapping[str, Any]], bool]:
    """The objects of a list answer (``{"data": [...]}`` or a bare list) and whether more follow."""
    data = page.get("data") if isinstance(page, Mapping) else page
    if not isinstance(data, list):
        raise _bad_answer(what)
    more = bool(page.get("has_more")) if isinstance(page, Mapping) else False
    return [item for item in data if isinstance(item, Mapping)], more


def job_record_from(raw: object) -> Record:
    """A Nebius job in the app's record format (the raw answer kept whole inside it).

    Nebius names no model when training ends (a LoRA is named when it is deployed), and its
    job-level result files are not tables of metrics, so neither is passed on.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        raise _bad_answer("a training job")
    status = _text(raw, "status") or "unknown"
    suffix, _tag = untagged_suffix(raw.get("suffix"))
    error = raw.get("error") if isinstance(raw.get("error"), Mapping) else {}
    hyperparameters = raw.get("hyperparameters")
    return job_record(
        job_id=raw["id"],
        status=JobStatus.parse(status),
        provider_status=status,
        model=_text(raw, "model") or "",
        created_at=_number(raw.get("created_at")),
        finished_at=_number(raw.get("finished_at")),
        estimated_finish=_number(raw.get("estimated_finish")),
        hyperparameters=hyperparameters if isinstance(hyperparameters, Mapping) else None,
        suffix=suffix,
        seed=_whole(raw, "seed"),
        training_file=_text(raw, "training_file"),
        validation_file=_text(raw, "validation_file"),
        trained_tokens=_whole(raw, "trained_tokens"),
        error_message=_text(error, "message"),
        error_code=_text(error, "code"),
        provider_record=raw,
    )


def _step_of(checkpoint: Mapping[str, Any]) -> int | None:
    for value in (checkpoint.get("step_number"), _metrics_of(checkpoint).get("step")):
        number = _number(value)
        if number is not None and number >= 0:
            return int(number)
    return None


def _metrics_of(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    metrics = checkpoint.get("metrics")
    return metrics if isinstance(metrics, Mapping) else {}


def checkpoint_record_from(job_id: str, raw: Mapping[str, Any]) -> Record | None:
    """A checkpoint record whose model is its deploy source (``ftjob-…:ftckpt_…``)."""
    checkpoint_id = raw.get("id")
    if not isinstance(checkpoint_id, str):
        return None
    owner = raw.get("fine_tuning_job_id")
    owner = owner if isinstance(owner, str) else job_id
    metrics = {
        name: value
        for name, raw_value in _metrics_of(raw).items()
        if name != "step" and (value := _number(raw_value)) is not None
    }
    return checkpoint_record(
        checkpoint_id=checkpoint_id,
        model=checkpoint_source(owner, checkpoint_id),
        job_id=owner,
        step=_step_of(raw),
        created_at=_number(raw.get("created_at")),
        metrics=metrics,
    )


def metric_event_id(checkpoint_id: str) -> str:
    """The id of the metric event made from one checkpoint (stable across polls)."""
    return f"{checkpoint_id}:metrics"


def metric_event_from(raw: Mapping[str, Any], total_steps: int | None = None) -> Record | None:
    """One point of the curves from a checkpoint's metrics; None when it has no loss."""
    checkpoint_id = raw.get("id")
    step = _step_of(raw)
    if not isinstance(checkpoint_id, str) or step is None:
        return None
    metrics = {
        name: value
        for name in METRIC_NAMES
        if (value := _number(_metrics_of(raw).get(name))) is not None
    }
    if not metrics:
        return None
    said = [f"training loss {metrics['train_loss']:.3f}"] if "train_loss" in metrics else []
    if "valid_loss" in metrics:
        said.append(f"validation loss {metrics['valid_loss']:.3f}")
    return event_record(
        event_id=metric_event_id(checkpoint_id),
        created_at=_number(raw.get("created_at")) or 0.0,
        message=f"Checkpoint at step {step}: {', '.join(said) or 'metrics recorded'}",
        step=step,
        total_steps=total_steps,
        metrics=metrics,
    )


def _safe_name(text: str) -> str:
    name = _UNSAFE.sub("-", text).strip("-.")
    return name[:120] or "file"


def _deployment_name(suffix: str | None, source: str) -> str:
    """A readable, valid custom-model name, the same for the same checkpoint."""
    stem = re.sub(r"[^a-z0-9]+", "-", (suffix or "fine-tune").lower()).strip("-")[:40]
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
    return f"{stem or 'fine-tune'}-{digest}"


class NebiusBackend(OpenAIProtocolBackend):
    """Training through Nebius Token Factory, for one profile and key.

    ``sleep`` does every wait (tests pass a fake clock's); ``deploy_poll`` and ``deploy_wait``
    are the seconds between looks at a deployment and the most to wait for it.
    """

    def __init__(
        self,
        profile: ProviderProfile,
        client: openai.OpenAI,
        *,
        sleep: Sleep = time.sleep,
        deploy_poll: float = DEPLOY_POLL_SECONDS,
        deploy_wait: float = DEPLOY_WAIT_SECONDS,
    ) -> None:
        super().__init__(profile, client, direct_limit=FILE_LIMIT)
        self.traits = traits_for(profile)
        self.sleep = sleep
        self.deploy_poll = deploy_poll
        self.deploy_wait = deploy_wait
        self.models_url = models_url(profile)
        self._total_steps: dict[str, int] = {}

    def __enter__(self) -> NebiusBackend:
        return self

    # Requests -----------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None, attempts: int = 3) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return with_retries(
            lambda: self.client.get(path, cast_to=object, options={"params": query}),
            attempts=attempts,
        )

    def _pages(
        self, path: str, what: str, pages: int, attempts: int = 3
    ) -> list[Mapping[str, Any]]:
        """Every object of a paged list (up to ``pages`` pages), in the order it is sent."""
        found: list[Mapping[str, Any]] = []
        after: str | None = None
        for _ in range(pages):
            items, more = _items(
                self._get(path, {"limit": PAGE_SIZE, "after": after}, attempts), what
            )
            found += items
            last = items[-1].get("id") if items else None
            if not more or not isinstance(last, str):
                break
            after = last
        return found

    # What it offers -----------------------------------------------------------------------

    def parameters(self, method: str) -> tuple[ParameterSpec, ...]:
        """Epochs, learning rate (absolute), batch size and the LoRA settings."""
        return tuple(spec for spec in PARAMETERS if spec.applies_to(method))

    def trainable_models(self, catalog: Catalog) -> list[TrainableModel]:
        """The models Nebius's documentation names for LoRA training (its API lists every
        model it serves, not which it trains); their tokens are counted only roughly."""
        known = self.profile.capabilities.catalog_models or NEBIUS_FINE_TUNABLE
        return [
            TrainableModel(
                id=model,
                label=model.rsplit("/", 1)[-1],
                methods=("supervised",),
                exact_tokens=False,
                note="Trained with LoRA; chat with it once the app has deployed it.",
            )
            for model in known
        ]

    def upload(
        self,
        data: bytes,
        name: str,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        if len(data) > FILE_LIMIT:
            raise _refuse(
                "Nebius takes files of up to 5 GB, and this dataset is larger.",
                "Split the dataset or train on part of it.",
            )
        return super().upload(data, name, progress, should_cancel)

    # Jobs ---------------------------------------------------------------------------------

    def _create_body(self, request: TrainingRequest, tag: str) -> dict[str, Any]:
        """Nebius's create request, after refusing locally what it would refuse."""
        if request.method != "supervised":
            raise _refuse(
                "Nebius offers only supervised training, not preference training.",
                "Train on chat examples, or choose another provider for preference data.",
                param="method",
            )
        if request.suffix:
            problem = self.profile.capabilities.suffix_problem(request.suffix)
            if problem is not None:
                raise _refuse(problem, "Change the suffix and try again.", param="suffix")
        for integration in request.integrations:
            problem = integration.problem()
            if problem is not None:
                raise _refuse(problem, "Change the Weights & Biases settings.")
        hyperparameters: dict[str, Any] = {}
        for name, value in request.parameters.items():
            spec = _SPECS.get(name)
            if spec is None:
                raise _refuse(
                    f"Nebius has no setting called “{name}”.",
                    "Leave it out; the settings Nebius takes are listed in the form.",
                    param=name,
                )
            problem = spec.problem(value)
            if problem is not None:
                raise _refuse(problem, "Change the setting and try again.", param=name)
            if value is not None:
                hyperparameters[name] = value
        hyperparameters.setdefault("lora", True)
        if hyperparameters["lora"] is False:
            for name in _LORA_ONLY:  # they only shape a LoRA adapter
                hyperparameters.pop(name, None)
        body: dict[str, Any] = {
            "model": request.model,
            "training_file": request.training_file,
            "hyperparameters": hyperparameters,
            "suffix": tagged_suffix(request.suffix, tag),
        }
        if request.validation_file:
            body["validation_file"] = request.validation_file
        if request.seed is not None:
            body["seed"] = request.seed
        if request.integrations:
            body["integrations"] = [ft.wandb_entry(i) for i in request.integrations]
        return body

    def create_job_once(
        self, request: TrainingRequest, request_id: str, options: CreateOptions
    ) -> Record:
        """Create the job at most once (the rules of ``fine_tuning.create_job_once``, with the
        request's tag in the suffix instead of metadata): a rate limit is sent again; any
        failure that may have reached Nebius is followed by looks at the job list, never by a
        second request; ``UNKNOWN_OUTCOME`` when the job does not show."""
        body = self._create_body(request, request_tag(request_id))
        sleep = options.sleep or time.sleep
        if options.look_first:
            found = self.find_job(request_id)
            if found is not None:
                return found
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                raw = self.client.post("/fine_tuning/jobs", body=body, cast_to=object)
                return job_record_from(raw)
            except Exception as exc:
                failure = (
                    exc if isinstance(exc, ProviderError) else ProviderError(friendly_error(exc))
                )
                if failure is not exc:
                    failure.__cause__ = exc
            friendly = failure.friendly
            if friendly.kind is ErrorKind.RATE_LIMITED and attempt < attempts:
                if options.on_retry is not None:
                    options.on_retry(friendly.message)
                delay = friendly.retry_after
                if delay is None:
                    delay = options.retry_delay * 2 ** (attempt - 1)
                sleep(min(delay, MAX_RETRY_DELAY_SECONDS))
                continue
            if not may_have_acted(failure):
                raise failure
            found = self._wait_for_job(request_id, options, sleep)
            if found is not None:
                return found
            raise ProviderError(
                unknown_outcome(
                    friendly,
                    message=(
                        "Nebius's answer was lost, and the training job has not appeared in its "
                        f"job list after {wait_words(sum(options.lookup_waits))}, so it is not "
                        "known whether the job was started."
                    ),
                    next_step=(
                        "It may still appear: look again in a few minutes. Send it again only "
                        "if it does not, because if Nebius did start it, a second job would be "
                        "billed too."
                    ),
                )
            ) from failure
        raise failure

    def _wait_for_job(self, request_id: str, options: CreateOptions, sleep: Sleep) -> Record | None:
        stop = options.give_up or (lambda: False)
        waits = options.lookup_waits
        for number, wait in enumerate(waits, start=1):
            if stop():
                return None
            if options.on_look is not None:
                options.on_look(number, len(waits))
            sleep(wait)
            if stop():
                return None
            with contextlib.suppress(ProviderError):
                found = self._find_job(request_id, attempts=1)
                if found is not None:
                    return found
        return None

    def find_job(self, request_id: str) -> Record | None:
        return self._find_job(request_id, attempts=3)

    def _find_job(self, request_id: str, attempts: int) -> Record | None:
        tag = request_tag(request_id)
        for raw in self._pages("/fine_tuning/jobs", "a job list", LOOKUP_PAGES, attempts):
            if untagged_suffix(raw.get("suffix"))[1] == tag:
                return job_record_from(raw)
        return None

    def list_jobs(self, after: str | None = None, limit: int = 20) -> RecordPage:
        items, more = _items(
            self._get("/fine_tuning/jobs", {"limit": limit, "after": after}), "a job list"
        )
        records = [job_record_from(item) for item in items]
        return RecordPage(records, records[-1]["id"] if more and records else None)

    def retrieve_job(self, job_id: str, attempts: int = 3) -> Record:
        raw = self._get(f"/fine_tuning/jobs/{job_id}", attempts=attempts)
        record = job_record_from(raw)
        total = raw.get("total_steps")
        if isinstance(total, int) and not isinstance(total, bool) and total > 0:
            self._total_steps[job_id] = total
        return record

    def _raw_checkpoints(self, job_id: str, attempts: int = 3) -> list[Mapping[str, Any]]:
        return self._pages(
            f"/fine_tuning/jobs/{job_id}/checkpoints", "a checkpoint list", MAX_PAGES, attempts
        )

    def new_events(self, job_id: str, seen: Collection[str], attempts: int = 3) -> list[Record]:
        """The job's new events and, for each checkpoint not seen yet, one metric event made
        from its metrics (Nebius reports the loss only there), newest first."""
        fresh: list[Record] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            items, more = _items(
                self._get(
                    f"/fine_tuning/jobs/{job_id}/events",
                    {"limit": PAGE_SIZE, "after": after},
                    attempts,
                ),
                "a list of events",
            )
            known = False
            for event in items:
                event_id = event.get("id")
                if not isinstance(event_id, str):
                    continue
                if event_id in seen:
                    known = True
                    break
                fresh.append(dict(event))
            last = items[-1].get("id") if items else None
            if known or not more or not isinstance(last, str):
                break
            after = last
        total = self._total_steps.get(job_id)
        for checkpoint in self._raw_checkpoints(job_id, attempts):
            point = metric_event_from(checkpoint, total)
            if point is not None and point["id"] not in seen:
                fresh.append(point)
        fresh.sort(key=lambda e: _number(e.get("created_at")) or 0.0, reverse=True)
        return fresh

    def checkpoints(self, job_id: str, attempts: int = 3) -> list[Record]:
        records = (
            checkpoint_record_from(job_id, c) for c in self._raw_checkpoints(job_id, attempts)
        )
        return [record for record in records if record is not None]

    def results(
        self, job: JobSummary, have: Collection[str], attempts: int = 3
    ) -> list[tuple[str, str]]:
        """None: Nebius's metrics come with the checkpoints, and its files are the trained
        model (see ``download_result``)."""
        return []

    def act(self, job_id: str, action: str) -> Record:
        if action != "cancel":
            raise _refuse(
                f"Nebius cannot {action} a training job.",
                "Cancel the job instead, or leave it to finish.",
            )
        return job_record_from(
            with_retries(
                lambda: self.client.post(f"/fine_tuning/jobs/{job_id}/cancel", cast_to=object)
            )
        )

    # Using the result ---------------------------------------------------------------------

    def chat_target(self, job: JobSummary, checkpoint_model: str | None = None) -> ChatTarget:
        """Deploy the chosen checkpoint (the job's last, by default) for chat; a job without
        LoRA can only be downloaded. Without a checkpoint named, this asks Nebius for the
        job's checkpoints (so call it off the UI thread)."""
        if job.hyperparameters.get("lora") is False:
            return ChatTarget(
                model=checkpoint_model or job.id,
                route=ChatRoute.DOWNLOAD,
                instructions=_FULL_WEIGHTS_NOTE,
            )
        if checkpoint_model:
            if parse_source(checkpoint_model) is None:  # already a name Nebius answers to
                return ChatTarget(model=checkpoint_model, route=ChatRoute.SAME_PROFILE)
            source = checkpoint_model
        else:
            source = self._last_checkpoint_source(job)
        return ChatTarget(model=source, route=ChatRoute.DEPLOY_IN_APP, instructions=_DEPLOY_NOTE)

    def _last_checkpoint(self, job_id: str) -> Mapping[str, Any] | None:
        checkpoints = self._raw_checkpoints(job_id)
        usable = [c for c in checkpoints if isinstance(c.get("id"), str)]
        return max(usable, key=lambda c: _step_of(c) or -1, default=None)

    def _last_checkpoint_source(self, job: JobSummary) -> str:
        last = self._last_checkpoint(job.id)
        if last is None:
            raise _refuse(
                "This job has no checkpoint yet, so there is nothing to chat with.",
                "Wait until the job has finished (or saved a checkpoint), then try again.",
            )
        return checkpoint_source(job.id, str(last["id"]))

    def prepare_chat(
        self,
        target: ChatTarget,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Deploy the checkpoint as a custom model (or reuse the deployment Nebius already
        has of it), wait until it is ``active``, and return the name it answers to.

        ``should_cancel`` stops the waiting (``UploadCancelled``); the deployment goes on at
        Nebius and is reused next time.
        """
        if target.route is ChatRoute.SAME_PROFILE:
            return target.model
        if target.route is not ChatRoute.DEPLOY_IN_APP:
            raise _refuse(
                "Nebius cannot serve this model for chat.",
                target.instructions or "Download the trained model instead.",
            )
        parsed = parse_source(target.model)
        if parsed is None:
            raise _refuse(
                "The app cannot tell which checkpoint to deploy.",
                "Choose a checkpoint of a finished job and try again.",
            )
        say = progress or (lambda _text: None)
        stop = should_cancel or (lambda: False)
        deployment = self._find_deployment(target.model)
        if deployment is not None:
            say("Nebius is already serving (or deploying) this checkpoint; the app uses it.")
        else:
            if stop():
                raise UploadCancelled
            job = self.retrieve_job(parsed[0])
            suffix = job.get("suffix") if isinstance(job.get("suffix"), str) else None
            say("Deploying the trained model at Nebius…")
            deployment = self._deploy(
                target.model, str(job["model"]), _deployment_name(suffix, target.model)
            )
        return self._wait_until_active(deployment, say, stop)

    def _deployments(self, attempts: int = 3) -> list[Mapping[str, Any]]:
        items, _more = _items(self._get(self.models_url, attempts=attempts), "a model list")
        return items

    def _find_deployment(self, source: str, attempts: int = 3) -> Mapping[str, Any] | None:
        """A deployment of this checkpoint that is ready or getting ready (the ready one
        first); failed and deleted ones do not count."""
        job_id, checkpoint_id = parse_source(source) or ("", "")
        matching = [
            d
            for d in self._deployments(attempts)
            if isinstance(d.get("name"), str)
            and d.get("status") in ("active", "validating")
            and (
                d.get("source") == source
                or (d.get("job_id") == job_id and d.get("checkpoint_id") == checkpoint_id)
            )
        ]
        return max(matching, key=lambda d: d.get("status") == "active", default=None)

    def _deploy(self, source: str, base_model: str, name: str) -> Mapping[str, Any]:
        """``POST /v0/models`` once. An answer that may have been lost is followed by looks
        at the list (a deployment is never asked for twice)."""
        body = {
            "name": name,
            "base_model": base_model,
            "source": source,
            "description": "Deployed by Fine-Tune Studio for chat.",
        }
        try:
            made = with_retries(
                lambda: self.client.post(self.models_url, body=body, cast_to=object),
                idempotent=False,
            )
            if isinstance(made, Mapping) and isinstance(made.get("name"), str):
                return made
            failure = _bad_answer("a deployed model")
        except ProviderError as exc:
            if not may_have_acted(exc):
                raise
            failure = exc
        for wait in DEPLOY_LOOKUP_WAITS:
            self.sleep(wait)
            with contextlib.suppress(ProviderError):
                found = self._find_deployment(source, attempts=1)
                if found is not None:
                    return found
        raise ProviderError(
            unknown_outcome(
                failure.friendly,
                message=(
                    "Nebius's answer was lost, and the deployment has not appeared in its list "
                    f"after {wait_words(sum(DEPLOY_LOOKUP_WAITS))}."
                ),
                next_step=(
                    "Try again in a few minutes: the app looks for it first and never deploys "
                    "the same checkpoint twice."
                ),
            )
        ) from failure

    def _wait_until_active(
        self,
        deployment: Mapping[str, Any],
        say: Callable[[str], None],
        stop: CancelCheck,
    ) -> str:
        name = str(deployment["name"])
        waited = 0.0
        while True:
            status = deployment.get("status")
            if status == "active":
                say("The trained model is ready.")
                return name
            if status in ("error", "deleted"):
                reason = deployment.get("status_reason")
                raise ProviderError(
                    FriendlyError(
                        kind=ErrorKind.SERVER_ERROR,
                        message="Nebius could not deploy the trained model"
                        + (f": {reason}" if isinstance(reason, str) and reason else "."),
                        next_step="Try again later, or choose another checkpoint.",
                        retryable=False,
                    )
                )
            if stop():
                raise UploadCancelled
            if waited >= self.deploy_wait:
                raise ProviderError(
                    FriendlyError(
                        kind=ErrorKind.TIMEOUT,
                        message=(
                            "Nebius is still getting the trained model ready after "
                            f"{wait_words(waited)}."
                        ),
                        next_step=(
                            "Try again later: the app will use the same deployment, not make "
                            "another."
                        ),
                        retryable=True,
                    )
                )
            say(
                "Nebius is getting the trained model ready"
                + (f" ({wait_words(waited)} so far)…" if waited else "…")
            )
            self.sleep(self.deploy_poll)
            waited += self.deploy_poll
            current = next((d for d in self._deployments() if d.get("name") == name), None)
            if current is None:
                raise ProviderError(
                    FriendlyError(
                        kind=ErrorKind.NOT_FOUND,
                        message="The deployment of the trained model disappeared at Nebius.",
                        next_step="Try again; the app will deploy it anew.",
                        retryable=False,
                    )
                )
            deployment = current

    def stop_serving(self, name: str) -> None:
        """Nothing to stop: Nebius bills a deployed LoRA per token it answers, not by the
        minute, so leaving it deployed costs nothing."""

    def download_result(
        self,
        job: JobSummary,
        destination: Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Path:
        """Download the files of the job's last checkpoint that lists any (for a LoRA job,
        the adapter) into a new folder inside ``destination``, which is returned. The folder
        appears only once every file is whole (an earlier download is never overwritten);
        ``UploadCancelled`` when stopped, leaving nothing behind."""
        checkpoints = [
            c
            for c in self._raw_checkpoints(job.id)
            if isinstance(c.get("id"), str)
            and isinstance(c.get("result_files"), list)
            and any(isinstance(f, str) for f in c["result_files"])
        ]
        if not checkpoints:
            raise _refuse(
                "Nebius lists no files to download for this job.",
                "Wait until the job has finished; if it has, the trained model can only be "
                "used at Nebius (deploy it to chat).",
            )
        last = max(checkpoints, key=lambda c: _step_of(c) or -1)
        stop = should_cancel or (lambda: False)
        files = []
        for file_id in (f for f in last["result_files"] if isinstance(f, str)):
            held = with_retries(lambda file_id=file_id: self.client.files.retrieve(file_id))
            files.append((file_id, _safe_name(held.filename or file_id), held.bytes or 0))
        step = _step_of(last)
        stem = _safe_name(f"{job.id}-step-{step}" if step else str(last["id"]))
        staging = destination / f"{stem}.part"
        total = sum(size for _id, _name, size in files)
        done = 0
        try:
            shutil.rmtree(staging, ignore_errors=True)  # what a stopped download left
            staging.mkdir(parents=True)
            for file_id, name, _size in files:
                done = self._download_file(file_id, staging / name, done, total, progress, stop)
            folder = destination / stem
            number = 1
            while folder.exists():
                number += 1
                folder = destination / f"{stem}-{number}"
            staging.rename(folder)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _unsaved(destination) from exc
            raise
        return folder

    def _download_file(
        self,
        file_id: str,
        target: Path,
        done: int,
        total: int,
        progress: ProgressCallback | None,
        stop: CancelCheck,
    ) -> int:
        try:
            with (
                self.client.files.with_streaming_response.content(file_id) as response,
                target.open("wb") as stream,
            ):
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    if stop():
                        raise UploadCancelled
                    stream.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, max(total, done))
                stream.flush()
                os.fsync(stream.fileno())
        except (UploadCancelled, ProviderError):
            raise
        except OSError as exc:
            if isinstance(exc, (ConnectionError, TimeoutError)):
                raise ProviderError(friendly_error(exc)) from exc
            raise _unsaved(target.parent.parent) from exc
        except Exception as exc:
            raise ProviderError(friendly_error(exc)) from exc
        return done


def _unsaved(folder: Path) -> ProviderError:
    return ProviderError(
        FriendlyError(
            kind=ErrorKind.INVALID_REQUEST,
            message=f"The trained model could not be saved in {folder}.",
            next_step="Choose a folder you can write to, with enough free space.",
            retryable=False,
        )
    )

"""Together AI's own fine-tuning API: files, jobs, per-step metrics, endpoints and downloads.

Together speaks its own shapes (``/files/upload``, ``/fine-tunes``, ``/finetune/download``,
``/endpoints``), so this backend turns them into the app's records. The HTTP goes through the
``openai`` client the app builds for every profile (``client.get``/``post`` with Together's
paths): it brings the key header, the timeouts, the refusal of redirects and of plain http,
and errors the app already explains in plain words. Chat with a trained model goes through the
same client too, because Together's chat completions are OpenAI-compatible.

A job whose create answer was lost must be found, never created twice; Together's create
request takes no metadata, so the app tags the only free text that comes back in the job list:
the suffix. It sends ``<suffix>-st<8 hex digits of the request id's hash>`` and looks for that
tag in each listed job's suffix (or its output model name). The training file cannot serve as
the tag, because the app reuses an uploaded file for later jobs on the same data.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from desktop.api.backends.base import (
    CancelCheck,
    CreateOptions,
    ProgressCallback,
    RecordPage,
    Sleep,
    TrainingBackend,
    UploadCancelled,
)
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
from desktop.api.fine_tuning import _ReportingReader as ReportingReader
from desktop.api.profiles import Capabilities, ProviderProfile
from desktop.core.catalog import Catalog
from desktop.core.jobs import SUFFIX_KEY, JobStatus, JobSummary, to_datetime
from desktop.core.jsonl_io import SaveError, stage_write
from desktop.core.kinds import ExampleKind
from desktop.core.training import (
    BackendTraits,
    ChatRoute,
    ChatTarget,
    ParameterKind,
    ParameterRole,
    ParameterSpec,
    PriceEstimate,
    Record,
    TrainableModel,
    TrainingRequest,
    checkpoint_record,
    event_record,
    job_record,
)

if TYPE_CHECKING:
    import httpx2
    import openai

#: The hardware a dedicated endpoint asks for: one H100, which serves the models Together
#: fine-tunes up to about 32B parameters.
DEFAULT_HARDWARE = "1x_nvidia_h100_80gb_sxm"
#: Minutes without a question after which Together stops an endpoint the app started.
IDLE_STOP_MINUTES = 15
#: How long an endpoint may take to start before the app gives up (and stops it).
ENDPOINT_START_LIMIT = 30 * 60.0
#: Seconds between looks at a starting endpoint.
ENDPOINT_POLL_SECONDS = 5.0
#: Seconds to wait before each look for a job or an endpoint whose create answer was lost.
LOOKUP_WAITS: tuple[float, ...] = (2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 20.0)
#: Bytes read from the network at a time while downloading the trained weights.
DOWNLOAD_CHUNK = 256 * 1024
#: Evaluations of the validation examples when the user gave some but chose no number.
DEFAULT_EVALS = 5

TAG_LENGTH = 8
_TAGGED_SUFFIX = re.compile(rf"^(?:(?P<suffix>.+)-)?st(?P<tag>[0-9a-f]{{{TAG_LENGTH}}})$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

_METHODS = {"supervised": "sft", "dpo": "dpo"}
_APP_METHODS = {together: app for app, together in _METHODS.items()}
_STATUSES = {
    "pending": JobStatus.QUEUED,
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    # the model is trained; it is being packed and stored: not finished, keep watching
    "compressing": JobStatus.RUNNING,
    "uploading": JobStatus.RUNNING,
    "cancel_requested": JobStatus.RUNNING,
    "cancelled": JobStatus.CANCELLED,
    "error": JobStatus.FAILED,
    "completed": JobStatus.SUCCEEDED,
}
#: Together's metric names and the app's (``metrics.METRIC_NAMES``).
_METRICS = {"train/loss": "train_loss", "eval/loss": "valid_loss", "valid/loss": "valid_loss"}
_METRIC_WORDS = {"train_loss": "training loss", "valid_loss": "validation loss"}

BILLING_WARNING = (
    "A dedicated endpoint is billed for every minute it is up, whether or not you are asking "
    "it anything. Press Stop when you are done; Together also stops it by itself after "
    f"{IDLE_STOP_MINUTES} minutes without a question."
)

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="training_type",
        label="Training type",
        kind=ParameterKind.CHOICE,
        help=(
            "LoRA trains a small add-on to the model: cheaper, quicker, and the result is a "
            "small file you can download and run yourself. Full training changes every weight "
            "of the model: it costs more and is offered for fewer models."
        ),
        default="Lora",
        choices=(("Lora", "LoRA adapter"), ("Full", "Full training")),
        automatic=False,
    ),
    ParameterSpec(
        name="n_epochs",
        label="Epochs",
        kind=ParameterKind.INT,
        help=(
            "An epoch is one pass over all your examples. More epochs teach them more firmly, "
            "cost more and can make the model repeat them word for word (1 to 20)."
        ),
        default=3,
        minimum=1,
        maximum=20,
        automatic=False,
        role=ParameterRole.EPOCHS,
    ),
    ParameterSpec(
        name="learning_rate",
        label="Learning rate",
        kind=ParameterKind.FLOAT,
        help=(
            "How big each adjustment is. Together's usual value is 0.00001; lower it if the "
            "loss swings up and down, raise it (up to about 0.0002 for LoRA) if the model "
            "barely changes. Automatic uses Together's usual value."
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
            "How many examples the model looks at before each adjustment. Automatic uses the "
            "largest batch Together allows for the model, which suits most datasets."
        ),
        default=8,
        minimum=1,
        maximum=1024,
        role=ParameterRole.BATCH_SIZE,
    ),
    ParameterSpec(
        name="n_evals",
        label="Validation checks",
        kind=ParameterKind.INT,
        help=(
            "How many times during training the model is scored on your validation examples, "
            f"drawn as the validation curve. Automatic: {DEFAULT_EVALS} when you give "
            "validation examples, none otherwise. Each check adds a little to the price."
        ),
        default=DEFAULT_EVALS,
        minimum=0,
        maximum=100,
    ),
    ParameterSpec(
        name="lora_r",
        label="LoRA rank",
        kind=ParameterKind.INT,
        help=(
            "For LoRA only: how big the add-on is. A higher rank can learn more but makes a "
            "larger file. Automatic uses the largest rank Together allows for the model."
        ),
        default=16,
        minimum=1,
        maximum=512,
        advanced=True,
    ),
    ParameterSpec(
        name="lora_alpha",
        label="LoRA alpha",
        kind=ParameterKind.INT,
        help=(
            "For LoRA only: how strongly the add-on speaks. Automatic uses twice the rank, the "
            "usual choice."
        ),
        default=32,
        minimum=1,
        maximum=1024,
        advanced=True,
    ),
    ParameterSpec(
        name="n_checkpoints",
        label="Checkpoints",
        kind=ParameterKind.INT,
        help=(
            "How many versions of the model are saved during training, to download an earlier "
            "one if the last learnt too much. Automatic saves only the final model."
        ),
        default=1,
        minimum=1,
        maximum=20,
        advanced=True,
    ),
    ParameterSpec(
        name="dpo_beta",
        label="Beta",
        kind=ParameterKind.FLOAT,
        help=(
            "How strongly preference training pushes toward the preferred answers. Lower values "
            "(0.05) move the model further; higher ones (0.5) keep it closer to how it was."
        ),
        default=0.1,
        minimum=0.01,
        maximum=2.0,
        decimals=2,
        methods=("dpo",),
    ),
)
_SPECS = {spec.name: spec for spec in PARAMETERS}


def traits_for(profile: ProviderProfile) -> BackendTraits:
    """What Together can do, known without the network."""
    methods = profile.capabilities.methods
    formats = [ExampleKind.CHAT, ExampleKind.PROMPT_COMPLETION]
    if "dpo" in methods:
        formats.append(ExampleKind.PREFERENCE)
    return BackendTraits(
        name="Together AI",
        methods=methods,
        formats=tuple(formats),
        can_cancel=True,
        can_pause=False,
        price_estimate=True,
        chat_routes=(ChatRoute.DEPLOY_IN_APP, ChatRoute.DOWNLOAD),
        metrics="per step",
        limits=(
            "A job cannot be paused, only cancelled.",
            "Chatting needs a dedicated endpoint, billed per minute while it is up (until you "
            f"stop it, or after {IDLE_STOP_MINUTES} minutes without a question).",
            "Only the final model can be served or downloaded in the app, not earlier checkpoints.",
            "Tokens are counted only approximately; Together's price before training is the "
            "one to trust.",
            "No Weights & Biases reporting: Together would need your W&B key with every job.",
            "The model's name carries a short code after your suffix, so a job whose answer "
            "was lost can be found.",
            "Chat examples must start with a system or user message, then alternate.",
        ),
    )


def request_tag(request_id: str) -> str:
    """The short tag a create request carries in its suffix."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()[:TAG_LENGTH]


def tagged_suffix(suffix: str | None, request_id: str) -> str:
    """The suffix sent to Together: the user's (if any) and the request's tag."""
    tag = f"st{request_tag(request_id)}"
    return f"{suffix}-{tag}" if suffix else tag


def split_suffix(job: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(the user's suffix, the request tag) of a Together job, from its suffix or, when the
    answer has none (``GET /fine-tunes/{id}``), from its output model name."""
    sent = job.get("suffix")
    if isinstance(sent, str) and sent:
        found = _TAGGED_SUFFIX.fullmatch(sent.lower())
        if found is None:
            return sent, None
        return sent[: len(found["suffix"])] if found["suffix"] else None, found["tag"]
    name = job.get("model_output_name")
    model = job.get("model")
    if not isinstance(name, str):
        return None, None
    short = re.escape(model.rsplit("/", 1)[-1]) + "-" if isinstance(model, str) else ""
    found = re.search(
        rf"{short}(?:(?P<suffix>[^/]+?)-)?st(?P<tag>[0-9a-f]{{{TAG_LENGTH}}})(?:-[^-/]+)?$",
        name,
        flags=re.IGNORECASE,
    )
    if found is None:
        return None, None
    return found["suffix"], found["tag"].lower()


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


def _unreadable(what: str) -> ProviderError:
    return ProviderError(
        FriendlyError(
            kind=ErrorKind.BAD_RESPONSE,
            message=f"Together answered, but not with {what} the app could read.",
            next_step="Try again; if it keeps happening, check the address in Settings.",
            retryable=False,
        )
    )


def _network_failure(exc: httpx2.HTTPError) -> ProviderError:
    """A failure while reading a streamed answer, in the app's words."""
    import httpx2
    import openai

    try:
        request: httpx2.Request | None = exc.request
    except RuntimeError:  # an error raised without its request
        request = None
    wrapped: Exception
    if request is None:
        wrapped = exc
    elif isinstance(exc, httpx2.TimeoutException):
        wrapped = openai.APITimeoutError(request=request)
    else:
        wrapped = openai.APIConnectionError(request=request)
    failure = ProviderError(friendly_error(wrapped))
    failure.__cause__ = exc
    return failure


def _seconds(value: object) -> float | None:
    moment = to_datetime(value)
    return moment.timestamp() if moment is not None else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _unreadable(what)
    return value


def _items(value: object, key: str, what: str) -> list[dict[str, Any]]:
    """The objects of a list answer (``{key: [...]}``; a bare array too, as ``/models`` is)."""
    items = value.get(key) if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise _unreadable(what)
    return [item for item in items if isinstance(item, dict)]


def _level(value: object) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if "error" in text:
        return "error"
    if "warn" in text:
        return "warn"
    return "info"


def _error_message(job: Mapping[str, Any]) -> str | None:
    """Why a job failed: Together says it in its last error event."""
    events = job.get("events")
    for event in reversed(events if isinstance(events, list) else []):
        if isinstance(event, Mapping) and (
            event.get("type") == "job_error" or _level(event.get("level")) == "error"
        ):
            message = event.get("message")
            if isinstance(message, str) and message.strip():
                return message.strip()
    return None


def job_from_together(job: Mapping[str, Any]) -> Record:
    """A Together job (any of its shapes) as a job record in the app's format."""
    job_id = job.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise _unreadable("a training job")
    word = job.get("status") if isinstance(job.get("status"), str) else None
    status = _STATUSES.get(word or "", JobStatus.UNKNOWN)
    method_info = job.get("training_method")
    method_info = method_info if isinstance(method_info, Mapping) else {}
    method = _APP_METHODS.get(str(method_info.get("method", "sft")), "supervised")
    kind = job.get("training_type")
    kind = kind if isinstance(kind, Mapping) else {}
    hyperparameters: dict[str, Any] = {}
    for name in ("n_epochs", "batch_size", "learning_rate", "n_evals", "n_checkpoints"):
        if _number(job.get(name)) is not None:
            hyperparameters[name] = job[name]
    if isinstance(kind.get("type"), str):
        hyperparameters["training_type"] = kind["type"]
        for name in ("lora_r", "lora_alpha"):
            if _number(kind.get(name)) is not None:
                hyperparameters[name] = kind[name]
    if method == "dpo" and _number(method_info.get("dpo_beta")) is not None:
        hyperparameters["dpo_beta"] = method_info["dpo_beta"]
    suffix, _tag = split_suffix(job)
    updated = _seconds(job.get("updated_at"))
    estimated = None
    progress = job.get("progress")
    if status is JobStatus.RUNNING and isinstance(progress, Mapping):
        left = _number(progress.get("seconds_remaining"))
        if progress.get("estimate_available") is True and left is not None and left >= 0:
            estimated = (updated or time.time()) + left
    output = job.get("model_output_name")
    tokens = _whole(job.get("token_count"))
    failed = status is JobStatus.FAILED
    return job_record(
        job_id=job_id,
        status=status,
        provider_status=word,
        model=str(job.get("model") or ""),
        created_at=_seconds(job.get("created_at")),
        finished_at=updated if status.is_terminal else None,
        estimated_finish=estimated,
        fine_tuned_model=output
        if status is JobStatus.SUCCEEDED and isinstance(output, str)
        else None,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=_whole(job.get("random_seed")),
        training_file=_text(job.get("training_file")),
        validation_file=_text(job.get("validation_file")),
        trained_tokens=tokens if tokens is not None and tokens > 0 else None,
        error_message=(_error_message(job) or "Together gave no reason.") if failed else None,
        metadata={SUFFIX_KEY: suffix} if suffix else None,
        provider_record={k: v for k, v in job.items() if k != "events"},
    )


def job_body(
    request: TrainingRequest,
    request_id: str | None,
    caps: Capabilities,
    limits_of: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """The create request for ``request``, after refusing locally what Together would
    refuse; ``limits_of`` asks for the model's limits once the checks that need no network
    have passed. ``request_id`` tags the suffix."""
    method = request.method
    if method not in caps.methods or method not in _METHODS:
        raise _refuse(
            f"Together does not offer this training method ({method}).",
            "Pick supervised or preference (DPO) training.",
            param="training_method",
        )
    if request.integrations:
        raise _refuse(
            "Together needs your Weights & Biases key sent with each job, which the app "
            "does not keep.",
            "Start the job without Weights & Biases; the app charts the loss itself.",
            param="integrations",
        )
    if request.suffix:
        problem = caps.suffix_problem(request.suffix)
        if problem is not None:
            raise _refuse(problem, "Change the suffix and try again.", param="suffix")
    chosen = {k: v for k, v in request.parameters.items() if v is not None}
    for name, value in chosen.items():
        spec = _SPECS.get(name)
        problem = spec.problem(value) if spec is not None else None
        if spec is None or not spec.applies_to(method):
            problem = f"Together has no setting called “{name}” for this training method."
        if problem is not None:
            raise _refuse(problem, "Change that setting and try again.", param=name)
    for spec in PARAMETERS:
        if not spec.automatic and spec.applies_to(method):
            chosen.setdefault(spec.name, spec.default)
    limits = limits_of(request.model)
    body: dict[str, Any] = {"model": request.model, "training_file": request.training_file}
    if request.validation_file:
        body["validation_file"] = request.validation_file
    if method == "dpo":
        body["training_method"] = {"method": "dpo"}
        if "dpo_beta" in chosen:
            body["training_method"]["dpo_beta"] = float(chosen["dpo_beta"])
    else:
        body["training_method"] = {"method": "sft", "train_on_inputs": "auto"}
    body["training_type"], batches = _training_type(chosen, limits, request.model)
    low, high = batches[0], batches[2 if method == "dpo" else 1]
    if "batch_size" in chosen:
        batch = int(chosen["batch_size"])
        if not low <= batch <= high:
            raise _refuse(
                f"For {request.model}, the batch size must be between {low} and {high}.",
                "Change the batch size, or leave it on Automatic.",
                param="batch_size",
            )
        body["batch_size"] = batch
    epochs = int(chosen["n_epochs"])
    most = _whole(limits.get("max_num_epochs"))
    if most is not None and epochs > most:
        raise _refuse(
            f"Together allows at most {most} epochs for {request.model}.",
            "Lower the epochs.",
            param="n_epochs",
        )
    body["n_epochs"] = epochs
    body["n_evals"] = _evals(chosen, limits, request)
    if "learning_rate" in chosen:
        rate = float(chosen["learning_rate"])
        least = _number(limits.get("min_learning_rate"))
        top = _number(limits.get("max_learning_rate"))
        if (least is not None and rate < least) or (top is not None and rate > top):
            raise _refuse(
                f"For {request.model}, the learning rate must be between {least:g} and {top:g}.",
                "Change the learning rate, or leave it on Automatic.",
                param="learning_rate",
            )
        body["learning_rate"] = rate
    if "n_checkpoints" in chosen:
        body["n_checkpoints"] = int(chosen["n_checkpoints"])
    if request.seed is not None:
        body["random_seed"] = request.seed
    if request_id is not None:
        body["suffix"] = tagged_suffix(request.suffix or None, request_id)
    return body


def _training_type(
    chosen: Mapping[str, Any], limits: Mapping[str, Any], model: str
) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """The ``training_type`` object and (smallest, largest, largest for DPO) batch."""
    if chosen.get("training_type", "Lora") == "Full":
        full = limits.get("full_training")
        if not isinstance(full, Mapping):
            raise _refuse(
                f"Together offers only LoRA training for {model}.",
                "Choose LoRA as the training type.",
                param="training_type",
            )
        return {"type": "Full"}, _batches(full)
    lora = limits.get("lora_training")
    if not isinstance(lora, Mapping):
        raise _refuse(
            f"Together offers no LoRA training for {model}.",
            "Choose full training.",
            param="training_type",
        )
    top_rank = _whole(lora.get("max_rank"))
    rank = int(chosen.get("lora_r") or top_rank or 16)
    if top_rank is not None and rank > top_rank:
        raise _refuse(
            f"For {model}, the LoRA rank can be at most {top_rank}.",
            "Lower the rank, or leave it on Automatic.",
            param="lora_r",
        )
    alpha = int(chosen.get("lora_alpha") or rank * 2)
    return {"type": "Lora", "lora_r": rank, "lora_alpha": alpha}, _batches(lora)


def _evals(chosen: Mapping[str, Any], limits: Mapping[str, Any], request: TrainingRequest) -> int:
    most = _whole(limits.get("max_num_evals"))
    if "n_evals" not in chosen:
        if not request.validation_file:
            return 0
        return min(DEFAULT_EVALS, most) if most is not None else DEFAULT_EVALS
    evals = int(chosen["n_evals"])
    if evals and not request.validation_file:
        raise _refuse(
            "Validation checks need validation examples.",
            "Add validation examples, or set the validation checks to 0.",
            param="n_evals",
        )
    if most is not None and evals > most:
        raise _refuse(
            f"Together allows at most {most} validation checks for {request.model}.",
            "Lower the number of validation checks.",
            param="n_evals",
        )
    return evals


def _get(
    client: openai.OpenAI,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    attempts: int = 3,
) -> Any:
    options: dict[str, Any] = {"params": dict(params)} if params else {}
    return with_retries(
        lambda: client.get(path, cast_to=object, options=options),  # type: ignore[arg-type]
        attempts=attempts,
    )


def _post(
    client: openai.OpenAI, path: str, body: Mapping[str, Any] | None, *, idempotent: bool
) -> Any:
    return with_retries(
        lambda: client.post(path, cast_to=object, body=dict(body or {})),
        idempotent=idempotent,
    )


class TogetherEndpoints:
    """The account's dedicated endpoints: reused, started or made once, waited for, stopped.

    They are billed per minute while up, so every way out of ``serve`` that does not hand a
    running endpoint over shuts down what it started.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        hardware: str,
        sleep: Sleep,
        poll_seconds: float,
        start_limit: float,
        lookup_waits: Sequence[float],
    ) -> None:
        self.client = client
        self.hardware = hardware
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.start_limit = start_limit
        self.lookup_waits = tuple(lookup_waits)

    def _get(self, path: str, *, params: Mapping[str, Any] | None = None, attempts: int = 3) -> Any:
        return _get(self.client, path, params=params, attempts=attempts)

    def _post(self, path: str, body: Mapping[str, Any] | None, *, idempotent: bool) -> Any:
        return _post(self.client, path, body, idempotent=idempotent)

    def serve(
        self,
        model: str,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Start (or reuse) an endpoint for ``model``, wait until it is up and return the
        name to chat with; stopped by ``should_cancel``, it is shut down again and
        ``UploadCancelled`` is raised."""
        say = progress or (lambda _text: None)
        cancelled = should_cancel or (lambda: False)
        endpoint = self.for_model(model)
        if endpoint is None:
            say("Starting a dedicated endpoint at Together; it is billed per minute from now on…")
            endpoint = self._create(model)
        elif endpoint.get("state") in ("STOPPED", "ERROR"):
            say("Starting your stopped endpoint again; it is billed per minute from now on…")
            path = f"/endpoints/{quote(str(endpoint['id']), safe='')}"
            endpoint = _dict(
                with_retries(
                    lambda: self.client.patch(path, cast_to=object, body={"state": "STARTED"})
                ),
                "an endpoint",
            )
        waited = 0.0
        while endpoint.get("state") != "STARTED":
            endpoint_id = str(endpoint.get("id"))
            if cancelled():
                self.delete(endpoint_id)
                raise UploadCancelled
            if endpoint.get("state") == "ERROR" or waited >= self.start_limit:
                self.delete(endpoint_id)
                reason = (
                    "Together could not start the endpoint"
                    if endpoint.get("state") == "ERROR"
                    else f"The endpoint did not start within {wait_words(self.start_limit)}"
                )
                raise ProviderError(
                    FriendlyError(
                        kind=ErrorKind.SERVER_ERROR,
                        message=f"{reason}; it was shut down so that it bills nothing.",
                        next_step="Try again later, or download the adapter to run it yourself.",
                        retryable=True,
                    )
                )
            say(
                f"Waiting for the endpoint to start ({str(endpoint.get('state')).lower()}, "
                f"{wait_words(waited) if waited else 'just asked'}); it is billed per minute "
                "while it is up…"
            )
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
            endpoint = _dict(self._get(f"/endpoints/{quote(endpoint_id, safe='')}"), "an endpoint")
        name = endpoint.get("name")
        if not isinstance(name, str) or not name:
            raise _unreadable("an endpoint")
        return name

    def _list(self, attempts: int = 3) -> list[dict[str, Any]]:
        answer = self._get(
            "/endpoints", params={"type": "dedicated", "mine": "true"}, attempts=attempts
        )
        return [
            e
            for e in _items(answer, "data", "a list of endpoints")
            if e.get("type") == "dedicated" and isinstance(e.get("id"), str)
        ]

    def for_model(self, model: str, attempts: int = 3) -> dict[str, Any] | None:
        """The account's endpoint for this model worth reusing, the most alive first."""
        rank = {"STARTED": 0, "STARTING": 1, "PENDING": 1, "STOPPED": 2}
        mine = [
            e for e in self._list(attempts) if e.get("model") == model and e.get("state") in rank
        ]
        return min(mine, key=lambda e: rank[e["state"]]) if mine else None

    def _create(self, model: str) -> dict[str, Any]:
        """``POST /endpoints`` at most once: a lost answer is looked for in the list."""
        body = {
            "display_name": f"Fine-Tune Studio: {model.rsplit('/', 1)[-1]}"[:100],
            "model": model,
            "hardware": self.hardware,
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            "state": "STARTED",
            "inactive_timeout": IDLE_STOP_MINUTES,
        }
        try:
            return _dict(self._post("/endpoints", body, idempotent=False), "an endpoint")
        except ProviderError as failure:
            if not may_have_acted(failure):
                raise
            for wait in self.lookup_waits:
                self.sleep(wait)
                with contextlib.suppress(ProviderError):
                    found = self.for_model(model, attempts=1)
                    if found is not None:
                        return found
            raise ProviderError(
                unknown_outcome(
                    failure.friendly,
                    message=(
                        "Together's answer was lost, and no endpoint for this model has "
                        "appeared, so it is not known whether one was started."
                    ),
                    next_step=(
                        "Look at the Endpoints page of api.together.ai and stop any endpoint "
                        "you do not use (it is billed per minute), then try again."
                    ),
                )
            ) from failure

    def delete(self, endpoint_id: str) -> None:
        try:
            with_retries(
                lambda: self.client.delete(
                    f"/endpoints/{quote(endpoint_id, safe='')}", cast_to=type(None)
                )
            )
        except ProviderError as exc:
            if exc.friendly.kind is not ErrorKind.NOT_FOUND:
                raise

    def stop(self, name: str) -> None:
        """Delete every endpoint serving ``name`` (an endpoint's name, or its model)."""
        for endpoint in self._list():
            if name in (endpoint.get("name"), endpoint.get("model")):
                self.delete(endpoint["id"])


class TogetherBackend(TrainingBackend):
    """Training and serving through Together AI's API, for one profile and key.

    ``sleep`` does every wait (tests pass the fake server's clock); ``hardware`` is what a
    dedicated endpoint runs on.
    """

    def __init__(
        self,
        profile: ProviderProfile,
        client: openai.OpenAI,
        *,
        hardware: str = DEFAULT_HARDWARE,
        sleep: Sleep = time.sleep,
        poll_seconds: float = ENDPOINT_POLL_SECONDS,
        start_limit: float = ENDPOINT_START_LIMIT,
        endpoint_lookup_waits: Sequence[float] = (2.0, 4.0, 8.0),
    ) -> None:
        self.profile = profile
        self.traits = traits_for(profile)
        self.client = client
        self.sleep = sleep
        self.endpoints = TogetherEndpoints(
            client,
            hardware=hardware,
            sleep=sleep,
            poll_seconds=poll_seconds,
            start_limit=start_limit,
            lookup_waits=endpoint_lookup_waits,
        )

    def __enter__(self) -> TogetherBackend:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the connections."""
        self.client.close()

    # HTTP ----------------------------------------------------------------------------------

    def _get(self, path: str, *, params: Mapping[str, Any] | None = None, attempts: int = 3) -> Any:
        return _get(self.client, path, params=params, attempts=attempts)

    def _post(self, path: str, body: Mapping[str, Any] | None, *, idempotent: bool) -> Any:
        return _post(self.client, path, body, idempotent=idempotent)

    # What it offers ------------------------------------------------------------------------

    def parameters(self, method: str) -> tuple[ParameterSpec, ...]:
        """Training type, epochs, learning rate, batch size, validation checks, LoRA rank and
        alpha, checkpoints (and beta for DPO)."""
        return tuple(spec for spec in PARAMETERS if spec.applies_to(method))

    def trainable_models(self, catalog: Catalog) -> list[TrainableModel]:
        """The models Together fine-tunes, with the context length ``/models`` gives for the
        ones it also lists; tokens are counted only approximately for every one."""
        supported = self._get("/fine-tunes/models/supported")
        names = supported.get("models") if isinstance(supported, dict) else None
        if not isinstance(names, list):
            raise _unreadable("a list of models")
        listed: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(ProviderError):  # only the labels and limits would be missing
            listed = {
                str(m.get("id")): m for m in _items(self._get("/models"), "data", "a model list")
            }
        models = []
        for name in (n for n in names if isinstance(n, str) and n):
            info = listed.get(name, {})
            label = info.get("display_name")
            models.append(
                TrainableModel(
                    id=name,
                    label=label if isinstance(label, str) and label else name,
                    methods=self.traits.methods,
                    context_limit=_whole(info.get("context_length")),
                    exact_tokens=False,
                    note=(
                        "The app counts this model's tokens only approximately; Together's "
                        "price, given once the files are uploaded, is the one to trust."
                    ),
                )
            )
        return sorted(models, key=lambda m: m.label.lower())

    def estimate_price(self, request: TrainingRequest) -> PriceEstimate | None:
        """Together's own price for the job (the training file must be uploaded first)."""
        body = job_body(request, None, self.profile.capabilities, self._limits)
        wanted = ("training_file", "validation_file", "model", "n_epochs", "n_evals")
        wanted += ("training_method", "training_type")
        answer = _dict(
            self._post(
                "/fine-tunes/estimate-price",
                {k: v for k, v in body.items() if k in wanted},
                idempotent=True,
            ),
            "a price",
        )
        total = _number(answer.get("estimated_total_price"))
        limit = _number(answer.get("user_limit"))
        allowed = answer.get("allowed_to_proceed") is not False
        tokens = _number(answer.get("estimated_train_token_count"))
        if not allowed:
            shown = f"${limit:,.2f}" if limit is not None else "its limit"
            note = (
                f"Together would refuse this job: it costs more than your account allows "
                f"({shown}). Add credit or raise the limit at api.together.ai, or train on fewer "
                "examples or epochs."
            )
        elif tokens is not None:
            note = f"Together's estimate, for about {tokens:,.0f} trained tokens."
        else:
            note = "Together's estimate."
        return PriceEstimate(total_usd=total, allowed=allowed, limit_usd=limit, note=note)

    # Files ---------------------------------------------------------------------------------

    def file_usable(self, file_id: str, size: int) -> bool:
        """True when Together still holds the file for fine-tuning (a size of 0 means it has
        not measured it yet, which is no reason to send it again)."""
        try:
            held = _dict(self._get(f"/files/{quote(file_id, safe='')}"), "a file")
        except ProviderError as exc:
            if exc.friendly.kind is ErrorKind.NOT_FOUND:
                return False
            raise
        return held.get("purpose") == "fine-tune" and held.get("bytes") in (size, 0, None)

    def find_file(self, name: str, size: int) -> str | None:
        files = _items(self._get("/files", attempts=1), "data", "a file list")
        for held in sorted(files, key=lambda f: _number(f.get("created_at")) or 0, reverse=True):
            if (
                held.get("filename") == name
                and held.get("purpose") == "fine-tune"
                and held.get("bytes") in (size, 0, None)
                and isinstance(held.get("id"), str)
            ):
                return held["id"]
        return None

    def upload(
        self,
        data: bytes,
        name: str,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Send the file in one multipart request (``POST /files/upload``), streamed so the
        progress is real; raises ``UploadCancelled`` when stopped."""
        report = progress or (lambda _sent, _total: None)
        cancelled = should_cancel or (lambda: False)
        if cancelled():
            raise UploadCancelled
        report(0, len(data))
        try:
            answer = with_retries(
                lambda: self.client.post(
                    "/files/upload",
                    cast_to=object,
                    body={"file_name": name, "purpose": "fine-tune"},
                    files=[("file", (name, ReportingReader(data, report, cancelled)))],
                    options={"headers": {"Content-Type": "multipart/form-data"}},
                ),
                idempotent=False,
            )
        except ProviderError:
            if cancelled():
                raise UploadCancelled from None
            raise
        file_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise _unreadable("a file")
        report(len(data), len(data))
        return file_id

    # Jobs ----------------------------------------------------------------------------------

    def _limits(self, model: str) -> dict[str, Any]:
        try:
            return _dict(
                self._get("/fine-tunes/models/limits", params={"model_name": model}),
                "the model's limits",
            )
        except ProviderError as exc:
            if exc.friendly.kind in (ErrorKind.NOT_FOUND, ErrorKind.MODEL_NOT_FOUND):
                raise _refuse(
                    f"Together does not fine-tune {model}.",
                    "Pick one of the models the wizard lists for Together.",
                    param="model",
                ) from exc
            raise

    def create_job_once(
        self, request: TrainingRequest, request_id: str, options: CreateOptions
    ) -> Record:
        """Create the job at most once, with the rules of the OpenAI backend: only a rate
        limit is sent again by itself; after a failure that may have reached Together, the job
        list is searched for the request's tag with growing waits, and ``UNKNOWN_OUTCOME`` is
        raised if it never shows (``look_first`` searches before sending)."""
        body = job_body(request, request_id, self.profile.capabilities, self._limits)
        sleep = options.sleep or time.sleep
        if options.look_first:
            found = self.find_job(request_id)
            if found is not None:
                return found
        attempts = 3
        failure: ProviderError | None = None
        for attempt in range(1, attempts + 1):
            try:
                answer = self.client.post("/fine-tunes", cast_to=object, body=body)
            except Exception as exc:
                failure = ProviderError(friendly_error(exc))
                failure.__cause__ = exc
            else:
                try:
                    return job_from_together(_dict(answer, "a training job"))
                except ProviderError as unreadable:
                    failure = unreadable
            friendly = failure.friendly
            if friendly.kind is ErrorKind.RATE_LIMITED and attempt < attempts:
                if options.on_retry is not None:
                    options.on_retry(friendly.message)
                delay = friendly.retry_after
                if delay is None:
                    delay = options.retry_delay * 2 ** (attempt - 1)
                sleep(min(delay, MAX_RETRY_DELAY_SECONDS))
                continue  # refused before it was acted on: nothing to look for
            if not may_have_acted(failure):
                raise failure
            found = self._wait_for_job(request_id, options, sleep)
            if found is not None:
                return found
            raise ProviderError(
                unknown_outcome(
                    friendly,
                    message=(
                        "Together's answer was lost, and the training job has not appeared in "
                        f"its job list after {wait_words(sum(options.lookup_waits))}, so it is "
                        "not known whether the job was started."
                    ),
                    next_step=(
                        "It may still appear: look again in a few minutes. Send it again only "
                        "if it does not, because if Together did start it, a second job would "
                        "be billed too."
                    ),
                )
            ) from failure
        assert failure is not None
        raise failure

    def _wait_for_job(self, request_id: str, options: CreateOptions, sleep: Sleep) -> Record | None:
        stop = options.give_up or (lambda: False)
        waits = tuple(options.lookup_waits)
        for number, wait in enumerate(waits, start=1):
            if stop():
                return None
            if options.on_look is not None:
                options.on_look(number, len(waits))
            sleep(wait)
            if stop():
                return None
            with contextlib.suppress(ProviderError):  # unreadable this time: look again
                found = self._find_job(request_id, attempts=1)
                if found is not None:
                    return found
        return None

    def find_job(self, request_id: str) -> Record | None:
        """The job a create request with this id made: the one whose suffix carries its tag."""
        return self._find_job(request_id, attempts=3)

    def _find_job(self, request_id: str, *, attempts: int) -> Record | None:
        tag = request_tag(request_id)
        jobs = _items(self._get("/fine-tunes", attempts=attempts), "data", "a job list")
        for job in jobs:
            if split_suffix(job)[1] == tag:
                return job_from_together(job)
        return None

    def list_jobs(self, after: str | None = None, limit: int = 20) -> RecordPage:
        """Together lists every job at once; the app pages it itself, newest first."""
        jobs = _items(self._get("/fine-tunes"), "data", "a job list")
        records = sorted(
            (job_from_together(job) for job in jobs),
            key=lambda r: r["created_at"] or 0.0,
            reverse=True,
        )
        start = 0
        if after is not None:
            ids = [r["id"] for r in records]
            start = ids.index(after) + 1 if after in ids else len(records)
        page = records[start : start + limit]
        more = start + limit < len(records)
        return RecordPage(page, page[-1]["id"] if more and page else None)

    def retrieve_job(self, job_id: str, attempts: int = 3) -> Record:
        answer = self._get(f"/fine-tunes/{quote(job_id, safe='')}", attempts=attempts)
        return job_from_together(_dict(answer, "a training job"))

    def new_events(self, job_id: str, seen: Collection[str], attempts: int = 3) -> list[Record]:
        """Together's events and its per-step metrics (as metric points), newest first."""
        path = f"/fine-tunes/{quote(job_id, safe='')}"
        events = _items(self._get(f"{path}/events", attempts=attempts), "data", "a list of events")
        points = self._get(f"{path}/metrics", attempts=attempts)
        snapshots = _items(points, "metrics", "the job's metrics")
        records: dict[str, Record] = {}
        total = None
        for event in events:
            record = self._event(job_id, event)
            records.setdefault(record["id"], record)
            steps = _whole(event.get("total_steps"))
            if steps is not None and steps > 0:
                total = steps
        now = time.time()
        for snapshot in snapshots:
            record = self._metric_point(job_id, snapshot, total, now)
            if record is not None:
                records.setdefault(record["id"], record)
        fresh = [r for r in records.values() if r["id"] not in seen]
        fresh.sort(key=lambda r: (r["created_at"], r.get("data", {}).get("step", -1)))
        return fresh[::-1]

    def _event(self, job_id: str, event: Mapping[str, Any]) -> Record:
        created = _seconds(event.get("created_at")) or 0.0
        message = str(event.get("message") or event.get("type") or "")
        mark = event.get("hash")
        if not isinstance(mark, str) or not mark:
            text = f"{event.get('created_at')}|{event.get('type')}|{message}"
            mark = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        return event_record(
            event_id=f"{job_id}:event:{mark}",
            created_at=created,
            message=message,
            level=_level(event.get("level")),
        )

    def _metric_point(
        self, job_id: str, snapshot: Mapping[str, Any], total: int | None, now: float
    ) -> Record | None:
        step = _number(snapshot.get("train/global_step"))
        values = {
            ours: value
            for theirs, ours in _METRICS.items()
            if (value := _number(snapshot.get(theirs))) is not None
        }
        if step is None or not step.is_integer() or step < 0 or not values:
            return None
        words = ", ".join(f"{_METRIC_WORDS[k]}={v:.4f}" for k, v in values.items())
        of_total = f"/{total}" if total else ""
        return event_record(
            event_id=f"{job_id}:metrics:{int(step)}:{'+'.join(sorted(values))}",
            created_at=now,
            message=f"Step {int(step)}{of_total}: {words}",
            step=int(step),
            total_steps=total,
            metrics=values,
        )

    def checkpoints(self, job_id: str, attempts: int = 3) -> list[Record]:
        """The intermediate checkpoints (``ft-…:step``) and the final model (the job id)."""
        answer = self._get(f"/fine-tunes/{quote(job_id, safe='')}/checkpoints", attempts=attempts)
        found: dict[str, Record] = {}
        for raw in _items(answer, "data", "a list of checkpoints"):
            step = _whole(raw.get("step"))
            intermediate = "intermediate" in str(raw.get("checkpoint_type", "")).lower()
            name = f"{job_id}:{step}" if intermediate and step is not None else job_id
            found.setdefault(
                name,
                checkpoint_record(
                    checkpoint_id=name,
                    model=name,
                    job_id=job_id,
                    step=step,
                    created_at=_seconds(raw.get("created_at")),
                ),
            )
        return list(found.values())

    def results(
        self, job: JobSummary, have: Collection[str], attempts: int = 3
    ) -> list[tuple[str, str]]:
        """Together keeps no results table: the curves come from its metrics."""
        return []

    def act(self, job_id: str, action: str) -> Record:
        """Cancel (Together cannot pause). A cancel whose answer was lost is checked by
        looking at the job, rather than refused as "already cancelling" when sent again."""
        if action != "cancel":
            raise _refuse(
                f"Together cannot {action} a training job.",
                "Cancel the job instead, or leave it to finish.",
            )
        path = f"/fine-tunes/{quote(job_id, safe='')}/cancel"
        try:
            answer = self._post(path, None, idempotent=False)
        except ProviderError as failure:
            if failure.friendly.kind in (ErrorKind.WRONG_KEY, ErrorKind.NO_PERMISSION):
                raise
            current = self.retrieve_job(job_id)
            if current["provider_record"].get("status") in ("cancel_requested", "cancelled"):
                return current
            raise
        return job_from_together(_dict(answer, "a training job"))

    # Using the result ----------------------------------------------------------------------

    def chat_target(self, job: JobSummary, checkpoint_model: str | None = None) -> ChatTarget:
        """The final model is served on a dedicated endpoint the app starts; an intermediate
        checkpoint can only be downloaded with Together's tools."""
        if checkpoint_model and checkpoint_model not in (job.id, job.fine_tuned_model):
            return ChatTarget(
                model=checkpoint_model,
                route=ChatRoute.DOWNLOAD,
                instructions=(
                    "Together serves only a job's final model on an endpoint. To try this "
                    "checkpoint, download it with Together's command-line tool: together "
                    f"fine-tuning download {checkpoint_model}"
                ),
            )
        return ChatTarget(
            model=job.fine_tuned_model or "",
            route=ChatRoute.DEPLOY_IN_APP,
            instructions=(
                "The app starts a dedicated endpoint for this model at Together and waits until "
                "it answers (usually a few minutes)."
            ),
            billing_warning=BILLING_WARNING,
        )

    def prepare_chat(
        self,
        target: ChatTarget,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Start (or reuse) a dedicated endpoint for the model, wait until it is up and return
        the name to chat with; stopped by ``should_cancel``, it is shut down again and
        ``UploadCancelled`` is raised."""
        if target.route is ChatRoute.DOWNLOAD:
            raise _refuse(
                "This checkpoint cannot be served on an endpoint.",
                target.instructions or "Download it with Together's own tools.",
            )
        if target.route is not ChatRoute.DEPLOY_IN_APP:
            return target.model
        if not target.model:
            raise _refuse(
                "Training has not finished, so there is no model to serve yet.",
                "Wait until the job has finished.",
            )
        return self.endpoints.serve(target.model, progress, should_cancel)

    def chat_profile(self, name: str) -> ProviderProfile:
        """A hosted model answers through this same profile."""
        return self.profile

    def stop_serving(self, name: str) -> None:
        """Delete every dedicated endpoint serving ``name`` (an endpoint's name, or the model
        it serves), so nothing goes on billing."""
        self.endpoints.stop(name)

    def download_result(
        self,
        job: JobSummary,
        destination: Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Path:
        """Download the LoRA adapter (a full-training job: the whole model) as Together packs
        it, into ``destination``; the file appears only once it is complete."""
        if job.status is not JobStatus.SUCCEEDED:
            raise _refuse(
                "Training has not finished, so there is nothing to download yet.",
                "Wait until the job has finished.",
            )
        full = job.hyperparameters.get("training_type") == "Full"
        checkpoint = "model_output_path" if full else "adapter"
        report = progress or (lambda _done, _total: None)
        cancelled = should_cancel or (lambda: False)
        if cancelled():
            raise UploadCancelled
        import httpx2

        response: httpx2.Response = with_retries(
            lambda: self.client.get(
                "/finetune/download",
                cast_to=httpx2.Response,
                options={"params": {"ft_id": job.id, "checkpoint": checkpoint}},
                stream=True,  # type: ignore[call-overload]
            )
        )
        try:
            total = int(response.headers.get("content-length") or 0)
            name = _download_name(
                response.headers.get("content-disposition"),
                f"{job.id}-{'model' if full else 'adapter'}.tar.zst",
            )
            destination.mkdir(parents=True, exist_ok=True)
            staged = stage_write(destination / name, _pieces(response, total, report, cancelled))
            staged.commit()
        except SaveError as exc:
            raise ProviderError(
                FriendlyError(
                    kind=ErrorKind.UNKNOWN,
                    message=f"The download could not be saved: {exc}",
                    next_step="Free some disk space or choose another folder, then try again.",
                    retryable=True,
                )
            ) from exc
        finally:
            response.close()
        return destination / name


def _batches(limits: Mapping[str, Any]) -> tuple[int, int, int]:
    """(smallest, largest, largest for DPO) batch sizes of a training type's limits."""
    low = _whole(limits.get("min_batch_size")) or 1
    high = _whole(limits.get("max_batch_size")) or 1024
    dpo = _whole(limits.get("max_batch_size_dpo")) or high
    return low, high, dpo


def _download_name(disposition: str | None, fallback: str) -> str:
    """A safe file name from ``Content-Disposition`` (never a path), else ``fallback``."""
    found = re.search(r'filename="?([^";]+)"?', disposition or "")
    raw = found.group(1) if found else ""
    name = _SAFE_NAME.sub("-", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip("-.")
    return name or fallback


def _pieces(
    response: httpx2.Response,
    total: int,
    report: ProgressCallback,
    cancelled: CancelCheck,
) -> Iterator[bytes]:
    """The body in pieces, reporting progress; a cut-off or stopped download raises, so the
    half-written file is thrown away."""
    import httpx2

    received = 0
    report(0, total)
    try:
        for piece in response.iter_bytes(DOWNLOAD_CHUNK):
            if cancelled():
                raise UploadCancelled
            received += len(piece)
            report(received, total)
            yield piece
    except httpx2.HTTPError as exc:
        raise _network_failure(exc) from exc
    if total and received != total:
        raise ProviderError(
            FriendlyError(
                kind=ErrorKind.NO_NETWORK,
                message="The download was cut off before it was complete; nothing was kept.",
                next_step="Try again.",
                retryable=True,
            )
        )

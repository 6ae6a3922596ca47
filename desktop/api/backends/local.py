"""This computer: LoRA fine-tuning of small open models, run by the app itself.

Behind the same seam as the hosted services, so the wizard, the Jobs tab, the chart, the
advice and the archive work unchanged. "Uploading" keeps the dataset on disk under its
SHA-256; "creating" a job makes its folder in the job archive (``JobArchive.job_folder``) and
starts a training process apart from the app (``desktop.local_training.trainer``); events and
curves come from the JSON lines that process prints; pause and resume go through its last
checkpoint; a job left running when the app quit is found, and continued, at the next start.

Chatting goes through ``transformers serve`` on 127.0.0.1 (``prepare_chat`` starts it and
returns the model name; ``chat_profile`` gives the local, key-less profile to reach it by).
The heavy libraries are an optional extra and never load in the app's process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from desktop.api.backends.base import (
    CancelCheck,
    CreateOptions,
    ProgressCallback,
    RecordPage,
    TrainingBackend,
    UploadCancelled,
)
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError
from desktop.api.profiles import ProviderProfile, profile_from_template
from desktop.core.catalog import Catalog
from desktop.core.jobs import SUFFIX_KEY, JobStatus, JobSummary
from desktop.core.kinds import ExampleKind
from desktop.core.locations import data_dir
from desktop.core.training import (
    REQUEST_KEY,
    BackendTraits,
    ChatRoute,
    ChatTarget,
    ParameterSpec,
    PriceEstimate,
    Record,
    TrainableModel,
    TrainingRequest,
    checkpoint_record,
    event_record,
    job_record,
)
from desktop.local_training import SERVING_MODULES, TRAINING_MODULES, serving, unavailable_reason
from desktop.local_training.hardware import Hardware, detect_hardware
from desktop.local_training.jobs import Condition, JobError, JobView, LocalJobs, Request
from desktop.local_training.models import (
    BASE_MODELS,
    looks_like_hub_id,
    model_folder_problem,
    short_name,
)
from desktop.local_training.protocol import checkpoints
from desktop.local_training.serving import ServedModel
from desktop.local_training.settings import parameters_for, resolve_settings

NAME = "This computer"
METHODS = ("supervised", "dpo")
#: The model name of a job's result: ``ft:<base>:local:<suffix>:<job id>[:ckpt-step-N]``.
_OWNER = "local"


def _refuse(
    message: str, next_step: str, kind: ErrorKind = ErrorKind.INVALID_REQUEST
) -> ProviderError:
    return ProviderError(
        FriendlyError(kind=kind, message=message, next_step=next_step, retryable=False)
    )


def traits_for(profile: ProviderProfile) -> BackendTraits:
    """What training here can do (no network, no torch)."""
    hardware = detect_hardware()
    limits = [
        f"Training runs on this computer's {hardware.description}: nothing is sent anywhere "
        "and it costs nothing, but a processor trains slowly (see each model's estimate).",
        "A base model is downloaded once from the Hugging Face Hub, or chosen from a folder.",
    ]
    missing = unavailable_reason()
    if missing is not None:
        limits.insert(0, missing)
    return BackendTraits(
        name=NAME,
        methods=METHODS,
        formats=(ExampleKind.CHAT, ExampleKind.PREFERENCE),
        can_cancel=True,
        can_pause=True,
        price_estimate=False,
        chat_routes=(ChatRoute.DEPLOY_IN_APP, ChatRoute.DOWNLOAD),
        metrics="per step",
        limits=tuple(limits),
    )


def model_name(base: str, suffix: str | None, job_id: str, step: int | None = None) -> str:
    """The name a job's result (or one of its checkpoints) goes by."""
    name = f"ft:{short_name(base)}:{_OWNER}:{suffix or ''}:{job_id}"
    return f"{name}:ckpt-step-{step}" if step is not None else name


def parse_model_name(name: str) -> tuple[str, int | None] | None:
    """(job id, checkpoint step or None) of a name made by ``model_name``; else None."""
    if not name.startswith("ft:"):
        return None
    parts = name[3:].split(":")
    if len(parts) not in (4, 5) or parts[1] != _OWNER or not parts[3]:
        return None
    if len(parts) == 5:
        step = parts[4].removeprefix("ckpt-step-")
        return (parts[3], int(step)) if step.isdigit() else None
    return parts[3], None


_STATUS = {
    Condition.STARTING: JobStatus.RUNNING,
    Condition.RUNNING: JobStatus.RUNNING,
    Condition.PAUSING: JobStatus.RUNNING,
    Condition.INTERRUPTED: JobStatus.RUNNING,
    Condition.PAUSED: JobStatus.PAUSED,
    Condition.SUCCEEDED: JobStatus.SUCCEEDED,
    Condition.FAILED: JobStatus.FAILED,
    Condition.CANCELLED: JobStatus.CANCELLED,
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _step_message(line: Mapping[str, Any]) -> str:
    step, total = line.get("step"), line.get("total_steps")
    parts = [f"training loss={_number(line.get('loss')) or 0:.4f}"]
    if (rate := _number(line.get("learning_rate"))) is not None:
        parts.append(f"learning rate={rate:.2e}")
    if (epoch := _number(line.get("epoch"))) is not None:
        parts.append(f"epoch {round(epoch, 2):g}")
    if (speed := _number(line.get("tokens_per_second"))) is not None:
        parts.append(f"{speed:,.0f} tokens/s")
    if (eta := _number(line.get("eta_seconds"))) is not None and eta > 0:
        parts.append(f"about {_duration(eta)} left")
    where = f"{step}/{total}" if total else f"{step}"
    return f"Step {where}: " + ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def _event(job_id: str, key: str, line: Mapping[str, Any]) -> Record | None:
    """The app's event for one progress line (None for lines only the app needs)."""
    kind = line.get("event")
    moment = _number(line.get("time")) or 0.0
    event_id = f"{job_id}-{key}"
    if kind == "message":
        level = "warning" if line.get("level") == "warning" else "info"
        return event_record(
            event_id=event_id, created_at=moment, message=str(line.get("text", "")), level=level
        )
    if kind == "start":
        total, epochs = line.get("total_steps"), line.get("epochs")
        resumed = line.get("resumed_from")
        text = (
            f"Training goes on from step {resumed} of {total}."
            if resumed
            else f"Training started on the {_device(line.get('device'))}: {total} steps, "
            f"{_epochs(epochs)}, {line.get('examples')} examples."
        )
        return event_record(event_id=event_id, created_at=moment, message=text)
    if kind == "step" and isinstance(line.get("step"), int):
        metrics = {"train_loss": _number(line.get("loss"))}
        metrics["train_mean_token_accuracy"] = _number(line.get("accuracy"))
        total = line.get("total_steps")
        return event_record(
            event_id=event_id,
            created_at=moment,
            message=_step_message(line),
            step=int(line["step"]),
            total_steps=total if isinstance(total, int) else None,
            metrics={k: v for k, v in metrics.items() if v is not None},
        )
    if kind == "eval" and isinstance(line.get("step"), int):
        metrics = {
            "valid_loss": _number(line.get("valid_loss")),
            "valid_mean_token_accuracy": _number(line.get("valid_accuracy")),
        }
        loss = metrics["valid_loss"]
        return event_record(
            event_id=event_id,
            created_at=moment,
            message=f"Step {line['step']}: validation loss={loss or 0:.4f}",
            step=int(line["step"]),
            metrics={k: v for k, v in metrics.items() if v is not None},
        )
    if kind == "checkpoint":
        return event_record(
            event_id=event_id,
            created_at=moment,
            message=f"Saved a checkpoint at step {line.get('step')}.",
        )
    if kind == "end":
        failed = line.get("status") == "failed"
        return event_record(
            event_id=event_id,
            created_at=moment,
            message=str(line.get("message", "")),
            level="error" if failed else "info",
        )
    return None


def _device(device: Any) -> str:
    return {"cuda": "NVIDIA GPU", "mps": "Apple GPU"}.get(str(device), "processor")


def _epochs(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "epochs as set"
    whole = int(number) if number.is_integer() else number
    return f"{whole} epoch" if whole == 1 else f"{whole} epochs"


class LocalTrainingBackend(TrainingBackend):
    """Training on this computer for one "This computer" profile.

    ``root`` is the job archive's folder (the app's ``data/jobs``); ``python`` runs the
    training and chat processes (this interpreter by default); ``serving_root`` keeps the
    chat servers' records.
    """

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        root: Path | None = None,
        python: str | None = None,
        serving_root: Path | None = None,
        hardware: Hardware | None = None,
    ) -> None:
        self.profile = profile
        self.traits = traits_for(profile)
        self.root = Path(root) if root is not None else data_dir() / "jobs"
        self.jobs = LocalJobs(self.root, profile.id, python=python)
        self.python = python
        self.serving_root = serving_root
        self.hardware = hardware or detect_hardware()

    def __enter__(self) -> LocalTrainingBackend:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to let go of: training runs in its own process."""

    # What it offers ------------------------------------------------------------------------

    def parameters(self, method: str) -> tuple[ParameterSpec, ...]:
        return tuple(s for s in parameters_for(self.hardware) if s.applies_to(method))

    def trainable_models(self, catalog: Catalog) -> list[TrainableModel]:
        """The listed small open models (with size, licence and time per epoch here), then
        the model folders used before; ``folder_model`` adds any other folder."""
        models = [
            TrainableModel(
                id=base.id,
                label=base.label,
                methods=METHODS,
                context_limit=base.context,
                exact_tokens=False,
                note=base.summary(self.hardware),
            )
            for base in BASE_MODELS
        ]
        seen = {m.id for m in models}
        for job_id in self.jobs.job_ids():
            try:
                used = self.jobs.view(job_id).request.model
            except JobError:
                continue
            if used not in seen and not looks_like_hub_id(used):
                seen.add(used)
                if model_folder_problem(Path(used)) is None:
                    models.append(self.folder_model(Path(used)))
        return models

    def folder_model(self, folder: Path) -> TrainableModel:
        """A model folder on disk as a base to train (``ProviderError`` when it is not one)."""
        problem = model_folder_problem(folder)
        if problem is not None:
            raise _refuse(problem, "Choose another folder, or one of the listed models.")
        return TrainableModel(
            id=str(folder),
            label=f"{folder.name} (folder)",
            methods=METHODS,
            exact_tokens=False,
            note=f"The model in {folder}.",
        )

    def estimate_price(self, request: TrainingRequest) -> PriceEstimate | None:
        """Training here costs nothing but time."""
        return None

    # Files ---------------------------------------------------------------------------------

    def file_usable(self, file_id: str, size: int) -> bool:
        path = self.jobs.files.path(file_id)
        return path is not None and path.stat().st_size == size

    def find_file(self, name: str, size: int) -> str | None:
        stem = name.rsplit(".", 1)[0]
        return self.jobs.files.find(stem.rsplit("-", 1)[-1], size)

    def upload(
        self,
        data: bytes,
        name: str,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Keep the dataset on this computer, under its SHA-256."""
        if should_cancel is not None and should_cancel():
            raise UploadCancelled
        try:
            file_id = self.jobs.files.put(data)
        except OSError as exc:
            raise _refuse(
                f"The dataset could not be kept on this computer ({exc.strerror or exc}).",
                "Free some disk space, then try again.",
                ErrorKind.UNKNOWN,
            ) from exc
        if progress is not None:
            progress(len(data), len(data))
        return file_id

    # Jobs ----------------------------------------------------------------------------------

    def _base_problem(self, model: str) -> str | None:
        if looks_like_hub_id(model):
            return None
        if not Path(model).is_absolute() and not Path(model).exists():
            return (
                f"“{model}” is neither a model folder on this computer nor a Hugging Face model "
                "name (owner/model)."
            )
        return model_folder_problem(Path(model))

    def create_job_once(
        self, request: TrainingRequest, request_id: str, options: CreateOptions
    ) -> Record:
        """Start training here; a request id already used returns that job, never a second."""
        existing = self.jobs.find_by_request(request_id)
        if existing is not None:
            return self.retrieve_job(existing)
        missing = unavailable_reason()
        if missing is not None:
            raise _refuse(
                "Training on this computer needs libraries that are not installed.",
                missing,
                ErrorKind.TRAINING_NOT_AVAILABLE,
            )
        if request.method not in METHODS:
            raise _refuse(
                f"This computer cannot train with the {request.method} method.",
                "Choose supervised or preference (DPO) training.",
            )
        problem = self._base_problem(request.model)
        if problem is not None:
            raise _refuse(problem, "Choose one of the listed models or a model folder.")
        specs = self.parameters(request.method)
        known = {s.name for s in specs}
        for name, value in request.parameters.items():
            spec = next((s for s in specs if s.name == name), None)
            if name not in known or spec is None:
                raise _refuse(
                    f"This computer has no setting called {name}.",
                    "Leave it out and train again.",
                )
            if (problem := spec.problem(value)) is not None:
                raise _refuse(problem, "Change the setting and train again.")
        settings = resolve_settings(request.parameters, specs, request.seed)
        metadata = {**dict(request.metadata), REQUEST_KEY: request_id}
        if request.suffix:
            metadata[SUFFIX_KEY] = request.suffix
        try:
            job_id = self.jobs.create(
                Request(
                    request_id=request_id,
                    created_at=time.time(),
                    model=request.model,
                    method=request.method,
                    parameters=dict(request.parameters),
                    training_file=request.training_file,
                    validation_file=request.validation_file,
                    suffix=request.suffix,
                    seed=request.seed,
                    metadata=metadata,
                ),
                settings,
                request.model,
            )
        except JobError as exc:
            raise _refuse(str(exc), "Start the training again.") from exc
        except OSError as exc:
            raise _refuse(
                f"The job could not be set up on this computer ({exc.strerror or exc}).",
                "Free some disk space, then try again.",
                ErrorKind.UNKNOWN,
            ) from exc
        return self.retrieve_job(job_id)

    def find_job(self, request_id: str) -> Record | None:
        job_id = self.jobs.find_by_request(request_id)
        return self._record(self.jobs.view(job_id)) if job_id is not None else None

    def list_jobs(self, after: str | None = None, limit: int = 20) -> RecordPage:
        ids = self.jobs.job_ids()
        start = ids.index(after) + 1 if after in ids else 0
        page = ids[start : start + limit]
        records = []
        for job_id in page:
            try:
                records.append(self._record(self.jobs.view(job_id)))
            except JobError:
                continue
        more = start + limit < len(ids)
        return RecordPage(records, page[-1] if more and page else None)

    def _view(self, job_id: str, *, pick_up: bool = False) -> JobView:
        try:
            return self.jobs.pick_up(job_id) if pick_up else self.jobs.view(job_id)
        except JobError as exc:
            raise _refuse(str(exc), "Refresh the job list.", ErrorKind.NOT_FOUND) from exc

    def retrieve_job(self, job_id: str, attempts: int = 3) -> Record:
        """The job as its folder tells; one cut short (the app or the computer stopped) is
        continued from its last checkpoint first."""
        return self._record(self._view(job_id, pick_up=True))

    def _record(self, view: JobView) -> Record:
        request, settings = view.request, view.spec.settings
        status = _STATUS[view.condition]
        last = view.last_step
        estimate = None
        if status is JobStatus.RUNNING and last is not None:
            eta = _number(last.get("eta_seconds"))
            moment = _number(last.get("time"))
            if eta is not None and moment is not None:
                estimate = moment + eta
        succeeded = status is JobStatus.SUCCEEDED
        hyperparameters: dict[str, Any] = {
            "n_epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
            "max_length": settings.max_length,
            "lora_r": settings.lora_rank,
            "lora_alpha": settings.lora_alpha,
        }
        if settings.max_steps:
            hyperparameters["max_steps"] = settings.max_steps
        if request.method == "dpo":
            hyperparameters["beta"] = settings.beta
        tokens = view.end.get("trained_tokens") if view.end is not None else None
        return job_record(
            job_id=view.job_id,
            status=status,
            model=request.model,
            provider_status=view.condition.value,
            created_at=request.created_at,
            finished_at=view.finished_at if status.is_terminal else None,
            estimated_finish=estimate,
            fine_tuned_model=(
                model_name(request.model, request.suffix, view.job_id) if succeeded else None
            ),
            method=request.method,
            hyperparameters=hyperparameters,
            suffix=request.suffix,
            seed=settings.seed,
            training_file=request.training_file,
            validation_file=request.validation_file,
            trained_tokens=tokens if isinstance(tokens, int) else None,
            error_message=view.error if status is JobStatus.FAILED else None,
            metadata=request.metadata,
        )

    def new_events(self, job_id: str, seen: Collection[str], attempts: int = 3) -> list[Record]:
        view = self._view(job_id)
        events = []
        for prefix, lines in (("p", view.progress), ("a", view.notes)):
            for number, line in lines:
                key = f"{prefix}{number}"
                if f"{job_id}-{key}" in seen:
                    continue
                record = _event(job_id, key, line)
                if record is not None:
                    events.append(record)
        events.sort(key=lambda e: (e["created_at"], e["id"]), reverse=True)
        return events

    def checkpoints(self, job_id: str, attempts: int = 3) -> list[Record]:
        view = self._view(job_id)
        losses: dict[int, dict[str, float]] = {}
        for _line_number, line in view.progress:
            step = line.get("step")
            if not isinstance(step, int):
                continue
            if line.get("event") == "step" and (loss := _number(line.get("loss"))) is not None:
                losses.setdefault(step, {})["train_loss"] = loss
            if line.get("event") == "eval" and (v := _number(line.get("valid_loss"))) is not None:
                losses.setdefault(step, {})["valid_loss"] = v
        request = view.request
        return [
            checkpoint_record(
                checkpoint_id=f"{job_id}:ckpt-step-{step}",
                model=model_name(request.model, request.suffix, job_id, step),
                job_id=job_id,
                step=step,
                created_at=folder.stat().st_mtime,
                metrics=losses.get(step, {}),
            )
            for step, folder in reversed(checkpoints(view.files))
        ]

    def results(
        self, job: JobSummary, have: Collection[str], attempts: int = 3
    ) -> list[tuple[str, str]]:
        """The curves come with the events; there is no separate results table."""
        return []

    def act(self, job_id: str, action: str) -> Record:
        calls: dict[str, Callable[[str], JobView]] = {
            "cancel": self.jobs.cancel,
            "pause": self.jobs.pause,
            "resume": self.jobs.resume,
        }
        if action not in calls:
            raise _refuse(
                f"{NAME} cannot {action} a training job.", "Cancel it, pause it or resume it."
            )
        try:
            return self._record(calls[action](job_id))
        except JobError as exc:
            raise _refuse(str(exc), "Refresh the job and try again.") from exc

    # Using the result ----------------------------------------------------------------------

    def chat_target(self, job: JobSummary, checkpoint_model: str | None = None) -> ChatTarget:
        model = checkpoint_model or job.fine_tuned_model or ""
        return ChatTarget(
            model=model,
            route=ChatRoute.DEPLOY_IN_APP,
            instructions=(
                "The app starts the model on this computer before the first reply (it takes a "
                "few seconds to a minute) and stops it when you are done."
            ),
        )

    def base_target(self, job: JobSummary) -> ChatTarget:
        """The job's base model, to compare the trained one with."""
        return replace(self.chat_target(job), model=job.base_model)

    def _adapter_of(self, name: str) -> tuple[JobView, Path] | None:
        parsed = parse_model_name(name)
        if parsed is None:
            return None
        job_id, step = parsed
        view = self._view(job_id)
        saved = dict(checkpoints(view.files))
        if step is None:
            folder = view.files.adapter
        elif step in saved:
            folder = saved[step]
        else:
            raise _refuse(
                f"The checkpoint at step {step} is no longer on this computer.",
                "Choose another checkpoint or the finished model.",
                ErrorKind.MODEL_NOT_FOUND,
            )
        if not (folder / "adapter_config.json").is_file():
            raise _refuse(
                "This job has no trained adapter yet.",
                "Wait until training has finished, or choose one of its checkpoints.",
                ErrorKind.MODEL_NOT_FOUND,
            )
        return view, folder

    def prepare_chat(
        self,
        target: ChatTarget,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Start ``transformers serve`` for the model (the trained adapter on its base, or a
        base model alone), wait until it answers, and return the name to ask it for; reach
        it through ``chat_profile(name)``."""
        if not target.model:
            raise _refuse(
                "Training has not finished, so there is no model to chat with yet.",
                "Wait until the job has finished.",
            )
        found = self._adapter_of(target.model)
        if found is not None:
            view, adapter = found
            served = serve_adapter(
                view.request.model,
                adapter,
                progress=progress,
                should_cancel=should_cancel,
                python=self.python,
                serving_root=self.serving_root,
            )
        else:
            served = serve_base(
                target.model,
                progress=progress,
                should_cancel=should_cancel,
                python=self.python,
                serving_root=self.serving_root,
            )
        return served.name

    def chat_profile(self, name: str) -> ProviderProfile:
        """The profile to chat with a model ``prepare_chat`` started (``ProviderError`` when it
        is not running any more: prepare it again)."""
        served = serving.find_server(name, self.serving_root)
        if served is None:
            raise _refuse(
                "The model is not running on this computer any more.",
                "Start it again to chat with it.",
                ErrorKind.MODEL_NOT_FOUND,
            )
        return chat_profile_for(served.base_url, served.port)

    def stop_serving(self, name: str) -> None:
        """Stop the chat server of ``name`` (it holds memory and processor while up)."""
        serving.stop_server(name, self.serving_root)

    def download_result(
        self,
        job: JobSummary,
        destination: Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Path:
        """Export the adapter, the exact training data, a README (and a Modelfile for Ollama
        when the base is a Llama, Mistral or Gemma) into a new folder under ``destination``."""
        from desktop.local_training.export import export_result

        if job.status is not JobStatus.SUCCEEDED:
            raise _refuse(
                "Training has not finished, so there is nothing to export yet.",
                "Wait until the job has finished.",
            )
        if should_cancel is not None and should_cancel():
            raise UploadCancelled
        view = self._view(job.id)
        try:
            folder = export_result(
                view.files,
                destination,
                adapter=view.files.adapter,
                base_folder=_base_folder(view.request.model),
                base_model=view.request.model,
                name=view.request.suffix or f"{short_name(view.request.model)}-{job.id}",
                steps=(view.end or {}).get("step"),
            )
        except OSError as exc:
            raise _refuse(
                f"The export could not be written ({exc.strerror or exc}).",
                "Choose another folder, or free some disk space, then try again.",
                ErrorKind.UNKNOWN,
            ) from exc
        if progress is not None:
            progress(1, 1)
        return folder


def _base_folder(model: str) -> Path | None:
    """The folder of a base model: the one given, or the Hub's downloaded copy (or None)."""
    if not looks_like_hub_id(model):
        return Path(model)
    if unavailable_reason(("huggingface_hub",)) is not None:
        return None
    from desktop.local_training import hub

    return hub.cached_model(model)


def _serving_problem() -> ProviderError | None:
    missing = unavailable_reason((*TRAINING_MODULES, *SERVING_MODULES))
    if missing is None:
        return None
    return _refuse(
        "Chatting with a model on this computer needs libraries that are not installed.",
        missing,
        ErrorKind.TRAINING_NOT_AVAILABLE,
    )


def _resolve_base(
    model: str,
    progress: Callable[[str], None] | None,
    should_cancel: CancelCheck | None,
) -> Path:
    """The base model's folder, downloading it from the Hub when it is not here yet."""
    folder = _base_folder(model)
    if folder is not None:
        problem = model_folder_problem(folder)
        if problem is not None:
            raise _refuse(problem, "Choose the base model the adapter was trained from.")
        return folder
    from desktop.local_training import hub

    say = progress or (lambda _text: None)

    def report(done: int, total: int) -> None:
        say(f"Downloading {model}: {100 * done / total if total else 100:.0f}%…")

    try:
        return hub.download_model(model, progress=report, should_cancel=should_cancel)
    except hub.DownloadCancelled:
        raise UploadCancelled from None
    except hub.HubError as exc:
        raise _refuse(exc.message, exc.next_step, ErrorKind.NO_NETWORK) from exc


def _served(
    folder: Path,
    progress: Callable[[str], None] | None,
    should_cancel: CancelCheck | None,
    python: str | None,
    serving_root: Path | None,
) -> ServedModel:
    try:
        return serving.start_server(
            folder,
            progress=progress,
            should_cancel=should_cancel,
            root=serving_root,
            python=python,
        )
    except serving.ServingCancelled:
        raise UploadCancelled from None
    except serving.ServingError as exc:
        raise _refuse(exc.message, exc.next_step, ErrorKind.SERVER_ERROR) from exc


def serve_adapter(
    base_model: str | Path,
    adapter: Path,
    *,
    progress: Callable[[str], None] | None = None,
    should_cancel: CancelCheck | None = None,
    python: str | None = None,
    serving_root: Path | None = None,
) -> ServedModel:
    """Chat with any LoRA adapter folder (trained here, or downloaded from Together AI and
    unpacked) on its base model (a folder or a Hub id): a ``ServedModel`` whose ``name`` and
    ``base_url`` the chat uses (``chat_profile_for``). ``ProviderError`` in plain words;
    ``UploadCancelled`` when stopped."""
    problem = _serving_problem()
    if problem is not None:
        raise problem
    base = _resolve_base(str(base_model), progress, should_cancel)
    try:
        folder = serving.with_adapter(base, Path(adapter), serving_root)
    except serving.ServingError as exc:
        raise _refuse(exc.message, exc.next_step) from exc
    except OSError as exc:
        raise _refuse(
            f"The model could not be prepared for chat ({exc.strerror or exc}).",
            "Free some disk space, then try again.",
            ErrorKind.UNKNOWN,
        ) from exc
    return _served(folder, progress, should_cancel, python, serving_root)


def serve_base(
    base_model: str,
    *,
    progress: Callable[[str], None] | None = None,
    should_cancel: CancelCheck | None = None,
    python: str | None = None,
    serving_root: Path | None = None,
) -> ServedModel:
    """Chat with a base model (a folder or a Hub id) as it is, to compare a trained one with."""
    problem = _serving_problem()
    if problem is not None:
        raise problem
    base = _resolve_base(base_model, progress, should_cancel)
    return _served(base, progress, should_cancel, python, serving_root)


def chat_profile_for(base_url: str, port: int) -> ProviderProfile:
    """A key-less local chat profile for a model served on this computer."""
    return profile_from_template(
        "local",
        display_name=f"{NAME} (chat)",
        base_url=base_url,
        profile_id=f"this-computer-chat-{port}",
    )

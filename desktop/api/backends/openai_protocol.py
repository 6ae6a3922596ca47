"""The OpenAI fine-tuning API, and the services that speak it: OpenAI, Azure OpenAI and
OpenAI-compatible hosts.

Its answers are already in the app's record format (``desktop.core.training``), so jobs,
events and checkpoints pass through as the SDK dumps them. ``fine_tuning`` holds the calls;
this class adds what the seam asks of every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from desktop.api import fine_tuning as ft
from desktop.api.backends.base import (
    CancelCheck,
    CreateOptions,
    ProgressCallback,
    RecordPage,
    TrainingBackend,
)
from desktop.api.client import with_retries
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError
from desktop.api.model_list import ModelInfo, catalog_facts, list_models
from desktop.api.profiles import ProviderKind, ProviderProfile
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobSummary
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
)

if TYPE_CHECKING:
    import openai

#: OpenAI takes no new fine-tuning jobs after this day, and retires the models on the next.
OPENAI_LAST_JOBS = date(2027, 1, 6)
OPENAI_LAST_SERVED = date(2027, 1, 14)
#: Azure OpenAI trains for existing customers until about this day; deployments run longer.
AZURE_LAST_JOBS = date(2027, 4, 1)
AZURE_LAST_SERVED = date(2027, 10, 1)

#: What the OpenAI API's hyperparameters are, in plain words.
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        name="n_epochs",
        label="Epochs",
        kind=ParameterKind.INT,
        help=(
            "An epoch is one pass over all your examples. More epochs teach them more firmly, "
            "cost more and can make the model repeat them word for word. Automatic lets the "
            "provider choose for your dataset size (1 to 50)."
        ),
        default=3,
        minimum=1,
        maximum=50,
        role=ParameterRole.EPOCHS,
    ),
    ParameterSpec(
        name="batch_size",
        label="Batch size",
        kind=ParameterKind.INT,
        help=(
            "How many examples the model looks at before each small adjustment. Larger batches "
            "learn more smoothly but more slowly; Automatic is right for most datasets (1 to "
            "256)."
        ),
        default=8,
        minimum=1,
        maximum=256,
        role=ParameterRole.BATCH_SIZE,
    ),
    ParameterSpec(
        name="learning_rate_multiplier",
        label="Learning-rate multiplier",
        kind=ParameterKind.FLOAT,
        help=(
            "How big each adjustment is, as a multiple of the provider's normal step. Lower it "
            "(e.g. 0.5) if the loss swings up and down; raise it if the model barely changes."
        ),
        default=1.0,
        minimum=0.01,
        maximum=50.0,
        decimals=2,
        role=ParameterRole.LEARNING_RATE,
    ),
    ParameterSpec(
        name="beta",
        label="Beta",
        kind=ParameterKind.FLOAT,
        help=(
            "How strongly preference training pushes toward the preferred answers (above 0, up "
            "to 2). Higher values follow your preferences more strictly."
        ),
        default=0.1,
        minimum=0.01,
        maximum=2.0,
        decimals=2,
        methods=("dpo",),
    ),
)

_AZURE_DEPLOY_STEPS = (
    "Azure serves a fine-tuned model only once it is deployed, and deploying needs a Microsoft "
    "Entra sign-in to Azure's management service, which an API key cannot do. In the Azure AI "
    "Foundry portal, open your resource, choose Fine-tuning, select this model and press "
    "Deploy (or run: az cognitiveservices account deployment create --name RESOURCE "
    "--resource-group GROUP --deployment-name NAME --model-name {model} --model-format OpenAI "
    "--model-version 1 --sku-name Standard --sku-capacity 1). Then enter the deployment's name "
    "here to chat with it."
)


def traits_for(profile: ProviderProfile) -> BackendTraits:
    """What a profile of this API family can do (no network)."""
    caps = profile.capabilities
    formats = (
        (ExampleKind.CHAT, ExampleKind.PREFERENCE) if "dpo" in caps.methods else (ExampleKind.CHAT,)
    )
    if profile.kind is ProviderKind.OPENAI:
        return BackendTraits(
            name="OpenAI",
            methods=caps.methods,
            formats=formats,
            integrations=("wandb",),
            can_pause=True,
            limits=(
                "The trained model cannot be downloaded; it runs only at OpenAI.",
                "No price is given before training; the app estimates it from your tokens.",
                "No new jobs after 2027-01-06, and the models stop answering on 2027-01-14.",
            ),
            takes_jobs_until=OPENAI_LAST_JOBS,
            serves_until=OPENAI_LAST_SERVED,
        )
    if profile.kind is ProviderKind.AZURE:
        return BackendTraits(
            name="Azure OpenAI",
            methods=caps.methods,
            formats=formats,
            integrations=("wandb",),
            can_pause=True,
            chat_routes=(ChatRoute.DEPLOY_ELSEWHERE,),
            limits=(
                "A trained model must be deployed in Azure (a Microsoft Entra sign-in, not the "
                "API key) before it can answer.",
                "The trained model cannot be downloaded.",
                "Training for existing customers only, until about 2027-04; deployments until "
                "about 2027-10.",
            ),
            takes_jobs_until=AZURE_LAST_JOBS,
            serves_until=AZURE_LAST_SERVED,
        )
    return BackendTraits(
        name=profile.display_name,
        methods=caps.methods,
        formats=formats,
        can_pause=False,
        limits=("Whether a trained model can be downloaded depends on the service.",),
    )


class OpenAIProtocolBackend(TrainingBackend):
    """Training through the OpenAI fine-tuning API, for one profile and key.

    Files over ``direct_limit`` bytes go up in ``part_size`` parts (the Uploads API).
    """

    def __init__(
        self,
        profile: ProviderProfile,
        client: openai.OpenAI,
        *,
        direct_limit: int = ft.DIRECT_UPLOAD_LIMIT,
        part_size: int = ft.PART_SIZE,
    ) -> None:
        self.profile = profile
        self.traits = traits_for(profile)
        self.client = client
        self.direct_limit = direct_limit
        self.part_size = part_size

    def __enter__(self) -> OpenAIProtocolBackend:
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

    # What it offers ------------------------------------------------------------------------

    def parameters(self, method: str) -> tuple[ParameterSpec, ...]:
        """Epochs, batch size and learning-rate multiplier (and beta for DPO)."""
        return tuple(spec for spec in PARAMETERS if spec.applies_to(method))

    def trainable_models(self, catalog: Catalog) -> list[TrainableModel]:
        """The models worth offering: the provider's fine-tunable base models (those the app's
        catalog or the profile knows) and the user's own fine-tunes, to train further. A host
        the catalog does not know at all has every model it lists offered."""
        facts = catalog_facts(catalog)
        listed = with_retries(lambda: list_models(self.client, facts))
        known = set(self.profile.capabilities.catalog_models)
        ids = [m.id for m in listed]
        if not known and not any(catalog.get(i) for i in ids):
            chosen = listed
        else:
            chosen = [
                m
                for m in listed
                if not m.is_fine_tuned
                and (m.id in known or ((info := catalog.get(m.id)) is not None and info.id == m.id))
            ]
            chosen += [m for m in listed if m.is_fine_tuned and ":ckpt-step-" not in m.id]
        return [self._trainable(model, catalog) for model in chosen]

    def _trainable(self, model: ModelInfo, catalog: Catalog) -> TrainableModel:
        info = catalog.get(model.id)
        methods = self.profile.capabilities.methods
        trainable = (
            TrainableModel.from_catalog(info, methods)
            if info is not None
            else TrainableModel(id=model.id, label=model.id, methods=methods, exact_tokens=False)
        )
        catalog_day = info.shutdown_date.isoformat() if info and info.shutdown_date else None
        if model.shutdown_source == "provider" and model.shutdown_date != catalog_day:
            note = f"The provider says it shuts down on {model.shutdown_date}."
            trainable = replace(trainable, note=note)
        return replace(trainable, id=model.id)

    def estimate_price(self, request: TrainingRequest) -> PriceEstimate | None:
        """The OpenAI API gives no price before training: the app estimates it itself."""
        return None

    # Files ---------------------------------------------------------------------------------

    def file_usable(self, file_id: str, size: int) -> bool:
        held = ft.retrieve_file(self.client, file_id)
        return held is not None and held.purpose == "fine-tune" and held.bytes in (None, size)

    def find_file(self, name: str, size: int) -> str | None:
        found = ft.find_uploaded_file(self.client, name, size, attempts=1)
        return found.id if found is not None else None

    def upload(
        self,
        data: bytes,
        name: str,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        return ft.upload_file(
            self.client,
            data,
            filename=name,
            progress=progress,
            should_cancel=should_cancel,
            direct_limit=self.direct_limit,
            part_size=self.part_size,
        ).id

    # Jobs ----------------------------------------------------------------------------------

    def create_job_once(
        self, request: TrainingRequest, request_id: str, options: CreateOptions
    ) -> Record:
        def retrying(friendly: FriendlyError) -> None:
            if options.on_retry is not None:
                options.on_retry(friendly.message)

        job = ft.create_job_once(
            self.client,
            self.profile,
            request=ft.JobRequest(
                model=request.model,
                training_file=request.training_file,
                validation_file=request.validation_file,
                method=request.method,
                hyperparameters=dict(request.parameters),
                suffix=request.suffix or None,
                seed=request.seed,
                metadata=dict(request.metadata) or None,
                integrations=request.integrations,
            ),
            request_id=request_id,
            look_first=options.look_first,
            retry_delay=options.retry_delay,
            lookup_waits=options.lookup_waits,
            sleep=options.sleep or time.sleep,
            on_retry=retrying,
            on_look=options.on_look,
            give_up=options.give_up,
        )
        return job.model_dump()

    def find_job(self, request_id: str) -> Record | None:
        job = ft.find_job_by_request(self.client, request_id)
        return job.model_dump() if job is not None else None

    def list_jobs(self, after: str | None = None, limit: int = 20) -> RecordPage:
        page = ft.list_jobs(self.client, after=after, limit=limit)
        return RecordPage([job.model_dump() for job in page.items], page.next_after)

    def retrieve_job(self, job_id: str, attempts: int = 3) -> Record:
        return ft.retrieve_job(self.client, job_id, attempts=attempts).model_dump()

    def new_events(self, job_id: str, seen: Collection[str], attempts: int = 3) -> list[Record]:
        """Pages of events, newest first, until one holds an event already seen."""
        fresh: list[Record] = []
        after: str | None = None
        for _ in range(MAX_EVENT_PAGES):
            page = ft.list_events(
                self.client, job_id, after=after, limit=EVENTS_PAGE, attempts=attempts
            )
            for event in page.items:
                if event.id in seen:
                    return fresh
                fresh.append(event.model_dump())
            after = page.next_after
            if after is None:
                break
        return fresh

    def checkpoints(self, job_id: str, attempts: int = 3) -> list[Record]:
        page = ft.list_checkpoints(self.client, job_id, limit=EVENTS_PAGE, attempts=attempts)
        return [checkpoint.model_dump() for checkpoint in page.items]

    def results(
        self, job: JobSummary, have: Collection[str], attempts: int = 3
    ) -> list[tuple[str, str]]:
        return [
            (file_id, ft.download_results_csv(self.client, file_id, attempts=attempts))
            for file_id in job.result_files
            if file_id not in have
        ]

    def act(self, job_id: str, action: str) -> Record:
        calls = {"cancel": ft.cancel_job, "pause": ft.pause_job, "resume": ft.resume_job}
        if action not in calls or (action != "cancel" and not self.traits.can_pause):
            raise ProviderError(
                FriendlyError(
                    kind=ErrorKind.INVALID_REQUEST,
                    message=f"{self.traits.name} cannot {action} a training job.",
                    next_step="Cancel the job instead, or leave it to finish.",
                    retryable=False,
                )
            )
        job: Any = calls[action](self.client, job_id)
        return job.model_dump()

    def chat_target(self, job: JobSummary, checkpoint_model: str | None = None) -> ChatTarget:
        model = checkpoint_model or job.fine_tuned_model or ""
        if self.profile.kind is ProviderKind.AZURE:
            return ChatTarget(
                model=model,
                route=ChatRoute.DEPLOY_ELSEWHERE,
                instructions=_AZURE_DEPLOY_STEPS.format(model=model or "MODEL"),
            )
        return ChatTarget(model=model, route=ChatRoute.SAME_PROFILE)

    # Using the result ----------------------------------------------------------------------

    def prepare_chat(
        self,
        target: ChatTarget,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """The model answers by its name already, except on Azure, where it must first be
        deployed outside the app."""
        if target.route is ChatRoute.DEPLOY_ELSEWHERE:
            raise ProviderError(
                FriendlyError(
                    kind=ErrorKind.INVALID_REQUEST,
                    message="Azure serves a fine-tuned model only after it is deployed.",
                    next_step=target.instructions or "Deploy it in the Azure AI Foundry portal.",
                    retryable=False,
                )
            )
        return target.model

    def chat_profile(self, name: str) -> ProviderProfile:
        """A hosted model answers through this same profile."""
        return self.profile

    def stop_serving(self, name: str) -> None:
        """Nothing runs on its own here: a model is billed only for what it answers."""

    def download_result(
        self,
        job: JobSummary,
        destination: Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Path:
        raise ProviderError(
            FriendlyError(
                kind=ErrorKind.INVALID_REQUEST,
                message=f"{self.traits.name} does not let a trained model be downloaded.",
                next_step=(
                    "Keep the job's archive (the exact training data is in it) to train the "
                    "same model elsewhere, for example with Together AI or on this computer."
                ),
                retryable=False,
            )
        )


#: Events asked for per page while catching up (the API's maximum).
EVENTS_PAGE = 100
#: A provider that keeps saying "more" is not followed further than this in one poll.
MAX_EVENT_PAGES = 1000

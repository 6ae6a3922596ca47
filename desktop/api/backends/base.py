"""The one seam every training service is reached through.

A backend wraps one provider's API for one profile and key. It speaks the app's terms
(``desktop.core.training``): it declares its parameters, models, formats and limits; takes a
``TrainingRequest``; and hands back jobs, events (metrics per step among them) and
checkpoints as records in the app's format. Every failure is a ``ProviderError`` with one
plain sentence, so nothing above this layer knows which SDK or HTTP library is underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from desktop.api.errors import UploadCancelled as UploadCancelled  # raised by ``upload``
from desktop.api.profiles import ProviderProfile
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobSummary
from desktop.core.training import (
    BackendTraits,
    ChatTarget,
    ParameterSpec,
    PriceEstimate,
    Record,
    TrainableModel,
    TrainingRequest,
)

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
#: Waits a number of seconds (``time.sleep``; tests pass a fake clock's advance).
Sleep = Callable[[float], object]
#: Told before each look for a lost result: (this look's number, how many looks in all).
LookCallback = Callable[[int, int], None]
#: Told when a refused request is about to be sent again: one plain sentence.
RetryCallback = Callable[[str], None]


@dataclass(frozen=True)
class RecordPage:
    """One page of a list, newest first, and the cursor of the next (None at the end)."""

    records: list[Record]
    next_after: str | None


@dataclass(frozen=True)
class CreateOptions:
    """How hard ``create_job_once`` tries: the waits before each look for a job whose answer
    was lost, the pause before re-sending after a rate limit, and who is told what."""

    lookup_waits: Sequence[float]
    retry_delay: float = 2.0
    look_first: bool = False
    sleep: Sleep | None = None
    on_retry: RetryCallback | None = None
    on_look: LookCallback | None = None
    give_up: CancelCheck | None = None


class TrainingBackend(Protocol):
    """One provider's training API, for one profile and key (see the module docstring).

    Use it as a context manager: leaving the block closes its connections.
    """

    profile: ProviderProfile
    traits: BackendTraits

    def __enter__(self) -> TrainingBackend: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def close(self) -> None:
        """Let go of the connections."""
        ...

    # What it offers ------------------------------------------------------------------------

    def parameters(self, method: str) -> tuple[ParameterSpec, ...]:
        """The settings a job of ``method`` accepts (no network)."""
        ...

    def trainable_models(self, catalog: Catalog) -> list[TrainableModel]:
        """The base models this account can train, best first (asks the provider)."""
        ...

    def estimate_price(self, request: TrainingRequest) -> PriceEstimate | None:
        """The provider's own price for the job before it starts; None when it gives none."""
        ...

    # Files ---------------------------------------------------------------------------------

    def file_usable(self, file_id: str, size: int) -> bool:
        """True when the provider still holds this uploaded file, whole and ready to train."""
        ...

    def find_file(self, name: str, size: int) -> str | None:
        """The id of a file the provider lists with this name and size (the name carries the
        content's hash, so this finds an upload whose answer was lost); None if none."""
        ...

    def upload(
        self,
        data: bytes,
        name: str,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Send a dataset file and return its id; raises ``UploadCancelled`` when stopped.
        A lost answer raises a ``ProviderError`` for which ``may_have_acted`` is true."""
        ...

    # Jobs ----------------------------------------------------------------------------------

    def create_job_once(
        self, request: TrainingRequest, request_id: str, options: CreateOptions
    ) -> Record:
        """Create the job at most once, even when an answer is lost (see the OpenAI backend
        for the rules every backend follows); ``UNKNOWN_OUTCOME`` when it cannot tell."""
        ...

    def find_job(self, request_id: str) -> Record | None:
        """The job an earlier create request with this id made, if the provider lists it."""
        ...

    def list_jobs(self, after: str | None = None, limit: int = 20) -> RecordPage:
        """One page of the account's jobs, newest first."""
        ...

    def retrieve_job(self, job_id: str, attempts: int = 3) -> Record:
        """The job as it is now."""
        ...

    def new_events(self, job_id: str, seen: Collection[str], attempts: int = 3) -> list[Record]:
        """Events not in ``seen`` (by id), newest first, metric points included."""
        ...

    def checkpoints(self, job_id: str, attempts: int = 3) -> list[Record]:
        """The checkpoints the provider keeps for the job."""
        ...

    def results(
        self, job: JobSummary, have: Collection[str], attempts: int = 3
    ) -> list[tuple[str, str]]:
        """Results tables of a finished job not in ``have``: (file id, CSV text) pairs."""
        ...

    def act(self, job_id: str, action: str) -> Record:
        """``cancel``, ``pause`` or ``resume`` the job; what the provider says it is now."""
        ...

    def chat_target(self, job: JobSummary, checkpoint_model: str | None = None) -> ChatTarget:
        """How to chat with the job's model (or one of its checkpoints)."""
        ...

    # Using the result ----------------------------------------------------------------------

    def prepare_chat(
        self,
        target: ChatTarget,
        progress: Callable[[str], None] | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> str:
        """Make ``target`` answer (deploy it, start its endpoint, wait until it is up) and
        return the model name to chat with through this profile. A target that needs nothing
        comes back as it is; one that cannot be prepared in the app (Azure) raises a
        ``ProviderError`` whose next step says what to do instead."""
        ...

    def chat_profile(self, name: str) -> ProviderProfile:
        """The profile to chat with ``name`` through, once ``prepare_chat`` returned it: this
        backend's own for a hosted service; a local server's for a model served on this
        computer (``ProviderError`` when that stopped: prepare it again)."""
        ...

    def stop_serving(self, name: str) -> None:
        """Stop what ``prepare_chat`` started when it costs money while up (an endpoint)."""
        ...

    def download_result(
        self,
        job: JobSummary,
        destination: Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Path:
        """Download the trained weights (an adapter) into ``destination`` (a folder) and
        return the file written; ``ProviderError`` when the provider does not offer them."""
        ...


#: Builds a backend for a profile (the key is looked up by whoever makes the factory).
BackendFactory = Callable[[ProviderProfile], TrainingBackend]

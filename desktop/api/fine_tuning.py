"""Thin, typed wrappers over the SDK's Files, Uploads and fine-tuning calls.

They add what the screens need and the SDK does not: a progress callback and a cancel check
for uploads (Files API up to 512 MB, streamed so progress is real; the Uploads API in parts
above that), the profile's capability checks before anything is sent, the provider's extra
body fields, a job creation that is never sent twice (tagged with a request id that is looked
up before any retry), our retry policy, and ``ProviderError`` as the only failure type.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from desktop.api.client import MAX_RETRY_DELAY_SECONDS, with_retries
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    ProviderError,
    UploadCancelled,
    friendly_error,
    may_have_acted,
    unknown_outcome,
    wait_words,
)
from desktop.api.profiles import ProviderProfile
from desktop.core.jobs import SUFFIX_KEY
from desktop.core.training import REQUEST_KEY, WandbIntegration

if TYPE_CHECKING:
    import openai
    from openai.types import FileObject
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

T = TypeVar("T")

DIRECT_UPLOAD_LIMIT = 512 * 1024 * 1024
PART_SIZE = 64 * 1024 * 1024
JSONL_MIME = "text/jsonl"
#: How many pages of the job list to search for a job whose create answer was lost.
LOOKUP_PAGES = 3
#: Seconds to wait before each look for a job whose create answer was lost: 79 s in all,
#: because a slow provider may list a job it made many seconds after the request.
LOOKUP_WAITS: tuple[float, ...] = (2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 20.0)

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
#: Waits a number of seconds (``time.sleep``; tests pass a fake clock's advance).
Sleep = Callable[[float], object]
#: Told before each look for a lost result: (this look's number, how many looks in all).
LookCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list."""

    items: list[T]
    has_more: bool

    @property
    def next_after(self) -> str | None:
        """The cursor for the next page, if there is one."""
        if not self.has_more or not self.items:
            return None
        return str(getattr(self.items[-1], "id", None) or "") or None


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


class _ReportingReader(io.BytesIO):
    """Bytes the SDK streams from in chunks; each read reports progress and checks for cancel."""

    def __init__(self, data: bytes, report: ProgressCallback, cancelled: CancelCheck) -> None:
        super().__init__(data)
        self._total = len(data)
        self._report = report
        self._cancelled = cancelled

    def read(self, size: int | None = -1) -> bytes:
        if self._cancelled():
            raise UploadCancelled
        chunk = super().read(size)
        self._report(min(self.tell(), self._total), self._total)
        return chunk


def upload_file(
    client: openai.OpenAI,
    source: Path | bytes,
    *,
    filename: str | None = None,
    purpose: str = "fine-tune",
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    direct_limit: int = DIRECT_UPLOAD_LIMIT,
    part_size: int = PART_SIZE,
) -> FileObject:
    """Upload a JSONL file (a path, or bytes named ``filename``), in parts through the Uploads
    API when it is over ``direct_limit``; raises ``UploadCancelled`` when stopped."""
    if isinstance(source, Path):
        name = filename or source.name
        size = source.stat().st_size
    else:
        if not filename:
            raise ValueError("Bytes to upload need a file name.")
        name, size = filename, len(source)
    report = progress or (lambda _sent, _total: None)
    cancelled = should_cancel or (lambda: False)
    if cancelled():
        raise UploadCancelled
    report(0, size)
    if size > direct_limit:
        return _upload_in_parts(client, source, name, size, purpose, report, cancelled, part_size)
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    try:
        created = with_retries(
            lambda: client.files.create(
                file=(name, _ReportingReader(data, report, cancelled)),
                purpose=purpose,  # type: ignore[arg-type]
            ),
            idempotent=False,
        )
    except ProviderError:
        if cancelled():
            raise UploadCancelled from None
        raise
    report(size, size)
    return created


def _chunks(source: Path | bytes, part_size: int) -> Iterator[bytes]:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            while chunk := handle.read(part_size):
                yield chunk
        return
    view = memoryview(source)
    for start in range(0, len(view), part_size):
        yield bytes(view[start : start + part_size])


def _upload_in_parts(
    client: openai.OpenAI,
    source: Path | bytes,
    name: str,
    size: int,
    purpose: str,
    report: ProgressCallback,
    cancelled: CancelCheck,
    part_size: int,
) -> FileObject:
    upload = with_retries(
        lambda: client.uploads.create(
            bytes=size,
            filename=name,
            mime_type=JSONL_MIME,
            purpose=purpose,  # type: ignore[arg-type]
        ),
        idempotent=False,
    )
    part_ids: list[str] = []
    digest = hashlib.md5(usedforsecurity=False)
    sent = 0
    try:
        for chunk in _chunks(source, part_size):
            if cancelled():
                raise UploadCancelled
            # An unused part is harmless (only listed part_ids count), so parts may be retried.
            part = with_retries(
                lambda data=chunk: client.uploads.parts.create(upload.id, data=data)
            )
            part_ids.append(part.id)
            digest.update(chunk)
            sent += len(chunk)
            report(sent, size)
        if cancelled():
            raise UploadCancelled
        done = with_retries(
            lambda: client.uploads.complete(upload.id, part_ids=part_ids, md5=digest.hexdigest()),
            idempotent=False,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            client.uploads.cancel(upload.id)
        raise
    if done.file is None:
        raise _refuse(
            "The provider finished the upload but did not return a file.",
            "Try the upload again.",
        )
    return done.file


def retrieve_file(client: openai.OpenAI, file_id: str) -> FileObject | None:
    """The file's record, or None when the provider no longer has it (deleted or expired)."""
    try:
        return with_retries(lambda: client.files.retrieve(file_id))
    except ProviderError as exc:
        if exc.friendly.kind is ErrorKind.NOT_FOUND:
            return None
        raise


def list_files(
    client: openai.OpenAI,
    *,
    purpose: str = "fine-tune",
    after: str | None = None,
    limit: int = 100,
    attempts: int = 3,
) -> Page[FileObject]:
    """One page of the provider's files of one purpose, newest first."""
    options: dict[str, Any] = {"purpose": purpose, "limit": limit, "order": "desc"}
    if after:
        options["after"] = after
    page = with_retries(lambda: client.files.list(**options), attempts=attempts)
    return Page(list(page.data), bool(getattr(page, "has_more", False)))


def find_uploaded_file(
    client: openai.OpenAI, filename: str, size: int, *, attempts: int = 3
) -> FileObject | None:
    """The newest usable fine-tune file the provider holds with this name and size, if any.

    Used to learn whether an upload whose answer was lost arrived after all; the name must
    identify the content (``jobs_service`` puts the content's hash in it).
    """
    after: str | None = None
    for _ in range(LOOKUP_PAGES):
        page = list_files(client, after=after, attempts=attempts)
        for held in page.items:
            if held.filename == filename and held.bytes == size and held.status != "error":
                return held
        after = page.next_after
        if after is None:
            return None
    return None


def wandb_entry(integration: WandbIntegration) -> dict[str, Any]:
    """The ``integrations`` entry of a create request for Weights & Biases."""
    wandb: dict[str, Any] = {"project": integration.project.strip()}
    if integration.name:
        wandb["name"] = integration.name
    if integration.entity:
        wandb["entity"] = integration.entity
    if integration.tags:
        wandb["tags"] = list(integration.tags)
    return {"type": "wandb", "wandb": wandb}


@dataclass(frozen=True)
class JobRequest:
    """Everything a create request says about the job (hyperparameter None means "auto")."""

    model: str
    training_file: str
    validation_file: str | None = None
    method: str = "supervised"
    hyperparameters: Mapping[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] | None = None
    integrations: Sequence[WandbIntegration] = ()


def _create_arguments(profile: ProviderProfile, request: JobRequest) -> dict[str, Any]:
    """The create request's arguments, after refusing locally what the profile cannot do."""
    caps = profile.capabilities
    method = request.method
    if not caps.fine_tuning:
        raise _refuse(
            f"{profile.display_name} cannot train models.",
            "Choose a provider profile that offers fine-tuning.",
        )
    if method not in caps.methods:
        raise _refuse(
            f"{profile.display_name} does not offer this training method ({method}).",
            "Pick another method or another provider profile.",
            param="method.type",
        )
    if request.suffix:
        problem = caps.suffix_problem(request.suffix)
        if problem is not None:
            raise _refuse(problem, "Change the suffix and try again.", param="suffix")
    for integration in request.integrations:
        problem = integration.problem()
        if problem is not None:
            raise _refuse(problem, "Change the Weights & Biases settings.", param="integrations")
    hp = {k: v for k, v in (request.hyperparameters or {}).items() if v is not None}
    arguments: dict[str, Any] = {
        "model": request.model,
        "training_file": request.training_file,
        "method": {"type": method, method: {"hyperparameters": hp}},
    }
    if request.validation_file:
        arguments["validation_file"] = request.validation_file
    if request.suffix:
        arguments["suffix"] = request.suffix
    if request.seed is not None:
        arguments["seed"] = request.seed
    if request.metadata:
        arguments["metadata"] = dict(request.metadata)
    if request.integrations:
        arguments["integrations"] = [wandb_entry(i) for i in request.integrations]
    if caps.extra_body:
        arguments["extra_body"] = dict(caps.extra_body)
    return arguments


def create_job(
    client: openai.OpenAI,
    profile: ProviderProfile,
    *,
    model: str,
    training_file: str,
    validation_file: str | None = None,
    method: str = "supervised",
    hyperparameters: Mapping[str, Any] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    metadata: Mapping[str, str] | None = None,
    integrations: Sequence[WandbIntegration] = (),
) -> FineTuningJob:
    """Start a job after checking the profile supports it; never sent twice (only rate limits,
    which the provider certainly did not act on, are retried). See ``create_job_once``."""
    request = JobRequest(
        model=model,
        training_file=training_file,
        validation_file=validation_file,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed,
        metadata=metadata,
        integrations=integrations,
    )
    arguments = _create_arguments(profile, request)
    return with_retries(lambda: client.fine_tuning.jobs.create(**arguments), idempotent=False)


def find_job_by_request(
    client: openai.OpenAI, request_id: str, *, attempts: int = 3
) -> FineTuningJob | None:
    """The job a create request with this id made, if the provider has it.

    Asks with the metadata filter, and also checks each job's metadata itself, since not every
    provider filters (a provider that ignores the filter returns every job, newest first).
    """
    after: str | None = None
    for _ in range(LOOKUP_PAGES):
        page = list_jobs(
            client, after=after, limit=100, metadata={REQUEST_KEY: request_id}, attempts=attempts
        )
        for job in page.items:
            if (job.metadata or {}).get(REQUEST_KEY) == request_id:
                return job
        after = page.next_after
        if after is None:
            return None
    return None


def wait_for_job(
    client: openai.OpenAI,
    request_id: str,
    *,
    waits: Sequence[float] = LOOKUP_WAITS,
    sleep: Sleep = time.sleep,
    on_look: LookCallback | None = None,
    give_up: CancelCheck | None = None,
) -> FineTuningJob | None:
    """Look for the job of a create request after each of ``waits``; None if it never shows.

    A list that cannot be read this time is no answer either way: the next look tries again.
    """
    stop = give_up or (lambda: False)
    for number, wait in enumerate(waits, start=1):
        if stop():
            return None
        if on_look is not None:
            on_look(number, len(waits))
        sleep(wait)
        if stop():
            return None
        with contextlib.suppress(ProviderError):
            found = find_job_by_request(client, request_id, attempts=1)
            if found is not None:
                return found
    return None


def _is_job(value: object) -> bool:
    """True for an answer that really names a job (an unreadable one may parse into less)."""
    from openai.types.fine_tuning import FineTuningJob

    return isinstance(value, FineTuningJob) and isinstance(getattr(value, "id", None), str)


def _unreadable_job_answer() -> ProviderError:
    return ProviderError(
        FriendlyError(
            kind=ErrorKind.BAD_RESPONSE,
            message="The provider answered, but not with a job the app could read.",
            next_step="Try again; if it keeps happening, check the address in Settings.",
            retryable=False,
        )
    )


def create_job_once(
    client: openai.OpenAI,
    profile: ProviderProfile,
    *,
    request: JobRequest,
    request_id: str,
    look_first: bool = False,
    attempts: int = 3,
    retry_delay: float = 2.0,
    lookup_waits: Sequence[float] = LOOKUP_WAITS,
    sleep: Sleep = time.sleep,
    on_retry: Callable[[FriendlyError], None] | None = None,
    on_look: LookCallback | None = None,
    give_up: CancelCheck | None = None,
) -> FineTuningJob:
    """Create a job exactly once, even when an answer is lost on the way back.

    The request carries ``metadata[studio_request] = request_id``. It is sent again by itself
    only after a rate limit, which the provider refused before acting. After a failure that
    may have reached the provider (a dropped connection, a timeout, a server error, an answer
    that cannot be read) the job list is searched for that id again and again, with growing
    waits (``lookup_waits``, over a minute in all, since a slow provider lists a new job late).
    If the job never shows, ``ProviderError`` of kind ``UNKNOWN_OUTCOME`` is raised and the
    request is not repeated: only the user may decide to send it again, and ``look_first``
    then searches once more before sending.
    """
    if attempts < 1:
        raise ValueError("At least one attempt is needed.")
    tags = {REQUEST_KEY: request_id}
    if request.suffix:
        tags[SUFFIX_KEY] = request.suffix
    tagged = replace(request, metadata={**dict(request.metadata or {}), **tags})
    arguments = _create_arguments(profile, tagged)
    if look_first:
        found = find_job_by_request(client, request_id)
        if found is not None:
            return found
    for attempt in range(1, attempts + 1):
        try:
            created = client.fine_tuning.jobs.create(**arguments)
        except Exception as exc:
            failure = ProviderError(friendly_error(exc))
            failure.__cause__ = exc
        else:
            if _is_job(created):
                return created
            failure = _unreadable_job_answer()
        friendly = failure.friendly
        if friendly.kind is ErrorKind.RATE_LIMITED and attempt < attempts:
            if on_retry is not None:
                on_retry(friendly)
            if friendly.retry_after is not None:
                delay = friendly.retry_after
            else:
                delay = retry_delay * 2 ** (attempt - 1)
            sleep(min(delay, MAX_RETRY_DELAY_SECONDS))
            continue  # refused before it was acted on: nothing to look for
        if not may_have_acted(failure):
            raise failure
        found = wait_for_job(
            client, request_id, waits=lookup_waits, sleep=sleep, on_look=on_look, give_up=give_up
        )
        if found is not None:
            return found
        raise ProviderError(
            unknown_outcome(
                friendly,
                message=(
                    "The provider's answer was lost, and the training job has not appeared in "
                    f"its job list after {wait_words(sum(lookup_waits))}, so it is not known "
                    "whether the job was started."
                ),
                next_step=(
                    "It may still appear: look again in a few minutes. Send it again only if "
                    "it does not, because if the provider did start it, a second job would be "
                    "billed too."
                ),
            )
        ) from failure
    raise failure


def list_jobs(
    client: openai.OpenAI,
    *,
    after: str | None = None,
    limit: int = 20,
    metadata: Mapping[str, str] | None = None,
    attempts: int = 3,
) -> Page[FineTuningJob]:
    """One page of jobs, newest first."""
    options: dict[str, Any] = {"limit": limit}
    if after:
        options["after"] = after
    if metadata:
        options["metadata"] = dict(metadata)
    page = with_retries(lambda: client.fine_tuning.jobs.list(**options), attempts=attempts)
    return Page(list(page.data), bool(page.has_more))


def retrieve_job(client: openai.OpenAI, job_id: str, *, attempts: int = 3) -> FineTuningJob:
    """The job's current state."""
    return with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id), attempts=attempts)


def cancel_job(client: openai.OpenAI, job_id: str) -> FineTuningJob:
    """Stop a job for good."""
    return with_retries(lambda: client.fine_tuning.jobs.cancel(job_id))


def pause_job(client: openai.OpenAI, job_id: str) -> FineTuningJob:
    """Pause a running job."""
    return with_retries(lambda: client.fine_tuning.jobs.pause(job_id))


def resume_job(client: openai.OpenAI, job_id: str) -> FineTuningJob:
    """Resume a paused job."""
    return with_retries(lambda: client.fine_tuning.jobs.resume(job_id))


def list_events(
    client: openai.OpenAI,
    job_id: str,
    *,
    after: str | None = None,
    limit: int = 100,
    attempts: int = 3,
) -> Page[FineTuningJobEvent]:
    """One page of events, newest first."""
    options: dict[str, Any] = {"limit": limit}
    if after:
        options["after"] = after
    page = with_retries(
        lambda: client.fine_tuning.jobs.list_events(job_id, **options), attempts=attempts
    )
    return Page(list(page.data), bool(page.has_more))


def list_checkpoints(
    client: openai.OpenAI,
    job_id: str,
    *,
    after: str | None = None,
    limit: int = 10,
    attempts: int = 3,
) -> Page[FineTuningJobCheckpoint]:
    """One page of checkpoints (providers keep only the last few epochs)."""
    options: dict[str, Any] = {"limit": limit}
    if after:
        options["after"] = after
    page = with_retries(
        lambda: client.fine_tuning.jobs.checkpoints.list(job_id, **options), attempts=attempts
    )
    return Page(list(page.data), bool(page.has_more))


def download_results_csv(client: openai.OpenAI, file_id: str, *, attempts: int = 3) -> str:
    """A job's results CSV as text, decoding the base64 form some responses use."""
    raw = with_retries(lambda: client.files.content(file_id).read(), attempts=attempts)
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith("step"):
        return text
    try:
        decoded = base64.b64decode(raw, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return text
    return decoded if decoded.lstrip().startswith("step") else text

"""Training jobs from start to finish, without Qt: upload once, create once, poll and archive.

Why a module of its own: the Jobs screen runs these steps on worker threads, and each must be
safe to repeat after a crash or a lost answer. Everything goes through a ``TrainingBackend``,
so the same steps serve every service. An upload is skipped when the provider already holds
the same bytes: the archive remembers what was sent (by SHA-256), and since an answer to an
upload can be lost, each uploaded file's name carries the start of its SHA-256 so the
provider's file list (name and size) tells whether it arrived. A job is created at most once
(see ``TrainingBackend.create_job_once``); and every poll saves what it learnt to the archive
before reporting it, so nothing seen is lost if the app stops mid-poll.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop.api import fine_tuning as ft
from desktop.api.backends.base import (
    CancelCheck,
    CreateOptions,
    ProgressCallback,
    Sleep,
    TrainingBackend,
    UploadCancelled,
)
from desktop.api.errors import ProviderError, may_have_acted
from desktop.api.profiles import ProviderProfile
from desktop.core.advice import Advice, advise
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.jobs import CheckpointSummary, JobStatus, JobSummary
from desktop.core.metrics import MetricsAccumulator, MetricSeries, MetricsFormatError
from desktop.core.training import TrainingRequest, WandbIntegration

#: What the screen shows of an event: (created_at, level, message). A plain tuple of atoms,
#: which Python's garbage collector stops tracking: a long job's tens of thousands of event
#: dicts kept alive would make every full collection in the app (which pauses the UI) slower.
EventLine = tuple[float, str, str]
StageCallback = Callable[[str], None]
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def event_line(event: Mapping[str, Any]) -> EventLine:
    """The event as the screen shows it."""
    created = event.get("created_at")
    moment = float(created) if isinstance(created, (int, float)) else 0.0
    level = event.get("level")
    message = event.get("message")
    return (
        moment,
        level if isinstance(level, str) else "info",
        message if isinstance(message, str) else "",
    )


# --------------------------------------------------------------------------------------------
# Starting a job
# --------------------------------------------------------------------------------------------


#: Hex digits of the content's SHA-256 put in an uploaded file's name (48 bits).
CONTENT_TAG_LENGTH = 12
#: Seconds to wait before each look for a file whose upload answer was lost.
FILE_LOOKUP_WAITS: tuple[float, ...] = (1.0, 3.0, 6.0)


@dataclass(frozen=True)
class TransferOptions:
    """Create tuning: tests shorten the waits before looking for what a lost answer may have
    made, and before sending again after a rate limit."""

    retry_delay: float = 2.0
    lookup_waits: tuple[float, ...] = ft.LOOKUP_WAITS
    file_lookup_waits: tuple[float, ...] = FILE_LOOKUP_WAITS


@dataclass(frozen=True)
class UploadedFile:
    """A training or validation file the provider holds, and whether it was already there."""

    role: str
    file_id: str
    sha256: str
    size: int
    reused: bool


@dataclass(frozen=True)
class TrainingPlan:
    """What the user confirmed: the exact bytes to train on and the job's settings.

    ``request_id`` tags the create request; keep the same plan to retry without a duplicate.
    """

    profile: ProviderProfile
    dataset_name: str
    training: bytes
    validation: bytes | None
    model: str
    request_id: str
    method: str = "supervised"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None
    integrations: Sequence[WandbIntegration] = ()


@dataclass(frozen=True)
class StartedJob:
    """A job the provider accepted, already saved in the archive."""

    provider_id: str
    summary: JobSummary
    job: dict[str, Any]
    uploads: tuple[UploadedFile, ...]


def upload_name(dataset_name: str, role: str) -> str:
    """The file name shown in the provider's dashboard: ``<dataset>-<role>.jsonl``."""
    stem = dataset_name.rsplit(".", 1)[0] if "." in dataset_name else dataset_name
    stem = _UNSAFE_NAME.sub("-", stem).strip("-.") or "dataset"
    return f"{stem[:60]}-{role}.jsonl"


def tagged_name(filename: str, sha256: str) -> str:
    """``filename`` with the start of the content's SHA-256 before its extension, so the
    provider's file list shows which content a file holds: ``a.jsonl`` → ``a-3f2a….jsonl``."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    tag = sha256[:CONTENT_TAG_LENGTH]
    return f"{stem}-{tag}.{extension}" if extension else f"{stem}-{tag}"


def _held_by_name(backend: TrainingBackend, name: str, size: int) -> str | None:
    """The id of a file the provider lists with this (content-tagged) name and size."""
    try:
        return backend.find_file(name, size)
    except ProviderError:
        return None  # the list cannot be read (or is not offered): nothing is known


def upload_dataset(
    backend: TrainingBackend,
    archive: JobArchive,
    provider_id: str,
    data: bytes,
    *,
    role: str,
    filename: str,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    options: TransferOptions | None = None,
    sleep: Sleep = time.sleep,
) -> UploadedFile:
    """Send ``data`` unless the provider already holds the same bytes from an earlier upload.

    The file is named ``filename`` with the content's hash added (see ``tagged_name``). The
    provider may hold it without the archive knowing, when the answer to an earlier upload
    was lost, so its file list is searched before sending, and again (after short waits)
    when this upload's answer is lost; a file found either way is used and not sent again.
    """
    options = options or TransferOptions()
    sha256 = hashlib.sha256(data).hexdigest()
    size = len(data)
    name = tagged_name(filename, sha256)

    def reused(file_id: str) -> UploadedFile:
        if progress is not None:
            progress(size, size)
        return UploadedFile(role, file_id, sha256, size, reused=True)

    known = archive.find_upload(provider_id, sha256)
    if known is not None and backend.file_usable(known, size):
        return reused(known)
    listed = _held_by_name(backend, name, size)
    if listed is not None:
        archive.record_upload(provider_id, listed, data, role)
        return reused(listed)
    try:
        created = backend.upload(data, name, progress, should_cancel)
    except ProviderError as exc:
        if not may_have_acted(exc):
            raise
        created = _look_for_file(backend, name, size, options.file_lookup_waits, sleep)
        if created is None:
            raise
    archive.record_upload(provider_id, created, data, role)
    return UploadedFile(role, created, sha256, size, reused=False)


def _look_for_file(
    backend: TrainingBackend, name: str, size: int, waits: Sequence[float], sleep: Sleep
) -> str | None:
    """Whether an upload whose answer was lost arrived: the file list, after each wait."""
    for wait in waits:
        sleep(wait)
        found = _held_by_name(backend, name, size)
        if found is not None:
            return found
    return None


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def upload_plan(
    backend: TrainingBackend,
    archive: JobArchive,
    plan: TrainingPlan,
    *,
    progress: ProgressCallback | None = None,
    stage: StageCallback | None = None,
    should_cancel: CancelCheck | None = None,
    options: TransferOptions | None = None,
    sleep: Sleep = time.sleep,
) -> tuple[UploadedFile, ...]:
    """Send the plan's files, or reuse them where the provider already holds them.

    Asking a provider for its price needs the files uploaded; doing it through here means
    Start finds them there and sends nothing twice. Progress counts both files together.
    """
    say = stage or (lambda _text: None)
    files = [("training", plan.training)]
    if plan.validation is not None:
        files.append(("validation", plan.validation))
    total = sum(len(data) for _, data in files)
    done_before = 0
    uploads: list[UploadedFile] = []
    for role, data in files:
        say(f"Sending the {role} examples ({_size_text(len(data))})…")
        offset = done_before
        uploaded = upload_dataset(
            backend,
            archive,
            plan.profile.id,
            data,
            role=role,
            filename=upload_name(plan.dataset_name, role),
            progress=(lambda sent, _size, base=offset: progress(base + sent, total))
            if progress is not None
            else None,
            should_cancel=should_cancel,
            options=options,
            sleep=sleep,
        )
        if uploaded.reused:
            say(f"The provider already has these {role} examples; they are not sent again.")
        uploads.append(uploaded)
        done_before += len(data)
    return tuple(uploads)


def training_request(plan: TrainingPlan, uploads: Sequence[UploadedFile]) -> TrainingRequest:
    """The job the plan describes, with its uploaded files."""
    ids = {u.role: u.file_id for u in uploads}
    return TrainingRequest(
        model=plan.model,
        training_file=ids["training"],
        validation_file=ids.get("validation"),
        method=plan.method,
        parameters=dict(plan.hyperparameters),
        suffix=plan.suffix or None,
        seed=plan.seed,
        integrations=tuple(plan.integrations),
    )


def start_training(
    backend: TrainingBackend,
    archive: JobArchive,
    plan: TrainingPlan,
    *,
    progress: ProgressCallback | None = None,
    stage: StageCallback | None = None,
    should_cancel: CancelCheck | None = None,
    options: TransferOptions | None = None,
    look_first: bool = False,
    sleep: Sleep = time.sleep,
) -> StartedJob:
    """Upload the files (or reuse them), create the job once, and archive it.

    Progress counts the bytes of both files together. Raises ``ProviderError`` with a plain
    sentence (of kind ``UNKNOWN_OUTCOME`` when the job may exist but could not be found: ask
    the user before sending again), or ``UploadCancelled`` when ``should_cancel`` turned true
    before the job was sent; once it is sent, ``should_cancel`` only stops the looking.
    ``look_first`` is for the user's "Send again": the job may exist from the failed attempt.
    ``sleep`` does every wait (tests pass a fake clock's).
    """
    options = options or TransferOptions()
    say = stage or (lambda _text: None)
    cancelled = should_cancel or (lambda: False)
    uploads = upload_plan(
        backend,
        archive,
        plan,
        progress=progress,
        stage=say,
        should_cancel=cancelled,
        options=options,
        sleep=sleep,
    )
    if cancelled():
        raise UploadCancelled
    say("Creating the training job…")

    def retrying(message: str) -> None:
        say(f"{message} Trying again in a moment…")

    def looking(number: int, total: int) -> None:
        say(
            "The provider's answer was lost; looking for the job in its job list "
            f"(look {number} of {total}) before anything is sent again…"
        )

    record = backend.create_job_once(
        training_request(plan, uploads),
        plan.request_id,
        CreateOptions(
            lookup_waits=options.lookup_waits,
            retry_delay=options.retry_delay,
            look_first=look_first,
            sleep=sleep,
            on_retry=retrying,
            on_look=looking,
            give_up=cancelled,
        ),
    )
    summary = archive.save_job(plan.profile.id, record)
    return StartedJob(plan.profile.id, summary, record, uploads)


def find_started_job(
    backend: TrainingBackend, archive: JobArchive, plan: TrainingPlan
) -> StartedJob | None:
    """The job an earlier attempt at ``plan`` made, archived, or None when the provider does
    not list one (yet): the user's "Look again" after an unknown outcome, sending nothing."""
    record = backend.find_job(plan.request_id)
    if record is None:
        return None
    summary = archive.save_job(plan.profile.id, record)
    return StartedJob(plan.profile.id, summary, record, ())


# --------------------------------------------------------------------------------------------
# Listing and acting on jobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobPage:
    """One page of the provider's job list, each job already saved in the archive."""

    provider_id: str
    summaries: tuple[JobSummary, ...]
    next_after: str | None
    first_page: bool


def list_job_page(
    backend: TrainingBackend,
    archive: JobArchive,
    provider_id: str,
    *,
    after: str | None = None,
    limit: int = 20,
) -> JobPage:
    """A page of jobs, newest first. Jobs the archive does not know yet (started elsewhere)
    are archived; known ones are left to their monitor, so a listing never makes a job look
    as if it had already been seen ending (which would swallow the "finished" notice)."""
    page = backend.list_jobs(after=after, limit=limit)
    known = {s.id for s in archive.list_jobs(provider_id)}
    summaries = []
    for record in page.records:
        if record.get("id") in known:
            summaries.append(JobSummary.from_dict(record, provider_id=provider_id))
        else:
            summaries.append(archive.save_job(provider_id, record))
    return JobPage(provider_id, tuple(summaries), page.next_after, after is None)


def act_on_job(
    backend: TrainingBackend, archive: JobArchive, provider_id: str, job_id: str, action: str
) -> JobSummary:
    """Cancel, pause or resume a job and archive the answer."""
    return archive.save_job(provider_id, backend.act(job_id, action))


# --------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPolicy:
    """How long to wait before the next poll, in seconds.

    Running jobs are polled often (the chart moves); waiting or paused ones less; failures back
    off exponentially up to ``error_max`` and never sooner than the provider's Retry-After.
    """

    running: float = 5.0
    waiting: float = 20.0
    paused: float = 30.0
    unknown: float = 30.0
    error_base: float = 10.0
    error_max: float = 300.0

    def delay(
        self, status: JobStatus, failures: int = 0, retry_after: float | None = None
    ) -> float | None:
        """Seconds until the next poll, or None when the job has ended."""
        if failures > 0:
            wait = min(self.error_max, self.error_base * 2 ** (failures - 1))
            return max(wait, retry_after or 0.0)
        if status.is_terminal:
            return None
        if status is JobStatus.RUNNING:
            return self.running
        if status in (JobStatus.VALIDATING_FILES, JobStatus.QUEUED):
            return self.waiting
        if status is JobStatus.PAUSED:
            return self.paused
        return self.unknown


@dataclass(frozen=True)
class JobSnapshot:
    """What a poll (or the archive) says about one job, for the screen.

    ``new_events`` are oldest first; ``full`` marks the first snapshot of a tracker, whose
    ``new_events`` are every event known. ``series`` and ``advice`` are None when the curves
    did not change. ``complete`` is True once nothing is left to fetch (monitoring stops).
    """

    provider_id: str
    summary: JobSummary
    previous_status: JobStatus | None
    new_events: tuple[EventLine, ...]
    checkpoints: tuple[CheckpointSummary, ...]
    series: MetricSeries | None
    advice: tuple[Advice, ...] | None
    full: bool
    complete: bool
    n_examples: int | None

    @property
    def just_finished(self) -> bool:
        """True when this poll saw the job end (it had not ended when last seen)."""
        return (
            self.summary.status.is_terminal
            and self.previous_status is not None
            and not self.previous_status.is_terminal
        )


def _checkpoint_order(checkpoint: CheckpointSummary) -> tuple[int, str]:
    return (checkpoint.step if checkpoint.step is not None else -1, checkpoint.id)


class JobTracker:
    """Everything known about one job, kept up to date by ``poll`` and saved as it goes.

    Not thread-safe: one worker at a time may use it (the screen runs polls one after another).
    """

    def __init__(self, archive: JobArchive, provider_id: str, job_id: str) -> None:
        self.archive = archive
        self.provider_id = provider_id
        self.job_id = job_id
        self.summary: JobSummary | None = None
        self._metrics = MetricsAccumulator()
        self._seen_events: set[str] = set()
        self._events: list[EventLine] = []
        self._checkpoints: dict[str, CheckpointSummary] = {}
        self._results: set[str] = set()
        self._n_examples: int | None = None
        self._counted_examples = False
        self._opened = False
        self._checkpoints_after_end = False
        self._last_series: MetricSeries | None = None
        self._reported: JobStatus | None = None

    @classmethod
    def open(cls, archive: JobArchive, provider_id: str, job_id: str) -> JobTracker:
        """A tracker that starts from what the archive holds (nothing, for a new job)."""
        tracker = cls(archive, provider_id, job_id)
        tracker._load()
        return tracker

    def _load(self) -> None:
        try:
            archived = self.archive.load(self.provider_id, self.job_id)
        except ArchiveError:
            return
        self.summary = archived.summary
        self._reported = archived.summary.status
        self._events = [event_line(e) for e in archived.events]
        self._metrics.add_events(archived.events)
        self._seen_events = {e["id"] for e in archived.events if isinstance(e.get("id"), str)}
        for file_id, path in archived.result_files.items():
            self._results.add(file_id)
            with contextlib.suppress(OSError, MetricsFormatError):
                self._metrics.merge_results_csv(path.read_bytes())
        self._add_checkpoints(archived.checkpoints)
        self._n_examples = archived.training_examples()
        self._counted_examples = True
        self._checkpoints_after_end = archived.summary.status.is_terminal and bool(
            self._checkpoints or archived.summary.status is not JobStatus.SUCCEEDED
        )

    def _add_checkpoints(self, checkpoints: Iterable[Mapping[str, Any]]) -> None:
        for raw in checkpoints:
            with contextlib.suppress(ValueError):
                checkpoint = CheckpointSummary.from_dict(raw)
                self._checkpoints[checkpoint.id] = checkpoint

    @property
    def complete(self) -> bool:
        """True once the job has ended and its checkpoints and results are archived."""
        summary = self.summary
        if summary is None or not summary.status.is_terminal:
            return False
        return self._checkpoints_after_end and set(summary.result_files) <= self._results

    def snapshot(self) -> JobSnapshot:
        """What is known now, every event included (for a screen that opens the job)."""
        if self.summary is None:
            raise ArchiveError(f"The job {self.job_id} is not in the archive.")
        self._opened = True
        return self._make_snapshot(tuple(self._events), full=True)

    def _make_snapshot(self, new_events: tuple[EventLine, ...], *, full: bool) -> JobSnapshot:
        assert self.summary is not None
        previous, self._reported = self._reported, self.summary.status
        series = self._metrics.series(n_epochs=self.summary.n_epochs)
        changed = full or series is not self._last_series
        self._last_series = series
        advice = None
        if changed:
            advice = tuple(
                advise(
                    series,
                    hyperparameters=self.summary.hyperparameters,
                    n_examples=self._n_examples,
                )
            )
        return JobSnapshot(
            provider_id=self.provider_id,
            summary=self.summary,
            previous_status=previous,
            new_events=new_events,
            checkpoints=tuple(sorted(self._checkpoints.values(), key=_checkpoint_order)),
            series=series if changed else None,
            advice=advice,
            full=full,
            complete=self.complete,
            n_examples=self._n_examples,
        )

    def poll(self, backend: TrainingBackend, *, attempts: int = 1) -> JobSnapshot:
        """Fetch the job, its new events, its checkpoints and (at the end) its results file.

        Each piece is archived before the next request, so a failure part-way loses nothing
        that was received; the next poll carries on from there. Raises ``ProviderError``.
        """
        before = self.summary.status if self.summary is not None else None
        record = backend.retrieve_job(self.job_id, attempts=attempts)
        self.summary = self.archive.save_job(self.provider_id, record)
        if not self._counted_examples:  # once: the first save links the archived dataset
            self._counted_examples = True
            with contextlib.suppress(ArchiveError, OSError):
                loaded = self.archive.load(self.provider_id, self.job_id)
                self._n_examples = loaded.training_examples()
        fresh = backend.new_events(self.job_id, self._seen_events, attempts=attempts)
        if fresh:
            self.archive.add_events(self.provider_id, self.job_id, fresh)
            self._metrics.add_events(fresh)
            self._seen_events.update(e["id"] for e in fresh if isinstance(e.get("id"), str))
        lines = [event_line(e) for e in reversed(fresh)]  # oldest first
        self._events.extend(lines)
        status = self.summary.status
        first = not self._opened
        active = status in (JobStatus.RUNNING, JobStatus.PAUSED)
        # a new status too: steps may have arrived in the poll that still saw the old one
        wants_checkpoints = active and (bool(fresh) or first or status is not before)
        if status is JobStatus.SUCCEEDED and not self._checkpoints_after_end:
            wants_checkpoints = True
        if wants_checkpoints:
            raw = backend.checkpoints(self.job_id, attempts=attempts)
            self.archive.save_checkpoints(self.provider_id, self.job_id, raw)
            self._add_checkpoints(raw)
        if status.is_terminal:
            self._checkpoints_after_end = True
            for file_id, text in backend.results(self.summary, self._results, attempts=attempts):
                self.archive.save_result_file(self.provider_id, self.job_id, file_id, text)
                with contextlib.suppress(MetricsFormatError):
                    self._metrics.merge_results_csv(text)
                self._results.add(file_id)
        new_events = tuple(self._events) if first else tuple(lines)
        self._opened = True
        return self._make_snapshot(new_events, full=first)

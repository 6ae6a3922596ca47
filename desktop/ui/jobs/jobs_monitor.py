"""Following one job: a single-shot QTimer starts one poll at a time on the thread pool, and
the next poll is planned when that one is done, at the pace ``PollPolicy`` sets (often while
training, slower while waiting, backing off on errors). Each poll saves what it learns to the
archive before the screen hears of it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError
from desktop.api.profiles import ProviderProfile
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.jobs import JobStatus
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.jobs_common import Failure, JobKey, failure

log = logging.getLogger(__name__)


class JobMonitor(QObject):
    """Keeps one job up to date: a poll at a time on the thread pool, paced by the policy."""

    #: A JobSnapshot from the archive or a poll.
    snapshot_ready = Signal(object)
    #: A FriendlyError and the seconds until the next try.
    poll_failed = Signal(object, float)

    def __init__(
        self,
        archive: JobArchive,
        key: JobKey,
        profile_of: Callable[[str], ProviderProfile | None],
        backend_factory: BackendFactory,
        policy: svc.PollPolicy,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.archive = archive
        self.key = key
        self._profile_of = profile_of
        self._factory = backend_factory
        self._policy = policy
        self._tracker: svc.JobTracker | None = None
        self._op: Op[tuple[svc.JobTracker | None, object]] | None = None
        self._failures = 0
        self._next: float | None = 0.0
        self._again = False
        self._stopped = False
        self.last: svc.JobSnapshot | None = None
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._poll)

    @property
    def busy(self) -> bool:
        """True while a poll runs."""
        return self._op is not None

    @property
    def following(self) -> bool:
        """True while more polls are planned or running (the job has not ended)."""
        return not self._stopped and (self.busy or self._timer.isActive())

    def start(self) -> None:
        """Poll now, then keep polling until the job has ended and everything is fetched."""
        self._stopped = False
        self.poll_now()

    def poll_now(self) -> None:
        """Poll as soon as possible (after the poll that is running, if any)."""
        self._stopped = False
        if self._op is not None:
            self._again = True
        else:
            self._timer.start(0)

    def stop(self) -> None:
        """Plan no more polls; a running one finishes and is reported."""
        self._stopped = True
        self._timer.stop()
        if self._op is not None:
            self._op.cancel()

    def _poll(self) -> None:
        if self._stopped or self._op is not None:
            return
        profile = self._profile_of(self.key[0])
        tracker, archive, key, factory = self._tracker, self.archive, self.key, self._factory

        def job(_context: JobContext) -> tuple[svc.JobTracker | None, object]:
            current = tracker
            try:
                if current is None:
                    current = svc.JobTracker.open(archive, *key)
                    if profile is None or current.complete:
                        return current, current.snapshot()  # nothing left to ask
                if profile is None:
                    return current, current.snapshot()
                with factory(profile) as backend:
                    return current, current.poll(backend)
            except (ProviderError, ArchiveError, OSError) as exc:
                if isinstance(exc, ArchiveError):
                    log.warning("Could not read or save job %s: %s", key, exc)
                return current, failure(exc)

        self._op = run_op(
            self,
            job,
            name="checking the job",
            success=self._on_result,
            failure=self._on_error,
            done=self._on_finished,
        )

    def _on_result(self, value: object) -> None:
        tracker, outcome = value  # type: ignore[misc]
        self._tracker = tracker
        if isinstance(outcome, svc.JobSnapshot):
            self._failures = 0
            self.last = outcome
            status = outcome.summary.status
            self._next = None if outcome.complete else self._policy.delay(status)
            if self._next is None and not outcome.complete:
                self._next = self._policy.running  # ended, but results still to fetch
            self.snapshot_ready.emit(outcome)
            return
        assert isinstance(outcome, Failure)
        self._fail(outcome.friendly)

    def _on_error(self, message: str) -> None:
        self._fail(
            FriendlyError(
                kind=ErrorKind.UNKNOWN,
                message=message,
                next_step="The app will try again.",
                retryable=True,
            )
        )

    def _fail(self, friendly: FriendlyError) -> None:
        self._failures += 1
        self._next = self._policy.delay(JobStatus.UNKNOWN, self._failures, friendly.retry_after)
        self.poll_failed.emit(friendly, self._next or 0.0)

    def _on_finished(self) -> None:
        self._op = None
        if self._stopped:
            return
        if self._again:
            self._again = False
            self._timer.start(0)
        elif self._next is not None:
            self._timer.start(int(self._next * 1000))


#: How often a job training on this computer is read: its files are here, so the chart can
#: follow every step almost as it happens.
LOCAL_POLL = svc.PollPolicy(
    running=1.0, waiting=2.0, paused=10.0, unknown=5.0, error_base=2.0, error_max=60.0
)


def sooner(policy: svc.PollPolicy, other: svc.PollPolicy) -> svc.PollPolicy:
    """The shorter of each wait of the two policies."""
    return svc.PollPolicy(
        **{f.name: min(getattr(policy, f.name), getattr(other, f.name)) for f in fields(policy)}
    )

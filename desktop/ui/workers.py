"""The one way the UI runs slow work: a QRunnable on the global QThreadPool.

The job runs on a pool thread and never touches widgets; it talks to the UI thread only
through the signals of a separate QObject (queued connections), and checks a cancel flag
between chunks so a user can stop a long read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    """Signals of a worker; they live on the UI thread so slots run there."""

    started = Signal()
    progress = Signal(int, int)
    yielded = Signal(object)
    result = Signal(object)
    error = Signal(str)
    finished = Signal()


class JobContext:
    """What a job may do besides computing: report progress, hand over partial results, and
    learn whether it was cancelled."""

    def __init__(self, signals: WorkerSignals) -> None:
        self._signals = signals
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once someone asked the job to stop; the job checks it between chunks."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._cancelled.set()

    def progress(self, done: int, total: int) -> bool:
        """Report progress; returns False when the job should stop (for core progress hooks)."""
        self._signals.progress.emit(done, total)
        return not self.cancelled

    def yield_(self, item: object) -> None:
        """Hand a partial result (a chunk of rows) to the UI thread."""
        self._signals.yielded.emit(item)


Job = Callable[[JobContext], Any]


class Worker(QRunnable):
    """Runs ``job(context)`` on the thread pool; its outcome arrives through ``signals``.

    ``error`` carries one plain sentence: exceptions that are meant for people (OSError
    subclasses with a plain message, ValueError) pass through; anything else is logged with its
    traceback and reported as an unexpected problem.
    """

    def __init__(self, job: Job, *, name: str = "background work") -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.name = name
        self.signals = WorkerSignals()
        self.context = JobContext(self.signals)
        self._job = job

    def cancel(self) -> None:
        """Ask the job to stop; ``finished`` still arrives."""
        self.context.cancel()

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called."""
        return self.context.cancelled

    def run(self) -> None:
        """Run the job (on a pool thread)."""
        signals = self.signals
        signals.started.emit()
        try:
            value = self._job(self.context)
        except (OSError, ValueError) as exc:
            log.info("%s stopped: %s", self.name, exc)
            signals.error.emit(str(exc))
        except Exception:
            log.exception("%s failed", self.name)
            signals.error.emit(f"Something unexpected went wrong during {self.name}.")
        else:
            if not self.context.cancelled:
                signals.result.emit(value)
        finally:
            signals.finished.emit()

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Queue the job on ``pool`` (the global pool by default) and return self."""
        (pool or QThreadPool.globalInstance()).start(self)
        return self

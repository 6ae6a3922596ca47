"""The one way a widget runs slow work: ``run_op(owner, work, success=…, failure=…)``.

``work(context)`` runs on the thread pool (a ``workers.Worker``) and never touches widgets;
its result goes to ``success`` and a plain-words failure to ``failure``, both on the UI
thread. The op belongs to ``owner``: once the owner is deleted nothing more is delivered, so a
late result never reaches a deleted widget. The op itself outlives its owner until the work has
really ended, because a worker freed while a pool thread still runs it would crash the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Slot

from desktop.ui.common.workers import JobContext, Worker

T = TypeVar("T")

#: How long a finished op is kept (its last queued signals are delivered by then).
RELEASE_DELAY_MS = 1000
#: Progress is passed on to the window at most this often (seconds).
PROGRESS_EVERY_S = 0.25


class Op(QObject, Generic[T]):
    """One piece of work under way: ask it to stop, or see whether it still runs.

    It is parented to the application, not to its owner, and deletes itself a moment after
    the work ends; the owner's ``destroyed`` signal only silences its callbacks.
    """

    def __init__(
        self,
        owner: QObject,
        worker: Worker,
        callbacks: dict[str, Callable[..., Any]],
    ) -> None:
        super().__init__(QCoreApplication.instance())
        self.setObjectName(f"op: {worker.name}")
        self._worker: Worker | None = worker
        self._callbacks = callbacks
        self._running = True
        self._cancelled = False
        owner.destroyed.connect(self._forget)
        signals = worker.signals
        signals.result.connect(self._on_result)
        signals.error.connect(self._on_error)
        signals.progress.connect(self._on_progress)
        signals.yielded.connect(self._on_yielded)
        signals.finished.connect(self._on_finished)

    @property
    def name(self) -> str:
        """What the work is, as the log and unexpected failures name it."""
        return self.objectName().removeprefix("op: ")

    @property
    def running(self) -> bool:
        """True until the work has ended (``done`` has been called)."""
        return self._running

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Ask the work to stop at its next checkpoint; ``done`` still follows, ``success``
        does not."""
        self._cancelled = True
        if self._worker is not None:
            self._worker.cancel()

    def _call(self, which: str, *args: object) -> None:
        callback = self._callbacks.get(which)
        if callback is not None:
            callback(*args)

    @Slot()
    def _forget(self) -> None:
        self._callbacks = {}

    @Slot(object)
    def _on_result(self, value: object) -> None:
        if not self._cancelled:
            self._call("success", value)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._call("failure", message)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self._call("progress", done, total)

    @Slot(object)
    def _on_yielded(self, item: object) -> None:
        self._call("yielded", item)

    @Slot()
    def _on_finished(self) -> None:
        self._running = False
        callbacks, self._callbacks = self._callbacks, {}
        done = callbacks.get("done")
        QTimer.singleShot(RELEASE_DELAY_MS, self._release)
        if done is not None:
            done()

    @Slot()
    def _release(self) -> None:
        self._worker = None
        self.deleteLater()


def run_op(
    owner: QObject,
    work: Callable[[JobContext], T],
    *,
    name: str,
    success: Callable[[T], None] | None = None,
    failure: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    yielded: Callable[[Any], None] | None = None,
    done: Callable[[], None] | None = None,
) -> Op[T]:
    """Run ``work`` off the UI thread for ``owner`` and hand its outcome back on the UI thread.

    ``success`` gets the result (not when the op was cancelled); ``failure`` one plain
    sentence (``Worker`` turns unexpected exceptions into one and logs them); ``progress`` and
    ``yielded`` what the work reports through its context; ``done`` runs last, whatever
    happened. ``name`` says what the work is, for the log and for unexpected failures.
    """
    worker = Worker(work, name=name)
    callbacks = {
        key: value
        for key, value in (
            ("success", success),
            ("failure", failure),
            ("progress", progress),
            ("yielded", yielded),
            ("done", done),
        )
        if value is not None
    }
    op: Op[T] = Op(owner, worker, callbacks)
    worker.start()
    return op


def throttled(report: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """``report`` called at most every PROGRESS_EVERY_S (and when done), for an op's
    ``progress``: each call repaints a progress bar, which took as long as the step itself."""
    last = [0.0]

    def forward(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            report(done, total)

    return forward

"""What runs under ``ops.run_op``: a QRunnable on the global QThreadPool.

The job runs on a pool thread and never touches widgets; it talks to the UI thread only
through the signals of a separate QObject (queued connections), and calls its context's
``checkpoint`` between small steps, which both stops a cancelled job and lets the UI thread go
first (see ``UiFirst``).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractEventDispatcher,
    QCoreApplication,
    QEvent,
    QObject,
    QRunnable,
    Qt,
    QThread,
    QThreadPool,
    QTimer,
    Signal,
    SignalInstance,
)

log = logging.getLogger(__name__)

#: The longest a worker waits for the UI thread at one checkpoint, so that a UI thread busy
#: for long (a modal wait, a huge paint) slows background work down but never stops it.
MAX_UI_WAIT_S = 0.1
#: A job's checkpoints freeze its allocations for the garbage collector this often.
FREEZE_EVERY = 2048


def freeze_survivors() -> None:
    """Move every live object out of the cyclic garbage collector's view (``gc.freeze``).

    Young garbage is collected first (cheap: only objects made since the last collection),
    so what is frozen is what is really in use; frozen objects are still freed when their
    last reference goes, only reference cycles among them wait for ``release_frozen``.
    Off the UI thread it is only asked for: the UI thread does it (see ``UiThreadCollector``).
    """
    if COLLECTOR.on_ui_thread():
        gc.collect(1)
        gc.freeze()
    else:
        COLLECTOR.freeze_wanted()


class _CollectorSignals(QObject):
    """Carries a worker's request for a freeze to the UI thread."""

    freeze = Signal()


class UiThreadCollector:
    """Runs the cyclic garbage collector on the UI thread only.

    Why: a collection runs on whichever thread happens to allocate at the wrong moment. When
    that is a worker and the garbage holds a Qt object's wrapper, the object is destroyed on
    the worker, which takes Qt's connection lock and then waits for the interpreter, while
    the UI thread holds the interpreter and waits for that lock: the app hangs. So automatic
    collection is turned off and the UI thread collects on a timer, generation by generation
    as the interpreter would have, and freezes survivors when a worker asks for it.
    """

    #: How often the UI thread looks whether a collection is due (milliseconds).
    INTERVAL_MS = 200

    def __init__(self) -> None:
        self._app: weakref.ref[QCoreApplication] | None = None
        self._signals: _CollectorSignals | None = None
        self._timer: QTimer | None = None
        self._thresholds: tuple[int, int, int] = gc.get_threshold()
        self._freeze_asked = threading.Event()

    def attach(self, app: QCoreApplication) -> None:
        """Take over collecting for ``app`` (once per application; call on the UI thread)."""
        if self._app is not None and self._app() is app:
            return
        self._app = weakref.ref(app)
        self._signals = _CollectorSignals(app)
        self._signals.freeze.connect(self._freeze, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(app)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(self.INTERVAL_MS)
        gc.disable()

    def on_ui_thread(self) -> bool:
        """True on the UI thread, or when no collector is attached (then collect anywhere).

        While the application is being destroyed no thread counts as the UI thread: a worker
        still finishing then asks (and nobody answers) instead of collecting itself.
        """
        app = self._app() if self._app is not None else None
        if app is None:
            return True
        try:
            return QThread.currentThread() is app.thread()
        except RuntimeError:  # the application's C++ object is already gone
            return False

    def freeze_wanted(self) -> None:
        """A worker asks the UI thread to collect young garbage and freeze the rest."""
        if self._signals is not None and not self._freeze_asked.is_set():
            self._freeze_asked.set()
            _emit(self._signals.freeze)

    def collect_due(self) -> None:
        """Collect the generations whose counts passed their thresholds."""
        counts = gc.get_count()
        generation = -1
        for level, (count, threshold) in enumerate(zip(counts, self._thresholds, strict=True)):
            if count <= threshold:
                break
            generation = level
        if generation >= 0:
            gc.collect(generation)

    def _freeze(self) -> None:
        self._freeze_asked.clear()
        gc.collect(1)
        gc.freeze()


COLLECTOR = UiThreadCollector()


#: Lists shorter than this are freed where they fall; longer ones in the background.
RELEASE_IN_BACKGROUND_MIN = 5000
#: Items freed between two checkpoints of the background release.
RELEASE_SLICE = 200


class _Releases:
    """Background releases under way (counted on the UI thread), and whether a full garbage
    collection waits for them to end."""

    def __init__(self) -> None:
        self.pending = 0
        self.collect_after = False

    def finished(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.collect_after:
            self.collect_after = False
            release_frozen()


_RELEASES = _Releases()


def release_in_background(items: list[Any]) -> None:
    """Free a large list's items on the thread pool, a slice at a time.

    Freeing 100,000 examples (a discarded bulk change, a closed dataset) takes a few hundred
    milliseconds holding the interpreter; done in one go on the UI thread it would pause the
    window. The caller hands over ``items`` and keeps no other reference to it. Call it on
    the UI thread.
    """
    if len(items) < RELEASE_IN_BACKGROUND_MIN or QCoreApplication.instance() is None:
        return

    def job(context: JobContext) -> None:
        while items:
            del items[-RELEASE_SLICE:]
            context.checkpoint()

    worker = Worker(job, name="freeing memory")
    _RELEASES.pending += 1
    worker.signals.finished.connect(_RELEASES.finished)
    worker.start()


def release_frozen() -> None:
    """Give frozen objects back to the collector and collect everything once.

    Called when the dataset is closed and nothing large is left: the full collection then
    costs tens of milliseconds (with a 100,000-example dataset alive it takes a few hundred,
    so opening one file over another does not do it). While large lists are still being
    freed in the background, it waits for them: it runs when the last one is done.
    """
    if _RELEASES.pending:
        _RELEASES.collect_after = True
        return
    gc.unfreeze()
    gc.collect()


class UiFirst:
    """Lets the UI thread go first whenever it has events to handle.

    Python runs one thread at a time. A worker busy in Python code keeps the interpreter for a
    whole switch interval each time the UI thread asks for it, and painting the examples table
    asks for it thousands of times (every ``data()`` call is Python), so a paint that takes
    10 ms alone took most of a second beside a busy worker. So: the first event the UI thread
    handles after waking closes a gate, the gate opens again when the UI thread is about to
    sleep, and workers wait at the gate (without holding the interpreter) at their checkpoints.

    There is one gate per process because the interpreter lock it shares out is one per
    process; ``attach`` hooks it to the running application the first time a worker starts.
    """

    def __init__(self) -> None:
        self._idle = threading.Event()
        self._idle.set()
        self._busy_since = 0.0
        self._app: weakref.ref[QCoreApplication] | None = None

    def attach(self, app: QCoreApplication) -> None:
        """Watch ``app``'s UI thread (once per application; call on the UI thread)."""
        if self._app is not None and self._app() is app:
            return
        dispatcher = QAbstractEventDispatcher.instance(app.thread())
        if dispatcher is None:
            return
        watcher = _EventWatcher(self, app)
        app.installEventFilter(watcher)
        dispatcher.aboutToBlock.connect(watcher.on_idle)
        self._app = weakref.ref(app)

    def busy(self) -> None:
        """The UI thread is handling an event: workers wait at their next checkpoint."""
        if self._idle.is_set():
            self._busy_since = time.monotonic()
            self._idle.clear()

    def idle(self) -> None:
        """The UI thread has nothing left to do: workers go on."""
        self._idle.set()

    def wait(self) -> None:
        """Wait while the UI thread is busy (for at most ``MAX_UI_WAIT_S`` since it woke)."""
        if self._idle.is_set():
            return
        remaining = self._busy_since + MAX_UI_WAIT_S - time.monotonic()
        if remaining > 0:
            self._idle.wait(remaining)


class _EventWatcher(QObject):
    """Tells the gate when the UI thread starts handling events and when it goes idle."""

    def __init__(self, gate: UiFirst, app: QCoreApplication) -> None:
        super().__init__(app)
        self._gate = gate

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        self._gate.busy()
        return False

    def on_idle(self) -> None:
        self._gate.idle()


#: The process's gate (see ``UiFirst``).
UI_FIRST = UiFirst()


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
        self._steps = 0

    @property
    def cancelled(self) -> bool:
        """True once someone asked the job to stop; the job checks it between chunks."""
        return self._cancelled.is_set()

    def checkpoint(self) -> bool:
        """Let the UI thread go first if it is busy; False when the job should stop.

        Jobs call it between small steps (an example, a line), so it must stay cheap. Every
        ``FREEZE_EVERY`` steps it also moves what the job allocated so far out of the garbage
        collector's view: a full collection scans every object not frozen while holding the
        interpreter, and a bulk edit of 100,000 examples made those scans last 30-230 ms each,
        stalling the UI thread. (Frozen objects are still freed when no longer referenced.)
        """
        self._steps += 1
        if self._steps % FREEZE_EVERY == 0:
            freeze_survivors()
        UI_FIRST.wait()
        return not self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._cancelled.set()

    def progress(self, done: int, total: int) -> bool:
        """Report progress; returns False when the job should stop (for core progress hooks)."""
        if not _emit(self._signals.progress, done, total):
            self.cancel()
        return self.checkpoint()

    def yield_(self, item: object) -> None:
        """Hand a partial result (a chunk of rows) to the UI thread."""
        if not _emit(self._signals.yielded, item):
            self.cancel()


Job = Callable[[JobContext], Any]


def _emit(signal: SignalInstance, *args: object) -> bool:
    """Emit from a pool thread; False when the signals object is already gone (the app is
    quitting while the job ran), so there is no one left to tell."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted"
        return False
    return True


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
        self._job: Job | None = job

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
        _emit(signals.started)
        job, self._job = self._job, None
        assert job is not None, "a worker runs once"
        try:
            value = job(self.context)
        except (OSError, ValueError) as exc:
            log.info("%s stopped: %s", self.name, exc)
            _emit(signals.error, str(exc))
        except Exception:
            log.exception("%s failed", self.name)
            _emit(signals.error, f"Something unexpected went wrong during {self.name}.")
        else:
            if not self.context.cancelled:
                _emit(signals.result, value)
        finally:
            # The pool keeps the wrapper of every runnable it ran, so the job, and what its
            # closure holds (a snapshot of a whole dataset, say), is let go here.
            del job
            _emit(signals.finished)

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Queue the job on ``pool`` (the global pool by default) and return self."""
        app = QCoreApplication.instance()
        if app is not None:
            UI_FIRST.attach(app)
            COLLECTOR.attach(app)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

"""The Jobs screen: every job of a provider, one followed in detail, and "Train a model".

Monitoring is one ``JobMonitor`` per job that has not ended: a single-shot QTimer starts one
worker per poll, and the next poll is planned when that worker is done, at the pace
``PollPolicy`` sets (often while training, slower while waiting, backing off on errors). Each
poll saves what it learns to the archive before the screen hears of it, so after a restart
``resume_monitoring`` picks the open jobs up from the archive where they were left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from PySide6.QtCore import (
    QDeadlineTimer,
    QEvent,
    QEventLoop,
    QModelIndex,
    QObject,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QSystemTrayIcon,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory, key_backend_factory, trains, traits_of
from desktop.api.credentials import KeyStore
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    ProviderError,
    UploadCancelled,
    friendly_error,
)
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.metrics import MetricSeries
from desktop.core.settings import AppSettings
from desktop.core.training import ChatRoute, ChatTarget
from desktop.ui.icons import status_icon
from desktop.ui.job_models import JobsTableModel, format_duration, job_title
from desktop.ui.job_view import JobRecord, JobView
from desktop.ui.result_actions import (
    DeploymentDialog,
    DownloadDialog,
    ServeDialog,
    Serving,
    ServingBanner,
    ServingLedger,
)
from desktop.ui.train_wizard import DatasetProvider, TrainWizard
from desktop.ui.workers import JobContext, Worker, WorkerKeeper

log = logging.getLogger(__name__)

JobKey = tuple[str, str]
#: Workers are kept a little beyond "finished", which is emitted inside their run().
#: How often the job list of the provider on screen is fetched again (milliseconds).
LIST_INTERVAL_MS = 60_000
#: How often the elapsed and finish columns are repainted (milliseconds).
CLOCK_INTERVAL_MS = 30_000
PAGE_SIZE = 20
#: How long quitting waits for endpoints to stop (milliseconds).
QUIT_STOP_WAIT_MS = 30_000


def key_text(key: JobKey) -> str:
    """A job key as one string (for menus and signals): ``provider/job``."""
    return f"{key[0]}/{key[1]}"


def _text_key(text: str) -> JobKey:
    provider, _, job = text.partition("/")
    return provider, job


_STOPPED = FriendlyError(
    kind=ErrorKind.UNKNOWN,
    message="Deploying was stopped.",
    next_step="Press Try again to deploy the model after all.",
    retryable=True,
)


@dataclass(frozen=True)
class _Failure:
    """A failed background request, told in one plain sentence."""

    friendly: FriendlyError


def _failure(exc: Exception) -> _Failure:
    """Provider failures as ``friendly_error`` tells them; the disk's own in its words."""
    if isinstance(exc, (ArchiveError, OSError)) and not isinstance(
        exc, (ConnectionError, TimeoutError)
    ):
        return _Failure(
            FriendlyError(
                kind=ErrorKind.UNKNOWN,
                message=f"The job's files on this computer could not be read or saved: {exc}",
                next_step="Check that the disk is not full and the data folder is writable.",
                retryable=True,
            )
        )
    return _Failure(friendly_error(exc))


@dataclass(frozen=True)
class Source:
    """Whose jobs the table shows: a provider profile (live) or only its archive."""

    provider_id: str
    label: str
    profile: ProviderProfile | None

    @property
    def live(self) -> bool:
        """True when the provider is asked (a profile that can train exists)."""
        return self.profile is not None


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
        self._worker: Worker | None = None
        self._previous: Worker | None = None  # kept one more poll: see WorkerKeeper
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
        return self._worker is not None

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
        if self._worker is not None:
            self._again = True
        else:
            self._timer.start(0)

    def stop(self) -> None:
        """Plan no more polls; a running one finishes and is reported."""
        self._stopped = True
        self._timer.stop()
        if self._worker is not None:
            self._worker.cancel()

    def _poll(self) -> None:
        if self._stopped or self._worker is not None:
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
                return current, _failure(exc)

        worker = Worker(job, name="checking the job")
        worker.signals.result.connect(self._on_result)
        worker.signals.error.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

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
        assert isinstance(outcome, _Failure)
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
        self._previous, self._worker = self._worker, None
        if self._stopped:
            return
        if self._again:
            self._again = False
            self._timer.start(0)
        elif self._next is not None:
            self._timer.start(int(self._next * 1000))


class JobsPanel(QWidget):
    """Jobs of the chosen provider, the selected job in detail, and the training wizard.

    Construct it with the app's profile store, key store, job archive, catalog and settings;
    call ``resume_monitoring()`` once at start and ``shutdown()`` before the app quits.
    ``start_training(dataset_provider)`` opens the wizard; the panel's own "Train a model"
    button uses ``dataset_provider`` (given here or by the last ``start_training``), which
    returns the open dataset or None. ``backend_factory``, ``poll_policy``,
    ``transfer``, ``now`` and ``today`` exist for tests (a fake provider, fast polling, small
    upload parts, a fixed clock).
    """

    #: Open a chat with a trained model: the profile id and the model name to ask for (a
    #: deployment made ready first where the provider needs one).
    chat_with_model = Signal(str, str)
    #: What runs and bills changed (a list of ``Serving``), for the Chat tab's banner.
    serving_changed = Signal(object)
    #: A job that was being followed ended: job id and status ("succeeded", "failed", …).
    job_finished = Signal(str, str)
    #: The user changed the epochs in the training wizard (an int, or None for automatic).
    epochs_chosen = Signal(object)

    def __init__(
        self,
        profiles: ProfileStore,
        keys: KeyStore,
        archive: JobArchive,
        catalog: Catalog,
        settings: AppSettings,
        *,
        dataset_provider: DatasetProvider | None = None,
        backend_factory: BackendFactory | None = None,
        poll_policy: svc.PollPolicy | None = None,
        transfer: svc.TransferOptions | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.today = today
        self.profiles = profiles
        self.keys = keys
        self.archive = archive
        self.catalog = catalog
        self.settings = settings
        self.backend_factory = backend_factory or key_backend_factory(keys)
        self.poll_policy = poll_policy or svc.PollPolicy()
        self.transfer = transfer or svc.TransferOptions()
        self.now = now
        self.monitors: dict[JobKey, JobMonitor] = {}
        self.records: dict[JobKey, JobRecord] = {}
        self.sources: list[Source] = []
        self.wizard: TrainWizard | None = None
        self._keeper = WorkerKeeper(self)
        self._list_worker: Worker | None = None
        self._listing: str | None = None
        self._next_after: str | None = None
        self._selected: JobKey | None = None
        self._tray: QSystemTrayIcon | None = None
        #: What the app started that bills while up (an endpoint), and what is being stopped.
        self.ledger = ServingLedger(archive.root)
        self.serving: dict[JobKey, Serving] = {}
        self._stopping: dict[JobKey, Worker] = {}
        self._quit_settled = False
        self.serve_dialog: ServeDialog | None = None
        self.deploy_dialog: DeploymentDialog | None = None
        self.download_dialog: DownloadDialog | None = None
        self.banner = ServingBanner()
        self.banner.stop_requested.connect(self.stop_serving)

        self.source_combo = QComboBox()
        self.source_combo.setToolTip(
            "Whose jobs to show: a provider profile (asked live), or the local archive of "
            "jobs from providers you no longer have a profile for."
        )
        self.source_combo.setMinimumWidth(260)
        self.source_combo.currentIndexChanged.connect(self._on_source)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Ask the provider for its job list again.")
        self.refresh_button.clicked.connect(self.refresh)
        self.train_button = QPushButton("Train a model…")
        self.train_button.setToolTip(
            "Start a fine-tuning job from the dataset that is open: choose a model and "
            "settings, see the cost, then send it."
        )
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self._train_clicked)
        self.dataset_provider = dataset_provider
        top = QHBoxLayout()
        top.addWidget(QLabel("Jobs at"))
        top.addWidget(self.source_combo)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        top.addWidget(self.train_button)

        self.table_model = JobsTableModel(catalog, settings.format_money, now, self)
        self.table = QTableView()
        self.table.setObjectName("jobsTable")
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((200, 120, 190, 110, 90, 110, 110, 80)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.load_more_button = QPushButton("Load more")
        self.load_more_button.setToolTip("Fetch older jobs from the provider.")
        self.load_more_button.clicked.connect(self.load_more)
        self.load_more_button.hide()
        self.status_line = QLabel()
        self.status_line.setObjectName("jobsStatus")
        self.status_line.setWordWrap(True)
        self.status_line.setStyleSheet("color: #5f6368;")
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_line, 1)
        bottom.addWidget(self.load_more_button)
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addWidget(self.table, 1)
        list_layout.addLayout(bottom)

        self.view = JobView(catalog, settings.format_money, now)
        self.view.action_requested.connect(self._act)
        self.view.chat_requested.connect(self.chat_with)
        self.view.download_requested.connect(self.download_result)
        self.view.export_zip_requested.connect(self.export_selected)
        self.view.compare_toggled.connect(self._compare)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(list_box)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([220, 640])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        self._list_timer = QTimer(self, interval=LIST_INTERVAL_MS)
        self._list_timer.timeout.connect(self._refresh_list)
        self._list_timer.start()
        self._clock = QTimer(self, interval=CLOCK_INTERVAL_MS)
        self._clock.timeout.connect(self.table_model.refresh_times)
        self._clock.start()
        self.reload_sources()

    # Public API ----------------------------------------------------------------------------

    def start_training(self, dataset_provider: DatasetProvider) -> TrainWizard:
        """Open the training wizard for the dataset ``dataset_provider`` returns."""
        self.dataset_provider = dataset_provider
        if self.wizard is not None:
            if self.wizard.sending:
                self.wizard.show()
                self.wizard.raise_()
                return self.wizard
            self.wizard.deleteLater()  # its running workers are held by this panel
        wizard = TrainWizard(
            self.profiles,
            self.archive,
            self.catalog,
            self.settings,
            dataset_provider(),
            backend_factory=self.backend_factory,
            transfer=self.transfer,
            today=self.today,
            hold=self._keeper.hold,
            parent=self,
        )
        wizard.job_started.connect(self._on_job_started)
        wizard.epochs_chosen.connect(self.epochs_chosen)
        self.wizard = wizard
        wizard.open()
        return wizard

    def resume_monitoring(self) -> int:
        """Follow again every archived job that had not ended; returns how many."""
        resumed = 0
        skipped: list[str] = []
        for summary in self.archive.open_jobs():
            provider = summary.provider_id or ""
            if self._profile(provider) is None:
                skipped.append(summary.id)
                continue
            self._follow((provider, summary.id), summary)
            resumed += 1
        self._load_serving()
        if resumed:
            noun = "job" if resumed == 1 else "jobs"
            self._say(f"Following {resumed} {noun} that had not finished when the app closed.")
        if skipped:
            many = len(skipped) != 1
            self._say(
                f"{len(skipped)} unfinished {'jobs belong' if many else 'job belongs'} to a "
                "provider profile that no longer exists; add the profile again in Settings to "
                f"follow {'them' if many else 'it'}."
            )
        return resumed

    def refresh(self) -> None:
        """Read the profiles again (after Settings changed them) and fetch the job list."""
        self.reload_sources()

    def shutdown(self) -> None:
        """Stop every timer and monitor (before the app quits); running polls still finish."""
        self._list_timer.stop()
        self._clock.stop()
        for monitor in self.monitors.values():
            monitor.stop()
        if self._list_worker is not None:
            self._list_worker.cancel()
        if self.wizard is not None:
            self.wizard.stop_waiting()
        if self._tray is not None:
            self._tray.hide()

    def select_job(self, job_id: str) -> bool:
        """Select a job of the provider on screen; False when it is not listed."""
        row = self.table_model.row_of(job_id)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    @property
    def source(self) -> Source | None:
        """The provider (or archive) whose jobs the table shows."""
        index = self.source_combo.currentIndex()
        return self.sources[index] if 0 <= index < len(self.sources) else None

    def select_source(self, provider_id: str) -> bool:
        """Show this provider's jobs; False when there is no such source."""
        for index, source in enumerate(self.sources):
            if source.provider_id == provider_id:
                self.source_combo.setCurrentIndex(index)
                return True
        return False

    # Sources and the list ------------------------------------------------------------------

    def _profile(self, provider_id: str) -> ProviderProfile | None:
        """The profile that can train for this provider id, or None (archive only)."""
        if provider_id not in self.profiles:
            return None
        profile = self.profiles.get(provider_id)
        return profile if trains(profile) else None

    def reload_sources(self) -> None:
        """Rebuild the provider choice from the profiles and the archive."""
        current = self.source.provider_id if self.source is not None else None
        active = self.profiles.active_id
        sources = []
        for profile in self.profiles.profiles:
            if trains(profile):
                label = profile.display_name + (" (active)" if profile.id == active else "")
                sources.append(Source(profile.id, label, profile))
        live = {s.provider_id for s in sources}
        archived = sorted({s.provider_id for s in self.archive.list_jobs() if s.provider_id})
        for provider_id in archived:
            if provider_id not in live:
                name = provider_id
                if provider_id in self.profiles:
                    name = self.profiles.get(provider_id).display_name
                sources.append(Source(provider_id, f"Archive: {name}", None))
        self.sources = sources
        wanted = current if current in {s.provider_id for s in sources} else active
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for source in sources:
            self.source_combo.addItem(source.label)
        index = next((i for i, s in enumerate(sources) if s.provider_id == wanted), 0)
        self.source_combo.setCurrentIndex(index if sources else -1)
        self.source_combo.blockSignals(False)
        self._on_source()

    def _on_source(self, *_args: object) -> None:
        source = self.source
        self._next_after = None
        self.load_more_button.hide()
        if source is None:
            self.table_model.set_jobs([])
            self._say(
                "There is no provider profile that can train models yet. Add one in Settings "
                "(for example OpenAI or Azure OpenAI), then press Train a model."
            )
            self.refresh_button.setEnabled(False)
            return
        self.refresh_button.setEnabled(source.live)
        archived = self.archive.list_jobs(source.provider_id)
        self.table_model.set_jobs(archived)
        if source.live:
            self._refresh_list()
        else:
            if archived:
                many = len(archived) != 1
                self._say(
                    f"{len(archived)} archived job{'s' if many else ''}. There is no provider "
                    f"profile for {'these jobs' if many else 'this job'}, so "
                    f"{'they are' if many else 'it is'} shown as last seen."
                )
            else:
                self._say("No archived jobs.")
        if self.table_model.rowCount():
            wanted = self._selected[1] if self._selected else None
            if wanted is None or not self.select_job(wanted):
                self.table.selectRow(0)

    def _refresh_list(self) -> None:
        self._fetch_page(None)

    def load_more(self) -> None:
        """Fetch the next page of older jobs."""
        if self._next_after is not None:
            self._fetch_page(self._next_after)

    def _fetch_page(self, after: str | None) -> None:
        source = self.source
        if source is None or source.profile is None or self._list_worker is not None:
            return
        profile, archive, factory = source.profile, self.archive, self.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return svc.list_job_page(
                        backend, archive, profile.id, after=after, limit=PAGE_SIZE
                    )
            except (ProviderError, OSError, ArchiveError) as exc:
                return _failure(exc)

        worker = Worker(job, name="listing jobs")
        worker.signals.result.connect(self._on_page)
        worker.signals.error.connect(self._say)
        worker.signals.finished.connect(self._on_page_finished)
        self._list_worker = worker
        self._listing = profile.id
        self.load_more_button.setEnabled(False)
        self._keeper.hold(worker)
        worker.start()

    def _on_page(self, value: object) -> None:
        source = self.source
        if isinstance(value, _Failure):
            self._say(f"Could not get the job list: {value.friendly.text()}")
            return
        assert isinstance(value, svc.JobPage)
        if source is None or source.provider_id != value.provider_id:
            return
        for summary in value.summaries:
            self.table_model.upsert(summary)
            record = self.records.get((value.provider_id, summary.id))
            if record is not None and not record.loaded:
                record.summary = summary
            if not summary.status.is_terminal:
                self._follow((value.provider_id, summary.id), summary)
        self._next_after = value.next_after
        self.load_more_button.setVisible(value.next_after is not None)
        followed = sum(1 for m in self.monitors.values() if m.following)
        shown = self.table_model.rowCount()
        jobs = f"{shown} job{'s' if shown != 1 else ''}" if shown else "No jobs"
        following = ""
        if followed:
            verb = "have" if followed != 1 else "has"
            following = f"; following {followed} that {verb} not finished"
        self._say(f"{jobs} at {source.label.removesuffix(' (active)')}{following}.")
        if self._selected is None and shown:
            self.table.selectRow(0)

    def _on_page_finished(self) -> None:
        asked, self._list_worker, self._listing = self._listing, None, None
        self.load_more_button.setEnabled(True)
        source = self.source
        if source is not None and source.live and source.provider_id != asked:
            self._refresh_list()  # the user switched providers while the list was coming

    # Monitoring ----------------------------------------------------------------------------

    def _follow(self, key: JobKey, summary: JobSummary | None = None) -> JobMonitor:
        """The monitor of a job, created and started when it has none yet."""
        monitor = self.monitors.get(key)
        if monitor is None:
            monitor = JobMonitor(
                self.archive, key, self._profile, self.backend_factory, self.poll_policy, self
            )
            monitor.snapshot_ready.connect(self._on_snapshot)
            monitor.poll_failed.connect(
                lambda friendly, delay, k=key: self._on_poll_failed(k, friendly, delay)
            )
            self.monitors[key] = monitor
            if summary is not None and key not in self.records:
                self.records[key] = JobRecord(key[0], summary, self._profile(key[0]) is not None)
            monitor.start()
        elif not monitor.following and summary is not None and not summary.status.is_terminal:
            monitor.start()
        return monitor

    def _on_snapshot(self, snapshot: svc.JobSnapshot) -> None:
        key = (snapshot.provider_id, snapshot.summary.id)
        record = self.records.get(key)
        if record is None:
            record = JobRecord(key[0], snapshot.summary, self._profile(key[0]) is not None)
            self.records[key] = record
        record.apply(snapshot)
        source = self.source
        if source is not None and source.provider_id == key[0]:
            self.table_model.upsert(snapshot.summary)
        if key == self._selected:
            self.view.archive_folder = self.archive.job_folder(*key)
            self.view.update_record(record, snapshot)
        if snapshot.just_finished:
            self._notify(snapshot.summary)
            self.job_finished.emit(snapshot.summary.id, snapshot.summary.status.value)

    def _on_poll_failed(self, key: JobKey, friendly: FriendlyError, delay: float) -> None:
        record = self.records.get(key)
        text = (
            f"Could not update this job: {friendly.message} "
            f"The app tries again in {format_duration(timedelta(seconds=delay))}."
        )
        if record is not None:
            record.problem = text
        if key == self._selected:
            self.view.show_problem(text)

    # Selection and the job view ------------------------------------------------------------

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        source = self.source
        summary = self.table_model.job_at(current.row()) if current.isValid() else None
        if source is None or summary is None:
            return
        key = (source.provider_id, summary.id)
        self._selected = key
        record = self.records.get(key)
        if record is None:
            record = JobRecord(key[0], summary, source.live)
            self.records[key] = record
        folder = self.archive.job_folder(*key)
        profile = self._profile(key[0])
        self.view.set_traits(traits_of(profile) if profile is not None else None)
        self.view.show_record(record, folder if folder.is_dir() else None)
        others = [
            (key_text((source.provider_id, job.id)), job_title(job))
            for job in self.table_model.jobs()
            if job.id != summary.id
        ]
        self.view.set_comparable(others)
        monitor = self._follow(key, summary)
        if monitor.last is not None and not record.loaded:
            record.apply(monitor.last)
            self.view.show_record(record, folder)

    def _compare(self, key: str, on: bool) -> None:
        if not on:
            self.view.chart.remove_overlay(key)
            return
        job_key = _text_key(key)
        record = self.records.get(job_key)
        label = job_title(record.summary) if record is not None else job_key[1]
        if record is not None and record.loaded:
            self.view.chart.set_overlay(key, label, record.series)
            return
        archive, selected = self.archive, self._selected

        def job(_context: JobContext) -> object:
            try:
                return archive.load(*job_key).metrics
            except ArchiveError as exc:
                return _failure(exc)

        def show(value: object) -> None:
            if isinstance(value, _Failure):
                self._say(value.friendly.message)
            elif self._selected == selected and isinstance(value, MetricSeries):
                self.view.chart.set_overlay(key, label, value)

        self._run(Worker(job, name="reading a job's curves"), show)

    # Acting --------------------------------------------------------------------------------

    def _act(self, action: str) -> None:
        key = self._selected
        profile = self._profile(key[0]) if key is not None else None
        if key is None or profile is None:
            return
        archive, factory = self.archive, self.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return svc.act_on_job(backend, archive, key[0], key[1], action)
            except (ProviderError, OSError, ArchiveError) as exc:
                return _failure(exc)

        def done(value: object) -> None:
            if isinstance(value, _Failure):
                self.view.show_error(value.friendly.text())
                return
            assert isinstance(value, JobSummary)
            record = self.records.get(key)
            if record is not None:
                record.summary = value
            self.table_model.upsert(value)
            if self._selected == key and record is not None:
                self.view.show_record(record, self.archive.job_folder(*key))
            self._follow(key).poll_now()

        verb = {"cancel": "Cancelling", "pause": "Pausing", "resume": "Resuming"}[action]
        self._say(f"{verb} the job…")
        self._run(Worker(job, name=f"{action} job"), done)

    def export_selected(self, path: Path) -> None:
        """Save the selected job's archive as a zip (on the thread pool)."""
        key = self._selected
        if key is None:
            return
        archive = self.archive

        def job(_context: JobContext) -> object:
            try:
                return archive.export_zip(*key, path)
            except (ArchiveError, OSError) as exc:
                return _failure(exc)

        def done(value: object) -> None:
            if isinstance(value, _Failure):
                self.view.show_error(value.friendly.text())
            else:
                self._say(f"Saved everything about this job to {value}.")

        self._run(Worker(job, name="exporting the job"), done)

    def _train_clicked(self) -> None:
        if self.dataset_provider is None:
            QMessageBox.information(
                self,
                "Train a model",
                "Open a dataset in the Dataset tab first, then press Train there.",
            )
            return
        self.start_training(self.dataset_provider)

    def _on_job_started(self, started: svc.StartedJob) -> None:
        key = (started.provider_id, started.summary.id)
        self.records[key] = JobRecord(key[0], started.summary, True)
        if self.source is None or self.source.provider_id != key[0]:
            self.select_source(key[0])
        self.table_model.upsert(started.summary)
        self._follow(key, started.summary)
        self.select_job(started.summary.id)
        self._say(f"Started training “{job_title(started.summary)}”.")

    # Using the result ----------------------------------------------------------------------

    def chat_with(self, model: str) -> None:
        """Chat with the selected job's model (or one of its checkpoints, by name) the way its
        provider allows: at once, after deploying it here (asked first: it may bill), or
        through a deployment the user made elsewhere."""
        key = self._selected
        record = self.records.get(key) if key is not None else None
        if key is None or record is None:
            return
        profile = self._profile(key[0])
        if profile is None:
            self.view.show_error(
                "The provider profile of this job no longer exists; add it again in Settings "
                "to chat with its model."
            )
            return
        summary = record.summary
        checkpoint = model if model and model != summary.fine_tuned_model else None
        factory = self.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return backend.chat_target(summary, checkpoint)
            except ProviderError as exc:
                return _Failure(exc.friendly)

        self._run(
            Worker(job, name="finding how to chat"),
            lambda value: self._on_chat_target(profile, value),
        )

    def _on_chat_target(self, profile: ProviderProfile, value: object) -> None:
        if isinstance(value, _Failure):
            self.view.show_error(value.friendly.text())
            return
        assert isinstance(value, ChatTarget)
        traits = traits_of(profile)
        provider = traits.name if traits is not None else profile.display_name
        if value.route is ChatRoute.SAME_PROFILE:
            self.chat_with_model.emit(profile.id, value.model)
        elif value.route is ChatRoute.DEPLOY_ELSEWHERE:
            dialog = DeploymentDialog(provider, value, self)
            dialog.chosen.connect(lambda name, p=profile.id: self.chat_with_model.emit(p, name))
            self.deploy_dialog = dialog
            dialog.open()
        elif value.route is ChatRoute.DEPLOY_IN_APP:
            wanted = (profile.id, value.model)
            running = next(
                (s for s in self.serving.values() if (s.profile_id, s.model) == wanted), None
            )
            if running is not None:  # already up: never start (and pay for) a second one
                self.chat_with_model.emit(profile.id, running.name)
                return
            dialog = ServeDialog(provider, value, self)
            dialog.start_requested.connect(lambda: self._prepare(profile, value, dialog))
            self.serve_dialog = dialog
            dialog.open()
        else:
            self.view.show_error(
                value.instructions
                or f"{provider} does not serve this model; download it to run it yourself."
            )

    def _prepare(self, profile: ProviderProfile, target: ChatTarget, dialog: ServeDialog) -> None:
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory, ledger = self.backend_factory, self.ledger

        def job(context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    name = backend.prepare_chat(target, context.yield_, stop.is_set)
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return _Failure(exc.friendly)
            if target.billing_warning:
                serving = Serving(profile.id, name, target.model, target.billing_warning)
                try:
                    ledger.add(serving)
                except OSError as exc:  # it runs all the same: the banner still shows it
                    log.warning("Could not note the running endpoint %s: %s", name, exc)
                return serving
            return name

        def done(value: object) -> None:
            if isinstance(value, Serving):
                self.serving[value.key] = value
                self._quit_settled = False
                self._show_serving()
                if stop.is_set():  # stopped too late: it is up, so take it down again
                    self.stop_serving(*value.key)
                    dialog.show_failure(_STOPPED)
                    return
                name = value.name
            elif isinstance(value, str):
                name = value
            else:
                dialog.running = False
                if isinstance(value, _Failure) and not stop.is_set():
                    dialog.show_failure(value.friendly)
                else:
                    dialog.show_failure(_STOPPED)
                return
            dialog.running = False
            dialog.accept()
            self._say(f"{target.model} is ready; the chat is open.")
            self.chat_with_model.emit(profile.id, name)

        worker = Worker(job, name="deploying the trained model")
        worker.signals.yielded.connect(lambda text: dialog.show_stage(str(text)))
        self._run(worker, done)

    def stop_serving(self, profile_id: str, name: str) -> Worker | None:
        """Stop something the app started that bills while up; returns the worker doing it
        (None when it is already being stopped or cannot be)."""
        key = (profile_id, name)
        if key in self._stopping:
            return None
        serving = self.serving.get(key)
        label = serving.model if serving is not None else name
        profile = self._profile(profile_id)
        if profile is None:
            self.view.show_error(
                f"{label} cannot be stopped from here: its provider profile no longer exists. "
                "Stop it in the provider's dashboard, or add the profile again in Settings."
            )
            return None
        factory, ledger = self.backend_factory, self.ledger

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    backend.stop_serving(name)
            except ProviderError as exc:
                return _Failure(exc.friendly)
            try:
                ledger.remove(profile_id, name)
            except OSError as exc:
                log.warning("Could not note that %s stopped: %s", name, exc)
            return None

        def done(value: object) -> None:
            if isinstance(value, _Failure):
                self.view.show_error(
                    f"{label} could not be stopped: {value.friendly.message} "
                    f"{value.friendly.next_step} It still costs money until it stops."
                )
                return
            self.serving.pop(key, None)
            self._say(f"Stopped {label}; it no longer costs anything.")

        worker = Worker(job, name="stopping an endpoint")
        worker.signals.finished.connect(lambda: self._stopped(key))
        self._stopping[key] = worker
        self._show_serving()
        self._run(worker, done)
        return worker

    def _stopped(self, key: JobKey) -> None:
        self._stopping.pop(key, None)
        self._show_serving()

    def _show_serving(self) -> None:
        entries = list(self.serving.values())
        names = {p.id: p.display_name for p in self.profiles.profiles}
        self.banner.set_serving(entries, names, list(self._stopping))
        self.serving_changed.emit(entries)

    def _load_serving(self) -> None:
        ledger = self.ledger

        def job(_context: JobContext) -> object:
            return ledger.load()

        def done(value: object) -> None:
            assert isinstance(value, list)
            for serving in value:
                self.serving.setdefault(serving.key, serving)
            if value:
                self._show_serving()
                many = len(value) != 1
                self._say(
                    f"{len(value)} endpoint{'s' if many else ''} started earlier may still be "
                    f"running and costing money; stop {'them' if many else 'it'} above if "
                    "you no longer need them."
                )

        self._run(Worker(job, name="reading the running endpoints"), done)

    def download_result(self) -> None:
        """Download the selected job's trained adapter into its archive folder."""
        key = self._selected
        record = self.records.get(key) if key is not None else None
        profile = self._profile(key[0]) if key is not None else None
        if key is None or record is None or profile is None:
            return
        summary = record.summary
        folder = self.archive.job_folder(*key)
        dialog = DownloadDialog(summary.fine_tuned_model or summary.id, folder, self)
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory = self.backend_factory

        def job(context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return backend.download_result(summary, folder, context.progress, stop.is_set)
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return _Failure(exc.friendly)

        def done(value: object) -> None:
            if isinstance(value, Path):
                dialog.show_done(value)
                self._say(f"The adapter was saved as {value}.")
            elif isinstance(value, _Failure) and not stop.is_set():
                dialog.show_failure(value.friendly)
            else:
                dialog.show_failure(None)

        worker = Worker(job, name="downloading the adapter")
        worker.signals.progress.connect(dialog.show_progress)
        self.download_dialog = dialog
        dialog.open()
        self._run(worker, done)

    # Quitting ------------------------------------------------------------------------------

    def ask_about_serving(self, entries: list[Serving]) -> str:
        """Ask what to do with what still bills as the app quits: "stop", "keep" or
        "cancel" (tests replace this)."""
        names = ", ".join(s.model for s in entries)
        box = QMessageBox(self.window())
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Still costing money")
        box.setText(
            f"{names} {'is' if len(entries) == 1 else 'are'} still running at the provider "
            "and cost money until stopped, even with the app closed."
        )
        box.setInformativeText(entries[0].warning)
        stop = box.addButton("Stop and quit", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep running and quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(stop)
        box.exec()
        clicked = box.clickedButton()
        return "stop" if clicked is stop else "keep" if clicked is keep else "cancel"

    def before_quit(self) -> bool:
        """Offer to stop what still bills before the app quits; False: the user stays."""
        entries = list(self.serving.values())
        if not entries or self._quit_settled:
            return True
        answer = self.ask_about_serving(entries)
        if answer == "cancel":
            return False
        self._quit_settled = True
        if answer == "stop":
            for serving in entries:
                self.stop_serving(*serving.key)
            self._wait_for(lambda: not self._stopping, QUIT_STOP_WAIT_MS)
        return True

    def _wait_for(self, done: Callable[[], bool], timeout_ms: int) -> None:
        """Let the event loop run (without user input) until ``done`` or the time is up."""
        deadline = QDeadlineTimer(timeout_ms)
        loop = QEventLoop()
        while not done() and not deadline.hasExpired():
            QTimer.singleShot(50, loop.quit)
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    # Helpers -------------------------------------------------------------------------------

    def _run(self, worker: Worker, on_result: Callable[[object], None]) -> None:
        worker.signals.result.connect(on_result)
        worker.signals.error.connect(self.view.show_error)
        self._keeper.hold(worker)
        worker.start()

    def _say(self, text: str) -> None:
        self.status_line.setText(text)

    def _notify(self, summary: JobSummary) -> None:
        """Tell the user a job ended: a desktop notification, or the status bar."""
        title = f"Training {summary.status.label.lower()}"
        text = f"“{job_title(summary)}”: {summary.error or summary.status.sentence}"
        self._say(f"{title}: {text}")
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                icon = QApplication.windowIcon()
                self._tray = QSystemTrayIcon(icon if not icon.isNull() else status_icon(None), self)
            self._tray.show()
            self._tray.showMessage(title, text, QIcon(), 15_000)
            return
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(f"{title}: {text}", 15_000)

    def _chat_from_menu(self, job_id: str, model: str) -> None:
        if self.select_job(job_id):
            self.chat_with(model)

    def _table_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        summary = self.table_model.job_at(index.row()) if index.isValid() else None
        if summary is None:
            return
        menu = QMenu(self)
        model = summary.fine_tuned_model
        copy = QAction("Copy the fine-tuned model name", menu)
        copy.setEnabled(model is not None)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(model or ""))
        chat = QAction("Chat with this model", menu)
        chat.setEnabled(model is not None or summary.status is JobStatus.SUCCEEDED)
        chat.triggered.connect(lambda: self._chat_from_menu(summary.id, model or ""))
        menu.addAction(copy)
        menu.addAction(chat)
        menu.exec(self.table.viewport().mapToGlobal(position))


class QuitGuard(QObject):
    """Watches the main window's close: the Jobs panel first offers to stop what still bills
    (the user may stay instead)."""

    def __init__(self, panel: JobsPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and not self.panel.before_quit():
            event.ignore()
            return True
        return False

"""The Jobs screen: every job of a provider, one followed in detail, and "Train a model".

Monitoring is one ``JobMonitor`` per job that has not ended: a single-shot QTimer starts one
worker per poll, and the next poll is planned when that worker is done, at the pace
``PollPolicy`` sets (often while training, slower while waiting, backing off on errors). Each
poll saves what it learns to the archive before the screen hears of it, so after a restart
``resume_monitoring`` picks the open jobs up from the archive where they were left.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
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
from desktop.api.backends.local import chat_profile_for, serve_adapter
from desktop.api.credentials import KeyStore
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    ProviderError,
    UploadCancelled,
)
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.metrics import MetricSeries
from desktop.core.settings import AppSettings
from desktop.core.training import ChatRoute, ChatTarget
from desktop.local_training.models import looks_like_hub_id
from desktop.local_training.serving import adapter_folder_problem, stop_server
from desktop.ui.icons import status_icon
from desktop.ui.job_models import JobsTableModel, format_duration, job_title
from desktop.ui.job_view import JobRecord, JobView
from desktop.ui.jobs_common import (
    Failure,
    JobKey,
    Source,
    failure,
    key_text,
    on_this_computer,
    text_key,
)
from desktop.ui.jobs_monitor import LOCAL_POLL, JobMonitor, sooner
from desktop.ui.result_actions import (
    LOCAL_WARNING,
    TAR_ZST,
    DeploymentDialog,
    DownloadDialog,
    ServedChat,
    ServeDialog,
    Serving,
    ServingBanner,
    ServingLedger,
    unpack_adapter,
    zstd_missing,
)
from desktop.ui.train_wizard import DatasetProvider, TrainWizard
from desktop.ui.workers import JobContext, Worker, WorkerKeeper

log = logging.getLogger(__name__)

#: How often the job list of the provider on screen is fetched again (milliseconds).
LIST_INTERVAL_MS = 60_000
#: How often the elapsed and finish columns are repainted (milliseconds).
CLOCK_INTERVAL_MS = 30_000
PAGE_SIZE = 20
#: How long quitting waits for endpoints to stop (milliseconds).
QUIT_STOP_WAIT_MS = 30_000


_STOPPED = FriendlyError(
    kind=ErrorKind.UNKNOWN,
    message="Deploying was stopped.",
    next_step="Press Try again to deploy the model after all.",
    retryable=True,
)
_STOPPED_HERE = FriendlyError(
    kind=ErrorKind.UNKNOWN,
    message="Starting the model was stopped.",
    next_step="Press Try again to start it after all.",
    retryable=True,
)


def _base_label(base_model: str) -> str:
    """A base model (a Hub id or a folder) as a few words."""
    return f"{Path(base_model).name or base_model} (base model)"


def _adapter_folder(path: Path) -> Path:
    """The LoRA adapter in ``path``: a downloaded archive (unpacked beside it), the folder
    itself or one just inside it; ``ValueError`` in plain words when there is none."""
    if path.is_dir():
        inside = sorted(c for c in path.iterdir() if c.is_dir())
        folder = next((f for f in (path, *inside) if (f / "adapter_config.json").is_file()), path)
    else:
        folder = unpack_adapter(path)
    problem = adapter_folder_problem(folder)
    if problem is not None:
        raise ValueError(problem)
    return folder


def _adapter_base(adapter: Path, fallback: str) -> str:
    """The base model an adapter names in its ``adapter_config.json`` when this computer can
    find it (a folder here or a Hub id), else ``fallback`` (the job's base model)."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return fallback
    named = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if isinstance(named, str) and (Path(named).is_dir() or looks_like_hub_id(named)):
        return named
    return fallback


class JobsPanel(QWidget):
    """Jobs of the chosen provider, the selected job in detail, and the training wizard.

    Construct it with the app's profile store, key store, job archive, catalog and settings;
    call ``resume_monitoring()`` once at start and ``shutdown()`` before the app quits.
    ``start_training(dataset_provider)`` opens the wizard; the panel's own "Train a model"
    button uses ``dataset_provider`` (given here or by the last ``start_training``), which
    returns the open dataset or None. ``backend_factory``, ``poll_policy``,
    ``transfer``, ``now``, ``today`` and ``serving_root`` (where models served on this
    computer keep their records) exist for tests (a fake provider, fast polling, small upload
    parts, a fixed clock).
    """

    #: Open a chat with a trained model: the profile id and the model name to ask for (a
    #: deployment made ready first where the provider needs one).
    chat_with_model = Signal(str, str)
    #: Open a chat with a model served on this computer (a ``ServedChat``: its local server's
    #: profile, which is not a saved one, its name and its label).
    chat_with_served = Signal(object)
    #: Compare a model trained on this computer with its base model, both served here: two
    #: ``ServedChat`` (the base model, the trained one).
    compare_served = Signal(object, object)
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
        serving_root: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.today = today
        self.serving_root = serving_root
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
        self.view.compare_base_requested.connect(self.compare_with_base)
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
                return failure(exc)

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
        if isinstance(value, Failure):
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
            policy = self.poll_policy
            if on_this_computer(self._profile(key[0])):
                policy = sooner(policy, LOCAL_POLL)
            monitor = JobMonitor(
                self.archive, key, self._profile, self.backend_factory, policy, self
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
        self.view.set_traits(
            traits_of(profile) if profile is not None else None, here=on_this_computer(profile)
        )
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
        job_key = text_key(key)
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
                return failure(exc)

        def show(value: object) -> None:
            if isinstance(value, Failure):
                self._say(value.friendly.message)
            elif self._selected == selected and isinstance(value, MetricSeries):
                self.view.chart.set_overlay(key, label, value)

        self._run(Worker(job, name="reading a job's curves"), show)

    # Acting --------------------------------------------------------------------------------

    def _act(self, action: str) -> None:
        if self._selected is not None:
            self.act_on(self._selected, action)

    def act_on(self, key: JobKey, action: str) -> Worker | None:
        """``cancel``, ``pause`` or ``resume`` a job; returns the worker asking for it (None
        when its provider profile is gone). A pause that takes a moment (training on this
        computer saves a checkpoint first) shows as pausing until the job has paused."""
        profile = self._profile(key[0])
        if profile is None:
            return None
        archive, factory = self.archive, self.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return svc.act_on_job(backend, archive, key[0], key[1], action)
            except (ProviderError, OSError, ArchiveError) as exc:
                return failure(exc)

        def done(value: object) -> None:
            if isinstance(value, Failure):
                self.view.show_error(value.friendly.text())
                return
            assert isinstance(value, JobSummary)
            record = self.records.get(key)
            if record is not None:
                record.summary = value
                record.pausing = action == "pause" and value.status is JobStatus.RUNNING
            self.table_model.upsert(value)
            if self._selected == key and record is not None:
                self.view.show_record(record, self.archive.job_folder(*key))
            self._follow(key).poll_now()

        verb = {"cancel": "Cancelling", "pause": "Pausing", "resume": "Resuming"}[action]
        self._say(f"{verb} the job…")
        worker = Worker(job, name=f"{action} job")
        self._run(worker, done)
        return worker

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
                return failure(exc)

        def done(value: object) -> None:
            if isinstance(value, Failure):
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
        self._quit_settled = False  # a new job may need asking about at quit
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
        provider allows: at once, after deploying it here (asked first: it may bill), through
        a deployment the user made elsewhere, or served on this computer."""
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
        saved = next((c for c in record.checkpoints if c.model == checkpoint), None)
        label = saved.display_name() if saved is not None else job_title(summary)
        factory = self.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return backend.chat_target(summary, checkpoint)
            except ProviderError as exc:
                return Failure(exc.friendly)

        self._run(
            Worker(job, name="finding how to chat"),
            lambda value: self._on_chat_target(profile, value, label),
        )

    def _on_chat_target(self, profile: ProviderProfile, value: object, label: str = "") -> None:
        if isinstance(value, Failure):
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
        elif value.route is ChatRoute.DEPLOY_IN_APP and on_this_computer(profile):
            # Nothing is billed: start it at once (a running one is found and reused).
            dialog = ServeDialog(provider, value, self, local=True, label=label)
            dialog.start_requested.connect(lambda: self._prepare(profile, value, dialog, label))
            self.serve_dialog = dialog
            dialog.open()
            dialog.begin()
        elif value.route is ChatRoute.DEPLOY_IN_APP:
            wanted = (profile.id, value.model)
            running = next(
                (s for s in self.serving.values() if (s.profile_id, s.model) == wanted), None
            )
            if running is not None:  # already up: never start (and pay for) a second one
                self.chat_with_model.emit(profile.id, running.name)
                return
            dialog = ServeDialog(provider, value, self)
            dialog.start_requested.connect(lambda: self._prepare(profile, value, dialog, label))
            self.serve_dialog = dialog
            dialog.open()
        else:
            self.view.show_error(
                value.instructions
                or f"{provider} does not serve this model; download it to run it yourself."
            )

    def _prepare(
        self, profile: ProviderProfile, target: ChatTarget, dialog: ServeDialog, label: str = ""
    ) -> None:
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory, ledger = self.backend_factory, self.ledger

        def job(context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    name = backend.prepare_chat(target, context.yield_, stop.is_set)
                    chat = backend.chat_profile(name)
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return Failure(exc.friendly)
            if chat.id != profile.id:  # served on this computer, at an address of its own
                return ServedChat(chat, name, label or target.model)
            if target.billing_warning:
                serving = Serving(profile.id, name, target.model, target.billing_warning)
                try:
                    ledger.add(serving)
                except OSError as exc:  # it runs all the same: the banner still shows it
                    log.warning("Could not note the running endpoint %s: %s", name, exc)
                return serving
            return name

        def done(value: object) -> None:
            if isinstance(value, ServedChat):
                self._served_here(profile.id, target.model, value)
                if stop.is_set():  # stopped too late: it is up, so take it down again
                    self.stop_serving(profile.id, value.name)
                    dialog.show_failure(_STOPPED_HERE)
                    return
                dialog.running = False
                dialog.accept()
                self._say(f"{value.label} is running on this computer; the chat is open.")
                self.chat_with_served.emit(value)
                return
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
                if isinstance(value, Failure) and not stop.is_set():
                    dialog.show_failure(value.friendly)
                else:
                    dialog.show_failure(_STOPPED_HERE if dialog.local else _STOPPED)
                return
            dialog.running = False
            dialog.accept()
            self._say(f"{target.model} is ready; the chat is open.")
            self.chat_with_model.emit(profile.id, name)

        worker = Worker(job, name="deploying the trained model")
        worker.signals.yielded.connect(lambda text: dialog.show_stage(str(text)))
        self._run(worker, done)

    def _served_here(self, profile_id: str, model: str, served: ServedChat) -> None:
        """Note a model now served on this computer (the banner offers to stop it)."""
        serving = Serving(profile_id, served.name, model, LOCAL_WARNING, True, served.label)
        self.serving[serving.key] = serving
        self._show_serving()

    def compare_with_base(self) -> None:
        """Serve the selected job's model and its base model on this computer, then compare
        them side by side in the Chat tab."""
        key = self._selected
        record = self.records.get(key) if key is not None else None
        profile = self._profile(key[0]) if key is not None else None
        if key is None or record is None or not on_this_computer(profile):
            return
        assert profile is not None
        summary = record.summary
        trained_label = job_title(summary)
        base_label = _base_label(summary.base_model)
        shown = ChatTarget(model=summary.fine_tuned_model or "", route=ChatRoute.DEPLOY_IN_APP)
        traits = traits_of(profile)
        provider = traits.name if traits is not None else profile.display_name
        dialog = ServeDialog(
            provider, shown, self, local=True, label=f"{trained_label} and {base_label}"
        )
        dialog.setWindowTitle("Compare with the base model")
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory = self.backend_factory

        def job(context: JobContext) -> object:
            served: list[ServedChat] = []
            try:
                with factory(profile) as backend:
                    trained = backend.chat_target(summary)
                    base = backend.base_target(summary)  # type: ignore[attr-defined]
                    for target, label in ((base, base_label), (trained, trained_label)):
                        name = backend.prepare_chat(target, context.yield_, stop.is_set)
                        served.append(ServedChat(backend.chat_profile(name), name, label))
            except UploadCancelled:
                return served, None
            except ProviderError as exc:
                return served, Failure(exc.friendly)
            return served, None

        def done(value: object) -> None:
            served, failure = value  # type: ignore[misc]
            models = (summary.base_model, summary.fine_tuned_model or "")
            for item, model in zip(served, models, strict=False):
                self._served_here(profile.id, model, item)
            dialog.running = False
            if failure is not None or len(served) < 2 or stop.is_set():
                for item in served:  # half a comparison is no use: free the memory
                    self.stop_serving(profile.id, item.name)
                if isinstance(failure, Failure) and not stop.is_set():
                    dialog.show_failure(failure.friendly)
                else:
                    dialog.show_failure(_STOPPED_HERE)
                return
            dialog.accept()
            self._say(f"{trained_label} and its base model are running on this computer.")
            self.compare_served.emit(served[0], served[1])

        def start() -> None:
            worker = Worker(job, name="starting two models")
            worker.signals.yielded.connect(lambda text: dialog.show_stage(str(text)))
            self._run(worker, done)

        dialog.start_requested.connect(start)
        self.serve_dialog = dialog
        dialog.open()
        dialog.begin()

    def stop_serving(self, profile_id: str, name: str) -> Worker | None:
        """Stop something the app started that bills (or holds this computer's memory)
        while up; returns the worker doing it (None when it is already being stopped or
        cannot be)."""
        key = (profile_id, name)
        if key in self._stopping:
            return None
        serving = self.serving.get(key)
        label = serving.shown if serving is not None else name
        local = serving is not None and serving.local
        profile = self._profile(profile_id)
        if profile is None and not local:
            self.view.show_error(
                f"{label} cannot be stopped from here: its provider profile no longer exists. "
                "Stop it in the provider's dashboard, or add the profile again in Settings."
            )
            return None
        factory, ledger, root = self.backend_factory, self.ledger, self.serving_root

        def job(_context: JobContext) -> object:
            if local and not on_this_computer(profile):
                stop_server(name, root)  # an adapter downloaded from a provider, served here
                return None
            assert profile is not None
            try:
                with factory(profile) as backend:
                    backend.stop_serving(name)
            except ProviderError as exc:
                return Failure(exc.friendly)
            if local:
                return None
            try:
                ledger.remove(profile_id, name)
            except OSError as exc:
                log.warning("Could not note that %s stopped: %s", name, exc)
            return None

        def done(value: object) -> None:
            if isinstance(value, Failure):
                still = (
                    "It still holds this computer's memory until it stops."
                    if local
                    else "It still costs money until it stops."
                )
                self.view.show_error(
                    f"{label} could not be stopped: {value.friendly.message} "
                    f"{value.friendly.next_step} {still}"
                )
                return
            self.serving.pop(key, None)
            if local:
                self._say(f"Stopped {label}; the memory it held is free again.")
            else:
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
        """Download the selected job's trained adapter into its archive folder; a model
        trained on this computer is exported into a folder the user chooses instead."""
        key = self._selected
        record = self.records.get(key) if key is not None else None
        profile = self._profile(key[0]) if key is not None else None
        if key is None or record is None or profile is None:
            return
        summary = record.summary
        export = on_this_computer(profile)
        if export:
            chosen = self.view.choose_folder("Export the trained model to", Path.home())
            if chosen is None:
                return
            folder = chosen
        else:
            folder = self.archive.job_folder(*key)
        dialog = DownloadDialog(summary.fine_tuned_model or summary.id, folder, self, export=export)
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        dialog.chat_here_requested.connect(
            lambda path: self._chat_with_download(profile, summary, Path(path), dialog)
        )
        factory = self.backend_factory

        def job(context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return backend.download_result(summary, folder, context.progress, stop.is_set)
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return Failure(exc.friendly)

        def done(value: object) -> None:
            if isinstance(value, Path):
                dialog.show_done(value)
                if export:
                    self._say(f"Exported to {value}.")
                else:
                    self._say(f"The adapter was saved as {value}.")
                    dialog.offer_local_chat()
            elif isinstance(value, Failure) and not stop.is_set():
                dialog.show_failure(value.friendly)
            else:
                dialog.show_failure(None)

        worker = Worker(job, name="downloading the adapter")
        worker.signals.progress.connect(dialog.show_progress)
        self.download_dialog = dialog
        dialog.open()
        self._run(worker, done)

    def _chat_with_download(
        self, profile: ProviderProfile, summary: JobSummary, path: Path, download: DownloadDialog
    ) -> None:
        """Serve an adapter downloaded from a provider on its base model on this computer
        (unpacked first), then open a chat with it."""
        if path.is_file() and path.name.endswith(TAR_ZST):
            missing = zstd_missing()
            if missing is not None:
                download.show_unpack_problem(missing)
                return
        label = f"{job_title(summary)} (on this computer)"
        target = ChatTarget(
            model=summary.fine_tuned_model or summary.id, route=ChatRoute.DEPLOY_IN_APP
        )
        dialog = ServeDialog(profile.display_name, target, self, local=True, label=label)
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        root = self.serving_root

        def job(context: JobContext) -> object:
            try:
                folder = _adapter_folder(path)
                base = _adapter_base(folder, summary.base_model)
                served = serve_adapter(
                    base,
                    folder,
                    progress=context.yield_,
                    should_cancel=stop.is_set,
                    serving_root=root,
                )
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return Failure(exc.friendly)
            except (ValueError, OSError) as exc:
                return Failure(
                    FriendlyError(
                        kind=ErrorKind.UNKNOWN,
                        message=str(exc),
                        next_step="Download the adapter again, or choose the folder you unpacked "
                        "it into.",
                        retryable=False,
                    )
                )
            return ServedChat(chat_profile_for(served.base_url, served.port), served.name, label)

        def done(value: object) -> None:
            dialog.running = False
            if isinstance(value, ServedChat):
                self._served_here(profile.id, target.model, value)
                if stop.is_set():
                    self.stop_serving(profile.id, value.name)
                    dialog.show_failure(_STOPPED_HERE)
                    return
                dialog.accept()
                self.chat_with_served.emit(value)
            elif isinstance(value, Failure) and not stop.is_set():
                dialog.show_failure(value.friendly)
            else:
                dialog.show_failure(_STOPPED_HERE)

        def start() -> None:
            worker = Worker(job, name="starting the downloaded model")
            worker.signals.yielded.connect(lambda text: dialog.show_stage(str(text)))
            self._run(worker, done)

        dialog.start_requested.connect(start)
        self.serve_dialog = dialog
        dialog.open()
        dialog.begin()

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

    def ask_about_training(self, jobs: list[JobSummary]) -> str:
        """Ask what to do with training still running on this computer as the app quits:
        "keep", "pause" or "cancel" (tests replace this)."""
        names = ", ".join(f"“{job_title(job)}”" for job in jobs)
        one = len(jobs) == 1
        box = QMessageBox(self.window())
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Still training")
        box.setText(f"{names} {'is' if one else 'are'} still training on this computer.")
        box.setInformativeText(
            f"{'It' if one else 'They'} can keep training with the app closed (the app follows "
            f"{'it' if one else 'them'} again when you start it), or pause now and go on later "
            "from the last checkpoint."
        )
        keep = box.addButton("Keep training and quit", QMessageBox.ButtonRole.AcceptRole)
        pause = box.addButton("Pause and quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return "keep" if clicked is keep else "pause" if clicked is pause else "cancel"

    def training_here(self) -> list[JobKey]:
        """The jobs training on this computer right now (not paused, not ended)."""
        return [
            key
            for key, record in self.records.items()
            if on_this_computer(self._profile(key[0]))
            and not record.summary.status.is_terminal
            and record.summary.status is not JobStatus.PAUSED
        ]

    def before_quit(self) -> bool:
        """Before the app quits: ask what to do with training running on this computer and
        with what still bills; stop the models served here. False: the user stays."""
        if self._quit_settled:
            return True
        training = self.training_here()
        if training:
            answer = self.ask_about_training([self.records[k].summary for k in training])
            if answer == "cancel":
                return False
            if answer == "pause":
                pausing: set[JobKey] = set()
                for key in training:
                    worker = self.act_on(key, "pause")
                    if worker is not None:
                        pausing.add(key)
                        worker.signals.finished.connect(lambda k=key: pausing.discard(k))
                self._wait_for(lambda: not pausing, QUIT_STOP_WAIT_MS)
        billing = [s for s in self.serving.values() if not s.local]
        if billing:
            answer = self.ask_about_serving(billing)
            if answer == "cancel":
                return False
            if answer == "stop":
                for serving in billing:
                    self.stop_serving(*serving.key)
        self._quit_settled = True
        for serving in [s for s in self.serving.values() if s.local]:
            self.stop_serving(*serving.key)  # it would end with the app; free it now
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
    """Watches the main window's close: the Jobs panel first asks about training running on
    this computer and offers to stop what still bills (the user may stay instead)."""

    def __init__(self, panel: JobsPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and not self.panel.before_quit():
            event.ignore()
            return True
        return False

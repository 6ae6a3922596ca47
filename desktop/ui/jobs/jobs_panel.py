"""The Jobs screen: every job of a provider, one followed in detail, and "Train a model".

The panel lays out and wires the tab's parts: ``JobList`` (the provider choice and the job
table), one ``JobMonitor`` per job that has not ended, ``JobActions`` (cancel, pause, resume,
export, compare curves), ``ChatActions`` and ``DownloadActions`` (what a job trained),
``RunningModels`` (what runs and bills while up) and ``QuitCheck`` (quitting with work under
way). Each poll saves what it learns to the archive before the screen hears of it, so after a
restart ``resume_monitoring`` picks the open jobs up from the archive where they were left.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory, key_backend_factory, trains, traits_of
from desktop.api.credentials import KeyStore
from desktop.api.errors import FriendlyError
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.settings import AppSettings
from desktop.ui.common import palette
from desktop.ui.common.icons import status_icon
from desktop.ui.common.ops import Op
from desktop.ui.jobs.job_models import format_duration, job_title
from desktop.ui.jobs.job_view import JobRecord, JobView
from desktop.ui.jobs.jobs_acting import JobActions
from desktop.ui.jobs.jobs_chat import ChatActions
from desktop.ui.jobs.jobs_common import JobKey, Source, key_text, on_this_computer
from desktop.ui.jobs.jobs_download import DownloadActions
from desktop.ui.jobs.jobs_list import JobList
from desktop.ui.jobs.jobs_monitor import LOCAL_POLL, JobMonitor, sooner
from desktop.ui.jobs.jobs_quit import QuitCheck, QuitGuard, ask_about_serving, ask_about_training
from desktop.ui.jobs.jobs_running import RunningModels
from desktop.ui.jobs.result_actions import (
    DeploymentDialog,
    DownloadDialog,
    ServeDialog,
    Serving,
    ServingBanner,
)
from desktop.ui.jobs.train_wizard import DatasetProvider, TrainWizard

__all__ = ["JobsPanel", "QuitGuard"]


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
        self.wizard: TrainWizard | None = None
        #: The job on screen.
        self.selected: JobKey | None = None
        self._tray: QSystemTrayIcon | None = None
        self.quit_settled = False
        #: What the app started that bills while up (an endpoint), and what is being stopped.
        self.banner = ServingBanner()
        self.running = RunningModels(self, self.banner, self)
        self.running.changed.connect(self.serving_changed)
        self.banner.stop_requested.connect(self.stop_serving)
        self.chat = ChatActions(self, self.running, self)
        self.chat.chat_with_model.connect(self.chat_with_model)
        self.chat.chat_with_served.connect(self.chat_with_served)
        self.chat.compare_served.connect(self.compare_served)
        self.downloads = DownloadActions(self, self)
        self.downloads.chat_here.connect(self.chat.chat_with_download)
        self.actions = JobActions(self, self)
        self.actions.acted.connect(self._on_acted)
        self.quit_check = QuitCheck(self, self.running, lambda key: self.act_on(key, "pause"))

        self.job_list = JobList(
            self, catalog, settings.format_money, now, self._follow, self._following, self
        )
        self.job_list.chat_requested.connect(self._chat_from_menu)
        self.source_combo = self.job_list.source_combo
        self.refresh_button = self.job_list.refresh_button
        self.table_model = self.job_list.table_model
        self.table = self.job_list.table
        self.load_more_button = self.job_list.load_more_button
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

        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.status_line = QLabel()
        self.status_line.setObjectName("jobsStatus")
        self.status_line.setWordWrap(True)
        self.status_line.setStyleSheet(f"color: {palette.MUTED};")
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
        self.view.compare_toggled.connect(self.actions.compare)

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
            self.wizard.deleteLater()  # its running ops keep themselves alive
        wizard = TrainWizard(
            self.profiles,
            self.archive,
            self.catalog,
            self.settings,
            dataset_provider(),
            backend_factory=self.backend_factory,
            transfer=self.transfer,
            today=self.today,
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
            if self.profile_of(provider) is None:
                skipped.append(summary.id)
                continue
            self._follow((provider, summary.id), summary)
            resumed += 1
        self.running.load()
        if resumed:
            noun = "job" if resumed == 1 else "jobs"
            self.say(f"Following {resumed} {noun} that had not finished when the app closed.")
        if skipped:
            many = len(skipped) != 1
            self.say(
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
        self.job_list.stop()
        for monitor in self.monitors.values():
            monitor.stop()
        if self.wizard is not None:
            self.wizard.stop_waiting()
        if self._tray is not None:
            self._tray.hide()

    def select_job(self, job_id: str) -> bool:
        """Select a job of the provider on screen; False when it is not listed."""
        return self.job_list.select_job(job_id)

    @property
    def source(self) -> Source | None:
        """The provider (or archive) whose jobs the table shows."""
        return self.job_list.source

    @property
    def sources(self) -> list[Source]:
        """Every provider and archive the table can show."""
        return self.job_list.sources

    def select_source(self, provider_id: str) -> bool:
        """Show this provider's jobs; False when there is no such source."""
        return self.job_list.select_source(provider_id)

    def reload_sources(self) -> None:
        """Rebuild the provider choice from the profiles and the archive."""
        self.job_list.reload_sources()

    def load_more(self) -> None:
        """Fetch the next page of older jobs."""
        self.job_list.load_more()

    # Profiles ------------------------------------------------------------------------------

    def profile_of(self, provider_id: str) -> ProviderProfile | None:
        """The profile that can train for this provider id, or None (archive only)."""
        if provider_id not in self.profiles:
            return None
        profile = self.profiles.get(provider_id)
        return profile if trains(profile) else None

    # Monitoring ----------------------------------------------------------------------------

    def _follow(self, key: JobKey, summary: JobSummary | None = None) -> JobMonitor:
        """The monitor of a job, created and started when it has none yet."""
        monitor = self.monitors.get(key)
        if monitor is None:
            policy = self.poll_policy
            if on_this_computer(self.profile_of(key[0])):
                policy = sooner(policy, LOCAL_POLL)
            monitor = JobMonitor(
                self.archive, key, self.profile_of, self.backend_factory, policy, self
            )
            monitor.snapshot_ready.connect(self._on_snapshot)
            monitor.poll_failed.connect(
                lambda friendly, delay, k=key: self._on_poll_failed(k, friendly, delay)
            )
            self.monitors[key] = monitor
            if summary is not None and key not in self.records:
                self.records[key] = JobRecord(key[0], summary, self.profile_of(key[0]) is not None)
            monitor.start()
        elif not monitor.following and summary is not None and not summary.status.is_terminal:
            monitor.start()
        return monitor

    def _following(self) -> int:
        """How many jobs are followed (have not ended)."""
        return sum(1 for m in self.monitors.values() if m.following)

    def _on_snapshot(self, snapshot: svc.JobSnapshot) -> None:
        key = (snapshot.provider_id, snapshot.summary.id)
        record = self.records.get(key)
        if record is None:
            record = JobRecord(key[0], snapshot.summary, self.profile_of(key[0]) is not None)
            self.records[key] = record
        record.apply(snapshot)
        source = self.source
        if source is not None and source.provider_id == key[0]:
            self.table_model.upsert(snapshot.summary)
        if key == self.selected:
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
        if key == self.selected:
            self.view.show_problem(text)

    # Selection and the job view ------------------------------------------------------------

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        source = self.source
        summary = self.table_model.job_at(current.row()) if current.isValid() else None
        if source is None or summary is None:
            return
        key = (source.provider_id, summary.id)
        self.selected = key
        record = self.records.get(key)
        if record is None:
            record = JobRecord(key[0], summary, source.live)
            self.records[key] = record
        folder = self.archive.job_folder(*key)
        profile = self.profile_of(key[0])
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

    # Acting --------------------------------------------------------------------------------

    def _act(self, action: str) -> None:
        if self.selected is not None:
            self.act_on(self.selected, action)

    def act_on(self, key: JobKey, action: str) -> Op[object] | None:
        """``cancel``, ``pause`` or ``resume`` a job; returns the op asking for it (None
        when its provider profile is gone). A pause that takes a moment (training on this
        computer saves a checkpoint first) shows as pausing until the job has paused."""
        return self.actions.act_on(key, action)

    def _on_acted(self, key: JobKey, action: str, summary: JobSummary) -> None:
        record = self.records.get(key)
        if record is not None:
            record.summary = summary
            record.pausing = action == "pause" and summary.status is JobStatus.RUNNING
        self.table_model.upsert(summary)
        if self.selected == key and record is not None:
            self.view.show_record(record, self.archive.job_folder(*key))
        self._follow(key).poll_now()

    def export_selected(self, path: Path) -> None:
        """Save the selected job's archive as a zip (on the thread pool)."""
        self.actions.export_selected(path)

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
        self.quit_settled = False  # a new job may need asking about at quit
        self.records[key] = JobRecord(key[0], started.summary, True)
        if self.source is None or self.source.provider_id != key[0]:
            self.select_source(key[0])
        self.table_model.upsert(started.summary)
        self._follow(key, started.summary)
        self.select_job(started.summary.id)
        self.say(f"Started training “{job_title(started.summary)}”.")

    # Using the result ----------------------------------------------------------------------

    def chat_with(self, model: str) -> None:
        """Chat with the selected job's model (or one of its checkpoints, by name)."""
        self.chat.chat_with(model)

    def compare_with_base(self) -> None:
        """Serve the selected job's model and its base model here, then compare them."""
        self.chat.compare_with_base()

    def download_result(self) -> None:
        """Download (or, trained here, export) the selected job's trained model."""
        self.downloads.download_result()

    def stop_serving(self, profile_id: str, name: str) -> Op[object] | None:
        """Stop an endpoint or a model served here; the op doing it, or None."""
        return self.running.stop(profile_id, name)

    @property
    def serving(self) -> dict[JobKey, Serving]:
        """What the app started that runs (and bills or holds memory) while up."""
        return self.running.entries

    @property
    def serve_dialog(self) -> ServeDialog | None:
        """The last dialog that started a model to chat with."""
        return self.chat.serve_dialog

    @property
    def deploy_dialog(self) -> DeploymentDialog | None:
        """The last dialog that asked for a deployment made elsewhere."""
        return self.chat.deploy_dialog

    @property
    def download_dialog(self) -> DownloadDialog | None:
        """The last download's dialog."""
        return self.downloads.dialog

    # Quitting ------------------------------------------------------------------------------

    def ask_about_serving(self, entries: list[Serving]) -> str:
        """Ask what to do with what still bills as the app quits: "stop", "keep" or
        "cancel" (tests replace this)."""
        return ask_about_serving(self.window(), entries)

    def ask_about_training(self, jobs: list[JobSummary]) -> str:
        """Ask what to do with training still running on this computer as the app quits:
        "keep", "pause" or "cancel" (tests replace this)."""
        return ask_about_training(self.window(), jobs)

    def training_here(self) -> list[JobKey]:
        """The jobs training on this computer right now (not paused, not ended)."""
        return self.quit_check.training_here()

    def before_quit(self) -> bool:
        """Before the app quits: ask what to do with training running on this computer and
        with what still bills; stop the models served here. False: the user stays."""
        return self.quit_check.before_quit(self.ask_about_training, self.ask_about_serving)

    # Helpers -------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.status_line.setText(text)

    def _notify(self, summary: JobSummary) -> None:
        """Tell the user a job ended: a desktop notification, or the status bar."""
        title = f"Training {summary.status.label.lower()}"
        text = f"“{job_title(summary)}”: {summary.error or summary.status.sentence}"
        self.say(f"{title}: {text}")
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

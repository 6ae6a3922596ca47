"""Whose jobs the Jobs tab shows and the table of them: a source per provider profile that
trains (asked live) or per archive of a provider without one, the list fetched a page at a
time and again every minute, and its clock columns repainted as time passes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QMenu,
    QPushButton,
    QTableView,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import trains
from desktop.api.errors import ProviderError
from desktop.core.archive import ArchiveError
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.job_models import JobsTableModel
from desktop.ui.jobs.jobs_common import Failure, JobKey, JobsHost, Source, failure

#: How often the job list of the provider on screen is fetched again (milliseconds).
LIST_INTERVAL_MS = 60_000
#: How often the elapsed and finish columns are repainted (milliseconds).
CLOCK_INTERVAL_MS = 30_000
PAGE_SIZE = 20


class JobList(QObject):
    """The provider choice, its job table and the "Load more" button; the panel lays them
    out and follows the jobs that have not ended (``follow``)."""

    #: "Chat with this model" in the table's menu: the job id and its model name.
    chat_requested = Signal(str, str)

    def __init__(
        self,
        host: JobsHost,
        catalog: Catalog,
        format_money: Callable[[float], str],
        now: Callable[[], datetime],
        follow: Callable[[JobKey, JobSummary], object],
        following: Callable[[], int],
        widget: QWidget,
    ) -> None:
        super().__init__(widget)
        self.host = host
        self.widget = widget
        self._follow = follow
        self._following = following
        self.sources: list[Source] = []
        self._list_op: Op[object] | None = None
        self._listing: str | None = None
        self._next_after: str | None = None

        self.source_combo = QComboBox()
        self.source_combo.setToolTip(
            "Whose jobs to show: a provider profile (asked live), or the local archive of "
            "jobs from providers you no longer have a profile for."
        )
        self.source_combo.setMinimumWidth(260)
        self.source_combo.currentIndexChanged.connect(self._on_source)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Ask the provider for its job list again.")
        self.refresh_button.clicked.connect(self.reload_sources)

        self.table_model = JobsTableModel(catalog, format_money, now, self)
        self.table = QTableView()
        self.table.setObjectName("jobsTable")
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((200, 120, 190, 110, 90, 110, 110, 80)):
            self.table.setColumnWidth(column, width)
        self.load_more_button = QPushButton("Load more")
        self.load_more_button.setToolTip("Fetch older jobs from the provider.")
        self.load_more_button.clicked.connect(self.load_more)
        self.load_more_button.hide()

        self._list_timer = QTimer(self, interval=LIST_INTERVAL_MS)
        self._list_timer.timeout.connect(self._refresh_list)
        self._list_timer.start()
        self._clock = QTimer(self, interval=CLOCK_INTERVAL_MS)
        self._clock.timeout.connect(self.table_model.refresh_times)
        self._clock.start()

    def stop(self) -> None:
        """Fetch and repaint no more (before the app quits); a running fetch still ends."""
        self._list_timer.stop()
        self._clock.stop()
        if self._list_op is not None:
            self._list_op.cancel()

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

    def reload_sources(self) -> None:
        """Rebuild the provider choice from the profiles and the archive."""
        current = self.source.provider_id if self.source is not None else None
        active = self.host.profiles.active_id
        sources = []
        for profile in self.host.profiles.profiles:
            if trains(profile):
                label = profile.display_name + (" (active)" if profile.id == active else "")
                sources.append(Source(profile.id, label, profile))
        live = {s.provider_id for s in sources}
        archived = sorted({s.provider_id for s in self.host.archive.list_jobs() if s.provider_id})
        for provider_id in archived:
            if provider_id not in live:
                name = provider_id
                if provider_id in self.host.profiles:
                    name = self.host.profiles.get(provider_id).display_name
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
            self.host.say(
                "There is no provider profile that can train models yet. Add one in Settings "
                "(for example OpenAI or Azure OpenAI), then press Train a model."
            )
            self.refresh_button.setEnabled(False)
            return
        self.refresh_button.setEnabled(source.live)
        archived = self.host.archive.list_jobs(source.provider_id)
        self.table_model.set_jobs(archived)
        if source.live:
            self._refresh_list()
        else:
            if archived:
                many = len(archived) != 1
                self.host.say(
                    f"{len(archived)} archived job{'s' if many else ''}. There is no provider "
                    f"profile for {'these jobs' if many else 'this job'}, so "
                    f"{'they are' if many else 'it is'} shown as last seen."
                )
            else:
                self.host.say("No archived jobs.")
        if self.table_model.rowCount():
            wanted = self.host.selected[1] if self.host.selected else None
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
        if source is None or source.profile is None or self._list_op is not None:
            return
        profile, archive, factory = source.profile, self.host.archive, self.host.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return svc.list_job_page(
                        backend, archive, profile.id, after=after, limit=PAGE_SIZE
                    )
            except (ProviderError, OSError, ArchiveError) as exc:
                return failure(exc)

        self._list_op = run_op(
            self,
            job,
            name="listing jobs",
            success=self._on_page,
            failure=self.host.say,
            done=self._on_page_finished,
        )
        self._listing = profile.id
        self.load_more_button.setEnabled(False)

    def _on_page(self, value: object) -> None:
        source = self.source
        if isinstance(value, Failure):
            self.host.say(f"Could not get the job list: {value.friendly.text()}")
            return
        assert isinstance(value, svc.JobPage)
        if source is None or source.provider_id != value.provider_id:
            return
        for summary in value.summaries:
            self.table_model.upsert(summary)
            record = self.host.records.get((value.provider_id, summary.id))
            if record is not None and not record.loaded:
                record.summary = summary
            if not summary.status.is_terminal:
                self._follow((value.provider_id, summary.id), summary)
        self._next_after = value.next_after
        self.load_more_button.setVisible(value.next_after is not None)
        followed = self._following()
        shown = self.table_model.rowCount()
        jobs = f"{shown} job{'s' if shown != 1 else ''}" if shown else "No jobs"
        following = ""
        if followed:
            verb = "have" if followed != 1 else "has"
            following = f"; following {followed} that {verb} not finished"
        self.host.say(f"{jobs} at {source.label.removesuffix(' (active)')}{following}.")
        if self.host.selected is None and shown:
            self.table.selectRow(0)

    def _on_page_finished(self) -> None:
        asked, self._list_op, self._listing = self._listing, None, None
        self.load_more_button.setEnabled(True)
        source = self.source
        if source is not None and source.live and source.provider_id != asked:
            self._refresh_list()  # the user switched providers while the list was coming

    def _menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        summary = self.table_model.job_at(index.row()) if index.isValid() else None
        if summary is None:
            return
        menu = QMenu(self.widget)
        model = summary.fine_tuned_model
        copy = QAction("Copy the fine-tuned model name", menu)
        copy.setEnabled(model is not None)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(model or ""))
        chat = QAction("Chat with this model", menu)
        chat.setEnabled(model is not None or summary.status is JobStatus.SUCCEEDED)
        chat.triggered.connect(lambda: self.chat_requested.emit(summary.id, model or ""))
        menu.addAction(copy)
        menu.addAction(chat)
        menu.exec(self.table.viewport().mapToGlobal(position))

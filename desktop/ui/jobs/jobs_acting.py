"""Asking for something about one job off the UI thread: cancel, pause or resume it, save
its archive as a zip, or read another job's curves to overlay on the chart."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.api import jobs_service as svc
from desktop.api.errors import ProviderError
from desktop.core.archive import ArchiveError
from desktop.core.jobs import JobSummary
from desktop.core.metrics import MetricSeries
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.jobs_common import Failure, JobKey, JobsHost, failure, text_key

#: What the screen says while each action is asked for.
_VERBS = {"cancel": "Cancelling", "pause": "Pausing", "resume": "Resuming"}


class JobActions(QObject):
    """Cancel, pause, resume, export and compare, each on the thread pool."""

    #: The provider answered an action: the job key, the action and the ``JobSummary``.
    acted = Signal(object, str, object)

    def __init__(self, host: JobsHost, parent: QObject) -> None:
        super().__init__(parent)
        self.host = host

    def act_on(self, key: JobKey, action: str) -> Op[object] | None:
        """``cancel``, ``pause`` or ``resume`` a job; returns the op asking for it (None when
        its provider profile is gone)."""
        host = self.host
        profile = host.profile_of(key[0])
        if profile is None:
            return None
        archive, factory = host.archive, host.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return svc.act_on_job(backend, archive, key[0], key[1], action)
            except (ProviderError, OSError, ArchiveError) as exc:
                return failure(exc)

        def done(value: object) -> None:
            if isinstance(value, Failure):
                host.view.show_error(value.friendly.text())
                return
            assert isinstance(value, JobSummary)
            self.acted.emit(key, action, value)

        host.say(f"{_VERBS[action]} the job…")
        return run_op(self, job, name=f"{action} job", success=done, failure=host.view.show_error)

    def export_selected(self, path: Path) -> None:
        """Save the selected job's archive as a zip."""
        host = self.host
        key = host.selected
        if key is None:
            return
        archive = host.archive

        def job(_context: JobContext) -> object:
            try:
                return archive.export_zip(*key, path)
            except (ArchiveError, OSError) as exc:
                return failure(exc)

        def done(value: object) -> None:
            if isinstance(value, Failure):
                host.view.show_error(value.friendly.text())
            else:
                host.say(f"Saved everything about this job to {value}.")

        run_op(self, job, name="exporting the job", success=done, failure=host.view.show_error)

    def compare(self, key: str, on: bool) -> None:
        """Overlay another job's curves on the chart (read from its archive), or remove them."""
        host = self.host
        if not on:
            host.view.chart.remove_overlay(key)
            return
        job_key = text_key(key)
        record = host.records.get(job_key)
        label = job_title(record.summary) if record is not None else job_key[1]
        if record is not None and record.loaded:
            host.view.chart.set_overlay(key, label, record.series)
            return
        archive, selected = host.archive, host.selected

        def job(_context: JobContext) -> object:
            try:
                return archive.load(*job_key).metrics
            except ArchiveError as exc:
                return failure(exc)

        def show(value: object) -> None:
            if isinstance(value, Failure):
                host.say(value.friendly.message)
            elif host.selected == selected and isinstance(value, MetricSeries):
                host.view.chart.set_overlay(key, label, value)

        run_op(self, job, name="reading a job's curves", success=show, failure=host.view.show_error)

"""Downloading what a job trained: a provider's adapter into the job's archive folder, or a
model trained on this computer exported into a folder the user chooses."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from desktop.api.errors import ProviderError, UploadCancelled
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.jobs_common import Failure, JobsHost, on_this_computer
from desktop.ui.jobs.result_actions import DownloadDialog


class DownloadActions(QObject):
    """Downloads the selected job's result, with a dialog that shows the progress."""

    #: Chat with a downloaded adapter on this computer: the profile, the ``JobSummary``,
    #: the downloaded path and the ``DownloadDialog``.
    chat_here = Signal(object, object, object, object)

    def __init__(self, host: JobsHost, widget: QWidget) -> None:
        super().__init__(widget)
        self.host = host
        self.widget = widget
        self.dialog: DownloadDialog | None = None

    def download_result(self) -> None:
        """Download the selected job's trained adapter into its archive folder; a model
        trained on this computer is exported into a folder the user chooses instead."""
        key = self.host.selected
        record = self.host.records.get(key) if key is not None else None
        profile = self.host.profile_of(key[0]) if key is not None else None
        if key is None or record is None or profile is None:
            return
        summary = record.summary
        export = on_this_computer(profile)
        if export:
            chosen = self.host.view.choose_folder("Export the trained model to", Path.home())
            if chosen is None:
                return
            folder = chosen
        else:
            folder = self.host.archive.job_folder(*key)
        dialog = DownloadDialog(
            summary.fine_tuned_model or summary.id, folder, self.widget, export=export
        )
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        dialog.chat_here_requested.connect(
            lambda path: self.chat_here.emit(profile, summary, Path(path), dialog)
        )
        factory = self.host.backend_factory

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
                    self.host.say(f"Exported to {value}.")
                else:
                    self.host.say(f"The adapter was saved as {value}.")
                    dialog.offer_local_chat()
            elif isinstance(value, Failure) and not stop.is_set():
                dialog.show_failure(value.friendly)
            else:
                dialog.show_failure(None)

        self.dialog = dialog
        dialog.open()
        run_op(
            self,
            job,
            name="downloading the adapter",
            success=done,
            failure=self.host.view.show_error,
            progress=dialog.show_progress,
        )

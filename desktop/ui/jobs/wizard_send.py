"""The wizard's last step: send the job exactly once and say plainly how it went.

A job whose creation may or may not have reached the provider is never sent again on its
own: the page asks whether to look again (nothing sent) or send again (the plan's request id
lets the provider's list be searched first, so no second job is made).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory, trains
from desktop.api.errors import (
    ErrorKind,
    FriendlyError,
    ProviderError,
    UploadCancelled,
    unknown_outcome,
)
from desktop.api.profiles import ProfileStore, ProviderKind
from desktop.core.archive import ArchiveError, JobArchive
from desktop.ui.common import palette
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.wizard_common import Note, disk_failure

log = logging.getLogger(__name__)


def _here(plan: svc.TrainingPlan) -> bool:
    """True when the job trains on this computer (it is started, not sent)."""
    return plan.profile.kind is ProviderKind.LOCAL_TRAINING


class SendPage(QWidget):
    """Uploads and creates the job (or looks for it again), with progress and a way out.

    Signals: ``showing`` asks the wizard to show this page; ``job_started`` carries the
    StartedJob; ``change_settings`` / ``send_again`` / ``switch_provider`` are the user's
    choices after a failure; ``stopped_while_closing`` says an upload stopped because the
    wizard is closing.
    """

    showing = Signal()
    job_started = Signal(object)
    change_settings = Signal()
    send_again = Signal()
    switch_provider = Signal(str)
    stopped_while_closing = Signal()

    def __init__(
        self,
        profiles: ProfileStore,
        archive: JobArchive,
        backend_factory: BackendFactory,
        transfer: svc.TransferOptions,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.profiles = profiles
        self.archive = archive
        self.backend_factory = backend_factory
        self.transfer = transfer
        #: The job being sent (kept for "Send again", which reuses its request id).
        self.plan: svc.TrainingPlan | None = None
        self.started: svc.StartedJob | None = None
        self.failure: FriendlyError | None = None
        self.stage_log: list[str] = []
        #: True once the wizard is to close as soon as the send has ended.
        self.closing = False
        self._op: Op[object] | None = None
        self._stop = threading.Event()

        self.send_title = QLabel("Sending your job")
        self.send_title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.stage = QLabel()
        self.stage.setObjectName("sendStage")
        self.stage.setWordWrap(True)
        self.error_box = QLabel()
        self.error_box.setObjectName("sendError")
        self.error_box.setWordWrap(True)
        self.error_box.setTextFormat(Qt.TextFormat.RichText)
        self.error_box.setStyleSheet(
            f"background: {palette.ERROR_BACKGROUND}; border: 1px solid {palette.ERROR}; "
            "border-radius: 4px; padding: 8px;"
        )
        self.error_box.hide()
        self.stop_button = QPushButton("Stop the upload")
        self.stop_button.setToolTip("Stop sending; nothing is created and nothing is billed.")
        self.stop_button.clicked.connect(self.stop_upload)
        self.change_button = QPushButton("← Change settings")
        self.change_button.setToolTip("Go back, e.g. to choose another provider profile.")
        self.change_button.clicked.connect(self.change_settings)
        self.retry_button = QPushButton("Try again")
        self.retry_button.setToolTip(
            "Send the same job again. If the first attempt reached the provider, the job it "
            "made is used and no second job is created."
        )
        self.retry_button.clicked.connect(self.send_again)
        self.look_button = QPushButton("Look again")
        self.look_button.setToolTip(
            "Ask the provider once more whether it has the job; nothing is sent or billed."
        )
        self.look_button.clicked.connect(self.look_again)
        self.look_button.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.stop_button, self.change_button, self.look_button, self.retry_button):
            buttons.addWidget(button)
        self.elsewhere_box = QGroupBox("Train on another provider")
        self.elsewhere_box.setObjectName("elsewhere")
        self.elsewhere_note = Note(color=palette.TEXT)
        self.elsewhere_combo = QComboBox()
        self.elsewhere_combo.setToolTip(
            "Another provider profile that can train. The same examples, validation set and "
            "epochs are used; you see its models and cost before anything is sent."
        )
        self.elsewhere_button = QPushButton("Review the cost there →")
        self.elsewhere_button.setObjectName("trainElsewhere")
        self.elsewhere_button.setToolTip(self.elsewhere_combo.toolTip())
        self.elsewhere_button.clicked.connect(
            lambda: self.switch_provider.emit(str(self.elsewhere_combo.currentData()))
        )
        elsewhere_row = QHBoxLayout()
        elsewhere_row.addWidget(self.elsewhere_combo, 1)
        elsewhere_row.addWidget(self.elsewhere_button)
        elsewhere_layout = QVBoxLayout(self.elsewhere_box)
        elsewhere_layout.addWidget(self.elsewhere_note)
        elsewhere_layout.addLayout(elsewhere_row)
        self.elsewhere_box.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.send_title)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage)
        layout.addWidget(self.error_box)
        layout.addWidget(self.elsewhere_box)
        layout.addStretch(1)
        layout.addLayout(buttons)

    @property
    def sending(self) -> bool:
        """True while the upload or the create request runs."""
        return self._op is not None

    def send(self, plan: svc.TrainingPlan, *, retry: bool) -> None:
        """Send ``plan`` (``retry``: look for a job an earlier attempt made first)."""
        self.plan = plan
        archive, factory, transfer = self.archive, self.backend_factory, self.transfer
        self._begin_sending(
            "Preparing the job on this computer…" if _here(plan) else "Connecting to the provider…"
        )
        self.stop_button.show()
        self.stop_button.setEnabled(True)
        stop = self._stop

        def job(context: JobContext) -> object:
            try:
                with factory(plan.profile) as backend:
                    return svc.start_training(
                        backend,
                        archive,
                        plan,
                        progress=context.progress,
                        stage=context.yield_,
                        should_cancel=stop.is_set,
                        options=transfer,
                        look_first=retry,
                        sleep=stop.wait,  # closing the app or the wizard ends a wait at once
                    )
            except UploadCancelled:
                return UploadCancelled()
            except ProviderError as exc:
                return exc.friendly
            except (ArchiveError, OSError) as exc:
                return disk_failure(exc)

        self._run(job, "starting the training job")

    def look_again(self) -> None:
        """Ask the provider whether it has the job whose outcome is unknown; sends nothing."""
        previous, plan = self.failure, self.plan
        if self._op is not None or previous is None or plan is None:
            return
        archive, factory = self.archive, self.backend_factory
        self._begin_sending("Looking for the job in the provider's job list…")

        def job(_context: JobContext) -> object:
            try:
                with factory(plan.profile) as backend:
                    found = svc.find_started_job(backend, archive, plan)
            except ProviderError as exc:
                cause = exc.friendly
                return unknown_outcome(
                    cause,
                    message=f"The provider's job list could not be read: {cause.message}",
                    next_step=previous.next_step,
                )
            except (ArchiveError, OSError) as exc:
                return disk_failure(exc)
            if found is not None:
                return found
            return unknown_outcome(
                previous,
                message="The job is still not in the provider's job list.",
                next_step=previous.next_step,
            )

        self._run(job, "looking for the training job")

    def stop_upload(self) -> None:
        """Stop sending before the job is created."""
        self._stop.set()
        self.stop_button.setEnabled(False)
        self.stage.setText("Stopping…")

    def stop_waiting(self) -> None:
        """End any wait of the send at once; a created job is kept."""
        self._stop.set()

    def stop_to_close(self) -> None:
        """Stop sending because the wizard is closing; ``stopped_while_closing`` follows
        once the upload has stopped (a created job is kept)."""
        self.closing = True
        self.stop_upload()

    def forget_plan(self) -> None:
        """The job is set up anew (at another provider): never a retry of the last one."""
        self.elsewhere_box.hide()
        self.plan = None
        self.failure = None

    def _begin_sending(self, stage: str) -> None:
        self._stop.clear()
        self.failure = None
        self.error_box.hide()
        self.elsewhere_box.hide()
        self.progress.show()
        self.progress.setValue(0)
        self.stage.setText(stage)
        for button in (self.stop_button, self.change_button, self.retry_button, self.look_button):
            button.hide()
        here = self.plan is not None and _here(self.plan)
        self.send_title.setText("Starting your job" if here else "Sending your job")
        self.showing.emit()

    def _run(self, job: Callable[[JobContext], object], name: str) -> None:
        def failed(message: str) -> None:
            log.info("Wizard work failed: %s", message)
            self._on_send_error(message)

        self._op = run_op(
            self,
            job,
            name=name,
            success=self._on_sent,
            failure=failed,
            progress=self._on_progress,
            yielded=self._on_stage,
            done=self._on_send_finished,
        )

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 1000)

    def _on_stage(self, text: object) -> None:
        self.stage_log.append(str(text))
        self.stage.setText(str(text))
        if str(text).startswith("Creating"):
            self.stop_button.setEnabled(False)  # the request may reach the provider now

    def _on_sent(self, value: object) -> None:
        if isinstance(value, svc.StartedJob):
            self.started = value
            self.progress.setValue(1000)
            self.closing = True
            self.job_started.emit(value)
            return
        if isinstance(value, UploadCancelled):
            self.send_title.setText("Upload stopped")
            self.stage.setText("Nothing was created and nothing is billed.")
            self.change_button.show()
            self.retry_button.setText("Send again")
            self.retry_button.show()
            if self.closing:
                self.stopped_while_closing.emit()
            return
        assert isinstance(value, FriendlyError)
        self._show_failure(value)

    def _on_send_error(self, message: str) -> None:
        self._show_failure(
            FriendlyError(
                kind=ErrorKind.UNKNOWN,
                message=message,
                next_step="Try again; if it keeps happening, look at the log file.",
                retryable=True,
            )
        )

    def _show_failure(self, friendly: FriendlyError) -> None:
        self.failure = friendly
        said = (
            f"<br><span style='color:{palette.MUTED}'>"
            f"The provider said: {friendly.provider_message}</span>"
            if friendly.provider_message
            else ""
        )
        self.progress.hide()  # a full bar would read as success
        self.stage.setText("")
        if friendly.kind is ErrorKind.UNKNOWN_OUTCOME:
            # The job may exist: sending it again is the user's decision, asked in plain words.
            self.send_title.setText("Was the job started?")
            self.error_box.setText(
                f"<b>{friendly.message}</b> {friendly.next_step}{said}<br><br>"
                "Do you want to look again, or send the job again?"
            )
            self.error_box.show()
            self.change_button.hide()
            self.look_button.show()
            self.retry_button.setText("Send again")
            self.retry_button.show()
            return
        self.send_title.setText("The job was not started")
        self.error_box.setText(f"<b>{friendly.message}</b> {friendly.next_step}{said}")
        self.error_box.show()
        self.change_button.show()
        self.look_button.hide()
        self.retry_button.setText("Try again")
        self.retry_button.setVisible(friendly.retryable or friendly.kind is ErrorKind.UNKNOWN)
        if friendly.kind is ErrorKind.TRAINING_NOT_AVAILABLE:
            self._offer_elsewhere()

    def _offer_elsewhere(self) -> None:
        """The provider takes no more jobs: offer the other profiles that can train."""
        current = self.plan.profile.id if self.plan is not None else None
        others = [p for p in self.profiles.profiles if trains(p) and p.id != current]
        self.elsewhere_combo.clear()
        for profile in others:
            self.elsewhere_combo.addItem(profile.display_name, profile.id)
        self.elsewhere_combo.setVisible(len(others) > 1)
        self.elsewhere_button.setVisible(bool(others))
        if len(others) == 1:
            self.elsewhere_button.setText(f"Train on {others[0].display_name} instead →")
        else:
            self.elsewhere_button.setText("Train there instead →")
        self.elsewhere_note.setText(
            "Your examples are ready to go to another provider: its models and its cost are "
            "shown before anything is sent."
            if others
            else "Add a provider that still takes fine-tuning jobs in Settings (Together AI, "
            "or Nebius as an OpenAI-compatible host), then train again: your examples and "
            "settings stay here."
        )
        self.elsewhere_box.show()

    def _on_send_finished(self) -> None:
        self._op = None
        self.stop_button.hide()

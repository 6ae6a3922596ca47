"""The "Train a model" wizard: choose, review the cost, then send, in three steps.

Why three steps: people who do not program must see what they are about to pay for before
anything leaves the computer. Step one picks the provider, the base model, the method and the
settings (each explained in a tooltip); step two shows the billable tokens and the estimated
cost and refuses to go on while the dataset has blocking problems; step three uploads (reusing
a file the provider already has) and creates the job exactly once, with a progress bar, a
cancel button, and any refusal told in one plain sentence with what to do next.

Each step is its own page (``ChoosePage``, ``ReviewPage``, ``SendPage``); the wizard only
puts them in a stack and moves between them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QLabel, QStackedWidget, QVBoxLayout, QWidget

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory
from desktop.api.profiles import ProfileStore
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.settings import AppSettings
from desktop.ui.common import palette
from desktop.ui.jobs.wizard_choose import ChoosePage
from desktop.ui.jobs.wizard_common import (
    PAGE_REVIEW,
    PAGE_SEND,
    PAGE_SETUP,
    DatasetProvider,
    TrainingData,
)
from desktop.ui.jobs.wizard_review import ReviewPage
from desktop.ui.jobs.wizard_send import SendPage

__all__ = [
    "PAGE_REVIEW",
    "PAGE_SEND",
    "PAGE_SETUP",
    "DatasetProvider",
    "TrainWizard",
    "TrainingData",
]


class TrainWizard(QDialog):
    """Choose, review, send. Emits ``job_started`` with the StartedJob once the job exists."""

    job_started = Signal(object)
    #: The user changed the epochs (an int, or None for automatic), to be shared with the
    #: estimator so there is one epochs choice.
    epochs_chosen = Signal(object)

    def __init__(
        self,
        profiles: ProfileStore,
        archive: JobArchive,
        catalog: Catalog,
        settings: AppSettings,
        data: TrainingData | None,
        *,
        backend_factory: BackendFactory,
        transfer: svc.TransferOptions | None = None,
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setMinimumSize(980, 640)
        transfer = transfer or svc.TransferOptions()
        #: True when the models of a provider chosen after a refusal should open the review.
        self._review_when_ready = False

        self.choose_page = ChoosePage(profiles, catalog, settings, data, backend_factory, today)
        choose = self.choose_page
        choose.cancel.connect(self.reject)
        choose.review.connect(lambda: self.go_to(PAGE_REVIEW))
        choose.epochs_chosen.connect(self.epochs_chosen)
        choose.profile_shown.connect(self._show_steps)
        choose.models_listed.connect(self._on_models_listed)
        choose.estimated.connect(self._on_estimated)
        self.review_page = ReviewPage(
            choose, settings, archive, backend_factory, transfer, sending=lambda: self.sending
        )
        self.review_page.back.connect(lambda: self.go_to(PAGE_SETUP))
        self.review_page.start_button.clicked.connect(lambda: self.start())
        self.send_page = SendPage(profiles, archive, backend_factory, transfer)
        send = self.send_page
        send.showing.connect(lambda: self.go_to(PAGE_SEND))
        send.job_started.connect(self._on_started)
        send.change_settings.connect(lambda: self.go_to(PAGE_SETUP))
        send.send_again.connect(lambda: self.start(retry=True))
        send.switch_provider.connect(self.switch_provider)
        send.stopped_while_closing.connect(self.reject)

        self.steps = QLabel()
        self.steps.setTextFormat(Qt.TextFormat.RichText)
        self.pages = QStackedWidget()
        for page in (self.choose_page, self.review_page, self.send_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.steps)
        layout.addWidget(self.pages, 1)
        choose.chooser.fill_profiles()
        self.go_to(PAGE_SETUP)

    # Moving between the steps --------------------------------------------------------------

    def go_to(self, page: int) -> None:
        """Show a step (review refuses to open while the setup has a problem)."""
        if page == PAGE_REVIEW and self.choose_page.setup_problem() is not None:
            page = PAGE_SETUP
        if page == PAGE_REVIEW:
            self.review_page.fill()
        self.pages.setCurrentIndex(page)
        self._show_steps()
        if page == PAGE_SETUP:
            self.choose_page.validate()

    def _show_steps(self) -> None:
        """The three steps above the page, the current one highlighted."""
        page = self.pages.currentIndex()
        here = self.choose_page.chooser.here
        names = ("Choose", "Review", "Start") if here else ("Choose", "Review the cost", "Send")
        parts = []
        for index, name in enumerate(names):
            style = (
                f"font-weight: 600; color: {palette.ACCENT}"
                if index == page
                else f"color: {palette.FAINT}"
            )
            parts.append(f"<span style='{style}'>{index + 1}. {name}</span>")
        self.steps.setText("&nbsp;&nbsp;›&nbsp;&nbsp;".join(parts))

    def _on_models_listed(self) -> None:
        if self._review_when_ready:
            self._review_when_ready = False
            self.go_to(PAGE_REVIEW)  # stays on the first step when something is missing

    def _on_estimated(self) -> None:
        if self.pages.currentIndex() == PAGE_REVIEW:
            self.review_page.fill()

    def switch_provider(self, profile_id: str) -> None:
        """Set the same job up at another provider profile and show its cost (one click after
        a refusal); nothing is sent until Start."""
        profiles = self.choose_page.chooser.profile_combo
        index = profiles.findData(profile_id)
        if index < 0 or self.sending:
            return
        self.send_page.forget_plan()
        self._review_when_ready = True
        self.go_to(PAGE_SETUP)
        profiles.setCurrentIndex(index)

    # Sending -------------------------------------------------------------------------------

    def start(self, retry: bool = False) -> None:
        """Send the job (``retry`` sends the same plan, looking for an earlier job first)."""
        if self.sending or self.choose_page.setup_problem() or self.review_page.blocked():
            return
        plan = self.send_page.plan
        if not retry or plan is None:
            plan = self.choose_page.build_plan()
        self.send_page.send(plan, retry=retry)

    def _on_started(self, started: svc.StartedJob) -> None:
        self.job_started.emit(started)
        self.accept()

    @property
    def sending(self) -> bool:
        """True while the upload or the create request runs."""
        return self.send_page.sending

    def stop_waiting(self) -> None:
        """End any wait of the send at once (the app is quitting); a created job is kept."""
        self.send_page.stop_waiting()
        self.review_page.stop_waiting()

    # Closing -------------------------------------------------------------------------------

    def reject(self) -> None:
        """Closing while sending stops the upload first (a created job is kept)."""
        if self.sending:
            self.send_page.stop_to_close()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sending:
            self.reject()
            event.ignore()
            return
        super().closeEvent(event)

"""The "Train a model" wizard: choose, review the cost, then send, in three steps.

Why three steps: people who do not program must see what they are about to pay for before
anything leaves the computer. Step one picks the provider, the base model, the method and the
settings (each explained in a tooltip); step two shows the billable tokens and the estimated
cost and refuses to go on while the dataset has blocking problems; step three uploads (reusing
a file the provider already has) and creates the job exactly once, with a progress bar, a
cancel button, and any refusal told in one plain sentence with what to do next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory
from desktop.api.errors import (
    FriendlyError,
)
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog, ModelInfo
from desktop.core.estimate import Estimate, auto_epochs, estimate_from_tokens
from desktop.core.interchange import ExportFormat, export_split, export_values
from desktop.core.kinds import ExampleKind
from desktop.core.settings import AppSettings
from desktop.core.training import (
    ParameterSpec,
    PriceEstimate,
    TrainableModel,
    WandbIntegration,
    new_request_id,
)
from desktop.local_training import unavailable_reason
from desktop.ui.common import palette
from desktop.ui.jobs.parameter_form import ParameterField
from desktop.ui.jobs.wizard_choose import ModelChooser
from desktop.ui.jobs.wizard_common import (
    MIN_TRAINING_EXAMPLES,
    PAGE_REVIEW,
    PAGE_SEND,
    PAGE_SETUP,
    DatasetProvider,
    Note,
    Offer,
    TrainingData,
    blocking_text,
    quoting_traits,
    time_here,
)
from desktop.ui.jobs.wizard_examples import ExamplesBox
from desktop.ui.jobs.wizard_review import ReviewPage
from desktop.ui.jobs.wizard_send import SendPage
from desktop.ui.jobs.wizard_settings import SettingsForm
from desktop.ui.jobs.wizard_tokens import TokenCounter

log = logging.getLogger(__name__)

__all__ = [
    "PAGE_REVIEW",
    "PAGE_SEND",
    "PAGE_SETUP",
    "DatasetProvider",
    "TrainWizard",
    "TrainingData",
]

_ESTIMATE_DELAY_MS = 250


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
        self.profiles = profiles
        self.archive = archive
        self.catalog = catalog
        self.settings = settings
        self.data = data
        self.backend_factory = backend_factory
        self.transfer = transfer or svc.TransferOptions()
        self.today = today
        self.data_kind = data.kind() if data is not None and data.examples else ExampleKind.CHAT
        self.blocking = data.blocking() if data is not None else []
        self.estimate: Estimate | None = None
        self.tokens = TokenCounter(data.examples if data is not None else (), self)
        self.tokens.counted.connect(self._update_estimate)
        #: The settings each training method takes at the chosen provider (None: not read yet).
        self._parameters: dict[str, tuple[ParameterSpec, ...]] | None = None
        self._unreachable: FriendlyError | None = None
        self._form_key: tuple[str, str] | None = None
        self._building_form = False
        self._review_when_ready = False
        #: The epochs chosen here or in the estimator (None: automatic), kept across providers.
        self._epochs_choice: int | None = data.epochs if data is not None else None

        self.steps = QLabel()
        self.steps.setTextFormat(Qt.TextFormat.RichText)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_setup())
        self.review_page = ReviewPage(self, settings, archive, backend_factory, self.transfer)
        self.review_page.back.connect(lambda: self.go_to(PAGE_SETUP))
        self.review_page.start_button.clicked.connect(self.start)
        self.pages.addWidget(self.review_page)
        review = self.review_page
        self.review_headline, self.review_text = review.review_headline, review.review_text
        self.tiles, self.tile_frames = review.tiles, review.tile_frames
        self.tile_captions, self.price_button = review.tile_captions, review.price_button
        self.review_blocking, self.next_steps = review.review_blocking, review.next_steps
        self.reassurance, self.start_button = review.reassurance, review.start_button
        self.send_page = SendPage(profiles, archive, backend_factory, self.transfer)
        self.send_page.showing.connect(lambda: self.go_to(PAGE_SEND))
        self.send_page.job_started.connect(self._on_started)
        self.send_page.change_settings.connect(lambda: self.go_to(PAGE_SETUP))
        self.send_page.send_again.connect(lambda: self.start(retry=True))
        self.send_page.switch_provider.connect(self.switch_provider)
        self.send_page.stopped_while_closing.connect(self.reject)
        self.pages.addWidget(self.send_page)
        send = self.send_page
        self.send_title, self.progress, self.stage = send.send_title, send.progress, send.stage
        self.error_box, self.stop_button = send.error_box, send.stop_button
        self.change_button, self.retry_button = send.change_button, send.retry_button
        self.look_button, self.elsewhere_box = send.look_button, send.elsewhere_box
        self.elsewhere_note, self.elsewhere_combo = send.elsewhere_note, send.elsewhere_combo
        self.elsewhere_button = send.elsewhere_button
        layout = QVBoxLayout(self)
        layout.addWidget(self.steps)
        layout.addWidget(self.pages, 1)

        self._estimate_timer = QTimer(self, singleShot=True, interval=_ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self._update_estimate)
        self.chooser.fill_profiles()
        self.go_to(PAGE_SETUP)

    # Building ------------------------------------------------------------------------------

    def _build_setup(self) -> QWidget:
        page = QWidget()
        self.chooser = ModelChooser(
            self.profiles,
            self.catalog,
            self.settings,
            self.backend_factory,
            self.today,
            self.data_kind,
            ask_folder=lambda: self.choose_model_folder(),
        )
        chooser = self.chooser
        chooser.profile_changed.connect(self._on_profile)
        chooser.offer_arrived.connect(self._on_offer)
        chooser.models_listed.connect(self._on_models_listed)
        chooser.method_changed.connect(self._on_method)
        chooser.model_changed.connect(self._schedule_estimate)
        self.profile_combo, self.profile_note = chooser.profile_combo, chooser.profile_note
        self.model_combo, self.model_note = chooser.model_combo, chooser.model_note
        self.folder_button, self.folder_note = chooser.folder_button, chooser.folder_note
        self.method_combo, self.method_note = chooser.method_combo, chooser.method_note

        self.examples_box = ExamplesBox(
            self.data, self.settings, ask_file=lambda: self.choose_validation_file()
        )
        self.examples_box.changed.connect(self._schedule_estimate)
        examples = self.examples_box
        self.training_label, self.data_note = examples.training_label, examples.data_note
        self.no_validation, self.file_validation = examples.no_validation, examples.file_validation
        self.split_validation = examples.split_validation
        self.split_percent, self.split_seed = examples.split_percent, examples.split_seed
        self.validation_path = examples.validation_path
        self.settings_form = SettingsForm()
        self.settings_form.changed.connect(self._validate)
        self.settings_form.parameter_form.changed.connect(self._on_parameter)
        form = self.settings_form
        self.parameter_form, self.suffix = form.parameter_form, form.suffix
        self.suffix_label, self.suffix_note = form.suffix_label, form.suffix_note
        self.fixed_seed, self.seed = form.fixed_seed, form.seed
        self.wandb_box, self.wandb_project = form.wandb_box, form.wandb_project
        self.wandb_tags = form.wandb_tags

        self.blocking_note = Note(color=palette.ERROR_TEXT)
        self.blocking_note.setObjectName("blockingNote")
        self.estimate_line = QLabel()
        self.estimate_line.setObjectName("estimateLine")
        self.estimate_line.setStyleSheet("font-weight: 600;")
        self.problem_note = Note(color=palette.ERROR_TEXT)
        self.problem_note.setObjectName("setupProblem")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.next_button = QPushButton("Review the cost →")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(lambda: self.go_to(PAGE_REVIEW))

        left = QVBoxLayout()
        left.addWidget(self.chooser)
        left.addWidget(self.examples_box)
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addWidget(self.settings_form, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.estimate_line, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.blocking_note)
        layout.addLayout(columns, 1)
        layout.addWidget(self.problem_note)
        layout.addLayout(buttons)
        return page

    # Questions (tests replace this) --------------------------------------------------------

    def choose_validation_file(self) -> Path | None:
        """Ask for a validation file."""
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Validation examples", str(Path.home()), "JSON Lines (*.jsonl)"
        )
        return Path(chosen) if chosen else None

    def choose_model_folder(self) -> Path | None:
        """Ask for the folder of a model already on this computer."""
        chosen = QFileDialog.getExistingDirectory(self, "The model's folder", str(Path.home()))
        return Path(chosen) if chosen else None

    # Navigation ----------------------------------------------------------------------------

    def go_to(self, page: int) -> None:
        """Show a step (review refuses to open while the setup has a problem)."""
        if page == PAGE_REVIEW and self.setup_problem() is not None:
            page = PAGE_SETUP
        if page == PAGE_REVIEW:
            self.review_page.fill()
        self.pages.setCurrentIndex(page)
        self._show_steps()
        if page == PAGE_SETUP:
            self._validate()

    def _show_steps(self) -> None:
        """The three steps above the page, the current one highlighted."""
        page = self.pages.currentIndex()
        names = (
            ("Choose", "Review", "Start") if self.here else ("Choose", "Review the cost", "Send")
        )
        parts = []
        for index, name in enumerate(names):
            style = (
                f"font-weight: 600; color: {palette.ACCENT}"
                if index == page
                else f"color: {palette.FAINT}"
            )
            parts.append(f"<span style='{style}'>{index + 1}. {name}</span>")
        self.steps.setText("&nbsp;&nbsp;›&nbsp;&nbsp;".join(parts))

    # Provider and models -------------------------------------------------------------------

    # Training settings ---------------------------------------------------------------------

    @property
    def profile(self) -> ProviderProfile | None:
        """The chosen provider profile."""
        return self.chooser.profile

    @property
    def here(self) -> bool:
        """True when the chosen profile trains on this computer."""
        return self.chooser.here

    @property
    def models(self) -> list[TrainableModel]:
        """The models the chosen provider trains (and model folders chosen for it)."""
        return self.chooser.models

    @property
    def model_id(self) -> str | None:
        """The chosen base model's id."""
        return self.chooser.model_id

    @property
    def model_info(self) -> ModelInfo | None:
        """The catalog's facts about the chosen model."""
        return self.chooser.model_info

    @property
    def trainable(self) -> TrainableModel | None:
        """What the provider said about the chosen model (None before its list arrives)."""
        return self.chooser.trainable

    @property
    def exact_tokens(self) -> bool:
        """False when the app cannot count the chosen model's tokens the way its provider does."""
        return self.chooser.exact_tokens

    @property
    def method(self) -> str:
        """The chosen training method."""
        return self.chooser.method

    def _on_profile(self, profile: ProviderProfile | None) -> None:
        """Forget the last provider's settings; say what this one takes."""
        self._parameters = None
        self._unreachable = None
        self._form_key = None
        self.parameter_form.set_specs(())
        if profile is None:
            self._validate()
            return
        self.parameter_form.set_specs((), placeholder=f"Reading {profile.display_name}'s settings…")
        self.settings_form.set_profile(profile)
        self.next_button.setText("Review →" if self.here else "Review the cost →")
        self._show_steps()

    def _on_offer(self, offer: Offer) -> None:
        self._parameters = offer.parameters
        self._unreachable = offer.unreachable

    def _on_models_listed(self) -> None:
        if self._review_when_ready:
            self._review_when_ready = False
            self.go_to(PAGE_REVIEW)  # stays on the first step when something is missing

    def _on_method(self, *_args: object) -> None:
        self._rebuild_parameters()
        self._validate()

    def _rebuild_parameters(self) -> None:
        """Show the settings the chosen provider takes for the chosen method; a change of
        method keeps the values of settings both have, a change of provider only the epochs."""
        profile = self.profile
        if profile is None or self._parameters is None:
            return
        key = (profile.id, self.method)
        if key == self._form_key:
            return
        same_provider = self._form_key is not None and self._form_key[0] == profile.id
        kept = self.parameter_form.all_values() if same_provider else {}
        specs = tuple(s for s in self._parameters.get(self.method, ()) if s.applies_to(key[1]))
        placeholder = ""
        if self._unreachable is not None:
            placeholder = (
                f"The settings appear once {profile.display_name} can be reached: "
                f"{self._unreachable.text()}"
            )
        elif not specs:
            placeholder = "This provider chooses every setting itself."
        self._building_form = True
        try:
            self.parameter_form.set_specs(specs, kept, placeholder)
            epochs = self.epochs
            if epochs is not None:
                epochs.set_value(self._epochs_choice)
        finally:
            self._building_form = False
        self._form_key = key
        self._schedule_estimate()

    def _on_parameter(self, name: str) -> None:
        if self._building_form:
            return
        epochs = self.epochs
        if epochs is not None and epochs.spec.name == name:
            self._epochs_choice = epochs.value()
            self.epochs_chosen.emit(self._epochs_choice)
            self._schedule_estimate()
        else:
            self._validate()

    # Validation set ------------------------------------------------------------------------

    # Checks and the estimate ---------------------------------------------------------------

    @property
    def epochs(self) -> ParameterField | None:
        """The epochs setting, whatever the provider calls it (shared with the estimator)."""
        return self.settings_form.epochs

    def parameter(self, name: str) -> ParameterField | None:
        """The field of the setting called ``name`` at the chosen provider and method; None
        when it takes no such setting."""
        return self.settings_form.parameter(name)

    def hyperparameters(self) -> dict[str, Any]:
        """The settings the user fixed, by the provider's names (automatic ones left out)."""
        return self.settings_form.hyperparameters()

    def wandb(self) -> WandbIntegration | None:
        """The W&B settings, when switched on."""
        return self.settings_form.wandb()

    @property
    def validation_file(self) -> Path | None:
        """The chosen validation file, if any."""
        return self.examples_box.validation_file

    def training_indices(self) -> list[int]:
        """Which examples are trained on (all but those set aside for validation)."""
        return self.examples_box.training_indices()

    def setup_problem(self) -> str | None:
        """Why the setup cannot be sent as it is, in one sentence; None when it can."""
        if self.data is None or not self.data.examples:
            return "Open a dataset with examples in the Dataset tab first."
        profile = self.profile
        if profile is None:
            return "Add a provider profile that can train models in Settings first."
        if not self.model_id:
            return "Choose a base model."
        if not self.method_combo.model().item(self.method_combo.currentIndex()).isEnabled():
            return self.method_note.text() or "This method is not available here."
        if self._unreachable is not None:
            return f"{self._unreachable.message} {self._unreachable.next_step}"
        if self.here and (missing := unavailable_reason()) is not None:
            return missing
        if self._parameters is None:
            return f"Reading {profile.display_name}'s settings…"
        problem = self.parameter_form.problem()
        if problem is not None:
            return problem
        suffix = self.suffix.text().strip()
        problem = profile.capabilities.suffix_problem(suffix) if suffix else None
        if problem is not None:
            return problem
        integration = self.wandb()
        if integration is not None and integration.problem() is not None:
            return integration.problem()
        if self.file_validation.isChecked() and self.examples_box.validation_bytes is None:
            return "Choose the validation file, or pick another validation option."
        if len(self.training_indices()) < MIN_TRAINING_EXAMPLES:
            return (
                f"Training needs at least {MIN_TRAINING_EXAMPLES} examples; set fewer aside "
                "for validation or add examples."
            )
        return None

    def _validate(self, *_args: object) -> None:
        suffix = self.suffix.text().strip()
        profile = self.profile
        self.suffix_note.setText(
            (profile.capabilities.suffix_problem(suffix) or "") if profile and suffix else ""
        )
        problem = self.setup_problem()
        self.problem_note.setText(problem or "")
        self.next_button.setEnabled(problem is None)
        if self.data is not None and self.data.still_checking:
            self.blocking_note.setText(
                "The dataset is still being checked; the cost and any problems are final "
                "once checking has finished."
            )
        elif self.blocking:
            self.blocking_note.setText(blocking_text(self.blocking))
        self.blocking_note.setVisible(bool(self.blocking_note.text()))

    def _schedule_estimate(self, *_args: object) -> None:
        self._validate()
        epochs = self.epochs
        if epochs is not None and self.data is not None and self.data.examples:
            fixed = epochs.spec.automatic_value
            epochs.show_automatic(
                fixed if fixed is not None else auto_epochs(len(self.training_indices()))
            )
        self._estimate_timer.start()

    def _update_estimate(self) -> None:
        """Count tokens for the model's encoding once (on the pool), then estimate."""
        model_id = self.model_id
        if self.data is None or not model_id:
            self.estimate = None
            self.estimate_line.setText("")
            return
        if self.tokens.for_model(model_id) is not None:
            self._show_estimate()
            return
        self.estimate_line.setText("Counting tokens…")

    @property
    def estimating(self) -> bool:
        """True while the estimate is being brought up to date."""
        return self.tokens.counting or self._estimate_timer.isActive()

    def _show_estimate(self) -> None:
        counted = self.tokens.counts
        model_id = self.model_id
        if counted is None or model_id is None:
            return
        subset = [counted.counts[i] for i in self.training_indices()]
        epochs = self.epochs
        self.estimate = estimate_from_tokens(
            subset,
            self.chooser.model_facts(),
            epochs.value() if epochs is not None else None,
            encoding=counted.encoding,
            model_id=model_id,
            automatic_epochs=epochs.spec.automatic_value if epochs is not None else None,
        )
        estimate = self.estimate
        quoting = quoting_traits(self.profile)
        if self.here:
            cost = "free: it trains on this computer"
            taking = time_here(self.profile, self.model_id, estimate, where=False)
            if taking is not None:
                cost += f", {taking}"
        elif estimate.estimated_cost_usd is not None:
            cost = f"about {self.settings.format_money(estimate.estimated_cost_usd)}"
        elif quoting is not None:
            cost = f"{quoting.name} quotes the price on the next page"
        else:
            cost = "cost unknown"
        about = "" if self.exact_tokens else "about "
        tokens = "tokens to train" if self.here else "billable tokens"
        self.estimate_line.setText(
            f"{about}{estimate.billable_tokens_total:,} {tokens} "
            f"({estimate.epochs} epoch{'s' if estimate.epochs != 1 else ''}) · {cost}"
        )
        if self.pages.currentIndex() == PAGE_REVIEW:
            self.review_page.fill()

    # Sending -------------------------------------------------------------------------------

    def build_plan(self) -> svc.TrainingPlan:
        """The exact bytes and settings to send (OpenAI chat JSONL; split as configured)."""
        data, profile, model_id = self.data, self.profile, self.model_id
        assert data is not None and profile is not None and model_id is not None
        values = list(data.examples)
        validation: bytes | None = None
        if self.split_validation.isChecked():
            train, held = export_split(
                values,
                self.split_percent.value(),
                self.split_seed.value(),
                ExportFormat.OPENAI_CHAT,
            )
            training, validation = train.data, held.data
        else:
            training = export_values(values, ExportFormat.OPENAI_CHAT).data
            if self.file_validation.isChecked():
                validation = self.examples_box.validation_bytes
        integration = self.wandb()
        return svc.TrainingPlan(
            profile=profile,
            dataset_name=data.name,
            training=training,
            validation=validation,
            model=model_id,
            request_id=new_request_id(),
            method=self.method,
            hyperparameters=self.hyperparameters(),
            suffix=self.suffix.text().strip() or None,
            seed=self.seed.value() if self.fixed_seed.isChecked() else None,
            integrations=(integration,) if integration is not None else (),
        )

    def current_price(self) -> PriceEstimate | None:
        """The provider's price for the job as it is set up now (None: not asked yet)."""
        return self.review_page.current_price()

    def start(self, retry: bool = False) -> None:
        """Send the job (``retry`` sends the same plan, looking for an earlier job first)."""
        if self.sending or self.setup_problem() or self.review_page.blocked():
            return
        plan = self.send_page.plan
        if not retry or plan is None:
            plan = self.build_plan()
        self.send_page.send(plan, retry=retry)

    def look_again(self) -> None:
        """Ask the provider whether it has the job whose outcome is unknown; sends nothing."""
        self.send_page.look_again()

    def _on_started(self, started: svc.StartedJob) -> None:
        self.job_started.emit(started)
        self.accept()

    @property
    def plan(self) -> svc.TrainingPlan | None:
        """The job last sent (or being sent)."""
        return self.send_page.plan

    @property
    def started(self) -> svc.StartedJob | None:
        """The job once it exists."""
        return self.send_page.started

    @property
    def failure(self) -> FriendlyError | None:
        """Why the last send did not start the job (None while none failed)."""
        return self.send_page.failure

    @property
    def stage_log(self) -> list[str]:
        """Every stage the send went through, in order."""
        return self.send_page.stage_log

    def stop_upload(self) -> None:
        """Stop sending before the job is created."""
        self.send_page.stop_upload()

    def stop_waiting(self) -> None:
        """End any wait of the send at once (the app is quitting); a created job is kept."""
        self.send_page.stop_waiting()
        self.review_page.stop_waiting()

    def switch_provider(self, profile_id: str) -> None:
        """Set the same job up at another provider profile and show its cost (one click after
        a refusal); nothing is sent until Start."""
        index = self.profile_combo.findData(profile_id)
        if index < 0 or self.sending:
            return
        self.elsewhere_box.hide()
        self.send_page.plan = None  # a new provider is a new job, never a retry of the last
        self.send_page.failure = None
        self._review_when_ready = True
        self.go_to(PAGE_SETUP)
        self.profile_combo.setCurrentIndex(index)

    @property
    def sending(self) -> bool:
        """True while the upload or the create request runs."""
        return self.send_page.sending

    def reject(self) -> None:
        """Closing while sending stops the upload first (a created job is kept)."""
        if self.sending:
            self.send_page.closing = True
            self.stop_upload()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sending:
            self.reject()
            event.ignore()
            return
        super().closeEvent(event)

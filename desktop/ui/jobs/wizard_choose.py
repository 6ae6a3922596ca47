"""The wizard's first step: the provider, model and method, the examples and the settings.

The page owns what depends on all three parts: the settings the chosen provider takes for
the chosen method, the one sentence saying why the setup cannot be sent yet, the estimate
line, and the exact plan that is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory
from desktop.api.errors import FriendlyError
from desktop.api.profiles import ProfileStore, ProviderProfile
from desktop.core.catalog import Availability, Catalog
from desktop.core.estimate import Estimate, auto_epochs, estimate_from_tokens
from desktop.core.interchange import ExportFormat, export_split, export_values
from desktop.core.kinds import ExampleKind
from desktop.core.settings import AppSettings
from desktop.core.training import ParameterSpec, new_request_id
from desktop.local_training import unavailable_reason
from desktop.ui.common import palette
from desktop.ui.jobs.wizard_common import (
    MIN_TRAINING_EXAMPLES,
    Note,
    Offer,
    TrainingData,
    blocking_text,
    quoting_traits,
    time_here,
)
from desktop.ui.jobs.wizard_examples import ExamplesBox
from desktop.ui.jobs.wizard_provider import ModelChooser
from desktop.ui.jobs.wizard_settings import SettingsForm
from desktop.ui.jobs.wizard_tokens import TokenCounter

_ESTIMATE_DELAY_MS = 250


class ChoosePage(QWidget):
    """Provider, model and method (``chooser``), the examples and validation set
    (``examples_box``) and the training settings (``settings_form``), with the estimate.

    Signals: ``cancel`` and ``review`` are the buttons; ``epochs_chosen`` carries the epochs
    the user set (an int, or None for automatic); ``profile_shown`` says another provider
    profile was chosen; ``models_listed`` says its models arrived; ``estimated`` says a new
    estimate is shown.
    """

    cancel = Signal()
    review = Signal()
    epochs_chosen = Signal(object)
    profile_shown = Signal()
    models_listed = Signal()
    estimated = Signal()

    def __init__(
        self,
        profiles: ProfileStore,
        catalog: Catalog,
        settings: AppSettings,
        data: TrainingData | None,
        backend_factory: BackendFactory,
        today: Callable[[], date],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.data = data
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
        #: The epochs chosen here or in the estimator (None: automatic), kept across providers.
        self._epochs_choice: int | None = data.epochs if data is not None else None

        self.chooser = ModelChooser(
            profiles,
            catalog,
            settings,
            backend_factory,
            today,
            self.data_kind,
            ask_folder=lambda: self.choose_model_folder(),
        )
        self.chooser.profile_changed.connect(self._on_profile)
        self.chooser.offer_arrived.connect(self._on_offer)
        self.chooser.models_listed.connect(self.models_listed)
        self.chooser.method_changed.connect(self._on_method)
        self.chooser.model_changed.connect(self._schedule_estimate)
        self.examples_box = ExamplesBox(
            data, settings, ask_file=lambda: self.choose_validation_file()
        )
        self.examples_box.changed.connect(self._schedule_estimate)
        self.settings_form = SettingsForm()
        self.settings_form.changed.connect(self.validate)
        self.settings_form.parameter_form.changed.connect(self._on_parameter)

        self.blocking_note = Note(color=palette.ERROR_TEXT)
        self.blocking_note.setObjectName("blockingNote")
        self.estimate_line = QLabel()
        self.estimate_line.setObjectName("estimateLine")
        self.estimate_line.setStyleSheet("font-weight: 600;")
        self.problem_note = Note(color=palette.ERROR_TEXT)
        self.problem_note.setObjectName("setupProblem")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.next_button = QPushButton("Review the cost →")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.review)

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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.blocking_note)
        layout.addLayout(columns, 1)
        layout.addWidget(self.problem_note)
        layout.addLayout(buttons)

        self._estimate_timer = QTimer(self, singleShot=True, interval=_ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self._update_estimate)

    # Questions (tests replace these) -------------------------------------------------------

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

    # The provider and its settings ---------------------------------------------------------

    def _on_profile(self, profile: ProviderProfile | None) -> None:
        """Forget the last provider's settings; say what this one takes."""
        self._parameters = None
        self._unreachable = None
        self._form_key = None
        form = self.settings_form.parameter_form
        form.set_specs(())
        if profile is None:
            self.validate()
            return
        form.set_specs((), placeholder=f"Reading {profile.display_name}'s settings…")
        self.settings_form.set_profile(profile)
        self.next_button.setText("Review →" if self.chooser.here else "Review the cost →")
        self.profile_shown.emit()

    def _on_offer(self, offer: Offer) -> None:
        self._parameters = offer.parameters
        self._unreachable = offer.unreachable

    def _on_method(self) -> None:
        self._rebuild_parameters()
        self.validate()

    def _rebuild_parameters(self) -> None:
        """Show the settings the chosen provider takes for the chosen method; a change of
        method keeps the values of settings both have, a change of provider only the epochs."""
        profile, method = self.chooser.profile, self.chooser.method
        if profile is None or self._parameters is None:
            return
        key = (profile.id, method)
        if key == self._form_key:
            return
        form = self.settings_form.parameter_form
        same_provider = self._form_key is not None and self._form_key[0] == profile.id
        kept = form.all_values() if same_provider else {}
        specs = tuple(s for s in self._parameters.get(method, ()) if s.applies_to(method))
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
            form.set_specs(specs, kept, placeholder)
            epochs = self.settings_form.epochs
            if epochs is not None:
                epochs.set_value(self._epochs_choice)
        finally:
            self._building_form = False
        self._form_key = key
        self._schedule_estimate()

    def _on_parameter(self, name: str) -> None:
        if self._building_form:
            return
        epochs = self.settings_form.epochs
        if epochs is not None and epochs.spec.name == name:
            self._epochs_choice = epochs.value()
            self.epochs_chosen.emit(self._epochs_choice)
            self._schedule_estimate()
        else:
            self.validate()

    # Checks --------------------------------------------------------------------------------

    def setup_problem(self) -> str | None:
        """Why the setup cannot be sent as it is, in one sentence; None when it can."""
        chooser, form = self.chooser, self.settings_form
        if self.data is None or not self.data.examples:
            return "Open a dataset with examples in the Dataset tab first."
        profile = chooser.profile
        if profile is None:
            return "Add a provider profile that can train models in Settings first."
        if not chooser.model_id:
            return "Choose a base model."
        info = chooser.model_info
        status = info.status_on(chooser.today()) if info is not None else None
        if status is not None and status.availability is Availability.SHUT_DOWN:
            return status.sentence  # here already, not only on the review page
        methods = chooser.method_combo
        if not methods.model().item(methods.currentIndex()).isEnabled():
            return chooser.method_note.text() or "This method is not available here."
        if self._unreachable is not None:
            return f"{self._unreachable.message} {self._unreachable.next_step}"
        if chooser.here and (missing := unavailable_reason()) is not None:
            return missing
        if self._parameters is None:
            return f"Reading {profile.display_name}'s settings…"
        problem = form.parameter_form.problem()
        if problem is not None:
            return problem
        suffix = form.suffix.text().strip()
        problem = profile.capabilities.suffix_problem(suffix) if suffix else None
        if problem is not None:
            return problem
        integration = form.wandb()
        if integration is not None and integration.problem() is not None:
            return integration.problem()
        examples = self.examples_box
        if examples.file_validation.isChecked() and examples.validation_bytes is None:
            return "Choose the validation file, or pick another validation option."
        problem = examples.validation_problem()
        if problem is not None:
            return problem
        if len(examples.training_indices()) < MIN_TRAINING_EXAMPLES:
            return (
                f"Training needs at least {MIN_TRAINING_EXAMPLES} examples; set fewer aside "
                "for validation or add examples."
            )
        return None

    def validate(self) -> None:
        """Say what stops the setup from being sent (and the dataset's own problems)."""
        suffix = self.settings_form.suffix.text().strip()
        profile = self.chooser.profile
        self.settings_form.suffix_note.setText(
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

    # The estimate --------------------------------------------------------------------------

    def _schedule_estimate(self) -> None:
        self.validate()
        epochs = self.settings_form.epochs
        if epochs is not None and self.data is not None and self.data.examples:
            fixed = epochs.spec.automatic_value
            epochs.show_automatic(
                fixed
                if fixed is not None
                else auto_epochs(len(self.examples_box.training_indices()))
            )
        self._estimate_timer.start()

    def _update_estimate(self) -> None:
        """Count tokens for the model's encoding once (on the pool), then estimate."""
        model_id = self.chooser.model_id
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
        chooser = self.chooser
        model_id = chooser.model_id
        if counted is None or model_id is None:
            return
        subset = [counted.counts[i] for i in self.examples_box.training_indices()]
        epochs = self.settings_form.epochs
        self.estimate = estimate = estimate_from_tokens(
            subset,
            chooser.model_facts(),
            epochs.value() if epochs is not None else None,
            encoding=counted.encoding,
            model_id=model_id,
            automatic_epochs=epochs.spec.automatic_value if epochs is not None else None,
        )
        quoting = quoting_traits(chooser.profile)
        if chooser.here:
            cost = "free: it trains on this computer"
            taking = time_here(chooser.profile, model_id, estimate, where=False)
            if taking is not None:
                cost += f", {taking}"
        elif estimate.estimated_cost_usd is not None:
            cost = f"about {self.settings.format_money(estimate.estimated_cost_usd)}"
        elif quoting is not None:
            cost = f"{quoting.name} quotes the price on the next page"
        else:
            cost = "cost unknown"
        about = "" if chooser.exact_tokens else "about "
        tokens = "tokens to train" if chooser.here else "billable tokens"
        self.estimate_line.setText(
            f"{about}{estimate.billable_tokens_total:,} {tokens} "
            f"({estimate.epochs} epoch{'s' if estimate.epochs != 1 else ''}) · {cost}"
        )
        self.estimated.emit()

    # The plan ------------------------------------------------------------------------------

    def build_plan(self) -> svc.TrainingPlan:
        """The exact bytes and settings to send (OpenAI chat JSONL; split as configured)."""
        data, chooser, form, examples = (
            self.data,
            self.chooser,
            self.settings_form,
            self.examples_box,
        )
        profile, model_id = chooser.profile, chooser.model_id
        assert data is not None and profile is not None and model_id is not None
        values = list(data.examples)
        validation: bytes | None = None
        if examples.split_validation.isChecked():
            train, held = export_split(
                values,
                examples.split_percent.value(),
                examples.split_seed.value(),
                ExportFormat.OPENAI_CHAT,
            )
            training, validation = train.data, held.data
        else:
            training = export_values(values, ExportFormat.OPENAI_CHAT).data
            if examples.file_validation.isChecked():
                validation = examples.validation_bytes
        integration = form.wandb()
        return svc.TrainingPlan(
            profile=profile,
            dataset_name=data.name,
            training=training,
            validation=validation,
            model=model_id,
            request_id=new_request_id(),
            method=chooser.method,
            hyperparameters=form.hyperparameters(),
            suffix=form.suffix.text().strip() or None,
            seed=form.seed.value() if form.fixed_seed.isChecked() else None,
            integrations=(integration,) if integration is not None else (),
        )

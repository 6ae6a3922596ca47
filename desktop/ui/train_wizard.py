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
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory, trains, traits_of
from desktop.api.errors import (
    FriendlyError,
    ProviderError,
)
from desktop.api.profiles import ProfileStore, ProviderKind, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.bulk import split_train_validation
from desktop.core.catalog import Availability, Catalog, ModelInfo
from desktop.core.estimate import Estimate, auto_epochs, estimate_from_tokens, unknown_model
from desktop.core.interchange import ExportFormat, export_split, export_values
from desktop.core.kinds import ExampleKind
from desktop.core.settings import AppSettings
from desktop.core.tokens import counter_for_model, encoding_for_model
from desktop.core.training import (
    ChatRoute,
    ParameterRole,
    ParameterSpec,
    PriceEstimate,
    TrainableModel,
    WandbIntegration,
    new_request_id,
)
from desktop.local_training import unavailable_reason
from desktop.ui.ops import Op, run_op
from desktop.ui.parameter_form import ParameterField, ParameterForm
from desktop.ui.wizard_common import (
    MAX_SEED,
    MAX_SUFFIX,
    METHOD_LABELS,
    MIN_TRAINING_EXAMPLES,
    NOTICE_DAYS,
    PAGE_REVIEW,
    PAGE_SEND,
    PAGE_SETUP,
    TIPS,
    Counted,
    DatasetProvider,
    Note,
    Offer,
    TrainingData,
    blocking_text,
    double_box,
    forbidden_words,
    quoting_traits,
    spin_box,
    time_here,
    tip_label,
    with_note,
)
from desktop.ui.wizard_review import ReviewPage
from desktop.ui.wizard_send import SendPage
from desktop.ui.workers import JobContext

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
        hold: object | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``hold`` is not used: each op keeps its own work alive until it ends, even after
        the wizard is closed; it is accepted so existing callers keep working."""
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
        self.models: list[TrainableModel] = []
        #: Model folders the user chose for this profile (kept when the list arrives later).
        self._folder_models: list[TrainableModel] = []
        self.counted: Counted | None = None
        self.estimate: Estimate | None = None
        self.validation_file: Path | None = None
        self._validation_bytes: bytes | None = None
        self._counting = False
        #: The settings each training method takes at the chosen provider (None: not read yet).
        self._parameters: dict[str, tuple[ParameterSpec, ...]] | None = None
        self._unreachable: FriendlyError | None = None
        self._form_key: tuple[str, str] | None = None
        self._building_form = False
        self._profile_notice = ""
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
        self._fill_profiles()
        self.go_to(PAGE_SETUP)

    # Building ------------------------------------------------------------------------------

    def _build_setup(self) -> QWidget:
        page = QWidget()
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip(TIPS["provider"])
        self.profile_combo.currentIndexChanged.connect(self._on_profile)
        self.profile_note = Note()
        self.model_combo = QComboBox()
        self.model_combo.setToolTip(TIPS["model"])
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        self.folder_button = QPushButton("Choose a model folder…")
        self.folder_button.setObjectName("chooseModelFolder")
        self.folder_button.setToolTip(TIPS["folder"])
        self.folder_button.clicked.connect(self.browse_model_folder)
        self.folder_button.hide()
        self.model_note = Note()
        self.folder_note = Note(color="#b3261e")
        self.folder_note.setObjectName("modelFolderProblem")
        self.method_combo = QComboBox()
        self.method_combo.setToolTip(TIPS["method"])
        for method, label in METHOD_LABELS.items():
            self.method_combo.addItem(label, method)
        self.method_combo.currentIndexChanged.connect(self._on_method)
        self.method_note = Note()
        model_box = QGroupBox("Provider and model")
        form = QFormLayout(model_box)
        form.addRow(
            tip_label("Provider", "provider"), with_note(self.profile_combo, self.profile_note)
        )
        model_row = QWidget()
        model_line = QHBoxLayout(model_row)
        model_line.setContentsMargins(0, 0, 0, 0)
        model_line.addWidget(self.model_combo, 1)
        model_line.addWidget(self.folder_button)
        model_field = with_note(model_row, self.model_note)
        model_field.layout().addWidget(self.folder_note)
        form.addRow(tip_label("Base model", "model"), model_field)
        form.addRow(tip_label("Method", "method"), with_note(self.method_combo, self.method_note))

        data_box = QGroupBox("Examples")
        data_layout = QVBoxLayout(data_box)
        name = self.data.name if self.data is not None else "no dataset"
        count = len(self.data.examples) if self.data is not None else 0
        self.training_label = QLabel(
            f"Training on <b>{name}</b>: {count:,} example{'s' if count != 1 else ''}"
        )
        self.training_label.setWordWrap(True)
        data_layout.addWidget(self.training_label)
        validation_title = QLabel("Validation set")
        validation_title.setToolTip(TIPS["validation"])
        data_layout.addWidget(validation_title)
        self.no_validation = QRadioButton("None")
        self.split_validation = QRadioButton("Set aside")
        self.file_validation = QRadioButton("Use another file")
        self.validation_group = QButtonGroup(self)
        for button in (self.no_validation, self.split_validation, self.file_validation):
            button.setToolTip(TIPS["validation"])
            self.validation_group.addButton(button)
        self.split_percent = double_box(1, 50, min(max(self.settings.validation_percent, 1), 50), 0)
        self.split_percent.setSuffix(" %")
        self.split_percent.setToolTip(TIPS["split"])
        self.split_seed = spin_box(0, MAX_SEED, self.settings.split_seed)
        self.split_seed.setToolTip(TIPS["split"])
        self.validation_path = QLineEdit()
        self.validation_path.setReadOnly(True)
        self.validation_path.setPlaceholderText("a .jsonl file of other examples")
        self.validation_path.setToolTip(TIPS["validation"])
        self.browse_button = QPushButton("Choose…")
        self.browse_button.setToolTip("Pick a JSONL file of examples kept out of training.")
        self.browse_button.clicked.connect(self._browse_validation)
        grid = QGridLayout()
        grid.addWidget(self.no_validation, 0, 0)
        grid.addWidget(self.split_validation, 1, 0)
        split_row = QHBoxLayout()
        split_row.addWidget(self.split_percent)
        split_row.addWidget(QLabel("of the examples, seed"))
        split_row.addWidget(self.split_seed)
        split_row.addStretch(1)
        grid.addLayout(split_row, 1, 1)
        grid.addWidget(self.file_validation, 2, 0)
        file_row = QHBoxLayout()
        file_row.addWidget(self.validation_path, 1)
        file_row.addWidget(self.browse_button)
        grid.addLayout(file_row, 2, 1)
        data_layout.addLayout(grid)
        self.data_note = Note()
        data_layout.addWidget(self.data_note)
        if count >= 2 * MIN_TRAINING_EXAMPLES:
            self.split_validation.setChecked(True)
        else:
            self.no_validation.setChecked(True)
        self.validation_group.buttonToggled.connect(self._on_validation_choice)
        self.split_percent.valueChanged.connect(self._schedule_estimate)
        self.split_seed.valueChanged.connect(self._schedule_estimate)

        self.parameter_form = ParameterForm()
        self.parameter_form.setObjectName("parameterForm")
        self.parameter_form.changed.connect(self._on_parameter)
        settings_box = QGroupBox("Training settings")
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.addWidget(self.parameter_form)

        self.suffix = QLineEdit()
        self.suffix.setMaxLength(MAX_SUFFIX)
        self.suffix.setPlaceholderText("e.g. support-bot")
        self.suffix.setToolTip(TIPS["suffix"].format(limit=MAX_SUFFIX))
        self.suffix.textChanged.connect(self._validate)
        self.suffix_note = Note(color="#b3261e")
        self.fixed_seed = QCheckBox("Fixed")
        self.fixed_seed.setToolTip(TIPS["seed"])
        self.seed = spin_box(0, MAX_SEED, 42)
        self.seed.setToolTip(TIPS["seed"])
        self.seed.setEnabled(False)
        self.fixed_seed.toggled.connect(self.seed.setEnabled)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.fixed_seed)
        seed_row.addWidget(self.seed, 1)
        name_box = QGroupBox("Name and repeatability")
        name_form = QFormLayout(name_box)
        suffix_field = with_note(self.suffix, self.suffix_note)
        self.suffix_label = QLabel("Suffix")
        self.suffix_label.setToolTip(self.suffix.toolTip())
        name_form.addRow(self.suffix_label, suffix_field)
        name_form.addRow(tip_label("Seed", "seed"), seed_row)

        self.wandb_box = QGroupBox("Weights && Biases (optional)")
        self.wandb_box.setCheckable(True)
        self.wandb_box.setChecked(False)
        self.wandb_box.setToolTip(TIPS["wandb"])
        self.wandb_project = QLineEdit()
        self.wandb_project.setPlaceholderText("required")
        self.wandb_project.setToolTip("The W&B project the run is logged to (it must exist).")
        self.wandb_name = QLineEdit()
        self.wandb_name.setToolTip("A name for this run in W&B; optional.")
        self.wandb_entity = QLineEdit()
        self.wandb_entity.setToolTip("The W&B team or user name that owns the project; optional.")
        self.wandb_tags = QLineEdit()
        self.wandb_tags.setToolTip(TIPS["tags"])
        self.wandb_tags.setPlaceholderText("e.g. support, v2")
        wandb_form = QFormLayout(self.wandb_box)
        wandb_form.addRow("Project", self.wandb_project)
        wandb_form.addRow("Run name", self.wandb_name)
        wandb_form.addRow("Entity", self.wandb_entity)
        wandb_form.addRow(tip_label("Tags", "tags"), self.wandb_tags)
        self.wandb_box.toggled.connect(self._validate)
        for edit in (self.wandb_project, self.wandb_tags):
            edit.textChanged.connect(self._validate)

        self.blocking_note = Note(color="#b3261e")
        self.blocking_note.setObjectName("blockingNote")
        self.estimate_line = QLabel()
        self.estimate_line.setObjectName("estimateLine")
        self.estimate_line.setStyleSheet("font-weight: 600;")
        self.problem_note = Note(color="#b3261e")
        self.problem_note.setObjectName("setupProblem")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.next_button = QPushButton("Review the cost →")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(lambda: self.go_to(PAGE_REVIEW))

        left = QVBoxLayout()
        left.addWidget(model_box)
        left.addWidget(data_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(settings_box)
        right.addWidget(name_box)
        right.addWidget(self.wandb_box)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
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
            style = "font-weight: 600; color: #1a73e8" if index == page else "color: #80868b"
            parts.append(f"<span style='{style}'>{index + 1}. {name}</span>")
        self.steps.setText("&nbsp;&nbsp;›&nbsp;&nbsp;".join(parts))

    # Provider and models -------------------------------------------------------------------

    def _fill_profiles(self) -> None:
        self.profile_combo.blockSignals(True)
        items = QStandardItemModel(self.profile_combo)
        self.profile_combo.setModel(items)
        active = self.profiles.active_id
        chosen = -1
        for profile in self.profiles.profiles:
            can_train = trains(profile)
            label = profile.display_name if can_train else f"{profile.display_name} (chat only)"
            self.profile_combo.addItem(label, profile.id)
            item = items.item(items.rowCount() - 1)
            item.setEnabled(can_train)
            if can_train and (chosen < 0 or profile.id == active):
                chosen = self.profile_combo.count() - 1
        self.profile_combo.setCurrentIndex(chosen)
        self.profile_combo.blockSignals(False)
        self._on_profile()

    @property
    def profile(self) -> ProviderProfile | None:
        """The chosen provider profile."""
        profile_id = self.profile_combo.currentData()
        return self.profiles.get(profile_id) if profile_id in self.profiles else None

    @property
    def here(self) -> bool:
        """True when the chosen profile trains on this computer (nothing sent, nothing
        billed)."""
        profile = self.profile
        return profile is not None and profile.kind is ProviderKind.LOCAL_TRAINING

    def _on_profile(self, *_args: object) -> None:
        profile = self.profile
        self.model_combo.clear()
        self.models = []
        self._folder_models = []
        self._parameters = None
        self._unreachable = None
        self._form_key = None
        self.parameter_form.set_specs(())
        if profile is None:
            self.profile_note.setText(
                "There is no provider profile that can train models. Add one in Settings "
                "(for example Together AI, Nebius, OpenAI or Azure OpenAI)."
            )
            self._validate()
            return
        self.parameter_form.set_specs((), placeholder=f"Reading {profile.display_name}'s settings…")
        here = self.here
        self.folder_button.setVisible(here)
        self.folder_note.setText("")
        limit = profile.capabilities.suffix_max_length
        self.suffix.setMaxLength(max(limit, MAX_SUFFIX))  # a longer one is said, not cut off
        tip = TIPS["suffix"].format(limit=limit)
        forbidden = forbidden_words(profile.capabilities.suffix_forbidden_chars)
        if forbidden:
            tip += f" {profile.display_name} takes no {forbidden}."
        self.suffix.setToolTip(tip)
        self.suffix_label.setToolTip(tip)
        self.next_button.setText("Review →" if here else "Review the cost →")
        self._show_steps()
        self._profile_notice = self._profile_facts(profile)
        self.profile_note.setText(
            self._profile_notice or "Fetching the models this provider offers…"
        )
        self._fill_models([], profile)
        factory, catalog = self.backend_factory, self.catalog
        traits = traits_of(profile)
        methods = traits.methods if traits is not None else tuple(METHOD_LABELS)
        wandb = traits is not None and "wandb" in traits.integrations
        if not wandb:
            self.wandb_box.setChecked(False)  # the provider would refuse the job
        self.wandb_box.setVisible(wandb)

        def job(_context: JobContext) -> Offer:
            try:
                backend = factory(profile)
            except ProviderError as exc:
                return Offer(profile.id, {}, [], exc.friendly, exc.friendly)
            with backend:
                parameters = {method: backend.parameters(method) for method in methods}
                try:
                    models = backend.trainable_models(catalog)
                except ProviderError as exc:
                    return Offer(profile.id, parameters, [], exc.friendly, None)
            return Offer(profile.id, parameters, models, None, None)

        self._run(job, "listing models", self._on_models)

    def _profile_facts(self, profile: ProviderProfile) -> str:
        """What to know about training here before choosing: the provider's last days, and
        a deployment step before chatting."""
        traits = traits_of(profile)
        if traits is None:
            return ""
        notes: list[str] = []
        today = self.today()
        last = traits.takes_jobs_until
        if last is not None and today > last:
            notes.append(
                f"{traits.name} takes no new fine-tuning jobs since {last.isoformat()}; choose "
                "another provider profile if the job is refused."
            )
        elif last is not None and (last - today).days <= NOTICE_DAYS:
            served = (
                f", and trained models stop answering on {traits.serves_until.isoformat()}"
                if traits.serves_until is not None
                else ""
            )
            notes.append(
                f"{traits.name} takes new fine-tuning jobs only until {last.isoformat()}{served}."
            )
        if ChatRoute.DEPLOY_ELSEWHERE in traits.chat_routes:
            notes.append(
                f"The trained model must be deployed in {traits.name}'s own portal before you "
                "can chat with it."
            )
        elif ChatRoute.DEPLOY_IN_APP in traits.chat_routes and profile.capabilities.needs_key:
            notes.append(
                "To chat with the trained model, the app first deploys it at the provider (the "
                "Jobs tab says what that costs before it starts)."
            )
        if profile.kind is ProviderKind.LOCAL_TRAINING:
            missing = unavailable_reason()
            if missing is not None:
                notes.append(missing)
            notes.append(
                "Training runs on this computer and costs nothing. A listed model that is not "
                "on this computer yet is downloaded by the training job first (its events "
                "show the progress); or choose a model folder you already have."
            )
        return " ".join(notes)

    def _on_models(self, value: object) -> None:
        assert isinstance(value, Offer)
        profile = self.profile
        if profile is None or profile.id != value.profile_id:
            return
        notice = self._profile_notice
        if value.problem is not None:
            self.profile_note.setText(
                f"Could not get the provider's model list: {value.problem.message} "
                "Showing the models this provider usually offers."
                + (f" {notice}" if notice else "")
            )
        else:
            self.profile_note.setText(notice)
        self._parameters = value.parameters
        self._unreachable = value.unreachable
        listed = {m.id for m in value.models}
        self.models = value.models + [m for m in self._folder_models if m.id not in listed]
        self._fill_models(self.models, profile)
        if self._review_when_ready:
            self._review_when_ready = False
            self.go_to(PAGE_REVIEW)  # stays on the first step when something is missing

    def _offered(self, models: list[TrainableModel], profile: ProviderProfile) -> list[str]:
        """The ids to offer: what the provider lists, or what it usually offers when its list
        could not be read."""
        if models:
            return [m.id for m in models]
        return list(profile.capabilities.catalog_models)

    def _fill_models(self, models: list[TrainableModel], profile: ProviderProfile) -> None:
        wanted = self.model_combo.currentData() or self.settings.last_model
        self.model_combo.blockSignals(True)
        items = QStandardItemModel(self.model_combo)
        self.model_combo.setModel(items)
        usable: list[int] = []
        listed = {m.id: m for m in models}
        for model_id in self._offered(models, profile):
            info = self.catalog.get(model_id)
            status = info.status_on(self.today()) if info is not None else None
            if model_id.startswith("ft:"):
                label = f"{model_id}  (train further)"
            elif info is not None and status is not None:
                mark = {
                    Availability.SHUT_DOWN: " — shut down",
                    Availability.RETIRING_SOON: " — retiring soon",
                }.get(status.availability, "")
                price = info.training_price_per_1m
                cost = f" · ${price:g} per 1M tokens" if price is not None else ""
                label = f"{info.display_name}{cost}{mark}"
            elif model_id in listed:
                offered = listed[model_id]
                price = offered.training_price_per_1m
                cost = f" · ${price:g} per 1M tokens" if price is not None else ""
                label = f"{offered.label}{cost}"
            else:
                label = model_id
            self.model_combo.addItem(label, model_id)
            item = items.item(items.rowCount() - 1)
            if status is not None:
                item.setToolTip(status.sentence)
            elif model_id in listed and listed[model_id].note:
                item.setToolTip(listed[model_id].note)  # size, licence, time here
            if status is not None and status.availability is Availability.SHUT_DOWN:
                item.setEnabled(False)
            else:
                usable.append(items.rowCount() - 1)
        index = self.model_combo.findData(wanted)
        if index not in usable:
            index = usable[0] if usable else -1
        self.model_combo.setCurrentIndex(index)
        self.model_combo.blockSignals(False)
        self._on_model()

    def browse_model_folder(self) -> None:
        """Train a model from a folder on this computer; the backend checks it is one."""
        profile = self.profile
        if profile is None or not self.here:
            return
        folder = self.choose_model_folder()
        if folder is None:
            return
        factory = self.backend_factory
        self.folder_note.setText("")
        self.model_note.setText(f"Checking {folder}…")

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return profile.id, backend.folder_model(folder)  # type: ignore[attr-defined]
            except ProviderError as exc:
                return profile.id, exc.friendly

        self._run(job, "checking the model folder", self._on_model_folder)

    def _on_model_folder(self, value: object) -> None:
        profile_id, outcome = value  # type: ignore[misc]
        profile = self.profile
        if profile is None or profile.id != profile_id:
            return
        if isinstance(outcome, FriendlyError):
            self._on_model()
            self.folder_note.setText(f"{outcome.message} {outcome.next_step}")
            return
        assert isinstance(outcome, TrainableModel)
        self._folder_models = [m for m in self._folder_models if m.id != outcome.id] + [outcome]
        self.models = [m for m in self.models if m.id != outcome.id] + [outcome]
        self._fill_models(self.models, profile)
        self.model_combo.setCurrentIndex(self.model_combo.findData(outcome.id))

    @property
    def model_id(self) -> str | None:
        """The chosen base model's id."""
        value = self.model_combo.currentData()
        return value if isinstance(value, str) else None

    @property
    def model_info(self) -> ModelInfo | None:
        """The catalog's facts about the chosen model."""
        return self.catalog.get(self.model_id) if self.model_id else None

    @property
    def trainable(self) -> TrainableModel | None:
        """What the provider said about the chosen model (None before its list arrives)."""
        return next((m for m in self.models if m.id == self.model_id), None)

    def _model_facts(self) -> ModelInfo | None:
        """The chosen model's limit and price for the estimate: the catalog's, or else what
        the provider's list says."""
        info, listed, model_id = self.model_info, self.trainable, self.model_id
        if info is not None or listed is None or model_id is None:
            return info
        return replace(
            unknown_model(model_id),
            display_name=listed.label,
            max_tokens_per_example=listed.context_limit,
            training_price_per_1m=listed.training_price_per_1m,
            methods=listed.methods,
            shutdown_date=listed.retires_on,
            source="the provider's price list",
        )

    @property
    def exact_tokens(self) -> bool:
        """False when the app cannot count the chosen model's tokens the way its provider does."""
        listed = self.trainable
        if listed is not None:
            return listed.exact_tokens
        return self.model_info is not None

    def _on_model(self, *_args: object) -> None:
        model_id = self.model_id
        info = self.model_info
        listed = self.trainable
        parts: list[str] = []
        if info is not None:
            if info.training_price_per_1m is not None:
                if "training_price_per_1m" in info.overridden:
                    source = "your price"
                else:
                    as_of = f" of {info.price_as_of.isoformat()}" if info.price_as_of else ""
                    source = f"the app's price list{as_of}"
                parts.append(
                    f"Training costs ${info.training_price_per_1m:g} per million tokens ({source})."
                )
            elif info.training_price_per_hour is not None:
                parts.append(f"Training is billed per hour (${info.training_price_per_hour:g}).")
            if info.max_tokens_per_example:
                parts.append(f"Each example can hold up to {info.max_tokens_per_example:,} tokens.")
            parts.append(info.status_on(self.today()).sentence)
        elif listed is not None:
            parts.extend(self._listed_facts(listed))
        elif model_id:
            parts.append("The app has no price for this model, so the cost cannot be estimated.")
        if listed is not None and listed.note:
            parts.append(listed.note)
        self.model_note.setText(" ".join(parts))
        self._fill_methods()
        self._schedule_estimate()

    def _listed_facts(self, listed: TrainableModel) -> list[str]:
        """What the provider's own list says of a model the app's catalog does not know."""
        traits = quoting_traits(self.profile)
        quotes = traits is not None
        parts: list[str] = []
        if listed.training_price_per_1m is not None:
            parts.append(
                f"Training costs ${listed.training_price_per_1m:g} per million tokens "
                "(the provider's price list)."
            )
        elif not quotes and not self.here:
            parts.append("The provider gives no price for this model, so the cost is unknown.")
        if traits is not None:
            parts.append(f"{traits.name} quotes its own price for the job on the next page.")
        if listed.context_limit:
            parts.append(f"Each example can hold up to {listed.context_limit:,} tokens.")
        if listed.retires_on is not None:
            parts.append(f"The provider retires it on {listed.retires_on.isoformat()}.")
        if not listed.exact_tokens and not listed.note:
            parts.append(
                "The app counts this model's tokens only approximately, so its estimate is "
                "approximate."
            )
        return parts

    def _fill_methods(self) -> None:
        profile = self.profile
        info = self.model_info
        listed = self.trainable
        offered = set(profile.capabilities.methods) if profile is not None else set()
        traits = traits_of(profile) if profile is not None else None
        if traits is not None:
            offered &= set(traits.methods)
        if info is not None:
            offered &= set(info.methods) | set(info.methods_unconfirmed)
        elif listed is not None:
            offered &= set(listed.methods)
        preference = self.data_kind is ExampleKind.PREFERENCE
        model = self.method_combo.model()
        assert isinstance(model, QStandardItemModel)
        reasons = {}
        for row in range(self.method_combo.count()):
            method = self.method_combo.itemData(row)
            fits = (method == "dpo") == preference
            allowed = method in offered and fits
            model.item(row).setEnabled(allowed)
            if method not in offered:
                reasons[method] = "the chosen provider or model does not offer it"
            elif not fits:
                reasons[method] = (
                    "it needs examples with a preferred and a non-preferred answer"
                    if method == "dpo"
                    else "your examples are preference pairs"
                )
        wanted = "dpo" if preference else "supervised"
        self.method_combo.blockSignals(True)
        self.method_combo.setCurrentIndex(self.method_combo.findData(wanted))
        self.method_combo.blockSignals(False)
        unavailable = [f"{METHOD_LABELS[m].split(':')[0]}: {r}" for m, r in reasons.items()]
        self.method_note.setText(
            "Not available — " + "; ".join(unavailable) + "." if unavailable else ""
        )
        self._rebuild_parameters()
        self._validate()

    @property
    def method(self) -> str:
        """The chosen training method."""
        return str(self.method_combo.currentData())

    # Training settings ---------------------------------------------------------------------

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

    @property
    def epochs(self) -> ParameterField | None:
        """The epochs setting, whatever the provider calls it (shared with the estimator)."""
        return self.parameter_form.field_for(ParameterRole.EPOCHS)

    def parameter(self, name: str) -> ParameterField | None:
        """The field of the setting called ``name`` at the chosen provider and method; None
        when it takes no such setting."""
        return self.parameter_form.field(name)

    # Validation set ------------------------------------------------------------------------

    def _on_validation_choice(self, *_args: object) -> None:
        if self.file_validation.isChecked() and self.validation_file is None:
            self._browse_validation()
        self._schedule_estimate()

    def _browse_validation(self) -> None:
        path = self.choose_validation_file()
        if path is None:
            if self.validation_file is None:
                self.no_validation.setChecked(True)
            return
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.data_note.setText(f"The file could not be read: {exc}")
            return
        self.validation_file = path
        self._validation_bytes = data
        self.validation_path.setText(str(path))
        self.file_validation.setChecked(True)
        self._schedule_estimate()

    def training_indices(self) -> list[int]:
        """Which examples are trained on (all but those set aside for validation)."""
        count = len(self.data.examples) if self.data is not None else 0
        if not self.split_validation.isChecked():
            return list(range(count))
        train, _ = split_train_validation(
            range(count), self.split_percent.value(), self.split_seed.value()
        )
        return list(train)

    # Checks and the estimate ---------------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """The settings the user fixed, by the provider's names (automatic ones left out)."""
        return self.parameter_form.values()

    def wandb(self) -> WandbIntegration | None:
        """The W&B settings, when switched on."""
        if not self.wandb_box.isChecked():
            return None
        tags = tuple(t.strip() for t in self.wandb_tags.text().split(",") if t.strip())
        return WandbIntegration(
            project=self.wandb_project.text().strip(),
            name=self.wandb_name.text().strip() or None,
            entity=self.wandb_entity.text().strip() or None,
            tags=tags,
        )

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
        if self.file_validation.isChecked() and self._validation_bytes is None:
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
        encoding = encoding_for_model(model_id)
        if self.counted is not None and self.counted.encoding == encoding:
            self._show_estimate()
            return
        self.estimate_line.setText("Counting tokens…")
        self._counting = True
        examples = list(self.data.examples)

        def job(context: JobContext) -> Counted:
            counter = counter_for_model(model_id)
            return Counted(encoding, counter.count_many(examples, context.checkpoint))

        self._run(job, "counting tokens", self._on_counted)

    def _on_counted(self, value: object) -> None:
        assert isinstance(value, Counted)
        self._counting = False
        self.counted = value
        self._update_estimate()

    @property
    def estimating(self) -> bool:
        """True while the estimate is being brought up to date."""
        return self._counting or self._estimate_timer.isActive()

    def _show_estimate(self) -> None:
        counted = self.counted
        model_id = self.model_id
        if counted is None or model_id is None:
            return
        subset = [counted.counts[i] for i in self.training_indices()]
        epochs = self.epochs
        self.estimate = estimate_from_tokens(
            subset,
            self._model_facts(),
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

    # Review --------------------------------------------------------------------------------

    # The provider's own price --------------------------------------------------------------

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
                validation = self._validation_bytes
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

    # Helpers -------------------------------------------------------------------------------

    def _run(
        self,
        job: Callable[[JobContext], Any],
        name: str,
        on_result: Callable[[Any], None],
        done: Callable[[], None] | None = None,
    ) -> Op[Any]:
        return run_op(
            self,
            job,
            name=name,
            success=on_result,
            failure=lambda message: log.info("Wizard work failed: %s", message),
            done=done,
        )

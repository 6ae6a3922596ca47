"""The wizard's first choice: the provider, its base model and the training method.

The provider is asked (off the UI thread) which models it trains and which settings each
method takes; until it answers, the models it usually offers are listed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from desktop.api.backends import BackendFactory, trains, traits_of
from desktop.api.errors import FriendlyError, ProviderError
from desktop.api.profiles import ProfileStore, ProviderKind, ProviderProfile
from desktop.core.catalog import Availability, Catalog, ModelInfo
from desktop.core.estimate import unknown_model
from desktop.core.kinds import ExampleKind
from desktop.core.settings import AppSettings
from desktop.core.training import ChatRoute, TrainableModel
from desktop.local_training import unavailable_reason
from desktop.ui.common import palette
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.wizard_common import (
    METHOD_LABELS,
    NOTICE_DAYS,
    TIPS,
    Note,
    Offer,
    quoting_traits,
    tip_label,
    with_note,
)

log = logging.getLogger(__name__)


def _log_failure(message: str) -> None:
    log.info("Wizard work failed: %s", message)


class ModelChooser(QGroupBox):
    """Provider, base model and method, with what to know about each.

    Signals: ``profile_changed`` (the profile or None) before the provider is asked;
    ``offer_arrived`` (an Offer) before its models are listed, ``models_listed`` after;
    ``method_changed`` when the method (or the methods on offer) changed; ``model_changed``
    once a model is chosen.
    """

    profile_changed = Signal(object)
    offer_arrived = Signal(object)
    models_listed = Signal()
    method_changed = Signal()
    model_changed = Signal()

    def __init__(
        self,
        profiles: ProfileStore,
        catalog: Catalog,
        settings: AppSettings,
        backend_factory: BackendFactory,
        today: Callable[[], date],
        data_kind: ExampleKind,
        *,
        ask_folder: Callable[[], Path | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Provider and model", parent)
        self.profiles = profiles
        self.catalog = catalog
        self.settings = settings
        self.backend_factory = backend_factory
        self.today = today
        self.data_kind = data_kind
        self.ask_folder = ask_folder
        self.models: list[TrainableModel] = []
        #: Model folders the user chose for this profile (kept when the list arrives later).
        self._folder_models: list[TrainableModel] = []
        self._profile_notice = ""
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
        self.folder_note = Note(color=palette.ERROR_TEXT)
        self.folder_note.setObjectName("modelFolderProblem")
        self.method_combo = QComboBox()
        self.method_combo.setToolTip(TIPS["method"])
        for method, label in METHOD_LABELS.items():
            self.method_combo.addItem(label, method)
        self.method_combo.currentIndexChanged.connect(lambda _index: self.method_changed.emit())
        self.method_note = Note()
        form = QFormLayout(self)
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

    def fill_profiles(self) -> None:
        """List the provider profiles, those that cannot train greyed out, and pick one."""
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
        """A new provider: forget its models and settings, then ask it for its offer."""
        profile = self.profile
        self.model_combo.clear()
        self.models = []
        self._folder_models = []
        self.profile_changed.emit(profile)
        if profile is None:
            self.profile_note.setText(
                "There is no provider profile that can train models. Add one in Settings "
                "(for example Together AI, Nebius, OpenAI or Azure OpenAI)."
            )
            return
        here = self.here
        self.folder_button.setVisible(here)
        self.folder_note.setText("")
        self._profile_notice = self._profile_facts(profile)
        self.profile_note.setText(
            self._profile_notice or "Fetching the models this provider offers…"
        )
        self._fill_models([], profile)
        factory, catalog = self.backend_factory, self.catalog
        traits = traits_of(profile)
        methods = traits.methods if traits is not None else tuple(METHOD_LABELS)

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

        run_op(self, job, name="listing models", success=self._on_models, failure=_log_failure)

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
        self.offer_arrived.emit(value)
        listed = {m.id for m in value.models}
        self.models = value.models + [m for m in self._folder_models if m.id not in listed]
        self._fill_models(self.models, profile)
        self.models_listed.emit()

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
        folder = self.ask_folder()
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

        run_op(
            self,
            job,
            name="checking the model folder",
            success=self._on_model_folder,
            failure=_log_failure,
        )

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

    def model_facts(self) -> ModelInfo | None:
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
        self.model_changed.emit()

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
        if listed.context_limit and self.here:
            # Training here cuts examples far shorter than the model could read, to save memory.
            parts.append(
                f"The model reads up to {listed.context_limit:,} tokens at once; training here "
                "cuts each example at the \u201cLongest example\u201d setting."
            )
        elif listed.context_limit:
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
        self.method_changed.emit()

    @property
    def method(self) -> str:
        """The chosen training method."""
        return str(self.method_combo.currentData())

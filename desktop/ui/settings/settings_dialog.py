"""Settings: provider profiles, their keys, the network timeout, and where data lives.

Keys are typed into a masked field and go straight to the key store, and "Test connection"
runs off the UI thread (both in ``settings_keys``). Plain http to another computer needs the
user's explicit permission per profile, and closing the window with unsaved edits asks whether
to save them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from urllib.parse import urlsplit

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.backends import traits_of
from desktop.api.credentials import KeyStore
from desktop.api.profiles import (
    TEMPLATES,
    ProfileError,
    ProfileStore,
    ProviderKind,
    ProviderProfile,
    azure_base_url,
    plain_http_warning,
    profile_from_template,
)
from desktop.core import locations
from desktop.core.catalog import Availability, Catalog, CatalogError
from desktop.core.training import ChatRoute
from desktop.local_training import unavailable_reason
from desktop.ui.common import palette
from desktop.ui.common.sizing import fit_to_screen, scrolled
from desktop.ui.settings.settings_keys import NO_KEY, ConnectionTest, KeySection

log = logging.getLogger(__name__)

ADDRESS_HINT = "https://…/v1"
COMPATIBLE_ADDRESS_HINT = "the address the service gives you, e.g. https://api.example.com/v1"


def _template_key(kind: ProviderKind) -> str:
    """The template a profile of this kind was made from."""
    return next(key for key, template in TEMPLATES.items() if template.kind is kind)


def _path_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _preview_profile(template_key: str) -> ProviderProfile:
    """A profile of this template, only to ask what its kind of service can do."""
    template = TEMPLATES[template_key]
    return ProviderProfile(
        id="preview",
        display_name=template.display_name,
        kind=template.kind,
        base_url=template.base_url or "https://example.com/v1",
        capabilities=template.capabilities,
    )


def _day(day: date) -> str:
    """A date as the user reads it; a first of the month stands for a month announced
    without its day ("about 2027-04")."""
    return f"about {day:%Y-%m}" if day.day == 1 else day.isoformat()


def _price_range(prices: list[float]) -> str:
    low, high = min(prices), max(prices)
    return f"${low:g}" if low == high else f"${low:g} to ${high:g}"


def provider_facts(
    profile: ProviderProfile, description: str, catalog: Catalog | None, today: date
) -> list[tuple[str, str]]:
    """What someone choosing a provider needs to know, as (topic, plain sentences) rows:
    what training and using the result cost, whether it can be downloaded, which models,
    until when, and what it cannot do."""
    traits = traits_of(profile)
    if traits is None:
        return [
            ("What it is", description),
            ("Training", "Not here: this profile is for chatting with models only."),
        ]
    name = traits.name
    offered = profile.capabilities.catalog_models
    known = [catalog.get(m) for m in offered] if catalog is not None else []
    models = [
        m
        for m in known
        if m is not None and m.status_on(today).availability is not Availability.SHUT_DOWN
    ]
    rows = [("What it is", description)]
    training = [m.training_price_per_1m for m in models if m.training_price_per_1m is not None]
    # A service that needs no key has no account to bill (training on this computer).
    billed = profile.capabilities.needs_key
    if not billed:
        cost = "Nothing is billed: no account is involved, it only takes time."
    elif training:
        cost = (
            f"{_price_range(training)} per million trained tokens, depending on the model "
            "(the app's price list); the wizard estimates each job before it is sent."
        )
    elif traits.price_estimate:
        cost = f"{name} quotes the price of each job before it starts; the wizard shows it."
    else:
        cost = (
            f"Billed by {name} per trained token; the wizard estimates it where the app "
            "knows the model's price."
        )
    rows.append(("Cost of training", cost))
    answering = [m.inference_output_per_1m for m in models if m.inference_output_per_1m]
    if ChatRoute.SAME_PROFILE in traits.chat_routes:
        use = "Chat with it right away, billed per token"
        if answering:
            use += f" ({_price_range(answering)} per million tokens it writes)"
        use += "."
    elif ChatRoute.DEPLOY_IN_APP in traits.chat_routes and not billed:
        use = "The app starts the trained model for you when you chat with it; nothing is billed."
    elif ChatRoute.DEPLOY_IN_APP in traits.chat_routes:
        use = (
            f"{name} must deploy the trained model before it answers; the app does it for "
            "you and says what that costs before anything starts."
        )
    elif ChatRoute.DEPLOY_ELSEWHERE in traits.chat_routes:
        use = (
            f"You deploy the trained model yourself in {name}'s portal (the app shows the "
            "steps), then chat with it here; the portal says what the kind of deployment you "
            "choose costs (some are billed by the hour while deployed)."
        )
    else:
        use = "Download it and run it on your own computer."
    rows.append(("Using the result", use))
    if traits.downloadable and not billed:
        download = (
            "Yes: export the trained adapter with its exact training data and a README, to "
            "use it elsewhere (an Ollama Modelfile too for Llama, Mistral and Gemma)."
        )
    elif traits.downloadable:
        download = "Yes: the trained adapter can be downloaded and run on your own computer."
    elif profile.kind is ProviderKind.COMPATIBLE:  # a service the app knows nothing more of
        download = (
            "Depends on the service: ask it. Keep each job's archive to train the model "
            "again elsewhere."
        )
    else:
        download = (
            f"No: the trained model stays at {name}; keep each job's archive to train it "
            "again elsewhere."
        )
    rows.append(("Download", download))
    names = [m.display_name for m in models] if models else list(offered)
    if names:
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        rows.append(("Models", shown + "."))
    elif billed:
        rows.append(("Models", f"The ones {name} lists for your account (shown in the wizard)."))
    else:
        rows.append(("Models", "The ones it offers, shown in the wizard."))
    until: list[str] = []
    if traits.takes_jobs_until is not None:
        until.append(f"No new training jobs after {_day(traits.takes_jobs_until)}.")
    if traits.serves_until is not None:
        until.append(f"Trained models stop answering after {_day(traits.serves_until)}.")
    rows.append(("Until when", " ".join(until) or "No end date has been announced."))
    if traits.limits:
        rows.append(("Limits", "\n".join(f"• {limit}" for limit in traits.limits)))
    return rows


class ProviderFacts(QGroupBox):
    """The facts of ``provider_facts`` for the profile on screen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("What you get", parent)
        self.setObjectName("providerFacts")
        content = QWidget()
        content.setObjectName("providerFactsContent")
        self.form = QFormLayout(content)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # Wrapped lines need more height than a dialog's layout gives them: scrolled, they
        # are never cut off when the dialog is short.
        self.scroll = scrolled(content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll)
        self.rows: dict[str, QLabel] = {}

    def show_facts(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Replace what is shown."""
        self.setTitle(f"What you get with {title}")
        while self.form.rowCount():
            self.form.removeRow(0)
        self.rows = {}
        for topic, text in rows:
            label = _path_label(text)
            caption = QLabel(topic)
            caption.setStyleSheet("font-weight: 600;")
            self.form.addRow(caption, label)
            self.rows[topic] = label

    def text(self) -> str:
        """Everything shown, as plain text (for tests and accessibility)."""
        return "\n".join(f"{topic}: {label.text()}" for topic, label in self.rows.items())


class SettingsDialog(QDialog):
    """Manage provider profiles and keys; emits ``profiles_changed`` after every change."""

    profiles_changed = Signal()
    connection_tested = Signal(object)  # api_client.ConnectionResult, once the test is over

    def __init__(
        self,
        store: ProfileStore,
        keys: KeyStore,
        parent: QWidget | None = None,
        *,
        catalog: Catalog | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        """``catalog`` prices the providers' models (the shipped one when not given);
        ``today`` says which of them are still offered."""
        super().__init__(parent)
        self.today = today
        self.setWindowTitle("Settings")
        self.store = store
        self.keys = keys
        self._catalog = catalog
        self._editing_id: str | None = None
        self._new_template: str | None = None
        self._dirty = False
        self._loading = False
        self._consented_host: str | None = None

        self.profile_list = QListWidget()
        self.profile_list.currentItemChanged.connect(self._on_current_changed)
        self.add_button = QToolButton()
        self.add_button.setText("Add…")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        for key, template in TEMPLATES.items():
            action = QAction(template.display_name, menu)
            action.setToolTip(template.description)
            action.triggered.connect(lambda _checked=False, k=key: self.add_from_template(k))
            menu.addAction(action)
        self.add_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.activate_button = QPushButton("Use for jobs")
        self.activate_button.setToolTip("Fine-tuning jobs are sent to this provider.")
        self.activate_button.clicked.connect(self.make_active)

        left = QVBoxLayout()
        left.addWidget(self.profile_list)
        list_buttons = QHBoxLayout()
        for widget in (self.add_button, self.remove_button, self.activate_button):
            list_buttons.addWidget(widget)
        left.addLayout(list_buttons)

        self.form_box = QGroupBox("Provider")
        self.form = QFormLayout(self.form_box)
        self.kind_label = QLabel()
        self.name_edit = QLineEdit()
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText(ADDRESS_HINT)
        self.http_warning = QLabel()
        self.http_warning.setWordWrap(True)
        self.http_warning.setStyleSheet(f"color: {palette.ERROR_TEXT};")
        self.allow_http = QCheckBox("Send to this address over plain http anyway")
        self.allow_http.setToolTip(
            "Only for a server you trust on a network you trust: the key is not encrypted."
        )
        self.azure_edit = QLineEdit()
        self.azure_edit.setPlaceholderText("the name of your Azure OpenAI resource")
        self.preset_combo = QComboBox()
        self.org_edit = QLineEdit()
        self.org_edit.setPlaceholderText("optional")
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText("optional")
        self.key_section = KeySection(keys, self)
        self.key_edit = self.key_section.edit
        self.key_status = self.key_section.status
        self.session_only = self.key_section.session_only
        self.keyring_note = self.key_section.keyring_note
        self.forget_key_button = self.key_section.forget_button
        self.forget_key_button.clicked.connect(self.forget_key)
        self.key_row = self.key_section.row
        self.timeout_spin = QSpinBox()
        self.timeout_spin.setRange(5, 600)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setToolTip("How long to wait for the provider before giving up.")
        self.connection_test = ConnectionTest(self)
        self.connection_test.tested.connect(self.connection_tested)
        self.test_button = self.connection_test.button
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = self.connection_test.result
        self.test_row = self.connection_test.row
        self.form_error = QLabel()
        self.form_error.setWordWrap(True)
        self.form_error.setStyleSheet(f"color: {palette.ERROR_TEXT};")
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.here_status = _path_label("")
        self.here_status.setObjectName("trainingHereStatus")

        self.form.addRow("Kind", self.kind_label)
        self.form.addRow("Name", self.name_edit)
        self.form.addRow("Training here", self.here_status)
        self.form.addRow("Azure resource", self.azure_edit)
        self.form.addRow("Server", self.preset_combo)
        self.form.addRow("Address", self.url_edit)
        self.form.addRow("", self.http_warning)
        self.form.addRow("", self.allow_http)
        self.form.addRow("Organization", self.org_edit)
        self.form.addRow("Project", self.project_edit)
        self.form.addRow("API key", self.key_row)
        self.form.addRow("", self.key_status)
        self.form.addRow("", self.session_only)
        self.form.addRow("", self.keyring_note)
        self.form.addRow("Network timeout", self.timeout_spin)
        self.form.addRow("", self.test_row)
        self.form.addRow("", self.form_error)
        self.form.addRow("", self.save_button)
        self.form.setRowVisible(self.here_status, False)

        for edit in (
            self.name_edit,
            self.url_edit,
            self.azure_edit,
            self.org_edit,
            self.project_edit,
        ):
            edit.textEdited.connect(self._mark_dirty)
        self.key_section.edited.connect(self._mark_dirty)
        self.azure_edit.textEdited.connect(self._update_azure_address)
        self.url_edit.textChanged.connect(self._update_http_warning)
        self.allow_http.toggled.connect(self._on_allow_http)
        self.timeout_spin.valueChanged.connect(self._mark_dirty)
        self.preset_combo.currentIndexChanged.connect(self._on_preset)

        self.facts = ProviderFacts()
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(self.form_box, 2)
        body.addWidget(self.facts, 2)

        self.where_labels: dict[str, QLabel] = {}
        where = QGroupBox("Where your data lives")
        where_form = QFormLayout(where)
        for key, title, text in (
            ("profiles", "Provider settings", str(store.path)),
            ("config", "Settings folder", str(locations.config_dir())),
            ("data", "Data folder", str(locations.data_dir())),
            ("cache", "Cache folder", str(locations.cache_dir())),
        ):
            label = _path_label(text)
            self.where_labels[key] = label
            where_form.addRow(title, label)
        self.where_labels["keys"] = self.key_section.location
        where_form.addRow("API keys", self.key_section.location)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(where)
        layout.addWidget(close)

        self._reload_list(self.store.active_id)
        if not self.store.profiles:
            self._show_empty()
        self._dirty = False
        # Large enough for the facts to read without scrolling, where the screen has room.
        fit_to_screen(self, QSize(1180, 760), self.minimumSizeHint())

    @property
    def catalog(self) -> Catalog | None:
        """The model catalog, read when first needed (None when it cannot be read)."""
        if self._catalog is None:
            try:
                self._catalog = Catalog.load()
            except CatalogError as exc:
                log.warning("No model prices for the provider facts: %s", exc)
        return self._catalog

    # ---- list ----------------------------------------------------------------------------
    def _reload_list(self, select_id: str | None) -> None:
        self._loading = True
        try:
            self.profile_list.clear()
            for profile in self.store.profiles:
                text = profile.display_name
                if profile.id == self.store.active_id:
                    text += "  (used for jobs)"
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, profile.id)
                self.profile_list.addItem(item)
                if profile.id == select_id:
                    self.profile_list.setCurrentItem(item)
        finally:
            self._loading = False
        current = self.profile_list.currentItem()
        if current is None and self.profile_list.count():
            self.profile_list.setCurrentRow(0)
        elif current is not None:
            self._show_profile(self.store.get(current.data(Qt.ItemDataRole.UserRole)))
        self._update_list_buttons()

    def selected_id(self) -> str | None:
        """Id of the profile shown in the form (``None`` while adding a new one)."""
        return self._editing_id

    def select_profile(self, profile_id: str) -> None:
        """Show one profile in the form."""
        for row in range(self.profile_list.count()):
            item = self.profile_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == profile_id:
                self.profile_list.setCurrentItem(item)
                return
        raise KeyError(profile_id)

    def _on_current_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if self._loading or current is None:
            return
        target = current.data(Qt.ItemDataRole.UserRole)
        if target == self._editing_id:
            return
        if self._dirty and not self.save():
            back = previous.data(Qt.ItemDataRole.UserRole) if previous else None
            self._loading = True
            self.profile_list.setCurrentItem(previous)
            self._loading = False
            self._editing_id = back
            return
        self._show_profile(self.store.get(target))
        self._update_list_buttons()

    def _update_list_buttons(self) -> None:
        has = self._editing_id is not None
        self.remove_button.setEnabled(has)
        self.activate_button.setEnabled(has and self._editing_id != self.store.active_id)

    # ---- form ----------------------------------------------------------------------------
    def _show_empty(self) -> None:
        self._editing_id = None
        self._new_template = None
        self.form_box.setEnabled(False)
        self.kind_label.setText("Add a provider to get started.")

    def _fill(
        self,
        template_key: str,
        *,
        name: str,
        url: str,
        azure_resource: str,
        organization: str,
        project: str,
        timeout: float,
        allow_plain_http: bool = False,
        profile: ProviderProfile | None = None,
    ) -> None:
        template = TEMPLATES[template_key]
        shown = profile or _preview_profile(template_key)
        facts = provider_facts(shown, template.description, self.catalog, self.today())
        self.facts.show_facts(template.display_name, facts)
        self._loading = True
        try:
            self.form_box.setEnabled(True)
            self.kind_label.setText(template.display_name)
            self.kind_label.setToolTip(template.description)
            self.name_edit.setText(name)
            self.url_edit.setPlaceholderText(
                COMPATIBLE_ADDRESS_HINT if template_key == "compatible" else ADDRESS_HINT
            )
            self._consented_host = urlsplit(url).hostname if allow_plain_http else None
            self.allow_http.setChecked(allow_plain_http)
            self.url_edit.setText(url)
            self.azure_edit.setText(azure_resource)
            self.org_edit.setText(organization)
            self.project_edit.setText(project)
            self.key_edit.clear()
            self.timeout_spin.setValue(round(timeout))
            self.preset_combo.clear()
            self.preset_combo.addItem("Other address", "")
            for preset, preset_url in template.presets.items():
                self.preset_combo.addItem(preset, preset_url)
            match = self.preset_combo.findData(url)
            self.preset_combo.setCurrentIndex(max(0, match))
            kind = template.kind
            self.form.setRowVisible(self.azure_edit, kind is ProviderKind.AZURE)
            self.form.setRowVisible(self.preset_combo, bool(template.presets))
            self.url_edit.setReadOnly(kind is ProviderKind.AZURE)
            self.form.setRowVisible(self.org_edit, kind is ProviderKind.OPENAI)
            self.form.setRowVisible(self.project_edit, kind is ProviderKind.OPENAI)
            # Training on this computer has no address to enter, no key and nothing to test.
            here = kind is ProviderKind.LOCAL_TRAINING
            for row in (
                self.url_edit,
                self.key_row,
                self.key_status,
                self.session_only,
                self.keyring_note,
                self.timeout_spin,
                self.test_row,
            ):
                self.form.setRowVisible(row, not here)
            self.form.setRowVisible(self.here_status, here)
            if here:
                self._show_here_status()
            needs_key = template.capabilities.needs_key
            self.key_edit.setPlaceholderText(
                "paste the API key here" if needs_key else "not needed for a local server"
            )
            self.test_result.clear()
            self.form_error.clear()
        finally:
            self._loading = False
        self._update_http_warning()
        self._dirty = False

    def _show_here_status(self) -> None:
        """Whether training on this computer can run: one sentence and the exact install
        command when its optional libraries are missing."""
        missing = unavailable_reason()
        self.here_status.setStyleSheet(
            f"color: {palette.ERROR_TEXT};" if missing else f"color: {palette.SUCCESS_STRONG};"
        )
        self.here_status.setText(
            missing
            or "The libraries for training on this computer are installed; nothing is sent "
            "anywhere and no key is needed."
        )

    def _show_profile(self, profile: ProviderProfile) -> None:
        self._editing_id = profile.id
        self._new_template = None
        self._fill(
            _template_key(profile.kind),
            name=profile.display_name,
            url=profile.base_url,
            azure_resource=profile.azure_resource or "",
            organization=profile.organization or "",
            project=profile.project or "",
            timeout=profile.timeout_seconds,
            allow_plain_http=profile.allow_plain_http,
            profile=profile,
        )
        self.key_section.show_status(self._editing_id)

    def add_from_template(self, template_key: str) -> None:
        """Start a new, unsaved profile from a template; Save adds it."""
        if self._dirty and not self.save():
            return
        template = TEMPLATES[template_key]
        self._loading = True
        self.profile_list.setCurrentItem(None)  # type: ignore[arg-type]
        self._loading = False
        self._editing_id = None
        self._new_template = template_key
        self._fill(
            template_key,
            name=template.display_name,
            url=template.base_url,
            azure_resource="",
            organization="",
            project="",
            timeout=60,
        )
        self._dirty = True
        self.key_status.setText(NO_KEY)
        self._update_list_buttons()
        self.name_edit.setFocus()

    def _mark_dirty(self) -> None:
        if not self._loading:
            self._dirty = True

    def _on_preset(self, index: int) -> None:
        url = self.preset_combo.itemData(index)
        if self._loading or not url:
            return
        self.url_edit.setText(url)
        self._dirty = True

    def _form_http_warning(self) -> str | None:
        template = self._new_template
        if template is None and self._editing_id is not None:
            template = _template_key(self.store.get(self._editing_id).kind)
        sends_key = template is None or TEMPLATES[template].capabilities.needs_key
        return plain_http_warning(self.url_edit.text(), sends_key=sends_key)

    def _update_http_warning(self) -> None:
        """Show the plain-http warning and its checkbox only when the address needs them."""
        warning = self._form_http_warning()
        host = urlsplit(self.url_edit.text().strip()).hostname
        if self.allow_http.isChecked() and host != self._consented_host:
            self.allow_http.setChecked(False)  # permission was given for another computer
        self.http_warning.setText(warning or "")
        self.form.setRowVisible(self.http_warning, warning is not None)
        self.form.setRowVisible(self.allow_http, warning is not None)

    def _on_allow_http(self, checked: bool) -> None:
        if checked and not self._loading:
            self._consented_host = urlsplit(self.url_edit.text().strip()).hostname
        self._mark_dirty()

    def _update_azure_address(self, text: str) -> None:
        try:
            self.url_edit.setText(azure_base_url(text))
        except ProfileError:
            self.url_edit.setText("")

    def _profile_from_form(self) -> ProviderProfile:
        """The profile the form describes (raises ``ProfileError`` with a plain message)."""
        name = self.name_edit.text().strip()
        timeout = float(self.timeout_spin.value())
        organization = self.org_edit.text().strip() or None
        project = self.project_edit.text().strip() or None
        allow_http = self.allow_http.isChecked() and self._form_http_warning() is not None
        profile = self._profile_from_fields(name, timeout, organization, project, allow_http)
        if profile.plain_http_refused:
            raise ProfileError(
                "Nothing is sent over plain http to another computer unless you allow it: use"
                f" an https:// address, or tick “{self.allow_http.text()}” if you trust this"
                " server and every network in between."
            )
        return profile

    def _profile_from_fields(
        self,
        name: str,
        timeout: float,
        organization: str | None,
        project: str | None,
        allow_http: bool,
    ) -> ProviderProfile:
        if self._editing_id is None:
            if self._new_template is None:
                raise ProfileError("Add a provider first.")
            is_azure = TEMPLATES[self._new_template].kind is ProviderKind.AZURE
            return profile_from_template(
                self._new_template,
                display_name=name,
                base_url=None if is_azure else self.url_edit.text(),
                azure_resource=self.azure_edit.text() if is_azure else None,
                organization=organization,
                project=project,
                timeout_seconds=timeout,
                allow_plain_http=allow_http,
            )
        current = self.store.get(self._editing_id)
        if current.kind is ProviderKind.AZURE:
            fresh = profile_from_template(
                "azure", azure_resource=self.azure_edit.text(), profile_id=current.id
            )
            return current.with_changes(
                display_name=name,
                base_url=fresh.base_url,
                azure_resource=fresh.azure_resource,
                timeout_seconds=timeout,
                allow_plain_http=False,
            )
        return current.with_changes(
            display_name=name,
            base_url=self.url_edit.text(),
            organization=organization,
            project=project,
            timeout_seconds=timeout,
            allow_plain_http=allow_http,
        )

    def save(self) -> bool:
        """Store the form's profile and key; returns False (and says why) if it cannot."""
        try:
            profile = self._profile_from_form()
        except ProfileError as exc:
            self.form_error.setText(str(exc))
            return False
        if self._editing_id is None:
            self.store.add(profile)
            log.info("Added provider profile %s (%s)", profile.id, profile.kind.value)
        else:
            self.store.update(profile)
            log.info("Updated provider profile %s", profile.id)
        self._editing_id = profile.id
        self._new_template = None
        self.form_error.clear()
        self.key_section.store_typed(profile.id)
        self._dirty = False
        self._reload_list(profile.id)
        self.profiles_changed.emit()
        return True

    def forget_key(self) -> None:
        """Delete the shown profile's key everywhere."""
        self.key_section.forget(self._editing_id)

    # ---- profile actions -----------------------------------------------------------------
    def remove_selected(self) -> None:
        """Remove the shown profile and its key, after asking."""
        profile_id = self._editing_id
        if profile_id is None:
            return
        name = self.store.get(profile_id).display_name
        answer = QMessageBox.question(
            self,
            "Remove provider",
            f"Remove “{name}” and forget its key?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.store.remove(profile_id)
        self.keys.delete(profile_id)
        log.info("Removed provider profile %s", profile_id)
        self._editing_id = None
        self._dirty = False
        self._reload_list(self.store.active_id)
        if not self.store.profiles:
            self._show_empty()
        self.profiles_changed.emit()

    def make_active(self) -> None:
        """Send fine-tuning jobs to the shown profile."""
        if self._editing_id is None:
            return
        self.store.set_active(self._editing_id)
        self._reload_list(self._editing_id)
        self.profiles_changed.emit()

    # ---- closing -------------------------------------------------------------------------
    def reject(self) -> None:
        """Close (Close button, Escape or the title bar), first asking about unsaved edits."""
        if self._dirty and not self._settle_unsaved_edits():
            return
        super().reject()

    def _settle_unsaved_edits(self) -> bool:
        """Ask Save / Discard / Cancel; True when the window may close."""
        buttons = QMessageBox.StandardButton
        name = self.name_edit.text().strip() or "this provider"
        question = (
            f"Add the new provider “{name}” before closing?"
            if self._editing_id is None
            else f"Save your changes to “{name}” before closing?"
        )
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"{question} If you don't, they are lost.",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()  # on failure the form says why and the window stays open
        if answer == buttons.Discard:
            self.key_edit.clear()
            self._dirty = False
            return True
        return False

    # ---- connection test -----------------------------------------------------------------
    def test_connection(self) -> None:
        """Check the form's address and key with one cheap call, off the UI thread."""
        try:
            profile = self._profile_from_form()
        except ProfileError as exc:
            self.test_result.setText(str(exc))
            return
        key = self.key_section.typed()
        if key is None and self._editing_id is not None:
            key = self.keys.get(self._editing_id)
        self.connection_test.start(profile, key, float(self.timeout_spin.value()))

    def is_testing(self) -> bool:
        """Whether a connection test is still running."""
        return self.connection_test.running

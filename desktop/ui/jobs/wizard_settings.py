"""The training settings the chosen provider takes, the model's name, the seed and W&B."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.api.backends import traits_of
from desktop.api.profiles import ProviderProfile
from desktop.core.training import ParameterRole, WandbIntegration
from desktop.ui.common import palette
from desktop.ui.jobs.parameter_form import ParameterField, ParameterForm
from desktop.ui.jobs.wizard_common import (
    MAX_SEED,
    MAX_SUFFIX,
    TIPS,
    Note,
    forbidden_words,
    spin_box,
    tip_label,
    with_note,
)


class SettingsForm(QWidget):
    """The right-hand column of the first step. ``changed`` says the suffix or the W&B
    settings changed; ``parameter_form.changed`` names a training setting that changed."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameter_form = ParameterForm()
        self.parameter_form.setObjectName("parameterForm")
        settings_box = QGroupBox("Training settings")
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.addWidget(self.parameter_form)

        self.suffix = QLineEdit()
        self.suffix.setMaxLength(MAX_SUFFIX)
        self.suffix.setPlaceholderText("e.g. support-bot")
        self.suffix.setToolTip(TIPS["suffix"].format(limit=MAX_SUFFIX))
        self.suffix.textChanged.connect(self._changed)
        self.suffix_note = Note(color=palette.ERROR_TEXT)
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
        self.wandb_box.toggled.connect(self._changed)
        for edit in (self.wandb_project, self.wandb_tags):
            edit.textChanged.connect(self._changed)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(settings_box)
        column.addWidget(name_box)
        column.addWidget(self.wandb_box)
        column.addStretch(1)

    def _changed(self, *_args: object) -> None:
        self.changed.emit()

    def set_profile(self, profile: ProviderProfile) -> None:
        """Say the provider's limits on the suffix; hide W&B where it would be refused."""
        limit = profile.capabilities.suffix_max_length
        self.suffix.setMaxLength(max(limit, MAX_SUFFIX))  # a longer one is said, not cut off
        tip = TIPS["suffix"].format(limit=limit)
        forbidden = forbidden_words(profile.capabilities.suffix_forbidden_chars)
        if forbidden:
            tip += f" {profile.display_name} takes no {forbidden}."
        self.suffix.setToolTip(tip)
        self.suffix_label.setToolTip(tip)
        traits = traits_of(profile)
        wandb = traits is not None and "wandb" in traits.integrations
        if not wandb:
            self.wandb_box.setChecked(False)  # the provider would refuse the job
        self.wandb_box.setVisible(wandb)

    @property
    def epochs(self) -> ParameterField | None:
        """The epochs setting, whatever the provider calls it (shared with the estimator)."""
        return self.parameter_form.field_for(ParameterRole.EPOCHS)

    def parameter(self, name: str) -> ParameterField | None:
        """The field of the setting called ``name`` at the chosen provider and method; None
        when it takes no such setting."""
        return self.parameter_form.field(name)

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

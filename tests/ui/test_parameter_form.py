"""The training settings form shows whatever a backend declares, and reads back by name."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from desktop.core.training import ParameterKind, ParameterRole, ParameterSpec
from desktop.ui.jobs.parameter_form import ParameterForm

pytestmark = pytest.mark.gui

SPECS = (
    ParameterSpec(
        name="n_epochs",
        label="Epochs",
        kind=ParameterKind.INT,
        help="Passes over the examples.",
        default=1,
        minimum=1,
        maximum=20,
        automatic=False,
        role=ParameterRole.EPOCHS,
    ),
    ParameterSpec(
        name="learning_rate",
        label="Learning rate",
        kind=ParameterKind.FLOAT,
        help="How big each step is.",
        default=0.00001,
        minimum=0.000001,
        maximum=0.01,
        decimals=6,
        role=ParameterRole.LEARNING_RATE,
    ),
    ParameterSpec(
        name="training_type",
        label="Training type",
        kind=ParameterKind.CHOICE,
        help="LoRA trains a small adapter; full training changes every weight.",
        default="lora",
        choices=(("lora", "LoRA adapter"), ("full", "Full model")),
        automatic=False,
    ),
    ParameterSpec(
        name="lora_r",
        label="LoRA rank",
        kind=ParameterKind.INT,
        help="The adapter's size.",
        default=8,
        minimum=1,
        maximum=64,
        advanced=True,
    ),
    ParameterSpec(
        name="packing",
        label="Packing",
        kind=ParameterKind.BOOL,
        help="Put several short examples in one sequence.",
        default=True,
        advanced=True,
    ),
)


@pytest.fixture
def form(qtbot):
    form = ParameterForm()
    qtbot.addWidget(form)
    form.set_specs(SPECS)
    form.show()
    return form


def test_each_kind_gets_its_own_control_with_its_range_and_help(form):
    epochs, rate, kind, rank, packing = (form.field(s.name) for s in SPECS)
    assert isinstance(epochs.editor, QSpinBox) and epochs.auto is None
    assert (epochs.spin.minimum(), epochs.spin.maximum(), epochs.value()) == (1, 20, 1)
    assert isinstance(rate.editor, QDoubleSpinBox) and isinstance(rate.auto, QCheckBox)
    assert rate.value() is None and rate.spin.value() == pytest.approx(0.00001)  # greyed
    assert not rate.spin.isEnabled()
    assert isinstance(kind.editor, QComboBox) and kind.value() == "lora"
    assert [kind.editor.itemText(i) for i in range(2)] == ["LoRA adapter", "Full model"]
    assert isinstance(packing.editor, QComboBox) and packing.value() is None  # automatic
    assert packing.editor.itemText(0) == "Automatic"
    for field in form.fields():
        assert field.spec.help in field.toolTip() and field.editor.toolTip()
    assert "Allowed: 1e-06 to 0.01." in rate.toolTip()
    assert "Automatic leaves the choice to the provider." in rate.toolTip()
    assert "Automatic" not in epochs.toolTip()
    assert rank.spin.value() == 8


def test_advanced_settings_are_folded_away_until_asked_for(form):
    assert form.more_button.isVisible()
    assert not form.field("lora_r").isVisible() and not form.field("packing").isVisible()
    assert form.field("n_epochs").isVisible()
    form.more_button.click()
    assert form.field("lora_r").isVisible() and form.field("packing").isVisible()
    form.set_specs(SPECS[:2])
    assert not form.more_button.isVisible()


def test_values_are_read_and_set_by_name_and_only_fixed_ones_are_sent(qtbot, form):
    assert form.values() == {"n_epochs": 1, "training_type": "lora"}
    changed = []
    form.changed.connect(changed.append)
    form.set_value("learning_rate", 0.0002)
    form.set_value("packing", False)
    form.set_value("lora_r", 16)
    assert form.value("learning_rate") == pytest.approx(0.0002)
    assert form.values() == {
        "n_epochs": 1,
        "learning_rate": pytest.approx(0.0002),
        "training_type": "lora",
        "lora_r": 16,
        "packing": False,
    }
    assert {"learning_rate", "packing", "lora_r"} <= set(changed)
    form.set_value("lora_r", None)
    assert "lora_r" not in form.values()
    assert form.field_for(ParameterRole.EPOCHS) is form.field("n_epochs")
    assert form.field("beta") is None
    with pytest.raises(KeyError):
        form.set_value("beta", 0.1)


def test_a_rebuild_keeps_the_values_it_is_given(form):
    form.set_specs(SPECS, {"n_epochs": 4, "lora_r": 32})
    assert form.value("n_epochs") == 4 and form.value("lora_r") == 32
    form.set_specs((), placeholder="This provider chooses every setting itself.")
    assert form.fields() == [] and form.placeholder.isVisible()

"""The training settings form, built from what a backend declares (``ParameterSpec``).

Why generic: each service names and bounds its settings differently (OpenAI's learning-rate
multiplier, Together's absolute learning rate, Nebius's LoRA rank…). The wizard shows
whatever the chosen backend declares: a number box, a list or a yes/no per setting, with
"Automatic" where the provider may choose, the plain-words help as a tooltip, and the settings
most people never touch folded under "More settings".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.training import ParameterKind, ParameterRole, ParameterSpec
from desktop.ui.common import palette

#: The widest range a number box accepts when the backend sets no bound.
_INT_LIMIT = 2_147_483_647
_FLOAT_LIMIT = 1e12
_AUTOMATIC = "Automatic"


def _number(value: float) -> str:
    return f"{value:g}"


class ParameterField(QWidget):
    """One setting: "Automatic" (where allowed) and a value of the setting's kind."""

    changed = Signal()

    def __init__(self, spec: ParameterSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.auto: QCheckBox | None = None
        self.editor: QWidget = self._make_editor(spec)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        numeric = spec.kind in (ParameterKind.INT, ParameterKind.FLOAT)
        if spec.automatic and numeric:
            self.auto = QCheckBox(_AUTOMATIC)
            self.auto.setChecked(True)
            self.editor.setEnabled(False)
            self.auto.toggled.connect(lambda on: self.editor.setEnabled(not on))
            self.auto.toggled.connect(self.changed)
            layout.addWidget(self.auto)
        layout.addWidget(self.editor, 1)
        tip = self.tooltip_text()
        for widget in (self, self.editor, self.auto):
            if widget is not None:
                widget.setToolTip(tip)
        if not spec.automatic or (numeric and spec.default is not None):
            self._show(spec.default)  # a number Automatic stands for is shown greyed

    def _make_editor(self, spec: ParameterSpec) -> QWidget:
        if spec.kind is ParameterKind.INT:
            spin = QSpinBox()
            low = int(spec.minimum) if spec.minimum is not None else -_INT_LIMIT
            high = int(spec.maximum) if spec.maximum is not None else _INT_LIMIT
            spin.setRange(low, high)
            spin.valueChanged.connect(self.changed)
            return spin
        if spec.kind is ParameterKind.FLOAT:
            double = QDoubleSpinBox()
            double.setDecimals(max(spec.decimals, 1))
            low = spec.minimum if spec.minimum is not None else -_FLOAT_LIMIT
            high = spec.maximum if spec.maximum is not None else _FLOAT_LIMIT
            double.setRange(low, high)
            double.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            double.valueChanged.connect(self.changed)
            return double
        combo = QComboBox()
        if spec.automatic:
            combo.addItem(_AUTOMATIC, None)
        if spec.kind is ParameterKind.BOOL:
            combo.addItem("Yes", True)
            combo.addItem("No", False)
        else:
            for value, label in spec.choices:
                combo.addItem(label, value)
        combo.currentIndexChanged.connect(self.changed)
        return combo

    @property
    def spin(self) -> QSpinBox | QDoubleSpinBox:
        """The number box of a number setting."""
        assert isinstance(self.editor, (QSpinBox, QDoubleSpinBox)), self.spec.name
        return self.editor

    def tooltip_text(self) -> str:
        """The setting's help, with its range and what Automatic means."""
        spec = self.spec
        parts = [spec.help]
        if spec.minimum is not None and spec.maximum is not None:
            parts.append(f"Allowed: {_number(spec.minimum)} to {_number(spec.maximum)}.")
        elif spec.minimum is not None:
            parts.append(f"At least {_number(spec.minimum)}.")
        if spec.automatic:
            parts.append("Automatic leaves the choice to the provider.")
        return " ".join(parts)

    def value(self) -> Any:
        """None for automatic, else the value in the setting's kind."""
        if self.auto is not None and self.auto.isChecked():
            return None
        editor = self.editor
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QSpinBox):
            return int(editor.value())
        assert isinstance(editor, QDoubleSpinBox)
        return round(float(editor.value()), editor.decimals())

    def set_value(self, value: Any) -> None:
        """Automatic (None) or a value; None on a setting that cannot be automatic shows its
        default."""
        if self.auto is not None:
            self.auto.setChecked(value is None)
        if value is None and self.spec.automatic:
            if isinstance(self.editor, QComboBox):
                self.editor.setCurrentIndex(0)
            return
        self._show(self.spec.default if value is None else value)

    def _show(self, value: Any) -> None:
        editor = self.editor
        if isinstance(editor, QComboBox):
            index = editor.findData(value)
            if index >= 0:
                editor.setCurrentIndex(index)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)) and isinstance(value, (int, float)):
            editor.setValue(value)  # type: ignore[arg-type]

    def show_automatic(self, value: float) -> None:
        """Show (greyed) the number Automatic stands for, so the box never shows a number that
        is not used, and unticking Automatic starts from it. Changes no choice."""
        if self.auto is None or not self.auto.isChecked():
            return
        self.spin.blockSignals(True)
        self.spin.setValue(value)  # type: ignore[arg-type]
        self.spin.blockSignals(False)

    def text(self) -> str:
        """The value as the review page says it."""
        value = self.value()
        if value is None:
            return "automatic"
        if isinstance(self.editor, QComboBox):
            return (
                self.editor.currentText().lower()
                if value in (True, False)
                else (self.editor.currentText())
            )
        return _number(value)


class ParameterForm(QWidget):
    """The settings of one backend and method; read and set them by name."""

    #: A setting changed (its name).
    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields: dict[str, ParameterField] = {}
        self._rows: list[QWidget] = []
        self.placeholder = QLabel()
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet(f"color: {palette.MUTED};")
        self.main = QFormLayout()
        self.more_button = QToolButton()
        self.more_button.setText("More settings")
        self.more_button.setCheckable(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolTip(
            "Settings most people never change; the provider's choice is usually right."
        )
        self.more_button.toggled.connect(self._fold)
        self.advanced = QWidget()
        self.advanced_form = QFormLayout(self.advanced)
        self.advanced_form.setContentsMargins(0, 0, 0, 0)
        self.advanced.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addLayout(self.main)
        layout.addWidget(self.more_button)
        layout.addWidget(self.advanced)
        self.set_specs(())

    def _fold(self, unfolded: bool) -> None:
        self.advanced.setVisible(unfolded)
        arrow = Qt.ArrowType.DownArrow if unfolded else Qt.ArrowType.RightArrow
        self.more_button.setArrowType(arrow)

    def set_specs(
        self,
        specs: Iterable[ParameterSpec],
        values: Mapping[str, Any] | None = None,
        placeholder: str = "",
    ) -> None:
        """Show these settings, starting from ``values`` (by name; absent ones start at their
        default or Automatic); with none, show ``placeholder``."""
        for form in (self.main, self.advanced_form):
            while form.rowCount():
                form.removeRow(0)
        self._fields.clear()
        chosen = dict(values or {})
        for spec in specs:
            field = ParameterField(spec)
            if spec.name in chosen:
                field.set_value(chosen[spec.name])
            field.changed.connect(lambda name=spec.name: self.changed.emit(name))
            label = QLabel(spec.label)
            label.setToolTip(field.toolTip())
            (self.advanced_form if spec.advanced else self.main).addRow(label, field)
            self._fields[spec.name] = field
        self.placeholder.setText(placeholder)
        self.placeholder.setVisible(not self._fields and bool(placeholder))
        self.more_button.setVisible(any(f.spec.advanced for f in self._fields.values()))

    @property
    def specs(self) -> tuple[ParameterSpec, ...]:
        """The settings shown, in order."""
        return tuple(field.spec for field in self._fields.values())

    def fields(self) -> list[ParameterField]:
        """Every setting's field."""
        return list(self._fields.values())

    def field(self, name: str) -> ParameterField | None:
        """The field of the setting called ``name``; None when this backend has none."""
        return self._fields.get(name)

    def field_for(self, role: ParameterRole) -> ParameterField | None:
        """The field that plays ``role`` (e.g. the epochs, whatever the provider calls them)."""
        return next((f for f in self._fields.values() if f.spec.role is role), None)

    def value(self, name: str) -> Any:
        """A setting's value (None: automatic); KeyError when there is no such setting."""
        return self._fields[name].value()

    def set_value(self, name: str, value: Any) -> None:
        """Set a setting by name (None: automatic); KeyError when there is no such setting."""
        self._fields[name].set_value(value)

    def values(self) -> dict[str, Any]:
        """The values the user fixed (automatic ones left out), by name."""
        chosen = {name: field.value() for name, field in self._fields.items()}
        return {name: value for name, value in chosen.items() if value is not None}

    def all_values(self) -> dict[str, Any]:
        """Every setting's value, None for automatic (to carry them over a rebuild)."""
        return {name: field.value() for name, field in self._fields.items()}

    def problem(self) -> str | None:
        """The first setting the backend would refuse, in one sentence; None when all fit."""
        for field in self._fields.values():
            problem = field.spec.problem(field.value())
            if problem is not None:
                return problem
        return None

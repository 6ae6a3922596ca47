"""Small dialogs for bulk tools, conversion, import, export and splitting.

Each dialog only gathers choices; the window applies them as one undoable step or one file
write, so the dialogs stay easy to test and to reuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.interchange import ExportFormat
from desktop.core.wording import count
from desktop.ui.common import palette
from desktop.ui.common.text_edit import GrowingTextEdit

VALIDATION_TIP = (
    "A validation set is a small share of examples kept out of training. The provider tests "
    "the model on them during training, so you can see whether it learns the skill or only "
    "memorises the training examples."
)
SEED_TIP = (
    "The same number always picks the same examples for validation, so a split can be "
    "repeated exactly."
)


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.MUTED};")
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    return label


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


@dataclass(frozen=True, slots=True)
class SystemMessageChoice:
    """What 'Set system message' should do."""

    text: str
    selected_only: bool
    only_replace_existing: bool
    only_add_missing: bool


class SystemMessageDialog(QDialog):
    """Set, replace or remove the system message of all or selected examples."""

    def __init__(self, current: str, has_selection: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set system message")
        self.resize(560, 380)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _note(
                "The system message tells the assistant who it is and how to behave. Giving "
                "every example the same one makes training more consistent. Leave the text "
                "empty to remove system messages."
            )
        )
        self.text_edit = GrowingTextEdit(self, min_lines=5, max_lines=14)
        self.text_edit.set_text(current)
        layout.addWidget(self.text_edit)
        self.all_button = QRadioButton("All examples")
        self.selected_button = QRadioButton("Only the selected examples")
        self.selected_button.setEnabled(has_selection)
        self.all_button.setChecked(True)
        scope = QButtonGroup(self)
        scope.addButton(self.all_button)
        scope.addButton(self.selected_button)
        layout.addWidget(self.all_button)
        layout.addWidget(self.selected_button)
        self.mode = QComboBox()
        self.mode.addItem("Replace existing system messages and add missing ones", "both")
        self.mode.addItem("Only replace existing system messages", "replace")
        self.mode.addItem("Only add to examples without one", "add")
        layout.addWidget(self.mode)
        layout.addStretch(1)
        layout.addWidget(_buttons(self, "Apply"))

    def choice(self) -> SystemMessageChoice:
        """The choices made."""
        mode = self.mode.currentData()
        return SystemMessageChoice(
            text=self.text_edit.text(),
            selected_only=self.selected_button.isChecked(),
            only_replace_existing=mode == "replace",
            only_add_missing=mode == "add",
        )


class SystemPromptDialog(QDialog):
    """Ask for an optional system message when converting or importing examples."""

    def __init__(
        self, title: str, intro: str, notes: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 340)
        layout = QVBoxLayout(self)
        layout.addWidget(_note(intro))
        if notes:
            layout.addWidget(_note("The conversion will also remove " + "; ".join(notes) + "."))
        layout.addWidget(QLabel("System message for every example (optional):"))
        self.text_edit = GrowingTextEdit(self, min_lines=4, max_lines=12)
        self.text_edit.setPlaceholderText("e.g. You are the friendly support assistant of …")
        layout.addWidget(self.text_edit)
        layout.addStretch(1)
        layout.addWidget(_buttons(self, "Convert"))

    def system(self) -> str | None:
        """The system message typed, or None."""
        text = self.text_edit.text().strip()
        return text or None


@dataclass(frozen=True, slots=True)
class SplitChoice:
    """How to split a dataset into training and validation files."""

    percent: float
    seed: int


class SplitDialog(QDialog):
    """Choose the validation share and seed (and the format) for a train/validation pair."""

    def __init__(
        self,
        percent: float,
        seed: int,
        example_count: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Split into training and validation sets")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.addWidget(_note(VALIDATION_TIP))
        form = QFormLayout()
        self.percent = QDoubleSpinBox()
        self.percent.setRange(1, 50)
        self.percent.setDecimals(0)
        self.percent.setSuffix(" %")
        self.percent.setValue(min(50, max(1, percent)))
        self.percent.setToolTip(VALIDATION_TIP)
        form.addRow("Validation share", self.percent)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(seed)
        self.seed.setToolTip(SEED_TIP)
        form.addRow("Shuffle number (seed)", self.seed)
        layout.addLayout(form)
        self.summary = _note("")
        layout.addWidget(self.summary)
        self._count = example_count
        self.percent.valueChanged.connect(self._update_summary)
        self._update_summary()
        layout.addStretch(1)
        layout.addWidget(_buttons(self, "Choose file name…"))

    def _update_summary(self) -> None:
        validation = (
            max(1, round(self._count * self.percent.value() / 100)) if self._count > 1 else 0
        )
        validation = min(validation, max(self._count - 1, 0))
        self.summary.setText(
            f"{count(self._count - validation, 'example')} for training, "
            f"{validation:,} for validation."
        )

    def choice(self) -> SplitChoice:
        """The choices made."""
        return SplitChoice(self.percent.value(), self.seed.value())


@dataclass(frozen=True, slots=True)
class ExportChoice:
    """What to export: a format, and optionally a train/validation split."""

    fmt: ExportFormat
    split: bool
    percent: float
    seed: int


class ExportDialog(QDialog):
    """Choose an export format and whether to split into training and validation files."""

    def __init__(self, percent: float, seed: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _note(
                "Write the examples in a format other tools read. Formats that cannot hold "
                "everything (tool calls, images, preference pairs) say what they left out."
            )
        )
        form = QFormLayout()
        self.format = QComboBox()
        for fmt in ExportFormat:
            self.format.addItem(fmt.label, fmt)
        form.addRow("Format", self.format)
        self.split = QCheckBox("Also split into a training file and a validation file")
        self.split.setToolTip(VALIDATION_TIP)
        form.addRow(self.split)
        self.percent = QDoubleSpinBox()
        self.percent.setRange(1, 50)
        self.percent.setDecimals(0)
        self.percent.setSuffix(" %")
        self.percent.setValue(min(50, max(1, percent)))
        self.percent.setEnabled(False)
        self.percent.setToolTip(VALIDATION_TIP)
        form.addRow("Validation share", self.percent)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(seed)
        self.seed.setEnabled(False)
        self.seed.setToolTip(SEED_TIP)
        form.addRow("Shuffle number (seed)", self.seed)
        self.split.toggled.connect(self.percent.setEnabled)
        self.split.toggled.connect(self.seed.setEnabled)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(_buttons(self, "Choose file name…"))

    def choice(self) -> ExportChoice:
        """The choices made."""
        # Qt hands a str-based enum back as a plain str: turn it back into the format.
        return ExportChoice(
            ExportFormat(self.format.currentData()),
            self.split.isChecked(),
            self.percent.value(),
            self.seed.value(),
        )

"""The examples the wizard trains on and the validation set kept out of training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.analysis import validation_file_findings
from desktop.core.bulk import split_train_validation
from desktop.core.findings import Finding
from desktop.core.formats import read_dataset_bytes
from desktop.core.settings import AppSettings
from desktop.ui.common.ops import JobContext, Op, run_op
from desktop.ui.jobs.wizard_common import (
    MAX_SEED,
    MIN_TRAINING_EXAMPLES,
    TIPS,
    Note,
    TrainingData,
    double_box,
    finding_list,
    spin_box,
)


class ExamplesBox(QGroupBox):
    """How many examples are trained on, and no validation set, a share set aside (by a
    seed, so it can be repeated) or another file. ``changed`` says the split changed."""

    changed = Signal()

    def __init__(
        self,
        data: TrainingData | None,
        settings: AppSettings,
        *,
        ask_file: Callable[[], Path | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Examples", parent)
        self.data = data
        self.settings = settings
        self.ask_file = ask_file
        self.validation_file: Path | None = None
        self.validation_bytes: bytes | None = None
        #: What keeps the chosen validation file from being sent (checked in the background,
        #: as ``check --validation`` does): its own errors and examples in both files.
        self.validation_problems: list[Finding] = []
        self._validation_failure: str | None = None
        self._validation_op: Op[list[Finding]] | None = None
        data_layout = QVBoxLayout(self)
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
        self.split_percent.valueChanged.connect(self._changed)
        self.split_seed.valueChanged.connect(self._changed)

    def _changed(self, *_args: object) -> None:
        self.changed.emit()

    def _on_validation_choice(self, *_args: object) -> None:
        """A file option without a file yet asks for one."""
        if self.file_validation.isChecked() and self.validation_file is None:
            self._browse_validation()
        self.changed.emit()

    def _browse_validation(self) -> None:
        path = self.ask_file()
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
        self.validation_bytes = data
        self.validation_path.setText(str(path))
        self._check_validation_file(path.suffix, data)
        self.file_validation.setChecked(True)
        self.changed.emit()

    @property
    def validation_checking(self) -> bool:
        """True while the chosen validation file is being checked."""
        return self._validation_op is not None

    def _check_validation_file(self, suffix: str, data: bytes) -> None:
        analysis = self.data.analysis if self.data is not None else None
        self.validation_problems, self._validation_failure = [], None
        if analysis is None:
            return
        if self._validation_op is not None:
            self._validation_op.cancel()
        catalog, model_id = analysis.catalog, analysis.model_id
        facts = analysis.example_facts()  # a copy: the editor's analysis stays on this thread

        def job(_context: JobContext) -> list[Finding]:
            records = list(read_dataset_bytes(data, suffix))
            return validation_file_findings(catalog, model_id, facts, records)

        def checked(problems: list[Finding]) -> None:
            if self.validation_bytes is data:  # not a file chosen since
                self.validation_problems = problems

        def failed(message: str) -> None:
            if self.validation_bytes is data:
                self._validation_failure = message

        def ended() -> None:
            if self._validation_op is op:
                self._validation_op = None
                self.changed.emit()

        op = run_op(
            self,
            job,
            name="checking the validation file",
            success=checked,
            failure=failed,
            done=ended,
        )
        self._validation_op = op

    def validation_problem(self) -> str | None:
        """Why the chosen validation file cannot be sent as it is (None: it can, or another
        validation option is chosen)."""
        if not self.file_validation.isChecked() or self.validation_bytes is None:
            return None
        if self.validation_checking:
            return "The validation file is being checked…"
        if self._validation_failure is not None:
            return f"The validation file could not be checked: {self._validation_failure}"
        if not self.validation_problems:
            return None
        problems = self.validation_problems
        one = len(problems) == 1
        return (
            f"The validation file cannot be used as it is: {len(problems)} "
            f"{'problem' if one else 'problems'} the provider would reject. Fix "
            f"{'it' if one else 'them'}, choose another file, or set examples aside "
            "instead." + finding_list(problems)
        )

    def training_indices(self) -> list[int]:
        """Which examples are trained on (all but those set aside for validation)."""
        count = len(self.data.examples) if self.data is not None else 0
        if not self.split_validation.isChecked():
            return list(range(count))
        train, _ = split_train_validation(
            range(count), self.split_percent.value(), self.split_seed.value()
        )
        return list(train)

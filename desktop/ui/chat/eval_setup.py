"""What an evaluation runs on: the examples (a sample of the open dataset, a validation file or
a finished job's validation set), one or two models, the request settings, and the estimated
cost, counted offline before anything is sent.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from desktop.core.dataset import Record
from desktop.core.evaluation import (
    EvalCostEstimate,
    EvalItem,
    ItemSelection,
    estimate_eval_cost,
    items_from_dataset,
    sample_items,
)
from desktop.core.jobs import JobSummary
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.wording import count
from desktop.ui.chat.chat_services import ChatServices
from desktop.ui.chat.chat_view import max_tokens_spin, temperature_spin
from desktop.ui.chat.chat_wording import format_cost
from desktop.ui.chat.model_picker import ModelEntry, ModelPicker
from desktop.ui.common import palette

DEFAULT_SAMPLE = 20
DEFAULT_CONCURRENCY = 4
ESTIMATE_DEBOUNCE_MS = 250

SOURCE_SAMPLE = "sample"
SOURCE_FILE = "file"
SOURCE_JOB = "job"


@dataclass(frozen=True)
class CostWords:
    """What a run will send and cost, in sentences for the page and for the question."""

    headline: str
    total: str
    lines: tuple[str, ...]

    def question(self) -> str:
        """The question asked before the first request."""
        bullets = "\n".join(f"• {line}" for line in self.lines)
        return f"{self.headline} {self.total}\n\n{bullets}\n\nStart the evaluation?"


def describe_cost(estimate: EvalCostEstimate, labels: Sequence[str], items: int) -> CostWords:
    """Requests and cost of a run in plain words; a model without a known price says so
    rather than showing a number."""
    requests = items * len(labels)
    who = "1 model" if len(labels) == 1 else f"each of {len(labels)} models"
    headline = f"This sends {count(requests, 'request')} ({count(items, 'example')} to {who})."
    known = [(label, m.cost_usd) for label, m in zip(labels, estimate.models, strict=True)]
    priced = [(label, usd) for label, usd in known if usd is not None]
    unpriced = [label for label, usd in known if usd is None]
    total_usd = estimate.total_usd
    if not unpriced and total_usd is not None:
        total = f"Estimated cost: about {format_cost(total_usd)}."
    elif not priced:
        total = (
            f"The cost cannot be estimated for {_joined(unpriced)}: the app does not know "
            f"{'its' if len(unpriced) == 1 else 'their'} price. The provider bills each request."
        )
    else:
        total = (
            f"Estimated cost: about {format_cost(total_usd)} for {_joined([p[0] for p in priced])}"
            f", plus what {_joined(unpriced)} costs: the app does not know "
            f"{'its' if len(unpriced) == 1 else 'their'} price."
        )
    lines = []
    for label, model in zip(labels, estimate.models, strict=True):
        price = (
            f"about {format_cost(model.cost_usd)}"
            if model.cost_usd is not None
            else "cost cannot be estimated for this model"
        )
        lines.append(
            f"{label}: {count(items, 'request')}, about {count(model.prompt_tokens, 'token')} "
            f"sent and {model.output_tokens:,} back (replies as long as the reference ones), "
            f"{price}"
        )
    return CostWords(headline, total, tuple(lines))


def _joined(names: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class EvalSetup(QWidget):
    """The form above the results: examples, models, settings and the estimate.

    ``changed`` fires whenever what a run would send may have changed.
    """

    changed = Signal()

    def __init__(
        self, services: ChatServices, *, auto_evaluate: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.services = services
        self._file_path: Path | None = None
        self._job_records: list[Record] = []
        self._job_label = ""
        self._selection: ItemSelection | None = None
        # Records are immutable and replaced on every edit, so identity tells a change.
        self._dataset_cache: tuple[list[Record], ItemSelection] | None = None
        #: Whether models were already chosen for the user (then they are not changed again).
        self.suggested = False
        self.choose_jsonl_path: Callable[[QWidget, Path], Path | None] = _ask_jsonl_path
        #: Where the open dataset is saved (None while it has no file): file dialogs start
        #: beside it. The window that owns the dataset sets this.
        self.dataset_path: Callable[[], Path | None] = lambda: None

        self.source = QComboBox()
        self.source.addItem("A sample of the open dataset", SOURCE_SAMPLE)
        self.source.addItem("A validation file…", SOURCE_FILE)
        self.sample_size = QSpinBox()
        self.sample_size.setRange(1, 100_000)
        self.sample_size.setValue(DEFAULT_SAMPLE)
        self.sample_size.setSuffix(" examples")
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setValue(42)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("The same seed picks the same examples again.")
        self.file_button = QPushButton("Choose file…")
        self.source_note = QLabel()
        self.source_note.setStyleSheet(f"color: {palette.MUTED};")
        self.picker_a = ModelPicker(services.directory, allow_legacy=False, label="")
        self.compare_box = QCheckBox("Compare with")
        self.compare_box.setChecked(True)
        self.picker_b = ModelPicker(services.directory, allow_legacy=False, label="")
        self.temperature = temperature_spin()
        self.temperature.setValue(0.0)
        self.max_tokens = max_tokens_spin()
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 16)
        self.concurrency.setValue(DEFAULT_CONCURRENCY)
        self.concurrency.setToolTip("How many requests may be on their way at once.")
        self.auto_box = QCheckBox("Evaluate automatically when a training job finishes")
        self.auto_box.setChecked(auto_evaluate)
        self.auto_box.setToolTip(
            "When a training job finishes, send its validation examples to the new model and "
            "its base model at once, without asking first. The provider bills these requests."
        )
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.estimate.setTextFormat(Qt.TextFormat.RichText)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DEBOUNCE_MS)
        self._estimate_timer.timeout.connect(self.update_estimate)

        self._build_layout()
        self._connect()
        self._keep_models_apart()  # the model lists may have been loaded already
        self._on_source_changed()

    def _build_layout(self) -> None:
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source)
        source_row.addWidget(self.sample_size)
        source_row.addWidget(self.seed)
        source_row.addWidget(self.file_button)
        source_row.addWidget(self.source_note, 1)
        form.addRow("Examples", source_row)
        form.addRow("Model", self.picker_a)
        compare_row = QHBoxLayout()
        compare_row.addWidget(self.compare_box)
        compare_row.addWidget(self.picker_b, 1)
        form.addRow("", compare_row)
        knobs = QHBoxLayout()
        knobs.addWidget(QLabel("Temperature"))
        knobs.addWidget(self.temperature)
        knobs.addSpacing(12)
        knobs.addWidget(QLabel("Longest reply"))
        knobs.addWidget(self.max_tokens)
        knobs.addSpacing(12)
        knobs.addWidget(QLabel("At once"))
        knobs.addWidget(self.concurrency)
        knobs.addSpacing(12)
        knobs.addWidget(self.auto_box)
        knobs.addStretch(1)
        form.addRow("Settings", knobs)
        form.addRow("Estimate", self.estimate)

    def _connect(self) -> None:
        self.source.currentIndexChanged.connect(self._on_source_changed)
        for signal in (self.sample_size.valueChanged, self.seed.valueChanged):
            signal.connect(self.settings_changed)
        self.file_button.clicked.connect(self.choose_file)
        for picker in (self.picker_a, self.picker_b):
            picker.changed.connect(self._keep_models_apart)
            picker.changed.connect(self.settings_changed)
        self.compare_box.toggled.connect(lambda: self._keep_models_apart(offer_another=True))
        self.compare_box.toggled.connect(self.settings_changed)

    def suggest(self, entry: ModelEntry | None) -> None:
        """Unless models were chosen for the user already: evaluate ``entry`` against its
        base model."""
        if self.suggested or entry is None:
            return
        base = self.services.directory.counterpart(entry)
        if base is None:
            return
        self.suggested = True
        self.picker_a.select(entry.profile_id, base)
        self.picker_b.select(entry.profile_id, entry.model_id)
        self.compare_box.setChecked(True)

    def _keep_models_apart(self, *, offer_another: bool = False) -> None:
        """Never compare a model with itself: "Compare with" falls back to a fine-tune's base
        model, else to nothing (unticked). ``offer_another``: the box was just ticked, so any
        other chat model of the profile will do."""
        a, b = self.picker_a.current(), self.picker_b.current()
        if not self.compare_box.isChecked() or a is None or b is None:
            return
        if (a.profile_id, a.model_id) != (b.profile_id, b.model_id):
            return
        other = a.base_model if a.is_fine_tuned else None
        if other is None and offer_another:
            other = self.services.directory.counterpart(a)
        if other is not None and other != a.model_id:
            self.picker_b.select(a.profile_id, other)
        elif not offer_another:
            self.compare_box.setChecked(False)

    def models(self) -> list[ModelEntry]:
        """The chosen models: A, then B when comparing."""
        chosen = [self.picker_a.current()]
        if self.compare_box.isChecked():
            chosen.append(self.picker_b.current())
        return [entry for entry in chosen if entry is not None]

    # Examples -------------------------------------------------------------------------------

    def _on_source_changed(self) -> None:
        source = self.source.currentData()
        self.sample_size.setVisible(source == SOURCE_SAMPLE)
        self.seed.setVisible(source == SOURCE_SAMPLE)
        self.file_button.setVisible(source == SOURCE_FILE)
        if source == SOURCE_FILE and self._file_path is None and self.isVisible():
            self.choose_file()
        self.settings_changed()

    def choose_file(self) -> None:
        """Ask for a validation file and evaluate on it."""
        path = self.choose_jsonl_path(self, self.start_folder())
        if path is not None:
            self.use_file(path)

    def start_folder(self) -> Path:
        """Where file dialogs open: beside the validation file or the open dataset, else in
        the user's documents (never the folder the app happens to run in)."""
        for path in (self._file_path, self.dataset_path()):
            if path is not None and path.parent.is_dir():
                return path.parent
        return documents_folder()

    def use_file(self, path: Path) -> None:
        """Evaluate on the examples of a JSONL file (a validation file)."""
        self._file_path = path
        index = self.source.findData(SOURCE_FILE)
        self.source.setCurrentIndex(index)
        self.settings_changed()

    def use_job(self, job: JobSummary, records: list[Record], profile_id: str) -> None:
        """Evaluate a finished job's new model against its base model on its validation
        examples."""
        self.suggested = True
        self._job_records = records
        self._job_label = job.display_name()
        if self.source.findData(SOURCE_JOB) < 0:
            self.source.addItem("The job's validation set", SOURCE_JOB)
        self.source.setItemText(self.source.findData(SOURCE_JOB), f"Validation set of {job.id}")
        self.source.setCurrentIndex(self.source.findData(SOURCE_JOB))
        self.picker_a.select(profile_id, job.base_model)
        self.picker_b.select(profile_id, job.fine_tuned_model or "")
        self.compare_box.setChecked(True)
        self._selection = None
        self.update_estimate()

    @property
    def job_label(self) -> str:
        """The name of the job whose validation set is offered (empty before one)."""
        return self._job_label

    def settings_changed(self) -> None:
        """Count the examples and the cost again (a moment later, once for many changes)."""
        self._selection = None
        self._estimate_timer.start()
        self.changed.emit()

    def selection(self) -> ItemSelection:
        """The items the current choice of examples makes (computed once per change)."""
        if self._selection is not None:
            return self._selection
        source = self.source.currentData()
        if source == SOURCE_FILE:
            records: Sequence[Record] = []
            if self._file_path is not None:
                try:
                    records = list(read_jsonl_bytes(self._file_path.read_bytes()))
                except OSError as exc:
                    self.source_note.setText(f"The file could not be read: {exc.strerror}.")
            selection = items_from_dataset(records)
            name = self._file_path.name if self._file_path else "no file chosen"
            self.source_note.setText(f"{name}: {len(selection.items)} usable examples")
        elif source == SOURCE_JOB:
            selection = items_from_dataset(self._job_records)
            self.source_note.setText(f"{len(selection.items)} validation examples")
        else:
            found = self._dataset_items()
            picked = sample_items(found.items, self.sample_size.value(), self.seed.value())
            selection = ItemSelection(picked, found.skipped)
            self.source_note.setText(
                f"{len(picked)} of {len(found.items)} usable examples in the open dataset"
            )
        if selection.skipped:
            self.source_note.setToolTip("\n".join(selection.skip_sentences()))
        else:
            self.source_note.setToolTip("")
        self._selection = selection
        return selection

    def _dataset_items(self) -> ItemSelection:
        """Every usable item of the open dataset, reused while its records stay the same."""
        records = list(self.services.dataset_records())
        cached = self._dataset_cache
        if cached is not None:
            previous, found = cached
            if len(previous) == len(records) and all(
                a is b for a, b in zip(previous, records, strict=True)
            ):
                return found
        found = items_from_dataset(records)
        self._dataset_cache = (records, found)
        return found

    def run_label(self, count: int) -> str:
        """How a run of ``count`` items of the current choice is listed among saved runs."""
        source = self.source.currentData()
        if source == SOURCE_FILE and self._file_path is not None:
            return f"{count} examples from {self._file_path.name}"
        if source == SOURCE_JOB:
            return f"{count} validation examples of {self._job_label}"
        return f"{count} examples sampled from the dataset (seed {self.seed.value()})"

    # Cost -----------------------------------------------------------------------------------

    def update_estimate(self) -> None:
        """Show what the run should cost before it starts (counted offline)."""
        items = self.selection().items
        models = self.models()
        if not items or not models:
            self.estimate.setText("Choose examples and a model to see the estimated cost.")
            self.changed.emit()
            return
        cost = self.cost(items, models)
        self.estimate.setText(
            f"<b>{html.escape(cost.headline)}</b> {html.escape(cost.total)}<br>"
            + "<br>".join(html.escape(line) for line in cost.lines)
        )
        self.changed.emit()

    def cost(self, items: Sequence[EvalItem], models: Sequence[ModelEntry]) -> CostWords:
        """What sending ``items`` to ``models`` should cost, in words."""
        estimate = estimate_eval_cost(items, [m.model_id for m in models], self.services.catalog)
        return describe_cost(estimate, [m.label for m in models], len(items))


def documents_folder() -> Path:
    """The user's documents folder (their home folder when the system names none)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if location and Path(location).is_dir():
        return Path(location)
    return Path.home()


def _ask_jsonl_path(parent: QWidget, folder: Path) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(
        parent, "Choose a validation file", str(folder), "JSONL files (*.jsonl);;All files (*)"
    )
    return Path(name) if name else None

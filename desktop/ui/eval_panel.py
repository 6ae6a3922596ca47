"""Evaluate: run examples the user trusts through one or two models and score the answers.

The examples are a sample of the open dataset, a validation file, or a finished job's
validation set. Before anything is sent the estimated inference cost is shown. Requests go
out through ``EvalScheduler`` (a few at a time, slowing down on rate limits and honouring
Retry-After); every answer is scored, saved at once, and can get a thumbs up or down. A
cancelled run keeps its answers and resumes with only the pairs still pending.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelection, QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.chat import (
    NOT_READY_WINDOW_SECONDS,
    ChatError,
    complete_chat,
    token_limit_field,
)
from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.errors import ErrorKind, friendly_error
from desktop.api.profiles import ProviderProfile
from desktop.core.conversations import StoreError
from desktop.core.dataset import Record
from desktop.core.evaluation import (
    EvalCostEstimate,
    EvalItem,
    EvalRun,
    EvalScheduler,
    ItemSelection,
    Pair,
    RunState,
    Thumb,
    estimate_eval_cost,
    items_from_dataset,
    sample_items,
)
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.jsonl_io import read_jsonl_bytes
from desktop.core.wording import count
from desktop.ui.chat_models import (
    ADDED_NOTE,
    MUTED,
    ChatServices,
    example_from_item,
    format_cost,
)
from desktop.ui.chat_view import (
    MarkdownView,
    NoticeBar,
    max_tokens_of,
    max_tokens_spin,
    temperature_of,
    temperature_spin,
)
from desktop.ui.eval_models import EvalResultsModel, EvalSummaryModel
from desktop.ui.model_picker import ModelEntry, ModelPicker
from desktop.ui.workers import JobContext, Worker

DEFAULT_SAMPLE = 20
DEFAULT_CONCURRENCY = 4
#: A model trained a moment ago may answer 404 for a few minutes: wait this long, then ask
#: again, for at most :data:`NOT_READY_TRIES` tries per pair.
NOT_READY_RETRY_SECONDS = 30.0
NOT_READY_TRIES = 12
ESTIMATE_DEBOUNCE_MS = 250

SOURCE_SAMPLE = "sample"
SOURCE_FILE = "file"
SOURCE_JOB = "job"


@dataclass(frozen=True)
class _Answer:
    """What one request brought back (made on a pool thread)."""

    pair: Pair
    reply: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: ChatError | None = None


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


def _ask(
    profile: ProviderProfile,
    keys: KeyStore,
    item: EvalItem,
    model: str,
    temperature: float | None,
    max_tokens: int | None,
) -> _Answer:
    """Send one item to one model (on a pool thread); errors come back in the answer."""
    pair = Pair(item.id, model)
    started = time.monotonic()
    try:
        with build_client(profile, keys.get(profile.id)) as client:
            reply = complete_chat(
                client,
                model,
                item.request()["messages"],
                temperature=temperature,
                max_tokens=max_tokens,
                limit_field=token_limit_field(profile),
                tools=item.tools,
            )
    except ChatError as exc:
        return _Answer(pair, error=exc)
    except Exception as exc:
        return _Answer(pair, error=ChatError(friendly_error(exc)))
    usage = reply.usage
    return _Answer(
        pair,
        reply=reply.text,
        tokens_in=usage.prompt_tokens if usage else None,
        tokens_out=usage.completion_tokens if usage else None,
        latency_s=time.monotonic() - started,
    )


class EvalRunner(QObject):
    """Sends a run's pending pairs through an ``EvalScheduler`` and records every answer.

    ``answered(item_id)`` fires after each recorded answer (the run is saved first);
    ``finished(sentence)`` when nothing is left to send or wait for.
    """

    answered = Signal(str)
    waiting = Signal(str)
    finished = Signal(str)

    def __init__(
        self,
        run: EvalRun,
        services: ChatServices,
        profiles: dict[str, ProviderProfile],
        created: dict[str, float | None],
        concurrency: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.run = run
        self.services = services
        self._profiles = profiles
        self._created = created
        self._scheduler = EvalScheduler(run.pending_pairs(), concurrency)
        self._not_ready: dict[Pair, int] = {}
        self._stopped_for: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._pump)
        self._running = False

    @property
    def running(self) -> bool:
        """True until ``finished`` was emitted."""
        return self._running

    def start(self) -> None:
        """Start sending (the run is marked running and saved)."""
        self._running = True
        self.run.start()
        self._save()
        self._pump()

    def cancel(self, reason: str = "Cancelled.") -> None:
        """Send nothing more; answers already on their way are still recorded."""
        if not self._running:
            return
        self._stopped_for = reason
        self._scheduler.cancel()
        self._timer.stop()
        self.run.cancel()
        self._save()
        self._check_done()

    def _pump(self) -> None:
        if not self._running:
            return
        if self._stopped_for is not None:
            self._scheduler.cancel()  # drops pairs a late rate limit put back in line
            self._check_done()
            return
        while (pair := self._scheduler.next_pair()) is not None:
            self._send(pair)
        wait = self._scheduler.wait_seconds()
        if wait is not None and wait > 0:
            self._timer.start(int(wait * 1000) + 1)
            self.waiting.emit(f"The provider asked to slow down; continuing in {wait:.0f} s.")
        self._check_done()

    def _send(self, pair: Pair) -> None:
        profile = self._profiles[pair.model]
        item = self.run.item(pair.item_id)
        keys = self.services.keys
        temperature, max_tokens = self.run.temperature, self.run.max_output_tokens

        def job(_context: JobContext) -> _Answer:
            return _ask(profile, keys, item, pair.model, temperature, max_tokens)

        worker = Worker(job, name="an evaluation request")
        worker.signals.result.connect(self._on_answer)
        self.services.keeper.start(worker)

    def _on_answer(self, answer: object) -> None:
        if not isinstance(answer, _Answer):
            return
        pair, error = answer.pair, answer.error
        if error is not None and self._should_wait(pair, error):
            self._check_done()
            self._pump()
            return
        self._scheduler.on_result(pair)
        sentence = None
        if error is not None:
            sentence = error.friendly.text()
        self.run.record(
            pair.item_id,
            pair.model,
            reply=answer.reply,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            latency_s=answer.latency_s,
            error=sentence,
        )
        self._save()
        self.answered.emit(pair.item_id)
        if error is not None and error.friendly.kind is ErrorKind.OUT_OF_CREDIT:
            self.cancel(f"Stopped: {error.friendly.text()}")
        self._pump()

    def _should_wait(self, pair: Pair, error: ChatError) -> bool:
        """Requeue after a rate limit, or while a just-trained model is not ready yet."""
        friendly = error.friendly
        if friendly.kind is ErrorKind.RATE_LIMITED:
            self._scheduler.on_rate_limited(pair, friendly.retry_after)
            return True
        created = self._created.get(pair.model)
        age = self.services.clock() - created if created is not None else None
        recent = age is not None and age < NOT_READY_WINDOW_SECONDS
        tries = self._not_ready.get(pair, 0)
        not_ready = friendly.kind in (ErrorKind.MODEL_NOT_FOUND, ErrorKind.TIMEOUT)
        if recent and not_ready and tries < NOT_READY_TRIES:
            self._not_ready[pair] = tries + 1
            self._scheduler.on_rate_limited(pair, NOT_READY_RETRY_SECONDS)
            self.waiting.emit("The new model is not ready to answer yet; asking again shortly.")
            return True
        return False

    def _check_done(self) -> None:
        if self._running and self._scheduler.is_finished:
            self._running = False
            self._save()
            done, total = self.run.progress
            sentence = self._stopped_for or (
                "Finished." if done == total else f"{total - done} requests were not sent."
            )
            self.finished.emit(sentence)

    def _save(self) -> None:
        try:
            self.services.evaluations.save(self.run)
        except StoreError as exc:
            self.waiting.emit(f"The run could not be saved: {exc}")


class EvalPage(QWidget):
    """Choose examples and models, see the cost, run, read the scores, rate and export."""

    auto_evaluate_changed = Signal(bool)

    def __init__(
        self,
        services: ChatServices,
        *,
        auto_evaluate: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.run: EvalRun | None = None
        self.runner: EvalRunner | None = None
        self._file_path: Path | None = None
        self._job_records: list[Record] = []
        self._job_label = ""
        self._selection: ItemSelection | None = None
        # Records are immutable and replaced on every edit, so identity tells a change.
        self._dataset_cache: tuple[list[Record], ItemSelection] | None = None
        self._suggested = False
        self.choose_csv_path: Callable[[QWidget, Path], Path | None] = _ask_csv_path
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
        self.source_note.setStyleSheet(f"color: {MUTED};")
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
        self.start_button = QPushButton("Start evaluation")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Send only the requests that are still pending.")
        self.retry_button = QPushButton("Retry failed")
        self.export_button = QPushButton("Export CSV…")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {MUTED};")
        self.runs = QComboBox()
        self.runs.setMinimumContentsLength(30)
        self.runs.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.notice = NoticeBar()

        self.summary_model = EvalSummaryModel(services.catalog, self)
        self.summary_table = QTableView()
        self.summary_table.setModel(self.summary_model)
        self.results_model = EvalResultsModel(self)
        self.results_table = QTableView()
        self.results_table.setModel(self.results_model)
        self.detail = QScrollArea()
        self.detail.setWidgetResizable(True)
        self.detail.setFrameShape(QFrame.Shape.NoFrame)
        self._detail_item: str | None = None
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DEBOUNCE_MS)
        self._estimate_timer.timeout.connect(self.update_estimate)

        self._build_layout()
        self._connect()
        self._keep_models_apart()  # the model lists may have been loaded already
        self._fill_runs()
        self._on_source_changed()
        self._update_buttons()

    # Layout ---------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        form = QFormLayout()
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
        actions = QHBoxLayout()
        for button in (
            self.start_button,
            self.cancel_button,
            self.resume_button,
            self.retry_button,
            self.export_button,
        ):
            actions.addWidget(button)
        actions.addWidget(self.progress, 1)
        actions.addWidget(QLabel("Saved runs"))
        actions.addWidget(self.runs)

        for table in (self.summary_table, self.results_table):
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setAlternatingRowColors(True)
            table.verticalHeader().hide()
            table.setWordWrap(False)
        self.summary_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        summary_header = self.summary_table.horizontalHeader()
        summary_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        summary_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.results_table.horizontalHeader().setStretchLastSection(True)
        self.results_table.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )

        summary_box = QWidget()
        summary_layout = QVBoxLayout(summary_box)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("Summary")
        heading.setStyleSheet("font-weight: 600;")
        summary_layout.addWidget(heading)
        summary_layout.addWidget(self.summary_table)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.results_table)
        lower.addWidget(self.detail)
        lower.setSizes([980, 420])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addWidget(self.notice)
        layout.addWidget(summary_box)
        layout.addWidget(lower, 1)

    def _connect(self) -> None:
        self.source.currentIndexChanged.connect(self._on_source_changed)
        for signal in (self.sample_size.valueChanged, self.seed.valueChanged):
            signal.connect(self._on_settings_changed)
        self.file_button.clicked.connect(self._choose_file)
        for picker in (self.picker_a, self.picker_b):
            picker.changed.connect(self._keep_models_apart)
            picker.changed.connect(self._on_settings_changed)
        self.compare_box.toggled.connect(lambda: self._keep_models_apart(offer_another=True))
        self.compare_box.toggled.connect(self._on_settings_changed)
        self.auto_box.toggled.connect(self.auto_evaluate_changed)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.retry_button.clicked.connect(self.retry_failed)
        self.export_button.clicked.connect(self.export_csv)
        self.runs.activated.connect(self._on_run_chosen)
        self.results_table.selectionModel().selectionChanged.connect(self._on_row_selected)

    def suggest(self, entry: ModelEntry | None) -> None:
        """Before the first run: evaluate ``entry`` against its base model."""
        if self._suggested or self.run is not None or entry is None:
            return
        base = self.services.directory.counterpart(entry)
        if base is None:
            return
        self._suggested = True
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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._on_settings_changed()  # the open dataset may have changed meanwhile

    # Choosing what to run -------------------------------------------------------------------

    @property
    def auto_evaluate(self) -> bool:
        """Whether finished jobs are evaluated without asking."""
        return self.auto_box.isChecked()

    def models(self) -> list[ModelEntry]:
        """The chosen models: A, then B when comparing."""
        chosen = [self.picker_a.current()]
        if self.compare_box.isChecked():
            chosen.append(self.picker_b.current())
        return [entry for entry in chosen if entry is not None]

    def _on_source_changed(self) -> None:
        source = self.source.currentData()
        self.sample_size.setVisible(source == SOURCE_SAMPLE)
        self.seed.setVisible(source == SOURCE_SAMPLE)
        self.file_button.setVisible(source == SOURCE_FILE)
        if source == SOURCE_FILE and self._file_path is None and self.isVisible():
            self._choose_file()
        self._on_settings_changed()

    def _choose_file(self) -> None:
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
        self._on_settings_changed()

    def _on_settings_changed(self) -> None:
        self._selection = None
        self._estimate_timer.start()
        self._update_buttons()

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

    def update_estimate(self) -> None:
        """Show what the run should cost before it starts (counted offline)."""
        items = self.selection().items
        models = self.models()
        if not items or not models:
            self.estimate.setText("Choose examples and a model to see the estimated cost.")
            self._update_buttons()
            return
        cost = self._cost(items, models)
        self.estimate.setText(
            f"<b>{html.escape(cost.headline)}</b> {html.escape(cost.total)}<br>"
            + "<br>".join(html.escape(line) for line in cost.lines)
        )
        self._update_buttons()

    def _cost(self, items: Sequence[EvalItem], models: Sequence[ModelEntry]) -> CostWords:
        estimate = estimate_eval_cost(items, [m.model_id for m in models], self.services.catalog)
        return describe_cost(estimate, [m.label for m in models], len(items))

    def ask_to_start(self, cost: CostWords) -> bool:
        """Ask before the first request of a run: requests are billed by the provider."""
        return self.services.confirm(self, "Start evaluation", cost.question())

    # Running --------------------------------------------------------------------------------

    def start(self, *, ask: bool = True) -> None:
        """Start a new run with the chosen examples and models, after asking (unless the user
        chose to evaluate finished jobs without being asked)."""
        if self.running:
            return
        items = self.selection().items
        models = self.models()
        if not items:
            self.notice.show_note("There are no usable examples to evaluate on.")
            return
        if not models or len({m.model_id for m in models}) != len(models):
            self.notice.show_note("Pick a model (and a different second one to compare).")
            return
        if ask and not self.ask_to_start(self._cost(items, models)):
            return
        run = EvalRun(
            items,
            [m.model_id for m in models],
            label=self._run_label(len(items)),
            profile_id=models[0].profile_id,
            temperature=temperature_of(self.temperature),
            max_output_tokens=max_tokens_of(self.max_tokens),
        )
        self.show_run(run)
        self._run(models)

    def _run_label(self, count: int) -> str:
        source = self.source.currentData()
        if source == SOURCE_FILE and self._file_path is not None:
            return f"{count} examples from {self._file_path.name}"
        if source == SOURCE_JOB:
            return f"{count} validation examples of {self._job_label}"
        return f"{count} examples sampled from the dataset (seed {self.seed.value()})"

    def resume(self) -> None:
        """Send the pending pairs of the shown run (after a cancel or a restart)."""
        if self.run is None or self.running or not self.run.pending_pairs():
            return
        self._run(self._entries_for(self.run))

    def retry_failed(self) -> None:
        """Forget failed answers of the shown run and send them again."""
        if self.run is None or self.running:
            return
        if self.run.retry_failed():
            self.results_model.set_run(self.run, self._labels(self.run))
            self._run(self._entries_for(self.run))

    def _entries_for(self, run: EvalRun) -> list[ModelEntry]:
        """The model entries of a run: from the pickers when chosen there, else its profile."""
        entries = []
        for model in run.models:
            chosen = [e for e in (self.picker_a.current(), self.picker_b.current()) if e]
            match = next((e for e in chosen if e.model_id == model), None)
            if match is None and run.profile_id is not None:
                match = self.services.directory.ensure(run.profile_id, model)
            if match is not None:
                entries.append(match)
        return entries

    def _run(self, entries: list[ModelEntry]) -> None:
        run = self.run
        assert run is not None
        profiles: dict[str, ProviderProfile] = {}
        for entry in entries:
            profile = self.services.directory.profile(entry.profile_id)
            if profile is not None:
                profiles[entry.model_id] = profile
        missing = [m for m in run.models if m not in profiles]
        if missing:
            self.notice.show_problem(
                "No provider profile is known for " + ", ".join(missing) + "; pick it above.",
                retry=False,
            )
            return
        self.notice.hide()
        runner = EvalRunner(
            run,
            self.services,
            profiles,
            {e.model_id: e.created for e in entries},
            self.concurrency.value(),
            self,
        )
        runner.answered.connect(self._on_answered)
        runner.waiting.connect(self.status.setText)
        runner.finished.connect(self._on_finished)
        self.runner = runner
        self.status.setText("Sending…")
        runner.start()
        self._update_progress()
        self._update_buttons()

    @property
    def running(self) -> bool:
        """True while a run is sending or waiting for answers."""
        return self.runner is not None and self.runner.running

    def cancel(self) -> None:
        """Stop sending; answers on their way are still recorded, the rest stay pending."""
        if self.runner is not None and self.runner.running:
            self.status.setText("Cancelling: waiting for the answers already on their way…")
            self.runner.cancel()
        self._update_buttons()

    def _on_answered(self, item_id: str) -> None:
        self.results_model.item_changed(item_id)
        self._refresh_summary()
        self._update_progress()
        if item_id == self._detail_item:
            self._show_detail(item_id)

    def _on_finished(self, sentence: str) -> None:
        self.status.setText(f"{self.run.label} · {sentence}" if self.run else sentence)
        self._refresh_summary()
        self._update_progress()
        self._fill_runs()
        self._update_buttons()

    def show_run(self, run: EvalRun) -> None:
        """Show a run's answers and summary (a new one, or one saved earlier)."""
        self.run = run
        labels = self._labels(run)
        self.results_model.set_run(run, labels)
        self.results_table.setColumnWidth(0, 190)
        self.results_table.setColumnWidth(1, 190)
        for model_index in range(len(run.models)):
            self.results_table.setColumnWidth(2 + 3 * model_index, 180)
            self.results_table.setColumnWidth(3 + 3 * model_index, 90)
            self.results_table.setColumnWidth(4 + 3 * model_index, 60)
        self._refresh_summary()
        self._update_progress()
        self._detail_item = None
        self.detail.setWidget(QWidget())
        state = {
            RunState.CANCELLED: "Cancelled: Resume sends what is still pending.",
            RunState.FINISHED: "Finished.",
        }.get(run.state, "")
        self.status.setText(f"{run.label} · {state}" if state else run.label)
        self._update_buttons()

    def _labels(self, run: EvalRun) -> list[str]:
        labels = []
        for model in run.models:
            entry = None
            if run.profile_id is not None:
                entry = self.services.directory.find(run.profile_id, model)
            labels.append(entry.label if entry is not None else model)
        return labels

    def _refresh_summary(self) -> None:
        run = self.run
        self.summary_model.refresh(run, self._labels(run) if run is not None else ())
        header = self.summary_table.horizontalHeader().height()
        rows = self.summary_model.rowCount()
        height = self.summary_table.verticalHeader().defaultSectionSize()
        self.summary_table.setFixedHeight(header + max(1, rows) * height + 4)

    def _update_progress(self) -> None:
        if self.run is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")
            return
        done, total = self.run.progress
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {total} answers")

    def _update_buttons(self) -> None:
        running = self.running
        pending = self.run is not None and bool(self.run.pending_pairs())
        failed = self.run is not None and any(
            (r := self.run.result(item.id, model)) is not None and not r.ok
            for item in self.run.items
            for model in self.run.models
        )
        self.start_button.setEnabled(not running and bool(self.models()))
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and pending)
        self.retry_button.setEnabled(not running and failed)
        self.export_button.setEnabled(self.run is not None)
        self.runs.setEnabled(not running)
        self.picker_b.setVisible(self.compare_box.isChecked())

    # Saved runs -----------------------------------------------------------------------------

    def _fill_runs(self) -> None:
        self.runs.blockSignals(True)
        self.runs.clear()
        try:
            listing = self.services.evaluations.list()
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
            listing = None
        self.runs.addItem("—", None)
        for run in listing.items if listing is not None else []:
            when = datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M")
            done, total = run.progress
            self.runs.addItem(f"{when} · {run.label} · {done}/{total}", run.id)
            if self.run is not None and run.id == self.run.id:
                self.runs.setCurrentIndex(self.runs.count() - 1)
        self.runs.blockSignals(False)

    def _on_run_chosen(self) -> None:
        run_id = self.runs.currentData()
        if not isinstance(run_id, str) or self.running:
            return
        try:
            run = self.services.evaluations.load(run_id)
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
            return
        self.show_run(run)

    def export_csv(self) -> None:
        """Save the shown run as a CSV file for a spreadsheet."""
        if self.run is None:
            return
        path = self.choose_csv_path(self, self.start_folder() / f"evaluation-{self.run.id[:8]}.csv")
        if path is None:
            return
        try:
            path.write_text(self.run.to_csv(), encoding="utf-8-sig", newline="")
        except OSError as exc:
            self.notice.show_problem(
                f"The CSV file could not be written: {exc.strerror or exc}.", retry=False
            )
            return
        self.services.notify(f"Saved {path.name}.")

    # Details --------------------------------------------------------------------------------

    def _on_row_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {index.row() for index in selected.indexes()}
        item_id = self.results_model.item_id_at(min(rows)) if rows else None
        if item_id is not None:
            self._show_detail(item_id)

    def _show_detail(self, item_id: str) -> None:
        run = self.run
        if run is None:
            return
        self._detail_item = item_id
        item = run.item(item_id)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(_heading("Question"))
        layout.addWidget(_text_block(item.question, markdown=False))
        layout.addWidget(_heading("Reference reply"))
        layout.addWidget(_text_block(item.reference, markdown=True))
        for model, label in zip(run.models, self._labels(run), strict=True):
            result = run.result(item_id, model)
            layout.addWidget(_heading(label))
            if result is None:
                layout.addWidget(_muted("Waiting for the answer…"))
                continue
            if not result.ok:
                layout.addWidget(_muted(f"⚠ {result.error}"))
                continue
            layout.addWidget(_text_block(result.reply, markdown=True))
            row = QGridLayout()
            score = f"Similarity {result.similarity:.2f}" if result.similarity is not None else ""
            if result.exact_match:
                score += " · exact match"
            row.addWidget(_muted(score), 0, 0)
            thumbs = ((Thumb.UP, "✓ Good"), (Thumb.DOWN, "✗ Bad"))
            for column, (thumb, text) in enumerate(thumbs, 1):
                button = QToolButton()
                button.setText(text)
                button.setCheckable(True)
                button.setChecked(result.rating is thumb)
                button.setToolTip("Good answer" if thumb is Thumb.UP else "Bad answer")
                button.clicked.connect(
                    lambda checked, m=model, t=thumb: self.rate(item_id, m, t if checked else None)
                )
                row.addWidget(button, 0, column)
            add = QPushButton("Add to dataset…")
            add.setToolTip("Make this question and answer a training example (edit it first).")
            add.clicked.connect(lambda _checked=False, m=model: self.add_to_dataset(item_id, m))
            row.addWidget(add, 0, 3)
            row.setColumnStretch(0, 1)
            layout.addLayout(row)
        layout.addStretch(1)
        self.detail.setWidget(box)

    def rate(self, item_id: str, model: str, thumb: Thumb | None) -> None:
        """Thumbs up or down on one answer (None clears it); saved at once."""
        if self.run is None:
            return
        self.run.rate(item_id, model, thumb)
        try:
            self.services.evaluations.save(self.run)
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
        self.results_model.item_changed(item_id)
        self._refresh_summary()
        self._show_detail(item_id)

    def add_to_dataset(self, item_id: str, model: str) -> bool:
        """Offer one answer (edited first if needed) as a training example."""
        if self.run is None:
            return False
        result = self.run.result(item_id, model)
        if result is None or not result.ok:
            return False
        item = self.run.item(item_id)
        value = example_from_item(item, result.reply)
        added = self.services.offer_example(self, value, item.question)
        if added:
            self.notice.show_note(ADDED_NOTE)
        return added

    # After a training job -------------------------------------------------------------------

    def evaluate_after_job(self, job: JobSummary, validation_records: Sequence[Record]) -> None:
        """Set up (and with auto-evaluation on, start) a run of the job's new model against
        its base model on the job's validation examples."""
        if job.status is not JobStatus.SUCCEEDED or not job.fine_tuned_model:
            return
        records = list(validation_records)
        if not items_from_dataset(records).items:
            return
        profile_id = job.provider_id or self.services.directory.default_profile_id()
        if profile_id is None or self.services.directory.profile(profile_id) is None:
            return
        self._suggested = True
        self._job_records = records
        self._job_label = job.display_name()
        if self.source.findData(SOURCE_JOB) < 0:
            self.source.addItem("The job's validation set", SOURCE_JOB)
        self.source.setItemText(self.source.findData(SOURCE_JOB), f"Validation set of {job.id}")
        self.source.setCurrentIndex(self.source.findData(SOURCE_JOB))
        self.picker_a.select(profile_id, job.base_model)
        self.picker_b.select(profile_id, job.fine_tuned_model)
        self.compare_box.setChecked(True)
        self._selection = None
        self.update_estimate()
        if self.auto_evaluate and not self.running:
            self.start(ask=False)
        else:
            self.notice.show_note(
                f"Training finished: press Start evaluation to compare {self._job_label} with "
                f"{job.base_model} on its {len(self.selection().items)} validation examples."
            )


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; margin-top: 6px;")
    label.setWordWrap(True)
    return label


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {MUTED};")
    label.setWordWrap(True)
    return label


def _text_block(text: str, *, markdown: bool) -> QWidget:
    frame = QFrame()
    frame.setObjectName("evalText")
    frame.setStyleSheet(
        "#evalText { background: white; border: 1px solid #dadce0; border-radius: 6px; }"
    )
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(8, 4, 8, 4)
    view = MarkdownView()
    view.show_text(text, markdown=markdown)
    layout.addWidget(view)
    return frame


def documents_folder() -> Path:
    """The user's documents folder (their home folder when the system names none)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if location and Path(location).is_dir():
        return Path(location)
    return Path.home()


def _ask_csv_path(parent: QWidget, suggested: Path) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(
        parent, "Export evaluation", str(suggested), "CSV files (*.csv)"
    )
    return Path(name) if name else None


def _ask_jsonl_path(parent: QWidget, folder: Path) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(
        parent, "Choose a validation file", str(folder), "JSONL files (*.jsonl);;All files (*)"
    )
    return Path(name) if name else None

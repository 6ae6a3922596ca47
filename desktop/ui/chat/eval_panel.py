"""Evaluate: run examples the user trusts through one or two models and score the answers.

The examples are a sample of the open dataset, a validation file, or a finished job's
validation set (``eval_setup``, which also shows the estimated inference cost before anything
is sent). Requests go out through ``eval_runner`` (a few at a time, slowing down on rate
limits and honouring Retry-After); every answer is scored, saved at once, and can get a thumbs
up or down (``eval_results``). A cancelled run keeps its answers and resumes with only the
pairs still pending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.profiles import ProviderProfile
from desktop.core.conversations import StoreError
from desktop.core.dataset import Record
from desktop.core.evaluation import EvalRun, ItemSelection, RunState, Thumb, items_from_dataset
from desktop.core.jobs import JobStatus, JobSummary
from desktop.ui.chat.chat_examples import example_from_item
from desktop.ui.chat.chat_services import ADDED_NOTE, ChatServices
from desktop.ui.chat.chat_view import NoticeBar, max_tokens_of, temperature_of
from desktop.ui.chat.eval_results import EvalResults
from desktop.ui.chat.eval_runner import EvalRunner
from desktop.ui.chat.eval_setup import CostWords, EvalSetup
from desktop.ui.chat.model_picker import ModelEntry
from desktop.ui.common import palette


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
        self.choose_csv_path: Callable[[QWidget, Path], Path | None] = _ask_csv_path

        self.setup = EvalSetup(services, auto_evaluate=auto_evaluate)
        setup = self.setup  # its fields keep the names the window and the tests know
        self.sample_size, self.concurrency = setup.sample_size, setup.concurrency
        self.picker_a, self.picker_b = setup.picker_a, setup.picker_b
        self.compare_box, self.auto_box = setup.compare_box, setup.auto_box
        self.max_tokens, self.estimate = setup.max_tokens, setup.estimate
        self.start_button = QPushButton("Start evaluation")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Send only the requests that are still pending.")
        self.retry_button = QPushButton("Retry failed")
        self.export_button = QPushButton("Export CSV…")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {palette.MUTED};")
        self.runs = QComboBox()
        self.runs.setMinimumContentsLength(30)
        self.runs.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.notice = NoticeBar()
        self.results = EvalResults(services)
        self.summary_model = self.results.summary_model
        self.results_model = self.results.results_model
        self.results_table = self.results.results_table

        self._build_layout()
        self._connect()
        self._fill_runs()
        self._update_buttons()

    def _build_layout(self) -> None:
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.setup)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addWidget(self.notice)
        layout.addWidget(self.results, 1)

    def _connect(self) -> None:
        self.setup.changed.connect(self._update_buttons)
        self.auto_box.toggled.connect(self.auto_evaluate_changed)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.retry_button.clicked.connect(self.retry_failed)
        self.export_button.clicked.connect(self.export_csv)
        self.runs.activated.connect(self._on_run_chosen)
        self.results.rated.connect(self.rate)
        self.results.add_requested.connect(self.add_to_dataset)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.setup.settings_changed()  # the open dataset may have changed meanwhile

    # Choosing what to run (the setup form) ----------------------------------------------------

    @property
    def dataset_path(self) -> Callable[[], Path | None]:
        """Where the open dataset is saved (None while it has no file): file dialogs start
        beside it. The window that owns the dataset sets this."""
        return self.setup.dataset_path

    @dataset_path.setter
    def dataset_path(self, value: Callable[[], Path | None]) -> None:
        self.setup.dataset_path = value

    @property
    def choose_jsonl_path(self) -> Callable[[QWidget, Path], Path | None]:
        """Asks for a validation file (parent, folder); tests replace it."""
        return self.setup.choose_jsonl_path

    @choose_jsonl_path.setter
    def choose_jsonl_path(self, value: Callable[[QWidget, Path], Path | None]) -> None:
        self.setup.choose_jsonl_path = value

    @property
    def auto_evaluate(self) -> bool:
        """Whether finished jobs are evaluated without asking."""
        return self.auto_box.isChecked()

    def suggest(self, entry: ModelEntry | None) -> None:
        """Before the first run: evaluate ``entry`` against its base model."""
        if self.run is None:
            self.setup.suggest(entry)

    def models(self) -> list[ModelEntry]:
        """The chosen models: A, then B when comparing."""
        return self.setup.models()

    def selection(self) -> ItemSelection:
        """The items the current choice of examples makes."""
        return self.setup.selection()

    def use_file(self, path: Path) -> None:
        """Evaluate on the examples of a JSONL file (a validation file)."""
        self.setup.use_file(path)

    def start_folder(self) -> Path:
        """Where file dialogs open (see ``EvalSetup.start_folder``)."""
        return self.setup.start_folder()

    def update_estimate(self) -> None:
        """Show what the run should cost before it starts (counted offline)."""
        self.setup.update_estimate()

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
        if ask and not self.ask_to_start(self.setup.cost(items, models)):
            return
        run = EvalRun(
            items,
            [m.model_id for m in models],
            label=self.setup.run_label(len(items)),
            profile_id=models[0].profile_id,
            temperature=temperature_of(self.setup.temperature),
            max_output_tokens=max_tokens_of(self.max_tokens),
        )
        self.show_run(run)
        self._send(models)

    def resume(self) -> None:
        """Send the pending pairs of the shown run (after a cancel or a restart)."""
        if self.run is None or self.running or not self.run.pending_pairs():
            return
        self._send(self._entries_for(self.run))

    def retry_failed(self) -> None:
        """Forget failed answers of the shown run and send them again."""
        if self.run is None or self.running:
            return
        if self.run.retry_failed():
            self.results.reload()
            self._send(self._entries_for(self.run))

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

    def _send(self, entries: list[ModelEntry]) -> None:
        """Send the shown run's pending pairs to the models of ``entries``."""
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

    def cancel_work(self) -> None:
        """Stop sending and drop the answers on their way (before the window closes)."""
        self.cancel()
        if self.runner is not None:
            self.runner.drop_answers()

    def _on_answered(self, item_id: str) -> None:
        self.results.item_changed(item_id)
        self._update_progress()

    def _on_finished(self, sentence: str) -> None:
        self.status.setText(f"{self.run.label} · {sentence}" if self.run else sentence)
        self.results.refresh_summary()
        self._update_progress()
        self._fill_runs()
        self._update_buttons()

    def show_run(self, run: EvalRun) -> None:
        """Show a run's answers and summary (a new one, or one saved earlier)."""
        self.run = run
        self.results.show_run(run)
        self._update_progress()
        state = {
            RunState.CANCELLED: "Cancelled: Resume sends what is still pending.",
            RunState.FINISHED: "Finished.",
        }.get(run.state, "")
        self.status.setText(f"{run.label} · {state}" if state else run.label)
        self._update_buttons()

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

    # Ratings and new examples ---------------------------------------------------------------

    def rate(self, item_id: str, model: str, thumb: Thumb | None) -> None:
        """Thumbs up or down on one answer (None clears it); saved at once."""
        if self.run is None:
            return
        self.run.rate(item_id, model, thumb)
        try:
            self.services.evaluations.save(self.run)
        except StoreError as exc:
            self.notice.show_problem(str(exc), retry=False)
        self.results.item_changed(item_id)
        self.results.show_detail(item_id)

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
        self.setup.use_job(job, records, profile_id)
        if self.auto_evaluate and not self.running:
            self.start(ask=False)
        else:
            self.notice.show_note(
                f"Training finished: press Start evaluation to compare {self.setup.job_label} "
                f"with {job.base_model} on its {len(self.selection().items)} validation "
                "examples."
            )


def _ask_csv_path(parent: QWidget, suggested: Path) -> Path | None:
    name, _ = QFileDialog.getSaveFileName(
        parent, "Export evaluation", str(suggested), "CSV files (*.csv)"
    )
    return Path(name) if name else None

"""One job in detail: where it is, its curves and what they mean, its events and checkpoints.

The view only shows and asks: every request (cancel, pause, chat, export, compare) leaves as a
signal, and the Jobs panel does the work on the thread pool. Questions go through ``confirm``,
``choose_save_path`` and ``show_error`` so tests can answer them without message boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.jobs_service import EventLine, JobSnapshot
from desktop.core.advice import Advice
from desktop.core.advice import Severity as AdviceSeverity
from desktop.core.catalog import Catalog
from desktop.core.findings import Severity
from desktop.core.jobs import SUFFIX_KEY, CheckpointSummary, JobStatus, JobSummary
from desktop.core.metrics import MetricSeries
from desktop.core.training import REQUEST_KEY, BackendTraits, ChatRoute
from desktop.ui.common import palette
from desktop.ui.common.icons import status_icon
from desktop.ui.jobs.job_models import (
    STATUS_COLORS,
    CheckpointsTableModel,
    EventsTableModel,
    format_duration,
    format_time,
    job_title,
)
from desktop.ui.jobs.loss_chart import LossChart

#: How often the elapsed time and the finish estimate are written again (milliseconds).
CLOCK_INTERVAL_MS = 15_000

TIPS = {
    "pause": "Pause training; resume it later and it continues from where it stopped.",
    "resume": "Continue a paused job from where it stopped.",
    "cancel": (
        "Stop this job for good. No model is made; the provider decides what is billed for "
        "the part already trained."
    ),
    "export": (
        "Save everything about this job in one zip file: the exact training files, the "
        "settings, the events and the curves, so you can train the same model again anywhere."
    ),
    "copy": "Copy the model name, to use it in another program.",
    "chat": "Open a chat with the model this job made.",
    "chat_checkpoint": (
        "Chat with the model as it was at this step. An earlier checkpoint can answer better "
        "when later training learnt the examples too literally."
    ),
    "download": (
        "Save the trained adapter (the small set of weights training made) in this job's "
        "archive folder, to run the model on this computer with its base model, e.g. in "
        "Ollama, vLLM or llama.cpp."
    ),
    "export_here": (
        "Write the trained adapter, the exact training data and a README (and an Ollama "
        "Modelfile for Llama, Mistral and Gemma bases) into a new folder you choose, to use the "
        "model elsewhere."
    ),
    "compare_base": (
        "Start this model and its base model on this computer and chat with both side by "
        "side, to see what training changed."
    ),
    "compare": "Draw the training loss of other jobs on the same chart, to compare runs.",
    "checkpoints": (
        "Checkpoints are copies of the model saved during training (the provider keeps the "
        "last few); each can be chatted with like the final model."
    ),
}
_ADVICE_ICONS = {
    AdviceSeverity.WARNING: Severity.WARNING,
    AdviceSeverity.INFO: Severity.INFO,
    AdviceSeverity.GOOD: None,
}
_METHOD_NAMES = {
    "supervised": "Supervised (learn from example answers)",
    "dpo": "Preference (DPO: prefer one answer over another)",
    "reinforcement": "Reinforcement",
}


@dataclass
class JobRecord:
    """What the screen knows about one job, built up from the snapshots its polls send."""

    provider_id: str
    summary: JobSummary
    live: bool
    events: list[EventLine] = field(default_factory=list)
    checkpoints: tuple[CheckpointSummary, ...] = ()
    series: MetricSeries = field(default_factory=MetricSeries.empty)
    advice: tuple[Advice, ...] = ()
    n_examples: int | None = None
    loaded: bool = False
    problem: str | None = None
    #: Pause was asked for and the job still trains (it saves a checkpoint first).
    pausing: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """(provider id, job id): unique across providers."""
        return (self.provider_id, self.summary.id)

    def apply(self, snapshot: JobSnapshot) -> None:
        """Take in a poll's news."""
        self.summary = snapshot.summary
        if snapshot.full:
            self.events = list(snapshot.new_events)
        else:
            self.events.extend(snapshot.new_events)
        self.checkpoints = snapshot.checkpoints
        if snapshot.series is not None:
            self.series = snapshot.series
        if snapshot.advice is not None:
            self.advice = snapshot.advice
        self.n_examples = snapshot.n_examples
        self.loaded = True
        self.problem = None
        if snapshot.summary.status is not JobStatus.RUNNING:
            self.pausing = False


def _chip_style(color: str) -> str:
    return (
        f"color: white; background: {color}; border-radius: 9px; padding: 2px 10px;"
        " font-weight: 600;"
    )


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {palette.MUTED};")
    return label


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class StatusTimeline(QWidget):
    """Checking files → Waiting → Training → Finished, with the current stage highlighted."""

    STAGES = ("Checking files", "Waiting to start", "Training", "Finished")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.labels: list[QLabel] = []
        for index, name in enumerate(self.STAGES):
            if index:
                line = QFrame()
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFixedWidth(28)
                line.setStyleSheet(f"color: {palette.BORDER};")
                layout.addWidget(line)
            label = QLabel(name)
            self.labels.append(label)
            layout.addWidget(label)
        layout.addStretch(1)

    def set_status(self, status: JobStatus, trained: bool) -> None:
        """Mark the stages done, the current one, and an early end (failed or cancelled)."""
        current = {
            JobStatus.VALIDATING_FILES: 0,
            JobStatus.QUEUED: 1,
            JobStatus.RUNNING: 2,
            JobStatus.PAUSED: 2,
            JobStatus.SUCCEEDED: 3,
        }.get(status, 2 if trained else 0)
        ended_early = status in (JobStatus.FAILED, JobStatus.CANCELLED)
        for index, label in enumerate(self.labels):
            name = self.STAGES[index]
            if index == 2 and status is JobStatus.PAUSED:
                name = "Training (paused)"
            if index == 3 and ended_early:
                name = status.label
            done = index < current or (index == current and status is JobStatus.SUCCEEDED)
            highlighted = (index == current and not ended_early) or (index == 3 and ended_early)
            if done:
                label.setText("✓ " + name)
                label.setStyleSheet(f"color: {palette.SUCCESS_STRONG};")
            elif highlighted:
                label.setText(name)
                label.setStyleSheet(_chip_style(STATUS_COLORS[status]))
            else:
                label.setText(name)
                label.setStyleSheet(f"color: {palette.QUIET};")


class AdviceList(QScrollArea):
    """The training advice in plain words, most important first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.setSpacing(10)
        title = QLabel("What the curves say")
        title.setStyleSheet("font-weight: 600;")
        self._layout.addWidget(title)
        self._rows: list[QWidget] = []
        self._layout.addStretch(1)
        self.setWidget(body)

    def set_advice(self, advice: Sequence[Advice]) -> None:
        """Replace the advice shown."""
        for row in self._rows:
            row.deleteLater()
        self._rows.clear()
        for item in advice:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.setSpacing(8)
            icon = QLabel()
            icon.setPixmap(status_icon(_ADVICE_ICONS[item.severity]).pixmap(18, 18))
            icon.setAlignment(Qt.AlignmentFlag.AlignTop)
            text = QLabel(
                f"{item.message}<br><span style='color:{palette.MUTED}'>{item.suggestion}</span>"
            )
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.RichText)
            text.setObjectName(f"advice_{item.kind.value}")
            line.addWidget(icon)
            line.addWidget(text, 1)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self._rows.append(row)

    def texts(self) -> list[str]:
        """The advice as shown (for tests and accessibility)."""
        return [row.findChildren(QLabel)[1].text() for row in self._rows]


class JobView(QWidget):
    """Everything about one job; asks the panel to act through signals."""

    #: "cancel", "pause" or "resume" (cancel already confirmed by the user).
    action_requested = Signal(str)
    #: A checkpoint's model name to chat with, or the job's own model ("" when the provider
    #: names it only once it is deployed).
    chat_requested = Signal(str)
    #: Save the job's archive as a zip at this path.
    export_zip_requested = Signal(Path)
    #: Download the trained adapter (for providers that hand it out), or export it.
    download_requested = Signal()
    #: Chat with the job's model and its base model side by side (trained on this computer).
    compare_base_requested = Signal()
    #: Draw (True) or stop drawing (False) another job's curves: the job's key as "provider/job".
    compare_toggled = Signal(str, bool)

    def __init__(
        self,
        catalog: Catalog,
        format_money: Callable[[float], str],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.format_money = format_money
        self.now = now
        self.record: JobRecord | None = None
        self.archive_folder: Path | None = None
        self.traits: BackendTraits | None = None
        #: Whether the job trains on this computer (nothing billed; the result is exported).
        self.here = False
        self._checkpoint_ids: list[str] = []

        self.problem = QLabel()
        self.problem.setObjectName("jobProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(
            f"background: {palette.WARNING_BACKGROUND}; color: {palette.TEXT}; "
            f"border: 1px solid {palette.WARNING_BORDER};"
            " border-radius: 4px; padding: 6px;"
        )
        self.problem.hide()
        self.title = QLabel("No job selected")
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_chip = QLabel()
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setStyleSheet(f"color: {palette.TEXT};")
        self.timeline = StatusTimeline()

        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel job…")
        self.export_button = QPushButton("Export as zip…")
        for button, tip in (
            (self.pause_button, "pause"),
            (self.resume_button, "resume"),
            (self.cancel_button, "cancel"),
            (self.export_button, "export"),
        ):
            button.setToolTip(TIPS[tip])
        self.pause_button.clicked.connect(lambda: self.action_requested.emit("pause"))
        self.resume_button.clicked.connect(lambda: self.action_requested.emit("resume"))
        self.cancel_button.clicked.connect(self._ask_cancel)
        self.export_button.clicked.connect(self._ask_export)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.status_chip)
        header.addStretch(1)
        for button in (
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.export_button,
        ):
            header.addWidget(button)

        self.facts: dict[str, QLabel] = {}
        self.captions: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(4)
        cells = (
            ("base", "Base model"),
            ("created", "Started"),
            ("elapsed", "Elapsed"),
            ("finish", "Estimated finish"),
            ("method", "Method"),
            ("tokens", "Trained tokens"),
            ("cost", "Cost"),
            ("examples", "Examples"),
        )
        for index, (key, caption) in enumerate(cells):
            row, column = divmod(index, 4)
            self.captions[key] = _caption(caption)
            grid.addWidget(self.captions[key], row * 2, column)
            self.facts[key] = _value_label()
            grid.addWidget(self.facts[key], row * 2 + 1, column)
        self.model_name = _value_label()
        self.model_name.setObjectName("fineTunedModel")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip(TIPS["copy"])
        self.copy_button.clicked.connect(self.copy_model_name)
        self.chat_button = QPushButton("Chat with this model")
        self.chat_button.setToolTip(TIPS["chat"])
        self.chat_button.clicked.connect(self._chat_with_model)
        self.download_button = QPushButton("Download the adapter…")
        self.download_button.setObjectName("downloadAdapter")
        self.download_button.setToolTip(TIPS["download"])
        self.download_button.clicked.connect(self.download_requested)
        self.download_button.hide()
        self.compare_base_button = QPushButton("Compare with the base model")
        self.compare_base_button.setObjectName("compareBase")
        self.compare_base_button.setToolTip(TIPS["compare_base"])
        self.compare_base_button.clicked.connect(self.compare_base_requested)
        self.compare_base_button.hide()
        model_row = QHBoxLayout()
        model_row.addWidget(_caption("Fine-tuned model"))
        model_row.addWidget(self.model_name, 1)
        model_row.addWidget(self.copy_button)
        model_row.addWidget(self.chat_button)
        model_row.addWidget(self.compare_base_button)
        model_row.addWidget(self.download_button)

        self.chart = LossChart()
        self.compare_button = QToolButton()
        self.compare_button.setText("Compare with…")
        self.compare_button.setToolTip(TIPS["compare"])
        self.compare_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.compare_menu = QMenu(self.compare_button)
        self.compare_button.setMenu(self.compare_menu)
        self.chart.add_tool(self.compare_button)
        self.chart.export_png_requested.connect(self._ask_png)
        self.chart.export_csv_requested.connect(self._ask_csv)
        self.advice = AdviceList()
        self.advice.setMinimumWidth(240)
        progress = QSplitter(Qt.Orientation.Horizontal)
        progress.addWidget(self.chart)
        progress.addWidget(self.advice)
        progress.setStretchFactor(0, 4)
        progress.setStretchFactor(1, 1)
        progress.setSizes([900, 300])

        self.events_model = EventsTableModel(self)
        self.events_table = QTableView()
        self.events_table.setModel(self.events_model)
        self._table_defaults(self.events_table)
        self.events_table.setColumnWidth(0, 160)
        self.events_table.setColumnWidth(1, 70)

        self.checkpoints_model = CheckpointsTableModel(self)
        self.checkpoints_table = QTableView()
        self.checkpoints_table.setModel(self.checkpoints_model)
        self.checkpoints_table.setToolTip(TIPS["checkpoints"])
        self._table_defaults(self.checkpoints_table)
        self.checkpoints_table.doubleClicked.connect(lambda _index: self.chat_with_checkpoint())
        self.checkpoints_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.checkpoints_table.horizontalHeader().setStretchLastSection(True)
        self.checkpoint_chat_button = QPushButton("Chat with this checkpoint")
        self.checkpoint_chat_button.setToolTip(TIPS["chat_checkpoint"])
        self.checkpoint_chat_button.clicked.connect(self.chat_with_checkpoint)
        self.checkpoint_copy_button = QPushButton("Copy name")
        self.checkpoint_copy_button.clicked.connect(self._copy_checkpoint)
        self.checkpoints_note = _caption(TIPS["checkpoints"])
        self.checkpoints_note.setWordWrap(True)
        checkpoints = QWidget()
        checkpoints_layout = QVBoxLayout(checkpoints)
        checkpoints_layout.addWidget(self.checkpoints_note)
        checkpoints_layout.addWidget(self.checkpoints_table, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.checkpoint_copy_button)
        buttons.addWidget(self.checkpoint_chat_button)
        checkpoints_layout.addLayout(buttons)
        self.checkpoints_table.selectionModel().selectionChanged.connect(
            self._update_checkpoint_buttons
        )

        self.details = QFormLayout()
        self.details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        details_body = QWidget()
        details_body.setLayout(self.details)
        details_scroll = QScrollArea()
        details_scroll.setWidgetResizable(True)
        details_scroll.setWidget(details_body)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(progress, "Progress")
        self.tabs.addTab(self.events_table, "Events")
        self.tabs.addTab(checkpoints, "Checkpoints")
        self.tabs.addTab(details_scroll, "Settings and files")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(6)
        layout.addWidget(self.problem)
        layout.addLayout(header)
        layout.addWidget(self.sentence)
        layout.addWidget(self.timeline)
        layout.addLayout(grid)
        layout.addLayout(model_row)
        layout.addWidget(self.tabs, 1)

        self._clock = QTimer(self, interval=CLOCK_INTERVAL_MS)
        self._clock.timeout.connect(self._refresh_times)
        self._clock.start()
        self._show_nothing()

    @staticmethod
    def _table_defaults(table: QTableView) -> None:
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().hide()
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.horizontalHeader().setStretchLastSection(True)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

    # Questions (tests replace these) -------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def choose_save_path(self, suggested: Path, title: str, filters: str) -> Path | None:
        """Ask where to save a file."""
        chosen, _ = QFileDialog.getSaveFileName(self, title, str(suggested), filters)
        return Path(chosen) if chosen else None

    def choose_folder(self, title: str, suggested: Path) -> Path | None:
        """Ask for a folder to write into."""
        chosen = QFileDialog.getExistingDirectory(self, title, str(suggested))
        return Path(chosen) if chosen else None

    def show_error(self, text: str) -> None:
        """Tell the user something did not work."""
        QMessageBox.warning(self, "Jobs", text)

    # Showing -------------------------------------------------------------------------------

    def set_traits(self, traits: BackendTraits | None, *, here: bool = False) -> None:
        """What the selected job's provider allows (None: no profile for it any more), so
        the buttons say what chatting with the result involves and downloading is offered
        only where it exists. ``here``: the job trains on this computer, so its model is
        started here to chat, compared with its base model, and exported."""
        self.traits = traits
        self.here = here
        chat_tip = TIPS["chat"]
        if here:
            chat_tip += (
                " The app starts it on this computer first (a few seconds to a minute) and "
                "stops it when you quit."
            )
        elif traits is not None and ChatRoute.DEPLOY_IN_APP in traits.chat_routes:
            chat_tip += (
                f" {traits.name} must first deploy it; the app says what that costs and asks "
                "before starting."
            )
        elif traits is not None and ChatRoute.DEPLOY_ELSEWHERE in traits.chat_routes:
            chat_tip += (
                f" {traits.name} needs it deployed in its own portal first; the app shows how."
            )
        self.chat_button.setToolTip(chat_tip)
        self.download_button.setVisible(traits is not None and traits.downloadable)
        self.download_button.setText("Export…" if here else "Download the adapter…")
        self.download_button.setToolTip(TIPS["export_here" if here else "download"])
        self.compare_base_button.setVisible(here)
        if self.record is not None:
            self._show_summary()

    def _show_nothing(self) -> None:
        self.title.setText("No job selected")
        self.status_chip.clear()
        self.sentence.setText(
            "Pick a job in the list to see its progress, or press Train to start one."
        )
        for button in (
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.export_button,
            self.copy_button,
            self.chat_button,
            self.download_button,
            self.compare_base_button,
            self.compare_button,
        ):
            button.setEnabled(False)
        self._update_checkpoint_buttons()

    def show_record(self, record: JobRecord, archive_folder: Path | None = None) -> None:
        """Show a job from scratch (another job was selected)."""
        changed = self.record is None or self.record.key != record.key
        self.record = record
        self.archive_folder = archive_folder
        if changed:
            self.chart.clear()
            self.compare_menu.clear()
        self.events_model.set_events(record.events)
        self._show_checkpoints(record.checkpoints)
        self.chart.set_series(record.series)
        self.advice.set_advice(record.advice)
        self._show_summary()
        self.show_problem(record.problem)

    def update_record(self, record: JobRecord, snapshot: JobSnapshot) -> None:
        """Show what a poll added to the job on screen."""
        if self.record is None or self.record.key != record.key:
            return
        if snapshot.full:
            self.events_model.set_events(record.events)
        else:
            self.events_model.add_events(snapshot.new_events)
        if [c.id for c in snapshot.checkpoints] != self._checkpoint_ids:
            self._show_checkpoints(snapshot.checkpoints)
        if snapshot.series is not None:
            self.chart.set_series(snapshot.series)
        if snapshot.advice is not None:
            self.advice.set_advice(snapshot.advice)
        self._show_summary()
        self.show_problem(None)

    def _show_checkpoints(self, checkpoints: Sequence[CheckpointSummary]) -> None:
        self._checkpoint_ids = [c.id for c in checkpoints]
        self.checkpoints_model.set_checkpoints(checkpoints)
        self.tabs.setTabText(
            2, f"Checkpoints ({len(checkpoints)})" if checkpoints else "Checkpoints"
        )

    def show_problem(self, text: str | None) -> None:
        """A note above the job (e.g. the provider could not be reached); None hides it."""
        self.problem.setText(text or "")
        self.problem.setVisible(bool(text))

    def _show_summary(self) -> None:
        record = self.record
        if record is None:
            self._show_nothing()
            return
        job = record.summary
        status = job.status
        self.title.setText(job_title(job))
        self.title.setToolTip(job.id)
        color = STATUS_COLORS[status]
        label = job.status.label if status is not JobStatus.UNKNOWN else job.raw_status
        pausing = record.pausing and status is JobStatus.RUNNING
        sentence = job.error or status.sentence
        if pausing:
            label = "Pausing…"
            sentence = (
                "Pausing: training stops as soon as it has saved a checkpoint, and can be "
                "resumed from there."
            )
        self.status_chip.setText(label)
        self.status_chip.setStyleSheet(_chip_style(color))
        self.status_chip.setToolTip(status.sentence)
        self.sentence.setText(sentence)
        self.timeline.set_status(status, not record.series.is_empty)
        base = job.base_model
        shown = Path(base).name if self.here and Path(base).is_absolute() else base
        self.facts["base"].setText(shown)
        self.facts["base"].setToolTip(base)
        self.facts["method"].setText(_METHOD_NAMES.get(job.method, job.method).split(" (")[0])
        self.facts["method"].setToolTip(_METHOD_NAMES.get(job.method, job.method))
        self.facts["tokens"].setText(
            f"{job.trained_tokens:,}"
            if job.trained_tokens is not None
            else ("Known at the end" if not status.is_terminal else "—")
        )
        cost = job.actual_cost(self.catalog)
        if self.here:
            self.facts["cost"].setText("Nothing (this computer)")
        else:
            self.facts["cost"].setText(
                self.format_money(cost)
                if cost is not None
                else ("Known at the end" if not status.is_terminal else "—")
            )
        self.facts["examples"].setText(
            f"{record.n_examples:,}" if record.n_examples is not None else "—"
        )
        finished = status is JobStatus.SUCCEEDED
        if job.fine_tuned_model:
            named = job.fine_tuned_model
        elif finished:
            named = "Named when it is deployed for chat"
        elif status.is_terminal:  # cancelled or failed: there will be none
            named = "None: the job did not finish"
        else:
            named = "Ready when training finishes"
        self.model_name.setText(named)
        self._refresh_times()
        live = record.live
        traits = self.traits
        pausable = traits is None or traits.can_pause
        self.pause_button.setEnabled(live and pausable and status.can_pause and not pausing)
        self.pause_button.setText("Pausing…" if pausing else "Pause")
        self.resume_button.setEnabled(live and pausable and status.can_resume)
        self.cancel_button.setEnabled(
            live and (traits is None or traits.can_cancel) and status.can_cancel
        )
        self.pause_button.setVisible(pausable and not status.can_resume)
        self.resume_button.setVisible(status.can_resume)
        self.export_button.setEnabled(self.archive_folder is not None)
        self.copy_button.setEnabled(job.fine_tuned_model is not None)
        # a provider that names the model only once it is deployed still chats with it
        self.chat_button.setEnabled(live and (job.fine_tuned_model is not None or finished))
        self.download_button.setEnabled(status is JobStatus.SUCCEEDED and live)
        self.compare_base_button.setEnabled(status is JobStatus.SUCCEEDED and live)
        self.compare_button.setEnabled(bool(self.compare_menu.actions()))
        self._show_details(job)
        self._update_checkpoint_buttons()

    def _refresh_times(self) -> None:
        if self.record is None:
            return
        job = self.record.summary
        now = self.now()
        self.facts["created"].setText(format_time(job.created_at, now))
        self.facts["elapsed"].setText(format_duration(job.elapsed(now)))
        if job.status.is_terminal:
            self.captions["finish"].setText("Ended")
            self.facts["finish"].setText(format_time(job.finished_at, now))
        else:
            self.captions["finish"].setText("Estimated finish")
            left = job.time_left(now)
            self.facts["finish"].setText(
                f"{format_time(job.estimated_finish, now)} (in {format_duration(left)})"
                if left is not None
                else "Not known yet"
            )

    def _show_details(self, job: JobSummary) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        names = {
            "n_epochs": "Epochs",
            "batch_size": "Batch size",
            "learning_rate_multiplier": "Learning-rate multiplier",
            "beta": "Beta (preference strength)",
        }
        rows: list[tuple[str, str]] = [("Job id", job.id)]
        rows += [
            (names.get(k, k.replace("_", " ").capitalize()), str(v))
            for k, v in sorted(job.hyperparameters.items())
        ]
        rows += [
            ("Suffix", job.suffix or "—"),
            ("Seed", str(job.seed) if job.seed is not None else "—"),
            ("Training file", job.training_file or "—"),
            ("Validation file", job.validation_file or "none"),
            ("Results files", ", ".join(job.result_files) or "—"),
        ]
        for integration in job.integrations:
            wandb = integration.get("wandb")
            if isinstance(wandb, dict):
                rows.append(("Weights & Biases", str(wandb.get("project", ""))))
        rows += [
            (f"Metadata: {k}", v)
            for k, v in sorted(job.metadata.items())
            if k not in (REQUEST_KEY, SUFFIX_KEY)  # the app's own bookkeeping
        ]
        for caption, value in rows:
            label = _value_label()
            label.setText(value)
            self.details.addRow(caption, label)
        if self.archive_folder is not None:
            folder = _value_label()
            folder.setText(str(self.archive_folder))
            folder.setWordWrap(True)
            self.details.addRow("Kept in", folder)
            folder_button = QPushButton("Show the archive folder")
            folder_button.setToolTip("Open the folder where this job's history is kept.")
            folder_button.clicked.connect(self._open_folder)
            row = QHBoxLayout()
            row.addWidget(folder_button)
            row.addStretch(1)
            self.details.addRow("", row)

    def set_comparable(self, jobs: Sequence[tuple[str, str]], shown: Sequence[str] = ()) -> None:
        """Offer these jobs (key, label) in "Compare with…"; ``shown`` are drawn already."""
        self.compare_menu.clear()
        for key, label in jobs:
            action = QAction(label, self.compare_menu)
            action.setCheckable(True)
            action.setChecked(key in shown)
            action.setData(key)
            action.toggled.connect(lambda on, k=key: self.compare_toggled.emit(k, on))
            self.compare_menu.addAction(action)
        self.compare_button.setEnabled(bool(jobs) and self.record is not None)

    # Acting --------------------------------------------------------------------------------

    def _ask_cancel(self) -> None:
        if self.record is None:
            return
        name = job_title(self.record.summary)
        if self.confirm(
            "Cancel job",
            f"Stop training “{name}” for good? No model will be made, and a cancelled job "
            "cannot be resumed.",
        ):
            self.action_requested.emit("cancel")

    def _suggested(self, suffix: str) -> Path:
        record = self.record
        stem = "job" if record is None else job_title(record.summary).replace(" · ", "-")
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
        return Path.home() / f"{safe}{suffix}"

    def _ask_export(self) -> None:
        path = self.choose_save_path(self._suggested(".zip"), "Export job", "Zip files (*.zip)")
        if path is not None:
            self.export_zip_requested.emit(path)

    def _ask_png(self) -> None:
        path = self.choose_save_path(
            self._suggested("-curves.png"), "Save chart", "PNG pictures (*.png)"
        )
        if path is None:
            return
        try:
            self.chart.save_png(path)
        except OSError as exc:
            self.show_error(str(exc))

    def _ask_csv(self) -> None:
        path = self.choose_save_path(
            self._suggested("-metrics.csv"), "Save curves as a table", "CSV tables (*.csv)"
        )
        if path is None:
            return
        try:
            self.chart.save_csv(path)
        except OSError as exc:
            self.show_error(f"The table could not be saved: {exc}")

    def copy_model_name(self) -> None:
        """Put the fine-tuned model's name on the clipboard."""
        if self.record is not None and self.record.summary.fine_tuned_model:
            QGuiApplication.clipboard().setText(self.record.summary.fine_tuned_model)

    def _chat_with_model(self) -> None:
        if self.record is not None:
            self.chat_requested.emit(self.record.summary.fine_tuned_model or "")

    def selected_checkpoint(self) -> CheckpointSummary | None:
        """The checkpoint selected in the table."""
        rows = self.checkpoints_table.selectionModel().selectedRows()
        return self.checkpoints_model.checkpoint_at(rows[0].row()) if rows else None

    def select_checkpoint(self, row: int) -> None:
        """Select a checkpoint row (keyboard users and tests)."""
        index = self.checkpoints_model.index(row, 0)
        self.checkpoints_table.selectionModel().select(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def chat_with_checkpoint(self) -> None:
        """Ask to chat with the selected checkpoint."""
        checkpoint = self.selected_checkpoint()
        if checkpoint is not None:
            self.chat_requested.emit(checkpoint.model)

    def _copy_checkpoint(self) -> None:
        checkpoint = self.selected_checkpoint()
        if checkpoint is not None:
            QGuiApplication.clipboard().setText(checkpoint.model)

    def _update_checkpoint_buttons(self, *_args: object) -> None:
        chosen = self.selected_checkpoint() is not None
        self.checkpoint_chat_button.setEnabled(chosen)
        self.checkpoint_copy_button.setEnabled(chosen)

    def _open_folder(self) -> None:
        if self.archive_folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.archive_folder)))

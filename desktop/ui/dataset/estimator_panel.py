"""The cost estimator: pick a model and epochs, see tokens, billable tokens and the price,
then press Train.

It reads running totals from the document's analysis (cheap: no re-count) whenever tokens
change, so the figures follow typing within a fraction of a second. Under Automatic the epochs
box shows (greyed) the number the estimate uses, never a number that is not used. The
histogram is made once its place has been painted (pyqtgraph takes a fifth of a second to load),
so the screen appears without waiting for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.core.catalog import Availability, Catalog
from desktop.core.estimate import MAX_EPOCHS, MIN_EPOCHS, Estimate, auto_epochs
from desktop.core.kinds import ExampleKind
from desktop.core.wording import count
from desktop.ui.common import palette
from desktop.ui.common.deferred import DeferredWidget
from desktop.ui.dataset.document import DatasetDocument

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg

PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI"}

#: Histogram refreshes at most this often while a large file is counted (milliseconds).
HISTOGRAM_INTERVAL_MS = 400

TIPS = {
    "model": (
        "The model you will fine-tune. Models differ in price, in how much text one example "
        "may hold, and in how long they will be available."
    ),
    "epochs": (
        "An epoch is one pass over all your examples. More epochs teach the examples more "
        "firmly but cost more; Automatic uses OpenAI's rule of thumb for your dataset size."
    ),
    "examples": "Examples that will be sent for training (damaged lines are not counted).",
    "tokens": (
        "Tokens are the pieces of words a model reads (roughly ¾ of a word in English). "
        "This is the size of all examples together, counted offline."
    ),
    "billable": (
        "Tokens you pay for: every example's tokens (up to the model's limit per example) "
        "times the number of epochs."
    ),
    "cost": (
        "Estimated training price from the app's price list; the provider's invoice is final."
    ),
    "largest": (
        "The longest example. Anything beyond the model's limit per example is cut off "
        "during training."
    ),
    "histogram": "How many examples have each length, in tokens; the red line is the limit.",
    "train": (
        "Train a model on these examples: choose the provider and settings, see the cost, "
        "then send. Nothing is sent or billed before you confirm."
    ),
}


def _log_bins(
    length_counts: Sequence[tuple[int, int]], bins: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of a histogram on a log scale (lengths span several magnitudes).

    Takes (length, how many) pairs rather than one value per example, so redrawing after an
    edit costs the number of distinct lengths, not the number of examples.
    """
    import numpy as np  # loaded with the histogram, not with the window

    pairs = [(tokens, count) for tokens, count in length_counts if tokens > 0]
    if not pairs:
        return np.zeros(0), np.zeros(1)
    lengths = np.log10(np.asarray([tokens for tokens, _ in pairs], dtype=float))
    weights = np.asarray([count for _, count in pairs], dtype=float)
    low = math.floor(lengths.min() * 4) / 4
    high = math.ceil(lengths.max() * 4) / 4
    if high <= low:
        high = low + 0.25
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(lengths, bins=edges, weights=weights)
    return counts.astype(np.int64), edges


@dataclass(frozen=True)
class _Histogram:
    """The pyqtgraph part of the panel: the plot, its bars and the limit line."""

    plot: pg.PlotWidget
    bars: pg.BarGraphItem
    limit_line: pg.InfiniteLine


class EstimatorPanel(QWidget):
    """Model, epochs, totals, the largest example against the limit, and a length histogram."""

    #: The user picked another model (its catalog id).
    model_selected = Signal(str)
    #: The user chose epochs (None for automatic).
    epochs_selected = Signal(object)
    #: The user pressed Train.
    train_requested = Signal()

    def __init__(
        self,
        document: DatasetDocument,
        catalog: Catalog,
        format_money: Callable[[float], str],
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.catalog = catalog
        self.format_money = format_money
        self.today = today
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        # Two forms with the model's warning between them, in the panel's own layout: as a
        # row spanning a form it was given the height of one line and cut off.
        model_form, form = QFormLayout(), QFormLayout()
        for each in (model_form, form):
            each.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            each.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip(TIPS["model"])
        # Its longest name must not set the panel's width (the list opens wide enough).
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(12)
        for info in catalog.models():
            status = info.status_on(today())
            mark = {
                Availability.SHUT_DOWN: " — shut down",
                Availability.RETIRING_SOON: " — retiring soon",
            }.get(status.availability, "")
            provider = PROVIDER_NAMES.get(info.provider, info.provider)
            self.model_combo.addItem(f"{info.display_name} ({provider}){mark}", info.id)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        model_label = self._label("Model", "model")
        model_form.addRow(model_label, self.model_combo)
        self.model_status = QLabel()
        self.model_status.setWordWrap(True)
        self.model_status.setObjectName("modelStatus")
        epochs_row = QHBoxLayout()
        self.auto_epochs = QCheckBox("Automatic")
        self.auto_epochs.setChecked(True)
        self.auto_epochs.setToolTip(TIPS["epochs"])
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(MIN_EPOCHS, MAX_EPOCHS)
        self.epochs_spin.setValue(3)
        self.epochs_spin.setEnabled(False)
        self.epochs_spin.setToolTip(TIPS["epochs"])
        epochs_row.addWidget(self.auto_epochs)
        epochs_row.addWidget(self.epochs_spin)
        epochs_row.addStretch(1)
        self.auto_epochs.toggled.connect(self._on_epochs)
        self.epochs_spin.valueChanged.connect(self._on_epochs)
        form.addRow(self._label("Epochs", "epochs"), epochs_row)
        self.values: dict[str, QLabel] = {}
        for key, title in (
            ("examples", "Examples"),
            ("tokens", "Tokens per epoch"),
            ("billable", "Billable tokens"),
            ("cost", "Estimated cost"),
            ("largest", "Largest example"),
        ):
            value = QLabel("—")
            value.setObjectName(f"estimate_{key}")
            value.setToolTip(TIPS[key])
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            if key == "cost":
                value.setStyleSheet("font-size: 15pt; font-weight: 600;")
            self.values[key] = value
            form.addRow(self._label(title, key), value)
        captions = [model_label] + [
            form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
            for row in range(form.rowCount())
        ]
        widest = max(caption.sizeHint().width() for caption in captions)
        for caption in captions:  # one column of captions across both forms
            caption.setMinimumWidth(widest)
        layout.addLayout(model_form)
        layout.addWidget(self.model_status)
        layout.addLayout(form)
        self.price_note = QLabel()
        self.price_note.setWordWrap(True)
        self.price_note.setStyleSheet(f"color: {palette.MUTED}; font-size: 9pt;")
        layout.addWidget(self.price_note)
        self.train_button = QPushButton("Train a model…")
        self.train_button.setObjectName("estimatorTrain")
        self.train_button.setToolTip(TIPS["train"])
        self.train_button.clicked.connect(self.train_requested)
        train_row = QHBoxLayout()
        train_row.addStretch(1)
        train_row.addWidget(self.train_button)
        layout.addLayout(train_row)
        self._histogram: _Histogram | None = None
        self._histogram_place = DeferredWidget(self._make_histogram, library="pyqtgraph")
        self._histogram_place.setMinimumHeight(90)
        # It takes the height left over: asking for more made the panel scroll to show it.
        self._histogram_place.setSizePolicy(
            QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored
        )
        layout.addWidget(self._histogram_place, 1)
        self._shown: tuple[bytes, bytes, int | None] | None = None
        self._histogram_timer = QTimer(self, singleShot=True, interval=HISTOGRAM_INTERVAL_MS)
        self._histogram_timer.timeout.connect(self.refresh_histogram)
        #: Records whose tokens are estimated because they are preference pairs, whose
        #: counting OpenAI does not publish (not because of tools or images); kept per edit.
        self._estimated_pairs: set[int] = set()
        document.analysis_updated.connect(self._on_analysis_updated)
        document.findings_changed.connect(self.refresh)
        document.dataset_replaced.connect(self._estimated_pairs.clear)
        document.dataset_replaced.connect(self.refresh)
        self.select_model(document.analysis.model_id)
        self.refresh()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        """The height that keeps every wrapped text whole at ``width``: what a scroll area
        asks before it lets the panel scroll. Qt's own figure for these forms came out lower,
        and the rows were squeezed over one another."""
        layout = self.layout()
        margins = layout.contentsMargins()
        inner = width - margins.left() - margins.right()
        heights = [
            max(
                item.heightForWidth(inner)
                if item.hasHeightForWidth()
                else item.sizeHint().height(),
                item.minimumSize().height(),
            )
            for item in (layout.itemAt(index) for index in range(layout.count()))
            if not item.isEmpty()
        ]
        spacing = layout.spacing() * max(0, len(heights) - 1)
        return sum(heights) + spacing + margins.top() + margins.bottom()

    def _make_histogram(self) -> QWidget:
        """Make the histogram (loading pyqtgraph) and draw the lengths counted so far."""
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=None)
        plot.setToolTip(TIPS["histogram"])
        plot.setMinimumHeight(90)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setLogMode(x=True, y=False)
        plot.setLabel("bottom", "Tokens per example")
        plot.setLabel("left", "Examples")
        plot.showGrid(x=False, y=True, alpha=0.2)
        bars = pg.BarGraphItem(
            x0=[], x1=[], height=[], brush=palette.ACCENT_LIGHT, pen=palette.ACCENT
        )
        plot.addItem(bars)
        limit_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen(palette.ERROR, width=2, style=Qt.PenStyle.DashLine),
            label="limit",
            labelOpts={"position": 0.9, "color": palette.ERROR},
        )
        plot.addItem(limit_line)
        self._histogram = _Histogram(plot, bars, limit_line)
        self.refresh_histogram()
        return plot

    @property
    def bars(self) -> pg.BarGraphItem:
        """The histogram's bars (made now if the histogram was not yet)."""
        self._histogram_place.widget()
        assert self._histogram is not None
        return self._histogram.bars

    @staticmethod
    def _label(text: str, key: str) -> QLabel:
        label = QLabel(text)
        label.setToolTip(TIPS[key])
        return label

    # Choices ---------------------------------------------------------------------------------

    def select_model(self, model_id: str) -> None:
        """Show ``model_id`` as the chosen model (without re-announcing it)."""
        info = self.catalog.get(model_id)
        index = self.model_combo.findData(info.id if info is not None else model_id)
        if index >= 0:
            self.model_combo.blockSignals(True)
            self.model_combo.setCurrentIndex(index)
            self.model_combo.blockSignals(False)
        self._show_model_status()

    def select_epochs(self, epochs: int | None) -> None:
        """Show an epochs choice (None for automatic) without re-announcing it."""
        for widget in (self.auto_epochs, self.epochs_spin):
            widget.blockSignals(True)
        self.auto_epochs.setChecked(epochs is None)
        if epochs is not None:
            self.epochs_spin.setValue(epochs)
        self.epochs_spin.setEnabled(epochs is not None)
        for widget in (self.auto_epochs, self.epochs_spin):
            widget.blockSignals(False)
        self._show_automatic_epochs()

    def choose_epochs(self, epochs: int | None) -> None:
        """Take an epochs choice made elsewhere (the training wizard) and announce it, so
        the estimate and the wizard share one choice."""
        self.select_epochs(epochs)
        self.epochs_selected.emit(epochs)
        self.refresh_totals()

    @property
    def epochs(self) -> int | None:
        """The epochs chosen here (None for automatic)."""
        return None if self.auto_epochs.isChecked() else self.epochs_spin.value()

    def _on_model(self) -> None:
        model_id = self.model_combo.currentData()
        self._show_model_status()
        self.model_selected.emit(model_id)

    def _on_epochs(self) -> None:
        automatic = self.auto_epochs.isChecked()
        self.epochs_spin.setEnabled(not automatic)
        self._show_automatic_epochs()  # unticking keeps the number shown, which was in use
        self.epochs_selected.emit(self.epochs)
        self.refresh_totals()

    def _show_automatic_epochs(self) -> None:
        """Under Automatic, show (greyed) the epochs the automatic rule picks for the dataset."""
        if not self.auto_epochs.isChecked():
            return
        estimate = self.estimate()
        if estimate is None or estimate.examples == 0:
            return
        self.epochs_spin.blockSignals(True)
        self.epochs_spin.setValue(auto_epochs(estimate.examples))
        self.epochs_spin.blockSignals(False)

    def _show_model_status(self) -> None:
        info = self.catalog.get(self.model_combo.currentData() or "")
        if info is None:
            self.model_status.setText("")
            return
        today = self.today()
        status = info.status_on(today)
        lines = []
        if status.availability is not Availability.ACTIVE:
            lines.append(f"⚠ {status.sentence}")
        elif status.days_left is not None:
            lines.append(status.sentence)
        if self.catalog.no_new_jobs_from is not None:
            when = self.catalog.no_new_jobs_from.isoformat()
            if self.catalog.jobs_allowed_on(today):
                lines.append(f"OpenAI accepts new fine-tuning jobs until {when}.")
            else:
                lines.append(f"⚠ OpenAI stopped accepting new fine-tuning jobs on {when}.")
        warn = status.availability is not Availability.ACTIVE or not self.catalog.jobs_allowed_on(
            today
        )
        self.model_status.setStyleSheet(
            f"QLabel {{ color: {palette.WARNING_TEXT}; background: {palette.WARNING_BACKGROUND}; "
            "border-radius: 6px; padding: 6px; }"
            if warn
            else f"QLabel {{ color: {palette.MUTED}; }}"
        )
        self.model_status.setText("\n".join(lines))

    # Figures ---------------------------------------------------------------------------------

    def _on_analysis_updated(self, ids: object) -> None:
        if isinstance(ids, list):
            # Thousands of ids at a time after a bulk edit: one pass, no call per id.
            results = map(self.document.analysis.get, ids)
            self._estimated_pairs.difference_update(ids)
            self._estimated_pairs.update(
                result.record_id
                for result in results
                if result is not None
                and result.tokens is not None
                and result.tokens.estimated
                and result.facts is not None
                and result.facts.kind is ExampleKind.PREFERENCE
            )
        self.refresh_totals()
        if not self._histogram_timer.isActive():
            self._histogram_timer.start()

    def refresh(self) -> None:
        """Refresh every figure and the histogram."""
        self.refresh_totals()
        self.refresh_histogram()

    def estimate(self) -> Estimate | None:
        """The current estimate (None when the model is unknown to the catalog)."""
        try:
            return self.document.analysis.estimate()
        except (ValueError, AttributeError):
            return None

    def refresh_totals(self) -> None:
        """Refresh the numbers (cheap: the analysis keeps running totals)."""
        estimate = self.estimate()
        if estimate is None:
            for label in self.values.values():
                label.setText("—")
            return
        self._show_automatic_epochs()
        busy = " (counting…)" if self.document.checking else ""
        self.values["examples"].setText(f"{estimate.examples:,}{busy}")
        self.values["tokens"].setText(f"{estimate.total_tokens:,}")
        epochs_note = " (automatic)" if estimate.epochs_auto else ""
        self.values["billable"].setText(
            f"{estimate.billable_tokens_total:,}  ({estimate.billable_tokens_per_epoch:,} × "
            f"{estimate.epochs} epoch{'s' if estimate.epochs != 1 else ''}{epochs_note})"
        )
        if estimate.estimated_cost_usd is None:
            self.values["cost"].setText("unknown")
            self.values["cost"].setToolTip(estimate.cost_note or TIPS["cost"])
        else:
            self.values["cost"].setText(self.format_money(estimate.estimated_cost_usd))
            self.values["cost"].setToolTip(
                TIPS["cost"] + (f"\n{estimate.cost_note}" if estimate.cost_note else "")
            )
        limit = estimate.token_limit
        largest = f"{estimate.max_example_tokens:,} tokens"
        if limit is not None:
            largest += f" of {limit:,} allowed"
            if estimate.over_limit:
                n = estimate.over_limit
                largest += f"\n⚠ {n:,} example{'s' if n != 1 else ''} over the limit"
        self.values["largest"].setText(largest)
        self.values["largest"].setStyleSheet(
            f"color: {palette.ERROR_STRONG}; font-weight: 600;" if estimate.over_limit else ""
        )
        note = []
        if estimate.price_as_of is not None:
            note.append(f"Prices as of {estimate.price_as_of.isoformat()}")
        if estimate.price_is_override:
            note.append("using your own prices")
        if estimate.estimated:
            pairs = min(len(self._estimated_pairs), estimate.estimated_examples)
            others = estimate.estimated_examples - pairs
            if pairs:
                note.append(
                    f"the tokens of {count(pairs, 'preference pair')} are estimated, as OpenAI "
                    "does not publish how it counts them"
                )
            if others:
                note.append(
                    f"the tokens of {count(others, 'example')} are estimated, as "
                    f"{'it holds' if others == 1 else 'they hold'} tools, images or other parts "
                    "that are not plain text"
                )
        self.price_note.setText("; ".join(note) + ("." if note else ""))

    def refresh_histogram(self) -> None:
        """Redraw the token-length histogram and the limit line."""
        histogram = self._histogram
        if histogram is None:
            return  # drawn once the histogram is made
        counts, edges = _log_bins(self.document.analysis.length_counts())
        estimate = self.estimate()
        limit = estimate.token_limit if estimate is not None else None
        shown = (counts.tobytes(), edges.tobytes(), limit)
        if shown == self._shown:
            return  # typing rarely moves an example to another bar: skip the repaint
        self._shown = shown
        bars, limit_line, plot = histogram.bars, histogram.limit_line, histogram.plot
        if counts.size:
            bars.setOpts(x0=edges[:-1], x1=edges[1:], height=counts)
        else:
            bars.setOpts(x0=[], x1=[], height=[])
        if limit:
            limit_line.setValue(math.log10(limit))
            limit_line.label.setFormat(f"limit {limit:,}")
            limit_line.show()
        else:
            limit_line.hide()
        low = edges[0] if counts.size else 1.0
        high = max(edges[-1] if counts.size else 3.0, math.log10(limit) if limit else 0)
        plot.setXRange(low - 0.1, high + 0.1, padding=0)
        top = max(1, int(counts.max()) if counts.size else 1)
        step = max(1, math.ceil(top / 5))
        plot.getAxis("left").setTickSpacing(step, step)
        plot.setYRange(0, top * 1.1, padding=0)

"""Live training curves: loss and token accuracy against step, with epochs marked.

Why it thins the data itself: a long job reports tens of thousands of steps, and drawing them
all makes every repaint slow. Each curve is smoothed once (a debiased exponential moving
average the user controls, ``core.smoothing``; long curves on the thread pool, new steps only
extend it), then only the part in view is handed to pyqtgraph, cut down to a couple of points
per pixel column that keep its shape (``core.metrics.downsample``); zooming in brings the
detail back. Another job drawn for comparison shows its loss and its accuracy.

The plots themselves are made only once the chart's place has been painted (pyqtgraph takes a
fifth of a second to load); until then the chart keeps what it is given and draws it then.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.core.jsonl_io import atomic_write
from desktop.core.metrics import Curve, MetricSeries, downsample, to_csv
from desktop.core.smoothing import DebiasedEma
from desktop.ui.common import palette
from desktop.ui.common.deferred import DeferredWidget
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg

#: Points drawn per curve for the part in view (a minimum and a maximum per pixel column).
MAX_DRAWN_POINTS = 1600
#: Curves longer than this are smoothed on the thread pool; the raw curve shows meanwhile.
SYNC_SMOOTHING_POINTS = 20_000
#: Smoothing slider positions: 0 (raw) to 95; the average carries position / 100 over at each
#: step. At 0.95 it reaches back about 20 steps, close enough to follow a loss that falls fast;
#: heavier smoothing would draw the trend far behind the loss.
MAX_SMOOTHING = 95
DEFAULT_SMOOTHING = 60
#: However strong the smoothing, an average reaches back at most about a tenth of a curve's
#: points, so on a short run the smoothed line still follows the loss.
SHORTEST_SPAN_SHARE = 10
_REDRAW_DELAY_MS = 40

LOSS_CURVES: tuple[tuple[str, str, str], ...] = (
    ("train_loss", "Training loss", palette.ACCENT),
    ("valid_loss", "Validation loss", palette.SERIES_ORANGE),
    ("full_valid_loss", "Full validation loss", palette.SUCCESS_STRONG),
)
ACCURACY_CURVES: tuple[tuple[str, str, str], ...] = (
    ("train_mean_token_accuracy", "Training accuracy", palette.ACCENT),
    ("valid_mean_token_accuracy", "Validation accuracy", palette.SERIES_ORANGE),
    ("full_valid_mean_token_accuracy", "Full validation accuracy", palette.SUCCESS_STRONG),
)
#: Full-validation points come once per epoch: drawn as dots, never smoothed.
SPARSE = frozenset({"full_valid_loss", "full_valid_mean_token_accuracy"})
OVERLAY_COLORS = (
    palette.SERIES_PURPLE,
    palette.SERIES_TEAL,
    palette.SERIES_BROWN,
    palette.SERIES_MAGENTA,
    palette.MUTED,
)
LABELS = {name: label for name, label, _ in (*LOSS_CURVES, *ACCURACY_CURVES)}

TIPS = {
    "smoothing": (
        "Step-by-step loss is noisy. Smoothing averages recent steps so the trend is easier to "
        "see; the faint line underneath is the raw value. Even the strongest setting averages "
        "only the last 20 or so steps (fewer on a short run), so the trend keeps up with the loss."
    ),
    "log": "Show the loss on a logarithmic scale, which makes late small improvements visible.",
    "reset": "Show the whole run again after zooming (drag with the mouse or scroll to zoom).",
    "png": "Save the chart as a picture.",
    "csv": "Save every step's values as a table that opens in any spreadsheet program.",
}


@dataclass
class _Smoothed:
    """One curve smoothed with one weight, kept so new steps only extend it."""

    alpha: float
    steps: array
    raw: array
    smooth: array
    state: DebiasedEma


@dataclass
class _Overlay:
    """Another job drawn for comparison: its loss and its accuracy, dashed in one colour
    (the items exist once the plots do)."""

    label: str
    series: MetricSeries
    color: str
    loss_item: pg.PlotDataItem | None = None
    accuracy_item: pg.PlotDataItem | None = None


@dataclass(frozen=True)
class _Plots:
    """The pyqtgraph part of the chart: the two plots and what is drawn on them."""

    graphics: pg.GraphicsLayoutWidget
    loss_plot: pg.PlotItem
    accuracy_plot: pg.PlotItem
    raw_items: dict[str, pg.PlotDataItem]
    curve_items: dict[str, pg.PlotDataItem]
    cursors: list[pg.InfiniteLine]
    empty_text: pg.TextItem


def _smoothed(alpha: float, curve: Curve) -> _Smoothed:
    state = DebiasedEma(1.0 - alpha)
    return _Smoothed(alpha, curve.steps, curve.values, state.extend(curve.values), state)


class LossChart(QWidget):
    """Two linked plots (loss above, token accuracy below) with a toolbar and a read-out.

    ``set_series`` shows a job's curves; ``set_overlay`` adds another job's training loss and
    training accuracy for comparison. The export buttons only ask (signals): the owner knows
    the job's name and where to save; ``save_png`` and ``save_csv`` write the files.
    """

    #: The user moved the smoothing slider (EMA weight of a new value, 1.0 = raw).
    smoothing_changed = Signal(float)
    #: The user asked to save the chart as a picture.
    export_png_requested = Signal()
    #: The user asked to save the curves as a table.
    export_csv_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series = MetricSeries.empty()
        self._smoothed: dict[str, _Smoothed] = {}
        self._overlays: dict[str, _Overlay] = {}
        self._epoch_lines: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._epoch_positions: list[float] = []
        self._drawing = False
        self._pending: set[tuple[str, float, int]] = set()
        self._thinned: dict[str, tuple[tuple[object, ...], tuple[np.ndarray, np.ndarray]]] = {}

        self._plots: _Plots | None = None
        self._place = DeferredWidget(self._make_plots, library="pyqtgraph")
        self._place.setMinimumHeight(200)

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, MAX_SMOOTHING)
        self.smoothing.setValue(DEFAULT_SMOOTHING)
        self.smoothing.setMaximumWidth(160)
        self.smoothing.setTracking(False)  # smoothing 50,000 steps is redone on release only
        self.smoothing.setToolTip(TIPS["smoothing"])
        self.smoothing.valueChanged.connect(self._on_smoothing)
        smoothing_label = QLabel("Smoothing")
        smoothing_label.setToolTip(TIPS["smoothing"])
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setToolTip(TIPS["log"])
        self.log_scale.toggled.connect(self.set_log_scale)
        self.reset_button = QPushButton("Reset zoom")
        self.reset_button.setToolTip(TIPS["reset"])
        self.reset_button.clicked.connect(self.reset_zoom)
        self.png_button = QPushButton("Save picture…")
        self.png_button.setToolTip(TIPS["png"])
        self.png_button.clicked.connect(self.export_png_requested)
        self.csv_button = QPushButton("Save as table…")
        self.csv_button.setToolTip(TIPS["csv"])
        self.csv_button.clicked.connect(self.export_csv_requested)
        tools = self._tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(smoothing_label)
        tools.addWidget(self.smoothing)
        tools.addSpacing(12)
        tools.addWidget(self.log_scale)
        tools.addStretch(1)
        for button in (self.reset_button, self.png_button, self.csv_button):
            tools.addWidget(button)
        self.readout = QLabel(" ")
        self.readout.setObjectName("chartReadout")
        self.readout.setStyleSheet(f"color: {palette.TEXT}; padding: 2px 4px;")
        self.readout.setTextFormat(Qt.TextFormat.RichText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(tools)
        layout.addWidget(self._place, 1)
        layout.addWidget(self.readout)

        self._redraw_timer = QTimer(self, singleShot=True, interval=_REDRAW_DELAY_MS)
        self._redraw_timer.timeout.connect(self._draw)

    def _make_plots(self) -> QWidget:
        """Make the two plots (loading pyqtgraph) and draw what the chart holds so far."""
        import pyqtgraph as pg

        from desktop.ui.jobs.loss_axis import LossAxis

        pg.setConfigOptions(antialias=True)
        graphics = pg.GraphicsLayoutWidget()
        graphics.setBackground("w")
        graphics.setMinimumHeight(200)
        loss_plot = graphics.addPlot(row=0, col=0, axisItems={"left": LossAxis(orientation="left")})
        accuracy_plot = graphics.addPlot(row=1, col=0)
        graphics.ci.layout.setRowStretchFactor(0, 3)
        graphics.ci.layout.setRowStretchFactor(1, 2)
        accuracy_plot.setXLink(loss_plot)
        for plot, title in ((loss_plot, "Loss"), (accuracy_plot, "Token accuracy")):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("left", title)
            plot.setMenuEnabled(False)
            plot.setClipToView(True)
            plot.getViewBox().setMouseMode(pg.ViewBox.RectMode)
            plot.hideButtons()
        accuracy_plot.setLabel("bottom", "Step")
        loss_plot.addLegend(offset=(-10, 10), labelTextColor=palette.TEXT)
        accuracy_plot.addLegend(offset=(-10, -10), labelTextColor=palette.TEXT, colCount=3)
        for plot in (loss_plot, accuracy_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)

        raw_items: dict[str, pg.PlotDataItem] = {}
        curve_items: dict[str, pg.PlotDataItem] = {}
        for plot, curves in ((loss_plot, LOSS_CURVES), (accuracy_plot, ACCURACY_CURVES)):
            for name, label, color in curves:
                if name in SPARSE:
                    item = plot.plot(
                        name=label,
                        pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                        symbol="o",
                        symbolSize=7,
                        symbolBrush=color,
                        symbolPen="w",
                    )
                else:
                    faint = QColor(color)
                    faint.setAlpha(60)
                    raw = plot.plot(pen=pg.mkPen(faint, width=1), antialias=False)
                    raw_items[name] = raw
                    item = plot.plot(name=label, pen=pg.mkPen(color, width=2))
                curve_items[name] = item
        cursor_pen = pg.mkPen(palette.QUIET, width=1, style=Qt.PenStyle.DotLine)
        cursors = [pg.InfiniteLine(angle=90, pen=cursor_pen) for _ in range(2)]
        for plot, cursor in zip((loss_plot, accuracy_plot), cursors, strict=True):
            cursor.setZValue(20)
            cursor.hide()
            plot.addItem(cursor, ignoreBounds=True)
        empty_text = pg.TextItem(
            "No training steps reported yet: the curves appear once training starts.",
            color=palette.MUTED,
            anchor=(0.5, 0.5),
        )
        loss_plot.addItem(empty_text, ignoreBounds=True)

        plots = self._plots = _Plots(
            graphics, loss_plot, accuracy_plot, raw_items, curve_items, cursors, empty_text
        )
        loss_plot.getViewBox().sigXRangeChanged.connect(self._on_range)
        graphics.scene().sigMouseMoved.connect(self._on_mouse)
        if self.log_scale.isChecked():
            loss_plot.setLogMode(x=False, y=True)
        for overlay in self._overlays.values():
            self._add_overlay_items(plots, overlay)
        empty_text.setVisible(self._series.is_empty)
        self._place_epoch_lines(self._series)
        self._show_axes(not self._blank)
        self.reset_zoom()
        return graphics

    # The pyqtgraph parts, made now if the chart has not been painted yet ---------------------

    @property
    def plots(self) -> _Plots:
        """The plots and their items (made now if they were not yet)."""
        self._place.widget()
        assert self._plots is not None
        return self._plots

    @property
    def graphics(self) -> pg.GraphicsLayoutWidget:
        """The widget holding both plots."""
        return self.plots.graphics

    @property
    def loss_plot(self) -> pg.PlotItem:
        """The upper plot: loss against step."""
        return self.plots.loss_plot

    @property
    def accuracy_plot(self) -> pg.PlotItem:
        """The lower plot: token accuracy against step."""
        return self.plots.accuracy_plot

    @property
    def curve_items(self) -> dict[str, pg.PlotDataItem]:
        """Each metric's drawn curve (smoothed where smoothing is on)."""
        return self.plots.curve_items

    @property
    def raw_items(self) -> dict[str, pg.PlotDataItem]:
        """The faint raw curves under the smoothed ones."""
        return self.plots.raw_items

    @property
    def cursors(self) -> list[pg.InfiniteLine]:
        """The lines marking the step read out under the chart, one per plot."""
        return self.plots.cursors

    @property
    def empty_text(self) -> pg.TextItem:
        """The notice shown while there are no steps."""
        return self.plots.empty_text

    # Public --------------------------------------------------------------------------------

    def add_tool(self, widget: QWidget) -> None:
        """Put an owner's control in the toolbar, before the save buttons."""
        self._tools.insertWidget(self._tools.indexOf(self.reset_button), widget)

    @property
    def series(self) -> MetricSeries:
        """The curves shown."""
        return self._series

    @property
    def alpha(self) -> float:
        """The EMA weight of a new value for the slider's position (1.0 = no smoothing)."""
        return 1.0 - self.smoothing.value() / 100.0

    def _alpha_for(self, points: int) -> float:
        """The weight of a new value for a curve of ``points``: the slider's, raised so the
        average reaches back no more than about a tenth of the curve."""
        alpha = self.alpha
        if alpha >= 1.0:
            return alpha
        return max(alpha, SHORTEST_SPAN_SHARE / (points + SHORTEST_SPAN_SHARE))

    def set_series(self, series: MetricSeries) -> None:
        """Show a job's curves (new steps of the same job only extend the smoothing)."""
        was_blank = self._blank
        self._series = series
        if self._plots is None:
            return  # drawn once the plots are made
        self._plots.empty_text.setVisible(series.is_empty)
        self._place_epoch_lines(series)
        self._show_axes(not self._blank)
        if was_blank and not self._blank:
            self.reset_zoom()  # the first steps: fit the view to them
        else:
            self._draw()

    @property
    def _blank(self) -> bool:
        """True when there is nothing to draw (no steps, nothing to compare with)."""
        return self._series.is_empty and not self._overlays

    def _show_axes(self, shown: bool) -> None:
        """Axes with numbers around curves; without curves, a plain frame and the notice
        (numbers there would only be a previous job's range, or a meaningless 0 to 1)."""
        if self._plots is None:
            return
        for plot in (self._plots.loss_plot, self._plots.accuracy_plot):
            for side in ("left", "bottom"):
                plot.getAxis(side).setStyle(showValues=shown)
            if not shown:
                plot.disableAutoRange()
                plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    def clear(self) -> None:
        """Show nothing (another job is being opened)."""
        self._smoothed.clear()
        for key in list(self._overlays):
            self.remove_overlay(key)
        self.set_series(MetricSeries.empty())
        self.reset_zoom()

    def set_overlay(self, key: str, label: str, series: MetricSeries) -> None:
        """Draw another job's training loss and training accuracy over this one (dashed) to
        compare runs."""
        known = self._overlays.get(key)
        if known is not None:
            overlay = replace(known, label=label, series=series)
        else:
            color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
            overlay = _Overlay(label, series, color)
            if self._plots is not None:
                self._add_overlay_items(self._plots, overlay)
        was_blank = self._blank
        self._overlays[key] = overlay
        self._show_axes(True)
        if was_blank:
            self.reset_zoom()
        else:
            self._draw()

    @staticmethod
    def _add_overlay_items(plots: _Plots, overlay: _Overlay) -> None:
        import pyqtgraph as pg

        pen = pg.mkPen(overlay.color, width=2, style=Qt.PenStyle.DashLine)
        overlay.loss_item = plots.loss_plot.plot(name=overlay.label, pen=pen)
        overlay.accuracy_item = plots.accuracy_plot.plot(name=overlay.label, pen=pen)

    def remove_overlay(self, key: str) -> None:
        """Stop comparing with one job."""
        entry = self._overlays.pop(key, None)
        if entry is None:
            return
        if self._plots is not None:
            for plot, item in (
                (self._plots.loss_plot, entry.loss_item),
                (self._plots.accuracy_plot, entry.accuracy_item),
            ):
                plot.removeItem(item)
                if plot.legend is not None:
                    plot.legend.removeItem(item)
        for name in _OVERLAY_CURVES:
            self._smoothed.pop(f"overlay:{key}:{name}", None)
        if self._blank:
            self._show_axes(False)

    def overlay_keys(self) -> list[str]:
        """The jobs drawn for comparison."""
        return list(self._overlays)

    def set_log_scale(self, on: bool) -> None:
        """Logarithmic loss axis on or off."""
        if self.log_scale.isChecked() != on:
            self.log_scale.setChecked(on)
            return
        if self._plots is None:
            return  # the plots start with the box's choice
        self._plots.loss_plot.setLogMode(x=False, y=on)
        self._place_empty_text()

    def reset_zoom(self) -> None:
        """Show the whole run."""
        if self._plots is None:
            return  # made showing the whole run
        if self._blank:
            self._show_axes(False)
        else:
            for plot in (self._plots.loss_plot, self._plots.accuracy_plot):
                plot.enableAutoRange()
        self._draw()

    def save_png(self, path: Path) -> Path:
        """The two plots as a PNG picture."""
        if not self.graphics.grab().save(str(path), "PNG"):
            raise OSError(f"The picture could not be saved to {path}.")
        return path

    def save_csv(self, path: Path) -> Path:
        """Every step's values as a CSV table."""
        atomic_write(path, to_csv(self._series).encode("utf-8"))
        return path

    # Drawing -------------------------------------------------------------------------------

    @property
    def smoothing_pending(self) -> bool:
        """True while a long curve is being smoothed on the thread pool, or waits to be drawn."""
        return bool(self._pending) or self._redraw_timer.isActive()

    def _smooth(self, key: str, curve: Curve, alpha: float) -> array | None:
        """The smoothed values of a curve, or None while they are worked out in the background.

        New steps at the end only extend the last result, so each poll costs little.
        """
        if alpha >= 1.0:
            return curve.values
        cached = self._smoothed.get(key)
        if cached is not None and cached.alpha == alpha:
            n = len(cached.steps)
            if n == len(curve) and cached.steps == curve.steps and cached.raw == curve.values:
                return cached.smooth
            if (
                0 < n < len(curve)
                and curve.steps[:n] == cached.steps
                and (curve.values[:n] == cached.raw)
            ):
                state = replace(cached.state)
                smooth = cached.smooth + state.extend(curve.values[n:])
                self._smoothed[key] = _Smoothed(alpha, curve.steps, curve.values, smooth, state)
                return smooth
        if len(curve) <= SYNC_SMOOTHING_POINTS:
            smoothed = self._smoothed[key] = _smoothed(alpha, curve)
            return smoothed.smooth
        self._smooth_in_background(key, curve, alpha)
        return None

    def _smooth_in_background(self, key: str, curve: Curve, alpha: float) -> None:
        token = (key, alpha, len(curve))
        if token in self._pending:
            return
        self._pending.add(token)

        def job(_context: JobContext) -> tuple[tuple[str, float, int], _Smoothed]:
            return token, _smoothed(alpha, curve)

        run_op(
            self,
            job,
            name="smoothing a curve",
            success=self._on_smoothed,
            failure=self._on_smoothing_failed,
        )

    def _on_smoothed(self, value: tuple[tuple[str, float, int], _Smoothed]) -> None:
        token, smoothed = value
        self._pending.discard(token)
        key = token[0]
        if smoothed.alpha == self._alpha_for(len(smoothed.steps)):
            current = self._smoothed.get(key)
            if current is None or len(current.steps) < len(smoothed.steps):
                self._smoothed[key] = smoothed
        self._redraw_timer.start()  # results arriving together are drawn once

    def _on_smoothing_failed(self, _message: str) -> None:
        self._pending.clear()

    @staticmethod
    def _visible(plots: _Plots) -> tuple[float, float] | None:
        """The step range in view, or None while the view follows the data (auto range)."""
        box = plots.loss_plot.getViewBox()
        if box.autoRangeEnabled()[0]:
            return None
        low, high = box.viewRange()[0]
        margin = (high - low) * 0.05
        return low - margin, high + margin

    def _thin(
        self, key: str, steps: array, values: array, window: tuple[float, float] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The part of a curve in ``window`` (all of it for None), at most MAX_DRAWN_POINTS;
        the last answer per curve is kept, so curves a poll did not change cost nothing."""
        token = (steps, values, len(values), window)
        cached = self._thinned.get(key)
        if cached is not None and all(
            a is b if isinstance(a, array) else a == b
            for a, b in zip(cached[0], token, strict=True)
        ):
            return cached[1]
        if window is not None and len(steps):
            start = max(0, bisect.bisect_left(steps, window[0]) - 1)
            stop = min(len(steps), bisect.bisect_right(steps, window[1]) + 1)
            steps, values = steps[start:stop], values[start:stop]
        if len(steps) > MAX_DRAWN_POINTS:
            steps, values = downsample(steps, values, MAX_DRAWN_POINTS)
        import numpy as np  # loaded with pyqtgraph, which draws with it

        result = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
        self._thinned[key] = (token, result)
        return result

    def _draw(self) -> None:
        """Hand every curve's visible part to pyqtgraph."""
        plots = self._plots
        if self._drawing or plots is None:
            return
        self._drawing = True
        try:
            alpha = self.alpha
            window = self._visible(plots)
            for name, item in plots.curve_items.items():
                curve = self._series[name]
                raw = self._thin(f"raw:{name}", curve.steps, curve.values, window)
                if name in SPARSE:
                    item.setData(*raw)
                    continue
                smooth = self._smooth(name, curve, self._alpha_for(len(curve)))
                raw_item = plots.raw_items[name]
                if smooth is None or alpha >= 1.0:  # raw only, until the smoothing is ready
                    item.setData(*raw)
                    raw_item.hide()
                    continue
                item.setData(*self._thin(name, curve.steps, smooth, window))
                raw_item.setData(*raw)
                raw_item.show()
            for key, overlay in self._overlays.items():
                items = (overlay.loss_item, overlay.accuracy_item)
                for name, item in zip(_OVERLAY_CURVES, items, strict=True):
                    curve = overlay.series[name]
                    token = f"overlay:{key}:{name}"
                    smooth = self._smooth(token, curve, self._alpha_for(len(curve)))
                    values = curve.values if smooth is None else smooth
                    item.setData(*self._thin(token, curve.steps, values, window))
        finally:
            self._drawing = False
        self._place_empty_text()

    def _place_epoch_lines(self, series: MetricSeries) -> None:
        plots = self._plots
        if plots is None:
            return
        import pyqtgraph as pg

        last = series.last_step or 0
        wanted = [float(step) - 0.5 for step in series.epoch_starts if step <= last]
        if wanted == self._epoch_positions:
            return
        for plot, line in self._epoch_lines:
            plot.removeItem(line)
        self._epoch_lines.clear()
        self._epoch_positions = wanted
        pen = pg.mkPen(palette.DISABLED, width=1, style=Qt.PenStyle.DashLine)
        for number, position in enumerate(wanted, start=2):
            for plot in (plots.loss_plot, plots.accuracy_plot):
                label = f"epoch {number}" if plot is plots.loss_plot else None
                line = pg.InfiniteLine(
                    pos=position,
                    angle=90,
                    pen=pen,
                    label=label,
                    labelOpts={
                        "position": 0.95,
                        "color": palette.FAINT,
                        "anchors": [(0, 0), (0, 0)],
                    },
                )
                plot.addItem(line, ignoreBounds=True)
                self._epoch_lines.append((plot, line))

    def _place_empty_text(self) -> None:
        plots = self._plots
        if plots is None or not plots.empty_text.isVisible():
            return
        (x0, x1), (y0, y1) = plots.loss_plot.getViewBox().viewRange()
        plots.empty_text.setPos(QPointF((x0 + x1) / 2, (y0 + y1) / 2))

    # Interaction ---------------------------------------------------------------------------

    def _on_smoothing(self, _value: int) -> None:
        self._smoothed.clear()
        self._draw()
        self.smoothing_changed.emit(self.alpha)

    def _on_range(self, *_args: object) -> None:
        if not self._drawing:
            self._redraw_timer.start()

    def _on_mouse(self, position: QPointF) -> None:
        plot = next(
            (
                p
                for p in (self.loss_plot, self.accuracy_plot)
                if p.sceneBoundingRect().contains(position)
            ),
            None,
        )
        if plot is None or self._series.is_empty:
            return
        step = plot.getViewBox().mapSceneToView(position).x()
        self.show_readout(step)

    def show_readout(self, step: float) -> None:
        """Write the values at the step nearest ``step`` under the chart, and mark it."""
        train = self._series["train_loss"]
        reference = (
            train if len(train) else next((c for c in self._series.curves.values() if len(c)), None)
        )
        if reference is None:
            return
        steps = reference.steps
        position = bisect.bisect_left(steps, step)
        candidates = [i for i in (position - 1, position) if 0 <= i < len(steps)]
        nearest = steps[min(candidates, key=lambda i: abs(steps[i] - step))]
        for cursor in self.cursors:
            cursor.setValue(nearest)
            cursor.show()
        epoch = 1 + bisect.bisect_right(self._series.epoch_starts, nearest)
        parts = [f"<b>Step {nearest:,}</b> (epoch {epoch})"]
        smoothed = self._smoothed.get("train_loss")
        for name, label in LABELS.items():
            value = _value_at(self._series[name], nearest)
            if value is None:
                continue
            text = f"{label.lower()} {value:.4g}"
            if name == "train_loss" and smoothed is not None and self.alpha < 1.0:
                index = bisect.bisect_left(train.steps, nearest)
                text += f" (smoothed {smoothed.smooth[index]:.4g})"
            color = _color_of(name)
            parts.append(f"<span style='color:{color}'>{text}</span>")
        self.readout.setText(" · ".join(parts))


def _value_at(curve: Curve, step: int) -> float | None:
    index = bisect.bisect_left(curve.steps, step)
    if index < len(curve.steps) and curve.steps[index] == step:
        value = curve.values[index]
        return value if math.isfinite(value) else None
    return None


_OVERLAY_CURVES = ("train_loss", "train_mean_token_accuracy")

_COLORS: Mapping[str, str] = {
    name: color for name, _label, color in (*LOSS_CURVES, *ACCURACY_CURVES)
}


def _color_of(name: str) -> str:
    return _COLORS.get(name, palette.TEXT)

"""Benchmark: a 50,000-step job in the loss chart and in the Jobs tab.

Run from the repository root::

    python -m tests.benchmarks.bench_long_job

Prints, in one run, against the named baseline "every point drawn" (the same curves handed to a
plain pyqtgraph plot whole: no thinning, no smoothing, no epochs, no readout): the chart's first
draw and the draw after one more polled step, each as a multiple of it; then the Jobs tab opening the job from
its archive: how long reading it took on the thread pool, and the longest pause of the UI
thread meanwhile (a 10 ms heartbeat measures the gaps between its ticks).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

STEPS = 50_000
CURVES = ("train_loss", "valid_loss", "train_mean_token_accuracy")


def wait_until(app: object, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Handle events until ``done`` (the benchmark's own loop; the app never does this)."""
    deadline = time.perf_counter() + timeout_s
    while not done():
        app.processEvents()  # type: ignore[attr-defined]
        if time.perf_counter() > deadline:
            raise TimeoutError("the job did not open in time")
        time.sleep(0.001)


def main() -> int:
    """Measure and print."""
    import pyqtgraph as pg
    from PySide6.QtCore import QElapsedTimer, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import ProfileStore
    from desktop.app import tune_interpreter
    from desktop.core.archive import JobArchive
    from desktop.core.catalog import Catalog
    from desktop.core.metrics import MetricsAccumulator
    from desktop.core.settings import AppSettings
    from desktop.ui.jobs.jobs_panel import JobsPanel
    from desktop.ui.jobs.loss_chart import LossChart
    from tests.api.keyrings import MemoryKeyring
    from tests.ui.test_jobs_chart import metric_events

    app = QApplication.instance() or QApplication([])
    tune_interpreter()
    events = metric_events(STEPS)
    metrics = MetricsAccumulator()
    metrics.add_events(events)
    series = metrics.series(n_epochs=5)

    plot = pg.PlotWidget()
    plot.resize(1100, 650)
    plot.show()
    started = time.perf_counter()
    for name in CURVES:
        points = series[name]
        plot.plot(list(points.steps), list(points.values))
    plot.grab()
    baseline = time.perf_counter() - started

    chart = LossChart()
    chart.resize(1100, 650)
    chart.show()
    started = time.perf_counter()
    chart.set_series(series)
    chart.grab()
    first = time.perf_counter() - started
    wait_until(app, lambda: not chart.smoothing_pending)
    metrics.add_event(
        {"id": "ftevent-next", "type": "metrics", "data": {"step": STEPS + 1, "train_loss": 0.1}}
    )
    started = time.perf_counter()
    chart.set_series(metrics.series(n_epochs=5))
    chart.grab()
    next_poll = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bench-long-job-") as folder:
        home = Path(folder)
        archive = JobArchive(home / "archive")
        archive.save_job(
            "old-provider",
            {
                "id": "ftjob-long",
                "status": "succeeded",
                "model": "gpt-4.1-mini-2025-04-14",
                "created_at": 1_763_769_600,
                "finished_at": 1_763_769_600 + STEPS,
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"n_epochs": 5}},
                },
            },
        )
        archive.add_events("old-provider", "ftjob-long", events)
        panel = JobsPanel(
            ProfileStore(home / "config"),
            KeyStore(MemoryKeyring()),
            archive,
            Catalog.load(),
            AppSettings(),
        )
        panel.resize(1300, 850)
        panel.show()
        wait_until(app, lambda: panel.isVisible())
        clock = QElapsedTimer()
        clock.start()
        gaps: list[int] = []
        last = [clock.elapsed()]

        def tick() -> None:
            now = clock.elapsed()
            gaps.append(now - last[0])
            last[0] = now

        ticker = QTimer(interval=10)
        ticker.timeout.connect(tick)
        ticker.start()
        started = time.perf_counter()
        wait_until(app, lambda: len(panel.view.chart.series["train_loss"]) == STEPS)
        opened = time.perf_counter() - started
        ticker.stop()
        panel.shutdown()
        QThreadPool.globalInstance().waitForDone(10_000)
        for widget in (panel, chart, plot):
            widget.close()
            widget.deleteLater()
        app.processEvents()

    def line(label: str, seconds: float) -> str:
        return f"{label:<34}{seconds * 1000:8.0f} ms  ({seconds / baseline:5.1f}x the baseline)"

    print(
        f"every point drawn (baseline):     {baseline * 1000:8.0f} ms  ({len(CURVES)} curves of {STEPS:,} steps)"
    )
    print(line("chart, first draw:", first))
    print(line("chart, one more polled step:", next_poll))
    print(f"Jobs tab, reading the job:        {opened * 1000:8.0f} ms on the thread pool")
    print(
        f"Jobs tab, longest UI pause:       {max(gaps):8d} ms  (heartbeat 10 ms, {len(gaps)} ticks, "
        f"{sum(gap > 100 for gap in gaps)} gaps over 100 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

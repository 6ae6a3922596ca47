"""The open dataset's findings: the whole-dataset checks, run in a worker after a pause.

They walk every example (duplicates, consistency, limits), so a burst of edits runs them
once; a run asked for while one is under way runs again after it, and an answer a newer run
or a reset has replaced is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from desktop.core.analysis import RecordAnalysis
from desktop.core.catalog import Catalog
from desktop.core.findings import Finding
from desktop.core.findings_report import FindingsReport, report_findings
from desktop.ui.common.ops import Op, run_op

#: Pause before the findings list and whole-dataset checks refresh (milliseconds).
FINDINGS_DEBOUNCE_MS = 250


class DatasetChecks(QObject):
    """Runs the whole-dataset checks and keeps the latest report of every finding."""

    def __init__(
        self,
        parent: QObject,
        catalog: Catalog,
        inputs: Callable[[], tuple[str, list[RecordAnalysis]]],
        on_report: Callable[[FindingsReport], None],
        on_failure: Callable[[str], None],
    ) -> None:
        """``inputs`` gives the model and every record's result at the start of a run;
        ``on_report`` is told of each new report (on the UI thread)."""
        super().__init__(parent)
        self._catalog = catalog
        self._inputs = inputs
        self._on_report = on_report
        self._on_failure = on_failure
        self.report = FindingsReport()
        self._op: Op[tuple[int, FindingsReport]] | None = None
        self._stale = False
        self._generation = 0
        self._timer = QTimer(self, singleShot=True, interval=FINDINGS_DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

    @property
    def busy(self) -> bool:
        """True while a run is under way or waits for its pause."""
        return self._op is not None or self._timer.isActive()

    def schedule(self) -> None:
        """Run after a pause (each call restarts the pause)."""
        self._timer.start()

    def refresh(self) -> None:
        """Run now in a worker, or again once the run under way has ended."""
        self._timer.stop()
        if self._op is not None:
            self._stale = True
            return
        self._stale = False
        self._generation += 1
        generation = self._generation
        model_id, results = self._inputs()
        catalog = self._catalog
        op = run_op(
            self,
            lambda context: (
                generation,
                report_findings(catalog, model_id, results, context.checkpoint),
            ),
            name="checking the dataset",
            success=self._on_result,
            failure=self._on_failure,
            done=lambda: self._on_finished(op),
        )
        self._op = op

    def apply_now(self, report: FindingsReport) -> None:
        """Take ``report``, worked out on this thread; runs under way are answered too late."""
        self._timer.stop()
        self._generation += 1
        self._apply(report)

    def forget(self) -> list[Finding]:
        """Start again with no findings (another dataset); returns the old ones, to free."""
        old = self.report.findings
        self._generation += 1
        self.report = FindingsReport()
        return old

    def _on_result(self, item: tuple[int, FindingsReport]) -> None:
        generation, report = item
        if generation == self._generation:
            self._apply(report)

    def _on_finished(self, op: Op[tuple[int, FindingsReport]]) -> None:
        if op is not self._op:
            return
        self._op = None
        if self._stale:
            self.refresh()

    def _apply(self, report: FindingsReport) -> None:
        self.report = report
        self._on_report(report)

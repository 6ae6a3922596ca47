"""Counting the dataset's tokens for the wizard's estimate: once per encoding, off the UI
thread, since a large dataset takes seconds to count."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.core.tokens import counter_for_model, encoding_for_model
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.wizard_common import Counted

log = logging.getLogger(__name__)


class TokenCounter(QObject):
    """Token counts of every example for the chosen model's encoding; ``counted`` says new
    counts are in."""

    counted = Signal()

    def __init__(self, examples: Sequence[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.examples = examples
        self.counts: Counted | None = None
        self.counting = False

    def for_model(self, model_id: str) -> Counted | None:
        """The counts for ``model_id``'s encoding, or None while they are being counted (a
        count is started when they are not known)."""
        encoding = encoding_for_model(model_id)
        if self.counts is not None and self.counts.encoding == encoding:
            return self.counts
        self.counting = True
        examples = list(self.examples)

        def job(context: JobContext) -> Counted:
            counter = counter_for_model(model_id)
            return Counted(encoding, counter.count_many(examples, context.checkpoint))

        run_op(
            self,
            job,
            name="counting tokens",
            success=self._on_counted,
            failure=lambda message: log.info("Wizard work failed: %s", message),
        )
        return None

    def _on_counted(self, value: Counted) -> None:
        self.counting = False
        self.counts = value
        self.counted.emit()

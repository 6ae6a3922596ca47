"""The Qt binding itself: faults in it that would bring the app down in a long session."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.gui


class _Emitter(QObject):
    changed = Signal(object)


def test_emitting_signals_leaves_reference_counts_alone(qapp):
    # The app emits from Python all the time (progress, results, edits). A binding whose emit
    # drops a reference it does not own makes the interpreter abort once a count reaches zero.
    emitter = _Emitter()
    received: list[object] = []
    emitter.changed.connect(received.append)
    before = {name: sys.getrefcount(value) for name, value in _SINGLETONS.items()}
    for _ in range(EMITS):
        emitter.changed.emit(None)
    assert len(received) == EMITS
    received.clear()
    after = {name: sys.getrefcount(value) for name, value in _SINGLETONS.items()}
    # A reference taken or dropped per emit moves a count by EMITS; the test's own machinery
    # (caches filled on first use) moves it by a handful at most.
    drift = {name: after[name] - before[name] for name in before}
    assert all(abs(change) < EMITS // 10 for change in drift.values()), drift


_SINGLETONS = {"True": True, "False": False, "None": None}
EMITS = 2000

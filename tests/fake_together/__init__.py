"""A local Together AI test server: its own API's shapes, a test-controlled clock, faults."""

from __future__ import annotations

from tests.fake_together.server import (
    DEFAULT_TEST_KEY,
    FAULT_KINDS,
    FakeTogetherServer,
    FaultRule,
    MissingDependency,
    RecordedRequest,
)
from tests.fake_together.state import ACCOUNT, HARDWARE, Timing

__all__ = [
    "ACCOUNT",
    "DEFAULT_TEST_KEY",
    "FAULT_KINDS",
    "HARDWARE",
    "FakeTogetherServer",
    "FaultRule",
    "MissingDependency",
    "RecordedRequest",
    "Timing",
]

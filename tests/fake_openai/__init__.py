"""A local, OpenAI-compatible test server with a test-controlled clock and fault injection."""

from __future__ import annotations

from tests.fake_openai.replies import chat_reply, completion_reply
from tests.fake_openai.server import (
    DEFAULT_TEST_KEY,
    FAULT_KINDS,
    FakeOpenAIServer,
    FaultRule,
    RecordedRequest,
)
from tests.fake_openai.state import ApiError, FakeClock, StoredModel, Timing

__all__ = [
    "DEFAULT_TEST_KEY",
    "FAULT_KINDS",
    "ApiError",
    "FakeClock",
    "FakeOpenAIServer",
    "FaultRule",
    "RecordedRequest",
    "StoredModel",
    "Timing",
    "chat_reply",
    "completion_reply",
]

"""Pytest fixtures for the fake Together AI server.

Registered for the whole suite in ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.api.profiles import ProviderProfile, profile_from_template
from tests.fake_together.server import DEFAULT_TEST_KEY, FakeTogetherServer


@pytest.fixture
def fake_together() -> Iterator[FakeTogetherServer]:
    """A started fake Together server on 127.0.0.1 (random port) expecting
    ``DEFAULT_TEST_KEY``; at the end, every request and answer must have matched Together's
    OpenAPI description and the fake itself must not have failed."""
    server = FakeTogetherServer(api_key=DEFAULT_TEST_KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.internal_errors == [], "the fake server itself failed:\n" + "\n".join(
        server.internal_errors
    )
    assert server.schema_problems == [], "broke Together's OpenAPI description:\n" + "\n".join(
        server.schema_problems
    )


@pytest.fixture
def together_profile(fake_together: FakeTogetherServer) -> ProviderProfile:
    """A "Together AI" profile made from the app's template, pointed at the fake."""
    return profile_from_template(
        "together", base_url=fake_together.base_url, profile_id="together-test"
    )

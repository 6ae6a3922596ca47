"""Pytest fixtures for the fake provider.

Register them once for the whole suite with ``pytest_plugins = ["tests.fake_openai.fixtures"]``
in the top-level ``tests/conftest.py`` (or import the fixture names into a conftest).
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fake_openai.server import DEFAULT_TEST_KEY, FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake server on 127.0.0.1 (random port) expecting ``DEFAULT_TEST_KEY``."""
    server = FakeOpenAIServer(api_key=DEFAULT_TEST_KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.internal_errors == [], "the fake server itself failed:\n" + "\n".join(
        server.internal_errors
    )


@pytest.fixture
def fake_nebius() -> Iterator[FakeOpenAIServer]:
    """A started fake in the Nebius Token Factory flavour, expecting ``DEFAULT_TEST_KEY``."""
    server = FakeOpenAIServer(api_key=DEFAULT_TEST_KEY, flavor="nebius")
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.internal_errors == [], "the fake server itself failed:\n" + "\n".join(
        server.internal_errors
    )


@pytest.fixture
def openai_client(fake_openai: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    """The real SDK client pointed at ``fake_openai``, with SDK retries off."""
    client = openai.OpenAI(
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        organization=None,
        project=None,
        max_retries=0,
        timeout=10.0,
    )
    try:
        yield client
    finally:
        client.close()

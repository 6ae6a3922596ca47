"""Fixtures for the provider-layer tests: the fake provider and throwaway keyrings."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest

from tests.api.keyrings import MemoryKeyring


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Install a fresh in-memory keyring as the process-wide backend for one test."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)

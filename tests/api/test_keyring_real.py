"""Keys through a real Secret Service (gnome-keyring) in a private D-Bus session."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from desktop.api.credentials import SERVICE_NAME, KeyStorage, KeyStore, keyring_status
from desktop.api.redaction import Secret
from tests.api.secret_service import (
    SecretServiceUnavailable,
    missing_requirements,
    private_secret_service,
)

pytestmark = pytest.mark.keyring_real
T = TypeVar("T")
CALL_TIMEOUT = 20.0


def _within_timeout(call: Callable[[], T]) -> T:
    """Run a keyring call in a thread so a stuck prompt fails the test instead of hanging it."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(CALL_TIMEOUT)
    if worker.is_alive():
        pytest.fail("the keyring call did not finish in time")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@pytest.fixture
def secret_service_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The keyring library's SecretService backend talking to a private gnome-keyring."""
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"real keyring test skipped: {reason}")
    from keyring.backends import SecretService

    try:
        with private_secret_service() as env:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            yield SecretService.Keyring()
    except SecretServiceUnavailable as exc:
        pytest.skip(f"real keyring test skipped: {exc}")


def test_store_read_delete_through_gnome_keyring(secret_service_backend: object) -> None:
    from keyring.backends import SecretService

    backend = secret_service_backend
    assert isinstance(backend, SecretService.Keyring)
    assert keyring_status(backend).usable is True
    store = KeyStore(backend)
    key = "sk-real-keyring-0123456789abcdef"

    assert _within_timeout(lambda: store.set("profile-real", key)) is KeyStorage.KEYRING
    assert _within_timeout(lambda: backend.get_password(SERVICE_NAME, "profile-real")) == key
    fresh = KeyStore(backend)  # what the app sees after a restart
    assert _within_timeout(lambda: fresh.get("profile-real")) == Secret(key)
    assert _within_timeout(lambda: fresh.storage_of("profile-real")) is KeyStorage.KEYRING

    _within_timeout(lambda: fresh.delete("profile-real"))
    assert _within_timeout(lambda: fresh.get("profile-real")) is None
    assert _within_timeout(lambda: backend.get_password(SERVICE_NAME, "profile-real")) is None
    assert fresh.persistent is True


def test_gnome_keyring_is_named_and_preferred_to_a_plaintext_file(
    secret_service_backend: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends import chainer

    from tests.api.keyrings import PlaintextFileKeyring

    status = keyring_status(secret_service_backend)  # type: ignore[arg-type]
    assert (status.usable, status.backend_name) == (True, "GNOME Keyring")
    assert status.reason == "Keys are saved in GNOME Keyring."
    # keyrings.alt installed beside it: keyring would chain both and could fall back to the file
    plaintext = PlaintextFileKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [secret_service_backend, plaintext])
    store = KeyStore(chainer.ChainerBackend())
    assert store.status.backend_name == "GNOME Keyring"
    key = "not-a-real-key: chained keyring"
    assert _within_timeout(lambda: store.set("profile-chain", key)) is KeyStorage.KEYRING
    backend = secret_service_backend
    assert _within_timeout(lambda: backend.get_password(SERVICE_NAME, "profile-chain")) == key  # type: ignore[attr-defined]
    assert plaintext.entries == {}
    _within_timeout(lambda: store.delete("profile-chain"))

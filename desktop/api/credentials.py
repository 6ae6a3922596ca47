"""API keys: kept in the operating system's keyring, or only in memory for this session.

Keys are never written to a plain file. When no keyring is usable (no Secret Service, a locked
or broken backend) that is reported in plain words so the UI can say so and offer to hold the
key in memory until the app closes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail
from keyring.errors import PasswordDeleteError

from desktop.api.redaction import Secret, forget_secret, register_secret, reveal

SERVICE_NAME = "finetune-studio"

NO_KEYRING_REASON = (
    "No system keyring is available, so keys cannot be saved on this computer; you can still"
    " use a key for this session only."
)


class KeyStorage(str, Enum):
    """Where a key currently lives."""

    KEYRING = "keyring"
    SESSION = "session"
    NONE = "none"


@dataclass(frozen=True)
class KeyringStatus:
    """Whether keys can be saved, in words the user can read."""

    usable: bool
    backend_name: str
    reason: str


class KeyringUnavailableError(RuntimeError):
    """Saving to the keyring is not possible; ``str(error)`` is a plain sentence."""


def _backend_name(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def keyring_status(backend: KeyringBackend | None = None) -> KeyringStatus:
    """Inspect a keyring backend (default: the one ``keyring`` picked) without touching keys."""
    chosen = backend if backend is not None else keyring.get_keyring()
    name = _backend_name(chosen)
    if isinstance(chosen, fail.Keyring):
        return KeyringStatus(False, name, NO_KEYRING_REASON)
    if isinstance(chosen, chainer.ChainerBackend) and not chosen.backends:
        return KeyringStatus(False, name, NO_KEYRING_REASON)
    return KeyringStatus(True, name, "Keys are saved in the system keyring.")


class KeyStore:
    """Per-profile keys; hides whether the keyring or session memory holds them."""

    def __init__(
        self, backend: KeyringBackend | None = None, *, service: str = SERVICE_NAME
    ) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._service = service
        self._session: dict[str, Secret] = {}
        self._lock = threading.Lock()
        self._status = keyring_status(self._backend)

    def __repr__(self) -> str:
        return (
            f"KeyStore(backend={self._status.backend_name!r}, usable={self._status.usable},"
            f" session_keys={len(self._session)})"
        )

    @property
    def status(self) -> KeyringStatus:
        """Current keyring status (turns unusable after a failed keyring call)."""
        return self._status

    @property
    def persistent(self) -> bool:
        """Whether keys can be saved to survive a restart."""
        return self._status.usable

    def _mark_broken(self, exc: BaseException) -> None:
        self._status = KeyringStatus(
            False,
            self._status.backend_name,
            "The system keyring did not respond properly"
            f" ({type(exc).__name__}), so keys cannot be saved; you can still use a key for"
            " this session only.",
        )

    def get(self, profile_id: str) -> Secret | None:
        """The key for a profile, from session memory first, then the keyring."""
        with self._lock:
            held = self._session.get(profile_id)
        if held is not None:
            return held
        if not self._status.usable:
            return None
        try:
            value = self._backend.get_password(self._service, profile_id)
        except Exception as exc:  # any backend failure means "no usable keyring"
            self._mark_broken(exc)
            return None
        if not value:
            return None
        register_secret(value)
        return Secret(value)

    def set(self, profile_id: str, key: str | Secret, *, session_only: bool = False) -> KeyStorage:
        """Save a key; raises ``KeyringUnavailableError`` unless ``session_only`` or saved."""
        secret = Secret(reveal(key).strip())
        if not secret:
            raise ValueError("The key is empty.")
        register_secret(secret)
        if session_only:
            with self._lock:
                self._session[profile_id] = secret
            return KeyStorage.SESSION
        if not self._status.usable:
            raise KeyringUnavailableError(self._status.reason)
        try:
            self._backend.set_password(self._service, profile_id, secret.reveal())
        except Exception as exc:  # any backend failure means "no usable keyring"
            self._mark_broken(exc)
            raise KeyringUnavailableError(self._status.reason) from None
        with self._lock:
            self._session.pop(profile_id, None)
        return KeyStorage.KEYRING

    def delete(self, profile_id: str) -> None:
        """Forget a profile's key everywhere (no error if there was none)."""
        with self._lock:
            held = self._session.pop(profile_id, None)
        forget_secret(held)
        if not self._status.usable:
            return
        try:
            self._backend.delete_password(self._service, profile_id)
        except PasswordDeleteError:
            pass
        except Exception as exc:  # any backend failure means "no usable keyring"
            self._mark_broken(exc)

    def storage_of(self, profile_id: str) -> KeyStorage:
        """Where the profile's key currently lives."""
        with self._lock:
            if profile_id in self._session:
                return KeyStorage.SESSION
        if self.get(profile_id) is not None:
            return KeyStorage.KEYRING
        return KeyStorage.NONE

    def has_key(self, profile_id: str) -> bool:
        """Whether any key is known for the profile."""
        return self.storage_of(profile_id) is not KeyStorage.NONE

    def clear_session(self) -> None:
        """Drop every session-only key (e.g. when the app quits)."""
        with self._lock:
            held = list(self._session.values())
            self._session.clear()
        for secret in held:
            forget_secret(secret)

"""API keys: kept in the operating system's keyring, or only in memory for this session.

Keys are never written to a plain file. When no keyring is usable (no Secret Service, a locked
or broken backend) that is reported in plain words so the UI can say so and offer to hold the
key in memory until the app closes. The ``keyring`` library also accepts backends that are no
keyring at all (``keyrings.alt`` keeps keys in a plain or home-made encrypted file, ``null``
forgets them): those count as "no keyring" too, and a chain of backends is only trusted for its
real keyrings, so a locked keyring never falls back to a file.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import PasswordDeleteError

from desktop.api.redaction import Secret, forget_secret, register_secret, reveal

SERVICE_NAME = "finetune-studio"

NO_KEYRING_REASON = (
    "No system keyring is available, so keys cannot be saved on this computer; you can still"
    " use a key for this session only."
)
FILE_KEYRING_REASON = (
    "No system keyring is available: the only keyring set up here keeps keys in {where}, so"
    " the app does not save keys there; you can still use a key for this session only."
)
#: A usable backend the app does not know by name.
GENERIC_KEYRING_NAME = "the system keyring"

# Real keyrings, by the class (or a base class) ``keyring`` uses for them.
_SYSTEM_KEYRINGS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("keyring.backends.SecretService", "Keyring"): "GNOME Keyring",
        ("keyring.backends.libsecret", "Keyring"): "GNOME Keyring",
        ("keyrings.alt.Gnome", "Keyring"): "GNOME Keyring",
        ("keyring.backends.kwallet", "DBusKeyring"): "KWallet",
        ("keyring.backends.macOS", "Keyring"): "macOS Keychain",
        ("keyring.backends.Windows", "WinVaultKeyring"): "Windows Credential Manager",
    }
)
# Backends that only look like keyrings: where they would put a key, in plain words.
_NOT_KEYRINGS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("keyrings.alt.file", "PlaintextKeyring"): "a plain text file",
        ("keyrings.alt.file", "EncryptedKeyring"): "a file encrypted with a password of its own",
        ("keyrings.alt.pyfs", "PlaintextKeyring"): "a plain text file",
        ("keyrings.alt.pyfs", "EncryptedKeyring"): "a file encrypted with a password of its own",
        ("keyrings.alt.Windows", "EncryptedKeyring"): "a file",
        ("keyrings.alt.Windows", "RegistryKeyring"): "the Windows registry",
        ("keyrings.alt.Google", "DocsKeyring"): "an online document",
        ("keyrings.alt.file_base", "Keyring"): "a file",
        ("keyrings.alt.file_base", "FileBacked"): "a file",
    }
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


def _classes(backend: KeyringBackend) -> list[tuple[str, str]]:
    return [(cls.__module__, cls.__qualname__) for cls in type(backend).__mro__]


def _not_a_keyring(backend: KeyringBackend) -> str | None:
    """Where ``backend`` would really keep a key when it is no keyring ("" for nowhere)."""
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return ""
    classes = _classes(backend)
    for name in classes:
        if name in _NOT_KEYRINGS:
            return _NOT_KEYRINGS[name]
    if any(name in _SYSTEM_KEYRINGS for name in classes):
        return None
    if any(module.startswith("keyrings.alt.") for module, _ in classes):
        return "a file"
    if hasattr(type(backend), "file_path"):  # file-backed backends of other packages
        return "a file"
    return None


def _plain_name(backend: KeyringBackend) -> str:
    for name in _classes(backend):
        if name in _SYSTEM_KEYRINGS:
            return _SYSTEM_KEYRINGS[name]
    return GENERIC_KEYRING_NAME


def trusted_backend(backend: KeyringBackend) -> KeyringBackend | None:
    """The real keyring behind ``backend``, or ``None`` when there is none.

    A chain is reduced to its first real keyring: the chain itself would save a key in the
    next backend, perhaps a plain file, whenever the keyring refuses it.
    """
    if isinstance(backend, chainer.ChainerBackend):
        return next((b for b in backend.backends if _not_a_keyring(b) is None), None)
    return backend if _not_a_keyring(backend) is None else None


def keyring_status(backend: KeyringBackend | None = None) -> KeyringStatus:
    """Inspect a keyring backend (default: the one ``keyring`` picked) without touching keys."""
    chosen = backend if backend is not None else keyring.get_keyring()
    trusted = trusted_backend(chosen)
    if trusted is not None:
        name = _plain_name(trusted)
        return KeyringStatus(True, name, f"Keys are saved in {name}.")
    members = chosen.backends if isinstance(chosen, chainer.ChainerBackend) else [chosen]
    places = [where for where in map(_not_a_keyring, members) if where]
    if places:
        return KeyringStatus(False, "no keyring", FILE_KEYRING_REASON.format(where=places[0]))
    return KeyringStatus(False, "no keyring", NO_KEYRING_REASON)


class KeyStore:
    """Per-profile keys; hides whether the keyring or session memory holds them."""

    def __init__(
        self, backend: KeyringBackend | None = None, *, service: str = SERVICE_NAME
    ) -> None:
        chosen = backend if backend is not None else keyring.get_keyring()
        self._status = keyring_status(chosen)
        trusted = trusted_backend(chosen)
        self._backend = trusted if trusted is not None else fail.Keyring()
        self._service = service
        self._session: dict[str, Secret] = {}
        self._lock = threading.Lock()

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
            f"{self._status.backend_name[0].upper()}{self._status.backend_name[1:]} did not"
            f" respond properly ({type(exc).__name__}), so keys cannot be saved; you can still"
            " use a key for this session only.",
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

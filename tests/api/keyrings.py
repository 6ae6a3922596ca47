"""Throwaway keyring backends for tests (never touch the user's real keyring)."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict, for unit tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not found")
        del self.entries[(service, username)]


class BrokenKeyring(MemoryKeyring):
    """A keyring that looks fine but fails when used (e.g. a locked or crashed daemon)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("the keyring daemon is not responding")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("the keyring daemon is not responding")


# Stand-ins with the module, name and priority of real backends, so the app's judgement of a
# backend can be tested without installing it. They keep keys in a dict like MemoryKeyring;
# what matters is what the app takes them for.


class PlaintextFileKeyring(MemoryKeyring):
    """Looks like keyrings.alt's PlaintextKeyring: a base64 "keyring" file on disk."""

    __module__ = "keyrings.alt.file"
    __qualname__ = "PlaintextKeyring"
    priority = 0.5  # type: ignore[assignment]


class EncryptedFileKeyring(MemoryKeyring):
    """Looks like keyrings.alt's EncryptedKeyring: a file with a password of its own."""

    __module__ = "keyrings.alt.file"
    __qualname__ = "EncryptedKeyring"
    priority = 0.6  # type: ignore[assignment]


class OtherFileKeyring(MemoryKeyring):
    """A third-party backend that keeps keys in a file (it has a ``file_path``)."""

    __module__ = "keyrings.cryptfile.cryptfile"
    __qualname__ = "CryptFileKeyring"
    priority = 2.5  # type: ignore[assignment]
    file_path = "/tmp/never-written.cfg"


class SecretServiceLike(MemoryKeyring):
    """Looks like keyring's Secret Service backend (GNOME Keyring)."""

    __module__ = "keyring.backends.SecretService"
    __qualname__ = "Keyring"
    priority = 5  # type: ignore[assignment]


class KWalletLike(MemoryKeyring):
    """Looks like keyring's KWallet backend (a subclass, as the KWallet 4 one is)."""

    __module__ = "keyring.backends.kwallet"
    __qualname__ = "DBusKeyring"
    priority = 4.9  # type: ignore[assignment]


class KWallet4Like(KWalletLike):
    __module__ = "keyring.backends.kwallet"
    __qualname__ = "DBusKeyringKWallet4"


class MacKeychainLike(MemoryKeyring):
    __module__ = "keyring.backends.macOS"
    __qualname__ = "Keyring"
    priority = 5  # type: ignore[assignment]


class WindowsVaultLike(MemoryKeyring):
    __module__ = "keyring.backends.Windows"
    __qualname__ = "WinVaultKeyring"
    priority = 5  # type: ignore[assignment]

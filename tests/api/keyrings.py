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

"""Key storage: keyring when usable, session memory when asked, never a plain file."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from desktop.api.client import test_connection
from desktop.api.credentials import (
    NO_KEYRING_REASON,
    SERVICE_NAME,
    KeyringUnavailableError,
    KeyStorage,
    KeyStore,
    keyring_status,
)
from desktop.api.profiles import profile_from_template
from desktop.api.redaction import Secret
from desktop.app import build_services, setup_logging
from desktop.core.locations import cache_dir, config_dir, data_dir
from tests.api.keyrings import (
    BrokenKeyring,
    EncryptedFileKeyring,
    KWallet4Like,
    KWalletLike,
    MacKeychainLike,
    MemoryKeyring,
    OtherFileKeyring,
    PlaintextFileKeyring,
    SecretServiceLike,
    WindowsVaultLike,
)
from tests.fake_openai import FakeOpenAIServer

KEY = "sk-" + "test-credential-0123456789abcdef"


def test_keys_go_to_the_keyring_under_the_app_service(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore()
    assert store.persistent is True
    assert store.set("profile-1", KEY) is KeyStorage.KEYRING
    assert memory_keyring.entries == {(SERVICE_NAME, "profile-1"): KEY}
    got = store.get("profile-1")
    assert isinstance(got, Secret) and got.reveal() == KEY
    assert store.storage_of("profile-1") is KeyStorage.KEYRING
    assert KeyStore().get("profile-1") == Secret(KEY)  # survives a new store (restart)


def test_keys_are_separate_per_profile_and_deletable(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore()
    store.set("a", "sk-aaaaaaaaaaaaaaaa")
    store.set("b", "sk-bbbbbbbbbbbbbbbb")
    store.delete("a")
    assert store.get("a") is None
    assert store.get("b") == Secret("sk-bbbbbbbbbbbbbbbb")
    store.delete("a")  # deleting twice is fine
    assert store.has_key("a") is False


def test_key_is_trimmed_and_empty_refused(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore()
    store.set("p", f"  {KEY}\n")
    assert store.get("p") == Secret(KEY)
    with pytest.raises(ValueError):
        store.set("p", "   ")


def test_fail_backend_is_reported_plainly() -> None:
    status = keyring_status(fail.Keyring())
    assert status.usable is False
    assert status.reason == NO_KEYRING_REASON
    assert "session" in status.reason


def test_empty_chainer_is_reported_as_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    assert keyring_status(chainer.ChainerBackend()).usable is False


def test_without_keyring_only_session_keys_work() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        store = KeyStore()
    finally:
        keyring.set_keyring(previous)
    assert store.persistent is False
    with pytest.raises(KeyringUnavailableError) as info:
        store.set("p", KEY)
    assert str(info.value) == NO_KEYRING_REASON
    assert store.get("p") is None
    assert store.set("p", KEY, session_only=True) is KeyStorage.SESSION
    assert store.get("p") == Secret(KEY)
    assert store.storage_of("p") is KeyStorage.SESSION
    store.clear_session()
    assert store.get("p") is None


def test_backend_failing_on_use_turns_unusable() -> None:
    store = KeyStore(BrokenKeyring())
    assert store.persistent is True  # looks fine until used
    with pytest.raises(KeyringUnavailableError, match="did not respond"):
        store.set("p", KEY)
    assert store.persistent is False
    assert "KeyringError" in store.status.reason
    assert KEY not in store.status.reason
    assert store.set("p", KEY, session_only=True) is KeyStorage.SESSION


def test_session_key_is_replaced_by_a_saved_one(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore()
    store.set("p", "sk-session-only-key-1234", session_only=True)
    store.set("p", KEY)
    assert store.storage_of("p") is KeyStorage.KEYRING
    assert store.get("p") == Secret(KEY)


def key_traces(key: str) -> list[bytes]:
    """The key as bytes in every encoding checked on disk: plain, UTF-16, hex and base64.

    Base64 of a longer text depends on where the key starts, so each of the three alignments
    gives its own run of characters; the groups that mix in the neighbouring bytes are left
    out."""
    raw = key.encode()
    traces = [raw, key.encode("utf-16-le"), raw.hex().encode()]
    for shift in range(3):
        padded = b"\0" * shift + raw
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(padded)
            traces.append(encoded[4 if shift else 0 : -4])
    return traces


def key_leaks(key: str, folders: list[Path]) -> tuple[list[str], set[Path]]:
    """Files under ``folders`` that hold ``key`` in any encoding, and every file looked at."""
    files = {path.resolve() for folder in folders if folder.exists() for path in folder.rglob("*")}
    files = {path for path in files if path.is_file()}
    traces = key_traces(key)
    leaks = [str(path) for path in sorted(files) if any(t in path.read_bytes() for t in traces)]
    return leaks, files


def app_folders(cwd: Path) -> list[Path]:
    """Where the app writes: its config, data (the log too) and cache folders, the home
    folder and the working folder."""
    return [config_dir(), data_dir(), cache_dir(), Path.home(), cwd]


def test_no_key_reaches_the_disk(
    memory_keyring: MemoryKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Save keys through the app's own stores, use them, log at the finest level, then look
    for the keys in every file the app could have written."""
    monkeypatch.chdir(tmp_path)
    wrong = "sk-" + "a-session-key-the-server-refuses-42"
    root = logging.getLogger()
    old_level = root.level
    log_path = setup_logging()
    assert log_path is not None
    (handler,) = [h for h in root.handlers if getattr(h, "baseFilename", None) == str(log_path)]
    root.setLevel(logging.DEBUG)
    try:
        with FakeOpenAIServer(api_key=KEY) as server:
            services = build_services(notify=lambda text: None)
            saved = profile_from_template("compatible", base_url=server.base_url)
            refused = profile_from_template("compatible", base_url=server.base_url)
            services.profiles.add(saved)
            services.profiles.add(refused)
            assert services.keys.set(saved.id, KEY) is KeyStorage.KEYRING
            assert services.keys.set(refused.id, wrong, session_only=True) is KeyStorage.SESSION
            for profile in (saved, refused):
                result = test_connection(profile, services.keys.get(profile.id))
                logging.getLogger("desktop").info("Connection test: %s", result.sentence)
                assert result.ok is (profile is saved)
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
    assert memory_keyring.entries == {(SERVICE_NAME, saved.id): KEY}  # saved, in the keyring
    assert "Connected to" in log_path.read_text(encoding="utf-8")  # the log was written
    for key in (KEY, wrong):
        leaks, scanned = key_leaks(key, app_folders(tmp_path))
        assert leaks == []
        assert {log_path.resolve(), services.profiles.path.resolve()} <= scanned


@pytest.mark.parametrize(
    "written",
    [
        lambda key: f'{{"api_key": "{key}"}}'.encode(),
        lambda key: key.encode("utf-16-le"),
        lambda key: b"key=" + key.encode().hex().encode(),
        lambda key: base64.b64encode(key.encode()),
        lambda key: b"[p]\nkey = " + base64.b64encode(b"x" + key.encode()),
        lambda key: base64.urlsafe_b64encode(b"xy" + key.encode() + b"z"),
    ],
    ids=["json", "utf-16", "hex", "base64", "base64-shifted-1", "base64url-shifted-2"],
)
def test_the_disk_scan_finds_a_key_however_it_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: Callable[[str], bytes]
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = data_dir() / "somewhere"
    folder.mkdir(parents=True)
    (folder / "file").write_bytes(written(KEY))
    leaks, _ = key_leaks(KEY, app_folders(tmp_path))
    assert leaks == [str((folder / "file").resolve())]


# ---- backends that are no keyring -----------------------------------------------------------
@pytest.mark.parametrize(
    ("backend", "where"),
    [
        (PlaintextFileKeyring(), "plain text file"),
        (EncryptedFileKeyring(), "file"),
        (OtherFileKeyring(), "file"),
    ],
)
def test_file_backends_are_not_a_keyring(backend: MemoryKeyring, where: str) -> None:
    status = keyring_status(backend)
    assert status.usable is False
    assert where in status.reason and "session only" in status.reason
    assert "keyrings" not in status.reason and "Keyring" not in status.reason  # no class path
    store = KeyStore(backend)
    assert store.persistent is False
    with pytest.raises(KeyringUnavailableError):
        store.set("p", KEY)
    assert backend.entries == {}  # nothing was written to the "keyring" file
    assert store.get("p") is None
    assert store.set("p", KEY, session_only=True) is KeyStorage.SESSION
    assert backend.entries == {}


@pytest.mark.parametrize("backend", [null.Keyring(), fail.Keyring()])
def test_null_and_fail_backends_are_no_keyring(backend: KeyringBackend) -> None:
    status = keyring_status(backend)
    assert (status.usable, status.reason) == (False, NO_KEYRING_REASON)


def test_a_plaintext_file_chosen_by_default_is_no_keyring() -> None:
    previous = keyring.get_keyring()
    plaintext = PlaintextFileKeyring()
    keyring.set_keyring(plaintext)
    try:
        store = KeyStore()
    finally:
        keyring.set_keyring(previous)
    assert store.persistent is False
    with pytest.raises(KeyringUnavailableError):
        store.set("p", KEY)
    assert plaintext.entries == {}


def test_a_chain_of_file_backends_only_is_no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        chainer.ChainerBackend, "backends", [EncryptedFileKeyring(), PlaintextFileKeyring()]
    )
    status = keyring_status(chainer.ChainerBackend())
    assert status.usable is False
    assert "file" in status.reason


def test_a_chain_uses_only_its_real_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    real, plaintext = SecretServiceLike(), PlaintextFileKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [real, plaintext])
    plaintext.entries[(SERVICE_NAME, "old")] = "sk-left-in-a-file-0000000"
    store = KeyStore(chainer.ChainerBackend())
    assert store.status.usable is True
    assert store.status.backend_name == "GNOME Keyring"
    assert store.set("p", KEY) is KeyStorage.KEYRING
    assert real.entries == {(SERVICE_NAME, "p"): KEY}
    assert (SERVICE_NAME, "p") not in plaintext.entries
    assert store.get("old") is None  # a key in the file is not read back either


def test_a_chain_never_falls_back_to_a_file_when_the_keyring_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class LockedSecretService(SecretServiceLike):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError  # the chain would move on to the next backend

    real, plaintext = LockedSecretService(), PlaintextFileKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [real, plaintext])
    store = KeyStore(chainer.ChainerBackend())
    with pytest.raises(KeyringUnavailableError):
        store.set("p", KEY)
    assert plaintext.entries == {}
    assert store.set("p", KEY, session_only=True) is KeyStorage.SESSION


@pytest.mark.parametrize(
    ("backend", "name"),
    [
        (SecretServiceLike(), "GNOME Keyring"),
        (KWalletLike(), "KWallet"),
        (KWallet4Like(), "KWallet"),
        (MacKeychainLike(), "macOS Keychain"),
        (WindowsVaultLike(), "Windows Credential Manager"),
        (MemoryKeyring(), "the system keyring"),
    ],
)
def test_real_keyrings_are_named_in_plain_words(backend: MemoryKeyring, name: str) -> None:
    status = keyring_status(backend)
    assert status.usable is True
    assert status.backend_name == name
    assert status.reason == f"Keys are saved in {name}."
    assert KeyStore(backend).set("p", KEY) is KeyStorage.KEYRING
    assert backend.entries == {(SERVICE_NAME, "p"): KEY}


def test_the_real_keyrings_alt_plaintext_file_is_no_keyring(tmp_path: Path) -> None:
    """With keyrings.alt installed (as it may be on a user's computer) nothing reaches its file."""
    alt_file = pytest.importorskip("keyrings.alt.file")
    plaintext = alt_file.PlaintextKeyring()
    plaintext.file_path = str(tmp_path / "keyring_pass.cfg")
    status = keyring_status(plaintext)
    assert status.usable is False
    assert "plain text file" in status.reason
    store = KeyStore(plaintext)
    with pytest.raises(KeyringUnavailableError):
        store.set("p", KEY)
    assert store.set("p", KEY, session_only=True) is KeyStorage.SESSION
    assert store.get("p") == Secret(KEY)
    assert list(tmp_path.iterdir()) == []

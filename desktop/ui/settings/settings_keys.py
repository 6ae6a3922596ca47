"""The key rows of the provider form: type a key, see where the saved one is kept, forget it,
and test the connection with it.

A typed key goes straight to the key store (the system keyring, or memory for this session
when there is no keyring or the user asks for it) and the field is cleared: a saved key is
never shown again, written to the profile file or logged. The connection test runs on the
thread pool so the window stays responsive while the provider answers.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPushButton

from desktop.api import client as api_client
from desktop.api.credentials import KeyringUnavailableError, KeyStorage, KeyStore
from desktop.api.profiles import ProviderProfile
from desktop.api.redaction import Secret
from desktop.ui.common import palette
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext

log = logging.getLogger(__name__)

NO_KEY = "No key saved yet."
TEST_TIMEOUT_CAP_SECONDS = 15


def _note() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.MUTED};")
    return label


class KeySection(QObject):
    """The key field with its Forget button (``row``), the saved key's ``status``, the
    ``session_only`` choice, the ``keyring_note`` when there is no keyring, and the
    ``location`` line of "Where your data lives"."""

    #: The user typed in the key field or changed where the key is kept.
    edited = Signal()

    def __init__(self, keys: KeyStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.keys = keys
        self._applying = False
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setInputMethodHints(
            Qt.InputMethodHint.ImhHiddenText | Qt.InputMethodHint.ImhSensitiveData
        )
        self.status = _note()
        self.session_only = QCheckBox("Keep the key only until the app closes")
        self.keyring_note = _note()
        self.forget_button = QPushButton("Forget key")
        self.row = QHBoxLayout()
        self.row.addWidget(self.edit, 1)
        self.row.addWidget(self.forget_button)
        self.location = QLabel()
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.location.setWordWrap(True)
        self.edit.textEdited.connect(self.edited)
        self.session_only.toggled.connect(self._on_session_only)
        self.apply_keyring_status()

    def _on_session_only(self) -> None:
        if not self._applying:
            self.edited.emit()

    def typed(self) -> Secret | None:
        """The key in the field, if one was typed."""
        text = self.edit.text().strip()
        return Secret(text) if text else None

    def apply_keyring_status(self) -> None:
        """Say where keys are kept; without a keyring they can only be kept for the session."""
        status = self.keys.status
        self._applying = True
        if status.usable:
            self.keyring_note.clear()
            self.session_only.setEnabled(True)
            self.location.setText(f"In {status.backend_name}, never in a file.")
        else:
            self.keyring_note.setText(status.reason)
            self.session_only.setChecked(True)
            self.session_only.setEnabled(False)
            self.location.setText("Only in memory until the app closes: " + status.reason)
        self._applying = False

    def store_typed(self, profile_id: str) -> None:
        """Store the typed key for ``profile_id`` (if any) and clear the field."""
        key = self.typed()
        self.edit.clear()
        if key is not None:
            try:
                self.keys.set(profile_id, key, session_only=self.session_only.isChecked())
            except KeyringUnavailableError:
                self.keys.set(profile_id, key, session_only=True)
                self.apply_keyring_status()
            log.info("Key stored for provider profile %s", profile_id)
        self.show_status(profile_id)

    def show_status(self, profile_id: str | None) -> None:
        """Say whether ``profile_id`` (None: a profile not saved yet) has a key, and where."""
        where = KeyStorage.NONE if profile_id is None else self.keys.storage_of(profile_id)
        self.forget_button.setEnabled(where is not KeyStorage.NONE)
        self.status.setText(
            {
                KeyStorage.KEYRING: f"A key is saved in {self.keys.status.backend_name}. Type a"
                " new one to replace it.",
                KeyStorage.SESSION: "A key is held for this session only. Type a new one to"
                " replace it.",
                KeyStorage.NONE: NO_KEY,
            }[where]
        )

    def forget(self, profile_id: str | None) -> None:
        """Delete ``profile_id``'s key everywhere."""
        if profile_id is not None:
            self.keys.delete(profile_id)
            log.info("Key removed for provider profile %s", profile_id)
        self.show_status(profile_id)


class ConnectionTest(QObject):
    """The "Test connection" button and its ``result`` line (together: ``row``): one cheap
    call with the form's address and key; ``tested`` carries the ``ConnectionResult`` once
    the test is over."""

    tested = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Test connection")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.row = QHBoxLayout()
        self.row.addWidget(self.button)
        self.row.addWidget(self.result, 1)
        self._op: Op[api_client.ConnectionResult] | None = None
        self._last: api_client.ConnectionResult | None = None

    @property
    def running(self) -> bool:
        """Whether a test is still under way."""
        return self._op is not None

    def start(self, profile: ProviderProfile, key: Secret | None, timeout: float) -> None:
        """Test ``profile`` with ``key``, waiting ``timeout`` seconds at most (capped)."""
        timeout = min(timeout, TEST_TIMEOUT_CAP_SECONDS)

        def job(_context: JobContext) -> api_client.ConnectionResult:
            return api_client.test_connection(profile, key, timeout=timeout)

        self.button.setEnabled(False)
        self.result.setStyleSheet("")
        self.result.setText("Testing…")
        self._op = run_op(
            self,
            job,
            name="the connection test",
            success=self._on_tested,
            failure=self._on_failed,
            done=self._on_done,
        )

    def _on_tested(self, result: api_client.ConnectionResult) -> None:
        colour = palette.SUCCESS_STRONG if result.ok else palette.ERROR_TEXT
        self.result.setStyleSheet(f"color: {colour};")
        text = result.sentence
        if result.error is not None:
            # The advice is written for the other tabs; here the fields it names are above.
            step = result.error.next_step.replace(" in Settings", " above")
            text = f"{result.sentence} {step}"
        self.result.setText(text)
        log.info("Connection test: %s", result.sentence)
        self._last = result

    def _on_failed(self, message: str) -> None:
        self.result.setStyleSheet(f"color: {palette.ERROR_TEXT};")
        self.result.setText(message)

    def _on_done(self) -> None:
        self._op = None
        self.button.setEnabled(True)
        result, self._last = self._last, None
        if result is not None:
            self.tested.emit(result)

"""The settings dialog: profiles, keys, connection test off the UI thread, no key on disk."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtCore import QCoreApplication, Qt, QThreadPool
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from desktop.api.credentials import KeyStorage, KeyStore
from desktop.api.profiles import ProfileStore, ProviderKind, profile_from_template
from desktop.api.redaction import Secret
from desktop.core import locations
from desktop.ui.common.ops import Op
from desktop.ui.settings.settings_dialog import SettingsDialog
from tests.api.keyrings import MemoryKeyring, PlaintextFileKeyring, SecretServiceLike
from tests.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.gui

KEY = "sk-dialog-" + "test-key-7d3f9a2b4c6e8f0a1b2c"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "config")


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore(MemoryKeyring())


@pytest.fixture
def dialog(qtbot, store: ProfileStore, keys: KeyStore) -> Iterator[SettingsDialog]:
    widget = SettingsDialog(store, keys)
    qtbot.addWidget(widget)
    yield widget
    if widget.is_testing():
        qtbot.waitUntil(lambda: not widget.is_testing(), timeout=10_000)


def _add_compatible(dialog: SettingsDialog, server: FakeOpenAIServer, qtbot) -> None:
    dialog.add_from_template("compatible")
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "Test host")
    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, server.base_url)


def test_empty_store_invites_adding(dialog: SettingsDialog) -> None:
    assert dialog.profile_list.count() == 0
    assert not dialog.form_box.isEnabled()
    assert not dialog.remove_button.isEnabled()


def test_add_profile_from_template_and_save(
    dialog: SettingsDialog, store: ProfileStore, server: FakeOpenAIServer, qtbot
) -> None:
    changed: list[bool] = []
    dialog.profiles_changed.connect(lambda: changed.append(True))
    _add_compatible(dialog, server, qtbot)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    (profile,) = store.profiles
    assert (profile.display_name, profile.base_url) == ("Test host", server.base_url)
    assert profile.kind is ProviderKind.COMPATIBLE
    assert store.active_id == profile.id  # the first profile is used for jobs
    assert "(used for jobs)" in dialog.profile_list.item(0).text()
    assert changed


def test_azure_needs_a_resource_and_builds_the_address(
    dialog: SettingsDialog, store: ProfileStore, qtbot
) -> None:
    dialog.add_from_template("azure")
    assert dialog.url_edit.isReadOnly()
    assert not dialog.save()
    assert "resource" in dialog.form_error.text()
    assert store.profiles == ()
    qtbot.keyClicks(dialog.azure_edit, "my-res")
    assert dialog.url_edit.text() == "https://my-res.openai.azure.com/openai/v1/"
    assert dialog.save()
    assert store.profiles[0].base_url == "https://my-res.openai.azure.com/openai/v1/"


def test_local_presets_fill_the_address(dialog: SettingsDialog, store: ProfileStore) -> None:
    dialog.add_from_template("local")
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findText("LM Studio"))
    assert dialog.url_edit.text() == "http://localhost:1234/v1"
    assert dialog.save()
    assert store.profiles[0].capabilities.needs_key is False


def test_edit_switch_and_activate(qtbot, store: ProfileStore, keys: KeyStore) -> None:
    first = profile_from_template("openai")
    second = profile_from_template("local", preset="Ollama")
    store.add(first)
    store.add(second)
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    assert dialog.selected_id() == first.id
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "Renamed")
    dialog.select_profile(second.id)  # unsaved edits are saved when switching
    assert store.get(first.id).display_name == "Renamed"
    qtbot.mouseClick(dialog.activate_button, Qt.MouseButton.LeftButton)
    assert store.active_id == second.id
    assert not dialog.activate_button.isEnabled()


def test_invalid_edit_keeps_the_selection(qtbot, store: ProfileStore, keys: KeyStore) -> None:
    first = profile_from_template("compatible", base_url="https://a.example/v1")
    second = profile_from_template("openai")
    store.add(first)
    store.add(second)
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, "not a url")
    dialog.select_profile(second.id)
    assert dialog.selected_id() == first.id
    assert "http" in dialog.form_error.text()
    assert store.get(first.id).base_url == "https://a.example/v1"


def test_remove_asks_and_forgets_the_key(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_from_template("openai")
    store.add(profile)
    keys.set(profile.id, KEY)
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    dialog.remove_selected()
    assert profile.id in store
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.remove_selected()
    assert profile.id not in store
    assert keys.get(profile.id) is None
    assert dialog.profile_list.count() == 0


def test_key_is_masked_saved_to_keyring_and_cleared(
    dialog: SettingsDialog, keys: KeyStore, server: FakeOpenAIServer, qtbot
) -> None:
    from PySide6.QtWidgets import QLineEdit

    _add_compatible(dialog, server, qtbot)
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Password
    qtbot.keyClicks(dialog.key_edit, KEY)
    assert dialog.save()
    profile_id = dialog.selected_id()
    assert profile_id is not None
    assert keys.storage_of(profile_id) is KeyStorage.KEYRING
    assert keys.get(profile_id) == Secret(KEY)
    assert dialog.key_edit.text() == ""
    assert "system keyring" in dialog.key_status.text()
    qtbot.mouseClick(dialog.forget_key_button, Qt.MouseButton.LeftButton)
    assert keys.get(profile_id) is None


def test_without_keyring_keys_are_session_only(qtbot, store: ProfileStore) -> None:
    keys = KeyStore(fail.Keyring())
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    assert dialog.session_only.isChecked() and not dialog.session_only.isEnabled()
    assert "No system keyring" in dialog.where_labels["keys"].text()
    dialog.add_from_template("openai")
    qtbot.keyClicks(dialog.key_edit, KEY)
    assert dialog.save()
    profile_id = dialog.selected_id()
    assert profile_id is not None
    assert keys.storage_of(profile_id) is KeyStorage.SESSION
    assert "session only" in dialog.key_status.text()


def test_connection_test_runs_off_the_ui_thread(
    dialog: SettingsDialog, server: FakeOpenAIServer, qtbot
) -> None:
    _add_compatible(dialog, server, qtbot)
    qtbot.keyClicks(dialog.key_edit, KEY)
    server.inject("slow", path="/models", delay=0.5)
    with qtbot.waitSignal(dialog.connection_tested, timeout=10_000) as blocker:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        # the click returned at once: the UI is free while the provider is slow
        assert dialog.test_result.text() == "Testing…"
        assert not dialog.test_button.isEnabled()
    result = blocker.args[0]
    assert result.ok is True
    assert dialog.test_result.text().startswith("Connected to Test host:")
    assert dialog.test_button.isEnabled()
    assert server.requests_to("GET", "/models")[0].key_ok is True


def test_connection_test_with_a_wrong_key(
    dialog: SettingsDialog, server: FakeOpenAIServer, qtbot
) -> None:
    _add_compatible(dialog, server, qtbot)
    qtbot.keyClicks(dialog.key_edit, "sk-not-the-right-key-000000")
    with qtbot.waitSignal(dialog.connection_tested, timeout=10_000):
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert dialog.test_result.text().startswith("The provider did not accept the API key.")
    assert "sk-not-the-right-key" not in dialog.test_result.text()
    assert "Check the key above" in dialog.test_result.text()  # not "in Settings": it is here
    assert "Settings" not in dialog.test_result.text()


def test_connection_test_uses_the_saved_key_and_timeout(
    dialog: SettingsDialog, server: FakeOpenAIServer, qtbot
) -> None:
    _add_compatible(dialog, server, qtbot)
    qtbot.keyClicks(dialog.key_edit, KEY)
    dialog.timeout_spin.setValue(5)
    assert dialog.save()
    assert dialog.store.profiles[0].timeout_seconds == 5
    with qtbot.waitSignal(dialog.connection_tested, timeout=10_000) as blocker:
        dialog.test_connection()  # the key field is empty now: the stored key is used
    assert blocker.args[0].ok is True


def test_a_dialog_closed_during_the_connection_test_ends_it_safely(
    store: ProfileStore, keys: KeyStore, server: FakeOpenAIServer, qtbot
) -> None:
    dialog = SettingsDialog(store, keys)
    _add_compatible(dialog, server, qtbot)
    qtbot.keyClicks(dialog.key_edit, KEY)
    server.inject("slow", path="/models", delay=0.5)
    dialog.test_connection()
    assert dialog.is_testing()
    shiboken6.delete(dialog)  # the answer now has no label to go to
    gc.collect()
    assert QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.waitUntil(lambda: not _ops_named("the connection test"), timeout=5000)
    assert server.requests_to("GET", "/models")


def _ops_named(name: str) -> list[Op]:
    children = QCoreApplication.instance().children()
    return [child for child in children if isinstance(child, Op) and child.name == name]


def test_where_data_lives_is_shown(dialog: SettingsDialog, store: ProfileStore) -> None:
    texts = {key: label.text() for key, label in dialog.where_labels.items()}
    assert texts["profiles"] == str(store.path)
    assert texts["data"] == str(locations.data_dir())
    assert texts["config"] == str(locations.config_dir())
    assert "system keyring" in texts["keys"]


def test_entered_key_never_reaches_disk_or_log(
    qtbot, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    config = locations.config_dir()
    data = locations.data_dir()
    data.mkdir(parents=True, exist_ok=True)
    log_file = data / "finetune-studio.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    backend = MemoryKeyring()
    try:
        store = ProfileStore(config)
        dialog = SettingsDialog(store, KeyStore(backend))
        qtbot.addWidget(dialog)
        _add_compatible(dialog, server, qtbot)
        qtbot.keyClicks(dialog.key_edit, KEY)
        with qtbot.waitSignal(dialog.connection_tested, timeout=10_000):
            dialog.test_connection()
        assert dialog.save()
        with qtbot.waitSignal(dialog.connection_tested, timeout=10_000):
            dialog.test_connection()
        dialog.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    assert list(backend.entries.values()) == [KEY]  # it was stored, in the keyring
    assert store.path.is_file()
    log_text = log_file.read_text(encoding="utf-8")
    assert "Connection test: Connected" in log_text  # the log was really written
    scanned = 0
    needle = KEY.encode()
    for folder in {config, data, locations.cache_dir(), tmp_path}:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            if path.is_file():
                scanned += 1
                assert needle not in path.read_bytes(), f"the key leaked into {path}"
    assert scanned >= 2


# ---- unsaved edits on closing ----------------------------------------------------------------
def _answer(monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton) -> list[str]:
    """Answer the unsaved-changes question with ``button``; returns the questions asked."""
    asked: list[str] = []

    def question(_parent: object, _title: str, text: str, *_args: object) -> object:
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def _shown_with_an_edit(qtbot, store: ProfileStore, keys: KeyStore) -> SettingsDialog:
    store.add(profile_from_template("openai"))
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "Work account")
    return dialog


CLOSE_WAYS = {
    "escape": lambda qtbot, dialog: qtbot.keyClick(dialog, Qt.Key.Key_Escape),
    "close button": lambda qtbot, dialog: qtbot.mouseClick(
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close),
        Qt.MouseButton.LeftButton,
    ),
    "title bar": lambda qtbot, dialog: dialog.close(),
}


@pytest.mark.parametrize("close_way", CLOSE_WAYS)
def test_closing_with_unsaved_edits_asks_and_cancel_keeps_them(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch, close_way: str
) -> None:
    dialog = _shown_with_an_edit(qtbot, store, keys)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    CLOSE_WAYS[close_way](qtbot, dialog)
    assert len(asked) == 1 and "Work account" in asked[0]
    assert dialog.isVisible()  # still open, the edit still there
    assert dialog.name_edit.text() == "Work account"
    assert store.profiles[0].display_name == "OpenAI"


@pytest.mark.parametrize("close_way", CLOSE_WAYS)
def test_closing_with_unsaved_edits_can_save_them(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch, close_way: str
) -> None:
    dialog = _shown_with_an_edit(qtbot, store, keys)
    qtbot.keyClicks(dialog.key_edit, KEY)
    _answer(monkeypatch, QMessageBox.StandardButton.Save)
    CLOSE_WAYS[close_way](qtbot, dialog)
    assert not dialog.isVisible()
    (profile,) = store.profiles
    assert profile.display_name == "Work account"
    assert keys.get(profile.id) == Secret(KEY)


def test_closing_with_unsaved_edits_can_discard_them(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = _shown_with_an_edit(qtbot, store, keys)
    qtbot.keyClicks(dialog.key_edit, KEY)
    _answer(monkeypatch, QMessageBox.StandardButton.Discard)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    (profile,) = store.profiles
    assert profile.display_name == "OpenAI"
    assert keys.get(profile.id) is None
    assert dialog.key_edit.text() == ""


def test_a_save_that_fails_on_closing_keeps_the_window_open(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialog = _shown_with_an_edit(qtbot, store, keys)
    dialog.name_edit.clear()  # a profile needs a name
    qtbot.keyClicks(dialog.name_edit, " ")
    _answer(monkeypatch, QMessageBox.StandardButton.Save)
    dialog.close()
    assert dialog.isVisible()
    assert "name" in dialog.form_error.text()


def test_closing_without_edits_asks_nothing(
    qtbot, store: ProfileStore, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add(profile_from_template("openai"))
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    dialog.show()
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert asked == [] and not dialog.isVisible()


# ---- plain http ------------------------------------------------------------------------------
def test_plain_http_elsewhere_needs_explicit_permission(
    qtbot, dialog: SettingsDialog, store: ProfileStore
) -> None:
    dialog.add_from_template("compatible")
    assert dialog.allow_http.isHidden() and dialog.http_warning.isHidden()
    qtbot.keyClicks(dialog.url_edit, "http://192.0.2.2/v1")
    assert not dialog.allow_http.isHidden()
    assert "unencrypted" in dialog.http_warning.text()
    assert not dialog.save()
    assert "plain http" in dialog.form_error.text()
    assert store.profiles == ()
    dialog.test_connection()
    assert "plain http" in dialog.test_result.text() and not dialog.is_testing()

    dialog.allow_http.setChecked(True)
    assert dialog.save()
    (profile,) = store.profiles
    assert profile.allow_plain_http is True and not profile.plain_http_refused


def test_permission_is_for_one_address_and_https_needs_none(
    qtbot, store: ProfileStore, keys: KeyStore
) -> None:
    store.add(
        profile_from_template("compatible", base_url="http://192.0.2.2/v1", allow_plain_http=True)
    )
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    assert dialog.allow_http.isChecked() and not dialog.allow_http.isHidden()
    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, "http://198.51.100.7/v1")  # another computer
    assert not dialog.allow_http.isChecked()
    assert not dialog.save()
    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, "https://198.51.100.7/v1")
    assert dialog.allow_http.isHidden()
    assert dialog.save()
    assert store.profiles[0].allow_plain_http is False


def test_this_computer_over_http_needs_no_permission(
    dialog: SettingsDialog, store: ProfileStore
) -> None:
    dialog.add_from_template("local")
    assert dialog.url_edit.text() == "http://localhost:11434/v1"
    assert dialog.allow_http.isHidden()
    assert dialog.save()


# ---- the compatible endpoint starts empty ----------------------------------------------------
def test_a_compatible_endpoint_has_no_address_until_the_user_gives_one(
    qtbot, dialog: SettingsDialog, store: ProfileStore, keys: KeyStore
) -> None:
    dialog.add_from_template("compatible")
    assert dialog.url_edit.text() == ""
    assert "https://" in dialog.url_edit.placeholderText()
    qtbot.keyClicks(dialog.key_edit, KEY)  # a user who pastes only a key
    dialog.test_connection()
    assert not dialog.is_testing()  # nothing was sent anywhere
    assert "address" in dialog.test_result.text()
    assert not dialog.save()
    assert "address" in dialog.form_error.text()
    assert store.profiles == ()
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findText("Nebius Token Factory"))
    assert dialog.url_edit.text() == "https://api.tokenfactory.nebius.com/v1/"  # chosen by name


# ---- keyrings named plainly, files refused ---------------------------------------------------
def test_a_plaintext_file_keyring_is_not_offered_as_the_system_keyring(
    qtbot, store: ProfileStore
) -> None:
    backend = PlaintextFileKeyring()
    keys = KeyStore(backend)
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    assert dialog.session_only.isChecked() and not dialog.session_only.isEnabled()
    where = dialog.where_labels["keys"].text()
    assert "No system keyring" in where and "plain text file" in where
    dialog.add_from_template("openai")
    qtbot.keyClicks(dialog.key_edit, KEY)
    assert dialog.save()
    assert backend.entries == {}
    assert keys.storage_of(dialog.selected_id() or "") is KeyStorage.SESSION


def test_the_keyring_is_named_in_plain_words(qtbot, store: ProfileStore) -> None:
    keys = KeyStore(SecretServiceLike())
    dialog = SettingsDialog(store, keys)
    qtbot.addWidget(dialog)
    assert dialog.where_labels["keys"].text() == "In GNOME Keyring, never in a file."
    dialog.add_from_template("openai")
    qtbot.keyClicks(dialog.key_edit, KEY)
    assert dialog.save()
    assert dialog.key_status.text().startswith("A key is saved in GNOME Keyring.")


def _facts_dialog(qtbot, store: ProfileStore, keys: KeyStore) -> SettingsDialog:
    widget = SettingsDialog(store, keys, today=lambda: date(2026, 12, 4))
    qtbot.addWidget(widget)
    return widget


def test_each_provider_says_what_it_costs_what_you_get_and_until_when(qtbot, store, keys):
    openai = profile_from_template("openai")
    azure = profile_from_template("azure", azure_resource="contoso")
    together = profile_from_template("together")
    nebius = profile_from_template("nebius")
    compatible = profile_from_template("compatible", base_url="https://a.example/v1")
    for profile in (openai, azure, together, nebius, compatible):
        store.add(profile)
    dialog = _facts_dialog(qtbot, store, keys)

    dialog.select_profile(compatible.id)  # a service the app knows nothing more of
    facts = dialog.facts.text()
    assert "Download: Depends on the service: ask it." in facts
    assert "stays at" not in facts  # no claim the limits contradict

    dialog.select_profile(openai.id)
    facts = dialog.facts.text()
    assert dialog.facts.title() == "What you get with OpenAI"
    assert "No new training jobs after 2027-01-06" in facts
    assert "Trained models stop answering after 2027-01-14" in facts
    assert "Download: No: the trained model stays at OpenAI" in facts
    assert "Chat with it right away, billed per token" in facts
    assert "GPT-4.1 mini" in facts and "GPT-4.1 nano" not in facts  # shut down by then
    assert "per million trained tokens" in facts

    dialog.select_profile(azure.id)
    facts = dialog.facts.text()
    assert "No new training jobs after about 2027-04." in facts
    assert "stop answering after about 2027-10." in facts
    assert "You deploy the trained model yourself in Azure OpenAI's portal" in facts

    dialog.select_profile(together.id)
    facts = dialog.facts.text()
    assert "Together AI quotes the price of each job before it starts" in facts
    assert "Download: Yes: the trained adapter can be downloaded" in facts
    assert "must deploy the trained model before it answers" in facts
    assert "No end date has been announced." in facts
    assert "billed per minute" in facts  # from what the backend says it cannot avoid

    dialog.select_profile(nebius.id)  # a kind the dialog has no special case for
    facts = dialog.facts.text()
    assert "meta-llama/Meta-Llama-3.1-8B-Instruct" in facts
    assert dialog.kind_label.text() == "Nebius Token Factory"


def test_a_provider_being_added_is_described_before_it_is_saved(qtbot, store, keys):
    dialog = _facts_dialog(qtbot, store, keys)
    dialog.add_from_template("together")
    assert dialog.facts.title() == "What you get with Together AI"
    assert "quotes the price" in dialog.facts.text()
    dialog.add_from_template("local")
    assert "Not here: this profile is for chatting with models only." in dialog.facts.text()


def test_training_that_needs_no_account_is_not_said_to_be_billed(qtbot, store, keys):
    local = profile_from_template("this_computer", profile_id="local")
    store.add(local)
    dialog = _facts_dialog(qtbot, store, keys)
    dialog.select_profile(local.id)
    facts = dialog.facts.text()
    assert "Cost of training: Nothing is billed" in facts
    assert "Billed by" not in facts and "for your account" not in facts


def test_the_facts_are_never_cut_off_however_short_the_dialog(qtbot, store, keys):
    store.add(profile_from_template("openai"))
    dialog = _facts_dialog(qtbot, store, keys)
    dialog.resize(dialog.minimumSizeHint())  # as narrow and short as it goes
    dialog.show()
    qtbot.waitExposed(dialog)
    labels = list(dialog.facts.rows.values())
    assert len(labels) >= 6
    for label in labels:  # each wrapped text has all the lines it needs
        assert label.height() >= label.heightForWidth(label.width()), label.text()
    last = labels[-1]
    dialog.facts.scroll.ensureWidgetVisible(last)
    bottom = last.mapTo(dialog.facts.scroll.viewport(), last.rect().bottomLeft()).y()
    assert bottom < dialog.facts.scroll.viewport().height()  # and can be scrolled to

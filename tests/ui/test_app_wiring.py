"""The app as run_app builds it: the panels sit in their tabs and talk to one another."""

from __future__ import annotations

import keyring
import pytest
from PySide6.QtCore import QThreadPool

from desktop.api.profiles import profile_from_template
from desktop.app import build_app_window
from desktop.core.settings import SettingsStore
from desktop.ui.chat.chat_panel import ChatPanel
from desktop.ui.jobs.jobs_panel import JobsPanel
from desktop.ui.jobs.result_actions import Serving
from desktop.ui.main_window import sample_path
from tests.api.keyrings import MemoryKeyring


@pytest.fixture
def built(qtbot, tmp_path):
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    app_window = build_app_window(SettingsStore(tmp_path / "settings.json"))
    qtbot.addWidget(app_window.window)
    yield app_window
    app_window.shutdown()
    QThreadPool.globalInstance().waitForDone(5000)
    keyring.set_keyring(previous)


def tab(window, title):
    tabs = window.tabs
    return next(tabs.widget(i) for i in range(tabs.count()) if tabs.tabText(i) == title)


def test_jobs_and_chat_tabs_hold_the_real_panels(built):
    assert isinstance(tab(built.window, "Jobs"), JobsPanel)
    assert isinstance(tab(built.window, "Chat"), ChatPanel)
    assert [built.window.tabs.tabText(i) for i in range(built.window.tabs.count())] == [
        "Dataset",
        "Jobs",
        "Chat",
    ]
    assert built.notices == []


def test_the_window_cannot_be_made_smaller_than_its_pages_yet_fits_a_small_laptop(qtbot, built):
    window = built.window
    window.show()
    qtbot.waitExposed(window)
    needed = window.minimumSizeHint()  # every tab's page laid out without overlap
    smallest = window.minimumSize()
    assert smallest.width() >= needed.width() and smallest.height() >= needed.height()
    assert smallest.width() <= 1024 and smallest.height() <= 700  # 1024x768 less a panel


def test_a_chat_reply_becomes_an_undoable_example(built):
    window = built.window
    window.new_dataset()
    before = len(window.document.dataset)
    value = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    }
    built.chat.services.add_example(value)
    assert len(window.document.dataset) == before + 1
    assert window.document.dataset[-1].value == value
    window.document.undo_stack.undo()
    assert len(window.document.dataset) == before


def test_train_action_opens_the_wizard_on_the_jobs_tab(built, qtbot):
    window = built.window
    built.services.profiles.add(profile_from_template("openai"), make_active=True)
    window.open_sample()
    qtbot.waitUntil(lambda: not window.document.checking, timeout=10000)
    window.actions["train"].trigger()
    assert window.tabs.currentWidget() is built.jobs
    assert built.jobs.wizard is not None
    built.jobs.wizard.reject()


def test_the_wizard_trains_on_the_sample_by_its_name(built, qtbot):
    window = built.window
    built.services.profiles.add(profile_from_template("openai"), make_active=True)
    window.open_sample()
    qtbot.waitUntil(lambda: not window.document.checking, timeout=10000)
    window.actions["train"].trigger()
    wizard = built.jobs.wizard
    assert wizard is not None
    assert wizard.choose_page.data.name == "customer_support (sample).jsonl"
    wizard.reject()


def test_evaluation_dialogs_start_beside_the_open_dataset(built, qtbot, tmp_path):
    window = built.window
    path = tmp_path / "support" / "support.jsonl"
    path.parent.mkdir()
    path.write_bytes(sample_path().read_bytes())
    window.open_path(path)
    qtbot.waitUntil(lambda: not window.document.busy, timeout=10000)
    assert built.chat.evaluate.start_folder() == path.parent


def test_a_trained_model_opens_in_chat_with_its_jobs_profile_and_what_bills_stays_seen(
    built, qtbot
):
    store = built.services.profiles
    store.add(profile_from_template("openai", profile_id="first"))
    store.add(
        profile_from_template("openai", display_name="Second", profile_id="second"),
        make_active=True,
    )
    built.window.providers_changed.emit()
    model = "ft:gpt-4.1-mini-2025-04-14:org:bot:abc123"
    built.jobs.chat_with_model.emit("first", model)  # a job of the profile that is not active
    assert built.window.tabs.currentWidget() is built.chat
    picker = built.chat.chat.picker
    assert picker.profile_id() == "first" and picker.current().model_id == model

    running = Serving("first", "endpoint-1", model, "Billed for every minute it is up.")
    built.jobs.serving_changed.emit([running])
    banner = built.chat.serving_banner
    assert not banner.isHidden() and "Billed for every minute" in banner.texts()[0]
    problems: list[str] = []
    built.jobs.view.show_error = problems.append
    banner.stop_button("first", "endpoint-1").click()  # Stop in the Chat tab stops it
    assert ("first", "endpoint-1") in built.jobs.running.stopping
    qtbot.waitUntil(lambda: not built.jobs.running.stopping, timeout=10_000)
    assert problems and "could not be stopped" in problems[0]  # no key: said, still listed

"""One epochs choice, shared by the cost estimate and the training wizard, always showing the
number actually used; and Train right beside the estimate."""

from __future__ import annotations

import keyring
import pytest
from PySide6.QtCore import QThreadPool

from desktop.api.profiles import OPENAI_CAPABILITIES, ProviderKind, ProviderProfile
from desktop.app import build_app_window
from desktop.core.estimate import auto_epochs
from desktop.core.settings import SettingsStore
from tests.api.keyrings import MemoryKeyring
from tests.fake_openai import DEFAULT_TEST_KEY
from tests.fake_openai.samples import chat_jsonl
from tests.ui.conftest import wait_idle

pytestmark = pytest.mark.gui

#: Fourteen examples: the automatic rule trains them 7 times (100 // 14), not the usual 3.
EXAMPLES = 14


@pytest.fixture
def fourteen(tmp_path):
    path = tmp_path / "fourteen.jsonl"
    path.write_bytes(chat_jsonl(EXAMPLES))
    return path


def test_automatic_shows_the_epochs_it_uses_and_unticking_keeps_them(qtbot, window, fourteen):
    window.open_path(fourteen)
    wait_idle(qtbot, window)
    estimator = window.estimator
    assert auto_epochs(EXAMPLES) == 7
    assert estimator.auto_epochs.isChecked() and not estimator.epochs_spin.isEnabled()
    assert estimator.epochs_spin.value() == 7  # the greyed box shows what is used
    assert "× 7 epochs (automatic)" in estimator.values["billable"].text()
    with qtbot.waitSignal(estimator.epochs_selected) as chosen:
        estimator.auto_epochs.setChecked(False)
    assert chosen.args == [7]  # unticking keeps the number, it does not jump to 3
    assert estimator.epochs_spin.isEnabled() and estimator.epochs_spin.value() == 7
    assert window.document.analysis.epochs == 7
    assert "× 7 epochs" in estimator.values["billable"].text()


def test_the_estimate_has_a_train_button(qtbot, window, fourteen):
    window.open_path(fourteen)
    wait_idle(qtbot, window)
    button = window.estimator.train_button
    assert button.isVisible() and button.isEnabled() and button.toolTip()
    with qtbot.waitSignal(window.estimator.train_requested):
        button.click()


@pytest.fixture
def app(qtbot, tmp_path, fake_openai):
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    built = build_app_window(SettingsStore(tmp_path / "settings.json"))
    qtbot.addWidget(built.window)
    profile = ProviderProfile(
        id="fake",
        display_name="Fake OpenAI",
        kind=ProviderKind.OPENAI,
        base_url=fake_openai.base_url,
        capabilities=OPENAI_CAPABILITIES,
    )
    built.services.profiles.add(profile, make_active=True)
    built.services.keys.set(profile.id, DEFAULT_TEST_KEY)
    yield built
    if built.jobs.wizard is not None:
        built.jobs.wizard.reject()
    built.shutdown()
    QThreadPool.globalInstance().waitForDone(10_000)
    keyring.set_keyring(previous)


def test_the_wizard_starts_from_the_estimators_epochs_and_shares_changes(qtbot, app, fourteen):
    window = app.window
    window.open_path(fourteen)
    wait_idle(qtbot, window)
    estimator = window.estimator
    estimator.auto_epochs.setChecked(False)
    estimator.epochs_spin.setValue(2)
    assert window.document.analysis.epochs == 2
    window.actions["train"].trigger()
    wizard = app.jobs.wizard
    assert wizard is not None
    qtbot.waitUntil(lambda: wizard.choose_page.estimate is not None, timeout=10_000)
    assert (
        wizard.choose_page.settings_form.epochs.value() == 2
        and not wizard.choose_page.settings_form.epochs.auto.isChecked()
    )
    assert (
        wizard.choose_page.estimate.epochs == 2
        and "(2 epochs)" in wizard.choose_page.estimate_line.text()
    )

    wizard.choose_page.settings_form.epochs.spin.setValue(
        4
    )  # a change in the wizard is the estimator's choice too
    assert estimator.epochs == 4 and estimator.epochs_spin.value() == 4
    assert window.document.analysis.epochs == 4 and window.settings.epochs == 4

    wizard.choose_page.settings_form.epochs.auto.setChecked(
        True
    )  # back to automatic, in both places
    assert estimator.auto_epochs.isChecked() and window.document.analysis.epochs is None
    assert (
        wizard.choose_page.settings_form.epochs.spin.value() == 7 == estimator.epochs_spin.value()
    )
    qtbot.waitUntil(lambda: not wizard.choose_page.estimating, timeout=10_000)
    assert (
        wizard.choose_page.estimate.epochs == 7
        and "(7 epochs)" in wizard.choose_page.estimate_line.text()
    )

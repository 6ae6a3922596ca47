"""The training wizard's choices and checks: methods, limits, suffix rules, W&B, validation."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

from desktop.api.errors import ErrorKind
from desktop.api.profiles import (
    AZURE_CAPABILITIES,
    COMPATIBLE_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
)
from desktop.core.estimate import estimate_from_tokens
from desktop.core.tokens import counter_for_model
from desktop.ui.jobs.train_wizard import PAGE_REVIEW, PAGE_SETUP, TrainingData
from tests.fake_openai.samples import chat_jsonl, dpo_jsonl
from tests.ui.test_jobs_helpers import BASE, SAMPLE, jobs_harness, training_data

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with jobs_harness(qtbot, tmp_path) as harness:
        yield harness


def test_every_control_a_newcomer_may_not_know_has_a_tooltip(harness):
    wizard = harness.open_wizard(harness.panel())
    choose = wizard.choose_page
    chooser, examples, form = choose.chooser, choose.examples_box, choose.settings_form
    explained = {
        "profile_combo": chooser.profile_combo,
        "model_combo": chooser.model_combo,
        "method_combo": chooser.method_combo,
        "split_percent": examples.split_percent,
        "split_seed": examples.split_seed,
        "suffix": form.suffix,
        "seed": form.seed,
        "fixed_seed": form.fixed_seed,
        "wandb_box": form.wandb_box,
        "no_validation": examples.no_validation,
        "split_validation": examples.split_validation,
        "file_validation": examples.file_validation,
    }
    for name, control in explained.items():
        assert control.toolTip(), name
    names = [field.spec.name for field in form.parameter_form.fields()]
    assert names == ["n_epochs", "batch_size", "learning_rate_multiplier"]
    for field in form.parameter_form.fields():
        assert field.toolTip() and field.spin.toolTip() and field.auto.toolTip()
    assert "one pass over all your examples" in form.epochs.toolTip()
    assert "not billed" in examples.no_validation.toolTip()
    page = wizard.pages.widget(PAGE_SETUP)
    controls = [
        w
        for kind in (QComboBox, QAbstractSpinBox, QLineEdit, QAbstractButton)
        for w in page.findChildren(kind)
    ]
    obvious = (choose.cancel_button, choose.next_button)
    untold = [
        w.objectName() or type(w).__name__
        for w in controls
        if w.isVisible()
        and not w.toolTip()
        and w not in obvious
        and not isinstance(w.parent(), QAbstractSpinBox)  # a spin box's own text field
    ]
    assert untold == []


def test_models_come_from_the_provider_with_catalog_prices_and_dates(harness):
    harness.server.add_model("ft:gpt-4o-mini-2024-07-18:fake-org:older:abc123")
    wizard = harness.open_wizard(harness.panel())
    ids = [
        wizard.choose_page.chooser.model_combo.itemData(i)
        for i in range(wizard.choose_page.chooser.model_combo.count())
    ]
    assert "gpt-4o-mini" not in ids  # an alias the provider lists is not a trainable snapshot
    assert ids[-1] == "ft:gpt-4o-mini-2024-07-18:fake-org:older:abc123"  # train further
    assert wizard.choose_page.chooser.model_id == BASE
    assert "$5 per million tokens" in wizard.choose_page.chooser.model_note.text()
    assert "2027-01-14" in wizard.choose_page.chooser.model_note.text()
    items = wizard.choose_page.chooser.model_combo.model()
    nano = ids.index("gpt-4.1-nano-2025-04-14")  # shut down on 2026-10-23, before TODAY
    assert not items.item(nano).isEnabled()
    assert "shut down" in wizard.choose_page.chooser.model_combo.itemText(nano)
    wizard.choose_page.chooser.model_combo.setCurrentIndex(nano)  # chosen all the same
    assert "shut down on 2026-10-23" in wizard.choose_page.problem_note.text()
    assert not wizard.choose_page.next_button.isEnabled()  # on this page, not the next


def test_the_catalog_list_is_offered_when_the_provider_cannot_list(qtbot, harness):
    harness.server.inject("server_error", method="GET", path="/models", times=None)
    wizard = harness.panel().start_training(
        lambda: training_data(harness.catalog, SAMPLE.read_bytes())
    )
    qtbot.waitUntil(
        lambda: "Could not get" in wizard.choose_page.chooser.profile_note.text(), timeout=10_000
    )
    assert (
        "The provider had a problem on its side." in wizard.choose_page.chooser.profile_note.text()
    )
    assert (
        wizard.choose_page.chooser.model_combo.count() > 0
        and wizard.choose_page.chooser.model_id == BASE
    )


def test_the_estimate_matches_the_core_for_the_training_part(harness):
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.settings_form.epochs.set_value(4)
    harness.qtbot.waitUntil(
        lambda: wizard.choose_page.estimate is not None and wizard.choose_page.estimate.epochs == 4
    )
    counts = counter_for_model(BASE).count_many(list(wizard.choose_page.data.examples))
    expected = estimate_from_tokens(
        [counts[i] for i in wizard.choose_page.examples_box.training_indices()],
        harness.catalog.get(BASE),
        4,
    )
    assert (
        len(wizard.choose_page.examples_box.training_indices()) == 36
    )  # 10 % of 40 set aside, seed 42
    assert wizard.choose_page.estimate.billable_tokens_total == expected.billable_tokens_total
    wizard.go_to(PAGE_REVIEW)
    tokens, detail = wizard.review_page.tiles["tokens"]
    assert tokens.text() == f"{expected.billable_tokens_total:,}"
    assert "× 4" in detail.text()
    money = harness.settings.format_money(expected.estimated_cost_usd)
    assert wizard.review_page.tiles["cost"][0].text() == f"about {money}"
    assert wizard.review_page.start_button.text() == f"Start training (about {money})"
    assert "4 examples set aside for validation" in wizard.review_page.review_text.text()


def test_hyperparameters_and_wandb_are_sent_as_chosen(qtbot, harness):
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.settings_form.epochs.set_value(2)
    wizard.choose_page.settings_form.parameter_form.set_value("batch_size", 4)
    wizard.choose_page.settings_form.parameter_form.set_value("learning_rate_multiplier", 0.5)
    wizard.choose_page.examples_box.no_validation.setChecked(True)
    wizard.choose_page.settings_form.wandb_box.setChecked(True)
    assert "needs a project name" in wizard.choose_page.problem_note.text()
    assert not wizard.choose_page.next_button.isEnabled()
    wizard.choose_page.settings_form.wandb_project.setText("support")
    wizard.choose_page.settings_form.wandb_tags.setText("v2, " + "x" * 65)
    assert "at most 64 characters" in wizard.choose_page.problem_note.text()
    wizard.choose_page.settings_form.wandb_tags.setText("v2, bea")
    assert wizard.choose_page.next_button.isEnabled()
    harness.send(wizard)
    body = harness.server.requests_to("POST", "/fine_tuning/jobs")[0].json
    assert body["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert body["integrations"] == [
        {"type": "wandb", "wandb": {"project": "support", "tags": ["v2", "bea"]}}
    ]
    assert "validation_file" not in body
    assert len(harness.server.requests_to("POST", "/files")) == 1


def test_preference_data_uses_dpo_with_beta(harness):
    data = TrainingData("prefs.jsonl", training_data(harness.catalog, dpo_jsonl(20)).examples)
    wizard = harness.open_wizard(harness.panel(), data)
    assert wizard.choose_page.chooser.method == "dpo"
    supervised = wizard.choose_page.chooser.method_combo.findData("supervised")
    assert not wizard.choose_page.chooser.method_combo.model().item(supervised).isEnabled()
    assert wizard.choose_page.settings_form.parameter("beta").isVisible()
    wizard.choose_page.settings_form.parameter("beta").set_value(0.3)
    harness.send(wizard)
    body = harness.server.requests_to("POST", "/fine_tuning/jobs")[0].json
    assert body["method"]["type"] == "dpo"
    assert body["method"]["dpo"]["hyperparameters"] == {"beta": 0.3}


def test_chat_data_cannot_choose_dpo(harness):
    wizard = harness.open_wizard(harness.panel())
    dpo = wizard.choose_page.chooser.method_combo.findData("dpo")
    assert not wizard.choose_page.chooser.method_combo.model().item(dpo).isEnabled()
    assert "preferred and a non-preferred answer" in wizard.choose_page.chooser.method_note.text()
    assert wizard.choose_page.settings_form.parameter("beta") is None


def test_suffix_rules_follow_the_profile(harness):
    harness.profiles.add(
        ProviderProfile(
            id="azure",
            display_name="Azure OpenAI (res)",
            kind=ProviderKind.AZURE,
            base_url=harness.server.azure_base_url,
            capabilities=AZURE_CAPABILITIES,
        ),
        make_active=True,
    )
    harness.keys.set("azure", harness.server.api_key)
    wizard = harness.open_wizard(harness.panel())
    assert wizard.choose_page.chooser.profile.id == "azure"
    assert "deployed in Azure" in wizard.choose_page.chooser.profile_note.text()
    wizard.choose_page.settings_form.suffix.setText("bot.v2")
    assert (
        wizard.choose_page.settings_form.suffix_note.text()
        == "The suffix may not contain “.” for this provider."
    )
    assert not wizard.choose_page.next_button.isEnabled()
    wizard.choose_page.settings_form.suffix.setText("bot-v2")
    assert (
        wizard.choose_page.settings_form.suffix_note.text() == ""
        and wizard.choose_page.next_button.isEnabled()
    )
    assert wizard.choose_page.settings_form.suffix.maxLength() == 64


def test_a_validation_file_is_sent_as_it_is(qtbot, tmp_path, harness):
    path = tmp_path / "held-out.jsonl"
    path.write_bytes(chat_jsonl(10, topic="billing"))
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.choose_validation_file = lambda: path
    box = wizard.choose_page.examples_box
    box.file_validation.setChecked(True)
    assert box.validation_path.text() == str(path)
    qtbot.waitUntil(lambda: not box.validation_checking, timeout=10_000)
    assert box.validation_problem() is None
    assert len(wizard.choose_page.examples_box.training_indices()) == 40
    harness.send(wizard)
    contents = sorted(f.content for f in harness.server.state.files.values())
    assert chat_jsonl(10, topic="billing") in contents


def test_a_validation_file_that_check_refuses_is_refused_too(qtbot, tmp_path, harness):
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    path = tmp_path / "last-five.jsonl"
    path.write_bytes(b"".join(lines[-5:]))  # examples also trained on, and too few
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.choose_validation_file = lambda: path
    box = wizard.choose_page.examples_box
    box.file_validation.setChecked(True)
    assert "being checked" in wizard.choose_page.problem_note.text()
    assert not wizard.choose_page.next_button.isEnabled()
    qtbot.waitUntil(lambda: not box.validation_checking, timeout=10_000)
    said = wizard.choose_page.problem_note.text()
    assert said.startswith("The validation file cannot be used as it is: 6 problems")
    assert "Validation file: The file has 5 examples; OpenAI needs at least 10" in said
    assert "Line 36: This example also appears in the validation file (line 1)." in said
    assert "…and 1 more." in said
    assert not wizard.choose_page.next_button.isEnabled()
    wizard.go_to(PAGE_REVIEW)
    assert wizard.pages.currentIndex() == PAGE_SETUP
    assert wizard.review_page.blocked() == box.validation_problem()
    wizard.start()  # called directly too: nothing leaves the computer
    assert harness.server.requests_to("POST", "/files") == []
    box.split_validation.setChecked(True)  # another option: the file no longer matters
    assert box.validation_problem() is None
    assert wizard.choose_page.next_button.isEnabled()


def test_too_few_examples_after_the_split_is_refused(harness):
    data = training_data(harness.catalog, chat_jsonl(11))
    wizard = harness.open_wizard(harness.panel(), data)
    assert (
        wizard.choose_page.examples_box.no_validation.isChecked()
    )  # too small to split by default
    wizard.choose_page.examples_box.split_validation.setChecked(True)
    wizard.choose_page.examples_box.split_percent.setValue(20)
    assert "at least 10 examples" in wizard.choose_page.problem_note.text()
    wizard.go_to(PAGE_REVIEW)
    assert wizard.pages.currentIndex() == PAGE_SETUP


def test_no_profile_that_can_train_is_explained(qtbot, harness):
    harness.profiles.remove(harness.profiles.active_id)
    panel = harness.panel()
    assert "no provider profile that can train" in panel.status_line.text()
    wizard = panel.start_training(lambda: training_data(harness.catalog, SAMPLE.read_bytes()))
    assert "Add one in Settings" in wizard.choose_page.chooser.profile_note.text()
    assert not wizard.choose_page.next_button.isEnabled()


def test_a_provider_that_takes_no_more_jobs_offers_another_in_one_click(qtbot, harness):
    harness.profiles.add(
        ProviderProfile(
            id="other",
            display_name="Other host",
            kind=ProviderKind.COMPATIBLE,
            base_url=harness.server.base_url,
            capabilities=COMPATIBLE_CAPABILITIES,
        )
    )
    harness.keys.set("other", harness.server.api_key)
    harness.server.inject("training_not_available", method="POST", path="/fine_tuning/jobs")
    wizard = harness.open_wizard(harness.panel())
    wizard.choose_page.settings_form.epochs.set_value(2)
    wizard.choose_page.settings_form.suffix.setText("support-bot")
    harness.send(wizard)
    assert wizard.send_page.failure is not None
    assert wizard.send_page.failure.kind is ErrorKind.TRAINING_NOT_AVAILABLE
    assert wizard.send_page.elsewhere_box.isVisible()
    assert wizard.send_page.elsewhere_button.text() == "Train on Other host instead →"
    assert "shown before anything is sent" in wizard.send_page.elsewhere_note.text()

    wizard.send_page.elsewhere_button.click()  # one click: the same job, set up at the other provider
    qtbot.waitUntil(
        lambda: (
            wizard.pages.currentIndex() == PAGE_REVIEW and wizard.choose_page.estimate is not None
        ),
        timeout=10_000,
    )
    assert (
        wizard.choose_page.chooser.profile.id == "other"
        and "Other host" in wizard.review_page.review_headline.text()
    )
    assert (
        wizard.choose_page.settings_form.epochs.value() == 2
        and wizard.choose_page.settings_form.suffix.text() == "support-bot"
    )
    assert harness.server.state.jobs == {}  # nothing is sent before Start
    harness.send(wizard)
    assert wizard.send_page.started is not None, wizard.send_page.failure
    assert wizard.send_page.started.provider_id == "other"
    body = harness.server.requests_to("POST", "/fine_tuning/jobs")[-1].json
    assert body["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2}


def test_with_no_other_provider_the_refusal_says_where_training_still_works(harness):
    harness.server.inject("training_not_available", method="POST", path="/fine_tuning/jobs")
    wizard = harness.open_wizard(harness.panel())
    harness.send(wizard)
    assert (
        wizard.send_page.elsewhere_box.isVisible()
        and not wizard.send_page.elsewhere_button.isVisible()
    )
    assert "Together AI" in wizard.send_page.elsewhere_note.text()


def test_the_providers_last_days_are_said_before_choosing(harness):
    wizard = harness.open_wizard(harness.panel())  # 2026-11-22: 45 days before the end
    assert (
        "OpenAI takes new fine-tuning jobs only until 2027-01-06, and trained models stop "
        "answering on 2027-01-14." in wizard.choose_page.chooser.profile_note.text()
    )
    wizard.reject()
    later = harness.panel(today=lambda: date(2027, 1, 10))
    wizard = harness.open_wizard(later)
    assert (
        "OpenAI takes no new fine-tuning jobs since 2027-01-06"
        in wizard.choose_page.chooser.profile_note.text()
    )


def test_weights_and_biases_is_offered_where_the_provider_takes_it(harness):
    wizard = harness.open_wizard(harness.panel())
    assert wizard.choose_page.settings_form.wandb_box.isVisible()

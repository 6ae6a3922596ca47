"""The Chat page against the fake provider: streaming, stop, failures, legacy, examples."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QApplication

from desktop.api.credentials import KeyStore
from desktop.api.profiles import ProfileStore, profile_from_template
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.conversations import ConversationStore
from desktop.core.evaluation import EvalStore
from desktop.ui.chat.chat_panel import ChatPanel
from desktop.ui.chat.model_picker import ModelGroup
from tests.api.keyrings import MemoryKeyring
from tests.fake_openai.chat_control import ChatControlServer
from tests.ui.test_chat_helpers import FINE_TUNED, PROFILE, SYSTEM, archive_job, harness_for

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with harness_for(qtbot, tmp_path) as harness:
        yield harness


def send(qtbot, page, text: str) -> None:
    page.input.setPlainText(text)
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)


def test_the_fine_tuned_model_is_offered_first_with_its_name_and_date(harness):
    chat = harness.panel.chat
    entry = chat.entry
    assert entry is not None and entry.model_id == FINE_TUNED
    assert entry.group is ModelGroup.FINE_TUNED
    assert entry.label.startswith("support-bot · ")
    assert "Fine-tuned from gpt-4o-mini-2024-07-18" in chat.model_info.text()
    assert chat.system_edit.toPlainText() == SYSTEM  # the dataset's most common system message


def test_a_reply_streams_into_the_view_and_is_saved_with_tokens_and_cost(qtbot, harness):
    chat = harness.panel.chat
    harness.server.pause_streams(after_chunks=4)
    send(qtbot, chat, "How long does shipping take?")

    qtbot.waitUntil(lambda: chat.view.cards[-1].text == f"Echo from {FINE_TUNED}:", timeout=5000)
    assert chat.busy and chat.stop_button.isEnabled() and not chat.send_button.isEnabled()
    assert chat.input.isEnabled()
    chat.input.setPlainText("typing the next question while the reply streams")
    assert len(chat.conversation.messages) == 1  # the reply is saved only when complete

    harness.server.release()
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)

    reply = chat.conversation.messages[-1]
    assert reply.content == f"Echo from {FINE_TUNED}: How long does shipping take?"
    # The fake counts words: (9 + 3) + (5 + 3) + 3 prompt tokens, 8 reply words.
    assert (reply.tokens_in, reply.tokens_out) == (23, 8)
    assert reply.cost_usd == pytest.approx((23 * 0.30 + 8 * 1.20) / 1_000_000)
    card = chat.view.cards[-1]
    assert card.footer.text() == "23 tokens in · 8 out · $0.000017"
    assert chat.input.toPlainText() == "typing the next question while the reply streams"
    saved = harness.conversations.load(FINE_TUNED, chat.conversation.id)
    assert [m.role for m in saved.messages] == ["user", "assistant"]
    assert saved.system_prompt == SYSTEM
    sent = harness.server.requests_to("POST", "/chat/completions")[-1].json
    assert sent["messages"][0] == {"role": "system", "content": SYSTEM}
    assert sent["stream_options"] == {"include_usage": True}


def test_markdown_replies_render_code_in_a_monospace_block(qtbot, tmp_path):
    answer = "Run this:\n\n```python\nprint('hi')\n```\n\nThen **relax**."
    with harness_for(qtbot, tmp_path, script=lambda _m, _msgs: answer) as harness:
        chat = harness.panel.chat
        send(qtbot, chat, "code please")
        qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
        document = chat.view.cards[-1].body.document()
        assert document.toPlainText() == "Run this:\nprint('hi')\nThen relax."
        code_block = document.findBlockByNumber(1)
        assert code_block.text() == "print('hi')"
        assert code_block.blockFormat().background().color().name() == "#f1f3f4"
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
        assert code_block.begin().fragment().charFormat().fontFamilies() == [mono]


def test_stop_keeps_the_text_so_far(qtbot, harness):
    chat = harness.panel.chat
    harness.server.pause_streams(after_chunks=3)
    send(qtbot, chat, "Tell me everything")
    qtbot.waitUntil(lambda: chat.view.cards[-1].text == "Echo from", timeout=5000)

    qtbot.mouseClick(chat.stop_button, Qt.MouseButton.LeftButton)

    assert not chat.busy and chat.send_button.isEnabled()
    reply = chat.conversation.messages[-1]
    assert (reply.content, reply.finish_reason) == ("Echo from", "stopped")
    assert "stopped by you" in chat.view.cards[-1].footer.text()
    assert harness.conversations.load(FINE_TUNED, chat.conversation.id).messages[-1] == reply


def test_a_dropped_stream_keeps_the_partial_reply_and_offers_retry(qtbot, harness):
    chat = harness.panel.chat
    harness.server.inject("drop", path="/chat/completions", after_chunks=3)
    send(qtbot, chat, "Where is my order?")
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)

    reply = chat.conversation.messages[-1]
    assert (reply.content, reply.finish_reason) == ("Echo from", "interrupted")
    assert chat.notice.isVisible() and chat.notice.retry_button.isVisible()
    assert chat.notice.label.text().startswith(
        "The connection broke off before the reply was complete; the part that arrived is kept."
    )
    assert "Traceback" not in chat.notice.label.text()

    qtbot.mouseClick(chat.notice.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)
    assert [m.content for m in chat.conversation.messages] == [
        "Where is my order?",
        f"Echo from {FINE_TUNED}: Where is my order?",
    ]
    assert len(chat.view.cards) == 2 and not chat.notice.isVisible()


def test_a_model_trained_a_moment_ago_is_not_ready_and_can_be_retried(qtbot, harness):
    fresh = "ft:gpt-4o-mini-2024-07-18:fake-org:fresh:def67890"
    archive_job(harness.archive, fresh, time.time() - 60, job_id="ftjob-fresh")
    harness.panel.open_model(PROFILE, fresh)
    chat = harness.panel.chat
    assert chat.entry.model_id == fresh and chat.entry.created is not None

    send(qtbot, chat, "Hello?")
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)

    assert chat.notice.label.text().startswith("Your new model is not ready to answer yet.")
    assert chat.notice.retry_button.isVisible()
    assert [m.role for m in chat.conversation.messages] == ["user"]
    assert len(chat.view.cards) == 1  # no empty reply card left behind

    harness.server.add_model(fresh, owned_by="fake-org")
    qtbot.mouseClick(chat.notice.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)
    assert chat.conversation.messages[-1].content == f"Echo from {fresh}: Hello?"


def test_an_old_model_that_is_gone_is_shut_down_without_retry(qtbot, harness):
    old = "ft:gpt-4o-mini-2024-07-18:fake-org:old-bot:0ld0ld00"
    archive_job(harness.archive, old, time.time() - 90 * 86400, job_id="ftjob-old")
    harness.panel.open_model(PROFILE, old)
    chat = harness.panel.chat

    send(qtbot, chat, "Hello?")
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)

    assert chat.notice.label.text().startswith(
        "This model no longer answers: the provider has shut it down or it was deleted."
    )
    assert not chat.notice.retry_button.isVisible()


def test_regenerate_replaces_the_last_reply(qtbot, tmp_path):
    answers = iter(["First answer.", "Second answer."])
    with harness_for(qtbot, tmp_path, script=lambda _m, _msgs: next(answers)) as harness:
        chat = harness.panel.chat
        send(qtbot, chat, "Hi")
        qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
        qtbot.mouseClick(chat.view.cards[-1].buttons["regenerate"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: not chat.busy and chat.conversation.messages[-1].content == "Second answer.",
            timeout=5000,
        )
        assert [m.content for m in chat.conversation.messages] == ["Hi", "Second answer."]
        assert [c.text for c in chat.view.cards] == ["Hi", "Second answer."]


def test_copy_puts_the_reply_on_the_clipboard(qtbot, harness):
    chat = harness.panel.chat
    send(qtbot, chat, "Copy me")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    qtbot.mouseClick(chat.view.cards[-1].buttons["copy"], Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == f"Echo from {FINE_TUNED}: Copy me"


def test_a_reply_becomes_an_undoable_training_example_after_editing(qtbot, harness):
    chat = harness.panel.chat
    send(qtbot, chat, "Can I pause my subscription?")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    harness.reply_edit = lambda _reply: "Yes, for up to eight weeks."

    qtbot.mouseClick(chat.view.cards[-1].buttons["add_example"], Qt.MouseButton.LeftButton)

    expected = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Can I pause my subscription?"},
            {"role": "assistant", "content": "Yes, for up to eight weeks."},
        ]
    }
    assert harness.asked == [
        ("Can I pause my subscription?", f"Echo from {FINE_TUNED}: Can I pause my subscription?")
    ]
    assert harness.added == [expected]
    assert [r.value for r in harness.dataset] == [expected]
    harness.undo.undo()
    assert len(harness.dataset) == 0


def test_cancelling_the_edit_adds_nothing(qtbot, harness):
    chat = harness.panel.chat
    send(qtbot, chat, "Hi")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    harness.reply_edit = lambda _reply: None
    qtbot.mouseClick(chat.view.cards[-1].buttons["add_example"], Qt.MouseButton.LeftButton)
    assert harness.added == [] and len(harness.asked) == 1


def test_chats_are_kept_per_model_and_can_be_reopened_and_cleared(qtbot, harness):
    chat = harness.panel.chat
    send(qtbot, chat, "First chat")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    chat.new_chat()
    send(qtbot, chat, "Second chat")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    assert [chat.chat_list.item(i).text() for i in range(chat.chat_list.count())] == [
        "Second chat",
        "First chat",
    ]

    chat.chat_list.setCurrentRow(1)
    assert chat.view.cards[0].text == "First chat"

    chat.picker.select(PROFILE, "gpt-4o-mini-2024-07-18")
    assert chat.chat_list.count() == 0  # the base model has no chats yet

    chat.picker.select(PROFILE, FINE_TUNED)
    harness.confirm_answer = False
    qtbot.mouseClick(chat.clear_button, Qt.MouseButton.LeftButton)
    assert len(harness.conversations.list(FINE_TUNED).items) == 2
    harness.confirm_answer = True
    qtbot.mouseClick(chat.clear_button, Qt.MouseButton.LeftButton)
    assert harness.conversations.list(FINE_TUNED).items == []
    assert chat.chat_list.count() == 0 and chat.view.cards == []


def test_a_base_model_reply_says_its_cost_is_unknown(qtbot, harness):
    chat = harness.panel.chat
    chat.picker.select(PROFILE, "gpt-4o-mini-2024-07-18")
    send(qtbot, chat, "Hi")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)
    assert chat.conversation.messages[-1].cost_usd is None
    assert "cost unknown" in chat.view.cards[-1].footer.text()
    assert "cost per reply unknown" in chat.model_info.text()


def test_legacy_models_use_the_completions_endpoint_with_a_plain_prompt(qtbot, harness):
    legacy = "ft:davinci-002:fake-org:poems:leg4cy00"
    harness.server.add_model(legacy, owned_by="fake-org")
    harness.panel.open_model(PROFILE, legacy)
    chat = harness.panel.chat
    assert chat.entry.legacy and not chat.system_edit.isEnabled()

    send(qtbot, chat, "Roses are red,")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)

    sent = harness.server.requests_to("POST", "/completions")[-1].json
    assert sent["prompt"] == "Roses are red," and sent["model"] == legacy
    assert harness.server.requests_to("POST", "/chat/completions") == []
    reply = chat.conversation.messages[-1]
    assert reply.content == f" Echo from {legacy}: Roses are red,"
    assert reply.cost_usd == pytest.approx((3 * 12 + 6 * 12) / 1_000_000)

    qtbot.mouseClick(chat.view.cards[-1].buttons["add_example"], Qt.MouseButton.LeftButton)
    assert harness.added == [
        {"prompt": "Roses are red,", "completion": f" Echo from {legacy}: Roses are red,"}
    ]


def test_a_local_server_profile_works_without_a_key(qtbot, tmp_path):
    with ChatControlServer(api_key=None) as server:
        server.add_model("llama3.2:3b", owned_by="library")
        profiles = ProfileStore(tmp_path / "config")
        profiles.add(profile_from_template("local", base_url=server.base_url, profile_id="local"))
        keys = KeyStore(MemoryKeyring())
        panel = ChatPanel(
            profiles=profiles,
            keys=keys,
            catalog=Catalog.load(),
            conversations=ConversationStore(tmp_path / "chats"),
            evaluations=EvalStore(tmp_path / "evaluations"),
            archive=JobArchive(tmp_path / "archive"),
            dataset_records=list,
            add_example=lambda _value: None,
        )
        qtbot.addWidget(panel)
        panel.show()
        chat = panel.chat
        qtbot.waitUntil(lambda: chat.entry is not None, timeout=5000)
        entries = panel.directory.entries("local")
        assert {e.group for e in entries} == {ModelGroup.SERVER}
        chat.picker.select("local", "llama3.2:3b")

        send(qtbot, chat, "Hi")
        qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)

        assert not keys.has_key("local")
        reply = chat.conversation.messages[-1]
        assert reply.content == "Echo from llama3.2:3b: Hi"
        assert reply.cost_usd == 0.0  # nothing to pay on one's own computer
        sent = server.requests_to("POST", "/chat/completions")[-1].json
        assert "max_completion_tokens" not in sent
        panel.cancel_work()


def test_few_shot_chat_sends_the_examples_before_the_question(qtbot, harness):
    chat = harness.panel.chat
    harness.panel.services.run_dialog = lambda dialog: dialog.count.setValue(2) or True
    chat.try_few_shot()

    assert chat.entry.model_id == "gpt-4o-mini-2024-07-18"
    assert chat.view.has_examples
    send(qtbot, chat, "Do you sell gift cards?")
    qtbot.waitUntil(lambda: not chat.busy and len(chat.view.cards) == 2, timeout=5000)

    sent = harness.server.requests_to("POST", "/chat/completions")[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"] == "How long does shipping take?"
    assert chat.chat_list.item(0).text() == "Few-shot · Do you sell gift cards?"

    qtbot.mouseClick(chat.view.cards[-1].buttons["add_example"], Qt.MouseButton.LeftButton)
    assert [m["role"] for m in harness.added[0]["messages"]] == ["system", "user", "assistant"]


def test_without_a_key_the_list_falls_back_and_sending_says_what_to_do(qtbot, harness):
    harness.keys.delete(PROFILE)
    chat = harness.panel.chat
    harness.panel.directory.refresh(PROFILE)
    qtbot.waitUntil(lambda: not harness.panel.directory.loading(PROFILE), timeout=5000)

    assert chat.picker.status.text() == "⚠ There is no API key for this provider profile yet."
    assert "There is no API key" in chat.picker.status.toolTip()
    assert chat.entry.model_id == FINE_TUNED  # the archive still knows the fine-tune

    send(qtbot, chat, "Hello?")
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)
    assert chat.notice.label.text() == (
        "There is no API key for this provider profile yet. Enter the key in Settings."
    )
    assert not chat.notice.retry_button.isVisible()
    assert harness.server.requests_to("POST", "/chat/completions") == []


def test_opening_a_model_before_the_list_loaded_still_loads_the_list(qtbot, tmp_path):
    with harness_for(qtbot, tmp_path) as harness:
        directory = harness.panel.directory
        other = harness.profiles.get(PROFILE).with_changes(id="second", display_name="Second")
        harness.profiles.add(other)
        harness.keys.set("second", harness.server.api_key, session_only=True)
        directory.reload_profiles()

        harness.panel.open_model("second", FINE_TUNED)

        assert harness.panel.chat.entry.model_id == FINE_TUNED
        qtbot.waitUntil(lambda: not directory.loading("second"), timeout=5000)
        ids = [e.model_id for e in directory.entries("second")]
        assert ids[0] == FINE_TUNED and "gpt-4o-mini-2024-07-18" in ids


def test_opening_a_model_of_a_removed_profile_says_so(harness):
    harness.panel.open_model("gone", FINE_TUNED)
    chat = harness.panel.chat
    assert chat.notice.label.text().startswith("The provider profile of")
    assert chat.entry.profile_id == PROFILE


def _panel_without_models(qtbot, tmp_path, profiles: ProfileStore) -> ChatPanel:
    panel = ChatPanel(
        profiles=profiles,
        keys=KeyStore(MemoryKeyring()),
        catalog=Catalog.load(),
        conversations=ConversationStore(tmp_path / "chats"),
        evaluations=EvalStore(tmp_path / "evaluations"),
        archive=JobArchive(tmp_path / "archive"),
        dataset_records=list,
        add_example=lambda _value: None,
    )
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_enter_without_a_provider_says_what_to_do(qtbot, tmp_path):
    panel = _panel_without_models(qtbot, tmp_path, ProfileStore(tmp_path / "config"))
    chat = panel.chat
    assert chat.entry is None
    chat.input.setFocus()
    qtbot.keyClicks(chat.input, "Hello there")
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert chat.notice.isVisible()
    assert "add one in Settings" in chat.notice.label.text()
    assert chat.input.toPlainText() == "Hello there"  # nothing typed is lost
    assert chat.conversation is None and chat.view.cards == []
    panel.cancel_work()


def test_enter_with_a_provider_that_lists_no_model_says_what_to_do(qtbot, tmp_path):
    with ChatControlServer(api_key=None) as server:
        closed = server.base_url
    profiles = ProfileStore(tmp_path / "config")
    profiles.add(profile_from_template("local", base_url=closed, profile_id="local"))
    panel = _panel_without_models(qtbot, tmp_path, profiles)
    chat = panel.chat
    qtbot.waitUntil(lambda: not panel.directory.loading("local"), timeout=15_000)
    assert chat.entry is None
    chat.input.setPlainText("Hello")
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert chat.notice.isVisible()
    assert "no model to chat with" in chat.notice.label.text()
    assert chat.input.toPlainText() == "Hello"
    panel.cancel_work()

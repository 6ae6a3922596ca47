"""Compare two models side by side: parallel streams, ratings saved with both chats."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.core.conversations import Rating
from tests.ui.test_chat_helpers import BASE, FINE_TUNED, PROFILE, SYSTEM, harness_for

pytestmark = pytest.mark.gui


@pytest.fixture
def harness(qtbot, tmp_path):
    with harness_for(qtbot, tmp_path) as harness:
        harness.panel.tabs.setCurrentWidget(harness.panel.compare)
        yield harness


def ask(qtbot, page, text: str) -> None:
    page.input.setPlainText(text)
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)


def test_the_fine_tune_is_compared_with_its_base_model_by_default(harness):
    compare = harness.panel.compare
    compare.suggest(harness.panel.chat.entry)
    assert [s.picker.current().model_id for s in compare.sides] == [BASE, FINE_TUNED]


def test_both_replies_stream_at_the_same_time(qtbot, harness):
    compare = harness.panel.compare
    compare.set_models((PROFILE, BASE), (PROFILE, FINE_TUNED))
    harness.server.pause_streams(after_chunks=3)

    ask(qtbot, compare, "How long does shipping take?")

    # Both streams are halfway at once: neither waits for the other.
    qtbot.waitUntil(
        lambda: (
            [s.view.cards[-1].text for s in compare.sides] == ["Echo from", "Echo from"]
            and harness.server.waiting == 2
        ),
        timeout=5000,
    )
    assert compare.busy
    harness.server.release()
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)

    replies = [s.conversation.messages[-1] for s in compare.sides]
    assert [r.content for r in replies] == [
        f"Echo from {BASE}: How long does shipping take?",
        f"Echo from {FINE_TUNED}: How long does shipping take?",
    ]
    assert replies[0].cost_usd is None and replies[1].cost_usd is not None
    sent = harness.server.requests_to("POST", "/chat/completions")
    assert sorted(r.json["model"] for r in sent) == sorted([BASE, FINE_TUNED])
    assert all(r.json["messages"][0] == {"role": "system", "content": SYSTEM} for r in sent)


def test_marking_the_better_reply_is_saved_with_both_chats(qtbot, harness):
    compare = harness.panel.compare
    compare.set_models((PROFILE, BASE), (PROFILE, FINE_TUNED))
    ask(qtbot, compare, "Can I pause my subscription?")
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)
    ask(qtbot, compare, "For how long?")
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)
    base_side, tuned_side = compare.sides

    # Each model sees its own earlier reply.
    second = [r.json for r in harness.server.requests_to("POST", "/chat/completions")][-2:]
    assert {m["messages"][2]["content"].split(":")[0] for m in second} == {
        f"Echo from {BASE}",
        "Echo from ft",
    }

    qtbot.mouseClick(tuned_side.view.cards[-1].buttons["better"], Qt.MouseButton.LeftButton)

    shared_id = tuned_side.conversation.id
    assert base_side.conversation.id == shared_id
    tuned = harness.conversations.load(FINE_TUNED, shared_id)
    base = harness.conversations.load(BASE, shared_id)
    assert [m.rating for m in tuned.messages] == [None, None, None, Rating.BETTER]
    assert [m.rating for m in base.messages] == [None, None, None, Rating.WORSE]
    assert tuned_side.view.cards[-1].buttons["better"].isChecked()
    assert "✓ better" in tuned_side.view.cards[-1].title.text()

    qtbot.mouseClick(tuned_side.view.cards[-1].buttons["better"], Qt.MouseButton.LeftButton)
    assert harness.conversations.load(BASE, shared_id).messages[-1].rating is None
    assert harness.conversations.load(FINE_TUNED, shared_id).messages[-1].rating is None


def test_a_failure_on_one_side_is_named_and_retried_there_only(qtbot, harness):
    compare = harness.panel.compare
    gone = "ft:gpt-4o-mini-2024-07-18:fake-org:gone:90ne0000"
    compare.set_models((PROFILE, BASE), (PROFILE, gone))

    ask(qtbot, compare, "Hello")
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)

    assert compare.notice.label.text().startswith("Model B: The provider does not answer")
    assert [m.role for m in compare.sides[0].conversation.messages] == ["user", "assistant"]
    assert [m.role for m in compare.sides[1].conversation.messages] == ["user"]

    harness.server.add_model(gone, owned_by="fake-org")
    before = len(harness.server.requests_to("POST", "/chat/completions"))
    qtbot.mouseClick(compare.notice.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)
    retried = harness.server.requests_to("POST", "/chat/completions")[before:]
    assert [r.json["model"] for r in retried] == [gone]
    assert compare.sides[1].conversation.messages[-1].content == f"Echo from {gone}: Hello"


def test_a_compared_reply_can_become_an_example(qtbot, harness):
    compare = harness.panel.compare
    compare.set_models((PROFILE, BASE), (PROFILE, FINE_TUNED))
    ask(qtbot, compare, "Do you ship to Norway?")
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)
    harness.reply_edit = lambda _reply: "Not yet, sorry."

    qtbot.mouseClick(
        compare.sides[0].view.cards[-1].buttons["add_example"], Qt.MouseButton.LeftButton
    )

    assert [r.value for r in harness.dataset] == [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Do you ship to Norway?"},
                {"role": "assistant", "content": "Not yet, sorry."},
            ]
        }
    ]


def test_stop_ends_both_replies(qtbot, harness):
    compare = harness.panel.compare
    compare.set_models((PROFILE, BASE), (PROFILE, FINE_TUNED))
    harness.server.pause_streams(after_chunks=3)
    ask(qtbot, compare, "Tell me a long story")
    qtbot.waitUntil(lambda: harness.server.waiting == 2, timeout=5000)
    qtbot.waitUntil(
        lambda: all(s.view.cards[-1].text == "Echo from" for s in compare.sides), timeout=5000
    )

    qtbot.mouseClick(compare.stop_button, Qt.MouseButton.LeftButton)

    assert not compare.busy
    assert [s.conversation.messages[-1].content for s in compare.sides] == ["Echo from"] * 2


def test_choosing_another_model_starts_over_and_says_where_the_last_comparison_is(qtbot, harness):
    compare = harness.panel.compare
    compare.set_models((PROFILE, BASE), (PROFILE, FINE_TUNED))
    ask(qtbot, compare, "Can I pause my subscription?")
    qtbot.waitUntil(lambda: not compare.busy, timeout=5000)
    shared_id = compare.sides[1].conversation.id
    compare.sides[0].picker.select(PROFILE, FINE_TUNED)  # another model on side A
    assert all(not side.view.cards for side in compare.sides)  # a new comparison
    assert compare.notice.isVisibleTo(compare)
    assert "kept in each model's chats" in compare.notice.label.text()
    assert harness.conversations.load(BASE, shared_id).messages  # and so it is

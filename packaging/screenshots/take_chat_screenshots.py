"""Reproduce chat.png, compare.png and evaluate.png in this folder from a real window under X.

Run from the repository root (needs Xvfb and ImageMagick's ``import``):

    xvfb-run -a -s "-screen 0 1440x900x24" python packaging/screenshots/take_chat_screenshots.py

The chat panel talks to the local fake provider (``tests/fake_openai``), which answers with
scripted replies: the fine-tuned "bea-support" model in the sample dataset's voice, the base
model with the generic answers an untrained model gives. Every reply really streams through
the app, and the evaluation really runs, scores and sums up the sample dataset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

PROFILE = "openai"
BASE = "gpt-4o-mini-2024-07-18"
TUNED = f"ft:{BASE}:fernhill:bea-support:9xK2mQ7L"

CHAT = [
    (
        "Hi! My subscription coffee is always the same Brazil. Can I get some variety?",
        "Of course! Switch your plan to **Roaster's Choice** under *Account → Subscriptions* "
        "and you'll get a different single origin every delivery. A few favourites our "
        "subscribers love right now:\n\n"
        "- **Ethiopia Yirgacheffe**: light and floral, jasmine and lemon\n"
        "- **Colombia Huila**: caramel and red apple, very balanced\n"
        "- **Kenya Nyeri**: juicy blackcurrant, bright and bold\n\n"
        "The change applies from your next delivery. Anything else I can help with?",
    ),
    (
        "Nice. Can I get my past orders as a spreadsheet? I track my coffee spending.",
        "Yes! Under *Account → Orders* click **Export** to download a CSV of every order. "
        "If you'd rather fetch it automatically, your account's API key works with:\n\n"
        "```bash\n"
        "curl https://api.fernhill.example/v1/orders \\\n"
        '  -H "Authorization: Bearer $FERNHILL_KEY" \\\n'
        "  -o orders.csv\n"
        "```\n\n"
        "The file lists the date, the coffees, the price and the delivery address of each "
        "order.",
    ),
]
OLDER_CHATS = [
    "Do you ship to Switzerland?",
    "Is your decaf made with chemicals?",
    "Can I visit the roastery?",
]
COMPARE = [
    "My beans arrived but the bag was torn open.",
    "Can I pause my subscription while I'm on holiday?",
]
GENERIC = {
    "My beans arrived but the bag was torn open.": (
        "I'm sorry to hear that your package arrived damaged. Here are some steps you can "
        "take:\n\n1. **Take photos** of the damaged packaging and the product.\n"
        "2. **Contact the seller or retailer** where you bought the coffee and explain the "
        "issue.\n3. **Check the return policy**: many companies offer a replacement or a "
        "refund for items damaged in transit.\n\nIf the beans were exposed to air for a long "
        "time they may have lost some freshness, so it's reasonable to ask for a replacement."
    ),
    "Can I pause my subscription while I'm on holiday?": (
        "Many coffee subscription services let you pause or skip deliveries. I don't have "
        "access to your account, but usually you can log in to the company's website, go to "
        'your subscription settings and look for an option such as "Pause" or "Skip next '
        "delivery\". If you can't find it, contacting their customer service should help."
    ),
}


def sample_records() -> list[dict[str, Any]]:
    """The bundled sample dataset's examples."""
    path = ROOT / "resources" / "samples" / "customer_support.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def make_script(examples: list[dict[str, Any]]) -> Callable[[str, Sequence[Mapping]], str]:
    """Replies for the fake server: Bea's voice for the fine-tune, generic ones otherwise."""
    reference = {}
    for example in examples:
        messages = example["messages"]
        for asked, answered in pairwise(messages):
            if asked["role"] == "user" and answered["role"] == "assistant":
                reference.setdefault(asked["content"], answered["content"])
    chat = dict(CHAT)
    # A fine-tune is close to its data, not a copy of it: reword a few answers.
    reworded = {
        "Do you offer gift cards?": (
            "Yes! Digital gift cards from €15 to €150 are on our Gifts page, delivered by "
            "email, and they never expire."
        ),
        "How should I store the beans?": (
            "Keep them in their bag, closed tightly, somewhere cool and dark. Skip the fridge: "
            "moisture spoils the flavour."
        ),
        "Where is my order? It's been a week.": (
            "I'm sorry it's taking so long! Could you send me your order number? I'll check "
            "where your parcel is right away."
        ),
    }

    def script(model: str, messages: Sequence[Mapping]) -> str:
        question = str(messages[-1].get("content", ""))
        if model == TUNED:
            if question in chat:
                return chat[question]
            if question in reworded:
                return reworded[question]
            if question in reference:
                answer = reference[question]
                if len(question) % 3 == 0:
                    # Close to the data, not a copy: keep the first two sentences.
                    answer = ". ".join(answer.split(". ")[:2]).rstrip(".") + "."
                return answer
            return "Happy to help! Could you tell me a little more so I can check?"
        if question in GENERIC:
            return GENERIC[question]
        return (
            "Thanks for your question! I'm an AI assistant, so I don't have access to this "
            "shop's orders, prices or policies and can't answer that for certain. Please check "
            "the company's website or contact its customer service team for accurate details."
        )

    return script


def main() -> int:
    """Take chat.png, compare.png and evaluate.png."""
    home = Path(tempfile.mkdtemp(prefix="ft-chat-shots-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import OPENAI_CAPABILITIES, ProfileStore, ProviderKind
    from desktop.api.profiles import ProviderProfile as Profile
    from desktop.core.archive import JobArchive
    from desktop.core.catalog import Catalog
    from desktop.core.conversations import ConversationStore
    from desktop.core.evaluation import EvalStore, Thumb
    from desktop.core.jsonl_io import read_jsonl_bytes
    from desktop.ui.chat.chat_panel import ChatPanel
    from tests.api.keyrings import MemoryKeyring
    from tests.fake_openai.chat_control import ChatControlServer

    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Fine-Tune Studio")

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(test: Callable[[], bool], timeout_ms: int = 20_000) -> None:
        waited = 0
        while not test() and waited < timeout_ms:
            wait(50)
            waited += 50
        if not test():
            raise RuntimeError("timed out waiting for the panel")

    def shoot(name: str) -> None:
        wait(600)
        target = HERE / name
        subprocess.run(["import", "-window", "root", str(target)], check=True)
        print("wrote", target)

    examples = sample_records()
    server = ChatControlServer(
        script=make_script(examples), answer_delay=0.5, chunk_delay=0.01
    ).start()
    finished = int(time.time()) - 2 * 86400
    server.add_model(TUNED, owned_by="fernhill", created=finished)
    profiles = ProfileStore(home / "config")
    profiles.add(
        Profile(
            id=PROFILE,
            display_name="OpenAI",
            kind=ProviderKind.OPENAI,
            base_url=server.base_url,
            capabilities=OPENAI_CAPABILITIES,
        )
    )
    keys = KeyStore(MemoryKeyring())
    keys.set(PROFILE, server.api_key or "", session_only=True)
    archive = JobArchive(home / "data")
    archive.save_job(
        PROFILE,
        {
            "id": "ftjob-bea01",
            "status": "succeeded",
            "model": BASE,
            "fine_tuned_model": TUNED,
            "created_at": finished - 1800,
            "finished_at": finished,
        },
    )
    source = ROOT / "resources" / "samples" / "customer_support.jsonl"
    dataset = read_jsonl_bytes(source.read_bytes())
    panel = ChatPanel(
        profiles=profiles,
        keys=keys,
        catalog=Catalog.load(),
        conversations=ConversationStore(home / "data" / "chats"),
        evaluations=EvalStore(home / "data" / "evaluations"),
        archive=archive,
        dataset_records=lambda: list(dataset),
        add_example=lambda _value: None,
    )
    panel.setWindowTitle("Fine-Tune Studio — Chat")
    screen = app.primaryScreen().availableGeometry()
    panel.setGeometry(screen)
    panel.show()
    chat = panel.chat
    wait_until(lambda: chat.entry is not None and chat.entry.model_id == TUNED)

    def say(page: Any, text: str) -> None:
        page.input.setPlainText(text)
        page.send()
        wait_until(lambda: not page.busy)

    for question in OLDER_CHATS:
        chat.new_chat()
        say(chat, question)
    chat.new_chat()
    for question, _answer in CHAT:
        say(chat, question)
    chat.input.setPlainText("Perfect, thank you!")
    shoot("chat.png")
    chat.input.clear()

    panel.tabs.setCurrentWidget(panel.compare)
    compare = panel.compare
    wait_until(lambda: compare.sides[1].picker.current() is not None)
    compare.set_models((PROFILE, BASE), (PROFILE, TUNED))
    for question in COMPARE:
        compare.input.setPlainText(question)
        compare.send()
        wait_until(lambda: not compare.busy)
    tuned_side = compare.sides[1]
    for index, message in enumerate(tuned_side.conversation.messages):
        if message.role == "assistant":
            compare.mark_better(tuned_side, index)
    shoot("compare.png")

    panel.tabs.setCurrentWidget(panel.evaluate)
    evaluate = panel.evaluate
    evaluate.sample_size.setValue(12)
    evaluate.picker_a.select(PROFILE, BASE)
    evaluate.compare_box.setChecked(True)
    evaluate.picker_b.select(PROFILE, TUNED)
    evaluate.update_estimate()
    evaluate.start()
    wait_until(lambda: not evaluate.running)
    run = evaluate.run
    assert run is not None
    for item in run.items[:5]:
        evaluate.rate(item.id, TUNED, Thumb.UP)
    evaluate.rate(run.items[0].id, BASE, Thumb.DOWN)
    evaluate.results_table.selectRow(0)
    shoot("evaluate.png")

    panel.cancel_work()
    panel.close()
    QThreadPool.globalInstance().waitForDone()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A chat panel wired to the fake provider, shared by the chat, compare and evaluation tests.

The panel gets real stores in a temporary folder, a session-only key, a small dataset for the
system prompt and samples, and an ``add_example`` that pushes an undoable insert onto a real
``QUndoStack``, exactly as the main window will. Dialogs answer from fields of the harness.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QUndoStack

from desktop.api.credentials import KeyStore
from desktop.api.profiles import OPENAI_CAPABILITIES, ProfileStore, ProviderKind, ProviderProfile
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.conversations import ConversationStore
from desktop.core.dataset import Dataset
from desktop.core.evaluation import EvalStore
from desktop.ui.chat.chat_panel import ChatPanel
from desktop.ui.dataset.commands import InsertRecordsCommand
from tests.api.keyrings import MemoryKeyring
from tests.fake_openai.chat_control import ChatControlServer, Script

PROFILE = "fake"
BASE = "gpt-4o-mini-2024-07-18"
FINE_TUNED = f"ft:{BASE}:fake-org:support-bot:abc12345"
SYSTEM = "You are Bea, the support assistant of Fernhill Coffee."

QUESTIONS = [
    ("How long does shipping take?", "Two to four working days."),
    ("Can I pause my subscription?", "Yes, for up to eight weeks."),
    ("Is the decaf chemical-free?", "Yes, it uses the Swiss Water process."),
    ("Do you ship to Norway?", "Not yet, sorry."),
]


def sample_examples() -> list[dict[str, Any]]:
    """Four support chats with the same system message."""
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for question, answer in QUESTIONS
    ]


def archive_job(
    archive: JobArchive, model: str, finished: float, *, base: str = BASE, job_id: str = "ftjob-1"
) -> None:
    """Record a succeeded job that made ``model`` at ``finished`` (seconds since the epoch)."""
    archive.save_job(
        PROFILE,
        {
            "id": job_id,
            "status": "succeeded",
            "model": base,
            "fine_tuned_model": model,
            "created_at": int(finished) - 600,
            "finished_at": int(finished),
        },
    )


class Harness:
    """The panel, its server and stores, and what the dialogs and the dataset received."""

    def __init__(self, qtbot: Any, tmp_path: Path, script: Script | None = None) -> None:
        self.server = ChatControlServer(script=script).start()
        self.server.add_model(FINE_TUNED, owned_by="fake-org", created=int(time.time()) - 7200)
        self.profiles = ProfileStore(tmp_path / "config")
        self.profiles.add(
            ProviderProfile(
                id=PROFILE,
                display_name="OpenAI (fake)",
                kind=ProviderKind.OPENAI,
                base_url=self.server.base_url,
                capabilities=OPENAI_CAPABILITIES,
            )
        )
        self.keys = KeyStore(MemoryKeyring())
        self.keys.set(PROFILE, self.server.api_key or "", session_only=True)
        self.archive = JobArchive(tmp_path / "archive")
        archive_job(self.archive, FINE_TUNED, time.time() - 7200)
        self.conversations = ConversationStore(tmp_path / "chats")
        self.evaluations = EvalStore(tmp_path / "evaluations")
        self.source = Dataset()
        for value in sample_examples():
            self.source.append_value(value)
        self.dataset = Dataset()
        self.undo = QUndoStack()
        self.added: list[dict[str, Any]] = []
        self.reply_edit: Callable[[str], str | None] = lambda reply: reply
        self.asked: list[tuple[str, str]] = []
        self.confirm_answer = True
        self.notes: list[str] = []
        self.panel = ChatPanel(
            profiles=self.profiles,
            keys=self.keys,
            catalog=Catalog.load(),
            conversations=self.conversations,
            evaluations=self.evaluations,
            archive=self.archive,
            dataset_records=lambda: list(self.source),
            add_example=self.add_example,
        )
        qtbot.addWidget(self.panel)
        self.panel.services.edit_reply = self._edit_reply
        self.panel.services.confirm = lambda _parent, _title, _text: self.confirm_answer
        self.panel.status_message.connect(self.notes.append)
        self.panel.resize(1300, 800)
        self.panel.show()
        qtbot.waitUntil(lambda: self.panel.chat.entry is not None, timeout=5000)

    def add_example(self, value: dict[str, Any]) -> None:
        """What the main window does: one undoable insert at the end of the dataset."""
        self.added.append(value)
        record = self.dataset.make_record(value)
        self.undo.push(
            InsertRecordsCommand(self.dataset, [(len(self.dataset), record)], "Add example")
        )

    def _edit_reply(self, _parent: object, question: str, reply: str) -> str | None:
        self.asked.append((question, reply))
        return self.reply_edit(reply)

    def close(self) -> None:
        """Stop everything the panel started and the server."""
        self.panel.cancel_work()
        self.server.stop()
        assert QThreadPool.globalInstance().waitForDone(10_000)


@contextmanager
def harness_for(qtbot: Any, tmp_path: Path, script: Script | None = None) -> Iterator[Harness]:
    """A started harness, closed afterwards."""
    harness = Harness(qtbot, tmp_path, script)
    try:
        yield harness
    finally:
        harness.close()

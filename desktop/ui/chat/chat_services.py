"""What the chat, compare and evaluation pages share: stores, keys, the model directory, the
open dataset and the dialogs, built once by the chat panel (tests replace the dialogs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.api.credentials import KeyStore
from desktop.core.catalog import Catalog
from desktop.core.conversations import ConversationStore
from desktop.core.dataset import Record
from desktop.core.evaluation import EvalStore

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog, QWidget

    from desktop.ui.chat.model_picker import ModelDirectory

#: How many of the dataset's first examples suggestions look at (system prompt, few-shot).
SUGGESTION_EXAMPLES = 2000
#: Said after a reply was added to the dataset as an example.
ADDED_NOTE = "Added to the open dataset as a new example; Edit → Undo takes it out again."


#: Shows the reply-edit dialog: (parent, question, reply) -> the edited reply, None to cancel.
EditReply = Callable[["QWidget", str, str], "str | None"]
#: Asks a yes/no question: (parent, title, text) -> True for yes.
Confirm = Callable[["QWidget", str, str], bool]
#: Runs a dialog modally: True when the user accepted it.
RunDialog = Callable[["QDialog"], bool]


@dataclass
class ChatServices:
    """What the chat, compare and evaluation pages share; the panel builds it once.

    ``edit_reply``, ``confirm`` and ``run_dialog`` open dialogs; tests replace them.
    """

    directory: ModelDirectory
    keys: KeyStore
    catalog: Catalog
    conversations: ConversationStore
    evaluations: EvalStore
    dataset_records: Callable[[], Sequence[Record]]
    add_example: Callable[[dict[str, Any]], None]
    edit_reply: EditReply
    confirm: Confirm
    run_dialog: RunDialog
    notify: Callable[[str], None]
    clock: Callable[[], float] = time.time

    def dataset_examples(self, limit: int | None = None) -> list[Any]:
        """The open dataset's examples as plain values (blank and broken lines left out).

        ``limit`` reads only the first examples, for suggestions that a huge file must not
        slow down (the usual system message, few-shot candidates).
        """
        examples = []
        for record in self.dataset_records():
            if limit is not None and len(examples) >= limit:
                break
            if record.is_example:
                examples.append(record.value)
        return examples

    def offer_example(self, parent: QWidget, value: dict[str, Any], question: str) -> bool:
        """Let the user edit the final reply of ``value``, then add it to the dataset.

        ``value`` is a chat example ending with the reply (``messages``) or a legacy
        ``prompt``/``completion`` pair. Returns True when it was added.
        """
        legacy = "completion" in value
        reply = value["completion"] if legacy else value["messages"][-1]["content"]
        edited = self.edit_reply(parent, question, reply)
        if edited is None:
            return False
        if not edited.strip():
            self.notify("The reply is empty, so nothing was added to the dataset.")
            return False
        if legacy:
            value = {**value, "completion": edited}
        else:
            messages = [*value["messages"][:-1], {"role": "assistant", "content": edited}]
            value = {**value, "messages": messages}
        self.add_example(value)
        self.notify(ADDED_NOTE)
        return True

"""Undo commands for every edit of a dataset.

Commands keep the old and new immutable ``Record`` objects (the core returns the old record
from every edit), so an undo puts back the original record, bytes and all: undoing every edit
of a file and saving writes the file exactly as it was read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from PySide6.QtGui import QUndoCommand

from desktop.core.dataset import Dataset, Record, with_text, with_value
from desktop.ui.common.workers import release_in_background

#: Typing pauses longer than this (seconds) start a new undo step.
BURST_SECONDS = 2.0

#: Command id shared by edits that may merge (QUndoCommand.id()).
_EDIT_ID = 1001
#: The old and the new record of an (old, new) pair, taken in C from 100,000 pairs.
_first = itemgetter(0)
_second = itemgetter(1)


class ReplaceRecordsCommand(QUndoCommand):
    """Replace records wholesale (one undo step, however many records)."""

    def __init__(self, dataset: Dataset, pairs: Iterable[tuple[Record, Record]], text: str) -> None:
        super().__init__(text)
        self._dataset = dataset
        self._pairs = list(pairs)

    @property
    def count(self) -> int:
        """How many records the command changes."""
        return len(self._pairs)

    def redo(self) -> None:
        self._dataset.put_many(list(map(_second, self._pairs)))

    def undo(self) -> None:
        self._dataset.put_many(list(map(_first, self._pairs)))

    def __del__(self) -> None:
        # A discarded bulk change can be the last holder of 100,000 examples.
        release_in_background(self._pairs)


class EditRecordCommand(QUndoCommand):
    """One edit of one example; consecutive edits of the same field merge while typing."""

    def __init__(
        self,
        dataset: Dataset,
        old: Record,
        new: Record,
        text: str,
        merge_key: object = None,
    ) -> None:
        super().__init__(text)
        self._dataset = dataset
        self.old = old
        self.new = new
        self.merge_key = merge_key
        self._last_time = time.monotonic()

    @classmethod
    def set_value(
        cls, dataset: Dataset, record_id: int, value: Any, text: str, merge_key: object = None
    ) -> EditRecordCommand:
        """Plan replacing one record's example with ``value``."""
        old = dataset.record(record_id)
        return cls(dataset, old, with_value(old, value), text, merge_key)

    @classmethod
    def set_text(
        cls, dataset: Dataset, record_id: int, text: str, label: str, merge_key: object = None
    ) -> EditRecordCommand:
        """Plan replacing one record with typed line text (repairs of damaged lines)."""
        old = dataset.record(record_id)
        return cls(dataset, old, with_text(old, text), label, merge_key)

    def id(self) -> int:
        return _EDIT_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditRecordCommand):
            return False
        if other.merge_key != self.merge_key or other.old is not self.new:
            return False
        if other._last_time - self._last_time > BURST_SECONDS:
            return False
        self.new = other.new
        self._last_time = other._last_time
        return True

    def redo(self) -> None:
        self._dataset.put(self.new)

    def undo(self) -> None:
        self._dataset.put(self.old)


class InsertRecordsCommand(QUndoCommand):
    """Insert new records at positions (adding, duplicating or pasting examples)."""

    def __init__(self, dataset: Dataset, placed: Iterable[tuple[int, Record]], text: str) -> None:
        super().__init__(text)
        self._dataset = dataset
        self._placed = sorted(placed, key=lambda item: item[0])

    @property
    def record_ids(self) -> list[int]:
        """The ids of the inserted records."""
        return [record.id for _, record in self._placed]

    def redo(self) -> None:
        if len(self._placed) == 1:
            self._dataset.insert(*self._placed[0])
        else:
            self._dataset.insert_many(self._placed)

    def undo(self) -> None:
        if len(self._placed) == 1:
            self._dataset.remove(self._placed[0][1].id)
        else:
            self._dataset.remove_many(record.id for _, record in self._placed)

    def __del__(self) -> None:
        release_in_background(self._placed)


class RemoveRecordsCommand(QUndoCommand):
    """Remove records; undo puts each back where it was, unchanged."""

    def __init__(self, dataset: Dataset, record_ids: Iterable[int], text: str) -> None:
        super().__init__(text)
        self._dataset = dataset
        self._ids = list(dict.fromkeys(record_ids))
        self._removed: list[tuple[int, Record]] = []

    @property
    def count(self) -> int:
        """How many records the command removes."""
        return len(self._ids)

    def redo(self) -> None:
        if len(self._ids) == 1:
            self._removed = [self._dataset.remove(self._ids[0])]
        else:
            self._removed = self._dataset.remove_many(self._ids)

    def undo(self) -> None:
        if len(self._removed) == 1:
            self._dataset.insert(*self._removed[0])
        else:
            self._dataset.insert_many(self._removed)

    def __del__(self) -> None:
        release_in_background(self._removed)


class MoveRecordCommand(QUndoCommand):
    """Move one record to another position."""

    def __init__(self, dataset: Dataset, record_id: int, new_position: int, text: str) -> None:
        super().__init__(text)
        self._dataset = dataset
        self._id = record_id
        self._new = new_position
        self._old = dataset.position(record_id)

    def redo(self) -> None:
        self._dataset.move(self._id, self._new)

    def undo(self) -> None:
        self._dataset.move(self._id, self._old)

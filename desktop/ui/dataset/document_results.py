"""Every record's analysis result, kept beside the live analysis by record id.

A worker can take a snapshot of these at C speed, and results of records that left the
dataset (by an edit or a removal) or of the tokenizer used before a switch are kept, so that
an undo or a switch back needs no recount. Views hear of results that came in a few times a
second, not once per chunk a worker hands over.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from desktop.core.analysis import DatasetAnalysis, RecordAnalysis
from desktop.core.dataset import Record
from desktop.ui.common.workers import freeze_survivors, release_in_background

#: Results of records that left the dataset (by an edit or a removal) kept for an undo.
RETIRED_MAX = 300_000
#: Results a bulk edit worked out, by the ``id`` of the record each is for, with that record.
WorkedOut = dict[int, tuple[Record, RecordAnalysis]]
#: Views learn of new results at most this often (ms) while a worker hands them over.
REFRESH_EVERY_MS = 100


class RefreshBatcher(QObject):
    """Gathers the ids of records whose results came in, and hands them on at most every
    ``REFRESH_EVERY_MS``: a re-check hands over 5,000 results every few milliseconds, and a
    repaint of the table and the totals after each one kept the worker waiting for the window
    most of the time."""

    def __init__(self, parent: QObject, deliver: Callable[[list[int]], None]) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._ids: list[int] = []
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_EVERY_MS)
        self._timer.timeout.connect(self.flush)

    def add(self, ids: list[int]) -> None:
        """These records' results changed: views hear of it within ``REFRESH_EVERY_MS``."""
        self._ids.extend(ids)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Hand on what was gathered now (the re-check has ended)."""
        self._timer.stop()
        ids, self._ids = self._ids, []
        if ids:
            self._deliver(ids)

    def discard(self) -> None:
        """Forget what was gathered (another dataset is now open)."""
        self._timer.stop()
        self._ids = []


class ResultStore:
    """The results the analysis holds, the record each was worked out for, and those kept."""

    def __init__(self, analysis: DatasetAnalysis) -> None:
        self.analysis = analysis
        # The same results the analysis holds, so a worker can get a snapshot at C speed,
        # and the record each was worked out for.
        self.results: dict[int, RecordAnalysis] = {}
        self.sources: dict[int, Record] = {}
        # Results of records that were replaced or removed, by the record object (kept with
        # it): an undo brings those very records back, and their results with them.
        self.retired: dict[int, tuple[Record, RecordAnalysis]] = {}
        # The records and results of the tokenizer used before the last switch (they may
        # hold counts for the new one too).
        self.previous: tuple[dict[int, Record], dict[int, RecordAnalysis]] = ({}, {})
        # Results a bulk edit worked out for the records it put in, by the record object, until
        # the re-check that takes them over has ended. Kept apart from ``retired``: they would
        # fill it (it is bounded) and push out the results an undo needs.
        self.worked_out: WorkedOut = {}

    def merge(self, records: list[Record], results: list[RecordAnalysis]) -> None:
        """Take over the results of these records (in the same order); the results they
        replace are kept for an undo."""
        ids = [record.id for record in records]
        previous = self.results
        self.keep_many(
            [
                (old, previous[old.id])
                for old, record in zip(map(self.sources.get, ids), records, strict=True)
                if old is not None and old is not record
            ]
        )
        self.analysis.merge(results)
        self.results.update(zip([r.record_id for r in results], results, strict=True))
        self.sources.update(zip(ids, records, strict=True))
        # Records and results live as long as the file is open: keep the cyclic garbage
        # collector from scanning them again and again (each full scan of 100,000 records
        # would freeze the window for a few hundred milliseconds).
        freeze_survivors()

    def update_one(self, record: Record, reuse: Callable[[Record], RecordAnalysis | None]) -> None:
        """Bring one edited record's result up to date on this thread."""
        old = self.sources.get(record.id)
        if old is not None and old is not record:
            self.keep(old, self.results[record.id])
        result = reuse(record)
        if result is None:
            result = self.analysis.update(record)
        else:
            self.analysis.merge([result])
        self.results[record.id] = result
        self.sources[record.id] = record

    def reset(self) -> None:
        """Forget every current result (the analysis too); kept ones stay."""
        self.analysis.reset()
        self.results.clear()
        self.sources.clear()

    def forget_all(self) -> list[Any]:
        """Forget every result, kept ones too; returns what is to be freed."""
        garbage: list[Any] = [*self.results.values(), *self.retired.values()]
        garbage.extend(self.previous[1].values())
        garbage.extend(self.worked_out.values())
        self.retired = {}
        self.previous = ({}, {})
        self.worked_out = {}
        self.reset()
        return garbage

    def switch_tokenizer(self) -> None:
        """Keep the current results aside: they may hold counts for the new tokenizer too."""
        self.previous = (self.sources, self.results)
        self.sources, self.results = {}, {}

    def drop_previous(self) -> None:
        """A re-check has ended: the results of the tokenizer used before, and those a bulk
        edit worked out, are no longer needed."""
        previous, self.previous = self.previous, ({}, {})
        worked_out, self.worked_out = self.worked_out, {}
        release_in_background([*previous[1].values(), *worked_out.values()])

    def keep_worked_out(self, worked_out: WorkedOut) -> None:
        """Results a bulk edit worked out for the records it is about to put in, by record
        object (``id``), as the bulk edit's worker put them together: merged here at C
        speed, for 100,000 records took 20-36 ms of the UI thread one at a time."""
        if self.worked_out:
            self.worked_out.update(worked_out)
        else:
            self.worked_out = worked_out

    def retire(self, record_id: int) -> None:
        """Keep the result of a record leaving the dataset, in case an undo brings it back."""
        result = self.results.pop(record_id, None)
        record = self.sources.pop(record_id, None)
        if result is not None and record is not None:
            self.keep(record, result)

    def retire_many(self, record_ids: Iterable[int]) -> None:
        """``retire`` for many records (thousands deleted at once), in a few C-level passes."""
        fallback = itertools.repeat(None)
        results = list(map(self.results.pop, record_ids, fallback))
        records = list(map(self.sources.pop, record_ids, fallback))
        self.keep_many(
            [
                (record, result)
                for record, result in zip(records, results, strict=True)
                if result is not None and record is not None
            ]
        )

    def keep_many(self, pairs: list[tuple[Record, RecordAnalysis]]) -> None:
        """``keep`` for many (record, result) pairs, in one update while there is room."""
        if len(self.retired) + len(pairs) >= RETIRED_MAX:
            for record, result in pairs:
                self.keep(record, result)
        else:
            self.retired.update((id(pair[0]), pair) for pair in pairs)

    def keep(self, record: Record, result: RecordAnalysis) -> None:
        """Keep a result for an undo; when full, the older half goes, freed in the background."""
        retired = self.retired
        if len(retired) >= RETIRED_MAX:
            items = list(retired.items())
            self.retired = retired = dict(items[len(items) // 2 :])
            release_in_background(items[: len(items) // 2])
            del items
        retired[id(record)] = (record, result)

    def reuse(self, encoding: str) -> Callable[[Record], RecordAnalysis | None]:
        """What a worker may ask for a record's known result (read from any thread: these
        dictionaries are only looked up there, never iterated)."""
        kept = (self.worked_out, self.retired)
        pairs = [(self.sources, self.results), self.previous]

        def reuse(record: Record) -> RecordAnalysis | None:
            for by_object in kept:
                entry = by_object.get(id(record))
                if entry is not None and entry[0] is record:
                    return entry[1].for_encoding(encoding)
            for sources, results in pairs:
                if sources.get(record.id) is record:
                    result = results.get(record.id)
                    if result is not None:
                        return result.for_encoding(encoding)
            return None

        return reuse

    def replaced(self) -> Callable[[Record], RecordAnalysis | None]:
        """What a worker may ask for the result of the record an edit replaced (looked up
        there, never iterated, as in ``reuse``)."""
        sources, results = self.sources, self.results

        def previous(record: Record) -> RecordAnalysis | None:
            old = sources.get(record.id)
            if old is None or old is record:
                return None
            return results.get(record.id)

        return previous

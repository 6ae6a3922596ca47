"""What the examples table shows for one record, and how a search or sort picks rows.

Pure functions over immutable records, so the table can compute a visible row's text on
demand and a worker can filter or sort 100,000 rows without touching the UI thread.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from desktop.core.analysis import RecordAnalysis
from desktop.core.dataset import LineState, Record
from desktop.core.findings import Severity
from desktop.core.kinds import ExampleKind
from desktop.core.search import SearchIndex

#: How many characters of a message the table shows (the rest is in the editor).
SNIPPET_CHARS = 160
#: A sort orders this many rows at a time, then merges the runs (see ``_sorted_ids``).
SORT_RUN = 4096
#: A search or filter asks whether to go on after this many rows.
CHECK_EVERY = 64


@dataclass(frozen=True, slots=True)
class RowSummary:
    """The text cells of one table row."""

    first_user: str
    last_reply: str
    message_count: int | None


def _one_line(text: str) -> str:
    """Collapse whitespace so a message fits in one table cell.

    Only the start of the text is read (a few times the cell's width, more while it is mostly
    spaces): the row of a 10 MB message is drawn again after every keystroke in it.
    """
    size = SNIPPET_CHARS * 2
    while True:
        flat = " ".join(text[:size].split())  # always the start of the whole text's flat form
        if len(flat) > SNIPPET_CHARS:
            return flat[: SNIPPET_CHARS - 1] + "…"
        if size >= len(text):
            return flat
        size *= 4


def content_text(content: Any) -> str:
    """The readable text of a message's content (plain text or text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") == "image_url":
                parts.append("[image]")
        return " ".join(parts)
    return ""


def _reply_text(message: dict[str, Any]) -> str:
    text = content_text(message.get("content"))
    if text:
        return text
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        names = [
            str(call.get("function", {}).get("name", "?"))
            for call in calls
            if isinstance(call, dict) and isinstance(call.get("function"), dict)
        ]
        return "Calls tool: " + ", ".join(names or ["?"])
    return ""


def _messages(value: Any, key: str = "messages") -> list[dict[str, Any]]:
    messages = value.get(key) if isinstance(value, dict) else None
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _first(messages: list[dict[str, Any]], role: str) -> str:
    return next((content_text(m.get("content")) for m in messages if m.get("role") == role), "")


def _last_reply(messages: list[dict[str, Any]]) -> str:
    return next(
        (_reply_text(m) for m in reversed(messages) if m.get("role") == "assistant"),
        "",
    )


def summarize(record: Record) -> RowSummary:
    """The table cells of ``record`` (parses it once)."""
    if record.state is LineState.BLANK:
        return RowSummary("(empty line)", "", None)
    if record.state is LineState.BROKEN:
        return RowSummary(_one_line(record.text) or "(empty)", record.error or "", None)
    value = record.value
    if record.kind is ExampleKind.CHAT:
        messages = _messages(value)
        return RowSummary(
            _one_line(_first(messages, "user")),
            _one_line(_last_reply(messages)),
            len(value.get("messages") or []) if isinstance(value.get("messages"), list) else None,
        )
    if record.kind is ExampleKind.PREFERENCE:
        prompt = _messages(value.get("input"))
        preferred = _messages(value, "preferred_output")
        return RowSummary(
            _one_line(_first(prompt, "user")),
            _one_line("Preferred: " + _last_reply(preferred)),
            len(prompt) + 2,
        )
    reply_key = "completion" if record.kind is ExampleKind.PROMPT_COMPLETION else "response"
    prompt = value.get("prompt")
    reply = value.get(reply_key)
    return RowSummary(
        _one_line(prompt if isinstance(prompt, str) else ""),
        _one_line(reply if isinstance(reply, str) else ""),
        2,
    )


class StatusFilter(str, Enum):
    """Which rows the status filter keeps."""

    ALL = "all"
    ERRORS = "errors"
    WARNINGS = "warnings"
    PROBLEMS = "problems"
    OK = "ok"

    def keeps(self, severity: Severity | None) -> bool:
        """True when a row of this worst severity passes the filter."""
        if self is StatusFilter.ALL:
            return True
        if self is StatusFilter.ERRORS:
            return severity is Severity.ERROR
        if self is StatusFilter.WARNINGS:
            return severity is Severity.WARNING
        if self is StatusFilter.PROBLEMS:
            return severity in (Severity.ERROR, Severity.WARNING)
        return severity in (None, Severity.INFO)


class SortKey(str, Enum):
    """What the table can be ordered by (its columns)."""

    POSITION = "position"
    FIRST_USER = "first_user"
    LAST_REPLY = "last_reply"
    MESSAGES = "messages"
    TOKENS = "tokens"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """A search, a filter and an order; the default shows every row in file order."""

    text: str = ""
    status: StatusFilter = StatusFilter.ALL
    code: str | None = None
    sort: SortKey = SortKey.POSITION
    descending: bool = False

    @property
    def is_identity(self) -> bool:
        """True when the view is simply the dataset in file order."""
        return (
            not self.text.strip()
            and self.status is StatusFilter.ALL
            and self.code is None
            and self.sort is SortKey.POSITION
            and not self.descending
        )


@dataclass(frozen=True, slots=True)
class RowFacts:
    """What filtering and sorting need to know about a row from the analysis."""

    tokens: int | None
    severity: Severity | None
    codes: frozenset[str]


def _worst(a: Severity | None, b: Severity | None) -> Severity | None:
    if a is None or b is None:
        return a if b is None else b
    return a if a.rank <= b.rank else b


def build_row_facts(
    records: Sequence[Record],
    results: Mapping[int, RecordAnalysis],
    extra_severity: Mapping[int, Severity],
    extra_codes: Mapping[int, frozenset[str]],
    pause: Callable[[], object] | None = None,
) -> dict[int, RowFacts]:
    """Tokens, worst severity and finding codes per record, including whole-dataset findings
    (pure: runs in a worker on snapshots; ``pause`` is called every CHECK_EVERY records)."""
    facts: dict[int, RowFacts] = {}
    no_codes: frozenset[str] = frozenset()
    plain: dict[int | None, RowFacts] = {}
    for position, record in enumerate(records):
        if pause is not None and position % CHECK_EVERY == 0:
            pause()
        record_id = record.id
        result = results.get(record_id)
        extra = extra_codes.get(record_id, no_codes)
        if result is None:
            facts[record_id] = RowFacts(None, extra_severity.get(record_id), extra)
            continue
        tokens = result.tokens.total if result.tokens is not None else None
        if not result.findings and not extra and record_id not in extra_severity:
            # Most rows: nothing found. Equal rows share one (immutable) RowFacts.
            fact = plain.get(tokens)
            if fact is None:
                fact = plain[tokens] = RowFacts(tokens, None, no_codes)
            facts[record_id] = fact
            continue
        facts[record_id] = RowFacts(
            tokens,
            _worst(result.severity, extra_severity.get(record_id)),
            frozenset(f.code for f in result.findings).union(extra),
        )
    return facts


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, None: 3}


def compute_view(
    records: Sequence[Record],
    facts: Mapping[int, RowFacts],
    query: ViewQuery,
    should_continue: Callable[[], bool] | None = None,
    index: SearchIndex | None = None,
) -> list[int]:
    """The record ids to show for ``query``, in order (pure: runs in a worker).

    ``should_continue`` is an optional callable; when it returns False the work stops early
    and an empty list is returned (the caller ignores it). A search asks ``index`` (an empty
    one reads every record directly).
    """
    needle = query.text.strip().lower()
    candidates: Sequence[int] = range(len(records))
    if needle:
        found = (index or SearchIndex()).positions(records, needle, should_continue)
        if found is None:
            return []
        candidates = found
    empty = RowFacts(None, None, frozenset())
    kept = candidates
    if query.status is not StatusFilter.ALL or query.code is not None:
        passing: list[int] = []
        for count, position in enumerate(candidates):
            # A line takes about a microsecond here: a check every CHECK_EVERY lines still
            # lets the UI thread in within a fraction of a millisecond.
            if count % CHECK_EVERY == 0 and should_continue is not None and not should_continue():
                return []
            fact = facts.get(records[position].id, empty)
            if not query.status.keeps(fact.severity):
                continue
            if query.code is not None and query.code not in fact.codes:
                continue
            passing.append(position)
        kept = passing
    if query.sort in (SortKey.POSITION, SortKey.TOKENS, SortKey.STATUS):
        # Positions and ids are plain numbers: no objects the garbage collector would scan.
        ids = [records[position].id for position in kept]
        if query.sort is not SortKey.POSITION:
            # Numbers: one stable sort of the ids in file order keeps ties in file order, and
            # holds the interpreter for a few milliseconds only.
            got = [facts.get(i, empty) for i in ids]
            if query.sort is SortKey.TOKENS:
                keys = [-1 if fact.tokens is None else fact.tokens for fact in got]
            else:
                keys = [_SEVERITY_ORDER[fact.severity] for fact in got]
            ids = [ids[k] for k in sorted(range(len(ids)), key=keys.__getitem__)]
    else:
        keyed = []
        for position in kept:
            if should_continue is not None and not should_continue():
                return []
            record = records[position]
            keyed.append((_sort_key(position, record, query.sort), record.id))
        ids = _sorted_ids(keyed, should_continue)
    if query.descending:
        ids.reverse()
    return ids


def _sorted_ids(keyed: list[tuple[tuple[Any, ...], int]], should_continue: Any) -> list[int]:
    """The ids ordered by their (unique) keys, sorted in runs and merged.

    One ``list.sort`` of 100,000 keys holds the interpreter for a few hundred milliseconds,
    which froze the window; runs of ``SORT_RUN`` keys are sorted one at a time and merged with
    a checkpoint every few hundred ids.
    """
    runs = []
    for start in range(0, len(keyed), SORT_RUN):
        if should_continue is not None and not should_continue():
            return []
        runs.append(sorted(keyed[start : start + SORT_RUN]))
    ids = []
    for count, (_key, record_id) in enumerate(heapq.merge(*runs)):
        if count % 256 == 0 and should_continue is not None and not should_continue():
            return []
        ids.append(record_id)
    return ids


def _sort_key(position: int, record: Record, sort: SortKey) -> tuple[Any, ...]:
    """The key of a row for an order by one of its text cells (ties in file order)."""
    summary = summarize(record)
    if sort is SortKey.MESSAGES:
        return (summary.message_count if summary.message_count is not None else -1, position)
    text = summary.first_user if sort is SortKey.FIRST_USER else summary.last_reply
    return (text.casefold(), position)

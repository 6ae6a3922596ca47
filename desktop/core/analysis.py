"""Everything the app knows about a dataset's health and cost, kept up to date incrementally.

Analysing a record (parse, validate, count tokens) is a pure function of the immutable record,
so workers can analyse thousands of records in the background and hand the results over. The
`DatasetAnalysis` that owns the results lives on one thread (the UI thread in the app); after an
edit it re-analyses only the edited record and adjusts the running totals, so the estimate is
current within milliseconds whatever the size of the dataset.

Each example is parsed and planned once, and its texts counted with every counter asked for
(the app counts with each shipped tokenizer while counting is fast, so choosing a model with
another tokenizer takes the counts over). Untouched lines the count cache knows (see
``analysis_cache``) are neither parsed nor counted, and what is analysed is stored in it.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from desktop import __version__
from desktop.core.analysis_cache import (
    AnalysisCache,
    CachedLine,
    LineKey,
    RowWriter,
    code_signature,
    line_key,
)
from desktop.core.catalog import Catalog, ModelInfo
from desktop.core.dataset import (
    OLD_MAC_LINE_ENDINGS,
    STRAY_BYTE_ORDER_MARK,
    LineState,
    Record,
    parse_json_bytes,
    read_line,
    with_system_text,
)
from desktop.core.estimate import Estimate, RunningTotals
from desktop.core.findings import Finding, Severity
from desktop.core.frozen import quick_init
from desktop.core.kinds import ExampleKind, first_system
from desktop.core.tokens import (
    SUPPORTED_ENCODINGS,
    TOKENS_PER_MESSAGE,
    ExampleTokens,
    TokenCounter,
    count_plans_with,
    encoding_for_model,
    get_counter,
    loaded_encodings,
    plan_example,
)
from desktop.core.validation import (
    FINDING_CODES,
    ExampleFacts,
    example_facts,
    fingerprint,
    leaves_out_system_text,
    text_raises_nothing,
    validate_dataset,
    validate_example,
)

#: Codes found while reading lines, before any example can be validated.
READ_FINDING_CODES: Mapping[str, str] = {
    "invalid_json": "A line cannot be read: not valid JSON or UTF-8 text, cut off, or too deep.",
    "blank_line": "The file has empty lines.",
}

#: Every code the analysis can report, for filters and documentation.
ALL_FINDING_CODES: Mapping[str, str] = {**READ_FINDING_CODES, **FINDING_CODES}

#: Analyse this many records at a time (one cache query and one counting round each).
BATCH_SIZE = 2048


@quick_init
@dataclass(frozen=True, slots=True)
class RecordAnalysis:
    """The findings and token counts of one record.

    ``tokens`` are counted with the analysis' encoding; ``counts`` holds the tokens with every
    encoding counted so far (that one included), so a model with another tokenizer can be
    chosen without counting again.
    """

    record_id: int
    tokens: ExampleTokens | None
    findings: tuple[Finding, ...]
    facts: ExampleFacts | None
    blank: bool = False
    counts: tuple[tuple[str, ExampleTokens], ...] = ()

    @property
    def severity(self) -> Severity | None:
        """The worst severity among the findings; None when the record is fine."""
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=lambda s: s.rank)

    def for_encoding(self, encoding: str) -> RecordAnalysis | None:
        """This result with the tokens of ``encoding``; None when they were not counted."""
        if self.tokens is None:
            return self
        for name, tokens in self.counts:
            if name == encoding:
                if tokens is self.tokens:
                    return self
                facts = self.facts
                if facts is not None:
                    facts = replace(facts, tokens=tokens.total)
                return replace(self, tokens=tokens, facts=facts)
        return None


#: The modules besides this one whose code decides what the count cache keeps.
_SIGNED_MODULES = (
    "analysis_cache",
    "columns",
    "dataset",
    "filecheck",
    "findings",
    "interchange",
    "kinds",
    "tokens",
    "validation",
)


@functools.cache
def default_cache() -> AnalysisCache:
    """The count cache in the user cache folder, for the code of this version of the app.

    Its signature covers the code that analyses lines, and the code that puts whole ranges
    of a checked file into columns (``filecheck`` keeps those too).
    """
    signed = [importlib.import_module(f"desktop.core.{name}") for name in _SIGNED_MODULES]
    return AnalysisCache(signature=code_signature([sys.modules[__name__], *signed], __version__))


def other_counters(counter: TokenCounter, *, load: bool = True) -> tuple[TokenCounter, ...]:
    """Counters for the other shipped encodings, worth running beside ``counter``.

    Only while counting is fast: then counting every text again costs a fraction of reading
    and checking it, and switching to a model with another tokenizer needs no new count.
    Without ``load``, only encodings already loaded are used (loading one takes a moment).
    """
    if not counter.accelerated:
        return ()
    loaded = loaded_encodings()
    others = []
    for name in SUPPORTED_ENCODINGS:
        if name == counter.encoding_name or not (load or name in loaded):
            continue
        other = get_counter(name)
        if other.accelerated:
            others.append(other)
    return tuple(others)


def analyze_record(
    record: Record, counter: TokenCounter, others: Sequence[TokenCounter] = ()
) -> RecordAnalysis:
    """Validate and count one record (pure: safe on any thread)."""
    if record.state is LineState.BLANK:
        return RecordAnalysis(record.id, None, (), None, blank=True)
    if record.state is LineState.BROKEN:
        return _analyze_broken(record)
    value = record.value
    plan = plan_example(value)
    counts = tuple((each.encoding_name, each.count_plans([plan])[0]) for each in (counter, *others))
    return _result(record, value, counts)


def _result(
    record: Record, value: object, counts: tuple[tuple[str, ExampleTokens], ...]
) -> RecordAnalysis:
    """The analysis of an example record whose tokens are counted (first: the main encoding)."""
    tokens = counts[0][1]
    findings = validate_example(value, line=record.line, record_id=record.id)
    facts = example_facts(value, line=record.line, record_id=record.id, tokens=tokens.total)
    return RecordAnalysis(record.id, tokens, tuple(findings), facts, counts=counts)


def derive_analysis(
    record: Record,
    before: RecordAnalysis,
    counters: Sequence[TokenCounter],
    known: dict[Any, Any] | None = None,
    *,
    proven: bool = False,
) -> RecordAnalysis | None:
    """The analysis of ``record`` worked out from ``before``, that of the record it replaced,
    when the change is the one setting a system message makes: the first system message's
    text replaced, or a plain system message put first. Only the new text is counted and
    checked; None when the change is any other (then the record is analysed in full).

    The change is proven, not assumed: the fingerprint leaves the system text out, so the
    new example's must be the one ``before`` holds, unless the caller made that very change
    itself (``proven``: the bulk tool that set the message); then it is kept without being
    taken again. ``known`` keeps the counts of texts seen (by every counter), and the
    changes they make, across a bulk edit's records.
    """
    facts = before.facts
    if (
        facts is None
        or before.tokens is None
        or facts.kind is not ExampleKind.CHAT
        or record.kind is not ExampleKind.CHAT
        or record.state is not LineState.EXAMPLE
        or record.raw is not None  # read from a file, not made by an edit
        or not leaves_out_system_text(facts.fingerprint)
    ):
        return None
    value = record.value
    messages = value.get("messages") if type(value) is dict else None
    if type(messages) is not list:
        return None
    first = first_system(messages)
    if first is None:
        return None
    message = messages[first]
    text = message.get("content")
    if type(text) is not str or not _raises_nothing(text, first):
        return None
    findings = before.findings
    if facts.has_system:
        # Findings of other messages keep their numbers; one about this message could go.
        if findings and any(
            f.message_index == first or f.code == "broken_character" for f in findings
        ):
            return None
    elif first != 0 or message.keys() != {"role", "content"} or findings:
        # Every later message moves down one place: only a finding-free example is derived.
        return None
    if not proven and fingerprint(value) != facts.fingerprint:
        return None
    if findings and facts.line != record.line:
        findings = tuple(replace(f, line=record.line) for f in findings)
    return _with_system_text(record, before, text, findings, counters, known)


def set_system_text_unread(
    record: Record,
    before: RecordAnalysis,
    text: str,
    counters: Sequence[TokenCounter],
    known: dict[Any, Any] | None = None,
) -> tuple[Record, RecordAnalysis] | None:
    """``record`` with its system message set to ``text``, and the new record's analysis,
    worked out without reading the example: from its line and ``before``, its analysis.

    The first system message's text is replaced, or a plain one put first (see
    ``with_system_text``). None when that cannot be done unread: ``record`` is no plain chat
    example (nor one kept this way), ``before`` has findings (they may be about the message,
    or numbered after it), its system message is not one string, or ``text`` raises a finding
    of its own. ``known`` is as for ``derive_analysis``.
    """
    facts = before.facts
    if (
        facts is None
        or before.tokens is None
        or before.findings
        or facts.kind is not ExampleKind.CHAT
        or record.kind is not ExampleKind.CHAT
        or record.state is not LineState.EXAMPLE
        or not (record.plain or record.system_set is not None)
        or not leaves_out_system_text(facts.fingerprint)
        or not _raises_nothing(text, 0)  # its place only changes the wording of a finding
    ):
        return None
    new = with_system_text(record, text)
    result = _with_system_text(new, before, text, (), counters, known)
    return None if result is None else (new, result)


def _with_system_text(
    record: Record,
    before: RecordAnalysis,
    text: str,
    findings: tuple[Finding, ...],
    counters: Sequence[TokenCounter],
    known: dict[Any, Any] | None,
) -> RecordAnalysis | None:
    """The analysis of ``record``: the example ``before`` is of, with the first system text
    set to ``text``, and with ``findings``. It holds the counts of the encodings ``before``
    holds (others are counted when asked for, as for any result); None when that lacks the
    first counter's."""
    facts = before.facts
    assert facts is not None
    if known is None:
        known = {}
    old_text = facts.system_text if facts.has_system else None
    counted = dict(before.counts)
    counts = []
    for name, change in _changes_of(text, old_text, counters, known):
        tokens = counted.get(name)
        if tokens is None:
            if not counts:
                return None
            continue
        counts.append(
            (name, ExampleTokens(tokens.total + change, tokens.assistant, tokens.estimated))
        )
    new_facts = ExampleFacts(
        record.id,
        record.line,
        ExampleKind.CHAT,
        facts.fingerprint,
        text,
        True,
        counts[0][1].total,
    )
    return RecordAnalysis(record.id, counts[0][1], findings, new_facts, counts=tuple(counts))


@functools.lru_cache(maxsize=64)
def _raises_nothing(system_text: str, index: int) -> bool:
    """``text_raises_nothing`` for a system message, remembered: a bulk edit sets one text on
    100,000 examples."""
    return text_raises_nothing(system_text, "system", index)


def _changes_of(
    text: str,
    old_text: str | None,
    counters: Sequence[TokenCounter],
    known: dict[Any, Any],
) -> tuple[tuple[str, int], ...]:
    """How the tokens of an example change, per encoding, when its system message's text
    ``old_text`` becomes ``text`` (None: the message is added), remembered in ``known``."""
    key = (text, old_text)
    changes = known.get(key)
    if changes is None:
        added = _counts_of(text, counters, known)
        if old_text is not None:
            removed = _counts_of(old_text, counters, known)
        else:
            removed = tuple(-TOKENS_PER_MESSAGE - n for n in _counts_of("system", counters, known))
        names = [counter.encoding_name for counter in counters]
        changes = known[key] = tuple(
            (name, plus - minus) for name, plus, minus in zip(names, added, removed, strict=True)
        )
    return changes


def _counts_of(
    text: str, counters: Sequence[TokenCounter], known: dict[Any, Any]
) -> tuple[int, ...]:
    counts = known.get(text)
    if counts is None:
        counts = known[text] = tuple(counter.count_text(text) for counter in counters)
    return counts


_REPAIR_FIX = "Correct the line's text in the editor, or delete the line."
#: Fixes for reading problems that editing the one line does not solve best.
_FIXES = {
    OLD_MAC_LINE_ENDINGS: (
        "Open the file in a text editor, save it with Windows (CRLF) or Unix (LF) line "
        "endings, and open it here again."
    ),
    STRAY_BYTE_ORDER_MARK: (
        "Delete the invisible first character of the line (put the cursor at the very start "
        "and press Delete), or delete the line."
    ),
}


def _analyze_broken(record: Record) -> RecordAnalysis:
    value, error = parse_json_bytes(record.to_bytes())
    findings = broken_line_findings(error, value, record.line, record.id)
    return RecordAnalysis(record.id, None, findings, None)


def broken_line_findings(
    error: str | None, value: object, line: int | None, record_id: int | None
) -> tuple[Finding, ...]:
    """The findings of a line that is no example: why it cannot be read (``error``), or what
    is wrong with the JSON ``value`` it holds."""
    if error is not None:
        finding = Finding(
            code="invalid_json",
            severity=Severity.ERROR,
            text=error,
            line=line,
            fix=_FIXES.get(error, _REPAIR_FIX),
            record_id=record_id,
        )
        return (finding,)
    return tuple(validate_example(value, line=line, record_id=record_id))


def whole_file_findings(
    facts: Sequence[ExampleFacts],
    model_id: str,
    info: ModelInfo | None,
    validation_facts: Sequence[ExampleFacts] | None,
    blank: int,
) -> list[Finding]:
    """Findings about a file as a whole (count, duplicates, consistency, limits, empty lines)
    from its examples' facts in file order and its number of empty lines."""
    findings = validate_dataset(
        facts,
        token_limit=info.max_tokens_per_example if info is not None else None,
        model_id=model_id,
        validation_facts=validation_facts,
        trains_on_legacy=info.supports("completion") if info is not None else None,
    )
    if blank:
        findings.append(blank_line_finding(blank))
    return findings


#: What a validation file and the training examples must not have between them.
_BETWEEN_FILES = frozenset({"train_validation_overlap", "mixed_formats"})


def validation_file_findings(
    catalog: Catalog,
    model_id: str,
    training_facts: Sequence[ExampleFacts],
    validation: Sequence[Record],
) -> list[Finding]:
    """What keeps a validation file from being uploaded with training examples of these
    facts: its own blocking findings (said to be the validation file's) and examples found in
    both files, as ``finetune-studio check --validation`` reports them. Safe on a worker
    thread: it takes a copy of the training facts, not their live analysis."""
    analysis = DatasetAnalysis(catalog, model_id)
    analysis.merge(analyze_records(list(validation), analysis.counter))
    own = [
        replace(
            finding,
            text=f"Validation file{_at_line(finding.line)}: {finding.text}",
            line=None,  # lines of that file, not of the training examples
            record_id=None,
        )
        for finding in analysis.findings()
        if finding.blocking
    ]
    between = whole_file_findings(
        training_facts, model_id, catalog.get(model_id), analysis.example_facts(), 0
    )
    return own + [f for f in between if f.blocking and f.code in _BETWEEN_FILES]


def _at_line(line: int | None) -> str:
    return f", line {line:,}" if line is not None else ""


def blank_line_finding(count: int) -> Finding:
    """The finding about a file's empty lines."""
    lines = "1 empty line" if count == 1 else f"{count} empty lines"
    return Finding(
        code="blank_line",
        severity=Severity.WARNING,
        text=f"The file has {lines}; some providers reject files with empty lines.",
        fix="Use 'Remove empty lines', or delete them in a text editor.",
    )


def learn(writer: RowWriter, key: LineKey, result: RecordAnalysis) -> None:
    """Add what the count cache keeps of an example record's analysis to ``writer``.

    The caller adds only plain records (``Record.plain``): a record made from a line the
    cache knows is marked plain without reading it.
    """
    facts = result.facts
    if facts is None or result.tokens is None:
        return
    writer.add(
        key,
        facts.kind,
        result.findings,
        facts.fingerprint,
        facts.system_text,
        facts.has_system,
        result.counts,
    )


def from_cache(record: Record, line: CachedLine, encodings: Sequence[str]) -> RecordAnalysis | None:
    """The analysis of ``record`` rebuilt from the count cache (None when a count is missing)."""
    counts = []
    for name in encodings:
        found = line.counts.get(name)
        if found is None:
            return None
        counts.append((name, ExampleTokens(*found)))
    tokens = counts[0][1]
    facts = ExampleFacts(
        record.id,
        record.line,
        line.kind,
        line.fingerprint,
        line.system_text,
        line.has_system,
        tokens.total,
    )
    findings = line.findings_at(record.line, record.id)
    return RecordAnalysis(record.id, tokens, findings, facts, counts=tuple(counts))


def analyze_records(
    records: Sequence[Record],
    counter: TokenCounter,
    should_continue: Callable[[], bool] | None = None,
    *,
    others: Sequence[TokenCounter] = (),
    cache: AnalysisCache | None = None,
    reuse: Callable[[Record], RecordAnalysis | None] | None = None,
    previous: Callable[[Record], RecordAnalysis | None] | None = None,
    learnt: RowWriter | None = None,
) -> list[RecordAnalysis]:
    """Analyse many records (pure: safe in a worker), parsing and planning each example once.

    ``counter`` counts the tokens the results carry; ``others`` count them again with other
    encodings (see ``other_counters``). With a ``cache``, untouched lines it knows are not
    parsed nor counted, and what was analysed is stored in it (or added to ``learnt``, for
    the caller to store many at once). ``reuse`` may give a result
    already known for a record (say, from before an undo); ``previous`` the result of the
    record it replaced, from which a small change is derived (see ``derive_analysis``).
    ``should_continue`` is called
    between records and between texts counted (a worker passes its checkpoint, which also lets
    the UI thread go first); when it returns False the analysis stops early and returns the
    results it has, in order.
    """
    counters = (counter, *others)
    encodings = [each.encoding_name for each in counters]
    results: list[RecordAnalysis] = []
    texts: dict[str, tuple[int, ...]] = {}
    for start in range(0, len(records), BATCH_SIZE):
        if should_continue is not None and not should_continue():
            break
        batch = records[start : start + BATCH_SIZE]
        known: dict[int, RecordAnalysis] = {}
        if reuse is not None:
            for record in batch:
                result = reuse(record)
                if result is not None:
                    known[record.id] = result
        if previous is not None:
            for record in batch:
                if record.id in known:
                    continue
                if should_continue is not None and not should_continue():
                    return results
                before = previous(record)
                if before is not None:
                    result = derive_analysis(record, before, counters, texts)
                    if result is not None:
                        known[record.id] = result
        if len(known) == len(batch):
            # All known (an undo, a bulk edit worked out beforehand): nothing to look up.
            results.extend([known[record.id] for record in batch])
            continue
        keys = _look_up(batch, encodings, cache, known)
        values: dict[int, object] = {}
        for record in batch:
            if record.state is LineState.EXAMPLE and record.id not in known:
                if should_continue is not None and not should_continue():
                    return results
                values[record.id] = record.value
        done = _finish(batch, counters, should_continue, cache, known, keys, values, learnt)
        results.extend(done)
        if len(done) < len(batch):
            break
    return results


def read_records(
    lines: Sequence[tuple[int, bytes, bytes]],
    ids: Iterator[int],
    counter: TokenCounter,
    should_continue: Callable[[], bool] | None = None,
    *,
    others: Sequence[TokenCounter] = (),
    cache: AnalysisCache | None = None,
    learnt: RowWriter | None = None,
) -> tuple[list[Record], list[RecordAnalysis]]:
    """Records for lines of a JSON Lines file, (line number, bytes, line ending) each, with
    their analysis: each line is parsed once, and lines the ``cache`` knows not at all.

    The records are those ``jsonl_io.iter_records`` makes. Stops early (fewer records) when
    ``should_continue`` returns False. What was analysed goes to the cache, or to ``learnt``.
    """
    counters = (counter, *others)
    encodings = [each.encoding_name for each in counters]
    keys: dict[int, LineKey] = {}
    found: list[CachedLine | None] = [None] * len(lines)
    wanted = [i for i, (_number, raw, _eol) in enumerate(lines) if raw.strip()]
    if cache is not None:
        wanted_keys = [line_key(lines[i][1]) for i in wanted]
        for i, line in zip(wanted, cache.lookup(wanted_keys, encodings[0]), strict=True):
            found[i] = line
    else:
        wanted_keys = []
    key_of = dict(zip(wanted, wanted_keys, strict=False))
    records: list[Record] = []
    known: dict[int, RecordAnalysis] = {}
    values: dict[int, object] = {}
    for i, (number, raw, eol) in enumerate(lines):
        if should_continue is not None and not should_continue():
            break
        record_id = next(ids)
        line = found[i]
        result = None
        if line is not None:
            # The cache keeps only lines orjson reads exactly (see ``learn``).
            record = Record(record_id, number, raw, eol, LineState.EXAMPLE, line.kind, plain=True)
            result = from_cache(record, line, encodings)
        if result is not None:
            known[record_id] = result
        else:
            state, kind, error, value, plain = read_line(raw)
            record = Record(record_id, number, raw, eol, state, kind, error, plain=plain)
            if state is LineState.EXAMPLE:
                values[record_id] = value
        key = key_of.get(i)
        if key is not None:
            keys[record_id] = key
        records.append(record)
    results = _finish(records, counters, should_continue, cache, known, keys, values, learnt)
    return records[: len(results)], results


def _look_up(
    batch: Sequence[Record],
    encodings: Sequence[str],
    cache: AnalysisCache | None,
    known: dict[int, RecordAnalysis],
) -> dict[int, LineKey]:
    """Fill ``known`` with what the cache knows of untouched example records; their keys."""
    keys: dict[int, LineKey] = {}
    if cache is None:
        return keys
    untouched = [
        r for r in batch if r.state is LineState.EXAMPLE and r.raw is not None and r.id not in known
    ]
    for record in untouched:
        keys[record.id] = line_key(record.raw)  # type: ignore[arg-type]
    lines = cache.lookup([keys[r.id] for r in untouched], encodings[0])
    for record, line in zip(untouched, lines, strict=True):
        if line is not None:
            result = from_cache(record, line, encodings)
            if result is not None:
                known[record.id] = result
    return keys


def _finish(
    batch: Sequence[Record],
    counters: Sequence[TokenCounter],
    should_continue: Callable[[], bool] | None,
    cache: AnalysisCache | None,
    known: dict[int, RecordAnalysis],
    keys: dict[int, LineKey],
    values: dict[int, object],
    learnt: RowWriter | None = None,
) -> list[RecordAnalysis]:
    """Count the parsed ``values`` with every counter, then the results of the whole batch
    in order; what was counted goes into the cache."""
    encodings = [counter.encoding_name for counter in counters]
    order = list(values)
    plans = [plan_example(values[record_id]) for record_id in order]
    columns = count_plans_with(counters, plans, should_continue)
    position = {record_id: index for index, record_id in enumerate(order)}
    results: list[RecordAnalysis] = []
    writer = learnt if learnt is not None else RowWriter()
    for record in batch:
        result = known.get(record.id)
        if result is None:
            # Checked only where there is work: a batch of known results (an undo, a bulk
            # edit worked out beforehand) would otherwise wait for the UI thread 2,048 times.
            if should_continue is not None and not should_continue():
                break
            index = position.get(record.id)
            if index is None:
                result = analyze_record(record, counters[0])
            else:
                counts = tuple(
                    (name, column[index]) for name, column in zip(encodings, columns, strict=True)
                )
                result = _result(record, values[record.id], counts)
                key = keys.get(record.id)
                if key is not None and record.plain:  # the cache keeps plain lines only
                    learn(writer, key, result)
        results.append(result)
    if learnt is None and cache is not None:
        cache.store_rows(writer.rows())
    return results


def _file_order(facts: ExampleFacts) -> tuple[bool, int, int]:
    line = facts.line
    return (line is None, line or 0, facts.record_id or 0)


class DatasetAnalysis:
    """Per-record results plus running totals for one dataset, one model and an epoch choice.

    Not thread-safe: merge results from workers on the thread that owns this object.
    """

    def __init__(self, catalog: Catalog, model_id: str, epochs: int | None = None) -> None:
        self.catalog = catalog
        self._model_id = model_id
        self._epochs = epochs
        # The counter is loaded on first use, not here: loading a tokenizer takes most of a
        # second, and a window showing no dataset yet has nothing to count.
        self._encoding = encoding_for_model(model_id)
        self._results: dict[int, RecordAnalysis] = {}
        self._totals = RunningTotals()
        self._validation_facts: list[ExampleFacts] | None = None
        self._dataset_findings: list[Finding] | None = None

    # Configuration -------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The model the estimate and the token limit refer to."""
        return self._model_id

    @property
    def model_info(self) -> ModelInfo | None:
        """Catalog facts about the model (None for models the catalog does not know)."""
        return self.catalog.get(self._model_id)

    @property
    def epochs(self) -> int | None:
        """Explicit epochs, or None for the automatic choice."""
        return self._epochs

    @property
    def encoding_name(self) -> str:
        """The model's encoding (known without loading its tokenizer)."""
        return self._encoding

    @property
    def counter(self) -> TokenCounter:
        """The token counter for the model's encoding (loaded on first use; thread-safe)."""
        return get_counter(self._encoding)

    def set_model(self, model_id: str) -> bool:
        """Switch model; True when the encoding changed and every record must be re-analysed."""
        encoding = encoding_for_model(model_id)
        changed = encoding != self._encoding
        self._model_id = model_id
        if changed:
            self._encoding = encoding
            self.reset()
        self._dataset_findings = None
        return changed

    def set_epochs(self, epochs: int | None) -> None:
        """Choose epochs (1–50) or None for automatic."""
        self._epochs = epochs

    def set_validation_facts(self, facts: Iterable[ExampleFacts] | None) -> None:
        """Facts of the validation file, so examples present in both are reported."""
        self._validation_facts = list(facts) if facts is not None else None
        self._dataset_findings = None

    # Results -------------------------------------------------------------------------------

    def merge(self, results: Iterable[RecordAnalysis]) -> None:
        """Take over results computed elsewhere (a worker), replacing older ones (thousands
        at a time on the UI thread: the totals take them in one pass)."""
        latest = {result.record_id: result for result in results}
        self._results.update(latest)
        self._totals.set_many(
            (record_id, result.tokens)
            for record_id, result in latest.items()
            if result.tokens is not None
        )
        uncounted = [record_id for record_id, result in latest.items() if result.tokens is None]
        if uncounted:
            self._totals.remove_many(uncounted)
        self._dataset_findings = None

    def update(self, record: Record) -> RecordAnalysis:
        """Re-analyse one edited record; other records are not touched."""
        counter = self.counter
        result = analyze_record(record, counter, other_counters(counter, load=False))
        self._store(result)
        self._dataset_findings = None
        return result

    def remove(self, record_id: int) -> None:
        """Forget a record that left the dataset."""
        if self._results.pop(record_id, None) is not None:
            self._totals.remove(record_id)
            self._dataset_findings = None

    def remove_many(self, record_ids: Iterable[int]) -> None:
        """Forget many records that left the dataset at once."""
        pop = self._results.pop
        for record_id in record_ids:
            pop(record_id, None)
        self._totals.remove_many(record_ids)
        self._dataset_findings = None

    def reset(self) -> None:
        """Forget everything (a new dataset, or a new encoding)."""
        self._results.clear()
        self._totals = RunningTotals()
        self._dataset_findings = None

    def _store(self, result: RecordAnalysis) -> None:
        self._results[result.record_id] = result
        if result.tokens is not None:
            self._totals.set(result.record_id, result.tokens)
        else:
            self._totals.remove(result.record_id)

    def get(self, record_id: int) -> RecordAnalysis | None:
        """The analysis of one record, if it has been analysed."""
        return self._results.get(record_id)

    def __len__(self) -> int:
        return len(self._results)

    def example_facts(self) -> list[ExampleFacts]:
        """Facts of every analysed example in file order (new examples last, oldest first).

        Duplicate findings point at the first occurrence, so the order matters; results may
        arrive from workers in any order.
        """
        facts = [r.facts for r in self._results.values() if r.facts is not None]
        facts.sort(key=_file_order)
        return facts

    def dataset_findings(self) -> list[Finding]:
        """Findings about the dataset as a whole (count, duplicates, consistency, limits)."""
        if self._dataset_findings is None:
            blank = sum(1 for r in self._results.values() if r.blank)
            self._dataset_findings = whole_file_findings(
                self.example_facts(), self._model_id, self.model_info, self._validation_facts, blank
            )
        return self._dataset_findings

    def findings(self) -> list[Finding]:
        """Every finding, errors first, then by line."""
        found = [f for r in self._results.values() for f in r.findings]
        found.extend(self.dataset_findings())
        found.sort(key=lambda f: (f.severity.rank, f.line if f.line is not None else 0))
        return found

    def severity_counts(self) -> dict[Severity, int]:
        """How many findings of each severity there are."""
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings():
            counts[finding.severity] += 1
        return counts

    @property
    def ready(self) -> bool:
        """True when nothing blocks an upload."""
        if any(f.blocking for r in self._results.values() for f in r.findings):
            return False
        return not any(f.blocking for f in self.dataset_findings())

    def length_counts(self) -> list[tuple[int, int]]:
        """(tokens, number of examples that long) per distinct length, for the histogram."""
        return self._totals.length_counts()

    def estimate(self) -> Estimate:
        """Tokens, billable tokens, epochs and cost for the current model and epoch choice."""
        return self._totals.estimate(self.model_info, self._epochs)

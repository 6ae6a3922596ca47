"""Every finding of a dataset at once, for the findings list and the counts by severity.

Worked out from a snapshot of the examples' analyses, so that a worker can do it while the
live analysis goes on changing; ``report_of`` gives the same from the live analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from desktop.core.analysis import DatasetAnalysis, RecordAnalysis, whole_file_findings
from desktop.core.catalog import Catalog
from desktop.core.findings import Finding, Severity
from desktop.core.validation import ExampleFacts

#: Results gathered between two checkpoints.
SLICE = 4096


@dataclass(frozen=True, slots=True)
class FindingsReport:
    """Every finding of the dataset, errors first, with counts by severity."""

    findings: list[Finding] = field(default_factory=list)
    dataset_findings: list[Finding] = field(default_factory=list)
    counts: dict[Severity, int] = field(default_factory=lambda: dict.fromkeys(Severity, 0))
    #: Codes of the findings about single examples (the filter menu offers these).
    codes: frozenset[str] = frozenset()


def report_findings(
    catalog: Catalog,
    model_id: str,
    results: Sequence[RecordAnalysis],
    checkpoint: Callable[[], object],
) -> FindingsReport:
    """The whole-dataset checks over immutable ``results`` (the live analysis is not
    touched), calling ``checkpoint`` between steps so a UI thread can go first."""
    facts: list[ExampleFacts] = []
    found: list[Finding] = []
    blank = 0
    for start in range(0, len(results), SLICE):
        for result in results[start : start + SLICE]:
            if result.facts is not None:
                facts.append(result.facts)
            if result.findings:
                found.extend(result.findings)
            blank += result.blank
        checkpoint()
    facts.sort(key=_file_order)  # nearly sorted already: one quick pass
    checkpoint()
    dataset_findings = whole_file_findings(facts, model_id, catalog.get(model_id), None, blank)
    checkpoint()
    found.extend(dataset_findings)
    found.sort(key=lambda f: (f.severity.rank, f.line if f.line is not None else 0))
    return _report(found, dataset_findings)


def report_of(analysis: DatasetAnalysis) -> FindingsReport:
    """Every finding of the live analysis, worked out at once."""
    return _report(analysis.findings(), analysis.dataset_findings())


def _report(found: list[Finding], dataset_findings: list[Finding]) -> FindingsReport:
    counts = dict.fromkeys(Severity, 0)
    for finding in found:
        counts[finding.severity] += 1
    codes = frozenset(f.code for f in found if f.record_id is not None)
    return FindingsReport(found, dataset_findings, counts, codes)


def _file_order(facts: ExampleFacts) -> tuple[bool, int, int]:
    line = facts.line
    return (line is None, line or 0, facts.record_id or 0)

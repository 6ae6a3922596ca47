"""``finetune-studio check``: is a dataset ready to train, and what will training cost?

Exit codes: 0 ready, 1 when a finding blocks the upload, 2 for a usage or file problem.
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from desktop import APP_ID
from desktop.core.catalog import Catalog
from desktop.core.columns import Columns
from desktop.core.dataset import Container, escape_surrogates
from desktop.core.filecheck import FileAnalysis, check_path
from desktop.core.findings import Finding, Severity
from desktop.core.formats import DatasetKind, DatasetReadError
from desktop.core.interchange import ForeignFormat
from desktop.core.tokens import EncodingFileError, encoding_choice

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
#: Findings printed in the plain report before it points to --json for the rest.
MAX_PRINTED_FINDINGS = 40

EXIT_READY = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with the command line or the files named on it; exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every usage problem exits 2 the same way."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``check`` command's arguments."""
    parser = _Parser(
        prog=f"{APP_ID} check",
        description="Check a fine-tuning dataset and estimate what training will cost.",
    )
    parser.add_argument("file", type=Path, help="the training file (JSONL, JSON array or CSV)")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"model to train (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--epochs",
        default="auto",
        help="number of passes over the data, 1-50, or 'auto' (default: auto)",
    )
    parser.add_argument("--validation", type=Path, help="an optional validation file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--prices", type=Path, help="a JSON file with your own prices (see README)")
    return parser


def parse_epochs(text: str) -> int | None:
    """'auto' → None; otherwise an integer from 1 to 50."""
    if text.strip().lower() == "auto":
        return None
    try:
        epochs = int(text)
    except ValueError:
        raise UsageError(
            f"--epochs must be a number from 1 to 50 or 'auto', not {text!r}."
        ) from None
    if not 1 <= epochs <= 50:
        raise UsageError(f"--epochs must be from 1 to 50, not {epochs}.")
    return epochs


@dataclass(frozen=True)
class CheckedFile:
    """A file read and analysed for the report."""

    path: Path
    #: What the file was read as (JSON Lines, a JSON array, CSV).
    container: Container
    #: What kind of examples the file holds.
    kind: DatasetKind
    #: Lines kept but not readable as examples.
    broken_lines: int
    analysis: FileAnalysis
    #: The other trainer's layout the file is in (not checked line by line), if it is.
    foreign: ForeignFormat | None = None

    @property
    def format(self) -> str:
        """The layout's name in the JSON report: a foreign one, or the examples' layout."""
        return self.foreign.value if self.foreign is not None else self.kind.value

    def findings(self) -> list[Finding]:
        """What blocks or concerns the file: for a foreign file, that it must be converted."""
        if self.foreign is None:
            return self.analysis.findings()
        return [
            Finding(
                code="foreign_format",
                severity=Severity.ERROR,
                text=f"This file holds {_foreign_name(self.foreign)} examples, not OpenAI chat "
                "examples, so it cannot be uploaded as it is.",
                fix="Open it with File > Import in the app, which converts it to chat "
                "examples, and save the result; or export it in OpenAI's chat format from the "
                "tool that made it. Then check the converted file.",
            )
        ]


def check_file(path: Path, catalog: Catalog, model: str, epochs: int | None) -> CheckedFile:
    """Read and analyse one file (a ShareGPT, Alpaca or Gemini file is only recognised).

    The file is streamed, not held whole, and lines known from an earlier check come from the
    count cache (see ``filecheck``).
    """
    checked = check_path(path, catalog, model, epochs)
    foreign = checked.foreign
    analysis = checked.analysis
    if foreign is not None:  # no tokens nor cost for a file that cannot be uploaded
        analysis = FileAnalysis(catalog, model, epochs, Columns())
    return CheckedFile(
        path, checked.container, checked.kind, checked.broken_lines, analysis, foreign
    )


def _foreign_name(fmt: ForeignFormat) -> str:
    """ "ShareGPT", "Alpaca", "Gemini / Vertex AI tuning"."""
    return fmt.label.split(" (")[0]


def build_report(
    training: CheckedFile, validation: CheckedFile | None, catalog: Catalog
) -> dict[str, Any]:
    """The JSON report (also the source of the plain-text one)."""
    analysis = training.analysis
    if validation is not None and validation.foreign is None:
        analysis.set_validation_facts(validation.analysis.example_facts())
    estimate = analysis.estimate()
    findings = [_finding_json(f, "training") for f in training.findings()]
    if validation is not None:
        findings += [_finding_json(f, "validation") for f in validation.findings()]
    blocking = any(f["severity"] == Severity.ERROR.value for f in findings)
    choice = encoding_choice(analysis.model_id)
    info = analysis.model_info
    report: dict[str, Any] = {
        "file": str(training.path),
        "format": training.format,
        "container": training.container.value,
        "model": analysis.model_id,
        "model_known": info is not None,
        "encoding": choice.encoding,
        "encoding_is_guess": choice.is_guess,
        "examples": estimate.examples,
        "broken_lines": training.broken_lines,
        "findings": findings,
        "tokens": {
            "total": estimate.total_tokens,
            "billable_per_epoch": estimate.billable_tokens_per_epoch,
            "billable_total": estimate.billable_tokens_total,
            "assistant": estimate.assistant_tokens,
            "max_example": estimate.max_example_tokens,
            "over_limit": estimate.over_limit,
            "limit": info.max_tokens_per_example if info is not None else None,
            "estimated": estimate.estimated,
        },
        "epochs": estimate.epochs,
        "epochs_auto": analysis.epochs is None,
        "estimated_cost_usd": estimate.estimated_cost_usd,
        "training_price_per_1m_usd": info.training_price_per_1m if info is not None else None,
        "prices_as_of": catalog.as_of.isoformat() if catalog.as_of else None,
        "ready": not blocking,
    }
    if validation is not None:
        report["validation"] = {
            "file": str(validation.path),
            "format": validation.format,
            "examples": validation.analysis.estimate().examples,
            "broken_lines": validation.broken_lines,
            "tokens": validation.analysis.estimate().total_tokens,
        }
    return report


def _finding_json(finding: Finding, file_role: str) -> dict[str, Any]:
    entry = finding.to_json()
    entry["file"] = file_role
    return entry


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The plain-language report a person reads in a terminal."""
    tokens = report["tokens"]
    counts = {s.value: 0 for s in Severity}
    for finding in report["findings"]:
        counts[finding["severity"]] += 1
    write = _safe_writer(out)
    write(f"Checked {report['file']}\n")
    layout = _LAYOUT_NAMES.get(report["format"], report["format"])
    foreign = report["format"] in _FOREIGN_FORMATS
    examples = f", {_count(report['examples'], 'example')}" if report["examples"] else ""
    broken = "" if foreign else f", {_count(report['broken_lines'], 'broken line')}"
    write(f"  Format: {layout}{examples}{broken}\n")
    guess = " (a guess: the model is not in the catalog)" if report["encoding_is_guess"] else ""
    write(f"  Model: {report['model']}, tokenizer {report['encoding']}{guess}\n")
    if "validation" in report:
        val = report["validation"]
        write(
            f"  Validation file: {val['file']}, {_count(val['examples'], 'example')} (not billed)\n"
        )
    write("\n")
    if report["findings"]:
        write(
            f"Problems: {_count(counts['error'], 'error')}, "
            f"{_count(counts['warning'], 'warning')}, {_count(counts['info'], 'note')}\n"
        )
        for finding in report["findings"][:MAX_PRINTED_FINDINGS]:
            write(_format_finding(finding))
        hidden = len(report["findings"]) - MAX_PRINTED_FINDINGS
        if hidden > 0:
            write(f"  … and {hidden:,} more (use --json to see them all)\n")
        write("\n")
    else:
        write("Problems: none found\n\n")
    if foreign:
        write("Tokens and cost: not counted until the file is converted\n")
        write("Ready to train: no, convert it first\n")
        return
    limit = f" of {tokens['limit']:,} allowed" if tokens["limit"] else ""
    approx = " (some parts estimated)" if tokens["estimated"] else ""
    write(
        f"Tokens: {tokens['total']:,} in total{approx}, {tokens['assistant']:,} in replies; "
        f"largest example {tokens['max_example']:,}{limit}\n"
    )
    over = tokens["over_limit"]
    if over:
        verb = "is" if over == 1 else "are"
        write(f"  {_count(over, 'example')} {verb} over the limit and will be cut short\n")
    auto = " (chosen automatically)" if report["epochs_auto"] else ""
    write(
        f"Training: {_count(report['epochs'], 'epoch')}{auto} x "
        f"{_count(tokens['billable_per_epoch'], 'billable token', none='0')} = "
        f"{_count(tokens['billable_total'], 'token', none='0')}\n"
    )
    cost = report["estimated_cost_usd"]
    if cost is None:
        write("Estimated cost: unknown (no per-token training price for this model)\n")
    else:
        price = report["training_price_per_1m_usd"]
        write(
            f"Estimated cost: ${cost:,.2f} at ${price:,.2f} per 1M training tokens "
            f"(prices as of {report['prices_as_of']})\n"
        )
    if report["ready"]:
        write("Ready to train: yes\n")
    elif counts["error"] == 1:
        write("Ready to train: no, fix the error first\n")
    else:
        write(f"Ready to train: no, fix the {counts['error']:,} errors first\n")


def print_json_report(report: dict[str, Any], out: TextIO) -> None:
    """The report as one JSON object; valid JSON whatever the terminal can show."""
    ascii_only = not _writes_unicode(out)
    text = json.dumps(report, ensure_ascii=ascii_only, indent=2)
    out.write(escape_surrogates(text) + "\n")


def _safe_writer(out: TextIO) -> Callable[[str], object]:
    """``out.write`` for report text: halves of characters escaped, since no terminal can
    show them (and printing them would fail)."""

    def write(text: str) -> object:
        return out.write(escape_surrogates(text))

    return write


def _writes_unicode(out: TextIO) -> bool:
    """True when ``out`` can take any character (a UTF encoding, or text kept in memory)."""
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return True
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def _tolerant(stream: TextIO) -> TextIO:
    """``stream`` writing what its encoding cannot show as backslash escapes, rather than
    failing (a terminal or pipe in the C locale only takes ASCII)."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")
    return stream


def _count(n: int, noun: str, *, none: str = "no") -> str:
    """``n`` and the noun as people say it: "no errors", "1 error", "2,500 errors"."""
    if n == 0:
        return f"{none} {noun}s"
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


_LAYOUT_NAMES = {
    DatasetKind.CHAT.value: "chat examples",
    DatasetKind.PREFERENCE.value: "preference (DPO) pairs",
    DatasetKind.PROMPT_COMPLETION.value: "legacy prompt/completion pairs",
    DatasetKind.PROMPT_RESPONSE.value: "legacy prompt/response pairs",
    DatasetKind.MIXED.value: "a mix of layouts",
    DatasetKind.EMPTY.value: "no examples",
    **{f.value: f"{_foreign_name(f)} examples (another trainer's layout)" for f in ForeignFormat},
}
_FOREIGN_FORMATS = frozenset(f.value for f in ForeignFormat)

_SEVERITY_LABELS = {"error": "ERROR", "warning": "WARNING", "info": "NOTE"}


def _format_finding(finding: dict[str, Any]) -> str:
    where = []
    if finding.get("file") == "validation":
        where.append("validation file")
    if finding["line"] is not None:
        where.append(f"line {finding['line']}")
    if finding["message_index"] is not None:
        where.append(f"message {finding['message_index'] + 1}")
    place = f" ({', '.join(where)})" if where else ""
    text = f"  {_SEVERITY_LABELS[finding['severity']]}{place}: {finding['text']}\n"
    if finding.get("fix"):
        text += f"      Fix: {finding['fix']}\n"
    return text


def run_check(args: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``finetune-studio check`` and return its exit code (a report, never a traceback)."""
    out = out or _tolerant(sys.stdout)
    err = err or _tolerant(sys.stderr)
    try:
        options = build_parser().parse_args(list(args))
        epochs = parse_epochs(options.epochs)
        catalog = Catalog.load()
        if options.prices is not None:
            catalog = catalog.with_overrides(options.prices)
        training = check_file(options.file, catalog, options.model, epochs)
        validation = (
            check_file(options.validation, catalog, options.model, epochs)
            if options.validation is not None
            else None
        )
        report = build_report(training, validation, catalog)
    except UsageError as exc:
        _tell(err, f"{APP_ID} check: {exc}\n")
        _tell(
            err,
            f"Usage: {APP_ID} check FILE [--model ID] [--epochs N|auto] "
            "[--validation FILE] [--json]\n",
        )
        return EXIT_USAGE
    except (DatasetReadError, EncodingFileError, ValueError, OSError) as exc:
        _tell(err, f"{APP_ID} check: {exc}\n")
        return EXIT_USAGE
    except MemoryError:
        _tell(err, f"{APP_ID} check: the file is too large to check with the memory available.\n")
        return EXIT_USAGE
    except Exception as exc:  # a defect in the app: still a sentence, never a traceback
        _tell(
            err,
            f"{APP_ID} check: the file could not be checked because of an unexpected problem "
            f"in the app ({type(exc).__name__}: {exc}). Please report it.\n",
        )
        return EXIT_USAGE
    try:
        if options.json:
            print_json_report(report, out)
        else:
            print_report(report, out)
        out.flush()
    except BrokenPipeError:
        # The reader (e.g. ``| head``) stopped early; that is not the dataset's fault.
        sys.stderr.close()
    return EXIT_READY if report["ready"] else EXIT_BLOCKED


def _tell(err: TextIO, text: str) -> None:
    err.write(escape_surrogates(text))

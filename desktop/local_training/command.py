"""``finetune-studio train-local``: train a LoRA adapter on this computer without the window.

    finetune-studio train-local FILE --base-model DIR_OR_HUB_ID --output DIR [--epochs N]
        [--max-steps N] [--learning-rate X] [--lora-rank R] [--validation FILE] [--json]

The dataset is checked first with the same findings as ``finetune-studio check``. With
``--json`` every line printed is one JSON object: each logged step has ``step`` and ``loss``,
and the last line (``"event": "end"``) says the outcome and where the adapter is.

Exit codes: 0 trained; 1 the dataset or the settings cannot be trained (the findings say
why); 2 it could not run (the optional libraries are missing, the computer failed…).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from desktop import APP_ID
from desktop.core.findings import Finding, Severity
from desktop.core.formats import DatasetKind
from desktop.local_training import unavailable_reason
from desktop.local_training.hardware import detect_hardware
from desktop.local_training.models import looks_like_hub_id, model_folder_problem
from desktop.local_training.protocol import JobFiles, JobSpec, Settings, line
from desktop.local_training.settings import parameters_for, resolve_settings

EXIT_TRAINED = 0
EXIT_UNUSABLE = 1
EXIT_COULD_NOT_RUN = 2
USAGE = (
    f"Usage: {APP_ID} train-local FILE --base-model DIR_OR_HUB_ID --output DIR [--epochs N] "
    "[--max-steps N] [--learning-rate X] [--lora-rank R] [--validation FILE] [--json]"
)
_LABELS = {"error": "ERROR", "warning": "WARNING", "info": "NOTE"}
#: ``check`` findings about OpenAI's own limits (its minimum of examples, its models' token
#: limits), which training here does not have: long examples are cut at the longest length.
OPENAI_ONLY = frozenset({"too_few_examples", "too_many_tokens"})


class UsageError(Exception):
    """A problem with the command line; exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = _Parser(
        prog=f"{APP_ID} train-local",
        description="Train a LoRA adapter on this computer from a chat or preference dataset.",
    )
    parser.add_argument("file", type=Path, help="the training examples (JSONL)")
    parser.add_argument(
        "--base-model", required=True, help="a model folder, or a Hugging Face name (owner/model)"
    )
    parser.add_argument("--output", required=True, type=Path, help="a new folder for the result")
    parser.add_argument("--epochs", type=int, help="passes over the data (default 3)")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--learning-rate", type=float, help="the learning rate (default 0.0002)")
    parser.add_argument("--lora-rank", type=int, help="the LoRA rank (default 16)")
    parser.add_argument("--validation", type=Path, help="validation examples (JSONL)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    return parser


class _Printer:
    """Prints progress lines as they come: JSON as it is, or a sentence for people."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json

    def __call__(self, text: str) -> None:
        if self.as_json:
            self.out.write(text + "\n")
        else:
            sentence = _sentence(json.loads(text))
            if sentence:
                self.out.write(sentence + "\n")
        self.out.flush()


def _sentence(value: dict[str, Any]) -> str | None:
    kind = value.get("event")
    if kind == "message":
        return str(value.get("text", ""))
    if kind == "start":
        device = {"cuda": "NVIDIA GPU", "mps": "Apple GPU"}.get(value.get("device"), "processor")
        return (
            f"Training {value.get('total_steps')} steps on the {device} "
            f"({value.get('examples')} examples)."
        )
    if kind == "step":
        parts = [f"Step {value.get('step')}/{value.get('total_steps')}: loss {value['loss']:.4f}"]
        if value.get("tokens_per_second"):
            parts.append(f"{value['tokens_per_second']:,.0f} tokens/s")
        if (value.get("eta_seconds") or 0) >= 1:
            parts.append(f"about {value['eta_seconds']:.0f} s left")
        return ", ".join(parts)
    if kind == "eval":
        return f"Step {value.get('step')}: validation loss {value.get('valid_loss', 0):.4f}"
    if kind == "end":
        return str(value.get("message", ""))
    return None


def _finding_text(finding: Finding, role: str) -> str:
    data = finding.to_json()
    where = ["validation file"] if role == "validation" else []
    if data.get("line") is not None:
        where.append(f"line {data['line']}")
    if data.get("message_index") is not None:
        where.append(f"message {data['message_index'] + 1}")
    place = f" ({', '.join(where)})" if where else ""
    text = f"  {_LABELS.get(data['severity'], 'NOTE')}{place}: {data['text']}\n"
    if data.get("fix"):
        text += f"      Fix: {data['fix']}\n"
    return text


def _check(paths: list[tuple[str, Path]]) -> tuple[list[tuple[str, Finding]], str | None]:
    """The findings ``check`` gives for each file, and the training method its layout means
    (None when it is neither chat nor preference examples)."""
    from desktop.cli import DEFAULT_MODEL, check_file
    from desktop.core.catalog import Catalog

    catalog = Catalog.load()
    findings: list[tuple[str, Finding]] = []
    method: str | None = None
    for role, path in paths:
        checked = check_file(path, catalog, DEFAULT_MODEL, None)
        findings += [(role, f) for f in checked.findings() if f.code not in OPENAI_ONLY]
        if role == "training":
            method = {DatasetKind.CHAT: "supervised", DatasetKind.PREFERENCE: "dpo"}.get(
                checked.kind
            )
    return findings, method


def _unusable(out: TextIO, as_json: bool, message: str, findings: list[tuple[str, Finding]]) -> int:
    if as_json:
        entries = [{**f.to_json(), "file": role} for role, f in findings]
        out.write(line("end", status="unusable", message=message, findings=entries) + "\n")
    else:
        for role, finding in findings:
            out.write(_finding_text(finding, role))
        out.write(f"{message}\n")
    return EXIT_UNUSABLE


def run_train_local(
    args: Sequence[str], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``finetune-studio train-local`` and return its exit code (never a traceback)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        options = build_parser().parse_args(list(args))
    except UsageError as exc:
        err.write(f"{APP_ID} train-local: {exc}\n{USAGE}\n")
        return EXIT_COULD_NOT_RUN
    missing = unavailable_reason()
    if missing is not None:
        err.write(f"{APP_ID} train-local: {missing}\n")
        return EXIT_COULD_NOT_RUN
    as_json = bool(options.json)
    for path in (options.file, options.validation):
        if path is not None and not path.is_file():
            err.write(f"{APP_ID} train-local: there is no file at {path}.\n")
            return EXIT_COULD_NOT_RUN
    files_to_check = [("training", options.file)]
    if options.validation is not None:
        files_to_check.append(("validation", options.validation))
    try:
        findings, method = _check(files_to_check)
    except (OSError, ValueError) as exc:
        err.write(f"{APP_ID} train-local: {exc}\n")
        return EXIT_COULD_NOT_RUN
    if any(f.severity is Severity.ERROR for _role, f in findings):
        return _unusable(out, as_json, "The dataset cannot be trained as it is.", findings)
    if method is None:
        return _unusable(out, as_json, "Train on chat examples or on preference (DPO) pairs.", [])
    problem = _settings_problem(options)
    if problem is not None:
        return _unusable(out, as_json, problem, [])
    specs = parameters_for(detect_hardware())
    chosen = {
        "n_epochs": options.epochs,
        "max_steps": options.max_steps,
        "learning_rate": options.learning_rate,
        "lora_r": options.lora_rank,
        "lora_alpha": 2 * options.lora_rank if options.lora_rank else None,
    }
    chosen = {k: v for k, v in chosen.items() if v is not None}
    for spec in specs:
        if spec.name in chosen and (problem := spec.problem(chosen[spec.name])) is not None:
            return _unusable(out, as_json, problem, [])
    return _train(options, method, resolve_settings(chosen, specs, None), out, err)


def _settings_problem(options: argparse.Namespace) -> str | None:
    base = str(options.base_model)
    if not looks_like_hub_id(base):
        problem = model_folder_problem(Path(base).expanduser())
        if problem is not None:
            return problem
    output: Path = options.output
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        return f"The output folder {output} is not empty; choose a new folder for the result."
    return None


def _train(
    options: argparse.Namespace, method: str, settings: Settings, out: TextIO, err: TextIO
) -> int:
    from desktop.local_training import locks
    from desktop.local_training.trainer import run_training, stop_request

    files = JobFiles(options.output.resolve())
    files.training.mkdir(parents=True, exist_ok=True)
    held = locks.try_lock(files.lock)
    if held is None:
        err.write(f"{APP_ID} train-local: another training is using {options.output}.\n")
        return EXIT_COULD_NOT_RUN
    shutil.copyfile(options.file, files.data_file("training"))
    if options.validation is not None:
        shutil.copyfile(options.validation, files.data_file("validation"))
    base = str(options.base_model)
    spec = JobSpec(
        job_id=files.folder.name,
        base_model=base if looks_like_hub_id(base) else str(Path(base).expanduser().resolve()),
        method=method,
        training_file=str(files.data_file("training")),
        validation_file=str(files.data_file("validation")) if options.validation else None,
        output_dir=str(files.folder),
        settings=settings,
    )
    files.spec.write_bytes(spec.to_json())
    printer = _Printer(out, bool(options.json))
    try:
        # What the libraries print (and any traceback) goes to the log, not the terminal.
        with (
            files.log.open("a", encoding="utf-8") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            outcome = run_training(spec, emit=printer, stop=lambda: stop_request(files))
    except KeyboardInterrupt:
        printer(line("end", status="cancelled", message="Training was stopped."))
        return EXIT_COULD_NOT_RUN
    finally:
        locks.release(held)
    if outcome.status == "succeeded":
        return EXIT_TRAINED
    return EXIT_UNUSABLE if outcome.unusable else EXIT_COULD_NOT_RUN

"""The training process: ``python -m desktop.local_training.trainer SPEC [--resume CHECKPOINT]``.

It runs apart from the app, so a crash or an out-of-memory here never takes the window down.
It holds the job's lock while it lives, prints one JSON line per event on its standard output
(the app points that at ``progress.jsonl``; see ``protocol``), sends everything else the
libraries print to its standard error (the log), and looks at the job's ``stop`` file after
each step: ``pause`` saves a checkpoint and stops, ``cancel`` stops.

Supervised jobs train LoRA adapters with TRL's ``SFTTrainer`` on the chat examples, the loss on
the assistant replies only (replies with ``weight: 0`` left out, see ``data``); preference
jobs use TRL's ``DPOTrainer``. torch and the rest are imported inside ``run_training``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from desktop.local_training import locks
from desktop.local_training.data import (
    Converted,
    DataError,
    chat_rows,
    preference_rows,
    read_examples,
)
from desktop.local_training.models import looks_like_hub_id, model_folder_problem
from desktop.local_training.protocol import JobFiles, JobSpec, line

Emit = Callable[[str], None]
#: Returns "pause", "cancel" or None: what the user asked for since the run started.
StopRequest = Callable[[], str | None]

#: A checkpoint at least this often (seconds), so an interruption loses little work.
SAVE_EVERY_SECONDS = 20 * 60
#: Progress lines during a download at most this often (seconds).
DOWNLOAD_REPORT_SECONDS = 2.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ALREADY_RUNNING = 3


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``status`` is succeeded, failed, paused or cancelled; ``unusable`` is
    True when the data or the settings (not the computer) made it fail."""

    status: str
    message: str
    adapter: str | None = None
    step: int | None = None
    trained_tokens: int | None = None
    unusable: bool = False

    def as_line(self) -> str:
        return line(
            "end",
            status=self.status,
            message=self.message,
            adapter=self.adapter,
            step=self.step,
            trained_tokens=self.trained_tokens,
            unusable=self.unusable or None,
        )


class _Unusable(Exception):
    """The data or settings cannot be trained; the message says why."""


class _Stopped(Exception):
    """The user paused or cancelled before training began."""

    def __init__(self, request: str) -> None:
        super().__init__(request)
        self.request = request


def _words(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def _resolve_base(spec: JobSpec, emit: Emit, stop: StopRequest) -> Path:
    """The base model's folder: the one given, or the Hub's copy (downloaded if missing)."""
    folder = Path(spec.base_model).expanduser()
    if folder.exists() or not looks_like_hub_id(spec.base_model):
        problem = model_folder_problem(folder)
        if problem is not None:
            raise _Unusable(problem)
        return folder
    from desktop.local_training import hub

    cached = hub.cached_model(spec.base_model)
    if cached is not None:
        return cached
    emit(line("message", text=f"Downloading {spec.base_model} from the Hugging Face Hub…"))
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= DOWNLOAD_REPORT_SECONDS or done >= total:
            last = now
            share = 100 * done / total if total else 100
            emit(
                line(
                    "message",
                    text=f"Downloading {spec.base_model}: {share:.0f}% of {hub.size_words(total)}.",
                    download_done=done,
                    download_total=total,
                )
            )

    try:
        folder = hub.download_model(
            spec.base_model, progress=report, should_cancel=lambda: stop() is not None
        )
    except hub.DownloadCancelled:
        raise _Stopped(stop() or "cancel") from None
    except hub.HubError as exc:
        raise RuntimeError(exc.text()) from exc
    problem = model_folder_problem(folder)
    if problem is not None:
        raise _Unusable(problem)
    return folder


def _device(torch: Any) -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _rows(what: str, path: Path, method: str, tokenizer: Any, max_length: int) -> Converted:
    examples = read_examples(path)
    if not examples:
        raise _Unusable(f"The {what} file holds no examples.")
    if method == "dpo":
        converted = preference_rows(examples)
    else:
        converted = chat_rows(tokenizer, examples, max_length)
    if not converted.rows:
        reasons = "; ".join(converted.skipped)
        raise _Unusable(f"None of the examples of the {what} can be trained ({reasons}).")
    return converted


def _plain_failure(exc: BaseException) -> tuple[str, bool]:
    """What went wrong in one sentence, and whether the data or settings are to blame."""
    if isinstance(exc, _Unusable):
        return str(exc), True
    if isinstance(exc, DataError):
        return f"The data cannot be trained: {exc}.", True
    text = str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (
            "The computer ran out of memory while training. Lower the batch size or the "
            "maximum example length, or choose a smaller base model, then train again.",
            True,
        )
    if isinstance(exc, RuntimeError) and text and not text.startswith("CUDA"):
        return text if text.endswith(".") else text + ".", False
    return (
        f"Training stopped because of an unexpected problem ({type(exc).__name__}: {text}). "
        "The details are in the job's trainer.log.",
        False,
    )


def run_training(
    spec: JobSpec,
    *,
    emit: Emit,
    stop: StopRequest = lambda: None,
    resume_from: Path | None = None,
) -> Outcome:
    """Train as ``spec`` says, reporting through ``emit``; the outcome is emitted last too."""
    try:
        outcome = _train(spec, emit, stop, resume_from)
    except _Stopped as stopped:
        status = "paused" if stopped.request == "pause" else "cancelled"
        outcome = Outcome(status, f"Training was {status} before it began.")
    except Exception as exc:
        traceback.print_exc()
        message, unusable = _plain_failure(exc)
        outcome = Outcome("failed", message, unusable=unusable)
    emit(outcome.as_line())
    return outcome


def _train(spec: JobSpec, emit: Emit, stop: StopRequest, resume_from: Path | None) -> Outcome:
    settings = spec.settings
    files = JobFiles(Path(spec.output_dir))
    if spec.method not in ("supervised", "dpo"):
        raise _Unusable(f"This computer cannot train with the {spec.method} method.")
    if (request := stop()) is not None:
        raise _Stopped(request)
    emit(line("message", text="Loading the training libraries…"))
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = _resolve_base(spec, emit, stop)
    if (request := stop()) is not None:
        raise _Stopped(request)
    device = _device(torch)
    emit(line("message", text=f"Loading {base.name} on the {_DEVICE_WORDS[device]}…"))
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train = _rows(
        "training data", Path(spec.training_file), spec.method, tokenizer, settings.max_length
    )
    if (note := train.summary("training data")) is not None:
        emit(line("message", text=note, level="warning"))
    valid = None
    if spec.validation_file:
        valid = _rows(
            "validation data",
            Path(spec.validation_file),
            spec.method,
            tokenizer,
            settings.max_length,
        )
        if (note := valid.summary("validation data")) is not None:
            emit(line("message", text=note, level="warning"))
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    lora = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    per_epoch = math.ceil(len(train.rows) / settings.batch_size)
    total = settings.max_steps or per_epoch * settings.epochs
    eval_every = settings.eval_steps or max(1, total // 20)
    common: dict[str, Any] = {
        "output_dir": str(files.checkpoints),
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps or -1,
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "lr_scheduler_type": "linear",
        "logging_steps": settings.logging_steps,
        "save_strategy": "steps",
        # at most about ten checkpoints, an epoch apart at least (and one every 20 minutes)
        "save_steps": settings.save_steps or max(per_epoch, math.ceil(total / 10)),
        "eval_strategy": "steps" if valid is not None else "no",
        "eval_steps": eval_every,
        "report_to": [],
        "disable_tqdm": True,
        "seed": settings.seed,
        "use_cpu": device == "cpu",
        "bf16": bf16,
        "max_length": settings.max_length,
        "include_num_input_tokens_seen": True,
        "dataloader_num_workers": 0,
    }
    reporter = _reporter(emit, stop, device=device, examples=len(train.rows))
    if spec.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(beta=settings.beta, **common),
            train_dataset=Dataset.from_list(train.rows),
            eval_dataset=Dataset.from_list(valid.rows) if valid is not None else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[reporter],
        )
    else:
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(**common),
            train_dataset=Dataset.from_list(train.rows),
            eval_dataset=Dataset.from_list(valid.rows) if valid is not None else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[reporter],
        )
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = trainer.state
    step = state.global_step
    tokens = getattr(state, "num_input_tokens_seen", None) or None
    if reporter.request == "pause":
        return Outcome(
            "paused", f"Training paused at step {step}; resume it to go on from there.", step=step
        )
    if reporter.request == "cancel":
        return Outcome("cancelled", f"Training was cancelled at step {step}.", step=step)
    trainer.save_model(str(files.adapter))
    tokenizer.save_pretrained(str(files.adapter))
    return Outcome(
        "succeeded",
        f"Training finished after {step} steps; the adapter is in {files.adapter}.",
        adapter=str(files.adapter),
        step=step,
        trained_tokens=int(tokens) if tokens else None,
    )


_DEVICE_WORDS = {"cuda": "NVIDIA GPU", "mps": "Apple GPU", "cpu": "processor"}


def _reporter(emit: Emit, stop: StopRequest, *, device: str, examples: int) -> Any:
    """The ``TrainerCallback`` that reports and stops (built once transformers is loaded)."""
    from transformers import TrainerCallback

    class Reporter(_ReporterMixin, TrainerCallback):
        pass

    return Reporter(emit, stop, device=device, examples=examples)


class _ReporterMixin:
    """Prints one JSON line per logged step, validation and checkpoint, and stops training
    (saving first for a pause) when the user asks."""

    def __init__(self, emit: Emit, stop: StopRequest, *, device: str, examples: int) -> None:
        self.emit = emit
        self.stop = stop
        self.device = device
        self.examples = examples
        self.request: str | None = None
        self.started = time.monotonic()
        self.first_step = 0
        self.last_time = self.started
        self.last_tokens = 0
        self.last_save = self.started

    def on_train_begin(self, args: Any, state: Any, control: Any, **_kw: Any) -> None:
        self.started = self.last_time = self.last_save = time.monotonic()
        self.first_step = state.global_step
        self.last_tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        self.emit(
            line(
                "start",
                total_steps=state.max_steps,
                epochs=args.num_train_epochs,
                examples=self.examples,
                device=self.device,
                resumed_from=state.global_step or None,
            )
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_kw: Any
    ) -> None:
        logs = logs or {}
        step = state.global_step
        if "eval_loss" in logs:
            self.emit(
                line(
                    "eval",
                    step=step,
                    valid_loss=logs.get("eval_loss"),
                    valid_accuracy=logs.get("eval_mean_token_accuracy"),
                )
            )
            return
        if "loss" not in logs:
            return
        now = time.monotonic()
        tokens = getattr(state, "num_input_tokens_seen", 0) or 0
        elapsed = now - self.last_time
        speed = (tokens - self.last_tokens) / elapsed if elapsed > 0 and tokens else None
        self.last_time, self.last_tokens = now, tokens
        done = step - self.first_step
        left = state.max_steps - step
        eta = (now - self.started) / done * left if done > 0 else None
        self.emit(
            line(
                "step",
                step=step,
                total_steps=state.max_steps,
                epoch=logs.get("epoch", state.epoch),
                loss=logs.get("loss"),
                learning_rate=logs.get("learning_rate"),
                accuracy=logs.get("mean_token_accuracy"),
                tokens_per_second=round(speed, 1) if speed else None,
                eta_seconds=round(eta, 1) if eta is not None else None,
            )
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **_kw: Any) -> None:
        request = self.stop()
        if request in ("pause", "cancel"):
            self.request = request
            control.should_training_stop = True
            control.should_save = request == "pause"
            control.should_evaluate = False
            return
        if time.monotonic() - self.last_save >= SAVE_EVERY_SECONDS:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **_kw: Any) -> None:
        self.last_save = time.monotonic()
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emit(line("checkpoint", step=state.global_step, path=str(path)))


# --------------------------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------------------------


def _json_output() -> TextIO:
    """The process's real standard output for the JSON lines; everything else any library
    prints goes to standard error (the log) from now on."""
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(real, "w", encoding="utf-8", buffering=1)


def _lower_priority() -> None:
    """Leave the processor to the window first: training takes what is left."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)


def stop_request(files: JobFiles) -> str | None:
    """What the job's ``stop`` file asks for: ``pause``, ``cancel`` or None."""
    try:
        text = files.stop.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text if text in ("pause", "cancel") else None


def main(argv: list[str] | None = None) -> int:
    """Run one job (see the module docstring); the exit code says whether it trained."""
    parser = argparse.ArgumentParser(prog="python -m desktop.local_training.trainer")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--resume", type=Path, default=None)
    options = parser.parse_args(argv)
    spec = JobSpec.load(options.spec)
    files = JobFiles(Path(spec.output_dir))
    held = locks.try_lock(files.lock)
    if held is None:
        print("Another training process is running this job.", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    out = _json_output()

    def emit(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    emit(line("hello", pid=os.getpid()))
    _lower_priority()
    outcome = run_training(
        spec, emit=emit, stop=lambda: stop_request(files), resume_from=options.resume
    )
    locks.release(held)
    return EXIT_OK if outcome.status in ("succeeded", "paused", "cancelled") else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

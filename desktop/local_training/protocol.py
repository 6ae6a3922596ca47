"""What the app and a training process share: the job folder and the JSON lines it prints.

A job lives in its folder of the job archive (``JobArchive.job_folder``)::

    training/spec.json         what to train: base model, data, settings (written once)
    training/state.json        what the user wants (run, pause, cancel), kept by the app
    training/progress.jsonl    the training process's output: one JSON object a line
    training/app-events.jsonl  what the app itself noted (paused, resumed, picked up again)
    training/trainer.log       the process's messages and tracebacks, for a bug report
    training/run.lock          held by the running process (see ``locks``)
    training/stop              "pause" or "cancel": asks the process to stop
    training/*.jsonl           the exact training and validation data
    checkpoints/checkpoint-N/  a PEFT adapter (and what resuming needs) every few steps
    adapter/                   the final PEFT adapter, with the tokenizer

Each line of ``progress.jsonl`` has an ``event`` and a ``time`` (Unix seconds):

- ``hello``: the process started (``pid``).
- ``message``: ``text`` to show (``level`` info or warning).
- ``start``: training began: ``total_steps``, ``epochs``, ``examples``, ``device``.
- ``step``: one logged step: ``step``, ``total_steps``, ``epoch``, ``loss``,
  ``learning_rate``, ``accuracy``, ``tokens_per_second``, ``eta_seconds``.
- ``eval``: validation at a step: ``step``, ``valid_loss``, ``valid_accuracy``.
- ``checkpoint``: ``step`` and ``path`` of a saved adapter.
- ``end``: ``status`` (succeeded, failed, paused, cancelled), ``message``, ``adapter``,
  ``step``, ``trained_tokens``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SPEC_VERSION = 1
METHODS = ("supervised", "dpo")


@dataclass(frozen=True)
class Settings:
    """The training settings, every one resolved (the defaults filled in)."""

    epochs: int = 3
    max_steps: int | None = None
    learning_rate: float = 2e-4
    batch_size: int = 2
    max_length: int = 512
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    beta: float = 0.1
    seed: int = 42
    #: Steps between saved checkpoints (None: about ten in all, an epoch apart at least).
    save_steps: int | None = None
    #: Steps between validation runs (None: about twenty in all).
    eval_steps: int | None = None
    logging_steps: int = 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Read the JSON form; unknown keys are ignored, missing ones take the defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class JobSpec:
    """What one training process is told to do."""

    job_id: str
    base_model: str
    method: str
    training_file: str
    output_dir: str
    settings: Settings = field(default_factory=Settings)
    validation_file: str | None = None

    def to_json(self) -> bytes:
        """The spec as the bytes of ``spec.json``."""
        data = asdict(self)
        data["version"] = SPEC_VERSION
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Read the JSON form (``ValueError`` when it is not a spec)."""
        try:
            return cls(
                job_id=str(data["job_id"]),
                base_model=str(data["base_model"]),
                method=str(data.get("method", "supervised")),
                training_file=str(data["training_file"]),
                output_dir=str(data["output_dir"]),
                settings=Settings.from_dict(data.get("settings") or {}),
                validation_file=data.get("validation_file") or None,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError("The job's settings file is incomplete.") from exc

    @classmethod
    def load(cls, path: Path) -> JobSpec:
        """Read ``spec.json`` (``ValueError`` or ``OSError`` when it cannot be)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError("The job's settings file is damaged.")
        return cls.from_dict(data)


@dataclass(frozen=True)
class JobFiles:
    """The paths of one job folder (see the module docstring)."""

    folder: Path

    @property
    def training(self) -> Path:
        return self.folder / "training"

    @property
    def spec(self) -> Path:
        return self.training / "spec.json"

    @property
    def state(self) -> Path:
        return self.training / "state.json"

    @property
    def progress(self) -> Path:
        return self.training / "progress.jsonl"

    @property
    def app_events(self) -> Path:
        return self.training / "app-events.jsonl"

    @property
    def log(self) -> Path:
        return self.training / "trainer.log"

    @property
    def lock(self) -> Path:
        return self.training / "run.lock"

    @property
    def stop(self) -> Path:
        return self.training / "stop"

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.folder / "adapter"

    def data_file(self, role: str) -> Path:
        """Where the exact ``training`` or ``validation`` data is kept."""
        return self.training / f"{role}.jsonl"


def line(event: str, **values: Any) -> str:
    """One progress line: ``{"event": …, "time": …, …}`` (non-finite numbers left out)."""
    clean = {
        k: v
        for k, v in values.items()
        if v is not None and not (isinstance(v, float) and not math.isfinite(v))
    }
    return json.dumps({"event": event, "time": time.time(), **clean}, ensure_ascii=False)


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(number, object) for each complete line of a JSON-lines file that reads as an object.

    Numbers count every complete line, readable or not, so they stay the same as the file
    grows; a last line still being written (no newline yet) is left for the next read.
    """
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return
    complete = body[: body.rfind(b"\n") + 1]
    for number, raw in enumerate(complete.split(b"\n")[:-1]):
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("event"), str):
            yield number, value


def checkpoint_step(folder: Path) -> int | None:
    """N for a complete ``checkpoint-N`` folder (one a crash cut short has no trainer state)."""
    name = folder.name
    if not name.startswith("checkpoint-") or not name[11:].isdigit():
        return None
    if not (folder / "adapter_config.json").is_file():
        return None
    if not (folder / "trainer_state.json").is_file():
        return None
    return int(name[11:])


def checkpoints(files: JobFiles) -> list[tuple[int, Path]]:
    """The complete checkpoints of a job, oldest first."""
    try:
        entries = list(files.checkpoints.iterdir())
    except OSError:
        return []
    found = [(step, entry) for entry in entries if (step := checkpoint_step(entry)) is not None]
    return sorted(found)

"""Fixtures of the training-on-this-computer tests: a tiny model built on the spot, and a
LoRA adapter trained on it once for the whole run (with ``train-local``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.local_training.tiny_model import build_tiny_model, examples, write_jsonl


def _need_extra() -> None:
    for name in ("torch", "transformers", "peft", "trl", "datasets", "tokenizers"):
        pytest.importorskip(name)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer causal LM (hidden size 64) with a chat template."""
    _need_extra()
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``train-local --json`` run once (with a validation file): its exit code, its JSON lines
    and its folders."""
    from desktop.local_training.command import run_train_local

    folder = tmp_path_factory.mktemp("train-local")
    data = write_jsonl(folder / "adds.jsonl", examples())
    validation = write_jsonl(folder / "held-out.jsonl", examples(10)[8:])
    out, err = io.StringIO(), io.StringIO()
    code = run_train_local(
        [
            str(data),
            "--base-model",
            str(tiny_model),
            "--output",
            str(folder / "result"),
            "--max-steps",
            "60",
            "--learning-rate",
            "0.01",
            "--validation",
            str(validation),
            "--json",
        ],
        out=out,
        err=err,
    )
    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    return {"code": code, "lines": lines, "err": err.getvalue(), "data": data, "folder": folder}

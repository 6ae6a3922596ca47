"""Benchmark: seconds per training step on this computer, as the app trains (LoRA, CPU).

Run by hand from the repository root, with the ``local`` extra installed:

    python -m tests.benchmarks.bench_local_step [--models tiny,smollm2-135m,qwen2.5-0.5b]
        [--batch-size 2] [--length 512] [--steps 6]

Nothing is downloaded: each model is built on the spot, randomly initialised, with the real
architecture and size of the model it is named after (its config written out here) and the
tiny test tokenizer (``tests/local_training/tiny_model.py``), whose ids all fall inside the
real vocabulary. Each runs through the app's own training process code
(``desktop.local_training.trainer.run_training``) on examples long enough to fill every
sequence to ``--length`` tokens; no checkpoint or validation is made during the run, so the
times are the steps alone. The first step (warm-up) is left out of the median.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The published configs of the real models (architecture and size), as ``config.json``.
REAL = {
    "smollm2-135m": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "max_position_embeddings": 8192,
        "rope_theta": 100000.0,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
    },
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "vocab_size": 151936,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    },
}


def build(name: str, folder: Path) -> tuple[Path, int]:
    """The model folder for ``name`` and its number of parameters."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from tests.local_training.tiny_model import build_tiny_model

    tiny = build_tiny_model(folder / "tiny")
    if name == "tiny":
        model = AutoModelForCausalLM.from_pretrained(tiny)
        return tiny, sum(p.numel() for p in model.parameters())
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    values = dict(REAL[name])
    kind = values.pop("model_type")
    config = AutoConfig.for_model(
        kind,
        **values,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    target = folder / name
    # Saved in bfloat16 to halve the disk it takes; the trainer loads it in float32 on a CPU.
    model.to(torch.bfloat16).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target, sum(p.numel() for p in model.parameters())


def examples(count: int, words: int) -> list[dict[str, Any]]:
    """Chat examples long enough to fill a sequence, most of it the reply that is learnt."""
    filler = " ".join(f"{i} plus {i} is {2 * i}." for i in range(words))
    return [
        {
            "messages": [
                {"role": "user", "content": f"Count on from {n}."},
                {"role": "assistant", "content": filler},
            ]
        }
        for n in range(count)
    ]


def run(name: str, batch_size: int, length: int, steps: int) -> dict[str, Any]:
    from desktop.local_training.protocol import JobSpec, Settings
    from desktop.local_training.trainer import run_training

    with tempfile.TemporaryDirectory(prefix="bench-local-step-") as temp:
        folder = Path(temp)
        model, parameters = build(name, folder)
        data = folder / "data.jsonl"
        rows = examples(batch_size * (steps + 1), words=length)
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        settings = Settings(
            epochs=1,
            max_steps=steps,
            batch_size=batch_size,
            max_length=length,
            save_steps=10**6,
        )
        spec = JobSpec(
            job_id="bench",
            base_model=str(model),
            method="supervised",
            training_file=str(data),
            output_dir=str(folder / "out"),
            settings=settings,
        )
        lines: list[dict[str, Any]] = []
        started = time.monotonic()
        with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its own logs
            outcome = run_training(spec, emit=lambda text: lines.append(json.loads(text)))
        total = time.monotonic() - started
    if outcome.status != "succeeded":
        raise SystemExit(f"{name}: {outcome.message}")
    begin = next(v["time"] for v in lines if v["event"] == "start")
    steps_done = [v for v in lines if v["event"] == "step"]
    per_step = [b - a for a, b in itertools.pairwise([begin] + [v["time"] for v in steps_done])]
    speeds = [v["tokens_per_second"] for v in steps_done[1:] if v.get("tokens_per_second")]
    return {
        "model": name,
        "parameters_million": round(parameters / 1e6, 1),
        "batch_size": batch_size,
        "length": length,
        "steps": len(per_step),
        "first_step_seconds": round(per_step[0], 3),
        "median_step_seconds": round(statistics.median(per_step[1:] or per_step), 3),
        "median_tokens_per_second": round(statistics.median(speeds), 1) if speeds else None,
        "run_seconds": round(total, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_local_step")
    parser.add_argument("--models", default="tiny,smollm2-135m,qwen2.5-0.5b")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=6)
    options = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for name in options.models.split(","):
        result = run(name.strip(), options.batch_size, options.length, options.steps)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

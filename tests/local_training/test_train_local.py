"""``finetune-studio train-local`` on a tiny model made on the spot: the loss falls, the
adapter loads back and changes the model, a damaged dataset exits 1 with its findings,
preference pairs train with DPO."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import pytest

from desktop.local_training.command import run_train_local
from tests.local_training.tiny_model import examples, write_jsonl

pytestmark = pytest.mark.local_training


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_train_local(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_reported_loss_falls_on_examples_it_can_learn_by_heart(trained):
    assert trained["code"] == 0, trained["err"]
    steps = [line for line in trained["lines"] if line["event"] == "step"]
    assert [line["step"] for line in steps] == list(range(1, 61))
    assert all(
        {"loss", "learning_rate", "tokens_per_second", "eta_seconds"} <= set(s) for s in steps[1:]
    )
    first = statistics.mean(line["loss"] for line in steps[:5])
    last = statistics.mean(line["loss"] for line in steps[-5:])
    assert last < first - 0.5
    scored = [line for line in trained["lines"] if line["event"] == "eval"]
    assert len(scored) >= 10 and all(isinstance(s["valid_loss"], float) for s in scored)
    assert scored[-1]["step"] == 60 and scored[-1]["valid_loss"] < scored[0]["valid_loss"]
    end = trained["lines"][-1]
    assert end["event"] == "end" and end["status"] == "succeeded"
    assert Path(end["adapter"]) == trained["folder"] / "result" / "adapter"
    assert (Path(end["adapter"]) / "adapter_model.safetensors").is_file()
    # the exact data trained on is kept with the result
    kept = trained["folder"] / "result" / "training" / "training.jsonl"
    assert kept.read_bytes() == trained["data"].read_bytes()


def _reply_log_likelihood(model, tokenizer, question: str, reply: str) -> float:
    import torch

    prompt = [
        {"role": "system", "content": "You add numbers."},
        {"role": "user", "content": question},
    ]
    full = [*prompt, {"role": "assistant", "content": reply}]
    start = len(
        tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)[
            "input_ids"
        ]
    )
    ids = torch.tensor([tokenizer.apply_chat_template(full, tokenize=True)["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    chosen = torch.log_softmax(logits, -1)[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return float(chosen[start - 1 :].sum())


def test_the_adapter_loads_back_with_peft_and_changes_the_output(trained, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(trained["lines"][-1]["adapter"])
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), adapter)
    tuned.eval()
    before = _reply_log_likelihood(base, tokenizer, "What is 3 plus 3?", "It is 6.")
    after = _reply_log_likelihood(tuned, tokenizer, "What is 3 plus 3?", "It is 6.")
    assert after > before + 1.0  # the learnt reply became far more likely


def test_a_damaged_dataset_exits_1_with_the_findings_of_check(tmp_path, tiny_model):
    data = tmp_path / "damaged.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "hi"}]}\n{not json\n', encoding="utf-8"
    )
    code, out, _err = run(
        [str(data), "--base-model", str(tiny_model), "--output", str(tmp_path / "r")]
    )
    assert code == 1
    assert "ERROR (line 1): This example has no assistant message" in out
    assert "ERROR (line 2): This line is not valid JSON" in out
    assert not (tmp_path / "r").exists()

    code, out, _err = run(
        [str(data), "--base-model", str(tiny_model), "--output", str(tmp_path / "r"), "--json"]
    )
    assert code == 1
    (end,) = [json.loads(text) for text in out.splitlines()]
    assert end["event"] == "end" and end["status"] == "unusable"
    assert {(f["code"], f["line"]) for f in end["findings"]} >= {
        ("example_missing_assistant_message", 1),
        ("invalid_json", 2),
    }


def test_settings_that_cannot_work_exit_1_in_plain_words(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "adds.jsonl", examples())
    code, out, _err = run(
        [str(data), "--base-model", str(tmp_path), "--output", str(tmp_path / "r")]
    )
    assert code == 1
    assert "is not a model folder: it has no config.json" in out
    code, out, _err = run(
        [
            str(data),
            "--base-model",
            str(tiny_model),
            "--output",
            str(tmp_path / "r"),
            "--learning-rate",
            "5",
        ]
    )
    assert code == 1
    assert "Learning rate can be at most 0.01." in out


def test_preference_pairs_train_with_dpo(tmp_path, tiny_model):
    pairs = [
        {
            "input": {"messages": [{"role": "user", "content": f"What is {i} plus {i}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"It is {2 * i}."}],
            "non_preferred_output": [{"role": "assistant", "content": "I do not know."}],
        }
        for i in range(6)
    ]
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    code, out, err = run(
        [
            str(data),
            "--base-model",
            str(tiny_model),
            "--output",
            str(tmp_path / "r"),
            "--max-steps",
            "4",
            "--json",
        ]
    )
    assert code == 0, err
    lines = [json.loads(text) for text in out.splitlines()]
    assert [line["step"] for line in lines if line["event"] == "step"] == [1, 2, 3, 4]
    assert lines[-1]["status"] == "succeeded"
    settings = json.loads((tmp_path / "r" / "training" / "spec.json").read_text())
    assert settings["method"] == "dpo"


def test_what_the_libraries_print_goes_to_the_log_not_the_terminal(trained):
    assert trained["err"] == ""
    log = (trained["folder"] / "result" / "training" / "trainer.log").read_text()
    assert "'loss':" in log  # the Trainer's own printed logs


class _Captured(Exception):
    """Stops a run once the trainer holds its prepared data."""


def test_the_trainer_learns_the_replies_only_never_a_reply_with_weight_0(
    tmp_path, tiny_model, monkeypatch
):
    import trl
    from transformers import AutoTokenizer

    from desktop.local_training.protocol import JobSpec, Settings
    from desktop.local_training.trainer import run_training

    prepared = {}

    def capture(trainer, *_args, **_kwargs):
        prepared["rows"] = list(trainer.train_dataset)
        raise _Captured

    monkeypatch.setattr(trl.SFTTrainer, "train", capture)
    example = {
        "messages": [
            {"role": "system", "content": "You add numbers."},
            {"role": "user", "content": "What is 1 plus 1?"},
            {"role": "assistant", "content": "It is 3.", "weight": 0},
            {"role": "user", "content": "Are you sure?"},
            {"role": "assistant", "content": "It is 2."},
        ]
    }
    data = write_jsonl(tmp_path / "one.jsonl", [example])
    spec = JobSpec(
        job_id="labels",
        base_model=str(tiny_model),
        method="supervised",
        training_file=str(data),
        output_dir=str(tmp_path / "out"),
        settings=Settings(max_steps=1),
    )
    run_training(spec, emit=lambda _text: None)
    (row,) = prepared["rows"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    learnt = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    assert tokenizer.decode(learnt) == "It is 2.<|im_end|>\n"

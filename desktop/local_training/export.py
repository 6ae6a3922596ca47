"""The result of a job on this computer, ready to use anywhere: adapter, data and a README.

A LoRA adapter is small (megabytes) and needs its base model; the export says which one and
how to load it with PEFT, with ``transformers serve``, and, for the Llama, Mistral and Gemma
families that Ollama reads directly, with the ``Modelfile`` written beside it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from desktop import __version__
from desktop.local_training.models import OLLAMA_FAMILIES, model_family
from desktop.local_training.protocol import JobFiles

README = """\
{title}
{rule}

A LoRA adapter trained on this computer by Fine-Tune Studio {version}.

  adapter/              the adapter (PEFT format: adapter_config.json and
                        adapter_model.safetensors) and the tokenizer it was trained with
  data/training.jsonl   the exact examples it was trained on{validation}
  settings.json         the base model and the training settings
{modelfile_line}
Base model: {base}
Trained steps: {steps}

The adapter changes the base model; it does not replace it. To use it:

  With Python (peft):
      from transformers import AutoModelForCausalLM, AutoTokenizer
      from peft import PeftModel
      base = AutoModelForCausalLM.from_pretrained("{base}")
      model = PeftModel.from_pretrained(base, "adapter")
      tokenizer = AutoTokenizer.from_pretrained("adapter")
{ollama}
To train it again elsewhere, upload data/training.jsonl with the same base model and the
settings in settings.json.
"""

OLLAMA = """
  With Ollama (from this folder):
      ollama create {name} -f Modelfile
      ollama run {name}
"""


def _unused(folder: Path) -> Path:
    if not folder.exists():
        return folder
    number = 2
    while (candidate := folder.with_name(f"{folder.name} ({number})")).exists():
        number += 1
    return candidate


def _slug(text: str) -> str:
    cleaned = "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-")
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "fine-tuned"


def export_result(
    files: JobFiles,
    destination: Path,
    *,
    adapter: Path,
    base_folder: Path | None,
    base_model: str,
    name: str,
    steps: int | None,
) -> Path:
    """Write the export into a new folder under ``destination`` and return that folder."""
    target = _unused(Path(destination) / _slug(name))
    building = target.with_name(f".{target.name}.partial")
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(adapter, building / "adapter")
    data = building / "data"
    data.mkdir()
    shutil.copy2(files.data_file("training"), data / "training.jsonl")
    has_validation = files.data_file("validation").is_file()
    if has_validation:
        shutil.copy2(files.data_file("validation"), data / "validation.jsonl")
    if files.spec.is_file():
        shutil.copy2(files.spec, building / "settings.json")
    family = model_family(base_folder) if base_folder is not None else None
    ollama = family in OLLAMA_FAMILIES and base_folder is not None
    if ollama:
        (building / "Modelfile").write_text(
            f"# The base model must be the one the adapter was trained on.\n"
            f"FROM {base_folder}\nADAPTER ./adapter\n",
            encoding="utf-8",
        )
    title = f"{name} (fine-tuned {base_model})"
    readme = README.format(
        title=title,
        rule="=" * len(title),
        version=__version__,
        validation="\n  data/validation.jsonl the validation examples" if has_validation else "",
        modelfile_line="  Modelfile             for Ollama (ollama create)\n" if ollama else "",
        base=base_model,
        steps=steps if steps is not None else "unknown",
        ollama=OLLAMA.format(name=_slug(name)) if ollama else "",
    )
    (building / "README.txt").write_text(readme, encoding="utf-8")
    config_path = building / "adapter" / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_model
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    building.rename(target)
    return target

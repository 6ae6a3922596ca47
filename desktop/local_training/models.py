"""The base models worth training on one's own computer, and what makes a folder a model.

The list is short on purpose: small open chat models that train in reasonable time without a
large GPU, with their size and licence, so the choice is an informed one. Any other model can
be used from a folder on disk (downloaded before, or trained elsewhere).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.local_training.hardware import Hardware, duration_words, tokens_per_second

#: Ollama reads safetensors LoRA adapters of these families directly (Modelfile ``ADAPTER``).
OLLAMA_FAMILIES = frozenset({"llama", "mistral", "gemma", "gemma2", "gemma3", "gemma3_text"})


@dataclass(frozen=True)
class BaseModel:
    """A model on the Hugging Face Hub that trains well here.

    ``download_gb`` is the size of its weights; ``gated`` is True when its makers ask people
    to accept a licence on huggingface.co before downloading.
    """

    id: str
    label: str
    parameters_billion: float
    download_gb: float
    licence: str
    context: int
    family: str
    gated: bool = False

    @property
    def url(self) -> str:
        """Its page on the Hub."""
        return f"https://huggingface.co/{self.id}"

    def summary(self, hardware: Hardware, example_tokens: int = 300) -> str:
        """Size, licence and a plain time per epoch on this computer, per 100 examples."""
        seconds = 100 * example_tokens / tokens_per_second(hardware, self.parameters_billion)
        gated = " Its makers ask you to accept the licence on huggingface.co first." * self.gated
        return (
            f"{_parameters_words(self.parameters_billion)} parameters, a {self.download_gb:g} GB "
            f"download, licence: {self.licence}. On this computer's {hardware.description}, "
            f"one epoch of 100 examples of about {example_tokens} tokens takes "
            f"{duration_words(seconds)} (a rough guide).{gated}"
        )


def epoch_time_words(
    hardware: Hardware, parameters_billion: float, tokens: int, *, where: bool = True
) -> str:
    """``about 12 minutes an epoch on this computer's processor (2 cores), a rough guide``
    (without ``where``: ``about 12 minutes an epoch``)."""
    words = f"{duration_words(tokens / tokens_per_second(hardware, parameters_billion))} an epoch"
    return f"{words} on this computer's {hardware.description}, a rough guide" if where else words


def _parameters_words(billions: float) -> str:
    if billions < 1:
        return f"{billions * 1000:.0f} million"
    return f"{billions:g} billion"


BASE_MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        id="HuggingFaceTB/SmolLM2-135M-Instruct",
        label="SmolLM2 135M Instruct",
        parameters_billion=0.135,
        download_gb=0.27,
        licence="Apache 2.0",
        context=8192,
        family="llama",
    ),
    BaseModel(
        id="HuggingFaceTB/SmolLM2-360M-Instruct",
        label="SmolLM2 360M Instruct",
        parameters_billion=0.36,
        download_gb=0.72,
        licence="Apache 2.0",
        context=8192,
        family="llama",
    ),
    BaseModel(
        id="Qwen/Qwen2.5-0.5B-Instruct",
        label="Qwen2.5 0.5B Instruct",
        parameters_billion=0.49,
        download_gb=0.99,
        licence="Apache 2.0",
        context=32768,
        family="qwen2",
    ),
    BaseModel(
        id="Qwen/Qwen2.5-1.5B-Instruct",
        label="Qwen2.5 1.5B Instruct",
        parameters_billion=1.54,
        download_gb=3.1,
        licence="Apache 2.0",
        context=32768,
        family="qwen2",
    ),
    BaseModel(
        id="meta-llama/Llama-3.2-1B-Instruct",
        label="Llama 3.2 1B Instruct",
        parameters_billion=1.24,
        download_gb=2.5,
        licence="Llama 3.2 Community",
        context=131072,
        family="llama",
        gated=True,
    ),
    BaseModel(
        id="google/gemma-3-1b-it",
        label="Gemma 3 1B Instruct",
        parameters_billion=1.0,
        download_gb=2.0,
        licence="Gemma Terms of Use",
        context=32768,
        family="gemma3_text",
        gated=True,
    ),
)


def is_listed(model: str) -> bool:
    """True for the Hugging Face name of a base model the app offers."""
    return any(listed.id == model for listed in BASE_MODELS)


#: A safetensors header larger than this is not read (real ones are a few hundred kilobytes).
_MAX_HEADER = 100 * 1024 * 1024


def _safetensors_parameters(path: Path) -> int | None:
    """The number of values in a ``.safetensors`` file, from its JSON header alone."""
    try:
        with path.open("rb") as stream:
            size = int.from_bytes(stream.read(8), "little")
            if not 0 < size <= _MAX_HEADER:
                return None
            header = json.loads(stream.read(size))
    except (OSError, ValueError):
        return None
    if not isinstance(header, Mapping):
        return None
    total = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, Mapping) else None
        if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
            return None
        total += math.prod(shape)
    return total


@functools.lru_cache(maxsize=64)
def _folder_parameters(folder: str, stamp: tuple[tuple[str, int], ...]) -> float | None:
    counts = [_safetensors_parameters(Path(folder) / name) for name, _size in stamp]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None) / 1e9


def parameters_billion(model: str) -> float | None:
    """How big a base model is, in billions of parameters: a listed model's size, or what the
    ``.safetensors`` files of a model folder hold (their headers only are read); None when
    it cannot be told (a Hub name not listed, older weight files)."""
    listed = next((m for m in BASE_MODELS if m.id == model), None)
    if listed is not None:
        return listed.parameters_billion
    if looks_like_hub_id(model):
        return None
    folder = Path(model)
    try:
        stamp = tuple(sorted((f.name, f.stat().st_size) for f in folder.glob("*.safetensors")))
    except OSError:
        return None
    return _folder_parameters(str(folder), stamp) if stamp else None


def looks_like_hub_id(text: str) -> bool:
    """True for ``owner/name`` (what the Hub calls a repository), False for a folder path."""
    parts = text.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not text.startswith((".", "~"))
        and "\\" not in text
        and ":" not in text
        and not Path(text).exists()
    )


def _read_json(path: Path) -> Mapping[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, Mapping) else None


def model_config(folder: Path) -> Mapping[str, Any] | None:
    """The model's ``config.json``, or None when it has none that can be read."""
    return _read_json(folder / "config.json")


def model_family(folder: Path) -> str | None:
    """The architecture family (``llama``, ``qwen2``, ``gemma3_text``…) of a model folder."""
    config = model_config(folder)
    family = config.get("model_type") if config is not None else None
    return family if isinstance(family, str) else None


def has_chat_template(folder: Path) -> bool:
    """True when the folder's tokenizer says how to lay out a conversation."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = _read_json(folder / "tokenizer_config.json")
    return config is not None and bool(config.get("chat_template"))


def model_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be trained, in one sentence; None when it is a usable model."""
    if not folder.is_dir():
        return f"There is no folder at {folder}."
    if model_config(folder) is None:
        return (
            f"{folder} is not a model folder: it has no config.json. Choose the folder that "
            "holds the model's config.json, tokenizer and .safetensors files."
        )
    weights = [*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")]
    if not weights:
        return f"{folder} holds no model weights (.safetensors or pytorch_model.bin files)."
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        return f"{folder} has no tokenizer (tokenizer.json or tokenizer.model)."
    if not has_chat_template(folder):
        return (
            f"The model in {folder} has no chat template, so it cannot be trained on "
            "conversations. Choose an instruction-tuned (chat) model."
        )
    return None


def short_name(model: str) -> str:
    """The last part of a Hub id or a folder path, for model names: ``Qwen2.5-0.5B-Instruct``."""
    text = model.rstrip("/\\")
    name = text.replace("\\", "/").rsplit("/", 1)[-1] or "model"
    return name.replace(":", "-")

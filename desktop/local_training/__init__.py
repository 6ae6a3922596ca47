"""Training on this computer: LoRA fine-tuning of open models in a process of its own.

The heavy libraries (PyTorch, Transformers, PEFT, TRL) are an optional extra, ``pip install
".[local]"``. Only the modules that run in their own processes (``trainer``, the worker side of
``serving``) import them, and only inside functions: the app itself never loads torch, so it
starts as fast without the extra as with it, and a crash or an out-of-memory in training cannot
take the window down.

- ``hardware``: what this computer trains on (CUDA, Apple GPU, CPU), found without torch.
- ``settings``: the settings a job takes, with defaults for that hardware.
- ``models``: the base models worth offering, and what makes a folder a usable model.
- ``protocol``: the job folder's files and the JSON lines the trainer prints.
- ``data``: chat and preference examples as the trainers take them (``weight: 0`` honoured).
- ``jobs``: starting, watching, pausing, resuming and cancelling training processes
  (``processes`` starts them apart from the app, ``locks`` tells whether they still run).
- ``trainer``: the training process itself.
- ``hub``: downloading a base model from the Hugging Face Hub.
- ``serving``: chatting with a trained model through ``transformers serve``.
- ``export``: the adapter, the exact training data and a README, ready to use elsewhere.
- ``command``: ``finetune-studio train-local``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
import urllib.parse
from pathlib import Path

#: What training needs (import names), in the order people know them.
TRAINING_MODULES: tuple[str, ...] = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "datasets",
    "accelerate",
    "huggingface_hub",
)
#: What chatting with a trained model needs on top (``transformers serve``).
SERVING_MODULES: tuple[str, ...] = ("fastapi", "uvicorn")
#: The extra's name in ``pyproject.toml``.
EXTRA = "local"


def missing_modules(modules: tuple[str, ...] = TRAINING_MODULES) -> list[str]:
    """The modules of ``modules`` that are not installed (found without importing any)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _source_checkout() -> Path | None:
    """The project folder when the app runs from a source checkout (it holds pyproject.toml)."""
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _installed_from() -> Path | None:
    """The folder pip installed the app from (``pip install .`` records it), if it is there."""
    try:
        recorded = importlib.metadata.distribution("finetune-studio").read_text("direct_url.json")
        url = str(json.loads(recorded or "{}").get("url", ""))
    except (importlib.metadata.PackageNotFoundError, ValueError, OSError, AttributeError):
        return None
    if not url.startswith("file://"):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if sys.platform == "win32" and path[:1] == "/" and path[2:3] == ":":
        path = path[1:]  # file:///C:/app holds /C:/app
    folder = Path(path)
    return folder if (folder / "pyproject.toml").is_file() else None


def install_command() -> str:
    """The exact command that installs the extra into the Python running the app: from the
    folder the app came from when known (the app is not on a package index)."""
    python = sys.executable or "python3"
    quoted = f'"{python}"' if " " in python else python
    root = _source_checkout() or _installed_from()
    target = f"{root}[{EXTRA}]" if root is not None else f"finetune-studio[{EXTRA}]"
    return f'{quoted} -m pip install "{target}"'


def unavailable_reason(modules: tuple[str, ...] = TRAINING_MODULES) -> str | None:
    """One plain sentence and the command to run when training here cannot work; else None."""
    if getattr(sys, "frozen", False):
        pip = ".venv\\Scripts\\pip" if sys.platform == "win32" else ".venv/bin/pip"
        return (
            "The installer builds of Fine-Tune Studio do not include the libraries for training "
            "on this computer (they are several gigabytes): only the app installed from its "
            "source folder with pip, as the README describes, trains here, once this is run "
            f'in that folder: {pip} install ".[{EXTRA}]"'
        )
    missing = missing_modules(modules)
    if not missing:
        return None
    return (
        "Training on this computer needs the optional libraries for it "
        f"({', '.join(missing)} missing); install them with: {install_command()}"
    )

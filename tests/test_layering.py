"""The layers hold: the import contracts in pyproject.toml pass, and they catch what they forbid.

import-linter reads every import of the package, relative ones and those inside functions
included, and follows chains of imports; a run-time check adds what a source reading cannot
see (an import made by a library on the layer's behalf).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "desktop"

#: Runs the contracts of the pyproject.toml in the working folder on the package found there.
LINT = (
    "import sys\n"
    "from importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports(config_filename='pyproject.toml', limit_to_contracts=tuple(sys.argv[1:]),"
    " no_cache=True, no_logo=True))\n"
)

QT = ("PySide6", "shiboken6", "pyqtgraph")
TRAINING_LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")


def lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT, *contracts],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=120,
    )


#: For each contract, what breaks it (modules added to, or created in, a copy of the package)
#: and what the report then says.
BREAKS = [
    (
        "layers",
        {"core/kinds.py": "from ..api import redaction"},
        "desktop.core.kinds -> desktop.api",
    ),
    (
        "layers",
        {"local_training/planted.py": "def _late() -> None:\n    from .. import ui"},
        "desktop.local_training.planted -> desktop.ui",
    ),
    (
        "core-offline",
        {"core/planted.py": "def _late() -> None:\n    import socket"},
        "desktop.core.planted -> socket",
    ),
    ("core-offline", {"core/planted.py": "import keyring"}, "desktop.core.planted -> keyring"),
    (
        "api-no-qt",
        {"api/planted.py": "from PySide6 import QtCore"},
        "desktop.api.planted -> PySide6",
    ),
    (
        "local-training-no-qt",
        {"local_training/planted.py": "import pyqtgraph"},
        "desktop.local_training.planted -> pyqtgraph",
    ),
    ("ui-no-provider-sdk", {"ui/planted.py": "import openai"}, "desktop.ui.planted -> openai"),
    (
        "ui-acyclic",
        {
            "ui/planted_a.py": "from . import planted_b",
            "ui/planted_b.py": "from . import planted_a",
        },
        "No cycles are allowed in desktop.ui",
    ),
]


def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_contract_is_shown_to_catch_something():
    options = read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    assert {contract["id"] for contract in options} == {contract for contract, _, _ in BREAKS}


@pytest.mark.parametrize(("contract", "plants", "reported"), BREAKS)
def test_a_contract_catches_what_it_forbids(tmp_path, contract, plants, reported):
    """Break a copy of the package, never the tree itself."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PACKAGE, tmp_path / "desktop", ignore=shutil.ignore_patterns("__pycache__"))
    assert lint(tmp_path, contract).returncode == 0
    for module, added in plants.items():
        source = tmp_path / "desktop" / module
        before = source.read_text(encoding="utf-8") if source.exists() else ""
        source.write_text(f"{before}\n{added}\n", encoding="utf-8")
    result = lint(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout


def test_the_core_opens_no_url():
    """import-linter names whole external packages only, and the core may parse URLs."""
    found = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if n.startswith("urllib.request")]
    assert found == []


def layer_modules(layer: str) -> list[str]:
    if (PACKAGE / f"{layer}.py").is_file():
        return [f"desktop.{layer}"]
    return sorted(
        "desktop."
        + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for p in (PACKAGE / layer).rglob("*.py")
    )


@pytest.mark.parametrize(
    ("layers", "forbidden"),
    [
        (("core",), (*QT, "openai", "keyring", "httpx", "httpx2", *TRAINING_LIBRARIES)),
        (("api",), (*QT, *TRAINING_LIBRARIES)),
        (("local_training",), (*QT, *TRAINING_LIBRARIES)),
        (("cli",), (*QT, "openai", "keyring", *TRAINING_LIBRARIES)),
        (("ui", "app", "selftest"), TRAINING_LIBRARIES),
    ],
)
def test_importing_a_layer_loads_nothing_forbidden(layers, forbidden):
    """What a layer's imports bring in at run time: load all its modules in a clean interpreter."""
    modules = [name for layer in layers for name in layer_modules(layer)]
    assert modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(forbidden)!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[]"

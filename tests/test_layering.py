"""The core stays Qt-free and offline; the provider layer stays Qt-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "desktop"

CORE_FORBIDDEN = {
    "PySide6",
    "shiboken6",
    "pyqtgraph",
    "openai",
    "keyring",
    "httpx",
    "httpx2",
    "requests",
    "urllib3",
    "socket",
    "http",
    "urllib.request",
    "desktop.api",
    "desktop.ui",
}
API_FORBIDDEN = {"PySide6", "shiboken6", "pyqtgraph", "desktop.ui"}
#: The screens reach providers only through the training backends and the plain-words errors.
UI_FORBIDDEN = {"openai", "httpx", "httpx2", "keyring"}


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(layer: str, forbidden: set[str]) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("core", CORE_FORBIDDEN), ("api", API_FORBIDDEN), ("ui", UI_FORBIDDEN)],
)
def test_layer_sources_import_nothing_forbidden(layer, forbidden):
    assert (PACKAGE / layer).is_dir()
    assert violations(layer, forbidden) == []


def test_the_checker_catches_a_forbidden_import(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from PySide6 import QtCore\n    import socket\n")
    assert imported_modules(source) >= {"PySide6", "socket"}


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("core", ("PySide6", "shiboken6", "openai", "keyring", "httpx2", "pyqtgraph")),
        ("api", ("PySide6", "shiboken6", "pyqtgraph")),
    ],
)
def test_importing_a_layer_loads_nothing_forbidden(layer, forbidden):
    """Transitive imports count too: load every module of the layer in a clean interpreter."""
    modules = sorted(
        "desktop." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in (PACKAGE / layer).rglob("*.py")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(forbidden)!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=True,
    )
    assert result.stdout.strip() == "[]"

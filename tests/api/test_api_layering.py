"""``desktop.api`` stays free of Qt and UI code, so it can run in workers and scripts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import desktop.api

API_DIR = Path(desktop.api.__file__).parent
FORBIDDEN = ("PySide6", "shiboken6", "desktop.ui")


def _modules() -> list[str]:
    return sorted(f"desktop.api.{p.stem}" for p in API_DIR.glob("*.py") if p.stem != "__init__")


def test_no_forbidden_imports_in_source() -> None:
    offenders = []
    for path in API_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.startswith(FORBIDDEN)]
    assert offenders == []


def test_importing_every_api_module_loads_no_qt() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_modules()!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=API_DIR.parent.parent,
        check=True,
    )
    assert result.stdout.strip() == "[]"
    assert len(_modules()) >= 7

"""Colours are named once, in the palette module, and used by name everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

from desktop.ui.common import palette

UI = Path(palette.__file__).resolve().parents[1]
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\b")


def test_no_panel_writes_a_colour_out():
    written_out = [
        f"{path.relative_to(UI)}:{number}: {line.strip()}"
        for path in sorted(UI.rglob("*.py"))
        if path.name != "palette.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HEX_COLOUR.search(line)
    ]
    assert written_out == []


def test_each_colour_has_one_name():
    values = [value for name, value in vars(palette).items() if name.isupper()]
    assert values and all(HEX_COLOUR.fullmatch(value) for value in values)
    assert len(values) == len(set(values))

"""The About dialog lists every component the app ships with, and its license."""

from __future__ import annotations

import json

import pytest

from desktop.core.about import _canonical, bundled_components, dependency_closure, license_of
from desktop.core.resources import resources_dir


def test_licenses_file_covers_every_runtime_dependency():
    listed = {
        _canonical(c["name"])
        for c in json.loads((resources_dir() / "licenses.json").read_text())["components"]
    }
    closure = {_canonical(name) for name in dependency_closure()}
    if not closure:
        pytest.skip("finetune-studio is not installed in this environment")
    missing = closure - listed
    assert not missing, f"run packaging/make_licenses.py; missing: {sorted(missing)}"
    assert {"pyside6-essentials", "tiktoken", "openai", "keyring", "pyqtgraph"} <= closure


def test_every_component_names_a_license():
    components = bundled_components()
    assert components[0].name == "Qt"
    assert all(c.license and c.license != "see the package" for c in components)


def test_license_of_reads_expressions_and_classifiers():
    assert license_of("openai") == "Apache-2.0"
    assert "MIT" in license_of("tiktoken")


def test_about_dialog_shows_version_and_components(qtbot):
    from PySide6.QtWidgets import QLabel

    from desktop import __version__
    from desktop.ui.common.about_dialog import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(dialog.components)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert "tiktoken" in names and "Qt" in names
    assert dialog.table.item(0, 1).text()  # the Qt version comes from the running Qt
    texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert f"Version {__version__}" in texts

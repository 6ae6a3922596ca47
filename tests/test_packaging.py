"""Installer metadata stays consistent with the app: version, ids, icon, entry point."""

from __future__ import annotations

import configparser
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

from desktop import __version__

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"


def load_build_script():
    spec = importlib.util.spec_from_file_location("build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_reads_the_single_version():
    assert load_build_script().version() == __version__


def test_desktop_entry_launches_the_installed_command():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(LINUX / "finetune-studio.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Exec"].split()[0] == "finetune-studio"
    assert section["Icon"] == "finetune-studio"
    assert "application/jsonl" in section["MimeType"]


def test_appstream_metadata_matches_the_app():
    (path,) = LINUX.glob("*.metainfo.xml")
    root = ET.parse(path).getroot()
    assert root.findtext("id") + ".metainfo.xml" == path.name
    assert root.find("launchable").text == "finetune-studio.desktop"
    releases = [r.get("version") for r in root.iter("release")]
    assert releases[0] == __version__
    shots = [img.text for img in root.iter("image")]
    assert shots and all(
        (ROOT / "packaging" / "screenshots" / Path(s).name).exists() for s in shots
    )


def test_windows_installer_defaults_to_the_current_version():
    script = (ROOT / "packaging" / "windows" / "finetune-studio.iss").read_text(encoding="utf-8")
    assert f'#define AppVersion "{__version__}"' in script
    assert "FineTuneStudio.exe" in script


def test_icons_exist_in_every_format_the_installers_use():
    icons = ROOT / "resources" / "icons"
    for name in ("app.svg", "app.png", "app.ico", "app.icns", "app-32.png", "app-512.png"):
        assert (icons / name).stat().st_size > 0

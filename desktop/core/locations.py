"""Where the app keeps its settings, its recovery journal and its caches on each platform.

Worked out in plain Python (no Qt), so the core and its tests can use the same folders as the
UI. Setting FINETUNE_STUDIO_HOME puts everything under one folder, for tests and portable
installs. Nothing here creates folders; whoever writes into one creates it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FOLDER_NAME = "finetune-studio"
APP_DISPLAY_NAME = "Fine-Tune Studio"
HOME_VARIABLE = "FINETUNE_STUDIO_HOME"


def config_dir() -> Path:
    """The folder for settings."""
    return _folder("config")


def data_dir() -> Path:
    """The folder for data worth keeping, such as the recovery journal."""
    return _folder("data")


def cache_dir() -> Path:
    """The folder for data that can be rebuilt, such as downloaded token encodings."""
    return _folder("cache")


def _folder(purpose: str) -> Path:
    portable = os.environ.get(HOME_VARIABLE)
    if portable:
        return Path(portable).expanduser() / purpose
    if sys.platform == "win32":
        return _windows(purpose)
    if sys.platform == "darwin":
        library = Path.home() / "Library"
        if purpose == "cache":
            return library / "Caches" / APP_DISPLAY_NAME
        return library / "Application Support" / APP_DISPLAY_NAME
    return _xdg(purpose)


def _windows(purpose: str) -> Path:
    if purpose == "cache":
        local = _absolute_env("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
        return local / APP_DISPLAY_NAME / "Cache"
    roaming = _absolute_env("APPDATA") or Path.home() / "AppData" / "Roaming"
    return roaming / APP_DISPLAY_NAME


_XDG = {
    "config": ("XDG_CONFIG_HOME", (".config",)),
    "data": ("XDG_DATA_HOME", (".local", "share")),
    "cache": ("XDG_CACHE_HOME", (".cache",)),
}


def _xdg(purpose: str) -> Path:
    variable, fallback = _XDG[purpose]
    base = _absolute_env(variable) or Path.home().joinpath(*fallback)
    return base / FOLDER_NAME


def _absolute_env(name: str) -> Path | None:
    """The folder an environment variable names; relative paths are ignored, as XDG says."""
    value = os.environ.get(name, "")
    return Path(value) if value and os.path.isabs(value) else None

"""The app's settings: one typed, versioned object, saved as JSON and never holding a secret.

A damaged settings file must never stop the app from starting, and must not be lost either:
it is renamed aside and the defaults are used. Fields with a wrong type fall back to their
default one by one, so one bad value does not reset the rest. Older files are brought up to
date through an explicit table of migrations. API keys live in the system keyring, not here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop.core.jsonl_io import atomic_write
from desktop.core.locations import config_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_RECENT_FILES = 10
DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_NO_DECIMALS = {"JPY"}


@dataclass
class AppSettings:
    """Everything the app remembers between runs.

    ``currency_rate`` converts US dollars (OpenAI's prices) into ``currency``; the user
    enters it, since the app does not go online for exchange rates. ``window_geometry`` and
    ``window_state`` are the base64 text of what Qt's saveGeometry/saveState return.
    """

    schema_version: int = SCHEMA_VERSION
    recent_files: list[str] = field(default_factory=list)
    last_model: str = DEFAULT_MODEL
    epochs: int | None = None
    currency: str = "USD"
    currency_rate: float = 1.0
    window_geometry: str = ""
    window_state: str = ""
    splitter_sizes: dict[str, list[int]] = field(default_factory=dict)
    first_run_done: bool = False
    autosave_seconds: int = 5
    network_timeout_seconds: float = 60.0
    validation_percent: float = 10.0
    split_seed: int = 42

    def add_recent(self, path: Path | str) -> None:
        """Put ``path`` first in the recent files, without repeats, keeping at most ten."""
        entry = os.path.abspath(os.fspath(path))
        key = os.path.normcase(entry)
        others = [p for p in self.recent_files if os.path.normcase(p) != key]
        self.recent_files = [entry, *others][:MAX_RECENT_FILES]

    def remove_recent(self, path: Path | str) -> None:
        """Forget ``path`` (for example when it no longer exists)."""
        key = os.path.normcase(os.path.abspath(os.fspath(path)))
        self.recent_files = [p for p in self.recent_files if os.path.normcase(p) != key]

    def format_money(self, usd: float) -> str:
        """An amount in US dollars shown in the user's currency, the same way in every locale.

        Known currencies get their symbol ("$1.23", "€1,234.50", "¥150"), others their code
        ("CHF 1.23"); a cost too small to show in the last digit reads "<$0.01", not "$0.00".
        """
        amount = usd * self.currency_rate
        decimals = 0 if self.currency in _NO_DECIMALS else 2
        symbol = _SYMBOLS.get(self.currency)
        prefix = symbol if symbol else f"{self.currency} "
        smallest = 10.0**-decimals
        if 0 < amount < smallest / 2:
            return f"<{prefix}{smallest:.{decimals}f}"
        sign = "-" if round(amount, decimals) < 0 else ""
        return f"{sign}{prefix}{abs(amount):,.{decimals}f}"


# Reading values back, field by field ----------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _recent(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    settings = AppSettings(recent_files=[])
    for path in reversed([p for p in value if isinstance(p, str) and p]):
        settings.add_recent(path)
    return settings.recent_files


def _splitters(value: Any) -> dict[str, list[int]] | None:
    if not isinstance(value, dict):
        return None
    return {
        name: list(sizes)
        for name, sizes in value.items()
        if isinstance(sizes, list) and all(_is_int(s) and s >= 0 for s in sizes)
    }


def _checked(test: Callable[[Any], bool]) -> Callable[[Any], Any]:
    """A reader that accepts a value passing ``test`` and rejects anything else."""
    return lambda value: value if test(value) else None


def _number(test: Callable[[float], bool]) -> Callable[[Any], Any]:
    return lambda value: float(value) if _is_number(value) and test(value) else None


#: Field -> function returning the value to use, or None to fall back to the default.
_READERS: dict[str, Callable[[Any], Any]] = {
    "recent_files": _recent,
    "last_model": _checked(lambda v: isinstance(v, str) and bool(v.strip())),
    "epochs": _checked(lambda v: _is_int(v) and 1 <= v <= 50),
    "currency": _checked(lambda v: isinstance(v, str) and re.fullmatch("[A-Z]{3}", v) is not None),
    "currency_rate": _number(lambda v: v > 0),
    "window_geometry": _checked(lambda v: isinstance(v, str)),
    "window_state": _checked(lambda v: isinstance(v, str)),
    "splitter_sizes": _splitters,
    "first_run_done": _checked(lambda v: isinstance(v, bool)),
    "autosave_seconds": _checked(lambda v: _is_int(v) and 1 <= v <= 3600),
    "network_timeout_seconds": _number(lambda v: 1 <= v <= 3600),
    "validation_percent": _number(lambda v: 0 <= v < 100),
    "split_seed": _checked(_is_int),
}


def settings_from_dict(data: dict[str, Any]) -> AppSettings:
    """Settings from saved JSON already at the current schema; bad or unknown keys are skipped."""
    values: dict[str, Any] = {}
    for name, reader in _READERS.items():
        if name in data and data[name] is not None:
            value = reader(data[name])
            if value is None:
                log.warning("Ignoring the saved setting %s: %r is not usable.", name, data[name])
            else:
                values[name] = value
    return AppSettings(**values)


def settings_to_dict(settings: AppSettings) -> dict[str, Any]:
    """The JSON shape saved to disk, stamped with the current schema version."""
    data = asdict(settings)
    data["schema_version"] = SCHEMA_VERSION
    return data


# Migrations -----------------------------------------------------------------------------------


def _from_0(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (before settings had a version) called two keys ``recent`` and ``model``."""
    result = dict(data)
    for old, new in (("recent", "recent_files"), ("model", "last_model")):
        if old in result:
            value = result.pop(old)
            result.setdefault(new, value)
    return result


#: Version N -> function turning a version N dictionary into version N + 1.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_0}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring saved settings of any older schema version up to the current one."""
    version = data.get("schema_version", 0)
    if not _is_int(version) or version < 0:
        version = 0
    while version < SCHEMA_VERSION:
        data = _MIGRATIONS[version](data)
        version += 1
    return {**data, "schema_version": version}


# The file -------------------------------------------------------------------------------------


def default_settings_path() -> Path:
    """Where the settings file lives for this user."""
    return config_dir() / "settings.json"


class SettingsStore:
    """Loads and saves ``AppSettings`` at one path.

    After ``load``, ``set_aside`` names the file a damaged settings file was renamed to
    (None when nothing was wrong), so the UI can tell the user.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.set_aside: Path | None = None

    def load(self) -> AppSettings:
        """The saved settings; defaults when there are none or the file is damaged."""
        self.set_aside = None
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return AppSettings()
        except OSError as exc:
            log.warning("Could not read %s (%s); using default settings.", self.path, exc)
            self._set_aside()
            return AppSettings()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            log.warning("%s is damaged (%s); using default settings.", self.path, exc)
            data = None
        if not isinstance(data, dict):
            self._set_aside()
            return AppSettings()
        if _is_int(data.get("schema_version")) and data["schema_version"] > SCHEMA_VERSION:
            log.warning("%s was written by a newer version of the app.", self.path)
        return settings_from_dict(migrate(data))

    def save(self, settings: AppSettings) -> None:
        """Write the settings atomically (raises jsonl_io.SaveError when the disk refuses)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(settings_to_dict(settings), ensure_ascii=False, indent=2)
        atomic_write(self.path, (text + "\n").encode("utf-8"))

    def _set_aside(self) -> None:
        """Rename a damaged file so the next save does not overwrite what it held."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while target.exists():
            counter += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            log.warning("Could not rename the damaged %s aside: %s", self.path, exc)
            return
        self.set_aside = target

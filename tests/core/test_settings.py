"""Settings survive damage and old versions; per-platform folders follow each platform's rules."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from desktop.core import locations
from desktop.core.settings import (
    DEFAULT_MODEL,
    SCHEMA_VERSION,
    AppSettings,
    SettingsStore,
    default_settings_path,
    migrate,
)


@pytest.fixture
def store(tmp_path) -> SettingsStore:
    return SettingsStore(tmp_path / "config" / "settings.json")


CUSTOM = {
    "schema_version": SCHEMA_VERSION,
    "recent_files": ["/data/b.jsonl", "/data/a.jsonl"],
    "last_model": "gpt-4o-mini-2024-07-18",
    "epochs": 3,
    "currency": "EUR",
    "currency_rate": 0.92,
    "window_geometry": "AdnQywADAAA=",
    "window_state": "AAAA/wAAAAD9",
    "splitter_sizes": {"editor": [300, 700]},
    "first_run_done": True,
    "autosave_seconds": 10,
    "network_timeout_seconds": 30.0,
    "validation_percent": 20.0,
    "split_seed": 7,
}


def write_json(store: SettingsStore, data) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(json.dumps(data), encoding="utf-8")


def test_a_missing_file_gives_the_documented_defaults(store):
    settings = store.load()
    assert settings == AppSettings()
    assert settings.last_model == DEFAULT_MODEL == "gpt-4.1-mini-2025-04-14"
    assert (settings.epochs, settings.currency, settings.currency_rate) == (None, "USD", 1.0)
    assert (settings.autosave_seconds, settings.network_timeout_seconds) == (5, 60)
    assert (settings.validation_percent, settings.split_seed) == (10, 42)
    assert settings.recent_files == [] and settings.splitter_sizes == {}
    assert settings.first_run_done is False
    assert store.set_aside is None


def test_every_field_is_saved_and_read_back(store):
    settings = AppSettings(**CUSTOM)
    store.save(settings)
    assert json.loads(store.path.read_text(encoding="utf-8")) == CUSTOM
    assert store.load() == settings
    # Every field of the dataclass is covered by CUSTOM, so none can be forgotten on load.
    assert {f.name for f in fields(AppSettings)} == set(CUSTOM)


def test_saving_leaves_no_temporary_files_behind(store):
    store.save(AppSettings())
    store.save(AppSettings(split_seed=1))
    assert [p.name for p in store.path.parent.iterdir()] == ["settings.json"]


def test_no_field_could_hold_a_secret():
    names = {f.name for f in fields(AppSettings)}
    assert not {n for n in names if any(w in n for w in ("key", "token", "secret", "password"))}


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2]", b"null", b""])
def test_a_damaged_file_is_set_aside_and_defaults_are_used(store, content):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    assert store.load() == AppSettings()
    assert not store.path.exists()
    assert store.set_aside is not None
    assert store.set_aside.name.startswith("settings.json.corrupt-")
    assert store.set_aside.read_bytes() == content


def test_two_damaged_files_in_the_same_second_are_both_kept(store):
    for content in (b"{one", b"{two"):
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_bytes(content)
        store.load()
    kept = sorted(p.read_bytes() for p in store.path.parent.glob("settings.json.corrupt-*"))
    assert kept == [b"{one", b"{two"]


def test_wrong_types_fall_back_one_field_at_a_time(store):
    write_json(
        store,
        {
            **CUSTOM,
            "epochs": "three",
            "currency": "euro",
            "currency_rate": -1,
            "first_run_done": "yes",
            "autosave_seconds": True,
            "validation_percent": 150,
            "split_seed": 1.5,
            "last_model": "",
            "network_timeout_seconds": float("inf"),
        },
    )
    settings = store.load()
    defaults = AppSettings()
    for name in (
        "epochs",
        "currency",
        "currency_rate",
        "first_run_done",
        "autosave_seconds",
        "validation_percent",
        "split_seed",
        "last_model",
        "network_timeout_seconds",
    ):
        assert getattr(settings, name) == getattr(defaults, name), name
    assert settings.recent_files == CUSTOM["recent_files"]
    assert settings.window_geometry == CUSTOM["window_geometry"]
    assert store.set_aside is None


def test_bad_list_entries_are_skipped_and_unknown_keys_ignored(store):
    write_json(
        store,
        {
            "schema_version": SCHEMA_VERSION,
            "recent_files": ["/a.jsonl", 5, None, "/a.jsonl", "/b.jsonl"],
            "splitter_sizes": {"good": [1, 2], "bad": [1, "x"], "negative": [-1]},
            "api_key": "sk-should-never-be-read",
            "some_future_option": True,
        },
    )
    settings = store.load()
    assert settings.recent_files == ["/a.jsonl", "/b.jsonl"]
    assert settings.splitter_sizes == {"good": [1, 2]}
    store.save(settings)
    saved = store.path.read_text(encoding="utf-8")
    assert "sk-should-never-be-read" not in saved and "some_future_option" not in saved


def test_version_0_files_are_migrated(store):
    write_json(store, {"recent": ["/old.jsonl"], "model": "gpt-4o-2024-08-06", "epochs": 2})
    settings = store.load()
    assert settings.recent_files == ["/old.jsonl"]
    assert settings.last_model == "gpt-4o-2024-08-06"
    assert settings.epochs == 2
    assert settings.schema_version == SCHEMA_VERSION


def test_migration_prefers_the_new_key_and_stamps_the_version():
    migrated = migrate({"schema_version": 0, "model": "old", "last_model": "new"})
    assert migrated == {"schema_version": 1, "last_model": "new"}
    assert migrate({"schema_version": 1, "last_model": "x"}) == {
        "schema_version": 1,
        "last_model": "x",
    }


def test_a_file_from_a_newer_app_still_loads_what_it_can(store):
    write_json(store, {**CUSTOM, "schema_version": SCHEMA_VERSION + 5, "new_thing": 1})
    assert store.load() == AppSettings(**CUSTOM)


def test_recent_files_are_most_recent_first_unique_and_at_most_ten(tmp_path):
    settings = AppSettings()
    for i in range(12):
        settings.add_recent(tmp_path / f"{i}.jsonl")
    settings.add_recent(tmp_path / "5.jsonl")
    assert len(settings.recent_files) == 10
    assert settings.recent_files[0] == str(tmp_path / "5.jsonl")
    assert settings.recent_files[1] == str(tmp_path / "11.jsonl")
    assert settings.recent_files.count(str(tmp_path / "5.jsonl")) == 1
    assert str(tmp_path / "1.jsonl") not in settings.recent_files
    settings.remove_recent(tmp_path / "5.jsonl")
    assert str(tmp_path / "5.jsonl") not in settings.recent_files


def test_recent_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = AppSettings()
    settings.add_recent("data.jsonl")
    settings.add_recent(tmp_path / "data.jsonl")
    assert settings.recent_files == [str(tmp_path / "data.jsonl")]


@pytest.mark.parametrize(
    ("currency", "rate", "usd", "text"),
    [
        ("USD", 1.0, 1.234, "$1.23"),
        ("USD", 1.0, 1234.5, "$1,234.50"),
        ("USD", 1.0, 0, "$0.00"),
        ("USD", 1.0, 0.004, "<$0.01"),
        ("USD", 1.0, 0.005, "$0.01"),
        ("EUR", 0.9, 10, "€9.00"),
        ("GBP", 0.5, 3, "£1.50"),
        ("JPY", 150, 1.5, "¥225"),
        ("JPY", 150, 0.001, "<¥1"),
        ("CHF", 0.8, 2, "CHF 1.60"),
        ("USD", 1.0, -2.5, "-$2.50"),
    ],
)
def test_money_is_shown_the_same_way_in_every_locale(currency, rate, usd, text):
    assert AppSettings(currency=currency, currency_rate=rate).format_money(usd) == text


def test_the_default_settings_file_is_in_the_config_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    assert default_settings_path() == tmp_path / "config" / "settings.json"


# Folders --------------------------------------------------------------------------------------


def folders() -> tuple[Path, Path, Path]:
    return locations.config_dir(), locations.data_dir(), locations.cache_dir()


def test_one_home_folder_overrides_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path / "portable"))
    for platform in ("linux", "darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert folders() == (
            tmp_path / "portable" / "config",
            tmp_path / "portable" / "data",
            tmp_path / "portable" / "cache",
        )


def test_linux_honours_xdg_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("FINETUNE_STUDIO_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "k"))
    assert folders() == (
        tmp_path / "c" / "finetune-studio",
        tmp_path / "d" / "finetune-studio",
        tmp_path / "k" / "finetune-studio",
    )


@pytest.mark.parametrize("value", [None, "", "relative/path"])
def test_linux_falls_back_to_the_xdg_defaults(monkeypatch, tmp_path, value):
    monkeypatch.delenv("FINETUNE_STUDIO_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "freebsd14")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert folders() == (
        tmp_path / ".config" / "finetune-studio",
        tmp_path / ".local" / "share" / "finetune-studio",
        tmp_path / ".cache" / "finetune-studio",
    )


def test_macos_uses_the_library_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("FINETUNE_STUDIO_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path))
    support = tmp_path / "Library" / "Application Support" / "Fine-Tune Studio"
    assert folders() == (support, support, tmp_path / "Library" / "Caches" / "Fine-Tune Studio")


def test_windows_uses_appdata_and_localappdata(monkeypatch, tmp_path):
    monkeypatch.delenv("FINETUNE_STUDIO_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    roaming = tmp_path / "Roaming" / "Fine-Tune Studio"
    assert folders() == (roaming, roaming, tmp_path / "Local" / "Fine-Tune Studio" / "Cache")
    monkeypatch.delenv("APPDATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locations.config_dir() == tmp_path / "AppData" / "Roaming" / "Fine-Tune Studio"

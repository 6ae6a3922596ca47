"""Provider profiles, templates and the profile file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desktop.api import profiles as p
from desktop.api.profiles import (
    ProfileError,
    ProfileStore,
    ProviderKind,
    ProviderProfile,
    profile_from_template,
)
from desktop.core.jsonl_io import atomic_write


def test_templates_cover_the_four_kinds() -> None:
    assert {"openai", "azure", "compatible", "local"} <= set(p.TEMPLATES)
    openai_t = p.TEMPLATES["openai"]
    assert openai_t.base_url == "https://api.openai.com/v1"
    assert openai_t.capabilities.fine_tuning and "dpo" in openai_t.capabilities.methods
    local = p.TEMPLATES["local"].capabilities
    assert (local.fine_tuning, local.needs_key, local.methods) == (False, False, ())
    assert dict(p.TEMPLATES["local"].presets) == {
        "Ollama": "http://localhost:11434/v1",
        "LM Studio": "http://localhost:1234/v1",
        "vLLM": "http://localhost:8000/v1",
        "llama.cpp": "http://localhost:8080/v1",
    }
    # no third-party address is filled in for the user: it is one choice among the presets
    assert p.TEMPLATES["compatible"].base_url == ""
    assert dict(p.TEMPLATES["compatible"].presets) == {
        "Nebius Token Factory": "https://api.tokenfactory.nebius.com/v1/"
    }


def test_a_compatible_profile_needs_an_address_the_user_gave() -> None:
    with pytest.raises(ProfileError, match="Enter the address"):
        profile_from_template("compatible")
    chosen = profile_from_template("compatible", preset="Nebius Token Factory")
    assert chosen.base_url == "https://api.tokenfactory.nebius.com/v1/"
    typed = profile_from_template("compatible", base_url="https://llm.example/v1")
    assert typed.base_url == "https://llm.example/v1"


def test_azure_profile_from_resource_name() -> None:
    profile = profile_from_template("azure", azure_resource="Contoso-FT")
    assert profile.kind is ProviderKind.AZURE
    assert profile.base_url == "https://contoso-ft.openai.azure.com/openai/v1/"
    assert profile.azure_resource == "contoso-ft"
    caps = profile.capabilities
    assert dict(caps.extra_body) == {"trainingType": "Standard"}
    assert caps.deploy_before_chat is True
    assert caps.suffix_problem("v1.2") is not None
    assert caps.suffix_problem("v1-2") is None


@pytest.mark.parametrize(
    "typed",
    [
        "contoso",
        " contoso ",
        "contoso.openai.azure.com",
        "https://contoso.openai.azure.com/",
        "https://contoso.openai.azure.com/openai/v1/",
    ],
)
def test_azure_resource_accepts_name_host_or_url(typed: str) -> None:
    assert p.azure_base_url(typed) == "https://contoso.openai.azure.com/openai/v1/"


@pytest.mark.parametrize("typed", ["", "-bad", "bad-", "has space", "a_b", "x" * 65, "évian"])
def test_azure_resource_rejects_bad_names(typed: str) -> None:
    with pytest.raises(ProfileError):
        p.azure_base_url(typed)


def test_azure_template_needs_a_resource() -> None:
    with pytest.raises(ProfileError, match="resource"):
        profile_from_template("azure")


def test_local_presets_and_unknown_template() -> None:
    lm = profile_from_template("local", preset="LM Studio")
    assert (lm.display_name, lm.base_url) == ("LM Studio", "http://localhost:1234/v1")
    with pytest.raises(ProfileError):
        profile_from_template("local", preset="Nope")
    with pytest.raises(ProfileError):
        profile_from_template("mystery")


@pytest.mark.parametrize("url", ["", "ftp://x", "localhost:11434", "http://", "https://x/v1?a=b"])
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ProfileError):
        profile_from_template("compatible", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:11434/v1",
        "http://LOCALHOST:8000/v1",
        "http://localhost./v1",
        "http://127.0.0.1:1234/v1",
        "http://127.8.9.10/v1",
        "http://[::1]:8080/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "https://192.0.2.2/v1",
        "https://api.openai.com/v1",
    ],
)
def test_https_and_this_computer_need_no_permission(url: str) -> None:
    profile = profile_from_template("compatible", base_url=url)
    assert profile.plain_http_warning is None
    assert not profile.plain_http_refused


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.2/v1",
        "http://10.0.0.5:11434/v1",
        "http://[fd00::2]:8000/v1",
        "http://llm.example/v1",
        "http://localhost.example/v1",
        "http://127.0.0.1.example/v1",
        "HTTP://api.example/v1",
    ],
)
def test_plain_http_elsewhere_is_refused_unless_allowed(url: str) -> None:
    profile = profile_from_template("compatible", base_url=url)
    assert profile.plain_http_refused
    warning = profile.plain_http_warning
    assert warning is not None and "unencrypted" in warning and "API key" in warning
    allowed = profile.with_changes(allow_plain_http=True)
    assert not allowed.plain_http_refused
    again = ProviderProfile.from_dict(json.loads(json.dumps(allowed.to_dict())))
    assert again.allow_plain_http is True  # the permission is stored with the profile
    assert ProviderProfile.from_dict(profile.to_dict()).allow_plain_http is False


def test_a_local_server_elsewhere_is_warned_about_without_mentioning_a_key() -> None:
    profile = profile_from_template("local", base_url="http://192.168.1.20:11434/v1")
    assert profile.plain_http_refused
    assert "API key" not in (profile.plain_http_warning or "")


def test_older_profile_files_allow_no_plain_http() -> None:
    profile = profile_from_template("compatible", base_url="http://192.0.2.2/v1")
    data = profile.to_dict()
    del data["allow_plain_http"]
    assert ProviderProfile.from_dict(data).plain_http_refused
    data["allow_plain_http"] = "yes"  # only a real true counts
    assert ProviderProfile.from_dict(data).plain_http_refused


def test_suffix_rules() -> None:
    caps = p.OPENAI_CAPABILITIES
    assert caps.suffix_problem("x" * 64) is None
    assert caps.suffix_problem("x" * 65) is not None
    assert p.LOCAL_CAPABILITIES.suffix_problem("x") is not None
    assert caps.suffix_problem("") is None


def test_profile_dict_round_trip() -> None:
    profile = profile_from_template(
        "openai", organization="org-1", project="proj-2", timeout_seconds=30
    )
    again = ProviderProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again == profile
    assert "key" not in json.dumps(profile.to_dict()).replace("needs_key", "")


def test_profile_validation() -> None:
    with pytest.raises(ProfileError):
        profile_from_template("openai", display_name="   ")
    with pytest.raises(ProfileError):
        profile_from_template("openai", timeout_seconds=0)
    with pytest.raises(ProfileError):
        ProviderProfile.from_dict({"id": "x"})


def test_store_round_trip_and_active(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    assert store.profiles == () and store.active() is None
    first = profile_from_template("openai")
    second = profile_from_template("azure", azure_resource="res")
    third = profile_from_template("local", preset="Ollama")
    store.add(first)
    store.add(second)
    store.add(third)
    assert store.active_id == first.id  # the first profile becomes active
    store.set_active(second.id)
    store.update(second.with_changes(display_name="Work Azure"))

    reloaded = ProfileStore(tmp_path)
    assert [x.id for x in reloaded.profiles] == [first.id, second.id, third.id]
    assert reloaded.active() == second.with_changes(display_name="Work Azure")
    document = json.loads((tmp_path / "providers.json").read_text())
    assert document["schema_version"] == 1
    assert document["active"] == second.id

    reloaded.remove(second.id)
    assert reloaded.active_id == first.id
    assert second.id not in ProfileStore(tmp_path)
    with pytest.raises(KeyError):
        reloaded.set_active("missing")
    with pytest.raises(ProfileError):
        reloaded.add(first)


def test_store_file_holds_no_secret_even_if_one_was_added_by_hand(tmp_path: Path) -> None:
    key = "sk-proj-" + "abcdefghijklmnopqrstuvwxyz123456"
    profile = profile_from_template("openai")
    store = ProfileStore(tmp_path)
    store.add(profile)
    data = json.loads(store.path.read_text())
    data["profiles"][0]["api_key"] = key  # someone edits the file by hand
    store.path.write_text(json.dumps(data))
    again = ProfileStore(tmp_path)
    again.save()
    assert key not in store.path.read_text()


def test_atomic_write_leaves_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProfileStore(tmp_path)
    store.add(profile_from_template("openai"))
    before = store.path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="Could not save providers"):
        store.add(profile_from_template("local", preset="vLLM"))
    monkeypatch.undo()
    assert store.path.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["providers.json"]  # no temp file left


def test_atomic_write_goes_through_a_synced_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_replace(src: str, dst: str) -> None:
        calls.append(("replace", Path(src).name))
        real_replace(src, dst)

    def spy_fsync(fd: int) -> None:
        calls.append(("fsync", ""))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", spy_replace)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    atomic_write(tmp_path / "providers.json", b"{}")
    assert calls[0] == ("fsync", "")
    assert calls[1][0] == "replace" and calls[1][1].startswith(".providers.json.")
    assert Path(calls[1][1]).parent == Path(".")
    assert (tmp_path / "providers.json").read_text() == "{}"


def test_damaged_or_newer_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="damaged"):
        ProfileStore(tmp_path)
    path.write_text(json.dumps({"schema_version": 99, "profiles": []}))
    with pytest.raises(ProfileError, match="newer version"):
        ProfileStore(tmp_path)
    assert json.loads(path.read_text())["schema_version"] == 99


def test_profile_repr_is_harmless() -> None:
    profile = profile_from_template("openai")
    assert "key" not in repr(profile).replace("needs_key", "")

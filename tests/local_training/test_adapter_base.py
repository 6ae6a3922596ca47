"""Which base model an adapter downloaded from a provider is served on: a provider's own
name for a Hugging Face model is mapped only where that is certain, otherwise the user is
asked and the answer is remembered for that adapter. The Hub is a local stand-in; nothing
here reaches the internet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.local_training.fake_hub import FakeHub
from tests.local_training.test_job_folders import fake_model, together_adapter

pytestmark = pytest.mark.local_training
pytest.importorskip("huggingface_hub")

from desktop.local_training import hub  # noqa: E402
from desktop.local_training.serving import (  # noqa: E402
    AdapterBase,
    adapter_base,
    remember_base,
    remembered_base,
)

TOGETHER_NAME = "tester/tiny-chat-Reference"  # as Together AI names a base model it trains
HUB_NAME = "tester/tiny-chat"


@pytest.fixture
def downloaded(tmp_path) -> Path:
    """A Hub cache holding HUB_NAME, downloaded whole from a stand-in for the Hub."""
    server = FakeHub(repos={HUB_NAME: fake_model(tmp_path / "repo")}).start()
    try:
        hub.download_model(HUB_NAME, cache_dir=tmp_path / "cache", endpoint=server.url)
    finally:
        server.stop()
    return tmp_path / "cache"


def test_a_providers_name_becomes_a_hub_name_only_when_that_model_is_offered_or_here(
    downloaded, tmp_path
):
    empty = tmp_path / "empty-cache"
    assert hub.known_base(TOGETHER_NAME, cache_dir=empty) is None  # never a guessed download
    assert hub.known_base(TOGETHER_NAME, cache_dir=downloaded) == HUB_NAME
    offered = "Qwen/Qwen2.5-0.5B-Instruct"
    assert hub.known_base(f"{offered}-Reference", cache_dir=empty) == offered
    assert hub.likely_hub_name("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference") == (
        "meta-llama/Meta-Llama-3.1-8B-Instruct"
    )
    # Names that are no provider's own: as before, a folder here or a Hub name.
    assert hub.known_base("Qwen/Qwen2.5-7B-Instruct", cache_dir=empty) == "Qwen/Qwen2.5-7B-Instruct"
    folder = fake_model(tmp_path / "base")
    assert hub.known_base(str(folder), cache_dir=empty) == str(folder)
    assert hub.known_base("/mnt/together/models/tiny-chat", cache_dir=empty) is None


def test_a_together_adapter_on_a_base_this_computer_cannot_tell_asks_which_it_is(tmp_path):
    empty = tmp_path / "empty-cache"
    adapter = together_adapter(tmp_path / "ft-1-adapter", TOGETHER_NAME)
    assert adapter_base(adapter, TOGETHER_NAME, hub_cache=empty) == AdapterBase(
        None, TOGETHER_NAME, HUB_NAME
    )
    # Where the adapter names a folder on Together's computers, its job's name is the one said.
    elsewhere = together_adapter(tmp_path / "ft-2-adapter", "/mnt/together/models/tiny-chat")
    assert adapter_base(elsewhere, TOGETHER_NAME, hub_cache=empty) == AdapterBase(
        None, TOGETHER_NAME, HUB_NAME
    )
    # An adapter trained on this computer names its base folder, which is used as it is.
    base = fake_model(tmp_path / "base")
    here = together_adapter(tmp_path / "trained-here", str(base))
    assert adapter_base(here, TOGETHER_NAME, hub_cache=empty).model == str(base)


def test_the_base_found_in_the_hub_cache_is_used_without_asking(downloaded, tmp_path):
    adapter = together_adapter(tmp_path / "ft-1-adapter", TOGETHER_NAME)
    found = adapter_base(adapter, TOGETHER_NAME, hub_cache=downloaded)
    assert found.model == HUB_NAME


def test_the_users_choice_is_remembered_for_that_adapter_only(tmp_path):
    empty = tmp_path / "empty-cache"
    adapter = together_adapter(tmp_path / "ft-1-adapter", TOGETHER_NAME)
    other = together_adapter(tmp_path / "ft-2-adapter", TOGETHER_NAME)
    base = fake_model(tmp_path / "base")
    remember_base(adapter, str(base))
    assert remembered_base(adapter) == str(base)
    assert adapter_base(adapter, TOGETHER_NAME, hub_cache=empty).model == str(base)
    assert adapter_base(other, TOGETHER_NAME, hub_cache=empty).model is None
    remember_base(other, HUB_NAME)  # a Hub name is remembered as well
    assert adapter_base(other, TOGETHER_NAME, hub_cache=empty).model == HUB_NAME
    # A chosen folder that has gone since is asked about again.
    shutil.rmtree(base)
    assert adapter_base(adapter, TOGETHER_NAME, hub_cache=empty).model is None


def test_an_adapter_named_after_togethers_base_is_served_on_the_model_downloaded_here(
    trained, tiny_model, tmp_path, monkeypatch
):
    from huggingface_hub import constants

    from desktop.api.backends.local import serve_adapter
    from desktop.local_training import serving
    from tests.local_training.test_this_computer import greedy_reply

    server = FakeHub(repos={HUB_NAME: tiny_model}).start()
    try:
        hub.download_model(HUB_NAME, cache_dir=tmp_path / "hub-cache", endpoint=server.url)
    finally:
        server.stop()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    unpacked = tmp_path / "ft-7e2a-adapter"  # as unpacked from Together's download
    shutil.copytree(Path(trained["lines"][-1]["adapter"]), unpacked)
    config = json.loads((unpacked / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = TOGETHER_NAME
    (unpacked / "adapter_config.json").write_text(json.dumps(config))

    found = adapter_base(unpacked, TOGETHER_NAME)
    assert found.model == HUB_NAME
    root = tmp_path / "serving"
    served = serve_adapter(found.model, unpacked, serving_root=root)
    try:
        assert greedy_reply(served, "What is 2 plus 2?")
    finally:
        serving.stop_server(served.name, root)

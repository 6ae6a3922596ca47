"""Provider model lists merged with catalog facts."""

from __future__ import annotations

import openai

from desktop.api.model_list import base_model_of, list_models
from tests.fake_openai import FakeOpenAIServer

CATALOG = {
    "gpt-4o-mini-2024-07-18": {
        "training_price_per_1m": 3.0,
        "shutdown_date": "2030-01-01",  # stale: the provider says 2027-01-14
        "max_tokens_per_example": 65536,
    },
    "gpt-4o-mini": {"shutdown_date": "2028-02-02"},
    "gpt-3.5-turbo-0125": {"training_price_per_1m": 8.0, "shutdown_date": "2026-10-23"},
}


def test_provider_shutdown_date_wins_over_catalog(openai_client: openai.OpenAI) -> None:
    models = {m.id: m for m in list_models(openai_client, CATALOG)}
    mini = models["gpt-4o-mini-2024-07-18"]
    assert (mini.shutdown_date, mini.shutdown_source) == ("2027-01-14", "provider")
    assert mini.training_price_per_1m == 3.0
    assert mini.max_tokens_per_example == 65536
    alias = models["gpt-4o-mini"]  # provider announces no date: the catalog's is shown
    assert (alias.shutdown_date, alias.shutdown_source) == ("2028-02-02", "catalog")
    assert models["babbage-002"].shutdown_date is None
    assert models["babbage-002"].training_price_per_1m is None
    assert "gpt-3.5-turbo-0125" not in models


def test_catalog_only_models_can_be_included(openai_client: openai.OpenAI) -> None:
    models = {m.id: m for m in list_models(openai_client, CATALOG, include_unlisted_catalog=True)}
    legacy = models["gpt-3.5-turbo-0125"]
    assert legacy.listed_by_provider is False
    assert (legacy.shutdown_date, legacy.shutdown_source) == ("2026-10-23", "catalog")


def test_fine_tuned_models_inherit_base_catalog_data(
    fake_openai: FakeOpenAIServer, openai_client: openai.OpenAI
) -> None:
    ft = "ft:gpt-4o-mini-2024-07-18:fake-org:demo:abc123"
    fake_openai.add_model(ft, owned_by="fake-org")
    models = list_models(openai_client, CATALOG)
    info = next(m for m in models if m.id == ft)
    assert info.is_fine_tuned and info.base_model == "gpt-4o-mini-2024-07-18"
    assert info.shutdown_date == "2030-01-01"  # the base's date, as the fine-tune dies with it
    assert info.owned_by == "fake-org"
    assert models[-1].is_fine_tuned  # base models first, then fine-tunes


def test_base_model_of() -> None:
    assert base_model_of("ft:gpt-4.1-2025-04-14:org:s:id:ckpt-step-8") == "gpt-4.1-2025-04-14"
    assert base_model_of("gpt-4o") is None
    assert base_model_of("ft:") is None


def test_without_catalog(openai_client: openai.OpenAI) -> None:
    models = list_models(openai_client)
    assert {m.id for m in models} >= {"gpt-4o-mini-2024-07-18", "davinci-002"}
    assert all(m.listed_by_provider for m in models)

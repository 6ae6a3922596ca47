"""The provider's model list merged with what the app's catalog knows (prices, limits, dates).

The catalog is passed in as a plain mapping so this module does not depend on where it comes
from. A shutdown date announced by the provider wins over the catalog's, because providers
change dates and the catalog can be stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from desktop.core.catalog import Catalog as ModelCatalog

if TYPE_CHECKING:
    import openai

Catalog = Mapping[str, Mapping[str, Any]]


def catalog_facts(catalog: ModelCatalog) -> Catalog:
    """What ``list_models`` needs of the app's catalog, as plain data."""
    return {
        m.id: {
            "training_price_per_1m": m.training_price_per_1m,
            "max_tokens_per_example": m.max_tokens_per_example,
            "shutdown_date": m.shutdown_date.isoformat() if m.shutdown_date else None,
        }
        for m in catalog.models()
    }


@dataclass(frozen=True)
class ModelInfo:
    """One model as the app shows it."""

    id: str
    owned_by: str | None
    created: int | None
    shutdown_date: str | None
    shutdown_source: str | None  # "provider", "catalog" or None
    base_model: str | None
    is_fine_tuned: bool
    listed_by_provider: bool
    catalog: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def training_price_per_1m(self) -> float | None:
        """Training price in USD per million tokens, if the catalog knows it."""
        value = self.catalog.get("training_price_per_1m")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def max_tokens_per_example(self) -> int | None:
        """Longest example the model trains on, if the catalog knows it."""
        value = self.catalog.get("max_tokens_per_example")
        return int(value) if isinstance(value, int) else None


def base_model_of(model_id: str) -> str | None:
    """For ``ft:<base>:<org>:<suffix>:<id>[:ckpt-step-N]`` the base id, else ``None``."""
    if not model_id.startswith("ft:"):
        return None
    parts = model_id.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else None


def _catalog_entry(catalog: Catalog, model_id: str) -> tuple[Mapping[str, Any], bool]:
    """Catalog data for a model (a fine-tune inherits its base's); second item: exact match."""
    if model_id in catalog:
        return catalog[model_id], True
    base = base_model_of(model_id)
    if base is not None and base in catalog:
        return catalog[base], False
    return {}, False


def merge_model(
    model_id: str,
    *,
    owned_by: str | None,
    created: int | None,
    provider_shutdown: str | None,
    listed: bool,
    catalog: Catalog,
) -> ModelInfo:
    """Combine provider facts and catalog facts for one id."""
    entry, _exact = _catalog_entry(catalog, model_id)
    catalog_shutdown = entry.get("shutdown_date")
    if provider_shutdown:
        shutdown, source = provider_shutdown, "provider"
    elif isinstance(catalog_shutdown, str) and catalog_shutdown:
        shutdown, source = catalog_shutdown, "catalog"
    else:
        shutdown, source = None, None
    return ModelInfo(
        id=model_id,
        owned_by=owned_by,
        created=created,
        shutdown_date=shutdown,
        shutdown_source=source,
        base_model=base_model_of(model_id),
        is_fine_tuned=model_id.startswith("ft:"),
        listed_by_provider=listed,
        catalog=MappingProxyType(dict(entry)),
    )


def provider_models(client: openai.OpenAI) -> list[dict[str, Any]]:
    """Every model the provider lists, as plain objects with an ``id``.

    OpenAI answers ``{"object": "list", "data": [...]}``; Together AI answers a bare array,
    which the SDK's ``models.list()`` cannot read, so the list is asked for as it comes.
    """
    answer = client.get("/models", cast_to=object)
    rows = answer.get("data") if isinstance(answer, dict) else answer
    if not isinstance(rows, list):
        raise ValueError("The provider's model list is not a list.")
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"]]


def list_models(
    client: openai.OpenAI,
    catalog: Catalog | None = None,
    *,
    include_unlisted_catalog: bool = False,
) -> list[ModelInfo]:
    """Every model the provider lists, with catalog data; optionally catalog-only ones too."""
    catalog = catalog or {}
    found: dict[str, ModelInfo] = {}
    for model in provider_models(client):
        owner, created, shutdown = (model.get(k) for k in ("owned_by", "created", "shutdown_date"))
        found[model["id"]] = merge_model(
            model["id"],
            owned_by=owner if isinstance(owner, str) else None,
            created=created if isinstance(created, int) and not isinstance(created, bool) else None,
            provider_shutdown=shutdown if isinstance(shutdown, str) else None,
            listed=True,
            catalog=catalog,
        )
    if include_unlisted_catalog:
        for model_id in catalog:
            if model_id not in found:
                found[model_id] = merge_model(
                    model_id,
                    owned_by=None,
                    created=None,
                    provider_shutdown=None,
                    listed=False,
                    catalog=catalog,
                )
    return sorted(found.values(), key=lambda m: (m.is_fine_tuned, m.id))

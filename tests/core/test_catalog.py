"""The model catalog: contents, look-ups, shutdown status and the user's price overrides."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from desktop.core.catalog import (
    PRICE_FIELDS,
    Availability,
    Catalog,
    CatalogError,
    default_catalog_path,
)
from desktop.core.tokens import encoding_for_model

SECTION_4_IDS = {
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0613",
    "davinci-002",
    "babbage-002",
    "o4-mini-2025-04-16",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- contents ------------------------------------------------------------------------------------


def test_catalog_lists_every_reference_model(catalog: Catalog):
    assert {m.id for m in catalog.models()} == SECTION_4_IDS
    assert catalog.as_of == date(2026, 11, 22)
    assert catalog.path == default_catalog_path()
    assert all(m.provider == "openai" for m in catalog.models())
    assert all(m.price_as_of == date(2026, 11, 22) for m in catalog.models())


def test_catalog_encodings_agree_with_the_token_counter(catalog: Catalog):
    for model in catalog.models():
        assert model.encoding == encoding_for_model(model.id), model.id


def test_catalog_values_from_the_reference(catalog: Catalog):
    gpt41 = catalog.get("gpt-4.1-2025-04-14")
    assert gpt41 is not None
    assert (gpt41.training_price_per_1m, gpt41.inference_input_per_1m) == (25.0, 3.0)
    assert (gpt41.inference_cached_input_per_1m, gpt41.inference_output_per_1m) == (0.75, 12.0)
    assert gpt41.max_tokens_per_example == 65536
    assert gpt41.max_tokens_confirmed is False
    assert "AZ [unconfirmed]" in gpt41.source
    assert gpt41.methods == ("supervised", "dpo")

    limits = {
        model_id: catalog.get(model_id).max_tokens_per_example
        for model_id in ("gpt-3.5-turbo-0125", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-0613")
    }
    assert limits == {
        "gpt-3.5-turbo-0125": 16385,
        "gpt-3.5-turbo-1106": 16385,
        "gpt-3.5-turbo-0613": 4096,
    }
    davinci = catalog.get("davinci-002")
    assert davinci is not None
    assert davinci.max_tokens_per_example is None
    assert davinci.methods == ("completion",)
    assert catalog.get("gpt-4o-2024-08-06").supports("vision")
    assert catalog.get("gpt-4o-mini-2024-07-18").methods_unconfirmed == ("dpo",)


def test_o4_mini_is_billed_per_hour(catalog: Catalog):
    o4 = catalog.get("o4-mini")
    assert o4 is not None
    assert o4.training_price_per_1m is None
    assert o4.training_price_per_hour == 100.0
    assert o4.billed_per_hour is True
    assert o4.methods == ("reinforcement",)
    assert catalog.get("gpt-4o-mini").billed_per_hour is False


def test_platform_wind_down(catalog: Catalog):
    assert catalog.no_new_jobs_from == date(2027, 1, 6)
    assert "2027-01-06" in catalog.platform_note
    assert catalog.jobs_allowed_on(date(2027, 1, 5)) is True
    assert catalog.jobs_allowed_on(date(2027, 1, 6)) is False


# -- look-ups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4.1", "gpt-4.1-2025-04-14"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        ("o4-mini", "o4-mini-2025-04-16"),
        ("ft:gpt-4.1-mini-2025-04-14:acme:support:9xYz", "gpt-4.1-mini-2025-04-14"),
        ("ft:gpt-4o-mini-2024-07-18:acme:support:9xYz:ckpt-step-88", "gpt-4o-mini-2024-07-18"),
        ("ft:davinci-002:acme::9xYz", "davinci-002"),
        ("ft:gpt-4o-mini:acme::9xYz", "gpt-4o-mini-2024-07-18"),
        (" GPT-4o-Mini ", "gpt-4o-mini-2024-07-18"),
    ],
)
def test_get_resolves_snapshots_aliases_and_fine_tunes(catalog: Catalog, model_id, expected):
    model = catalog.get(model_id)
    assert model is not None
    assert model.id == expected
    assert catalog.resolve_id(model_id) == expected
    assert model_id in catalog


@pytest.mark.parametrize("model_id", ["gpt-4o-2024-11-20", "gpt-5", "ft:unknown:org::x", ""])
def test_get_unknown_model_is_none(catalog: Catalog, model_id):
    assert catalog.get(model_id) is None
    assert model_id not in catalog


# -- status --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "availability", "days_left"),
    [
        (date(2026, 10, 15), Availability.ACTIVE, 91),
        (date(2026, 10, 16), Availability.RETIRING_SOON, 90),
        (date(2026, 11, 22), Availability.RETIRING_SOON, 53),
        (date(2027, 1, 13), Availability.RETIRING_SOON, 1),
        (date(2027, 1, 14), Availability.SHUT_DOWN, 0),
        (date(2028, 1, 1), Availability.SHUT_DOWN, -352),
    ],
)
def test_status_around_shutdown(catalog: Catalog, day, availability, days_left):
    status = catalog.status_on("ft:gpt-4o-2024-08-06:acme::x", day)
    assert status.availability is availability
    assert status.days_left == days_left
    assert "2027-01-14" in status.sentence
    assert "GPT-4o" in status.sentence


def test_status_sentences(catalog: Catalog):
    today = date(2026, 11, 22)
    soon = catalog.status_on("gpt-4o-mini", today)
    assert soon.sentence.endswith("in 53 days; models fine-tuned from it stop working then.")
    gone = catalog.status_on("gpt-4.1-nano-2025-04-14", today)
    assert gone.availability is Availability.SHUT_DOWN
    assert "shut down on 2026-10-23" in gone.sentence
    reported = catalog.status_on("babbage-002", today)
    assert reported.availability is Availability.SHUT_DOWN
    assert "not confirmed" in reported.sentence
    undated = catalog.status_on("gpt-3.5-turbo-1106", today)
    assert undated.availability is Availability.ACTIVE
    assert undated.days_left is None
    assert "no shutdown date is known" in undated.sentence
    unknown = catalog.status_on("my-model", today)
    assert unknown.days_left is None
    assert "not in the app's catalog" in unknown.sentence


# -- overrides -----------------------------------------------------------------------------------


def test_overrides_replace_prices_and_mark_them(catalog: Catalog, tmp_path: Path):
    path = write_json(
        tmp_path / "prices.json",
        {
            "models": {
                "gpt-4.1-2025-04-14": {"training_price_per_1m": 20.0},
                "gpt-4o-mini": {"inference_output_per_1m": 1, "inference_input_per_1m": None},
            }
        },
    )
    mine = catalog.with_overrides(path)
    assert mine.overrides_path == path
    gpt41 = mine.get("gpt-4.1")
    assert gpt41 is not None
    assert gpt41.training_price_per_1m == 20.0
    assert gpt41.overridden == frozenset({"training_price_per_1m"})
    assert gpt41.price_source("training_price_per_1m") == "your price"
    assert gpt41.price_source("inference_input_per_1m") == gpt41.source
    mini = mine.get("gpt-4o-mini-2024-07-18")
    assert mini is not None
    assert (mini.inference_output_per_1m, mini.inference_input_per_1m) == (1.0, None)
    assert mini.is_overridden
    assert not mine.get("gpt-4o-2024-08-06").is_overridden
    # The shipped catalog is untouched.
    assert catalog.get("gpt-4.1").training_price_per_1m == 25.0
    assert not catalog.get("gpt-4.1").is_overridden
    # Everything else survives.
    assert mine.aliases() == catalog.aliases()
    assert mine.no_new_jobs_from == catalog.no_new_jobs_from


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"models": {"gpt-9": {"training_price_per_1m": 1}}}, "models.gpt-9"),
        (
            {"models": {"gpt-4.1": {"training_price": 1}}},
            "models.gpt-4.1.training_price",
        ),
        (
            {"models": {"gpt-4.1": {"training_price_per_1m": "cheap"}}},
            "models.gpt-4.1.training_price_per_1m",
        ),
        (
            {"models": {"gpt-4.1": {"training_price_per_1m": -1}}},
            "models.gpt-4.1.training_price_per_1m",
        ),
        (
            {"models": {"gpt-4.1": {"training_price_per_1m": True}}},
            "models.gpt-4.1.training_price_per_1m",
        ),
        ({"models": {"gpt-4.1": {}}}, "models.gpt-4.1"),
        ({"models": {"gpt-4.1": 5}}, "models.gpt-4.1"),
        (
            {
                "models": {
                    "gpt-4.1": {"training_price_per_1m": 1},
                    "gpt-4.1-2025-04-14": {"training_price_per_1m": 2},
                }
            },
            "models.gpt-4.1-2025-04-14",
        ),
        ({"models": {}, "prices": {}}, "prices"),
        ({"model": {}}, "model"),
        ({}, "models"),
        ([], "the file"),
    ],
)
def test_bad_overrides_name_the_file_and_field(catalog: Catalog, tmp_path: Path, content, field):
    path = write_json(tmp_path / "prices.json", content)
    with pytest.raises(CatalogError) as caught:
        catalog.with_overrides(path)
    message = str(caught.value)
    assert str(path) in message
    assert field in message


def test_override_file_not_json_or_missing(catalog: Catalog, tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"models": {', encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        catalog.with_overrides(broken)
    missing = tmp_path / "missing.json"
    with pytest.raises(CatalogError, match="does not exist"):
        catalog.with_overrides(missing)
    assert catalog.with_overrides(missing, missing_ok=True) is catalog


def test_every_price_field_can_be_overridden(catalog: Catalog, tmp_path: Path):
    path = write_json(
        tmp_path / "prices.json",
        {"models": {"o4-mini": dict.fromkeys(PRICE_FIELDS, 2.5)}},
    )
    o4 = catalog.with_overrides(path).get("o4-mini")
    assert o4 is not None
    assert all(getattr(o4, name) == 2.5 for name in PRICE_FIELDS)
    assert o4.overridden == frozenset(PRICE_FIELDS)


# -- a damaged catalog ---------------------------------------------------------------------------


def test_damaged_catalog_names_the_field(tmp_path: Path):
    data = json.loads(default_catalog_path().read_text(encoding="utf-8"))
    data["models"][2]["training_price_per_1m"] = "1.50"
    path = write_json(tmp_path / "catalog.json", data)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    assert str(path) in str(caught.value)
    assert "models[2].training_price_per_1m" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["models"][0].update(encoding="p50k_base"), "models[0].encoding"),
        (lambda d: d["models"][0].update(shutdown_date="14/01/2027"), "models[0].shutdown_date"),
        (lambda d: d["models"][0].update(methods=["sft"]), "models[0].methods"),
        (lambda d: d["models"][0].pop("source"), "models[0].source"),
        (lambda d: d["models"][0].update(colour="red"), "models[0].colour"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["aliases"].update({"gpt-x": "nope"}), "gpt-x"),
        (lambda d: d["models"].append(dict(d["models"][0])), "listed twice"),
    ],
)
def test_catalog_validation(tmp_path: Path, change, field):
    data = json.loads(default_catalog_path().read_text(encoding="utf-8"))
    change(data)
    path = write_json(tmp_path / "catalog.json", data)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    assert field in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_catalog(tmp_path: Path):
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.load(tmp_path / "catalog.json")

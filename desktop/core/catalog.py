"""The catalog of fine-tunable models: limits, prices, tokenizers and shutdown dates.

Why a data file: prices and dates change without an app release, and the UI must say where a
number comes from and how sure it is. ``resources/catalog.json`` is the shipped copy; a user can
correct prices without editing the app through a small override file
(:meth:`Catalog.with_overrides`), and overridden values are marked so the UI can show "your price".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import Enum
from pathlib import Path

from desktop.core.resources import resources_dir
from desktop.core.tokens import SUPPORTED_ENCODINGS, base_model_id

SCHEMA_VERSION = 1
RETIRING_SOON_DAYS = 90
METHODS: tuple[str, ...] = ("supervised", "dpo", "vision", "reinforcement", "completion")
PRICE_FIELDS: tuple[str, ...] = (
    "training_price_per_1m",
    "training_price_per_hour",
    "inference_input_per_1m",
    "inference_cached_input_per_1m",
    "inference_output_per_1m",
)
_MODEL_FIELDS: tuple[str, ...] = (
    "id",
    "display_name",
    "provider",
    "encoding",
    "max_tokens_per_example",
    "max_tokens_confirmed",
    "methods",
    "methods_unconfirmed",
    *PRICE_FIELDS,
    "shutdown_date",
    "shutdown_confirmed",
    "source",
    "notes",
)
_OPTIONAL_MODEL_FIELDS = frozenset({"methods_unconfirmed", "notes"})
_TOP_FIELDS = frozenset(
    {"schema_version", "as_of", "currency", "reference", "platform", "aliases", "models"}
)


class CatalogError(ValueError):
    """The catalog or a price override file is unreadable or malformed; one plain sentence."""


class Availability(str, Enum):
    """Whether a model can still be trained and used on a given day."""

    ACTIVE = "active"
    RETIRING_SOON = "retiring_soon"
    SHUT_DOWN = "shut_down"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """A model's availability on one day, with a sentence for the UI."""

    availability: Availability
    days_left: int | None
    sentence: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One fine-tunable base model as the catalog describes it (prices in USD).

    ``overridden`` names the price fields the user replaced; ``price_as_of`` is the date of the
    catalog the other prices come from.
    """

    id: str
    display_name: str
    provider: str
    encoding: str
    max_tokens_per_example: int | None
    max_tokens_confirmed: bool
    methods: tuple[str, ...]
    methods_unconfirmed: tuple[str, ...]
    training_price_per_1m: float | None
    training_price_per_hour: float | None
    inference_input_per_1m: float | None
    inference_cached_input_per_1m: float | None
    inference_output_per_1m: float | None
    shutdown_date: date | None
    shutdown_confirmed: bool
    source: str
    notes: str = ""
    price_as_of: date | None = None
    overridden: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_overridden(self) -> bool:
        """True when any price is the user's own."""
        return bool(self.overridden)

    def price_source(self, price_field: str) -> str:
        """Where one price comes from: ``"your price"`` or the catalog source."""
        return "your price" if price_field in self.overridden else self.source

    @property
    def billed_per_hour(self) -> bool:
        """True for models whose training is billed by time rather than tokens (o4-mini)."""
        return self.training_price_per_1m is None and self.training_price_per_hour is not None

    def supports(self, method: str) -> bool:
        """True when ``method`` is a confirmed training method of this model."""
        return method in self.methods

    def status_on(self, day: date) -> ModelStatus:
        """Active, retiring soon (within 90 days) or shut down on ``day``."""
        name = self.display_name
        if name.lower() != self.id:
            name = f"{name} ({self.id})"
        when = self.shutdown_date
        if when is None:
            return ModelStatus(
                Availability.ACTIVE,
                None,
                f"{name} is available as far as the app knows; no shutdown date is known.",
            )
        days_left = (when - day).days
        hedge = "" if self.shutdown_confirmed else " (reported, not confirmed)"
        if days_left <= 0:
            return ModelStatus(
                Availability.SHUT_DOWN,
                days_left,
                f"{name} shut down on {when.isoformat()}{hedge}: it can no longer be trained, "
                "and models fine-tuned from it no longer answer.",
            )
        if days_left <= RETIRING_SOON_DAYS:
            days = "1 day" if days_left == 1 else f"{days_left} days"
            return ModelStatus(
                Availability.RETIRING_SOON,
                days_left,
                f"{name} shuts down on {when.isoformat()}{hedge}, in {days}; models fine-tuned "
                "from it stop working then.",
            )
        return ModelStatus(
            Availability.ACTIVE,
            days_left,
            f"{name} is available; it is scheduled to shut down on {when.isoformat()}{hedge}.",
        )


class _Reader:
    """Typed access to parsed JSON that fails with a sentence naming the file and the field."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what

    def error(self, where: str, problem: str) -> CatalogError:
        return CatalogError(f"The {self.what} {self.path} is invalid: {where} {problem}.")

    def load(self) -> object:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CatalogError(f"The {self.what} {self.path} does not exist.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"The {self.what} {self.path} could not be read ({exc}).") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                f"The {self.what} {self.path} is not valid JSON "
                f"(line {exc.lineno}, column {exc.colno}: {exc.msg})."
            ) from exc

    def obj(self, value: object, where: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(where, "must be a JSON object")
        return value

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(where, "must be a non-empty text")
        return value

    def flag(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, "must be true or false")
        return value

    def price(self, value: object, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(where, "must be a number of US dollars or null")
        if not math.isfinite(value) or value < 0:
            raise self.error(where, "must be zero or more")
        return float(value)

    def limit(self, value: object, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(where, "must be a whole number above zero or null")
        return value

    def day(self, value: object, where: str, *, nullable: bool = False) -> date | None:
        if value is None and nullable:
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.error(
            where, "must be a date written YYYY-MM-DD" + (" or null" if nullable else "")
        )

    def methods(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
            raise self.error(where, "must be a list of method names")
        unknown = [m for m in value if m not in METHODS]
        if unknown:
            raise self.error(
                where, f"has unknown method {unknown[0]!r} (known: {', '.join(METHODS)})"
            )
        return tuple(value)


def _read_model(reader: _Reader, raw: object, where: str, as_of: date) -> ModelInfo:
    data = reader.obj(raw, where)
    unknown = sorted(set(data) - set(_MODEL_FIELDS))
    if unknown:
        raise reader.error(f"{where}.{unknown[0]}", "is not a known field")
    missing = [k for k in _MODEL_FIELDS if k not in data and k not in _OPTIONAL_MODEL_FIELDS]
    if missing:
        raise reader.error(f"{where}.{missing[0]}", "is missing")
    encoding = reader.string(data["encoding"], f"{where}.encoding")
    if encoding not in SUPPORTED_ENCODINGS:
        raise reader.error(f"{where}.encoding", f"must be one of {', '.join(SUPPORTED_ENCODINGS)}")
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise reader.error(f"{where}.notes", "must be a text")
    return ModelInfo(
        id=reader.string(data["id"], f"{where}.id").strip().lower(),
        display_name=reader.string(data["display_name"], f"{where}.display_name"),
        provider=reader.string(data["provider"], f"{where}.provider"),
        encoding=encoding,
        max_tokens_per_example=reader.limit(
            data["max_tokens_per_example"], f"{where}.max_tokens_per_example"
        ),
        max_tokens_confirmed=reader.flag(
            data["max_tokens_confirmed"], f"{where}.max_tokens_confirmed"
        ),
        methods=reader.methods(data["methods"], f"{where}.methods"),
        methods_unconfirmed=reader.methods(
            data.get("methods_unconfirmed", []), f"{where}.methods_unconfirmed"
        ),
        training_price_per_1m=reader.price(
            data["training_price_per_1m"], f"{where}.training_price_per_1m"
        ),
        training_price_per_hour=reader.price(
            data["training_price_per_hour"], f"{where}.training_price_per_hour"
        ),
        inference_input_per_1m=reader.price(
            data["inference_input_per_1m"], f"{where}.inference_input_per_1m"
        ),
        inference_cached_input_per_1m=reader.price(
            data["inference_cached_input_per_1m"], f"{where}.inference_cached_input_per_1m"
        ),
        inference_output_per_1m=reader.price(
            data["inference_output_per_1m"], f"{where}.inference_output_per_1m"
        ),
        shutdown_date=reader.day(data["shutdown_date"], f"{where}.shutdown_date", nullable=True),
        shutdown_confirmed=reader.flag(data["shutdown_confirmed"], f"{where}.shutdown_confirmed"),
        source=reader.string(data["source"], f"{where}.source"),
        notes=notes,
        price_as_of=as_of,
    )


def default_catalog_path() -> Path:
    """The shipped catalog file."""
    return resources_dir() / "catalog.json"


class Catalog:
    """The known models, looked up by snapshot id, alias, ``ft:`` id or checkpoint id."""

    def __init__(
        self,
        models: Iterable[ModelInfo],
        *,
        aliases: Mapping[str, str] | None = None,
        as_of: date | None = None,
        platform_note: str = "",
        no_new_jobs_from: date | None = None,
        path: Path | None = None,
        overrides_path: Path | None = None,
    ) -> None:
        self._models: dict[str, ModelInfo] = {}
        for model in models:
            if model.id in self._models:
                raise ValueError(f"The model {model.id!r} is listed twice in the catalog.")
            self._models[model.id] = model
        self._aliases: dict[str, str] = {}
        for alias, target in (aliases or {}).items():
            key = alias.strip().lower()
            if target not in self._models:
                raise ValueError(f"The alias {alias!r} points to an unknown model {target!r}.")
            if key in self._models:
                raise ValueError(f"The alias {alias!r} is also a model id.")
            self._aliases[key] = target
        self.as_of = as_of
        self.platform_note = platform_note
        self.no_new_jobs_from = no_new_jobs_from
        self.path = path
        self.overrides_path = overrides_path

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Read and validate a catalog file (default: the shipped ``catalog.json``)."""
        path = path if path is not None else default_catalog_path()
        reader = _Reader(path, "model catalog")
        data = reader.obj(reader.load(), "the file")
        unknown = sorted(set(data) - _TOP_FIELDS)
        if unknown:
            raise reader.error(unknown[0], "is not a known field")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise reader.error("schema_version", f"must be {SCHEMA_VERSION}")
        as_of = reader.day(data.get("as_of"), "as_of")
        platform = reader.obj(data.get("platform", {}), "platform")
        note = platform.get("note", "")
        if not isinstance(note, str):
            raise reader.error("platform.note", "must be a text")
        no_new_jobs = reader.day(platform.get("no_new_jobs"), "platform.no_new_jobs", nullable=True)
        raw_models = data.get("models")
        if not isinstance(raw_models, list) or not raw_models:
            raise reader.error("models", "must be a non-empty list")
        models = [
            _read_model(reader, raw, f"models[{index}]", as_of)
            for index, raw in enumerate(raw_models)
        ]
        aliases = reader.obj(data.get("aliases", {}), "aliases")
        for alias, target in aliases.items():
            reader.string(target, f"aliases.{alias}")
        try:
            return cls(
                models,
                aliases={k: str(v) for k, v in aliases.items()},
                as_of=as_of,
                platform_note=note,
                no_new_jobs_from=no_new_jobs,
                path=path,
            )
        except ValueError as exc:
            raise CatalogError(f"The model catalog {path} is invalid: {exc}") from exc

    def models(self) -> list[ModelInfo]:
        """Every model, in catalog order."""
        return list(self._models.values())

    def aliases(self) -> dict[str, str]:
        """Alias → snapshot id (e.g. ``gpt-4o-mini`` → ``gpt-4o-mini-2024-07-18``)."""
        return dict(self._aliases)

    def _resolve_plain(self, model_id: str) -> str | None:
        key = model_id.strip().lower()
        if key in self._models:
            return key
        return self._aliases.get(key)

    def resolve_id(self, model_id: str) -> str | None:
        """The catalog id behind a snapshot, alias, ``ft:`` id or checkpoint id, or None."""
        return self._resolve_plain(base_model_id(model_id))

    def get(self, model_id: str) -> ModelInfo | None:
        """The model behind ``model_id`` (see :meth:`resolve_id`), or None if unknown."""
        resolved = self.resolve_id(model_id)
        return self._models[resolved] if resolved is not None else None

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self.resolve_id(model_id) is not None

    def status_on(self, model_id: str, day: date) -> ModelStatus:
        """Availability of ``model_id`` (or of the base of an ``ft:`` id) on ``day``."""
        model = self.get(model_id)
        if model is None:
            return ModelStatus(
                Availability.ACTIVE,
                None,
                f"The model {model_id!r} is not in the app's catalog, so its shutdown date is "
                "unknown.",
            )
        return model.status_on(day)

    def jobs_allowed_on(self, day: date) -> bool:
        """False from the day OpenAI stops accepting new fine-tuning jobs (2027-01-06)."""
        return self.no_new_jobs_from is None or day < self.no_new_jobs_from

    def with_overrides(self, path: Path, *, missing_ok: bool = False) -> Catalog:
        """A copy with the user's prices from ``path`` applied and marked as overridden.

        The file looks like ``{"models": {"gpt-4.1-2025-04-14": {"training_price_per_1m": 20}}}``;
        keys are model ids or aliases, fields are the price fields, values numbers or null.
        """
        if missing_ok and not path.exists():
            return self
        reader = _Reader(path, "price override file")
        data = reader.obj(reader.load(), "the file")
        unknown = sorted(set(data) - {"models", "schema_version"})
        if unknown:
            raise reader.error(unknown[0], "is not a known field (use only 'models')")
        if "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
            raise reader.error("schema_version", f"must be {SCHEMA_VERSION}")
        entries = reader.obj(data.get("models"), "models")
        updated = dict(self._models)
        seen: dict[str, str] = {}
        for key, raw in entries.items():
            where = f"models.{key}"
            target = self._resolve_plain(key)
            if target is None:
                raise reader.error(where, "names no model the app knows")
            if target in seen:
                raise reader.error(where, f"sets the same model as models.{seen[target]}")
            seen[target] = key
            fields = reader.obj(raw, where)
            if not fields:
                raise reader.error(where, "sets no price")
            changes: dict[str, float | None] = {}
            for name, value in fields.items():
                if name not in PRICE_FIELDS:
                    raise reader.error(
                        f"{where}.{name}",
                        f"is not a price field (allowed: {', '.join(PRICE_FIELDS)})",
                    )
                changes[name] = reader.price(value, f"{where}.{name}")
            model = updated[target]
            updated[target] = replace(
                model,
                overridden=model.overridden | frozenset(changes),
                **changes,
            )
        return Catalog(
            updated.values(),
            aliases=self._aliases,
            as_of=self.as_of,
            platform_note=self.platform_note,
            no_new_jobs_from=self.no_new_jobs_from,
            path=self.path,
            overrides_path=path,
        )

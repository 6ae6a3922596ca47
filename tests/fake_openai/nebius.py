"""What Nebius Token Factory adds to OpenAI's fine-tuning paths, checked field by field.

Nebius takes jobs on OpenAI's paths, but its ``hyperparameters`` are its own (an absolute
``learning_rate``, LoRA settings, ``context_length``, ``packing``) and a trained LoRA is served
only once it is deployed as a custom model (``POST /v0/models``). The OpenAPI description of
OpenAI's API cannot check those bodies, so this small explicit schema does: an unknown field or
a value of the wrong type is refused with a 400, as the real API would, never ignored.

Sources: docs.tokenfactory.nebius.com (create-a-fine-tuning-job, list-fine-tuning-checkpoints,
create-a-custom-model) as summarised in the shared providers reference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: What a job uses for each hyperparameter it was not given (as the API reports them).
HYPERPARAMETER_DEFAULTS: Mapping[str, Any] = {
    "batch_size": 8,
    "learning_rate": 0.00001,
    "n_epochs": 3,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "lora": False,
    "lora_r": 8,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "packing": True,
    "max_grad_norm": 1.0,
    "context_length": 8192,
}

#: Statuses of a custom model (a deployed LoRA).
CUSTOM_MODEL_STATUSES = ("validating", "active", "error", "deleted")


@dataclass(frozen=True)
class Field:
    """One accepted field: its JSON type and, for numbers, its range."""

    kind: str  # "integer", "number", "boolean", "string", "object", "array"
    required: bool = False
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    below: float | None = None  # an exclusive maximum
    above: float | None = None  # an exclusive minimum
    max_length: int | None = None
    pattern: str | None = None


HYPERPARAMETERS: Mapping[str, Field] = {
    "n_epochs": Field("integer", minimum=1, maximum=100),
    "batch_size": Field("integer", minimum=1, maximum=1024),
    "learning_rate": Field("number", above=0, maximum=1),
    "warmup_ratio": Field("number", minimum=0, maximum=1),
    "weight_decay": Field("number", minimum=0),
    "max_grad_norm": Field("number", above=0),
    "lora": Field("boolean"),
    "lora_r": Field("integer", minimum=1, maximum=512),
    "lora_alpha": Field("integer", minimum=1, maximum=1024),
    "lora_dropout": Field("number", minimum=0, below=1),
    "packing": Field("boolean"),
    "context_length": Field("integer", minimum=1, maximum=262144),
}

JOB_FIELDS: Mapping[str, Field] = {
    "model": Field("string", required=True),
    "training_file": Field("string", required=True),
    "validation_file": Field("string", nullable=True),
    "hyperparameters": Field("object", nullable=True),
    "method": Field("object", nullable=True),
    "integrations": Field("array", nullable=True),
    "seed": Field("integer", nullable=True, minimum=0, maximum=2147483647),
    "suffix": Field("string", nullable=True, max_length=64),
    "tags": Field("string", nullable=True),
}

WANDB_FIELDS: Mapping[str, Field] = {
    "project": Field("string", required=True),
    "name": Field("string", nullable=True),
    "entity": Field("string", nullable=True),
    "tags": Field("array", nullable=True),
    "api_key": Field("string", nullable=True),
}

CUSTOM_MODEL_FIELDS: Mapping[str, Field] = {
    "name": Field("string", required=True, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "base_model": Field("string", required=True),
    "source": Field("string", required=True),
    "description": Field("string", nullable=True),
}

#: ``ftjob-…:ftckpt_…``: a checkpoint of a fine-tuning job, as a custom model's source.
CHECKPOINT_SOURCE = re.compile(r"^(?P<job>ftjob-[A-Za-z0-9]+):(?P<checkpoint>ftckpt_[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Problem:
    """Why a request body is refused: a message in the API's words and the field it names."""

    message: str
    param: str
    code: str


def _type_ok(kind: str, value: object) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, Mapping)
    return isinstance(value, list)


_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}


def _field_problem(name: str, spec: Field, value: object) -> Problem | None:
    if value is None:
        if spec.nullable:
            return None
        return Problem(f"Invalid type for '{name}': null is not allowed.", name, "invalid_type")
    if not _type_ok(spec.kind, value):
        wanted = _ARTICLE.get(spec.kind, f"a {spec.kind}")
        return Problem(
            f"Invalid type for '{name}': expected {wanted}, but got {type(value).__name__}"
            f" {value!r} instead.",
            name,
            "invalid_type",
        )
    if spec.kind in ("integer", "number"):
        assert isinstance(value, (int, float))
        for sign, bound, broken in (
            (">=", spec.minimum, lambda low: value < low),
            (">", spec.above, lambda low: value <= low),
            ("<=", spec.maximum, lambda high: value > high),
            ("<", spec.below, lambda high: value >= high),
        ):
            if bound is not None and broken(bound):
                return Problem(
                    f"Invalid '{name}': expected a value {sign} {bound:g}, but got {value}"
                    " instead.",
                    name,
                    "invalid_value",
                )
    if spec.kind == "string":
        assert isinstance(value, str)
        if spec.max_length is not None and len(value) > spec.max_length:
            return Problem(
                f"Invalid '{name}': expected at most {spec.max_length} characters, but got"
                f" {len(value)}.",
                name,
                "string_above_max_length",
            )
        if spec.pattern is not None and not re.match(spec.pattern, value):
            return Problem(
                f"Invalid '{name}': {value!r} may hold only letters, digits, '.', '_' and '-'.",
                name,
                "invalid_value",
            )
    return None


def object_problems(body: object, fields: Mapping[str, Field], prefix: str = "") -> list[Problem]:
    """Every way ``body`` breaks ``fields``: unknown names, missing or ill-typed values."""
    where = prefix.rstrip(".") or "body"
    if not isinstance(body, Mapping):
        return [Problem(f"Invalid type for '{where}': expected an object.", where, "invalid_type")]
    found: list[Problem] = []
    for key in body:
        if key not in fields:
            name = f"{prefix}{key}"
            found.append(Problem(f"Unknown parameter: '{name}'.", name, "unknown_parameter"))
    for key, spec in fields.items():
        name = f"{prefix}{key}"
        if key not in body:
            if spec.required:
                found.append(
                    Problem(f"Missing required parameter: '{name}'.", name, "missing_required")
                )
            continue
        problem = _field_problem(name, spec, body[key])
        if problem is not None:
            found.append(problem)
    return found


def job_problems(body: object) -> list[Problem]:
    """Why Nebius would refuse this create-job body (empty when it is fine)."""
    found = object_problems(body, JOB_FIELDS)
    if not isinstance(body, Mapping):
        return found
    hyperparameters = body.get("hyperparameters")
    if isinstance(hyperparameters, Mapping):
        found += object_problems(hyperparameters, HYPERPARAMETERS, "hyperparameters.")
    method = body.get("method")
    if isinstance(method, Mapping):
        found += _method_problems(method, given_twice=isinstance(hyperparameters, Mapping))
    integrations = body.get("integrations")
    if isinstance(integrations, list):
        for index, entry in enumerate(integrations):
            found += _integration_problems(entry, f"integrations.{index}.")
    return found


def _method_problems(method: Mapping[str, Any], *, given_twice: bool) -> list[Problem]:
    found = object_problems(
        method,
        {"type": Field("string", required=True), "supervised": Field("object", nullable=True)},
        "method.",
    )
    if method.get("type") not in (None, "supervised"):
        found.append(
            Problem(
                f"Invalid 'method.type': {method.get('type')!r}. Only 'supervised' is offered.",
                "method.type",
                "invalid_value",
            )
        )
    section = method.get("supervised")
    if isinstance(section, Mapping):
        found += object_problems(
            section, {"hyperparameters": Field("object", nullable=True)}, "method.supervised."
        )
        inner = section.get("hyperparameters")
        if isinstance(inner, Mapping):
            found += object_problems(inner, HYPERPARAMETERS, "method.supervised.hyperparameters.")
            if given_twice:
                found.append(
                    Problem(
                        "Give the hyperparameters either at the top level or in the method,"
                        " not both.",
                        "method.supervised.hyperparameters",
                        "invalid_value",
                    )
                )
    return found


def _integration_problems(entry: object, prefix: str) -> list[Problem]:
    found = object_problems(
        entry, {"type": Field("string", required=True), "wandb": Field("object")}, prefix
    )
    if isinstance(entry, Mapping):
        if entry.get("type") != "wandb":
            found.append(
                Problem(
                    f"Invalid '{prefix}type': only 'wandb' is supported.",
                    f"{prefix}type",
                    "invalid_value",
                )
            )
        wandb = entry.get("wandb")
        if wandb is not None:
            found += object_problems(wandb, WANDB_FIELDS, f"{prefix}wandb.")
    return found


def custom_model_problems(body: object) -> list[Problem]:
    """Why Nebius would refuse this create-custom-model body (empty when it is fine)."""
    found = object_problems(body, CUSTOM_MODEL_FIELDS)
    source = body.get("source") if isinstance(body, Mapping) else None
    if isinstance(source, str) and not CHECKPOINT_SOURCE.match(source):
        found.append(
            Problem(
                f"Invalid 'source': {source!r} is not a checkpoint of a fine-tuning job"
                " (ftjob-…:ftckpt_…).",
                "source",
                "invalid_value",
            )
        )
    return found


def job_hyperparameters(body: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters a valid body asks for, wherever it put them."""
    top = body.get("hyperparameters")
    if isinstance(top, Mapping):
        return dict(top)
    method = body.get("method")
    section = method.get("supervised") if isinstance(method, Mapping) else None
    inner = section.get("hyperparameters") if isinstance(section, Mapping) else None
    return dict(inner) if isinstance(inner, Mapping) else {}

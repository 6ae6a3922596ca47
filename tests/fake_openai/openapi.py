"""JSON Schema validation against the official OpenAPI description of the endpoints the app uses.

The description (``spec/openai-openapi-subset.json``, from openai/openai-openapi, MIT) mixes
OpenAPI 3.0 habits (``nullable: true``, boolean ``exclusiveMinimum``) into a 3.1 document.
Draft 2020-12 validators would misread those (``exclusiveMinimum: true`` counts as ``1``), so
the document is normalised once before use. ``$ref``s resolve within the document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("spec") / "openai-openapi-subset.json"
_DOC_URI = "urn:openai-openapi-subset"

# The spec's job status enum lacks "paused", yet the real API returns it after
# POST /fine_tuning/jobs/{id}/pause (the SDK passes it through). Accept it explicitly.
EXTRA_ENUM_VALUES: dict[str, tuple[str, ...]] = {"FineTuningJob.status": ("paused",)}


def _normalise(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 keywords into their draft 2020-12 meaning, recursively."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _normalise(value) for key, value in node.items()}
    if isinstance(out.get("exclusiveMinimum"), bool):
        flag = out.pop("exclusiveMinimum")
        if flag and "minimum" in out:
            out["exclusiveMinimum"] = out.pop("minimum")
    if isinstance(out.get("exclusiveMaximum"), bool):
        flag = out.pop("exclusiveMaximum")
        if flag and "maximum" in out:
            out["exclusiveMaximum"] = out.pop("maximum")
    all_of = out.get("allOf")
    if isinstance(all_of, list) and any(part == {"nullable": True} for part in all_of):
        rest = [part for part in all_of if part != {"nullable": True}]
        out["allOf"] = rest
        out = {"anyOf": [out, {"type": "null"}]}
    if out.get("nullable") is True:
        out.pop("nullable")
        out = {"anyOf": [out, {"type": "null"}]}
    elif "nullable" in out:
        out.pop("nullable")
    return out


@functools.cache
def load_spec() -> dict[str, Any]:
    """Return the normalised OpenAPI document (cached; treat as read-only)."""
    raw = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    doc = _normalise(raw)
    status = doc["components"]["schemas"]["FineTuningJob"]["properties"]["status"]
    status["enum"] = [*status["enum"], *EXTRA_ENUM_VALUES["FineTuningJob.status"]]
    return doc


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_DOC_URI, resource)


def _validator_for_pointer(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_DOC_URI}#{pointer}"}, registry=_registry())


@functools.cache
def schema_validator(name: str) -> Draft202012Validator:
    """Validator for ``#/components/schemas/<name>``."""
    if name not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema named {name!r} in the OpenAPI subset")
    return _validator_for_pointer(f"/components/schemas/{name}")


@functools.cache
def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    ops: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in load_spec()["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = (path, method, op)
    return ops


def operation_ids() -> list[str]:
    """Every operationId the subset describes."""
    return sorted(_operations())


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@functools.cache
def request_validator(operation_id: str) -> Draft202012Validator | None:
    """Validator for the request body of an operation (JSON or multipart form), if it has one."""
    path, method, op = _operations()[operation_id]
    content = op.get("requestBody", {}).get("content", {})
    for media in ("application/json", "multipart/form-data"):
        if media in content:
            pointer = f"/paths/{_escape(path)}/{method}/requestBody/content/{_escape(media)}/schema"
            return _validator_for_pointer(pointer)
    return None


@functools.cache
def response_validator(
    operation_id: str, status: str = "200", media: str = "application/json"
) -> Draft202012Validator:
    """Validator for one documented response body of an operation."""
    path, method, op = _operations()[operation_id]
    response = op["responses"][status]
    if "$ref" in response:
        ref_name = response["$ref"].rsplit("/", 1)[-1]
        pointer = f"/components/responses/{_escape(ref_name)}/content/{_escape(media)}/schema"
    else:
        pointer = (
            f"/paths/{_escape(path)}/{method}/responses/{status}/content/{_escape(media)}/schema"
        )
    return _validator_for_pointer(pointer)


def errors_of(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Readable messages for every schema violation of ``instance`` (empty when valid)."""
    found: Iterator[ValidationError] = validator.iter_errors(instance)
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(found, key=lambda e: list(map(str, e.absolute_path)))
    ]


def form_to_instance(form: Mapping[str, Any]) -> dict[str, Any]:
    """Turn flat multipart fields (``expires_after[seconds]``) into the nested schema shape."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        if "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            nested = out.setdefault(outer, {})
            if isinstance(nested, dict):
                nested[inner] = int(value) if str(value).isdigit() else value
        else:
            out[key] = value
    return out

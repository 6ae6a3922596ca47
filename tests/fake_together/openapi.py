"""JSON Schema checks against Together AI's OpenAPI description of the calls the app makes.

The description (``spec/together-openapi-subset.json``) is OpenAPI 3.0 in habit, so it is read
once into draft 2020-12 terms before use:

- ``nullable: true`` (also as an ``allOf`` member) becomes "this, or null";
- an ``enum`` that lists ``null`` accepts null whatever its ``type`` says;
- a ``type`` beside ``oneOf``/``anyOf`` is dropped: the generator writes ``type: boolean`` next
  to ``oneOf: [boolean, "auto"]`` (``train_on_inputs``), and the real API takes ``"auto"``.

Most operations have no ``operationId``, so they are named by method and path template
(``("POST", "/fine-tunes")``). ``$ref``s resolve within the document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("spec") / "together-openapi-subset.json"
_DOC_URI = "urn:together-openapi-subset"
_METHODS = ("get", "post", "patch", "put", "delete")


def _normalise(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 habits into their draft 2020-12 meaning, recursively."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    all_of = node.get("allOf")
    nullable_all_of = isinstance(all_of, list) and {"nullable": True} in all_of
    if nullable_all_of:
        node = {**node, "allOf": [part for part in all_of if part != {"nullable": True}]}
    out = {key: _normalise(value) for key, value in node.items()}
    if "type" in out and ("oneOf" in out or "anyOf" in out):
        out.pop("type")
    enum = out.get("enum")
    if isinstance(enum, list) and None in enum and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if nullable_all_of:
        out = {"anyOf": [out, {"type": "null"}]}
    if out.get("nullable") is True:
        out.pop("nullable")
        out = {"anyOf": [out, {"type": "null"}]}
    elif "nullable" in out:
        out.pop("nullable")
    return out


@functools.cache
def load_spec() -> dict[str, Any]:
    """The normalised OpenAPI document (cached; treat as read-only)."""
    return _normalise(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_DOC_URI, resource)


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_DOC_URI}#{pointer}"}, registry=_registry())


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def operations() -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation the subset describes."""
    return [
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in _METHODS
        if method in item
    ]


def _operation(method: str, template: str) -> dict[str, Any]:
    return load_spec()["paths"][template][method.lower()]


@functools.cache
def schema_validator(name: str) -> Draft202012Validator:
    """Validator for ``#/components/schemas/<name>``."""
    if name not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema named {name!r} in the Together subset")
    return _validator(f"/components/schemas/{name}")


@functools.cache
def request_validator(method: str, template: str) -> Draft202012Validator | None:
    """Validator for an operation's request body (JSON or multipart form), if it has one."""
    content = _operation(method, template).get("requestBody", {}).get("content", {})
    for media in ("application/json", "multipart/form-data"):
        if media in content:
            return _validator(
                f"/paths/{_escape(template)}/{method.lower()}/requestBody/content/"
                f"{_escape(media)}/schema"
            )
    return None


@functools.cache
def response_validator(
    method: str, template: str, status: int, media: str = "application/json"
) -> Draft202012Validator | None:
    """Validator for one documented answer of an operation; None when the description gives
    no JSON body for that status (then only the error shape can be checked)."""
    responses = _operation(method, template).get("responses", {})
    content = responses.get(str(status), {}).get("content", {})
    if media not in content:
        return None
    return _validator(
        f"/paths/{_escape(template)}/{method.lower()}/responses/{status}/content/"
        f"{_escape(media)}/schema"
    )


def errors_of(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Readable messages for every schema violation of ``instance`` (empty when valid)."""
    found: Iterator[ValidationError] = validator.iter_errors(instance)
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(found, key=lambda e: list(map(str, e.absolute_path)))
    ]

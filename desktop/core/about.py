"""What the app is made of: its version and the licenses of the components it ships with."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path

from desktop.core.resources import resources_dir

DISTRIBUTION = "finetune-studio"


@dataclass(frozen=True, slots=True)
class Component:
    """One bundled component, as the About dialog lists it."""

    name: str
    license: str
    version: str | None = None
    note: str | None = None


def _requirement_name(requirement: str) -> str | None:
    """The distribution name of a requirement, or None when it is only for an extra."""
    if ";" in requirement and "extra ==" in requirement.split(";", 1)[1]:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(root: str = DISTRIBUTION) -> set[str]:
    """Every installed distribution the app needs at run time (not the test extras)."""
    seen: dict[str, str] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = _canonical(dist.metadata["Name"])
        if key in seen:
            continue
        seen[key] = dist.metadata["Name"]
        for requirement in dist.requires or []:
            required = _requirement_name(requirement)
            if required is not None:
                pending.append(required)
    seen.pop(_canonical(root), None)
    return set(seen.values())


def license_of(name: str) -> str:
    """A distribution's license, from the most precise field its metadata has."""
    meta = metadata.metadata(name)
    expression = meta.get("License-Expression")
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    if text and len(text) < 80 and "\n" not in text:
        return text
    classifiers = [
        c.rsplit("::", 1)[1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return " / ".join(classifiers)
    return text.splitlines()[0][:60] if text else "see the package"


def bundled_components(path: Path | None = None) -> list[Component]:
    """The components listed in resources/licenses.json, with versions where installed."""
    source = path or resources_dir() / "licenses.json"
    entries = json.loads(source.read_text(encoding="utf-8"))["components"]
    components = []
    for entry in entries:
        try:
            version = metadata.version(entry["name"])
        except metadata.PackageNotFoundError:
            version = None
        components.append(Component(entry["name"], entry["license"], version, entry.get("note")))
    return components

"""The provider layer loads the SDK (half a second) only once a client is made for a request,
not when its modules are imported; failures are still explained in plain words either way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import desktop.api

API_DIR = Path(desktop.api.__file__).parent
ROOT = API_DIR.parents[1]
SDK = ("openai", "httpx2")


def _modules() -> list[str]:
    return sorted(
        ".".join(("desktop", *path.relative_to(API_DIR.parent).with_suffix("").parts))
        for path in API_DIR.rglob("*.py")
    )


SCRIPT = f"""
import importlib, json, sys
seen = {{}}
for name in {_modules()!r}:
    importlib.import_module(name)
seen["on_import"] = sorted(m for m in {SDK!r} if m in sys.modules)

from desktop.api.client import build_client
from desktop.api.errors import MissingKeyError, friendly_error, never_sent
from desktop.api.profiles import profile_from_template

profile = profile_from_template("openai")
try:
    build_client(profile, None)
except MissingKeyError as exc:
    seen["no_key"] = friendly_error(exc).kind.value
seen["never_sent"] = never_sent(ConnectionRefusedError())
seen["without_key"] = sorted(m for m in {SDK!r} if m in sys.modules)
build_client(profile, "sk-test-key").close()
seen["with_client"] = sorted(m for m in {SDK!r} if m in sys.modules)
print(json.dumps(seen))
"""


def test_the_sdk_loads_with_the_first_client_not_with_the_modules():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["on_import"] == []
    assert seen["no_key"] == "no_key"
    assert seen["never_sent"] is False
    assert seen["without_key"] == []  # a missing key is found before the SDK is needed
    assert seen["with_client"] == ["httpx2", "openai"]

"""Chatting with a model trained here: ``transformers serve`` on 127.0.0.1, a free port.

The app never loads the model itself. It prepares a folder that Transformers loads as "the
base model with this LoRA adapter" (links to the base model's files plus the adapter's, with
the adapter's ``base_model_name_or_path`` pointing at that base; which base that is comes from
``adapter_base``, or from the user, whose choice is remembered per adapter), then starts
``transformers serve`` on it in a process of its own and waits until it answers. The Chat tab
talks to it like any OpenAI-compatible local server: base URL ``http://127.0.0.1:PORT/v1``,
no key, the model name that ``start_server`` returns. The server stops when asked, and by
itself when the app that started it is gone.

This module is both sides: the app's (no torch) and, run as
``python -m desktop.local_training.serving``, the server process's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop.core.jsonl_io import atomic_write
from desktop.core.locations import cache_dir, data_dir
from desktop.local_training import hub, locks
from desktop.local_training.models import looks_like_hub_id
from desktop.local_training.processes import process_environment, start_detached, terminate

Progress = Callable[[str], None]
ShouldCancel = Callable[[], bool]

HOST = "127.0.0.1"
#: Seconds a model may take to load before giving up (a large one from a slow disk).
START_TIMEOUT = 600.0
#: Files of an adapter folder; everything else comes from the base model.
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
EXIT_ALREADY_SERVING = 3


class ServingError(Exception):
    """The model cannot be served: ``message`` says why, ``next_step`` what to do."""

    def __init__(self, message: str, next_step: str) -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step


class ServingCancelled(Exception):
    """The user stopped the start; the server was stopped too."""


@dataclass(frozen=True)
class ServedModel:
    """A model answering on this computer: ask ``base_url`` for ``name`` (no key needed)."""

    name: str
    port: int
    pid: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"


def serving_root() -> Path:
    """Where servers' records and adapter folders prepared for serving live (rebuildable)."""
    return cache_dir() / "local-serving"


def _record_folder(name: str, root: Path) -> Path:
    return root / "servers" / hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.symlink(source, target)
    except OSError:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def adapter_folder_problem(adapter: Path) -> str | None:
    """Why ``adapter`` is not a PEFT LoRA adapter folder, or None."""
    if not (adapter / "adapter_config.json").is_file():
        return f"{adapter} is not an adapter folder: it has no adapter_config.json."
    if not any((adapter / name).is_file() for name in ADAPTER_FILES):
        return f"{adapter} holds no adapter weights (adapter_model.safetensors)."
    return None


@dataclass(frozen=True)
class AdapterBase:
    """The base model to serve an adapter on, as far as this computer can tell.

    ``model`` is a folder or a Hugging Face name, None when the user must choose; ``named``
    is what the adapter (or its job) calls the base, and ``likely`` the Hugging Face name
    that probably is, unchecked (to suggest).
    """

    model: str | None
    named: str
    likely: str | None = None


def _choices_path() -> Path:
    return data_dir() / "adapter-base-models.json"


def _choices() -> dict[str, str]:
    try:
        value = json.loads(_choices_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {key: model for key, model in value.items() if isinstance(model, str)}


def remembered_base(adapter: Path) -> str | None:
    """The base model the user chose for ``adapter`` before, if any."""
    return _choices().get(str(adapter.resolve()))


def remember_base(adapter: Path, model: str) -> None:
    """Remember that ``adapter`` is served on ``model`` (a folder or a Hugging Face name)."""
    choices = _choices()
    choices[str(adapter.resolve())] = model
    path = _choices_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(choices, indent=2).encode("utf-8"))


def _named_base(adapter: Path) -> str | None:
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    named = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    return named if isinstance(named, str) and named.strip() else None


def adapter_base(adapter: Path, job_base: str, *, hub_cache: Path | None = None) -> AdapterBase:
    """Which base model to serve ``adapter`` on: the one the user chose for it before, else
    the one its ``adapter_config.json`` names, else its job's (``job_base``), each as
    ``hub.known_base`` finds it (``hub_cache``: where downloaded models are, if not in the
    usual place)."""
    chosen = remembered_base(adapter)
    if chosen is not None and (Path(chosen).is_dir() or looks_like_hub_id(chosen)):
        return AdapterBase(chosen, chosen)
    names = [name for name in (_named_base(adapter), job_base) if name]
    for name in names:
        found = hub.known_base(name, cache_dir=hub_cache)
        if found is not None:
            return AdapterBase(found, name)
    # Say the name a person may recognise: a provider's model name rather than a folder on
    # the provider's computers.
    named = next((n for n in names if looks_like_hub_id(n)), names[0] if names else "")
    return AdapterBase(None, named, hub.likely_hub_name(named))


def with_adapter(base: Path, adapter: Path, root: Path | None = None) -> Path:
    """A folder Transformers loads as ``base`` with ``adapter`` applied (links, no copies of
    the weights where the system allows). ``ServingError`` when either is not usable."""
    problem = adapter_folder_problem(adapter)
    if problem is not None:
        raise ServingError(problem, "Choose the folder that holds adapter_config.json.")
    if not (base / "config.json").is_file():
        raise ServingError(
            f"{base} is not a model folder (it has no config.json).",
            "Choose the base model the adapter was trained from.",
        )
    weights = next(adapter / n for n in ADAPTER_FILES if (adapter / n).is_file())
    facts = weights.stat()
    stamp = f"{base.resolve()}|{adapter.resolve()}|{facts.st_mtime_ns}|{facts.st_size}"
    folder = (root or serving_root()) / "models" / hashlib.sha256(stamp.encode()).hexdigest()[:16]
    if (folder / "adapter_config.json").is_file():
        return folder
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    skip = {"adapter_config.json", *ADAPTER_FILES}
    for item in base.iterdir():
        if item.is_file() and item.name not in skip:
            _link_or_copy(item.resolve(), building / item.name)
    _link_or_copy(weights.resolve(), building / weights.name)
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(base.resolve())
    atomic_write(building / "adapter_config.json", json.dumps(config, indent=2).encode("utf-8"))
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    return folder


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def find_server(name: str, root: Path | None = None) -> ServedModel | None:
    """The server already answering for ``name``, if one is."""
    record = _record_folder(name, root or serving_root())
    try:
        data = json.loads((record / "server.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not locks.is_held(record / "serve.lock") or data.get("name") != name:
        return None
    served = ServedModel(name=name, port=int(data["port"]), pid=int(data["pid"]))
    return served if _healthy(served.port) else None


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    meaningful = [t for t in text.splitlines() if t.strip()]
    return "\n".join(meaningful[-lines:])


def start_server(
    model_folder: Path,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    root: Path | None = None,
    timeout: float = START_TIMEOUT,
    python: str | None = None,
) -> ServedModel:
    """Serve the model in ``model_folder`` (or find it already served) and wait until it
    answers. ``ServingError`` when it does not start; ``ServingCancelled`` when stopped."""
    root = root or serving_root()
    name = str(model_folder)
    running = find_server(name, root)
    if running is not None:
        return running
    say = progress or (lambda _text: None)
    cancelled = should_cancel or (lambda: False)
    record = _record_folder(name, root)
    record.mkdir(parents=True, exist_ok=True)
    (record / "server.json").unlink(missing_ok=True)
    port = _free_port()
    command = [
        python or sys.executable,
        "-m",
        "desktop.local_training.serving",
        name,
        "--port",
        str(port),
        "--record",
        str(record),
        "--parent",
        str(os.getpid()),
    ]
    env = process_environment()
    env["HF_HUB_OFFLINE"] = "1"
    say("Starting the model on this computer (transformers serve)…")
    log = record / "serve.log"
    pid = start_detached(command, stdout=log, stderr=log, cwd=record, env=env)
    served = ServedModel(name=name, port=port, pid=pid)
    deadline = time.monotonic() + timeout
    started = False
    while time.monotonic() < deadline:
        if cancelled():
            terminate(pid)
            raise ServingCancelled
        if _healthy(port):
            say("The model is ready.")
            return served
        held = locks.is_held(record / "serve.lock")
        started = started or held
        if (started and not held) or (not started and not locks.process_exists(pid)):
            tail = _log_tail(log)
            raise ServingError(
                "The model could not be started on this computer"
                + (f": {tail.splitlines()[-1]}" if tail else "."),
                f"The details are in {log}. A model that needs more memory than the computer "
                "has will not start; try a smaller one.",
            )
        time.sleep(0.25)
    terminate(pid)
    raise ServingError(
        "The model took too long to start on this computer.",
        f"The details are in {log}. Try again, or try a smaller model.",
    )


def stop_server(name: str, root: Path | None = None) -> bool:
    """Stop the server of ``name``; False when none was running."""
    record = _record_folder(name, root or serving_root())
    try:
        data = json.loads((record / "server.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not locks.is_held(record / "serve.lock"):
        return False
    pid = int(data.get("pid") or 0)
    terminate(pid)
    deadline = time.monotonic() + 5
    while locks.is_held(record / "serve.lock") and time.monotonic() < deadline:
        time.sleep(0.05)
    if locks.is_held(record / "serve.lock"):
        terminate(pid, hard=True)
    return True


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------


def _exit_with_parent(parent: int) -> None:
    """Stop this server once the app that started it is gone (however it ended)."""
    original = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(2)
            if not locks.process_exists(parent) or (
                os.name == "posix" and os.getppid() != original
            ):
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-app", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Serve one model folder with ``transformers serve`` until stopped."""
    parser = argparse.ArgumentParser(prog="python -m desktop.local_training.serving")
    parser.add_argument("model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--parent", type=int, default=0)
    options = parser.parse_args(argv)
    held = locks.try_lock(options.record / "serve.lock")
    if held is None:
        print("This model is already being served.", file=sys.stderr)
        return EXIT_ALREADY_SERVING
    record = {"name": options.model, "port": options.port, "pid": os.getpid()}
    atomic_write(options.record / "server.json", json.dumps(record).encode("utf-8"))
    if options.parent:
        _exit_with_parent(options.parent)
    from transformers.cli.serve import Serve

    with contextlib.suppress(KeyboardInterrupt):
        Serve(force_model=options.model, host=HOST, port=options.port, log_level="warning")
    locks.release(held)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Starting the app's helper processes (training, chat servers) apart from the app.

Each runs in a session of its own so it outlives the window and the terminal; a thread of
the app waits for it, so one that ends while the app runs leaves nothing behind; and it
imports this very copy of the app, whatever the current folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _package_root() -> Path:
    """The folder that holds the ``desktop`` package, so the process imports this very app."""
    return Path(__file__).resolve().parent.parent.parent


def _launch_options() -> dict[str, Any]:
    """A process of its own session, so it outlives the app and the terminal."""
    if os.name == "posix":
        return {"start_new_session": True}
    flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", 0
    )
    return {"creationflags": flags}


def start_detached(
    command: list[str], *, stdout: Path, stderr: Path, cwd: Path, env: Mapping[str, str]
) -> int:
    """Start ``command`` apart from the app, its output appended to two files; its id.

    A thread waits for it, so it leaves nothing behind when it ends while the app runs.
    """
    with stdout.open("ab") as out, stderr.open("ab") as err:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env),
            **_launch_options(),
        )
    threading.Thread(target=process.wait, name=f"wait-{process.pid}", daemon=True).start()
    return process.pid


def process_environment() -> dict[str, str]:
    """The environment of a training or chat process: this app importable, quiet libraries."""
    env = dict(os.environ)
    root = str(_package_root())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def terminate(pid: int, *, hard: bool = False) -> None:
    """Stop a process (and its session on POSIX, which holds its helpers)."""
    with contextlib.suppress(OSError):
        if os.name == "posix":
            sig = signal.SIGKILL if hard else signal.SIGTERM
            try:
                os.killpg(pid, sig)
            except OSError:
                os.kill(pid, sig)
        else:
            os.kill(pid, signal.SIGTERM)

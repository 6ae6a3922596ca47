"""The window opens without the provider SDK, the chart library or the training libraries: each
is loaded only once something needs it (a request to a provider, a chart on screen, training on
this computer). The tokenizers are loaded before the window shows: building one holds the
interpreter lock for up to half a second, which would freeze a window already on screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Loaded later or never at start-up: the SDK and its HTTP library take about half a second,
#: pyqtgraph a fifth, the training libraries several seconds.
LATER = ("openai", "httpx2", "pyqtgraph", "torch", "transformers")

STARTING_APP = f"""
import json, sys
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from desktop.core import tokens

seen = {{}}
loaders = set()
real_load = tokens.load_encoding
real_fast = tokens._fast_counter

def thread():
    return "ui" if QThread.currentThread() is app.thread() else "worker"

def load(name, directory=None):
    loaders.add(("tiktoken", name, thread()))
    return real_load(name, directory)

def fast(name):
    loaders.add(("fast counter", name, thread()))
    return real_fast(name)

tokens.load_encoding = load
tokens._fast_counter = fast

def first_turn():
    seen["loaded"] = sorted(name for name in {LATER!r} if name in sys.modules)
    seen["window_shown"] = any(w.isVisible() for w in app.topLevelWidgets())
    seen["loaded_at_first_turn"] = sorted(loaders)
    app.quit()

original_exec = QApplication.exec
def exec_():
    QTimer.singleShot(0, first_turn)
    return original_exec()
QApplication.exec = staticmethod(exec_)

import desktop.app
app = QApplication([])
desktop.app.run_app([])
seen["loaded_in_all"] = sorted(loaders)
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> dict[str, object]:
    """What the app had loaded at its first event-loop turn, and soon after (one real start
    in a fresh interpreter with folders of its own)."""
    home = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    result = subprocess.run(
        [sys.executable, "-c", STARTING_APP],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_window_shows_before_the_sdk_the_chart_library_or_torch_is_loaded(started):
    assert started["window_shown"]
    assert started["loaded"] == []


def test_every_tokenizer_is_built_before_the_window_shows_and_only_once(started):
    expected = [
        [kind, name, "ui"]
        for kind in ("fast counter", "tiktoken")
        for name in ("cl100k_base", "o200k_base")
    ]
    assert started["loaded_at_first_turn"] == expected
    assert started["loaded_in_all"] == expected

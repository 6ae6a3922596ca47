"""The window shows before any tokenizer is loaded, and they load soon after, off the UI thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys

STARTING_APP = """
import json, sys
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from desktop.core import tokens

seen = {}
loaders = set()
real_load = tokens.load_encoding

def load(name, directory=None):
    loaders.add("ui" if QThread.currentThread() is app.thread() else "worker")
    return real_load(name, directory)

tokens.load_encoding = load

def first_turn():
    seen["at_first_turn"] = list(tokens.loaded_encodings())
    QTimer.singleShot(10_000, app.quit)
    def loaded_all():
        if set(tokens.SUPPORTED_ENCODINGS) <= set(tokens.loaded_encodings()):
            app.quit()
        else:
            QTimer.singleShot(50, loaded_all)
    loaded_all()

original_exec = QApplication.exec
def exec_():
    QTimer.singleShot(0, first_turn)
    return original_exec()
QApplication.exec = staticmethod(exec_)

import desktop.app
app = QApplication([])
desktop.app.run_app([])
seen["later"] = sorted(tokens.loaded_encodings())
seen["loaders"] = sorted(loaders)
print(json.dumps(seen))
"""


def test_the_window_shows_before_tokenizers_load_and_they_load_in_the_background(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
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
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Loading a tokenizer takes most of a second: the window does not wait for it.
    assert seen["at_first_turn"] == []
    assert seen["later"] == ["cl100k_base", "o200k_base"]
    assert seen["loaders"] == ["worker"]

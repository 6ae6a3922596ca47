"""The window opens without the provider SDK, the chart library or the training libraries: each
is loaded only once something needs it (a request to a provider, a chart on screen, training
on this computer), so the window is not kept waiting for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Loaded later or never at start-up: the SDK and its HTTP library take about half a second,
#: pyqtgraph a fifth, the training libraries several seconds.
LATER = ("openai", "httpx2", "pyqtgraph", "torch", "transformers")

STARTING_APP = f"""
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

seen = {{}}

def first_turn():
    seen["loaded"] = sorted(name for name in {LATER!r} if name in sys.modules)
    seen["window_shown"] = any(w.isVisible() for w in app.topLevelWidgets())
    app.quit()

original_exec = QApplication.exec
def exec_():
    QTimer.singleShot(0, first_turn)
    return original_exec()
QApplication.exec = staticmethod(exec_)

import desktop.app
app = QApplication([])
desktop.app.run_app([])
print(json.dumps(seen))
"""


def test_the_window_shows_before_the_sdk_the_chart_library_or_torch_is_loaded(tmp_path):
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
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["window_shown"]
    assert seen["loaded"] == []

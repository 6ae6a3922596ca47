"""The app starts without the training libraries: importing its modules and building the
main window never loads torch (or transformers, peft, trl), which only the training and chat
processes use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "huggingface_hub"]

SCRIPT = f"""
import os, sys, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
home = tempfile.mkdtemp()
os.environ["FINETUNE_STUDIO_HOME"] = home
from PySide6.QtWidgets import QApplication
app = QApplication([])
from pathlib import Path
from desktop.app import build_app_window
from desktop.core.settings import SettingsStore
from desktop.api.backends import backend_for, traits_of
from desktop.api.profiles import profile_from_template
import desktop.local_training.command, desktop.local_training.jobs, desktop.local_training.serving
built = build_app_window(SettingsStore(Path(home) / "settings.json"))
profile = profile_from_template("this_computer")
traits_of(profile)
backend = backend_for(profile, None)
backend.parameters("supervised")
backend.list_jobs()
built.shutdown()
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_building_the_window_and_the_local_backend_loads_no_training_library():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"

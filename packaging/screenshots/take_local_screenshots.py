"""Reproduce the "This computer" screenshots in this folder: train, watch the loss, chat.

Run from the repository root, with the optional training libraries installed
(``pip install ".[local]"``; needs Xvfb and ImageMagick's ``import``):

    xvfb-run -a -s "-screen 0 1440x900x24" python packaging/screenshots/take_local_screenshots.py

Nothing is downloaded: the script builds the tiny model the tests use (a randomly initialised
two-layer Llama with a hidden size of 64 and its own tokenizer) in a temporary folder, and
the whole app runs on its own temporary data folder. It then goes through the real window as
a user would: chooses that model folder in the wizard, trains for real in a process of its
own while the Jobs tab charts each step, opens a chat with the trained model (served by
``transformers serve`` on 127.0.0.1), and compares it with its base model. Without a display
it falls back to grabbing the widgets.

Writes local-settings.png (the "This computer" profile in Settings), local-wizard-models.png
(a listed model with its size, licence and how long an epoch of the dataset takes here),
local-wizard.png (the model folder chosen, with the settings for this computer),
local-wizard-review.png (what happens next, free of charge), local-training.png (the loss
charted live while it trains),
local-chat.png (a chat with the trained model) and local-compare.png (the trained model side
by side with its base model).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

#: Enough steps that training is still going when its chart is shot (a few tenths of a second
#: each on a processor).
STEPS = 200
QUESTION = "What is 3 plus 3?"


def main() -> int:
    """Take the pictures."""
    home = Path(tempfile.mkdtemp(prefix="ft-local-shots-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QRect, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import ProfileStore, profile_from_template
    from desktop.app import build_app_window
    from desktop.core.locations import config_dir
    from desktop.core.settings import SettingsStore
    from desktop.ui.jobs.train_wizard import PAGE_REVIEW, TrainWizard
    from desktop.ui.settings.settings_dialog import SettingsDialog
    from tests.api.keyrings import MemoryKeyring
    from tests.local_training.tiny_model import build_tiny_model, examples, write_jsonl

    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Fine-Tune Studio")
    on_screen = bool(os.environ.get("DISPLAY")) and shutil.which("import") is not None

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(test: Callable[[], bool], timeout_ms: int = 180_000) -> None:
        waited = 0
        while not test():
            if waited > timeout_ms:
                raise TimeoutError("the screen did not get there in time")
            wait(50)
            waited += 50

    def shoot(name: str, widget: QWidget) -> None:
        wait(700)
        target = HERE / name
        if on_screen:
            box: QRect = widget.frameGeometry()
            crop = f"{box.width()}x{box.height()}+{box.x()}+{box.y()}"
            subprocess.run(
                ["import", "-window", "root", "-crop", crop, "+repage", str(target)], check=True
            )
        else:
            widget.grab().save(str(target))
        print("wrote", target)

    model = build_tiny_model(home / "models" / "tiny-chat")
    dataset = write_jsonl(home / "adds.jsonl", examples(16))
    profiles = ProfileStore(config_dir())
    profiles.add(profile_from_template("this_computer", profile_id="this-computer"))
    built = build_app_window(SettingsStore(home / "settings.json"))
    window, jobs, chat = built.window, built.jobs, built.chat
    try:
        window.resize(1440, 900)
        window.move(0, 0)
        window.show()
        window.start(dataset)
        wait_until(lambda: not window.document.busy)

        settings = SettingsDialog(profiles, KeyStore(MemoryKeyring()), window, catalog=jobs.catalog)
        settings.resize(1300, 640)
        settings.move(70, 120)
        settings.show()
        shoot("local-settings.png", settings)
        settings.reject()

        window.train_requested.emit()
        wizard = jobs.wizard
        assert isinstance(wizard, TrainWizard)
        wait_until(
            lambda: (
                bool(wizard.choose_page.chooser.models) and wizard.choose_page.estimate is not None
            )
        )
        wizard.resize(1100, 720)
        wizard.move(170, 90)
        shoot("local-wizard-models.png", wizard)
        wizard.choose_page.choose_model_folder = lambda: model  # type: ignore[method-assign]
        wizard.choose_page.chooser.folder_button.click()
        wait_until(lambda: wizard.choose_page.chooser.model_id == str(model))
        wizard.choose_page.settings_form.suffix.setText("adder")
        for name, value in (("learning_rate", 0.01), ("batch_size", 1), ("max_length", 128)):
            field = wizard.choose_page.settings_form.parameter(name)
            assert field is not None
            field.set_value(value)
        wizard.choose_page.settings_form.parameter_form.more_button.click()
        steps = wizard.choose_page.settings_form.parameter("max_steps")
        assert steps is not None
        steps.set_value(STEPS)
        wait_until(lambda: not wizard.choose_page.estimating)
        wizard.resize(1100, 720)
        wizard.move(170, 90)
        shoot("local-wizard.png", wizard)
        wizard.go_to(PAGE_REVIEW)
        shoot("local-wizard-review.png", wizard)
        wizard.start()
        wait_until(
            lambda: wizard.send_page.started is not None or wizard.send_page.failure is not None
        )
        if wizard.send_page.started is None:
            raise RuntimeError(f"training did not start: {wizard.send_page.failure}")

        view = jobs.view
        wait_until(lambda: len(view.chart.series["train_loss"]) >= 20)
        jobs.splitter.setSizes([150, 750])
        shoot("local-training.png", window)
        wait_until(lambda: view.record is not None and view.record.summary.status.is_terminal)
        assert view.record is not None
        if view.record.summary.status.value != "succeeded":
            raise RuntimeError(f"training ended: {view.record.summary.error}")

        view.chat_button.click()
        page = chat.chat
        wait_until(lambda: page.entry is not None and page.entry.label.startswith("adder"))
        for question in (QUESTION, "What is 5 plus 5?"):
            page.input.setPlainText(question)
            page.send()
            wait_until(lambda: not page.busy)
        shoot("local-chat.png", window)

        window.show_panel("Jobs")
        view.compare_base_button.click()
        compare = chat.compare
        wait_until(lambda: chat.tabs.currentWidget() is compare and not compare.busy)
        wait_until(lambda: all(side.picker.current() is not None for side in compare.sides))
        compare.input.setPlainText(QUESTION)
        compare.send()
        wait_until(lambda: not compare.busy)
        shoot("local-compare.png", window)

        replies = [m.content for m in page.conversation.messages if m.role == "assistant"]
        for key in list(jobs.serving):
            jobs.stop_serving(*key)
        wait_until(lambda: not jobs.serving)
        built.shutdown()
        QThreadPool.globalInstance().waitForDone(10_000)
        print(json.dumps({"replies": replies}))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

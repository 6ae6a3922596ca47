"""Reproduce the Jobs screenshots in this folder from real windows and the local test server.

Run from the repository root (needs Xvfb and ImageMagick's ``import``):

    xvfb-run -a -s "-screen 0 1440x900x24" python packaging/screenshots/take_jobs_screenshots.py

It starts the fake OpenAI-compatible server from ``tests/fake_openai`` with a clock it moves
itself, keeps the key in an in-memory keyring, and trains through the real wizard: a short
trial that is cancelled, a first version that finishes, and a second version caught while it
runs, compared with the first. Without a display it falls back to grabbing the widgets.

Writes jobs-wizard.png (the first step), jobs-wizard-review.png (the cost) and
jobs-running.png (a running job with its curves).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2026, 11, 22, 9, 12, tzinfo=timezone.utc).timestamp()
TODAY = date(2026, 11, 22)


def main() -> int:
    """Take the three pictures."""
    home = Path(tempfile.mkdtemp(prefix="ft-job-shots-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QRect, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.api import jobs_service as svc
    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import (
        OPENAI_CAPABILITIES,
        ProfileStore,
        ProviderKind,
        ProviderProfile,
    )
    from desktop.core.analysis import DatasetAnalysis, analyze_records
    from desktop.core.archive import JobArchive
    from desktop.core.catalog import Catalog
    from desktop.core.formats import read_dataset_bytes
    from desktop.core.resources import resources_dir
    from desktop.core.settings import AppSettings
    from desktop.ui.jobs.jobs_panel import JobsPanel
    from desktop.ui.jobs.train_wizard import PAGE_REVIEW, TrainingData, TrainWizard
    from tests.api.keyrings import MemoryKeyring
    from tests.fake_openai import DEFAULT_TEST_KEY, FakeOpenAIServer, Timing

    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Fine-Tune Studio")
    on_screen = bool(os.environ.get("DISPLAY")) and shutil.which("import") is not None

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(test: Callable[[], bool], timeout_ms: int = 30_000) -> None:
        waited = 0
        while not test():
            if waited > timeout_ms:
                raise TimeoutError("the screen did not get there in time")
            wait(50)
            waited += 50

    def shoot(name: str, widget: QWidget, whole_screen: bool) -> None:
        wait(700)
        target = HERE / name
        if on_screen:
            command = ["import", "-window", "root"]
            if not whole_screen:
                box: QRect = widget.frameGeometry()
                command += ["-crop", f"{box.width()}x{box.height()}+{box.x()}+{box.y()}"]
            subprocess.run([*command, "+repage", str(target)], check=True)
        else:
            widget.grab().save(str(target))
        print("wrote", target)

    server = FakeOpenAIServer(
        start_time=START, timing=Timing(validating=40, queued=90, per_step=6)
    ).start()
    try:
        profiles = ProfileStore(home / "config")
        profiles.add(
            ProviderProfile(
                id="openai",
                display_name="OpenAI",
                kind=ProviderKind.OPENAI,
                base_url=server.base_url,
                capabilities=OPENAI_CAPABILITIES,
            )
        )
        keys = KeyStore(MemoryKeyring())
        keys.set("openai", DEFAULT_TEST_KEY)
        catalog = Catalog.load()
        settings = AppSettings()
        raw = (resources_dir() / "samples" / "customer_support.jsonl").read_bytes()
        dataset = read_dataset_bytes(raw, ".jsonl")
        analysis = DatasetAnalysis(catalog, settings.last_model)
        analysis.merge(analyze_records(list(dataset), analysis.counter))
        data = TrainingData(
            "customer_support.jsonl", [r.value for r in dataset.examples()], analysis
        )

        panel = JobsPanel(
            profiles,
            keys,
            JobArchive(home / "data" / "archive"),
            catalog,
            settings,
            dataset_provider=lambda: data,
            poll_policy=svc.PollPolicy(running=0.05, waiting=0.05, paused=0.05),
            now=lambda: datetime.fromtimestamp(server.clock.now(), timezone.utc),
            today=lambda: TODAY,
        )
        panel.setWindowTitle("Fine-Tune Studio — Jobs")
        panel.resize(1440, 900)
        panel.show()

        def train(suffix: str, epochs: int | None, send: bool = True) -> TrainWizard:
            wizard = panel.start_training(lambda: data)
            wait_until(
                lambda: (
                    bool(wizard.choose_page.chooser.models)
                    and wizard.choose_page.estimate is not None
                )
            )
            wizard.choose_page.settings_form.suffix.setText(suffix)
            wizard.choose_page.settings_form.epochs.set_value(epochs)
            wait_until(
                lambda: (
                    wizard.choose_page.estimate is not None and not wizard.choose_page.estimating
                )
            )
            if send:
                wizard.go_to(PAGE_REVIEW)
                wait(300)
                wizard.start()
                wait_until(lambda: wizard.send_page.started is not None)
            return wizard

        trial = train("support-bot-trial", 1)
        server.advance(60)
        trial_id = trial.send_page.started.summary.id  # type: ignore[union-attr]
        server.state.cancel_job(trial_id)
        server.advance(600)

        first = train("support-bot-v1", 2)
        first_id = first.send_page.started.summary.id  # type: ignore[union-attr]
        server.advance(40 + 90 + 72 * 6 + 5)
        wait_until(lambda: server.job(first_id).status == "succeeded")
        server.advance(1800)

        wizard = train("support-bot-v2", None, send=False)
        wizard.choose_page.settings_form.fixed_seed.setChecked(True)
        wizard.resize(1060, 680)
        wizard.move(190, 110)
        wait(400)
        shoot("jobs-wizard.png", wizard, whole_screen=False)
        wizard.go_to(PAGE_REVIEW)
        shoot("jobs-wizard-review.png", wizard, whole_screen=False)
        wizard.start()
        wait_until(lambda: wizard.send_page.started is not None)
        second_id = wizard.send_page.started.summary.id  # type: ignore[union-attr]
        server.advance(40 + 90 + 71 * 6 + 3)
        view = panel.view
        wait_until(lambda: len(view.chart.series["train_loss"]) == 71)
        wait_until(lambda: view.checkpoints_model.rowCount() == 1)
        compare = next(a for a in view.compare_menu.actions() if a.data().endswith(first_id))
        compare.setChecked(True)
        wait_until(lambda: bool(view.chart.overlay_keys()))
        panel.select_job(second_id)
        view.chart.show_readout(58)
        panel.splitter.setSizes([190, 710])
        wait(500)
        shoot("jobs-running.png", panel, whole_screen=True)
        panel.shutdown()
        QThreadPool.globalInstance().waitForDone(10_000)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

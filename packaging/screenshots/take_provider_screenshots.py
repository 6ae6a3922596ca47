"""Reproduce the provider screenshots in this folder from real windows and the local fakes.

Run from the repository root (needs Xvfb and ImageMagick's ``import``):

    xvfb-run -a -s "-screen 0 1440x900x24" python packaging/screenshots/take_provider_screenshots.py

It starts the fake Together AI server (``tests/fake_together``) and the fake OpenAI server in
its Nebius flavour (``tests/fake_openai``), keeps the keys in an in-memory keyring, and uses
the real wizard, Jobs tab and Settings dialog; the backends' waits move the fakes' clocks.
Without a display it falls back to grabbing the widgets.

Writes wizard-together.png (Together's own settings), wizard-together-review.png (Together's
price beside the app's estimate), wizard-nebius.png (LoRA settings unfolded),
jobs-together-running.png (a running job's loss per step), jobs-endpoint-warning.png (what an
endpoint costs, asked before it starts), jobs-endpoint-running.png (the running endpoint with
its Stop button) and settings-providers.png (what each provider offers).
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

TODAY = date(2026, 12, 4)


def main() -> int:
    """Take the pictures."""
    home = Path(tempfile.mkdtemp(prefix="ft-provider-shots-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QRect, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.api import jobs_service as svc
    from desktop.api.backends.base import TrainingBackend
    from desktop.api.backends.nebius import NebiusBackend
    from desktop.api.backends.together import TogetherBackend
    from desktop.api.client import build_client
    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import (
        ProfileStore,
        ProviderKind,
        ProviderProfile,
        profile_from_template,
    )
    from desktop.core.archive import JobArchive
    from desktop.core.catalog import Catalog
    from desktop.core.settings import AppSettings
    from desktop.ui.jobs.jobs_panel import JobsPanel
    from desktop.ui.jobs.train_wizard import PAGE_REVIEW, TrainWizard
    from desktop.ui.settings.settings_dialog import SettingsDialog
    from tests.api.keyrings import MemoryKeyring
    from tests.fake_openai import FakeOpenAIServer, Timing
    from tests.fake_openai.samples import chat_jsonl
    from tests.fake_together.server import FakeTogetherServer
    from tests.fake_together.state import Timing as TogetherTiming
    from tests.ui.test_jobs_helpers import training_data

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

    together = FakeTogetherServer(timing=TogetherTiming(per_step=2)).start()
    nebius = FakeOpenAIServer(
        flavor="nebius", timing=Timing(validating=1, queued=1, per_step=1)
    ).start()
    servers: dict[str, FakeTogetherServer | FakeOpenAIServer] = {
        "together": together,
        "nebius": nebius,
    }
    try:
        profiles = ProfileStore(home / "config")
        keys = KeyStore(MemoryKeyring())
        for key, server in servers.items():
            profile = profile_from_template(key, base_url=server.base_url, profile_id=key)
            profiles.add(profile, make_active=key == "together")
            keys.set(key, server.api_key)
        profiles.add(profile_from_template("openai", profile_id="openai"))
        profiles.add(profile_from_template("azure", azure_resource="contoso", profile_id="azure"))

        def backend(profile: ProviderProfile) -> TrainingBackend:
            client = build_client(profile, keys.get(profile.id))
            if profile.kind is ProviderKind.TOGETHER:
                return TogetherBackend(profile, client, sleep=together.advance)
            return NebiusBackend(profile, client, sleep=nebius.advance)

        catalog = Catalog.load()
        settings = AppSettings()
        data = training_data(catalog, chat_jsonl(200), name="support_answers.jsonl")
        panel = JobsPanel(
            profiles,
            keys,
            JobArchive(home / "data" / "archive"),
            catalog,
            settings,
            dataset_provider=lambda: data,
            backend_factory=backend,
            poll_policy=svc.PollPolicy(running=0.05, waiting=0.05, paused=0.05),
            now=lambda: datetime.fromtimestamp(together.clock.now(), timezone.utc),
            today=lambda: TODAY,
        )
        panel.setWindowTitle("Fine-Tune Studio — Jobs")
        panel.resize(1440, 900)
        panel.show()

        def open_wizard(profile_id: str) -> TrainWizard:
            profiles.set_active(profile_id)
            wizard = panel.start_training(lambda: data)
            wait_until(
                lambda: (
                    bool(wizard.choose_page.chooser.models)
                    and wizard.choose_page.estimate is not None
                )
            )
            wizard.choose_page.settings_form.suffix.setText("support-bot")
            wizard.resize(1100, 720)
            wizard.move(170, 90)
            return wizard

        wizard = open_wizard("nebius")
        wizard.choose_page.settings_form.parameter_form.more_button.click()
        shoot("wizard-nebius.png", wizard)
        wizard.reject()

        wizard = open_wizard("together")
        shoot("wizard-together.png", wizard)
        wizard.go_to(PAGE_REVIEW)
        wizard.review_page.price_button.click()
        wait_until(lambda: wizard.review_page.current_price() is not None)
        shoot("wizard-together-review.png", wizard)
        wizard.start()
        wait_until(lambda: wizard.send_page.started is not None)
        job_id = wizard.send_page.started.summary.id  # type: ignore[union-attr]
        view = panel.view
        together.advance(2 + 3 + 2 * 60)
        wait_until(lambda: len(view.chart.series["train_loss"]) >= 55)
        panel.splitter.setSizes([170, 730])
        shoot("jobs-together-running.png", panel)

        together.finish_job(job_id)
        wait_until(lambda: view.record is not None and view.record.summary.status.is_terminal)
        view.chat_button.click()
        wait_until(lambda: panel.serve_dialog is not None)
        dialog = panel.serve_dialog
        assert dialog is not None
        dialog.move(400, 260)
        shoot("jobs-endpoint-warning.png", dialog)
        dialog.start_button.click()
        wait_until(lambda: panel.banner.isVisible())
        shoot("jobs-endpoint-running.png", panel)

        settings_dialog = SettingsDialog(profiles, keys, catalog=catalog, today=lambda: TODAY)
        settings_dialog.resize(1400, 820)
        settings_dialog.move(20, 40)
        settings_dialog.show()
        settings_dialog.select_profile("together")
        shoot("settings-providers.png", settings_dialog)
        settings_dialog.reject()

        panel.stop_serving("together", next(iter(panel.serving))[1])
        wait_until(lambda: not panel.serving)
        panel.shutdown()
        QThreadPool.globalInstance().waitForDone(10_000)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training on this computer through the real widgets, without the training libraries: the
profile in Settings (no address, no key, the install command when the extra is missing), the
wizard (a model folder, free of charge, the suffix rules), the Jobs tab (pausing until the
checkpoint is saved, the question at quit, the export) and the chat with a model served here
through a profile that is never saved. The job folders are those a training process leaves
(written by hand, with this process holding the running job's lock); the served model is the
local fake chat server. tests/ui/test_this_computer_training.py trains and chats for real."""

from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

import desktop.local_training as local_training
from desktop.api.backends.local import LocalTrainingBackend, chat_profile_for, model_name
from desktop.api.credentials import KeyStore
from desktop.api.profiles import ProfileStore, profile_from_template
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.conversations import ConversationStore
from desktop.core.evaluation import EvalStore
from desktop.core.jobs import JobStatus
from desktop.core.settings import AppSettings
from desktop.core.training import ChatTarget
from desktop.local_training import hardware, locks
from desktop.local_training.hardware import Device, Hardware
from desktop.local_training.models import epoch_time_words, parameters_billion
from desktop.local_training.protocol import JobFiles
from desktop.ui.chat.chat_panel import ChatPanel
from desktop.ui.chat.model_picker import ModelDirectory
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.jobs_panel import JobsPanel
from desktop.ui.jobs.result_actions import ServedChat, unpack_adapter
from desktop.ui.jobs.train_wizard import PAGE_REVIEW, TrainWizard
from desktop.ui.settings.settings_dialog import SettingsDialog
from tests.api.keyrings import MemoryKeyring
from tests.fake_openai.chat_control import ChatControlServer
from tests.local_training.test_job_folders import fake_model, make_job, progress_lines
from tests.ui.test_jobs_helpers import FAST, destroy, jobs_harness, training_data

pytestmark = pytest.mark.gui

HERE_ID = "this-computer"
CPU = Hardware(Device.CPU, "processor", 2)
ADDS = [
    {
        "messages": [
            {"role": "system", "content": "You add numbers."},
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"It is {2 * i}."},
        ]
    }
    for i in range(12)
]


@pytest.fixture
def missing_extra(monkeypatch):
    """As if the optional training libraries were not installed."""
    monkeypatch.setattr(local_training, "missing_modules", lambda modules=(): ["torch", "trl"])


# Settings ------------------------------------------------------------------------------------


def test_settings_ask_no_address_and_no_key_for_this_computer(qtbot, tmp_path):
    store = ProfileStore(tmp_path / "config")
    store.add(profile_from_template("openai", profile_id="openai"))
    dialog = SettingsDialog(store, KeyStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.url_edit.isVisible() and dialog.key_edit.isVisible()
    assert not dialog.here_status.isVisible()
    dialog.add_from_template("this_computer")
    form = dialog.form
    for hidden in (dialog.url_edit, dialog.key_edit, dialog.timeout_spin, dialog.test_button):
        assert not hidden.isVisible()
    assert not form.isRowVisible(dialog.key_row) and not form.isRowVisible(dialog.test_row)
    assert dialog.here_status.isVisible()
    assert dialog.here_status.text().startswith("The libraries for training on this computer")
    assert dialog.save()
    profile = store.profiles[-1]
    assert profile.kind.value == "local_training" and not profile.capabilities.needs_key
    assert "Yes: export the trained adapter" in dialog.facts.text()

    dialog.select_profile("openai")  # another kind shows them again
    assert dialog.url_edit.isVisible() and dialog.key_edit.isVisible()
    assert not dialog.here_status.isVisible()


def test_settings_give_the_install_command_when_the_libraries_are_missing(
    qtbot, tmp_path, missing_extra
):
    store = ProfileStore(tmp_path / "config")
    store.add(profile_from_template("this_computer", profile_id=HERE_ID))
    dialog = SettingsDialog(store, KeyStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    dialog.show()
    text = dialog.here_status.text()
    assert text.startswith("Training on this computer needs the optional libraries for it")
    assert "(torch, trl missing)" in text
    assert text.endswith(local_training.install_command())
    assert "-m pip install" in text and "[local]" in text


# The chat directory ----------------------------------------------------------------------------


def test_the_chat_never_asks_the_training_profiles_placeholder_address(qtbot, tmp_path):
    store = ProfileStore(tmp_path / "config")
    store.add(profile_from_template("this_computer", profile_id=HERE_ID))
    keys = KeyStore(MemoryKeyring())
    directory = ModelDirectory(store, keys, Catalog.load(), JobArchive(tmp_path))
    assert directory.profile_list() == ()
    assert directory.profile(HERE_ID) is None
    assert directory.default_profile_id() is None
    assert directory.entries(HERE_ID) == [] and not directory.loading(HERE_ID)


# The wizard ------------------------------------------------------------------------------------


@dataclass
class Here:
    """A Jobs panel (and, when asked, a Chat panel wired to it as the app does) on a "This
    computer" profile, with the job archive and the served models in this test's folder."""

    qtbot: object
    root: Path
    #: Models are "served" by the fake chat server and noted here (None: the real backend).
    served: Served | None = None
    profiles: ProfileStore = field(init=False)
    keys: KeyStore = field(init=False)
    archive: JobArchive = field(init=False)
    panels: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.profiles = ProfileStore(self.root / "config")
        self.profiles.add(profile_from_template("this_computer", profile_id=HERE_ID))
        self.keys = KeyStore(MemoryKeyring())
        self.archive = JobArchive(self.root / "data")

    def backend(self, profile) -> LocalTrainingBackend:
        options = {"root": self.archive.root, "serving_root": self.root / "serving"}
        if self.served is not None:
            return ServedByTheFake(profile, self.served, hardware=CPU, **options)
        return LocalTrainingBackend(profile, hardware=CPU, **options)

    def panel(self) -> JobsPanel:
        panel = JobsPanel(
            self.profiles,
            self.keys,
            self.archive,
            Catalog.load(),
            AppSettings(),
            backend_factory=self.backend,
            poll_policy=FAST,
            serving_root=self.root / "serving",
        )
        panel.resize(1300, 850)
        panel.show()
        self.panels.append(panel)
        return panel

    def chat(self, jobs: JobsPanel) -> ChatPanel:
        chat = ChatPanel(
            profiles=self.profiles,
            keys=self.keys,
            catalog=Catalog.load(),
            conversations=ConversationStore(self.root / "chats"),
            evaluations=EvalStore(self.root / "evaluations"),
            archive=self.archive,
            dataset_records=list,
            add_example=lambda _value: None,
        )
        chat.show()
        self.panels.append(chat)
        jobs.chat_with_served.connect(chat.open_served)
        jobs.compare_served.connect(chat.compare_served)
        jobs.serving_changed.connect(lambda entries: chat.show_serving(entries, {}))
        return chat

    def wizard(self, panel: JobsPanel) -> TrainWizard:
        raw = "".join(json.dumps(e) + "\n" for e in ADDS).encode()
        data = training_data(Catalog.load(), raw, "adds.jsonl")
        wizard = panel.start_training(lambda: data)
        self.qtbot.waitUntil(  # type: ignore[attr-defined]
            lambda: (
                bool(wizard.choose_page.chooser.models) and wizard.choose_page.estimate is not None
            ),
            timeout=10_000,
        )
        return wizard


@contextmanager
def here(qtbot, tmp_path, **options) -> Iterator[Here]:
    harness = Here(qtbot, tmp_path, **options)
    try:
        yield harness
    finally:
        for panel in harness.panels:
            if isinstance(panel, JobsPanel):
                panel.shutdown()
            else:
                panel.cancel_work()
        assert QThreadPool.globalInstance().waitForDone(10_000)
        for panel in harness.panels:
            destroy(panel)


def test_the_wizard_trains_a_model_folder_free_of_charge(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "detect_hardware", lambda: CPU)
    with here(qtbot, tmp_path) as harness:
        wizard = harness.wizard(harness.panel())
        listed = wizard.choose_page.chooser.models[0]
        assert "GB download, licence: Apache 2.0" in listed.note
        note = wizard.choose_page.chooser.model_note.text()
        assert "one epoch of 100 examples" in note
        # The model's own context is not what training here keeps of an example.
        assert f"reads up to {listed.context_limit:,} tokens" in note
        assert "Longest example" in note and "Each example can hold" not in note
        assert wizard.choose_page.chooser.model_combo.model().item(0).toolTip() == listed.note
        assert wizard.choose_page.chooser.folder_button.isVisible()
        assert "free: it trains on this computer" in wizard.choose_page.estimate_line.text()
        assert (
            "(3 epochs)" in wizard.choose_page.estimate_line.text()
        )  # Automatic is this computer's 3
        # how long an epoch of these very examples takes with the chosen model, here
        tokens = wizard.choose_page.estimate.billable_tokens_per_epoch
        time_here = epoch_time_words(CPU, parameters_billion(listed.id), tokens, where=False)
        assert time_here.endswith(" an epoch")
        assert wizard.choose_page.estimate_line.text().endswith(
            f"free: it trains on this computer, {time_here}"
        )
        wizard.go_to(PAGE_REVIEW)
        assert wizard.review_page.tiles["cost"][1].text() == (
            f"nothing is billed; it takes {time_here} on this computer's processor (2 cores), "
            "a rough guide"
        )
        wizard.go_to(0)

        wizard.choose_page.choose_model_folder = lambda: tmp_path  # not a model
        wizard.choose_page.chooser.folder_button.click()
        qtbot.waitUntil(lambda: bool(wizard.choose_page.chooser.folder_note.text()), timeout=10_000)
        assert (
            "is not a model folder: it has no config.json"
            in wizard.choose_page.chooser.folder_note.text()
        )
        assert wizard.choose_page.chooser.model_id == listed.id

        model = fake_model(tmp_path / "my-model")
        wizard.choose_page.choose_model_folder = lambda: model
        wizard.choose_page.chooser.folder_button.click()
        qtbot.waitUntil(lambda: wizard.choose_page.chooser.model_id == str(model), timeout=10_000)
        assert wizard.choose_page.chooser.model_combo.currentText() == "my-model (folder)"
        assert not wizard.choose_page.chooser.folder_note.isVisible()
        qtbot.waitUntil(lambda: not wizard.choose_page.estimating, timeout=10_000)
        assert "an epoch" not in wizard.choose_page.estimate_line.text()  # its size cannot be told

        wizard.choose_page.settings_form.suffix.setText("adds bot")
        assert (
            wizard.choose_page.setup_problem()
            == "The suffix may not contain “ ” for this provider."
        )
        assert (
            "takes no spaces, colons, slashes or backslashes"
            in wizard.choose_page.settings_form.suffix.toolTip()
        )
        wizard.choose_page.settings_form.suffix.setText("a" * 41)
        assert wizard.choose_page.setup_problem() == "The suffix can be at most 40 characters long."
        wizard.choose_page.settings_form.suffix.setText("adder")
        qtbot.waitUntil(lambda: not wizard.choose_page.estimating, timeout=10_000)
        wizard.go_to(PAGE_REVIEW)
        assert wizard.pages.currentIndex() == PAGE_REVIEW
        assert wizard.review_page.tiles["cost"][0].text() == "free"
        assert (
            wizard.review_page.tiles["cost"][1].text()
            == "nothing is billed: it takes this computer's time"
        )
        assert wizard.review_page.tile_captions["tokens"].text() == "Tokens to train"
        assert (
            "nothing is sent anywhere and nothing is billed"
            in wizard.review_page.reassurance.text()
        )
        assert "downloaded from the Hugging Face Hub first" in wizard.review_page.next_steps.text()
        assert "provider" not in wizard.review_page.next_steps.text()
        assert wizard.review_page.start_button.text() == "Start training"
        wizard.reject()


def test_without_the_libraries_the_wizard_says_how_to_install_them(qtbot, tmp_path, missing_extra):
    with here(qtbot, tmp_path) as harness:
        wizard = harness.wizard(harness.panel())
        reason = local_training.unavailable_reason()
        assert reason is not None and reason in wizard.choose_page.chooser.profile_note.text()
        assert wizard.choose_page.setup_problem() == reason
        assert not wizard.choose_page.next_button.isEnabled()


# The Jobs tab ----------------------------------------------------------------------------------


def running_job(root: Path, base: Path, steps: int = 4) -> tuple[JobFiles, object]:
    """A job whose training process runs (this test holds its lock) at step ``steps``."""
    lines = progress_lines(steps, end=False)
    files = make_job(root, base, lines, job_id="local-run")
    held = locks.try_lock(files.lock)
    assert held is not None
    return files, held


def test_pausing_shows_until_the_checkpoint_is_saved(qtbot, tmp_path):
    with here(qtbot, tmp_path) as harness:
        files, held = running_job(harness.archive.root, fake_model(tmp_path / "base"))
        try:
            panel = harness.panel()
            view = panel.view
            qtbot.waitUntil(lambda: len(view.chart.series["train_loss"]) == 4, timeout=10_000)
            assert view.pause_button.isEnabled() and view.status_chip.text() == "Training"
            assert view.facts["cost"].text() == "Nothing (this computer)"
            assert view.facts["base"].text() == "base"

            view.pause_button.click()
            qtbot.waitUntil(lambda: view.status_chip.text() == "Pausing…", timeout=10_000)
            assert not view.pause_button.isEnabled() and view.pause_button.text() == "Pausing…"
            assert view.sentence.text().startswith("Pausing: training stops as soon as")
            assert json.loads(files.state.read_text())["wanted"] == "pause"
            qtbot.waitUntil(
                lambda: any(
                    m.startswith("Pausing: the current step") for _t, _l, m in view.record.events
                ),
                timeout=10_000,
            )
            assert view.status_chip.text() == "Pausing…"  # still training: the poll agrees

            end = {"event": "end", "time": 50.0, "status": "paused", "step": 4, "message": ""}
            with files.progress.open("a") as stream:
                stream.write(json.dumps(end) + "\n")
        finally:
            locks.release(held)
        qtbot.waitUntil(lambda: view.status_chip.text() == "Paused", timeout=10_000)
        assert view.record.summary.status is JobStatus.PAUSED and not view.record.pausing
        assert view.resume_button.isVisible() and view.resume_button.isEnabled()


@pytest.mark.parametrize(
    ("answer", "quits", "paused"),
    [
        ("pause", True, True),
        ("keep", True, False),
        ("cancel", False, False),
    ],
)
def test_quitting_asks_about_training_on_this_computer(qtbot, tmp_path, answer, quits, paused):
    with here(qtbot, tmp_path) as harness:
        files, held = running_job(harness.archive.root, fake_model(tmp_path / "base"))
        try:
            panel = harness.panel()
            qtbot.waitUntil(lambda: panel.training_here() != [], timeout=10_000)
            asked: list[list[str]] = []

            def ask(jobs):
                asked.append([job.id for job in jobs])
                return answer

            panel.ask_about_training = ask
            assert panel.before_quit() is quits
            assert asked == [["local-run"]]
            qtbot.waitUntil(lambda: not panel.quit_check.ending, timeout=10_000)
            wanted = json.loads(files.state.read_text()).get("wanted")
            assert (wanted == "pause") is paused
            if quits:
                assert panel.before_quit() is True and len(asked) == 1  # asked once
        finally:
            locks.release(held)


def succeeded_job(root: Path, base: Path) -> JobFiles:
    """A finished job with its adapter, as a training process leaves it."""
    files = make_job(root, base, progress_lines(6), job_id="local-done")
    files.adapter.mkdir(parents=True)
    (files.adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (files.adapter / "adapter_model.safetensors").write_bytes(b"lora weights")
    return files


def test_export_writes_a_folder_the_user_chooses(qtbot, tmp_path):
    with here(qtbot, tmp_path) as harness:
        succeeded_job(harness.archive.root, fake_model(tmp_path / "base"))
        panel = harness.panel()
        view = panel.view
        qtbot.waitUntil(
            lambda: view.record is not None and view.download_button.isEnabled(), timeout=10_000
        )
        assert view.download_button.text() == "Export…"
        assert view.compare_base_button.isVisible()
        out = tmp_path / "exports"
        out.mkdir()
        view.choose_folder = lambda _title, _suggested: out
        view.download_button.click()
        dialog = panel.download_dialog
        assert dialog is not None and dialog.windowTitle() == "Export the trained model"
        qtbot.waitUntil(lambda: dialog.file is not None, timeout=10_000)
        assert dialog.file.parent == out
        assert (dialog.file / "adapter" / "adapter_model.safetensors").read_bytes() == (
            b"lora weights"
        )
        assert (dialog.file / "README.txt").is_file()
        assert (dialog.file / "data" / "training.jsonl").is_file()
        assert dialog.stage.text().startswith(f"Exported to {dialog.file}.")
        assert not dialog.chat_button.isVisible()
        dialog.reject()


# Chatting with a model served here ---------------------------------------------------------------


@dataclass
class Served:
    """What the stand-in for transformers serve was asked to start and to stop."""

    server: ChatControlServer
    prepared: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)


class ServedByTheFake(LocalTrainingBackend):
    """The real backend, whose models are "served" by the fake chat server instead of
    transformers serve (tests/ui/test_this_computer_training.py serves them for real)."""

    def __init__(self, profile, served: Served, **options) -> None:
        super().__init__(profile, **options)
        self.served = served

    def prepare_chat(self, target: ChatTarget, progress=None, should_cancel=None) -> str:
        if progress is not None:
            progress("The model is ready.")
        if target.model not in self.served.prepared:
            self.served.prepared.append(target.model)
        name = f"/cache/local-serving/models/{self.served.prepared.index(target.model)}"
        self.served.server.add_model(name)
        return name

    def chat_profile(self, name: str):
        return chat_profile_for(self.served.server.base_url, 40000 + int(name[-1]))

    def stop_serving(self, name: str) -> None:
        self.served.stopped.append(name)


def test_a_trained_model_is_chatted_with_through_a_profile_that_is_never_saved(qtbot, tmp_path):
    with ChatControlServer(api_key=None) as server:
        served = Served(server)
        with here(qtbot, tmp_path, served=served) as harness:
            succeeded_job(harness.archive.root, fake_model(tmp_path / "base"))
            saved_profiles = (harness.root / "config" / "providers.json").read_bytes()
            jobs = harness.panel()
            chat = harness.chat(jobs)
            view = jobs.view
            qtbot.waitUntil(
                lambda: view.record is not None and view.chat_button.isEnabled(), timeout=10_000
            )
            trained = model_name(str(tmp_path / "base"), "helper", "local-done")
            assert view.record.summary.fine_tuned_model == trained

            view.chat_button.click()  # nothing is billed: it starts at once, nothing asked
            page = chat.chat
            qtbot.waitUntil(lambda: page.entry is not None, timeout=10_000)
            label = job_title(view.record.summary)
            assert page.entry.label == label
            assert page.entry.model_id == "/cache/local-serving/models/0"
            assert served.prepared == [trained]
            assert not jobs.serve_dialog.isVisible()
            banner = chat.serving_banner
            assert banner.isVisible()
            assert banner.texts()[0].startswith(f"<b>{label}</b> is running on this computer.")
            assert "money" not in banner.texts()[0]

            page.input.setPlainText("What is 2 plus 2?")
            page.send()
            qtbot.waitUntil(lambda: not page.busy and len(page.view.cards) == 2, timeout=10_000)
            reply = page.conversation.messages[-1]
            assert reply.content == f"Echo from {page.entry.model_id}: What is 2 plus 2?"
            assert reply.cost_usd == 0.0
            assert "runs on a local server, no charge" in page.model_info.text()
            assert (harness.root / "config" / "providers.json").read_bytes() == saved_profiles

            ((_profile_id, name),) = jobs.serving
            assert jobs.before_quit() is True  # nothing bills, so nothing is asked
            qtbot.waitUntil(lambda: not jobs.quit_check.ending, timeout=10_000)
            assert served.stopped == [name] and not jobs.serving
            assert not banner.isVisible()
            assert chat.directory.profile_list() == ()  # no longer offered


def test_compare_with_the_base_model_serves_both_side_by_side(qtbot, tmp_path):
    with ChatControlServer(api_key=None) as server:
        served = Served(server)
        with here(qtbot, tmp_path, served=served) as harness:
            base = fake_model(tmp_path / "base")
            succeeded_job(harness.archive.root, base)
            jobs = harness.panel()
            chat = harness.chat(jobs)
            view = jobs.view
            qtbot.waitUntil(
                lambda: view.record is not None and view.compare_base_button.isEnabled(),
                timeout=10_000,
            )
            view.compare_base_button.click()
            qtbot.waitUntil(lambda: chat.tabs.currentWidget() is chat.compare, timeout=10_000)
            assert served.prepared == [str(base), view.record.summary.fine_tuned_model]
            a, b = (side.picker.current() for side in chat.compare.sides)
            assert (a.label, b.label) == ("base (base model)", job_title(view.record.summary))
            assert len(jobs.serving) == 2 and len(chat.serving_banner.texts()) == 2
            compare = chat.compare
            compare.input.setPlainText("What is 1 plus 1?")
            compare.send()
            qtbot.waitUntil(lambda: not compare.busy, timeout=10_000)
            replies = [side.conversation.messages[-1].content for side in compare.sides]
            assert replies == [
                f"Echo from /cache/local-serving/models/{i}: What is 1 plus 1?" for i in (0, 1)
            ]


def test_a_stopped_served_model_is_no_longer_offered(qtbot, tmp_path):
    store = ProfileStore(tmp_path / "config")
    with ChatControlServer(api_key=None) as server:
        panel = ChatPanel(
            profiles=store,
            keys=KeyStore(MemoryKeyring()),
            catalog=Catalog.load(),
            conversations=ConversationStore(tmp_path / "chats"),
            evaluations=EvalStore(tmp_path / "evaluations"),
            archive=JobArchive(tmp_path / "archive"),
            dataset_records=list,
            add_example=lambda _value: None,
        )
        qtbot.addWidget(panel)
        served = ServedChat(chat_profile_for(server.base_url, 7), "/models/adder", "adder · today")
        panel.open_served(served)
        assert panel.chat.entry.label == "adder · today"
        assert panel.directory.profile_list()[0].display_name == "This computer: adder · today"
        assert store.profiles == ()
        panel.show_serving([], {})  # the Jobs tab says nothing runs any more
        assert panel.directory.profile_list() == ()
        assert panel.chat.entry is None
        panel.cancel_work()


# An adapter downloaded from Together AI ---------------------------------------------------------


def test_unpacking_an_adapter_archive_finds_its_folder_and_refuses_escapes(tmp_path):
    def archive(name: str, members: dict[str, bytes]) -> Path:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        path = tmp_path / name
        path.write_bytes(gzip.compress(buffer.getvalue()))
        return path

    good = archive(
        "ft-1-adapter.tar.zst",
        {"out/adapter_config.json": b"{}", "out/adapter_model.safetensors": b"w"},
    )
    folder = unpack_adapter(good, gzip.open)
    assert folder == tmp_path / "ft-1-adapter" / "out"
    assert (folder / "adapter_model.safetensors").read_bytes() == b"w"
    assert unpack_adapter(good, gzip.open) == folder  # once: the second call reuses it

    with pytest.raises(ValueError, match="holds no LoRA adapter"):
        unpack_adapter(archive("full.tar.zst", {"model.safetensors": b"w"}), gzip.open)
    with pytest.raises(ValueError, match="could not be unpacked"):
        unpack_adapter(archive("evil.tar.zst", {"../escape.txt": b"x"}), gzip.open)
    assert not (tmp_path / "escape.txt").exists()


def test_a_together_adapter_says_what_unpacking_it_needs_and_takes_an_unpacked_folder(
    qtbot, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as in Python 3.11 without it
    with jobs_harness(qtbot, tmp_path, flavor="together") as harness:
        panel = harness.panel(serving_root=tmp_path / "serving")
        job_id = harness.start_job(panel)
        harness.server.finish_job(job_id)
        view = panel.view
        qtbot.waitUntil(
            lambda: view.record is not None and view.download_button.isEnabled(), timeout=15_000
        )
        assert view.download_button.text() == "Download the adapter…"
        assert not view.compare_base_button.isVisible()
        view.download_button.click()
        dialog = panel.download_dialog
        qtbot.waitUntil(lambda: dialog.file is not None, timeout=15_000)
        assert dialog.file.name.endswith(".tar.zst") and dialog.chat_button.isVisible()

        dialog.chat_button.click()
        assert "needs the zstandard library, which is not installed" in dialog.error.text()
        assert f"{sys.executable} -m pip install zstandard" in dialog.error.text()
        assert dialog.unpacked_button.isVisible() and panel.serve_dialog is None

        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        dialog.choose_folder = lambda: unpacked  # the user unpacked it, but not an adapter
        dialog.unpacked_button.click()
        serve = panel.serve_dialog
        assert serve is not None and serve.local
        qtbot.waitUntil(lambda: serve.error.isVisible(), timeout=10_000)
        assert f"{unpacked} is not an adapter folder" in serve.error.text()
        assert panel.serving == {}
        serve.reject()
        dialog.reject()

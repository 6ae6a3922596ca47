"""Chatting on this computer with an adapter downloaded from Together AI whose base model
Together names in its own way: the window asks which model that is, in plain words, and
remembers the answer for that adapter. Serving itself is replaced by a stand-in that notes
what it was asked to start (tests/local_training serves adapters for real)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from desktop.api.errors import ErrorKind, FriendlyError, ProviderError
from desktop.local_training.serving import ServedModel
from desktop.ui.jobs import jobs_chat
from tests.local_training.test_job_folders import fake_model, together_adapter
from tests.ui.test_jobs_helpers import jobs_harness

pytestmark = pytest.mark.gui


class Serve:
    """Stands in for serving an adapter: notes each start; ``refuse`` fails the next one."""

    def __init__(self) -> None:
        self.started: list[tuple[str, Path]] = []
        self.refuse: FriendlyError | None = None

    def __call__(self, base, adapter, **_options) -> ServedModel:
        if self.refuse is not None:
            refused, self.refuse = self.refuse, None
            raise ProviderError(refused)
        self.started.append((str(base), Path(adapter)))
        return ServedModel(name=f"{adapter}-served", port=9, pid=0)


@pytest.fixture
def serve(monkeypatch, tmp_path) -> Serve:
    stand_in = Serve()
    monkeypatch.setattr(jobs_chat, "serve_adapter", stand_in)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # the unpacked folder is chosen
    hf = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # nothing downloaded
    return stand_in


def downloaded_job(qtbot, harness, tmp_path):
    """A finished Together job whose adapter was downloaded; its download dialog."""
    panel = harness.panel(serving_root=tmp_path / "serving")
    job_id = harness.start_job(panel)
    harness.server.finish_job(job_id)
    view = panel.view
    qtbot.waitUntil(
        lambda: view.record is not None and view.download_button.isEnabled(), timeout=15_000
    )
    view.download_button.click()
    dialog = panel.download_dialog
    qtbot.waitUntil(lambda: dialog.file is not None, timeout=15_000)
    return panel, dialog


def chat_with_folder(qtbot, panel, dialog, folder: Path):
    """Chat with the adapter unpacked into ``folder``; the serve dialog once it has settled."""
    dialog.choose_folder = lambda: folder
    dialog.unpacked_button.show()
    dialog.unpacked_button.click()
    serve_dialog = panel.serve_dialog
    qtbot.waitUntil(lambda: not serve_dialog.running, timeout=10_000)
    return serve_dialog


def test_an_unknown_together_base_is_asked_for_and_remembered(qtbot, tmp_path, serve):
    base = fake_model(tmp_path / "llama")
    with jobs_harness(qtbot, tmp_path, flavor="together") as harness:
        panel, download = downloaded_job(qtbot, harness, tmp_path)
        together_base = panel.view.record.summary.base_model  # Together's own name
        likely = together_base.removesuffix("-Reference")
        assert likely != together_base
        adapter = together_adapter(tmp_path / "ft-1-adapter", together_base)
        served: list[object] = []
        panel.chat_with_served.connect(served.append)

        dialog = chat_with_folder(qtbot, panel, download, adapter)
        assert serve.started == []  # nothing is downloaded under a guessed name
        assert dialog.base_box.isVisible() and not dialog.error.isVisible()
        question = dialog.base_question.text()
        assert f"“{together_base}”" in question
        assert f"most likely {likely} on the Hugging Face Hub" in question
        assert "Type the base model's Hugging Face name or choose its folder" in question
        assert dialog.base_edit.text() == likely
        assert dialog.start_button.isEnabled()
        dialog.base_edit.clear()
        assert not dialog.start_button.isEnabled()  # a base model must be named
        dialog.choose_base_folder = lambda: base
        dialog.base_browse.click()
        assert dialog.base_edit.text() == str(base)
        dialog.start_button.click()
        qtbot.waitUntil(lambda: bool(served), timeout=10_000)
        assert serve.started == [(str(base), adapter)]
        assert not dialog.isVisible()

        # The next chat with this adapter starts on the same base without asking.
        again = chat_with_folder(qtbot, panel, download, adapter)
        qtbot.waitUntil(lambda: len(served) == 2, timeout=10_000)
        assert serve.started[-1] == (str(base), adapter)
        assert again.base_box.isHidden()
        download.reject()


def test_a_base_the_hub_does_not_have_can_be_replaced_by_a_folder(qtbot, tmp_path, serve):
    base = fake_model(tmp_path / "qwen")
    adapter = together_adapter(tmp_path / "ft-2-adapter", "Qwen/Qwen2.5-7B-Instruct")
    with jobs_harness(qtbot, tmp_path, flavor="together") as harness:
        panel, download = downloaded_job(qtbot, harness, tmp_path)
        served: list[object] = []
        panel.chat_with_served.connect(served.append)
        serve.refuse = FriendlyError(
            kind=ErrorKind.NO_NETWORK,
            message="There is no model called Qwen/Qwen2.5-7B-Instruct on the Hugging Face Hub.",
            next_step="Check the name, or choose a model folder on disk.",
            retryable=False,
        )
        dialog = chat_with_folder(qtbot, panel, download, adapter)
        assert "There is no model called" in dialog.error.text()
        assert dialog.base_box.isVisible()
        assert dialog.base_edit.text() == "Qwen/Qwen2.5-7B-Instruct"
        assert "choose its folder" in dialog.base_question.text()
        dialog.base_edit.setText(str(base))
        dialog.start_button.click()
        qtbot.waitUntil(lambda: bool(served), timeout=10_000)
        assert serve.started == [(str(base), adapter)]
        download.reject()

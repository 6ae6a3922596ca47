"""Using a trained model: the dialogs and the banner around "Chat with this model" and
"Download the adapter…" (or "Export…" for a model trained on this computer).

Why here: how a trained model is reached depends on the service (``ChatRoute``). Some answer
by name at once; some must first be deployed through the provider's API, sometimes on an
endpoint billed by the minute; Azure needs a deployment made outside the app; a model trained
on this computer is served here, by a process that holds memory and processor while it runs.
The money at stake is said before anything starts and stays on screen while it runs, with a
one-click Stop; and what the app started at a provider is written down (``ServingLedger``) so
a crash or a restart never hides an endpoint that still bills. (A model served on this
computer stops with the app, so it is not written down.)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import sys
import tarfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.errors import FriendlyError
from desktop.api.profiles import ProviderProfile
from desktop.core.jsonl_io import atomic_write
from desktop.core.training import ChatTarget
from desktop.ui.common import palette

log = logging.getLogger(__name__)

WARNING_STYLE = (
    f"background: {palette.WARNING_BACKGROUND}; color: {palette.TEXT}; "
    f"border: 1px solid {palette.WARNING_BORDER}; border-radius: 4px;"
    " padding: 8px;"
)
ERROR_STYLE = (
    f"background: {palette.ERROR_BACKGROUND}; color: {palette.TEXT}; "
    f"border: 1px solid {palette.ERROR}; border-radius: 4px;"
    " padding: 8px;"
)


@dataclass(frozen=True)
class ServedChat:
    """A model served on this computer: the profile of its local server (never saved), the
    name it answers to, and what to call it on screen instead of its folder path."""

    profile: ProviderProfile
    name: str
    label: str


#: What a model served on this computer costs while it runs.
LOCAL_WARNING = (
    "It holds this computer's memory and processor while it runs, and stops when you quit the app."
)


@dataclass(frozen=True)
class Serving:
    """Something the app started for a trained model that bills, or holds this computer's
    memory, while it is up.

    ``name`` is what the provider answers to (and what ``stop_serving`` takes), ``model`` the
    trained model it serves, ``warning`` what it costs in the provider's words. ``local`` marks
    a model served on this computer (``label`` names it on screen).
    """

    profile_id: str
    name: str
    model: str
    warning: str
    local: bool = False
    label: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """(profile id, name): one running thing."""
        return (self.profile_id, self.name)

    @property
    def shown(self) -> str:
        """What to call it on screen."""
        return self.label or self.model


class ServingLedger:
    """What the app started and has not stopped, in one small JSON file beside the job
    archive, so that after a crash or a restart the app still offers to stop it. Safe to use
    from worker threads."""

    FILE_NAME = "serving.json"

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.FILE_NAME
        self._lock = threading.Lock()

    def load(self) -> list[Serving]:
        """Everything still marked as running (an unreadable file counts as none)."""
        with self._lock:
            return self._read()

    def add(self, serving: Serving) -> None:
        """Note that ``serving`` runs (replacing an older note of the same name)."""
        with self._lock:
            kept = [s for s in self._read() if s.key != serving.key]
            self._write([*kept, serving])

    def remove(self, profile_id: str, name: str) -> None:
        """Note that this is stopped."""
        with self._lock:
            kept = [s for s in self._read() if s.key != (profile_id, name)]
            self._write(kept)

    def _read(self) -> list[Serving]:
        try:
            data = json.loads(self.path.read_bytes())
            return [Serving(**entry) for entry in data["serving"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("Could not read the list of running endpoints: %s", exc)
            return []

    def _write(self, entries: Sequence[Serving]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"serving": [asdict(s) for s in entries]}
        atomic_write(self.path, json.dumps(body, indent=2).encode("utf-8"))


def _box(text: str, style: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(style)
    return label


class ServeDialog(QDialog):
    """Deploy a trained model at its provider before chatting: what it costs first, then the
    provider's progress with a way to stop. The Jobs panel does the work.

    With ``local`` the model is started on this computer instead: nothing is billed, so it
    starts at once (``begin``) and the dialog shows its progress and a Stop button."""

    start_requested = Signal()
    stop_requested = Signal()

    def __init__(
        self,
        provider: str,
        target: ChatTarget,
        parent: QWidget | None = None,
        *,
        local: bool = False,
        label: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chat with your model")
        self.setMinimumWidth(560)
        self.target = target
        self.local = local
        shown = label or target.model
        if local:
            text = (
                f"The app starts <b>{shown}</b> on this computer (transformers serve, reached "
                "only from this computer). It takes a few seconds to a minute, longer when the "
                "base model must be downloaded first; the chat opens when it is ready."
            )
        else:
            text = (
                f"Before you can chat with <b>{shown}</b>, the app deploys it at "
                f"{provider}. This can take a few minutes; the chat opens when it is ready."
            )
        intro = QLabel(text)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.intro = intro
        self.warning = _box(
            f"<b>This costs money while it runs.</b> {target.billing_warning or ''} "
            "Stop it from the Jobs tab (or when you quit the app) as soon as you are done.",
            WARNING_STYLE,
            "billingWarning",
        )
        self.warning.setVisible(bool(target.billing_warning))
        self.stage = QLabel()
        self.stage.setObjectName("serveStage")
        self.stage.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.hide()
        self.error = _box("", ERROR_STYLE, "serveError")
        self.error.hide()
        self.base_box = self._build_base_box()
        self.base_box.hide()
        self.start_button = QPushButton("Start it and chat" if local else "Deploy it and chat")
        self.start_button.setObjectName("startServing")
        self.start_button.setDefault(True)
        if local:
            self.start_button.setToolTip("Start the model on this computer; nothing is billed.")
        else:
            self.start_button.setToolTip(
                "Ask the provider to deploy the model now"
                + ("; it bills until you stop it." if target.billing_warning else ".")
            )
        self.start_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Close without starting anything." if local else "Close without deploying anything."
        )
        self.cancel_button.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.warning)
        layout.addWidget(self.stage)
        layout.addWidget(self.busy)
        layout.addWidget(self.error)
        layout.addWidget(self.base_box)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.running = False

    def _build_base_box(self) -> QWidget:
        """The question asked when this computer cannot tell an adapter's base model."""
        box = QWidget()
        self.base_question = QLabel()
        self.base_question.setObjectName("baseQuestion")
        self.base_question.setWordWrap(True)
        self.base_question.setTextFormat(Qt.TextFormat.PlainText)
        self.base_edit = QLineEdit()
        self.base_edit.setObjectName("baseModel")
        self.base_edit.setPlaceholderText("owner/model, or the model's folder")
        self.base_edit.setToolTip(
            "The base model the adapter was trained from: its name on the Hugging Face Hub, "
            "or a folder on this computer that holds it."
        )
        self.base_edit.textChanged.connect(
            lambda text: self.start_button.setEnabled(bool(text.strip()) and not self.running)
        )
        self.base_browse = QPushButton("Choose folder…")
        self.base_browse.setToolTip(
            "Choose the folder that holds the base model (its config.json)."
        )
        self.base_browse.clicked.connect(self._browse_base)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.base_edit, 1)
        row.addWidget(self.base_browse)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.base_question)
        layout.addLayout(row)
        return box

    def choose_base_folder(self) -> Path | None:
        """Ask for the folder of a base model (tests replace this)."""
        chosen = QFileDialog.getExistingDirectory(self, "The base model's folder")
        return Path(chosen) if chosen else None

    def _browse_base(self) -> None:
        folder = self.choose_base_folder()
        if folder is not None:
            self.base_edit.setText(str(folder))

    def ask_base(self, question: str, suggestion: str = "") -> None:
        """Ask which base model to start the adapter on (``suggestion`` filled in)."""
        self.running = False
        self.busy.hide()
        self.stage.setText("")
        self.base_question.setText(question)
        if suggestion or not self.base_edit.text().strip():
            self.base_edit.setText(suggestion)
        self.base_box.show()
        self.start_button.setText("Start it and chat")
        self.start_button.setEnabled(bool(self.base_edit.text().strip()))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(True)
        self.base_edit.setFocus()

    def chosen_base(self) -> str | None:
        """The base model the user named, while the dialog asks for one."""
        if self.base_box.isHidden():
            return None
        return self.base_edit.text().strip() or None

    def begin(self) -> None:
        """Start at once, as if the user had pressed the start button."""
        if not self.running:
            self._start()

    def _start(self) -> None:
        self.running = True
        self.error.hide()
        self.start_button.setEnabled(False)
        self.cancel_button.setText("Stop")
        self.cancel_button.setToolTip(
            "Stop starting it; nothing keeps running."
            if self.local
            else "Stop deploying; whatever the provider started is stopped."
        )
        self.busy.show()
        self.stage.setText("Starting…" if self.local else "Asking the provider…")
        self.start_requested.emit()

    def _cancel(self) -> None:
        if self.running:
            self.cancel_button.setEnabled(False)
            self.stage.setText("Stopping…")
            self.stop_requested.emit()
            return
        self.reject()

    def show_stage(self, text: str) -> None:
        """The provider's (or this computer's) progress, in a few words."""
        self.stage.setText(text)

    def show_failure(self, friendly: FriendlyError) -> None:
        """Deploying did not work: say why, and let the user try again or close."""
        self.running = False
        self.busy.hide()
        self.stage.setText("")
        self.error.setText(f"<b>{friendly.message}</b> {friendly.next_step}")
        self.error.show()
        self.start_button.setText("Try again")
        self.start_button.setEnabled(self.base_box.isHidden() or bool(self.chosen_base()))
        self.cancel_button.setText("Close")
        self.cancel_button.setEnabled(True)

    def reject(self) -> None:
        """Closing while deploying stops it first."""
        if self.running:
            self._cancel()
            return
        super().reject()


class DeploymentDialog(QDialog):
    """A model that must be deployed outside the app (Azure): the exact steps, then the
    deployment's name to chat with."""

    chosen = Signal(str)

    def __init__(self, provider: str, target: ChatTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Deploy your model first")
        self.setMinimumWidth(620)
        intro = QLabel(f"{provider} needs one step outside the app before you can chat:")
        intro.setWordWrap(True)
        self.steps = _box(target.instructions or "", WARNING_STYLE, "deploySteps")
        self.model_line = QLineEdit(target.model)
        self.model_line.setReadOnly(True)
        self.model_line.setToolTip("The trained model's name, to pick it in the portal.")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("deploymentName")
        self.name_edit.setPlaceholderText("the deployment name you chose, e.g. support-bot")
        self.name_edit.setToolTip(
            "The name you gave the deployment in the portal; the chat asks for it by this name."
        )
        self.chat_button = QPushButton("Chat with this deployment")
        self.chat_button.setObjectName("chatDeployment")
        self.chat_button.setDefault(True)
        self.chat_button.setEnabled(False)
        self.chat_button.setToolTip("Open a chat with the deployment named above.")
        self.name_edit.textChanged.connect(
            lambda text: self.chat_button.setEnabled(bool(text.strip()))
        )
        self.chat_button.clicked.connect(self._chat)
        close = QPushButton("Close")
        close.setToolTip("Close; deploy the model and come back later.")
        close.clicked.connect(self.reject)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Trained model"))
        model_row.addWidget(self.model_line, 1)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Deployment name"))
        name_row.addWidget(self.name_edit, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.chat_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.steps)
        layout.addLayout(model_row)
        layout.addLayout(name_row)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.name_edit.setFocus()

    def _chat(self) -> None:
        name = self.name_edit.text().strip()
        if name:
            self.chosen.emit(name)
            self.accept()


def _size(done: int) -> str:
    if done < 1024 * 1024:
        return f"{done / 1024:.0f} KB"
    return f"{done / 1024 / 1024:.1f} MB"


class DownloadDialog(QDialog):
    """Downloading a trained adapter: progress, a way to stop, and where it went.

    With ``export`` it is a model trained on this computer written out for use elsewhere (a
    new folder with the adapter, the exact training data, a README and, where it applies, an
    Ollama Modelfile). A downloaded adapter can also be chatted with on this computer
    (``offer_local_chat``): ``chat_here_requested`` carries the file or folder to serve."""

    stop_requested = Signal()
    chat_here_requested = Signal(object)

    def __init__(
        self, model: str, folder: Path, parent: QWidget | None = None, *, export: bool = False
    ) -> None:
        super().__init__(parent)
        self.export = export
        self.setWindowTitle("Export the trained model" if export else "Download the adapter")
        self.setMinimumWidth(520)
        self.folder = folder
        self.file: Path | None = None
        if export:
            text = (
                f"Writing the trained adapter of <b>{model}</b>, the exact training data and a "
                f"README (and an Ollama Modelfile where it applies) into a new folder in:<br>"
                f"{folder}"
            )
        else:
            text = (
                f"Downloading the trained adapter of <b>{model}</b> into this job's archive "
                f"folder:<br>{folder}"
            )
        intro = QLabel(text)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.stage = QLabel("Writing…" if export else "Asking the provider…")
        self.stage.setObjectName("downloadStage")
        self.stage.setWordWrap(True)
        self.stage.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = _box("", ERROR_STYLE, "downloadError")
        self.error.hide()
        self.folder_button = QPushButton("Show the folder")
        self.folder_button.setToolTip("Open the folder that holds the adapter.")
        self.folder_button.clicked.connect(self._open_folder)
        self.folder_button.hide()
        self.chat_button = QPushButton("Chat with it on this computer")
        self.chat_button.setObjectName("chatHere")
        self.chat_button.setToolTip(
            "Serve the adapter on its base model on this computer (transformers serve) and "
            "open a chat with it; nothing is billed."
        )
        self.chat_button.clicked.connect(lambda: self.chat_here_requested.emit(self.file))
        self.chat_button.hide()
        self.unpacked_button = QPushButton("Choose the unpacked folder…")
        self.unpacked_button.setObjectName("chooseUnpacked")
        self.unpacked_button.setToolTip(
            "The folder you unpacked the download into (it holds adapter_config.json)."
        )
        self.unpacked_button.clicked.connect(self._choose_unpacked)
        self.unpacked_button.hide()
        self.close_button = QPushButton("Stop")
        self.close_button.setToolTip(
            "Stop writing; nothing half-written is kept."
            if export
            else "Stop the download; nothing half-downloaded is kept."
        )
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.unpacked_button)
        buttons.addWidget(self.chat_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.running = True

    # Questions (tests replace this) --------------------------------------------------------

    def choose_folder(self) -> Path | None:
        """Ask for the folder an adapter was unpacked into."""
        chosen = QFileDialog.getExistingDirectory(self, "The unpacked adapter", str(self.folder))
        return Path(chosen) if chosen else None

    # Showing -------------------------------------------------------------------------------

    def show_progress(self, done: int, total: int) -> None:
        """Bytes received so far (``total`` 0 when the provider does not say)."""
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            if not self.export:
                self.stage.setText(f"{_size(done)} of {_size(total)}")
        elif not self.export:
            self.stage.setText(f"{_size(done)} so far")

    def show_done(self, file: Path) -> None:
        """The adapter is on this computer (``file`` is the exported folder for an export)."""
        self.running = False
        self.file = file
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        if self.export:
            self.folder = file
            self.stage.setText(
                f"Exported to {file}. Its README says how to use the adapter with its base model "
                "elsewhere (Ollama, vLLM, llama.cpp or Transformers)."
            )
        else:
            self.stage.setText(
                f"Saved as {file.name}. To run it on this computer, load it (unpacked first if "
                "it is an archive) with its base model in a local tool such as Ollama, vLLM or "
                "llama.cpp."
            )
        self.folder_button.show()
        self.close_button.setText("Close")
        self.close_button.setToolTip("Close this window.")

    def offer_local_chat(self) -> None:
        """Offer to chat with the downloaded adapter on this computer."""
        self.chat_button.setVisible(self.file is not None)

    def show_unpack_problem(self, text: str) -> None:
        """The download cannot be unpacked here: say why and let the user pick the folder
        they unpacked it into themselves."""
        self.error.setText(text)
        self.error.show()
        self.unpacked_button.show()

    def show_failure(self, friendly: FriendlyError | None) -> None:
        """The download stopped (None: the user stopped it)."""
        self.running = False
        self.progress.hide()
        if friendly is None:
            self.stage.setText(
                "Stopped; nothing half-written was kept."
                if self.export
                else "Stopped; nothing half-downloaded was kept."
            )
        else:
            self.stage.setText("")
            self.error.setText(f"<b>{friendly.message}</b> {friendly.next_step}")
            self.error.show()
        self.close_button.setText("Close")

    def reject(self) -> None:
        """Closing while downloading stops the download first."""
        if self.running:
            self.close_button.setEnabled(False)
            self.stage.setText("Stopping…")
            self.stop_requested.emit()
            return
        super().reject()

    def _choose_unpacked(self) -> None:
        folder = self.choose_folder()
        if folder is not None:
            self.chat_here_requested.emit(folder)

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))


#: The ending of Together AI's adapter downloads (a tar archive compressed with Zstandard).
TAR_ZST = ".tar.zst"


def zstd_missing() -> str | None:
    """One sentence and what to do when Together's ``.tar.zst`` downloads cannot be unpacked
    here (Python has no Zstandard of its own before 3.14); None when they can."""
    if importlib.util.find_spec("zstandard") is not None:
        return None
    return (
        "Unpacking Together AI's .tar.zst download needs the zstandard library, which is not "
        f"installed: run {_python()} -m pip install zstandard and try again, or unpack it "
        "yourself (for example tar --zstd -xf FILE) and choose the unpacked folder."
    )


def _python() -> str:
    python = sys.executable or "python3"
    return f'"{python}"' if " " in python else python


def _zstd_stream(archive: Path) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(archive.open("rb"), closefd=True)


def unpack_adapter(archive: Path, open_stream: Callable[[Path], BinaryIO] = _zstd_stream) -> Path:
    """Unpack a downloaded adapter archive beside it, once, and return the folder that holds
    ``adapter_config.json``; ``ValueError`` in plain words when it holds no adapter.
    Members that would land outside the folder are refused (tarfile's "data" filter)."""
    name = archive.name
    stem = name[: -len(TAR_ZST)] if name.endswith(TAR_ZST) else archive.stem
    target = archive.with_name(stem)
    if not target.is_dir():
        staging = archive.with_name(f"{stem}.unpacking")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with open_stream(archive) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, ValueError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ValueError(f"{archive.name} could not be unpacked ({exc}).") from exc
        staging.rename(target)
    found = sorted(target.rglob("adapter_config.json"), key=lambda p: len(p.parts))
    if not found:
        raise ValueError(f"{archive.name} holds no LoRA adapter (no adapter_config.json).")
    return found[0].parent


class ServingBanner(QFrame):
    """What is running (and billing, or holding this computer's memory) right now, each with
    a Stop button; hidden when nothing is. The Jobs and Chat tabs both show it."""

    stop_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("servingBanner")
        self.setStyleSheet(f"QFrame#servingBanner {{ {WARNING_STYLE} }}")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._rows: dict[tuple[str, str], tuple[QWidget, QLabel, QPushButton]] = {}
        self.hide()

    def set_serving(
        self,
        entries: Sequence[Serving],
        providers: Mapping[str, str],
        stopping: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Show ``entries`` (``providers`` names each profile; ``stopping`` are on their way
        down)."""
        for row, _label, _button in self._rows.values():
            row.deleteLater()
        self._rows.clear()
        for serving in entries:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            provider = providers.get(serving.profile_id, serving.profile_id)
            if serving.local:
                text = f"<b>{serving.shown}</b> is running on this computer. {serving.warning}"
                tip = f"Stop {serving.shown}; the memory it holds is freed."
            else:
                text = (
                    f"<b>{serving.shown}</b> is running at {provider} and costs money while it "
                    f"runs. {serving.warning}"
                )
                tip = f"Stop {serving.name} at {provider}; billing stops with it."
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            button = QPushButton("Stop it now")
            button.setToolTip(tip)
            button.clicked.connect(
                lambda _checked=False, s=serving: self.stop_requested.emit(s.profile_id, s.name)
            )
            if serving.key in stopping:
                button.setEnabled(False)
                button.setText("Stopping…")
            line.addWidget(label, 1)
            line.addWidget(button)
            self._layout.addWidget(row)
            self._rows[serving.key] = (row, label, button)
        self.setVisible(bool(entries))

    def texts(self) -> list[str]:
        """What each row says (for tests and accessibility)."""
        return [label.text() for _row, label, _button in self._rows.values()]

    def stop_button(self, profile_id: str, name: str) -> QPushButton:
        """The Stop button of one running thing."""
        return self._rows[(profile_id, name)][2]

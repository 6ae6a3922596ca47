"""Chatting with what a job trained: at once, after deploying it (asked first: it may bill),
through a deployment made elsewhere, or served on this computer, alone or beside its base
model."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from desktop.api.backends import traits_of
from desktop.api.backends.local import chat_profile_for, serve_adapter
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError, UploadCancelled
from desktop.api.profiles import ProviderProfile
from desktop.core.jobs import JobSummary
from desktop.core.training import ChatRoute, ChatTarget
from desktop.local_training.serving import (
    AdapterBase,
    adapter_base,
    adapter_folder_problem,
    remember_base,
)
from desktop.ui.common.ops import run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.jobs_common import Failure, JobsHost, on_this_computer
from desktop.ui.jobs.jobs_running import RunningModels
from desktop.ui.jobs.result_actions import (
    TAR_ZST,
    DeploymentDialog,
    DownloadDialog,
    ServedChat,
    ServeDialog,
    Serving,
    unpack_adapter,
    zstd_missing,
)

log = logging.getLogger(__name__)

_STOPPED = FriendlyError(
    kind=ErrorKind.UNKNOWN,
    message="Deploying was stopped.",
    next_step="Press Try again to deploy the model after all.",
    retryable=True,
)
_STOPPED_HERE = FriendlyError(
    kind=ErrorKind.UNKNOWN,
    message="Starting the model was stopped.",
    next_step="Press Try again to start it after all.",
    retryable=True,
)


def _base_label(base_model: str) -> str:
    """A base model (a Hub id or a folder) as a few words."""
    return f"{Path(base_model).name or base_model} (base model)"


def _adapter_folder(path: Path) -> Path:
    """The LoRA adapter in ``path``: a downloaded archive (unpacked beside it), the folder
    itself or one just inside it; ``ValueError`` in plain words when there is none."""
    if path.is_dir():
        inside = sorted(c for c in path.iterdir() if c.is_dir())
        folder = next((f for f in (path, *inside) if (f / "adapter_config.json").is_file()), path)
    else:
        folder = unpack_adapter(path)
    problem = adapter_folder_problem(folder)
    if problem is not None:
        raise ValueError(problem)
    return folder


def _base_question(found: AdapterBase) -> str:
    """Which base model to start an adapter on, asked in plain words."""
    if found.named:
        unknown = (
            f"The adapter calls the model it was trained from “{found.named}”, which this "
            "computer cannot match to a model folder here or a model on the Hugging Face Hub."
        )
    else:
        unknown = "The adapter does not say which model it was trained from."
    likely = (
        f" It is most likely {found.likely} on the Hugging Face Hub, filled in below."
        if found.likely
        else ""
    )
    return (
        f"{unknown}{likely} Type the base model's Hugging Face name or choose its folder; the "
        "app remembers it for this adapter."
    )


#: Failures of starting an adapter that the choice of its base model may cure: the Hub has no
#: such model or cannot be reached, or the folder is no model.
_BASE_FAILURES = (ErrorKind.NO_NETWORK, ErrorKind.INVALID_REQUEST)
_OTHER_BASE = (
    "To start the adapter on another copy of its base model, type that model's Hugging Face "
    "name or choose its folder; the app remembers it for this adapter."
)


class ChatActions(QObject):
    """Opens a chat with the selected job's model the way its provider allows."""

    #: The profile id and the model name to chat with.
    chat_with_model = Signal(str, str)
    #: A ``ServedChat``: a model served on this computer.
    chat_with_served = Signal(object)
    #: Two ``ServedChat`` (the base model, the trained one) to compare side by side.
    compare_served = Signal(object, object)

    def __init__(self, host: JobsHost, running: RunningModels, widget: QWidget) -> None:
        super().__init__(widget)
        self.host = host
        self.running = running
        self.widget = widget
        self.serve_dialog: ServeDialog | None = None
        self.deploy_dialog: DeploymentDialog | None = None

    def chat_with(self, model: str) -> None:
        """Chat with the selected job's model (or one of its checkpoints, by name) the way its
        provider allows: at once, after deploying it here (asked first: it may bill), through
        a deployment the user made elsewhere, or served on this computer."""
        key = self.host.selected
        record = self.host.records.get(key) if key is not None else None
        if key is None or record is None:
            return
        profile = self.host.profile_of(key[0])
        if profile is None:
            self.host.view.show_error(
                "The provider profile of this job no longer exists; add it again in Settings "
                "to chat with its model."
            )
            return
        summary = record.summary
        checkpoint = model if model and model != summary.fine_tuned_model else None
        saved = next((c for c in record.checkpoints if c.model == checkpoint), None)
        label = saved.display_name() if saved is not None else job_title(summary)
        factory = self.host.backend_factory

        def job(_context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    return backend.chat_target(summary, checkpoint)
            except ProviderError as exc:
                return Failure(exc.friendly)

        run_op(
            self,
            job,
            name="finding how to chat",
            success=lambda value: self._on_chat_target(profile, value, label),
            failure=self.host.view.show_error,
        )

    def _on_chat_target(self, profile: ProviderProfile, value: object, label: str = "") -> None:
        if isinstance(value, Failure):
            self.host.view.show_error(value.friendly.text())
            return
        assert isinstance(value, ChatTarget)
        traits = traits_of(profile)
        provider = traits.name if traits is not None else profile.display_name
        if value.route is ChatRoute.SAME_PROFILE:
            self.chat_with_model.emit(profile.id, value.model)
        elif value.route is ChatRoute.DEPLOY_ELSEWHERE:
            dialog = DeploymentDialog(provider, value, self.widget)
            dialog.chosen.connect(lambda name, p=profile.id: self.chat_with_model.emit(p, name))
            self.deploy_dialog = dialog
            dialog.open()
        elif value.route is ChatRoute.DEPLOY_IN_APP and on_this_computer(profile):
            # Nothing is billed: start it at once (a running one is found and reused).
            dialog = ServeDialog(provider, value, self.widget, local=True, label=label)
            self._open_serve_dialog(
                dialog, lambda: self._prepare(profile, value, dialog, label), begin=True
            )
        elif value.route is ChatRoute.DEPLOY_IN_APP:
            wanted = (profile.id, value.model)
            running = next(
                (s for s in self.running.entries.values() if (s.profile_id, s.model) == wanted),
                None,
            )
            if running is not None:  # already up: never start (and pay for) a second one
                self.chat_with_model.emit(profile.id, running.name)
                return
            dialog = ServeDialog(provider, value, self.widget)
            self._open_serve_dialog(
                dialog, lambda: self._prepare(profile, value, dialog, label), begin=False
            )
        else:
            self.host.view.show_error(
                value.instructions
                or f"{provider} does not serve this model; download it to run it yourself."
            )

    def _prepare(
        self, profile: ProviderProfile, target: ChatTarget, dialog: ServeDialog, label: str = ""
    ) -> None:
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory, ledger = self.host.backend_factory, self.running.ledger

        def job(context: JobContext) -> object:
            try:
                with factory(profile) as backend:
                    name = backend.prepare_chat(target, context.yield_, stop.is_set)
                    chat = backend.chat_profile(name)
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return Failure(exc.friendly)
            if chat.id != profile.id:  # served on this computer, at an address of its own
                return ServedChat(chat, name, label or target.model)
            if target.billing_warning:
                serving = Serving(profile.id, name, target.model, target.billing_warning)
                try:
                    ledger.add(serving)
                except OSError as exc:  # it runs all the same: the banner still shows it
                    log.warning("Could not note the running endpoint %s: %s", name, exc)
                return serving
            return name

        def done(value: object) -> None:
            if isinstance(value, ServedChat):
                self.running.served_here(profile.id, target.model, value)
                if stop.is_set():  # stopped too late: it is up, so take it down again
                    self.running.stop(profile.id, value.name)
                    dialog.show_failure(_STOPPED_HERE)
                    return
                dialog.running = False
                dialog.accept()
                self.host.say(f"{value.label} is running on this computer; the chat is open.")
                self.chat_with_served.emit(value)
                return
            if isinstance(value, Serving):
                self.running.add(value)
                self.host.quit_settled = False
                if stop.is_set():  # stopped too late: it is up, so take it down again
                    self.running.stop(*value.key)
                    dialog.show_failure(_STOPPED)
                    return
                name = value.name
            elif isinstance(value, str):
                name = value
            else:
                dialog.running = False
                if isinstance(value, Failure) and not stop.is_set():
                    dialog.show_failure(value.friendly)
                else:
                    dialog.show_failure(_STOPPED_HERE if dialog.local else _STOPPED)
                return
            dialog.running = False
            dialog.accept()
            self.host.say(f"{target.model} is ready; the chat is open.")
            self.chat_with_model.emit(profile.id, name)

        run_op(
            self,
            job,
            name="deploying the trained model",
            success=done,
            failure=self.host.view.show_error,
            yielded=lambda text: dialog.show_stage(str(text)),
        )

    def compare_with_base(self) -> None:
        """Serve the selected job's model and its base model on this computer, then compare
        them side by side in the Chat tab."""
        key = self.host.selected
        record = self.host.records.get(key) if key is not None else None
        profile = self.host.profile_of(key[0]) if key is not None else None
        if key is None or record is None or not on_this_computer(profile):
            return
        assert profile is not None
        summary = record.summary
        trained_label = job_title(summary)
        base_label = _base_label(summary.base_model)
        shown = ChatTarget(model=summary.fine_tuned_model or "", route=ChatRoute.DEPLOY_IN_APP)
        traits = traits_of(profile)
        provider = traits.name if traits is not None else profile.display_name
        dialog = ServeDialog(
            provider, shown, self.widget, local=True, label=f"{trained_label} and {base_label}"
        )
        dialog.setWindowTitle("Compare with the base model")
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        factory = self.host.backend_factory

        def job(context: JobContext) -> object:
            served: list[ServedChat] = []
            try:
                with factory(profile) as backend:
                    trained = backend.chat_target(summary)
                    base = backend.base_target(summary)  # type: ignore[attr-defined]
                    for target, label in ((base, base_label), (trained, trained_label)):
                        name = backend.prepare_chat(target, context.yield_, stop.is_set)
                        served.append(ServedChat(backend.chat_profile(name), name, label))
            except UploadCancelled:
                return served, None
            except ProviderError as exc:
                return served, Failure(exc.friendly)
            return served, None

        def done(value: object) -> None:
            served, failure = value  # type: ignore[misc]
            models = (summary.base_model, summary.fine_tuned_model or "")
            for item, model in zip(served, models, strict=False):
                self.running.served_here(profile.id, model, item)
            dialog.running = False
            if failure is not None or len(served) < 2 or stop.is_set():
                for item in served:  # half a comparison is no use: free the memory
                    self.running.stop(profile.id, item.name)
                if isinstance(failure, Failure) and not stop.is_set():
                    dialog.show_failure(failure.friendly)
                else:
                    dialog.show_failure(_STOPPED_HERE)
                return
            dialog.accept()
            self.host.say(f"{trained_label} and its base model are running on this computer.")
            self.compare_served.emit(served[0], served[1])

        def start() -> None:
            self._serve_op(dialog, job, "starting two models", done)

        self._open_serve_dialog(dialog, start, begin=True)

    def chat_with_download(
        self, profile: ProviderProfile, summary: JobSummary, path: Path, download: DownloadDialog
    ) -> None:
        """Serve an adapter downloaded from a provider on its base model on this computer
        (unpacked first), then open a chat with it."""
        if path.is_file() and path.name.endswith(TAR_ZST):
            missing = zstd_missing()
            if missing is not None:
                download.show_unpack_problem(missing)
                return
        label = f"{job_title(summary)} (on this computer)"
        target = ChatTarget(
            model=summary.fine_tuned_model or summary.id, route=ChatRoute.DEPLOY_IN_APP
        )
        dialog = ServeDialog(profile.display_name, target, self.widget, local=True, label=label)
        stop = threading.Event()
        dialog.stop_requested.connect(stop.set)
        root = self.host.serving_root
        chosen: list[str] = []  # the base model the user named in the dialog, if asked
        tried: list[str] = []  # the base model the last start used

        def job(context: JobContext) -> object:
            try:
                folder = _adapter_folder(path)
                if chosen:
                    base = chosen[0]
                else:
                    found = adapter_base(folder, summary.base_model)
                    if found.model is None:
                        return found
                    base = found.model
                tried[:] = [base]
                served = serve_adapter(
                    base,
                    folder,
                    progress=context.yield_,
                    should_cancel=stop.is_set,
                    serving_root=root,
                )
            except UploadCancelled:
                return None
            except ProviderError as exc:
                return Failure(exc.friendly)
            except (ValueError, OSError) as exc:
                return Failure(
                    FriendlyError(
                        kind=ErrorKind.UNKNOWN,
                        message=str(exc),
                        next_step="Download the adapter again, or choose the folder you unpacked "
                        "it into.",
                        retryable=False,
                    )
                )
            if chosen:
                try:
                    remember_base(folder, base)
                except OSError as exc:  # it runs all the same; the question comes back next time
                    log.warning("Could not remember the base model of %s: %s", folder, exc)
            return ServedChat(chat_profile_for(served.base_url, served.port), served.name, label)

        def done(value: object) -> None:
            dialog.running = False
            if isinstance(value, AdapterBase):
                dialog.ask_base(_base_question(value), value.likely or "")
            elif isinstance(value, ServedChat):
                self.running.served_here(profile.id, target.model, value)
                if stop.is_set():
                    self.running.stop(profile.id, value.name)
                    dialog.show_failure(_STOPPED_HERE)
                    return
                dialog.accept()
                self.chat_with_served.emit(value)
            elif isinstance(value, Failure) and not stop.is_set():
                if value.friendly.kind in _BASE_FAILURES and tried:
                    dialog.ask_base(_OTHER_BASE, "" if chosen else tried[0])
                dialog.show_failure(value.friendly)
            else:
                dialog.show_failure(_STOPPED_HERE)

        def start() -> None:
            base = dialog.chosen_base()
            chosen[:] = [base] if base else []
            self._serve_op(dialog, job, "starting the downloaded model", done)

        self._open_serve_dialog(dialog, start, begin=True)

    def _open_serve_dialog(
        self, dialog: ServeDialog, start: Callable[[], None], *, begin: bool
    ) -> None:
        """Show ``dialog``; ``start`` runs when it asks to start (at once with ``begin``)."""
        dialog.start_requested.connect(start)
        self.serve_dialog = dialog
        dialog.open()
        if begin:
            dialog.begin()

    def _serve_op(
        self,
        dialog: ServeDialog,
        job: Callable[[JobContext], object],
        name: str,
        done: Callable[[object], None],
    ) -> None:
        """Start serving on this computer as an op whose stages show in ``dialog``."""
        run_op(
            self,
            job,
            name=name,
            success=done,
            failure=self.host.view.show_error,
            yielded=lambda text: dialog.show_stage(str(text)),
        )

"""Builds the application objects and wires them together; the only place that knows them all."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import logging
import logging.handlers
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from desktop import APP_ID, APP_NAME, __version__
from desktop.api.redaction import install_redaction
from desktop.core.locations import data_dir

if TYPE_CHECKING:
    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import ProfileStore
    from desktop.core.archive import JobArchive
    from desktop.core.catalog import Catalog
    from desktop.core.conversations import ConversationStore
    from desktop.core.evaluation import EvalStore
    from desktop.core.settings import SettingsStore
    from desktop.ui.chat.chat_panel import ChatPanel
    from desktop.ui.jobs.jobs_panel import JobsPanel
    from desktop.ui.main_window import MainWindow

log = logging.getLogger("desktop")

#: Shown for any error nobody anticipated; the details go to the log file.
UNEXPECTED = (
    "Something unexpected went wrong. Your work is still open; the details were written to "
    "the log file {log}."
)


#: The commands that work without the window, for ``--help``.
COMMANDS_HELP = f"""\
commands that work without the window ('{APP_ID} COMMAND --help' tells more):
  check FILE        check a dataset: problems by line, tokens and cost
  train-local FILE  train a LoRA adapter on this computer
  selftest          check that this installation works offline"""


def parse_app_args(args: Sequence[str]) -> argparse.Namespace:
    """Arguments of ``finetune-studio`` when it opens the window."""
    parser = argparse.ArgumentParser(
        prog=APP_ID,
        description=f"{APP_NAME}: curate chat examples, estimate cost, fine-tune and chat.",
        epilog=COMMANDS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", nargs="?", type=Path, help="a dataset to open (JSONL, JSON, CSV)")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    return parser.parse_args(list(args))


def log_file() -> Path:
    """Where the app writes its log (tracebacks of unexpected errors end up here)."""
    return data_dir() / "logs" / f"{APP_ID}.log"


#: Owner-only, like every file the app writes: a traceback can quote what a provider sent.
PRIVATE_FILE_MODE = 0o600
LOG_BACKUPS = 3


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created owner-only; rotation renames it, so backups stay so."""

    def _open(self) -> io.TextIOWrapper:
        handle = os.open(
            self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE
        )
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(handle, PRIVATE_FILE_MODE)  # a log left 0644 by an older version
            return open(handle, self.mode, encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(handle)
            raise


def setup_logging() -> Path | None:
    """Log to a rotating file in the app's data folder; None when that folder is not writable."""
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    for number in range(1, LOG_BACKUPS + 1):  # backups an older version left readable
        with contextlib.suppress(OSError):
            path.with_name(f"{path.name}.{number}").chmod(PRIVATE_FILE_MODE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Keys must never reach the log, whatever a message or a traceback happens to contain.
    install_redaction(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


#: The crash file starts again when it is larger than this at start-up.
CRASH_LOG_MAX_BYTES = 1_000_000


def crash_file(log_path: Path) -> Path:
    """Where the stacks of every thread go if the process itself crashes (beside the log)."""
    return log_path.with_name(f"{APP_ID}-crash.log")


def record_crashes(log_path: Path | None) -> io.TextIOWrapper | None:
    """Have a crash of the process itself (in Qt or another library's native code, which no
    excepthook sees) leave the stacks of every thread in a file, so it can be understood.

    The stacks name files, lines and functions only, never values, so no key can be in them.
    Returns the open file, which must stay open while the app runs; None when it cannot be
    written.
    """
    if log_path is None:
        return None
    path = crash_file(log_path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    with contextlib.suppress(OSError):
        if path.stat().st_size > CRASH_LOG_MAX_BYTES:
            flags |= os.O_TRUNC  # a line per start: begin again rather than grow for ever
    try:
        handle = os.open(path, flags, PRIVATE_FILE_MODE)
    except OSError:
        return None
    stream = os.fdopen(handle, "a", encoding="utf-8")
    stream.write(f"--- {APP_NAME} {__version__} started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    stream.flush()
    faulthandler.enable(file=stream, all_threads=True)
    return stream


#: How long a worker may hold Python's interpreter lock before the UI thread gets it back.
SWITCH_INTERVAL_S = 0.002


def tune_interpreter() -> None:
    """Let the UI thread win the interpreter lock back quickly from busy workers.

    Reading and counting a large file keeps a worker thread busy in Python code; with the
    default 5 ms switch interval each of the many Python calls a repaint makes can wait that
    long, which adds up to visible stalls.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def make_excepthook(
    show: Callable[[str], None], log_path: Path | None
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """An excepthook that logs the traceback and shows the user one plain sentence."""

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        log.error("Unexpected error:\n%s", "".join(traceback.format_exception(kind, error, trace)))
        try:
            show(UNEXPECTED.format(log=log_path or "(no log file)"))
        except Exception:  # the hook must never raise
            log.exception("Could not show the error message")

    return hook


@dataclass
class Services:
    """The stores and connections the panels share: one of each for the whole app."""

    profiles: ProfileStore
    keys: KeyStore
    archive: JobArchive
    conversations: ConversationStore
    evaluations: EvalStore


def build_services(notify: Callable[[str], None]) -> Services:
    """Open the app's stores under the user's config and data folders.

    A damaged provider file is set aside (and the user told) rather than stopping the app.
    """
    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import PROFILES_FILE_NAME, ProfileError, ProfileStore
    from desktop.core.archive import JobArchive
    from desktop.core.conversations import ConversationStore
    from desktop.core.evaluation import EvalStore
    from desktop.core.locations import config_dir

    try:
        profiles = ProfileStore(config_dir())
    except ProfileError as exc:
        damaged = config_dir() / PROFILES_FILE_NAME
        kept = damaged.with_name(f"{damaged.name}.damaged-{int(time.time())}")
        damaged.replace(kept)
        notify(f"{exc} It was kept as {kept.name}; please add your providers again.")
        profiles = ProfileStore(config_dir())
    data = data_dir()
    return Services(
        profiles=profiles,
        keys=KeyStore(),
        archive=JobArchive(data / "jobs"),
        conversations=ConversationStore(data / "conversations"),
        evaluations=EvalStore(data / "evaluations"),
    )


def build_chat_panel(window: MainWindow, services: Services, catalog: Catalog) -> ChatPanel:
    """The Chat tab, adding examples to the open dataset as one undoable step each."""
    from desktop.ui.chat.chat_panel import ChatPanel

    document = window.document

    def add_example(value: dict[str, Any]) -> None:
        document.insert_values([(len(document.dataset), value)], "Add example from chat")
        window.show_panel("Dataset")

    panel = ChatPanel(
        profiles=services.profiles,
        keys=services.keys,
        catalog=catalog,
        conversations=services.conversations,
        evaluations=services.evaluations,
        archive=services.archive,
        dataset_records=lambda: list(document.dataset),
        add_example=add_example,
    )
    panel.evaluate.dataset_path = lambda: document.path
    panel.status_message.connect(lambda text: window.statusBar().showMessage(text, 8000))
    window.providers_changed.connect(panel.reload_profiles)
    return panel


def build_jobs_panel(
    window: MainWindow, services: Services, catalog: Catalog, chat: ChatPanel
) -> JobsPanel:
    """The Jobs tab: "Train" reads the open dataset; finished models open in the Chat tab."""
    from desktop.ui.jobs.jobs_panel import JobsPanel, QuitGuard
    from desktop.ui.jobs.result_actions import ServedChat, Serving
    from desktop.ui.jobs.train_wizard import TrainingData

    document = window.document

    def training_data() -> TrainingData | None:
        if len(document.dataset) == 0:
            return None
        return TrainingData(
            name=window.dataset_name(),
            examples=[record.value for record in document.dataset.examples()],
            analysis=document.analysis,
            still_checking=document.checking,
            epochs=document.analysis.epochs,
        )

    panel = JobsPanel(
        profiles=services.profiles,
        keys=services.keys,
        archive=services.archive,
        catalog=catalog,
        settings=window.settings,
        dataset_provider=training_data,
    )

    def train() -> None:
        window.show_panel("Jobs")
        panel.start_training(training_data)

    def chat_with(profile_id: str, model_id: str) -> None:
        window.show_panel("Chat")
        chat.open_model(profile_id, model_id)

    def chat_here(served: ServedChat) -> None:
        window.show_panel("Chat")
        chat.open_served(served)

    def compare_here(base: ServedChat, trained: ServedChat) -> None:
        window.show_panel("Chat")
        chat.compare_served(base, trained)

    def show_serving(entries: list[Serving]) -> None:
        names = {p.id: p.display_name for p in services.profiles.profiles}
        chat.show_serving(entries, names)

    window.train_requested.connect(train)
    window.providers_changed.connect(panel.reload_sources)
    panel.chat_with_model.connect(chat_with)  # with the job's own profile, not the active one
    panel.chat_with_served.connect(chat_here)  # a model served on this computer, by its label
    panel.compare_served.connect(compare_here)
    panel.serving_changed.connect(show_serving)  # what bills stays in sight while chatting
    chat.stop_serving_requested.connect(panel.stop_serving)
    window.installEventFilter(QuitGuard(panel, window))  # training and what bills, at quit
    panel.epochs_chosen.connect(window.estimator.choose_epochs)  # one epochs choice for both
    return panel


@dataclass
class AppWindow:
    """The main window and the panels wired into it."""

    window: MainWindow
    services: Services
    chat: ChatPanel
    jobs: JobsPanel
    notices: list[str]

    def shutdown(self) -> None:
        """Stop background work before the process exits."""
        self.chat.cancel_work()
        self.jobs.shutdown()


def build_app_window(settings_store: SettingsStore) -> AppWindow:
    """Create the stores, the main window and its panels, connected to one another."""
    from desktop.core.catalog import Catalog
    from desktop.core.journal import RecoveryJournal, default_journal_folder
    from desktop.ui.main_window import MainWindow
    from desktop.ui.settings.settings_dialog import SettingsDialog

    catalog = Catalog.load()
    notices: list[str] = []
    services = build_services(notices.append)
    window = MainWindow(
        settings=settings_store.load(),
        settings_store=settings_store,
        catalog=catalog,
        journal=RecoveryJournal(default_journal_folder()),
        settings_dialog=lambda parent: SettingsDialog(services.profiles, services.keys, parent),
    )
    chat = build_chat_panel(window, services, catalog)
    window.set_panel("Chat", chat)
    jobs = build_jobs_panel(window, services, catalog, chat)
    window.set_panel("Jobs", jobs)
    return AppWindow(window, services, chat, jobs, notices)


def missing_display(environ: Mapping[str, str], platform: str) -> str | None:
    """Why the window cannot show on this Linux session (no X11 or Wayland display), in
    words, or None. Qt itself would abort with a message meant for developers."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        f"{APP_NAME} needs a desktop session to show its window, and this session has none "
        "(neither DISPLAY nor WAYLAND_DISPLAY is set). Start it from your desktop, or check "
        f"a dataset without the window: {APP_ID} check FILE"
    )


def run_app(args: Sequence[str]) -> int:
    """Start the desktop app; returns the process exit code."""
    options = parse_app_args(args)
    no_display = missing_display(os.environ, sys.platform)
    if no_display is not None:
        print(no_display, file=sys.stderr)
        return 2
    log_path = setup_logging()
    crashes = record_crashes(log_path)
    tune_interpreter()
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.core.settings import SettingsStore, default_settings_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_ID)
    store = SettingsStore(default_settings_path())
    built = build_app_window(store)
    window = built.window
    app.aboutToQuit.connect(built.shutdown)
    built.jobs.resume_monitoring()
    sys.excepthook = make_excepthook(
        lambda text: QMessageBox.warning(window, APP_NAME, text), log_path
    )
    # Before the window shows: building a tokenizer holds the interpreter lock for up to half
    # a second, so built later it would freeze the window on screen.
    window.document.load_tokenizers()
    window.show()
    for notice in built.notices:
        window.show_error(notice)
    if store.set_aside is not None:
        window.show_info(
            "Settings reset",
            f"Your settings file was damaged, so the defaults are used. The old file was kept "
            f"as {store.set_aside.name}.",
        )
    window.start(options.file)
    try:
        return app.exec()
    finally:
        if crashes is not None:
            faulthandler.disable()
            crashes.close()

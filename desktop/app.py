"""Builds the application objects and wires them together; the only place that knows them all."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from desktop import APP_ID, APP_NAME, __version__
from desktop.api.redaction import install_redaction
from desktop.core.locations import data_dir

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from desktop.api.credentials import KeyStore
    from desktop.api.profiles import ProfileStore
    from desktop.ui.settings_dialog import SettingsDialog

log = logging.getLogger("desktop")

#: Shown for any error nobody anticipated; the details go to the log file.
UNEXPECTED = (
    "Something unexpected went wrong. Your work is still open; the details were written to "
    "the log file {log}."
)


def parse_app_args(args: Sequence[str]) -> argparse.Namespace:
    """Arguments of ``finetune-studio`` when it opens the window."""
    parser = argparse.ArgumentParser(
        prog=APP_ID,
        description=f"{APP_NAME}: curate chat examples, estimate cost, fine-tune and chat.",
        epilog="Run 'finetune-studio check FILE' to check a dataset without opening the window.",
    )
    parser.add_argument("file", nargs="?", type=Path, help="a dataset to open (JSONL, JSON, CSV)")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    return parser.parse_args(list(args))


def log_file() -> Path:
    """Where the app writes its log (tracebacks of unexpected errors end up here)."""
    return data_dir() / "logs" / f"{APP_ID}.log"


def setup_logging() -> Path | None:
    """Log to a rotating file in the app's data folder; None when that folder is not writable."""
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Keys must never reach the log, whatever a message or a traceback happens to contain.
    install_redaction(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


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


class SettingsDialogFactory:
    """Builds the providers and keys dialog on demand.

    The key store is created on first use (asking the system keyring can be slow) and then
    kept, so keys held only for this session survive closing and reopening the dialog.
    """

    def __init__(self) -> None:
        self._profiles: ProfileStore | None = None
        self._keys: KeyStore | None = None

    def __call__(self, parent: QWidget) -> SettingsDialog:
        from desktop.api.credentials import KeyStore
        from desktop.api.profiles import ProfileStore
        from desktop.core.locations import config_dir
        from desktop.ui.settings_dialog import SettingsDialog

        if self._profiles is None or self._keys is None:
            self._profiles = ProfileStore(config_dir())
            self._keys = KeyStore()
        return SettingsDialog(self._profiles, self._keys, parent)


def run_app(args: Sequence[str]) -> int:
    """Start the desktop app; returns the process exit code."""
    options = parse_app_args(args)
    log_path = setup_logging()
    tune_interpreter()
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.core.catalog import Catalog
    from desktop.core.journal import RecoveryJournal, default_journal_folder
    from desktop.core.settings import SettingsStore, default_settings_path
    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_ID)
    store = SettingsStore(default_settings_path())
    settings = store.load()
    window = MainWindow(
        settings=settings,
        settings_store=store,
        catalog=Catalog.load(),
        journal=RecoveryJournal(default_journal_folder()),
        settings_dialog=SettingsDialogFactory(),
    )
    sys.excepthook = make_excepthook(
        lambda text: QMessageBox.warning(window, APP_NAME, text), log_path
    )
    window.show()
    if store.set_aside is not None:
        window.show_info(
            "Settings reset",
            f"Your settings file was damaged, so the defaults are used. The old file was kept "
            f"as {store.set_aside.name}.",
        )
    restored = window.offer_recovery()
    if options.file is not None and not restored:
        window.open_path(options.file)
    return app.exec()

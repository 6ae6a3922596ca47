"""Builds the application objects and wires them together; the only place that knows them all."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop import APP_ID, APP_NAME, __version__


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


def run_app(args: Sequence[str]) -> int:
    """Start the desktop app; returns the process exit code."""
    options = parse_app_args(args)
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_ID)
    window = MainWindow()
    window.show()
    if options.file is not None:
        window.open_path(options.file)
    return app.exec()

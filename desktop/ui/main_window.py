"""The main window: the dataset editor in the centre, Jobs and Chat beside it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget, QWidget

from desktop import APP_NAME


class MainWindow(QMainWindow):
    """Top-level window; panels are added here and wired in ``desktop.app``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.resize(1200, 780)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for title in ("Dataset", "Jobs", "Chat"):
            placeholder = QLabel(f"{title} will appear here.", self.tabs)
            placeholder.setObjectName(f"placeholder_{title.lower()}")
            self.tabs.addTab(placeholder, title)
        self.setCentralWidget(self.tabs)
        self.current_path: Path | None = None

    def open_path(self, path: Path) -> None:
        """Remember the file to open; the editor panel reads it."""
        self.current_path = path
        self.setWindowTitle(f"{path.name} — {APP_NAME}")

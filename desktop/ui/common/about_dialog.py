"""The About dialog: what the app is, its version, and the licenses of what it ships with."""

from __future__ import annotations

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME, __version__
from desktop.core.about import Component, bundled_components
from desktop.core.resources import resources_dir


def app_icon() -> QIcon:
    """The app's icon, for windows, the dock and the taskbar."""
    icons = resources_dir() / "icons"
    icon = QIcon()
    for name in ("app-32.png", "app.png", "app-512.png"):
        icon.addFile(str(icons / name))
    return icon


class AboutDialog(QDialog):
    """Version, a sentence about the app, and a table of bundled components and licenses."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.resize(620, 520)
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(
            QPixmap(str(resources_dir() / "icons" / "app.png")).scaled(
                72,
                72,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        header.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(
            f"<h2>{APP_NAME}</h2><p>Version {__version__}</p>"
            "<p>Teach a chat model your own way of answering: curate example conversations, "
            "see what training costs, fine-tune, and talk to the model you made.</p>",
            self,
        )
        title.setWordWrap(True)
        header.addWidget(title, 1)
        layout.addLayout(header)

        layout.addWidget(QLabel("<b>Made with these components</b>", self))
        self.components = bundled_components()
        self.table = self._component_table(self.components)
        layout.addWidget(self.table, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _component_table(self, components: list[Component]) -> QTableWidget:
        table = QTableWidget(len(components), 3, self)
        table.setHorizontalHeaderLabels(["Component", "Version", "License"])
        table.verticalHeader().setVisible(False)
        table.setWordWrap(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for row, component in enumerate(components):
            name = QTableWidgetItem(component.name)
            if component.note:
                name.setToolTip(component.note)
            table.setItem(row, 0, name)
            version = qVersion() if component.name == "Qt" else component.version
            table.setItem(row, 1, QTableWidgetItem(version or ""))
            table.setItem(row, 2, QTableWidgetItem(component.license))
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        return table

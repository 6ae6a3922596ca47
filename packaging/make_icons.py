"""Render the app icon (resources/icons/app.svg) to the PNG, ICO and ICNS files installers need.

Run after changing the SVG: ``python packaging/make_icons.py``. Uses Qt only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The icon at ``size`` pixels, on a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> None:
    """Write app.png (256), app-512.png, app.ico and app.icns next to the SVG."""
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / "app.svg"))
    if not renderer.isValid():
        raise SystemExit("app.svg could not be read")
    outputs = {
        "app.png": render(renderer, 256),
        "app-512.png": render(renderer, 512),
        "app-32.png": render(renderer, 32),
        "app.ico": render(renderer, 256),
        "app.icns": render(renderer, 512),
    }
    for name, image in outputs.items():
        if not image.save(str(ICONS / name)):
            raise SystemExit(f"could not write {name}")
        print(f"wrote {ICONS / name}")
    del app


if __name__ == "__main__":
    main()

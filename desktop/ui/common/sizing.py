"""Windows that fit the screen and panels that scroll rather than squeeze their text."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

#: Pixels left around a window for the frame a window manager draws (title bar: three times).
FRAME_ALLOWANCE = 16


def fitted_geometry(wanted: QSize, room: QRect, minimum: QSize) -> QRect:
    """A window's place: ``wanted`` size, made smaller to fit ``room`` with its frame (never
    below ``minimum``), centred in ``room``."""
    frame = QSize(FRAME_ALLOWANCE, FRAME_ALLOWANCE * 3)
    size = wanted.boundedTo(room.size() - frame).expandedTo(minimum)
    place = QRect(QPoint(), size)
    place.moveCenter(room.center())
    return place


def fit_to_screen(window: QWidget, wanted: QSize, minimum: QSize) -> None:
    """Size ``window`` at ``wanted`` where its screen has room, else as large as it allows,
    and centre it there: on a laptop screen its bottom buttons must stay in view."""
    screen = window.screen()
    if screen is None:
        window.resize(wanted.expandedTo(minimum))
        return
    place = fitted_geometry(wanted, screen.availableGeometry(), minimum)
    window.resize(place.size())
    window.move(place.topLeft())


def scrolled(content: QWidget) -> QScrollArea:
    """``content`` in a frameless, vertical-only scroll area showing its parent's colour.

    Wrapped text needs more height than a short layout gives it; scrolled, it is never cut
    off. ``content`` keeps the width it needs at the least (no horizontal scroll bar)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(content)
    area.viewport().setAutoFillBackground(False)
    content.setAutoFillBackground(False)
    bar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(content.minimumSizeHint().width() + bar)
    return area

"""Small icons drawn in code, so they are crisp at any scale and need no image files."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

from desktop.core.findings import Severity
from desktop.ui.common import palette

#: Colours that read well on light and dark backgrounds.
SEVERITY_COLORS = {
    Severity.ERROR: palette.ERROR,
    Severity.WARNING: palette.WARNING,
    Severity.INFO: palette.ACCENT,
    None: palette.SUCCESS,
}

SEVERITY_LABELS = {
    Severity.ERROR: "Error",
    Severity.WARNING: "Warning",
    Severity.INFO: "Note",
    None: "OK",
}


def _draw(size: int, severity: Severity | None) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(SEVERITY_COLORS[severity])
    margin = size * 0.08
    box = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    if severity is Severity.WARNING:
        painter.drawPolygon(
            QPolygonF(
                [
                    QPointF(box.center().x(), box.top()),
                    QPointF(box.right(), box.bottom()),
                    QPointF(box.left(), box.bottom()),
                ]
            )
        )
    else:
        painter.drawEllipse(box)
    pen = QPen(QColor("white"), max(1.5, size * 0.12))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    cx = box.center().x()
    if severity is None:
        path = QPainterPath(QPointF(box.left() + box.width() * 0.27, box.center().y()))
        path.lineTo(QPointF(cx - box.width() * 0.05, box.bottom() - box.height() * 0.3))
        path.lineTo(QPointF(box.right() - box.width() * 0.25, box.top() + box.height() * 0.3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
    elif severity is Severity.INFO:
        painter.drawLine(QPointF(cx, box.center().y()), QPointF(cx, box.bottom() - size * 0.25))
        painter.drawPoint(QPointF(cx, box.top() + size * 0.27))
    else:
        top = box.top() + size * (0.35 if severity is Severity.WARNING else 0.25)
        painter.drawLine(QPointF(cx, top), QPointF(cx, box.bottom() - size * 0.34))
        painter.drawPoint(QPointF(cx, box.bottom() - size * 0.18))
    painter.end()
    return pixmap


@cache
def status_icon(severity: Severity | None) -> QIcon:
    """The status icon for a worst severity (None means the example is fine)."""
    icon = QIcon()
    for size in (16, 20, 24, 32, 48):
        icon.addPixmap(_draw(size, severity))
    return icon


def _tool_pixmap(size: int, name: str, color: QColor) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(color, max(1.4, size * 0.1))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    s = float(size)
    if name in ("up", "down"):
        top, bottom = (0.22 * s, 0.78 * s) if name == "up" else (0.78 * s, 0.22 * s)
        painter.drawLine(QPointF(s / 2, top), QPointF(s / 2, bottom))
        tip = 0.2 * s if name == "up" else -0.2 * s
        painter.drawLine(QPointF(s / 2, top), QPointF(s / 2 - 0.22 * s, top + tip))
        painter.drawLine(QPointF(s / 2, top), QPointF(s / 2 + 0.22 * s, top + tip))
    elif name == "duplicate":
        painter.drawRoundedRect(QRectF(0.18 * s, 0.18 * s, 0.46 * s, 0.46 * s), 2, 2)
        painter.drawRoundedRect(QRectF(0.36 * s, 0.36 * s, 0.46 * s, 0.46 * s), 2, 2)
    else:  # delete
        painter.drawLine(QPointF(0.26 * s, 0.26 * s), QPointF(0.74 * s, 0.74 * s))
        painter.drawLine(QPointF(0.74 * s, 0.26 * s), QPointF(0.26 * s, 0.74 * s))
    painter.end()
    return pixmap


@cache
def tool_icon(name: str) -> QIcon:
    """Small line icons for message buttons: 'up', 'down', 'duplicate' or 'delete'."""
    icon = QIcon()
    for size in (16, 20, 24, 32):
        icon.addPixmap(_tool_pixmap(size, name, QColor(palette.TEXT)))
        icon.addPixmap(_tool_pixmap(size, name, QColor(palette.DISABLED)), QIcon.Mode.Disabled)
    return icon

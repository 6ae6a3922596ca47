"""A widget slow to make (a chart) is made right after its place is first painted, or at once
when something asks for it."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.ui.common.deferred import DeferredWidget

pytestmark = pytest.mark.gui


def test_a_deferred_widget_is_made_after_its_first_paint_or_when_asked(qtbot):
    made: list[QLabel] = []

    def make() -> QLabel:
        made.append(QLabel("chart"))
        return made[-1]

    holder = QWidget()
    qtbot.addWidget(holder)
    place = DeferredWidget(make)
    QVBoxLayout(holder).addWidget(place)
    holder.resize(200, 120)
    holder.show()
    assert not place.is_made  # showing alone does not make it: the paint comes first
    qtbot.waitUntil(lambda: place.is_made, timeout=5000)
    assert len(made) == 1
    qtbot.waitUntil(made[0].isVisible, timeout=5000)
    assert made[0].height() > 0
    assert place.widget() is made[0]  # made once
    assert len(made) == 1

    hidden = DeferredWidget(make)
    qtbot.addWidget(hidden)
    assert hidden.widget() is made[1]  # asked for before it was ever shown: made at once
    assert hidden.is_made

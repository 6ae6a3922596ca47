"""A widget slow to make (a chart) is made right after its place is first painted, or at once
when something asks for it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.ui.common import deferred
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


@pytest.fixture
def chart_library(tmp_path, monkeypatch) -> Iterator[str]:
    """The name of a module, not imported yet, that notes whether the UI thread imported it."""
    name = f"chart_library_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(
        "import threading\nIMPORTED_ON_UI_THREAD = threading.current_thread() is "
        "threading.main_thread()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_the_library_of_a_deferred_widget_is_imported_on_a_worker_before_it_is_made(
    qtbot, chart_library
):
    # Imported on the UI thread, a chart library held the window for a third of a second.
    made_after_import: list[bool] = []

    def make() -> QLabel:
        made_after_import.append(chart_library in sys.modules)
        importlib.import_module(chart_library)  # what a chart's maker does
        return QLabel("chart")

    holder = QWidget()
    qtbot.addWidget(holder)
    place = DeferredWidget(make, library=chart_library)
    QVBoxLayout(holder).addWidget(place)
    holder.resize(200, 120)
    holder.show()
    qtbot.waitUntil(lambda: place.is_made, timeout=5000)
    assert made_after_import == [True]
    assert sys.modules[chart_library].IMPORTED_ON_UI_THREAD is False


def test_the_library_is_imported_in_the_background_before_the_place_is_ever_painted(
    qtbot, chart_library, monkeypatch
):
    # Imported at a file's first paint, even on a worker, it slowed that paint down: it is
    # imported while the window idles after showing, before a file is opened.
    monkeypatch.setattr(deferred, "PRELOAD_DELAY_MS", 10)
    holder = QWidget()
    qtbot.addWidget(holder)
    place = DeferredWidget(lambda: QLabel("chart"), library=chart_library)
    QVBoxLayout(holder).addWidget(place)
    holder.resize(200, 120)  # built, never shown: its place is not painted
    qtbot.waitUntil(lambda: chart_library in sys.modules, timeout=5000)
    assert sys.modules[chart_library].IMPORTED_ON_UI_THREAD is False
    qtbot.wait(50)
    assert not place.is_made  # made at the first paint, not before
    holder.show()
    qtbot.waitUntil(lambda: place.is_made, timeout=5000)

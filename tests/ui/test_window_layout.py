"""The window opens within the screen, and a saved layout never brings back an example list
too narrow to read."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from desktop.core.settings import AppSettings
from desktop.ui.common.elided_label import ElidedLabel
from desktop.ui.common.sizing import FRAME_ALLOWANCE, fitted_geometry
from desktop.ui.dataset.dataset_model import COL_REPLY, COL_USER
from desktop.ui.main_window import MainWindow
from tests.ui.conftest import wait_idle


def test_a_squashed_list_is_not_restored(qtbot, catalog, sample_copy):
    settings = AppSettings()
    settings.splitter_sizes = {"editor": [335, 755], "main": [1090, 350]}
    window = MainWindow(settings=settings, catalog=catalog)
    qtbot.addWidget(window)
    window.resize(1400, 850)
    window.show()
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    panel = window.editor_panel
    assert panel.splitter.sizes()[0] >= panel.comfortable_list_width()
    header = panel.table.horizontalHeader()
    assert header.sectionSize(COL_USER) >= 100 and header.sectionSize(COL_REPLY) >= 100
    window.document.cancel_work()
    window.close()


def test_the_list_cannot_be_dragged_narrower_than_its_columns(qtbot, catalog, sample_copy):
    window = MainWindow(settings=AppSettings(), catalog=catalog)
    qtbot.addWidget(window)
    window.resize(1400, 850)
    window.show()
    panel = window.editor_panel
    panel.splitter.setSizes([50, 2000])
    header = panel.table.horizontalHeader()
    assert header.sectionSize(COL_USER) >= 60 and header.sectionSize(COL_REPLY) >= 60
    assert header.textElideMode() == Qt.TextElideMode.ElideRight
    window.close()


def test_the_first_window_fits_a_laptop_screen_and_is_centred():
    minimum = QSize(960, 600)
    room = QRect(0, 0, 1366, 728)  # 1366x768 less a panel
    place = fitted_geometry(QSize(1440, 900), room, minimum)
    assert place.width() == 1366 - FRAME_ALLOWANCE
    assert place.height() == 728 - 3 * FRAME_ALLOWANCE
    assert place.center() == room.center()
    wide = QRect(100, 0, 2560, 1400)  # a second, larger screen to the right
    assert fitted_geometry(QSize(1440, 900), wide, minimum) == QRect(660, 250, 1440, 900)
    tiny = fitted_geometry(QSize(1440, 900), QRect(0, 0, 800, 500), minimum)
    assert tiny.size() == minimum  # the smallest the panels can be laid out in


def test_a_new_window_opens_within_the_screen(qtbot, catalog):
    window = MainWindow(settings=AppSettings(), catalog=catalog)
    qtbot.addWidget(window)
    room = window.screen().availableGeometry()
    expected = fitted_geometry(QSize(1440, 900), room, window.minimumSize())
    assert window.geometry() == expected
    window.close()


def test_the_cost_estimate_is_never_squeezed_or_cut_at_the_side(qtbot, catalog, sample_copy):
    window = MainWindow(settings=AppSettings(), catalog=catalog)
    qtbot.addWidget(window)
    window.resize(window.minimumSize())  # 960x600: a short, narrow column
    window.show()
    window.open_path(sample_copy)
    wait_idle(qtbot, window)
    window.main_splitter.setSizes([10_000, 1])  # the side column dragged narrow
    window.side_splitter.setSizes([10_000, 1])  # and the findings dragged large
    estimator, scroll = window.estimator, window.estimator_scroll
    status = estimator.model_status
    assert status.isVisible() and "shuts down" in status.text()  # a retiring model's warning
    assert status.height() >= status.heightForWidth(status.width())  # every line of it
    assert estimator.width() <= scroll.viewport().width()  # nothing cut off at the right
    layout = estimator.layout()
    for index in range(layout.count()):  # nor any row squeezed: the panel scrolls instead
        item = layout.itemAt(index)
        needed = item.minimumSize().height()
        if item.hasHeightForWidth():
            needed = max(needed, item.heightForWidth(item.geometry().width()))
        assert item.geometry().height() >= needed, index
    window.document.cancel_work()
    window.close()


def test_a_shortened_label_takes_its_whole_width_when_there_is_room(qtbot):
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.addWidget(QLabel("Model"))
    status = ElidedLabel("Add a provider in Settings first.")
    layout.addWidget(status)
    layout.addStretch(1)  # as beside a model picker: the stretch must not take its room
    qtbot.addWidget(row)
    row.resize(800, 40)
    row.show()
    qtbot.waitExposed(row)
    assert status.shown_text() == status.text() and status.toolTip() == ""
    row.resize(120, 40)
    assert status.shown_text().endswith("…") and status.toolTip() == status.text()

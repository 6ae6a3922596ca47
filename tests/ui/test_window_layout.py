"""A saved window layout never brings back an example list too narrow to read."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.core.settings import AppSettings
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

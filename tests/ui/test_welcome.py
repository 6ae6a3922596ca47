"""The first-run page explains the whole path: curate, train, chat."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from desktop.ui.dataset.welcome import WelcomePage


def test_welcome_explains_the_three_steps(qtbot):
    page = WelcomePage()
    qtbot.addWidget(page)
    steps = [label.text() for label in page.findChildren(QLabel, "welcome_step")]
    assert [s.split("</b>")[0] for s in steps] == ["<b>1  Curate", "<b>2  Train", "<b>3  Chat"]
    assert all(len(s) > 80 for s in steps)


def test_recent_files_hide_when_there_are_none(qtbot):
    page = WelcomePage()
    qtbot.addWidget(page)
    page.show()
    page.set_recent([])
    assert not page.recent.isVisible()
    page.set_recent(["/data/support.jsonl"])
    assert page.recent.count() == 1 and page.recent.isVisible()

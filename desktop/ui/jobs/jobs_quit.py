"""Quitting with work still under way: training on this computer may keep going or pause,
endpoints that bill may be stopped or kept, and models served here are stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QDeadlineTimer, QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.jobs import JobStatus, JobSummary
from desktop.ui.common.ops import Op
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.jobs_common import JobKey, JobsHost, on_this_computer
from desktop.ui.jobs.jobs_running import RunningModels
from desktop.ui.jobs.result_actions import Serving

#: How long quitting waits for endpoints to stop (milliseconds).
QUIT_STOP_WAIT_MS = 30_000


def ask_about_serving(parent: QWidget, entries: list[Serving]) -> str:
    """Ask what to do with what still bills as the app quits: "stop", "keep" or "cancel"."""
    names = ", ".join(s.model for s in entries)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Still costing money")
    box.setText(
        f"{names} {'is' if len(entries) == 1 else 'are'} still running at the provider "
        "and cost money until stopped, even with the app closed."
    )
    box.setInformativeText(entries[0].warning)
    stop = box.addButton("Stop and quit", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep running and quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.exec()
    clicked = box.clickedButton()
    return "stop" if clicked is stop else "keep" if clicked is keep else "cancel"


def ask_about_training(parent: QWidget, jobs: list[JobSummary]) -> str:
    """Ask what to do with training still running on this computer as the app quits:
    "keep", "pause" or "cancel"."""
    names = ", ".join(f"“{job_title(job)}”" for job in jobs)
    one = len(jobs) == 1
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Still training")
    box.setText(f"{names} {'is' if one else 'are'} still training on this computer.")
    box.setInformativeText(
        f"{'It' if one else 'They'} can keep training with the app closed (the app follows "
        f"{'it' if one else 'them'} again when you start it), or pause now and go on later "
        "from the last checkpoint."
    )
    keep = box.addButton("Keep training and quit", QMessageBox.ButtonRole.AcceptRole)
    pause = box.addButton("Pause and quit", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    return "keep" if clicked is keep else "pause" if clicked is pause else "cancel"


class QuitCheck:
    """Settles, once, what happens to the work under way before the app quits."""

    def __init__(
        self,
        host: JobsHost,
        running: RunningModels,
        pause: Callable[[JobKey], Op[object] | None],
    ) -> None:
        self.host = host
        self.running = running
        self.pause = pause

    def training_here(self) -> list[JobKey]:
        """The jobs training on this computer right now (not paused, not ended)."""
        host = self.host
        return [
            key
            for key, record in host.records.items()
            if on_this_computer(host.profile_of(key[0]))
            and not record.summary.status.is_terminal
            and record.summary.status is not JobStatus.PAUSED
        ]

    def before_quit(
        self,
        ask_training: Callable[[list[JobSummary]], str],
        ask_serving: Callable[[list[Serving]], str],
    ) -> bool:
        """Ask what to do with training running on this computer and with what still bills;
        stop the models served here. False: the user stays."""
        host, running = self.host, self.running
        if host.quit_settled:
            return True
        training = self.training_here()
        if training:
            answer = ask_training([host.records[k].summary for k in training])
            if answer == "cancel":
                return False
            if answer == "pause":
                ops = [op for op in (self.pause(key) for key in training) if op is not None]
                wait_for(lambda: not any(op.running for op in ops), QUIT_STOP_WAIT_MS)
        billing = [s for s in running.entries.values() if not s.local]
        if billing:
            answer = ask_serving(billing)
            if answer == "cancel":
                return False
            if answer == "stop":
                for serving in billing:
                    running.stop(*serving.key)
        host.quit_settled = True
        for serving in [s for s in running.entries.values() if s.local]:
            running.stop(*serving.key)  # it would end with the app; free it now
        wait_for(lambda: not running.stopping, QUIT_STOP_WAIT_MS)
        return True


def wait_for(done: Callable[[], bool], timeout_ms: int) -> None:
    """Let the event loop run (without user input) until ``done`` or the time is up."""
    deadline = QDeadlineTimer(timeout_ms)
    loop = QEventLoop()
    while not done() and not deadline.hasExpired():
        QTimer.singleShot(50, loop.quit)
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)


class Quitter(Protocol):
    """What ``QuitGuard`` asks before the window closes."""

    def before_quit(self) -> bool:
        """False when the user chose to stay."""
        ...


class QuitGuard(QObject):
    """Watches the main window's close: the Jobs panel first asks about training running on
    this computer and offers to stop what still bills (the user may stay instead)."""

    def __init__(self, panel: Quitter, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and not self.panel.before_quit():
            event.ignore()
            return True
        return False

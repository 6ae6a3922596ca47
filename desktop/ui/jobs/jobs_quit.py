"""Quitting with work still under way: training on this computer may keep going or pause,
endpoints that bill may be stopped or kept, and models served here are stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.jobs import JobStatus, JobSummary
from desktop.ui.common.ops import Op
from desktop.ui.jobs.job_models import job_title
from desktop.ui.jobs.jobs_common import JobKey, JobsHost, on_this_computer
from desktop.ui.jobs.jobs_running import RunningModels
from desktop.ui.jobs.result_actions import Serving

#: How long quitting waits for pauses and endpoints to end (milliseconds).
QUIT_STOP_WAIT_MS = 30_000
#: How often quitting looks whether they have ended (milliseconds).
WATCH_MS = 50


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


class QuitCheck(QObject):
    """Settles, once, what happens to the work under way before the app quits.

    Nothing waits inside the close: the pauses and stops it starts run on, ``ending`` is True
    meanwhile, and ``ended`` says they are over (or that ``QUIT_STOP_WAIT_MS`` passed), so the
    window can close then.
    """

    ended = Signal()

    def __init__(
        self,
        host: JobsHost,
        running: RunningModels,
        pause: Callable[[JobKey], Op[object] | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.host = host
        self.running = running
        self.pause = pause
        #: The pauses asked for at quit that have to end before the app closes.
        self._pausing: list[Op[object]] = []
        self._watch = QTimer(self, interval=WATCH_MS)
        self._watch.timeout.connect(self._check)
        self._deadline = QTimer(self, singleShot=True, interval=QUIT_STOP_WAIT_MS)
        self._deadline.timeout.connect(self._finish)

    @property
    def ending(self) -> bool:
        """True while the pauses and stops started for quitting still run (and may)."""
        return self._deadline.isActive()

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
        start stopping the models served here. False: the user stays. The pauses and stops
        run on afterwards (``ending``)."""
        host, running = self.host, self.running
        if host.quit_settled:
            return True
        pausing: list[Op[object]] = []
        training = self.training_here()
        if training:
            answer = ask_training([host.records[k].summary for k in training])
            if answer == "cancel":
                return False
            if answer == "pause":
                pausing = [op for op in (self.pause(key) for key in training) if op is not None]
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
        self._pausing = pausing
        if not self._work_ended():
            self._deadline.start()
            self._watch.start()
        return True

    def _work_ended(self) -> bool:
        return not any(op.running for op in self._pausing) and not self.running.stopping

    def _check(self) -> None:
        if self._work_ended():
            self._finish()

    def _finish(self) -> None:
        """The work ended or the time is up: the app may close."""
        self._watch.stop()
        self._deadline.stop()
        self._pausing = []
        self.ended.emit()


class Quitter(Protocol):
    """What ``QuitGuard`` asks before the window closes."""

    quit_check: QuitCheck

    def before_quit(self) -> bool:
        """False when the user chose to stay."""
        ...


class QuitGuard(QObject):
    """Watches the main window's close: the Jobs panel first asks about training running on
    this computer and offers to stop what still bills (the user may stay instead).

    While the pauses and stops it started still run, the close is refused and the window is
    disabled; it closes itself once they have ended.
    """

    def __init__(self, panel: Quitter, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel
        self._closing: QWidget | None = None
        panel.quit_check.ended.connect(self._close_again)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Close:
            return False
        if not self.panel.before_quit():
            event.ignore()
            return True
        if self.panel.quit_check.ending and isinstance(watched, QWidget):
            self._closing = watched
            watched.setEnabled(False)  # no new work while the app is on its way out
            event.ignore()
            return True
        return False

    def _close_again(self) -> None:
        window, self._closing = self._closing, None
        if window is not None:
            window.setEnabled(True)  # a close refused later (unsaved edits) leaves it usable
            window.close()

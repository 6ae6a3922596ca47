"""What the app started that runs while up: endpoints at a provider that bill by the minute
and models served on this computer that hold its memory. The ledger keeps the billing ones
across restarts; the banner offers to stop each."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from desktop.api.errors import ProviderError
from desktop.local_training.serving import stop_server
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.jobs_common import Failure, JobKey, JobsHost, on_this_computer
from desktop.ui.jobs.result_actions import (
    LOCAL_WARNING,
    ServedChat,
    Serving,
    ServingBanner,
    ServingLedger,
)

log = logging.getLogger(__name__)


class RunningModels(QObject):
    """Endpoints and local servers the app started, and the ones being stopped."""

    #: What runs and bills changed (a list of ``Serving``).
    changed = Signal(object)

    def __init__(self, host: JobsHost, banner: ServingBanner, parent: QObject) -> None:
        super().__init__(parent)
        self.host = host
        self.banner = banner
        self.ledger = ServingLedger(host.archive.root)
        self.entries: dict[JobKey, Serving] = {}
        self.stopping: dict[JobKey, Op[object]] = {}

    def served_here(self, profile_id: str, model: str, served: ServedChat) -> None:
        """Note a model now served on this computer (the banner offers to stop it)."""
        serving = Serving(profile_id, served.name, model, LOCAL_WARNING, True, served.label)
        self.entries[serving.key] = serving
        self.show()

    def add(self, serving: Serving) -> None:
        """Note an endpoint the app started at a provider (it bills while up)."""
        self.entries[serving.key] = serving
        self.show()

    def stop(self, profile_id: str, name: str) -> Op[object] | None:
        """Stop something the app started that bills (or holds this computer's memory)
        while up; returns the op doing it (None when it is already being stopped or
        cannot be)."""
        key = (profile_id, name)
        if key in self.stopping:
            return None
        serving = self.entries.get(key)
        label = serving.shown if serving is not None else name
        local = serving is not None and serving.local
        profile = self.host.profile_of(profile_id)
        if profile is None and not local:
            self.host.view.show_error(
                f"{label} cannot be stopped from here: its provider profile no longer exists. "
                "Stop it in the provider's dashboard, or add the profile again in Settings."
            )
            return None
        factory, ledger, root = self.host.backend_factory, self.ledger, self.host.serving_root

        def job(_context: JobContext) -> object:
            if local and not on_this_computer(profile):
                stop_server(name, root)  # an adapter downloaded from a provider, served here
                return None
            assert profile is not None
            try:
                with factory(profile) as backend:
                    backend.stop_serving(name)
            except ProviderError as exc:
                return Failure(exc.friendly)
            if local:
                return None
            try:
                ledger.remove(profile_id, name)
            except OSError as exc:
                log.warning("Could not note that %s stopped: %s", name, exc)
            return None

        def done(value: object) -> None:
            if isinstance(value, Failure):
                still = (
                    "It still holds this computer's memory until it stops."
                    if local
                    else "It still costs money until it stops."
                )
                self.host.view.show_error(
                    f"{label} could not be stopped: {value.friendly.message} "
                    f"{value.friendly.next_step} {still}"
                )
                return
            self.entries.pop(key, None)
            if local:
                self.host.say(f"Stopped {label}; the memory it held is free again.")
            else:
                self.host.say(f"Stopped {label}; it no longer costs anything.")

        op = run_op(
            self,
            job,
            name="stopping an endpoint",
            success=done,
            failure=self.host.view.show_error,
            done=lambda: self._stopped(key),
        )
        self.stopping[key] = op
        self.show()
        return op

    def _stopped(self, key: JobKey) -> None:
        self.stopping.pop(key, None)
        self.show()

    def show(self) -> None:
        """Show what runs (and what is being stopped) in the banner and tell the Chat tab."""
        entries = list(self.entries.values())
        names = {p.id: p.display_name for p in self.host.profiles.profiles}
        self.banner.set_serving(entries, names, list(self.stopping))
        self.changed.emit(entries)

    def load(self) -> None:
        """Read what the app started earlier and may still run (and bill) from the ledger."""
        ledger = self.ledger

        def job(_context: JobContext) -> object:
            return ledger.load()

        def done(value: object) -> None:
            assert isinstance(value, list)
            for serving in value:
                self.entries.setdefault(serving.key, serving)
            if value:
                self.show()
                many = len(value) != 1
                self.host.say(
                    f"{len(value)} endpoint{'s' if many else ''} started earlier may still be "
                    f"running and costing money; stop {'them' if many else 'it'} above if "
                    "you no longer need them."
                )

        run_op(
            self,
            job,
            name="reading the running endpoints",
            success=done,
            failure=self.host.view.show_error,
        )

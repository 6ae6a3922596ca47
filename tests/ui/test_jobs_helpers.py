"""Shared set-up for the Jobs tests: a fake provider, a profile whose key lives in an in-memory
keyring, an archive folder, and Jobs panels that poll fast and are shut down afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import shiboken6
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QWidget

from desktop.api.backends import TrainingBackend, key_backend_factory
from desktop.api.backends.nebius import NebiusBackend
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.backends.together import TogetherBackend
from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.jobs_service import PollPolicy, TransferOptions
from desktop.api.profiles import (
    OPENAI_CAPABILITIES,
    ProfileStore,
    ProviderKind,
    ProviderProfile,
    profile_from_template,
)
from desktop.core.analysis import DatasetAnalysis, analyze_records
from desktop.core.archive import JobArchive
from desktop.core.catalog import Catalog
from desktop.core.formats import read_dataset_bytes
from desktop.core.resources import resources_dir
from desktop.core.settings import AppSettings
from desktop.ui.jobs.jobs_panel import JobsPanel
from desktop.ui.jobs.train_wizard import PAGE_REVIEW, TrainingData, TrainWizard
from tests.api.keyrings import MemoryKeyring
from tests.fake_openai import FakeOpenAIServer, Timing
from tests.fake_together.server import FakeTogetherServer
from tests.fake_together.state import Timing as TogetherTiming

BASE = "gpt-4.1-mini-2025-04-14"
TODAY = date(2026, 11, 22)
PROFILE_ID = "openai-main"
#: The profile each kind of fake provider is reached through.
PROFILE_IDS = {"openai": PROFILE_ID, "nebius": "nebius-main", "together": "together-main"}
FAST = PollPolicy(
    running=0.02, waiting=0.02, paused=0.02, unknown=0.02, error_base=0.05, error_max=0.2
)
SAMPLE = resources_dir() / "samples" / "customer_support.jsonl"
#: Retries and looks for lost answers a few milliseconds apart instead of seconds.
QUICK = TransferOptions(retry_delay=0.01, lookup_waits=(0.01,) * 3, file_lookup_waits=(0.01,))


def training_data(catalog: Catalog, raw: bytes, name: str = "support.jsonl") -> TrainingData:
    """What the Dataset tab hands the wizard: the examples and the editor's checks."""
    dataset = read_dataset_bytes(raw, ".jsonl")
    analysis = DatasetAnalysis(catalog, BASE)
    analysis.merge(analyze_records(list(dataset), analysis.counter))
    return TrainingData(name, [r.value for r in dataset.examples()], analysis)


@dataclass
class JobsHarness:
    """Everything a Jobs test needs; ``panel()`` makes panels that are shut down at the end."""

    qtbot: object
    server: FakeOpenAIServer | FakeTogetherServer
    root: Path
    catalog: Catalog
    transfer: TransferOptions
    #: Files over this many bytes go up in parts of this size (None: the backend's own).
    upload_parts: int | None = None
    profiles: ProfileStore = field(init=False)
    keys: KeyStore = field(init=False)
    keyring: MemoryKeyring = field(init=False)
    settings: AppSettings = field(default_factory=AppSettings)
    panels: list[JobsPanel] = field(default_factory=list)
    #: Which provider the fake imitates: "openai", "nebius" or "together".
    flavor: str = "openai"

    def __post_init__(self) -> None:
        self.profiles = ProfileStore(self.root / "config")
        if self.flavor == "openai":
            profile = ProviderProfile(
                id=PROFILE_ID,
                display_name="OpenAI",
                kind=ProviderKind.OPENAI,
                base_url=self.server.base_url,
                capabilities=OPENAI_CAPABILITIES,
            )
        else:
            profile = profile_from_template(
                self.flavor, base_url=self.server.base_url, profile_id=self.profile_id
            )
        self.profiles.add(profile)
        self.keyring = MemoryKeyring()
        self.keys = KeyStore(self.keyring)
        self.keys.set(self.profile_id, self.server.api_key)

    @property
    def profile_id(self) -> str:
        """The id of the profile the fake provider is reached through."""
        return PROFILE_IDS[self.flavor]

    def now(self) -> datetime:
        """The fake provider's clock, so elapsed times read like the real thing."""
        return datetime.fromtimestamp(self.server.clock.now(), timezone.utc)

    def archive(self) -> JobArchive:
        """The archive in this test's data folder (a new object each time, as after a restart)."""
        return JobArchive(self.root / "archive")

    def backend(self, profile: ProviderProfile) -> TrainingBackend:
        """The profile's backend, with this harness's upload part size; its waits move the
        fake provider's clock instead of taking time."""
        key = self.keys.get(profile.id)
        if profile.kind is ProviderKind.TOGETHER:
            return TogetherBackend(profile, build_client(profile, key), sleep=self.server.advance)
        if profile.kind is ProviderKind.NEBIUS:
            return NebiusBackend(profile, build_client(profile, key), sleep=self.server.advance)
        if self.upload_parts is None:
            return key_backend_factory(self.keys)(profile)
        client = build_client(profile, self.keys.get(profile.id))
        parts = self.upload_parts
        return OpenAIProtocolBackend(profile, client, direct_limit=parts, part_size=parts)

    def panel(self, **changes: object) -> JobsPanel:
        """A Jobs panel on this harness's stores, polling every few milliseconds."""
        options: dict[str, object] = {
            "backend_factory": self.backend,
            "poll_policy": FAST,
            "transfer": self.transfer,
            "now": self.now,
            "today": lambda: TODAY,
        }
        options.update(changes)
        panel = JobsPanel(
            self.profiles, self.keys, self.archive(), self.catalog, self.settings, **options
        )
        panel.resize(1300, 850)
        panel.show()
        self.panels.append(panel)
        return panel

    def open_wizard(self, panel: JobsPanel, data: TrainingData | None = None) -> TrainWizard:
        """The wizard with models listed and the estimate worked out."""
        data = data or training_data(self.catalog, SAMPLE.read_bytes())
        wizard = panel.start_training(lambda: data)
        self.qtbot.waitUntil(  # type: ignore[attr-defined]
            lambda: (
                bool(wizard.choose_page.chooser.models) and wizard.choose_page.estimate is not None
            ),
            timeout=10_000,
        )
        return wizard

    def send(self, wizard: TrainWizard) -> None:
        """Review and press Start; wait until the job started or failed."""
        wizard.go_to(PAGE_REVIEW)
        assert wizard.pages.currentIndex() == PAGE_REVIEW, wizard.choose_page.problem_note.text()
        assert wizard.review_page.start_button.isEnabled()
        wizard.review_page.start_button.click()
        self.qtbot.waitUntil(  # type: ignore[attr-defined]
            lambda: (
                not wizard.sending and bool(wizard.send_page.started or wizard.send_page.failure)
            ),
            timeout=15_000,
        )

    def start_job(self, panel: JobsPanel, data: TrainingData | None = None) -> str:
        """Train through the wizard; returns the new job's id."""
        wizard = self.open_wizard(panel, data)
        wizard.choose_page.settings_form.suffix.setText("support-bot")
        self.send(wizard)
        assert wizard.send_page.started is not None, wizard.send_page.failure
        return wizard.send_page.started.summary.id


def destroy(widget: QWidget) -> None:
    """Close and delete a top-level widget now, on this (the UI) thread.

    Left to Python, a parentless widget kept alive only by its own signal connections is
    freed by the cyclic garbage collector, which may run on a pool thread and take the whole
    widget tree down there.
    """
    widget.close()
    shiboken6.delete(widget)


@contextmanager
def jobs_harness(
    qtbot: object,
    tmp_path: Path,
    *,
    timing: Timing | None = None,
    transfer: TransferOptions | None = None,
    upload_parts: int | None = None,
    flavor: str = "openai",
) -> Iterator[JobsHarness]:
    """A started fake provider (OpenAI, or the ``flavor`` "nebius" or "together") and a
    harness; everything is stopped and checked afterwards."""
    server: FakeOpenAIServer | FakeTogetherServer
    if flavor == "together":
        server = FakeTogetherServer(timing=TogetherTiming(pending=1, queued=1, per_step=1))
    else:
        server = FakeOpenAIServer(
            timing=timing or Timing(validating=1, queued=1, per_step=1), flavor=flavor
        )
    server.start()
    harness = JobsHarness(
        qtbot,
        server,
        tmp_path,
        Catalog.load(),
        transfer or QUICK,
        upload_parts,
        flavor=flavor,
    )
    try:
        yield harness
    finally:
        for panel in harness.panels:
            panel.shutdown()
        assert QThreadPool.globalInstance().waitForDone(10_000)
        server.stop()
        for panel in harness.panels:
            destroy(panel)
    assert server.internal_errors == []
    if isinstance(server, FakeTogetherServer):
        assert server.schema_problems == []
    else:
        invalid = [(r.method, r.path, r.schema_errors) for r in server.requests if r.schema_errors]
        assert invalid == []

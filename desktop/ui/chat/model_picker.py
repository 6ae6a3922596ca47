"""Choosing a model to talk to: any provider profile, its fine-tunes, checkpoints and base models.

Why a shared directory: chat, compare and evaluation each show pickers, and asking the provider
for its model list once per profile (on the thread pool) serves them all. The list is merged
with the local job archive, which remembers fine-tuned models and checkpoints the provider no
longer lists and knows when each was made (needed to tell "not ready yet" from "shut down").

A model trained on this computer answers only while the app serves it, at a local address of
its own: such a served model joins the directory with a profile that is never saved
(``add_served``) and leaves it when it stops. The "This computer" training profile itself has
no address to chat with, so it is not offered here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum

from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.errors import friendly_error
from desktop.api.model_list import list_models
from desktop.api.profiles import ProfileStore, ProviderKind, ProviderProfile
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.catalog import Availability, Catalog
from desktop.core.jobs import CheckpointSummary, JobStatus, JobSummary, model_display_name
from desktop.ui.common import palette
from desktop.ui.common.elided_label import ElidedLabel
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext

#: Provider models that cannot chat (speech, images, embeddings, moderation…).
_NOT_CHAT = re.compile(
    r"embedding|whisper|tts|dall-e|moderation|image|audio|realtime|transcribe|search|sora"
    r"|computer-use",
    re.IGNORECASE,
)
_ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1


class ModelGroup(str, Enum):
    """The sections of a model list, in the order they are shown."""

    FINE_TUNED = "Your fine-tuned models"
    CHECKPOINTS = "Checkpoints"
    SERVER = "Models on this server"
    BASE = "Base models"


_GROUP_ORDER = list(ModelGroup)

#: The longest reason shown beside the model list; a longer one is in its tooltip only.
STATUS_CHARS = 60


@dataclass(frozen=True)
class ModelEntry:
    """One model a user can pick, and what the screens need to know about it.

    ``created`` is when the model appeared (seconds since the epoch) when known; ``legacy``
    marks prompt/completion models (completions endpoint); ``note`` is a short warning such as
    "shut down 2026-10-23".
    """

    profile_id: str
    model_id: str
    label: str
    group: ModelGroup
    created: float | None = None
    legacy: bool = False
    note: str = ""
    base_model: str | None = None
    shutdown_date: date | None = None

    @property
    def is_fine_tuned(self) -> bool:
        """True for fine-tuned models and checkpoints."""
        return self.group in (ModelGroup.FINE_TUNED, ModelGroup.CHECKPOINTS)


def is_legacy_model(model_id: str, catalog: Catalog) -> bool:
    """True for prompt/completion models (babbage-002, davinci-002 and their fine-tunes)."""
    info = catalog.get(model_id)
    return info is not None and "completion" in info.methods and "supervised" not in info.methods


def _local_day(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone()


def _entry(
    profile: ProviderProfile,
    model_id: str,
    group: ModelGroup,
    created: float | None,
    catalog: Catalog,
    today: date,
) -> ModelEntry:
    info = catalog.get(model_id)
    fine_tuned = group in (ModelGroup.FINE_TUNED, ModelGroup.CHECKPOINTS)
    label = model_display_name(model_id, _local_day(created)) if fine_tuned else model_id
    note = ""
    shutdown = info.shutdown_date if info is not None else None
    if info is not None:
        status = info.status_on(today)
        if status.availability is Availability.SHUT_DOWN and shutdown is not None:
            note = f"shut down {shutdown.isoformat()}"
        elif status.availability is Availability.RETIRING_SOON and shutdown is not None:
            note = f"retiring {shutdown.isoformat()}"
    base = model_id.split(":")[1] if fine_tuned and model_id.count(":") >= 1 else None
    return ModelEntry(
        profile_id=profile.id,
        model_id=model_id,
        label=label,
        group=group,
        created=created,
        legacy=is_legacy_model(model_id, catalog),
        note=note,
        base_model=base or None,
        shutdown_date=shutdown,
    )


def build_entries(
    profile: ProviderProfile,
    listed: Iterable[tuple[str, float | None]] | None,
    jobs: Iterable[JobSummary],
    checkpoints: Iterable[CheckpointSummary],
    catalog: Catalog,
    today: date,
) -> list[ModelEntry]:
    """Every model of ``profile`` a user can pick, grouped, newest fine-tunes first and shut
    down models last.

    ``listed`` is the provider's (id, created) list, or None when it could not be read: then
    the profile's fine-tunable catalog models stand in for the base models.
    """
    created: dict[str, float | None] = {}
    for job in jobs:
        if job.fine_tuned_model and job.status is JobStatus.SUCCEEDED:
            moment = job.finished_at or job.created_at
            created[job.fine_tuned_model] = moment.timestamp() if moment else None
    checkpoint_times = {
        c.model: c.created_at.timestamp() if c.created_at else None for c in checkpoints
    }
    others: dict[str, float | None] = {}
    if listed is None:
        others = dict.fromkeys(profile.capabilities.catalog_models)
    else:
        for model_id, when in listed:
            if model_id.startswith("ft:") and model_id not in checkpoint_times:
                created[model_id] = created.get(model_id) or when
            elif not model_id.startswith("ft:") and not _NOT_CHAT.search(model_id):
                others[model_id] = when
    local = profile.kind is ProviderKind.LOCAL
    entries = [
        _entry(profile, m, ModelGroup.FINE_TUNED, t, catalog, today) for m, t in created.items()
    ]
    entries += [
        _entry(profile, m, ModelGroup.CHECKPOINTS, t, catalog, today)
        for m, t in checkpoint_times.items()
        if m not in created
    ]
    group = ModelGroup.SERVER if local else ModelGroup.BASE
    entries += [_entry(profile, m, group, t, catalog, today) for m, t in others.items()]
    fine_tunable = set(profile.capabilities.catalog_models)

    def order(entry: ModelEntry) -> tuple[int, bool, bool, int, float, str]:
        # Within a group, models that still answer come first (the first one is picked when
        # nothing was chosen), chat models before prompt/completion ones.
        rank = _GROUP_ORDER.index(entry.group)
        gone = entry.shutdown_date is not None and entry.shutdown_date <= today
        if entry.is_fine_tuned:
            return rank, gone, False, 0, -(entry.created or 0.0), entry.model_id
        trainable = 0 if entry.model_id in fine_tunable else 1
        return rank, gone, entry.legacy, trainable, 0.0, entry.model_id

    return sorted(entries, key=order)


@dataclass(frozen=True)
class _Listing:
    profile_id: str
    entries: list[ModelEntry]
    problem: str | None


class ModelDirectory(QObject):
    """The models of every provider profile, loaded on the thread pool and shared by pickers.

    ``changed(profile_id)`` fires when a profile's list was (re)loaded; ``profiles_changed``
    when the profiles themselves may have changed.
    """

    changed = Signal(str)
    profiles_changed = Signal()

    def __init__(
        self,
        profiles: ProfileStore,
        keys: KeyStore,
        catalog: Catalog,
        archive: JobArchive,
        *,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.profiles = profiles
        self.keys = keys
        self.catalog = catalog
        self.archive = archive
        self.clock = clock
        #: The model lists on their way, by profile id.
        self._listings: dict[str, Op[_Listing]] = {}
        self._entries: dict[str, list[ModelEntry]] = {}
        self._problems: dict[str, str] = {}
        self._loading: set[str] = set()
        #: Models served on this computer while the app runs: their profiles, never saved.
        self._served: dict[str, ProviderProfile] = {}

    def profile_list(self) -> tuple[ProviderProfile, ...]:
        """Every profile that can chat: the user's, in the order they were added, then the
        models served on this computer."""
        saved = tuple(p for p in self.profiles.profiles if _chats(p))
        return saved + tuple(self._served.values())

    def profile(self, profile_id: str) -> ProviderProfile | None:
        """The profile with this id, or None when it was removed (or cannot chat)."""
        if profile_id in self._served:
            return self._served[profile_id]
        if profile_id not in self.profiles:
            return None
        profile = self.profiles.get(profile_id)
        return profile if _chats(profile) else None

    def default_profile_id(self) -> str | None:
        """The active profile, else the first one that can chat."""
        active = self.profiles.active_id
        if active is not None and self.profile(active) is not None:
            return active
        listed = self.profile_list()
        return listed[0].id if listed else None

    def reload_profiles(self) -> None:
        """Re-read the profiles (after Settings changed them) and forget stale lists."""
        self.profiles.load()
        known = {p.id for p in self.profile_list()}
        for profile_id in list(self._entries):
            if profile_id not in known:
                del self._entries[profile_id]
        self.profiles_changed.emit()

    def add_served(
        self, profile: ProviderProfile, model_id: str, label: str, *, trained: bool = True
    ) -> ModelEntry:
        """Offer a model served on this computer (``profile`` is its local server, kept only
        while it runs); ``label`` names it instead of its long folder path."""
        entry = ModelEntry(
            profile_id=profile.id,
            model_id=model_id,
            label=label,
            group=ModelGroup.FINE_TUNED if trained else ModelGroup.BASE,
        )
        for old_id in [i for i in self._served if self._serves(i, model_id)]:
            del self._served[old_id]  # the same model, started again at another address
            self._entries.pop(old_id, None)
        self._served[profile.id] = profile
        self._entries[profile.id] = [entry]
        self._problems.pop(profile.id, None)
        self.profiles_changed.emit()
        return entry

    def _serves(self, profile_id: str, model_id: str) -> bool:
        return any(e.model_id == model_id for e in self._entries.get(profile_id, []))

    def keep_served(self, names: Collection[str]) -> None:
        """Forget the served models whose name is not in ``names``: they stopped."""
        stopped = [
            profile_id
            for profile_id in self._served
            if not any(self._serves(profile_id, name) for name in names)
        ]
        for profile_id in stopped:
            del self._served[profile_id]
            self._entries.pop(profile_id, None)
            self._problems.pop(profile_id, None)
        if stopped:
            self.profiles_changed.emit()

    def entries(self, profile_id: str) -> list[ModelEntry]:
        """The models of a profile known so far; the first call starts loading them."""
        if profile_id not in self._entries:
            self._start_loading(profile_id)
        return list(self._entries.get(profile_id, []))

    def loading(self, profile_id: str) -> bool:
        """True while the profile's list is being loaded."""
        return profile_id in self._loading

    def problem(self, profile_id: str) -> str | None:
        """Why the provider's list could not be read (one sentence), if it could not."""
        return self._problems.get(profile_id)

    def find(self, profile_id: str, model_id: str) -> ModelEntry | None:
        """The entry of one model, if it is in the profile's list."""
        return next((e for e in self._entries.get(profile_id, []) if e.model_id == model_id), None)

    def ensure(self, profile_id: str, model_id: str) -> ModelEntry:
        """The entry of ``model_id``, added to the list when it is not there yet."""
        found = self.find(profile_id, model_id)
        if found is not None:
            return found
        profile = self.profile(profile_id)
        if profile is None:
            raise KeyError(profile_id)
        if profile_id not in self._entries:
            self._start_loading(profile_id)
        jobs = self.archive.list_jobs(profile_id)
        made = {
            j.fine_tuned_model: (j.finished_at or j.created_at) for j in jobs if j.fine_tuned_model
        }
        moment = made.get(model_id)
        group = ModelGroup.BASE
        if model_id.startswith("ft:"):
            group = ModelGroup.CHECKPOINTS if ":ckpt-step-" in model_id else ModelGroup.FINE_TUNED
        elif profile.kind is ProviderKind.LOCAL:
            group = ModelGroup.SERVER
        entry = _entry(
            profile,
            model_id,
            group,
            moment.timestamp() if moment else None,
            self.catalog,
            self._today(),
        )
        self._entries.setdefault(profile_id, []).insert(0, entry)
        self.changed.emit(profile_id)
        return entry

    def counterpart(self, entry: ModelEntry) -> str | None:
        """The model to compare ``entry`` with: a fine-tune's base model, else another
        chat model of the same profile."""
        if entry.is_fine_tuned and entry.base_model:
            return entry.base_model
        return next(
            (
                e.model_id
                for e in self._entries.get(entry.profile_id, [])
                if e.group in (ModelGroup.BASE, ModelGroup.SERVER)
                and not e.legacy
                and e.model_id != entry.model_id
            ),
            None,
        )

    def _today(self) -> date:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).astimezone().date()

    def refresh(self, profile_id: str) -> None:
        """Load the profile's models again: provider list, archived jobs and checkpoints."""
        if self._start_loading(profile_id):
            self.changed.emit(profile_id)

    def _start_loading(self, profile_id: str) -> bool:
        """Start loading a profile's list on the pool; False when it is loading already (or
        is a served model, whose list is the one model it serves)."""
        profile = self.profile(profile_id)
        if profile is None or profile_id in self._loading or profile_id in self._served:
            return False
        self._loading.add(profile_id)
        keys, catalog, archive, today = self.keys, self.catalog, self.archive, self._today()

        def job(_context: JobContext) -> _Listing:
            return _load_listing(profile, keys, catalog, archive, today)

        def forget() -> None:
            if self._listings.get(profile_id) is op:
                del self._listings[profile_id]

        op = run_op(
            self,
            job,
            name="listing models",
            success=self._on_listing,
            failure=lambda message: self._on_failed(profile_id, message),
            done=forget,
        )
        self._listings[profile_id] = op
        return True

    def cancel_loading(self) -> None:
        """Drop the model lists on their way (the window is closing): none is delivered."""
        for op in list(self._listings.values()):
            op.cancel()

    def _on_listing(self, listing: object) -> None:
        if not isinstance(listing, _Listing):
            return
        self._loading.discard(listing.profile_id)
        known = {e.model_id for e in listing.entries}
        extra = [e for e in self._entries.get(listing.profile_id, []) if e.model_id not in known]
        self._entries[listing.profile_id] = extra + listing.entries
        if listing.problem:
            self._problems[listing.profile_id] = listing.problem
        else:
            self._problems.pop(listing.profile_id, None)
        self.changed.emit(listing.profile_id)

    def _on_failed(self, profile_id: str, message: str) -> None:
        self._loading.discard(profile_id)
        self._problems[profile_id] = message
        self.changed.emit(profile_id)


def _chats(profile: ProviderProfile) -> bool:
    """Whether the profile's own address answers chats: the "This computer" training profile
    has none (each trained model is served at an address of its own)."""
    return profile.kind is not ProviderKind.LOCAL_TRAINING


def _load_listing(
    profile: ProviderProfile,
    keys: KeyStore,
    catalog: Catalog,
    archive: JobArchive,
    today: date,
) -> _Listing:
    """Read the provider's list and the archive (on a pool thread)."""
    listed: list[tuple[str, float | None]] | None = None
    problem = None
    try:
        with build_client(profile, keys.get(profile.id)) as client:
            listed = [(m.id, float(m.created) if m.created else None) for m in list_models(client)]
    except Exception as exc:
        problem = friendly_error(exc).text()
    jobs = archive.list_jobs(profile.id)
    checkpoints: list[CheckpointSummary] = []
    for job in jobs:
        if job.status is not JobStatus.SUCCEEDED:
            continue
        try:
            saved = archive.load(profile.id, job.id).checkpoints
        except ArchiveError:
            continue
        for raw in saved:
            try:
                checkpoints.append(CheckpointSummary.from_dict(raw))
            except ValueError:
                continue
    entries = build_entries(profile, listed, jobs, checkpoints, catalog, today)
    return _Listing(profile.id, entries, problem)


class ModelPicker(QWidget):
    """A provider profile and one of its models, with a refresh button and a status line.

    ``stretch`` lets the model list take the whole width. ``changed`` fires when the chosen
    model changes (by the user or by ``select``).
    """

    changed = Signal()

    def __init__(
        self,
        directory: ModelDirectory,
        *,
        label: str = "Model",
        allow_legacy: bool = True,
        stretch: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.directory = directory
        self.allow_legacy = allow_legacy
        self._wanted: tuple[str, str] | None = None
        self._current: ModelEntry | None = None
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip("The provider profile to send requests to.")
        self.profile_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo = QComboBox()
        # About 30 characters shown, whatever the longest name: two pickers side by side must
        # fit a 1024-pixel window (the open list shows the names whole).
        self.model_combo.setMinimumContentsLength(24 if stretch else 30)
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self._model_items = QStandardItemModel(self)
        self.model_combo.setModel(self._model_items)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("↻")
        self.refresh_button.setToolTip("Ask the provider for its models again.")
        self.status = ElidedLabel()  # a long reason is shortened, its whole text a tooltip
        self.status.setStyleSheet(f"color: {palette.MUTED};")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if label:
            layout.addWidget(QLabel(label))
        layout.addWidget(self.profile_combo)
        layout.addWidget(self.model_combo, 2 if stretch else 0)
        layout.addWidget(self.refresh_button)
        layout.addWidget(self.status, 1)
        self.profile_combo.currentIndexChanged.connect(self._on_profile_chosen)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.refresh_button.clicked.connect(self._refresh)
        directory.changed.connect(self._on_directory_changed)
        directory.profiles_changed.connect(self._fill_profiles)
        self._fill_profiles()

    # Reading ----------------------------------------------------------------------------------

    def current(self) -> ModelEntry | None:
        """The chosen model, or None while there is none."""
        return self._current

    def profile_id(self) -> str | None:
        """The chosen profile's id."""
        value = self.profile_combo.currentData()
        return value if isinstance(value, str) else None

    # Choosing ---------------------------------------------------------------------------------

    def select(self, profile_id: str, model_id: str) -> ModelEntry:
        """Choose ``model_id`` of ``profile_id`` (added to the list when it is not listed)."""
        entry = self.directory.ensure(profile_id, model_id)
        self._wanted = (profile_id, model_id)
        index = self.profile_combo.findData(profile_id)
        if index >= 0 and index != self.profile_combo.currentIndex():
            self.profile_combo.setCurrentIndex(index)
        else:
            self._fill_models()
        return entry

    def _fill_profiles(self) -> None:
        chosen = self.profile_id() or self.directory.default_profile_id()
        with QSignalBlocker(self.profile_combo):
            self.profile_combo.clear()
            for profile in self.directory.profile_list():
                self.profile_combo.addItem(profile.display_name, profile.id)
            index = self.profile_combo.findData(chosen)
            self.profile_combo.setCurrentIndex(max(0, index))
        self.profile_combo.setVisible(self.profile_combo.count() > 1)
        self._fill_models()

    def _on_profile_chosen(self) -> None:
        self._fill_models()

    def _refresh(self) -> None:
        profile_id = self.profile_id()
        if profile_id is not None:
            self.directory.refresh(profile_id)

    def _on_directory_changed(self, profile_id: str) -> None:
        if profile_id == self.profile_id():
            self._fill_models()

    def _fill_models(self) -> None:
        profile_id = self.profile_id()
        entries = self.directory.entries(profile_id) if profile_id is not None else []
        if not self.allow_legacy:
            entries = [e for e in entries if not e.legacy]
        previous = self._wanted or (
            (self._current.profile_id, self._current.model_id) if self._current else None
        )
        with QSignalBlocker(self.model_combo):
            self._model_items.clear()
            group = None
            chosen_row = -1
            for entry in entries:
                if entry.group is not group:
                    group = entry.group
                    header = QStandardItem(group.value)
                    header.setFlags(Qt.ItemFlag.NoItemFlags)
                    font = header.font()
                    font.setBold(True)
                    header.setFont(font)
                    self._model_items.appendRow(header)
                text = f"{entry.label}  ({entry.note})" if entry.note else entry.label
                item = QStandardItem(("    " if group else "") + text)
                item.setData(entry, _ENTRY_ROLE)
                item.setToolTip(entry.model_id)
                self._model_items.appendRow(item)
                if previous == (entry.profile_id, entry.model_id):
                    chosen_row = self._model_items.rowCount() - 1
            if chosen_row < 0:
                chosen_row = next(
                    (
                        row
                        for row in range(self._model_items.rowCount())
                        if self._model_items.item(row).data(_ENTRY_ROLE) is not None
                    ),
                    -1,
                )
            self.model_combo.setCurrentIndex(chosen_row)
        self._update_status(profile_id)
        self._on_model_chosen()

    def _update_status(self, profile_id: str | None) -> None:
        if profile_id is None:
            self.status.setText("Add a provider in Settings first.")
            self.status.set_details("")
            return
        if self.directory.loading(profile_id):
            self.status.setText("Loading models…")
            self.status.set_details("")
            return
        problem = self.directory.problem(profile_id)
        first = problem.split(". ")[0].rstrip(".") if problem else ""
        if first and len(first) <= STATUS_CHARS:
            self.status.setText(f"⚠ {first}.")  # the reason, not only that there is one
        else:
            self.status.setText("⚠ Model list unavailable" if problem else "")
        self.status.set_details(
            f"{problem} Showing the models the app knows about." if problem else ""
        )

    def _on_model_chosen(self) -> None:
        row = self.model_combo.currentIndex()
        item = self._model_items.item(row) if row >= 0 else None
        entry = item.data(_ENTRY_ROLE) if item is not None else None
        entry = entry if isinstance(entry, ModelEntry) else None
        if entry is not None and (entry.profile_id, entry.model_id) == self._wanted:
            self._wanted = None
        if entry != self._current:
            self._current = entry
            self.changed.emit()

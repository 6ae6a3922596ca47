"""What the Jobs tab's parts share: a job's key, a failed request told plainly, whose jobs
are shown, and what the parts read from the panel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktop.api.backends import BackendFactory
from desktop.api.errors import ErrorKind, FriendlyError, friendly_error
from desktop.api.profiles import ProfileStore, ProviderKind, ProviderProfile
from desktop.core.archive import ArchiveError, JobArchive
from desktop.ui.jobs.job_view import JobRecord, JobView

#: A job as (provider profile id, job id).
JobKey = tuple[str, str]


def key_text(key: JobKey) -> str:
    """A job key as one string (for menus and signals): ``provider/job``."""
    return f"{key[0]}/{key[1]}"


def text_key(text: str) -> JobKey:
    """The job key ``key_text`` wrote."""
    provider, _, job = text.partition("/")
    return provider, job


def on_this_computer(profile: ProviderProfile | None) -> bool:
    """Whether the profile trains on this computer (its models are served here to chat)."""
    return profile is not None and profile.kind is ProviderKind.LOCAL_TRAINING


@dataclass(frozen=True)
class Failure:
    """A failed background request, told in one plain sentence."""

    friendly: FriendlyError


def failure(exc: Exception) -> Failure:
    """Provider failures as ``friendly_error`` tells them; the disk's own in its words."""
    if isinstance(exc, (ArchiveError, OSError)) and not isinstance(
        exc, (ConnectionError, TimeoutError)
    ):
        return Failure(
            FriendlyError(
                kind=ErrorKind.UNKNOWN,
                message=f"The job's files on this computer could not be read or saved: {exc}",
                next_step="Check that the disk is not full and the data folder is writable.",
                retryable=True,
            )
        )
    return Failure(friendly_error(exc))


@dataclass(frozen=True)
class Source:
    """Whose jobs the table shows: a provider profile (live) or only its archive."""

    provider_id: str
    label: str
    profile: ProviderProfile | None

    @property
    def live(self) -> bool:
        """True when the provider is asked (a profile that can train exists)."""
        return self.profile is not None


class JobsHost(Protocol):
    """What the Jobs tab's parts read from the panel that holds them."""

    archive: JobArchive
    profiles: ProfileStore
    backend_factory: BackendFactory
    serving_root: Path | None
    records: dict[JobKey, JobRecord]
    view: JobView
    #: The job on screen, or None.
    selected: JobKey | None
    #: False while something started since the last quit question may need asking about.
    quit_settled: bool

    def profile_of(self, provider_id: str) -> ProviderProfile | None:
        """The profile that can train for this provider id, or None (archive only)."""
        ...

    def say(self, text: str) -> None:
        """Show one line in the panel's status line."""
        ...

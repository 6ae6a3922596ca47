"""Downloading a base model from the Hugging Face Hub: checked, shown, stoppable, resumable.

The files go to the Hub's own cache (shared with every other program that uses it), one at a
time, so progress counts bytes of the whole model and a stop takes effect within a chunk. A
download cut short keeps its partial file, which the next download continues from. Before
anything is fetched the sizes are listed and the free disk space checked; a gated model (its
makers ask for a licence to be accepted first) is explained in plain words.

``huggingface_hub`` is part of the optional extra and is imported inside the functions; the
``HF_ENDPOINT`` setting (or ``endpoint``) points it at another server, which the tests use.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.core.jsonl_io import atomic_write
from desktop.core.locations import cache_dir as app_cache_dir
from desktop.local_training.models import is_listed, looks_like_hub_id, model_folder_problem

#: Told (bytes done, bytes in all) as the download goes.
Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]

#: What training and chatting need of a model repository (not its other formats).
WANTED_FILES = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]
#: Weights in PyTorch's older format, used only when a repository has no safetensors.
OLDER_WEIGHTS = ["pytorch_model*.bin"]
#: Free space kept aside beyond the download (the system and the app need some too).
SPARE_BYTES = 200 * 1024 * 1024
#: What a provider adds to the Hugging Face name of a base model it keeps as published:
#: Together AI trains ``meta-llama/Meta-Llama-3.1-8B-Instruct`` as
#: ``meta-llama/Meta-Llama-3.1-8B-Instruct-Reference``.
PROVIDER_SUFFIXES = ("-Reference",)


class HubError(Exception):
    """The download cannot go on: ``message`` says why, ``next_step`` what to do."""

    def __init__(self, message: str, next_step: str) -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step

    def text(self) -> str:
        """Both sentences, for a message or a progress line."""
        return f"{self.message} {self.next_step}"


class DownloadCancelled(Exception):
    """The user stopped the download; what arrived is kept for the next try."""


@dataclass(frozen=True)
class DownloadPlan:
    """What downloading a model means: its files, and how much is still to come."""

    repo_id: str
    revision: str
    files: tuple[str, ...]
    total_bytes: int
    missing_bytes: int
    cache_dir: Path


def size_words(size: int) -> str:
    """``270 MB``, ``3.1 GB``."""
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GB"
    return f"{max(1, round(size / 1024**2))} MB"


def _cache(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _explain(exc: Exception, repo_id: str) -> HubError | None:
    """The plain sentences for what the Hub library raised, or None for anything else."""
    from huggingface_hub import errors

    page = f"https://huggingface.co/{repo_id}"
    if isinstance(exc, errors.GatedRepoError):
        return HubError(
            f"The makers of {repo_id} ask everyone to accept their licence before downloading it.",
            f"Sign in at huggingface.co, open {page} and accept the licence; then create an "
            "access token there and run “hf auth login” on this computer, and try again. Or "
            "choose a model that needs no licence, or a model folder you already have.",
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubError(
            f"There is no model called {repo_id} on the Hugging Face Hub (or it is private).",
            "Check the name (it looks like owner/model), or choose a model folder on disk.",
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(
            f"The Hub has no such version of {repo_id}.",
            "Download its main version, or choose a model folder on disk.",
        )
    if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        return HubError(
            f"The Hugging Face Hub could not be reached to download {repo_id}.",
            "Check the internet connection and try again; what was already downloaded is kept.",
        )
    if isinstance(exc, errors.HfHubHTTPError):
        return HubError(
            f"The Hugging Face Hub refused to send {repo_id} ({exc.__class__.__name__}).",
            "Try again in a moment; what was already downloaded is kept.",
        )
    return None


def _connection_error(exc: Exception) -> bool:
    name = type(exc).__name__
    return isinstance(exc, (ConnectionError, TimeoutError)) or name.endswith(
        ("ConnectError", "TimeoutException", "NetworkError", "RemoteProtocolError")
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from (a dry run wraps the Hub's own error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _friendly(exc: Exception, repo_id: str) -> HubError:
    for cause in _causes(exc):
        if isinstance(cause, Exception) and (explained := _explain(cause, repo_id)) is not None:
            return explained
    if any(isinstance(c, Exception) and _connection_error(c) for c in _causes(exc)):
        return HubError(
            f"The Hugging Face Hub could not be reached to download {repo_id}.",
            "Check the internet connection and try again; what was already downloaded is kept.",
        )
    if isinstance(exc, OSError):
        return HubError(
            f"{repo_id} could not be saved on this computer ({exc.strerror or exc}).",
            "Check that the disk has room and can be written to, then try again.",
        )
    return HubError(
        f"{repo_id} could not be downloaded ({exc.__class__.__name__}: {exc}).",
        "Try again; if it keeps failing, choose a model folder on disk.",
    )


def plan_download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
) -> DownloadPlan:
    """List the files a model needs and what is not downloaded yet (``HubError`` when the
    Hub refuses or cannot be reached)."""
    from huggingface_hub import snapshot_download

    cache = _cache(cache_dir)
    try:
        infos = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache,
            endpoint=endpoint,
            allow_patterns=[*WANTED_FILES, *OLDER_WEIGHTS],
            dry_run=True,
            tqdm_class=_quiet,  # type: ignore[arg-type]
        )
    except Exception as exc:
        raise _friendly(exc, repo_id) from exc
    names = {info.filename for info in infos}
    has_safetensors = any(name.endswith(".safetensors") for name in names)
    chosen = [
        info
        for info in infos
        if not (has_safetensors and info.filename.startswith("pytorch_model"))
    ]
    if not any(i.filename.endswith((".safetensors", ".bin")) for i in chosen):
        raise HubError(
            f"{repo_id} on the Hub has no model weights this app can use.",
            "Choose another model, or a model folder on disk.",
        )
    commit = chosen[0].commit_hash
    return DownloadPlan(
        repo_id=repo_id,
        revision=commit,
        files=tuple(sorted(i.filename for i in chosen)),
        total_bytes=sum(i.file_size or 0 for i in chosen),
        missing_bytes=sum(i.file_size or 0 for i in chosen if i.will_download),
        cache_dir=cache,
    )


def check_space(plan: DownloadPlan) -> None:
    """``HubError`` when the disk holding the cache has too little room for what is missing."""
    folder = plan.cache_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if plan.missing_bytes + SPARE_BYTES > free:
        raise HubError(
            f"Downloading {plan.repo_id} needs {size_words(plan.missing_bytes)}, but only "
            f"{size_words(free)} are free on the disk that holds {plan.cache_dir}.",
            "Free some space (or set HF_HOME to a folder on a larger disk), or choose a smaller "
            "model.",
        )


def _records_path() -> Path:
    return app_cache_dir() / "hub-downloads.json"


def _record_key(repo_id: str, cache: Path) -> str:
    return f"{cache.resolve()}|{repo_id}"


def _records() -> dict[str, Any]:
    try:
        value = json.loads(_records_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _note_download(plan: DownloadPlan, *, complete: bool) -> None:
    """Remember which files make the model whole, and whether they all arrived: the Hub's
    cache alone cannot tell a model cut short from a whole one."""
    records = _records()
    records[_record_key(plan.repo_id, plan.cache_dir)] = {
        "revision": plan.revision,
        "files": list(plan.files),
        "complete": complete,
    }
    path = _records_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(records, indent=2).encode("utf-8"))


def _shards_present(folder: Path) -> bool:
    """True unless the weights are split in parts and some part is missing."""
    for index in folder.glob("*.index.json"):
        try:
            parts = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        if not all((folder / part).is_file() for part in parts):
            return False
    return True


class _Bar:
    """Stands in for the Hub library's progress bar: counts bytes, reports them, and stops
    the download (by raising) when asked to."""

    def __init__(self, report: Callable[[int], None], **kwargs: Any) -> None:
        self._report = report
        self.n = int(kwargs.get("initial") or 0)
        self.total = kwargs.get("total")
        self.desc = kwargs.get("desc")
        if self.n:
            report(self.n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def update(self, n: float | None = 1) -> None:
        step = int(n or 0)
        self.n += step
        self._report(step)

    def update_progress(self, n: float | None = 1) -> None:
        self.update(n)

    def refresh(self) -> None:
        return None

    def close(self) -> None:
        return None

    def reset(self, total: int | None = None) -> None:
        self._report(-self.n)
        self.n = 0
        self.total = total

    def set_description(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def set_postfix_str(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def set_description_str(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _quiet(*_args: Any, **kwargs: Any) -> _Bar:
    """A progress bar that shows nothing (the library's own would print to the terminal)."""
    return _Bar(lambda _step: None, **kwargs)


def download_model(
    repo_id: str,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    revision: str | None = None,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download a model (what is not there yet) and return its folder.

    Raises ``HubError`` (plain sentences) or ``DownloadCancelled``; either way the files and
    the partial file already received stay for the next call to continue from.
    """
    from huggingface_hub import hf_hub_download, snapshot_download

    cancelled = should_cancel or (lambda: False)
    plan = plan_download(repo_id, revision=revision, cache_dir=cache_dir, endpoint=endpoint)
    check_space(plan)
    _note_download(plan, complete=False)
    done = plan.total_bytes - plan.missing_bytes

    def report(step: int) -> None:
        nonlocal done
        done += step
        if progress is not None:
            progress(max(0, min(done, plan.total_bytes)), plan.total_bytes)
        if cancelled():
            raise DownloadCancelled

    if progress is not None:
        progress(done, plan.total_bytes)
    try:
        for name in plan.files:
            if cancelled():
                raise DownloadCancelled
            hf_hub_download(
                repo_id,
                name,
                revision=plan.revision,
                cache_dir=plan.cache_dir,
                endpoint=endpoint,
                tqdm_class=lambda *_a, **kw: _Bar(report, **kw),  # type: ignore[arg-type]
            )
        folder = snapshot_download(
            repo_id,
            revision=plan.revision,
            cache_dir=plan.cache_dir,
            allow_patterns=list(plan.files),
            local_files_only=True,
            tqdm_class=_quiet,  # type: ignore[arg-type]
        )
    except DownloadCancelled:
        raise
    except HubError:
        raise
    except Exception as exc:
        raise _friendly(exc, repo_id) from exc
    _note_download(plan, complete=True)
    if progress is not None:
        progress(plan.total_bytes, plan.total_bytes)
    return Path(folder)


def cached_model(
    repo_id: str, *, cache_dir: Path | None = None, revision: str | None = None
) -> Path | None:
    """The folder of a model already downloaded whole, without asking the Hub; else None.

    A download this app began and did not finish does not count; a model downloaded by
    other programs counts when it holds everything training needs.
    """
    from huggingface_hub import snapshot_download

    cache = _cache(cache_dir)
    try:
        folder = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=cache,
                allow_patterns=[*WANTED_FILES, *OLDER_WEIGHTS],
                local_files_only=True,
                tqdm_class=_quiet,  # type: ignore[arg-type]
            )
        )
    except Exception:
        return None
    record = _records().get(_record_key(repo_id, cache))
    if isinstance(record, dict) and record.get("revision") == folder.name:
        files = record.get("files") or []
        whole = record.get("complete") is True and all((folder / f).exists() for f in files)
        return folder if whole else None
    if model_folder_problem(folder) is not None or not _shards_present(folder):
        return None
    return folder


def likely_hub_name(name: str) -> str | None:
    """The Hugging Face name a provider's own name for a base model most likely stands for
    (its suffix taken off, not checked); None when the name has no provider's suffix."""
    for suffix in PROVIDER_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) and looks_like_hub_id(name):
            return name[: -len(suffix)]
    return None


def _downloaded(repo_id: str, cache_dir: Path | None) -> bool:
    try:
        return cached_model(repo_id, cache_dir=cache_dir) is not None
    except ImportError:  # without the Hub library nothing was downloaded through it
        return False


def known_base(name: str, *, cache_dir: Path | None = None) -> str | None:
    """The base model to use for what an adapter or a provider calls ``name``: a folder on
    this computer, a Hugging Face name, or the Hugging Face name behind a provider's own name
    where that is certain (the app offers that model, or it was downloaded here whole).

    None when this computer cannot tell, so the user must say which model it is: a
    provider's name is never downloaded from the Hub under a guessed name.
    """
    if Path(name).is_dir():
        return name
    if not looks_like_hub_id(name):
        return None
    likely = likely_hub_name(name)
    if likely is None:
        return name
    if is_listed(likely) or _downloaded(likely, cache_dir):
        return likely
    return None

"""Every fine-tuning job's history on the user's own disk.

Why: OpenAI's fine-tuned models stop answering when their base model retires and their weights
cannot be downloaded, so the only way to get the model back is to train again, elsewhere. For
that the user needs the exact files that were uploaded, the settings, the events and the
curves. Layout under the folder the caller passes (the app's data folder)::

    jobs/<provider>/<job>/job.json           the latest job record
                          events.jsonl       every event once, oldest first
                          metrics.csv        the curves as one table
                          checkpoints.json   every checkpoint ever seen
                          results/<file>.csv the provider's results files
                          dataset/training.jsonl, dataset/validation.jsonl  (exact bytes)
                          manifest.json      what is where, with SHA-256 sums
    uploads/records/<provider>/<file>.json   which content each uploaded file id holds
    uploads/blobs/<sha256>.jsonl             each uploaded content once

Every file is replaced atomically; events are appended and fsynced, and a line cut off by a
crash is ignored on reading and trimmed before the next append, so the archive never breaks.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

import orjson

from desktop import __version__
from desktop.core.jobs import JobSummary
from desktop.core.jsonl_io import atomic_write
from desktop.core.metrics import (
    MetricsAccumulator,
    MetricSeries,
    MetricsFormatError,
    decode_results,
    to_csv,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ROLES: tuple[str, ...] = ("training", "validation")
_CHUNK = 1 << 20
_PRIVATE_FILE_MODE = 0o600
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS

README_TEXT = """\
Fine-tuning job {job_id} ({provider})
{rule}

This folder is a complete record of one fine-tuning job, saved by Fine-Tune Studio {version}.
Keep it: a model fine-tuned at OpenAI stops working when its base model is retired, and the
model itself cannot be downloaded. With these files you can train the same model again, with
OpenAI or with another provider.

What each file holds:

  dataset/training.jsonl    The training examples exactly as they were uploaded, one
                            conversation per line. Upload this file to train again.
  dataset/validation.jsonl  The validation examples, if the job had any.
  job.json                  The job as the provider last described it: base model, settings
                            (epochs, batch size, learning-rate multiplier), status, the name
                            of the fine-tuned model, and any error.
  events.jsonl              Everything the provider reported while training, oldest first,
                            one event per line.
  metrics.csv               The training and validation loss and accuracy at each step, as a
                            table that opens in any spreadsheet program.
  checkpoints.json          The in-between models saved during training.
  results/                  The provider's own results tables, if it sent any.
  manifest.json             A list of the files above with SHA-256 checksums, so you can check
                            that nothing changed.

To train again: upload dataset/training.jsonl (and dataset/validation.jsonl) and use the same
base model and settings from job.json.
"""


class ArchiveError(Exception):
    """A job missing from the archive or a file that cannot be read; one plain sentence."""


def _component(value: str) -> str:
    """A provider, job or file id as one safe folder or file name (reversible)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"Not a usable id: {value!r}.")
    name = quote(value, safe="-_.")
    return "%2E" + name[1:] if name.startswith(".") else name


def _dumps(value: object) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS, default=str) + b"\n"


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("Unreadable archive file %s: %s", path, exc)
        return None


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` unless it already holds ``data`` (saves disk churn)."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return True


def _iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """The readable events of an events file; damaged or cut-off lines are skipped."""
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def _event_key(event: Mapping[str, Any]) -> str:
    """The event id, or a digest of the content for providers that send none."""
    event_id = event.get("id")
    if isinstance(event_id, str) and event_id:
        return event_id
    digest = hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str))
    return "sha256:" + digest.hexdigest()


def _created(event: Mapping[str, Any]) -> float:
    value = event.get("created_at")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def _trim_partial_tail(stream: BinaryIO) -> None:
    """Cut a last line left unfinished by a crash, so the next append starts on a new line."""
    size = stream.seek(0, os.SEEK_END)
    position = size
    while position > 0:
        start = max(0, position - 65536)
        stream.seek(start)
        chunk = stream.read(position - start)
        newline = chunk.rfind(b"\n")
        if newline != -1:
            end = start + newline + 1
            break
        position = start
    else:
        end = 0
    if end != size:
        stream.truncate(end)
    stream.seek(end)


def _open_for_append(path: Path) -> BinaryIO:
    """Open ``path`` to read and append, readable by its owner only like every archive file.

    Events can quote what the provider echoed back, so the file gets the same 0600 as the
    files written atomically; one left 0644 by an older version is tightened on the way.
    """
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, _PRIVATE_FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(handle, _PRIVATE_FILE_MODE)
        return os.fdopen(handle, "ab+")
    except BaseException:
        os.close(handle)
        raise


def _fsync_write(target: Path, source: BinaryIO) -> str:
    """Copy a stream to a temp file beside ``target``, fsync, rename; return its SHA-256.

    The streaming twin of ``atomic_write``, for uploads too large to hold in memory.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return digest.hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    """Give ``target`` the bytes of ``source``: a hard link where possible (no second copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    try:
        os.link(source, temp)
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        with source.open("rb") as stream:
            _fsync_write(target, stream)


@dataclass(frozen=True)
class ArchivedJob:
    """Everything the archive holds about one job."""

    provider_id: str
    folder: Path
    job: dict[str, Any]
    summary: JobSummary
    events: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    metrics: MetricSeries
    manifest: dict[str, Any]
    result_files: dict[str, Path] = field(default_factory=dict)
    dataset: dict[str, Path] = field(default_factory=dict)

    def training_examples(self) -> int | None:
        """How many examples the archived training file holds (non-blank lines), if archived."""
        path = self.dataset.get("training")
        if path is None:
            return None
        count = 0
        with path.open("rb") as stream:
            for line in stream:
                count += bool(line.strip())
        return count


@dataclass
class _JobState:
    """What the archive remembers about a job it is writing to, to avoid re-reading files."""

    event_keys: set[str]
    last_created: float
    events_size: int
    metrics: MetricsAccumulator


class JobArchive:
    """The job archive under ``root``; safe to share between threads of one process."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        self._states: dict[Path, _JobState] = {}

    # ---------------------------------------------------------------- paths

    def job_folder(self, provider_id: str, job_id: str) -> Path:
        """The folder of one job (it may not exist yet)."""
        return self.root / "jobs" / _component(provider_id) / _component(job_id)

    def _records_folder(self, provider_id: str) -> Path:
        return self.root / "uploads" / "records" / _component(provider_id)

    def _record_path(self, provider_id: str, file_id: str) -> Path:
        return self._records_folder(provider_id) / f"{_component(file_id)}.json"

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "uploads" / "blobs" / f"{sha256}.jsonl"

    # ---------------------------------------------------------------- uploads

    def record_upload(self, provider_id: str, file_id: str, data: bytes | Path, role: str) -> str:
        """Keep the exact bytes of an uploaded file (given as bytes or a path); returns SHA-256.

        Content is stored once however many times it is uploaded; ``role`` is ``training`` or
        ``validation``.
        """
        if role not in ROLES:
            raise ValueError(f"The role must be one of {', '.join(ROLES)}, not {role!r}.")
        with self._lock:
            if isinstance(data, (bytes, bytearray, memoryview)):
                raw = bytes(data)
                sha256 = hashlib.sha256(raw).hexdigest()
                size = len(raw)
                blob = self._blob_path(sha256)
                if not blob.exists():
                    blob.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write(blob, raw)
            else:
                staging = self.root / "uploads" / "blobs" / ".incoming"
                with Path(data).open("rb") as stream:
                    sha256 = _fsync_write(staging, stream)
                size = staging.stat().st_size
                blob = self._blob_path(sha256)
                if blob.exists():
                    staging.unlink()
                else:
                    os.replace(staging, blob)
            record = {
                "file_id": file_id,
                "sha256": sha256,
                "bytes": size,
                "role": role,
                "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            path = self._record_path(provider_id, file_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, _dumps(record))
            return sha256

    def _upload_records(self, provider_id: str) -> list[dict[str, Any]]:
        folder = self._records_folder(provider_id)
        if not folder.is_dir():
            return []
        records = []
        for path in sorted(folder.glob("*.json")):
            record = _read_json(path)
            if isinstance(record, dict) and isinstance(record.get("sha256"), str):
                records.append(record)
        return records

    def find_upload(self, provider_id: str, sha256: str) -> str | None:
        """The id of a file with this content already uploaded to this provider, if any."""
        with self._lock:
            matches = [
                r for r in self._upload_records(provider_id) if r["sha256"] == sha256.lower()
            ]
            if not matches:
                return None
            latest = max(matches, key=lambda r: str(r.get("recorded_at", "")))
            file_id = latest.get("file_id")
            return file_id if isinstance(file_id, str) else None

    # ---------------------------------------------------------------- jobs

    def save_job(self, provider_id: str, job: Mapping[str, Any]) -> JobSummary:
        """Store the latest job record, link its uploaded files in, and refresh the manifest."""
        summary = JobSummary.from_dict(job, provider_id=provider_id)
        with self._lock:
            folder = self.job_folder(provider_id, summary.id)
            folder.mkdir(parents=True, exist_ok=True)
            _write_if_changed(folder / "job.json", _dumps(dict(job)))
            files: dict[str, Any] = {}
            notes: list[str] = []
            for role, file_id in zip(
                ROLES, (summary.training_file, summary.validation_file), strict=True
            ):
                if file_id is None:
                    continue
                entry: dict[str, Any] = {"file_id": file_id}
                record = _read_json(self._record_path(provider_id, file_id))
                target = folder / "dataset" / f"{role}.jsonl"
                if isinstance(record, dict) and isinstance(record.get("sha256"), str):
                    blob = self._blob_path(record["sha256"])
                    if not target.exists() and blob.exists():
                        _link_or_copy(blob, target)
                    entry.update(sha256=record["sha256"], bytes=record.get("bytes"))
                entry["archived"] = target.exists()
                if not entry["archived"]:
                    notes.append(
                        f"The {role} file {file_id} was not uploaded from this app, so its "
                        "contents are not in the archive."
                    )
                files[role] = entry
            old = _read_json(folder / "manifest.json")
            archived_at = old.get("archived_at") if isinstance(old, dict) else None
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "provider": provider_id,
                "job_id": summary.id,
                "created": summary.created_at.isoformat() if summary.created_at else None,
                "archived_at": archived_at
                or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "app_version": __version__,
                "base_model": summary.base_model,
                "fine_tuned_model": summary.fine_tuned_model,
                "files": files,
                "result_files": list(summary.result_files),
                "notes": notes,
            }
            _write_if_changed(folder / "manifest.json", _dumps(manifest))
        return summary

    def _state(self, folder: Path) -> _JobState:
        """The cached state of a job, rebuilt from disk when the events file changed behind us."""
        events_path = folder / "events.jsonl"
        try:
            size = events_path.stat().st_size
        except FileNotFoundError:
            size = 0
        state = self._states.get(folder)
        if state is not None and state.events_size == size:
            return state
        events = list(_iter_events(events_path))
        metrics = MetricsAccumulator()
        metrics.add_events(events)
        for path in sorted((folder / "results").glob("*.csv")):
            with contextlib.suppress(OSError, MetricsFormatError):
                metrics.merge_results_csv(path.read_bytes())
        state = _JobState(
            event_keys={_event_key(e) for e in events},
            last_created=max((_created(e) for e in events), default=0.0),
            events_size=size,
            metrics=metrics,
        )
        self._states[folder] = state
        if len(metrics):
            self._write_metrics(folder, state)  # a crash may have left it behind the events
        return state

    def _write_metrics(self, folder: Path, state: _JobState) -> None:
        _write_if_changed(folder / "metrics.csv", to_csv(state.metrics.series()).encode("utf-8"))

    def add_events(self, provider_id: str, job_id: str, events: Iterable[Mapping[str, Any]]) -> int:
        """Store events not seen before (a newest-first page, overlaps welcome); returns how
        many were new. Newer events are appended and fsynced; an older one rewrites the file
        in order, atomically."""
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            folder.mkdir(parents=True, exist_ok=True)
            state = self._state(folder)
            fresh: list[dict[str, Any]] = []
            for event in reversed(list(events)):
                if not isinstance(event, Mapping):
                    continue
                key = _event_key(event)
                if key not in state.event_keys:
                    state.event_keys.add(key)
                    fresh.append(dict(event))
            if not fresh:
                return 0
            fresh.sort(key=_created)
            path = folder / "events.jsonl"
            try:
                if _created(fresh[0]) >= state.last_created:
                    with _open_for_append(path) as stream:
                        _trim_partial_tail(stream)
                        stream.write(b"".join(orjson.dumps(e, default=str) + b"\n" for e in fresh))
                        stream.flush()
                        os.fsync(stream.fileno())
                else:
                    merged = sorted([*_iter_events(path), *fresh], key=_created)
                    atomic_write(
                        path, b"".join(orjson.dumps(e, default=str) + b"\n" for e in merged)
                    )
                state.events_size = path.stat().st_size
            except OSError as exc:
                self._states.pop(folder, None)
                raise ArchiveError(f"The job's events could not be saved: {exc}") from exc
            state.last_created = max(state.last_created, _created(fresh[-1]))
            if state.metrics.add_events(fresh):
                self._write_metrics(folder, state)
            return len(fresh)

    def save_checkpoints(
        self, provider_id: str, job_id: str, checkpoints: Iterable[Mapping[str, Any]]
    ) -> int:
        """Merge checkpoints by id (providers drop old ones; the archive keeps them); returns
        how many were new."""
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "checkpoints.json"
            existing = _read_json(path)
            by_id: dict[str, dict[str, Any]] = {
                c["id"]: c
                for c in (existing if isinstance(existing, list) else [])
                if isinstance(c, dict) and isinstance(c.get("id"), str)
            }
            before = set(by_id)
            for checkpoint in checkpoints:
                if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("id"), str):
                    by_id[checkpoint["id"]] = dict(checkpoint)

            def order(c: Mapping[str, Any]) -> tuple[float, float]:
                step = c.get("step_number")
                number = (
                    step if isinstance(step, (int, float)) and not isinstance(step, bool) else 0
                )
                return float(number), _created(c)

            _write_if_changed(path, _dumps(sorted(by_id.values(), key=order)))
            return len(set(by_id) - before)

    def save_result_file(
        self, provider_id: str, job_id: str, file_id: str, content: bytes | str
    ) -> Path:
        """Store a results file (decoded from base64 when needed) and merge it into the curves.

        A file that is not a readable results table is still kept, as received.
        """
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            path = folder / "results" / f"{_component(file_id)}.csv"
            try:
                data = decode_results(content).encode("utf-8")
            except MetricsFormatError:
                data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            state = self._state(folder)
            _write_if_changed(path, data)
            with contextlib.suppress(MetricsFormatError):
                if state.metrics.merge_results_csv(data):
                    self._write_metrics(folder, state)
            return path

    # ---------------------------------------------------------------- reading

    def load(self, provider_id: str, job_id: str) -> ArchivedJob:
        """Everything about one job, curves included; ArchiveError when it is not archived."""
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            job = _read_json(folder / "job.json")
            if not isinstance(job, dict):
                raise ArchiveError(f"The job {job_id} is not in the archive or cannot be read.")
            try:
                summary = JobSummary.from_dict(job, provider_id=provider_id)
            except ValueError as exc:
                raise ArchiveError(f"The archived record of job {job_id} is damaged.") from exc
            events = sorted(_iter_events(folder / "events.jsonl"), key=_created)
            metrics = MetricsAccumulator()
            metrics.add_events(events)
            results: dict[str, Path] = {}
            for path in sorted((folder / "results").glob("*.csv")):
                results[unquote(path.stem)] = path
                with contextlib.suppress(OSError, MetricsFormatError):
                    metrics.merge_results_csv(path.read_bytes())
            checkpoints = _read_json(folder / "checkpoints.json")
            if not isinstance(checkpoints, list):
                checkpoints = []
            manifest = _read_json(folder / "manifest.json")
            dataset = {
                role: folder / "dataset" / f"{role}.jsonl"
                for role in ROLES
                if (folder / "dataset" / f"{role}.jsonl").is_file()
            }
            return ArchivedJob(
                provider_id=provider_id,
                folder=folder,
                job=job,
                summary=summary,
                events=events,
                checkpoints=[c for c in checkpoints if isinstance(c, dict)],
                metrics=metrics.series(n_epochs=summary.n_epochs),
                manifest=manifest if isinstance(manifest, dict) else {},
                result_files=results,
                dataset=dataset,
            )

    def list_jobs(self, provider_id: str | None = None) -> list[JobSummary]:
        """Every archived job (of one provider, or all), newest first; reads only job.json."""
        base = self.root / "jobs"
        if provider_id is not None:
            providers = [base / _component(provider_id)]
        else:
            providers = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
        summaries = []
        with self._lock:
            for provider_folder in providers:
                if not provider_folder.is_dir():
                    continue
                provider = unquote(provider_folder.name)
                for job_folder in sorted(provider_folder.iterdir()):
                    job = _read_json(job_folder / "job.json") if job_folder.is_dir() else None
                    if not isinstance(job, dict):
                        continue
                    try:
                        summaries.append(JobSummary.from_dict(job, provider_id=provider))
                    except ValueError:
                        log.warning("Skipping a damaged job record in %s", job_folder)
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        summaries.sort(key=lambda s: s.id)
        summaries.sort(key=lambda s: s.created_at or oldest, reverse=True)
        return summaries

    def open_jobs(self, provider_id: str | None = None) -> list[JobSummary]:
        """Jobs that had not ended when last seen, so monitoring can resume after a restart."""
        return [s for s in self.list_jobs(provider_id) if not s.status.is_terminal]

    # ---------------------------------------------------------------- export and removal

    def export_zip(self, provider_id: str, job_id: str, dest_path: Path | str) -> Path:
        """One zip file with everything about the job and a README.txt in plain words."""
        dest = Path(dest_path)
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            if not (folder / "job.json").is_file():
                raise ArchiveError(f"The job {job_id} is not in the archive.")
            top = folder.name
            readme = README_TEXT.format(
                job_id=job_id,
                provider=provider_id,
                rule="=" * len(f"Fine-tuning job {job_id} ({provider_id})"),
                version=__version__,
            )
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent
            )
            try:
                with os.fdopen(handle, "wb") as out:
                    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                        archive.writestr(f"{top}/README.txt", readme)
                        for path in sorted(folder.rglob("*")):
                            if path.is_file() and not path.name.startswith("."):
                                archive.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp_name, dest)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)
                raise
        return dest

    def delete(self, provider_id: str, job_id: str) -> bool:
        """Remove a job's folder, and the stored uploads no other archived job uses.

        Returns False when the job was not archived.
        """
        with self._lock:
            folder = self.job_folder(provider_id, job_id)
            if not folder.is_dir():
                return False
            job = _read_json(folder / "job.json")
            self._states.pop(folder, None)
            shutil.rmtree(folder)
            if not isinstance(job, dict):
                return True
            still_used = set()
            for other in self.list_jobs(provider_id):
                still_used.update({other.training_file, other.validation_file})
            for key in ("training_file", "validation_file"):
                file_id = job.get(key)
                if isinstance(file_id, str) and file_id and file_id not in still_used:
                    self._forget_upload(provider_id, file_id)
            return True

    def _forget_upload(self, provider_id: str, file_id: str) -> None:
        path = self._record_path(provider_id, file_id)
        record = _read_json(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
            return
        sha256 = record["sha256"]
        records_root = self.root / "uploads" / "records"
        for provider_folder in records_root.glob("*"):
            for other in provider_folder.glob("*.json"):
                data = _read_json(other)
                if isinstance(data, dict) and data.get("sha256") == sha256:
                    return
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(sha256).unlink()

"""Reading JSONL into records without losing a byte, and saving atomically.

Every line keeps its own bytes and line ending; a byte-order mark is remembered and written
back; damaged lines (not UTF-8, not JSON, cut off, not an example) become broken records that
say why, and are never dropped.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.core.dataset import Dataset, Record, SourceLayout, classify_bytes

UTF8_BOM = b"\xef\xbb\xbf"

#: Called with (bytes done, bytes total) while reading; returns False to cancel.
Progress = Callable[[int, int], bool]


class ReadCancelled(Exception):
    """The user cancelled reading a file."""


class SaveError(OSError):
    """Saving failed; the message says why in plain words and the edits stay in memory."""


def split_bom(data: bytes) -> tuple[bytes, bytes]:
    """Separate a UTF-8 byte-order mark from the content."""
    if data.startswith(UTF8_BOM):
        return UTF8_BOM, data[len(UTF8_BOM) :]
    return b"", data


def dominant_newline(data: bytes) -> bytes:
    """The line ending most lines use, so new records match the file's style."""
    return newline_by_count(crlf=data.count(b"\r\n"), newlines=data.count(b"\n"))


def newline_by_count(*, crlf: int, newlines: int) -> bytes:
    """CRLF when at least half of the ``newlines`` line endings are ``crlf``, else LF.

    Lets a reader that sees every line's ending decide without counting the file again.
    """
    return b"\r\n" if crlf and crlf * 2 >= newlines else b"\n"


def iter_lines(body: bytes) -> Iterator[tuple[int, bytes, bytes, int]]:
    """Yield (line number, content, line ending, end offset) for each line of ``body``."""
    start = 0
    line_number = 0
    size = len(body)
    while start < size:
        line_number += 1
        end = body.find(b"\n", start)
        if end == -1:
            yield line_number, body[start:], b"", size
            return
        if end > start and body[end - 1] == 0x0D:
            yield line_number, body[start : end - 1], b"\r\n", end + 1
        else:
            yield line_number, body[start:end], b"\n", end + 1
        start = end + 1


def iter_records(
    body: bytes, ids: Iterator[int], progress: Progress | None = None
) -> Iterator[Record]:
    """Turn the lines of ``body`` into records, one by one, so a view can show them early."""
    total = len(body)
    report_every = 1 << 20
    next_report = report_every
    for line_number, raw, eol, end in iter_lines(body):
        state, kind, error = classify_bytes(raw)
        yield Record(
            id=next(ids), line=line_number, raw=raw, eol=eol, state=state, kind=kind, error=error
        )
        if progress is not None and end >= next_report:
            next_report = end + report_every
            if not progress(end, total):
                raise ReadCancelled
    if progress is not None:
        progress(total, total)


def read_jsonl_bytes(data: bytes, progress: Progress | None = None) -> Dataset:
    """Read JSONL content into a dataset (raises ReadCancelled if ``progress`` says stop)."""
    bom, body = split_bom(data)
    ids = itertools.count(1)
    records = list(iter_records(body, ids, progress))
    return Dataset(
        records,
        bom=bom,
        newline=dominant_newline(body),
        layout=SourceLayout.JSONL,
        id_source=ids,
    )


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The temporary file sits in the same folder (so the rename is atomic), is flushed and
    fsynced before it replaces the target, and keeps the original file's permissions.
    """
    stage_write(path, (data,)).commit()


@dataclass(frozen=True)
class StagedWrite:
    """A file written in full beside its target, waiting for the rename that publishes it.

    Staging (the slow part) may run in a worker; whoever owns the target decides later, on
    its own thread, whether to ``commit`` or ``discard``.
    """

    path: Path
    temp: Path

    def commit(self) -> None:
        """Replace the target with the staged file (raises SaveError when refused)."""
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise SaveError(_explain_os_error(exc, self.path)) from exc
        _fsync_folder(self.path.parent if str(self.path.parent) else Path("."))

    def discard(self) -> None:
        """Forget the staged file (the target stays as it was)."""
        with contextlib.suppress(OSError):
            os.unlink(self.temp)


def stage_write(path: Path, parts: Iterable[bytes]) -> StagedWrite:
    """Write ``parts`` to a temporary file beside ``path``, flushed, fsynced and with the
    target's permissions; ``commit`` on the result makes it the file."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SaveError(_explain_os_error(exc, path)) from exc
    staged = StagedWrite(path, Path(temp_name))
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.writelines(parts)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temp_name, mode)
    except OSError as exc:
        staged.discard()
        raise SaveError(_explain_os_error(exc, path)) from exc
    except BaseException:
        staged.discard()  # whoever produced ``parts`` gave up: leave no stray file behind
        raise
    return staged


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening folders."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _explain_os_error(exc: OSError, path: Path) -> str:
    reasons = {
        errno.EACCES: "you do not have permission to write in that folder",
        errno.EPERM: "you do not have permission to write in that folder",
        errno.EROFS: "the disk or folder is read-only",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "your disk quota is used up",
        errno.ENOENT: "the folder no longer exists",
    }
    reason = reasons.get(exc.errno or -1, exc.strerror or "the system refused")
    return f"Could not save {path.name}: {reason}. Your changes are still open in the app."


def save_jsonl(dataset: Dataset, path: Path) -> None:
    """Save ``dataset`` as JSONL at ``path`` atomically, then mark it saved."""
    stage_write(path, dataset.to_parts()).commit()
    saved_as_jsonl(dataset)


def saved_as_jsonl(dataset: Dataset) -> None:
    """Note that ``dataset`` is now on disk as JSONL (once its bytes are committed)."""
    dataset.layout = SourceLayout.JSONL
    dataset.mark_saved()

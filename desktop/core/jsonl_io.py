"""Reading JSONL into records without losing a byte, and saving atomically.

Every line keeps its own bytes and line ending; a byte-order mark is remembered and written
back; damaged lines (not UTF-8, not JSON, cut off, not an example) become broken records that
say why, and are never dropped.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there anyway
    fcntl = None  # type: ignore[assignment]

from desktop.core.dataset import Container, Dataset, Record, record_of_line

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
        yield record_of_line(next(ids), line_number, raw, eol)
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
        container=Container.JSONL,
        id_source=ids,
    )


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The temporary file sits in the same folder as the file it replaces (so the rename is
    atomic), is flushed and fsynced before it replaces the target, and keeps the original
    file's permissions. A symbolic link is written through: its target gets the new content.
    """
    stage_write(path, (data,)).commit()


def write_target(path: Path) -> Path:
    """The file a save of ``path`` really replaces: the final target when ``path`` is a
    symbolic link (so the link stays a link), else ``path`` itself."""
    path = Path(path)
    if not path.is_symlink():
        return path
    return Path(os.path.realpath(path))


def is_read_only(path: Path) -> bool:
    """True when ``path`` is an existing file its owner marked read-only (or that this user
    may not write): replacing it needs the user's say-so, even where the folder allows it."""
    target = write_target(path)
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(target, os.W_OK)


#: The random part ``tempfile.mkstemp`` puts between a temporary file's prefix and suffix.
_TEMP_RANDOM = re.compile(r"[a-z0-9_]{8}")
#: Where a lock cannot tell whether a temporary file is still being written, one this old
#: was left by a write that never finished (a save takes seconds at most).
STALE_TEMP_S = 3600.0


@dataclass(frozen=True)
class StagedWrite:
    """A file written in full beside its target, waiting for the rename that publishes it.

    Staging (the slow part) may run in a worker; whoever owns the target decides later, on
    its own thread, whether to ``commit`` or ``discard``. Until then the temporary file stays
    open and locked, which tells ``remove_stale_temps`` that it is still wanted.
    """

    path: Path
    temp: Path
    handle: io.FileIO | None = field(default=None, compare=False, repr=False)

    def commit(self) -> None:
        """Replace the target with the staged file (raises SaveError when refused)."""
        if os.name != "posix":
            self._release()  # elsewhere an open file cannot be renamed over another
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise SaveError(_explain_os_error(exc, self.path)) from exc
        finally:
            self._release()
        _fsync_folder(self.path.parent if str(self.path.parent) else Path("."))

    def discard(self) -> None:
        """Forget the staged file (the target stays as it was)."""
        with contextlib.suppress(OSError):
            os.unlink(self.temp)
        self._release()

    def _release(self) -> None:
        if self.handle is not None and not self.handle.closed:
            with contextlib.suppress(OSError):
                self.handle.close()


def stage_write(path: Path, parts: Iterable[bytes]) -> StagedWrite:
    """Write ``parts`` to a temporary file beside the file ``path`` names, flushed, fsynced
    and with its permissions; ``commit`` on the result makes it the file.

    A symbolic link is followed to its target, which is what gets replaced. Temporary files
    that earlier saves of the same file left behind when they were cut short are removed.
    """
    target = write_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(folder, target.name)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise SaveError(_explain_os_error(exc, target)) from exc
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SaveError(_explain_os_error(exc, target)) from exc
    stream = io.FileIO(handle, "wb")
    staged = StagedWrite(target, Path(temp_name), stream)
    try:
        _lock(stream)
        buffered = io.BufferedWriter(stream, buffer_size=1 << 20)
        buffered.writelines(parts)
        buffered.flush()
        buffered.detach()  # the file itself stays open (and locked) until commit
        os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temp_name, mode)
    except OSError as exc:
        staged.discard()
        raise SaveError(_explain_os_error(exc, target)) from exc
    except BaseException:
        staged.discard()  # whoever produced ``parts`` gave up: leave no stray file behind
        raise
    return staged


def remove_stale_temps(folder: Path, name: str | None = None) -> int:
    """Remove temporary files that saves of ``name`` (of any file when None) in ``folder``
    left behind when the app or the computer stopped mid-write; returns how many went.

    A temporary file still being written is locked by its writer (in this app or another
    copy of it) and is left alone; where locks are not available, only old ones go.
    """
    prefix = f".{name}." if name is not None else "."
    try:
        candidates = [
            entry
            for entry in os.scandir(folder)
            if entry.name.startswith(prefix)
            and entry.name.endswith(".tmp")
            and _TEMP_RANDOM.fullmatch(
                entry.name[len(prefix) : -4]
                if name is not None
                else entry.name[:-4].rsplit(".", 1)[-1]
            )
        ]
    except OSError:
        return 0
    removed = 0
    for entry in candidates:
        try:
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                continue
            if not _unused(Path(entry.path)):
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def _lock(stream: io.FileIO) -> None:
    """Hold an exclusive lock on a temporary file while it may still be committed."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unused(temp: Path) -> bool:
    """True when no writer holds ``temp`` (so it is a leftover of a write cut short)."""
    if fcntl is None:
        return time.time() - temp.stat().st_mtime > STALE_TEMP_S
    with open(temp, "rb") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            # The file system has no locks: fall back to the file's age.
            return time.time() - temp.stat().st_mtime > STALE_TEMP_S
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
    return True


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
    dataset.container = Container.JSONL
    dataset.mark_saved()

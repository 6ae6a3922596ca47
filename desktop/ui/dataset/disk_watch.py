"""Noticing that another program changed the open file on disk."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal


@dataclass(frozen=True, slots=True)
class FileStamp:
    """Size and modification time of a file, to notice changes made by other programs."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        """The stamp of ``path`` now (None when it is gone)."""
        try:
            info = path.stat()
        except OSError:
            return None
        return cls(info.st_size, info.st_mtime_ns)


class DiskWatch(QObject):
    """Watches one file and remembers its stamp when it was last read or saved, so that a
    change by another program is told apart from the app's own saves."""

    #: Another program changed the watched file.
    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self._stamp: FileStamp | None = None
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_file_changed)

    def watch(self, path: Path | None) -> None:
        """Watch ``path`` (None: nothing) and take its content now as the known one."""
        self.stop()
        self.path = path
        self.take_stamp()
        if path is not None and path.exists():
            self._watcher.addPath(str(path))

    def stop(self) -> None:
        """Stop watching (the known stamp stays)."""
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())

    def take_stamp(self) -> None:
        """The file as it is now is the known one (read, saved, or kept by the user's choice)."""
        self._stamp = FileStamp.of(self.path) if self.path is not None else None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Not watching while the app itself replaces the file."""
        self.stop()
        try:
            yield
        finally:
            if self.path is not None and self.path.exists():
                self._watcher.addPath(str(self.path))

    def changed_since_known(self) -> bool:
        """True when the file on disk is not the one last read or saved."""
        if self.path is None or self._stamp is None:
            return False
        return FileStamp.of(self.path) != self._stamp

    def _on_file_changed(self, name: str) -> None:
        if self.path is None or Path(name) != self.path:
            return
        # Programs that save by replacing the file end the watch: watch the new file.
        if os.path.exists(name) and name not in self._watcher.files():
            self._watcher.addPath(name)
        if self.changed_since_known():
            self.changed.emit()

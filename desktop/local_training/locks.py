"""A lock file a process holds for as long as it runs, whatever way it ends.

The operating system releases the lock when the process exits, even when it is killed or the
computer runs out of memory, so "is the lock free?" tells whether a training process is still
alive without trusting a process id (which the system reuses).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def try_lock(path: Path) -> BinaryIO | None:
    """Take the lock (without waiting): the open file to keep while running, or None when
    another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 (held for the life of the process)
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        handle.close()
        return None
    return handle


def release(handle: BinaryIO) -> None:
    """Let go of a lock taken with ``try_lock``."""
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        else:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    handle.close()


def is_held(path: Path) -> bool:
    """True while some process holds the lock at ``path``."""
    if not path.exists():
        return False
    handle = try_lock(path)
    if handle is None:
        return True
    release(handle)
    return False


def process_exists(pid: int) -> bool:
    """True when a process with this id exists (it may not be ours: see the module docstring)."""
    if pid <= 0:
        return False
    if os.name != "posix":
        import ctypes

        kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        alive = kernel.GetExitCodeProcess(handle, ctypes.byref(code)) and code.value == 259
        kernel.CloseHandle(handle)
        return bool(alive)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

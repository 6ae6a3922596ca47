"""Entry point of the frozen app (PyInstaller runs this file as a script)."""

from __future__ import annotations

import multiprocessing
import sys

from desktop.__main__ import main

if __name__ == "__main__":
    # ``check`` of a large file analyses its ranges in processes started from this very
    # program where it cannot fork (Windows, macOS): such a process must do that work, not
    # start the app again.
    multiprocessing.freeze_support()
    sys.exit(main())

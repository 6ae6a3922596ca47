"""Command line: ``finetune-studio [FILE]`` opens the app; ``check`` checks a dataset file;
``train-local`` trains on this computer without the window."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

#: The first words that run a command instead of opening the window.
COMMANDS = ("check", "train-local", "selftest")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app, or the ``check`` command when asked for it.

    Qt is imported only for the app, so ``check`` works on machines without a display.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    mistyped = _mistyped_command(args)
    if mistyped is not None:
        print(
            f"finetune-studio: '{args[0]}' is neither a command nor a file. "
            f"Did you mean 'finetune-studio {mistyped}'? ('finetune-studio --help' lists them.)",
            file=sys.stderr,
        )
        return 2
    if args and args[0] == "check":
        from desktop.cli import run_check

        return run_check(args[1:])
    if args and args[0] == "train-local":
        from desktop.local_training.command import run_train_local

        return run_train_local(args[1:])
    if args and args[0] == "selftest":
        from desktop.selftest import run_selftest

        return run_selftest(args[1:])
    from desktop.app import run_app

    return run_app(args)


def _mistyped_command(args: Sequence[str]) -> str | None:
    """The command meant by a first word that is close to one and names no file."""
    if not args or args[0] in COMMANDS or args[0].startswith("-") or Path(args[0]).exists():
        return None
    close = difflib.get_close_matches(args[0], COMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


if __name__ == "__main__":
    sys.exit(main())

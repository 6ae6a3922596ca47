"""Command line: ``finetune-studio [FILE]`` opens the app; ``check`` checks a dataset file;
``train-local`` trains on this computer without the window."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app, or the ``check`` command when asked for it.

    Qt is imported only for the app, so ``check`` works on machines without a display.
    """
    args = list(sys.argv[1:] if argv is None else argv)
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


if __name__ == "__main__":
    sys.exit(main())

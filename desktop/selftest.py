"""``finetune-studio selftest``: prove an installed or frozen app works offline on first run.

It opens the bundled sample dataset, counts its tokens with both shipped encodings and, with
``--gui``, shows the main window offscreen with the sample loaded, all while every attempt to
open a network connection fails the test and tiktoken's download cache must stay empty. The
installer build runs it on the frozen app; the test suite runs it on the source tree.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from desktop import APP_ID, __version__

#: Models whose encodings the self-test counts with: one per shipped encoding.
MODELS = ("gpt-4.1-mini-2025-04-14", "gpt-3.5-turbo-0125")


class SelfTestError(Exception):
    """A self-test step failed; the message says which and why."""


@contextmanager
def no_network() -> Iterator[list[str]]:
    """Make every outgoing connection or name lookup fail, and record the attempts."""
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: object, **kwargs: object) -> Any:
            attempts.append(f"{what}{args[1:2] or args[:1]}")
            raise OSError(f"network use is not allowed in the self-test ({what})")

        return refused

    saved = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.create_connection,
        socket.getaddrinfo,
    )
    socket.socket.connect = refuse("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse("connect")  # type: ignore[method-assign]
    socket.create_connection = refuse("create_connection")  # type: ignore[assignment]
    socket.getaddrinfo = refuse("getaddrinfo")  # type: ignore[assignment]
    try:
        yield attempts
    finally:
        (
            socket.socket.connect,
            socket.socket.connect_ex,
            socket.create_connection,
            socket.getaddrinfo,
        ) = saved  # type: ignore[method-assign]


def sample_dataset_path() -> Path:
    """The bundled sample dataset."""
    from desktop.core.resources import resources_dir

    return resources_dir() / "samples" / "customer_support.jsonl"


def check_tokens(out: TextIO) -> None:
    """Open the sample and count it with both encodings, as the estimator would."""
    from desktop.core.analysis import DatasetAnalysis, analyze_records
    from desktop.core.catalog import Catalog
    from desktop.core.formats import read_dataset

    path = sample_dataset_path()
    dataset = read_dataset(path)
    catalog = Catalog.load()
    for model in MODELS:
        analysis = DatasetAnalysis(catalog, model)
        analysis.merge(analyze_records(list(dataset), analysis.counter))
        estimate = analysis.estimate()
        if estimate.total_tokens <= 0 or estimate.examples <= 0:
            raise SelfTestError(f"counting the sample with {model} gave no tokens")
        if not analysis.ready:
            raise SelfTestError(f"the sample dataset is not ready to train with {model}")
        # A build without the fast counter still counts exactly, only slower: say which.
        how = "the fast counter" if analysis.counter.accelerated else "tiktoken alone"
        out.write(
            f"  {analysis.counter.encoding_name}: {estimate.examples} examples, "
            f"{estimate.total_tokens:,} tokens ({model}), counted with {how}\n"
        )


def check_window(out: TextIO, timeout_seconds: float = 30.0) -> float:
    """Show the main window with the sample loaded and counted; return the seconds it took."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.core.catalog import Catalog
    from desktop.core.formats import read_dataset
    from desktop.core.settings import AppSettings
    from desktop.ui.main_window import MainWindow

    started = time.perf_counter()
    app = QApplication.instance() or QApplication([APP_ID])
    app.setApplicationName(APP_ID)
    window = MainWindow(settings=AppSettings(), catalog=Catalog.load())
    window.show()
    window.open_sample()
    expected = sum(1 for _ in read_dataset(sample_dataset_path()).examples())
    loop = QEventLoop()
    deadline = started + timeout_seconds

    def counted() -> bool:
        return window.document.analysis.estimate().examples == expected

    def poll() -> None:
        if counted() or time.perf_counter() > deadline:
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    loop.exec()
    timer.stop()
    seconds = time.perf_counter() - started
    if not counted():
        raise SelfTestError(f"the window did not finish counting the sample in {timeout_seconds} s")
    out.write(f"  window showing the counted sample after {seconds:.2f} s\n")
    window.close()
    return seconds


def run_selftest(args: Sequence[str], out: TextIO | None = None) -> int:
    """Run the self-test; exit code 0 when every step passed."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog=f"{APP_ID} selftest",
        description=(
            "Check that this installation works without a network: open the sample dataset "
            "and count its tokens with the tokenizers shipped with the app (with --gui, also "
            "show the window offscreen). Any attempt to connect makes it fail."
        ),
    )
    parser.add_argument("--gui", action="store_true", help="also show the window offscreen")
    options = parser.parse_args(list(args))
    out.write(f"Fine-Tune Studio {__version__} self-test\n")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
        try:
            with no_network() as attempts:
                check_tokens(out)
                if options.gui:
                    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
                    check_window(out)
            if attempts:
                raise SelfTestError(f"the app tried to use the network: {attempts[:3]}")
            if any(Path(cache).iterdir()):
                raise SelfTestError("tiktoken wrote to its download cache")
        except (SelfTestError, OSError) as exc:
            out.write(f"FAILED: {exc}\n")
            return 1
    out.write("OK: works offline, encodings bundled, nothing downloaded\n")
    return 0

"""GUI benchmark: open 100,000 realistic examples in the real window (offscreen) and measure.

Run from the repository root:

    python tests/benchmarks/bench_gui.py [--examples 100000]

Prints how long the tokenizers take to load before the window shows and the longest stall of
the UI thread while the window idles for two seconds after showing (a 10 ms heartbeat timer
measures the gaps between its ticks), then opens the file: the time until the first rows are
painted, the
time until the totals cover every example, the longest stall of the UI thread while loading,
the time from a keystroke in a
message to updated totals, when the search index holds every example, then the time and the
longest stall of each bulk action (a search counts from the text typed, so it includes the
short pause that waits for more typing; a second line leaves that pause out). With
``--before TREE`` it first runs the same benchmark from another source tree (the commit before
a change, say), so both sets of figures come from one run on one machine.
"""

from __future__ import annotations

import argparse
import faulthandler
import inspect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

SYSTEM = (
    "You are Bea, the customer support assistant of Fernhill Coffee Co. Be warm, brief and "
    "practical, answer in the customer's language and never invent order details."
)
TOPICS = [
    "my order",
    "the subscription",
    "a refund",
    "the grinder",
    "shipping to Austria",
    "decaf beans",
    "the gift card",
    "my address",
    "a damaged parcel",
    "the espresso blend",
]
QUESTIONS = [
    "Hi, can you help me with {t}?",
    "I have a question about {t}.",
    "Something went wrong with {t}, order FH-{n}.",
    "¿Puedes ayudarme con {t}?",
    "Ich habe eine Frage zu {t}.",
    "How long does {t} usually take?",
]
ANSWERS = [
    "Of course! Let me explain how {t} works: {w}",
    "I'm sorry about the trouble with {t}. {w}",
    "Thanks for asking about {t}. {w}",
]
WORDS = (
    "please send me your order number and I will check the status right away we roast on "
    "Mondays and Thursdays and ship the same day you will receive a tracking link by email "
    "as soon as the parcel leaves our roastery in Hamburg"
).split()


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` realistic chat examples (1–4 exchanges, varied lengths)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            messages = [{"role": "system", "content": SYSTEM}]
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
                topic = rng.choice(TOPICS)
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 90)))
                messages.append(
                    {"role": "user", "content": rng.choice(QUESTIONS).format(t=topic, n=i)}
                )
                messages.append(
                    {"role": "assistant", "content": rng.choice(ANSWERS).format(t=topic, w=words)}
                )
            out.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def main() -> int:
    """Run the benchmark and print its figures."""
    faulthandler.enable(all_threads=True)  # a crash in native code shows every thread's stack
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--before", type=Path, help="another source tree to run first")
    options = parser.parse_args()
    if options.before is not None:
        print(f"--- before ({options.before}):", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(options.before / "tests" / "benchmarks" / "bench_gui.py"),
                "--examples",
                str(options.examples),
            ],
            check=True,
            cwd=options.before,
        )
        print("--- after (this tree):", flush=True)
    home = Path(tempfile.mkdtemp(prefix="ft-bench-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    path = home / "support-100k.jsonl"
    started = time.perf_counter()
    generate(path, options.examples)
    size_mb = path.stat().st_size / 1e6
    print(
        f"generated {options.examples:,} examples ({size_mb:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s"
    )

    from PySide6.QtCore import (
        QEvent,
        QEventLoop,
        QItemSelection,
        QItemSelectionModel,
        QObject,
        Qt,
        QThreadPool,
        QTimer,
    )
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialog

    from desktop.app import tune_interpreter
    from desktop.core.journal import RecoveryJournal
    from desktop.ui.dataset.dataset_model import COL_TOKENS
    from desktop.ui.dataset.editor_panel import SEARCH_DEBOUNCE_MS
    from desktop.ui.main_window import MainWindow

    tune_interpreter()  # as run_app does
    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Fine-Tune Studio")
    window = MainWindow(journal=RecoveryJournal(home / "journal"))
    window.resize(1440, 900)
    document = window.document
    started_loading = time.perf_counter()
    document.load_tokenizers()  # as run_app does, before the window shows
    tokenizers_ms = (time.perf_counter() - started_loading) * 1000
    window.show()

    gaps: list[tuple[float, float]] = []  # (time, gap in ms)
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append((now, (now - last[0]) * 1000))
        last[0] = now

    heartbeat = QTimer(interval=10)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    panel = window.editor_panel
    index_ready: list[float] = []  # when the search index first held every example

    def note_index() -> None:
        read = not document.loading and len(document.dataset) == options.examples
        if not index_ready and read and not panel.indexing:
            index_ready.append(time.perf_counter())

    heartbeat.timeout.connect(note_index)

    def wait_until(test: Callable[[], bool], timeout_s: float = 300) -> None:
        deadline = time.perf_counter() + timeout_s
        while not test():
            if time.perf_counter() > deadline:
                raise TimeoutError("the benchmark waited too long")
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()

    class PaintWatch(QObject):
        """Notes when the table first paints with rows in it."""

        first_paint: float | None = None

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if (
                self.first_paint is None
                and event.type() == QEvent.Type.Paint
                and window.document.table.rowCount() > 0
            ):
                self.first_paint = time.perf_counter()
            return False

    watch = PaintWatch()
    window.editor_panel.table.viewport().installEventFilter(watch)

    # The window idles for two seconds after showing, as it does while the user looks at it
    # before choosing a file; whatever it still loads then shows as a stall here.
    shown = time.perf_counter()
    last[0] = shown
    wait_until(lambda: time.perf_counter() - shown > 2)
    idle_gaps = [gap for at, gap in gaps if at >= shown] or [0.0]
    print(f"tokenizers loaded before show: {tokenizers_ms:7.0f} ms")
    print(f"longest UI stall after show:    {max(idle_gaps):6.0f} ms  (2 s idle)")

    t0 = time.perf_counter()
    last[0] = t0
    window.open_path(path)
    wait_until(lambda: watch.first_paint is not None)
    first_rows = watch.first_paint - t0
    wait_until(lambda: not document.busy)
    loaded = time.perf_counter()
    estimate = document.analysis.estimate()
    assert estimate.examples == options.examples, estimate.examples
    load_gaps = [gap for at, gap in gaps if t0 <= at <= loaded]
    print(f"time to first visible rows:   {first_rows * 1000:8.0f} ms")
    print(
        f"time to full totals:          {(loaded - t0) * 1000:8.0f} ms"
        f"  ({estimate.examples:,} examples, {estimate.total_tokens:,} tokens, "
        f"{estimate.billable_tokens_total:,} billable)"
    )
    print(
        f"longest UI stall while loading: {max(load_gaps):6.0f} ms"
        f"  (heartbeat 10 ms; {sum(g > 100 for g in load_gaps)} gaps over 100 ms, "
        f"median {statistics.median(load_gaps):.0f} ms)"
    )

    # Keystrokes in a message of a 100,000-example dataset.
    window.editor_panel.select_record(document.table.record_id_at(50_000))
    reply = window.editor_panel.editor.chat.cards[2].text_edit
    reply.setFocus()
    reply.moveCursor(reply.textCursor().MoveOperation.End)
    wait_until(lambda: not document.busy)
    latencies = []
    stalls = []
    for key in "coffee":
        pause = QEventLoop()
        QTimer.singleShot(50, pause.quit)
        pause.exec()
        before = document.analysis.estimate().total_tokens
        label_before = window.estimator.values["tokens"].text()
        start = time.perf_counter()
        mark = len(gaps)
        QTest.keyClick(reply, key)
        QTest.keyClick(reply, " ")
        wait_until(
            lambda before=before, label_before=label_before: (
                document.analysis.estimate().total_tokens != before
                and window.estimator.values["tokens"].text() != label_before
            ),
            timeout_s=10,
        )
        latencies.append((time.perf_counter() - start) * 1000)
        wait_until(lambda: not document.busy, timeout_s=10)
        stalls.extend(gap for _, gap in gaps[mark:])
    print(
        f"keystroke to updated totals:  {statistics.median(latencies):8.0f} ms median, "
        f"{max(latencies):.0f} ms max over {len(latencies)} edits (includes the 150 ms pause "
        "that groups typing)"
    )
    print(
        f"longest UI stall while typing:  {max(stalls):6.0f} ms (until totals and findings are current)"
    )

    def measure(
        label: str, action: Callable[[], object], done: Callable[[], bool], pause_ms: int = 0
    ) -> None:
        """Run ``action`` from the event loop (as a click would) and time it until ``done``.

        ``pause_ms`` is a deliberate wait inside the action (the pause that waits for more
        typing): the time after it is printed too, on a line of its own.
        """
        wait_until(lambda: not document.busy and not window.editor_panel.searching)
        pause = QEventLoop()
        QTimer.singleShot(50, pause.quit)
        pause.exec()
        mark = len(gaps)
        start = time.perf_counter()
        QTimer.singleShot(0, action)
        wait_until(lambda: time.perf_counter() - start > 0.02 and done())
        took = (time.perf_counter() - start) * 1000
        print(
            f"{label + ':':30}{took:8.0f} ms, longest UI stall {max(g for _, g in gaps[mark:]):.0f} ms"
        )
        if pause_ms:
            print(
                f"{'  the same after the pause:':30}{took - pause_ms:8.0f} ms  (the {pause_ms} ms"
                " pause that waits for more typing left out)"
            )

    # Autosave to the recovery journal (the first write keeps a copy of the source file);
    # the app's timer starts it, a worker writes it.
    def autosave() -> None:
        QTest.keyClick(reply, "!")
        assert window.autosave()

    measure("autosave (first write)", autosave, lambda: not window.autosaving)
    measure("autosave (next write)", autosave, lambda: not window.autosaving)

    wait_until(lambda: bool(index_ready))
    print(
        f"search index ready:           {(index_ready[0] - loaded) * 1000:8.0f} ms after the "
        "full totals (read in the background while typing)"
    )
    # A search starts from the index as it stands when typed: after a pause in editing it
    # holds every example.
    wait_until(lambda: not panel.indexing)
    measure(
        "search across all messages",
        lambda: panel.search.setText("FH-99999"),
        lambda: not panel.searching and document.table.rowCount() < 100,
        pause_ms=SEARCH_DEBOUNCE_MS,
    )
    measure(
        "clear the search",
        lambda: panel.search.setText(""),
        lambda: not panel.searching and document.table.rowCount() == options.examples,
        pause_ms=SEARCH_DEBOUNCE_MS,
    )
    measure(
        "search matching most examples",
        lambda: panel.search.setText("order"),
        lambda: not panel.searching and not document.table.in_file_order,
        pause_ms=SEARCH_DEBOUNCE_MS,
    )
    panel.search.setText("")
    wait_until(lambda: not panel.searching and document.table.rowCount() == options.examples)
    header = panel.table.horizontalHeader()
    measure(
        "sort by tokens",
        lambda: header.setSortIndicator(COL_TOKENS, Qt.SortOrder.DescendingOrder),
        lambda: not panel.searching,
    )
    measure(
        "sort by position again",
        lambda: header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder),
        lambda: not panel.searching,
    )
    combo = window.estimator.model_combo
    other_tokenizer = combo.findData("gpt-3.5-turbo-0125")
    assert other_tokenizer >= 0
    measure(
        "model with another tokenizer",
        lambda: combo.setCurrentIndex(other_tokenizer),
        lambda: not document.busy and document.analysis.counter.encoding_name == "cl100k_base",
    )

    def set_system_message() -> None:
        def answer(dialog: QDialog) -> bool:
            dialog.text_edit.set_text("You are Bea.")
            return True

        window.run_dialog = answer
        window.set_system_message()

    measure(
        "set the system message on all",
        set_system_message,
        lambda: not window.bulk_running and not document.busy,
    )
    measure("autosave after it", window.autosave, lambda: not window.autosaving)
    # Trees before saves ran in the background took the path alone and returned when done.
    blocking_save = len(inspect.signature(document.save_to).parameters) == 1

    def save_as(path: Path) -> None:
        if blocking_save:
            document.save_to(path)
        else:
            document.save_to(path, lambda _problem: None)

    changed_copy = home / "changed-copy.jsonl"
    measure(
        "save the changed examples",
        lambda: save_as(changed_copy),
        lambda: changed_copy.exists() and not document.saving,
    )
    measure("undo that", document.undo_stack.undo, lambda: not document.busy)

    def delete_many() -> None:
        model = document.table
        selection = QItemSelection(model.index(0, 0), model.index(9_999, model.columnCount() - 1))
        panel.table.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        window.actions["delete"].trigger()

    measure("delete 10,000 examples", delete_many, lambda: not document.busy)
    measure("undo that", document.undo_stack.undo, lambda: not document.busy)
    saved_copy = home / "saved-copy.jsonl"
    measure(
        "save as a new file",
        lambda: save_as(saved_copy),
        lambda: saved_copy.exists() and not document.saving,
    )
    pool = QThreadPool.globalInstance()
    measure(
        "close the dataset",
        window.close_dataset,
        lambda: len(document.dataset) == 0 and pool.activeThreadCount() == 0,
    )
    measure(
        "open it again, to full totals",
        lambda: window.open_path(path),
        lambda: len(document.dataset) == options.examples and not document.busy,
    )

    heartbeat.stop()
    document.undo_stack.clear()
    document.new()
    window.close()
    QThreadPool.globalInstance().waitForDone()
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: a 10 MB message in the real window, against the editor that laid out all of it.

Run by hand from the repository root (it needs git to check out the baseline):

    python -m tests.benchmarks.bench_long_message [--cases words:10000000,...] [--timeout 120]

Baseline (named ``whole-text``): the editor of commit 5af5868, which gave a message's whole
text to one QTextEdit. Candidate (named ``paged``): the editor of this working tree. Each side
runs in a fresh interpreter, in the same run, on the same file: the window opens a dataset whose
second example has one long message, then the script times selecting that example until the
editor is painted, five keystrokes in the long message (each until the window has handled and
painted it), and one undo ("exact" says the message then held exactly what was typed, and
that undoing every step gave the file's bytes back). It prints both sides' times and their
ratio; a side that has not finished within ``--timeout`` seconds is cut off and reported with
how long it had been showing the example by then (the ratio is then a lower bound).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BASELINE = "5af5868"
KEYS = "Hello"
#: What each kind of long message is made of. Letters with a digit give Qt no place to break
#: the line, yet count into tokens quickly, so the analysis does not compete for the CPU.
PATTERNS = {
    "words": "the quick brown fox jumps over a lazy dog ",
    "nospace": "abcdefghi1",
}


def long_text(kind: str, size: int) -> str:
    """A message of ``size`` characters of the given kind."""
    base = PATTERNS[kind]
    return (base * (size // len(base) + 1))[:size]


def child(tree: Path, kind: str, size: int) -> dict[str, object]:
    """Open the file in the window of the code in ``tree`` and time the editor (one process)."""
    sys.path.insert(0, str(tree))
    home = Path(tempfile.mkdtemp(prefix="ft-bench-long-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    from PySide6.QtCore import QEventLoop, QThreadPool, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import desktop
    from desktop.core.journal import RecoveryJournal
    from desktop.ui.main_window import MainWindow

    assert Path(desktop.__file__).resolve().is_relative_to(tree.resolve()), desktop.__file__
    big = long_text(kind, size)
    path = home / "long.jsonl"
    small = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi"}]
    }
    value = {
        "messages": [{"role": "user", "content": "Sum up"}, {"role": "assistant", "content": big}]
    }
    path.write_text(json.dumps(small) + "\n" + json.dumps(value) + "\n", encoding="utf-8")

    app = QApplication(sys.argv[:1])
    window = MainWindow(journal=RecoveryJournal(home / "journal"))
    window.resize(1440, 900)
    window.show()
    document = window.document

    def settle(test=lambda: True, timeout_s: float = 600) -> None:
        deadline = time.perf_counter() + timeout_s
        while document.busy or not test():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not settle")
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()

    def timed(action) -> float:
        start = time.perf_counter()
        action()
        app.processEvents()
        window.repaint()
        return (time.perf_counter() - start) * 1000

    window.open_path(path)
    settle()
    record_id = document.table.record_id_at(1)
    print(json.dumps({"selecting_since": time.time()}), flush=True)
    show_ms = timed(lambda: window.editor_panel.select_record(record_id))
    box = window.editor_panel.editor.chat.cards[1].text_edit
    box.setFocus()
    key_ms = [timed(lambda key=key: QTest.keyClick(box, key)) for key in KEYS]
    content = document.dataset.record(record_id).value["messages"][1]["content"]
    typed_ok = content == KEYS + big
    settle()
    undo_ms = timed(window.actions["undo"].trigger)
    # Keystrokes more than two seconds apart are separate undo steps: undo those too.
    while document.undo_stack.canUndo():
        window.actions["undo"].trigger()
    undone_ok = document.dataset.to_bytes() == path.read_bytes() and box.text() == big
    document.undo_stack.clear()
    document.new()
    window.close()
    QThreadPool.globalInstance().waitForDone()
    shutil.rmtree(home, ignore_errors=True)
    return {
        "show_ms": show_ms,
        "key_ms": statistics.median(key_ms),
        "key_max_ms": max(key_ms),
        "undo_ms": undo_ms,
        "exact": typed_ok and undone_ok,
    }


def run_side(tree: Path, kind: str, size: int, timeout: float) -> dict[str, object]:
    """One side's figures; when cut off after ``timeout`` seconds, how long showing had taken."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), kind, str(size)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True, cwd=tree
        )
    except subprocess.TimeoutExpired as cut:
        output = cut.stdout.decode() if isinstance(cut.stdout, bytes) else cut.stdout or ""
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        since = next((line["selecting_since"] for line in lines if "selecting_since" in line), None)
        return {
            "cut_off": True,
            "show_at_least_ms": None if since is None else (time.time() - since) * 1000,
        }
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"the {tree} side failed:\n{error.stderr}") from None
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_tree(commit: str, into: Path) -> Path:
    """The files of ``commit``, checked out (read-only use) into a new folder."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    """Run every case on both sides and print their times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--child", nargs=3, metavar=("TREE", "KIND", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--cases",
        default="words:10000000,nospace:10000000,nospace:64000",
        help="comma-separated KIND:CHARACTERS (kinds: words, nospace)",
    )
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare against")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per side and case")
    options = parser.parse_args()
    if options.child:
        tree, kind, size = options.child
        print(json.dumps(child(Path(tree), kind, int(size))))
        return 0
    with tempfile.TemporaryDirectory(prefix="ft-bench-baseline-") as folder:
        old = baseline_tree(options.baseline, Path(folder))
        print(f"baseline 'whole-text': the editor of commit {options.baseline}")
        print("candidate 'paged': the editor of this working tree")
        print(f"each side in a fresh process, at most {options.timeout:.0f} s per case\n")
        for case in options.cases.split(","):
            kind, size = case.split(":")
            figures = {
                "whole-text": run_side(old, kind, int(size), options.timeout),
                "paged": run_side(ROOT, kind, int(size), options.timeout),
            }
            print(
                f"{int(size):,} characters, {'one line without spaces' if kind == 'nospace' else 'ordinary words'}:"
            )
            print(f"  {'':12}{'show':>12}{'keystroke':>12}{'(max)':>10}{'undo':>12}  exact")
            for name, got in figures.items():
                if got.get("cut_off"):
                    shown = got["show_at_least_ms"]
                    still = "loading" if shown is None else f"showing, after {shown:,.0f} ms"
                    print(f"  {name:12}  cut off after {options.timeout:.0f} s, still {still}")
                    continue
                print(
                    f"  {name:12}{got['show_ms']:10,.0f} ms{got['key_ms']:10,.0f} ms"
                    f"{got['key_max_ms']:8,.0f} ms{got['undo_ms']:10,.0f} ms  {got['exact']}"
                )
            new, base = figures["paged"], figures["whole-text"]
            if new.get("cut_off"):
                print("  the candidate did not finish: no ratio\n")
            elif base.get("cut_off") and base["show_at_least_ms"] is not None:
                bound = base["show_at_least_ms"] / new["show_ms"]
                print(
                    f"  ratio whole-text / paged: show > {bound:,.0f}x (the baseline was cut off)\n"
                )
            elif base.get("cut_off"):
                print("  the baseline was cut off before showing: no ratio\n")
            else:
                print(
                    "  ratio whole-text / paged: "
                    f"show {base['show_ms'] / new['show_ms']:,.0f}x, "
                    f"keystroke {base['key_ms'] / new['key_ms']:,.0f}x, "
                    f"undo {base['undo_ms'] / new['undo_ms']:,.0f}x\n"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

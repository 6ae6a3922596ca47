"""Benchmark: ``finetune-studio check`` against the data-prep notebook's way of counting.

Run by hand from the repository root::

    python -m tests.benchmarks.bench_check [--examples 100000] [--before /path/to/old/tree]

Every side runs in a fresh interpreter, in the same run, on the same generated file, so none
inherits another's caches. It prints each time with its ratio to the named baselines:

* ``notebook``: ``json.loads`` per line plus one tiktoken ``encode`` per string value of every
  message, as OpenAI's data-prep notebook counts (assistant texts encoded twice, once for
  the total and once for the assistant tokens), with o200k_base;
* ``tiktoken alone``: tiktoken encoding the file's distinct texts once each, the floor of any
  check that tokenizes with tiktoken;
* ``quicktok alone``: the same with the fast counter;
* ``check, cold``: the whole check (read, validate, count, estimate, findings) with an empty
  count cache; ``check, warm``: the same again with the cache filled by the cold run;
* ``check, before`` (with ``--before``): the check of another source tree, e.g. the commit
  before a change, on the same file;
* ``check, 1 line changed``: the warm check again after a space was added at the end of line
  1,000, and ``check, 1,000 lines moved``: then lines 1,000-1,999 moved to the end of the
  file. Ranges end at lines chosen by their content, so only the ranges around an edit are
  looked up line by line; the others are found in the cache whole.

Neither edit changes a count, so every total must stay the same.

It also prints whether every token total is identical, and the check's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.generate import write_dataset

ENCODING = "o200k_base"
MODEL = "gpt-4.1-mini-2025-04-14"
#: The line changed, then the first of the lines moved, before the last checks.
EDITED_LINE = 1000
MOVED_LINES = 1000
ROOT = Path(__file__).resolve().parents[2]


def rss_kib(field: str) -> int:
    """Resident memory (VmRSS) or its peak (VmHWM) of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_notebook(path: Path) -> dict[str, float]:
    """The baseline: parse each line, encode every string value of every message."""
    from desktop.core.tokens import get_encoding

    encoding = get_encoding(ENCODING)
    start = time.perf_counter()
    total = 0
    assistant = 0
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            example = json.loads(line)
            tokens = 0
            for message in example["messages"]:
                tokens += 3
                for key, value in message.items():
                    tokens += len(encoding.encode(value))
                    if key == "name":
                        tokens += 1
                if message["role"] == "assistant":
                    assistant += len(encoding.encode(message["content"]))
            total += tokens + 3
    return {"seconds": time.perf_counter() - start, "tokens": total, "assistant": assistant}


def _distinct_texts(path: Path) -> list[str]:
    import orjson

    texts: dict[str, None] = {}
    with path.open("rb") as stream:
        for line in stream:
            for message in orjson.loads(line)["messages"]:
                texts.update(dict.fromkeys(message.values()))
    return list(texts)


def run_tiktoken(path: Path) -> dict[str, float]:
    """tiktoken alone over the distinct texts (reading them is not timed)."""
    from desktop.core.tokens import get_encoding

    texts = _distinct_texts(path)
    encode = get_encoding(ENCODING).encode_ordinary
    start = time.perf_counter()
    tokens = sum(len(encode(text)) for text in texts)
    return {"seconds": time.perf_counter() - start, "texts": len(texts), "tokens": tokens}


def run_quicktok(path: Path) -> dict[str, float]:
    """The fast counter alone over the distinct texts (reading them is not timed)."""
    import quicktok

    texts = _distinct_texts(path)
    count = quicktok.get_encoding(ENCODING).count
    start = time.perf_counter()
    tokens = sum(map(count, texts))
    return {"seconds": time.perf_counter() - start, "texts": len(texts), "tokens": tokens}


def run_check(path: Path) -> dict[str, float]:
    """The whole check, as the command runs it (the encoding is loaded first, as at start)."""
    import resource

    from desktop.cli import check_file
    from desktop.core.catalog import Catalog
    from desktop.core.tokens import counter_for_model

    catalog = Catalog.load()
    counter = counter_for_model(MODEL)
    before = rss_kib("VmRSS")
    start = time.perf_counter()
    checked = check_file(path, catalog, MODEL, None)
    analysis = checked.analysis
    estimate = analysis.estimate()
    findings = analysis.findings()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "tokens": estimate.total_tokens,
        "assistant": estimate.assistant_tokens,
        "examples": estimate.examples,
        "findings": len(findings),
        "peak_kib_over_start": rss_kib("VmHWM") - before,
        "children_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "accelerated": getattr(counter, "accelerated", False),
    }


def add_a_space_to_line(path: Path, number: int) -> None:
    """Add a space after the JSON of line ``number`` (1-based): new bytes, the same counts."""
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] += b" "
    path.write_bytes(b"\n".join(lines))


def move_to_the_end(path: Path, first: int, count: int) -> None:
    """Move ``count`` lines from line ``first`` (1-based) to the end of the file."""
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    moved = lines[first - 1 : first - 1 + count]
    del lines[first - 1 : first - 1 + count]
    path.write_bytes(b"\n".join(lines + moved) + b"\n")


def in_fresh_interpreter(side: str, path: Path, home: Path, tree: Path = ROOT) -> dict[str, float]:
    """Run one side in a new Python process (with its own app folders) and return its figures."""
    environment = {**os.environ, "FINETUNE_STUDIO_HOME": str(home), "PYTHONPATH": str(tree)}
    output = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_check", "--side", side, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env=environment,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    """Generate the dataset, run every side, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--before", type=Path, help="another source tree to compare with")
    parser.add_argument("--skip-baselines", action="store_true", help="only the checks")
    parser.add_argument(
        "--side", choices=("notebook", "tiktoken", "quicktok", "check"), help=argparse.SUPPRESS
    )
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.side:
        runners = {
            "notebook": run_notebook,
            "tiktoken": run_tiktoken,
            "quicktok": run_quicktok,
            "check": run_check,
        }
        print(json.dumps(runners[options.side](options.path)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = write_dataset(Path(folder) / "bench.jsonl", options.examples)
        size = path.stat().st_size
        print(
            f"dataset: {options.examples:,} examples, {size / 1e6:.1f} MB, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        results: dict[str, dict[str, float]] = {}
        if not options.skip_baselines:
            results["notebook"] = in_fresh_interpreter("notebook", path, Path(folder) / "n")
            results["tiktoken alone"] = in_fresh_interpreter("tiktoken", path, Path(folder) / "t")
            results["quicktok alone"] = in_fresh_interpreter("quicktok", path, Path(folder) / "q")
        if options.before is not None:
            old_home = Path(folder) / "before"
            results["check, before"] = in_fresh_interpreter(
                "check", path, old_home, options.before.resolve()
            )
        home = Path(folder) / "home"
        results["check, cold"] = in_fresh_interpreter("check", path, home)
        results["check, warm"] = in_fresh_interpreter("check", path, home)
        add_a_space_to_line(path, EDITED_LINE)
        results["check, 1 line changed"] = in_fresh_interpreter("check", path, home)
        move_to_the_end(path, EDITED_LINE, MOVED_LINES)
        results["check, 1,000 lines moved"] = in_fresh_interpreter("check", path, home)
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    notebook = results.get("notebook", {}).get("seconds")
    cold = results["check, cold"]["seconds"]
    for name, figures in results.items():
        ratios = []
        if notebook:
            ratios.append(f"{notebook / figures['seconds']:.2f}x the notebook")
        if name != "check, cold":
            ratios.append(f"{cold / figures['seconds']:.2f}x the cold check")
        print(f"{name + ':':27} {figures['seconds']:7.2f} s  ({', '.join(ratios)})")
    totals = {name: figures["tokens"] for name, figures in results.items()}
    print(f"distinct texts: {results.get('tiktoken alone', {}).get('texts', 0):,}")
    reference = totals.get("notebook", totals["check, cold"])
    for name, figures in results.items():
        if name.startswith("check") or name == "notebook":
            same = "identical" if totals[name] == reference else "DIFFERENT"
            assistant = f", assistant {figures['assistant']:,}" if "assistant" in figures else ""
            print(f"token total, {name}: {totals[name]:,}{assistant} ({same})")
    for name in results:
        if name.startswith("check"):
            figures = results[name]
            memory = figures["peak_kib_over_start"] * 1024
            children = figures.get("children_peak_kib", 0) * 1024
            print(
                f"peak memory, {name}: {memory / 1e6:.0f} MB over its start "
                f"= {memory / size:.2f}x the file (largest worker process: "
                f"{children / 1e6:.0f} MB resident, encodings included)"
            )
    print(f"fast counter used by the check: {results['check, cold'].get('accelerated')}")


if __name__ == "__main__":
    main()

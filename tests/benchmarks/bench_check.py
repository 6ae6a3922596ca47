"""Benchmark: the full dataset check against the data-prep notebook's way of counting.

Run by hand: ``python -m tests.benchmarks.bench_check [--examples 100000]``.

Baseline (named ``notebook``): ``json.loads`` per line plus one tiktoken ``encode`` per string
value of every message, as OpenAI's data-prep notebook counts (with o200k_base, the encoding
of the models it is compared on). Candidate (named ``check``): what ``finetune-studio check``
does: read every line losslessly, validate every example and the dataset, count tokens and
estimate the cost. Each side runs in a fresh interpreter, in the same run, so neither inherits
the other's caches; the script prints both times, their ratio, whether the token totals are
identical, the candidate's peak memory against the file size, and the time to re-estimate after
one example changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.generate import write_dataset

ENCODING = "o200k_base"
MODEL = "gpt-4.1-mini-2025-04-14"


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
            total += tokens + 3
    return {"seconds": time.perf_counter() - start, "tokens": total}


def run_check(path: Path) -> dict[str, float]:
    """The candidate: the full check, then timed single-example re-estimates."""
    import random
    import resource

    from desktop.cli import check_file
    from desktop.core.catalog import Catalog
    from desktop.core.tokens import counter_for_model

    catalog = Catalog.load()
    counter_for_model(MODEL)  # load the encoding before measuring, as the app does at start
    before = rss_kib("VmRSS")
    start = time.perf_counter()
    checked = check_file(path, catalog, MODEL, None)
    dataset, analysis = checked.dataset, checked.analysis
    estimate = analysis.estimate()
    findings = analysis.findings()
    seconds = time.perf_counter() - start
    peak = rss_kib("VmHWM")
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux

    rng = random.Random(3)
    update_ms = []
    findings_ms = []
    for record in rng.sample(list(dataset.examples()), 25):
        value = record.value
        value["messages"][-1]["content"] += " Thanks again for your patience!"
        dataset.set_value(record.id, value)
        edited = dataset.record(record.id)
        t0 = time.perf_counter()
        analysis.update(edited)
        analysis.estimate()
        update_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        analysis.findings()
        findings_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "seconds": seconds,
        "tokens": estimate.total_tokens,
        "examples": estimate.examples,
        "findings": len(findings),
        "peak_kib_over_start": peak - before,
        "worker_peak_kib": worker_peak,
        "reestimate_ms_median": statistics.median(update_ms),
        "reestimate_ms_max": max(update_ms),
        "findings_ms_median": statistics.median(findings_ms),
    }


def run_parsers(path: Path) -> dict[str, float]:
    """Whether orjson pays: parse every line and write its canonical (sorted) form, both ways."""
    import orjson

    lines = path.read_bytes().splitlines()

    def timed(loads: object, dumps: object) -> float:
        start = time.perf_counter()
        for line in lines:
            dumps(loads(line))  # type: ignore[operator]
        return time.perf_counter() - start

    return {
        "json": timed(
            json.loads,
            lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        ),
        "orjson": timed(orjson.loads, lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS)),
    }


def in_fresh_interpreter(side: str, path: Path) -> dict[str, float]:
    """Run one side in a new Python process and return what it measured."""
    output = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_check", "--side", side, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    """Generate the dataset, run both sides, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--side", choices=("notebook", "check", "parsers"))
    parser.add_argument("path", nargs="?", type=Path)
    options = parser.parse_args()
    if options.side:
        runners = {"notebook": run_notebook, "check": run_check, "parsers": run_parsers}
        print(json.dumps(runners[options.side](options.path)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = write_dataset(Path(folder) / "bench.jsonl", options.examples)
        size = path.stat().st_size
        print(f"dataset: {options.examples:,} examples, {size / 1e6:.1f} MB, {os.cpu_count()} CPUs")
        notebook = in_fresh_interpreter("notebook", path)
        check = in_fresh_interpreter("check", path)
        parsers = in_fresh_interpreter("parsers", path)
    ratio = notebook["seconds"] / check["seconds"]
    same = "identical" if notebook["tokens"] == check["tokens"] else "DIFFERENT"
    memory = check["peak_kib_over_start"] * 1024
    print(f"baseline 'notebook' (json.loads + encode per value): {notebook['seconds']:.2f} s")
    print(f"'check' (read, validate, count, estimate):            {check['seconds']:.2f} s")
    print(f"speed-up over the baseline: {ratio:.2f}x")
    print(f"token totals: notebook {notebook['tokens']:,}, check {check['tokens']:,} ({same})")
    print(
        f"peak memory of the check over its start: {memory / 1e6:.0f} MB "
        f"= {memory / size:.2f}x the file size (worker process peak RSS, encodings "
        f"included: {check['worker_peak_kib'] * 1024 / 1e6:.0f} MB)"
    )
    print(
        f"re-estimate after one example changes: median {check['reestimate_ms_median']:.3f} ms, "
        f"max {check['reestimate_ms_max']:.3f} ms"
    )
    print(f"dataset-wide findings after that edit: median {check['findings_ms_median']:.1f} ms")
    print(
        f"parse + canonical dump of every line: json {parsers['json']:.2f} s, "
        f"orjson {parsers['orjson']:.2f} s ({parsers['json'] / parsers['orjson']:.1f}x)"
    )


if __name__ == "__main__":
    main()

"""Fuzzed files through the whole path: read, analyse, report, edit, save.

Whatever the bytes (damaged, deeply nested, halves of characters, huge numbers, NUL bytes,
mixed line endings, spreadsheet cells longer than the csv module's limit), nothing raises,
``check`` exits 0 or 1 with valid JSON, a file saved untouched comes back byte for byte, and
an edit changes only the edited lines.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli import run_check
from desktop.core.analysis import DatasetAnalysis, analyze_records
from desktop.core.catalog import Catalog
from desktop.core.dataset import Container, Dataset, LineState, parse_json_bytes
from desktop.core.formats import DatasetReadError, read_dataset
from desktop.core.jsonl_io import save_jsonl

MODEL = "gpt-4.1-mini-2025-04-14"
CATALOG = Catalog.load()

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def chat_value(user: str, reply: str) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    }


chat_lines = st.builds(
    lambda user, reply, ascii_only: json.dumps(chat_value(user, reply), ensure_ascii=ascii_only),
    TEXT,
    TEXT,
    st.booleans(),
).map(str.encode)


@st.composite
def deep_lines(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([200, 254, 255, 256, 600, 985, 1000, 1023, 1024, 1025, 2000]))
    leaf = draw(st.sampled_from([b"1", b'"\\ud83d"', b"123456789012345678901234567890", b""]))
    line = b'{"messages":[],"x":' + b"[" * depth + leaf + b"]" * depth + b"}"
    if draw(st.booleans()):
        line = line[: draw(st.integers(1, len(line) - 1))]  # cut off somewhere
    return line


surrogate_lines = st.sampled_from(
    [
        b'{"messages":[{"role":"user","content":"Nice \\ud83d"},{"role":"assistant","content":"ok"}]}',
        b'{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"\\udc00b"}]}',
        b'{"messages":[{"role":"hum\\uDC80n","content":"a"}],"\\ud83d":1}',
        b'{"messages":[{"role":"user","content":"x","name":"\\ud800"}]}',
        b'{"prompt":"\\ud83d\\ude00 \\ud83d","completion":"y"}',
        b'["\\ud83d"]',
    ]
)

numbers = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=2**200).map(str),
    st.integers(min_value=-(2**200), max_value=-(2**63) + 2).map(str),
    st.sampled_from(["1e400", "-2.5E+999", "1" * 5000, "0." + "0" * 400 + "1", "1e-400", "-0"]),
)
number_lines = st.builds(
    lambda n, m: f'{{"messages":[{{"role":"user","content":"hi"}}],"n":{n},"m":[{m}]}}'.encode(),
    numbers,
    numbers,
)


@st.composite
def nul_lines(draw: st.DrawFn) -> bytes:
    line = draw(chat_lines)
    at = draw(st.integers(0, len(line)))
    return line[:at] + b"\x00" + line[at:]


@st.composite
def cut_lines(draw: st.DrawFn) -> bytes:
    line = draw(chat_lines)
    return line[: draw(st.integers(1, len(line) - 1))]


any_line = st.one_of(
    chat_lines,
    chat_lines,
    deep_lines(),
    surrogate_lines,
    number_lines,
    nul_lines(),
    cut_lines(),
    chat_lines.map(lambda line: b"\xef\xbb\xbf" + line),
    st.binary(max_size=40),
    st.just(b""),
    st.just(b"   "),
)
endings = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"])


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(any_line, endings), max_size=8))
    data = b"".join(line + ending for line, ending in lines)
    if lines and draw(st.booleans()):
        data = data.rstrip(b"\r\n")  # no line ending after the last line
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


cells = st.one_of(
    TEXT,
    st.just("x" * 140_000),  # over the csv module's default field limit of 131,072
    st.sampled_from(['say "hi"', "two\nlines", "two\r\nlines", "nul\x00byte", "caf\u00e9"]),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.tuples(cells, cells), max_size=4))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = f"prompt,completion{ending}"
    text += "".join(f'"{p.replace(chr(34), 2 * chr(34))}",{c!r}{ending}' for p, c in rows)
    if draw(st.booleans()):
        text += '"an unclosed quote,'
    return text.encode(draw(st.sampled_from(["utf-8", "cp1252"])), errors="replace")


files = st.one_of(
    st.tuples(st.just(".jsonl"), jsonl_files()),
    st.tuples(st.just(".jsonl"), jsonl_files()),
    st.tuples(st.just(".csv"), csv_files()),
    st.tuples(
        st.just(".json"),
        st.lists(any_line, max_size=5).map(lambda items: b"[" + b",\n".join(items) + b"]"),
    ),
)


def check_report(path: Path, json_output: bool, encoding: str) -> None:
    """Run ``check`` as the console does, on a stream that refuses what it cannot encode."""
    buffer = io.BytesIO()
    out = io.TextIOWrapper(buffer, encoding=encoding, errors="strict", newline="")
    err = io.StringIO()
    code = run_check([str(path), *(["--json"] if json_output else [])], out, err)
    out.flush()
    assert code in (0, 1), err.getvalue()
    text = buffer.getvalue().decode(encoding)
    if json_output:
        report = json.loads(text)
        assert isinstance(report["findings"], list)
    else:
        assert "Ready to train: " in text


def edit_everything(dataset: Dataset) -> dict[int, bytes]:
    """Edit every example and retype every broken line; return the ids edited, with the
    bytes each one should be saved as."""
    edited: dict[int, bytes] = {}
    for record in list(dataset):
        if record.state is LineState.EXAMPLE:
            value = record.value
            value["fuzz"] = [value.get("fuzz"), "\u00e9dit\u00e9"]
            dataset.set_value(record.id, value)
        elif record.state is LineState.BROKEN:
            dataset.set_text(record.id, record.text + " ")
        else:
            continue
        edited[record.id] = dataset.record(record.id).to_bytes()
    return edited


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files)
def test_any_file_reads_checks_reports_edits_and_saves(file):
    suffix, data = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(data)
        try:
            dataset = read_dataset(path)
        except DatasetReadError as exc:  # a spreadsheet without the columns it needs
            assert suffix == ".csv" and str(exc)
            return
        for record in dataset:  # reading it exactly agrees with how the line was sorted
            if record.state is LineState.EXAMPLE and record.raw is not None:
                assert parse_json_bytes(record.raw)[1] is None
        if dataset.container is Container.JSONL:
            untouched = Path(folder) / "untouched.jsonl"
            save_jsonl(dataset, untouched)
            assert untouched.read_bytes() == data

        analysis = DatasetAnalysis(CATALOG, MODEL)
        analysis.merge(analyze_records(list(dataset), analysis.counter))
        for finding in analysis.findings():
            finding.text.encode("utf-8")
        analysis.estimate()
        for json_output in (False, True):
            check_report(path, json_output, "utf-8")
        check_report(path, True, "ascii")

        originals = {record.id: record.to_bytes() for record in dataset}
        edited = edit_everything(dataset)
        for record_id in edited:
            analysis.update(dataset.record(record_id))
        analysis.findings()
        saved_path = Path(folder) / "edited.jsonl"
        save_jsonl(dataset, saved_path)
        saved = read_dataset(saved_path)
        assert len(saved) == len(dataset)
        for before, after in zip(dataset, saved, strict=True):
            expected = edited.get(before.id, originals[before.id])
            assert after.raw == expected
            if before.id in edited and before.state is LineState.EXAMPLE:
                assert parse_json_bytes(after.raw)[0] == before.value

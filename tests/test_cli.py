"""``finetune-studio check``: the report, the JSON shape and the exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.cli import run_check

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = {"role": "system", "content": "You answer for Lumen Lamps."}


def chat(i: int) -> dict:
    return {
        "messages": [
            SYSTEM,
            {"role": "user", "content": f"Question number {i}?"},
            {"role": "assistant", "content": f"Answer number {i}."},
        ]
    }


def write_lines(path: Path, values: list) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def ready_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "train.jsonl", [chat(i) for i in range(12)])


def test_ready_file_exits_zero_with_every_json_key(ready_file):
    code, out, err = run([str(ready_file), "--json"])
    assert code == 0, err
    report = json.loads(out)
    for key in (
        "format",
        "model",
        "encoding",
        "examples",
        "broken_lines",
        "findings",
        "tokens",
        "epochs",
        "estimated_cost_usd",
        "ready",
    ):
        assert key in report
    assert report["format"] == "chat"
    assert report["encoding"] == "o200k_base"
    assert report["examples"] == 12
    assert report["broken_lines"] == 0
    assert report["ready"] is True
    assert set(report["tokens"]) >= {
        "total",
        "billable_per_epoch",
        "assistant",
        "max_example",
        "over_limit",
    }
    # 12 examples: the notebook's heuristic gives min(25, 100 // 12) = 8 epochs.
    assert report["epochs"] == 8
    assert report["tokens"]["billable_per_epoch"] == report["tokens"]["total"]
    price = report["training_price_per_1m_usd"]
    expected = report["tokens"]["total"] * 8 * price / 1_000_000
    assert report["estimated_cost_usd"] == pytest.approx(expected)


def test_token_total_matches_a_hand_count(tmp_path):
    path = write_lines(
        tmp_path / "one.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                ]
            }
        ],
    )
    code, out, _ = run([str(path), "--json", "--model", "gpt-4o-mini-2024-07-18"])
    report = json.loads(out)
    # o200k_base: "user"=1, "Hi"=1, "assistant"=1, "Hello!"=2 ("Hello", "!"); 3 per message, +3.
    assert report["tokens"]["total"] == 3 + 1 + 1 + 3 + 1 + 2 + 3
    assert report["tokens"]["assistant"] == 2
    assert code == 1  # one example is fewer than ten


def test_findings_carry_code_severity_line_and_message_index(tmp_path):
    values = [chat(i) for i in range(11)]
    values[4]["messages"][2] = {"role": "assistant"}
    path = write_lines(tmp_path / "bad.jsonl", values)
    code, out, _ = run([str(path), "--json"])
    assert code == 1
    report = json.loads(out)
    assert report["ready"] is False
    missing = [f for f in report["findings"] if f["code"] == "message_missing_key"]
    assert missing == [
        {
            "code": "message_missing_key",
            "severity": "error",
            "line": 5,
            "message_index": 2,
            "text": missing[0]["text"],
            "fix": missing[0]["fix"],
            "file": "training",
        }
    ]
    assert missing[0]["text"]


def test_broken_lines_are_counted_and_block(tmp_path):
    path = tmp_path / "broken.jsonl"
    good = "".join(json.dumps(chat(i)) + "\n" for i in range(10))
    path.write_text(good + '{"messages": [\n', encoding="utf-8")
    code, out, _ = run([str(path), "--json"])
    report = json.loads(out)
    assert code == 1
    assert report["broken_lines"] == 1
    assert [f["line"] for f in report["findings"] if f["code"] == "invalid_json"] == [11]


def test_explicit_epochs_and_validation_overlap(tmp_path, ready_file):
    validation = write_lines(tmp_path / "val.jsonl", [chat(3), chat(100)])
    code, out, _ = run(
        [str(ready_file), "--json", "--epochs", "2", "--validation", str(validation)]
    )
    report = json.loads(out)
    assert report["epochs"] == 2
    assert report["tokens"]["billable_total"] == 2 * report["tokens"]["billable_per_epoch"]
    overlap = [f for f in report["findings"] if f["code"] == "train_validation_overlap"]
    assert len(overlap) == 1 and overlap[0]["line"] == 4
    assert report["validation"]["examples"] == 2
    assert code == 1


def test_cl100k_model_and_fine_tuned_ids(ready_file):
    _, out, _ = run([str(ready_file), "--json", "--model", "gpt-3.5-turbo-0125"])
    assert json.loads(out)["encoding"] == "cl100k_base"
    _, out, _ = run([str(ready_file), "--json", "--model", "ft:gpt-4.1-mini-2025-04-14:org:x:abc"])
    report = json.loads(out)
    assert report["encoding"] == "o200k_base"
    assert report["model_known"] is True


def test_price_overrides_change_the_cost(tmp_path, ready_file):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"models": {"gpt-4.1-mini-2025-04-14": {"training_price_per_1m": 1000.0}}})
    )
    _, out, _ = run([str(ready_file), "--json", "--prices", str(prices)])
    report = json.loads(out)
    assert report["training_price_per_1m_usd"] == 1000.0
    assert report["estimated_cost_usd"] == pytest.approx(report["tokens"]["billable_total"] / 1000)


def test_plain_report_is_readable(ready_file):
    code, out, _ = run([str(ready_file)])
    assert code == 0
    assert "12 examples" in out
    assert "Ready to train: yes" in out
    assert "Estimated cost: $" in out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["missing.jsonl"],
        ["{file}", "--epochs", "0"],
        ["{file}", "--epochs", "many"],
        ["{file}", "--bogus"],
    ],
)
def test_usage_and_file_problems_exit_two_without_a_traceback(args, ready_file):
    args = [a.replace("{file}", str(ready_file)) for a in args]
    code, out, err = run(args)
    assert code == 2
    assert out == ""
    assert err.startswith("finetune-studio check: ")
    assert "Traceback" not in err


def test_console_entry_point_runs_check_without_qt(ready_file):
    """The installed command path: no display, no Qt import needed for check."""
    script = (
        "import sys; from desktop.__main__ import main; code = main(['check', sys.argv[1]]);"
        " assert 'PySide6' not in sys.modules; sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(ready_file)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "Ready to train: yes" in result.stdout


# Any file, any locale: a report or a plain sentence, never a traceback -------------------------

HALF_EMOJI = (
    '{"messages":[{"role":"user","content":"Caf\u00e9 \\ud83d"},'
    '{"role":"assistant","content":"Bien s\u00fbr"}],"\\ud83d":1}\n'
)


def run_installed(args: list[str], **env: str | None) -> subprocess.CompletedProcess:
    """The command as a user runs it: its own process, output to a pipe, not a terminal."""
    environment = dict(os.environ)
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run(
        [sys.executable, "-m", "desktop", "check", *args],
        capture_output=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def assert_report(result: subprocess.CompletedProcess, json_output: bool) -> dict | None:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert result.returncode in (0, 1), stderr
    if json_output:
        return json.loads(result.stdout)
    assert b"Ready to train: " in result.stdout
    return None


@pytest.mark.parametrize("json_output", [False, True], ids=["plain", "json"])
def test_a_finding_quoting_half_a_character_prints_in_full(tmp_path, json_output):
    path = tmp_path / "half.jsonl"
    path.write_text(HALF_EMOJI * 2 + "".join(json.dumps(chat(i)) + "\n" for i in range(10)))
    result = run_installed([str(path), *(["--json"] if json_output else [])])
    report = assert_report(result, json_output)
    text = result.stdout.decode("utf-8")
    assert "\\ud83d" in text
    if report is not None:
        assert {f["code"] for f in report["findings"]} >= {"broken_character"}
        # Quoted as the escape the file holds, so any terminal can show it.
        assert any('("Caf\u00e9 \\ud83d")' in f["text"] for f in report["findings"])


@pytest.mark.parametrize("json_output", [False, True], ids=["plain", "json"])
def test_the_report_prints_in_the_c_locale_on_an_ascii_pipe(tmp_path, json_output):
    path = tmp_path / "caf\u00e9.jsonl"
    lines = [HALF_EMOJI, '{"messages":[{"role":"hum\u00e1n","content":"\u00bfQu\u00e9?"}]}\n']
    path.write_text("".join(lines * 30), encoding="utf-8")  # more findings than are printed
    result = run_installed(
        [str(path), *(["--json"] if json_output else [])],
        LC_ALL="C",
        LANG="C",
        PYTHONUTF8="0",
        PYTHONIOENCODING=None,
    )
    report = assert_report(result, json_output)
    result.stdout.decode("ascii")
    if report is not None:
        # The C locale cannot decode the name; its bytes show as escapes.
        assert report["file"].endswith("caf\udcc3\udca9.jsonl")
        assert any("hum\u00e1n" in f["text"] for f in report["findings"])
    else:
        assert b"more (use --json to see them all)" in result.stdout


@pytest.mark.parametrize(
    "content",
    [
        b'{"messages":[],"x":' + b"[" * 1000 + b"]" * 1000 + b"}\n",
        b'{"messages":[],"n":1e400}\n{"messages":[],"n":' + b"1" * 5000 + b"}\n",
        b'{"messages":[{"role":"user","content":"a\x00b"}]}\r{"messages":[]}\r\n\xef\xbb\xbf{}\n',
        b"\xff\xfe\x00\x00binary\x00\x01\x02" * 100,
        b"",
        b"\n\n\n",
    ],
    ids=["deep", "huge-numbers", "nul-cr-bom", "binary", "empty", "blank"],
)
@pytest.mark.parametrize("json_output", [False, True], ids=["plain", "json"])
def test_damaged_files_give_a_report(tmp_path, content, json_output):
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(content)
    code, out, err = run([str(path), *(["--json"] if json_output else [])])
    assert "Traceback" not in err
    if code == 2 and content.startswith(b"\xff\xfe"):  # a binary file may be refused
        assert out == "" and err.startswith("finetune-studio check: ")
        return
    assert code == 1, err
    if json_output:
        json.loads(out)
    else:
        assert "Ready to train: no" in out


def test_a_spreadsheet_cell_over_the_csv_field_limit_is_checked(tmp_path):
    path = tmp_path / "long.csv"
    rows = "".join(f'"question {i}","answer {i}"\n' for i in range(12))
    path.write_text(f'prompt,completion\n"{"word " * 40_000}",short\n{rows}', encoding="utf-8")
    code, out, err = run([str(path), "--json"])
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["examples"] == 13
    assert report["broken_lines"] == 0


@pytest.mark.parametrize(
    ("target", "words"),
    [("folder", "is a folder"), ("/proc/self/mem", "could not be read")],
)
def test_folders_and_unreadable_files_are_refused_in_one_sentence(tmp_path, target, words):
    path = tmp_path if target == "folder" else Path(target)
    if not path.exists():
        pytest.skip("needs Linux's /proc")
    result = run_installed([str(path)])
    assert result.returncode == 2
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("finetune-studio check: ") and words in stderr
    assert "Traceback" not in stderr


def test_counts_read_naturally(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(chat(1)) + "\n{broken\n", encoding="utf-8")
    code, out, _ = run([str(path), "--epochs", "1"])
    assert code == 1
    assert "chat examples, 1 example, 1 broken line\n" in out
    assert "Training: 1 epoch x " in out
    assert "fix the 2 errors first" in out
    code, out, _ = run([str(write_lines(tmp_path / "ok.jsonl", [chat(i) for i in range(12)]))])
    assert "12 examples, no broken lines" in out
    assert "Problems: none found" in out or "no errors" in out


SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
SHAREGPT_MESSAGES = {
    "messages": [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Hey"}]
}
ALPACA = {"instruction": "Say hi", "input": "", "output": "Hi"}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


@pytest.mark.parametrize(
    ("item", "name", "fmt"),
    [
        (SHAREGPT, "ShareGPT", "sharegpt"),
        (SHAREGPT_MESSAGES, "ShareGPT", "sharegpt"),
        (ALPACA, "Alpaca", "alpaca"),
        (GEMINI, "Gemini / Vertex AI tuning", "gemini"),
    ],
    ids=["sharegpt", "sharegpt-messages", "alpaca", "gemini"],
)
def test_another_trainers_file_is_named_once_with_what_to_do(tmp_path, item, name, fmt):
    path = write_lines(tmp_path / "other.jsonl", [item] * 12)
    code, out, err = run([str(path)])
    assert code == 1, err
    assert f"This file holds {name} examples, not OpenAI chat examples" in out
    assert "File > Import in the app" in out
    assert out.count("ERROR") == 1 and "no conversation" not in out
    assert "Tokens and cost: not counted until the file is converted" in out
    assert "Ready to train: no, convert it first" in out
    out.encode("ascii")  # says it in words any terminal can show

    code, out, _ = run([str(path), "--json"])
    report = json.loads(out)
    assert code == 1 and report["format"] == fmt and not report["ready"]
    assert [f["code"] for f in report["findings"]] == ["foreign_format"]


def test_a_stray_foreign_line_in_an_openai_file_is_checked_as_a_line(tmp_path):
    path = write_lines(tmp_path / "train.jsonl", [chat(i) for i in range(12)] + [SHAREGPT])
    code, out, _ = run([str(path), "--json"])
    report = json.loads(out)
    assert code == 1  # the stray line is a broken example
    assert report["format"] == "chat" and report["examples"] == 12
    assert "foreign_format" not in {f["code"] for f in report["findings"]}


@pytest.mark.parametrize(
    ("model", "ready"), [("gpt-4.1-mini-2025-04-14", False), ("babbage-002", True)]
)
def test_prompt_completion_pairs_are_ready_only_for_a_model_that_takes_them(tmp_path, model, ready):
    pairs = [{"prompt": f"Question {i}?", "completion": f" Answer {i}."} for i in range(12)]
    path = write_lines(tmp_path / "pairs.jsonl", pairs)
    code, out, _ = run([str(path), "--model", model])
    assert (code == 0) is ready
    assert ("Ready to train: yes" in out) is ready
    assert (f"{model} trains only on chat examples" in out) is not ready


def test_help_lists_the_commands_that_work_without_the_window(capsys):
    from desktop.app import parse_app_args

    with pytest.raises(SystemExit):
        parse_app_args(["--help"])
    said = capsys.readouterr().out
    for command in ("check FILE", "train-local FILE", "selftest"):
        assert f"\n  {command} " in said


def test_a_mistyped_command_is_named_not_taken_for_a_file(capsys, tmp_path, monkeypatch):
    from desktop.__main__ import _mistyped_command, main

    assert main(["chek", "data.jsonl"]) == 2
    said = capsys.readouterr().err
    assert "'chek' is neither a command nor a file" in said
    assert "Did you mean 'finetune-studio check'?" in said
    assert _mistyped_command(["selftst"]) == "selftest"
    assert _mistyped_command(["train_local", "x"]) == "train-local"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chek").write_text("")  # a file of that name is opened, as asked
    assert _mistyped_command(["chek"]) is None
    assert _mistyped_command(["support.jsonl"]) is None
    assert _mistyped_command(["--version"]) is None


def test_without_a_display_the_app_says_so_in_words_instead_of_aborting():
    from desktop.app import missing_display

    assert missing_display({}, "linux") is not None
    assert missing_display({"DISPLAY": ":0"}, "linux") is None
    assert missing_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert missing_display({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert missing_display({}, "darwin") is None and missing_display({}, "win32") is None
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = subprocess.run(
        [sys.executable, "-m", "desktop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if sys.platform.startswith("linux"):
        assert done.returncode == 2
        assert "needs a desktop session to show its window" in done.stderr
        assert "finetune-studio check FILE" in done.stderr
        assert "qt.qpa" not in done.stderr and "Aborted" not in done.stderr

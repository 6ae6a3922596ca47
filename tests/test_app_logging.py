"""The log file never holds an API key, even inside a traceback, and only its owner reads it."""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.api.redaction import register_secret
from desktop.app import crash_file, log_file, setup_logging


def test_log_file_redacts_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    path = setup_logging()
    root = logging.getLogger()
    handler = root.handlers[-1]
    try:
        registered = "custom-key-0123456789-abcdefghij"
        register_secret(registered)
        log = logging.getLogger("desktop.test")
        log.error("calling with sk-proj-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd")
        log.error("profile key is %s", registered)
        try:
            raise RuntimeError(f"Authorization: Bearer {registered}")
        except RuntimeError:
            log.exception("request failed")
        handler.flush()
        text = path.read_text(encoding="utf-8")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert "request failed" in text
    assert "sk-proj-ABCDEFGHIJ" not in text
    assert registered not in text


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_log_file_and_its_backups_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    path = log_file()
    path.parent.mkdir(parents=True)
    path.write_text("old log\n", encoding="utf-8")
    old_backup = path.with_name(path.name + ".2")
    old_backup.write_text("older log\n", encoding="utf-8")
    for left_by_an_older_version in (path, old_backup):
        left_by_an_older_version.chmod(0o644)
    assert setup_logging() == path
    root = logging.getLogger()
    handler = root.handlers[-1]
    try:
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        handler.maxBytes = 200  # rotate a few times
        log = logging.getLogger("desktop.test")
        for number in range(20):
            log.warning("line %d of a log that rotates %s", number, "x" * 40)
        handler.flush()
    finally:
        root.removeHandler(handler)
        handler.close()
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == [path.name] + [f"{path.name}.{n}" for n in (1, 2, 3)]
    modes = {f.name: oct(f.stat().st_mode & 0o777) for f in files}
    assert set(modes.values()) == {"0o600"}, modes


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_old_backup_beyond_rotation_is_made_private_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    path = log_file()
    path.parent.mkdir(parents=True)
    backup = path.with_name(path.name + ".3")
    backup.write_text("an old backup\n", encoding="utf-8")
    backup.chmod(0o644)
    setup_logging()
    handler = logging.getLogger().handlers[-1]
    logging.getLogger().removeHandler(handler)
    handler.close()
    assert backup.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o600


CRASHING = """
import faulthandler, sys
from pathlib import Path
from desktop.app import record_crashes

def crash_in_native_code():
    faulthandler._sigsegv()  # what a crash in Qt's own code does to the process

assert record_crashes(Path(sys.argv[1])) is not None
crash_in_native_code()
"""


def test_a_crash_of_the_process_leaves_every_threads_stack_in_a_private_file(tmp_path):
    # A crash in native code passes no excepthook: without this nothing says where it was.
    log_path = tmp_path / "logs" / "app.log"
    log_path.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CRASHING, str(log_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    crash = crash_file(log_path)
    text = crash.read_text(encoding="utf-8")
    assert "Segmentation fault" in text
    assert "crash_in_native_code" in text
    if os.name == "posix":
        assert crash.stat().st_mode & 0o777 == 0o600

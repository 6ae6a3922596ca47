"""The app's log file never holds an API key, even inside a traceback."""

from __future__ import annotations

import logging

from desktop.api.redaction import register_secret
from desktop.app import setup_logging


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

"""The installer's smoke path, run against the source tree: offline, bundled encodings only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.selftest import no_network

ROOT = Path(__file__).resolve().parent.parent


def test_no_network_refuses_and_records_connections():
    with no_network() as attempts:
        with pytest.raises(OSError, match="not allowed"):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        with pytest.raises(OSError, match="not allowed"):
            socket.getaddrinfo("example.invalid", 443)
    assert len(attempts) == 2
    # Restored afterwards: a plain lookup of the loopback name works again.
    assert socket.getaddrinfo("127.0.0.1", 9)


def test_selftest_opens_the_sample_and_counts_offline(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("OPENAI_")
    }
    env.update(
        HOME=str(tmp_path),
        FINETUNE_STUDIO_HOME=str(tmp_path / "studio"),
        QT_QPA_PLATFORM="offscreen",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
    )
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "selftest", "--gui"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "o200k_base: 40 examples" in result.stdout
    assert "cl100k_base: 40 examples" in result.stdout
    assert result.stdout.count("counted with the fast counter") == 2
    assert "window showing the counted sample" in result.stdout
    assert result.stdout.rstrip().endswith("nothing downloaded")

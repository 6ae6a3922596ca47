"""A private D-Bus session with an unlocked gnome-keyring, for tests of the real keyring path.

Nothing touches the user's own session: the bus has its own socket in a temp folder, no
service activation (so nothing gets spawned behind our back), and both daemons are children
of the test process that are terminated (then killed) at the end.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
STARTUP_TIMEOUT = 10.0


class SecretServiceUnavailable(RuntimeError):
    """The binaries or Python packages needed for a real Secret Service are missing."""


def missing_requirements() -> str | None:
    """Why a private Secret Service cannot be started here, or ``None`` if it can."""
    for binary, package in (
        ("dbus-daemon", "dbus-daemon"),
        ("gnome-keyring-daemon", "gnome-keyring"),
    ):
        if shutil.which(binary) is None:
            return f"{binary} not found (install the '{package}' package)"
    try:
        import secretstorage  # noqa: F401
    except ImportError:
        return "the 'secretstorage' Python package is not installed"
    return None


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise SecretServiceUnavailable("dbus-daemon did not report its address in time")
    return process.stdout.readline().decode().strip()


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def private_secret_service(password: str = "test-password") -> Iterator[dict[str, str]]:
    """Start dbus-daemon + gnome-keyring-daemon; yield the environment variables to use."""
    reason = missing_requirements()
    if reason is not None:
        raise SecretServiceUnavailable(reason)
    import secretstorage

    root = Path(tempfile.mkdtemp(prefix="fts-keyring-"))
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    socket_path = runtime / "bus"
    config = root / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket_path))
    env = {
        **os.environ,
        "HOME": str(root / "home"),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
    }
    bus: subprocess.Popen[bytes] | None = None
    keyring_daemon: subprocess.Popen[bytes] | None = None
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        address = _read_line(bus, STARTUP_TIMEOUT)
        if not address.startswith("unix:"):
            raise SecretServiceUnavailable(f"unexpected bus address {address!r}")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        keyring_daemon = subprocess.Popen(
            [
                "gnome-keyring-daemon",
                "--foreground",
                "--unlock",
                "--components=secrets",
                f"--control-directory={runtime / 'keyring'}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert keyring_daemon.stdin is not None
        keyring_daemon.stdin.write(password.encode() + b"\n")
        keyring_daemon.stdin.close()
        _wait_for_service(address, secretstorage, keyring_daemon)
        yield {
            "DBUS_SESSION_BUS_ADDRESS": address,
            "XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"],
        }
    finally:
        _stop(keyring_daemon)
        _stop(bus)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_service(address: str, secretstorage: object, daemon: subprocess.Popen[bytes]) -> None:
    previous = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise SecretServiceUnavailable("gnome-keyring-daemon exited during start-up")
            with contextlib.suppress(Exception):
                connection = secretstorage.dbus_init()  # type: ignore[attr-defined]
                try:
                    if secretstorage.check_service_availability(connection):  # type: ignore[attr-defined]
                        return
                finally:
                    connection.close()
            time.sleep(0.05)
        raise SecretServiceUnavailable("the Secret Service did not appear on the bus in time")
    finally:
        if previous is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = previous

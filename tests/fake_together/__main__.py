"""Run the fake Together AI server by hand: ``python -m tests.fake_together --port 8090``.

The clock follows wall time (``--speed`` hurries it: at 50 a new job logs per-step metrics
within a few seconds), so jobs progress and endpoints start on their own and the app can be
tried end to end without an account. Every request and answer is checked against Together's
OpenAPI description, which needs ``jsonschema`` (the test extras): without it the server does
not start.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from tests.fake_together.server import DEFAULT_TEST_KEY, FakeTogetherServer, MissingDependency
from tests.fake_together.state import Timing


def _complain(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_together", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--key", default=DEFAULT_TEST_KEY, help="API key clients must send")
    parser.add_argument("--speed", type=float, default=1.0, help="fake seconds per real second")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="duration of a step")
    parser.add_argument(
        "--endpoint-start-seconds", type=float, default=20.0, help="time an endpoint takes to start"
    )
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be above 0")
    server = FakeTogetherServer(
        api_key=args.key,
        host=args.host,
        port=args.port,
        start_time=time.time(),
        timing=Timing(per_step=args.step_seconds, endpoint_start=args.endpoint_start_seconds),
        on_problem=_complain,
    )
    try:
        server.start()
    except MissingDependency as exc:
        _complain(f"Cannot start: {exc}")
        return 2
    except OSError as exc:
        _complain(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 2
    server.start_realtime(speed=args.speed)
    print(f"Fake Together AI server at {server.base_url}", flush=True)
    print(f"API key: {args.key}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

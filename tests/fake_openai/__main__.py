"""Run the fake provider by hand: ``python -m tests.fake_openai --port 8089``.

The clock follows wall time (``--speed`` to hurry it), so fine-tuning jobs progress on their
own and the app can be tried end to end without an account. It needs only what the app's
plain install brings; with ``jsonschema`` installed (the test extras) it also checks every
request against the OpenAPI description and prints what does not match.

``--flavor nebius`` serves Nebius Token Factory instead: its own job fields (checked, always),
the loss with each checkpoint, and ``/v0/models`` to deploy a trained LoRA for chat.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from tests.fake_openai.server import (
    DEFAULT_TEST_KEY,
    FakeOpenAIServer,
    MissingDependency,
    require_schema_support,
)
from tests.fake_openai.state import FLAVORS, Timing


def _complain(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--key", default=DEFAULT_TEST_KEY, help="API key clients must send")
    parser.add_argument("--no-key", action="store_true", help="accept requests without a key")
    parser.add_argument("--speed", type=float, default=1.0, help="fake seconds per real second")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="duration of a step")
    parser.add_argument("--queue-seconds", type=float, default=5.0)
    parser.add_argument("--validate-seconds", type=float, default=3.0)
    parser.add_argument(
        "--deploy-seconds",
        type=float,
        default=20.0,
        help="how long a deployed custom model takes to become active (nebius)",
    )
    parser.add_argument(
        "--flavor", choices=FLAVORS, default="openai", help="which provider to imitate"
    )
    checks = parser.add_mutually_exclusive_group()
    checks.add_argument(
        "--check-schemas",
        action="store_true",
        help="check requests against the OpenAPI description (needs jsonschema)",
    )
    checks.add_argument("--no-check-schemas", action="store_true", help="do not check requests")
    args = parser.parse_args(argv)

    check_schemas = not args.no_check_schemas
    if check_schemas and not args.check_schemas:
        try:
            require_schema_support()
        except MissingDependency:
            check_schemas = False
            _complain("Requests are not checked against the OpenAPI description (no jsonschema).")
    server = FakeOpenAIServer(
        api_key=None if args.no_key else args.key,
        host=args.host,
        port=args.port,
        start_time=time.time(),
        timing=Timing(
            validating=args.validate_seconds,
            queued=args.queue_seconds,
            per_step=args.step_seconds,
            deploying=args.deploy_seconds,
        ),
        check_schemas=check_schemas,
        on_problem=_complain,
        flavor=args.flavor,
    )
    # Ctrl+C stops the server even when started from a script's background job, which
    # inherits SIGINT ignored; and it may come as soon as the address is printed.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.start()
    except MissingDependency as exc:
        _complain(f"Cannot start: {exc}")
        return 2
    try:
        _serve(server, args)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _serve(server: FakeOpenAIServer, args: argparse.Namespace) -> None:
    """Say where the server is, then serve until interrupted."""
    server.start_realtime(speed=args.speed)
    if args.flavor == "nebius":
        print(f"Fake Nebius Token Factory at {server.base_url}", flush=True)
        print(f"Custom models (deployments):  {server.nebius_models_url}", flush=True)
    else:
        print(f"Fake OpenAI-compatible server at {server.base_url}", flush=True)
        print(f"Azure-style base URL:            {server.azure_base_url}", flush=True)
    print("API key: " + ("(none needed)" if args.no_key else args.key), flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    raise SystemExit(main())

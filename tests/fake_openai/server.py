"""A local HTTP server that speaks the part of the OpenAI API the app uses.

The real ``openai`` SDK is pointed at it with ``base_url`` (``/v1`` or the Azure-style
``/openai/v1`` prefix). It answers in the shapes of the official OpenAPI description, records
every request, and can be told to misbehave per route (auth failures, quota, rate limits, slow
answers, dropped connections, broken JSON, requests carried out whose answer never comes) so
error handling can be tested end to end.

Checking requests against the OpenAPI description needs ``jsonschema``; a server asked to
check (the default) without it refuses to start, rather than failing on every request.

``flavor="nebius"`` makes it Nebius Token Factory: the same ``/v1`` paths with Nebius's own
job fields (checked by ``tests.fake_openai.nebius``, not by the OpenAPI description), no pause,
resume or Uploads API, and ``/v0/models`` to deploy a trained LoRA as a custom model.
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import json
import re
import select
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fake_openai import nebius, replies
from tests.fake_openai.state import (
    DEFAULT_MODELS,
    DEFAULT_START,
    NEBIUS_MODELS,
    ApiError,
    FakeClock,
    FakeState,
    Job,
    StoredModel,
    Timing,
)

DEFAULT_TEST_KEY = "sk-fake-" + "test-4f3c2a1b0e9d8c7b6a5f4e3d"
_PREFIX = re.compile(r"^(?:/openai)?/v1(?=/|$)")
_V0 = re.compile(r"^/v0(?=/|$)")

FaultKind = Literal[
    "invalid_api_key",
    "permission_denied",
    "training_not_available",
    "model_not_found",
    "rate_limit",
    "insufficient_quota",
    "server_error",
    "slow",
    "drop",
    "malformed_json",
    "no_answer",
    "redirect",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


@dataclass
class FaultRule:
    """One injected misbehaviour for requests matching ``method`` and a path glob."""

    kind: str
    method: str = "*"
    path: str = "*"
    remaining: int | None = 1
    retry_after: float | None = None
    delay: float = 1.0
    status: int | None = None
    message: str | None = None
    after_chunks: int = 2
    appear_after: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (and still has uses left)."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


@dataclass
class RecordedRequest:
    """What the server saw (auth header values are masked) and what it answered."""

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_size: int
    json: Any = None
    form: dict[str, str] | None = None
    operation_id: str | None = None
    auth: str | None = None
    key_ok: bool | None = None
    fault: str | None = None
    status: int | None = None
    response_json: Any = None
    stream_chunks: list[Any] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)


@dataclass
class _Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[dict[str, Any]] | None = None


@dataclass
class _Call:
    params: dict[str, str]
    query: dict[str, list[str]]
    json: Any
    form: dict[str, str]
    files: dict[str, tuple[str, bytes]]
    fault: FaultRule | None = None

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


Handler = Callable[["FakeOpenAIServer", _Call], _Reply]


class FakeOpenAIServer:
    """The fake provider: start it, point a client at ``base_url``, move its clock by hand."""

    def __init__(
        self,
        *,
        api_key: str | None = DEFAULT_TEST_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        timing: Timing | None = None,
        seed: int = 1234,
        start_time: float = DEFAULT_START,
        models: Iterable[StoredModel] | None = None,
        max_file_bytes: int = 512 * 1024 * 1024,
        max_part_bytes: int = 64 * 1024 * 1024,
        results_base64: bool = False,
        check_schemas: bool = True,
        on_problem: Callable[[str], None] | None = None,
        flavor: str = "openai",
    ) -> None:
        """``on_problem`` hears of every bug inside the fake and every request that breaks the
        OpenAPI description, as they happen (a server run by hand prints them). ``models``
        defaults to the flavour's own list."""
        self.api_key = api_key
        self.flavor = flavor
        self.clock = FakeClock(start_time)
        if models is None:
            models = NEBIUS_MODELS if flavor == "nebius" else DEFAULT_MODELS
        self.state = FakeState(
            self.clock,
            timing=timing,
            seed=seed,
            models=models,
            max_file_bytes=max_file_bytes,
            max_part_bytes=max_part_bytes,
            results_base64=results_base64,
            flavor=flavor,
        )
        self.check_schemas = check_schemas
        self._host = host
        self._port = port
        self._faults: list[FaultRule] = []
        self._records: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._ticker_stop = threading.Event()
        self._request_ids = itertools.count(1)
        self._internal_errors: list[str] = []
        self._on_problem = on_problem

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        """Bind (random port by default) and serve in a background thread.

        Raises ``MissingDependency`` at once when schema checks are asked for and
        ``jsonschema`` is not installed.
        """
        if self.check_schemas:
            require_schema_support()
        handler = type("BoundHandler", (_RequestHandler,), {"fake": self})
        httpd = _QuietServer((self._host, self._port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any delayed answers and release the port."""
        self._stopping.set()
        self.stop_realtime()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` without any API prefix."""
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``."""
        return f"{self.root_url}/v1"

    @property
    def nebius_models_url(self) -> str:
        """Where Nebius's custom models live (``/v0/models``, beside ``/v1``)."""
        return f"{self.root_url}/v0/models"

    @property
    def azure_base_url(self) -> str:
        """Base URL shaped like Azure's v1 endpoint (``.../openai/v1``)."""
        return f"{self.root_url}/openai/v1"

    # ---- clock -----------------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        """Move the fake clock (and every active job) forward."""
        return self.clock.advance(seconds)

    def start_realtime(self, speed: float = 1.0, interval: float = 0.25) -> None:
        """Let the clock follow wall time (times ``speed``) for hand-driven sessions."""
        if self._ticker is not None:
            return
        self._ticker_stop.clear()

        def tick() -> None:
            last = time.monotonic()
            while not self._ticker_stop.wait(interval):
                now = time.monotonic()
                self.clock.advance((now - last) * speed)
                last = now

        self._ticker = threading.Thread(target=tick, daemon=True)
        self._ticker.start()

    def stop_realtime(self) -> None:
        """Stop following wall time."""
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None

    # ---- faults ----------------------------------------------------------------------------
    def inject(
        self,
        kind: FaultKind,
        *,
        method: str = "*",
        path: str = "*",
        times: int | None = 1,
        retry_after: float | None = None,
        delay: float = 1.0,
        status: int | None = None,
        message: str | None = None,
        after_chunks: int = 2,
        appear_after: float = 0.0,
    ) -> FaultRule:
        """Misbehave on matching requests for the next ``times`` calls (``None``: always).

        ``path`` is a glob on the path after ``/v1`` (a leading ``/v1`` is ignored), e.g.
        ``"/fine_tuning/jobs"`` or ``"/fine_tuning/jobs/*/events"``.

        ``slow`` waits ``delay`` real seconds before acting. ``drop`` and ``malformed_json``
        act, then cut the answer half-way or send half of it as if whole. ``no_answer`` acts
        and sends nothing: the connection stays open until the client gives up (a timeout)
        or ``delay`` real seconds pass, then closes; a job it creates is listed only once the
        clock has moved ``appear_after`` fake seconds (a provider slow to show what it made).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        rule = FaultRule(
            kind=kind,
            method=method,
            path=_PREFIX.sub("", path) or "/",
            remaining=times,
            retry_after=retry_after,
            delay=delay,
            status=status,
            message=message,
            after_chunks=after_chunks,
            appear_after=appear_after,
        )
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._faults:
                if rule.matches(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    rule.hits += 1
                    return rule
        return None

    # ---- records ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._records)

    def requests_to(self, method: str, path: str = "*") -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the glob."""
        path = _PREFIX.sub("", path) or "/"
        return [
            r
            for r in self.requests
            if r.method == method.upper() and fnmatch.fnmatchcase(r.path, path)
        ]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._records.clear()

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake (should stay empty)."""
        return list(self._internal_errors)

    def _internal_error(self, text: str) -> None:
        self._internal_errors.append(text)
        self._problem(text)

    def _problem(self, text: str) -> None:
        if self._on_problem is not None:
            self._on_problem(text)

    # ---- convenience -----------------------------------------------------------------------
    def add_file(self, filename: str, content: bytes, purpose: str = "fine-tune") -> str:
        """Store a file directly (no HTTP); returns its id."""
        return self.state.create_file(filename, purpose, content).id

    def add_model(
        self,
        model_id: str,
        *,
        shutdown_date: str | None = None,
        fine_tunable: bool = False,
        owned_by: str = "system",
        created: int = 1_700_000_000,
    ) -> None:
        """List one more model."""
        with self.state.lock:
            self.state.models[model_id] = StoredModel(
                model_id, created, owned_by, shutdown_date, fine_tunable
            )

    def job(self, job_id: str) -> Job:
        """The simulated job (for white-box assertions)."""
        return self.state.get_job(job_id)

    def new_request_id(self) -> str:
        """An ``x-request-id`` value."""
        return f"req_fake_{next(self._request_ids):06d}"


class MissingDependency(RuntimeError):
    """A package the fake server needs is not installed."""


def require_schema_support() -> None:
    """Load the OpenAPI checks now, or say plainly which package to install."""
    try:
        from tests.fake_openai import openapi

        openapi.load_spec()
    except ImportError as exc:
        raise MissingDependency(
            f"The fake server checks requests against the OpenAPI description, which needs "
            f"the {exc.name or 'jsonschema'} package. Install it with: "
            f"pip install 'jsonschema>=4.21' (or pip install '.[test]'), or start the server "
            "without schema checks."
        ) from exc


# ---- HTTP plumbing ---------------------------------------------------------------------------
_AUTH_HEADERS = ("authorization", "api-key")


class _QuietServer(ThreadingHTTPServer):
    """Clients hanging up (timeouts, closed keep-alive sockets) is normal here, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        owner = getattr(self.RequestHandlerClass, "fake", None)
        if owner is not None:
            owner._internal_error(traceback.format_exc())


class _Dropped(Exception):
    """The connection was cut on purpose."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    fake: FakeOpenAIServer

    def setup(self) -> None:
        """Send small writes at once; Nagle plus delayed ACKs would add ~40 ms per request."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; tests assert on recorded requests instead."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ---- request reading -------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        raw_path = split.path
        path = _PREFIX.sub("", raw_path) if _PREFIX.match(raw_path) else raw_path
        path = path or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        body = self._read_body()
        headers = {
            k.lower(): ("***" if k.lower() in _AUTH_HEADERS else v) for k, v in self.headers.items()
        }
        record = RecordedRequest(
            method=method,
            path=path,
            raw_path=raw_path,
            query=query,
            headers=headers,
            body_size=len(body),
        )
        call = _Call(params={}, query=query, json=None, form={}, files={})
        content_type = self.headers.get("Content-Type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                call.form, call.files = _parse_multipart(body, content_type)
                record.form = {
                    **call.form,
                    **{k: f"<{len(v[1])} bytes>" for k, v in call.files.items()},
                }
            elif body:
                call.json = json.loads(body)
                record.json = call.json
        except (ValueError, UnicodeDecodeError):
            record.schema_errors.append("request body is not valid JSON or multipart")
        route: tuple[str, Handler, dict[str, str]] | None = None
        if _PREFIX.match(raw_path):
            route = _match_route(method, path, fake.flavor)
        elif fake.flavor == "nebius" and _V0.match(raw_path):
            route = _match_nebius_route(method, _V0.sub("", raw_path) or "/")
        handler: Handler | None = None
        if route is not None:
            record.operation_id, handler, call.params = route
        fake._record(record)
        try:
            self._check_request_schema(record)
        except Exception:  # a bug in the check must not cost the client its answer
            fake._internal_error(traceback.format_exc())
        if record.schema_errors:
            fake._problem(
                f"{method} {raw_path} does not match the OpenAPI description: "
                + "; ".join(record.schema_errors)
            )
        try:
            self._respond(record, call, handler)
        except _Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _check_request_schema(self, record: RecordedRequest) -> None:
        if self.fake.flavor == "nebius" and record.operation_id in _NEBIUS_OWN:
            check = _NEBIUS_CHECKS.get(record.operation_id)
            problems = check(record.json) if check is not None else []
            record.schema_errors.extend(f"{p.param}: {p.message}" for p in problems)
            return
        if not self.fake.check_schemas or record.operation_id is None:
            return
        from tests.fake_openai import openapi

        validator = openapi.request_validator(record.operation_id)
        if validator is None:
            return
        instance = openapi.form_to_instance(record.form) if record.form is not None else record.json
        record.schema_errors.extend(openapi.errors_of(validator, instance))

    def _auth(self, record: RecordedRequest) -> ApiError | None:
        expected = self.fake.api_key
        bearer = self.headers.get("Authorization", "")
        candidates: list[str] = []
        schemes: list[str] = []
        if bearer.lower().startswith("bearer "):
            candidates.append(bearer[7:].strip())
            schemes.append("bearer")
        if self.headers.get("api-key") is not None:
            candidates.append(self.headers["api-key"].strip())
            schemes.append("api-key")
        record.auth = "+".join(schemes) or None
        if expected is None:
            return None
        record.key_ok = expected in candidates
        if not candidates:
            return ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an"
                " Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not record.key_ok:
            return _invalid_key_error(candidates[0])
        return None

    # ---- answering -------------------------------------------------------------------------
    def _respond(self, record: RecordedRequest, call: _Call, handler: Handler | None) -> None:
        fake = self.fake
        rule = fake._take_fault(record.method, record.path)
        call.fault = rule
        if rule is not None:
            record.fault = rule.kind
        if rule is not None and rule.kind == "slow":
            fake._stopping.wait(rule.delay)
        error = _fault_error(rule) if rule is not None else None
        if error is None:
            error = self._auth(record)
        if error is None and handler is None:
            error = ApiError(404, f"Invalid URL ({record.method} {record.raw_path})")
        reply: _Reply
        if error is not None:
            reply = _error_reply(error)
        else:
            assert handler is not None
            try:
                reply = handler(fake, call)
            except ApiError as exc:
                reply = _error_reply(exc)
            except Exception:  # a bug in the fake itself: answer 500 and remember it
                fake._internal_error(traceback.format_exc())
                reply = _error_reply(
                    ApiError(500, "Internal error in the fake server.", type_="server_error")
                )
        reply.headers.setdefault("x-request-id", fake.new_request_id())
        record.status = reply.status
        if rule is not None and rule.kind == "no_answer" and reply.status < 400:
            self._await_hangup(rule.delay)
            self._cut()
        drop = rule is not None and rule.kind == "drop"
        malformed = rule is not None and rule.kind == "malformed_json"
        if reply.chunks is not None:
            self._send_stream(record, reply, drop=drop, malformed=malformed, rule=rule)
        else:
            self._send_plain(record, reply, drop=drop, malformed=malformed)

    def _send_plain(
        self, record: RecordedRequest, reply: _Reply, *, drop: bool, malformed: bool
    ) -> None:
        if reply.raw is not None:
            payload = reply.raw
        else:
            record.response_json = reply.body
            payload = json.dumps(reply.body).encode()
        full_length = len(payload)
        if malformed:
            payload = payload[: max(1, len(payload) // 2)]
            full_length = len(payload)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(full_length))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if drop:
            self.wfile.write(payload[: len(payload) // 2])
            self._cut()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_stream(
        self,
        record: RecordedRequest,
        reply: _Reply,
        *,
        drop: bool,
        malformed: bool,
        rule: FaultRule | None,
    ) -> None:
        assert reply.chunks is not None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        cut_at = rule.after_chunks if rule is not None else -1
        for index, chunk in enumerate(reply.chunks):
            if drop and index == cut_at:
                self._cut()
            record.stream_chunks.append(chunk)
            data = json.dumps(chunk)
            if malformed and index == cut_at:
                data = data[: len(data) // 2]
            self._write_chunk(f"data: {data}\n\n".encode())
        if drop:
            self._cut()
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _await_hangup(self, limit: float) -> None:
        """Send nothing until the client closes the connection (or ``limit`` seconds pass)."""
        deadline = time.monotonic() + limit
        while not self.fake._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], min(0.02, remaining))
            if readable:
                return  # a client waiting for an answer sends nothing more: it hung up

    def _cut(self) -> None:
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped


def _invalid_key_error(given: str) -> ApiError:
    shown = f"{given[:3]}****{given[-4:]}" if len(given) > 8 else "****"
    return ApiError(
        401,
        f"Incorrect API key provided: {shown}. You can find your API key at"
        " https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def _fault_error(rule: FaultRule) -> ApiError | None:
    kind = rule.kind
    if kind == "invalid_api_key":
        return _invalid_key_error("sk-injected-fault-key")
    if kind == "permission_denied":
        return ApiError(403, rule.message or "You are not allowed to perform this request.")
    if kind == "training_not_available":
        return ApiError(
            403,
            rule.message
            or "Fine-tuning is no longer available for this organization. New jobs cannot be"
            " created.",
            code="training_not_available",
        )
    if kind == "model_not_found":
        return ApiError(
            404,
            rule.message
            or "The model `missing-model` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if kind == "rate_limit":
        headers = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = f"{rule.retry_after:g}"
        return ApiError(
            429,
            rule.message or "Rate limit reached for requests. Please try again shortly.",
            type_="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if kind == "insufficient_quota":
        return ApiError(
            429,
            rule.message
            or "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    if kind == "redirect":
        # ``message`` is where to: a server moved, or one that would like the key elsewhere.
        return ApiError(
            rule.status or 307,
            "Moved.",
            headers={"Location": rule.message or "http://127.0.0.2/v1/models"},
        )
    if kind == "server_error":
        return ApiError(
            rule.status or 500,
            rule.message
            or "The server had an error while processing your request. Sorry about that!",
            type_="server_error",
        )
    return None


def _error_reply(error: ApiError) -> _Reply:
    return _Reply(status=error.status, body=error.body(), headers=dict(error.headers))


def _parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode()
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        disposition = ""
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value
        field_name = re.search(r'\bname="([^"]*)"', disposition)
        file_name = re.search(r'\bfilename="([^"]*)"', disposition)
        if field_name is None:
            continue
        if file_name is not None:
            files[field_name.group(1)] = (file_name.group(1), data)
        else:
            form[field_name.group(1)] = data.decode("utf-8")
    return form, files


# ---- routes ----------------------------------------------------------------------------------
def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> tuple[list[Any], bool]:
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return page, start + limit < len(items)


def _limit(call: _Call, default: int, maximum: int) -> int:
    raw = call.q("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid 'limit': {raw!r} is not an integer.", param="limit") from None
    if not 1 <= value <= maximum:
        raise ApiError(400, f"Invalid 'limit': expected 1 to {maximum}.", param="limit")
    return value


def _list(data: list[Any], has_more: bool, **extra: Any) -> _Reply:
    return _Reply(body={"object": "list", "data": data, "has_more": has_more, **extra})


def h_list_models(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    with fake.state.lock:
        data = [m.to_api() for m in fake.state.models.values()]
    return _Reply(body={"object": "list", "data": data})


def h_retrieve_model(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.get_model(call.params["model"]).to_api())


def h_delete_model(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    model = call.params["model"]
    fake.state.delete_model(model)
    return _Reply(body={"id": model, "object": "model", "deleted": True})


def h_create_file(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    upload = call.files.get("file")
    if upload is None:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    purpose = call.form.get("purpose")
    if purpose is None:
        raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
    seconds = call.form.get("expires_after[seconds]")
    stored = fake.state.create_file(
        upload[0], purpose, upload[1], expires_after_seconds=int(seconds) if seconds else None
    )
    return _Reply(body=stored.to_api())


def h_list_files(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    order = call.q("order", "desc") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, f"Invalid 'order': {order!r}.", param="order")
    files = [f.to_api() for f in fake.state.list_files(call.q("purpose"), order)]
    page, has_more = _page(files, call.q("after"), _limit(call, 10000, 10000))
    first = page[0]["id"] if page else ""
    last = page[-1]["id"] if page else ""
    return _list(page, has_more, first_id=first, last_id=last)


def h_retrieve_file(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.get_file(call.params["file_id"]).to_api())


def h_delete_file(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    file_id = call.params["file_id"]
    fake.state.delete_file(file_id)
    return _Reply(body={"id": file_id, "object": "file", "deleted": True})


def h_file_content(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    stored = fake.state.get_file(call.params["file_id"])
    return _Reply(raw=stored.content, content_type="application/octet-stream")


def h_create_upload(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    body = _json_object(call)
    for name in ("filename", "purpose", "bytes", "mime_type"):
        if name not in body:
            raise ApiError(400, f"Missing required parameter: '{name}'.", param=name)
    if not isinstance(body["bytes"], int):
        raise ApiError(400, "Invalid 'bytes': expected an integer.", param="bytes")
    upload = fake.state.create_upload(
        str(body["filename"]), str(body["purpose"]), body["bytes"], str(body["mime_type"])
    )
    return _Reply(body=upload.to_api())


def h_add_part(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    data = call.files.get("data")
    if data is None:
        raise ApiError(400, "Missing required parameter: 'data'.", param="data")
    return _Reply(body=fake.state.add_part(call.params["upload_id"], data[1]))


def h_complete_upload(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    body = _json_object(call)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list):
        raise ApiError(400, "Missing required parameter: 'part_ids'.", param="part_ids")
    md5 = body.get("md5")
    upload = fake.state.complete_upload(call.params["upload_id"], part_ids, md5)
    return _Reply(body=upload.to_api())


def h_cancel_upload(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.cancel_upload(call.params["upload_id"]).to_api())


def h_create_job(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    hidden = call.fault.appear_after if call.fault is not None else 0.0
    job = fake.state.create_job(_json_object(call), hidden_for=hidden)
    return _Reply(body=fake.state.job_to_api(job))


def h_list_jobs(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    pairs = {
        key[len("metadata[") : -1]: values[0]
        for key, values in call.query.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    want_null = call.q("metadata") == "null"
    jobs = [fake.state.job_to_api(j) for j in fake.state.list_jobs(pairs, want_null)]
    page, has_more = _page(jobs, call.q("after"), _limit(call, 20, 100))
    return _list(page, has_more)


def h_retrieve_job(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_to_api(fake.state.get_job(call.params["job_id"])))


def h_cancel_job(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_to_api(fake.state.cancel_job(call.params["job_id"])))


def h_pause_job(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_to_api(fake.state.pause_job(call.params["job_id"])))


def h_resume_job(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_to_api(fake.state.resume_job(call.params["job_id"])))


def h_job_events(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    job = fake.state.get_job(call.params["job_id"])
    with fake.state.lock:
        events = [dict(e, data=dict(e["data"])) for e in reversed(job.events)]
    page, has_more = _page(events, call.q("after"), _limit(call, 20, 100))
    return _list(page, has_more)


def h_job_checkpoints(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    job = fake.state.get_job(call.params["job_id"])
    with fake.state.lock:
        checkpoints = [dict(c) for c in reversed(job.checkpoints)]
    page, has_more = _page(checkpoints, call.q("after"), _limit(call, 10, 100))
    return _list(
        page,
        has_more,
        first_id=page[0]["id"] if page else None,
        last_id=page[-1]["id"] if page else None,
    )


def _json_object(call: _Call) -> dict[str, Any]:
    if not isinstance(call.json, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return call.json


def _usable_model(fake: FakeOpenAIServer, body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model")
    if not fake.state.model_usable(model):
        fake.state.get_model(model)  # raises the API's 404 model_not_found
    return model


def h_chat(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    body = _json_object(call)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages")
    model = _usable_model(fake, body)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    text, finish = replies.truncate(replies.chat_reply(model, messages), limit)
    usage = {
        "prompt_tokens": replies.prompt_tokens(messages),
        "completion_tokens": replies.count_tokens(text),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    completion_id = fake.state.new_id("chatcmpl-")
    created = fake.state.now_int()
    if not body.get("stream"):
        return _Reply(
            body={
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            }
        )
    options = body.get("stream_options") or {}
    with_usage = bool(options.get("include_usage"))
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        out = dict(
            base,
            choices=[
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        )
        if with_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks += [chunk({"content": piece}, None) for piece in replies.stream_pieces(text)]
    chunks.append(chunk({}, finish))
    if with_usage:
        chunks.append(dict(base, choices=[], usage=usage))
    return _Reply(chunks=chunks)


def h_completion(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    body = _json_object(call)
    model = _usable_model(fake, body)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = str(prompt[0]) if prompt else ""
    text, finish = replies.truncate(
        replies.completion_reply(model, str(prompt)), body.get("max_tokens")
    )
    if body.get("stream"):
        raise ApiError(
            400, "Streaming is not supported for legacy completions here.", param="stream"
        )
    prompt_tokens = replies.count_tokens(str(prompt))
    completion_tokens = replies.count_tokens(text)
    return _Reply(
        body={
            "id": fake.state.new_id("cmpl-"),
            "object": "text_completion",
            "created": fake.state.now_int(),
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


_SEG = r"(?P<{}>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (
        m,
        re.compile(
            "^" + p.format(**{k: _SEG.format(k) for k in ("file_id", "upload_id", "job_id")}) + "$"
        ),
        op,
        h,
    )
    for m, p, op, h in [
        ("GET", "/models", "listModels", h_list_models),
        ("POST", "/files", "createFile", h_create_file),
        ("GET", "/files", "listFiles", h_list_files),
        ("GET", "/files/{file_id}", "retrieveFile", h_retrieve_file),
        ("DELETE", "/files/{file_id}", "deleteFile", h_delete_file),
        ("GET", "/files/{file_id}/content", "downloadFile", h_file_content),
        ("POST", "/uploads", "createUpload", h_create_upload),
        ("POST", "/uploads/{upload_id}/parts", "addUploadPart", h_add_part),
        ("POST", "/uploads/{upload_id}/complete", "completeUpload", h_complete_upload),
        ("POST", "/uploads/{upload_id}/cancel", "cancelUpload", h_cancel_upload),
        ("POST", "/fine_tuning/jobs", "createFineTuningJob", h_create_job),
        ("GET", "/fine_tuning/jobs", "listPaginatedFineTuningJobs", h_list_jobs),
        ("GET", "/fine_tuning/jobs/{job_id}", "retrieveFineTuningJob", h_retrieve_job),
        ("POST", "/fine_tuning/jobs/{job_id}/cancel", "cancelFineTuningJob", h_cancel_job),
        ("POST", "/fine_tuning/jobs/{job_id}/pause", "pauseFineTuningJob", h_pause_job),
        ("POST", "/fine_tuning/jobs/{job_id}/resume", "resumeFineTuningJob", h_resume_job),
        ("GET", "/fine_tuning/jobs/{job_id}/events", "listFineTuningEvents", h_job_events),
        (
            "GET",
            "/fine_tuning/jobs/{job_id}/checkpoints",
            "listFineTuningJobCheckpoints",
            h_job_checkpoints,
        ),
        ("POST", "/chat/completions", "createChatCompletion", h_chat),
        ("POST", "/completions", "createCompletion", h_completion),
    ]
]
# Model ids contain ':' and may arrive percent-encoded; they take the rest of the path.
_ROUTES += [
    ("GET", re.compile(r"^/models/(?P<model>.+)$"), "retrieveModel", h_retrieve_model),
    ("DELETE", re.compile(r"^/models/(?P<model>.+)$"), "deleteModel", h_delete_model),
]


def h_create_custom_model(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.create_custom_model(_json_object(call)).to_api())


def h_list_custom_models(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    data = [m.to_api() for m in fake.state.list_custom_models()]
    return _Reply(body={"object": "list", "data": data})


def h_get_custom_model(fake: FakeOpenAIServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.get_custom_model(call.params["name"]).to_api())


#: Nebius's custom models, under ``/v0`` (names hold '/' and ':', so one takes the rest).
_NEBIUS_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    ("POST", re.compile(r"^/models$"), "createCustomModel", h_create_custom_model),
    ("GET", re.compile(r"^/models$"), "listCustomModels", h_list_custom_models),
    ("GET", re.compile(r"^/models/(?P<name>.+)$"), "getCustomModel", h_get_custom_model),
]
#: OpenAI routes Nebius does not offer.
_NOT_AT_NEBIUS = frozenset(
    {
        "pauseFineTuningJob",
        "resumeFineTuningJob",
        "createUpload",
        "addUploadPart",
        "completeUpload",
        "cancelUpload",
        "deleteModel",
    }
)
#: Request bodies the Nebius flavour checks with its own schema instead of OpenAI's.
_NEBIUS_CHECKS: dict[str, Callable[[Any], list[nebius.Problem]]] = {
    "createFineTuningJob": nebius.job_problems,
    "createCustomModel": nebius.custom_model_problems,
}


#: Operations whose requests the OpenAPI description of OpenAI's API does not describe.
_NEBIUS_OWN = frozenset(_NEBIUS_CHECKS) | {op for _m, _p, op, _h in _NEBIUS_ROUTES}


def _match_nebius_route(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    for route_method, pattern, operation_id, handler in _NEBIUS_ROUTES:
        found = pattern.match(path)
        if route_method == method and found:
            return operation_id, handler, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def _match_route(
    method: str, path: str, flavor: str = "openai"
) -> tuple[str, Handler, dict[str, str]] | None:
    for route_method, pattern, operation_id, handler in _ROUTES:
        if route_method != method:
            continue
        if flavor == "nebius" and operation_id in _NOT_AT_NEBIUS:
            continue
        found = pattern.match(path)
        if found:
            params = {k: unquote(v) for k, v in found.groupdict().items()}
            return operation_id, handler, params
    return None


def iter_routes() -> Iterator[tuple[str, str]]:
    """(method, operationId) for every route the server answers."""
    for method, _pattern, operation_id, _handler in _ROUTES:
        yield method, operation_id


def iter_nebius_routes() -> Iterator[tuple[str, str]]:
    """(method, operationId) of the routes only the Nebius flavour answers (under ``/v0``)."""
    for method, _pattern, operation_id, _handler in _NEBIUS_ROUTES:
        yield method, operation_id

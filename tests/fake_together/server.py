"""A local HTTP server that speaks the part of Together AI's API the app uses.

Point a client at ``base_url`` (``http://127.0.0.1:<port>/v1``). The server answers in the
shapes of ``spec/together-openapi-subset.json``, checks every request and every answer against
it (``schema_problems`` lists what did not match), records each request, and can be told to
misbehave per route: a refused key, a rate limit with ``Retry-After``, a server error, a slow
answer, a dropped connection, no answer at all (the client times out) or a body cut in half,
where the last four still carry the request out, as a real server whose answer is lost would.

Checking against the description needs ``jsonschema``; a server asked to check (the default)
without it refuses to start and says which package to install.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fake_openai import replies
from tests.fake_openai.state import ApiError, FakeClock
from tests.fake_together.state import DEFAULT_START, FakeTogether, Timing

DEFAULT_TEST_KEY = "tgp_v1_" + "fake-test-key-6d1e0c9b8a7f"
_PREFIX = re.compile(r"^/v1(?=/|$)")
DOWNLOAD_PIECE = 64 * 1024

FaultKind = Literal[
    "invalid_api_key",
    "rate_limit",
    "server_error",
    "slow",
    "drop",
    "no_answer",
    "malformed_json",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


class MissingDependency(RuntimeError):
    """A package the fake server needs is not installed."""


def require_schema_support() -> None:
    """Load the OpenAPI checks now, or say plainly which package to install."""
    try:
        from tests.fake_together import openapi

        openapi.load_spec()
    except ImportError as exc:
        raise MissingDependency(
            "The fake Together server checks requests and answers against Together's OpenAPI "
            f"description, which needs the {exc.name or 'jsonschema'} package. Install it "
            "with: pip install 'jsonschema>=4.21' (or pip install '.[test]')."
        ) from exc


@dataclass
class FaultRule:
    """One injected misbehaviour for requests matching ``method`` and a path glob."""

    kind: str
    method: str = "*"
    path: str = "*"
    remaining: int | None = 1
    retry_after: float | None = None
    delay: float = 1.0
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
    """What the server saw (the key masked) and what it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_size: int
    json: Any = None
    form: dict[str, str] | None = None
    operation: tuple[str, str] | None = None
    fault: str | None = None
    status: int | None = None
    response_json: Any = None
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

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[["FakeTogetherServer", _Call], _Reply]


class FakeTogetherServer:
    """The fake Together AI: start it, point a client at ``base_url``, move its clock."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_TEST_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        timing: Timing | None = None,
        start_time: float = DEFAULT_START,
        check_schemas: bool = True,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        """``on_problem`` hears of every bug inside the fake and every request or answer
        that breaks the OpenAPI description, as they happen."""
        self.api_key = api_key
        self.clock = FakeClock(start_time)
        self.state = FakeTogether(self.clock, timing=timing)
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
        self._schema_problems: list[str] = []
        self._on_problem = on_problem

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeTogetherServer:
        """Bind (a random port by default) and serve in a background thread; raises
        ``MissingDependency`` at once when checks are asked for without ``jsonschema``."""
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
        """Stop serving, wake any held answers and release the port."""
        self._stopping.set()
        self.stop_realtime()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTogetherServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._port

    @property
    def base_url(self) -> str:
        """The API root, like ``https://api.together.xyz/v1``."""
        return f"http://{self._host}:{self._port}/v1"

    # ---- clock -----------------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        """Move the fake clock forward (jobs and endpoints catch up when next looked at)."""
        return self.clock.advance(seconds)

    def start_realtime(self, speed: float = 1.0, interval: float = 0.05) -> None:
        """Let the clock follow wall time, ``speed`` fake seconds per real second."""
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
        after_chunks: int = 2,
        appear_after: float = 0.0,
    ) -> FaultRule:
        """Misbehave on the next ``times`` matching requests (``None``: always).

        ``path`` is a glob on the path after ``/v1``, e.g. ``"/fine-tunes"``. ``slow`` waits
        ``delay`` real seconds before acting. ``drop`` and ``malformed_json`` act, then cut the
        answer after ``after_chunks`` pieces or send half of it as if whole. ``no_answer`` acts
        and sends nothing until the client gives up (or ``delay`` real seconds pass). What a
        faulted request creates (a file, a job, an endpoint) is listed only once the clock has
        moved ``appear_after`` fake seconds, like a provider slow to show what it made.
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
        """Recorded requests with this method whose path (after ``/v1``) matches the glob."""
        return [
            r
            for r in self.requests
            if r.method == method.upper() and fnmatch.fnmatchcase(r.path, path)
        ]

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake (should stay empty)."""
        return list(self._internal_errors)

    @property
    def schema_problems(self) -> list[str]:
        """Requests and answers that broke the OpenAPI description (should stay empty)."""
        return list(self._schema_problems)

    def _internal_error(self, text: str) -> None:
        self._internal_errors.append(text)
        if self._on_problem is not None:
            self._on_problem(text)

    def _schema_problem(self, text: str) -> None:
        self._schema_problems.append(text)
        if self._on_problem is not None:
            self._on_problem(text)

    def new_request_id(self) -> str:
        """An ``x-request-id`` value."""
        return f"req-fake-{next(self._request_ids):06d}"

    # ---- convenience -----------------------------------------------------------------------
    def add_file(self, filename: str, content: bytes) -> str:
        """Store a fine-tune file directly (no HTTP); returns its id."""
        return self.state.create_file(filename, "fine-tune", content).id

    def finish_job(self, job_id: str) -> None:
        """Move the clock until the job has completed (or ended otherwise)."""
        for _ in range(10_000):
            if self.state.get_job(job_id).status in ("completed", "cancelled", "error"):
                return
            self.advance(5)
        raise AssertionError(f"job {job_id} did not end")


# ---- HTTP plumbing ---------------------------------------------------------------------------
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
    server_version = "FakeTogether/1.0"
    fake: FakeTogetherServer

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

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
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
        path = _PREFIX.sub("", split.path) if _PREFIX.match(split.path) else None
        query = parse_qs(split.query, keep_blank_values=True)
        body = self._read_body()
        headers = {
            k.lower(): ("***" if k.lower() == "authorization" else v)
            for k, v in self.headers.items()
        }
        record = RecordedRequest(method, path or split.path, query, headers, len(body))
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
            record.schema_errors.append("the request body is neither JSON nor multipart")
        route = _match_route(method, path) if path is not None else None
        handler: Handler | None = None
        if route is not None:
            record.operation, handler, call.params = route
        fake._record(record)
        self._check_request(record, call)
        try:
            self._respond(record, call, handler)
        except (_Dropped, BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _check_request(self, record: RecordedRequest, call: _Call) -> None:
        if not self.fake.check_schemas or record.operation is None:
            return
        from tests.fake_together import openapi

        try:
            validator = openapi.request_validator(*record.operation)
            if validator is not None and (record.json is not None or record.form is not None):
                instance: Any = record.json
                if record.form is not None:
                    instance = {**call.form, **{k: "<binary>" for k in call.files}}
                record.schema_errors.extend(openapi.errors_of(validator, instance))
        except Exception:  # a bug in the check must not cost the client its answer
            self.fake._internal_error(traceback.format_exc())
        if record.schema_errors:
            method, template = record.operation
            self.fake._schema_problem(
                f"request {method} {template} breaks the description: "
                + "; ".join(record.schema_errors)
            )

    def _check_answer(self, record: RecordedRequest, reply: _Reply) -> None:
        if not self.fake.check_schemas or record.operation is None:
            return
        from tests.fake_together import openapi

        method, template = record.operation
        problems: list[str] = []
        try:
            if reply.status >= 400:
                problems = openapi.errors_of(openapi.schema_validator("ErrorData"), reply.body)
            elif reply.chunks is not None:
                chunk = openapi.schema_validator("ChatCompletionChunk")
                for item in reply.chunks:
                    problems += openapi.errors_of(chunk, item)
            elif reply.raw is None and reply.body is not None:
                validator = openapi.response_validator(method, template, reply.status)
                if validator is None:
                    problems = [f"no JSON answer is documented for status {reply.status}"]
                else:
                    problems = openapi.errors_of(validator, reply.body)
        except Exception:
            self.fake._internal_error(traceback.format_exc())
        if problems:
            self.fake._schema_problem(
                f"answer to {method} {template} breaks the description: " + "; ".join(problems)
            )

    def _auth(self) -> ApiError | None:
        given = self.headers.get("Authorization", "")
        if not given.lower().startswith("bearer "):
            return ApiError(401, "Missing API key. Send it as Authorization: Bearer <key>.")
        if given[7:].strip() != self.fake.api_key:
            return _invalid_key()
        return None

    def _respond(self, record: RecordedRequest, call: _Call, handler: Handler | None) -> None:
        fake = self.fake
        assert record.path is not None
        rule = fake._take_fault(record.method, record.path)
        call.fault = rule
        if rule is not None:
            record.fault = rule.kind
            if rule.kind == "slow":
                fake._stopping.wait(rule.delay)
        error = _fault_error(rule) if rule is not None else None
        error = error or self._auth()
        if error is None and handler is None:
            error = ApiError(404, f"Invalid URL ({record.method} {self.path})")
        if error is not None:
            reply = _Reply(status=error.status, body=error.body(), headers=dict(error.headers))
        else:
            assert handler is not None
            try:
                reply = handler(fake, call)
            except ApiError as exc:
                reply = _Reply(status=exc.status, body=exc.body(), headers=dict(exc.headers))
            except Exception:  # a bug in the fake itself: answer 500 and remember it
                fake._internal_error(traceback.format_exc())
                failure = ApiError(500, "Internal error in the fake server.", type_="server_error")
                reply = _Reply(status=500, body=failure.body())
        reply.headers.setdefault("x-request-id", fake.new_request_id())
        record.status = reply.status
        record.response_json = reply.body
        self._check_answer(record, reply)
        kind = rule.kind if rule is not None else None
        if kind == "no_answer":
            self._await_hangup(rule.delay if rule is not None else 1.0)
            self._cut()
        cut_at = rule.after_chunks if kind == "drop" and rule is not None else None
        if reply.chunks is not None:
            self._send_stream(reply, cut_at)
        else:
            self._send_plain(reply, cut_at, malformed=kind == "malformed_json")

    def _send_plain(self, reply: _Reply, cut_at: int | None, *, malformed: bool) -> None:
        payload = reply.raw if reply.raw is not None else b""
        if reply.raw is None and reply.body is not None:
            payload = json.dumps(reply.body).encode()
        if malformed:
            payload = payload[: max(1, len(payload) // 2)]
        self.send_response(reply.status)
        if payload or reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        pieces = [payload[i : i + DOWNLOAD_PIECE] for i in range(0, len(payload), DOWNLOAD_PIECE)]
        if cut_at is not None:
            pieces = pieces[: max(0, min(cut_at, len(pieces) - 1))]
            if not pieces:
                pieces = [payload[: len(payload) // 2]]
        for piece in pieces:
            self.wfile.write(piece)
            self.wfile.flush()
        if cut_at is not None:
            self._cut()

    def _send_stream(self, reply: _Reply, cut_at: int | None) -> None:
        assert reply.chunks is not None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for index, chunk in enumerate(reply.chunks):
            if index == cut_at:
                self._cut()
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
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


def _invalid_key() -> ApiError:
    return ApiError(
        401,
        "Invalid API key provided. You can find your API key at https://api.together.ai/settings"
        "/api-keys.",
        type_="invalid_request_error",
        code="invalid_api_key",
    )


def _fault_error(rule: FaultRule) -> ApiError | None:
    if rule.kind == "invalid_api_key":
        return _invalid_key()
    if rule.kind == "rate_limit":
        headers = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
        return ApiError(
            429,
            "You have reached the rate limit for this account. Please slow down.",
            type_="rate_limit",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if rule.kind == "server_error":
        return ApiError(500, "Internal server error.", type_="server_error")
    return None


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
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
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
def _hidden_for(call: _Call) -> float:
    return call.fault.appear_after if call.fault is not None else 0.0


def _json_object(call: _Call) -> dict[str, Any]:
    if not isinstance(call.json, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return call.json


def h_upload(fake: FakeTogetherServer, call: _Call) -> _Reply:
    upload = call.files.get("file")
    if upload is None:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    name = call.form.get("file_name")
    if not name:
        raise ApiError(400, "Missing required parameter: 'file_name'.", param="file_name")
    stored = fake.state.create_file(
        name, call.form.get("purpose", ""), upload[1], hidden_for=_hidden_for(call)
    )
    return _Reply(body=stored.to_api())


def h_list_files(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body={"data": [f.to_api() for f in fake.state.list_files()]})


def h_file(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.get_file(call.params["id"]).to_api())


def h_create_job(fake: FakeTogetherServer, call: _Call) -> _Reply:
    job = fake.state.create_job(_json_object(call), hidden_for=_hidden_for(call))
    return _Reply(body=fake.state.job_truncated(job))


def h_list_jobs(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body={"data": [fake.state.job_truncated(j) for j in fake.state.list_jobs()]})


def h_job(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_full(fake.state.get_job(call.params["id"])))


def h_events(fake: FakeTogetherServer, call: _Call) -> _Reply:
    job = fake.state.get_job(call.params["id"])
    with fake.state.lock:
        return _Reply(body={"data": [dict(e) for e in job.events]})


def h_checkpoints(fake: FakeTogetherServer, call: _Call) -> _Reply:
    job = fake.state.get_job(call.params["id"])
    with fake.state.lock:
        newest_first = sorted(job.checkpoints, key=lambda c: c["created_at"], reverse=True)
        return _Reply(body={"data": [dict(c) for c in newest_first]})


def h_metrics(fake: FakeTogetherServer, call: _Call) -> _Reply:
    job = fake.state.get_job(call.params["id"])
    with fake.state.lock:
        return _Reply(body={"metrics": [dict(m) for m in job.metrics]})


def h_cancel(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.job_truncated(fake.state.cancel_job(call.params["id"])))


def h_estimate(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.estimate(_json_object(call)))


def h_supported(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body={"models": list(fake.state.trainable)})


def h_limits(fake: FakeTogetherServer, call: _Call) -> _Reply:
    name = call.q("model_name")
    if name is None:
        raise ApiError(400, "Missing required parameter: 'model_name'.", param="model_name")
    return _Reply(body=fake.state.trainable_model(name).limits())


def h_download(fake: FakeTogetherServer, call: _Call) -> _Reply:
    job_id = call.q("ft_id")
    if not job_id:
        raise ApiError(400, "Missing required parameter: 'ft_id'.", param="ft_id")
    job = fake.state.get_job(job_id)
    checkpoint = call.q("checkpoint") or "merged"
    if job.status != "completed":
        raise ApiError(400, f"Job {job_id} has not completed; there is nothing to download yet.")
    if checkpoint == "adapter" and not job.is_lora:
        raise ApiError(400, "Only LoRA jobs have an adapter to download.", param="checkpoint")
    if checkpoint not in ("adapter", "merged", "model_output_path"):
        raise ApiError(400, f"Unknown checkpoint type {checkpoint!r}.", param="checkpoint")
    name = job.model_output_name.split("/")[-1]
    return _Reply(
        raw=fake.state.adapter_bytes(job, checkpoint),
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}-{checkpoint}.tar.zst"'},
    )


def h_models(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=[m.to_api() for m in fake.state.listed.values()])


def h_list_endpoints(fake: FakeTogetherServer, call: _Call) -> _Reply:
    shown = fake.state.list_endpoints()
    return _Reply(body={"object": "list", "data": [e.to_list_api() for e in shown]})


def h_create_endpoint(fake: FakeTogetherServer, call: _Call) -> _Reply:
    endpoint = fake.state.create_endpoint(_json_object(call), hidden_for=_hidden_for(call))
    return _Reply(body=endpoint.to_api())


def h_endpoint(fake: FakeTogetherServer, call: _Call) -> _Reply:
    return _Reply(body=fake.state.get_endpoint(call.params["endpointId"]).to_api())


def h_update_endpoint(fake: FakeTogetherServer, call: _Call) -> _Reply:
    endpoint = fake.state.update_endpoint(call.params["endpointId"], _json_object(call))
    return _Reply(body=endpoint.to_api())


def h_delete_endpoint(fake: FakeTogetherServer, call: _Call) -> _Reply:
    fake.state.delete_endpoint(call.params["endpointId"])
    return _Reply(status=204)


def h_chat(fake: FakeTogetherServer, call: _Call) -> _Reply:
    body = _json_object(call)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages")
    model = fake.state.chat_model(body.get("model"))
    text, finish = replies.truncate(replies.chat_reply(model, messages), body.get("max_tokens"))
    usage = {
        "prompt_tokens": replies.prompt_tokens(messages),
        "completion_tokens": replies.count_tokens(text),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    base = {
        "id": f"chatcmpl-{fake.state.new_uuid()[:12]}",
        "created": int(fake.state.now()),
        "model": model,
    }
    if not body.get("stream"):
        return _Reply(
            body=base
            | {
                "object": "chat.completion",
                "prompt": [],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        )

    def chunk(content: str, finish_reason: str | None, with_usage: bool = False) -> dict[str, Any]:
        delta = {"role": "assistant", "content": content}
        out = base | {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if with_usage:
            out["usage"] = usage
        return out

    chunks = [chunk(piece, None) for piece in replies.stream_pieces(text)]
    chunks.append(chunk("", finish, with_usage=True))
    return _Reply(chunks=chunks)


_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("POST", "/files/upload", h_upload),
    ("GET", "/files", h_list_files),
    ("GET", "/files/{id}", h_file),
    ("POST", "/fine-tunes", h_create_job),
    ("GET", "/fine-tunes", h_list_jobs),
    ("POST", "/fine-tunes/estimate-price", h_estimate),
    ("GET", "/fine-tunes/models/supported", h_supported),
    ("GET", "/fine-tunes/models/limits", h_limits),
    ("GET", "/fine-tunes/{id}", h_job),
    ("GET", "/fine-tunes/{id}/events", h_events),
    ("GET", "/fine-tunes/{id}/checkpoints", h_checkpoints),
    ("GET", "/fine-tunes/{id}/metrics", h_metrics),
    ("POST", "/fine-tunes/{id}/cancel", h_cancel),
    ("GET", "/finetune/download", h_download),
    ("GET", "/models", h_models),
    ("GET", "/endpoints", h_list_endpoints),
    ("POST", "/endpoints", h_create_endpoint),
    ("GET", "/endpoints/{endpointId}", h_endpoint),
    ("PATCH", "/endpoints/{endpointId}", h_update_endpoint),
    ("DELETE", "/endpoints/{endpointId}", h_delete_endpoint),
    ("POST", "/chat/completions", h_chat),
]
_ROUTES = [
    (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"), template, h)
    for method, template, h in _ROUTE_TABLE
]


def _match_route(method: str, path: str) -> tuple[tuple[str, str], Handler, dict[str, str]] | None:
    for route_method, pattern, template, handler in _ROUTES:
        if route_method != method:
            continue
        found = pattern.match(path)
        if found:
            params = {k: unquote(v) for k, v in found.groupdict().items()}
            return (method, template), handler, params
    return None


def iter_routes() -> Iterator[tuple[str, str]]:
    """(METHOD, path template) of every route the server answers."""
    for method, template, _handler in _ROUTE_TABLE:
        yield method, template

"""A stand-in for the Hugging Face Hub: serves model folders the way huggingface_hub asks.

It answers the three requests a download makes (the repository's revision, its file tree,
each file with ``resolve``), honours ``Range`` so a download can continue, answers a gated
repository as the Hub does, and can slow its answers down so a test can stop a download
half-way. Point the library at it with ``endpoint=hub.url`` (or ``HF_ENDPOINT``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_REVISION = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?P<path>/.*)?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """The server's state: repositories (name → folder), gated names, a delay per chunk."""

    repos: dict[str, Path] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    chunk_delay: float = 0.0
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def files(self, repo: str) -> dict[str, bytes]:
        folder = self.repos[repo]
        return {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.requests.append(f"HEAD {self.path}")
                self._answer(body=False)

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                hub.requests.append(f"GET {self.path}" + (f" Range: {wanted}" if wanted else ""))
                self._answer(body=True)

            def _json(self, value: object, status: int = 200) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refuse(self, repo: str) -> bool:
                if repo in hub.gated:
                    data = b'{"error": "Access to this model is restricted."}'
                    self.send_response(403)
                    self.send_header("X-Error-Code", "GatedRepo")
                    self.send_header("X-Error-Message", "Access to this model is restricted.")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return True
                if repo not in hub.repos:
                    data = b'{"error": "Repository not found"}'
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return True
                return False

            def _answer(self, *, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                if match := _REVISION.match(path):
                    repo = match["repo"]
                    if not self._refuse(repo):
                        siblings = [{"rfilename": name} for name in hub.files(repo)]
                        self._json({"id": repo, "sha": COMMIT, "siblings": siblings})
                    return
                if match := _TREE.match(path):
                    repo = match["repo"]
                    if not self._refuse(repo):
                        entries = []
                        for name, data in hub.files(repo).items():
                            entry = {
                                "type": "file",
                                "path": name,
                                "size": len(data),
                                "oid": _git_blob_id(data),
                            }
                            if name.endswith(".safetensors"):
                                entry["lfs"] = {
                                    "oid": hashlib.sha256(data).hexdigest(),
                                    "size": len(data),
                                    "pointerSize": 134,
                                }
                            entries.append(entry)
                        self._json(entries)
                    return
                if match := _RESOLVE.match(path):
                    repo = match["repo"]
                    if self._refuse(repo):
                        return
                    files = hub.files(repo)
                    data = files.get(match["file"])
                    if data is None:
                        self.send_response(404)
                        self.send_header("X-Error-Code", "EntryNotFound")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self._send_file(match["file"], data, body=body)
                    return
                self._json({"error": f"unknown path {path}"}, status=404)

            def _send_file(self, name: str, data: bytes, *, body: bool) -> None:
                etag = (
                    hashlib.sha256(data).hexdigest()
                    if name.endswith(".safetensors")
                    else _git_blob_id(data)
                )
                start = 0
                wanted = self.headers.get("Range")
                if body and wanted and (found := re.match(r"bytes=(\d+)-", wanted)):
                    start = int(found[1])
                part = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(len(part) if body else len(data)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                for offset in range(0, len(part), 4096):
                    if hub.chunk_delay:
                        time.sleep(hub.chunk_delay)
                    try:
                        self.wfile.write(part[offset : offset + 4096])
                    except (BrokenPipeError, ConnectionResetError):
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

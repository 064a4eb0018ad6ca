"""Test helper: a fault-injecting HTTP proxy in front of an OpenAI-compatible server.

Exercises the fault tolerance of the HTTP backend that serves GPO's two LLM roles (scorer and
optimizer, GPO_REFERENCE 3.3 and 6): rate limits with Retry-After, server errors, malformed or
empty reply bodies, replies with empty content and dropped connections, on a programmable
schedule. Usage::

    with FaultProxy(server.base_url) as proxy:
        proxy.program([Fault.passthrough(), Fault.status(429, retry_after=1)])
        url = proxy.base_url  # http://127.0.0.1:<port>/v1
        ...
        proxy.events  # what each request got, with its arrival time

Every POST takes the next fault of the schedule, then the ``then`` fault once the schedule is
used up. GET requests (``/v1/models``) always pass through. When the upstream cannot be reached
the proxy drops the client's connection, as a dead server would. The proxy listens on 127.0.0.1
only, on a free port, and stops itself after ``lifetime`` seconds at the latest.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("pass", "status", "malformed", "empty_body", "empty_content", "drop")


@dataclass(frozen=True)
class Fault:
    """What the proxy does with one request."""

    kind: str = "pass"
    code: int = 200
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose one of {KINDS}")

    @staticmethod
    def passthrough() -> Fault:
        return Fault("pass")

    @staticmethod
    def status(code: int, retry_after: float | None = None) -> Fault:
        """An error status with a JSON error body (and a Retry-After header if given)."""
        return Fault("status", code, retry_after)

    @staticmethod
    def malformed() -> Fault:
        """200 with Content-Type application/json and a body that is not JSON."""
        return Fault("malformed")

    @staticmethod
    def empty_body() -> Fault:
        """200 with Content-Type application/json and an empty body."""
        return Fault("empty_body")

    @staticmethod
    def empty_content() -> Fault:
        """The upstream's real reply with the model's text replaced by ""."""
        return Fault("empty_content")

    @staticmethod
    def drop() -> Fault:
        """Close the connection without any reply."""
        return Fault("drop")


@dataclass(frozen=True)
class ProxyEvent:
    """One request the proxy handled: when (monotonic seconds), what, and the status returned
    (None when the connection was dropped)."""

    time: float
    method: str
    path: str
    kind: str
    status: int | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (quiet)
        return None

    def do_GET(self) -> None:  # noqa: N802
        self._handle(Fault.passthrough(), b"")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._handle(self.server.proxy.next_fault(), body)

    def _handle(self, fault: Fault, body: bytes) -> None:
        arrived = time.monotonic()
        status: int | None = None
        try:
            status = self._respond(fault, body)
        finally:
            self.server.proxy.record(
                ProxyEvent(arrived, self.command, self.path, fault.kind, status)
            )

    def _respond(self, fault: Fault, body: bytes) -> int | None:
        if fault.kind == "drop":
            return self._drop()
        if fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            error = {
                "error": {"message": f"injected {fault.code}", "type": "injected", "code": None}
            }
            return self._send(fault.code, json.dumps(error).encode(), headers)
        if fault.kind == "malformed":
            return self._send(200, b'{"id": "x", "choices": [{"message": ')
        if fault.kind == "empty_body":
            return self._send(200, b"")
        upstream = self._forward(body)
        if upstream is None:  # the server is gone: behave like it
            return self._drop()
        code, payload = upstream
        if fault.kind == "empty_content" and code == 200:
            payload = _blank_content(payload)
        return self._send(code, payload)

    def _forward(self, body: bytes) -> tuple[int, bytes] | None:
        target = urlsplit(self.server.proxy.upstream)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() in ("content-type", "authorization", "accept")
        }
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return None
        finally:
            conn.close()

    def _send(self, code: int, payload: bytes, headers: dict[str, str] | None = None) -> int:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        return code

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)
        return None


def _blank_content(payload: bytes) -> bytes:
    data = json.loads(payload)
    for choice in data.get("choices", []):
        if isinstance(choice.get("message"), dict):
            choice["message"]["content"] = ""
        if "text" in choice:
            choice["text"] = ""
    return json.dumps(data).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class FaultProxy:
    """The proxy: start with ``with FaultProxy(upstream) as proxy`` (or ``start()``/``stop()``)."""

    def __init__(self, upstream: str, lifetime: float = 1800.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._schedule: list[Fault] = []
        self._then = Fault.passthrough()
        self._events: list[ProxyEvent] = []
        self._server: _Server | None = None
        self._threads: list[threading.Thread | threading.Timer] = []

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{urlsplit(self.upstream).path}"

    def program(self, faults: Sequence[Fault], then: Fault | None = None) -> None:
        """Serve the next POSTs with ``faults`` in order, then every later one with ``then``."""
        with self._lock:
            self._schedule = list(faults)
            self._then = then or Fault.passthrough()

    def set_upstream(self, upstream: str) -> None:
        """Point the proxy at another server (e.g. a restarted one on a new port)."""
        with self._lock:
            self.upstream = upstream.rstrip("/")

    def next_fault(self) -> Fault:
        with self._lock:
            return self._schedule.pop(0) if self._schedule else self._then

    def record(self, event: ProxyEvent) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[ProxyEvent]:
        with self._lock:
            return list(self._events)

    def posts(self) -> list[ProxyEvent]:
        return [e for e in self.events if e.method == "POST"]

    def clear_events(self) -> None:
        with self._lock:
            self._events.clear()

    def start(self) -> FaultProxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        serving = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fault-proxy",
            daemon=True,
        )
        timer = threading.Timer(self.lifetime, self.stop)  # bounded: stops itself
        timer.daemon = True
        self._threads = [serving, timer]
        serving.start()
        timer.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for thread in self._threads:
            if isinstance(thread, threading.Timer):
                thread.cancel()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Loopback stand-ins for the client's tests (127.0.0.1 only, ephemeral ports).

`ScriptedDoku` is a tiny DOKU whose answers are scripted per test: each queued answer
is (status, body, options); it records every request it got (method, path, headers,
raw body) and signs answers correctly unless told otherwise.

`RawListener` is a bare TCP listener for transport tests: it counts the connections
it accepts and either never answers (`silent`, until `hold_s` has passed) or hangs up
at once (`drop`). `refused_port()` reserves a port nobody listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from doku.client import signing

LOOPBACK = "127.0.0.1"


@dataclass
class Answer:
    status: int = 200
    body: bytes | list[Any] | dict[str, Any] = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    sign: bool = True  # both Response-Timestamp and Signature
    tamper_body: bool = False  # sign one body, send another
    bad_signature: bool = False
    echo_request_id: str | None = None  # answer with another Request-Id
    omit: tuple[str, ...] = ()  # response headers to leave out (e.g. "Signature")


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    path: str = ""


class ScriptedDoku:
    def __init__(self, client_id: str, secret_key: str) -> None:
        self.client_id, self.secret_key = client_id, secret_key
        self.script: list[Answer] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            # Silences the request log; the signature is BaseHTTPRequestHandler's.
            def log_message(self, *args: Any) -> None:  # noqa: ARG002 (imposed by base class)
                return None

            def handle_any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen = Seen(dict(self.headers.items()), raw, self.command, self.path)
                with outer._lock:
                    outer.seen.append(seen)
                    answer = outer.script.pop(0) if outer.script else Answer()
                self.seen_request = seen  # what a reply() that routes by request reads
                outer.reply(self, answer)

            do_POST = do_GET = do_PUT = handle_any

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def reply(self, h: BaseHTTPRequestHandler, a: Answer) -> None:
        body = a.body if isinstance(a.body, bytes) else json.dumps(a.body).encode()
        request_id = a.echo_request_id or h.headers.get("Request-Id") or ""
        stamp = signing.timestamp()
        signed_body = body + b" " if a.tamper_body else body
        sig = signing.sign_response(
            self.secret_key, self.client_id, request_id, stamp, h.path, signed_body
        )
        if a.bad_signature:
            sig = sig[:-5] + "AAAA="
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Client-Id": self.client_id,
            "Request-Id": request_id,
        }
        if a.sign:
            headers |= {"Response-Timestamp": stamp, "Signature": sig}
        headers |= a.headers
        h.send_response(a.status)
        for k, v in headers.items():
            if k not in a.omit:
                h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawListener:
    """Accepts TCP connections on 127.0.0.1 and counts them; never speaks HTTP.

    mode "silent": read what comes and never answer; hang up after `hold_s` (so a
    client without a read timeout fails after hold_s instead of hanging the suite).
    mode "drop": hang up as soon as the connection is accepted.
    """

    def __init__(self, mode: Literal["silent", "drop"] = "silent", hold_s: float = 3.0) -> None:
        self.mode, self.hold_s = mode, hold_s
        self.connections = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sock = socket.create_server((LOOPBACK, 0), backlog=16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            if self.mode == "drop":
                conn.close()
            else:
                threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.hold_s
        conn.settimeout(0.05)
        with conn:
            while time.monotonic() < deadline and not self._closed.is_set():
                try:
                    if conn.recv(65536) == b"":
                        return  # the client gave up
                except TimeoutError:
                    continue
                except OSError:
                    return

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        self._thread.join(timeout=2)


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not
    listening, so the kernel answers every SYN with a reset."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


class RecordingPacer:
    """A Pacer that never waits: it records the waits the client asked for."""

    def __init__(self) -> None:
        self.acquires = 0
        self.calls: list[float] = []  # sleep(): backoff waits, in order
        self.pauses: list[float] = []  # pause(): shared waits after a 429

    def acquire(self) -> None:
        self.acquires += 1

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)

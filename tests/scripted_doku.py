"""A tiny DOKU stand-in whose answers are scripted per test (for the client's tests).

Each queued answer is (status, body, options); the server records every request it
got (headers and raw body) and signs answers correctly unless told otherwise.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from doku.client import signing


@dataclass
class Answer:
    status: int = 200
    body: bytes | list[Any] | dict[str, Any] = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    sign: bool = True
    tamper_body: bool = False  # sign one body, send another
    bad_signature: bool = False
    echo_request_id: str | None = None  # answer with another Request-Id


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes


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

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._lock:
                    outer.seen.append(Seen(dict(self.headers.items()), raw))
                    answer = outer.script.pop(0) if outer.script else Answer()
                outer.reply(self, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def reply(self, h: BaseHTTPRequestHandler, a: Answer) -> None:
        body = a.body if isinstance(a.body, bytes) else json.dumps(a.body).encode()
        request_id = a.echo_request_id or h.headers.get("Request-Id", "")
        stamp = signing.timestamp()
        signed_body = body + b" " if a.tamper_body else body
        sig = signing.sign_response(
            self.secret_key, self.client_id, request_id, stamp, h.path, signed_body
        )
        if a.bad_signature:
            sig = sig[:-5] + "AAAA="
        h.send_response(a.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Client-Id", self.client_id)
        h.send_header("Request-Id", request_id)
        if a.sign:
            h.send_header("Response-Timestamp", stamp)
            h.send_header("Signature", sig)
        for k, v in a.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A local DOKU tokenization server, faithful enough to stand in for the real one.

Stdlib only: ``ThreadingHTTPServer`` (one thread per connection, HTTP/1.1 keep-alive).
Each response is written with ONE ``sendall`` of headers + body and the handler sets
TCP_NODELAY; without that, http.server's two writes meet Nagle's algorithm and the
client's delayed ACK and every answer waits about 40 ms.

``POST /tokenization/v1/tokens`` is checked in this order (first failure answers):

====  =====================================================================
401   Client-Id missing or not the configured one
400   Request-Id missing, empty or longer than 128 characters
400   Request-Timestamp missing or not ``YYYY-MM-DDTHH:MM:SSZ``
401   Request-Timestamp more than ``max_clock_skew_s`` away from the simulator's
      clock: a stale signed request is treated as a replay attempt, so it is an
      authentication failure (the client must fix its clock, not its body)
401   Signature missing or not the HMAC of the RAW body bytes
409   Request-Id seen before: same body -> the earlier response body verbatim;
      another body -> "Request-Id reused with a different body"
400   body not JSON / not an object; customer.id missing, not a string, empty,
      longer than 50 characters or holding control characters; token_data not an
      object; token_data.type not DIRECT_DEBIT/CREDIT_CARD (null counts as absent)
200   JSON array of the customer's tokens (``doku.simulator.world.tokens_for``), filtered by
      token_data.type when given
====  =====================================================================

Other paths answer 404, other methods on the tokens path 405. Every answer, errors
included, is compact JSON with Client-Id and Request-Id echoed from the request,
Response-Timestamp and a Signature from ``doku.client.signing.sign_response``.

Idempotency: a Request-Id is remembered (last ``replay_capacity`` ids, LRU) once its
request authenticated and was answered 200 or 400. Answers that mean "not processed"
(injected 5xx, 429, drop, hang) forget the id, so a retry with the same id is served.

Faults hit only requests that passed authentication and validation, so rejection
tests are never flaky. The fault of a request is a pure function of
``(seed, Request-Id)`` (``planned_fault``): one sha256-derived draw ``u`` in [0, 1) is
compared with consecutive bands drop, hang, fail (5xx: 500/502/503 in equal shares),
429, malformed, bad signature, so each fault occurs at exactly its rate and a run with
the same Request-Ids is reproducible whatever the thread timing. The rate limiter
(a global token bucket, burst of one second) is applied before those bands. Latency
(``latency_ms`` +- uniform ``jitter_ms``, jitter from ``random.Random(seed)``) delays
every request, rejected ones included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, fields
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast
from urllib.parse import urlsplit

from doku.client.signing import (
    format_timestamp,
    parse_timestamp,
    sign_response,
    utc_now,
    verify_request,
)
from doku.models import CARD_FIELD, TOKEN_TYPES, customer_id_problem
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator.world import tokens_for

logger = logging.getLogger(__name__)

MAX_REQUEST_ID = 128
MAX_BODY = 1 << 20
FAULTS = ("drop", "hang", "fail", "rate_429", "malformed", "bad_signature")
FAIL_STATUSES = (500, 502, 503)
_FAIL_CODES = {
    500: ("INTERNAL_SERVER_ERROR", "internal server error (injected)"),
    502: ("BAD_GATEWAY", "bad gateway (injected)"),
    503: ("SERVICE_UNAVAILABLE", "service temporarily unavailable (injected)"),
}
_NOT_PROCESSED = frozenset({"drop", "hang", "fail", "rate_429", "rate_limited"})


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _error_body(code: str, message: str) -> bytes:
    return _compact({"error": {"code": code, "message": message}})


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator behaves. Rates are shares of valid, authenticated requests."""

    client_id: str = SIMULATOR_CLIENT_ID
    secret_key: str = field(default=SIMULATOR_SECRET_KEY, repr=False)
    seed: int = 0
    epoch: int = 0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    rate_429: float = 0.0
    retry_after_s: int = 1
    rate_limit_rps: float | None = None
    hang_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0
    bad_signature_rate: float = 0.0
    drop_rate: float = 0.0
    max_clock_skew_s: float = 300.0
    replay_capacity: int = 100_000

    def __post_init__(self) -> None:
        problems = []
        if not self.client_id:
            problems.append("client_id must not be empty")
        if not self.secret_key:
            problems.append("secret_key must not be empty")
        for name in self.fault_rates():
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                problems.append(f"{name} must be within [0, 1], not {rate}")
        if sum(self.fault_rates().values()) > 1.0 + 1e-9:
            problems.append("the fault rates together must not exceed 1")
        for name in ("latency_ms", "jitter_ms", "hang_s", "retry_after_s", "max_clock_skew_s"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.epoch < 0:
            problems.append("epoch must be >= 0")
        if self.rate_limit_rps is not None and not self.rate_limit_rps > 0:
            problems.append("rate_limit_rps must be > 0")
        if self.replay_capacity < 1:
            problems.append("replay_capacity must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    def fault_rates(self) -> dict[str, float]:
        """Config field name -> rate, in the order the bands are laid out."""
        return {
            "drop_rate": self.drop_rate,
            "hang_rate": self.hang_rate,
            "fail_rate": self.fail_rate,
            "rate_429": self.rate_429,
            "malformed_rate": self.malformed_rate,
            "bad_signature_rate": self.bad_signature_rate,
        }


def _unit(seed: int, label: str, request_id: str) -> float:
    raw = f"{seed}:{label}:{request_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") / 2.0**64


def planned_fault(config: SimulatorConfig, request_id: str) -> str | None:
    """The fault (one of FAULTS) a valid request with this Request-Id gets, or None."""
    u = _unit(config.seed, "fault", request_id)
    for name, rate in zip(FAULTS, config.fault_rates().values(), strict=True):
        if u < rate:
            return name
        u -= rate
    return None


def failure_status(config: SimulatorConfig, request_id: str) -> int:
    """Which 5xx an injected failure uses (equal shares of 500, 502, 503)."""
    u = _unit(config.seed, "fail-status", request_id)
    return FAIL_STATUSES[min(int(u * len(FAIL_STATUSES)), len(FAIL_STATUSES) - 1)]


class SimulatorStats:
    """Thread-safe counters: requests, status_<code>, replay and one per fault kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"SimulatorStats({self.snapshot()!r})"


class _TokenBucket:
    """Global rate limit: `rate` tokens per second, burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0.0 when a request may pass, else seconds until the next token."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


@dataclass
class _Seen:
    body_digest: bytes
    status: int | None = None  # None while the first request is still in progress
    body: bytes = b""


class _State:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = SimulatorStats()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.seen: OrderedDict[str, _Seen] = OrderedDict()
        rps = config.rate_limit_rps
        self.bucket = _TokenBucket(rps) if rps is not None else None
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()

    def delay_s(self) -> float:
        cfg = self.config
        if cfg.jitter_ms <= 0:
            return cfg.latency_ms / 1000.0
        with self._rng_lock:
            jitter = self._rng.uniform(-cfg.jitter_ms, cfg.jitter_ms)
        return max(0.0, cfg.latency_ms + jitter) / 1000.0

    def claim(self, request_id: str, body_digest: bytes) -> _Seen | None:
        """Earlier record of this Request-Id, or None after reserving it for this request."""
        with self.lock:
            earlier = self.seen.get(request_id)
            if earlier is not None:
                self.seen.move_to_end(request_id)
                return _Seen(earlier.body_digest, earlier.status, earlier.body)
            self.seen[request_id] = _Seen(body_digest)
            while len(self.seen) > self.config.replay_capacity:
                self.seen.popitem(last=False)
            return None

    def remember(self, request_id: str, status: int, body: bytes) -> None:
        with self.lock:
            record = self.seen.get(request_id)
            if record is not None:
                record.status, record.body = status, body

    def forget(self, request_id: str) -> None:
        with self.lock:
            self.seen.pop(request_id, None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Never join handler threads on close: an idle keep-alive connection would block it.
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away: nothing to report
            return
        logger.error("simulator handler failed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "doku-simulator"
    disable_nagle_algorithm = True

    # Per-request echo values; reset by _begin for each request on the connection.
    _client_id = ""
    _request_id = ""
    _target = ""
    _responded = False
    _retry_after = 1  # seconds, set when the token bucket refuses a request

    @property
    def _state(self) -> _State:
        return cast(_Server, self.server).state

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a benchmark makes thousands of requests

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_POST

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors from http.server itself, answered in DOKU's JSON shape."""
        if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "command", None):
            self._dispatch()  # an unusual method: 404 or 405 like any other
            return
        self.close_connection = True
        self._begin()
        # The request line or headers did not parse: echo nothing (headers may be stale).
        self._client_id = self._request_id = ""
        status = HTTPStatus(code)
        self._send(status, _error_body(status.name, message or status.phrase))

    def _begin(self) -> None:
        headers = getattr(self, "headers", None)
        self._client_id = headers.get("Client-Id", "") if headers is not None else ""
        self._request_id = headers.get("Request-Id", "") if headers is not None else ""
        self._target = urlsplit(getattr(self, "path", "")).path
        self._responded = False

    def _dispatch(self) -> None:
        self._begin()
        state = self._state
        state.stats.incr("requests")
        try:
            body = self._read_body()
            if body is None:
                return
            if state.stop_event.wait(state.delay_s()):
                self.close_connection = True  # stopping: leave without answering
                return
            if self._target != TOKENS_PATH:
                self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no such path: {self._target}")
            elif self.command != "POST":
                self._error(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    f"{self.command} is not allowed here; use POST",
                    [("Allow", "POST")],
                )
            else:
                self._tokens(body)
        except OSError:
            self.close_connection = True
            raise
        except Exception:
            logger.exception("simulator failed on %s %s", self.command, self.path)
            self.close_connection = True
            if not self._responded:
                self._error(
                    HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "simulator bug"
                )

    def _read_body(self) -> bytes | None:
        """The raw body, or None after answering a body we cannot frame."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "LENGTH_REQUIRED", "send Content-Length")
            return None
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "bad Content-Length")
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "TOO_LARGE", "body too large")
            return None
        return self.rfile.read(length)

    def _tokens(self, body: bytes) -> None:
        state = self._state
        cfg = state.config
        client_id, request_id = self._client_id, self._request_id
        if not client_id:
            return self._error(HTTPStatus.UNAUTHORIZED, "INVALID_CLIENT_ID", "Client-Id missing")
        if client_id != cfg.client_id:
            return self._error(HTTPStatus.UNAUTHORIZED, "INVALID_CLIENT_ID", "unknown Client-Id")
        if not request_id:
            return self._error(HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "Request-Id missing")
        if len(request_id) > MAX_REQUEST_ID:
            return self._error(
                HTTPStatus.BAD_REQUEST,
                "INVALID_HEADER",
                f"Request-Id longer than {MAX_REQUEST_ID} characters",
            )
        stamp = self.headers.get("Request-Timestamp")
        if not stamp:
            return self._error(
                HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "Request-Timestamp missing"
            )
        try:
            moment = parse_timestamp(stamp)
        except ValueError:
            return self._error(
                HTTPStatus.BAD_REQUEST,
                "INVALID_HEADER",
                "Request-Timestamp must look like 2020-08-11T08:45:42Z (UTC)",
            )
        if abs((utc_now() - moment).total_seconds()) > cfg.max_clock_skew_s:
            return self._error(
                HTTPStatus.UNAUTHORIZED,
                "INVALID_TIMESTAMP",
                f"Request-Timestamp is more than {cfg.max_clock_skew_s:g} s from server time",
            )
        signature = self.headers.get("Signature")
        if not signature:
            return self._error(HTTPStatus.UNAUTHORIZED, "INVALID_SIGNATURE", "Signature missing")
        if not verify_request(
            cfg.secret_key, client_id, request_id, stamp, TOKENS_PATH, body, signature
        ):
            return self._error(HTTPStatus.UNAUTHORIZED, "INVALID_SIGNATURE", "invalid signature")

        earlier = state.claim(request_id, hashlib.sha256(body).digest())
        if earlier is not None:
            return self._replay(earlier, body)

        status, answer = self._answer(body)
        fault = self._fault(request_id) if status == HTTPStatus.OK else None
        if fault in _NOT_PROCESSED:
            state.forget(request_id)
            return self._inject(fault or "")
        state.remember(request_id, status, answer)
        if fault == "malformed":
            state.stats.incr("malformed")
            # A prefix of a JSON array is never valid JSON; the signature still matches.
            return self._send(HTTPStatus.OK, answer[: max(1, len(answer) // 2)])
        if fault == "bad_signature":
            state.stats.incr("bad_signature")
            return self._send(HTTPStatus.OK, answer, wrong_signature=True)
        return self._send(status, answer)

    def _replay(self, earlier: _Seen, body: bytes) -> None:
        self._state.stats.incr("replay")
        if earlier.body_digest != hashlib.sha256(body).digest():
            return self._error(
                HTTPStatus.CONFLICT,
                "DUPLICATE_REQUEST_ID",
                "Request-Id reused with a different body",
            )
        if earlier.status is None:
            return self._error(
                HTTPStatus.CONFLICT, "DUPLICATE_REQUEST_ID", "Request-Id is still being processed"
            )
        return self._send(HTTPStatus.CONFLICT, earlier.body)

    def _answer(self, body: bytes) -> tuple[HTTPStatus, bytes]:
        """The real answer to an authenticated request: 200 tokens or 400 error."""

        def bad(message: str) -> tuple[HTTPStatus, bytes]:
            return HTTPStatus.BAD_REQUEST, _error_body("INVALID_REQUEST", message)

        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return bad("body is not valid JSON")
        if not isinstance(payload, dict):
            return bad("body must be a JSON object")
        customer = payload.get("customer")
        if not isinstance(customer, dict) or "id" not in customer:
            return bad("customer.id is mandatory")
        customer_id = customer["id"]
        if not isinstance(customer_id, str):
            return bad("customer.id must be a string")
        problem = customer_id_problem(customer_id)
        if problem is not None:
            return bad(f"customer.id is {problem}")
        token_data = payload.get("token_data")
        token_type = None
        if token_data is not None:
            if not isinstance(token_data, dict):
                return bad("token_data must be an object")
            token_type = token_data.get("type")
            if token_type is not None and token_type not in TOKEN_TYPES:
                return bad("token_data.type must be DIRECT_DEBIT or CREDIT_CARD")
        cfg = self._state.config
        tokens = tokens_for(customer_id, cfg.seed, cfg.epoch)
        if token_type is not None:
            tokens = [t for t in tokens if CARD_FIELD[token_type] in t]
        return HTTPStatus.OK, _compact(tokens)

    def _fault(self, request_id: str) -> str | None:
        state = self._state
        if state.bucket is not None:
            wait = state.bucket.take()
            if wait > 0:
                self._retry_after = max(1, math.ceil(wait))
                return "rate_limited"
        return planned_fault(state.config, request_id)

    def _inject(self, fault: str) -> None:
        """Faults after which DOKU has not processed the request."""
        state = self._state
        cfg = state.config
        state.stats.incr(fault)
        if fault == "drop":
            self.close_connection = True
        elif fault == "hang":
            state.stop_event.wait(cfg.hang_s)
            self.close_connection = True
        elif fault == "fail":
            status = failure_status(cfg, self._request_id)
            state.stats.incr(f"fail_{status}")
            self._error(HTTPStatus(status), *_FAIL_CODES[status])
        elif fault == "rate_429":
            self._error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "too many requests (injected)",
                [("Retry-After", str(cfg.retry_after_s))],
            )
        else:  # rate_limited
            self._error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                f"rate limit of {cfg.rate_limit_rps:g} requests per second exceeded",
                [("Retry-After", str(self._retry_after))],
            )

    def _error(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self._send(status, _error_body(code, message), extra)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        extra: list[tuple[str, str]] | None = None,
        *,
        wrong_signature: bool = False,
    ) -> None:
        """Headers and body in one write (see the module docstring on Nagle)."""
        state = self._state
        cfg = state.config
        stamp = format_timestamp(utc_now())
        key = cfg.secret_key + ("-not-the-key" if wrong_signature else "")
        signature = sign_response(key, self._client_id, self._request_id, stamp, self._target, body)
        if state.stop_event.is_set():
            self.close_connection = True
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Client-Id: {self._client_id}",
            f"Request-Id: {self._request_id}",
            f"Response-Timestamp: {stamp}",
            f"Signature: {signature}",
        ]
        lines.extend(f"{name}: {value}" for name, value in extra or ())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self._responded = True
        state.stats.incr(f"status_{status.value}")
        self.wfile.write(head if self.command == "HEAD" else head + body)


class RunningSimulator:
    """A simulator serving in a daemon thread; stop() (or `with`) ends it."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self.port: int = server.server_port
        self.url = f"http://{server.server_name}:{self.port}"

    @property
    def config(self) -> SimulatorConfig:
        return self._server.state.config

    @property
    def stats(self) -> SimulatorStats:
        return self._server.state.stats

    def stop(self) -> None:
        """Stop serving; returns promptly even with hung or idle keep-alive connections."""
        if self._stopped:
            return
        self._stopped = True
        self._server.state.stop_event.set()  # wakes hung and sleeping handlers
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSimulator({self.url!r})"


def start_simulator(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Bind (port 0: a free one) and serve in a daemon thread. Raises OSError if taken."""
    server = _Server((host, port), _State(config or SimulatorConfig()))
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # stop() waits at most this long
        name=f"doku-simulator-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return RunningSimulator(server, thread)


# Flags of `python -m doku sandbox`, per config field.
CLI_FLAGS = {
    "client_id": "--client-id",
    "secret_key": "--secret-key",
    "seed": "--seed",
    "epoch": "--epoch",
    "latency_ms": "--latency-ms",
    "jitter_ms": "--jitter-ms",
    "fail_rate": "--fail-rate",
    "rate_429": "--rate-429",
    "retry_after_s": "--retry-after",
    "rate_limit_rps": "--rate-limit",
    "hang_rate": "--hang-rate",
    "hang_s": "--hang-s",
    "malformed_rate": "--malformed-rate",
    "bad_signature_rate": "--bad-signature-rate",
    "drop_rate": "--drop-rate",
    "max_clock_skew_s": "--max-clock-skew",
    "replay_capacity": "--replay-capacity",
}


def config_to_argv(config: SimulatorConfig) -> list[str]:
    """`sandbox` flags reproducing `config` (only fields that differ from the defaults)."""
    default = SimulatorConfig()
    argv: list[str] = []
    for f in fields(SimulatorConfig):
        value = getattr(config, f.name)
        if value != getattr(default, f.name):
            argv += [CLI_FLAGS[f.name], str(value)]
    return argv


def start_simulator_process(
    config: SimulatorConfig | None = None, port: int = 0, *, timeout: float = 15.0
) -> tuple[str, subprocess.Popen[str]]:
    """Run `python -m doku sandbox` in a child process (its own GIL, for benchmarks).

    Returns the URL from its first line and the Popen; end it with
    `stop_simulator_process`. A non-demo secret key travels on the child's command line.
    """
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "doku", "sandbox", "--port", str(port)]
    argv += config_to_argv(config or SimulatorConfig())
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    stdout = cast(IO[str], proc.stdout)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = first[0].strip() if first else ""
    prefix = "listening on "
    if not line.startswith(prefix):
        stop_simulator_process(proc)
        raise RuntimeError(
            f"simulator process did not start (exit code {proc.returncode}, output {line!r})"
        )
    return line[len(prefix) :], proc


def stop_simulator_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """SIGTERM, wait, SIGKILL as a last resort; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode

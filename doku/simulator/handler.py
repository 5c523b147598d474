"""What the simulator answers: one request handler shared by both front ends.

`SimulatorHandler` is http.server's request handler with DOKU's rules. The threaded
front end (`doku.simulator.server`) runs it on a socket in a thread per connection;
the event-loop front end (`doku.simulator.loop_server`) runs it on one complete
request held in memory at a time, with `deferred` set: then nothing is slept in the
handler. The answer is made at once and `hold` says how long the loop keeps it before
sending (the latency), and a hang is left in `pending` for the loop to keep. Answers
are the same bytes either way; with latency, the threaded front end makes its answer
after the wait, so its Response-Timestamp can be a second later and it answers from
the world as it is then (`move_world_on`). Made first, an answer leaves the loop free
while it waits: made after, answers due in the same millisecond (the loop's timers
have that resolution) queued behind each other and added a millisecond or two to
every round trip of a bulk audit. Each answer is ONE write of headers + body (see
`_send`).

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
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from doku.settings import TOKENS_PATH
from doku.simulator.checks import answer_bytes, check_request, customer_of
from doku.simulator.faults import failure_status, planned_fault
from doku.simulator.request_head import LeanHeadHandler
from doku.simulator.response import SERVER, answer_head, error_body
from doku.simulator.state import _Seen, _State

logger = logging.getLogger(__name__)

MAX_REQUEST_ID = 128
MAX_BODY = 1 << 20
_FAIL_CODES = {
    500: ("INTERNAL_SERVER_ERROR", "internal server error (injected)"),
    502: ("BAD_GATEWAY", "bad gateway (injected)"),
    503: ("SERVICE_UNAVAILABLE", "service temporarily unavailable (injected)"),
}
_NOT_PROCESSED = frozenset({"drop", "hang", "fail", "rate_429", "rate_limited"})


class StateHolder(Protocol):
    """What a handler's `server` is, for either front end."""

    state: _State


@dataclass(frozen=True)
class Wait:
    """A hang the event loop keeps for the handler: `seconds`, then `end_hang` and
    the connection closes unanswered."""

    seconds: float


class SimulatorHandler(LeanHeadHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER
    disable_nagle_algorithm = True

    # Per-request echo values; reset by _begin for each request on the connection.
    _client_id = ""
    _request_id = ""
    _target = ""
    _responded = False
    _retry_after = 1  # seconds, set when the token bucket refuses a request

    # Event-loop mode: nothing is slept here (module docstring); the loop sends the
    # answer `hold` seconds after it was made and keeps a hang that is `pending`.
    deferred = False
    pending: Wait | None = None
    hold = 0.0

    @property
    def _state(self) -> _State:
        return cast(StateHolder, self.server).state

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a benchmark makes thousands of requests

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_POST

    def send_error(
        self,
        code: int,
        message: str | None = None,
        explain: str | None = None,  # noqa: ARG002  http.server's signature; DOKU has none
    ) -> None:
        """Protocol errors from http.server itself, answered in DOKU's JSON shape."""
        if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "command", None):
            self._dispatch()  # an unusual method: 404 or 405 like any other
            return
        self.close_connection = True
        self._begin()
        # The request line or headers did not parse: echo nothing (headers may be stale).
        self._client_id = self._request_id = ""
        status = HTTPStatus(code)
        self._send(status, error_body(status.name, message or status.phrase))

    def _begin(self) -> None:
        self._client_id = self.fields.get("client-id", "")
        self._request_id = self.fields.get("request-id", "")
        self._target = urlsplit(getattr(self, "path", "")).path
        self._responded = False
        self._received = time.time()
        self._logged_customer: str | None = None
        self._status = 0

    def _dispatch(self) -> None:
        self._begin()
        self.pending = None
        state = self._state
        with self._guarded():
            body = self._read_body()
            state.stats.incr("requests")
            if not isinstance(body, bytes):
                self.close_connection = True
                return self._error(*body)
            delay = state.delay_s()  # no latency: skip Event.wait's lock and condition
            if self.deferred:
                self.hold = delay  # the loop sends the answer made below after it
                stopping = state.stop_event.is_set()
            else:
                stopping = state.stop_event.wait(delay) if delay > 0 else (
                    state.stop_event.is_set())
            if stopping:
                self.close_connection = True  # stopping: leave without answering
                return
            self._respond(body)

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
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

    def _respond(self, body: bytes) -> None:
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
            # Logged as answered when it is: a held answer when the loop sends it
            # (`sent`), a hang when it ends (`end_hang`).
            if self.pending is None and not self.hold:
                self._log_request()

    def sent(self) -> None:
        """The loop has sent the answer it held: the request is logged as answered now."""
        self._log_request()

    def end_hang(self) -> None:
        """A hang the loop kept is over: the request is logged as answered now."""
        self.pending = None
        self._log_request()

    def _log_request(self) -> None:
        if self._logged_customer is not None:
            self._state.log_request(self._logged_customer, self._received, time.time(),
                                    self._status)

    def _read_body(self) -> bytes | tuple[HTTPStatus, str, str]:
        """The raw body, or the refusal of a body we cannot frame. Answers nothing
        itself: in memory a short read must leave before any effect (`loop_server`)."""
        if self.fields.get("transfer-encoding"):
            return HTTPStatus.LENGTH_REQUIRED, "LENGTH_REQUIRED", "send Content-Length"
        length_text = self.fields.get("content-length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            return HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "bad Content-Length"
        if length > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "TOO_LARGE", "body too large"
        return self.rfile.read(length)

    def _tokens(self, body: bytes) -> None:
        state = self._state
        request_id = self._request_id
        refusal = check_request(
            state.config,
            client_id=self._client_id,
            request_id=request_id,
            stamp=self.fields.get("request-timestamp"),
            signature=self.fields.get("signature"),
            body=body,
        )
        if refusal is not None:
            return self._error(*refusal)
        if state.config.request_log:
            self._logged_customer = customer_of(body)

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
        return answer_bytes(self._state.config, body)

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
            self.close_connection = True
            if self.deferred:
                self.pending = Wait(cfg.hang_s)
            else:
                state.stop_event.wait(cfg.hang_s)
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
        self._send(status, error_body(code, message), extra)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        extra: list[tuple[str, str]] | None = None,
        *,
        wrong_signature: bool = False,
    ) -> None:
        """Headers and body in one write (see the module docstring on Nagle)."""
        self._status = status.value
        state = self._state
        key = state.config.secret_key + ("-not-the-key" if wrong_signature else "")
        if state.stop_event.is_set():
            self.close_connection = True
        head = answer_head(status, body, key=key, client_id=self._client_id,
                           request_id=self._request_id, target=self._target,
                           extra=extra or (), close=self.close_connection)
        self._responded = True
        state.stats.incr(f"status_{status.value}")
        self.wfile.write(head if self.command == "HEAD" else head + body)

"""Signed token-list requests over one pooled `requests.Session`.

The JSON body is serialised once; `DokuSigner` (in `doku.client.auth`) signs the
prepared request's exact body bytes, so what is signed is what is sent. Every attempt
gets a fresh UUID4 Request-Id and a fresh UTC timestamp (DOKU answers a reused
Request-Id with 409 and the earlier answer). A response is trusted only after
`verify_answer` accepts it; otherwise its data is never returned.

Transport invariants (each pinned in tests/test_client_transport.py): every request
has a (connect, read) timeout; redirects are never followed; urllib3 never retries
underneath (one client attempt is one connection attempt); proxy variables from the
environment are ignored (`trust_env = False`, which also drops netrc and CA-bundle
variables). Retries happen here only, each attempt signed afresh.

Hostile-server bounds (pinned in tests/test_hostile_client.py): each attempt has one
overall deadline from connect to the last byte (`deadline_s`, enforced by
`doku.client.deadline` even against a server that drips a byte at a time); bodies are
streamed and capped both off the wire and after decompression (`max_body_bytes`,
`max_decoded_bytes`); JSON is depth- and size-checked before it is decoded, error
bodies included; a Retry-After is capped (`max_retry_after_s`) and its wait goes
through the pacer, so cancellation cuts it short; an answer is checked against its
request (`doku.models.parse_answer`). Every such failure is a DokuError with a code,
the status when there was one, and the attempt's Request-Id.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_string
from typing import Any

import requests
import urllib3

from doku import __version__
from doku.client.auth import DokuSigner, request_target
from doku.client.bounded import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_BODY_BYTES,
    ERROR_BODY_BYTES,
    MAX_ERROR_TEXT,
    decode_json,
    read_body,
)
from doku.client.deadline import Deadline, DeadlineAdapter, watching
from doku.client.pacing import Pacer, SharedPacer
from doku.client.retry import RetryPolicy, retry_delay
from doku.client.signing import Clock, utc_now
from doku.client.status import (
    error_for_status,
    read_error,
    transport_error,
)
from doku.errors import (
    DeadlineExceededError,
    DokuError,
    MalformedResponseError,
    RateLimitedError,
)
from doku.models import (
    Token,
    is_known_type,
    parse_answer,
    validate_customer_id,
    validate_token_type,
)
from doku.settings import TOKENS_PATH, Settings

# DokuSigner and Pacer lived here before the split; they stay importable from here.
__all__ = [
    "MAX_ERROR_TEXT",
    "USER_AGENT",
    "DokuSigner",
    "Pacer",
    "TokenClient",
    "TokenResult",
    "encode_body",
    "error_for_status",
    "tokens_request_body",
]


log = logging.getLogger("doku.client.tokens")
USER_AGENT = f"doku-token-audit/{__version__}"
DEFAULT_MAX_RETRY_AFTER_S = 60.0


def encode_body(payload: Any) -> bytes:
    """Compact UTF-8 JSON: byte-identical to PHP json_encode with unescaped flags."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def tokens_request_body(customer_id: str, token_type: str | None = None) -> bytes:
    """encode_body({"customer": {"id": customer_id}}), with {"token_data": {"type":
    token_type}} after it when a type is asked for: written directly, each string as
    json.dumps writes it (ensure_ascii=False), without a JSONEncoder made per call
    (0.14 us against 2.6; tests/test_client_tokens_body.py holds them equal)."""
    if token_type is None:
        text = f'{{"customer":{{"id":{_json_string(customer_id)}}}}}'
    else:
        text = (f'{{"customer":{{"id":{_json_string(customer_id)}}},'
                f'"token_data":{{"type":{_json_string(token_type)}}}}}')
    return text.encode("utf-8")


@dataclass(frozen=True)
class TokenResult:
    customer_id: str
    token_type: str | None
    tokens: list[Token]
    request_id: str
    attempts: int
    latency_ms: float  # of the successful attempt
    signature_verified: bool
    status: int
    duplicates: int = 0  # repeated token_ids in the answer, each kept once

    @property
    def unknown_types(self) -> int:
        """Tokens of a type the parser does not know (kept with their type string)."""
        return sum(1 for t in self.tokens if not is_known_type(t.type))


# Final answers by status; 429 and 5xx (retryable) and 3xx are handled on their own.


_READ_ERRORS = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError)


@dataclass(frozen=True)
class _Answer:
    tokens: list[Token]
    request_id: str
    latency_ms: float
    verified: bool
    status: int
    duplicates: int


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, int | float) and math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return float(value)


class TokenClient:
    """Fetches one customer's tokens; thread-safe (share one across a worker pool).

    Limits per attempt: `connect_timeout_s` and `read_timeout_s` (per socket read),
    `deadline_s` from connect to the last byte (default: their sum), `max_body_bytes`
    off the wire and `max_decoded_bytes` after decompression (default: the same), and
    `max_retry_after_s` on any Retry-After a 429 asks for.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 16,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        deadline_s: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_decoded_bytes: int | None = None,
        max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        pacer: Pacer | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if settings.base_url is None:
            raise ValueError("settings.base_url is not resolved (start the simulator first)")
        # None would mean "wait forever" to requests: every request has both timeouts.
        connect = _positive("connect_timeout_s", connect_timeout_s)
        read = _positive("read_timeout_s", read_timeout_s)
        self.deadline_s = connect + read if deadline_s is None else _positive(
            "deadline_s", deadline_s
        )
        self.max_body_bytes = int(_positive("max_body_bytes", max_body_bytes))
        self.max_decoded_bytes = (
            self.max_body_bytes if max_decoded_bytes is None
            else int(_positive("max_decoded_bytes", max_decoded_bytes))
        )
        self.max_retry_after_s = _positive("max_retry_after_s", max_retry_after_s)
        self.settings = settings
        self.url = settings.base_url + TOKENS_PATH
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self.pacer: Pacer = pacer or SharedPacer()
        self.rand = rand
        self._signer = DokuSigner(settings.client_id, settings.secret_key.reveal(), clock)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, netrc or CA bundle from the environment
        adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Content-Type": "application/json",
             "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        )

    @property
    def target(self) -> str:
        """The Request-Target both signatures name: the path of `url`."""
        return request_target(self.url)

    def __repr__(self) -> str:
        return f"TokenClient(url={self.url!r}, client_id={self.settings.client_id!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_tokens(self, customer_id: str, token_type: str | None = None) -> TokenResult:
        """All stored tokens of a customer (optionally one type), retrying what may pass."""
        validate_customer_id(customer_id)
        validate_token_type(token_type)
        body = tokens_request_body(customer_id, token_type)
        attempt = 0
        while True:
            attempt += 1
            try:
                self.pacer.acquire()
                answer = self._attempt(body, customer_id, token_type)
            except DokuError as exc:
                exc.attempts = attempt
                delay = retry_delay(self.retry, attempt, exc, self.rand)
                log.info("attempt %d for %r failed: %s", attempt, customer_id, exc.code)
                if delay is None:
                    raise
                if isinstance(exc, RateLimitedError):
                    self.pacer.pause(delay)
                self.pacer.sleep(delay)  # through the pacer: cancellation cuts it short
                continue
            return TokenResult(
                customer_id, token_type, answer.tokens, answer.request_id, attempt,
                answer.latency_ms, answer.verified, answer.status, answer.duplicates,
            )

    def _deadline_error(self, request_id: str, status: int | None = None) -> DokuError:
        return DeadlineExceededError(
            f"no complete answer within the {self.deadline_s:g} s deadline",
            status=status,
            request_id=request_id,
        )

    def _send(self, prepared: requests.PreparedRequest, deadline: Deadline) -> requests.Response:
        """Connect, send and read the status line and headers, all within the deadline."""
        request_id = str(prepared.headers["Request-Id"])
        left = max(deadline.remaining(), 0.001)
        timeout = (min(self.timeout[0], left), min(self.timeout[1], left))
        try:
            return self.session.send(
                prepared, timeout=timeout, allow_redirects=False, stream=True
            )
        except requests.exceptions.RequestException as exc:
            if deadline.finish() or deadline.expired():
                raise self._deadline_error(request_id) from None
            raise transport_error(exc, request_id) from None

    def _read(self, resp: requests.Response, deadline: Deadline, request_id: str) -> bytes:
        return self._read_raw(resp.raw, resp.status_code, resp.close, deadline, request_id)

    def _read_raw(
        self, raw: Any, status: int, close: Callable[[], None], deadline: Deadline,
        request_id: str,
    ) -> bytes:
        """The whole (2xx) or first part (other) of the body, within caps and deadline.

        `raw` is urllib3's streamed response; `close` drops its connection."""
        ok = 200 <= status < 300
        cap = self.max_body_bytes if ok else min(self.max_body_bytes, ERROR_BODY_BYTES)
        decoded_cap = self.max_decoded_bytes if ok else min(self.max_decoded_bytes, cap)

        def check() -> None:
            if deadline.expired():
                raise self._deadline_error(request_id, status)

        try:
            body = read_body(
                raw, max_wire_bytes=cap, max_decoded_bytes=decoded_cap,
                truncate=not ok, check=check,
            )
        except MalformedResponseError as exc:  # a Content-Encoding that does not decode
            close()
            if ok:
                exc.status, exc.request_id = status, request_id
                raise
            body = b""  # on an error answer the status still says what happened
        except DokuError as exc:  # too large, deadline
            close()  # never reuse a connection with unread bytes
            exc.status, exc.request_id = status, request_id
            raise
        except _READ_ERRORS as exc:
            close()
            if deadline.finish() or deadline.expired():
                raise self._deadline_error(request_id, status) from None
            raise read_error(exc, request_id, status) from None
        if deadline.finish():  # cut at the deadline: what was read may be incomplete
            close()
            raise self._deadline_error(request_id, status)
        if not ok:
            close()  # an error body may have been cut short
        return body

    def _attempt(self, body: bytes, customer_id: str, token_type: str | None) -> _Answer:
        """One signed POST: tokens from a trusted answer, or a DokuError."""
        req = requests.Request("POST", self.url, data=body, auth=self._signer)
        prepared = self.session.prepare_request(req)
        request_id = str(prepared.headers["Request-Id"])
        started = time.perf_counter()
        with watching(Deadline(self.deadline_s)) as deadline:
            resp = self._send(prepared, deadline)
            raw = self._read(resp, deadline, request_id)
        latency_ms = (time.perf_counter() - started) * 1000
        status = resp.status_code
        if not 200 <= status < 300:
            raise error_for_status(
                resp, request_id, raw, max_retry_after_s=self.max_retry_after_s
            )
        return self._trusted(
            status, resp.headers, raw, request_id, request_target(str(prepared.url)),
            customer_id, token_type, latency_ms,
        )

    def _trusted(
        self, status: int, headers: Mapping[str, str], raw: bytes, request_id: str,
        target: str, customer_id: str, token_type: str | None, latency_ms: float,
    ) -> _Answer:
        """The tokens of a 2xx answer once its signature and shape check out."""
        verified = self._signer.verify_answer(
            request_id=request_id,
            target=target,
            status=status,
            headers=headers,
            body=raw,
            require_signature=self.settings.require_response_signature,
        )
        try:
            parsed = parse_answer(decode_json(raw), customer_id, token_type)
        except MalformedResponseError as exc:
            exc.status, exc.request_id = status, request_id
            raise
        return _Answer(
            parsed.tokens, request_id, latency_ms, verified, status, parsed.duplicates
        )

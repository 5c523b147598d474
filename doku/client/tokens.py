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
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from doku import __version__
from doku.client.auth import DokuSigner, request_target
from doku.client.pacing import Pacer, SharedPacer
from doku.client.retry import RetryPolicy, parse_retry_after, retry_delay
from doku.client.signing import Clock, utc_now
from doku.errors import (
    AuthenticationError,
    BadRequestError,
    ClientHttpError,
    ConflictError,
    DokuError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from doku.models import Token, parse_tokens, validate_customer_id, validate_token_type
from doku.settings import TOKENS_PATH, Settings

# DokuSigner and Pacer lived here before the split; they stay importable from here.
__all__ = [
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
MAX_ERROR_TEXT = 300


def encode_body(payload: Any) -> bytes:
    """Compact UTF-8 JSON: byte-identical to PHP json_encode with unescaped flags."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def tokens_request_body(customer_id: str, token_type: str | None = None) -> bytes:
    payload: dict[str, Any] = {"customer": {"id": customer_id}}
    if token_type is not None:
        payload["token_data"] = {"type": token_type}
    return encode_body(payload)


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


def _doku_message(body: bytes) -> str | None:
    """DOKU's error text from `{"error": {"message": ...}}` (or a bare "message")."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):
        err = err.get("message")
    if isinstance(err, str):
        return err[:MAX_ERROR_TEXT]
    message = data.get("message")
    return message[:MAX_ERROR_TEXT] if isinstance(message, str) else None


# Final answers by status; 429 and 5xx (retryable) and 3xx are handled on their own.
_STATUS_ERRORS: dict[int, type[DokuError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    409: ConflictError,
}


def error_for_status(resp: requests.Response, request_id: str) -> DokuError:
    """The error for a non-2xx answer (DOKU's own message when its body has one)."""
    status = resp.status_code
    body = resp.content
    doku_msg = _doku_message(body)
    kw: dict[str, Any] = {
        "status": status,
        "doku_message": doku_msg,
        "request_id": request_id,
        "body": body[:MAX_ERROR_TEXT].decode("utf-8", "replace"),
    }
    if 300 <= status < 400:
        # Redirects are never followed: the signature names the original path and a
        # redirect is not an answer DOKU's API gives (often a wrong DOKU_BASE_URL).
        location = resp.headers.get("Location") or "nowhere"
        return MalformedResponseError(
            f"redirect to {location[:MAX_ERROR_TEXT]!r} not followed (check DOKU_BASE_URL)",
            **kw,
        )
    text = doku_msg or (resp.reason or f"HTTP {status}")
    if status == 429:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return RateLimitedError(text, retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError(text, **kw)
    return _STATUS_ERRORS.get(status, ClientHttpError)(text, **kw)


def _transport_error(exc: requests.exceptions.RequestException, request_id: str) -> DokuError:
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.Timeout):
        text = f"timed out ({name})"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = f"connection failed ({name})"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        text = "connection dropped mid-response"
    else:
        text = f"request failed ({name})"
    return TransportError(text, request_id=request_id)


@dataclass(frozen=True)
class _Answer:
    tokens: list[Token]
    request_id: str
    latency_ms: float
    verified: bool
    status: int


class TokenClient:
    """Fetches one customer's tokens; thread-safe (share one across a worker pool)."""

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 16,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        pacer: Pacer | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if settings.base_url is None:
            raise ValueError("settings.base_url is not resolved (start the simulator first)")
        for name, value in (("connect", connect_timeout_s), ("read", read_timeout_s)):
            # None would mean "wait forever" to requests: every request has both timeouts.
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}_timeout_s must be a positive number, not {value!r}")
        self.settings = settings
        self.url = settings.base_url + TOKENS_PATH
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self.pacer: Pacer = pacer or SharedPacer()
        self.rand = rand
        self._signer = DokuSigner(settings.client_id, settings.secret_key.reveal(), clock)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, netrc or CA bundle from the environment
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Content-Type": "application/json",
             "Accept": "application/json"}
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
                answer = self._attempt(body)
            except DokuError as exc:
                exc.attempts = attempt
                delay = retry_delay(self.retry, attempt, exc, self.rand)
                log.info("attempt %d for %r failed: %s", attempt, customer_id, exc.code)
                if delay is None:
                    raise
                if isinstance(exc, RateLimitedError):
                    self.pacer.pause(delay)
                self.pacer.sleep(delay)
                continue
            return TokenResult(
                customer_id, token_type, answer.tokens, answer.request_id, attempt,
                answer.latency_ms, answer.verified, answer.status,
            )

    def _attempt(self, body: bytes) -> _Answer:
        """One signed POST: tokens from a trusted answer, or a DokuError."""
        req = requests.Request("POST", self.url, data=body, auth=self._signer)
        prepared = self.session.prepare_request(req)
        request_id = str(prepared.headers["Request-Id"])
        started = time.perf_counter()
        try:
            resp = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
            raw = resp.content  # read fully inside the try: a cut body is a transport error
        except requests.exceptions.RequestException as exc:
            raise _transport_error(exc, request_id) from None
        latency_ms = (time.perf_counter() - started) * 1000
        status = resp.status_code
        if not 200 <= status < 300:
            raise error_for_status(resp, request_id)
        verified = self._signer.verify_answer(
            request_id=request_id,
            target=request_target(str(prepared.url)),
            status=status,
            headers=resp.headers,
            body=raw,
            require_signature=self.settings.require_response_signature,
        )
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise MalformedResponseError(
                "response body is not valid JSON", status=status, request_id=request_id
            ) from None
        try:
            tokens = parse_tokens(payload)
        except MalformedResponseError as exc:
            exc.status, exc.request_id = status, request_id
            raise
        return _Answer(tokens, request_id, latency_ms, verified, status)

"""Signed token-list requests over one pooled `requests.Session`.

The JSON body is serialised once; `DokuSigner` signs the prepared request's exact
body bytes, so what is signed is what is sent. Every attempt gets a fresh UUID4
Request-Id and a fresh UTC timestamp (DOKU answers a reused Request-Id with 409 and
the earlier answer). A response is trusted only after its signature verifies and it
names our Request-Id; otherwise its data is never returned.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from doku import __version__
from doku.client.retry import RetryPolicy, parse_retry_after, retry_delay
from doku.client.signing import Clock, sign_request, timestamp, utc_now, verify_response
from doku.errors import (
    AuthenticationError,
    BadRequestError,
    ClientHttpError,
    ConflictError,
    DokuError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    SignatureMismatchError,
    TransportError,
)
from doku.models import Token, parse_tokens, validate_customer_id, validate_token_type
from doku.settings import TOKENS_PATH, Settings

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


class DokuSigner(requests.auth.AuthBase):
    """Adds Client-Id, Request-Id, Request-Timestamp and Signature to a prepared request."""

    def __init__(self, client_id: str, secret_key: str, clock: Clock = utc_now) -> None:
        self.client_id = client_id
        self._secret_key = secret_key
        self.clock = clock

    def __repr__(self) -> str:
        return f"DokuSigner(client_id={self.client_id!r})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body if isinstance(r.body, bytes) else (r.body or "").encode("utf-8")
        request_id = str(uuid.uuid4())
        stamp = timestamp(self.clock)
        target = urlsplit(r.url or "").path or "/"
        r.headers["Client-Id"] = self.client_id
        r.headers["Request-Id"] = request_id
        r.headers["Request-Timestamp"] = stamp
        r.headers["Signature"] = sign_request(
            self._secret_key, self.client_id, request_id, stamp, target, body
        )
        return r


class Pacer(Protocol):
    """Shared pacing across workers: the bulk fetcher's rate limit and 429 pauses."""

    def acquire(self) -> None: ...  # before every attempt; may raise CancelledError

    def pause(self, seconds: float) -> None: ...  # a 429 asks everyone to wait

    def sleep(self, seconds: float) -> None: ...  # backoff wait; may raise CancelledError


class _NoPacer:
    def acquire(self) -> None:
        return None

    def pause(self, seconds: float) -> None:
        return None

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


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
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:MAX_ERROR_TEXT]
        if isinstance(err, str):
            return err[:MAX_ERROR_TEXT]
        if isinstance(data.get("message"), str):
            return str(data["message"])[:MAX_ERROR_TEXT]
    return None


def error_for_status(resp: requests.Response, request_id: str) -> DokuError:
    status = resp.status_code
    body = resp.content
    doku_msg = _doku_message(body)
    text = doku_msg or (resp.reason or f"HTTP {status}")
    kw: dict[str, Any] = {
        "status": status,
        "doku_message": doku_msg,
        "request_id": request_id,
        "body": body[:MAX_ERROR_TEXT].decode("utf-8", "replace"),
    }
    if status in (401, 403):
        return AuthenticationError(text, **kw)
    if status == 400:
        return BadRequestError(text, **kw)
    if status == 409:
        return ConflictError(text, **kw)
    if status == 429:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return RateLimitedError(text, retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError(text, **kw)
    return ClientHttpError(text, **kw)


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
        self.settings = settings
        self.url = settings.base_url + TOKENS_PATH
        self.target = urlsplit(self.url).path
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self.pacer: Pacer = pacer or _NoPacer()
        self.rand = rand
        self._signer = DokuSigner(settings.client_id, settings.secret_key.reveal(), clock)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or netrc from the environment
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Content-Type": "application/json",
             "Accept": "application/json"}
        )

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
                result = self._attempt(customer_id, token_type, body)
            except DokuError as exc:
                exc.attempts = attempt
                delay = retry_delay(self.retry, attempt, exc, self.rand)
                log.info("attempt %d for %r failed: %s", attempt, customer_id, exc.kind)
                if delay is None:
                    raise
                if isinstance(exc, RateLimitedError):
                    self.pacer.pause(delay)
                self.pacer.sleep(delay)
                continue
            return TokenResult(
                customer_id, token_type, result[0], result[1], attempt, result[2], result[3], 200
            )

    def _attempt(
        self, customer_id: str, token_type: str | None, body: bytes
    ) -> tuple[list[Token], str, float, bool]:
        req = requests.Request("POST", self.url, data=body, auth=self._signer)
        prepared = self.session.prepare_request(req)
        request_id = str(prepared.headers["Request-Id"])
        started = time.perf_counter()
        try:
            resp = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
            raw = resp.content  # read fully inside the try: a cut body is a transport error
        except requests.exceptions.Timeout as exc:
            raise TransportError(
                f"timed out ({type(exc).__name__})", request_id=request_id
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(_transport_text(exc), request_id=request_id) from None
        latency_ms = (time.perf_counter() - started) * 1000
        if not 200 <= resp.status_code < 300:
            raise error_for_status(resp, request_id)
        verified = self._verify(resp, raw, request_id)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise MalformedResponseError(
                "response body is not valid JSON", status=resp.status_code, request_id=request_id
            ) from None
        try:
            tokens = parse_tokens(payload)
        except MalformedResponseError as exc:
            exc.status, exc.request_id = resp.status_code, request_id
            raise
        return tokens, request_id, latency_ms, verified

    def _verify(self, resp: requests.Response, raw: bytes, request_id: str) -> bool:
        """True when the signature verified; raises when the answer cannot be trusted."""
        echoed = resp.headers.get("Request-Id")
        if echoed is not None and echoed != request_id:
            raise MalformedResponseError(
                f"response Request-Id {echoed[:64]!r} does not match the request's",
                status=resp.status_code,
                request_id=request_id,
            )
        signature = resp.headers.get("Signature")
        stamp = resp.headers.get("Response-Timestamp")
        if not signature or not stamp:
            if self.settings.require_response_signature:
                raise SignatureMismatchError(
                    "response has no Signature or Response-Timestamp header",
                    status=resp.status_code,
                    request_id=request_id,
                )
            return False
        ok = verify_response(
            self._signer._secret_key,
            self.settings.client_id,
            request_id,
            stamp,
            self.target,
            raw,
            signature,
        )
        if not ok:
            raise SignatureMismatchError(
                "response signature does not match its body",
                status=resp.status_code,
                request_id=request_id,
            )
        if echoed is None and self.settings.require_response_signature:
            raise MalformedResponseError(
                "response has no Request-Id header", status=resp.status_code,
                request_id=request_id,
            )
        return True


def _transport_text(exc: requests.exceptions.RequestException) -> str:
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"connection failed ({name})"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-response"
    return f"request failed ({name})"

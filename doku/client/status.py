"""What an HTTP answer or a failed read means, as a typed DokuError: the status table,
DOKU's own message, the Retry-After cap."""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
import urllib3

from doku.client.bounded import (
    MAX_ERROR_TEXT,
    json_shape_problem,
    server_text,
)
from doku.client.retry import parse_retry_after
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

log = logging.getLogger("doku.client.tokens")
_STATUS_ERRORS: dict[int, type[DokuError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    409: ConflictError,
}



def doku_message(body: bytes) -> str | None:
    """DOKU's error text from `{"error": {"message": ...}}` (or a bare "message").

    Never raises: a body too deep or too big to decode safely has no message."""
    if json_shape_problem(body) is not None:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, MemoryError):  # ValueError covers UnicodeDecodeError
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):
        err = err.get("message")
    if isinstance(err, str):
        return server_text(err)
    message = data.get("message")
    return server_text(message) if isinstance(message, str) else None


def rate_limited(
    text: str, retry_after: float | None, cap: float | None, kw: dict[str, Any]
) -> RateLimitedError:
    if cap is not None and retry_after is not None and retry_after > cap:
        log.warning(
            "Retry-After %g s for request %s capped at %g s", retry_after, kw["request_id"], cap
        )
        text = f"{text} (Retry-After {retry_after:g} s capped at {cap:g} s)"
        retry_after = cap
    return RateLimitedError(text, retry_after=retry_after, **kw)


def error_for_status(
    resp: requests.Response,
    request_id: str,
    body: bytes | None = None,
    *,
    max_retry_after_s: float | None = None,
) -> DokuError:
    """The error for a non-2xx answer (DOKU's own message when its body has one).

    `body` is the (possibly cut) body already read; None reads `resp.content`. Server
    text (DOKU's message, the reason phrase, a Location) is cut to MAX_ERROR_TEXT and
    made one line. A Retry-After over `max_retry_after_s` is capped, and says so."""
    status = resp.status_code
    if body is None:
        body = resp.content
    doku_msg = doku_message(body)
    kw: dict[str, Any] = {
        "status": status,
        "doku_message": doku_msg,
        "request_id": request_id,
        "body": body[:MAX_ERROR_TEXT].decode("utf-8", "replace"),
    }
    if 300 <= status < 400:
        # Redirects are never followed: the signature names the original path and a
        # redirect is not an answer DOKU's API gives (often a wrong DOKU_BASE_URL).
        location = server_text(resp.headers.get("Location") or "nowhere")
        return MalformedResponseError(
            f"redirect to {location!r} not followed (check DOKU_BASE_URL)", **kw
        )
    text = doku_msg or server_text(resp.reason or "") or f"HTTP {status}"
    if status == 429:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        return rate_limited(text, retry_after, max_retry_after_s, kw)
    if status >= 500:
        return ServerError(text, **kw)
    return _STATUS_ERRORS.get(status, ClientHttpError)(text, **kw)


def transport_error(exc: requests.exceptions.RequestException, request_id: str) -> DokuError:
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


def read_error(exc: Exception, request_id: str, status: int) -> DokuError:
    """A failure while streaming the body (urllib3's exceptions, not requests')."""
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        text = "timed out (ReadTimeout)"
    elif isinstance(exc, urllib3.exceptions.ProtocolError | OSError):
        text = "connection dropped mid-response"
    else:
        text = f"request failed ({type(exc).__name__})"
    return TransportError(text, status=status, request_id=request_id)

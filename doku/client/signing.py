"""DOKU non-SNAP request/response signatures (pure functions, injectable clock).

The signed string is five lines joined by "\n" (no trailing newline):
Client-Id, Request-Id, Request-Timestamp (Response-Timestamp for responses),
Request-Target and Digest = base64(SHA-256(exact body bytes)). The header value is
"HMACSHA256=" + base64(HMAC-SHA256(secret, that string)).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone

SIGNATURE_PREFIX = "HMACSHA256="
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601, second precision, UTC with a Z suffix, whatever the local zone."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    utc = moment.astimezone(timezone.utc)
    if utc.year < 1000:  # strftime does not pad the year to four digits there
        return utc.strftime(TIMESTAMP_FORMAT)
    # strftime's own text, built directly: about half the cost, on every request.
    return (f"{utc.year}-{utc.month:02d}-{utc.day:02d}T"
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z")


def parse_timestamp(text: str) -> datetime:
    """Inverse of format_timestamp; raises ValueError on any other shape."""
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)


def timestamp(clock: Clock = utc_now) -> str:
    if clock is utc_now:
        return _this_second()
    return format_timestamp(clock())


# (second since the epoch, its timestamp); replaced whole, so a thread reading it never
# sees a mix of two seconds.
_latest: tuple[int, str] = (-1, "")


def _this_second() -> str:
    """format_timestamp(utc_now()), formatted once a second: every request is signed
    with one (a bulk audit signs thousands a second)."""
    global _latest
    second = time.time_ns() // 1_000_000_000  # the second utc_now() is in, exactly
    latest = _latest
    if latest[0] != second:
        latest = _latest = (second, format_timestamp(
            datetime.fromtimestamp(second, timezone.utc)))
    return latest[1]


def digest(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def component(
    client_id: str,
    request_id: str,
    timestamp_header: str,
    timestamp_value: str,
    target: str,
    body: bytes,
) -> str:
    return "\n".join(
        (
            f"Client-Id:{client_id}",
            f"Request-Id:{request_id}",
            f"{timestamp_header}:{timestamp_value}",
            f"Request-Target:{target}",
            f"Digest:{digest(body)}",
        )
    )


@functools.lru_cache(maxsize=8)
def _keyed(secret_key: str) -> hmac.HMAC:
    """An HMAC-SHA256 with the key set up and nothing hashed yet."""
    return hmac.new(secret_key.encode("utf-8"), digestmod=hashlib.sha256)


def _hmac_header(secret_key: str, text: str) -> str:
    # A copy of the keyed HMAC: the same bytes as hmac.digest(key, text, "sha256")
    # without OpenSSL 3 fetching the algorithm and setting the key up again (about 35%
    # less, twice per request on each side).
    mac = _keyed(secret_key).copy()
    mac.update(text.encode("utf-8"))
    return SIGNATURE_PREFIX + base64.b64encode(mac.digest()).decode("ascii")


def sign_request(
    secret_key: str,
    client_id: str,
    request_id: str,
    timestamp: str,
    target: str,
    body: bytes,
) -> str:
    """Whole `Signature` header value for a request whose body is exactly `body`."""
    text = component(client_id, request_id, "Request-Timestamp", timestamp, target, body)
    return _hmac_header(secret_key, text)


def sign_response(
    secret_key: str,
    client_id: str,
    request_id: str,
    response_timestamp: str,
    target: str,
    body: bytes,
) -> str:
    """Signature a DOKU server puts on a response (used by the simulator)."""
    text = component(
        client_id, request_id, "Response-Timestamp", response_timestamp, target, body
    )
    return _hmac_header(secret_key, text)


def _matches(expected: Callable[[], str], signature: str) -> bool:
    """Constant-time comparison; False (never an exception) for text that is not UTF-8."""
    try:
        want = expected().encode("utf-8")
        got = signature.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in any input: it cannot have been signed
        return False
    return hmac.compare_digest(want, got)


def verify_response(
    secret_key: str,
    client_id: str,
    request_id: str,
    response_timestamp: str,
    target: str,
    body: bytes,
    signature: str,
) -> bool:
    """Constant-time check of a response's `Signature` header; never raises on odd text."""
    return _matches(
        lambda: sign_response(
            secret_key, client_id, request_id, response_timestamp, target, body
        ),
        signature,
    )


def verify_request(
    secret_key: str,
    client_id: str,
    request_id: str,
    request_timestamp: str,
    target: str,
    body: bytes,
    signature: str,
) -> bool:
    """Constant-time check of a request's `Signature` header (server side); never raises."""
    return _matches(
        lambda: sign_request(secret_key, client_id, request_id, request_timestamp, target, body),
        signature,
    )

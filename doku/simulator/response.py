"""The bytes of a simulator answer: compact JSON body, DOKU's headers, one write.

Shared by `doku.simulator.handler` (every answer, on either front end) and
`doku.simulator.fast_lane` (the common answer on the event loop), so both send the
same bytes. Headers are formatted in one string: at thousands of answers a second a
list of lines joined per answer, and an HTTPStatus lookup per line, showed in the
simulator's profile.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from doku.client.signing import sign_response
from doku.simulator.stamps import answer_stamps

SERVER = "doku-simulator"

# What json.dumps(value, separators=(",", ":"), ensure_ascii=False) builds on every
# call, built once.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# "HTTP/1.1 <code> <phrase>\r\nServer: ...\r\n" per status, made on first use.
_FIRST_LINES: dict[int, str] = {}


def compact(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    return _COMPACT.encode(value).encode("utf-8")


def error_body(code: str, message: str) -> bytes:
    return compact({"error": {"code": code, "message": message}})


def answer_head(
    status: HTTPStatus,
    body: bytes,
    *,
    key: str,
    client_id: str,
    request_id: str,
    target: str,
    extra: Sequence[tuple[str, str]] = (),
    close: bool = False,
) -> bytes:
    """The status line and headers (ending in the blank line) of an answer with `body`,
    signed with `key`: Client-Id and Request-Id echoed, Response-Timestamp now."""
    first = _FIRST_LINES.get(status)
    if first is None:
        first = _FIRST_LINES[status] = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\nServer: {SERVER}\r\n")
    date, stamp = answer_stamps()
    signature = sign_response(key, client_id, request_id, stamp, target, body)
    tail = "".join(f"{name}: {value}\r\n" for name, value in extra)
    if close:
        tail += "Connection: close\r\n"
    return (
        f"{first}Date: {date}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nClient-Id: {client_id}\r\n"
        f"Request-Id: {request_id}\r\nResponse-Timestamp: {stamp}\r\n"
        f"Signature: {signature}\r\n{tail}\r\n"
    ).encode("latin-1", "replace")

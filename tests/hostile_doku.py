"""A hostile DOKU on loopback: one switch (`case`) per attack on the client.

`HostileDoku(client_id, secret_key, case)` is a `ScriptedDoku` (127.0.0.1, ephemeral
port, answers signed with the test secret) that answers every request the way `case`
says. Answers whose body is ordinary JSON go through ScriptedDoku's signing; the
others are written by hand, streamed and generated on the fly so that the server
never holds a big body itself (the client's memory is measured in the same process).

JSON answers are built from the guide's CUST-0001 answer: request CUST-0001.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from doku.client import signing
from tests.guide import GUIDE_TOKENS
from tests.scripted_doku import Answer, ScriptedDoku

CUSTOMER = "CUST-0001"
MIB = 1024 * 1024
DEEP = 100_000  # nesting of the "nested" cases
HUGE_BODY_BYTES = 500 * 1000 * 1000  # what the huge-body cases would send in full
BOMB_EXPANDS_TO = 1024 * MIB  # the gzip bomb: ~1 MiB on the wire
DRIP_INTERVAL_S = 0.1  # drip_headers: under 17 bytes (a status line) in the 1 s deadline
HUGE_RETRY_AFTER = "100000"
REASON = "\x1b[31m" + "R" * 60_000  # a 60,000-character reason phrase (with an escape)
WALLET_TOKEN: dict[str, Any] = {  # the shape a third-party OVO integration shows
    "customer": {"id": CUSTOMER, "name": "Anton Budiman"},
    "token_data": {"type": "WALLET_RECURRING"},
    "wallet": {"issuer": "OVO", "token_id": "ovo-7f3a9c", "masked_phone_number": "****1234"},
}
# Markdown, HTML, a terminal clear-screen + colour, a bell, a right-to-left override.
HOSTILE_NAME = (
    "**Anton** _B_ [x](javascript:alert(1)) <script>alert('x')</script> <b>&amp;</b> "
    "| col | \x1b[2J\x1b[31mred\x1b[0m\x07 \u202egnp.exe `rm -rf /`"
)


def _guide() -> list[dict[str, Any]]:
    return copy.deepcopy(GUIDE_TOKENS)


def _set(token: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        token = token[part]
    token[last] = value


def _mutated(index: int, path: str, value: Any) -> Callable[[], list[dict[str, Any]]]:
    def build() -> list[dict[str, Any]]:
        tokens = _guide()
        _set(tokens[index], path, value)
        return tokens

    return build


def _named(name: str) -> list[dict[str, Any]]:
    tokens = _guide()
    for token in tokens:
        token["customer"]["name"] = name
    return tokens


# Signed 200 answers with a JSON array body.
JSON_CASES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "guide": _guide,
    "wrong_customer": _mutated(1, "customer.id", "CUST-9999"),
    "wrong_type": _guide,  # answers a CREDIT_CARD token to a DIRECT_DEBIT request too
    "long_token_id": _mutated(0, "debit_card.token_id", "t" * 10_000),
    "empty_token_id": _mutated(0, "debit_card.token_id", ""),
    "empty_issuer": _mutated(2, "credit_card.issuer", ""),
    "blank_masked_card": _mutated(1, "debit_card.masked_card", "   "),
    "empty_type": _mutated(0, "token_data.type", ""),
    "empty_customer_id": _mutated(0, "customer.id", ""),
    "duplicates": lambda: [*_guide(), *_guide()[:2], _guide()[0]],
    "unknown_type": lambda: [*_guide(), copy.deepcopy(WALLET_TOKEN)],
    "escapes_in_name": lambda: _named(HOSTILE_NAME),
}
RAW_CASES = (
    "nested_200",  # signed 200: [[[[... 100,000 deep
    "nested_500",  # unsigned 500 error body, 100,000 deep (needs no secret)
    "nested_400",  # the same as a final 400
    "huge_body",  # 500 MB announced in Content-Length
    "huge_body_unsized",  # 500 MB, no Content-Length, until the connection closes
    "huge_body_chunked",  # 500 MB, chunked
    "gzip_bomb",  # ~1 MiB of gzip expanding to 1 GiB of zeros
    "gzip_nested",  # signed 200, gzip of 1,000,000 x "[" then "]": small, too deep
    "gzip_guide",  # the guide's answer, gzip-encoded, signed: must work
    "drip_body",  # headers at once, then the body one byte every DRIP_INTERVAL_S
    "drip_headers",  # the status line and headers one byte every DRIP_INTERVAL_S
    "huge_retry_after",  # 429 with Retry-After: 100000
    "huge_reason",  # 500 with a 60,000-character reason phrase
)
CASES = (*JSON_CASES, *RAW_CASES)


def gzip_bomb_blocks(total: int = BOMB_EXPANDS_TO, block: int = MIB) -> tuple[bytes, bytes, int]:
    """(first, repeat, count): `first + repeat * (count - 1)` is a gzip stream of `total`
    zero bytes (its trailer omitted: no client should get that far). Each block is a
    full-flushed deflate block of `block` zeros, so it can be repeated byte for byte."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(block)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert repeat == c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    return first, repeat, total // block


def gzipped(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


class HostileDoku(ScriptedDoku):
    def __init__(self, client_id: str, secret_key: str, case: str) -> None:
        if case not in CASES:
            raise ValueError(f"unknown case {case!r}; one of {CASES}")
        self.case = case
        self.stopping = threading.Event()
        self.bytes_sent = 0  # by the streaming cases, until the client hung up
        super().__init__(client_id, secret_key)
        default_handle_error = self.server.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            # A client hanging up on an attack is the point: no traceback for that.
            if not isinstance(sys.exc_info()[1], OSError):
                default_handle_error(request, client_address)

        self.server.handle_error = handle_error  # type: ignore[method-assign]

    def close(self) -> None:
        self.stopping.set()
        super().close()

    # -- dispatch ---------------------------------------------------------------------
    def reply(self, h: BaseHTTPRequestHandler, a: Answer) -> None:  # noqa: ARG002
        if self.case in JSON_CASES:
            return super().reply(h, Answer(200, JSON_CASES[self.case]()))
        try:
            getattr(self, f"_{self.case}")(h)
        except OSError:  # BrokenPipe, ConnectionReset: the client gave up, as it should
            h.close_connection = True
        return None

    # -- helpers ----------------------------------------------------------------------
    def _signed_headers(self, h: BaseHTTPRequestHandler, body: bytes) -> dict[str, str]:
        request_id = h.headers.get("Request-Id") or ""
        stamp = signing.timestamp()
        return {
            "Client-Id": self.client_id,
            "Request-Id": request_id,
            "Response-Timestamp": stamp,
            "Signature": signing.sign_response(
                self.secret_key, self.client_id, request_id, stamp, h.path, body
            ),
        }

    def _head(
        self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
        reason: str | None = None,
    ) -> None:
        h.send_response(status, reason)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.flush()

    def _stream(self, h: BaseHTTPRequestHandler, total: int, chunk: bytes,
                frame: Callable[[bytes], bytes] = bytes) -> None:
        """Write `chunk` repeatedly until `total` bytes went out or the client hung up."""
        sent = 0
        framed = frame(chunk)
        while sent < total and not self.stopping.is_set():
            h.wfile.write(framed)
            sent += len(chunk)
            self.bytes_sent = sent

    def _drip(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        for i in range(len(data)):
            if self.stopping.wait(DRIP_INTERVAL_S):
                return
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
            self.bytes_sent = i + 1

    # -- cases ------------------------------------------------------------------------
    def _nested_200(self, h: BaseHTTPRequestHandler) -> None:
        body = b"[" * DEEP + b"]" * DEEP
        headers = {"Content-Length": str(len(body)), **self._signed_headers(h, body)}
        self._head(h, 200, headers)
        h.wfile.write(body)

    def _nested_error(self, h: BaseHTTPRequestHandler, status: int) -> None:
        body = b'{"error": {"message": ' + b"[" * DEEP + b"]" * DEEP + b"}}"
        self._head(h, status, {"Content-Length": str(len(body))})
        h.wfile.write(body)

    def _nested_500(self, h: BaseHTTPRequestHandler) -> None:
        self._nested_error(h, 500)

    def _nested_400(self, h: BaseHTTPRequestHandler) -> None:
        self._nested_error(h, 400)

    def _huge_body(self, h: BaseHTTPRequestHandler) -> None:
        self._head(h, 200, {"Content-Length": str(HUGE_BODY_BYTES)})
        self._stream(h, HUGE_BODY_BYTES, b"[1," * 21_845)

    def _huge_body_unsized(self, h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        self._head(h, 200, {"Connection": "close"})
        self._stream(h, HUGE_BODY_BYTES, b"[1," * 21_845)

    def _huge_body_chunked(self, h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        self._head(h, 200, {"Transfer-Encoding": "chunked"})
        self._stream(
            h, HUGE_BODY_BYTES, b"[1," * 21_845,
            frame=lambda c: f"{len(c):x}\r\n".encode() + c + b"\r\n",
        )

    def _gzip_bomb(self, h: BaseHTTPRequestHandler) -> None:
        first, repeat, count = gzip_bomb_blocks()
        length = len(first) + len(repeat) * (count - 1)
        self._head(h, 200, {"Content-Encoding": "gzip", "Content-Length": str(length)})
        h.wfile.write(first)
        self._stream(h, len(repeat) * (count - 1), repeat)

    def _gzip_signed(self, h: BaseHTTPRequestHandler, decoded: bytes) -> None:
        # The signature is over the body the client reads: the decoded bytes.
        wire = gzipped(decoded)
        headers = {
            "Content-Encoding": "gzip", "Content-Length": str(len(wire)),
            **self._signed_headers(h, decoded),
        }
        self._head(h, 200, headers)
        h.wfile.write(wire)

    def _gzip_nested(self, h: BaseHTTPRequestHandler) -> None:
        self._gzip_signed(h, b"[" * 1_000_000 + b"]" * 1_000_000)

    def _gzip_guide(self, h: BaseHTTPRequestHandler) -> None:
        self._gzip_signed(h, json.dumps(GUIDE_TOKENS).encode())

    def _drip_body(self, h: BaseHTTPRequestHandler) -> None:
        body = json.dumps(GUIDE_TOKENS).encode()
        self._head(h, 200, {"Content-Length": str(len(body)), **self._signed_headers(h, body)})
        self._drip(h, body)

    def _drip_headers(self, h: BaseHTTPRequestHandler) -> None:
        body = b"[]"
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._drip(h, head + body)

    def _huge_retry_after(self, h: BaseHTTPRequestHandler) -> None:
        body = b'{"error": {"code": "TOO_MANY_REQUESTS", "message": "slow down"}}'
        self._head(h, 429, {"Content-Length": str(len(body)), "Retry-After": HUGE_RETRY_AFTER})
        h.wfile.write(body)

    def _huge_reason(self, h: BaseHTTPRequestHandler) -> None:
        self._head(h, 500, {"Content-Length": "0"}, reason=REASON)

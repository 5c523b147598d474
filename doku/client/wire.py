"""The plain HTTP/1.1 exchange of a bulk audit, without the general machinery's cost.

In a bulk audit most of the client's CPU went to two general-purpose steps around the
network: urllib3's header-by-header request building (three layers of method calls
and checks per header) and http.client's header parsing, which runs the `email`
package's parser on every response. Both are done here the short way for what a
DOKU exchange looks like, with the same result:

- `send_framed`: a bytes body with its Content-Length among `headers`: the request
  line through urllib3/http.client as usual, each header line appended as
  http.client would (same encoding, same validation, same ValueError), then the whole
  request goes out in one write (`doku.client.deadline`). Any other request takes the
  ordinary path.
- `QuickResponse`: http.client's response whose headers, when every line is a plain
  `Name: value` line, become the same `HTTPMessage` the `email` parser would build
  (tests/test_client_wire.py compares them); any other header block (folded or
  malformed lines, a multipart type, a cut-off block) goes through the `email`
  parser exactly as before.
"""

from __future__ import annotations

import email.parser
import functools
import http.client
import re
from collections.abc import Mapping
from typing import Any

from urllib3.connection import _ResponseOptions
from urllib3.util import SKIP_HEADER

# One header line http.client and the email parser read the same simple way: a name
# of printable ASCII without ':' (the email parser's header pattern), a value without
# any CR, LF or other character `str.splitlines` breaks at (the email parser reads
# lines with it) inside, then the line's end.
_FIELD = r"([\x21-\x39\x3b-\x7e]+):[ \t]*+([^\r\n\x0b\x0c\x1c-\x1e\x85]*)"
_PLAIN_LINE = re.compile(_FIELD + r"\r?\n")
# (name, value) of each such line of a block of CRLF lines (`doku.client.aio_wire`'s
# one-pass read): a match starts at a line's start and takes the whole line, so the
# block is plain when there are as many as the lines.
PLAIN_FIELD_PAIRS = re.compile("^" + _FIELD + r"\r\n", re.MULTILINE).findall
# Content types for which the email parser reads past the headers (and records defects).
_NESTED_TYPES = re.compile(r"[ \t]*(multipart|message)/", re.IGNORECASE)
NESTED_TYPE = _NESTED_TYPES.match
_LEGAL_NAME = re.compile(rb"[^:\s][^:\r\n]*").fullmatch  # http.client's own checks
_ILLEGAL_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search


def plain_pairs(lines: list[bytes]) -> list[tuple[str, str]] | None:
    """(name, value) of each header line, as the email parser reads them, when every
    line is plain (`_PLAIN_LINE`, no nested content type) and the blank line ends
    them; None otherwise (ask the email parser)."""
    if not lines or lines[-1] not in (b"\r\n", b"\n"):
        return None
    parsed: list[tuple[str, str]] = []
    for raw in lines[:-1]:
        match = _PLAIN_LINE.fullmatch(raw.decode("iso-8859-1"))
        if match is None:
            return None
        name, value = match.groups()
        if name.lower() == "content-type" and _NESTED_TYPES.match(value):
            return None
        parsed.append((name, value))
    return parsed


def quick_headers(lines: list[bytes]) -> http.client.HTTPMessage:
    """The `HTTPMessage` http.client.parse_headers makes of `lines` (as read by
    http.client._read_headers, the blank line last)."""
    parsed = plain_pairs(lines)
    if parsed is not None:
        message = http.client.HTTPMessage()
        message._headers = parsed  # type: ignore[attr-defined]
        message.set_payload("")  # what the email parser leaves after the blank line
        return message
    text = b"".join(lines).decode("iso-8859-1")
    parsed_message: http.client.HTTPMessage = email.parser.Parser(
        _class=http.client.HTTPMessage
    ).parsestr(text)
    return parsed_message


class QuickResponse(http.client.HTTPResponse):
    """http.client's response with `quick_headers` in place of its header parse."""

    def begin(self) -> None:
        # CPython's HTTPResponse.begin (3.11-3.13), the header parse replaced.
        if vars(self).get("headers") is not None:  # None until begun (typeshed: never)
            return
        read_headers: Any = http.client._read_headers  # type: ignore[attr-defined]
        while True:  # read until a non-100 response
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            read_headers(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = quick_headers(read_headers(self.fp))
        self._framing(status)

    def _framing(self, status: int) -> None:
        """Chunked or not, length, and whether the connection closes after it."""
        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # ignore nonsensical negative lengths
                    self.length = None
        if (status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
                or 100 <= status < 200 or self._method == "HEAD"):  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


@functools.lru_cache(maxsize=512)
def header_line(name: str, value: str) -> bytes:
    """`Name: value` as http.client's putheader encodes and checks it (ValueError).
    Remembered: most lines of a request (Host, Content-Type, Client-Id...) are the
    previous request's; a refusal is not remembered (lru_cache keeps no exception)."""
    name_bytes, value_bytes = name.encode("ascii"), value.encode("latin-1")
    if not _LEGAL_NAME(name_bytes):
        raise ValueError(f"Invalid header name {name_bytes!r}")
    if _ILLEGAL_VALUE(value_bytes):
        raise ValueError(f"Invalid header value {value_bytes!r}")
    return name_bytes + b": " + value_bytes


def send_framed(conn: Any, method: str, url: str, body: bytes,
                headers: Mapping[str, str], *, preload_content: bool = True,
                decode_content: bool = True, enforce_content_length: bool = True) -> bool:
    """Send the request as urllib3's HTTPConnection.request would, a bytes body with
    Content-Length and User-Agent headers; False (nothing done) for any other."""
    lines: list[bytes] = []
    keys: set[str] = set()
    for name, value in headers.items():
        if type(name) is not str or type(value) is not str or value == SKIP_HEADER:
            return False
        keys.add(name.lower())
        lines.append(header_line(name, value))
    if "content-length" not in keys or "user-agent" not in keys:
        return False
    if conn.sock is not None:
        conn.sock.settimeout(conn.timeout)
    conn._response_options = _ResponseOptions(
        request_method=method, request_url=url, preload_content=preload_content,
        decode_content=decode_content, enforce_content_length=enforce_content_length,
    )
    conn.putrequest(method, url, skip_accept_encoding="accept-encoding" in keys,
                    skip_host="host" in keys)
    conn._buffer.extend(lines)
    conn._doku_body = body
    try:
        conn.endheaders()
    finally:
        conn._doku_body = None
    return True

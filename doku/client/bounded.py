"""Reading an answer without trusting its size, its encoding or its shape.

- `read_body` streams a response body and stops as soon as either cap is passed: the
  bytes off the wire (before decompression) or the bytes after decompression. It
  decompresses gzip/deflate itself, in bounded steps (`max_length`), so a small gzip
  bomb never expands beyond the cap in memory.
- `json_shape_problem` is a linear pre-scan of JSON bytes: bracket depth outside
  strings and the number of structural tokens, checked before `json.loads` builds
  anything (which would otherwise recurse once per level, or build millions of objects).
- `decode_json` is the pre-scan plus `json.loads`, failing only with
  MalformedResponseError.
- `server_text` makes text from the server fit a one-line error: control characters
  escaped, then cut to a fixed length.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from doku.errors import MalformedResponseError, ResponseTooLargeError

CHUNK_BYTES = 64 * 1024
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024  # what is read of a non-2xx body (DOKU's are tiny)
MAX_JSON_DEPTH = 64
# Strings, brackets and commas: the guide's answer has ~30 per token, so this allows
# ~6,000 tokens per customer while bounding what json.loads may build (measured: at
# most ~20 MB of Python objects for the worst shapes tried, e.g. one dict of 96,000
# number fields).
MAX_JSON_TOKENS = 200_000
MAX_ERROR_TEXT = 300
SUPPORTED_ENCODINGS = ("gzip", "deflate")
ACCEPT_ENCODING = ", ".join(SUPPORTED_ENCODINGS)


class RawBody(Protocol):
    """What `read_body` needs of urllib3's HTTPResponse."""

    @property
    def headers(self) -> Any: ...

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes: ...


# A JSON string (to its closing quote, or to the end of a cut document), or one
# structural character. Every alternative is possessive: the scan is linear.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[\[\]{},]', re.DOTALL)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE = ord('"')


def json_shape_problem(
    body: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_tokens: int = MAX_JSON_TOKENS
) -> str | None:
    """Why `body` is too deep or too big to decode, or None. Linear; never raises.

    Exact for valid JSON; for invalid JSON it may report a problem that json.loads
    would have reported differently (the document is rejected either way)."""
    # Every token takes at least one byte and every level one opener: a document
    # within both bounds by these counts (done in C) needs no scan (a bulk audit's
    # every answer; the scan was a tenth of the client's CPU).
    if len(body) <= max_tokens and body.count(b"[") + body.count(b"{") <= max_depth:
        return None
    depth = tokens = 0
    for match in _JSON_TOKEN.finditer(body):
        tokens += 1
        if tokens > max_tokens:
            return f"has more than {max_tokens:,} JSON tokens"
        first = body[match.start()]
        if first == _QUOTE:
            continue
        if first in _OPENERS:
            depth += 1
            if depth > max_depth:
                return f"is nested deeper than {max_depth} levels"
        elif first in _CLOSERS:
            depth = max(0, depth - 1)
    return None


def decode_json(
    body: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_tokens: int = MAX_JSON_TOKENS
) -> Any:
    """The decoded document; MalformedResponseError (only) when it cannot or must not be."""
    problem = json_shape_problem(body, max_depth=max_depth, max_tokens=max_tokens)
    if problem is not None:
        raise MalformedResponseError(f"response JSON {problem}")
    try:
        return json.loads(body)
    except RecursionError:  # cannot happen after the pre-scan; kept as a second fence
        raise MalformedResponseError(
            f"response JSON is nested deeper than {max_depth} levels"
        ) from None
    except (ValueError, MemoryError):  # includes JSONDecodeError and UnicodeDecodeError
        raise MalformedResponseError("response body is not valid JSON") from None


def server_text(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """Text from the server made safe for a one-line error: control and line-break
    characters become visible escapes (\\x1b, \\n, \\u2028), then at most `limit`
    characters are kept. Cut before escaping too, so a huge text costs nothing."""
    head = text[: limit + 1]
    out = "".join(_escape(ch) for ch in head)
    return out[:limit]


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029" or 0xD800 <= code < 0xE000:
        return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
    return ch


class _TooLarge(Exception):
    pass


class _Inflater:
    """gzip / deflate decompression in bounded steps (at most CHUNK_BYTES at a time)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._fed = False
        self._produced = False

    def inflate(self, data: bytes, out: bytearray, limit: int) -> None:
        pending = data
        while pending:
            if self._d.eof:  # a finished gzip member followed by another one
                self._d = zlib.decompressobj(self._wbits)
            room = min(CHUNK_BYTES, max(1, limit - len(out) + 1))
            try:
                piece = self._d.decompress(pending, room)
            except zlib.error:
                if self.encoding == "deflate" and not self._produced and self._wbits > 0:
                    # "deflate" is often sent raw (no zlib header): start again raw.
                    self._wbits = -zlib.MAX_WBITS
                    self._d = zlib.decompressobj(self._wbits)
                    continue
                raise MalformedResponseError(
                    f"response body is not valid {self.encoding} data"
                ) from None
            self._fed = True
            self._produced = self._produced or bool(piece)
            out += piece
            if len(out) > limit:
                raise _TooLarge
            pending = self._d.unused_data if self._d.eof else self._d.unconsumed_tail

    def finish(self) -> None:
        if self._fed and not self._d.eof:
            raise MalformedResponseError(f"{self.encoding} response body is cut short")


def _inflater(header: str | None) -> _Inflater | None:
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater("deflate" if codings[0] == "deflate" else "gzip")
    raise MalformedResponseError(f"unsupported Content-Encoding {server_text(header or '', 64)!r}")


def _content_length(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_body(
    raw: RawBody,
    *,
    max_wire_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_decoded_bytes: int = DEFAULT_MAX_BODY_BYTES,
    truncate: bool = False,
    check: Callable[[], None] | None = None,
) -> bytes:
    """The body, decompressed; never more than the caps in memory.

    Over a cap, ResponseTooLargeError is raised as soon as it is known (a Content-Length
    over the wire cap before reading anything); with `truncate`, reading simply stops and
    the first bytes are returned (for error bodies, where only DOKU's message matters).
    `check` runs after every chunk (the caller's deadline). Transport errors of the
    underlying read propagate unchanged.
    """
    headers = raw.headers
    inflater = _inflater(headers.get("Content-Encoding"))
    length = _content_length(headers)
    if length is not None and length > max_wire_bytes and not truncate:
        raise ResponseTooLargeError(
            f"Content-Length {length:,} bytes is over the {max_wire_bytes:,}-byte limit"
        )
    out = bytearray()
    wire = 0
    try:
        while chunk := raw.read1(CHUNK_BYTES, decode_content=False):
            wire += len(chunk)
            if wire > max_wire_bytes:
                if not truncate:
                    raise ResponseTooLargeError(
                        f"response body is over the {max_wire_bytes:,}-byte limit"
                    )
                chunk = chunk[: len(chunk) - (wire - max_wire_bytes)]
            if inflater is None:
                out += chunk
                if len(out) > max_decoded_bytes:
                    raise _TooLarge
            else:
                inflater.inflate(chunk, out, max_decoded_bytes)
            if check is not None:
                check()
            if wire >= max_wire_bytes and truncate:
                break
        else:
            if inflater is not None and not truncate:
                inflater.finish()
    except _TooLarge:
        if truncate:
            del out[max_decoded_bytes:]
            return bytes(out)
        raise ResponseTooLargeError(
            f"response body decompresses to over the {max_decoded_bytes:,}-byte limit"
            if inflater is not None
            else f"response body is over the {max_decoded_bytes:,}-byte limit"
        ) from None
    return bytes(out)

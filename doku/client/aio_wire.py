"""One HTTP/1.1 connection on an asyncio event loop, read the way http.client reads.

`AsyncTokenClient` (doku.client.aio) sends the bytes `LeanTokenClient` sends and must
see an answer exactly as urllib3 and http.client would present it: the same status
line rules (`BadStatusLine`, 1xx skipped), the same header object (`quick_headers`,
then urllib3's own `HTTPHeaderDict` construction), the same framing (chunked,
Content-Length, or to the close; `_check_close`'s keep-alive rules) and the same
failures. Every failure here is one of the urllib3/http.client exceptions the
threaded transport meets, so `doku.client.lean.as_requests_error` and
`doku.client.status.read_error` map them to the same DokuError.

Memory is bounded the way `read_body` bounds it: a header block over 64 KiB or 100
lines is refused, and a body is taken only up to the caller's cap (`BodyCut` says
whether more was on the way). Every wait for bytes is bounded by the read timeout.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, cast

from urllib3 import HTTPHeaderDict
from urllib3.connection import _normalize_header_values
from urllib3.exceptions import IncompleteRead, InvalidChunkLength, ProtocolError, ReadTimeoutError

from doku.client.wire import NESTED_TYPE, PLAIN_FIELD_PAIRS, plain_pairs, quick_headers

MAX_HEAD_BYTES = 65536  # http.client: 65,536 bytes a line, 100 header lines
MAX_HEAD_LINES = 100
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_LINE = re.compile(rb"[^\n]*\n")


class Connection(asyncio.Protocol):
    """Bytes received on one connection, and a way to wait for more."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False  # the peer closed (or the connection was lost)
        # loop.time() by which the attempt reading now must be done (None: no bound);
        # past it a read raises TimeoutError, as asyncio.timeout_at would.
        self.deadline_at: float | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- use ------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Idle and still open, nothing unread (urllib3's is_connection_dropped)."""
        return (not self.eof and not self.buffer and self.transport is not None
                and not self.transport.is_closing())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # never reuse or linger on a connection in doubt

    async def more(self, read_timeout_s: float) -> bool:
        """Wait for more bytes; False when the peer has closed. ReadTimeoutError after
        `read_timeout_s` without any (requests' read timeout is per socket read)."""
        if self.eof:
            return False
        loop = asyncio.get_running_loop()
        wait, expire = read_timeout_s, _time_out
        if self.deadline_at is not None:
            left = self.deadline_at - loop.time()
            if left <= 0:
                raise TimeoutError
            if left < wait:
                wait, expire = left, _past_deadline
        waiter = self._waiter = loop.create_future()
        # A plain timer on the waiter, not asyncio.timeout(_at): that one finds the
        # current task and cancels and un-cancels it, several times the cost.
        timer = loop.call_later(wait, expire, waiter, read_timeout_s)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # retrieved, even when a cancel came first
        return True

    def take(self, n: int) -> bytes:
        piece = bytes(self.buffer[:n])
        del self.buffer[:n]
        return piece


def _time_out(waiter: asyncio.Future[None], read_timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeoutError(
            None, "", f"Read timed out. (read timeout={read_timeout_s})"))  # type: ignore[arg-type]


def _past_deadline(waiter: asyncio.Future[None], read_timeout_s: float) -> None:  # noqa: ARG001
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class MergedLookup:
    """`get` as HTTPHeaderDict.get answers it (case-insensitive, every occurrence
    joined by ", "), over a dict of lower-cased names."""

    def __init__(self, by_lower: dict[str, str]) -> None:
        self._by_lower = by_lower

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._by_lower.get(name.lower(), default)


@dataclass
class Head:
    """What http.client's `begin` makes of a response's head.

    `source` is the header block's (name, value) pairs when every line was plain
    (`doku.client.wire.plain_pairs`), else the HTTPMessage the email parser made.
    urllib3's HTTPHeaderDict (`headers`) is built only when asked for: for a plain
    block `merged` and `lookup` give what it would give, for a fraction of the cost
    on every answer."""

    status: int
    reason: str
    version: int
    source: list[tuple[str, str]] | http.client.HTTPMessage
    chunked: bool
    length: int | None  # None: chunked, or read to the close
    will_close: bool

    @functools.cached_property
    def headers(self) -> HTTPHeaderDict:
        if isinstance(self.source, list):
            return HTTPHeaderDict(self.source)
        return HTTPHeaderDict(_normalize_header_values(self.source))

    @functools.cached_property
    def _merged(self) -> tuple[dict[str, str], dict[str, str]]:
        """(first spelling of each name -> its values joined, lower name -> the same)."""
        by_name: dict[str, str] = {}
        spelling: dict[str, str] = {}
        for name, value in self.source if isinstance(self.source, list) else ():
            key = name.lower()
            first = spelling.get(key)
            if first is None:
                spelling[key] = name
                by_name[name] = value
            else:
                by_name[first] = f"{by_name[first]}, {value}"
        return by_name, {key: by_name[first] for key, first in spelling.items()}

    def merged(self) -> dict[str, str]:
        """dict(self.headers.itermerged())."""
        if isinstance(self.source, list):
            return dict(self._merged[0])
        return dict(self.headers.itermerged())

    def lookup(self) -> MergedLookup | HTTPHeaderDict:
        """What answers `get` as self.headers does."""
        if isinstance(self.source, list):
            return MergedLookup(self._merged[1])
        return self.headers


@dataclass
class BodyCut:
    data: bytes
    more: bool  # bytes beyond `data` were (or may be) on the way: the connection is spent


async def read_head(conn: Connection, read_timeout_s: float) -> Head:
    """The next non-1xx response head (http.client's `begin`)."""
    while True:
        end = await _head_end(conn, read_timeout_s)
        quick = _quick_head(conn, end)
        if quick is not None:
            return quick
        lines = _take_lines(conn, end)
        version, status, reason = _status(lines[0])
        if status != http.client.CONTINUE:
            break
    source, first = _header_block(lines[1:])
    return _framed(version, status, reason, source, first)


def _framed(version: str, status: int, reason: str,
            source: list[tuple[str, str]] | http.client.HTTPMessage,
            first: Mapping[str, str] | http.client.HTTPMessage) -> Head:
    """The Head of a status line's parts and a header block: the framing http.client's
    `begin` decides from them."""
    if version in ("HTTP/1.0", "HTTP/0.9"):
        number = 10
    elif version.startswith("HTTP/1."):
        number = 11
    else:
        raise ProtocolError("Connection aborted.", http.client.UnknownProtocol(version))
    transfer = first.get("transfer-encoding")
    chunked = bool(transfer and transfer.lower() == "chunked")
    will_close = _check_close(number, first)
    length: int | None = None
    raw_length = first.get("content-length")
    if raw_length and not chunked:
        try:
            length = int(raw_length)
        except ValueError:
            length = None
        else:
            if length < 0:
                length = None
    if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200:
        length = 0
    if not will_close and not chunked and length is None:
        will_close = True
    return Head(status, reason.strip(), number, source, chunked, length, will_close)


def _header_block(lines: list[bytes]) -> tuple[
        list[tuple[str, str]] | http.client.HTTPMessage,
        Mapping[str, str] | http.client.HTTPMessage]:
    """The header block as `Head.source`, and what answers `get` as the HTTPMessage
    http.client frames the answer by (each name's first occurrence)."""
    pairs = plain_pairs(lines)
    if pairs is None:
        message = quick_headers(lines)
        return message, message
    return pairs, _first_values(pairs)


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased name -> its first value: what the HTTPMessage http.client frames an
    answer by would give."""
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name.lower(), value)
    return first


class _HeadEnd(NamedTuple):
    start: int  # where the blank line ending the head begins
    end: int  # and where it ends
    crlf: bool  # every line of the head ends in CRLF


async def _head_end(conn: Connection, read_timeout_s: float) -> _HeadEnd:
    """Where the next head ends in the buffer (its blank line), once it is all there."""
    while True:
        buffer = conn.buffer
        # The common head, all CRLF lines: its end found without the regex, which
        # tries every position (a fifth of the cost of reading a head).
        at = buffer.find(b"\r\n\r\n")
        if at >= 0 and buffer.count(b"\n", 0, at) == buffer.count(b"\r\n", 0, at):
            return _HeadEnd(at, at + 4, True)
        found = _HEAD_END.search(buffer)
        if found is not None:
            return _HeadEnd(found.start(), found.end(), False)
        if len(buffer) > MAX_HEAD_BYTES:
            raise ProtocolError("Connection aborted.", http.client.LineTooLong("header line"))
        if not await conn.more(read_timeout_s):
            if not conn.buffer:
                raise ProtocolError("Connection aborted.", http.client.RemoteDisconnected(
                    "Remote end closed connection without response"))
            raise ProtocolError("Connection aborted.",
                                http.client.IncompleteRead(bytes(conn.buffer)))


def _take_lines(conn: Connection, end: _HeadEnd) -> list[bytes]:
    """The status line and header lines up to `end`, each with its line end, the blank
    line last."""
    head = conn.take(end.end)
    # http.client reads lines up to each "\n" (a lone "\r" does not end one)
    lines = [line + b"\n" for line in head.split(b"\n")[:-1]]
    if len(lines) - 2 > MAX_HEAD_LINES:
        raise ProtocolError("Connection aborted.",
                            http.client.HTTPException("got more than 100 headers"))
    return lines


def _quick_head(conn: Connection, end: _HeadEnd) -> Head | None:
    """The head up to `end` read in one pass when it is the common kind: CRLF lines
    only, a status other than 100, every header line plain (`PLAIN_FIELD_PAIRS`, no
    nested content type), at most 100 of them. The same Head the line by line reading
    makes (tests/test_client_aio_head.py); None, nothing taken: read it that way."""
    if not end.crlf:
        return None
    text = conn.buffer[:end.start + 2].decode("iso-8859-1")
    fields_at = text.find("\r\n") + 2
    fields = text[fields_at:]
    pairs: list[tuple[str, str]] = PLAIN_FIELD_PAIRS(fields)
    if len(pairs) != fields.count("\n") or len(pairs) > MAX_HEAD_LINES:
        return None
    version, status, reason = _status(conn.buffer[:fields_at])
    if status == http.client.CONTINUE:
        return None
    if any(NESTED_TYPE(value) for name, value in pairs if name.lower() == "content-type"):
        return None
    del conn.buffer[:end.end]
    return _framed(version, status, reason, pairs, _first_values(pairs))


def _status(raw: bytes | bytearray) -> tuple[str, int, str]:
    """http.client's `_read_status` on the status line (BadStatusLine as it raises it)."""
    line = str(raw, "iso-8859-1")
    try:
        version, status, reason = line.split(None, 2)
    except ValueError:
        try:
            version, status = line.split(None, 1)
            reason = ""
        except ValueError:
            version = ""
    if not version.startswith("HTTP/"):
        raise ProtocolError("Connection aborted.", http.client.BadStatusLine(line))
    try:
        code = int(status)
    except ValueError:
        raise ProtocolError("Connection aborted.", http.client.BadStatusLine(line)) from None
    if code < 100 or code > 999:
        raise ProtocolError("Connection aborted.", http.client.BadStatusLine(line))
    return version, code, reason


def _check_close(version: int, headers: Mapping[str, str] | http.client.HTTPMessage) -> bool:
    """http.client.HTTPResponse._check_close."""
    conn = headers.get("connection")
    if version == 11:
        return bool(conn and "close" in conn.lower())
    if headers.get("keep-alive"):
        return False
    if conn and "keep-alive" in conn.lower():
        return False
    proxy = headers.get("proxy-connection")
    return not (proxy and "keep-alive" in proxy.lower())


async def read_body(conn: Connection, head: Head, cap: int, read_timeout_s: float) -> BodyCut:
    """The body off the wire (de-chunked, not decoded), at most `cap` + 1 bytes kept."""
    if head.chunked:
        return await _chunked(conn, cap, read_timeout_s)
    if head.length is not None:
        want = min(head.length, cap + 1)
        while len(conn.buffer) < want:
            if not await conn.more(read_timeout_s):
                got = len(conn.buffer)
                raise ProtocolError("Connection broken: IncompleteRead",
                                    IncompleteRead(got, head.length - got))
        return BodyCut(conn.take(want), head.length > want)
    while len(conn.buffer) <= cap:  # to the close
        if not await conn.more(read_timeout_s):
            break
    return BodyCut(conn.take(cap + 1), not conn.eof)


async def _chunked(conn: Connection, cap: int, read_timeout_s: float) -> BodyCut:
    """urllib3's chunked reading: size lines (extensions ignored), data, CRLF,
    the last chunk then trailers to a blank line."""
    out = bytearray()
    while True:
        line = await _line(conn, read_timeout_s)
        size_text = line.split(b";", 1)[0]
        try:
            size = int(size_text, 16)
        except ValueError:
            raise InvalidChunkLength(None, line) from None  # type: ignore[arg-type]
        if size < 0:
            raise InvalidChunkLength(None, line)  # type: ignore[arg-type]
        if size == 0:
            break
        if len(out) + size > cap:  # enough: the caller refuses or truncates
            while len(conn.buffer) < cap + 1 - len(out) and await conn.more(read_timeout_s):
                pass
            out += conn.take(cap + 1 - len(out))
            return BodyCut(bytes(out), True)
        while len(conn.buffer) < size + 2:
            if not await conn.more(read_timeout_s):
                raise ProtocolError("Response ended prematurely")
        out += conn.take(size)
        conn.take(2)
    while (await _line(conn, read_timeout_s)) not in (b"\r\n", b"\n"):
        pass  # trailers
    return BodyCut(bytes(out), False)


async def _line(conn: Connection, read_timeout_s: float) -> bytes:
    while True:
        found = _CHUNK_LINE.match(conn.buffer)
        if found is not None:
            return conn.take(found.end())
        if len(conn.buffer) > MAX_HEAD_BYTES:
            raise ProtocolError("Response ended prematurely")
        if not await conn.more(read_timeout_s):
            raise ProtocolError("Response ended prematurely")

"""aio_wire's one-pass head reading (`_quick_head`) makes the Head that reading line by
line makes, or declines and leaves the buffer as it was; and no header line costs
more than linear time to refuse."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from doku.client import aio_wire, wire
from doku.client.aio_wire import Connection, read_head

SIMULATOR_HEAD = (
    b"HTTP/1.1 200 OK\r\nServer: doku-simulator\r\nDate: Thu, 26 Nov 2026 16:37:31 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 399\r\n"
    b"Client-Id: MCH-0001-10791114622547\r\nRequest-Id: 05d91b40-653a-4a37-bd5f-7478de4e4f1d\r\n"
    b"Response-Timestamp: 2026-11-26T16:37:31Z\r\n"
    b"Signature: HMACSHA256=6ibddbFxnaxbWGK4G+sZgJOsboNAfwchVilA/9wwsoQ=\r\n\r\n")

STATUS_LINES = st.sampled_from([
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 200 OK\r\n", b"HTTP/1.1 204 No Content\r\n",
    b"HTTP/1.1 100 Continue\r\n", b"HTTP/1.1 101 Switching\r\n", b"HTTP/2.0 200 OK\r\n",
    b"HTTP/1.1 500\r\n", b"HTTP/1.1 abc OK\r\n", b"ICY 200 OK\r\n", b"HTTP/1.1 200 O\rK\r\n",
    b"HTTP/1.1 404 Not Found\n",
])
HEADER_LINES = st.sampled_from([
    b"Content-Length: 5\r\n", b"content-length: 7\r\n", b"Content-Length: -1\r\n",
    b"Content-Length: x\r\n", b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n",
    b"Connection: keep-alive\r\n", b"Keep-Alive: timeout=5\r\n", b"X-A: one\r\n",
    b"x-a: two\r\n", b"X-Spaces:   a b  \r\n", b"Empty:\r\n", b"Latin: caf\xe9\r\n",
    b"Content-Type: application/json\r\n", b"Content-Type: multipart/mixed; b=x\r\n",
    b"content-type:\tMessage/rfc822\r\n", b"  folded\r\n", b"no colon\r\n", b": v\r\n",
    b"X-Bare: lf\n", b"X-Cr: a\rb\r\n", b"X-Ff: a\x0cb\r\n", b"Proxy-Connection: keep-alive\r\n",
])


def _declined(conn: Connection, end: object) -> None:  # noqa: ARG001
    return None


def read(data: bytes, *, quick: bool) -> tuple[str, Any, bytes]:
    """("head", its fields, the bytes left) or ("error", the exception's text, b"")."""
    conn = Connection()
    conn.buffer = bytearray(data)
    conn.eof = True  # all there is
    original = aio_wire._quick_head
    if not quick:
        aio_wire._quick_head = _declined
    try:
        head = asyncio.run(read_head(conn, 1.0))
    except Exception as exc:  # compared, not handled
        return "error", f"{type(exc).__name__}: {exc!r}", b""
    finally:
        aio_wire._quick_head = original
    names = ["content-length", "Content-Type", "X-A", "connection", "absent"]
    fields = (head.status, head.reason, head.version, head.source if isinstance(
        head.source, list) else "message", head.chunked, head.length, head.will_close,
        head.merged(), {n: head.lookup().get(n) for n in names})
    return "head", fields, bytes(conn.buffer)


def test_the_simulators_answer_takes_the_one_pass_way() -> None:
    conn = Connection()
    conn.buffer = bytearray(SIMULATOR_HEAD + b"body")
    head = aio_wire._quick_head(conn, asyncio.run(aio_wire._head_end(conn, 1.0)))
    assert head is not None
    assert (head.status, head.reason, head.length, head.will_close) == (200, "OK", 399, False)
    assert head.lookup().get("signature") == (
        "HMACSHA256=6ibddbFxnaxbWGK4G+sZgJOsboNAfwchVilA/9wwsoQ=")
    assert bytes(conn.buffer) == b"body"
    assert read(SIMULATOR_HEAD + b"body", quick=True) == read(SIMULATOR_HEAD + b"body",
                                                              quick=False)


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n",  # a bare LF
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\n\r\n",  # folded
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\ngarbage X-B: 2\r\n\r\n",  # a line only partly plain
])
def test_an_uncommon_head_is_declined_and_left_whole(data: bytes) -> None:
    conn = Connection()
    conn.buffer = bytearray(data)
    assert aio_wire._quick_head(conn, asyncio.run(aio_wire._head_end(conn, 1.0))) is None
    assert bytes(conn.buffer) == data
    assert read(data, quick=True) == read(data, quick=False)


@settings(max_examples=400, deadline=None)
@given(status=STATUS_LINES, lines=st.lists(HEADER_LINES, max_size=10),
       end=st.sampled_from([b"\r\n", b"\n", b""]), rest=st.sampled_from([b"", b"abc"]),
       second=st.booleans())
def test_one_pass_and_line_by_line_read_the_same(status: bytes, lines: list[bytes],
                                                  end: bytes, rest: bytes,
                                                  second: bool) -> None:
    data = status + b"".join(lines) + end + rest
    if second:  # a second answer behind a 100 Continue, or pipelined
        data += b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    assert read(data, quick=True) == read(data, quick=False)


@pytest.mark.parametrize("filler", [b" ", b"\t"])
def test_a_long_run_of_blanks_before_a_bad_character_is_refused_in_linear_time(
        filler: bytes) -> None:
    # `[ \t]*` then a value that may hold blanks too: without a possessive quantifier
    # each refusal tried every split of the run (20,000 blanks took 2.7 s, 60,000 about
    # 25 s). 1 s is thousands of times a linear pass (0.2 ms) and a 25th of the
    # quadratic one: a guard against that pattern coming back, not a speed target.
    line = b"A:" + filler * 60_000 + b"\x0b\r\n"
    started = time.process_time()
    assert wire.plain_pairs([line, b"\r\n"]) is None
    assert wire.PLAIN_FIELD_PAIRS(line.decode("iso-8859-1")) == []
    assert time.process_time() - started < 1.0


@settings(max_examples=300, deadline=None)
@example(data=b"\n\n")
@example(data=b"A\r\nB\nC")
@example(data=b"A\r\n\n")
@given(data=st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"\n")))
def test_the_head_ends_where_the_pattern_first_matches(data: bytes) -> None:
    conn = Connection()
    conn.buffer = bytearray(data + b"\r\n\r\n")
    found = aio_wire._HEAD_END.search(conn.buffer)
    assert found is not None
    end = asyncio.run(aio_wire._head_end(conn, 1.0))
    assert (end.start, end.end) == found.span()
    bare_lf = b"\n" in conn.buffer[:found.start()].replace(b"\r\n", b"")
    assert end.crlf == (found.group() == b"\r\n\r\n" and not bare_lf)

"""doku.client.wire's short way gives what the general machinery gives: the same header
objects as http.client's `email` parse, the same request bytes as urllib3, the same
refusal of an illegal header."""

from __future__ import annotations

import email.parser
import http.client
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict
from urllib3.connection import _normalize_header_values
from urllib3.connectionpool import HTTPConnectionPool

from doku.client import deadline, wire
from doku.client.aio_wire import Head, _header_block
from doku.client.deadline import WatchedHTTPPool
from doku.client.wire import quick_headers
from tests.test_client_lean import CaptureServer


def by_email(lines: list[bytes]) -> http.client.HTTPMessage:
    text = b"".join(lines).decode("iso-8859-1")
    parsed: http.client.HTTPMessage = email.parser.Parser(
        _class=http.client.HTTPMessage).parsestr(text)
    return parsed


def state(message: http.client.HTTPMessage) -> dict[str, object]:
    """Everything the message holds (defects by kind: they compare by identity)."""
    held = dict(vars(message))
    held["defects"] = [type(d).__name__ for d in message.defects]
    if isinstance(message._payload, list):  # type: ignore[attr-defined]  # nested parts
        held["_payload"] = [state(part) for part in message._payload]  # type: ignore[attr-defined]
    return held


PLAIN = [b"Content-Type: application/json\r\n", b"X-Odd-Spacing:  a b \r\n",
         b"Content-Length: 5\r\n", b"Empty:\r\n", b"Latin: caf\xe9\n", b"\r\n"]
ODD = {
    "folded": [b"X-A: one\r\n", b"  two\r\n", b"\r\n"],
    "no colon": [b"X-A: one\r\n", b"garbage line\r\n", b"X-B: two\r\n", b"\r\n"],
    "empty name": [b": value\r\n", b"\r\n"],
    "space in name": [b"X A: value\r\n", b"\r\n"],
    "from line": [b"From someone\r\n", b"X-A: 1\r\n", b"\r\n"],
    "bare CR inside": [b"X-A: one\rX-B: two\r\n", b"\r\n"],
    "form feed inside": [b"X-A: one\x0ctwo\r\n", b"\r\n"],
    "multipart": [b"Content-Type: multipart/mixed; boundary=x\r\n", b"\r\n"],
    "message type": [b"content-type:  Message/rfc822\r\n", b"\r\n"],
    "cut off": [b"X-A: one\r\n", b""],
    "no blank line": [b"X-A: one\r\n"],
}


def test_plain_headers_take_the_short_way_to_the_same_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = state(by_email(PLAIN))

    class NoParser:
        def __init__(self, **_: object) -> None:
            raise AssertionError("the email parser ran on plain headers")

    monkeypatch.setattr("email.parser.Parser", NoParser)
    assert state(quick_headers(PLAIN)) == expected
    assert expected["_headers"] == [
        ("Content-Type", "application/json"), ("X-Odd-Spacing", "a b "),
        ("Content-Length", "5"), ("Empty", ""), ("Latin", "café"),
    ]


@pytest.mark.parametrize("lines", ODD.values(), ids=list(ODD))
def test_any_other_header_block_gives_what_the_email_parser_gives(lines: list[bytes]) -> None:
    assert state(quick_headers(lines)) == state(by_email(lines))


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


HEADERS = {"User-Agent": "doku-test/1", "Content-Type": "application/json",
           "Accept": "application/json", "Accept-Encoding": "gzip, deflate",
           "Content-Length": "13", "Request-Id": "5d9e7c4a-0000-4000-8000-000000000001"}


def sent(pool_class: type[HTTPConnectionPool], server: CaptureServer,
         headers: dict[str, str]) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with pool_class(host, int(port), maxsize=1) as pool:
        response = pool.urlopen("POST", "/tokenization/v1/tokens", body=b'{"customer":1}',
                                headers=headers, retries=False, redirect=False)
        assert response.status == 500
    return server.requests[-1]


@pytest.mark.parametrize("headers", [HEADERS, {**HEADERS, "Host": "doku.example:8080"}],
                         ids=["host from the URL", "own Host"])
def test_the_short_way_sends_the_bytes_urllib3_sends(
    capture: CaptureServer, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> bool:
        taken.append(wire.send_framed(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(deadline, "send_framed", spy)
    ordinary = sent(HTTPConnectionPool, capture, headers)
    short = sent(WatchedHTTPPool, capture, headers)
    assert taken == [True]
    assert short == ordinary
    head, body = short.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert (lines[0], body) == (b"POST /tokenization/v1/tokens HTTP/1.1", b'{"customer":1}')
    assert len(lines) == 1 + 1 + len(HEADERS)  # the request line, one Host, the headers
    assert b"Content-Length: 13" in lines


@pytest.mark.parametrize(("name", "value", "message"), [
    ("X-Bad", "one\r\nInjected: yes", "Invalid header value b'one\\r\\nInjected: yes'"),
    ("X Bad:", "x", "Invalid header name b'X Bad:'"),
])
def test_an_illegal_header_is_refused_as_http_client_refuses_it(
    capture: CaptureServer, name: str, value: str, message: str,
) -> None:
    for pool_class in (HTTPConnectionPool, WatchedHTTPPool):
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            sent(pool_class, capture, {**HEADERS, name: value})
        assert str(caught.value) == message


# -- aio_wire.Head: urllib3's header objects, built only when asked for -------------------
_NAME = st.sampled_from(["Content-Length", "content-length", "Connection", "X-A", "x-a",
                         "Content-Encoding", "Signature", "Keep-Alive"])
_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255,
                                        blacklist_characters="\x7f\x85"), max_size=12)


def urllib3_view(lines: list[bytes]) -> tuple[dict[str, str], dict[str, str | None]]:
    """What the aio client used to take from a head: the merged dict and HTTPHeaderDict
    lookups, from the email parse urllib3 normalises."""
    headers = HTTPHeaderDict(_normalize_header_values(by_email(lines)))
    names = ["content-length", "Content-Encoding", "X-A", "connection", "absent"]
    return dict(headers.itermerged()), {n: headers.get(n) for n in names}


@given(pairs=st.lists(st.tuples(_NAME, _VALUE), max_size=8))
def test_a_head_gives_what_urllib3s_header_dict_gives(pairs: list[tuple[str, str]]) -> None:
    lines = [f"{name}: {value}\r\n".encode("latin-1") for name, value in pairs] + [b"\r\n"]
    source, first = _header_block(lines)
    head = Head(200, "OK", 11, source, False, None, False)
    names = ["content-length", "Content-Encoding", "X-A", "connection", "absent"]
    merged, lookups = urllib3_view(lines)
    assert (head.merged(), {n: head.lookup().get(n) for n in names}) == (merged, lookups)
    assert dict(head.headers.itermerged()) == merged
    message = by_email(lines)  # http.client frames by each name's first occurrence
    assert {n: first.get(n.lower()) for n in names} == {n: message.get(n) for n in names}


@pytest.mark.parametrize("lines", ODD.values(), ids=list(ODD))
def test_an_odd_head_is_the_email_parsers(lines: list[bytes]) -> None:
    source, _ = _header_block(lines)
    head = Head(200, "OK", 11, source, False, None, False)
    merged, _ = urllib3_view(lines)
    assert head.merged() == merged
    assert head.lookup() is head.headers

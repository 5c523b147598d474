"""The simulator's cheap request parsing gives exactly what the standard library gives.

doku.simulator.request_head parses plain request heads itself and hands the rest to
http.server / http.client; these tests compare both paths, byte for byte and field for
field, with the standard parser on fixed, generated and hostile inputs. The other
per-request shortcuts (timestamps, answer stamps, the world's draws) are pinned to
exact values here too.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import socket
import uuid
from email.message import Message
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doku.client.signing import parse_timestamp, sign_request, timestamp
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import RunningSimulator, stamps, world
from doku.simulator.checks import request_moment
from doku.simulator.request_head import (
    MAX_HEADERS,
    MAX_LINE,
    LeanHeadHandler,
    lean_head,
    parse_head,
    read_head_lines,
)
from tests.simulator_fixtures import each_front_end

# Every test here runs on both front ends (threads and event loop): same answers.
simulator_front = each_front_end()

PLAIN_HEAD = (
    b"Host: 127.0.0.1:8000\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
    b"Client-Id: BRN-0001\r\nRequest-Id: 1b5e\r\nRequest-Timestamp: 2020-08-11T08:45:42Z\r\n"
    b"Signature: HMACSHA256=abc/+=\r\n\r\n"
)


def snapshot(message: Message) -> dict[str, Any]:
    """Everything a parsed message holds, comparable with == (defects by type)."""
    state = dict(vars(message))
    state["defects"] = [(type(d), d.args) for d in message.defects]
    payload = message.get_payload()
    if isinstance(payload, list):
        state["_payload"] = [snapshot(p) if isinstance(p, Message) else p for p in payload]
    return state


def standard(block: bytes) -> http.client.HTTPMessage:
    return http.client.parse_headers(io.BytesIO(block))


def ours(block: bytes) -> tuple[http.client.HTTPMessage, dict[str, str]]:
    return parse_head(read_head_lines(io.BytesIO(block)))


def assert_same_as_standard(block: bytes) -> None:
    message, fields = ours(block)
    expected = standard(block)
    assert snapshot(message) == snapshot(expected)
    assert fields == {name.lower(): expected.get(name) for name in expected}


def test_a_plain_head_takes_the_lean_path_and_equals_the_standard_parse() -> None:
    lean = lean_head(read_head_lines(io.BytesIO(PLAIN_HEAD)))
    assert lean is not None
    message, fields = lean
    assert snapshot(message) == snapshot(standard(PLAIN_HEAD))
    assert fields["client-id"] == "BRN-0001"
    assert fields["signature"] == "HMACSHA256=abc/+="
    assert len(fields) == 7


@pytest.mark.parametrize(
    ("block", "fields"),
    [
        (b"A:b\r\n\r\n", {"a": "b"}),
        (b"A: \t b \t\r\n\r\n", {"a": "b \t"}),  # leading blanks go, trailing stay
        (b"A:\r\n\r\n", {"a": ""}),
        (b"X: 1\r\nx: 2\r\nX: 3\r\n\r\n", {"x": "1"}),  # the first occurrence wins
        (b"Odd!#$%&'*+-.^_`|~Name: a:b: c\r\n\r\n", {"odd!#$%&'*+-.^_`|~name": "a:b: c"}),
        (b"From: someone\r\n\r\n", {"from": "someone"}),
        (b"\r\n", {}),
    ],
)
def test_plain_heads_lean(block: bytes, fields: dict[str, str]) -> None:
    lean = lean_head(read_head_lines(io.BytesIO(block)))
    assert lean is not None
    assert lean[1] == fields
    assert_same_as_standard(block)


@pytest.mark.parametrize(
    "block",
    [
        b"A: b\n\r\n",  # bare LF ending a line
        b"A: b\r\n\n",  # bare LF ending the head
        b"A: b\r\n",  # EOF before the blank line
        b"A: b\rc\r\n\r\n",  # a lone CR: a line break for the email parser
        b"A: b\r\n continued\r\n\r\n",  # folded header
        b"A: b\r\n\tcontinued\r\n\r\n",
        b" A: b\r\n\r\n",  # leading blank: a continuation with nothing before it
        b": no name\r\nA: b\r\n\r\n",  # empty name: dropped with a defect
        b"A b: c\r\nD: e\r\n\r\n",  # blank in the name: not a header, the rest is body
        b"no colon\r\nA: b\r\n\r\n",
        b"From someone\r\nA: b\r\n\r\n",  # an mbox From line
        b"A: caf\xe9\r\n\r\n",  # not ASCII
        b"A: b\x00c\r\n\r\n",  # control characters
        b"A: b\x0bc\x0cd\x1ce\r\n\r\n",
        b"A: b\x7f\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n",
        b"content-type: Message/rfc822\r\n\r\n",
        b"Content-Type: message/delivery-status\r\n\r\n",
    ],
)
def test_unusual_heads_take_the_standard_path(block: bytes) -> None:
    assert lean_head(read_head_lines(io.BytesIO(block))) is None
    assert_same_as_standard(block)


def test_a_multipart_word_elsewhere_stays_lean() -> None:
    block = b"X-Note: multipart message\r\nContent-Type: application/json\r\n\r\n"
    assert lean_head(read_head_lines(io.BytesIO(block))) is not None
    assert_same_as_standard(block)


NAME = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7F) if c != 0x3A]), min_size=1,
               max_size=12)
VALUE = st.text(st.sampled_from(["\t"] + [chr(c) for c in range(0x20, 0x7F)]), max_size=30)
BLANKS = st.sampled_from(["", " ", "  ", "\t", " \t "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAME | st.sampled_from(["Content-Type", "Client-Id"]), BLANKS, VALUE),
                max_size=12))
def test_generated_plain_heads_equal_the_standard_parse(
    lines: list[tuple[str, str, str]],
) -> None:
    block = "".join(f"{n}:{b}{v}\r\n" for n, b, v in lines).encode("ascii") + b"\r\n"
    special = any(n.lower() == "content-type" and ("multipart" in v.lower() or
                                                    "message" in v.lower())
                  for n, _, v in lines)
    assert (lean_head(read_head_lines(io.BytesIO(block))) is None) == special
    assert_same_as_standard(block)


HOSTILE_PIECE = st.sampled_from([
    b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b"A", b"b", b"\x00", b"\x0b", b"\x1c", b"\x85",
    b"\xe9", b"\xff", b"From ", b"Content-Type", b"multipart/mixed; boundary=q", b"--q",
    b"message/rfc822",
])  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(HOSTILE_PIECE, max_size=30))
def test_generated_hostile_heads_equal_the_standard_parse(pieces: list[bytes]) -> None:
    assert_same_as_standard(b"".join(pieces) + b"\r\n\r\n")


def test_limits_are_http_clients() -> None:
    long_line = b"A: " + b"x" * MAX_LINE + b"\r\n\r\n"
    many = b"A: b\r\n" * MAX_HEADERS + b"\r\n"
    for block, kind, error in (
        (long_line, http.client.LineTooLong, f"got more than {MAX_LINE} bytes when reading "
                                             "header line"),
        (many, http.client.HTTPException, f"got more than {MAX_HEADERS} headers"),
    ):
        for parse in (standard, ours):
            with pytest.raises(http.client.HTTPException) as caught:
                parse(block)
            assert (type(caught.value), str(caught.value)) == (kind, error)
    just_fits = b"A: " + b"x" * (MAX_LINE - 5) + b"\r\n" + b"B: c\r\n" * (MAX_HEADERS - 2)
    assert_same_as_standard(just_fits + b"\r\n")


# -- the handler's parse_request against BaseHTTPRequestHandler's --------------------
class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:  # noqa: ARG002
        return "Tue, 11 Aug 2020 08:45:42 GMT"


class _Lean(LeanHeadHandler, _Quiet):
    pass


def parsed_by(cls: type[BaseHTTPRequestHandler], raw: bytes) -> dict[str, Any]:
    handler = cls.__new__(cls)
    handler.rfile = io.BufferedReader(io.BytesIO(raw))
    out = io.BytesIO()
    handler.wfile = out
    handler.raw_requestline = handler.rfile.readline(65537)  # type: ignore[attr-defined]
    handler.close_connection = True
    ok = handler.parse_request()
    seen = {name: getattr(handler, name, None) for name in
            ("command", "path", "request_version", "close_connection", "requestline")}
    headers = getattr(handler, "headers", None)
    return {"ok": ok, **seen, "written": out.getvalue(), "rest": handler.rfile.read(),
            "headers": snapshot(headers) if headers is not None else None}


REQUEST_LINES = [
    b"POST /tokenization/v1/tokens HTTP/1.1\r\n", b"GET /a?b=c HTTP/1.0\r\n",
    b"GET //evil.example/x HTTP/1.1\r\n", b"GET /\r\n", b"POST /\r\n", b"GET / HTTP/2.0\r\n",
    b"GET / HTTP/1.1 extra\r\n", b"GET / FOO/1.1\r\n", b"get / http/1.1\r\n", b"\r\n",
    b"GET / HTTP/01.1\r\n", b"GET\t/ \tHTTP/1.1\r\n", b"GET / HTTP/1.1\n", b"GET / HTTP/1.1",
    b"GET /caf\xe9 HTTP/1.1\r\n", b"HELLO THERE GENERAL\r\n",
]  # fmt: skip
HEADS = [
    PLAIN_HEAD + b'{"customer":{"id":"CUST-1"}}', b"Connection: close\r\n\r\n",
    b"Connection: Keep-Alive\r\n\r\n", b"Expect: 100-continue\r\n\r\n", b"A: b\n\n",
    b"A: " + b"x" * MAX_LINE + b"\r\n\r\n", b"A: b\r\n" * (MAX_HEADERS + 1), b"",
    b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n",
]  # fmt: skip


@pytest.mark.parametrize("line", REQUEST_LINES)
@pytest.mark.parametrize("head", HEADS)
def test_parse_request_equals_the_standard_one(line: bytes, head: bytes) -> None:
    assert parsed_by(_Lean, line + head) == parsed_by(_Quiet, line + head)


def test_parse_request_sets_the_fields_it_parsed() -> None:
    handler = _Lean.__new__(_Lean)
    handler.rfile = io.BufferedReader(io.BytesIO(PLAIN_HEAD))
    handler.raw_requestline = b"POST /tokenization/v1/tokens HTTP/1.1\r\n"
    assert handler.parse_request()
    assert handler.fields["request-timestamp"] == "2020-08-11T08:45:42Z"
    handler.raw_requestline = b"GET //x HTTP/1.1\r\n"  # the standard path
    handler.rfile = io.BufferedReader(io.BytesIO(b"Client-Id: other\r\n\r\n"))
    assert handler.parse_request()
    assert dict(handler.fields) == {"client-id": "other"}


# -- over the wire: both paths give the same answer -------------------------------------
def exchange(sim: RunningSimulator, extra: bytes, customer: str = "CUST-0001") -> bytes:
    body = json.dumps({"customer": {"id": customer}}, separators=(",", ":")).encode()
    rid, stamp = str(uuid.uuid4()), timestamp()
    sig = sign_request(SIMULATOR_SECRET_KEY, SIMULATOR_CLIENT_ID, rid, stamp, TOKENS_PATH, body)
    head = (f"POST {TOKENS_PATH} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
            f"Client-Id: {SIMULATOR_CLIENT_ID}\r\nRequest-Id: {rid}\r\n"
            f"Request-Timestamp: {stamp}\r\nSignature: {sig}\r\n").encode()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(head + extra + b"Connection: close\r\n\r\n" + body)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    return raw


@pytest.mark.parametrize("extra", [b"", b"X-Note: caf\xe9\r\n", b"X-Fold: a\r\n b\r\n"])
def test_lean_and_standard_heads_get_the_same_answer(simulator: RunningSimulator,
                                                     extra: bytes) -> None:
    raw = exchange(simulator, extra, "CUST-10042")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == json.dumps(world.tokens_for("CUST-10042"), separators=(",", ":"),
                              ensure_ascii=False).encode()


def test_a_second_client_id_header_is_ignored(simulator: RunningSimulator) -> None:
    raw = exchange(simulator, b"Client-Id: someone-else\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")


# -- the other shortcuts ----------------------------------------------------------------
def outcome(parse: Any, stamp: str) -> Any:
    try:
        return parse(stamp)
    except ValueError:
        return "ValueError"


@pytest.mark.parametrize("stamp", [
    "2020-08-11T08:45:42Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2020-13-01T00:00:00Z",
    "2020-00-10T00:00:00Z", "2020-01-01T24:00:00Z", "2020-01-01T00:60:00Z", "2020-01-01T00:00:61Z",
    "0000-01-01T00:00:00Z", "2020-8-1T8:45:42Z", "2020-08-11t08:45:42z", "2020-08-11T08:45:42",
    "٢٠٢٠-08-11T08:45:42Z", " 2020-08-11T08:45:42Z",
])  # fmt: skip
def test_request_moment_is_parse_timestamp(stamp: str) -> None:
    assert outcome(request_moment, stamp) == outcome(parse_timestamp, stamp)


@settings(max_examples=300, deadline=None)
@given(st.tuples(*(st.integers(0, 10 ** n - 1) for n in (4, 2, 2, 2, 2, 2))))
def test_request_moment_is_parse_timestamp_for_any_digits(fields: tuple[int, ...]) -> None:
    stamp = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*fields)
    assert outcome(request_moment, stamp) == outcome(parse_timestamp, stamp)


def test_answer_stamps_follow_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1597135542.25, 1597135542.99, 1597135543.0])
    monkeypatch.setattr(stamps, "time", SimpleNamespace(time=lambda: next(clock)))
    first = ("Tue, 11 Aug 2020 08:45:42 GMT", "2020-08-11T08:45:42Z")
    assert stamps.answer_stamps() == first
    assert stamps.answer_stamps() == first
    assert stamps.answer_stamps() == ("Tue, 11 Aug 2020 08:45:43 GMT", "2020-08-11T08:45:43Z")


@pytest.mark.parametrize(("seed", "epoch", "sha256"), [
    (0, 0, "9e0d20799f7e98161cc900453a4858454ac04012abfe9b4f41968b807d9f2795"),
    (7, 3, "1df03970d9e3d69aff08547dbe8d8dea8532ea1d4eb9a238f61b9622f910e721"),
])  # fmt: skip
def test_world_answers_are_unchanged(seed: int, epoch: int, sha256: str) -> None:
    """Digest of 2,000 customers' answers, taken before the world's draws were sped up."""
    answers = [world.tokens_for(f"CUST-{10000 + i}", seed, epoch) for i in range(2000)]
    blob = json.dumps(answers, separators=(",", ":")).encode()
    assert hashlib.sha256(blob).hexdigest() == sha256

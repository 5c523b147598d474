"""The event-loop front end answers every request with the threaded front end's bytes.

Over the wire, a catalogue of conversations (good, hostile, pipelined, cut short) is
held byte for byte to what the threaded front end sends. In memory, a request that
arrives in pieces is held to the answer it gets whole, and `_Received` to the socket
file it stands in for.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import socket
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doku.client.loops import event_loops
from doku.client.signing import sign_request, timestamp
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import SimulatorConfig, start_simulator
from doku.simulator.loop_server import (
    CONTINUE,
    NeedMore,
    _Connection,
    _Received,
)
from doku.simulator.request_head import read_head_lines
from doku.simulator.state import _State
from tests.simulator_fixtures import each_front_end

simulator_front = each_front_end()

DATE, STAMP = "Thu, 26 Nov 2026 10:00:00 GMT", "2026-11-26T10:00:00Z"


@pytest.fixture(autouse=True)
def fixed_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both front ends stamp every answer with the same second."""
    monkeypatch.setattr("doku.simulator.response.answer_stamps", lambda: (DATE, STAMP))


def signed_request(customer: str, rid: str, *, extra: str = "", path: str = TOKENS_PATH,
           method: str = "POST", stamp: str | None = None) -> bytes:
    body = json.dumps({"customer": {"id": customer}}, separators=(",", ":")).encode()
    stamp = stamp or timestamp()
    sig = sign_request(SIMULATOR_SECRET_KEY, SIMULATOR_CLIENT_ID, rid, stamp, TOKENS_PATH, body)
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"Client-Id: {SIMULATOR_CLIENT_ID}\r\nRequest-Id: {rid}\r\n"
            f"Request-Timestamp: {stamp}\r\nSignature: {sig}\r\n{extra}\r\n").encode() + body


def conversations(stamp: str, run: str = "") -> dict[str, bytes]:
    """What a client sends, whole, before it stops sending (half-close); `run` makes
    the Request-Ids its own (a simulator remembers the ones it has answered)."""

    def signed(customer: str, rid: str, **kwargs: Any) -> bytes:
        return signed_request(customer, f"{run}{rid}", **kwargs)

    one = signed("CUST-10001", "r-1", stamp=stamp)
    head, _, body = one.partition(b"\r\n\r\n")
    return {
        "one": one,
        "pipelined": one + signed("CUST-10002", "r-2", stamp=stamp),
        "replayed": one + one + signed("CUST-10003", "r-1", stamp=stamp),
        "expect 100, all at once": signed("CUST-10001", "r-1", stamp=stamp,
                                          extra="Expect: 100-continue\r\n"),
        "close": signed("CUST-10001", "r-1", stamp=stamp, extra="Connection: close\r\n")
                 + signed("CUST-10002", "r-2", stamp=stamp),
        "head only": head + b"\r\n\r\n",
        "body cut short": head + b"\r\n\r\n" + body[:5],
        "head cut short": head[:40],
        "request line cut short": b"POST /toke",
        "folded header": signed("CUST-10001", "r-1", stamp=stamp, extra="X-Fold: a\r\n b\r\n"),
        "bare LF": one.replace(b"\r\n", b"\n"),
        "HTTP/1.0": one.replace(b"HTTP/1.1", b"HTTP/1.0"),
        "HTTP/0.9": b"GET /\r\n\r\n",
        "HTTP/2.0": b"GET / HTTP/2.0\r\n\r\n",
        "bad version": b"GET / FOO/1.1\r\n\r\n",
        "empty line": b"\r\n",
        "garbage": b"HELLO THERE GENERAL KENOBI\r\n\r\n",
        "line too long": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        "header too long": b"GET / HTTP/1.1\r\nA: " + b"x" * 70_000 + b"\r\n\r\n",
        "too many headers": b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 101 + b"\r\n",
        "chunked": b"POST /tokenization/v1/tokens HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"0\r\n\r\n",
        "negative length": b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "length not a number": b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        "too large": b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
        "unknown method": signed("CUST-10001", "r-1", stamp=stamp, method="BREW"),
        "GET": signed("CUST-10001", "r-1", stamp=stamp, method="GET"),
        "HEAD": signed("CUST-10001", "r-1", stamp=stamp, method="HEAD"),
        "other path": signed("CUST-10001", "r-1", stamp=stamp, path="/other?x=1"),
        "unsigned": b"POST /tokenization/v1/tokens HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        "bad customer": signed("", "r-1", stamp=stamp),
        "keep-alive": signed("CUST-10001", "r-1", stamp=stamp,
                             extra="Connection: keep-alive\r\n"),
        "lower-case names": b"\r\n".join(
            line.split(b":", 1)[0].lower() + b":" + line.split(b":", 1)[1]
            if i and b":" in line else line
            for i, line in enumerate(head.split(b"\r\n"))) + b"\r\n\r\n" + body,
        "length with zeros": one.replace(b"Content-Length: ", b"Content-Length: 00"),
        "length with a sign": one.replace(b"Content-Length: ", b"Content-Length: +"),
        "length twice": one.replace(b"Host: x\r\n", b"Host: x\r\nContent-Length: 2\r\n"),
        "stale": signed("CUST-10001", "r-1", stamp="2020-01-01T00:00:00Z"),
        "wrong signature": one.replace(b"Signature: HMACSHA256=", b"Signature: HMACSHA256=A"),
        "wrong client": one.replace(SIMULATOR_CLIENT_ID.encode(), b"someone-else", 1),
    }  # fmt: skip


def talk(port: int, sent: bytes) -> bytes:
    """Send, stop sending, and read until the simulator closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:  # closed with bytes unread: what came is the answer
            pass
    return received


@pytest.fixture(scope="module")
def both() -> Iterator[dict[str, Any]]:
    """The threaded front end and the loop front end on every event loop there is."""
    sims = {"threads": start_simulator(SimulatorConfig(), front="threads")}
    for name in event_loops():
        sims[name] = start_simulator(SimulatorConfig(), front="loop", event_loop=name)
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


@pytest.mark.parametrize("name", list(conversations(STAMP)))
def test_the_loop_answers_what_threads_answer(both: dict[str, Any], name: str) -> None:
    sent = conversations(timestamp(), f"{uuid.uuid4()}-")[name]
    answers = {front: talk(sim.port, sent) for front, sim in both.items()}
    assert set(answers) >= {"threads", "asyncio"}
    assert {front: answer == answers["threads"] for front, answer in answers.items()} == {
        front: True for front in answers}
    assert answers["threads"] != b"" or name in {"empty line", "head cut short",
                                                "request line cut short"}


def test_the_fastest_event_loop_is_the_default() -> None:
    with start_simulator() as sim:
        server: Any = sim._server
        assert server.event_loop == next(iter(event_loops()))
    with pytest.raises(ValueError, match="no event loop 'tokio' here; one of"):
        start_simulator(event_loop="tokio")


def test_a_conversation_is_answered_in_full(both: dict[str, Any]) -> None:
    answer = talk(both["asyncio"].port, conversations(timestamp(), f"{uuid.uuid4()}-")["replayed"])
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"200", b"409", b"409"]
    assert answer.count(f"Date: {DATE}".encode()) == 3


# -- in memory: pieces against the whole -------------------------------------------------
class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:  # noqa: ARG002
        return ("127.0.0.1", 1)


def fed(pieces: list[bytes], eof: bool = True,
        lane: bool = True) -> tuple[bytes, bool, dict[str, int]]:
    """What the loop front end writes for these received pieces, whether it closes,
    and its statistics; `lane`: plain requests may take the fast lane."""
    state = _State(SimulatorConfig())
    server = SimpleNamespace(state=state, connections=set(), lane=lane)
    conn = _Connection(server)  # type: ignore[arg-type]
    transport = _Transport()
    conn.connection_made(transport)
    for piece in pieces:
        conn.data_received(piece)
    if eof:
        conn.eof_received()
    return transport.written, transport.closed, state.stats.snapshot()


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(["pipelined", "replayed", "close", "folded header", "bare LF",
                             "body cut short", "too many headers", "HEAD", "keep-alive",
                             "lower-case names", "length with zeros", "bad customer"]),
       cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=12),
       lane=st.booleans())
def test_any_split_gets_the_answer_of_the_whole(name: str, cuts: list[int],
                                               lane: bool) -> None:
    """Split anywhere, with or without the fast lane: what http.server's handler
    answers to the whole conversation at once."""
    sent = conversations(timestamp())[name]
    bounds = sorted({0, len(sent), *(c % (len(sent) + 1) for c in cuts)})
    pieces = [sent[a:b] for a, b in itertools.pairwise(bounds)]
    assert fed(pieces, lane=lane) == fed([sent], lane=False)


@pytest.mark.parametrize("name", list(conversations(STAMP)))
def test_the_fast_lane_answers_what_the_handler_answers(name: str) -> None:
    sent = conversations(timestamp())[name]
    assert fed([sent], lane=True) == fed([sent], lane=False)


def test_a_request_in_single_bytes_is_counted_once() -> None:
    sent = conversations(timestamp())["one"]
    written, closed, stats = fed([sent[i:i + 1] for i in range(len(sent))], eof=False)
    assert (written.split(b"\r\n")[0], closed) == (b"HTTP/1.1 200 OK", False)
    assert (stats["requests"], stats["status_200"]) == (1, 1)


def test_100_continue_goes_out_when_the_head_is_in() -> None:
    sent = conversations(timestamp())["expect 100, all at once"]
    head, _, body = sent.partition(b"\r\n\r\n")
    state = _State(SimulatorConfig())
    conn = _Connection(SimpleNamespace(state=state, connections=set(), lane=True))  # type: ignore[arg-type]
    transport = _Transport()
    conn.connection_made(transport)
    conn.data_received(head + b"\r\n\r\n")
    assert transport.written == CONTINUE
    conn.data_received(body)
    assert transport.written.startswith(CONTINUE + b"HTTP/1.1 200 OK\r\n")
    assert transport.written.count(b"100 Continue") == 1


def test_100_continue_over_the_wire(simulator_front: str) -> None:
    sent = conversations(timestamp())["expect 100, all at once"]
    head, _, body = sent.partition(b"\r\n\r\n")
    with start_simulator(front=simulator_front) as sim, socket.create_connection(
            ("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        received = b""
        while len(received) < len(CONTINUE):
            received += sock.recv(len(CONTINUE) - len(received))
        assert received == CONTINUE
        sock.sendall(body)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(CONTINUE + b"HTTP/1.1 200 OK\r\n")


def test_latency_keeps_pipelined_answers_in_order(simulator_front: str) -> None:
    stamp = timestamp()
    sent = b"".join(signed_request(f"CUST-{n}", f"r-{n}", stamp=stamp) for n in range(10_000, 10_005))
    with start_simulator(SimulatorConfig(latency_ms=20), front=simulator_front) as sim:
        answer = talk(sim.port, sent)
    ids = re.findall(rb"\r\nRequest-Id: ([^\r]*)\r\n", answer)
    assert ids == [f"r-{n}".encode() for n in range(10_000, 10_005)]


def test_an_unknown_front_end_is_refused() -> None:
    with pytest.raises(ValueError, match="no simulator front end 'fibers'; one of loop, threads"):
        start_simulator(front="fibers")


# -- _Received against the socket file it stands in for ---------------------------------
READS = st.lists(st.tuples(st.sampled_from(["readline", "read"]),
                           st.integers(min_value=-1, max_value=12)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n")), reads=READS)
def test_received_at_eof_reads_as_a_file(data: bytes, reads: list[tuple[str, int]]) -> None:
    ours, file = _Received(data, eof=True), io.BytesIO(data)
    for name, size in reads:
        assert getattr(ours, name)(size) == getattr(file, name)(size)
    assert ours.pos == file.tell()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n")), reads=READS)
def test_received_before_eof_reads_whole_or_asks_for_more(
        data: bytes, reads: list[tuple[str, int]]) -> None:
    ours, file = _Received(data, eof=False), io.BytesIO(data)
    for name, size in reads:
        try:
            got = getattr(ours, name)(size)
        except NeedMore:
            rest = data[file.tell():]
            if name == "read":
                assert size < 0 or len(rest) < size
            else:
                assert b"\n" not in rest[:size if size >= 0 else None]
                assert size < 0 or len(rest) < size
            return
        assert got == getattr(file, name)(size)
        assert got.endswith(b"\n") or len(got) == size or (name == "read" and size == 0)


@pytest.mark.parametrize(("config", "status", "waited"), [
    ({"latency_ms": 30}, 200, 0.03),
    ({"hang_rate": 1.0, "hang_s": 0.2}, 0, 0.2),  # logged when the hang ends
])
def test_the_request_log_holds_when_answered(simulator_front: str, tmp_path: Any,
                                             config: dict[str, Any], status: int,
                                             waited: float) -> None:
    log = tmp_path / "requests.tsv"
    sim = start_simulator(SimulatorConfig(request_log=str(log), **config), front=simulator_front)
    with sim:
        talk(sim.port, signed_request("CUST-10001", f"{uuid.uuid4()}", stamp=timestamp()))
        sim.stop()  # the log is written before the connection closes
    [line] = log.read_text(encoding="utf-8").splitlines()
    customer, received, answered, logged_status = line.split("\t")
    assert (customer, int(logged_status)) == ('"CUST-10001"', status)
    # An event loop's timers keep millisecond time read at the start of an iteration,
    # so a wait can end up to a millisecond short of the wall clock's.
    assert float(answered) - float(received) >= waited - 0.002


HEAD_PIECES = st.lists(st.sampled_from([
    b"A: b\r\n", b"Content-Type: x\r\n", b"\r\n", b"\n", b"\r", b"x" * 70, b"\t: v\r\n",
    b"Name:\r\n", b"A: \r\r\n", b"\xe9: \xff\r\n",
]), max_size=12)


@settings(max_examples=400, deadline=None)
@given(pieces=HEAD_PIECES, eof=st.booleans(), many=st.booleans())
def test_head_lines_at_once_are_the_lines_read_one_by_one(
        pieces: list[bytes], eof: bool, many: bool) -> None:
    data = b"".join(pieces) * (60 if many else 1)  # `many`: past MAX_HEADERS lines
    ours = _Received(data, eof=eof)
    whole = ours.head_lines()
    if whole is None:
        assert ours.pos == 0
        return
    one_by_one = read_head_lines(io.BytesIO(data))
    assert (whole, ours.pos) == (one_by_one, len(b"".join(one_by_one)))


def test_head_lines_leave_long_or_many_lines_to_the_line_reader() -> None:
    from doku.simulator.request_head import MAX_HEADERS, MAX_LINE

    fits = b"A: " + b"x" * (MAX_LINE - 5) + b"\r\n" + b"B: c\r\n" * (MAX_HEADERS - 2) + b"\r\n"
    assert _Received(fits, eof=False).head_lines() == read_head_lines(io.BytesIO(fits))
    for over in (b"A: " + b"x" * (MAX_LINE - 4) + b"\r\n\r\n", b"B: c\r\n" * MAX_HEADERS + b"\r\n"):
        assert _Received(over, eof=False).head_lines() is None


@pytest.mark.filterwarnings("error::ResourceWarning",
                            "error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("event_loop", [None, "tokio"])
def test_a_simulator_that_cannot_start_leaves_no_open_log(
        simulator_front: str, tmp_path: Any, event_loop: str | None) -> None:
    import gc

    with start_simulator(front=simulator_front) as taken:
        config = SimulatorConfig(request_log=str(tmp_path / "requests.tsv"))
        with pytest.raises((OSError, ValueError)):
            start_simulator(config, port=taken.port, front=simulator_front,
                            event_loop=event_loop or "asyncio")
        gc.collect()  # an unclosed log would warn here, an error under this mark

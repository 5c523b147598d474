"""doku.simulator.fast_lane: the plain request answered without http.server, held to
the handler's answers and effects (the byte-for-byte comparisons over whole
conversations are in test_simulator_loop.py)."""

from __future__ import annotations

import json
import uuid

import pytest

from doku.client.signing import sign_request, timestamp
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import SimulatorConfig
from doku.simulator.fast_lane import REQUEST_LINE, answer_plain, lane_open
from doku.simulator.state import _State
from doku.simulator.world import tokens_for


def request(customer: str = "CUST-10001", *, rid: str | None = None, extra: str = "",
            body: bytes | None = None, stamp: str | None = None) -> bytes:
    body = body if body is not None else json.dumps(
        {"customer": {"id": customer}}, separators=(",", ":")).encode()
    rid = rid or str(uuid.uuid4())
    stamp = stamp or timestamp()
    sig = sign_request(SIMULATOR_SECRET_KEY, SIMULATOR_CLIENT_ID, rid, stamp, TOKENS_PATH, body)
    return (f"POST {TOKENS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"Client-Id: {SIMULATOR_CLIENT_ID}\r\nRequest-Id: {rid}\r\n"
            f"Request-Timestamp: {stamp}\r\nSignature: {sig}\r\n{extra}\r\n").encode() + body


def fingerprint(state: _State) -> tuple[object, ...]:
    """Everything a request can change in the simulator's state."""
    return (state.stats.snapshot(), list(state.seen), state._rng.getstate())


def test_the_lane_is_open_only_without_faults_rate_limits_or_a_request_log() -> None:
    assert lane_open(SimulatorConfig()) is True
    assert lane_open(SimulatorConfig(latency_ms=50, jitter_ms=10, epoch=3, seed=9)) is True
    assert lane_open(SimulatorConfig(fail_rate=0.1)) is False
    assert lane_open(SimulatorConfig(bad_signature_rate=0.01)) is False
    assert lane_open(SimulatorConfig(rate_limit_rps=5)) is False
    assert lane_open(SimulatorConfig(request_log="/tmp/x.tsv")) is False


def test_a_plain_request_is_answered_with_its_effects() -> None:
    state = _State(SimulatorConfig())
    sent = request("CUST-10001", rid="r-1") + b"GET / HTTP/1.1\r\n\r\n"
    done = answer_plain(state, sent)
    assert done is not None
    assert done.consumed == len(sent) - len(b"GET / HTTP/1.1\r\n\r\n")
    assert (done.hold, done.close) == (0.0, False)
    head, _, body = done.out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: doku-simulator\r\n")
    assert b"\r\nRequest-Id: r-1\r\n" in head
    assert json.loads(body) == tokens_for("CUST-10001")
    assert state.stats.snapshot() == {"requests": 1, "status_200": 1}
    assert state.seen["r-1"].status == 200
    assert state.seen["r-1"].body == body


def test_connection_close_is_kept() -> None:
    done = answer_plain(_State(SimulatorConfig()), request(extra="Connection: close\r\n"))
    assert done is not None
    assert done.close is True
    assert b"\r\nConnection: close\r\n\r\n" in done.out


def test_latency_is_drawn_as_the_handler_draws_it() -> None:
    config = SimulatorConfig(latency_ms=40, jitter_ms=20, seed=5)
    state, reference = _State(config), _State(config)
    holds = [answer_plain(state, request()) for _ in range(5)]
    assert [d.hold for d in holds if d] == [reference.delay_s() for _ in range(5)]


@pytest.mark.parametrize("sent", [
    b"GET / HTTP/1.1\r\n\r\n",
    REQUEST_LINE.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Content-Length: 0\r\n\r\n",
    REQUEST_LINE + b"\r\n",  # no headers at all
    request(extra="Expect: 100-continue\r\n"),
    request(extra="Transfer-Encoding: chunked\r\n"),
    request(extra="X-Fold: a\r\n b\r\n"),  # not a plain block
    request(extra="X-Odd: caf\xe9\r\n".encode("latin-1").decode("latin-1")),
    request()[:-3],  # the body is not all here
    request().split(b"\r\n\r\n")[0],  # nor the head
    request().replace(b"Content-Length: ", b"Content-Length: +"),
    request(extra="".join(f"X-{i}: y\r\n" for i in range(70))),  # many headers
    request(stamp="2020-01-01T00:00:00Z"),  # refused: stale
    request().replace(b"Signature: HMACSHA256=", b"Signature: HMACSHA256=A"),
    request().replace(SIMULATOR_CLIENT_ID.encode(), b"someone", 1),
], ids=["other line", "HTTP/1.0", "no headers", "expect", "chunked", "folded",
        "non-ASCII", "body short", "head short", "signed length", "many headers",
        "stale", "bad signature", "other client"])
def test_anything_else_is_declined_before_any_effect(sent: bytes) -> None:
    state = _State(SimulatorConfig(latency_ms=10, jitter_ms=5))
    before = fingerprint(state)
    assert answer_plain(state, sent) is None
    assert fingerprint(state) == before


def test_a_replay_and_a_stopping_simulator_are_declined() -> None:
    state = _State(SimulatorConfig())
    sent = request(rid="r-9")
    assert answer_plain(state, sent) is not None
    before = fingerprint(state)
    assert answer_plain(state, sent) is None  # the handler answers 409
    assert fingerprint(state) == before
    state.stop_event.set()
    assert answer_plain(state, request()) is None
    assert fingerprint(state) == before

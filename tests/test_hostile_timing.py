"""Hostile servers in time: a dripping answer meets the attempt's deadline, a huge
Retry-After is capped, a cancel interrupts the wait, server text stays short."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from doku import errors
from doku.client.pacing import SharedPacer
from doku.client.retry import RetryPolicy
from tests.client_kinds import count_connects, run_with_each_client
from tests.hostile_doku import HostileDoku
from tests.hostile_support import (
    DEADLINE_S,
    call,
    failed,
    make_client,
)
from tests.scripted_doku import LOOPBACK, RecordingPacer

# Every test runs with the requests client and with the lean bulk transport.
each_client = run_with_each_client("tests.hostile_support")


# -- the deadline ---------------------------------------------------------------------------------
@pytest.mark.timeout(10)
@pytest.mark.parametrize(("case", "status"), [("drip_body", 200), ("drip_headers", None)])
def test_a_dripping_server_is_cut_off_at_the_deadline(
    hostile: Callable[[str], HostileDoku], case: str, status: int | None
) -> None:
    server = hostile(case)
    outcome = call(make_client(server))
    exc = failed(outcome, errors.DeadlineExceededError, "deadline_exceeded")
    assert exc.message == "no complete answer within the 1 s deadline"
    assert exc.status == status
    assert exc.retryable
    assert isinstance(exc, errors.TransportError)
    assert DEADLINE_S - 0.05 <= outcome.elapsed <= DEADLINE_S + 1.0
    assert server.bytes_sent >= 2  # it really was dripping, slower than any read timeout


@pytest.mark.timeout(10)
def test_each_retry_gets_its_own_deadline(hostile: Callable[[str], HostileDoku]) -> None:
    server = hostile("drip_body")
    deadline = 0.5
    outcome = call(make_client(server, retry=RetryPolicy(2), deadline_s=deadline))
    exc = outcome.error
    assert isinstance(exc, errors.DeadlineExceededError)
    assert exc.message == "no complete answer within the 0.5 s deadline"
    assert exc.attempts == len(server.seen) == 2
    assert 2 * deadline - 0.05 <= outcome.elapsed <= 2 * deadline + 1.0


def test_default_deadline_is_connect_plus_read_timeout(
    hostile: Callable[[str], HostileDoku],
) -> None:
    client = make_client(hostile("guide"), connect_timeout_s=5, read_timeout_s=30,
                         deadline_s=None)
    assert client.deadline_s == 35.0
    assert client.max_retry_after_s == 60.0
    assert client.max_body_bytes == client.max_decoded_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize(
    "option", ["deadline_s", "max_body_bytes", "max_decoded_bytes", "max_retry_after_s"]
)
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True])
def test_limits_must_be_positive(
    hostile: Callable[[str], HostileDoku], option: str, value: float
) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a positive number"):
        make_client(hostile("guide"), **{option: value})


def test_bounded_reading_keeps_pooled_connections(
    hostile: Callable[[str], HostileDoku], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = count_connects(monkeypatch)
    server = hostile("guide")
    client = make_client(server)
    for _ in range(3):
        assert call(client).result is not None
    assert seen.count((LOOPBACK, server.port)) == 1


# -- Retry-After --------------------------------------------------------------------------------
def test_huge_retry_after_is_capped_and_says_so(
    hostile: Callable[[str], HostileDoku], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="doku.client.tokens")
    server = hostile("huge_retry_after")
    pacer = RecordingPacer()
    outcome = call(make_client(server, pacer=pacer, retry=RetryPolicy(2)))
    exc = failed(outcome, errors.RateLimitedError, "rate_limited")
    assert isinstance(exc, errors.RateLimitedError)
    assert exc.retry_after == 60.0
    assert exc.message == "slow down (Retry-After 100000 s capped at 60 s)"
    assert exc.attempts == 2
    assert pacer.pauses == pacer.calls == [60.0125]  # the cap, plus a tenth of the jitter
    assert [r.getMessage() for r in caplog.records] == [
        f"Retry-After 100000 s for request {s.headers['Request-Id']} capped at 60 s"
        for s in server.seen
    ]


def test_retry_after_cap_is_configurable(hostile: Callable[[str], HostileDoku]) -> None:
    pacer = RecordingPacer()
    client = make_client(hostile("huge_retry_after"), pacer=pacer, retry=RetryPolicy(2),
                         max_retry_after_s=2)
    exc = call(client).error
    assert isinstance(exc, errors.RateLimitedError)
    assert exc.retry_after == 2.0
    assert pacer.calls == [2.0125]


@pytest.mark.timeout(10)
def test_cancellation_interrupts_a_retry_after_wait(
    hostile: Callable[[str], HostileDoku],
) -> None:
    cancel = threading.Event()
    client = make_client(hostile("huge_retry_after"), pacer=SharedPacer(cancel=cancel),
                         retry=RetryPolicy(2))
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        outcome = call(client)
    finally:
        timer.cancel()
    assert isinstance(outcome.error, errors.CancelledError)  # belongs to no attempt
    assert outcome.elapsed < 1.5  # not the 60 s the server asked for


# -- server text in errors --------------------------------------------------------------------------
def test_huge_reason_phrase_is_cut_to_one_short_line(
    hostile: Callable[[str], HostileDoku],
) -> None:
    outcome = call(make_client(hostile("huge_reason")))
    exc = failed(outcome, errors.ServerError, "server_error")
    assert len(exc.message) == 300
    assert exc.message.startswith("\\x1b[31mRRR")  # the escape made visible, not obeyed
    assert "\x1b" not in str(exc)
    assert str(exc) == f"server error (500): {exc.message}"

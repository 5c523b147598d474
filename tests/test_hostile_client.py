"""TokenClient against a hostile DOKU (tests/hostile_doku.py): every attack ends in one
typed DokuError with a stable code, for that one customer, in bounded time and memory.

Time bounds are computed from the configured deadline (generous, never micro-benchmarks);
memory is the tracemalloc peak of the whole process during the call (the loopback
server runs in this process too and is counted).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from doku import errors
from doku.client.pacing import SharedPacer
from doku.client.retry import NO_RETRY, RetryPolicy
from doku.client.tokens import TokenClient, TokenResult
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from doku.settings import SecretKey, Settings
from tests import hostile_doku as hd
from tests.hostile_doku import HostileDoku
from tests.scripted_doku import LOOPBACK, RecordingPacer

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
DEADLINE_S = 1.0
READ_TIMEOUT_S = 0.5  # longer than the drip interval: only the deadline can cut a drip
BOUND_S = DEADLINE_S + 2.0  # every single attempt ends by then
MAX_PEAK_BYTES = 50 * 1024 * 1024
TEN_MIB = "10,485,760"

GUIDE_VALUES = [  # the guide's CUST-0001 answer, as before this change
    Token("CUST-0001", "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8982",
          "243591d7e49f45109961581718c3ef82"),
    Token("CUST-0001", "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8981",
          "05fc9236261381647e24a14a691e1590"),
    Token("CUST-0001", "Anton Budiman", CREDIT_CARD, "BCA", "visa", "4096****5464",
          "4bc187a24c60fc88977604d170eea4a5"),
]


@pytest.fixture
def hostile() -> Iterator[Callable[[str], HostileDoku]]:
    servers: list[HostileDoku] = []

    def start(case: str) -> HostileDoku:
        server = HostileDoku(CLIENT_ID, SECRET, case)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def make_client(server: HostileDoku, **kw: object) -> TokenClient:
    settings = Settings("sandbox", CLIENT_ID, SecretKey(SECRET), server.url)
    opts: dict[str, object] = {
        "pacer": RecordingPacer(), "rand": lambda: 0.5, "retry": NO_RETRY,
        "connect_timeout_s": 1.0, "read_timeout_s": READ_TIMEOUT_S, "deadline_s": DEADLINE_S,
    }
    opts.update(kw)
    return TokenClient(settings, **opts)  # type: ignore[arg-type]


@dataclass
class Outcome:
    result: TokenResult | None
    error: errors.DokuError | None
    elapsed: float
    peak: int  # tracemalloc peak (bytes), 0 when not traced


def call(
    client: TokenClient, token_type: str | None = None, *, trace: bool = False
) -> Outcome:
    """One get_tokens call; any exception but a DokuError fails the test."""
    if trace:
        tracemalloc.start()
    started = time.monotonic()
    result: TokenResult | None = None
    error: errors.DokuError | None = None
    try:
        result = client.get_tokens(hd.CUSTOMER, token_type)
    except errors.DokuError as exc:
        error = exc
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
    return Outcome(result, error, elapsed, peak)


def failed(outcome: Outcome, cls: type[errors.DokuError], code: str) -> errors.DokuError:
    exc = outcome.error
    assert isinstance(exc, cls), outcome
    assert exc.code == code
    assert exc.request_id  # names the attempt
    assert "\n" not in str(exc)
    assert SECRET not in str(exc)
    assert outcome.elapsed <= BOUND_S
    return exc


# -- answers checked against the request ----------------------------------------------------
@pytest.mark.parametrize(
    ("case", "token_type", "message"),
    [
        ("wrong_customer", None,
         "token [1] names customer 'CUST-9999', not the requested 'CUST-0001'"),
        ("wrong_type", DIRECT_DEBIT,
         "token [2] is a 'CREDIT_CARD' token, not the requested DIRECT_DEBIT"),
        ("long_token_id", None,
         "token [0] debit_card.token_id is 10,000 characters long (at most 256)"),
        ("empty_token_id", None, "token [0] has an empty debit_card.token_id"),
        ("empty_issuer", None, "token [2] has an empty credit_card.issuer"),
        ("blank_masked_card", None, "token [1] has an empty debit_card.masked_card"),
        ("empty_type", None, "token [0] has an empty token_data.type"),
        ("empty_customer_id", None, "token [0] has an empty customer.id"),
    ],
)
def test_answers_that_break_the_request_fail_that_customer(
    hostile: Callable[[str], HostileDoku], case: str, token_type: str | None, message: str
) -> None:
    server = hostile(case)
    outcome = call(make_client(server, retry=RetryPolicy(3)), token_type)
    exc = failed(outcome, errors.MalformedResponseError, "malformed_response")
    assert exc.message == message
    assert str(exc) == f"malformed response (200): {message}"
    assert exc.status == 200
    assert not exc.retryable
    assert len(server.seen) == 1  # final: not retried
    assert exc.request_id == server.seen[0].headers["Request-Id"]


def test_the_guide_answer_still_yields_the_same_three_tokens(
    hostile: Callable[[str], HostileDoku],
) -> None:
    result = call(make_client(hostile("guide"))).result
    assert result is not None
    assert result.tokens == GUIDE_VALUES
    assert (result.duplicates, result.unknown_types, result.signature_verified) == (0, 0, True)


def test_a_gzip_encoded_answer_is_decoded_and_verified(
    hostile: Callable[[str], HostileDoku],
) -> None:
    server = hostile("gzip_guide")
    result = call(make_client(server)).result
    assert result is not None
    assert result.tokens == GUIDE_VALUES
    assert result.signature_verified
    assert server.seen[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_duplicate_tokens_are_kept_once_and_counted(
    hostile: Callable[[str], HostileDoku],
) -> None:
    result = call(make_client(hostile("duplicates"))).result
    assert result is not None
    assert result.tokens == GUIDE_VALUES  # first occurrences, in order
    assert result.duplicates == 3


def test_an_unknown_token_type_is_kept_with_its_type_string(
    hostile: Callable[[str], HostileDoku],
) -> None:
    result = call(make_client(hostile("unknown_type"))).result
    assert result is not None
    assert result.tokens[:3] == GUIDE_VALUES
    assert result.tokens[3] == Token(
        "CUST-0001", "Anton Budiman", "WALLET_RECURRING", "OVO", None, "****1234", "ovo-7f3a9c"
    )
    assert result.unknown_types == 1


def test_hostile_text_in_customer_name_round_trips_verbatim(
    hostile: Callable[[str], HostileDoku],
) -> None:
    result = call(make_client(hostile("escapes_in_name"))).result
    assert result is not None
    assert [t.customer_name for t in result.tokens] == [hd.HOSTILE_NAME] * 3
    assert result.tokens[0].to_dict(reveal=True)["customer_name"] == hd.HOSTILE_NAME


# -- JSON too deep ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["nested_200", "gzip_nested"])
def test_deeply_nested_signed_answer_is_malformed_not_a_recursion_error(
    hostile: Callable[[str], HostileDoku], case: str
) -> None:
    outcome = call(make_client(hostile(case)))
    exc = failed(outcome, errors.MalformedResponseError, "malformed_response")
    assert exc.message == "response JSON is nested deeper than 64 levels"
    assert exc.status == 200
    assert not exc.retryable


@pytest.mark.parametrize(
    ("case", "cls", "code", "reason"),
    [
        ("nested_500", errors.ServerError, "server_error", "Internal Server Error"),
        ("nested_400", errors.BadRequestError, "bad_request", "Bad Request"),
    ],
)
def test_deeply_nested_error_body_keeps_the_status_error(
    hostile: Callable[[str], HostileDoku],
    case: str, cls: type[errors.DokuError], code: str, reason: str,
) -> None:
    server = hostile(case)
    outcome = call(make_client(server, retry=RetryPolicy(2)))
    exc = failed(outcome, cls, code)
    assert exc.message == reason  # no DOKU message can be read from it
    assert exc.doku_message is None
    assert exc.body is not None
    assert len(exc.body) <= 300
    assert exc.attempts == len(server.seen) == (2 if exc.retryable else 1)


# -- size caps ----------------------------------------------------------------------------------
def test_announced_huge_body_is_refused_before_reading(
    hostile: Callable[[str], HostileDoku],
) -> None:
    server = hostile("huge_body")
    outcome = call(make_client(server, retry=RetryPolicy(3)), trace=True)
    exc = failed(outcome, errors.ResponseTooLargeError, "response_too_large")
    assert exc.message == f"Content-Length 500,000,000 bytes is over the {TEN_MIB}-byte limit"
    assert exc.status == 200
    assert not exc.retryable
    assert len(server.seen) == 1
    assert outcome.peak < MAX_PEAK_BYTES


@pytest.mark.parametrize("case", ["huge_body_unsized", "huge_body_chunked"])
def test_unannounced_huge_body_is_cut_at_the_cap(
    hostile: Callable[[str], HostileDoku], case: str
) -> None:
    server = hostile(case)
    outcome = call(make_client(server), trace=True)
    exc = failed(outcome, errors.ResponseTooLargeError, "response_too_large")
    assert exc.message == f"response body is over the {TEN_MIB}-byte limit"
    assert outcome.peak < MAX_PEAK_BYTES
    assert server.bytes_sent < hd.HUGE_BODY_BYTES // 10  # the client hung up early


def test_gzip_bomb_is_cut_after_decompressing_the_cap(
    hostile: Callable[[str], HostileDoku],
) -> None:
    server = hostile("gzip_bomb")
    outcome = call(make_client(server), trace=True)
    exc = failed(outcome, errors.ResponseTooLargeError, "response_too_large")
    assert exc.message == f"response body decompresses to over the {TEN_MIB}-byte limit"
    assert exc.status == 200
    assert outcome.peak < MAX_PEAK_BYTES


def test_caps_are_configurable(hostile: Callable[[str], HostileDoku]) -> None:
    outcome = call(make_client(hostile("gzip_guide"), max_decoded_bytes=100))
    exc = failed(outcome, errors.ResponseTooLargeError, "response_too_large")
    assert exc.message == "response body decompresses to over the 100-byte limit"
    outcome = call(make_client(hostile("guide"), max_body_bytes=100))
    exc = failed(outcome, errors.ResponseTooLargeError, "response_too_large")
    assert exc.message.endswith("bytes is over the 100-byte limit")


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
    seen: list[tuple[str, int]] = []
    real = socket.socket.connect

    def counting(sock: socket.socket, address: tuple[str, int]) -> None:
        seen.append(address)
        real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counting)
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


def test_every_case_is_covered() -> None:
    covered = {
        "guide", "gzip_guide", "wrong_customer", "wrong_type", "long_token_id",
        "empty_token_id", "empty_issuer", "blank_masked_card", "empty_type",
        "empty_customer_id", "duplicates", "unknown_type", "escapes_in_name", "nested_200",
        "gzip_nested", "nested_500", "nested_400", "huge_body", "huge_body_unsized",
        "huge_body_chunked", "gzip_bomb", "drip_body", "drip_headers", "huge_retry_after",
        "huge_reason",
    }
    assert covered == set(hd.CASES)

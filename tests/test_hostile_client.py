"""TokenClient against a hostile DOKU (tests/hostile_doku.py): every attack ends in one
typed DokuError with a stable code, for that one customer, in bounded time and memory.

Time bounds are computed from the configured deadline (generous, never micro-benchmarks);
memory is the tracemalloc peak of the whole process during the call (the loopback
server runs in this process too and is counted).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from doku import errors
from doku.client.retry import RetryPolicy
from doku.models import DIRECT_DEBIT, Token
from tests import hostile_doku as hd
from tests.client_kinds import run_with_each_client
from tests.hostile_doku import HostileDoku
from tests.hostile_support import (
    GUIDE_VALUES,
    MAX_PEAK_BYTES,
    TEN_MIB,
    call,
    failed,
    make_client,
)

# Every test runs with the requests client and with the lean bulk transport.
each_client = run_with_each_client("tests.hostile_support")


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

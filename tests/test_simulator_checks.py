"""doku.simulator.checks: the simulator's decisions as pure functions, exact values."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest

from doku.client.signing import format_timestamp, sign_request, utc_now
from doku.settings import TOKENS_PATH
from doku.simulator import SimulatorConfig
from doku.simulator.checks import answer, check_request
from doku.simulator.world import tokens_for
from tests.guide import GUIDE_TOKENS

CFG = SimulatorConfig(client_id="MCH-T", secret_key="SK-T")
BODY = b'{"customer":{"id":"CUST-0001"}}'


def _signed(body: bytes = BODY, *, stamp: str | None = None, key: str = "SK-T") -> dict[str, str]:
    stamp = stamp or format_timestamp(utc_now())
    return {
        "client_id": "MCH-T",
        "request_id": "rid-1",
        "stamp": stamp,
        "signature": sign_request(key, "MCH-T", "rid-1", stamp, TOKENS_PATH, body),
    }


def test_a_correctly_signed_request_passes() -> None:
    assert check_request(CFG, body=BODY, **_signed()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"client_id": ""}, (401, "INVALID_CLIENT_ID", "Client-Id missing")),
        ({"client_id": "MCH-X"}, (401, "INVALID_CLIENT_ID", "unknown Client-Id")),
        ({"request_id": ""}, (400, "INVALID_HEADER", "Request-Id missing")),
        ({"request_id": "r" * 129}, (400, "INVALID_HEADER", "Request-Id longer than 128 characters")),
        ({"stamp": None}, (400, "INVALID_HEADER", "Request-Timestamp missing")),
        ({"stamp": "2020-08-11 08:45:42"}, (400, "INVALID_HEADER",
                                            "Request-Timestamp must look like 2020-08-11T08:45:42Z (UTC)")),
        ({"signature": None}, (401, "INVALID_SIGNATURE", "Signature missing")),
        ({"signature": "HMACSHA256=AAAA"}, (401, "INVALID_SIGNATURE", "invalid signature")),
    ],
)
def test_refusals_in_dokus_order(change: dict[str, str | None], expected: tuple[int, str, str]) -> None:
    request = {**_signed(), **change}
    refusal = check_request(CFG, body=BODY, **request)  # type: ignore[arg-type]
    assert refusal is not None
    assert (int(refusal[0]), refusal[1], refusal[2]) == expected


def test_a_stale_timestamp_is_an_authentication_failure() -> None:
    old = format_timestamp(utc_now() - timedelta(seconds=301))
    refusal = check_request(CFG, body=BODY, **_signed(stamp=old))  # type: ignore[arg-type]
    assert refusal == (
        HTTPStatus.UNAUTHORIZED, "INVALID_TIMESTAMP",
        "Request-Timestamp is more than 300 s from server time",
    )


def test_a_signature_over_other_bytes_is_refused() -> None:
    # REQ-03 vs REQ-04: the same JSON serialised differently is another signature
    spaced = b'{"customer": {"id": "CUST-0001"}}'
    refusal = check_request(CFG, body=spaced, **_signed())  # type: ignore[arg-type]
    assert refusal == (HTTPStatus.UNAUTHORIZED, "INVALID_SIGNATURE", "invalid signature")


def test_answer_gives_the_guides_tokens_and_filters_by_type() -> None:
    status, tokens = answer(CFG, BODY)
    assert status == HTTPStatus.OK
    assert tokens == GUIDE_TOKENS
    status, cards = answer(CFG, b'{"customer":{"id":"CUST-0001"},"token_data":{"type":"CREDIT_CARD"}}')
    assert status == HTTPStatus.OK
    assert cards == [t for t in GUIDE_TOKENS if "credit_card" in t]
    status, other = answer(CFG, b'{"customer":{"id":"P000042"}}')
    assert other == tokens_for("P000042", CFG.seed, CFG.epoch)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "body is not valid JSON"),
        (b"\xff", "body is not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (b"{}", "customer.id is mandatory"),
        (b'{"customer":{"id":7}}', "customer.id must be a string"),
        (b'{"customer":{"id":""}}', "customer.id is empty"),
        (b'{"customer":{"id":"C1"},"token_data":[]}', "token_data must be an object"),
        (b'{"customer":{"id":"C1"},"token_data":{"type":"WALLET"}}',
         "token_data.type must be DIRECT_DEBIT or CREDIT_CARD"),
    ],
)
def test_bad_bodies_answer_400_with_dokus_error_shape(body: bytes, message: str) -> None:
    status, value = answer(CFG, body)
    assert status == HTTPStatus.BAD_REQUEST
    assert value == {"error": {"code": "INVALID_REQUEST", "message": message}}

"""The tokens request body written directly is, byte for byte, `encode_body` of the
payload (compact JSON, ensure_ascii=False, UTF-8), and fails where it fails."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from doku.client.tokens import encode_body, tokens_request_body


def by_encoder(customer_id: str, token_type: str | None) -> bytes | str:
    payload: dict[str, Any] = {"customer": {"id": customer_id}}
    if token_type is not None:
        payload["token_data"] = {"type": token_type}
    try:
        return encode_body(payload)
    except UnicodeEncodeError as exc:
        return f"UnicodeEncodeError {exc.start}"


def written(customer_id: str, token_type: str | None) -> bytes | str:
    try:
        return tokens_request_body(customer_id, token_type)
    except UnicodeEncodeError as exc:
        return f"UnicodeEncodeError {exc.start}"


def test_the_guides_request() -> None:
    assert tokens_request_body("CUST-0001") == b'{"customer":{"id":"CUST-0001"}}'
    assert tokens_request_body("CUST-0001", "CREDIT_CARD") == (
        b'{"customer":{"id":"CUST-0001"},"token_data":{"type":"CREDIT_CARD"}}')


@given(customer_id=st.text(), token_type=st.none() | st.text())
@example(customer_id='a"b\\c\n\x00\x7f\u2028é😀', token_type=None)
@example(customer_id="\ud800", token_type=None)  # a lone surrogate: not UTF-8
@example(customer_id="x", token_type="\udfff")
def test_written_directly_it_is_what_the_encoder_writes(customer_id: str,
                                                        token_type: str | None) -> None:
    assert written(customer_id, token_type) == by_encoder(customer_id, token_type)


@pytest.mark.parametrize("customer_id", ["", " ", "CUST 1", "ü" * 50])
def test_blank_and_wide_ids(customer_id: str) -> None:
    assert written(customer_id, "DIRECT_DEBIT") == by_encoder(customer_id, "DIRECT_DEBIT")

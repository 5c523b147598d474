"""Status -> error mapping, DOKU's error text, and transport failures, as pure functions."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from doku import errors
from doku.client import status, tokens

RID = "rid-1"


def response(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, reason: str = ""
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body
    resp.headers.update(headers or {})
    resp.reason = reason
    return resp


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, errors.BadRequestError, "bad_request"),
        (401, errors.AuthenticationError, "authentication"),
        (403, errors.AuthenticationError, "authentication"),
        (404, errors.ClientHttpError, "client_http"),
        (405, errors.ClientHttpError, "client_http"),
        (409, errors.ConflictError, "conflict"),
        (418, errors.ClientHttpError, "client_http"),
        (422, errors.ClientHttpError, "client_http"),
        (429, errors.RateLimitedError, "rate_limited"),
        (500, errors.ServerError, "server_error"),
        (502, errors.ServerError, "server_error"),
        (503, errors.ServerError, "server_error"),
        (599, errors.ServerError, "server_error"),
        (301, errors.MalformedResponseError, "malformed_response"),
        (302, errors.MalformedResponseError, "malformed_response"),
        (304, errors.MalformedResponseError, "malformed_response"),
        (307, errors.MalformedResponseError, "malformed_response"),
    ],
)
def test_status_maps_to_one_error_class(
    status: int, cls: type[errors.DokuError], code: str
) -> None:
    err = tokens.error_for_status(response(status, b'{"error":{"message":"m"}}'), RID)
    assert type(err) is cls
    assert err.code == code
    assert (err.status, err.request_id) == (status, RID)
    assert err.retryable is (status == 429 or status >= 500)


def test_error_fields() -> None:
    body = b'{"error": {"code": "X", "message": "customer not found"}}'
    err = tokens.error_for_status(response(404, body, reason="Not Found"), RID)
    assert err.message == "customer not found"
    assert err.doku_message == "customer not found"
    assert err.body == body.decode()
    assert str(err) == "request rejected (404): customer not found"


def test_without_doku_text_the_reason_or_status_is_used() -> None:
    assert tokens.error_for_status(response(502, b"<html>", reason="Bad Gateway"), RID).message \
        == "Bad Gateway"
    err = tokens.error_for_status(response(502, b""), RID)
    assert (err.message, err.doku_message) == ("HTTP 502", None)


def test_long_bodies_are_cut() -> None:
    err = tokens.error_for_status(response(500, b"x" * 5000), RID)
    assert err.body == "x" * 300
    long_msg = b'{"message": "' + b"m" * 1000 + b'"}'
    assert tokens.error_for_status(response(500, long_msg), RID).message == "m" * 300


@pytest.mark.parametrize(
    ("retry_after", "seconds"), [("3", 3.0), ("0", 0.0), ("soon", None), (None, None)]
)
def test_429_carries_retry_after(retry_after: str | None, seconds: float | None) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    err = tokens.error_for_status(response(429, b"", headers), RID)
    assert isinstance(err, errors.RateLimitedError)
    assert err.retry_after == seconds


@pytest.mark.parametrize(
    ("location", "text"),
    [
        ("/elsewhere", "redirect to '/elsewhere' not followed (check DOKU_BASE_URL)"),
        (None, "redirect to 'nowhere' not followed (check DOKU_BASE_URL)"),
    ],
)
def test_redirect_error_names_the_location(location: str | None, text: str) -> None:
    headers = {"Location": location} if location else {}
    err = tokens.error_for_status(response(302, b"", headers), RID)
    assert err.message == text
    assert not err.retryable


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "nested"}}', "nested"),
        (b'{"error": "flat"}', "flat"),
        (b'{"message": "bare"}', "bare"),
        (b'{"error": {"message": 5}, "message": "fallback"}', "fallback"),
        (b'{"error": {"code": "X"}}', None),
        (b'{"error": 5}', None),
        (b'["a list"]', None),
        (b"not json", None),
        (b"\xff\xfe\x00", None),
        (b"", None),
        (b"[" * 100_000, None),  # too deep to parse: no crash
    ],
)
def test_doku_message(body: bytes, message: str | None) -> None:
    assert status.doku_message(body) == message


@given(st.binary(max_size=200))
def test_doku_message_never_raises(body: bytes) -> None:
    text = status.doku_message(body)
    assert text is None or len(text) <= 300


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (requests.exceptions.ReadTimeout(), "timed out (ReadTimeout)"),
        (requests.exceptions.ConnectTimeout(), "timed out (ConnectTimeout)"),
        (requests.exceptions.ConnectionError(), "connection failed (ConnectionError)"),
        (requests.exceptions.ChunkedEncodingError(), "connection dropped mid-response"),
        (requests.exceptions.ContentDecodingError(), "request failed (ContentDecodingError)"),
        (requests.exceptions.InvalidURL(), "request failed (InvalidURL)"),
    ],
)
def test_transport_failures(exc: requests.exceptions.RequestException, text: str) -> None:
    err = status.transport_error(exc, RID)
    assert isinstance(err, errors.TransportError)
    assert (err.code, err.message, err.request_id, err.status) == ("transport", text, RID, None)
    assert err.retryable


def test_request_body_is_compact_utf8_json() -> None:
    assert tokens.tokens_request_body("CUST-1") == b'{"customer":{"id":"CUST-1"}}'
    assert tokens.tokens_request_body("Ä/é", "CREDIT_CARD") == (
        '{"customer":{"id":"Ä/é"},"token_data":{"type":"CREDIT_CARD"}}'.encode()
    )
    assert tokens.encode_body({"a": [1, None, True]}) == b'{"a":[1,null,true]}'

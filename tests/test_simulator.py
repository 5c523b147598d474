"""The simulator over real loopback HTTP: validation order, replays, signatures, faults.

Requests are built here with plain `requests` + doku.client.signing (not doku.client.tokens), so
these tests pin the wire behaviour independently of the client.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from doku.client.signing import (
    format_timestamp,
    parse_timestamp,
    sign_request,
    utc_now,
    verify_response,
)
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import (
    RunningSimulator,
)
from doku.simulator.world import tokens_for
from tests.guide import GUIDE_TOKENS
from tests.simulator_fixtures import each_front_end

# Every test here runs on both front ends (threads and event loop): same answers.
simulator_front = each_front_end()

MakeSim = Callable[..., RunningSimulator]

_UNSET: Any = object()


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def call(
    url: str,
    payload: Any = None,
    *,
    body: bytes | None = None,
    signed_body: bytes | None = None,
    client_id: str | None = SIMULATOR_CLIENT_ID,
    secret: str = SIMULATOR_SECRET_KEY,
    request_id: str | None = _UNSET,
    stamp: str | None = _UNSET,
    signature: str | None = _UNSET,
    path: str = TOKENS_PATH,
    method: str = "POST",
    session: requests.Session | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """One request; `None` for a header leaves it out, `signed_body` signs other bytes."""
    if body is None:
        body = compact({"customer": {"id": "CUST-0001"}} if payload is None else payload)
    if request_id is _UNSET:
        request_id = str(uuid.uuid4())
    if stamp is _UNSET:
        stamp = format_timestamp(utc_now())
    if signature is _UNSET:
        signature = sign_request(
            secret,
            client_id or "",
            request_id or "",
            stamp or "",
            TOKENS_PATH,
            body if signed_body is None else signed_body,
        )
    headers = {"Content-Type": "application/json"}
    for name, value in (
        ("Client-Id", client_id),
        ("Request-Id", request_id),
        ("Request-Timestamp", stamp),
        ("Signature", signature),
    ):
        if value is not None:
            headers[name] = value
    sender = session or requests
    return sender.request(method, url + path, data=body, headers=headers, timeout=timeout)


def response_verifies(resp: requests.Response, path: str = TOKENS_PATH) -> bool:
    return verify_response(
        SIMULATOR_SECRET_KEY,
        resp.headers["Client-Id"],
        resp.headers["Request-Id"],
        resp.headers["Response-Timestamp"],
        path,
        resp.content,
        resp.headers["Signature"],
    )


def assert_error(resp: requests.Response, status: int, path: str = TOKENS_PATH) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    payload = resp.json()
    assert set(payload) == {"error"}
    assert isinstance(payload["error"]["code"], str)
    assert payload["error"]["message"]
    assert response_verifies(resp, path)
    message: str = payload["error"]["message"]
    return message


def assert_binomial(count: int, n: int, p: float) -> None:
    """`count` within 5 standard deviations of Binomial(n, p)'s mean."""
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= 5 * sigma + 1, (count, n, p)


# --- happy path ------------------------------------------------------------------


def test_guide_customer_answer_is_the_guides_three_tokens(simulator: RunningSimulator) -> None:
    resp = call(simulator.url)
    assert resp.status_code == 200
    assert resp.json() == GUIDE_TOKENS
    assert resp.content == compact(GUIDE_TOKENS)  # compact serialisation, same order
    assert response_verifies(resp)


def test_success_headers_echo_the_request(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, request_id="req-echo-1")
    assert resp.headers["Client-Id"] == SIMULATOR_CLIENT_ID
    assert resp.headers["Request-Id"] == "req-echo-1"
    assert resp.headers["Content-Type"] == "application/json"
    moment = parse_timestamp(resp.headers["Response-Timestamp"])
    assert abs((utc_now() - moment).total_seconds()) < 60


@pytest.mark.parametrize(
    ("token_type", "card_field", "count"),
    [("DIRECT_DEBIT", "debit_card", 2), ("CREDIT_CARD", "credit_card", 1)],
)
def test_type_filter(
    simulator: RunningSimulator, token_type: str, card_field: str, count: int
) -> None:
    resp = call(
        simulator.url, {"customer": {"id": "CUST-0001"}, "token_data": {"type": token_type}}
    )
    tokens = resp.json()
    assert len(tokens) == count
    assert all(t["token_data"]["type"] == token_type and card_field in t for t in tokens)
    assert tokens == [t for t in GUIDE_TOKENS if t["token_data"]["type"] == token_type]


def test_other_customers_match_the_world(make_simulator: MakeSim) -> None:
    sim = make_simulator(seed=7, epoch=2)
    for cid in ("CUST-10001", "CUST-10002", "pelanggan-ä/01", "x"):
        resp = call(sim.url, {"customer": {"id": cid}})
        assert resp.status_code == 200
        assert resp.content == compact(tokens_for(cid, seed=7, epoch=2))


def test_null_token_type_means_all(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, {"customer": {"id": "CUST-0001"}, "token_data": {"type": None}})
    assert resp.json() == GUIDE_TOKENS


def test_customer_id_of_50_chars_and_request_id_of_128_are_accepted(
    simulator: RunningSimulator,
) -> None:
    resp = call(simulator.url, {"customer": {"id": "C" * 50}}, request_id="r" * 128)
    assert resp.status_code == 200


# --- rejections, in check order --------------------------------------------------


def test_unknown_client_id_is_401(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, client_id="MCH-9999-0000")
    assert "Client-Id" in assert_error(resp, 401)
    assert resp.headers["Client-Id"] == "MCH-9999-0000"


def test_missing_client_id_is_401(simulator: RunningSimulator) -> None:
    assert_error(call(simulator.url, client_id=None), 401)


def test_missing_request_id_is_400(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, request_id=None)
    assert "Request-Id" in assert_error(resp, 400)
    assert resp.headers["Request-Id"] == ""


def test_request_id_of_129_chars_is_400(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, request_id="r" * 129)
    assert "128" in assert_error(resp, 400)
    assert resp.headers["Request-Id"] == "r" * 129


def test_missing_timestamp_is_400(simulator: RunningSimulator) -> None:
    assert_error(call(simulator.url, stamp=None), 400)


@pytest.mark.parametrize(
    "stamp", ["2020-08-11 08:45:42", "2020-08-11T08:45:42+07:00", "2020-08-11T08:45:42.123Z"]
)
def test_bad_timestamp_format_is_400(simulator: RunningSimulator, stamp: str) -> None:
    assert "Request-Timestamp" in assert_error(call(simulator.url, stamp=stamp), 400)


# A future stamp loses up to 1 s to second precision and more to a loaded machine before
# the server looks at it: 303 s stays outside the 300 s window whatever the timing.
@pytest.mark.parametrize("offset_s", [-301, 303])
def test_stale_or_future_timestamp_is_401(simulator: RunningSimulator, offset_s: int) -> None:
    stamp = format_timestamp(utc_now() + timedelta(seconds=offset_s))
    assert "Request-Timestamp" in assert_error(call(simulator.url, stamp=stamp), 401)


def test_timestamp_within_skew_is_accepted(make_simulator: MakeSim) -> None:
    sim = make_simulator(max_clock_skew_s=600)
    stamp = format_timestamp(utc_now() - timedelta(seconds=400))
    assert call(sim.url, stamp=stamp).status_code == 200


def test_wrong_signature_is_401(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, secret="SK-not-the-key")
    assert "signature" in assert_error(resp, 401).lower()


def test_missing_signature_is_401(simulator: RunningSimulator) -> None:
    assert_error(call(simulator.url, signature=None), 401)


def test_signature_over_reserialised_body_is_rejected(simulator: RunningSimulator) -> None:
    # Signed the spaced serialisation, sent the compact one: same JSON, other bytes.
    spaced = json.dumps({"customer": {"id": "X"}}).encode()
    assert b" " in spaced
    resp = call(simulator.url, body=compact({"customer": {"id": "X"}}), signed_body=spaced)
    assert_error(resp, 401)


@pytest.mark.parametrize("body", [b"not json", b'{"customer": ', b"\xff\xfe", b""])
def test_non_json_body_is_400(simulator: RunningSimulator, body: bytes) -> None:
    assert "JSON" in assert_error(call(simulator.url, body=body), 400)


@pytest.mark.parametrize("payload", [[{"customer": {"id": "CUST-0001"}}], "CUST-0001", 7, None])
def test_json_that_is_not_an_object_is_400(simulator: RunningSimulator, payload: Any) -> None:
    assert_error(call(simulator.url, body=compact(payload)), 400)


@pytest.mark.parametrize("payload", [{}, {"customer": {}}, {"customer": "CUST-0001"}])
def test_missing_customer_id_is_400(simulator: RunningSimulator, payload: Any) -> None:
    assert "customer.id" in assert_error(call(simulator.url, payload), 400)


@pytest.mark.parametrize("value", [17, None, ["CUST-0001"], ""])
def test_customer_id_not_a_non_empty_string_is_400(simulator: RunningSimulator, value: Any) -> None:
    assert_error(call(simulator.url, {"customer": {"id": value}}), 400)


def test_customer_id_of_51_chars_is_400(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, {"customer": {"id": "C" * 51}})
    assert "50" in assert_error(resp, 400)


@pytest.mark.parametrize("token_data", [{"type": "DEBIT"}, {"type": "direct_debit"}, "CARD"])
def test_bad_token_type_is_400(simulator: RunningSimulator, token_data: Any) -> None:
    resp = call(simulator.url, {"customer": {"id": "CUST-0001"}, "token_data": token_data})
    assert "token_data" in assert_error(resp, 400)


def test_unknown_path_is_404(simulator: RunningSimulator) -> None:
    resp = call(simulator.url, path="/tokenization/v2/tokens")
    assert_error(resp, 404, path="/tokenization/v2/tokens")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "BREW"])
def test_other_methods_are_405(simulator: RunningSimulator, method: str) -> None:
    resp = call(simulator.url, method=method)
    assert_error(resp, 405)
    assert resp.headers["Allow"] == "POST"


def test_protocol_garbage_gets_a_signed_json_error(simulator: RunningSimulator) -> None:
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as sock:
        sock.sendall(b"HELLO THERE GENERAL\r\n\r\n")
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"]["message"]
    assert b"Signature: HMACSHA256=" in head


# --- replays ---------------------------------------------------------------------


def test_replay_with_same_body_is_409_with_the_earlier_body(simulator: RunningSimulator) -> None:
    kwargs: dict[str, Any] = {"request_id": "replay-1", "body": compact({"customer": {"id": "A"}})}
    first = call(simulator.url, **kwargs)
    again = call(simulator.url, **kwargs)  # re-signed with a fresh timestamp, same id
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.content == first.content
    assert response_verifies(again)
    assert simulator.stats["replay"] == 1


def test_replay_of_a_rejected_body_repeats_the_400(simulator: RunningSimulator) -> None:
    first = call(simulator.url, {"customer": {"id": ""}}, request_id="replay-400")
    again = call(simulator.url, {"customer": {"id": ""}}, request_id="replay-400")
    assert (first.status_code, again.status_code) == (400, 409)
    assert again.content == first.content


def test_reused_request_id_with_another_body_is_409(simulator: RunningSimulator) -> None:
    assert call(simulator.url, {"customer": {"id": "A"}}, request_id="reuse").status_code == 200
    resp = call(simulator.url, {"customer": {"id": "B"}}, request_id="reuse")
    assert assert_error(resp, 409) == "Request-Id reused with a different body"


def test_unauthenticated_requests_do_not_consume_a_request_id(simulator: RunningSimulator) -> None:
    assert call(simulator.url, request_id="rid-x", secret="wrong").status_code == 401
    assert call(simulator.url, request_id="rid-x").status_code == 200


def test_request_ids_are_remembered_in_a_bounded_lru(make_simulator: MakeSim) -> None:
    sim = make_simulator(replay_capacity=3)
    for rid in ("a", "b", "c"):
        assert call(sim.url, request_id=rid).status_code == 200
    assert call(sim.url, request_id="a").status_code == 409  # refreshes "a"
    assert call(sim.url, request_id="d").status_code == 200  # evicts "b"
    assert call(sim.url, request_id="b").status_code == 200
    assert call(sim.url, request_id="a").status_code == 409

"""The simulator over real loopback HTTP: validation order, replays, signatures, faults.

Requests are built here with plain `requests` + doku.client.signing (not doku.client.tokens), so
these tests pin the wire behaviour independently of the client.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    FAULTS,
    RunningSimulator,
    SimulatorConfig,
    config_to_argv,
    failure_status,
    planned_fault,
)
from doku.simulator.world import tokens_for
from tests.guide import GUIDE_TOKENS
from tests.waiting import wait_until

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


@pytest.mark.parametrize("offset_s", [-301, 301])
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


# --- faults ----------------------------------------------------------------------


def send_many(
    url: str, n: int, prefix: str, *, timeout: float = 10.0, workers: int = 8
) -> list[requests.Response | Exception]:
    """n valid requests (Request-Ids prefix-0..n-1) over keep-alive sessions."""
    local = threading.local()

    def one(i: int) -> requests.Response | Exception:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        try:
            return call(url, request_id=f"{prefix}-{i}", session=local.session, timeout=timeout)
        except requests.RequestException as exc:
            return exc

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


def statuses(results: list[requests.Response | Exception]) -> Counter[Any]:
    return Counter(r.status_code if isinstance(r, requests.Response) else type(r) for r in results)


def test_planned_faults_hold_their_rates_and_are_seeded() -> None:
    config = SimulatorConfig(
        seed=5,
        drop_rate=0.05,
        hang_rate=0.05,
        fail_rate=0.1,
        rate_429=0.1,
        malformed_rate=0.1,
        bad_signature_rate=0.1,
    )
    n = 20_000
    ids = [f"id-{i}" for i in range(n)]
    plan = [planned_fault(config, rid) for rid in ids]
    counts = Counter(plan)
    for name, rate in zip(FAULTS, config.fault_rates().values(), strict=True):
        assert_binomial(counts[name], n, rate)
    assert_binomial(counts[None], n, 0.5)
    assert plan == [planned_fault(config, rid) for rid in ids]  # reproducible
    other = SimulatorConfig(**{**config.__dict__, "seed": 6})
    assert plan != [planned_fault(other, rid) for rid in ids]
    fails = Counter(failure_status(config, rid) for rid in ids)
    for status in (500, 502, 503):
        assert_binomial(fails[status], n, 1 / 3)


def test_fail_rate_gives_5xx_at_that_rate(make_simulator: MakeSim) -> None:
    sim = make_simulator(fail_rate=0.2, seed=1)
    got = statuses(send_many(sim.url, 400, "fail"))
    failed = got[500] + got[502] + got[503]
    assert_binomial(failed, 400, 0.2)
    assert got[500]
    assert got[502]
    assert got[503]
    assert got[200] == 400 - failed
    stats = sim.stats.snapshot()
    assert stats["fail"] == failed
    assert stats["fail_500"] + stats["fail_502"] + stats["fail_503"] == failed


def test_injected_5xx_is_a_signed_json_error(make_simulator: MakeSim) -> None:
    sim = make_simulator(fail_rate=1.0)
    resp = call(sim.url)
    assert resp.status_code in (500, 502, 503)
    assert_error(resp, resp.status_code)


def test_rate_429_answers_429_with_retry_after(make_simulator: MakeSim) -> None:
    sim = make_simulator(rate_429=0.2, retry_after_s=7, seed=2)
    results = send_many(sim.url, 400, "r429")
    limited = [r for r in results if isinstance(r, requests.Response) and r.status_code == 429]
    assert_binomial(len(limited), 400, 0.2)
    assert statuses(results)[200] == 400 - len(limited)
    assert all(r.headers["Retry-After"] == "7" for r in limited)
    assert_error(limited[0], 429)
    assert sim.stats["rate_429"] == len(limited)


def test_malformed_rate_gives_signed_invalid_json(make_simulator: MakeSim) -> None:
    sim = make_simulator(malformed_rate=0.2, seed=3)
    results = send_many(sim.url, 400, "malformed")
    assert statuses(results)[200] == 400
    bad = []
    for r in results:
        assert isinstance(r, requests.Response)
        assert response_verifies(r)  # correctly signed: the problem is the JSON itself
        try:
            json.loads(r.content)
        except ValueError:
            bad.append(r)
    assert_binomial(len(bad), 400, 0.2)
    assert sim.stats["malformed"] == len(bad)


def test_bad_signature_rate_gives_200_that_fails_verification(make_simulator: MakeSim) -> None:
    sim = make_simulator(bad_signature_rate=0.2, seed=4)
    results = send_many(sim.url, 400, "badsig")
    assert statuses(results)[200] == 400
    unverified = [
        r for r in results if isinstance(r, requests.Response) and not response_verifies(r)
    ]
    assert_binomial(len(unverified), 400, 0.2)
    assert all(r.json() == GUIDE_TOKENS for r in unverified)
    assert sim.stats["bad_signature"] == len(unverified)


def test_drop_rate_closes_connections_without_answer(make_simulator: MakeSim) -> None:
    sim = make_simulator(drop_rate=0.2, seed=5)
    got = statuses(send_many(sim.url, 400, "drop"))
    dropped = got[requests.ConnectionError]
    assert_binomial(dropped, 400, 0.2)
    assert got[200] == 400 - dropped
    assert sim.stats["drop"] == dropped


def test_hang_rate_leaves_requests_unanswered(make_simulator: MakeSim) -> None:
    sim = make_simulator(hang_rate=0.2, hang_s=5.0, seed=6)
    got = statuses(send_many(sim.url, 150, "hang", timeout=0.3, workers=16))
    hung = got[requests.ReadTimeout]
    assert_binomial(hung, 150, 0.2)
    assert got[200] == 150 - hung
    assert sim.stats["hang"] == hung


def test_hang_ends_by_closing_without_an_answer(make_simulator: MakeSim) -> None:
    sim = make_simulator(hang_rate=1.0, hang_s=0.2)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        call(sim.url, timeout=10)
    assert time.monotonic() - started >= 0.15


def test_stop_does_not_wait_for_hung_connections(make_simulator: MakeSim) -> None:
    sim = make_simulator(hang_rate=1.0, hang_s=60.0)
    errors: list[Exception] = []

    def hung_client() -> None:
        try:
            call(sim.url, timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hung_client) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: sim.stats["hang"] >= 4, 10, "4 hung requests")
    assert sim.stats["hang"] == 4
    started = time.monotonic()
    sim.stop()
    for t in threads:
        t.join(10)
    assert time.monotonic() - started < 10  # far below the 60 s hang
    assert len(errors) == 4


def test_stop_closes_idle_keep_alive_connections(simulator: RunningSimulator) -> None:
    session = requests.Session()
    assert call(simulator.url, session=session).status_code == 200
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        call(simulator.url, session=session, timeout=5)


def test_faults_spare_rejected_requests(make_simulator: MakeSim) -> None:
    sim = make_simulator(fail_rate=1.0)
    assert_error(call(sim.url, secret="wrong"), 401)
    assert_error(call(sim.url, {"customer": {"id": ""}}), 400)
    assert call(sim.url).status_code >= 500


def test_unprocessed_request_ids_are_not_remembered(make_simulator: MakeSim) -> None:
    config = SimulatorConfig(fail_rate=0.5, seed=9)
    rid = next(r for r in (f"x{i}" for i in range(100)) if planned_fault(config, r) == "fail")
    sim = make_simulator(fail_rate=0.5, seed=9)
    assert call(sim.url, request_id=rid).status_code >= 500
    assert call(sim.url, request_id=rid).status_code >= 500  # not 409: it was forgotten


def test_same_seed_and_ids_reproduce_the_run(make_simulator: MakeSim) -> None:
    rates = {"fail_rate": 0.2, "rate_429": 0.1, "malformed_rate": 0.1}

    def run(seed: int) -> list[tuple[int, int]]:
        results = send_many(make_simulator(seed=seed, **rates).url, 60, "same")
        return [
            (r.status_code, len(r.content)) for r in results if isinstance(r, requests.Response)
        ]

    first = run(11)
    assert first == run(11)
    assert first != run(12)


def test_rate_limit_answers_429_beyond_the_rate(make_simulator: MakeSim) -> None:
    sim = make_simulator(rate_limit_rps=20)
    session = requests.Session()
    started = time.monotonic()
    results = [call(sim.url, session=session) for _ in range(120)]
    elapsed = time.monotonic() - started
    ok = sum(r.status_code == 200 for r in results)
    limited = [r for r in results if r.status_code == 429]
    assert ok + len(limited) == 120
    assert ok >= 20  # the one-second burst
    assert ok <= 20 + 20 * elapsed + 1  # never more than the bucket can give
    assert limited
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert sim.stats["rate_limited"] == len(limited)


def test_latency_delays_every_request(make_simulator: MakeSim) -> None:
    sim = make_simulator(latency_ms=120)
    session = requests.Session()
    variants: list[dict[str, Any]] = [{}, {"secret": "wrong"}, {"path": "/nope"}]
    for kwargs in variants:
        started = time.monotonic()
        call(sim.url, session=session, **kwargs)
        assert time.monotonic() - started >= 0.1


def test_jitter_keeps_delays_positive(make_simulator: MakeSim) -> None:
    sim = make_simulator(latency_ms=60, jitter_ms=40)
    session = requests.Session()
    delays = []
    for _ in range(8):
        started = time.monotonic()
        assert call(sim.url, session=session).status_code == 200
        delays.append(time.monotonic() - started)
    assert min(delays) >= 0.015


def test_stats_count_every_request_under_concurrency(simulator: RunningSimulator) -> None:
    got = statuses(send_many(simulator.url, 200, "stats", workers=16))
    assert got == Counter({200: 200})
    stats = simulator.stats.snapshot()
    assert stats["requests"] == 200
    assert stats["status_200"] == 200


# --- configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"fail_rate": 1.5}, "fail_rate must be within [0, 1], not 1.5"),
        ({"drop_rate": -0.1}, "drop_rate must be within [0, 1], not -0.1"),
        ({"fail_rate": 0.6, "hang_rate": 0.6}, "the fault rates together must not exceed 1"),
        ({"latency_ms": -1}, "latency_ms must be >= 0"),
        ({"rate_limit_rps": 0}, "rate_limit_rps must be > 0"),
        ({"epoch": -1}, "epoch must be >= 0"),
        ({"secret_key": ""}, "secret_key must not be empty"),
    ],
)
def test_config_rejects_nonsense(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SimulatorConfig(**bad)


def test_config_repr_hides_the_secret_key() -> None:
    assert "SK-" not in repr(SimulatorConfig(secret_key="SK-very-secret"))


def test_config_to_argv_lists_only_changed_fields() -> None:
    assert config_to_argv(SimulatorConfig()) == []
    assert config_to_argv(SimulatorConfig(latency_ms=50, rate_limit_rps=10)) == [
        "--latency-ms",
        "50",
        "--rate-limit",
        "10",
    ]


def test_context_manager_and_url(simulator: RunningSimulator) -> None:
    assert simulator.url == f"http://127.0.0.1:{simulator.port}"
    assert simulator.config == SimulatorConfig()
    from doku.simulator import start_simulator

    with start_simulator() as sim:
        assert call(sim.url).status_code == 200
    with pytest.raises(requests.ConnectionError):
        call(sim.url, timeout=5)

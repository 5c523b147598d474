"""The simulator's seeded faults, rate limit, latency, shutdown and configuration."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from doku.simulator import (
    FAULTS,
    RunningSimulator,
    SimulatorConfig,
    config_to_argv,
    failure_status,
    planned_fault,
)
from tests.guide import GUIDE_TOKENS
from tests.simulator_fixtures import each_front_end
from tests.test_simulator import (
    MakeSim,
    assert_binomial,
    assert_error,
    call,
    response_verifies,
)
from tests.waiting import wait_until

# Every test here runs on both front ends (threads and event loop): same answers.
simulator_front = each_front_end()

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
    # The client waits 1.5 s: far below the 5 s hang, far above an answer on a loaded box.
    got = statuses(send_many(sim.url, 150, "hang", timeout=1.5, workers=16))
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

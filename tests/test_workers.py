"""`doku worker` processes on one PostgreSQL store: three share a 5,000-customer run
under one team rate limit, one is killed with SIGKILL mid-run, the others finish it.

The simulator (its own process, rate-limited like DOKU) logs every customer request:
no customer is ever fetched by two workers at once, the team never exceeds the limit
(and DOKU never answers 429), and the stored result equals what DOKU holds - the same
as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from doku.engine import queue
from doku.engine.store import Store
from doku.masking import fingerprint
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY
from doku.simulator.faults import SimulatorConfig
from doku.simulator.process import start_simulator_process, stop_simulator_process
from doku.simulator.world import tokens_for
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = [f"CUST-{i:05d}" for i in range(5000)]
RATE = 250.0  # the team's limit and DOKU's (requests/second)
LEASE_S = 3.0


def worker_env(url: str, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env.update({
        "DOKU_ENV": "simulator", "DOKU_BASE_URL": url, "DOKU_CLIENT_ID": SIMULATOR_CLIENT_ID,
        "DOKU_SECRET_KEY": SIMULATOR_SECRET_KEY, "DOKU_DATABASE_URL": database_url,
        "DOKU_RATE_LIMIT": f"{RATE:g}", "DOKU_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT),
    })
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "doku", "worker", "--concurrency", "8",
             "--lease-seconds", f"{LEASE_S:g}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))


def read_log(path: Path) -> list[tuple[str, float, float, int]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        customer, received, answered, status = line.split("\t")
        rows.append((customer.strip('"'), float(received), float(answered), int(status)))
    return rows


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "requests.tsv"
    url, proc = start_simulator_process(SimulatorConfig(
        latency_ms=20, rate_limit_rps=RATE, request_log=str(log)))
    try:
        yield url, log
    finally:
        stop_simulator_process(proc)


def test_three_workers_share_a_run_one_is_killed_and_the_result_is_whole(
    pg_store_url: str, simulator: tuple[str, Path], tmp_path: Path,
) -> None:
    url, request_log = simulator
    env = worker_env(url, pg_store_url, tmp_path)
    with Store(url=pg_store_url) as store:
        run = store.create_run(ids=CUSTOMERS, env="simulator", base_url=url,
                               client_id=SIMULATOR_CLIENT_ID, input_name="c.csv",
                               queued=True)
        assert queue.enqueue(store, run) is True
        logs = [tmp_path / f"worker{i}.log" for i in range(3)]
        workers = [start_worker(env, log) for log in logs]
        try:
            def progress() -> int:
                info = store.get_run(run)
                assert info is not None
                return info.fetched

            # All three join (the queue hands the run on), then one dies mid-run.
            wait_until(lambda: len(store.claim_holders().get(run, {})) == 3, 60,
                       "three workers holding customers")
            wait_until(lambda: progress() >= 1500, 120, "1,500 customers fetched")
            victim = workers[0]
            victim_ids = [w.id for w in store.workers() if w.pid == victim.pid]

            def victim_holds() -> int:
                return store.claim_holders().get(run, {}).get(victim_ids[0], 0)

            wait_until(victim_holds, 30, "the victim to hold customers")
            held = victim_holds()
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(10) == -signal.SIGKILL
            wait_until(lambda: store.get_run(run).status == "done", 180,  # type: ignore[union-attr]
                       "the other two to finish the run")
            for proc in workers[1:]:
                proc.send_signal(signal.SIGTERM)
            assert [proc.wait(30) for proc in workers[1:]] == [0, 0]
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        info = store.get_run(run)
        assert info is not None
        assert (info.status, info.fetched, info.failed, info.pending) == ("done", 5000, 0, 0)
        stored = [(r[0], r[6]) for r in store.token_rows(run)]
        # The dead worker's registration stays until its lease is long gone; the
        # others left cleanly.
        assert [w.id for w in store.workers()] == victim_ids
    want = [(cid, fingerprint(_token_id(t))) for cid in CUSTOMERS for t in tokens_for(cid)]
    assert stored == want  # what an uninterrupted run stores: DOKU's answer, in order
    assert held > 0  # the victim died holding customers, which came back

    requests = read_log(request_log)
    by_customer: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for customer, received, answered, _ in requests:
        by_customer[customer].append((received, answered))
    overlapping = [c for c, spans in by_customer.items()
                   if any(b[0] < a[1] for a, b in zip(sorted(spans), sorted(spans)[1:],
                                                      strict=False))]
    assert overlapping == []  # never two fetches of one customer at once
    assert set(by_customer) == set(CUSTOMERS)
    assert {status for *_, status in requests} == {200}  # DOKU never had to say 429
    received = sorted(r[1] for r in requests)
    rate = (len(received) - 1) / (received[-1] - received[0])
    assert rate <= RATE * 1.05, f"team rate {rate:.1f}/s over the limit {RATE:g}/s"
    # Every 2-second window: never more than the limit allows (a slot every 1/R s).
    window = [sum(1 for t in received if start <= t < start + 2.0)
              for start in received[:: max(1, len(received) // 200)]]
    assert max(window) <= RATE * 2.0 * 1.05 + 1


def _token_id(token: dict[str, object]) -> str:
    """The token ID in one of DOKU's answers (its details sit under a type key)."""
    for value in token.values():
        if isinstance(value, dict) and "token_id" in value:
            return str(value["token_id"])
    raise AssertionError(f"no token_id in {token}")

"""Audits run by `doku worker`s: throughput with 1, 2 and 4 workers as a fraction of
what physics allows, min(R, W x C / L).

One PostgreSQL store (a throw-away cluster, or DOKU_TEST_DATABASE_URL), the simulator
in its own process answering after L ms and logging every request, W worker
processes (`python -m doku worker --concurrency C`) under the team's DOKU_RATE_LIMIT
R. For each W a fresh queued run of customers is enqueued; the throughput is read
from the simulator's request log over the middle 80% of the run's requests (the
workers joining one after the other and the last batches are left out), and
end to end (enqueue to done) beside it.

Usage: python -m bench.bench_workers [--latency-ms L] [--concurrency C] [--rate R]
       [--seconds S] [--workers 1,2,4]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_backends import postgres_url
from doku.engine import queue
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process

ROOT = Path(__file__).resolve().parent.parent


def _start_workers(n: int, env: dict[str, str], concurrency: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-m", "doku", "worker", "--concurrency",
                              str(concurrency)], env=env, cwd=str(ROOT),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(n)]


def _stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _received(log: Path, prefix: str) -> list[float]:
    times = []
    for line in log.read_text(encoding="utf-8").splitlines():
        customer, received, *_ = line.split("\t")
        if customer.strip('"').startswith(prefix):
            times.append(float(received))
    return sorted(times)


def one_config(store_url: str, sim_url: str, log: Path, *, workers: int, concurrency: int,
               latency_s: float, rate: float, seconds: float) -> dict[str, Any]:
    limit = min(rate, workers * concurrency / latency_s)
    n = max(200, int(limit * seconds))
    prefix = f"W{workers}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env.update({"DOKU_ENV": "simulator", "DOKU_BASE_URL": sim_url,
                "DOKU_CLIENT_ID": SIMULATOR_CLIENT_ID, "DOKU_SECRET_KEY": SIMULATOR_SECRET_KEY,
                "DOKU_DATABASE_URL": store_url, "DOKU_RATE_LIMIT": repr(rate),
                "PYTHONPATH": str(ROOT)})
    procs = _start_workers(workers, env, concurrency)
    try:
        with Store(url=store_url) as store:
            _wait(lambda: sum(w.kind == "worker" and w.alive() for w in store.workers())
                  >= workers, 60, f"{workers} workers")
            run = store.create_run(ids=[f"{prefix}{i:07d}" for i in range(n)],
                                   env="simulator", base_url=sim_url,
                                   client_id=SIMULATOR_CLIENT_ID, input_name="bench",
                                   queued=True)
            started = time.monotonic()
            queue.enqueue(store, run)
            _wait(lambda: store.get_run(run).status == "done", 600,  # type: ignore[union-attr]
                  "the run to finish")
            elapsed = time.monotonic() - started
            info = store.get_run(run)
            if info is None or info.fetched != n:
                raise SystemExit(f"the run did not fetch every customer: {info}")
    finally:
        _stop_workers(procs)
    times = _received(log, prefix)
    lo, hi = len(times) // 10, len(times) * 9 // 10
    steady = (hi - lo) / (times[hi] - times[lo])
    return {"workers": workers, "customers": n, "limit_per_s": round(limit, 1),
            "steady_per_s": round(steady, 1), "fraction": round(steady / limit, 3),
            "end_to_end_per_s": round(n / elapsed, 1),
            "end_to_end_fraction": round(n / elapsed / limit, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rate", type=float, default=400.0, help="DOKU_RATE_LIMIT (requests/s)")
    # 3 s: 480 to 1,200 customers a run, the middle 80% of them measured
    p.add_argument("--seconds", type=float, default=3.0, help="length of each run")
    p.add_argument("--workers", default="1,2,4")
    args = p.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"machine: {platform.node()} ({os.cpu_count()} cores), Python "
          f"{platform.python_version()}; L={args.latency_ms:g} ms, C={args.concurrency} "
          f"per worker, R={args.rate:g}/s")
    results = []
    with tempfile.TemporaryDirectory() as tmp, postgres_url() as store_url:
        log = Path(tmp) / "requests.tsv"
        sim_url, sim = start_simulator_process(SimulatorConfig(
            latency_ms=args.latency_ms, request_log=str(log)))
        try:
            with Store(url=store_url):
                pass  # migrate once, before the workers race to
            for workers in counts:
                r = one_config(store_url, sim_url, log, workers=workers,
                               concurrency=args.concurrency, latency_s=args.latency_ms / 1000,
                               rate=args.rate, seconds=args.seconds)
                results.append(r)
                print(f"{workers} worker(s): {r['steady_per_s']:7.1f}/s of "
                      f"min(R, W*C/L) = {r['limit_per_s']:7.1f}/s -> {r['fraction']:.3f} "
                      f"(end to end {r['end_to_end_fraction']:.3f}, {r['customers']:,} "
                      "customers)", flush=True)
        finally:
            stop_simulator_process(sim)
    print(json.dumps({"bench": "workers", "latency_ms": args.latency_ms,
                      "concurrency": args.concurrency, "rate": args.rate, "runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

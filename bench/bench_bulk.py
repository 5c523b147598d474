"""Bulk audit throughput against the simulator (in its own process), as ratios.

1. 2,000 customers, concurrency 16, 50 ms latency: throughput as a fraction of the
   physical limit 16 / 0.05 s = 320 customers/s (goal >= 0.90), and the speed-up over
   the naive serial loop of `requests.post` an analyst would write.
2. Simulator rate limit R/s, client --rps R: sustained rate as a fraction of R
   (goal >= 0.90) and how many 429s it took.

Usage: python -m bench.bench_bulk [--customers N] [--serial N] [--rate R]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import requests

from doku.client.signing import sign_request, timestamp
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import (
    SIMULATOR_CLIENT_ID,
    SIMULATOR_SECRET_KEY,
    TOKENS_PATH,
    SecretKey,
    Settings,
)
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process


def naive_serial(url: str, ids: list[str]) -> float:
    """What an analyst's first script does: one fresh requests.post per customer."""
    started = time.perf_counter()
    for cid in ids:
        body = json.dumps({"customer": {"id": cid}}).encode()
        rid, ts = str(uuid.uuid4()), timestamp()
        sig = sign_request(SIMULATOR_SECRET_KEY, SIMULATOR_CLIENT_ID, rid, ts, TOKENS_PATH, body)
        headers = {"Client-Id": SIMULATOR_CLIENT_ID, "Request-Id": rid,
                   "Request-Timestamp": ts, "Signature": sig,
                   "Content-Type": "application/json"}
        requests.post(url + TOKENS_PATH, data=body, headers=headers, timeout=10).raise_for_status()
    return len(ids) / (time.perf_counter() - started)


def audit(url: str, ids: list[str], options: AuditOptions, folder: Path) -> tuple[float, int]:
    settings = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url)
    with Store(folder / f"{uuid.uuid4().hex}.sqlite3") as store:
        started = time.perf_counter()
        job = start_audit(store, parse_text("\n".join(ids)), settings, options)
        p = job.wait()
        elapsed = time.perf_counter() - started
        assert p.state == "done", p
        assert p.fetched == len(ids), p
        return len(ids) / elapsed, p.retries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--serial", type=int, default=100, help="customers for the serial loop")
    ap.add_argument("--rate", type=float, default=100.0, help="simulator rate limit R/s")
    ap.add_argument("--rate-customers", type=int, default=1000)
    args = ap.parse_args()
    ids = [f"BENCH-{i:07d}" for i in range(args.customers)]
    limit = args.concurrency / (args.latency_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, proc = start_simulator_process(SimulatorConfig(latency_ms=args.latency_ms))
        try:
            audit(url, ids[:200], AuditOptions(concurrency=args.concurrency), folder)  # warm-up
            rate, _ = audit(url, ids, AuditOptions(concurrency=args.concurrency), folder)
            serial = naive_serial(url, ids[: args.serial])
        finally:
            stop_simulator_process(proc)
        print(f"bulk: {rate:.1f} customers/s at concurrency {args.concurrency}, "
              f"{args.latency_ms:.0f} ms latency = {rate / limit:.3f} of the limit {limit:.0f}/s")
        print(f"naive serial requests.post loop: {serial:.1f} customers/s; "
              f"speed-up {rate / serial:.1f}x")

        config = SimulatorConfig(latency_ms=args.latency_ms, rate_limit_rps=args.rate)
        url, proc = start_simulator_process(config)
        try:
            limited, retries = audit(
                url, ids[: args.rate_customers],
                AuditOptions(concurrency=args.concurrency, rps=args.rate), folder)
        finally:
            stop_simulator_process(proc)
        print(f"rate-limited simulator at {args.rate:.0f}/s with --rps {args.rate:.0f}: "
              f"{limited:.1f} customers/s = {limited / args.rate:.3f} of R; "
              f"{retries} retries after 429s")
    print(json.dumps({
        "customers": args.customers, "concurrency": args.concurrency,
        "latency_ms": args.latency_ms, "limit_per_s": limit,
        "bulk_per_s": round(rate, 1), "fraction_of_limit": round(rate / limit, 3),
        "serial_per_s": round(serial, 1), "speedup_vs_serial": round(rate / serial, 1),
        "rate_limit": args.rate, "rate_limited_per_s": round(limited, 1),
        "fraction_of_rate_limit": round(limited / args.rate, 3), "retries_429": retries,
    }))


if __name__ == "__main__":
    main()

"""Throughput of signed requests against the simulator running in ANOTHER process.

    .venv/bin/python -m bench.bench_simulator [--clients 32] [--latency-ms 50]

32 client threads share one requests.Session (HTTPAdapter(pool_maxsize=32), so each
keeps its keep-alive connection) and send properly signed requests, checking every
response signature, for --duration seconds or --requests requests, whichever comes
first. The physical limit is clients / latency (32 / 0.05 s = 640/s); the goal is at
least 300/s. The simulator runs in a child process because client and server threads in
one process would share one GIL (see performance-notes.md). The last line printed is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from requests.adapters import HTTPAdapter

from doku.client.signing import sign_request, timestamp, verify_response
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, TOKENS_PATH
from doku.simulator import (
    SimulatorConfig,
    start_simulator_process,
    stop_simulator_process,
)

GOAL_RPS = 300.0


def one_request(session: requests.Session, url: str, customer_id: str) -> str:
    """Send one signed request; the outcome label ('200', 'bad signature', ...)."""
    body = json.dumps({"customer": {"id": customer_id}}, separators=(",", ":")).encode()
    rid, stamp = str(uuid.uuid4()), timestamp()
    headers = {
        "Client-Id": SIMULATOR_CLIENT_ID,
        "Request-Id": rid,
        "Request-Timestamp": stamp,
        "Signature": sign_request(SIMULATOR_SECRET_KEY, SIMULATOR_CLIENT_ID, rid, stamp,
                                  TOKENS_PATH, body),
        "Content-Type": "application/json",
    }  # fmt: skip
    resp = session.post(url + TOKENS_PATH, data=body, headers=headers, timeout=10)
    ok = verify_response(
        SIMULATOR_SECRET_KEY,
        resp.headers.get("Client-Id", ""),
        resp.headers.get("Request-Id", ""),
        resp.headers.get("Response-Timestamp", ""),
        TOKENS_PATH,
        resp.content,
        resp.headers.get("Signature", ""),
    )
    return str(resp.status_code) if ok else "bad signature"


def run(clients: int, latency_ms: float, duration_s: float, max_requests: int) -> dict[str, object]:
    url, proc = start_simulator_process(SimulatorConfig(latency_ms=latency_ms))
    try:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=clients))
        # Warm-up: open every keep-alive connection before the clock starts.
        warm = [
            threading.Thread(target=one_request, args=(session, url, "CUST-0001"))
            for _ in range(clients)
        ]
        for t in warm:
            t.start()
        for t in warm:
            t.join()

        lock = threading.Lock()
        issued = 0
        outcomes: Counter[str] = Counter()
        start_gate = threading.Barrier(clients + 1)
        deadline = 0.0

        def worker() -> None:
            nonlocal issued
            start_gate.wait()
            while time.perf_counter() < deadline:
                with lock:
                    if issued >= max_requests:
                        return
                    issued += 1
                    n = issued
                try:
                    label = one_request(session, url, f"CUST-{10000 + n % 3000}")
                except requests.RequestException as exc:
                    label = type(exc).__name__
                with lock:
                    outcomes[label] += 1

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        cpu0 = time.process_time()
        started = time.perf_counter()
        deadline = started + duration_s
        start_gate.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    finally:
        stop_simulator_process(proc)

    done = sum(outcomes.values())
    rps = outcomes["200"] / elapsed
    ideal = clients / (latency_ms / 1000.0) if latency_ms > 0 else float("inf")
    return {
        "clients": clients,
        "latency_ms": latency_ms,
        "requests": done,
        "ok": outcomes["200"],
        "errors": {k: v for k, v in outcomes.items() if k != "200"},
        "elapsed_s": round(elapsed, 3),
        "rps": round(rps, 1),
        "ideal_rps": round(ideal, 1),
        "fraction_of_ideal": round(rps / ideal, 3),
        "client_cpu_ms_per_request": round(1000 * cpu / max(done, 1), 3),
        "goal_rps": GOAL_RPS,
        "meets_goal": rps >= GOAL_RPS,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--requests", type=int, default=3000, help="stop after this many")
    args = parser.parse_args(argv)
    figures = run(args.clients, args.latency_ms, args.duration, args.requests)
    print(f"{figures['requests']} requests in {figures['elapsed_s']} s, {figures['ok']} ok")
    print(
        f"throughput {figures['rps']}/s = {figures['fraction_of_ideal']:.0%} of the ideal "
        f"{figures['ideal_rps']}/s ({args.clients} clients / {args.latency_ms:g} ms); "
        f"goal {GOAL_RPS:g}/s"
    )
    print(f"client CPU {figures['client_cpu_ms_per_request']} ms per request")
    print(json.dumps(figures))
    return 0 if figures["meets_goal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

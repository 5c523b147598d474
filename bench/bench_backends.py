"""The store's two backends side by side, in one run on the same machine.

1. Bulk audit throughput against the simulator (its own process, 50 ms latency,
   concurrency 16): PostgreSQL's customers/s as a fraction of SQLite's (goal >= 0.90).
   Each backend audits the same customers; one warm-up audit (100 customers) each
   first.
2. `doku report RUN --json` (in process, the real command) on a 200,000-token run in
   each backend: seconds (best of two: the first also makes the run's snapshot), and
   PostgreSQL's time as a multiple of SQLite's. (`bench_insights` reads 1,000,000-token
   runs on both backends.)

PostgreSQL is a throw-away cluster started here (as the tests start it: loopback,
fsync and synchronous_commit off, which is what SQLite's WAL + synchronous=NORMAL also
trades), or the server named by DOKU_TEST_DATABASE_URL. The big runs are seeded in
bulk (`bench.seeding`: the rows an audit writes): the benchmark times the report, not
the seeding.

Usage: python -m bench.bench_backends [--customers N] [--tokens N]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.seeding import RunData, make_run_data, seed_finished_run
from doku.cli.main import main as doku_cli
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process
from tests.pg_cluster import SERVER_URL_ENV, fresh_database, server_from_url, start_cluster

WARM_UP = 100  # customers audited first on each backend: connections, code paths


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh database on the CI server, or on a throw-away cluster started here."""
    given = os.environ.get(SERVER_URL_ENV)
    if given:
        with fresh_database(server_from_url(given)) as url:
            yield url
        return
    cluster = start_cluster()
    try:
        assert cluster.server is not None
        with fresh_database(cluster.server) as url:
            yield url
    finally:
        cluster.stop()


def audit_rate(url: str, store_url: str, ids: list[str], concurrency: int) -> float:
    """Customers/s of one bulk audit of `ids` into the store at `store_url`."""
    settings = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url)
    with Store(url=store_url) as store:
        started = time.perf_counter()
        job = start_audit(store, parse_text("\n".join(ids)), settings,
                          AuditOptions(concurrency=concurrency))
        progress = job.wait()
        elapsed = time.perf_counter() - started
    if progress.state != "done" or progress.fetched != len(ids):
        raise SystemExit(f"audit did not finish cleanly: {progress}")
    return len(ids) / elapsed


def seed_big_run(store_url: str, n_tokens: int, data: RunData | None = None) -> int:
    """A finished run holding exactly `n_tokens` tokens (`bench.seeding`; `data`: its
    rows, made once for both backends)."""
    with Store(url=store_url) as store:
        return seed_finished_run(store, n_tokens, "bench-report.csv", data=data).run_id


def report_seconds(store_url: str, run_id: int) -> tuple[float, dict[str, Any]]:
    """Wall time of `doku report RUN --json` against the store, and what it printed."""
    os.environ["DOKU_DATABASE_URL"] = store_url
    out = io.StringIO()
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = doku_cli(["report", str(run_id), "--json"])
        elapsed = time.perf_counter() - started
    finally:
        del os.environ["DOKU_DATABASE_URL"]
    if code != 0:
        raise SystemExit(f"doku report exited {code}")
    printed: dict[str, Any] = json.loads(out.getvalue())
    return elapsed, printed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--tokens", type=int, default=200_000)
    args = ap.parse_args()
    for key in [k for k in os.environ if k.startswith("DOKU_") and k != SERVER_URL_ENV]:
        del os.environ[key]
    ids = [f"BENCH-{i:07d}" for i in range(args.customers)]
    figures: dict[str, Any] = {"customers": args.customers, "concurrency": args.concurrency,
                               "latency_ms": args.latency_ms, "tokens": args.tokens}
    with tempfile.TemporaryDirectory() as tmp, postgres_url() as pg:
        os.environ["DOKU_DATA_DIR"] = tmp
        stores = {"sqlite": f"sqlite:///{Path(tmp, 'bench.sqlite3').as_posix()}",
                  "postgresql": pg}
        url, proc = start_simulator_process(SimulatorConfig(latency_ms=args.latency_ms))
        try:
            for name, store_url in stores.items():
                audit_rate(url, store_url, ids[:WARM_UP], args.concurrency)
                figures[f"{name}_per_s"] = round(
                    audit_rate(url, store_url, ids, args.concurrency), 1)
                print(f"{name}: bulk audit {figures[f'{name}_per_s']} customers/s", flush=True)
        finally:
            stop_simulator_process(proc)
        figures["throughput_ratio"] = round(figures["postgresql_per_s"]
                                            / figures["sqlite_per_s"], 3)
        printed = {}
        data = make_run_data(args.tokens)  # the same run in both backends
        for name, store_url in stores.items():
            started = time.perf_counter()
            run_id = seed_big_run(store_url, args.tokens, data)
            figures[f"{name}_seed_s"] = round(time.perf_counter() - started, 1)
            # Best of two: the first call in the process also pays pandas' import.
            first, printed[name] = report_seconds(store_url, run_id)
            seconds = min(first, report_seconds(store_url, run_id)[0])
            figures[f"{name}_report_s"] = round(seconds, 2)
            print(f"{name}: report on {args.tokens:,} tokens {seconds:.2f} s "
                  f"(seeded in {figures[f'{name}_seed_s']} s)", flush=True)
        same = ("customers", "tokens", "with_tokens", "by_type", "by_issuer", "by_brand",
                "tokens_per_customer")
        if any(printed["sqlite"][k] != printed["postgresql"][k] for k in same):
            raise SystemExit("the two backends' reports differ")
        figures["report_ratio"] = round(figures["postgresql_report_s"]
                                        / figures["sqlite_report_s"], 2)
    print(f"PostgreSQL bulk throughput = {figures['throughput_ratio']} of SQLite's "
          f"(goal >= 0.90); report time {figures['report_ratio']}x SQLite's")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

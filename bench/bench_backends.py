"""The store's two backends side by side, in one run on the same machine.

1. Bulk audit throughput against the simulator (its own process, 50 ms latency,
   concurrency 16): PostgreSQL's customers/s as a fraction of SQLite's (goal >= 0.90).
   Each backend audits the same customers; one warm-up audit each first.
2. `doku report RUN --json` (in process, the real command) on a 1,000,000-token run in
   each backend: seconds (best of two), and PostgreSQL's time as a multiple of SQLite's.

PostgreSQL is a throw-away cluster started here (as the tests start it: loopback,
fsync and synchronous_commit off, which is what SQLite's WAL + synchronous=NORMAL also
trades), or the server named by DOKU_TEST_DATABASE_URL. The big runs are seeded with
bulk inserts (the same rows `record_fetched` writes, in 50,000-row batches): the
benchmark times the report, not the seeding.

Usage: python -m bench.bench_backends [--customers N] [--tokens N]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam

from doku.cli.main import main as doku_cli
from doku.engine import tables
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process
from tests.pg_cluster import SERVER_URL_ENV, fresh_database, server_from_url, start_cluster

SEED = 20261126
ISSUERS = ("BCA", "BRI", "Mandiri", "BNI", "CIMB Niaga", "Permata", "Danamon", "BSI")
BRANDS = ("visa", "mastercard", "jcb", "amex")
BATCH = 50_000


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


def seed_big_run(store_url: str, n_tokens: int) -> int:
    """A finished run of ~1.1 tokens per customer holding exactly `n_tokens` tokens."""
    rng = random.Random(SEED)
    plan: list[int] = []
    total = 0
    while total < n_tokens:
        plan.append(min(rng.choice((0, 1, 1, 2, 2, 3)), n_tokens - total))
        total += plan[-1]
    ids = [f"BIG-{i:08d}" for i in range(len(plan))]
    with Store(url=store_url) as store:
        run_id = store.create_run(ids=ids, env="simulator", base_url=None,
                                  client_id=SIMULATOR_CLIENT_ID, input_name="bench-1M.csv")
        token_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        with store.engine.begin() as conn:
            for seq, n in enumerate(plan):
                types = [rng.choice(("CREDIT_CARD", "DIRECT_DEBIT")) for _ in range(n)]
                for pos, kind in enumerate(types):
                    card = kind == "CREDIT_CARD"
                    token_rows.append({
                        "run_id": run_id, "customer_seq": seq, "position": pos, "type": kind,
                        "issuer": rng.choice(ISSUERS),
                        "brand": rng.choice(BRANDS) if card else None,
                        "masked_card": f"4111****{seq % 10_000:04d}",
                        "fingerprint": f"{seq:032x}{pos:032x}", "token_id": None})
                updates.append({
                    "r": run_id, "s": seq, "status": "fetched", "customer_name": f"Customer {seq}",
                    "n_tokens": n, "n_direct_debit": types.count("DIRECT_DEBIT"),
                    "n_credit_card": types.count("CREDIT_CARD"), "attempts": 1,
                    "fetched_at": "2026-11-26T00:00:00Z"})
                if len(token_rows) >= BATCH:
                    conn.execute(tables.tokens.insert(), token_rows)
                    token_rows.clear()
            if token_rows:
                conn.execute(tables.tokens.insert(), token_rows)
            c = tables.customers.c
            update = tables.customers.update().where(
                c.run_id == bindparam("r"), c.seq == bindparam("s"))
            for start in range(0, len(updates), BATCH):
                conn.execute(update, updates[start:start + BATCH])
        store.set_status(run_id, "done")
    return run_id


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
    ap.add_argument("--tokens", type=int, default=1_000_000)
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
                audit_rate(url, store_url, ids[:200], args.concurrency)  # warm-up
                figures[f"{name}_per_s"] = round(
                    audit_rate(url, store_url, ids, args.concurrency), 1)
                print(f"{name}: bulk audit {figures[f'{name}_per_s']} customers/s", flush=True)
        finally:
            stop_simulator_process(proc)
        figures["throughput_ratio"] = round(figures["postgresql_per_s"]
                                            / figures["sqlite_per_s"], 3)
        printed = {}
        for name, store_url in stores.items():
            started = time.perf_counter()
            run_id = seed_big_run(store_url, args.tokens)
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

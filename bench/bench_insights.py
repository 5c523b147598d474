"""Benchmark: AppTest rerun time of the Insights page on a 1,000,000-token run vs a
1,000-token run.

The page must stay responsive on a big run: charts come from aggregates only, frames
and aggregates are cached per (run, version, filters), and the token table shows a few
thousand rows. Both runs are built in a temporary data dir through the Store API
(`create_run` + one `record_fetched` per customer, exactly as a real audit writes
them), with deterministic synthetic tokens: ~0.9 tokens per customer, 10 issuers,
4 brands, 2 types, two customer attributes (segment, region).

Measured per run, in one AppTest session: the first open of the page (loads and caches
the run's frames), a plain rerun (median of --reruns), applying a token-type filter
(first time, then again from cache), and clearing it. The ratio of the big run's rerun
time to the small run's is the headline.

Run: `.venv/bin/python -m bench.bench_insights [--tokens N] [--reruns K]`. The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261124
ISSUERS = ("BCA", "BRI", "Mandiri", "BNI", "CIMB Niaga", "Permata", "Danamon", "OCBC NISP",
           "BSI", "Maybank")
ISSUER_WEIGHTS = (26, 22, 20, 12, 8, 4, 3, 2, 2, 1)
BRANDS = ("visa", "mastercard", "jcb", "amex")
BRAND_WEIGHTS = (55, 35, 7, 3)
COUNTS = (0, 1, 2, 3, 4, 5)
COUNT_WEIGHTS = (35, 34, 19, 8, 3, 1)
SEGMENTS = ("basic", "plus", "premium")
REGIONS = ("Jakarta", "West Java", "East Java", "Central Java", "Banten", "North Sumatra",
           "Bali", "South Sulawesi", "Yogyakarta", "East Kalimantan")


def build_run(store: Any, n_tokens: int, name: str) -> tuple[int, int]:
    """A finished run holding exactly `n_tokens` tokens; returns (run id, customers)."""
    from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

    rng = random.Random(f"{SEED}:{n_tokens}")
    plan: list[tuple[str, int]] = []
    total = 0
    while total < n_tokens:
        n = min(rng.choices(COUNTS, COUNT_WEIGHTS)[0], n_tokens - total)
        plan.append((f"B-{len(plan):08d}", n))
        total += n
    ids = [cid for cid, _ in plan]
    attributes = {
        "segment": [rng.choice(SEGMENTS) for _ in ids],
        "region": [rng.choice(REGIONS) for _ in ids],
    }
    run_id: int = store.create_run(
        ids=ids, attribute_values=attributes, attribute_columns=["segment", "region"],
        env="simulator", base_url=None, client_id="MCH-bench", input_name=name,
    )
    store.set_status(run_id, "running")
    for cid, n in plan:
        tokens = []
        for _ in range(n):
            credit = rng.random() < 0.4
            kind = CREDIT_CARD if credit else DIRECT_DEBIT
            brand = rng.choices(BRANDS, BRAND_WEIGHTS)[0] if credit else None
            masked = f"4096****{rng.randrange(10000):04d}" if credit else (
                f"*********{rng.randrange(10000):04d}"
            )
            tokens.append(Token(cid, "Bench Customer", kind,
                                rng.choices(ISSUERS, ISSUER_WEIGHTS)[0], brand, masked,
                                f"{rng.getrandbits(128):032x}"))
        store.record_fetched(run_id, cid, tokens, attempts=1, latency_ms=1.0)
    store.set_status(run_id, "done")
    return run_id, len(ids)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(run_id: int, reruns: int) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600).run()
    at.query_params["run"] = str(run_id)
    at.switch_page("pages/3_Insights.py")

    def check() -> None:
        if at.exception or at.error:
            raise SystemExit(f"page failed: {[e.value for e in (*at.exception, *at.error)]}")

    first = timed(at.run)
    check()
    assert at.selectbox(key="insights_run").value == run_id
    samples = []
    for _ in range(reruns):
        samples.append(timed(at.run))
        check()
    type_filter = at.multiselect(key="insights_filter_type")
    filter_first = timed(lambda: type_filter.select("CREDIT_CARD").run())
    check()
    filtered_rerun = timed(at.run)
    clear = timed(lambda: at.multiselect(key="insights_filter_type").set_value([]).run())
    check()
    again = timed(lambda: at.multiselect(key="insights_filter_type").select("CREDIT_CARD").run())
    check()
    return {
        "first_open_s": round(first, 3),
        "rerun_s": round(statistics.median(samples), 3),
        "rerun_max_s": round(max(samples), 3),
        "filter_first_s": round(filter_first, 3),
        "filtered_rerun_s": round(filtered_rerun, 3),
        "filter_clear_s": round(clear, 3),
        "filter_cached_s": round(again, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens in the big run")
    parser.add_argument("--small", type=int, default=1_000, help="tokens in the small run")
    parser.add_argument("--reruns", type=int, default=5, help="plain reruns to time")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-insights-"))
    for key in [k for k in os.environ if k.startswith("DOKU_")]:
        del os.environ[key]
    os.environ["DOKU_DATA_DIR"] = str(workdir)
    sys.path.insert(0, str(ROOT))
    import doku.settings
    from doku.engine.schema import DB_NAME
    from doku.engine.store import Store

    doku.settings.read_secrets_table = lambda *_args, **_kwargs: {}  # no developer secrets.toml
    results: dict[str, Any] = {"tokens_big": args.tokens, "tokens_small": args.small}
    with Store(workdir / DB_NAME) as store:
        for label, n in (("small", args.small), ("big", args.tokens)):
            started = time.perf_counter()
            run_id, customers = build_run(store, n, f"bench-{n}.csv")
            results[f"run_{label}"] = run_id
            results[f"customers_{label}"] = customers
            results[f"build_{label}_s"] = round(time.perf_counter() - started, 1)
            print(f"built run {run_id}: {n:,} tokens, {customers:,} customers in "
                  f"{results[f'build_{label}_s']} s", flush=True)
    for label in ("small", "big"):
        figures = measure(results[f"run_{label}"], args.reruns)
        for key, value in figures.items():
            results[f"{label}_{key}"] = value
        print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    results["rerun_ratio"] = round(results["big_rerun_s"] / max(results["small_rerun_s"], 1e-6), 2)
    results["first_open_ratio"] = round(
        results["big_first_open_s"] / max(results["small_first_open_s"], 1e-6), 2
    )
    print(f"rerun ratio (1M vs 1k tokens): {results['rerun_ratio']}x; big rerun "
          f"{results['big_rerun_s']} s, small rerun {results['small_rerun_s']} s")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

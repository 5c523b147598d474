"""Benchmark: opening Insights on a 1,000,000-token run, and changing a filter there,
against a 1,000-token run, on both store backends (goals: open <= 1.5 s, filter
<= 0.5 s on the big run).

Each run is seeded in bulk (`bench.seeding`: the rows an audit writes; both runs'
rows are made once, so both backends hold the same runs, and written into both
backends at once, before anything is measured) and then finished as an audit
finishes it: its columnar snapshot is made (`snapshot_s`, what the fetcher that
ends a run spends). Then, in one AppTest session per run, 3 times: every frame and
aggregate cache is emptied (a run nobody has looked at yet since the dashboard
started), the page is opened (`open`), and a token-type filter is picked (`filter`,
never cached: CREDIT_CARD, DIRECT_DEBIT, CREDIT_CARD after emptying the caches
again), in a fresh Python process on that store (one per backend: the small run, then
the big one), as a dashboard process opening the runs. Printed: min/median/max of the 3.

Before it is finished, the big run is followed as a running one is
(`doku.engine.live_columns`): `live_whole` is the first, whole read of it (a new
`LiveColumns`, packed: `doku.engine.packed_columns`), side by side with
`rows_whole`, the same read as rows (`live_columns.read_rows`, what it was before),
once, then the packed read 3 times, frames included; `live_refresh` each later read
after 1,000 more results were written - what every refresh of a running run
costs (the seeded results are stamped over the audit's duration, so a refresh reads
again the last 30 s of them, as it does in a real run). min/median/max of 3.

PostgreSQL is a throw-away cluster started here (or DOKU_TEST_DATABASE_URL's server).

Run: `.venv/bin/python -m bench.bench_insights [--tokens N] [--small N] [--repeat K]
[--backends sqlite,postgresql] [--live-only]` (--live-only: only the big run followed
while it runs, no snapshot, no page). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TYPES = ("CREDIT_CARD", "DIRECT_DEBIT", "CREDIT_CARD")


def spread(samples: list[float]) -> dict[str, float]:
    return {"min": round(min(samples), 3), "median": round(statistics.median(samples), 3),
            "max": round(max(samples), 3)}


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def empty_caches() -> None:
    """What a dashboard has cached of runs (not the store connection itself)."""
    import streamlit as st

    import ui.data

    st.cache_data.clear()
    ui.data.run_frames.clear()
    ui.data._filtered.clear()


def measure(run_id: int, repeat: int) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600).run()
    at.query_params["run"] = str(run_id)

    def check() -> None:
        if at.exception or at.error:
            raise SystemExit(f"page failed: {[e.value for e in (*at.exception, *at.error)]}")

    at.switch_page("pages/3_Insights.py").run()  # imports and the store: not measured
    check()
    opens, filters = [], []
    for i in range(repeat):
        empty_caches()
        at.multiselect(key="insights_filter_type").set_value([])
        opens.append(timed(at.run))
        check()
        if at.selectbox(key="insights_run").value != run_id:
            raise SystemExit("the page did not open the run asked for")
        choice = at.multiselect(key="insights_filter_type").set_value([TYPES[i % len(TYPES)]])
        filters.append(timed(choice.run))
        check()
    return {"open": spread(opens), "filter": spread(filters)}


@contextlib.contextmanager
def store_url(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":  # the file the dashboard opens in DOKU_DATA_DIR
        from doku.engine.schema import DB_NAME

        yield f"sqlite:///{(folder / DB_NAME).as_posix()}"
        return
    from bench.bench_backends import postgres_url

    with postgres_url() as url:
        yield url


def follow_running(store: Any, run_id: int) -> dict[str, Any]:
    """The big run followed while it runs: 3 whole reads packed, one as rows, then 3
    reads of changes."""
    from bench.seeding import customer_id
    from doku.analysis.frames import frames_from_columns
    from doku.engine.live_columns import LiveColumns, read_rows
    from doku.engine.result_writer import DEFAULT_BATCH
    from doku.engine.results import Fetched
    from doku.models import DIRECT_DEBIT, Token

    store.set_status(run_id, "running")
    info = store.get_run(run_id, counted=False)
    # The row read once, as the baseline (3 of them were half a minute of `make bench`).
    rows = [timed(lambda: frames_from_columns(info, read_rows(store, run_id, None)[0]))]
    whole = []
    for _ in range(3):
        live = LiveColumns(store, run_id)
        whole.append(timed(lambda: frames_from_columns(info, live.current())))  # noqa: B023
        if live.last_read != "whole":
            raise SystemExit("the running run was not read whole")
    ids = [customer_id(seq) for seq in range(3_000)]  # the run's first 3,000 customers
    refresh = []
    for i in range(3):
        results = [Fetched(cid, [Token(cid, "Again", DIRECT_DEBIT, "BRI", None, "****0001",
                                       f"{cid}-again")], attempts=1)
                   for cid in ids[i * 1_000:(i + 1) * 1_000]]
        for first in range(0, len(results), DEFAULT_BATCH):  # as a bulk audit's writer
            store.record_results(run_id, results[first:first + DEFAULT_BATCH])
        refresh.append(timed(lambda: frames_from_columns(info, live.current())))
        if live.last_read != "changes":
            raise SystemExit("the running run was read whole, not its changes")
    store.set_status(run_id, "done")
    return {"live_whole": spread(whole), "rows_whole": spread(rows),
            "live_refresh": spread(refresh)}


def seed_everywhere(urls: dict[str, str], runs: dict[str, Any]) -> dict[str, Any]:
    """Both runs (`runs`: label -> `bench.seeding.RunData`) seeded into every backend
    at once, a thread each (SQLite and PostgreSQL do most of it outside the GIL),
    before anything is measured: backend -> label -> (Seeded, seconds)."""
    from bench.seeding import seed_finished_run
    from doku.engine.store import Store

    def seed(store: Store) -> dict[str, tuple[Any, float]]:
        seeded = {}
        for label, data in runs.items():
            started = time.perf_counter()
            run = seed_finished_run(store, data.tokens, f"bench-{data.tokens}.csv", data=data)
            seeded[label] = (run, time.perf_counter() - started)
        return seeded

    with contextlib.ExitStack() as stack:
        # Opened (created, migrated) one after the other: alembic's runner is not
        # thread-safe.
        stores = {backend: stack.enter_context(Store(url=url)) for backend, url in urls.items()}
        with ThreadPoolExecutor(len(stores)) as pool:
            futures = {backend: pool.submit(seed, store) for backend, store in stores.items()}
            return {backend: future.result() for backend, future in futures.items()}


def bench_backend(backend: str, url: str, folder: Path, args: argparse.Namespace,
                  seeded: dict[str, Any]) -> dict[str, Any]:
    """The runs `seed_everywhere` wrote into one backend: followed, finished, opened."""
    from doku.engine.run_reading import snapshot_run
    from doku.engine.store import Store

    if backend == "sqlite":
        os.environ["DOKU_DATA_DIR"] = str(folder)
        os.environ.pop("DOKU_DATABASE_URL", None)
    else:
        os.environ["DOKU_DATABASE_URL"] = url
    figures: dict[str, Any] = {}
    with Store(url=url) as store:
        for label, n in (("small", args.small), ("big", args.tokens)):
            run, seeded_s = seeded[label]
            if label == "big":
                figures.update(follow_running(store, run.run_id))
            if args.live_only:
                continue
            snapshot_s = timed(functools.partial(snapshot_run, store, run.run_id))
            figures[f"{label}_run"] = run.run_id
            figures[f"{label}_customers"] = run.customers
            figures[f"{label}_seed_s"] = round(seeded_s, 2)
            figures[f"{label}_snapshot_s"] = round(snapshot_s, 2)
            print(f"{backend}: run {run.run_id}: {n:,} tokens, {run.customers:,} "
                  f"customers, seeded in {seeded_s:.1f} s, snapshot {snapshot_s:.2f} s",
                  flush=True)
    if args.live_only:
        return figures
    measured = measure_in_fresh_process([figures["small_run"], figures["big_run"]],
                                        args.repeat)
    for label, got in zip(("small", "big"), measured, strict=True):
        for what, values in got.items():
            figures[f"{label}_{what}"] = values
        print(f"{backend} {label}: open {got['open']} s, filter {got['filter']} s",
              flush=True)
    return figures


def measure_in_fresh_process(run_ids: list[int], repeat: int) -> list[dict[str, Any]]:
    """`measure` of each run, one after the other, in a new Python process on the same
    store (as a dashboard process opening the runs: not one that just seeded a million
    rows and holds their garbage)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_insights", "--measure",
         ",".join(str(r) for r in run_ids), "--repeat", str(repeat)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring runs {run_ids} failed: {done.stderr.strip()[-2000:]}")
    figures: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens in the big run")
    parser.add_argument("--small", type=int, default=1_000, help="tokens in the small run")
    parser.add_argument("--repeat", type=int, default=3, help="opens and filters per run")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--live-only", action="store_true",
                        help="only follow the big run while it runs (no snapshot, no page)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # runs (1,2), here
    args = parser.parse_args(argv)
    if args.measure is not None:  # the store is the environment's (DOKU_*)
        import doku.settings

        doku.settings.read_secrets_table = lambda *_args, **_kwargs: {}
        print(json.dumps([measure(int(run), args.repeat) for run in args.measure.split(",")]))
        return 0

    from tests.pg_cluster import SERVER_URL_ENV

    for key in [k for k in os.environ if k.startswith("DOKU_") and k != SERVER_URL_ENV]:
        del os.environ[key]
    sys.path.insert(0, str(ROOT))
    import doku.settings

    doku.settings.read_secrets_table = lambda *_args, **_kwargs: {}  # no developer secrets
    results: dict[str, Any] = {"tokens_big": args.tokens, "tokens_small": args.small,
                               "repeat": args.repeat, "load_1m": os.getloadavg()[0]}
    from bench.seeding import make_run_data

    backends = args.backends.split(",")
    with contextlib.ExitStack() as stack:
        folders = {b: Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="bench-insights-"))) for b in backends}
        with ThreadPoolExecutor(1) as pool:  # PostgreSQL starts while the rows are made
            stores = [pool.submit(stack.enter_context, store_url(b, folders[b]))
                      for b in backends]
            # The rows of both runs are made once: both backends hold the same runs.
            runs = {"small": make_run_data(args.small), "big": make_run_data(args.tokens)}
            urls = {b: store.result() for b, store in zip(backends, stores, strict=True)}
        seeded = seed_everywhere(urls, runs)
        for backend in backends:
            figures = bench_backend(backend, urls[backend], folders[backend], args,
                                    seeded[backend])
            results.update({f"{backend}_{k}": v for k, v in figures.items()})
            report(backend, args.tokens, figures)
    print(json.dumps(results))
    return 0


def report(backend: str, tokens: int, figures: dict[str, Any]) -> None:
    """The backend's lines of medians against the goals."""
    whole, rows = figures["live_whole"]["median"], figures["rows_whole"]["median"]
    print(f"{backend}: the {tokens:,}-token run followed while running: first read "
          f"{whole} s packed (goal <= 2.5; as rows {rows} s, {rows / whole:.1f}x), then "
          f"{figures['live_refresh']['median']} s a refresh; medians", flush=True)
    if "big_open" not in figures:
        return
    big_open, big_filter = figures["big_open"]["median"], figures["big_filter"]["median"]
    print(f"{backend}: {tokens:,}-token run opens in {big_open} s (goal <= 1.5), a filter "
          f"takes {big_filter} s (goal <= 0.5); medians, 1k-token run "
          f"{figures['small_open']['median']} s and {figures['small_filter']['median']} s",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())

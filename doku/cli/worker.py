"""`doku worker`: fetch queued audits from the team's PostgreSQL store."""

from __future__ import annotations

import argparse

from doku.cli import render
from doku.engine.claims import CLAIM_LEASE_S
from doku.engine.connection import resolve
from doku.engine.store import Store
from doku.engine.worker import Worker, WorkerConfig
from doku.errors import InvalidInputError
from doku.settings import load_settings

DESCRIPTION = (
    "Fetch queued audits (and fire saved audits' schedules) from the PostgreSQL store "
    "named by DOKU_DATABASE_URL. Run any number, on any machine that reaches the "
    "database: they share each run in small batches, under DOKU_RATE_LIMIT together. "
    "Ctrl+C or SIGTERM leaves the run in hand to the others; a worker that dies is "
    "replaced after its lease. Exit status 0 when stopped by a signal (or, with "
    "--once, when the queue is empty)."
)
MIN_LEASE_S, MAX_LEASE_S = 3.0, 600.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=int, default=8,
                   help="requests in flight for the run in hand (default 8)")
    p.add_argument("--lease-seconds", type=float, default=CLAIM_LEASE_S,
                   help="how long a dead worker's customers stay claimed "
                   f"(default {CLAIM_LEASE_S:g}; renewed every third of it)")
    p.add_argument("--once", action="store_true",
                   help="exit when the audits queue is empty")


def run(args: argparse.Namespace) -> int:
    if not MIN_LEASE_S <= args.lease_seconds <= MAX_LEASE_S:
        raise InvalidInputError(f"--lease-seconds must be between {MIN_LEASE_S:g} and "
                                f"{MAX_LEASE_S:g}, not {args.lease_seconds:g}")
    if not 1 <= args.concurrency <= 256:
        raise InvalidInputError(f"--concurrency must be between 1 and 256, not "
                                f"{args.concurrency}")
    settings = load_settings()
    embedded = settings.uses_simulator and settings.base_url is None
    settings = resolve(settings)
    with Store() as store:
        worker = Worker(store, settings, WorkerConfig(
            concurrency=args.concurrency, lease_s=args.lease_seconds, once=args.once))
        render.note(f"worker on {store.where}, concurrency {args.concurrency}"
                    + ("; no DOKU credentials: fetching from its own built-in simulator"
                       if embedded else ""))
        return worker.run()

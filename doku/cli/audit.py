"""`python -m doku audit FILE|- ...`, `--resume RUN_ID`, `--retry-failed RUN_ID`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from doku.engine import bulk
from doku.engine.bulk import AuditOptions, BulkJob, Progress
from doku.engine.connection import resolve
from doku.engine.inputs import parse_path, parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.errors import ConfigurationError, InvalidInputError
from doku.models import TOKEN_TYPES
from doku.settings import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="fetch the tokens of every customer in a file")
    p.add_argument("file", nargs="?", metavar="FILE|-",
                   help="CSV/TSV/TXT/XLSX of customers, or - for IDs on stdin")
    p.add_argument("--column", help="name of the customer ID column")
    p.add_argument("--sheet", help="xlsx sheet (default: the first)")
    p.add_argument("--concurrency", type=int, default=8, help="parallel requests (default 8)")
    p.add_argument("--rps", type=float, default=None, help="max requests per second overall")
    p.add_argument("--type", choices=TOKEN_TYPES, dest="token_type")
    p.add_argument("--store-token-ids", action="store_true",
                   help="keep raw token IDs in the store (default: fingerprints only)")
    p.add_argument("--max-attempts", type=int, default=4, help="attempts per customer")
    p.add_argument("--timeout", type=float, default=30.0, help="read timeout in seconds")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", type=int, metavar="RUN_ID",
                   help="fetch the customers of a run that have no result yet")
    g.add_argument("--retry-failed", type=int, metavar="RUN_ID",
                   help="refetch the failed customers of a run")
    p.set_defaults(func=run)


def _bar(p: Progress) -> str:
    width = 30
    frac = p.done / p.total if p.total else 1.0
    filled = int(width * frac)
    eta = f"ETA {p.eta_s:4.0f}s" if p.eta_s is not None else "ETA    -"
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} "
            f"failed {p.failed}  {p.rate:6.1f}/s  {eta} ")


def _follow(job: BulkJob, quiet: bool) -> Progress:
    show = not quiet and sys.stderr.isatty()
    try:
        while True:
            snap = job.wait(0.5)
            if show:
                print(_bar(snap), end="", file=sys.stderr, flush=True)
            if snap.finished:
                break
    except KeyboardInterrupt:
        job.cancel()
        snap = job.wait()
    if show:
        print(file=sys.stderr)
    return snap


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    embedded = settings.uses_simulator and settings.base_url is None
    started = time.monotonic()
    overrides = {"concurrency": args.concurrency, "rps": args.rps,
                 "max_attempts": args.max_attempts, "read_timeout_s": args.timeout}
    store = Store()
    if args.resume is not None or args.retry_failed is not None:
        if args.file:
            raise ConfigurationError("give either FILE or --resume/--retry-failed, not both")
        settings = resolve(settings)
        if args.resume is not None:
            job = bulk.start_resume(store, args.resume, settings, **overrides)
        else:
            job = bulk.start_retry_failed(store, args.retry_failed, settings, **overrides)
    else:
        if not args.file:
            raise ConfigurationError("give a FILE (or - for stdin), --resume or --retry-failed")
        if args.file == "-":
            parsed = parse_text(sys.stdin.read())
        else:
            parsed = parse_path(args.file, column=args.column, sheet=args.sheet)
        for r in parsed.rejected[:20]:
            print(f"rejected row {r.row}: {r.value!r}: {r.reason}", file=sys.stderr)
        if len(parsed.rejected) > 20:
            print(f"... and {len(parsed.rejected) - 20} more rejected rows", file=sys.stderr)
        try:
            options = AuditOptions(
                concurrency=args.concurrency, rps=args.rps, token_type=args.token_type,
                store_token_ids=args.store_token_ids, max_attempts=args.max_attempts,
                read_timeout_s=args.timeout,
            )
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        job = start_audit(store, parsed, resolve(settings), options)
    snap = _follow(job, args.quiet)
    info = store.get_run(job.run_id)
    assert info is not None
    summary = {
        "run_id": job.run_id,
        "status": snap.state,
        "customers": info.customers,
        "fetched": info.fetched,
        "failed": info.failed,
        "pending": info.pending,
        "rejected": info.rejected,
        "duplicates": info.duplicates,
        "tokens": info.tokens,
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"run {job.run_id}: {snap.state}; {info.customers} customers, "
              f"{info.fetched} fetched, {info.failed} failed, {info.pending} pending, "
              f"{info.tokens} tokens; {info.rejected} rejected rows, {info.duplicates} duplicates; "
              f"{summary['elapsed_s']} s")
    if embedded and snap.state == "done":
        print("note: no DOKU credentials configured; used the built-in simulator",
              file=sys.stderr)
    if snap.state == "aborted":
        print(f"error: run {job.run_id} stopped: {snap.error}", file=sys.stderr)
        return 1
    if snap.state == "cancelled":
        print(f"error: run {job.run_id} cancelled; resume with "
              f"`python -m doku audit --resume {job.run_id}`", file=sys.stderr)
        return 1
    return 0

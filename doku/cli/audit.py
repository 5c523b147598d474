"""`doku audit FILE|- ...`, `--resume RUN_ID`, `--retry-failed RUN_ID`.

Starting, resuming, retrying and (Ctrl+C) cancelling a run each add one audit trail
entry, as DOKU_ACTOR or the OS user (`doku.engine.service` records them).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from doku.access import Actor, process_actor
from doku.cli import render
from doku.cli.interrupts import HeldInterrupts
from doku.engine.bulk import AuditOptions, BulkJob, Progress
from doku.engine.connection import resolve
from doku.engine.inputs import parse_path, parse_text
from doku.engine.parsed import ParsedInput
from doku.engine.schema import RunInfo
from doku.engine.service import (
    create_run,
    live_workers,
    queue_run,
    start_audit,
    start_event,
    start_resume,
    start_retry_failed,
    stop_job,
    uses_queue,
)
from doku.engine.store import Store
from doku.errors import ConfigurationError, InvalidInputError
from doku.models import TOKEN_TYPES
from doku.settings import Settings, load_settings

DESCRIPTION = (
    "Fetch the tokens of every customer in a file (or IDs on stdin) into a stored run; "
    "or finish (--resume) or refetch the failures of (--retry-failed) a stored run. "
    "Exit status: 0 every customer fetched; 3 the run finished with failed customers; "
    "1 the run stopped or was cancelled, or the command failed; 2 usage."
)
SHOW_REJECTED = 20  # rejected input rows listed on stderr; the rest are counted


# Exit codes of `doku audit` (README "Using it"): 0 every customer fetched; 1 the run
# stopped, was cancelled, or the command failed; 2 usage; 3 the run finished with
# failed customers (their results are stored: `--retry-failed RUN_ID`).
EXIT_FAILED_CUSTOMERS = 3

def add_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--name", help='a label for the run, e.g. "Nov month-end"')
    p.add_argument("--note", help="a note kept with the run")
    p.add_argument("--queue-only", action="store_true",
                   help="PostgreSQL store: put the run on the workers' queue and return "
                   "(by default this process fetches it too, beside any `doku worker`)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", type=int, metavar="RUN_ID",
                   help="fetch the customers of a run that have no result yet")
    g.add_argument("--retry-failed", type=int, metavar="RUN_ID",
                   help="refetch the failed customers of a run")


def _bar(p: Progress) -> str:
    width = 30
    frac = p.done / p.total if p.total else 1.0
    filled = int(width * frac)
    eta = f"ETA {p.eta_s:4.0f}s" if p.eta_s is not None else "ETA    -"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} "
            f"failed {p.failed}  {p.rate:6.1f}/s  {eta} ")


def _follow(job: BulkJob, quiet: bool, actor: Actor, held: HeldInterrupts) -> Progress:
    show = not quiet and sys.stderr.isatty()
    try:
        held.arm()  # a Ctrl+C while the job started is raised here
        while True:
            snap = job.wait(0.5)
            if show:
                render.status(_bar(snap))
            if snap.finished:
                break
    except KeyboardInterrupt:
        # Returns within ~2 s whatever the requests in flight do; recorded as a cancel.
        held.disarm()
        snap = stop_job(job, actor=actor)
    if show:
        render.end_status()
    return snap


def _read_input(args: argparse.Namespace) -> ParsedInput:
    """The customers to audit; rejected rows are listed on stderr."""
    if args.file == "-":
        parsed = parse_text(sys.stdin.read())
    else:
        parsed = parse_path(args.file, column=args.column, sheet=args.sheet)
    for r in parsed.rejected[:SHOW_REJECTED]:
        render.to_stderr(f"rejected row {r.row}: {r.value!r}: {r.reason}")
    if len(parsed.rejected) > SHOW_REJECTED:
        render.to_stderr(f"... and {len(parsed.rejected) - SHOW_REJECTED} more rejected rows")
    for r in parsed.flagged[:SHOW_REJECTED]:
        render.to_stderr(f"audited as given, row {r.row}: {r.value!r}: {r.reason}")
    if len(parsed.flagged) > SHOW_REJECTED:
        render.to_stderr(f"... and {len(parsed.flagged) - SHOW_REJECTED} more such IDs")
    return parsed


def _options(args: argparse.Namespace) -> AuditOptions:
    try:
        return AuditOptions(
            concurrency=args.concurrency, rps=args.rps, token_type=args.token_type,
            store_token_ids=args.store_token_ids, max_attempts=args.max_attempts,
            read_timeout_s=args.timeout,
        )
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def _new_input(args: argparse.Namespace) -> ParsedInput | None:
    """FILE's customers for a new run (read before the run starts: a Ctrl+C while a
    large file is read ends the command at once); None for --resume/--retry-failed."""
    again = args.resume if args.resume is not None else args.retry_failed
    if again is None:
        if not args.file:
            raise ConfigurationError("give a FILE (or - for stdin), --resume or --retry-failed")
        return _read_input(args)
    if args.file:
        raise ConfigurationError("give either FILE or --resume/--retry-failed, not both")
    return None


def _start(args: argparse.Namespace, store: Store, settings: Settings, actor: Actor,
           parsed: ParsedInput | None) -> BulkJob:
    """A new run of `parsed`, or the rest (or the failures) of a stored one."""
    if parsed is not None:
        return start_audit(store, parsed, settings, _options(args),
                           name=args.name, note=args.note, fetcher="cli", actor=actor)
    again = args.resume if args.resume is not None else args.retry_failed
    overrides = {"concurrency": args.concurrency, "rps": args.rps,
                 "max_attempts": args.max_attempts, "read_timeout_s": args.timeout}
    start = start_resume if args.resume is not None else start_retry_failed
    return start(store, again, settings, fetcher="cli", actor=actor, **overrides)


def summary(
    run_id: int, state: str, info: RunInfo, elapsed_s: float, duplicate_tokens: int = 0
) -> dict[str, Any]:
    """What --json prints (keys are a contract: add, never rename)."""
    return {
        "run_id": run_id,
        "status": state,
        "customers": info.customers,
        "fetched": info.fetched,
        "failed": info.failed,
        "pending": info.pending,
        "rejected": info.rejected,
        "duplicates": info.duplicates,
        "tokens": info.tokens,
        "elapsed_s": round(elapsed_s, 3),
        "duplicate_tokens": duplicate_tokens,
        "name": info.name,
        "note": info.note,
    }


def _print_summary(d: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.emit_json(d, indent=None)
        return
    status = d["status"]
    if status == "done" and d["failed"]:
        status = f"done with {d['failed']:,} failed"
    render.emit(
        f"run {d['run_id']}: {status}; {d['customers']} customers, {d['fetched']} fetched, "
        f"{d['failed']} failed, {d['pending']} pending, {d['tokens']} tokens; "
        f"{d['rejected']} rejected rows, {d['duplicates']} duplicates; {d['elapsed_s']} s"
    )
    if d["duplicate_tokens"]:
        render.note(f"DOKU listed {d['duplicate_tokens']:,} tokens twice in one answer; "
                    "each was counted once")


def _exit_status(snap: Progress, info: RunInfo, embedded: bool) -> int:
    """0 only when every customer was fetched (see EXIT_* for the others)."""
    if snap.state == "aborted":
        render.error(f"run {snap.run_id} stopped: {snap.error}")
        return 1
    if snap.state == "cancelled":
        render.error(f"run {snap.run_id} cancelled; resume with "
                     f"`doku audit --resume {snap.run_id}`")
        return 1
    if info.failed or info.pending:
        render.error(
            f"run {snap.run_id} done with {info.failed:,} failed of {info.customers:,} "
            f"customers; retry them with `doku audit --retry-failed {snap.run_id}`"
        )
        return EXIT_FAILED_CUSTOMERS
    if embedded:
        render.note("no DOKU credentials configured; used the built-in simulator")
    return 0


def _queue_only(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    """`--queue-only`: record the run for the workers and say so (run id on stdout)."""
    if not uses_queue(store):
        raise ConfigurationError(
            f"--queue-only needs a PostgreSQL store with `doku worker`s; {store.where} is "
            "SQLite, where `doku audit` fetches the run itself")
    if args.resume is not None or args.retry_failed is not None or not args.file:
        raise ConfigurationError("--queue-only takes a FILE (a new run)")
    settings = resolve(settings)
    parsed, options = _read_input(args), _options(args)
    run_id = create_run(store, parsed, settings, options, name=args.name, note=args.note,
                        queued=True, event=start_event(process_actor("cli"), parsed, options,
                                                       queued=True))
    queue_run(store, run_id)
    if args.json:
        render.emit_json({"run_id": run_id, "status": "queued"}, indent=None)
    else:
        render.emit(f"run {run_id}: queued for the workers")
    if not live_workers(store):
        render.note("no `doku worker` is running on this store; the run waits for one")
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = load_settings()
    embedded = settings.uses_simulator and settings.base_url is None
    if args.queue_only:
        with Store() as store:
            return _queue_only(args, store, settings)
    actor = process_actor("cli")
    with Store() as store:
        parsed = _new_input(args)
        with HeldInterrupts() as held:
            job = _start(args, store, settings, actor, parsed)
            snap = _follow(job, args.quiet, actor, held)
        info = store.get_run(job.run_id)
    assert info is not None
    elapsed = time.monotonic() - started
    _print_summary(summary(job.run_id, snap.state, info, elapsed, snap.duplicate_tokens), args.json)
    return _exit_status(snap, info, embedded)

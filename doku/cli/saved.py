"""`doku saved add NAME FILE|-`, `saved list`, `saved run NAME`, `saved remove NAME`:
customer lists kept in the store under a name, audited again on demand or on a
schedule (`doku schedule`). Every run of one is named after it and forms its series.

A run launched here (`saved run`, and `schedule fire` through `Launcher`) is fetched
by this process (SQLite; PostgreSQL when no `doku worker` is alive) or by the workers
(PostgreSQL). A job of this process dies with it, so the command waits for every such
job, with a progress line on a terminal, and Ctrl+C stops them all (their customers
stay pending: `doku audit --resume RUN_ID`). A run the workers fetch is reported as
queued, or followed in the store with `--wait`.

Adding, removing and running a saved audit, and Ctrl+C cancelling its runs, each add
one audit trail entry as DOKU_ACTOR or the OS user (`process_actor`), recorded by the
engine (`doku.engine.saved`, `doku.engine.firing`, `doku.engine.service`).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from doku.access import Actor, process_actor
from doku.cli import render
from doku.cli.audit import EXIT_FAILED_CUSTOMERS, summary
from doku.cli.audit import _options as audit_options
from doku.cli.audit import _read_input as read_input
from doku.cli.interrupts import HeldInterrupts
from doku.engine.bulk import BulkJob, Progress
from doku.engine.firing import run_saved
from doku.engine.saved import SavedAudit
from doku.engine.service import launch_run, stop_job
from doku.engine.store import Store
from doku.models import TOKEN_TYPES
from doku.settings import Settings, load_settings

DESCRIPTION = (
    "Saved audits: a customer list kept in the store under a name, to audit again on "
    "demand (`saved run`) or on a schedule (`doku schedule add`). `saved run` exits as "
    "`doku audit` does: 0 every customer fetched; 3 failed customers; 1 stopped or failed."
)
COLUMNS = ("id", "name", "customers", "schedules", "last_run", "last_run_at", "input",
           "created_by")
NUMBERS = ("id", "customers", "schedules", "last_run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="save a customer list under a name",
                             description="Save the customers of FILE (or IDs on stdin) "
                             "with the options their runs will use.")
    add.add_argument("name", metavar="NAME", help="its name, e.g. 'Monthly merchants'")
    add.add_argument("file", metavar="FILE|-",
                     help="CSV/TSV/TXT/XLSX of customers, or - for IDs on stdin")
    add.add_argument("--column", help="name of the customer ID column")
    add.add_argument("--sheet", help="xlsx sheet (default: the first)")
    add.add_argument("--type", choices=TOKEN_TYPES, dest="token_type")
    add.add_argument("--concurrency", type=int, default=8, help="parallel requests (default 8)")
    add.add_argument("--rps", type=float, default=None, help="max requests per second overall")
    add.add_argument("--store-token-ids", action="store_true",
                     help="keep raw token IDs in the store (default: fingerprints only)")
    add.add_argument("--max-attempts", type=int, default=4, help="attempts per customer")
    add.add_argument("--timeout", type=float, default=30.0, help="read timeout in seconds")
    add.add_argument("--json", action="store_true", help="the saved audit as JSON")

    listed = actions.add_parser("list", help="the saved audits")
    listed.add_argument("--json", action="store_true", help="a JSON array on stdout")

    again = actions.add_parser(
        "run", help="audit a saved list now",
        description="Record a run of the saved list and fetch it. Fetched in this "
        "process (SQLite, or PostgreSQL with no `doku worker` alive), the command waits "
        "for it to finish; left to the workers, it prints the run id and returns "
        "(--wait: follow it to the end).")
    again.add_argument("name", metavar="NAME", help="its name (or id)")
    again.add_argument("--wait", action="store_true",
                       help="wait for a run the workers fetch, too")
    again.add_argument("--quiet", action="store_true", help="no progress line")
    again.add_argument("--json", action="store_true", help="one JSON summary on stdout")

    remove = actions.add_parser("remove", help="remove a saved audit and its schedules "
                                "(its runs stay)")
    remove.add_argument("name", metavar="NAME", help="its name (or id)")


def saved_row(saved: SavedAudit) -> dict[str, Any]:
    """One saved audit as listed (--json keys: add, never rename)."""
    return {
        "id": saved.id,
        "name": saved.name,
        "customers": saved.customers,
        "schedules": saved.schedules,
        "last_run": saved.last_run_id,
        "last_run_at": saved.last_run_at,
        "input": saved.input_name,
        "created_at": saved.created_at,
        "created_by": saved.created_by,
        "token_type": saved.token_type,
        "attribute_columns": saved.attribute_columns,
        "options": saved.options,
    }


def _add(args: argparse.Namespace, store: Store) -> int:
    parsed = read_input(args)
    options = audit_options(args)
    kept = {k: v for k, v in options.to_dict().items() if k != "token_type"}
    saved_id = store.save_audit(parsed, args.name, kept, options.token_type,
                                actor=process_actor("cli"))
    saved = store.saved_audit(saved_id)
    if args.json:
        render.emit_json(saved_row(saved))
        return 0
    left_out = [f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in (
        (len(parsed.rejected), "rejected row"), (parsed.duplicates, "duplicate")) if n]
    render.emit(f"saved audit {saved.id} {saved.name!r}: {saved.customers:,} customers from "
                f"{saved.input_name}" + (f" ({', '.join(left_out)} not kept)" if left_out
                                         else ""))
    return 0


def _list(args: argparse.Namespace, store: Store) -> int:
    rows = [saved_row(s) for s in store.saved_audits()]
    if args.json:
        render.emit_json(rows)
    elif not rows:
        render.emit("no saved audits yet; add one with `doku saved add NAME FILE`")
    else:
        render.emit_lines(render.format_table(
            COLUMNS, [[r[c] for c in COLUMNS] for r in rows], right=NUMBERS))
    return 0


def _run(args: argparse.Namespace, store: Store) -> int:
    launcher = Launcher()
    with HeldInterrupts() as held:
        run_saved(store, args.name, load_settings(), launch=launcher, actor=launcher.actor)
        rows = launcher.follow(store, quiet=args.quiet, wait=args.wait, held=held)
    if args.json:
        render.emit_json(rows[0] if rows else {}, indent=None)
    else:
        print_runs(rows)
    return exit_status(rows)


def _remove(args: argparse.Namespace, store: Store) -> int:
    removed = store.remove_saved_audit(args.name, actor=process_actor("cli"))
    schedules = {0: "", 1: " and its schedule"}.get(
        removed.schedules, f" and its {removed.schedules} schedules")
    render.emit(f"removed saved audit {removed.name!r}{schedules}; its runs stay in the store")
    return 0



# -- launched runs, followed to their end (`saved run`, `schedule fire`) ---------------
POLL_S = 1.0  # how often --wait reads a queued run's progress from the store
FINISHED = frozenset({"done", "cancelled", "aborted", "interrupted"})
STOPPED = frozenset({"cancelled", "aborted", "interrupted"})


class Launcher:
    """`launch` for `doku.engine.firing`: `launch_run` as the CLI, keeping the jobs
    this process started (run id -> job, None for a run left to the workers). `actor`:
    who is acting (DOKU_ACTOR or the OS user), for the trail."""

    def __init__(self) -> None:
        self.jobs: dict[int, BulkJob | None] = {}
        self.started = time.monotonic()
        self.actor = process_actor("cli")

    def __call__(self, store: Store, run_id: int, settings: Settings) -> BulkJob | None:
        job = launch_run(store, run_id, settings, fetcher="cli")
        self.jobs[run_id] = job
        return job

    def follow(self, store: Store, *, quiet: bool, wait: bool,
               held: HeldInterrupts) -> list[dict[str, Any]]:
        """Wait for this process's jobs (and, with `wait`, the workers' runs); then
        each run's summary (`doku audit --json`'s keys, and `saved_audit_id` and
        `scheduled_for`), in launch order. `held`: the Ctrl+Cs held while launching."""
        snaps = _follow_jobs([j for j in self.jobs.values() if j is not None], quiet,
                             self.actor, held)
        queued = [rid for rid, job in self.jobs.items() if job is None]
        if wait and queued:
            _poll(store, queued, quiet)
        results = []
        for run_id, job in self.jobs.items():
            info = store.get_run(run_id)
            if info is None:  # removed meanwhile (the Runs page): nothing to report
                continue
            snap = snaps.get(run_id)
            state = snap.state if snap is not None else info.status
            elapsed = (snap.elapsed_s if snap is not None
                       else time.monotonic() - self.started)
            row = summary(run_id, state, info, elapsed,
                          snap.duplicate_tokens if snap is not None else 0)
            row.update(saved_audit_id=info.saved_audit_id, scheduled_for=info.scheduled_for,
                       fetched_here=job is not None)
            results.append(row)
        return results


def _bar(snaps: list[Progress]) -> str:
    done = sum(s.done for s in snaps)
    total = sum(s.total for s in snaps)
    failed = sum(s.failed for s in snaps)
    runs = "run" if len(snaps) == 1 else f"{len(snaps)} runs"
    return f"{runs}: {done:,}/{total:,} customers, {failed:,} failed "


def _follow_jobs(jobs: list[BulkJob], quiet: bool, actor: Actor,
                 held: HeldInterrupts) -> dict[int, Progress]:
    show = not quiet and sys.stderr.isatty()
    snaps = {job.run_id: job.snapshot() for job in jobs}
    try:
        held.arm()  # a Ctrl+C while the runs were launched is raised here
        while not all(s.finished for s in snaps.values()):
            for job in jobs:
                snaps[job.run_id] = job.wait(0.5 / len(jobs))
            if show:
                render.status(_bar(list(snaps.values())))
    except KeyboardInterrupt:  # each stops within ~2 s; each cancel is recorded
        held.disarm()
        snaps = {job.run_id: stop_job(job, actor=actor) for job in jobs}
    held.arm()  # Ctrl+C stops waiting for the workers' runs (`_poll`)
    if show:
        render.end_status()
    return snaps


def _poll(store: Store, run_ids: list[int], quiet: bool) -> None:
    """Read the runs the workers fetch until each has finished (Ctrl+C stops waiting,
    not the runs)."""
    show = not quiet and sys.stderr.isatty()
    pause = threading.Event()  # never set: an interruptible pause
    try:
        while True:
            runs = [r for r in (store.get_run(rid) for rid in run_ids) if r is not None]
            if show:
                done = sum(r.fetched + r.failed for r in runs)
                total = sum(r.customers for r in runs)
                render.status(f"queued: {done:,}/{total:,} customers fetched by the workers ")
            if all(r.status in FINISHED for r in runs):
                break
            pause.wait(POLL_S)
    except KeyboardInterrupt:
        render.note("stopped waiting; the workers go on with the runs")
    if show:
        render.end_status()


def print_runs(rows: list[dict[str, Any]]) -> None:
    """One line per run (the summaries of `Launcher.follow`)."""
    for d in rows:
        label = f"run {d['run_id']}"
        if d["scheduled_for"]:
            label += f" (slot {d['scheduled_for']})"
        if d["status"] == "queued" or (d["status"] == "running" and not d["fetched_here"]):
            render.emit(f"{label}: {d['status']} for the workers; {d['customers']:,} customers "
                        "(follow it with `doku runs` or `doku queue`)")
            continue
        status = d["status"]
        if status == "done" and d["failed"]:
            status = f"done with {d['failed']:,} failed"
        render.emit(
            f"{label}: {status}; {d['customers']:,} customers, {d['fetched']:,} fetched, "
            f"{d['failed']:,} failed, {d['pending']:,} pending, {d['tokens']:,} tokens; "
            f"{d['elapsed_s']} s")


def exit_status(rows: list[dict[str, Any]]) -> int:
    """1 when a run stopped (resume it), else 3 when one has failed customers, else 0
    (a run left to the workers counts as fine: it has not finished here)."""
    stopped = [d for d in rows if d["status"] in STOPPED]
    for d in stopped:
        render.error(f"run {d['run_id']} {d['status']}; resume it with "
                     f"`doku audit --resume {d['run_id']}`")
    if stopped:
        return 1
    failed = [d for d in rows if d["status"] == "done" and (d["failed"] or d["pending"])]
    for d in failed:
        render.error(f"run {d['run_id']} done with {d['failed']:,} failed of "
                     f"{d['customers']:,} customers; retry them with "
                     f"`doku audit --retry-failed {d['run_id']}`")
    return EXIT_FAILED_CUSTOMERS if failed else 0


ACTIONS = {"add": _add, "list": _list, "run": _run, "remove": _remove}


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        return ACTIONS[args.action](args, store)

"""`doku schedule add NAME --cron "0 2 1 * *"`, `schedule list`, `schedule remove ID`,
`schedule fire [--now ISO]`: when saved audits run by themselves.

Times are UTC. On PostgreSQL the `doku worker`s fire schedules by themselves; on the
SQLite default a system cron runs `doku schedule fire` (every few minutes, say): each
call fires what is due then, only the latest missed slot of a schedule, never twice.
Adding, removing and firing (one entry per run made) are recorded in the audit trail
as DOKU_ACTOR or the OS user.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from doku.access import process_actor
from doku.cli import render
from doku.cli.interrupts import HeldInterrupts
from doku.cli.saved import Launcher, exit_status, print_runs
from doku.engine.firing import fire_due
from doku.engine.schedules import Schedule, iso, parse_iso
from doku.engine.store import Store
from doku.errors import DokuError
from doku.settings import load_settings

DESCRIPTION = (
    "Schedules of saved audits (5-field cron, UTC). `schedule fire` fires what is due "
    "now, for a system cron on the SQLite default: `*/5 * * * * doku schedule fire`. It "
    "waits for the runs it fetches itself and exits as `doku audit` does (0 every "
    "customer fetched; 3 failed customers; 1 a run stopped or a schedule did not fire)."
)
COLUMNS = ("id", "saved_audit", "cron", "next_slot", "last_slot", "created_by")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="run a saved audit on a cron schedule (UTC)")
    add.add_argument("name", metavar="NAME", help="the saved audit's name (or id)")
    add.add_argument("--cron", required=True,
                     help='minute hour day-of-month month day-of-week, in UTC: "0 2 1 * *" '
                     "is 02:00 on the 1st of every month")
    add.add_argument("--json", action="store_true", help="the schedule as JSON")

    listed = actions.add_parser("list", help="every schedule and its next slot")
    listed.add_argument("--json", action="store_true", help="a JSON array on stdout")

    remove = actions.add_parser("remove", help="remove a schedule")
    remove.add_argument("id", type=int, metavar="ID", help="the schedule's id (`schedule list`)")

    fire = actions.add_parser("fire", help="fire the schedules due now")
    fire.add_argument("--now", metavar="ISO",
                      help="fire as if it were this UTC time (default: the clock)")
    fire.add_argument("--wait", action="store_true",
                      help="wait for runs the workers fetch, too")
    fire.add_argument("--quiet", action="store_true", help="no progress line")
    fire.add_argument("--json", action="store_true", help="one JSON object on stdout")


def schedule_row(schedule: Schedule) -> dict[str, Any]:
    """One schedule as listed (--json keys: add, never rename)."""
    return schedule.to_dict()


def _add(args: argparse.Namespace, store: Store) -> int:
    schedule_id = store.add_schedule(args.name, args.cron, actor=process_actor("cli"))
    [schedule] = [s for s in store.schedules() if s.id == schedule_id]
    if args.json:
        render.emit_json(schedule_row(schedule))
    else:
        render.emit(f"schedule {schedule.id}: {schedule.saved_audit!r} at {schedule.cron} "
                    f"(UTC); next {schedule.next_slot}")
    return 0


def _list(args: argparse.Namespace, store: Store) -> int:
    rows = [schedule_row(s) for s in store.schedules()]
    if args.json:
        render.emit_json(rows)
    elif not rows:
        render.emit("no schedules yet; add one with `doku schedule add NAME --cron CRON`")
    else:
        render.emit_lines(render.format_table(
            COLUMNS, [[r[c] for c in COLUMNS] for r in rows], right=("id",)))
    return 0


def _remove(args: argparse.Namespace, store: Store) -> int:
    store.remove_schedule(args.id, actor=process_actor("cli"))
    render.emit(f"removed schedule {args.id}")
    return 0


def _fire(args: argparse.Namespace, store: Store) -> int:
    now = parse_iso(args.now) if args.now else datetime.now(timezone.utc)
    errors: list[dict[str, Any]] = []

    def on_error(schedule: Schedule, exc: DokuError) -> None:
        errors.append({"schedule": schedule.id, "saved_audit": schedule.saved_audit,
                       "error": str(exc)})
        render.error(f"schedule {schedule.id} ({schedule.saved_audit!r}) did not fire: {exc}")

    launcher = Launcher()
    with HeldInterrupts() as held:
        fire_due(store, load_settings(), now=now, launch=launcher, on_error=on_error,
                 actor=launcher.actor)
        rows = launcher.follow(store, quiet=args.quiet, wait=args.wait, held=held)
    if args.json:
        render.emit_json({"now": iso(now), "runs": rows, "errors": errors}, indent=None)
    elif rows:
        print_runs(rows)
    elif not errors:
        render.emit(f"nothing due at {iso(now)}")
    status = exit_status(rows)
    return 1 if errors else status


ACTIONS = {"add": _add, "list": _list, "remove": _remove, "fire": _fire}


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        return ACTIONS[args.action](args, store)

"""`doku trail [--since WHEN] [--action NAME] [--actor NAME] [--limit N] [--json]`: the
audit trail, oldest first.

The trail is append-only (the store refuses changes to it): who signed in, looked up a
customer, started, cancelled, resumed or retried an audit, revealed token IDs,
downloaded or exported, deleted a run, changed a saved audit or schedule, and which
schedules fired. The dashboard's admin page shows the same entries.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from doku.cli import render
from doku.engine.schedules import iso, parse_iso
from doku.engine.store import Store
from doku.engine.trail import ACTIONS, DEFAULT_LIMIT, TrailEntry
from doku.errors import InvalidInputError

DESCRIPTION = (
    "The audit trail, oldest first: who did what, when, to which object (sign-ins, "
    "lookups, audits started/cancelled/resumed/retried, reveals, downloads and exports, "
    "run deletions, saved audit and schedule changes). Entries are never changed or "
    "removed. The CLI and Python API record their actions as DOKU_ACTOR or the OS user."
)
COLUMNS = ("id", "at", "actor", "via", "role", "action", "object", "detail")
JSON_KEYS = COLUMNS  # --json keys: add, never rename
_AGO = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN",
                        help="only entries at or after WHEN: an ISO-8601 time (UTC unless "
                        "it says otherwise) or an age such as 7d, 24h, 30m")
    parser.add_argument("--action", choices=ACTIONS, help="only this action")
    parser.add_argument("--actor", metavar="NAME", help="only this actor (exact name)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                        help=f"at most the N newest entries (default {DEFAULT_LIMIT})")
    parser.add_argument("--json", action="store_true", help="a JSON array on stdout")


def since_text(when: str, now: datetime | None = None) -> str:
    """`--since` as the trail stores times (UTC ISO-8601 to the second, "...Z"): an age
    (7d, 24h, 30m) before `now` (default the clock), or a time; InvalidInputError
    naming the text when it is neither."""
    ago = _AGO.match(when)
    if ago:
        moment = (now or datetime.now(timezone.utc)) - timedelta(
            **{_UNITS[ago[2].lower()]: int(ago[1])})
        return iso(moment)
    try:
        return iso(parse_iso(when))
    except InvalidInputError:
        raise InvalidInputError(
            f"--since {when!r} is neither an ISO-8601 time nor an age like 7d, 24h or 30m"
        ) from None


def entry_row(entry: TrailEntry) -> dict[str, Any]:
    """One entry as --json prints it."""
    return {key: getattr(entry, key) for key in JSON_KEYS}


def detail_text(detail: dict[str, Any]) -> str:
    """An entry's detail on one line: `key=value` pairs (None as -)."""
    return ", ".join(f"{k}={render.NONE if v is None else v}" for k, v in detail.items())


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InvalidInputError(f"--limit must be at least 1, not {args.limit}")
    since = since_text(args.since) if args.since else None
    with Store() as store:
        entries = store.trail(since=since, action=args.action, actor=args.actor,
                              limit=args.limit)
    if args.json:
        render.emit_json([entry_row(e) for e in entries])
        return 0
    if not entries:
        render.emit("no trail entries" + (f" since {since}" if since else ""))
        return 0
    rows = [[e.id, e.at, e.actor, e.via, e.role, e.action, e.object, detail_text(e.detail)]
            for e in entries]
    render.emit_lines(render.format_table(COLUMNS, rows, right=("id",)))
    return 0

"""`doku runs [--json] [--limit N]`: the stored runs, newest first, with their counts.

Counts are the store's own (one query per run list), so they match `report`.
"""

from __future__ import annotations

import argparse
from typing import Any

from doku.cli import render
from doku.engine import jobs
from doku.engine.schema import RunInfo
from doku.engine.store import Store

DESCRIPTION = "Stored runs, newest first."
COLUMNS = (
    "id", "created", "status", "name", "input", "customers", "fetched", "failed", "pending",
    "with_tokens", "tokens", "rejected", "duplicates",
)
LEFT = frozenset({"created", "status", "name", "input"})  # text; the other columns are numbers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="a JSON array on stdout")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="newest N runs")


def run_row(info: RunInfo) -> dict[str, Any]:
    """One run as listed (no credentials, client ID or options)."""
    return {
        "id": info.id,
        "created": info.created_at,
        "status": info.status,
        "input": info.input_name,
        "env": info.env,
        "customers": info.customers,
        "fetched": info.fetched,
        "failed": info.failed,
        "pending": info.pending,
        "with_tokens": info.with_tokens,
        "tokens": info.tokens,
        "rejected": info.rejected,
        "duplicates": info.duplicates,
        "name": info.name,
        "note": info.note,
        "token_type": info.token_type,
        "archived": info.archived,
    }


def format_runs(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no runs yet"
    right = [c for c in COLUMNS if c not in LEFT]
    return "\n".join(render.format_table(COLUMNS, [[r[c] for c in COLUMNS] for r in rows],
                                         right=right))


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        jobs.mark_orphans(store)  # a run whose process is gone is interrupted, not running
        rows = [run_row(r) for r in store.list_runs(limit=args.limit)]
    if args.json:
        render.emit_json(rows)
    else:
        render.emit(format_runs(rows))
    return 0

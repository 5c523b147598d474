"""`python -m doku runs [--json]`: the stored runs, newest first, with their counts.

Counts are the store's own (one query per run list), so they match `report`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from doku.cli.report import printable
from doku.engine.schema import RunInfo
from doku.engine.store import Store

COLUMNS = (
    "id", "created", "status", "input", "customers", "fetched", "failed", "pending",
    "with_tokens", "tokens", "rejected", "duplicates",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "runs", help="list stored runs", description="Stored runs, newest first."
    )
    parser.add_argument("--json", action="store_true", help="a JSON array on stdout")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="newest N runs")
    parser.set_defaults(func=run)


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
    }


def format_runs(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no runs yet"
    cells = [[printable(r[c]) for c in COLUMNS] for r in rows]
    header = list(COLUMNS)
    widths = [max(len(x[i]) for x in [header, *cells]) for i in range(len(COLUMNS))]
    left = {"created", "status", "input"}
    lines = []
    for row in [header, *cells]:
        parts = [
            v.ljust(w) if c in left else v.rjust(w)
            for c, v, w in zip(COLUMNS, row, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        rows = [run_row(r) for r in store.list_runs(limit=args.limit)]
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_runs(rows))
    return 0

"""`doku compare RUN_A RUN_B [--json]`: what changed from run A to run B.

Customers are matched by customer ID, tokens by fingerprint. Gained/lost customers and
added/removed tokens count ONLY customers fetched in BOTH runs (a failed or pending
result says nothing about tokens); uptake figures are each run's own, over its own
fetched customers. See `doku.analysis.comparison.Comparison`.
"""

from __future__ import annotations

import argparse

from doku.analysis.comparison import Comparison, compare_runs
from doku.analysis.frames import load_run_frames
from doku.cli import render
from doku.cli.render import pct, pp, printable
from doku.engine.store import Store, resolve_run

SHOW_IDS = 10
DESCRIPTION = (
    "Customers and tokens gained or lost between two runs (only customers fetched in both "
    "runs are compared) and the change in uptake."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="earlier run id, or 'latest'")
    parser.add_argument("run_b", metavar="RUN_B", help="later run id, or 'latest'")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _ids(ids: list[str]) -> str:
    shown = ", ".join(printable(i) for i in ids[:SHOW_IDS])
    more = len(ids) - SHOW_IDS
    return shown + (f", ... ({more:,} more)" if more > 0 else "")


def format_comparison(c: Comparison) -> str:
    """Readable text of a Comparison."""
    ua, ub = c.uptake_a, c.uptake_b
    lines = [f"warning: {w}" for w in c.warnings()]
    lines += [
        f"Run {c.run_a} -> run {c.run_b}",
        f"Customers   {c.customers_a:,} in A, {c.customers_b:,} in B, {c.in_both:,} in both",
        f"  only in A {len(c.only_in_a):,}" + (f": {_ids(c.only_in_a)}" if c.only_in_a else ""),
        f"  only in B {len(c.only_in_b):,}" + (f": {_ids(c.only_in_b)}" if c.only_in_b else ""),
        f"Compared    {c.fetched_in_both:,} customers fetched in both runs "
        f"({c.not_comparable:,} in both but failed or pending in one: not compared)",
        f"  gained tokens {len(c.gained):,}" + (f": {_ids(c.gained)}" if c.gained else ""),
        f"  lost tokens   {len(c.lost):,}" + (f": {_ids(c.lost)}" if c.lost else ""),
        f"  unchanged     {c.unchanged:,}",
        f"Tokens      {c.tokens_added:,} added, {c.tokens_removed:,} removed (by fingerprint)",
        f"Uptake      A {pct(ua.share)} ({ua.with_tokens:,}/{ua.fetched:,} fetched)"
        f" -> B {pct(ub.share)} ({ub.with_tokens:,}/{ub.fetched:,} fetched)"
        f"  {pp(c.uptake_change)}",
    ]
    for title, frame, label in (
        ("Uptake by type", c.uptake_by_type, "type"),
        ("Uptake by issuer", c.uptake_by_issuer, "issuer"),
    ):
        lines += ["", title]
        width = max([len(label), *(len(printable(v)) for v in frame[label])])
        for r in frame.to_dict("records"):
            lines.append(
                f"  {printable(r[label]):<{width}}  A {pct(r['uptake_a'])} "
                f"({r['with_tokens_a']:,}/{r['fetched_a']:,})  ->  B {pct(r['uptake_b'])} "
                f"({r['with_tokens_b']:,}/{r['fetched_b']:,})  {pp(r['change'])}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        a = resolve_run(store, args.run_a)
        b = resolve_run(store, args.run_b)
        comparison = compare_runs(load_run_frames(store, a.id), load_run_frames(store, b.id))
    if args.json:
        render.emit_json(comparison.to_dict())
    else:
        render.emit(format_comparison(comparison))
    return 0

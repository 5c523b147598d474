"""`python -m doku report RUN_ID [--json] [--by ATTRIBUTE]`: a run's headline numbers.

Every figure comes from `doku.analysis.aggregates` on the run's frames, the same functions the
dashboard uses, so the CLI and the insights page cannot disagree. Uptake is always over
FETCHED customers; failed and pending customers are listed beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from doku.analysis.aggregates import (
    by_brand,
    by_issuer,
    summary,
    tokens_per_customer,
    uptake_by_attribute,
    uptake_dict,
)
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.labels import attribute_column
from doku.engine.store import Store, resolve_run
from doku.models import CREDIT_CARD, DIRECT_DEBIT

TYPE_NAMES = {DIRECT_DEBIT: "direct debit", CREDIT_CARD: "credit card"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="headline numbers of a stored run",
        description="Counts and uptake of one stored run. Uptake = fetched customers "
        "holding at least one token / fetched customers (failed and pending excluded).",
    )
    parser.add_argument("run", metavar="RUN_ID", help="run id, or 'latest'")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--by",
        metavar="ATTRIBUTE",
        action="append",
        default=[],
        help="uptake per value of this customer attribute (repeatable)",
    )
    parser.set_defaults(func=run)


def report_data(frames: RunFrames, by: list[str]) -> dict[str, Any]:
    """The report as plain JSON-able data (what --json prints)."""
    data = summary(frames)
    run = frames.run
    dist = tokens_per_customer(frames.customers)
    data.update(
        {
            "run_status": run.status,
            "input_name": run.input_name,
            "created_at": run.created_at,
            "tokens_per_customer": dict(
                zip(dist["tokens"].astype(str), dist["customers"].tolist(), strict=True)
            ),
        }
    )
    if by:
        data["uptake_by"] = {}
        for attribute in by:
            column = attribute_column(frames, attribute)
            frame = uptake_by_attribute(frames.customers, column)
            data["uptake_by"][attribute] = uptake_dict(frame, "value")
    return data


def printable(text: object) -> str:
    """Text safe for a terminal: control characters (e.g. ANSI escapes hidden in an
    uploaded attribute value) are shown escaped instead of interpreted."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    lines = [printable(title)]
    rows = [tuple(printable(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        rest = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def format_report(frames: RunFrames, data: dict[str, Any]) -> str:
    """Readable text of `report_data`."""
    run = frames.run
    lines = [
        f"Run {run.id} ({run.status}) - input {printable(run.input_name)}"
        f" - created {run.created_at}",
        f"Customers  {data['customers']:,} valid input rows "
        f"({run.rejected:,} rejected, {run.duplicates:,} duplicates)",
        f"  fetched  {data['fetched']:,}",
        f"  failed   {data['failed']:,}  (excluded from uptake)",
        f"  pending  {data['pending']:,}  (excluded from uptake)",
        f"Uptake     {_pct(data['uptake'])}  ({data['with_tokens']:,} of {data['fetched']:,} "
        "fetched customers hold at least one token)",
    ]
    for kind, row in data["uptake_by_type"].items():
        lines.append(
            f"  {TYPE_NAMES.get(kind, kind):<13}{_pct(row['uptake'])}  "
            f"({row['with_tokens']:,} of {row['fetched']:,})"
        )
    type_parts = ", ".join(f"{TYPE_NAMES.get(k, k)} {v:,}" for k, v in data["by_type"].items())
    lines.append(f"Tokens     {data['tokens']:,}  ({type_parts})")
    lines.append("")
    issuers = by_issuer(frames.tokens)
    lines += _table(
        "Tokens by issuer",
        [(str(i), f"{n:,}") for i, n in zip(issuers["issuer"], issuers["tokens"], strict=True)],
        ("issuer", "tokens"),
    )
    lines.append("")
    brands = by_brand(frames.tokens)
    lines += _table(
        "Tokens by brand",
        [(str(b), f"{n:,}") for b, n in zip(brands["brand"], brands["tokens"], strict=True)],
        ("brand", "tokens"),
    )
    lines.append("")
    lines += _table(
        "Fetched customers by tokens held",
        [(k, f"{v:,}") for k, v in data["tokens_per_customer"].items()],
        ("tokens", "customers"),
    )
    for attribute, values in data.get("uptake_by", {}).items():
        lines.append("")
        lines += _table(
            f"Uptake by {attribute} (failed and pending excluded from 'fetched')",
            [
                (v, f"{r['customers']:,}", f"{r['fetched']:,}", f"{r['with_tokens']:,}",
                 _pct(r["uptake"]), f"{r['failed']:,}", f"{r['pending']:,}")
                for v, r in values.items()
            ],
            ("value", "customers", "fetched", "with tokens", "uptake", "failed", "pending"),
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        info = resolve_run(store, args.run)
        frames = load_run_frames(store, info.id)
    data = report_data(frames, list(args.by))
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(frames, data))
    return 0

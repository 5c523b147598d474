"""`doku report RUN_ID [--json] [--by ATTRIBUTE]`: a run's headline numbers.

Every figure comes from `doku.analysis.aggregates` on the run's frames, the same functions the
dashboard uses, so the CLI and the insights page cannot disagree. Uptake is always over
FETCHED customers; failed and pending customers are listed beside it.
"""

from __future__ import annotations

import argparse
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
from doku.cli import render
from doku.engine.store import Store, resolve_run
from doku.models import CREDIT_CARD, DIRECT_DEBIT

TYPE_NAMES = {DIRECT_DEBIT: "direct debit", CREDIT_CARD: "credit card"}
DESCRIPTION = (
    "Counts and uptake of one stored run. Uptake = fetched customers holding at least one "
    "token / fetched customers (failed and pending excluded)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_ID", help="run id, or 'latest'")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--by",
        metavar="ATTRIBUTE",
        action="append",
        default=[],
        help="uptake per value of this customer attribute (repeatable)",
    )


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


def _table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    """A titled table: first column left-aligned, numbers right-aligned, indented."""
    return [render.printable(title), *render.format_table(header, rows, right=header[1:],
                                                          indent="  ")]


def format_report(frames: RunFrames, data: dict[str, Any]) -> str:
    """Readable text of `report_data`."""
    run = frames.run
    lines = [
        f"Run {run.id} ({run.status}) - input {render.printable(run.input_name)}"
        f" - created {run.created_at}",
        f"Customers  {data['customers']:,} valid input rows "
        f"({run.rejected:,} rejected, {run.duplicates:,} duplicates)",
        f"  fetched  {data['fetched']:,}",
        f"  failed   {data['failed']:,}  (excluded from uptake)",
        f"  pending  {data['pending']:,}  (excluded from uptake)",
        f"Uptake     {render.pct(data['uptake'])}  ({data['with_tokens']:,} of {data['fetched']:,} "
        "fetched customers hold at least one token)",
    ]
    for kind, row in data["uptake_by_type"].items():
        lines.append(
            f"  {TYPE_NAMES.get(kind, kind):<13}{render.pct(row['uptake'])}  "
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
                 render.pct(r["uptake"]), f"{r['failed']:,}", f"{r['pending']:,}")
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
        render.emit_json(data)
    else:
        render.emit(format_report(frames, data))
    return 0

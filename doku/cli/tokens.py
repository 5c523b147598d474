"""`python -m doku tokens CUSTOMER_ID [--type T] [--json] [--reveal]`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from doku.engine.connection import connect
from doku.models import TOKEN_FIELDS, TOKEN_TYPES
from doku.settings import load_settings

EMPTY_NOTE = (
    "no tokens: DOKU answers the same for a customer without tokens and for an unknown customer ID"
)


def register(sub: Any) -> None:
    p = sub.add_parser("tokens", help="list one customer's stored tokens")
    p.add_argument("customer_id", metavar="CUSTOMER_ID")
    p.add_argument("--type", choices=TOKEN_TYPES, dest="token_type", help="only this type")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--reveal", action="store_true", help="show full token IDs")
    p.set_defaults(func=run)


def render_table(rows: list[dict[str, Any]]) -> str:
    """Plain aligned columns; None shown as '-'."""
    cells = [[("-" if r[f] is None else str(r[f])) for f in TOKEN_FIELDS] for r in rows]
    widths = [max([len(f)] + [len(c[i]) for c in cells]) for i, f in enumerate(TOKEN_FIELDS)]
    lines = ["  ".join(f.ljust(w) for f, w in zip(TOKEN_FIELDS, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with connect(settings, pool_size=1) as client:
        result = client.get_tokens(args.customer_id, args.token_type)
    rows = [t.to_dict(reveal=args.reveal) for t in result.tokens]
    if settings.uses_simulator and settings.base_url is None:
        # Only on success: a failure stays one line on stderr.
        print("note: no DOKU credentials configured; used the built-in simulator",
              file=sys.stderr)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        if not rows:
            print(f"note: {EMPTY_NOTE}", file=sys.stderr)
        return 0
    if not rows:
        print(f"{args.customer_id}: {EMPTY_NOTE}")
        return 0
    print(render_table(rows))
    verified = "verified" if result.signature_verified else "NOT signed (simulator)"
    print(
        f"\n{len(rows)} token(s); response signature {verified}; "
        f"Request-Id {result.request_id}; {result.latency_ms:.0f} ms"
    )
    return 0

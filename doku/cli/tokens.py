"""`doku tokens CUSTOMER_ID [--type T] [--json] [--reveal]`: one customer's tokens.

Each lookup is recorded in the audit trail (`doku.engine.lookups`); when it cannot be
written, the command fails and shows nothing. Stays light (no pandas): a single lookup
should start fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from doku.access import process_actor
from doku.cli import render
from doku.engine.lookups import lookup_tokens
from doku.models import TOKEN_FIELDS, TOKEN_TYPES
from doku.settings import Settings, load_settings

DESCRIPTION = (
    "One customer's stored tokens, as DOKU answers them (token IDs masked). Recorded in "
    "the audit trail (`doku trail`) as DOKU_ACTOR or the OS user, the customer by "
    "fingerprint; --reveal is recorded too. If the trail cannot be written the lookup "
    "fails and nothing is shown."
)
EMPTY_NOTE = (
    "no tokens: DOKU answers the same for a customer without tokens and for an unknown customer ID"
)
SIMULATOR_NOTE = "no DOKU credentials configured; used the built-in simulator"
LOOKUP_MAX_RETRY_AFTER_S = 10.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer_id", metavar="CUSTOMER_ID")
    p.add_argument("--type", choices=TOKEN_TYPES, dest="token_type", help="only this type")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--reveal", action="store_true",
                   help="show full token IDs (recorded in the audit trail)")


def render_table(rows: list[dict[str, Any]]) -> str:
    """Plain aligned columns; None shown as '-'."""
    cells = [[r[f] for f in TOKEN_FIELDS] for r in rows]
    return "\n".join(render.format_table(TOKEN_FIELDS, cells))


def _embedded(settings: Settings) -> bool:
    return settings.uses_simulator and settings.base_url is None


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    # Someone is waiting at the terminal: a 429's Retry-After is honoured up to 10 s.
    result = lookup_tokens(args.customer_id, args.token_type, settings=settings,
                           reveal=args.reveal, actor=process_actor("cli"), pool_size=1,
                           max_retry_after_s=LOOKUP_MAX_RETRY_AFTER_S)
    rows = [t.to_dict(reveal=args.reveal) for t in result.tokens]
    if _embedded(settings):
        render.note(SIMULATOR_NOTE)  # only on success: a failure stays one line
    if args.json:
        render.emit_json(rows)
        if not rows:
            render.note(EMPTY_NOTE)
        return 0
    if not rows:
        render.emit(f"{args.customer_id}: {EMPTY_NOTE}")
        return 0
    verified = "verified" if result.signature_verified else "NOT signed (simulator)"
    render.emit(
        f"{render_table(rows)}\n\n{len(rows)} token(s); response signature {verified}; "
        f"Request-Id {result.request_id}; {result.latency_ms:.0f} ms"
    )
    return 0

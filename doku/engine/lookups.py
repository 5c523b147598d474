"""One customer's tokens, looked up and recorded in the audit trail (`doku tokens`,
`doku.fetch_tokens`; the dashboard's Customer lookup records its own).

A lookup sends a customer ID to DOKU and shows what it holds, so it is a sensitive
action: each adds a LOOKUP entry naming the customer by fingerprint (the ID itself
only with `trail_customer_ids = "raw"` in `[doku.access]`), and one that shows full
token IDs a REVEAL entry too, both in one transaction. The store is opened before DOKU
is asked (a store that cannot be reached fails before any request), and when the
entries cannot be written the lookup fails with that one-line StoreError and its
answer is not returned: a sensitive action without its record is worse than none.

Stays light: nothing here imports pandas (`doku tokens` must start fast).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from doku.access import AccessPolicy, Actor
from doku.client.tokens import TokenResult
from doku.engine.connection import connect
from doku.engine.store import Store
from doku.engine.trail import LOOKUP, REVEAL, Event, acting, customer_ref
from doku.errors import ConfigurationError
from doku.settings import Settings

SECRETS_FILE = Path(".streamlit") / "secrets.toml"


def configured_policy(path: Path | None = None) -> AccessPolicy:
    """`[doku.access]` of `.streamlit/secrets.toml` in the working directory (the table
    the dashboard reads); the default policy (fingerprints) without file or table."""
    candidate = path if path is not None else Path.cwd() / SECRETS_FILE
    if not candidate.is_file():
        return AccessPolicy()
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {candidate}: {exc}") from None
    table = data.get("doku", {})
    access = table.get("access") if isinstance(table, dict) else None
    if access is not None and not isinstance(access, dict):
        raise ConfigurationError(f"[doku.access] in {candidate} is not a table")
    return AccessPolicy.from_table(access)


@contextmanager
def _opened(store: Store | None) -> Iterator[Store]:
    """The caller's store, or the configured one (closed afterwards)."""
    if store is not None:
        yield store
        return
    with Store() as configured:
        yield configured


def lookup_tokens(
    customer_id: str,
    token_type: str | None = None,
    *,
    settings: Settings | None = None,
    reveal: bool = False,
    store: Store | None = None,
    actor: Actor | None = None,
    raw_ids: bool | None = None,
    **client_options: Any,
) -> TokenResult:
    """Fetch one customer's tokens (`doku.engine.connection.connect`, `client_options`
    for the client) and record the lookup by `actor` (default this process's: see
    `doku.engine.trail.acting`). `reveal`: the caller shows full token IDs, recorded
    as REVEAL when there is any. `raw_ids`: name the customer by its ID in the trail
    (None: as `[doku.access] trail_customer_ids` says). `store`: where the trail is
    (None: the configured store)."""
    who = acting(actor)
    raw = configured_policy().raw_customer_ids if raw_ids is None else raw_ids
    with _opened(store) as db:
        with connect(settings, **client_options) as client:
            result = client.get_tokens(customer_id, token_type)
        ref = customer_ref(customer_id, raw=raw)
        counted = {"token_type": token_type, "tokens": len(result.tokens)}
        events = [Event(who, LOOKUP, ref, counted)]
        if reveal and result.tokens:
            events.append(Event(who, REVEAL, ref, {**counted, "what": "token IDs"}))
        db.record_events(events)
    return result

"""Column configurations of the dashboard's tables (labels, number formats, pins)."""

from __future__ import annotations

from typing import Any

import streamlit as st

Columns = dict[str, Any]

_text = st.column_config.TextColumn
_number = st.column_config.NumberColumn


def lookup_tokens(*, revealed: bool) -> Columns:
    """One customer's tokens on Customer lookup."""
    return {
        "type": _text("Type"),
        "issuer": _text("Issuer"),
        "brand": _text("Brand"),
        "masked_card": _text("Card"),
        "token_id": _text("Token ID" + (" (revealed)" if revealed else " (masked)")),
    }


REJECTS: Columns = {
    "row": _number("Row", format="%d"),
    "value": _text("Value"),
    "reason": _text("Reason", width="large"),
}

RUN_TOKENS: Columns = {
    "customer_id": _text("Customer ID", pinned=True),
    "customer_name": _text("Name"),
    "type": _text("Type"),
    "issuer": _text("Issuer"),
    "brand": _text("Brand"),
    "masked_card": _text("Card"),
    "token_id": _text(
        "Token ID (masked)", help="Token IDs are credentials: masked here and in exports."
    ),
}

CUSTOMERS: Columns = {
    "customer_id": _text("Customer ID", pinned=True),
    "customer_name": _text("Name"),
    "status": _text("Status"),
    "n_tokens": _number("Tokens", format="localized"),
    "n_direct_debit": _number("Direct debit", format="localized"),
    "n_credit_card": _number("Credit card", format="localized"),
    "error_kind": _text("Error"),
}

HISTORY: Columns = {
    "run": _number("Run", format="#%d", pinned=True),
    "name": _text("Name"),
    "created": _text("Created"),
    "input": _text("Input"),
    "status": _text("Status"),
    "customers": _number("Customers", format="localized"),
    "fetched": _number("Fetched", format="localized"),
    "failed": _number("Failed", format="localized"),
    "pending": _number("Pending", format="localized"),
    "uptake": _number(
        "With ≥1 token", format="%.1f%%",
        help="Fetched customers holding at least one token / fetched customers.",
    ),
    "tokens": _number("Tokens", format="localized"),
    "rejected": _number("Rejected rows", format="localized"),
    "duplicates": _number("Duplicates", format="localized"),
    "type": _text("Token type"),
    "env": _text("Environment"),
    "archived": st.column_config.CheckboxColumn("Archived"),
    "note": _text("Note"),
}

CHANGE: Columns = {
    "type": _text("Token type"),
    "issuer": _text("Issuer"),
    "uptake_a": _number("Uptake A", format="%.1f%%"),
    "uptake_b": _number("Uptake B", format="%.1f%%"),
    "change_pp": _number("Change", format="%+.1f pp"),
    "with_tokens_a": _number("Holders A", format="localized"),
    "with_tokens_b": _number("Holders B", format="localized"),
    "added": _number("Tokens added", format="localized"),
    "removed": _number("Tokens removed", format="localized"),
}

TOKEN_CHANGES: Columns = {
    "customer_id": _text("Customer ID", pinned=True),
    "change": _text("Change"),
    "type": _text("Type"),
    "issuer": _text("Issuer"),
    "brand": _text("Brand"),
    "masked_card": _text("Card"),
}

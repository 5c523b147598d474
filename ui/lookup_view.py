"""Customer lookup: fetch one customer's tokens, and the card that shows them.

The customer ID is typed by the analyst and the name, issuers and brands come from
DOKU: in Markdown they go through `escape_md`; the token table shows them as cells."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.client.tokens import TokenResult
from doku.engine.connection import connect
from doku.errors import DokuError
from doku.settings import Settings
from ui import columns
from ui.present import escape_md, plural, shorten, spelled

TOKEN_TABLE = ["type", "issuer", "brand", "masked_card", "token_id"]


def look_up(
    settings: Settings, customer_id: str, token_type: str | None
) -> TokenResult | DokuError:
    """One signed request for the customer's tokens; a DokuError is returned, not raised,
    so the page can keep it in the session and show it until the next lookup."""
    try:
        with connect(settings, pool_size=1) as client:
            return client.get_tokens(customer_id, token_type)
    except DokuError as exc:
        return exc


def result_caption(result: TokenResult) -> str:
    """Who was asked, how long it took and the Request-Id (Markdown, values escaped)."""
    return (
        f"Customer ID {escape_md(result.customer_id)} · {result.latency_ms:,.0f} ms · "
        f"Request-Id {escape_md(result.request_id)}"
        + (f" · {result.attempts:d} attempts" if result.attempts > 1 else "")
    )


def scope_text(token_type: str | None) -> str:
    """' of type CREDIT_CARD' when the lookup asked for one type (Markdown)."""
    return f" of type {escape_md(token_type)}" if token_type else ""


def show_result(result: TokenResult) -> None:
    """Who the customer is, whether the answer was signed, and their tokens (IDs masked
    unless the analyst reveals them with the `lookup_reveal` toggle)."""
    with st.container(border=True):
        name = next((t.customer_name for t in result.tokens if t.customer_name), None)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.subheader(escape_md(name or result.customer_id) or "(no name)")
            if result.signature_verified:
                st.badge("Response signature verified", icon=":material/verified:",
                         color="green")
            else:
                st.badge("Response not signed (simulator)", icon=":material/info:",
                         color="gray")
        st.caption(result_caption(result))
        if not result.tokens:
            st.warning(
                f"No tokens{scope_text(result.token_type)} for "
                f"{escape_md(result.customer_id)}. DOKU answers the same for "
                "a customer without tokens and for an unknown customer ID, so this does "
                "not prove the customer exists.",
                icon=":material/search_off:",
            )
            return
        reveal = st.toggle(
            "Reveal token IDs",
            key="lookup_reveal",
            help="Token IDs are payment credentials: they stay masked (first and "
            "last 4 characters) unless you reveal them.",
        )
        rows = [t.to_dict(reveal=reveal) for t in result.tokens]
        st.markdown(f"**{plural(len(rows), 'token')}{scope_text(result.token_type)}**")
        st.dataframe(
            spelled(pd.DataFrame(rows)[TOKEN_TABLE]),
            hide_index=True,
            column_config=columns.lookup_tokens(revealed=reveal),
            alt=f"Stored tokens of customer {shorten(result.customer_id)}",
        )


def prefill(param: str = "customer") -> None:
    """A link's `?customer=ID` fills the Customer ID box once (the analyst may then
    type another; a new link fills it again)."""
    wanted = st.query_params.get(param)
    if wanted and st.session_state.get("lookup_prefilled") != wanted:
        st.session_state["lookup_prefilled"] = wanted
        st.session_state["lookup_customer_id"] = wanted[:50]
        st.session_state.pop("lookup_outcome", None)

"""Customer lookup: one customer's stored tokens, straight from DOKU."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from doku.engine.connection import connect
from doku.errors import DokuError
from doku.models import TOKEN_TYPES

settings = ui.page_setup(
    "Customer lookup",
    icon=":material/person_search:",
    intro="One customer's stored card and direct-debit tokens, fetched live from DOKU.",
)

with ui.guard():
    settings = ui.require_settings(settings)

    with st.form("lookup_form", border=False), st.container(
        horizontal=True, vertical_alignment="bottom"
    ):
        st.text_input(
            "Customer ID",
            key="lookup_customer_id",
            placeholder="e.g. CUST-0001",
            max_chars=50,
            width=360,
        )
        st.selectbox("Token type", [ui.ALL_TYPES, *TOKEN_TYPES], key="lookup_type", width=220)
        go = st.form_submit_button(
            "Look up", key="lookup_go", type="primary", icon=":material/search:"
        )

    if go:
        customer_id = (st.session_state.get("lookup_customer_id") or "").strip()
        choice = st.session_state.get("lookup_type", ui.ALL_TYPES)
        token_type = None if choice == ui.ALL_TYPES else choice
        if not customer_id:
            st.session_state.pop("lookup_outcome", None)
            st.warning("Enter a customer ID to look up.", icon=":material/edit:")
            st.stop()
        try:
            with st.spinner("Asking DOKU…"), connect(settings, pool_size=1) as client:
                st.session_state["lookup_outcome"] = client.get_tokens(customer_id, token_type)
        except DokuError as exc:
            st.session_state["lookup_outcome"] = exc

    outcome = st.session_state.get("lookup_outcome")
    if isinstance(outcome, DokuError):
        ui.show_error(outcome)
    elif outcome is not None:
        result = outcome
        scope = f" of type {result.token_type}" if result.token_type else ""
        with st.container(border=True):
            name = next((t.customer_name for t in result.tokens if t.customer_name), None)
            with st.container(horizontal=True, vertical_alignment="center"):
                st.subheader(name or result.customer_id)
                if result.signature_verified:
                    st.badge(
                        "Response signature verified", icon=":material/verified:", color="green"
                    )
                else:
                    st.badge(
                        "Response not signed (simulator)", icon=":material/info:", color="gray"
                    )
            st.caption(
                f"Customer ID `{result.customer_id}` · {result.latency_ms:,.0f} ms · "
                f"Request-Id `{result.request_id}`"
                + (f" · {result.attempts} attempts" if result.attempts > 1 else "")
            )
            if not result.tokens:
                st.warning(
                    f"No tokens{scope} for `{result.customer_id}`. DOKU answers the same for "
                    "a customer without tokens and for an unknown customer ID, so this does "
                    "not prove the customer exists.",
                    icon=":material/search_off:",
                )
            else:
                reveal = st.toggle(
                    "Reveal token IDs",
                    key="lookup_reveal",
                    help="Token IDs are payment credentials: they stay masked (first and "
                    "last 4 characters) unless you reveal them.",
                )
                rows = [t.to_dict(reveal=reveal) for t in result.tokens]
                table = pd.DataFrame(rows)[
                    ["type", "issuer", "brand", "masked_card", "token_id"]
                ]
                st.markdown(f"**{len(rows)} token{'s' if len(rows) != 1 else ''}{scope}**")
                st.dataframe(
                    table,
                    hide_index=True,
                    column_config={
                        "type": st.column_config.TextColumn("Type"),
                        "issuer": st.column_config.TextColumn("Issuer"),
                        "brand": st.column_config.TextColumn("Brand"),
                        "masked_card": st.column_config.TextColumn("Card"),
                        "token_id": st.column_config.TextColumn(
                            "Token ID" + (" (revealed)" if reveal else " (masked)")
                        ),
                    },
                    alt=f"Stored tokens of customer {result.customer_id}",
                )
    else:
        st.caption(
            "Try `CUST-0001`, the tokenization guide's example customer, on the simulator."
        )

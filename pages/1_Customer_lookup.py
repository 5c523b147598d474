"""Customer lookup: one customer's stored tokens, straight from DOKU."""

from __future__ import annotations

import streamlit as st

from doku.errors import DokuError
from doku.models import TOKEN_TYPES
from ui import chrome, lookup_view
from ui.present import ALL_TYPES, LOOKUP, PAGE_NEEDS, type_name

settings = chrome.page_setup(
    "Customer lookup",
    icon=":material/person_search:",
    intro="One customer's stored card and direct-debit tokens, fetched live from DOKU. "
    "Each lookup is recorded in the audit trail.",
    needs=PAGE_NEEDS[LOOKUP],
)

with chrome.guard():
    settings = chrome.require_settings(settings)
    lookup_view.prefill()

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
        st.selectbox("Token type", [ALL_TYPES, *TOKEN_TYPES], key="lookup_type", width=220,
                     format_func=lambda t: t if t == ALL_TYPES else type_name(t))
        go = st.form_submit_button(
            "Look up", key="lookup_go", type="primary", icon=":material/search:"
        )

    if go:
        customer_id = (st.session_state.get("lookup_customer_id") or "").strip()
        choice = st.session_state.get("lookup_type", ALL_TYPES)
        if not customer_id:
            st.session_state.pop(lookup_view.OUTCOME, None)
            st.warning("Enter a customer ID to look up.", icon=":material/edit:")
            st.stop()
        with st.spinner("Asking DOKU…"):
            st.session_state[lookup_view.OUTCOME] = lookup_view.look_up(
                settings, customer_id, None if choice == ALL_TYPES else choice
            )

    outcome = st.session_state.get(lookup_view.OUTCOME)
    if isinstance(outcome, DokuError):
        chrome.show_error(outcome)
    elif outcome is not None:
        lookup_view.show_result(outcome)
    else:
        st.caption(
            "Try `CUST-0001`, the tokenization guide's example customer, on the simulator."
        )

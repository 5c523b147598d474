"""Home page of the DOKU token audit dashboard: `make run` or `streamlit run dashboard.py`."""

from __future__ import annotations

import streamlit as st

from doku import access
from doku.engine.connection import describe
from ui import chrome, data, home_view, present, state

settings = chrome.page_setup(present.APP_TITLE, icon=":material/credit_card:",
                             needs=present.PAGE_NEEDS[present.HOME])
actor = chrome.current_actor()

with chrome.guard():
    st.markdown(
        "Audit stored DOKU payment tokens (cards and direct debit): look up one customer's "
        "tokens, audit thousands of customers in the background, then see uptake by type, "
        "issuer, brand and customer segment, compare runs, and export the results. Every "
        "request is signed with your DOKU client ID and secret key; the key is never shown "
        "or logged, and raw token IDs are masked unless you ask to see them."
    )

    left, right = st.columns([3, 2], gap="large")
    with left, st.container(border=True):
        st.subheader(":material/insights: Latest run")
        run = data.latest_run(state.get_store())
        if run is None:
            if actor.allowed(access.AUDIT):
                st.markdown(
                    "No audit yet. Start one on **Bulk audit**: the sample file of 3,000 "
                    "demo customers is one click away."
                )
                st.page_link(present.BULK, label="Start a bulk audit",
                             icon=":material/play_arrow:")
            else:
                st.markdown("No audit yet: an analyst starts them.")
        else:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(
                    f"**Run {present.escape_md(present.run_label(run))}**"
                )
                chrome.run_status_badge(run)
            with st.container(horizontal=True):
                st.metric("Customers", present.fmt_int(run.customers), border=True)
                st.metric(
                    "With ≥1 token",
                    present.fmt_share(present.uptake_of(run)),
                    help="Share of fetched customers holding at least one token.",
                    border=True,
                )
                st.metric("Tokens", present.fmt_int(run.tokens), border=True)
                st.metric("Failed", present.fmt_int(run.failed), border=True)
            if run.status == "running":
                st.caption("Still running: figures count finished customers only ("
                           f"{present.finished_note(run.fetched, run.failed, run.pending)}).")
            elif run.pending:
                st.caption(f"{run.pending:,} customers still without a result.")
            with st.container(horizontal=True):
                st.page_link(present.INSIGHTS, label="Open insights", icon=":material/insights:")
                st.page_link(present.RUNS, label="All runs", icon=":material/history:")

    with right, st.container(border=True):
        st.subheader(":material/lan: Connection in use")
        if settings is None:
            st.caption("Not configured: see the message above.")
        else:
            info = describe(settings)
            st.table(  # st.table renders its cells as Markdown
                {
                    "Environment": present.escape_md(info["environment"]),
                    "Base URL": present.escape_md(info["base_url"]),
                    "Client ID": present.escape_md(info["client_id"]),
                    "Secret key": present.escape_md(info["secret_key"]),
                    "Settings from": present.escape_md(info["source"]),
                },
                border="horizontal",
            )
            if settings.uses_simulator and actor.allowed(access.AUDIT):
                home_view.simulator_controls()
            else:
                st.caption(
                    f"DOKU {present.escape_md(settings.env)} at "
                    f"{present.escape_md(settings.base_url)} as client "
                    f"{present.escape_md(settings.masked_client_id)}"
                )

    st.subheader("Pages")
    offered = present.pages_for(actor)  # only the pages this role includes
    for column, (path, label, icon, text) in zip(
        st.columns(len(offered)), offered, strict=True
    ):
        with column, st.container(border=True, height="stretch"):
            st.page_link(path, label=f"**{present.escape_md(label)}**", icon=icon)
            st.caption(present.escape_md(text))

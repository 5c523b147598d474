"""Insights: uptake, issuers, brands and segments of one run, with filters and downloads."""

from __future__ import annotations

import streamlit as st

from ui import chrome, data, insights_view, state
from ui.insights_view import BY_ISSUER, BY_TYPE
from ui.keys import RUNNING_REFRESH_S
from ui.present import escape_md, run_label

chrome.page_setup(
    "Insights",
    icon=":material/insights:",
    intro="Who holds tokens, of which type, issuer and brand, and how uptake differs by "
    "customer segment. Filters apply to every figure, chart, table and download below.",
)

with chrome.guard():
    store = state.get_store()
    runs = chrome.require_runs(store)
    by_id = {r.id: r for r in runs}
    insights_view.default_run(list(by_id))

    with st.container(horizontal=True, vertical_alignment="bottom"):
        run_id = st.selectbox(
            "Run",
            list(by_id),
            key="insights_run",
            format_func=lambda rid: run_label(by_id[rid]),
            on_change=insights_view.reset_filters,
            width=560,
        )
        run = by_id[run_id]
        chrome.status_badge(run.status)
    if run.status == "running":
        st.caption("This run is still running: these are the results so far (refreshed "
                   f"at most every {RUNNING_REFRESH_S:d} s when you interact or reload).")

    ref = data.ref(store, run)
    frames = data.run_frames(ref)
    filters, segments = insights_view.filters_panel(ref, frames.attributes)
    view = data.view(ref, filters)
    summary = data.summary(ref, filters)
    if filters.active:
        st.caption(f"Filtered: {escape_md(filters.describe(), 400)}. Token filters narrow "
                   "each customer's tokens, so uptake reads 'customers holding ≥1 matching "
                   "token'.")
    insights_view.kpis(summary)

    # -- charts (from aggregates only: a few hundred rows at most) --
    if summary["tokens"] == 0:
        st.warning("No tokens match: there is nothing to chart by issuer, brand or type.",
                   icon=":material/filter_alt_off:")
    else:
        insights_view.token_charts(ref, filters)
    by = st.selectbox("Uptake by", [*segments, BY_TYPE, BY_ISSUER], key="insights_by",
                      width=320, help="Share of fetched customers holding at least one "
                      "(matching) token, per value.")
    insights_view.uptake_card(ref, filters, by)

    # -- tokens table and downloads --
    st.subheader(":material/table: Tokens")
    insights_view.tokens_table(view)
    st.subheader(":material/download: Downloads")
    st.caption("Full tables of this run with the filters above; token IDs are masked.")
    insights_view.downloads(ref, filters, view)

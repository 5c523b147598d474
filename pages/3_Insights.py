"""Insights: uptake, issuers, brands and segments of one run, with filters and downloads."""

from __future__ import annotations

import streamlit as st

from ui import (
    chrome,
    customers_view,
    data,
    insights_charts,
    insights_drill,
    insights_mix,
    insights_view,
    links,
    state,
)
from ui.keys import LIVE_STATES, RUNNING_REFRESH_S
from ui.present import INSIGHTS, PAGE_NEEDS, escape_md

chrome.page_setup(
    "Insights",
    icon=":material/insights:",
    intro="Who holds tokens, of which type, issuer and brand, and how uptake differs by "
    "customer segment. Filters apply to every figure, chart, table and download below, "
    "except the customer search at the bottom, which covers the whole run (and the "
    "issuer mix leaves out the issuer filter).",
    needs=PAGE_NEEDS[INSIGHTS],
)

with chrome.guard():
    store = state.get_store()
    runs = chrome.require_runs(store)
    notes = st.container()  # what the link asked for that is not here, filled last
    links.begin()  # the view from the widgets, or from the URL (a link, Back/Forward)
    run = insights_view.run_picker(runs)
    ref = data.ref(store, run)
    if run.status in LIVE_STATES:
        st.caption("This run is still running: these are the results so far, refreshed "
                   f"every {RUNNING_REFRESH_S:d} s.")
        insights_view.follow_running(ref)
    frames = data.run_frames(ref)
    filters, segments = insights_view.filters_panel(ref, frames.attributes)
    summary = data.summary(ref, filters)
    if filters.active:
        st.caption(f"Filtered: {escape_md(filters.describe(), 400)}. Token filters narrow "
                   "each customer's tokens, so uptake reads 'customers holding ≥1 matching "
                   "token'.")
    insights_view.kpis(summary, run)

    # -- charts (from aggregates only: a few hundred rows at most); a click filters --
    insights_drill.note()
    insights_mix.section(store, run, ref, filters)
    st.subheader(":material/bar_chart: Tokens and uptake")
    if summary["tokens"] == 0:
        st.warning("No tokens match: there is nothing to chart by issuer, brand or type.",
                   icon=":material/filter_alt_off:")
    else:
        insights_charts.token_charts(ref, filters)
    by = insights_view.uptake_by(segments)
    insights_charts.uptake_card(ref, filters, by, summary["uptake"], segments)

    # -- tokens table and downloads --
    st.subheader(":material/table: Tokens")
    insights_charts.tokens_table(ref, filters)
    st.subheader(":material/download: Downloads")
    st.caption("Full tables of this run with the filters above; token IDs are masked.")
    insights_charts.downloads(ref, filters)
    st.subheader(":material/group: Customers")
    customers_view.section(store, run, frames)
    insights_view.share()
    links.finish()  # a changed view goes to the URL: one browser history entry
    with notes:
        links.show_notes()

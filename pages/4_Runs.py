"""Runs: the history of audits, resume/retry one, and compare two."""

from __future__ import annotations

import streamlit as st

from doku.access import AUDIT
from ui import chrome, data, manage_view, runs_view, state
from ui.present import PAGE_NEEDS, RUNS, run_label
from ui.queue_view import queue_section
from ui.run_panel import run_panel

TREND_RUNS = 50

settings = chrome.page_setup(
    "Runs",
    icon=":material/history:",
    intro="Every audit run in this data folder: resume an interrupted one, retry its "
    "failed customers, or compare two runs to see who gained or lost tokens.",
    needs=PAGE_NEEDS[RUNS],
)

with chrome.guard():
    store = state.get_store()
    runs = chrome.require_runs(store)
    by_id = {r.id: r for r in runs}
    ids = [r.id for r in runs if not r.archived]  # archived runs leave compare and trend
    runs_view.history(runs)
    queue_section(store)  # what the workers are doing (SQLite: one caption)

    # -- one run: status and actions --
    with st.container(border=True):
        st.subheader(":material/play_circle: One run: status, resume, retry")
        pick = st.selectbox("Run", list(by_id), key="runs_pick", width=560,
                            format_func=lambda rid: runs_view.pick_label(by_id[rid]))
        run_panel(store, pick, settings, prefix="runs")
        manages = chrome.current_actor().allowed(AUDIT)
        with st.expander("Name, note, archive, delete · options · rejected rows" if manages
                         else "Options · rejected rows"):
            manage_view.manage(store, by_id[pick])

    # -- compare two runs --
    with st.container(border=True):
        st.subheader(":material/compare_arrows: Compare two runs")
        if len(ids) < 2:
            st.caption("Compare needs at least two runs that are not archived: audit "
                       "the same customers again later.")
        else:
            runs_view.compare_defaults([by_id[i] for i in ids])
            left, right = st.columns(2)
            run_a = left.selectbox("From run (A)", ids, key="runs_compare_a",
                                   format_func=lambda rid: run_label(by_id[rid]))
            run_b = right.selectbox("To run (B)", ids, key="runs_compare_b",
                                    format_func=lambda rid: run_label(by_id[rid]))
            if run_a == run_b:
                st.caption("Pick two different runs.")
            else:
                cmp = data.comparison(data.ref(store, by_id[run_a]), data.ref(store, by_id[run_b]))
                if runs_view.comparison_warnings(cmp):
                    runs_view.comparison_figures(cmp, run_a, run_b)
                    runs_view.comparison_tables(cmp)

    # -- trend --
    if len(ids) >= 2:
        with st.container(border=True):
            st.subheader(":material/trending_up: Trend")
            runs_view.trend(runs, TREND_RUNS)

"""Runs: the history of audits, resume/retry one, and compare two."""

from __future__ import annotations

import streamlit as st

from doku.analysis import charts
from doku.analysis.comparison import run_trend
from ui import chrome, data, runs_view, state
from ui.present import run_label
from ui.run_panel import run_panel

TREND_RUNS = 30

settings = chrome.page_setup(
    "Runs",
    icon=":material/history:",
    intro="Every audit run in this data folder: resume an interrupted one, retry its "
    "failed customers, or compare two runs to see who gained or lost tokens.",
)

with chrome.guard():
    store = state.get_store()
    runs = chrome.require_runs(store)
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    runs_view.history(runs)

    # -- one run: status and actions --
    with st.container(border=True):
        st.subheader(":material/play_circle: One run: status, resume, retry")
        pick = st.selectbox("Run", ids, key="runs_pick",
                            format_func=lambda rid: run_label(by_id[rid]), width=560)
        run_panel(store, pick, settings, prefix="runs")

    # -- compare two runs --
    with st.container(border=True):
        st.subheader(":material/compare_arrows: Compare two runs")
        if len(ids) < 2:
            st.caption("Compare needs at least two runs: audit the same customers again later.")
        else:
            runs_view.compare_defaults(ids)
            left, right = st.columns(2)
            run_a = left.selectbox("From run (A)", ids, key="runs_compare_a",
                                   format_func=lambda rid: run_label(by_id[rid]))
            run_b = right.selectbox("To run (B)", ids, key="runs_compare_b",
                                    format_func=lambda rid: run_label(by_id[rid]))
            if run_a == run_b:
                st.caption("Pick two different runs.")
            else:
                cmp = data.comparison(data.ref(store, by_id[run_a]), data.ref(store, by_id[run_b]))
                runs_view.comparison_figures(cmp, run_a, run_b)
                runs_view.comparison_tables(cmp)

    # -- trend --
    if len(runs) >= 2:
        with st.container(border=True):
            st.altair_chart(charts.trend_chart(run_trend(runs[:TREND_RUNS])), theme=None,
                            alt=f"Uptake and tokens per run, last {TREND_RUNS} runs",
                            key="runs_trend")

"""Runs: the history of audits, resume/retry one, and compare two."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from doku.analysis import charts, comparison
from doku.analysis.comparison import run_trend

CHANGE_ROWS = 500

settings = ui.page_setup(
    "Runs",
    icon=":material/history:",
    intro="Every audit run in this data folder: resume an interrupted one, retry its "
    "failed customers, or compare two runs to see who gained or lost tokens.",
)

with ui.guard():
    store = ui.get_store()
    runs = ui.require_runs(store)
    by_id = {r.id: r for r in runs}

    # -- history and trend --
    history = pd.DataFrame(
        {
            "run": [r.id for r in runs],
            "created": [ui.fmt_time(r.created_at) for r in runs],
            "input": [r.input_name for r in runs],
            "status": [r.status for r in runs],
            "customers": [r.customers for r in runs],
            "fetched": [r.fetched for r in runs],
            "failed": [r.failed for r in runs],
            "pending": [r.pending for r in runs],
            "uptake": [None if (u := ui.uptake_of(r)) is None else u * 100 for r in runs],
            "tokens": [r.tokens for r in runs],
            "rejected": [r.rejected for r in runs],
            "duplicates": [r.duplicates for r in runs],
            "type": [r.token_type or "all" for r in runs],
            "env": [r.env for r in runs],
        }
    )
    st.dataframe(
        history,
        hide_index=True,
        height=min(38 + 35 * len(history), 300),
        column_config={
            "run": st.column_config.NumberColumn("Run", format="#%d", pinned=True),
            "created": st.column_config.TextColumn("Created"),
            "input": st.column_config.TextColumn("Input"),
            "status": st.column_config.TextColumn("Status"),
            "customers": st.column_config.NumberColumn("Customers", format="localized"),
            "fetched": st.column_config.NumberColumn("Fetched", format="localized"),
            "failed": st.column_config.NumberColumn("Failed", format="localized"),
            "pending": st.column_config.NumberColumn("Pending", format="localized"),
            "uptake": st.column_config.NumberColumn(
                "With ≥1 token", format="%.1f%%",
                help="Fetched customers holding at least one token / fetched customers.",
            ),
            "tokens": st.column_config.NumberColumn("Tokens", format="localized"),
            "rejected": st.column_config.NumberColumn("Rejected rows", format="localized"),
            "duplicates": st.column_config.NumberColumn("Duplicates", format="localized"),
            "type": st.column_config.TextColumn("Token type"),
            "env": st.column_config.TextColumn("Environment"),
        },
        alt="History of audit runs",
    )

    # -- one run: status and actions --
    with st.container(border=True):
        st.subheader(":material/play_circle: One run: status, resume, retry")
        pick = st.selectbox(
            "Run", list(by_id), key="runs_pick",
            format_func=lambda rid: ui.run_label(by_id[rid]), width=560,
        )
        ui.run_panel(store, pick, settings, prefix="runs")

    # -- compare two runs --
    with st.container(border=True):
        st.subheader(":material/compare_arrows: Compare two runs")
        ids = list(by_id)
        if len(ids) < 2:
            st.caption("Compare needs at least two runs: audit the same customers again later.")
        else:
            if "runs_compare_a" not in st.session_state:
                st.session_state["runs_compare_a"] = ids[1]  # the previous run
            if "runs_compare_b" not in st.session_state:
                st.session_state["runs_compare_b"] = ids[0]  # the latest run
            left, right = st.columns(2)
            run_a = left.selectbox("From run (A)", ids, key="runs_compare_a",
                                   format_func=lambda rid: ui.run_label(by_id[rid]))
            run_b = right.selectbox("To run (B)", ids, key="runs_compare_b",
                                    format_func=lambda rid: ui.run_label(by_id[rid]))
            if run_a == run_b:
                st.caption("Pick two different runs.")
            else:
                cmp = ui.comparison(store, by_id[run_a], by_id[run_b])
                change = cmp.uptake_change
                cells = st.columns(6)
                cells[0].metric(
                    "Uptake A", ui.fmt_share(cmp.uptake_a.share), border=True,
                    height="stretch",
                    help=f"Run #{run_a}: {cmp.uptake_a.with_tokens:,} of "
                    f"{cmp.uptake_a.fetched:,} fetched customers hold at least one token.",
                )
                cells[1].metric(
                    "Uptake B", ui.fmt_share(cmp.uptake_b.share),
                    delta=None if change is None else round(change * 100, 1),
                    delta_description="pp vs A", border=True, height="stretch",
                    help=f"Run #{run_b}: {cmp.uptake_b.with_tokens:,} of "
                    f"{cmp.uptake_b.fetched:,} fetched customers hold at least one token.",
                )
                cells[2].metric("Gained tokens", ui.fmt_int(len(cmp.gained)), border=True,
                                height="stretch",
                                help="Customers fetched in both runs holding a token in B "
                                "they did not hold in A.")
                cells[3].metric("Lost tokens", ui.fmt_int(len(cmp.lost)), border=True,
                                height="stretch",
                                help="Customers fetched in both runs holding a token in A "
                                "they no longer hold in B.")
                cells[4].metric("Tokens added", ui.fmt_int(cmp.tokens_added), border=True,
                                height="stretch")
                cells[5].metric("Tokens removed", ui.fmt_int(cmp.tokens_removed), border=True,
                                height="stretch")
                st.caption(
                    f"{cmp.fetched_in_both:,} customers fetched in both runs are compared "
                    f"({cmp.unchanged:,} unchanged); {cmp.not_comparable:,} failed or pending "
                    f"in either run are not. {len(cmp.only_in_a):,} only in A, "
                    f"{len(cmp.only_in_b):,} only in B. Tokens are matched by fingerprint."
                )
                st.markdown("**By token type**")
                st.dataframe(comparison.comparison_by(cmp, "type"), hide_index=True,
                             column_config=ui.CHANGE_COLUMNS,
                             alt="Uptake and token changes by type")
                st.markdown("**By issuer**")
                st.dataframe(comparison.comparison_by(cmp, "issuer"), hide_index=True,
                             column_config=ui.CHANGE_COLUMNS,
                             alt="Uptake and token changes by issuer")
                if len(cmp.changes):
                    st.markdown("**Tokens added and removed**")
                    st.dataframe(
                        cmp.changes.head(CHANGE_ROWS).drop(columns=["fingerprint"]),
                        hide_index=True,
                        height=280,
                        column_config={
                            "customer_id": st.column_config.TextColumn("Customer ID",
                                                                       pinned=True),
                            "change": st.column_config.TextColumn("Change"),
                            "type": st.column_config.TextColumn("Type"),
                            "issuer": st.column_config.TextColumn("Issuer"),
                            "brand": st.column_config.TextColumn("Brand"),
                            "masked_card": st.column_config.TextColumn("Card"),
                        },
                        alt="Tokens added or removed between the two runs",
                    )
                    st.caption(f"Showing {min(CHANGE_ROWS, len(cmp.changes)):,} of "
                               f"{len(cmp.changes):,} token changes.")

    # -- trend --
    if len(runs) >= 2:
        with st.container(border=True):
            st.altair_chart(charts.trend_chart(run_trend(runs[:30])), theme=None,
                            alt="Uptake and tokens per run, last 30 runs", key="runs_trend")

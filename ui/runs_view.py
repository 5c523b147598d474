"""Runs: the history table and what a comparison of two runs shows."""

from __future__ import annotations

import streamlit as st

from doku.analysis.comparison import Comparison, comparison_by
from doku.engine.schema import RunInfo
from ui import columns
from ui.present import fmt_int, fmt_share, history_frame

CHANGE_ROWS = 500


def history(runs: list[RunInfo]) -> None:
    table = history_frame(runs)
    st.dataframe(table, hide_index=True, height=min(38 + 35 * len(table), 300),
                 column_config=columns.HISTORY, alt="History of audit runs")


def compare_defaults(run_ids: list[int]) -> None:
    """Compare the previous run (A) with the latest (B) until the analyst picks others."""
    st.session_state.setdefault("runs_compare_a", run_ids[1])
    st.session_state.setdefault("runs_compare_b", run_ids[0])


def comparison_figures(cmp: Comparison, run_a: int, run_b: int) -> None:
    """Uptake of both runs, who gained or lost tokens, and what was compared."""
    change = cmp.uptake_change
    cells = st.columns(6)
    cells[0].metric(
        "Uptake A", fmt_share(cmp.uptake_a.share), border=True, height="stretch",
        help=f"Run #{run_a:d}: {cmp.uptake_a.with_tokens:,} of "
        f"{cmp.uptake_a.fetched:,} fetched customers hold at least one token.",
    )
    cells[1].metric(
        "Uptake B", fmt_share(cmp.uptake_b.share),
        delta=None if change is None else round(change * 100, 1),
        delta_description="pp vs A", border=True, height="stretch",
        help=f"Run #{run_b:d}: {cmp.uptake_b.with_tokens:,} of "
        f"{cmp.uptake_b.fetched:,} fetched customers hold at least one token.",
    )
    cells[2].metric("Gained tokens", fmt_int(len(cmp.gained)), border=True, height="stretch",
                    help="Customers fetched in both runs holding a token in B they did not "
                    "hold in A.")
    cells[3].metric("Lost tokens", fmt_int(len(cmp.lost)), border=True, height="stretch",
                    help="Customers fetched in both runs holding a token in A they no longer "
                    "hold in B.")
    cells[4].metric("Tokens added", fmt_int(cmp.tokens_added), border=True, height="stretch")
    cells[5].metric("Tokens removed", fmt_int(cmp.tokens_removed), border=True,
                    height="stretch")
    st.caption(
        f"{cmp.fetched_in_both:,} customers fetched in both runs are compared "
        f"({cmp.unchanged:,} unchanged); {cmp.not_comparable:,} failed or pending "
        f"in either run are not. {len(cmp.only_in_a):,} only in A, "
        f"{len(cmp.only_in_b):,} only in B. Tokens are matched by fingerprint."
    )


def comparison_tables(cmp: Comparison) -> None:
    """Changes by token type and by issuer, then the tokens added and removed."""
    st.markdown("**By token type**")
    st.dataframe(comparison_by(cmp, "type"), hide_index=True, column_config=columns.CHANGE,
                 alt="Uptake and token changes by type")
    st.markdown("**By issuer**")
    st.dataframe(comparison_by(cmp, "issuer"), hide_index=True, column_config=columns.CHANGE,
                 alt="Uptake and token changes by issuer")
    if not len(cmp.changes):
        return
    st.markdown("**Tokens added and removed**")
    st.dataframe(cmp.changes.head(CHANGE_ROWS).drop(columns=["fingerprint"]), hide_index=True,
                 height=280, column_config=columns.TOKEN_CHANGES,
                 alt="Tokens added or removed between the two runs")
    st.caption(f"Showing {min(CHANGE_ROWS, len(cmp.changes)):,} of "
               f"{len(cmp.changes):,} token changes.")

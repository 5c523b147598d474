"""Runs: the history table, what a comparison of two runs shows, and a series' trend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from doku.analysis import charts
from doku.analysis.comparison import (
    Comparison,
    comparison_by,
    previous_comparable,
    run_series,
    run_trend,
)
from doku.analysis.frames import STR_DTYPE
from doku.analysis.series import period_of
from doku.engine.schema import RunInfo
from ui import columns, series_view, state
from ui.present import escape_md, fmt_int, fmt_share, history_frame, run_label, shorten, spelled

CHANGE_ROWS = 500


def history(runs: list[RunInfo]) -> None:
    table = history_frame(runs)
    st.dataframe(table, hide_index=True, height=min(38 + 35 * len(table), 300),
                 column_config=columns.HISTORY, alt="History of audit runs")


def pick_label(run: RunInfo) -> str:
    """A run in the Runs page's picker (plain text), archived ones marked."""
    return run_label(run) + (" · archived" if run.archived else "")


def compare_defaults(runs: list[RunInfo]) -> None:
    """Compare the latest run (B) with the previous run of its series (A; else the run
    before it) until the analyst picks others."""
    latest = runs[0]
    previous = previous_comparable(runs, latest)
    st.session_state.setdefault("runs_compare_a", (previous or runs[1]).id)
    st.session_state.setdefault("runs_compare_b", latest.id)


def comparison_warnings(cmp: Comparison) -> bool:
    """The comparison's warnings before any figure; whether to show the figures (a
    pair that is not comparable shows them only after an explicit "show anyway")."""
    for text in cmp.warnings():
        st.warning(escape_md(text[:1].upper() + text[1:], 600), icon=":material/warning:")
    if cmp.comparable:
        return True
    st.error("These runs are not comparable: the figures below would mislead.",
             icon=":material/block:")
    return st.toggle("Show the figures anyway", key="runs_compare_anyway")


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
    st.dataframe(spelled(comparison_by(cmp, "type")), hide_index=True, column_config=columns.CHANGE,
                 alt="Uptake and token changes by type")
    st.markdown("**By issuer**")
    st.dataframe(comparison_by(cmp, "issuer"), hide_index=True, column_config=columns.CHANGE,
                 alt="Uptake and token changes by issuer")
    if not len(cmp.changes):
        return
    st.markdown("**Tokens added and removed**")
    st.dataframe(spelled(cmp.changes.head(CHANGE_ROWS).drop(columns=["fingerprint"])),
                 hide_index=True,
                 height=280, column_config=columns.TOKEN_CHANGES,
                 alt="Tokens added or removed between the two runs")
    st.caption(f"Showing {min(CHANGE_ROWS, len(cmp.changes)):,} of "
               f"{len(cmp.changes):,} token changes.")


# -- trend, one series at a time -------------------------------------------------------------
def series_name(key: str, series: Sequence[RunInfo]) -> str:
    """A series as a picker shows it: "Weekly uptake · saved audit", "Nov month-end",
    "customers.csv · all types · simulator" (plain text)."""
    saved = series_view.series_title(key, list(series))
    if saved is not None:
        return saved
    for prefix in ("name: ", "input: "):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return shorten(key.replace(" | ", " · "), 100)


def trend_chart(series: Sequence[RunInfo], name: str, last: int) -> Any:
    """Uptake and tokens of one series' last `last` runs (the library's chart keeps 50
    runs readable: slanted labels, overlapping ones dropped)."""
    shown = sorted(series, key=lambda r: r.id)[-last:]
    trend = run_trend(shown)
    # Labelled by period, as the table below: a scheduled run by its slot's day.
    trend["run_label"] = pd.Series([f"#{r.id:d} {period_of(r)}" for r in shown],
                                   dtype=STR_DTYPE)
    return charts.trend_chart(trend, title=series_name(name, series))


def trend(runs: Sequence[RunInfo], last: int) -> None:
    """Pick a series (runs that can be compared; saved audits' first), then its trend
    and its last periods, each against the run before it."""
    found = run_series(runs)
    keys = sorted((k for k, v in found.items() if len(v) >= 2),
                  key=lambda k: not k.startswith("saved: "))  # stable: else as found
    if not keys:
        st.caption("A trend needs two runs of the same series (the same saved audit, the "
                   "same name, or the same input and type scope).")
        return
    key = st.selectbox("Series", keys, key="runs_series", width=560,
                       format_func=lambda k: f"{series_name(k, found[k])} "
                       f"({len(found[k]):,} runs)")
    st.altair_chart(trend_chart(found[key], key, last), theme=None,
                    alt=f"Uptake and tokens per run of one series, last {last} runs",
                    key="runs_trend")
    series_view.periods(state.get_store(), found[key], key)

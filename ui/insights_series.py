"""Insights: for a run of a saved audit, this period against the previous run of its
series (uptake change in points, tokens added and removed, the biggest issuer share
moves), or "first run of this series". Whole runs: the page's filters do not apply.

The figures are `ui.series_view.step`'s, the ones the Runs page's period table shows.
Issuers come from DOKU: they reach Markdown only through `escape_md`."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from doku.analysis.series import (
    biggest_moves,
    issuer_share_changes,
    period_changes,
    period_of,
)
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from ui import data, series_view, state
from ui.present import escape_md, fmt_int, type_name

MOVES = 3


def pts(value: float | None) -> str:
    """A change in points as a metric shows it ("+2.5 pp"); "-" when there is none."""
    return "-" if value is None or math.isnan(value) else f"{value:+.1f} pp"


def earlier_archived(store: Store, run: RunInfo) -> bool:
    """Whether the saved audit has earlier runs, all archived (so none to compare)."""
    return any(r.saved_audit_id == run.saved_audit_id and r.id < run.id
               for r in data.list_runs(store))


def section(run: RunInfo) -> None:
    """The Series section; nothing for a run that is not a saved audit's."""
    if run.saved_audit_id is None:
        return
    store = state.get_store()
    st.subheader(":material/timeline: Series")
    previous = data.previous_run(store, run)
    if previous is None:
        st.caption("Earlier runs of this saved audit are archived: there is no run to "
                   "compare with." if earlier_archived(store, run)
                   else "First run of this series: there is no earlier run to compare "
                   "with yet.")
        return
    found = series_view.step(data.ref(store, run), data.ref(store, previous))
    row = period_changes([found]).iloc[0]
    counted = not pd.isna(row["tokens_added"])  # some customer fetched in both runs
    with st.container(horizontal=True):
        st.metric("Uptake change", pts(float(row["uptake_change_pts"])), border=True,
                  help=f"This run's uptake minus run #{previous.id:d}'s, in percentage "
                  "points (each run's own fetched customers).")
        st.metric("Tokens added", fmt_int(int(row["tokens_added"]) if counted else None),
                  border=True, help="Tokens held now and not in the previous run, by "
                  "customers fetched in both runs (matched by fingerprint).")
        st.metric("Tokens removed", fmt_int(int(row["tokens_removed"]) if counted else None),
                  border=True, help="Tokens held in the previous run and not now, by "
                  "customers fetched in both runs.")
    st.caption(f"This period ({escape_md(row['period'])}) against run #{previous.id:d} "
               f"({escape_md(period_of(previous))}), the previous run of this saved audit; "
               "whole runs, the filters above do not apply."
               + ("" if counted else " No customer was fetched in both runs: no token "
                  "is compared."))
    if found.changes is not None and not found.changes.comparable:
        st.warning("The two runs are not comparable (another environment or client, no "
                   "shared token type or no shared customer).", icon=":material/warning:")
    moves = biggest_moves(issuer_share_changes([found]), found.run.id, MOVES)
    if moves.empty:
        st.caption("No issuer's share of its token type moved.")
        return
    listed = zip(moves["issuer"].tolist(), moves["type"].tolist(),
                 moves["change_pts"].tolist(), strict=True)
    st.caption("Biggest issuer share moves (share of the type's tokens): " + "; ".join(
        f"{escape_md(issuer)} ({escape_md(type_name(str(kind)))}) {pts(change)}"
        for issuer, kind, change in listed) + ".")

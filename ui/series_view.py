"""A series period by period, on Runs (below its trend chart) and Insights: each run
against the run before it (`doku.analysis.series`).

A period's figures are cached per pair of runs (run, previous, both at their stored
version), so Runs and Insights share them, and a series that grows by one run costs
one new pair. Frames come through `data.run_frames`, the cache Insights loads runs into.
Issuers are DOKU's and run names the analyst's: shown literally in table cells and
options, through `escape_md` in Markdown."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from doku.analysis.series import (
    DEFAULT_PERIODS,
    PeriodStep,
    issuer_share_changes,
    period_changes,
    period_step,
    series_window,
)
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from ui import data
from ui.keys import RunRef
from ui.present import shorten, spelled

SHOWN_PERIODS = DEFAULT_PERIODS
# Above this many tokens in the runs a table reads, it is computed on request only:
# loading runs costs about 6 s per million tokens the first time.
AUTO_TOKENS = 2_000_000
STEPS = 256  # cached periods (each a few numbers and an issuer mix)

_text = st.column_config.TextColumn
_number = st.column_config.NumberColumn
PERIOD_TABLE = {
    "period": _text("Period", help="The day of the schedule slot the run was made for, "
                    "else the day it was created (UTC)."),
    "run_id": _number("Run", format="#%d"),
    "status": _text("Status"),
    "fetched": _number("Fetched", format="localized"),
    "uptake": _number("Uptake", format="%.1f%%",
                      help="Fetched customers holding at least one token / fetched customers."),
    "uptake_change_pts": _number("Change", format="%+.1f pp",
                                 help="Uptake change in percentage points against the run "
                                 "before; blank for the first run."),
    "tokens": _number("Tokens", format="localized"),
    "tokens_added": _number("Added", format="localized",
                            help="Tokens held now and not in the run before, by customers "
                            "fetched in both runs (matched by fingerprint)."),
    "tokens_removed": _number("Removed", format="localized",
                              help="Tokens held in the run before and not now, by customers "
                              "fetched in both runs."),
}
SHARE_TABLE = {
    "type": _text("Type"),
    "issuer": _text("Issuer"),
    "tokens": _number("Tokens", format="localized"),
    "share": _number("Share of type's tokens", format="%.1f%%"),
    "change_pts": _number("Change", format="%+.1f pp",
                          help="Change in percentage points against the run before; blank "
                          "when that run held no token of this type."),
}


@st.cache_data(max_entries=STEPS, show_spinner=False)
def step(run: RunRef, previous: RunRef | None) -> PeriodStep:
    """`series.period_step` of `run` against `previous` (None: the series' first)."""
    before = None if previous is None else data.run_frames(previous)
    return period_step(data.run_frames(run), before)


def steps(store: Store, series: list[RunInfo], last: int = SHOWN_PERIODS) -> list[PeriodStep]:
    """The last `last` periods of a series, each against the run before it."""
    return [step(data.ref(store, run), None if previous is None else data.ref(store, previous))
            for run, previous in series_window(series, last)]


def tokens_read(series: list[RunInfo], last: int = SHOWN_PERIODS) -> int:
    """How many tokens the runs behind the last `last` periods hold (their cost)."""
    window = series_window(series, last)
    first_previous = window[0][1] if window else None
    return sum(r.tokens for r, _ in window) + (first_previous.tokens if first_previous else 0)


def period_table(found: list[PeriodStep]) -> pd.DataFrame:
    """`series.period_changes` as the Runs page shows it (uptake in percent)."""
    table = period_changes(found)
    return table.assign(uptake=table["uptake"] * 100)[list(PERIOD_TABLE)]


def share_table(found: PeriodStep) -> pd.DataFrame:
    """One period's issuer shares and their change (shares in percent, types spelled)."""
    shares = issuer_share_changes([found])
    return spelled(shares.assign(share=shares["share"] * 100))[list(SHARE_TABLE)]


def periods(store: Store, series: list[RunInfo], key: str) -> None:
    """Below the trend: the last periods' table, then the latest period's issuer shares."""
    st.markdown("**Period over period**")
    cost = tokens_read(series)
    toggle_key = "runs_periods_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    if cost > AUTO_TOKENS and not st.toggle(
            "Compute the changes of the last periods", key=toggle_key,
            help=f"Reads the last {SHOWN_PERIODS:d} runs of this series, {cost:,} tokens: "
            "the first time takes a while (then it is cached)."):
        st.caption(f"These runs hold {cost:,} tokens: the table of changes is computed "
                   "on request.")
        return
    with st.spinner("Comparing each run with the one before…"):
        found = steps(store, series)
    table = period_table(found)
    st.dataframe(table, hide_index=True, column_config=PERIOD_TABLE,
                 height=min(38 + 35 * len(table), 460),
                 alt="Each run of the series against the run before it")
    notes = [f"#{s.run.id:d}" for s in found if s.changes is not None and not s.changes.comparable]
    if notes:
        st.caption(f"Not comparable with the run before (another environment or client, "
                   f"no shared token type or no shared customer): {', '.join(notes)}.")
    st.caption(f"The last {len(found):d} runs of the series, oldest first. Added and "
               "removed count the tokens of customers fetched in both runs.")
    latest = found[-1]
    if latest.previous is None:
        return
    st.markdown(f"**Issuer shares, run #{latest.run.id:d} against run "
                f"#{latest.previous.id:d}**")
    shares = share_table(latest)
    st.dataframe(shares, hide_index=True, column_config=SHARE_TABLE,
                 height=min(38 + 35 * len(shares), 400),
                 alt="Issuer shares of the latest run and their change")


def series_title(key: str, series: list[RunInfo]) -> str | None:
    """A saved audit's series as a picker shows it (plain text): its latest run's name
    (the saved audit's name when it ran), marked "saved audit"; None for other series."""
    if not key.startswith("saved: "):
        return None
    name = series[-1].name or f"Saved audit #{key.removeprefix('saved: ')}"
    return f"{shorten(name, 100)} · saved audit"

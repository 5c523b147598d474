"""Cached, typed access to stored runs: the run list, a run's frames, a filtered view,
one small function per aggregate, and the comparison of two runs.

Everything is keyed on explicit identities - a `RunRef` (data folder, run id, run
version) and canonical `Filters` (`ui.keys.make_filters`) - never on a frame's
content: Streamlit hashes only a sample of a large frame. Frames are cached as shared
read-only resources; aggregates are small frames cached per (run, version, filters).
A filter change recounts from `counted`, the run narrowed without the token text no
aggregate reads (copying a million fingerprints was most of the cost of a filter).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from doku.analysis import aggregates as agg
from doku.analysis.comparison import Comparison, compare_runs, previous_comparable
from doku.analysis.counting import equals
from doku.analysis.filtering import counted_view
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, frames_from_columns, load_run_frames
from doku.analysis.labels import labelled
from doku.analysis.mix import issuer_mix as mix_of
from doku.engine.live_columns import LiveColumns
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.models import CREDIT_CARD
from ui.keys import LIVE_STATES, RunRef, run_ref
from ui.state import folder_of, jobs_progress, store_for

# At most this many values of an attribute are listed: enough to tell a segment
# column (a few values) from an ID-like one, without shipping a million labels.
ATTRIBUTE_VALUES_CAP = 1_000
AGGREGATES = 256  # cached aggregate results (each a small frame or dict)


# -- runs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RunsKey:
    """Cheap to build, and changes when a run is added or a job here progresses."""

    folder: str
    latest: int | None
    progress: tuple[tuple[int, str, int], ...]


@st.cache_data(ttl=3, max_entries=16, show_spinner=False)
def _runs(key: _RunsKey) -> list[RunInfo]:
    return store_for(key.folder).list_runs()


def list_runs(store: Store) -> list[RunInfo]:
    """Every run, newest first. Cached for a few seconds (the counts cost a scan of a
    big run) and refreshed at once when a run is added or a job here progresses."""
    return _runs(_RunsKey(folder_of(store), store.latest_run_id(), jobs_progress(store)))


def forget_runs() -> None:
    """After a run was renamed, archived or deleted: list the runs afresh."""
    _runs.clear()


def latest_run(store: Store) -> RunInfo | None:
    run_id = store.latest_run_id()
    return None if run_id is None else store.get_run(run_id)


def ref(store: Store, run: RunInfo) -> RunRef:
    """The cache identity of `run` as stored now."""
    return run_ref(folder_of(store), run)


# -- frames ------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner="Loading the run…")
def run_frames(run: RunRef) -> RunFrames:
    """All frames of a run, shared by every session (read-only). A run being fetched
    is read again only where it changed (`doku.engine.live_columns`) at each of its
    versions (every RUNNING_REFRESH_S)."""
    store = store_for(run.folder)
    if run.version[0] in LIVE_STATES:
        info = store.get_run(run.run_id, counted=False)
        if info is not None and info.status in LIVE_STATES:
            return frames_from_columns(info, _live(run.folder, run.run_id).current())
    return load_run_frames(store, run.run_id)


def frames_later(run: RunRef) -> Callable[[], RunFrames]:
    """The frames of `run` for something made later (a download, when clicked) that
    does not keep them alive: a page's download buttons outlive its rerun, and a
    million-token run held by each of them would be memory the next run's frames
    cannot reuse. The frames shown while they are still in memory, else the run read
    again from its store (no Streamlit needed on the download's thread)."""
    shown = weakref.ref(run_frames(run))

    def frames() -> RunFrames:
        alive = shown()
        return alive if alive is not None else load_run_frames(store_for(run.folder),
                                                               run.run_id)

    return frames


@st.cache_resource(max_entries=4, show_spinner=False)
def _live(folder: str, run_id: int) -> LiveColumns:
    """A running run's columns, kept current between its versions."""
    return LiveColumns(store_for(folder), run_id)


@st.cache_resource(max_entries=4, show_spinner="Applying filters…")
def _filtered(run: RunRef, filters: Filters) -> tuple[RunFrames, np.ndarray]:
    """The run narrowed to `filters` without the token text no aggregate reads, and
    the row of each kept token in the run's tokens frame (`counted_view`)."""
    return counted_view(run_frames(run), filters)


@st.cache_resource(max_entries=2, show_spinner="Applying filters…")
def _whole(run: RunRef, filters: Filters) -> RunFrames:
    return agg.apply_filters(run_frames(run), filters)


def counted(run: RunRef, filters: Filters) -> RunFrames:
    """What the aggregates below count: the run narrowed to `filters` (the whole run
    when none is active), without the tokens' text when narrowed."""
    return _filtered(run, filters)[0] if filters.active else run_frames(run)


def view(run: RunRef, filters: Filters) -> RunFrames:
    """The run narrowed to `filters`, every column (the whole run when none is
    active)."""
    return _whole(run, filters) if filters.active else run_frames(run)


def first_tokens(run: RunRef, filters: Filters, rows: int) -> pd.DataFrame:
    """The first `rows` tokens of `view(run, filters)`, taken from the whole run's
    frame: the narrowed copy of every column is never made for them."""
    tokens = run_frames(run).tokens
    if not filters.active:
        return tokens.head(rows)
    kept = _filtered(run, filters)[1]
    return tokens.take(kept[:rows]).reset_index(drop=True)


# -- aggregates: one per chart, table or figure ------------------------------------------------
@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def summary(run: RunRef, filters: Filters) -> dict[str, Any]:
    """Headline numbers (`doku.analysis.aggregates.summary`)."""
    return agg.summary(counted(run, filters))


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def issuer_by_type(run: RunRef, filters: Filters) -> pd.DataFrame:
    return agg.issuer_by_type(counted(run, filters).tokens)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def by_brand(run: RunRef, filters: Filters) -> pd.DataFrame:
    return agg.by_brand(counted(run, filters).tokens)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def by_type(run: RunRef, filters: Filters) -> pd.DataFrame:
    frames = counted(run, filters)
    return agg.by_type(frames.tokens, agg.types_in_scope(frames))


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def by_issuer(run: RunRef, filters: Filters) -> pd.DataFrame:
    return agg.by_issuer(counted(run, filters).tokens)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def tokens_per_customer(run: RunRef, filters: Filters) -> pd.DataFrame:
    return agg.tokens_per_customer(counted(run, filters).customers)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def uptake_by_type(run: RunRef, filters: Filters) -> pd.DataFrame:
    frames = counted(run, filters)
    return agg.uptake_by_type(frames.customers, agg.types_in_scope(frames), frames.tokens)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def uptake_by_issuer(run: RunRef, filters: Filters) -> pd.DataFrame:
    frames = counted(run, filters)
    return agg.uptake_by_issuer(frames.tokens, frames.customers, frames.token_owner)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def uptake_by_attribute(run: RunRef, filters: Filters, attribute: str) -> pd.DataFrame:
    return agg.uptake_by_attribute(counted(run, filters).customers, attribute)


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def card_brands(run: RunRef, filters: Filters) -> pd.DataFrame:
    """Credit-card tokens per brand (`aggregates.by_brand` of credit cards only)."""
    tokens = counted(run, filters).tokens[["type", "brand"]]  # not the text columns
    return agg.by_brand(tokens[equals(tokens["type"], CREDIT_CARD)])


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def attribute_values(run: RunRef, attribute: str) -> list[str]:
    """The values of a customer attribute of the whole run (at most
    ATTRIBUTE_VALUES_CAP), "(blank)" for missing ones."""
    values = labelled(run_frames(run).customers[attribute]).cat.categories
    return [str(v) for v in values[:ATTRIBUTE_VALUES_CAP]]


# -- two runs --------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner="Comparing runs…")
def comparison(run_a: RunRef, run_b: RunRef) -> Comparison:
    """What changed from run A to run B (`doku.analysis.comparison.compare_runs`)."""
    return compare_runs(run_frames(run_a), run_frames(run_b))


def previous_run(store: Store, run: RunInfo) -> RunInfo | None:
    """The run `run`'s changes are measured against (`comparison.previous_comparable`)."""
    return previous_comparable(list_runs(store), run)


def attributes_of(run: RunRef) -> tuple[str, ...]:
    """The attribute (segment) columns of a run's frames."""
    return run_frames(run).attributes


@st.cache_data(max_entries=AGGREGATES, show_spinner=False)
def issuer_mix(run: RunRef, previous: RunRef | None, filters: Filters) -> pd.DataFrame:
    """`doku.analysis.mix.issuer_mix` of `run` against `previous` (None: no change),
    both narrowed by the same `filters` (whose attributes `previous` must have)."""
    before = None
    if previous is not None:
        frames = run_frames(previous)
        before = counted_view(frames, filters)[0] if filters.active else frames
    return mix_of(counted(run, filters), before)

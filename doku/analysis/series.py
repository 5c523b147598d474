"""A series run by run: each period against the run before it (uptake change in points,
tokens added and removed, issuer share moves).

A series is the runs `comparison.run_series` groups (a saved audit's runs, or runs of
one name, or of one input and type scope), oldest first. Each run is a period: the day
its schedule slot named (`scheduled_for`), else the day it was created.

Cost: only the last `last` runs are analysed (plus the run before the first of them,
as its baseline), and `series_steps` holds at most two runs' frames at a time, so a
series of million-token runs costs two runs of memory, not twelve. A step keeps small
results only (counts and the issuer mix), so a caller can cache steps per pair of runs
and pay for a new run alone when the series grows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from doku.analysis.comparison import shared_scope
from doku.analysis.frames import STR_DTYPE, RunFrames, load_run_frames
from doku.analysis.labels import share
from doku.analysis.mix import issuer_mix
from doku.engine.schema import FETCHED, RunInfo
from doku.engine.store import Store
from doku.errors import InvalidInputError

DEFAULT_PERIODS = 12
Loader = Callable[[RunInfo], RunFrames]

PERIOD_COLUMNS = ("run_id", "run_label", "period", "status", "customers", "fetched",
                  "uptake", "uptake_change_pts", "tokens", "tokens_added", "tokens_removed",
                  "previous_run_id", "comparable")
SHARE_COLUMNS = ("run_id", "type", "issuer", "tokens", "share", "change_pts")


# -- tokens added and removed -----------------------------------------------------------------
@dataclass(frozen=True)
class TokenChanges:
    """`compare_runs`' tokens_added, tokens_removed, fetched_in_both and comparable of
    run A -> run B, without its tables (see `token_changes`)."""

    added: int
    removed: int
    fetched_in_both: int
    comparable: bool


def _strings(values: pd.Series) -> pa.Array:
    # pyarrow's own kernels: Series.isin on a million arrow strings takes seconds.
    return pa.array(values.array, type=pa.large_string())


def _fetched_ids(frames: RunFrames) -> pa.Array:
    customers = frames.customers
    return _strings(customers.loc[(customers["status"] == FETCHED).to_numpy(), "customer_id"])


def _pair_codes(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each side's distinct (customer, fingerprint) pairs as one integer each, from
    dictionary codes shared by both sides (exact: no hashing)."""
    def codes(column: str) -> tuple[np.ndarray, int]:
        both = pa.concat_arrays([_strings(a[column]), _strings(b[column])]).dictionary_encode()
        return both.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(both.dictionary)

    customer, _ = codes("customer_id")
    fingerprint, distinct = codes("fingerprint")
    pairs = customer * max(distinct, 1) + fingerprint
    return np.unique(pairs[:len(a)]), np.unique(pairs[len(a):])


def token_changes(frames_a: RunFrames, frames_b: RunFrames) -> TokenChanges:
    """The counts `compare_runs` gives, by the same rules (customers fetched in both
    runs; per-customer fingerprint sets; the token types both runs fetched; runs of
    another environment or client, or sharing no customer, not comparable), at a
    fraction of its cost: it builds no change table, so two million-token runs take a
    few seconds and little memory. Tests check it against `compare_runs`."""
    run_a, run_b = frames_a.run, frames_b.run
    scope, overlap = shared_scope(run_a.token_type, run_b.token_type)
    in_both = pc.is_in(_strings(frames_a.customers["customer_id"]),
                       value_set=_strings(frames_b.customers["customer_id"]))
    shared = int(pc.sum(in_both).as_py() or 0)
    fetched = _fetched_ids(frames_a)
    fetched = fetched.filter(pc.is_in(fetched, value_set=_fetched_ids(frames_b)))

    def compared(frames: RunFrames) -> pd.DataFrame:
        tokens = frames.tokens[["customer_id", "fingerprint", "type"]]
        if not overlap:
            return tokens.iloc[:0]  # disjoint type scopes: no token is compared
        keep = pc.is_in(_strings(tokens["customer_id"]), value_set=fetched).to_numpy(
            zero_copy_only=False)
        if scope is not None:
            keep = keep & (tokens["type"] == scope).to_numpy()
        kept: pd.DataFrame = tokens[keep]
        return kept

    pairs_a, pairs_b = _pair_codes(compared(frames_a), compared(frames_b))
    same_account = run_a.env == run_b.env and run_a.client_id == run_b.client_id
    return TokenChanges(
        added=len(np.setdiff1d(pairs_b, pairs_a, assume_unique=True)),
        removed=len(np.setdiff1d(pairs_a, pairs_b, assume_unique=True)),
        fetched_in_both=len(fetched),
        comparable=overlap and shared > 0 and same_account,
    )


# -- one period against the one before -------------------------------------------------------
@dataclass(frozen=True)
class PeriodStep:
    """One run of a series against the run before it (None: the first of the series).

    `run` and `previous` carry counts recomputed from their frames. `changes` is None
    without a previous run; its counts are None-free but `added`/`removed` mean nothing
    when `fetched_in_both` is 0 (`period_changes` leaves them blank then). `mix` is
    `mix.issuer_mix(run, previous)`: per token type and issuer, the share of the type's
    tokens and its change in points."""

    run: RunInfo
    previous: RunInfo | None
    changes: TokenChanges | None
    mix: pd.DataFrame


def period_step(frames: RunFrames, previous: RunFrames | None) -> PeriodStep:
    return PeriodStep(
        run=frames.run,
        previous=None if previous is None else previous.run,
        changes=None if previous is None else token_changes(previous, frames),
        mix=issuer_mix(frames, previous),
    )


def series_window(series: Sequence[RunInfo], last: int = DEFAULT_PERIODS
                  ) -> list[tuple[RunInfo, RunInfo | None]]:
    """The last `last` runs of a series (oldest first), each with the run before it."""
    if last < 1:
        raise InvalidInputError(f"last must be at least 1, not {last}")
    ordered = sorted(series, key=lambda r: r.id)
    start = max(len(ordered) - last, 0)
    return [(ordered[i], ordered[i - 1] if i else None) for i in range(start, len(ordered))]


def series_steps(source: Store | Loader, series: Sequence[RunInfo],
                 last: int = DEFAULT_PERIODS) -> list[PeriodStep]:
    """`period_step` of each of the last `last` runs of a series. `source` is a store
    (each run read afresh) or a loader (say, a cache of frames). Each run is loaded
    once, and no more than two runs' frames are held at a time."""
    def from_store(run: RunInfo) -> RunFrames:
        assert isinstance(source, Store)
        return load_run_frames(source, run.id)

    load = from_store if isinstance(source, Store) else source
    steps: list[PeriodStep] = []
    held: RunFrames | None = None  # the run loaded last: the next run's previous
    for run, previous in series_window(series, last):
        if previous is None:
            held = None
        elif held is None or held.run.id != previous.id:
            held = load(previous)  # the baseline of the window's first run
        frames = load(run)
        steps.append(period_step(frames, held))
        held = frames
    return steps


# -- tables -----------------------------------------------------------------------------------
def period_of(run: RunInfo) -> str:
    """The day a run stands for: its schedule slot's, else its creation's (UTC)."""
    return (run.scheduled_for or run.created_at)[:10]


def _uptake(run: RunInfo | None) -> float:
    value = None if run is None else share(run.with_tokens, run.fetched)
    return np.nan if value is None else value


def period_changes(steps: Sequence[PeriodStep]) -> pd.DataFrame:
    """One row per run (oldest first): run_id, run_label ("#12 2026-11-01"), period,
    status, customers, fetched, uptake (fraction of fetched customers holding a token),
    uptake_change_pts (against the previous run, in points), tokens, tokens_added,
    tokens_removed (customers fetched in both runs, matched by fingerprint; blank when
    there is no previous run or no customer fetched in both), previous_run_id and
    comparable (False: another environment or client, disjoint type scopes or no shared
    customer; blank for the first run). Uptake changes are NaN when either run fetched
    no customer."""
    uptakes = np.array([_uptake(s.run) for s in steps], dtype=np.float64)
    before = np.array([_uptake(s.previous) for s in steps], dtype=np.float64)
    counted = [s.changes if s.changes and s.changes.fetched_in_both else None for s in steps]
    return pd.DataFrame({
        "run_id": np.array([s.run.id for s in steps], dtype=np.int64),
        "run_label": pd.Series([f"#{s.run.id:d} {period_of(s.run)}" for s in steps],
                               dtype=STR_DTYPE),
        "period": pd.Series([period_of(s.run) for s in steps], dtype=STR_DTYPE),
        "status": pd.Series([s.run.status for s in steps], dtype=STR_DTYPE),
        "customers": np.array([s.run.customers for s in steps], dtype=np.int64),
        "fetched": np.array([s.run.fetched for s in steps], dtype=np.int64),
        "uptake": uptakes,
        "uptake_change_pts": (uptakes - before) * 100,
        "tokens": np.array([s.run.tokens for s in steps], dtype=np.int64),
        "tokens_added": pd.Series([None if c is None else c.added for c in counted],
                                  dtype="Int64"),
        "tokens_removed": pd.Series([None if c is None else c.removed for c in counted],
                                    dtype="Int64"),
        "previous_run_id": pd.Series(
            [None if s.previous is None else s.previous.id for s in steps], dtype="Int64"),
        "comparable": pd.Series(
            [None if s.changes is None else s.changes.comparable for s in steps],
            dtype="boolean"),
    }, columns=list(PERIOD_COLUMNS))


def issuer_share_changes(steps: Sequence[PeriodStep]) -> pd.DataFrame:
    """Long frame, run by run (oldest first): run_id, type, issuer, tokens, share (of
    that type's tokens, a fraction) and change_pts (against the previous run, in points;
    NaN for the first run, or a type the previous run held none of). An issuer the
    previous run had and this one lost is a row with 0 tokens and a negative change."""
    parts = [
        pd.DataFrame({
            "run_id": np.full(len(s.mix), s.run.id, dtype=np.int64),
            "type": s.mix["type"].astype(STR_DTYPE).to_numpy(),
            "issuer": s.mix["issuer"].astype(STR_DTYPE).to_numpy(),
            "tokens": s.mix["tokens"].to_numpy(dtype=np.int64),
            "share": s.mix["token_share"].to_numpy(dtype=np.float64),
            "change_pts": s.mix["token_share_change_pp"].to_numpy(dtype=np.float64),
        })
        for s in steps
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=STR_DTYPE if c in ("type", "issuer")
                                          else "float64" if c in ("share", "change_pts")
                                          else "int64") for c in SHARE_COLUMNS})
    frame = pd.concat(parts, ignore_index=True)
    return frame.astype({"type": STR_DTYPE, "issuer": STR_DTYPE})


def biggest_moves(shares: pd.DataFrame, run_id: int, top: int = 3) -> pd.DataFrame:
    """The `top` issuer share moves of one run (largest change in points either way,
    then type and issuer for ties); rows without a change left out."""
    rows = shares[(shares["run_id"] == run_id).to_numpy() & shares["change_pts"].notna().to_numpy()]
    rows = rows[(rows["change_pts"] != 0).to_numpy()]
    order = rows.assign(_size=rows["change_pts"].abs()).sort_values(
        ["_size", "type", "issuer"], ascending=[False, True, True], kind="stable")
    return order.drop(columns="_size").head(top).reset_index(drop=True)

"""A saved audit's runs as one series: period-over-period uptake, tokens added and
removed and issuer share moves, exact on both backends; the counts agree with
`compare_runs`; the cost stays at two runs' frames."""

from __future__ import annotations

import gc
import math
import weakref
from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doku.analysis.comparison import compare_runs, previous_comparable, run_series, series_key
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.series import (
    PERIOD_COLUMNS,
    biggest_moves,
    issuer_share_changes,
    period_changes,
    period_of,
    series_steps,
    series_window,
    token_changes,
)
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.generated_runs import GenCustomer, gen_run, store_run

SAVED = 7
IDS = ["C1", "C2", "C3", "C4"]
SLOTS = ["2026-11-01T02:00:00+00:00", "2026-11-08T02:00:00+00:00", "2026-11-15T02:00:00+00:00"]


def cc(cid: str, issuer: str, tid: str) -> Token:
    return Token(cid, None, CREDIT_CARD, issuer, "visa", "4111****0001", tid)


def dd(cid: str, issuer: str, tid: str) -> Token:
    return Token(cid, None, DIRECT_DEBIT, issuer, None, "****0001", tid)


# What each period's run holds: customer -> tokens; "failed" customers are failed.
PERIODS: list[dict[str, list[Token] | str]] = [
    {"C1": [cc("C1", "BCA", "t1")], "C2": [dd("C2", "BRI", "t2")], "C3": [], "C4": []},
    {"C1": [cc("C1", "BCA", "t1"), cc("C1", "BNI", "t3")], "C2": [dd("C2", "BRI", "t2")],
     "C3": [dd("C3", "BRI", "t4")], "C4": []},
    {"C1": [cc("C1", "BNI", "t3")], "C2": [dd("C2", "BRI", "t2")],
     "C3": [dd("C3", "BRI", "t4")], "C4": "failed"},
]


def seed_period(store: Store, held: dict[str, list[Token] | str], *, name: str,
                saved: int | None = SAVED, slot: str | None = None) -> int:
    run = store.create_run(ids=IDS, env="simulator", base_url=None, client_id="MCH",
                           input_name="saved list", name=name, saved_audit_id=saved,
                           scheduled_for=slot)
    for cid, tokens in held.items():
        if isinstance(tokens, str):
            store.record_failed(run, cid, error_code="server_error", error_message="x",
                                attempts=1, http_status=500)
        else:
            store.record_fetched(run, cid, tokens, attempts=1)
    store.set_status(run, "done")
    return run


@pytest.fixture
def store(backend_store: Store) -> Store:
    """#1-#3: the saved audit's weekly runs (#3 after the audit was renamed); #4: a run
    named like the audit but not of it (another series)."""
    for i, held in enumerate(PERIODS):
        seed_period(backend_store, held, name="Weekly" if i < 2 else "Weekly (renamed)",
                    slot=SLOTS[i])
    seed_period(backend_store, PERIODS[0], name="Weekly", saved=None)
    return backend_store


def saved_series(store: Store) -> list[RunInfo]:
    return run_series(store.list_runs())[f"saved: {SAVED}"]


def test_a_saved_audits_runs_are_one_series_whatever_their_names(store: Store) -> None:
    runs = store.list_runs()
    assert {k: [r.id for r in v] for k, v in run_series(runs).items()} == {
        "saved: 7": [1, 2, 3], "name: Weekly": [4]}
    by_id = {r.id: r for r in runs}
    assert series_key(by_id[3]) == "saved: 7"
    assert previous_comparable(runs, by_id[3]) == by_id[2]
    assert previous_comparable(runs, by_id[4]) is None


def test_period_changes_run_by_run(store: Store) -> None:
    table = period_changes(series_steps(store, saved_series(store)))
    assert tuple(table.columns) == PERIOD_COLUMNS
    assert table.drop(columns=["uptake_change_pts", "tokens_added", "tokens_removed",
                               "previous_run_id", "comparable"]).to_dict("records") == [
        {"run_id": 1, "run_label": "#1 2026-11-01", "period": "2026-11-01", "status": "done",
         "customers": 4, "fetched": 4, "uptake": 0.5, "tokens": 2},
        {"run_id": 2, "run_label": "#2 2026-11-08", "period": "2026-11-08", "status": "done",
         "customers": 4, "fetched": 4, "uptake": 0.75, "tokens": 4},
        {"run_id": 3, "run_label": "#3 2026-11-15", "period": "2026-11-15", "status": "done",
         "customers": 4, "fetched": 3, "uptake": 1.0, "tokens": 3},
    ]
    assert math.isnan(table["uptake_change_pts"][0])
    assert table["uptake_change_pts"].tolist()[1:] == [25.0, 25.0]
    # #2 added C1's BNI card and C3's debit; #3 dropped C1's BCA card (C4 failed: not
    # compared).
    assert table["tokens_added"].tolist() == [pd.NA, 2, 0]
    assert table["tokens_removed"].tolist() == [pd.NA, 0, 1]
    assert table["previous_run_id"].tolist() == [pd.NA, 1, 2]
    assert table["comparable"].tolist() == [pd.NA, True, True]


def test_issuer_share_changes_and_biggest_moves(store: Store) -> None:
    shares = issuer_share_changes(series_steps(store, saved_series(store)))
    plain = shares.astype(object).where(shares.notna(), None)  # NaN (no change) as None
    assert [tuple(r) for r in plain.itertuples(index=False)] == [
        (1, CREDIT_CARD, "BCA", 1, 1.0, None), (1, DIRECT_DEBIT, "BRI", 1, 1.0, None),
        (2, CREDIT_CARD, "BCA", 1, 0.5, -50.0), (2, CREDIT_CARD, "BNI", 1, 0.5, 50.0),
        (2, DIRECT_DEBIT, "BRI", 2, 1.0, 0.0),
        (3, CREDIT_CARD, "BNI", 1, 1.0, 50.0), (3, CREDIT_CARD, "BCA", 0, 0.0, -50.0),
        (3, DIRECT_DEBIT, "BRI", 2, 1.0, 0.0),
    ]
    moves = biggest_moves(shares, 3)
    assert moves[["issuer", "change_pts"]].values.tolist() == [["BCA", -50.0], ["BNI", 50.0]]
    assert biggest_moves(shares, 1).empty  # the first run has nothing to move from


def test_a_window_keeps_the_run_before_it_as_baseline(store: Store) -> None:
    series = saved_series(store)
    loaded: list[int] = []

    def load(run: RunInfo) -> RunFrames:
        loaded.append(run.id)
        return load_run_frames(store, run.id)

    table = period_changes(series_steps(load, series, last=2))
    assert loaded == [1, 2, 3]  # each run once; #1 only as #2's baseline
    assert table["run_id"].tolist() == [2, 3]
    assert table["uptake_change_pts"].tolist() == [25.0, 25.0]
    assert table["tokens_added"].tolist() == [2, 0]
    assert [(r.id, p and p.id) for r, p in series_window(series, 1)] == [(3, 2)]
    with pytest.raises(InvalidInputError):
        series_window(series, 0)


def test_no_more_than_two_runs_frames_are_held(store: Store) -> None:
    """Each load finds at most one earlier run's frames still alive (the baseline)."""
    alive: list[weakref.ref[RunFrames]] = []
    held_at_load: list[int] = []

    def load(run: RunInfo) -> RunFrames:
        gc.collect()
        held_at_load.append(sum(r() is not None for r in alive))
        frames = load_run_frames(store, run.id)
        alive.append(weakref.ref(frames))
        return frames

    steps = series_steps(load, saved_series(store))
    assert held_at_load == [0, 1, 1]
    assert [s.run.id for s in steps] == [1, 2, 3]


def test_period_is_the_slot_day_else_the_creation_day(store: Store) -> None:
    runs = {r.id: r for r in store.list_runs()}
    assert period_of(runs[2]) == "2026-11-08"
    assert period_of(runs[4]) == runs[4].created_at[:10]


def test_a_run_with_no_customer_fetched_in_both_has_no_token_changes(store: Store) -> None:
    queued = store.create_run(ids=IDS, env="simulator", base_url=None, client_id="MCH",
                              input_name="saved list", name="Weekly", saved_audit_id=SAVED,
                              scheduled_for="2026-11-22T02:00:00+00:00", queued=True)
    table = period_changes(series_steps(store, saved_series(store), last=1))
    row = table.iloc[0]
    assert (row["run_id"], row["status"], row["fetched"], row["tokens"]) == (queued, "queued",
                                                                              0, 0)
    assert math.isnan(row["uptake"])
    assert math.isnan(row["uptake_change_pts"])
    assert row["tokens_added"] is pd.NA
    assert row["tokens_removed"] is pd.NA
    assert row["previous_run_id"] == 3


def test_no_steps_give_empty_tables() -> None:
    assert period_changes([]).empty
    assert tuple(period_changes([]).columns) == PERIOD_COLUMNS
    shares = issuer_share_changes([])
    assert shares.empty
    assert biggest_moves(shares, 1).empty


SCOPES = st.sampled_from([None, DIRECT_DEBIT, CREDIT_CARD])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_run(), gen_run(random_ids=True), SCOPES, SCOPES, st.booleans())
def test_token_changes_agree_with_compare_runs(
    run_a: list[GenCustomer], run_b: list[GenCustomer], scope_a: str | None,
    scope_b: str | None, same_env: bool,
) -> None:
    store = Store(":memory:")
    a, b = store_run(store, run_a), store_run(store, run_b)
    a = replace(a, run=replace(a.run, token_type=scope_a))
    b = replace(b, run=replace(b.run, token_type=scope_b,
                               env="simulator" if same_env else "sandbox"))
    full = compare_runs(a, b)
    light = token_changes(a, b)
    assert (light.added, light.removed, light.fetched_in_both, light.comparable) == (
        full.tokens_added, full.tokens_removed, full.fetched_in_both, full.comparable)

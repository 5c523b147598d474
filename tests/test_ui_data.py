"""ui.data: each typed accessor is the doku aggregate of the run (and filters) it
names, cached on the run's identity and canonical filters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from doku.analysis import aggregates as agg
from doku.analysis.comparison import compare_runs
from doku.analysis.frames import load_run_frames
from doku.engine.inputs import parse_file
from doku.engine.store import Store
from tests.apptest_support import ROOT, isolate, seed_run, world_tokens
from ui import data, state
from ui.keys import NO_FILTERS, make_filters

SAMPLE = ROOT / "samples" / "customers.csv"
ROWS = 400


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    folder = isolate(monkeypatch, tmp_path / "data")
    head = b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[: ROWS + 1])
    seed_run(folder, parse_file(head, "head.csv"), world_tokens())
    seed_run(folder, parse_file(head, "head.csv"), world_tokens(epoch=2))
    return state.get_store()


def test_runs_and_refs(store: Store) -> None:
    runs = data.list_runs(store)
    assert [r.id for r in runs] == [2, 1]
    latest = data.latest_run(store)
    assert latest is not None
    assert latest.id == 2
    ref = data.ref(store, runs[1])
    assert (ref.folder, ref.run_id) == (state.data_folder(), 1)


def test_accessors_equal_the_aggregates(store: Store) -> None:
    run = data.list_runs(store)[1]
    ref = data.ref(store, run)
    frames = load_run_frames(store, run.id)
    filters = make_filters(["CREDIT_CARD"], attributes={"region": ["Jakarta", "Bali"]})
    view = agg.apply_filters(frames, filters)
    for f, expected in ((NO_FILTERS, frames), (filters, view)):
        assert data.summary(ref, f) == agg.summary(expected)
        pd.testing.assert_frame_equal(data.issuer_by_type(ref, f),
                                      agg.issuer_by_type(expected.tokens))
        pd.testing.assert_frame_equal(data.by_brand(ref, f), agg.by_brand(expected.tokens))
        pd.testing.assert_frame_equal(data.by_issuer(ref, f), agg.by_issuer(expected.tokens))
        pd.testing.assert_frame_equal(
            data.by_type(ref, f), agg.by_type(expected.tokens, agg.types_in_scope(expected))
        )
        pd.testing.assert_frame_equal(data.tokens_per_customer(ref, f),
                                      agg.tokens_per_customer(expected.customers))
        pd.testing.assert_frame_equal(
            data.uptake_by_type(ref, f),
            agg.uptake_by_type(expected.customers, agg.types_in_scope(expected)),
        )
        pd.testing.assert_frame_equal(data.uptake_by_issuer(ref, f),
                                      agg.uptake_by_issuer(expected.tokens, expected.customers))
        pd.testing.assert_frame_equal(data.uptake_by_attribute(ref, f, "plan"),
                                      agg.uptake_by_attribute(expected.customers, "plan"))
    assert data.summary(ref, filters)["credit_card"] == data.summary(ref, filters)["tokens"]
    assert data.attribute_values(ref, "plan") == ["basic", "plus", "premium"]


def test_views_are_shared_and_keyed_on_canonical_filters(store: Store) -> None:
    ref = data.ref(store, data.list_runs(store)[0])
    assert data.view(ref, NO_FILTERS) is data.run_frames(ref)
    a = data.view(ref, make_filters(issuers=["BCA", "BNI"]))
    b = data.view(ref, make_filters(issuers=["BNI", "BCA"]))
    assert a is b
    assert a.filters is not None
    assert set(a.tokens["issuer"].unique()) <= {"BCA", "BNI"}


def test_a_new_result_is_a_new_version(store: Store) -> None:
    first = data.ref(store, data.list_runs(store)[1])
    before = data.summary(first, NO_FILTERS)["failed"]
    customer = load_run_frames(store, 1).customers["customer_id"][0]
    store.record_failed(1, str(customer), error_code="transport", error_message="x", attempts=1)
    run = store.get_run(1)
    assert run is not None
    after = data.ref(store, run)
    assert after != first
    assert data.summary(after, NO_FILTERS)["failed"] == before + 1
    assert data.summary(first, NO_FILTERS)["failed"] == before  # the old entry stays


def test_comparison(store: Store) -> None:
    new, old = data.list_runs(store)
    cmp = data.comparison(data.ref(store, old), data.ref(store, new))
    expected = compare_runs(load_run_frames(store, old.id), load_run_frames(store, new.id))
    assert cmp.to_dict() == expected.to_dict()
    assert cmp.tokens_added + cmp.tokens_removed > 0

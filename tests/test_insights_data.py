"""What Insights counts and shows of a filtered run (`ui.data.counted`, `first_tokens`,
the card-brand and issuer-uptake accessors, the exports made when clicked) is what the
whole filtered copy of the run (`aggregates.apply_filters`) gives, on both backends;
and a download button does not keep the run's frames in memory (`frames_later`)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doku.analysis import aggregates as agg
from doku.analysis import exports
from doku.analysis.filtering import TEXT_COLUMNS
from doku.analysis.frames import RunFrames, load_run_frames
from doku.engine.inputs import parse_file
from doku.engine.store import Store
from doku.models import CREDIT_CARD
from tests.apptest_support import ROOT, isolate, seed_run, world_tokens
from tests.backend_support import both_backends
from ui import data, insights_charts, state
from ui.keys import NO_FILTERS, RunRef, make_filters

pytestmark = both_backends

SAMPLE = ROOT / "samples" / "customers.csv"
ROWS = 300
CARDS_IN_JAKARTA = make_filters([CREDIT_CARD], attributes={"region": ["Jakarta"]})


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[RunRef, RunFrames]:
    folder = isolate(monkeypatch, tmp_path / "data")
    head = b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[: ROWS + 1])
    parsed = parse_file(head, "head.csv")
    seed_run(folder, parsed, world_tokens(), failed={parsed.ids[3]: "server_error"},
             pending=[parsed.ids[5]])
    store: Store = state.get_store()
    info = data.list_runs(store)[0]
    return data.ref(store, info), load_run_frames(store, info.id)


def cards_in_jakarta(frames: RunFrames) -> np.ndarray:
    """The rows of the run's tokens that CARDS_IN_JAKARTA keeps, found by hand."""
    tokens = frames.tokens
    return np.flatnonzero(((tokens["type"] == CREDIT_CARD)
                           & (tokens["region"] == "Jakarta")).to_numpy())


def test_the_counted_view_is_the_filtered_run_without_token_text(
    run: tuple[RunRef, RunFrames],
) -> None:
    ref, frames = run
    assert data.counted(ref, NO_FILTERS) is data.run_frames(ref)
    counted = data.counted(ref, CARDS_IN_JAKARTA)
    whole = data.view(ref, CARDS_IN_JAKARTA)
    assert data.counted(ref, CARDS_IN_JAKARTA) is counted  # cached
    rows = cards_in_jakarta(frames)
    assert len(rows) > 0
    assert len(counted.tokens) == len(whole.tokens) == len(rows)
    assert not set(TEXT_COLUMNS) & set(counted.tokens.columns)
    assert {"fingerprint", "masked_card", "customer_name"} <= set(whole.tokens.columns)
    pd.testing.assert_frame_equal(counted.customers, whole.customers)
    pd.testing.assert_frame_equal(counted.errors, whole.errors)
    jakarta = frames.customers["region"] == "Jakarta"
    assert len(counted.customers) == int(jakarta.sum())
    summary = data.summary(ref, CARDS_IN_JAKARTA)
    assert summary == agg.summary(whole)
    assert summary["tokens"] == summary["credit_card"] == len(rows)


def test_the_first_tokens_are_the_filtered_runs_first_rows(
    run: tuple[RunRef, RunFrames],
) -> None:
    ref, frames = run
    rows = cards_in_jakarta(frames)
    first = data.first_tokens(ref, CARDS_IN_JAKARTA, 4)
    pd.testing.assert_frame_equal(first, data.view(ref, CARDS_IN_JAKARTA).tokens.head(4))
    assert first["fingerprint"].tolist() == frames.tokens["fingerprint"].iloc[rows[:4]].tolist()
    assert list(first.index) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(data.first_tokens(ref, NO_FILTERS, 3), frames.tokens.head(3))


def test_card_brands_and_issuer_uptake_count_the_filtered_run(
    run: tuple[RunRef, RunFrames],
) -> None:
    ref, frames = run
    for filters in (NO_FILTERS, CARDS_IN_JAKARTA, make_filters(issuers=["BCA"])):
        whole = agg.apply_filters(frames, filters) if filters.active else frames
        cards = whole.tokens[(whole.tokens["type"] == CREDIT_CARD).to_numpy()]
        pd.testing.assert_frame_equal(data.card_brands(ref, filters), agg.by_brand(cards))
        pd.testing.assert_frame_equal(data.uptake_by_issuer(ref, filters),
                                      agg.uptake_by_issuer(whole.tokens, whole.customers))
    brands = data.card_brands(ref, NO_FILTERS)
    assert int(brands["tokens"].sum()) == int((frames.tokens["type"] == CREDIT_CARD).sum())


def test_a_download_is_made_of_the_whole_filtered_run(run: tuple[RunRef, RunFrames]) -> None:
    frames = run[1]
    whole = agg.apply_filters(frames, CARDS_IN_JAKARTA)
    for what in ("tokens", "customers", "errors"):
        got = insights_charts.export_view(frames, CARDS_IN_JAKARTA, what, "csv")
        assert got == exports.export_bytes(whole, what, "csv")
    everything = insights_charts.export_view(frames, NO_FILTERS, "tokens", "csv")
    assert everything == exports.export_bytes(frames, "tokens", "csv")
    assert everything.count(b"\n") == len(frames.tokens) + 1  # a header, a line a token


def test_a_download_made_later_does_not_keep_the_run_in_memory(
    run: tuple[RunRef, RunFrames],
) -> None:
    ref, frames = run
    shown = data.run_frames(ref)
    later = data.frames_later(ref)
    assert later() is shown  # the frames the page showed, while they are in memory
    witness = weakref.ref(shown)
    del shown
    data.run_frames.clear()
    gc.collect()
    assert witness() is None  # the download kept nothing alive
    again = later()  # read again from the store
    pd.testing.assert_frame_equal(again.tokens, frames.tokens)
    pd.testing.assert_frame_equal(again.customers, frames.customers)
    assert insights_charts.export_later(later, CARDS_IN_JAKARTA, "tokens", "csv") == (
        exports.export_bytes(agg.apply_filters(frames, CARDS_IN_JAKARTA), "tokens", "csv"))

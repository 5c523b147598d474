"""Frames from a run's columns (the store's snapshot, or its one-transaction columnar
read) equal the frames built from its rows, column for column, dtype for dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doku.analysis.aggregates import apply_filters
from doku.analysis.filters import Filters
from doku.analysis.frames import (
    customers_frame,
    errors_frame,
    frames_from_columns,
    load_run_frames,
    tokens_frame,
)
from doku.engine.run_reading import read_columns
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.backend_support import backend_url, both_backends
from tests.test_frames import build_small_store

pytestmark = both_backends


def _from_rows(store: Store, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    info = store.get_run(run_id)
    assert info is not None
    customers = customers_frame(store.customer_rows(run_id), info.attribute_columns)
    tokens = tokens_frame(store.token_rows(run_id), info.attribute_columns,
                          with_token_ids=info.store_token_ids)
    return customers, tokens


@pytest.mark.parametrize("raw_ids", [False, True])
def test_columns_give_the_frames_rows_give(backend: str, tmp_path: Path, raw_ids: bool) -> None:  # noqa: ARG001
    store, a, b = build_small_store(backend_url(tmp_path), store_token_ids=raw_ids)
    with store:
        for run in (a, b):
            customers, tokens = _from_rows(store, run)
            info = store.get_run(run, counted=False)
            assert info is not None
            live = frames_from_columns(info, read_columns(store, run))
            loaded = load_run_frames(store, run)  # a finished run: through its snapshot
            for frames in (live, loaded):
                pd.testing.assert_frame_equal(frames.customers, customers)
                pd.testing.assert_frame_equal(frames.tokens, tokens)
                pd.testing.assert_frame_equal(frames.errors, errors_frame(customers))
                assert frames.token_owner is not None
                owners = frames.customers["customer_id"].to_numpy()[frames.token_owner]
                assert owners.tolist() == frames.tokens["customer_id"].tolist()
            assert ("token_id" in loaded.tokens) is raw_ids


def test_filters_recount_the_same_with_and_without_owners(backend: str, tmp_path: Path) -> None:  # noqa: ARG001
    """apply_filters counts customers from token owners; the same as by customer ID."""
    store, a, _ = build_small_store(backend_url(tmp_path))
    with store:
        frames = load_run_frames(store, a)
        by_id = type(frames)(frames.run, frames.tokens, frames.customers, frames.errors,
                             frames.attributes)
        for filters in (Filters(types=(CREDIT_CARD,)), Filters(issuers=("BRI",)),
                        Filters(attributes={"segment": ("silver",)}, types=(DIRECT_DEBIT,)),
                        Filters(attributes={"segment": ("gold",)})):
            fast, slow = apply_filters(frames, filters), apply_filters(by_id, filters)
            pd.testing.assert_frame_equal(fast.customers, slow.customers)
            pd.testing.assert_frame_equal(fast.tokens, slow.tokens)
            assert fast.token_owner is not None
            owners = fast.customers["customer_id"].to_numpy()[fast.token_owner]
            assert owners.tolist() == fast.tokens["customer_id"].tolist()
        gold_dd = apply_filters(frames, Filters(attributes={"segment": ("gold",)},
                                                types=(DIRECT_DEBIT,)))
        # gold: C1 (2 DD), C2 (none), C5 (failed): counts by customer, NA unless fetched
        assert gold_dd.customers["n_tokens"].tolist() == [2, 0, pd.NA]
        assert np.array_equal(gold_dd.token_owner, [0, 0])


def test_tokens_of_a_customer_no_longer_fetched_are_left_out(backend: str, tmp_path: Path) -> None:  # noqa: ARG001
    """A customer put back to pending (a retry of failed ones) has no answer yet: its
    old tokens, if any were left, are not counted (the row path reconciled the same)."""
    store, a, _ = build_small_store(backend_url(tmp_path))
    with store:
        store.record_failed(a, "C1", error_code="server_error", error_message="boom",
                            attempts=1)
        frames = frames_from_columns(store.get_run(a, counted=False), read_columns(store, a))  # type: ignore[arg-type]
        assert "C1" not in set(frames.tokens["customer_id"])
        assert frames.run.tokens == len(frames.tokens) == 4
        store.record_fetched(a, "C1", [Token("C1", "Ani", DIRECT_DEBIT, "BRI", None,
                                             "****0001", "tok-0001")], attempts=1)
        frames = load_run_frames(store, a)
        assert frames.tokens["customer_id"].tolist().count("C1") == 1

"""Counting on integer codes (`doku.analysis.counting`), the kept token rows of a filter
(`filtering.filter_rows`) and the narrowed view without token text a page counts on
(`filtering.counted_view`): exact values on the small fixture (tests.test_frames), and
on hypothesis-generated runs every aggregate of the counted view equals the whole
filtered copy's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doku.analysis import aggregates as agg
from doku.analysis.counting import (
    customers_of,
    distinct,
    distinct_sorted,
    equals,
    held_per_value,
    isin,
    positive,
)
from doku.analysis.filtering import TEXT_COLUMNS, counted_view, filter_rows
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.labels import BLANK, UNKNOWN_BRAND
from doku.analysis.mix import issuer_mix
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.generated_runs import ISSUERS, GenCustomer, gen_run, store_run
from tests.test_frames import build_small_store

DD, CC = DIRECT_DEBIT, CREDIT_CARD


@pytest.fixture(scope="module")
def fa() -> RunFrames:
    store, a, _ = build_small_store()
    return load_run_frames(store, a)


# -- counting helpers ----------------------------------------------------------------------
def test_distinct_sorts_and_drops_repeats() -> None:
    assert distinct(np.array([5, 1, 5, 3, 1, 1], dtype=np.int64)).tolist() == [1, 3, 5]
    assert distinct(np.array([], dtype=np.int64)).tolist() == []


def test_distinct_sorted_keeps_the_first_of_each_run() -> None:
    assert distinct_sorted(np.array([1, 1, 2, 5, 5, 5], dtype=np.int64)).tolist() == [1, 2, 5]
    assert distinct_sorted(np.array([], dtype=np.int64)).tolist() == []


def test_isin_matches_pandas_on_codes_with_few_and_many_values() -> None:
    values = pd.Series(pd.Categorical(
        ["a", "b", None, "c", "d", "e", "f", "a"], categories=list("abcdefg")))
    for allowed in ([], ["a"], ["a", "c", "z"], ["a", "b", "c", "d", "e"], list("abcdefg")):
        got = isin(values, allowed)
        assert got.tolist() == values.isin(allowed).tolist(), allowed
    assert isin(values, ["a", "c"]).tolist() == [True, False, False, True, False, False,
                                                 False, True]
    assert isin(values, list("abcde")).tolist() == [True] * 2 + [False] + [True] * 3 + [
        False, True]
    plain = pd.Series(["a", None, "b"], dtype=object)
    assert isin(plain, ["b"]).tolist() == [False, False, True]


def test_equals_reads_codes_of_a_categorical_and_never_matches_missing() -> None:
    cat = pd.Series(pd.Categorical(["a", None, "b", "a"], categories=["a", "b", "c"]))
    assert equals(cat, "a").tolist() == [True, False, False, True]
    assert equals(cat, "c").tolist() == [False] * 4
    assert equals(cat, "z").tolist() == [False] * 4
    plain = pd.Series(["a", None, "b"], dtype=object)
    assert equals(plain, "b").tolist() == [False, False, True]


def test_positive_reads_missing_counts_as_zero() -> None:
    rows = np.array([True, True, True, False])
    assert positive(pd.Series([2, pd.NA, 0, 5], dtype="Int64"), rows).tolist() == [
        True, False, False, False]
    assert positive(pd.Series([1.0, np.nan, 3.0, 1.0]), rows).tolist() == [
        True, False, True, False]
    assert positive(pd.Series([None, 1, 0, 1], dtype=object), rows).tolist() == [
        False, True, False, False]


def test_held_per_value_counts_distinct_customers() -> None:
    customer = np.array([0, 0, 1, 2, 2, 2], dtype=np.int64)
    value = np.array([1, 1, 0, 1, 2, 2], dtype=np.int64)
    assert held_per_value(customer, value, 3).tolist() == [1, 2, 1]
    assert held_per_value(customer, value, 4).tolist() == [1, 2, 1, 0]
    assert held_per_value(customer[:0], value[:0], 0).tolist() == []


def test_customers_of_uses_owners_else_ids() -> None:
    tokens = pd.DataFrame({"customer_id": ["C2", "C1", "C2", None, None]})
    assert customers_of(tokens, np.array([4, 0, 4, 7, 7])).tolist() == [4, 0, 4, 7, 7]
    # a missing ID is one customer of its own, as drop_duplicates has it
    assert customers_of(tokens, None).tolist() == [0, 1, 0, 2, 2]


def test_uptake_by_issuer_is_the_same_with_owners(fa: RunFrames) -> None:
    with_owner = agg.uptake_by_issuer(fa.tokens, fa.customers, fa.token_owner)
    assert with_owner["issuer"].tolist() == ["BCA", "BNI", "BRI", "Mandiri"]
    assert with_owner["with_tokens"].tolist() == [2, 1, 1, 1]
    pd.testing.assert_frame_equal(with_owner, agg.uptake_by_issuer(fa.tokens, fa.customers))


def test_issuer_by_type_of_no_tokens_keeps_its_columns(fa: RunFrames) -> None:
    none = agg.issuer_by_type(fa.tokens.iloc[:0])
    assert list(none.columns) == ["issuer", "type", "tokens"]
    assert len(none) == 0
    assert none["tokens"].dtype == np.int64


# -- the kept rows and the counted view ------------------------------------------------------
# Run A's tokens, in order: 0-1 C1 DD BRI, 2 C1 CC BCA visa, 3 C2 CC BCA mastercard,
# 4 C4 CC Mandiri (no brand), 5 C4 DD Mandiri, 6 C7 DD BNI; customers C1..C8 rows 0..7.
@pytest.mark.parametrize(("filters", "rows", "owners", "customers"), [
    (Filters(types=[CC]), [2, 3, 4], [0, 1, 3], 8),
    (Filters(attributes={"segment": ["gold"]}), [0, 1, 2, 3], [0, 0, 0, 1], 3),
    (Filters(types=[DD], attributes={"segment": ["silver"]}), [5], [1], 3),
    (Filters(brands=["visa", UNKNOWN_BRAND]), [2, 4], [0, 3], 8),
    (Filters(issuers=["BNI"], attributes={"city": [BLANK, "=1+2"]}), [6], [2], 3),
    (Filters(issuers=["Maybank"]), [], [], 8),
])
def test_filter_rows_gives_each_kept_tokens_row(
    fa: RunFrames, filters: Filters, rows: list[int], owners: list[int], customers: int,
) -> None:
    narrowed, kept = filter_rows(fa, filters)
    assert kept.tolist() == rows
    assert narrowed.token_owner is not None
    assert narrowed.token_owner.tolist() == owners
    assert len(narrowed.customers) == customers
    whole = agg.apply_filters(fa, filters)
    pd.testing.assert_frame_equal(narrowed.tokens, whole.tokens)
    pd.testing.assert_frame_equal(fa.tokens.take(kept).reset_index(drop=True), whole.tokens)


def test_the_counted_view_leaves_out_token_text_only(fa: RunFrames) -> None:
    filters = Filters(types=[CC], attributes={"segment": ["gold", "silver"]})
    counted, kept = counted_view(fa, filters)
    whole = agg.apply_filters(fa, filters)
    assert kept.tolist() == [2, 3, 4]
    assert list(counted.tokens.columns) == [
        c for c in whole.tokens.columns if c not in TEXT_COLUMNS]
    assert list(counted.tokens.columns) == ["customer_id", "type", "issuer", "brand",
                                            "segment", "city"]
    pd.testing.assert_frame_equal(counted.tokens, whole.tokens[counted.tokens.columns])
    pd.testing.assert_frame_equal(counted.customers, whole.customers)
    pd.testing.assert_frame_equal(counted.errors, whole.errors)
    assert counted.filters == filters
    assert agg.summary(counted) == agg.summary(whole)
    assert agg.summary(counted)["tokens"] == 3
    assert list(fa.tokens.columns)[:2] == ["customer_id", "customer_name"]  # untouched


def test_a_filter_keeping_no_token_has_an_empty_mix(fa: RunFrames) -> None:
    for filters in (Filters(issuers=["Maybank"]), Filters(types=["WALLET"])):
        narrowed = agg.apply_filters(fa, filters)
        for previous in (None, fa):
            mix = issuer_mix(narrowed, previous)
            assert len(mix) == 0
            assert list(mix.columns) == ["type", "issuer", "tokens", "token_share", "holders",
                                         "holder_share", "token_share_change_pp",
                                         "holder_share_change_pp"]


def same_aggregates(counted: RunFrames, whole: RunFrames) -> None:
    assert agg.summary(counted) == agg.summary(whole)
    for name in ("issuer_by_type", "by_brand", "by_issuer", "brand_by_issuer"):
        fn = getattr(agg, name)
        pd.testing.assert_frame_equal(fn(counted.tokens), fn(whole.tokens), obj=name)
    types = agg.types_in_scope(whole)
    assert agg.types_in_scope(counted) == types
    pd.testing.assert_frame_equal(agg.uptake_by_type(counted.customers, types, counted.tokens),
                                  agg.uptake_by_type(whole.customers, types, whole.tokens))
    pd.testing.assert_frame_equal(
        agg.uptake_by_issuer(counted.tokens, counted.customers, counted.token_owner),
        agg.uptake_by_issuer(whole.tokens, whole.customers))
    pd.testing.assert_frame_equal(agg.tokens_per_customer(counted.customers),
                                  agg.tokens_per_customer(whole.customers))
    pd.testing.assert_frame_equal(agg.uptake_by_attribute(counted.customers, "segment"),
                                  agg.uptake_by_attribute(whole.customers, "segment"))
    pd.testing.assert_frame_equal(issuer_mix(counted), issuer_mix(whole))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_run(), st.sets(st.sampled_from(ISSUERS)), st.sets(st.sampled_from([DD, CC])),
       st.sets(st.sampled_from(["gold", "silver", BLANK])))
def test_the_counted_view_counts_what_the_whole_filtered_copy_counts(
    customers: list[GenCustomer], issuers: set[str], types: set[str], segments: set[str]
) -> None:
    frames = store_run(Store(":memory:"), customers)
    filters = Filters(types=types, issuers=issuers, attributes={"segment": segments})
    counted, kept = counted_view(frames, filters)
    whole = agg.apply_filters(frames, filters)
    same_aggregates(counted, whole)
    pd.testing.assert_frame_equal(frames.tokens.take(kept).reset_index(drop=True),
                                  whole.tokens)
    assert counted.token_owner is not None
    assert whole.token_owner is not None
    assert counted.token_owner.tolist() == whole.token_owner.tolist()

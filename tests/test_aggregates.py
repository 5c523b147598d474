"""Aggregates: hand-computed expectations on the small fixture (see
tests.test_frames.build_small_store for the table), and hypothesis-generated runs
stored in a real Store whose every count is recounted from the generated data."""

from __future__ import annotations

import pandas as pd
import pytest

from doku.analysis.aggregates import (
    apply_filters,
    brand_by_issuer,
    by_brand,
    by_issuer,
    by_type,
    issuer_by_type,
    summary,
    tokens_per_customer,
    uptake,
    uptake_by_attribute,
    uptake_by_issuer,
    uptake_by_type,
)
from doku.analysis.comparison import compare_runs, run_trend
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.labels import BLANK, DIRECT_DEBIT_BRAND, UNKNOWN_BRAND, brand_labels
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.test_frames import build_small_store

DD, CC = DIRECT_DEBIT, CREDIT_CARD


@pytest.fixture(scope="module")
def runs() -> tuple[RunFrames, RunFrames, Store]:
    store, a, b = build_small_store()
    return load_run_frames(store, a), load_run_frames(store, b), store


@pytest.fixture(scope="module")
def fa(runs: tuple[RunFrames, RunFrames, Store]) -> RunFrames:
    return runs[0]


def rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(None if pd.isna(v) else v for v in r) for r in frame.itertuples(index=False)]


# -- hand-computed, run A ----------------------------------------------------------------
def test_counts_by_type_issuer_brand(fa: RunFrames) -> None:
    assert rows(by_type(fa.tokens)) == [(DD, 4), (CC, 3)]
    assert rows(by_issuer(fa.tokens)) == [("BCA", 2), ("BRI", 2), ("Mandiri", 2), ("BNI", 1)]
    assert rows(by_brand(fa.tokens)) == [
        (DIRECT_DEBIT_BRAND, DD, 4), (UNKNOWN_BRAND, CC, 1), ("mastercard", CC, 1),
        ("visa", CC, 1),
    ]


def test_cross_tabs(fa: RunFrames) -> None:
    assert rows(issuer_by_type(fa.tokens)) == [
        ("BCA", CC, 2), ("BRI", DD, 2), ("Mandiri", CC, 1), ("Mandiri", DD, 1), ("BNI", DD, 1),
    ]
    assert rows(brand_by_issuer(fa.tokens)) == [
        (DIRECT_DEBIT_BRAND, "BRI", 2), (DIRECT_DEBIT_BRAND, "BNI", 1),
        (DIRECT_DEBIT_BRAND, "Mandiri", 1), (UNKNOWN_BRAND, "Mandiri", 1),
        ("mastercard", "BCA", 1), ("visa", "BCA", 1),
    ]


def test_brand_labels_never_drop_direct_debit(fa: RunFrames) -> None:
    labels = brand_labels(fa.tokens).astype(str).tolist()
    assert labels == [DIRECT_DEBIT_BRAND, DIRECT_DEBIT_BRAND, "visa", "mastercard",
                      UNKNOWN_BRAND, DIRECT_DEBIT_BRAND, DIRECT_DEBIT_BRAND]
    assert fa.tokens["brand"].isna().sum() == 5  # the frame itself keeps brand missing


def test_uptake_overall_excludes_failed_and_pending(fa: RunFrames) -> None:
    up = uptake(fa.customers)
    assert (up.with_tokens, up.fetched, up.failed, up.pending) == (4, 6, 1, 1)
    assert up.share == pytest.approx(4 / 6)
    # numerator/denominator equal counts taken directly from the customers frame
    c = fa.customers
    assert up.fetched == int((c["status"] == "fetched").sum())
    assert up.with_tokens == int(((c["status"] == "fetched") & (c["n_tokens"] > 0)).sum())


def test_uptake_by_type_and_issuer(fa: RunFrames) -> None:
    assert rows(uptake_by_type(fa.customers)) == [
        (DD, 3, 6, 0.5, 1, 1), (CC, 3, 6, 0.5, 1, 1),
    ]
    got = rows(uptake_by_issuer(fa.tokens, fa.customers))
    assert got == [
        ("BCA", 2, 6, pytest.approx(2 / 6), 1, 1),
        ("BNI", 1, 6, pytest.approx(1 / 6), 1, 1),
        ("BRI", 1, 6, pytest.approx(1 / 6), 1, 1),
        ("Mandiri", 1, 6, pytest.approx(1 / 6), 1, 1),
    ]


def test_uptake_by_attribute(fa: RunFrames) -> None:
    cols = ["value", "customers", "fetched", "failed", "pending", "with_tokens", "uptake",
            "small"]
    seg = uptake_by_attribute(fa.customers, "segment")
    assert list(seg.columns) == cols
    assert seg["small"].tolist() == [True] * 4  # under 30 customers each
    seg = seg.drop(columns="small")
    assert rows(seg) == [
        ("gold", 3, 2, 1, 0, 2, 1.0),
        ("silver", 3, 3, 0, 0, 1, pytest.approx(1 / 3)),
        (BLANK, 1, 0, 0, 1, 0, None),  # C6 pending, no attributes: no share, not 0
        ("bronze", 1, 1, 0, 0, 1, 1.0),
    ]
    city = uptake_by_attribute(fa.customers, "city").drop(columns="small")
    assert rows(city) == [
        ("Jakarta", 3, 2, 1, 0, 1, 0.5),
        (BLANK, 2, 1, 0, 1, 1, 1.0),  # C4 city "" and C6 without attributes
        ("=1+2", 1, 1, 0, 0, 1, 1.0),
        ("Bandung", 1, 1, 0, 0, 1, 1.0),
        ("Surabaya", 1, 1, 0, 0, 0, 0.0),
    ]
    with pytest.raises(InvalidInputError, match="no attribute column 'nope'"):
        uptake_by_attribute(fa.customers, "nope")


def test_tokens_per_customer(fa: RunFrames) -> None:
    dist = tokens_per_customer(fa.customers)
    assert dist["tokens"].tolist() == ["0", "1", "2", "3", "4", "5+"]
    assert dist["customers"].tolist() == [2, 2, 1, 1, 0, 0]
    assert dist["tokens_held"].tolist() == [0, 2, 2, 3, 0, 0]
    assert dist["share"].tolist() == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6, 0, 0])
    capped = tokens_per_customer(fa.customers, cap=2)
    assert rows(capped) == [
        ("0", 0, 2, pytest.approx(2 / 6), 0), ("1", 1, 2, pytest.approx(2 / 6), 2),
        ("2+", 2, 2, pytest.approx(2 / 6), 5),
    ]
    exact = tokens_per_customer(fa.customers, cap=None)
    assert exact["customers"].tolist() == [2, 2, 1, 1]


def test_summary(fa: RunFrames) -> None:
    s = summary(fa)
    assert {k: s[k] for k in ("customers", "fetched", "failed", "pending", "with_tokens",
                              "tokens", "direct_debit", "credit_card")} == {
        "customers": 8, "fetched": 6, "failed": 1, "pending": 1, "with_tokens": 4,
        "tokens": 7, "direct_debit": 4, "credit_card": 3,
    }
    assert s["uptake"] == pytest.approx(4 / 6)
    assert s["by_type"] == {DD: 4, CC: 3}
    assert s["by_issuer"] == {"BCA": 2, "BRI": 2, "Mandiri": 2, "BNI": 1}
    assert s["by_brand"] == {DIRECT_DEBIT_BRAND: 4, UNKNOWN_BRAND: 1, "mastercard": 1,
                             "visa": 1}
    assert s["uptake_by_type"][DD] == {"with_tokens": 3, "fetched": 6, "uptake": 0.5,
                                       "failed": 1, "pending": 1}
    for value in s["by_issuer"].values():
        assert type(value) is int


def test_run_trend(runs: tuple[RunFrames, RunFrames, Store]) -> None:
    store = runs[2]
    trend = run_trend(store.list_runs())
    assert trend["run_id"].tolist() == [1, 2]
    assert trend["with_tokens"].tolist() == [4, 6]
    assert trend["fetched"].tolist() == [6, 6]
    assert trend["tokens"].tolist() == [7, 8]
    assert trend["uptake"].tolist() == pytest.approx([4 / 6, 1.0])


# -- filters -----------------------------------------------------------------------------
def test_token_filter_recomputes_per_customer_counts(fa: RunFrames) -> None:
    f = apply_filters(fa, Filters(issuers=["BCA"]))
    s = summary(f)
    # customers untouched; C1 and C2 hold a BCA token
    assert (s["customers"], s["fetched"], s["failed"], s["pending"]) == (8, 6, 1, 1)
    assert (s["with_tokens"], s["tokens"]) == (2, 2)
    assert s["by_issuer"] == {"BCA": 2}
    assert s["by_brand"] == {"mastercard": 1, "visa": 1}
    assert f.customers["n_tokens"].tolist() == [1, 1, 0, 0, pd.NA, pd.NA, 0, 0]
    assert f.customers["has_token"].tolist() == [True, True, False, False, pd.NA, pd.NA,
                                                 False, False]
    assert f.customers.dtypes.equals(fa.customers.dtypes)
    assert rows(tokens_per_customer(f.customers, cap=2))[0][:3] == ("0", 0, 4)


def test_type_and_brand_filters(fa: RunFrames) -> None:
    f = apply_filters(fa, Filters(types=[CC]))
    s = summary(f)
    assert s["by_type"] == {CC: 3}  # only the type in scope is listed
    assert list(s["uptake_by_type"]) == [CC]
    assert s["with_tokens"] == 3
    assert s["direct_debit"] == 0
    g = apply_filters(fa, Filters(brands=[DIRECT_DEBIT_BRAND, UNKNOWN_BRAND]))
    assert summary(g)["tokens"] == 5
    assert summary(g)["with_tokens"] == 3


def test_attribute_filter_restricts_customers_tokens_and_errors(fa: RunFrames) -> None:
    f = apply_filters(fa, Filters(attributes={"segment": ["gold"]}))
    s = summary(f)
    assert (s["customers"], s["fetched"], s["failed"], s["pending"]) == (3, 2, 1, 0)
    assert (s["with_tokens"], s["tokens"]) == (2, 4)
    assert f.errors["customer_id"].tolist() == ["C5"]
    blank = apply_filters(fa, Filters(attributes={"city": [BLANK]}))
    assert blank.customers["customer_id"].tolist() == ["C4", "C6"]
    assert summary(blank)["tokens"] == 2
    assert apply_filters(fa, Filters()).tokens.shape == fa.tokens.shape  # empty = all
    assert not Filters(issuers=[]).active
    assert Filters(types=[CC], attributes={"city": [BLANK]}).describe() == (
        "type: CREDIT_CARD; city: (blank)"
    )


def test_combined_filters(fa: RunFrames) -> None:
    f = apply_filters(fa, Filters(issuers=["BRI", "BNI"],
                                  attributes={"segment": ["gold", BLANK]}))
    s = summary(f)
    # gold + blank segment: C1, C2, C5 (failed), C6 (pending); BRI/BNI tokens: C1's two DD
    assert (s["customers"], s["fetched"], s["with_tokens"], s["tokens"]) == (4, 2, 1, 2)
    assert s["uptake"] == 0.5


# -- compare -----------------------------------------------------------------------------
def test_compare_runs(runs: tuple[RunFrames, RunFrames, Store]) -> None:
    fa, fb, _ = runs
    c = compare_runs(fa, fb)
    assert (c.customers_a, c.customers_b, c.in_both) == (8, 7, 6)
    assert c.only_in_a == ["C6", "C8"]
    assert c.only_in_b == ["C9"]
    # C4 failed in B, C5 failed in A: in both, but not compared
    assert (c.fetched_in_both, c.not_comparable) == (4, 2)
    assert c.gained == ["C2", "C3"]
    assert c.lost == ["C1"]
    assert c.unchanged == 1
    assert (c.tokens_added, c.tokens_removed) == (2, 1)
    assert rows(c.changes[["customer_id", "change", "issuer", "brand"]]) == [
        ("C1", "removed", "BRI", DIRECT_DEBIT_BRAND),
        ("C2", "added", "BNI", "visa"),
        ("C3", "added", "BNI", DIRECT_DEBIT_BRAND),
    ]
    assert (c.uptake_a.with_tokens, c.uptake_a.fetched) == (4, 6)
    assert (c.uptake_b.with_tokens, c.uptake_b.fetched) == (6, 6)
    assert c.uptake_change == pytest.approx(1 - 4 / 6)
    by_type = {r[0]: r[1:] for r in rows(c.uptake_by_type)}
    assert by_type[DD][:2] == (3, 6)
    assert by_type[DD][3:5] == (4, 6)
    assert by_type[CC][:2] == (3, 6)
    assert by_type[CC][3:5] == (3, 6)
    by_issuer = {r[0]: r[1:] for r in rows(c.uptake_by_issuer)}
    assert {k: (v[0], v[3]) for k, v in by_issuer.items()} == {
        "BCA": (2, 3), "BNI": (1, 3), "BRI": (1, 2), "Mandiri": (1, 0),
    }
    assert by_issuer["Mandiri"][6] == pytest.approx(-1 / 6)
    d = c.to_dict()
    assert d["gained"] == 2
    assert d["lost_ids"] == ["C1"]
    assert d["uptake_by_issuer"]["Mandiri"]["uptake_b"] == 0.0


# -- hypothesis: random runs in a real store ----------------------------------------------

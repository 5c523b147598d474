"""Aggregates: hand-computed expectations on the small fixture (see
tests.test_frames.build_small_store for the table), and hypothesis-generated runs
stored in a real Store whose every count is recounted from the generated data."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
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
    cols = ["value", "customers", "fetched", "failed", "pending", "with_tokens", "uptake"]
    seg = uptake_by_attribute(fa.customers, "segment")
    assert list(seg.columns) == cols
    assert rows(seg) == [
        ("gold", 3, 2, 1, 0, 2, 1.0),
        ("silver", 3, 3, 0, 0, 1, pytest.approx(1 / 3)),
        (BLANK, 1, 0, 0, 1, 0, None),  # C6 pending, no attributes: no share, not 0
        ("bronze", 1, 1, 0, 0, 1, 1.0),
    ]
    city = uptake_by_attribute(fa.customers, "city")
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
ISSUERS = ("BCA", "BRI", "BNI", "Mandiri")
BRANDS = ("visa", "mastercard", None)


@dataclass
class GenCustomer:
    cid: str
    status: str  # fetched | failed | pending
    attrs: dict[str, str] | None
    tokens: list[Token] = field(default_factory=list)


@st.composite
def gen_run(draw: st.DrawFn, random_ids: bool = False) -> list[GenCustomer]:
    """Customers C0.. (or random ids from C0..C14, to overlap another run)."""
    n = draw(st.integers(min_value=0, max_value=14))
    out = []
    for i in range(n):
        cid = f"C{draw(st.integers(0, 14))}" if random_ids else f"C{i}"
        if any(c.cid == cid for c in out):
            continue
        status = draw(st.sampled_from(["fetched", "fetched", "failed", "pending"]))
        attrs = draw(st.one_of(st.none(), st.fixed_dictionaries(
            {"segment": st.sampled_from(["gold", "silver", "", " "])})))
        tokens = []
        if status == "fetched":
            for _ in range(draw(st.integers(0, 4))):
                kind = draw(st.sampled_from([DD, CC]))
                tid = f"tok-{draw(st.integers(0, 25)):04d}-{cid}"
                tokens.append(Token(cid, f"name {cid}", kind, draw(st.sampled_from(ISSUERS)),
                                    draw(st.sampled_from(BRANDS)) if kind == CC else None,
                                    "****1234", tid))
        out.append(GenCustomer(cid, status, attrs, tokens))
    return out


def store_run(store: Store, customers: list[GenCustomer]) -> RunFrames:
    run = store.create_run(
        ids=[c.cid for c in customers],
        attributes={c.cid: c.attrs for c in customers if c.attrs is not None},
        attribute_columns=["segment"], env="simulator", base_url=None, client_id="MCH",
        input_name="gen.csv",
    )
    for c in customers:
        if c.status == "fetched":
            store.record_fetched(run, c.cid, c.tokens, attempts=1)
        elif c.status == "failed":
            store.record_failed(run, c.cid, error_code="server_error", error_message="x",
                                attempts=2, http_status=500)
    return load_run_frames(store, run)


def _brand(t: Token) -> str:
    if t.type == DD:
        return DIRECT_DEBIT_BRAND
    return t.brand or UNKNOWN_BRAND


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_run())
def test_random_runs_add_up(customers: list[GenCustomer]) -> None:
    frames = store_run(Store(":memory:"), customers)
    fetched = [c for c in customers if c.status == "fetched"]
    tokens = [t for c in fetched for t in c.tokens]
    s = summary(frames)
    # totals against the generated data and against the store's own counts
    assert s["tokens"] == len(tokens) == frames.run.tokens
    assert sum(s["by_issuer"].values()) == len(tokens)
    assert sum(s["by_type"].values()) == len(tokens)
    assert sum(s["by_brand"].values()) == len(tokens)
    assert s["by_issuer"] == dict(Counter(t.issuer for t in tokens))
    assert s["by_brand"] == dict(Counter(_brand(t) for t in tokens))
    assert int(issuer_by_type(frames.tokens)["tokens"].sum()) == len(tokens)
    assert int(brand_by_issuer(frames.tokens)["tokens"].sum()) == len(tokens)
    assert s["fetched"] == len(fetched)
    assert s["failed"] == sum(c.status == "failed" for c in customers)
    assert s["pending"] == sum(c.status == "pending" for c in customers)
    with_tokens = sum(bool(c.tokens) for c in fetched)
    assert s["with_tokens"] == with_tokens
    assert s["uptake"] == (with_tokens / len(fetched) if fetched else None)
    for kind in (DD, CC):
        holders = sum(any(t.type == kind for t in c.tokens) for c in fetched)
        assert s["uptake_by_type"][kind]["with_tokens"] == holders
        assert s["uptake_by_type"][kind]["fetched"] == len(fetched)
    per_issuer = uptake_by_issuer(frames.tokens, frames.customers)
    for issuer, holders, den in zip(per_issuer["issuer"], per_issuer["with_tokens"],
                                    per_issuer["fetched"], strict=True):
        assert holders == sum(any(t.issuer == issuer for t in c.tokens) for c in fetched)
        assert den == len(fetched)
    seg = uptake_by_attribute(frames.customers, "segment")
    assert int(seg["customers"].sum()) == len(customers)
    assert int(seg["fetched"].sum()) == len(fetched)
    assert int(seg["with_tokens"].sum()) == with_tokens
    assert int(seg["failed"].sum()) == s["failed"]
    assert int(seg["pending"].sum()) == s["pending"]
    for value, den, num in zip(seg["value"], seg["fetched"], seg["with_tokens"], strict=True):
        members = [c for c in fetched if ((c.attrs or {}).get("segment") or "").strip()
                   == ("" if value == BLANK else value)]
        assert den == len(members)
        assert num == sum(bool(c.tokens) for c in members)
    dist = tokens_per_customer(frames.customers)
    assert int(dist["customers"].sum()) == len(fetched)
    assert int(dist["tokens_held"].sum()) == len(tokens)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_run(), st.sets(st.sampled_from(ISSUERS)), st.sets(st.sampled_from([DD, CC])),
       st.sets(st.sampled_from(["gold", "silver", BLANK])))
def test_random_filters_match_a_direct_recount(
    customers: list[GenCustomer], issuers: set[str], types: set[str], segments: set[str]
) -> None:
    frames = store_run(Store(":memory:"), customers)
    f = apply_filters(frames, Filters(types=types, issuers=issuers,
                                      attributes={"segment": segments}))

    def segment(c: GenCustomer) -> str:
        return ((c.attrs or {}).get("segment") or "").strip() or BLANK

    kept = [c for c in customers if not segments or segment(c) in segments]
    fetched = [c for c in kept if c.status == "fetched"]

    def match(t: Token) -> bool:
        return (not issuers or t.issuer in issuers) and (not types or t.type in types)

    s = summary(f)
    assert s["customers"] == len(kept)
    assert s["fetched"] == len(fetched)
    assert s["tokens"] == sum(match(t) for c in fetched for t in c.tokens)
    assert s["with_tokens"] == sum(any(match(t) for t in c.tokens) for c in fetched)
    assert sum(s["by_issuer"].values()) == s["tokens"]
    assert int(f.customers["n_tokens"].sum()) == s["tokens"]
    assert len(f.errors) == sum(c.status == "failed" for c in kept)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen_run(), gen_run(random_ids=True))
def test_random_comparisons(run_a: list[GenCustomer], run_b: list[GenCustomer]) -> None:
    store = Store(":memory:")
    c = compare_runs(store_run(store, run_a), store_run(store, run_b))
    a = {x.cid: x for x in run_a}
    b = {x.cid: x for x in run_b}
    both = set(a) & set(b)
    comparable = {cid for cid in both if a[cid].status == b[cid].status == "fetched"}
    assert c.in_both == len(both)
    assert c.fetched_in_both == len(comparable)
    assert c.not_comparable == len(both) - len(comparable)
    assert c.only_in_a == sorted(set(a) - set(b))
    assert c.only_in_b == sorted(set(b) - set(a))
    added = removed = 0
    gained, lost = [], []
    for cid in sorted(comparable):
        fa_ = {t.fingerprint for t in a[cid].tokens}
        fb_ = {t.fingerprint for t in b[cid].tokens}
        added += len(fb_ - fa_)
        removed += len(fa_ - fb_)
        if fb_ - fa_:
            gained.append(cid)
        if fa_ - fb_:
            lost.append(cid)
    assert (c.tokens_added, c.tokens_removed) == (added, removed)
    assert c.gained == gained
    assert c.lost == lost
    assert c.unchanged == len(comparable - set(gained) - set(lost))
    assert c.uptake_a.fetched == sum(x.status == "fetched" for x in run_a)
    for r in c.uptake_by_issuer.itertuples():
        assert r.with_tokens_b == sum(
            any(t.issuer == r.issuer for t in x.tokens) for x in run_b if x.status == "fetched"
        )
        if r.fetched_b == 0:
            assert math.isnan(r.uptake_b)

"""Aggregates, filters and comparisons of generated runs equal a direct recount."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doku.analysis.aggregates import (
    apply_filters,
    brand_by_issuer,
    issuer_by_type,
    summary,
    tokens_per_customer,
    uptake_by_attribute,
    uptake_by_issuer,
)
from doku.analysis.comparison import compare_runs
from doku.analysis.filters import Filters
from doku.analysis.labels import BLANK, DIRECT_DEBIT_BRAND, UNKNOWN_BRAND
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.generated_runs import ISSUERS, GenCustomer, gen_run, store_run

DD, CC = DIRECT_DEBIT, CREDIT_CARD


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

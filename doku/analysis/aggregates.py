"""Counts, uptake and run comparison from the frames of `doku.analysis.frames` (no Streamlit).

Every function returns exact integer counts; shares are always shipped next to the
numerator and denominator behind them. Rules every page, report and chart shares:

- Uptake = customers holding >= 1 (matching) token / FETCHED customers. Failed and
  pending customers are never in a denominator; they are reported beside it.
- A share with a zero denominator is NaN in frames and None in dicts/JSON, never 0.
- Brand: credit cards by brand as DOKU gave it; credit cards without a brand are
  "Unknown brand"; direct debit (which has no brand) is its own category
  "Direct debit (no brand)", so brand counts always add up to the token total.
- A missing or blank value (issuer, attribute) is shown as "(blank)".
- Rows are sorted by count (descending), then label, so charts and tables agree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from doku.analysis.counting import (
    codes,
    customers_of,
    equals,
    held_per_value,
    positive,
)
from doku.analysis.failures import failures_by_code as failures_by_code
from doku.analysis.filtering import apply_filters as apply_filters
from doku.analysis.frames import PENDING, STATUSES, STR_DTYPE, RunFrames
from doku.analysis.labels import (
    DIRECT_DEBIT_BRAND,
    TYPE_COUNT_COLUMN,
    brand_labels,
    chronological,
    labelled,
    share,
    share_array,
)
from doku.engine.schema import FAILED, FETCHED
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, TOKEN_TYPES

UPTAKE_COLUMNS = ("with_tokens", "fetched", "uptake", "failed", "pending")
SMALL_GROUP = 30  # segments with fewer customers are flagged


def _sorted_counts(counts: pd.Series, label: str, keep_zero: Collection[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(
        {label: [str(k) for k in counts.index], "tokens": counts.to_numpy(dtype=np.int64)}
    )
    frame = frame[(frame["tokens"] > 0) | frame[label].isin(list(keep_zero))]
    frame = frame.sort_values(["tokens", label], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


# -- token counts -----------------------------------------------------------------------
def by_type(tokens: pd.DataFrame, types: Sequence[str] = TOKEN_TYPES) -> pd.DataFrame:
    """Tokens per type: columns type, tokens. Every type in `types` is listed, even at 0."""
    return _sorted_counts(tokens["type"].value_counts(sort=False), "type", types)


def by_issuer(tokens: pd.DataFrame) -> pd.DataFrame:
    """Tokens per issuer: columns issuer, tokens."""
    return _sorted_counts(labelled(tokens["issuer"]).value_counts(sort=False), "issuer")


def by_brand(tokens: pd.DataFrame) -> pd.DataFrame:
    """Tokens per brand label (see module doc): columns brand, type, tokens."""
    frame = _sorted_counts(brand_labels(tokens).value_counts(sort=False), "brand")
    frame.insert(
        1,
        "type",
        [DIRECT_DEBIT if b == DIRECT_DEBIT_BRAND else CREDIT_CARD for b in frame["brand"]],
    )
    return frame


def _cross(tokens: pd.DataFrame, outer: str, inner: pd.Series, inner_name: str) -> pd.DataFrame:
    outer_code, outer_values = codes(labelled(tokens[outer]))
    inner_code, inner_values = codes(inner)
    width = len(inner_values)
    known = (outer_code >= 0) & (inner_code >= 0)  # as groupby: no missing keys
    counts = np.bincount(outer_code[known] * width + inner_code[known],
                         minlength=len(outer_values) * width)
    present = np.flatnonzero(counts)
    frame = pd.DataFrame({
        outer: pd.Series(np.asarray(outer_values, dtype=object)[present // max(width, 1)],
                         dtype=object).astype(str),
        inner_name: pd.Series(np.asarray(inner_values, dtype=object)[present % max(width, 1)],
                              dtype=object).astype(str),
        "tokens": counts[present].astype(np.int64),
    })
    totals = frame.groupby(outer)["tokens"].transform("sum")
    frame = frame.assign(_total=totals).sort_values(
        ["_total", outer, "tokens", inner_name], ascending=[False, True, False, True]
    )
    return frame.drop(columns="_total").reset_index(drop=True).astype({"tokens": np.int64})


def issuer_by_type(tokens: pd.DataFrame) -> pd.DataFrame:
    """Tokens per (issuer, type), long format: issuer, type, tokens (no zero rows);
    issuers ordered by their total."""
    return _cross(tokens, "issuer", tokens["type"], "type")


def brand_by_issuer(tokens: pd.DataFrame) -> pd.DataFrame:
    """Tokens per (brand label, issuer), long format: brand, issuer, tokens (no zero
    rows); brands ordered by their total."""
    frame = _cross(tokens.assign(brand=brand_labels(tokens)), "brand", labelled(tokens["issuer"]),
                   "issuer")
    return frame


# -- uptake ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uptake:
    """Share of fetched customers holding >= 1 token, with what is behind it."""

    with_tokens: int
    fetched: int
    failed: int
    pending: int

    @property
    def customers(self) -> int:
        return self.fetched + self.failed + self.pending

    @property
    def share(self) -> float | None:
        return share(self.with_tokens, self.fetched)

    def to_dict(self) -> dict[str, Any]:
        return {
            "with_tokens": self.with_tokens,
            "fetched": self.fetched,
            "uptake": self.share,
            "failed": self.failed,
            "pending": self.pending,
        }


def _status_counts(customers: pd.DataFrame) -> dict[str, int]:
    counts = customers["status"].value_counts(sort=False)
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def uptake(customers: pd.DataFrame) -> Uptake:
    """Overall uptake over fetched customers; failed and pending reported beside."""
    status = _status_counts(customers)
    fetched = equals(customers["status"], FETCHED)
    with_tokens = int(positive(customers["n_tokens"], fetched).sum())
    return Uptake(with_tokens, status[FETCHED], status[FAILED], status[PENDING])


def _uptake_rows(label: str, rows: list[tuple[str, int]], base: Uptake) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            label: pd.Series([r[0] for r in rows], dtype=STR_DTYPE),
            "with_tokens": np.array([r[1] for r in rows], dtype=np.int64),
            "fetched": np.full(len(rows), base.fetched, dtype=np.int64),
        }
    )
    frame["uptake"] = share_array(frame["with_tokens"], frame["fetched"])
    frame["failed"] = np.full(len(rows), base.failed, dtype=np.int64)
    frame["pending"] = np.full(len(rows), base.pending, dtype=np.int64)
    return frame


def uptake_by_type(
    customers: pd.DataFrame,
    types: Sequence[str] = TOKEN_TYPES,
    tokens: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per type: fetched customers with >= 1 token of that type / all fetched customers.
    Columns: type, with_tokens, fetched, uptake, failed, pending (types in given order).
    A type without a per-customer count column (one DOKU added later, e.g. a wallet
    type) is counted from `tokens`, which must then be given."""
    base = uptake(customers)
    fetched = equals(customers["status"], FETCHED)
    rows = []
    for t in types:
        if t in TYPE_COUNT_COLUMN:
            rows.append((t, int(positive(customers[TYPE_COUNT_COLUMN[t]], fetched).sum())))
            continue
        if tokens is None:
            raise ValueError(f"uptake of token type {t!r} needs the tokens frame")
        holders = set(tokens.loc[(tokens["type"] == t).to_numpy(), "customer_id"])
        ids = customers.loc[fetched, "customer_id"]
        rows.append((t, int(ids.isin(list(holders)).sum())))
    return _uptake_rows("type", rows, base)


def uptake_by_issuer(tokens: pd.DataFrame, customers: pd.DataFrame,
                     owner: np.ndarray | None = None) -> pd.DataFrame:
    """Per issuer: fetched customers with >= 1 token of that issuer / all fetched.
    Columns: issuer, with_tokens, fetched, uptake, failed, pending; by with_tokens.
    `owner`: each token's row in `customers` (else customers are told apart by ID)."""
    base = uptake(customers)
    issuer, issuers = codes(labelled(tokens["issuer"]))
    holders = held_per_value(customers_of(tokens, owner), issuer, len(issuers))
    rows = sorted(
        ((str(k), int(v)) for k, v in zip(issuers, holders, strict=True) if v > 0),
        key=lambda r: (-r[1], r[0]),
    )
    return _uptake_rows("issuer", rows, base)


def uptake_by_attribute(customers: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Per attribute value ("(blank)" for missing): customers, fetched, failed, pending,
    with_tokens, uptake (= with_tokens / fetched of that segment), small (fewer than
    SMALL_GROUP customers: a share that moves a lot with one customer). Segment columns
    add up to the overall totals. Date-like values (signup months, dates) are in
    chronological order, "(blank)" last; other values by customers, then value."""
    if attribute not in customers.columns:
        raise InvalidInputError(f"no attribute column {attribute!r}")
    labels = labelled(customers[attribute])
    # Counted on integer codes: (value, status) cells, customers and those holding a token.
    status = customers["status"].cat.set_categories(list(STATUSES)).cat.codes.to_numpy()
    value = labels.cat.codes.to_numpy().astype(np.int64)
    fetched = status == STATUSES.index(FETCHED)
    has = fetched & (customers["n_tokens"].fillna(0).to_numpy(dtype=np.int64) > 0)
    cells = (value * len(STATUSES) + status)[status >= 0]  # the store writes no other
    has = has[status >= 0]
    size = len(labels.cat.categories) * len(STATUSES)
    n = np.bincount(cells, minlength=size).reshape(-1, len(STATUSES))
    w = np.bincount(cells[has], minlength=size).reshape(-1, len(STATUSES))
    present = n.sum(axis=1) > 0
    n, w = n[present], w[present]
    frame = pd.DataFrame(
        {
            "value": pd.Series([str(v) for v in labels.cat.categories[present]],
                               dtype=STR_DTYPE),
            "customers": n.sum(axis=1).astype(np.int64),
            "fetched": n[:, STATUSES.index(FETCHED)].astype(np.int64),
            "failed": n[:, STATUSES.index(FAILED)].astype(np.int64),
            "pending": n[:, STATUSES.index(PENDING)].astype(np.int64),
            "with_tokens": w[:, STATUSES.index(FETCHED)].astype(np.int64),
        }
    )
    frame["uptake"] = share_array(frame["with_tokens"], frame["fetched"])
    frame["small"] = frame["customers"] < SMALL_GROUP
    order = chronological(frame["value"].tolist())
    if order is not None:
        return frame.iloc[order].reset_index(drop=True)
    frame = frame.sort_values(["customers", "value"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


def tokens_per_customer(customers: pd.DataFrame, cap: int | None = 5) -> pd.DataFrame:
    """Distribution of tokens held by fetched customers: one row per count 0, 1, ...,
    with counts >= cap folded into "cap+" (cap=None: no folding). Columns: tokens
    (label), min_tokens, customers, share (of fetched), tokens_held (tokens those
    customers hold, so nothing is lost by folding)."""
    held = customers.loc[customers["status"] == FETCHED, "n_tokens"].fillna(0)
    n = held.to_numpy(dtype=np.int64)
    top = int(n.max()) if len(n) else 0
    buckets = (top + 1) if cap is None else cap + 1
    folded = n if cap is None else np.minimum(n, cap)
    customers_per = np.bincount(folded, minlength=buckets)[:buckets]
    tokens_held = np.bincount(folded, weights=n, minlength=buckets)[:buckets]
    labels = [str(i) for i in range(buckets)]
    if cap is not None:
        labels[cap] = f"{cap}+"
    frame = pd.DataFrame(
        {
            "tokens": pd.Series(labels, dtype=STR_DTYPE),
            "min_tokens": np.arange(buckets, dtype=np.int64),
            "customers": customers_per.astype(np.int64),
            "tokens_held": tokens_held.astype(np.int64),
        }
    )
    frame.insert(3, "share", share_array(frame["customers"], pd.Series([len(n)] * buckets)))
    return frame


def types_in_scope(frames: RunFrames) -> tuple[str, ...]:
    """Token types a page shows: the two requestable ones and any other type the run
    holds (each counted as its own type), or those a type filter selected."""
    counts = frames.tokens["type"].value_counts(sort=False)
    others = sorted(str(t) for t, n in counts.items() if n > 0 and t not in TOKEN_TYPES)
    types = (*TOKEN_TYPES, *others)
    if frames.filters is not None and frames.filters.types:
        return tuple(t for t in types if t in frames.filters.types)
    return types


# -- summary -----------------------------------------------------------------------------
def _as_dict(frame: pd.DataFrame, label: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in zip(frame[label], frame["tokens"], strict=True)}


def summary(frames: RunFrames) -> dict[str, Any]:
    """The headline numbers of a (possibly filtered) run, as plain ints/floats/None.

    direct_debit / credit_card are token counts; uptake is over fetched customers.
    """
    types = types_in_scope(frames)
    up = uptake(frames.customers)
    types_frame = by_type(frames.tokens, types)
    type_counts = _as_dict(types_frame, "type")
    per_type = uptake_by_type(frames.customers, types, frames.tokens)
    return {
        "run_id": frames.run.id,
        "filters": frames.filters.describe() if frames.filters else "",
        "customers": len(frames.customers),
        "fetched": up.fetched,
        "failed": up.failed,
        "pending": up.pending,
        "with_tokens": up.with_tokens,
        "uptake": up.share,
        "tokens": len(frames.tokens),
        "by_type": type_counts,
        "by_issuer": _as_dict(by_issuer(frames.tokens), "issuer"),
        "by_brand": _as_dict(by_brand(frames.tokens), "brand"),
        "direct_debit": type_counts.get(DIRECT_DEBIT, 0),
        "credit_card": type_counts.get(CREDIT_CARD, 0),
        "uptake_by_type": uptake_dict(per_type, "type"),
        "rejected": frames.run.rejected,
        "duplicates": frames.run.duplicates,
    }


def uptake_dict(frame: pd.DataFrame, label: str) -> dict[str, dict[str, Any]]:
    """An uptake frame as {label: {column: value}} for JSON: counts as int, shares as
    float, flags as bool, NaN as None."""
    floats = {c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)}
    flags = {c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c].dtype)}

    def plain(c: str, v: Any) -> Any:
        if pd.isna(v):
            return None
        return float(v) if c in floats else bool(v) if c in flags else int(v)

    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        values: dict[str, Any] = {str(c): v for c, v in row.items()}
        key = str(values.pop(label))
        out[key] = {c: plain(c, v) for c, v in values.items()}
    return out

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

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from doku.analysis.frames import PENDING, STATUSES, STR_DTYPE, RunFrames, errors_frame
from doku.engine.store import FAILED, FETCHED, RunInfo
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, TOKEN_TYPES

DIRECT_DEBIT_BRAND = "Direct debit (no brand)"
UNKNOWN_BRAND = "Unknown brand"
BLANK = "(blank)"
TYPE_COUNT_COLUMN = {DIRECT_DEBIT: "n_direct_debit", CREDIT_CARD: "n_credit_card"}
UPTAKE_COLUMNS = ("with_tokens", "fetched", "uptake", "failed", "pending")


def share(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def _share_array(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num = numerator.to_numpy(dtype=np.float64)
    den = denominator.to_numpy(dtype=np.float64)
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return pd.Series(out, index=numerator.index)


# -- labels ------------------------------------------------------------------------------
def labelled(values: pd.Series) -> pd.Series:
    """A categorical copy where missing or blank values read "(blank)"."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    blank = [c for c in cat.cat.categories if not str(c).strip()]
    if blank:
        cat = cat.cat.remove_categories(blank)
    if cat.isna().any():
        if BLANK not in cat.cat.categories:
            cat = cat.cat.add_categories([BLANK])
        cat = cat.fillna(BLANK)
    return cat


def brand_labels(tokens: pd.DataFrame) -> pd.Series:
    """Brand per token as shown everywhere: the brand, "Unknown brand" for a credit card
    without one, "Direct debit (no brand)" for every direct debit."""
    brand = tokens["brand"]
    cat = brand if isinstance(brand.dtype, pd.CategoricalDtype) else brand.astype("category")
    known = [c for c in cat.cat.categories if str(c).strip()]
    categories = [*known, UNKNOWN_BRAND, DIRECT_DEBIT_BRAND]
    position = {c: i for i, c in enumerate(categories)}
    remap = np.array(
        [position.get(c, -1) for c in cat.cat.categories] + [-1], dtype=np.int32
    )
    codes = remap[cat.cat.codes.to_numpy()]  # code -1 (missing) hits the trailing -1
    is_dd = (tokens["type"] == DIRECT_DEBIT).to_numpy()
    codes = np.where(is_dd, position[DIRECT_DEBIT_BRAND], codes)
    codes = np.where(codes < 0, position[UNKNOWN_BRAND], codes)
    # A brand literally named like one of our labels merges with it (documented).
    unique = list(dict.fromkeys(categories))
    if len(unique) != len(categories):
        values = np.array(categories, dtype=object)[codes]
        return pd.Series(pd.Categorical(values, categories=unique), index=tokens.index)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=STR_DTYPE)),
        index=tokens.index,
        name="brand",
    )


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
    outer_labels = labelled(tokens[outer])
    counts = pd.DataFrame({outer: outer_labels, inner_name: inner}).groupby(
        [outer, inner_name], observed=True
    ).size()
    frame = counts.rename("tokens").reset_index()
    frame[outer] = frame[outer].astype(str)
    frame[inner_name] = frame[inner_name].astype(str)
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
    fetched = customers["status"] == FETCHED
    with_tokens = int((customers["n_tokens"].where(fetched, 0).fillna(0) > 0).sum())
    return Uptake(with_tokens, status[FETCHED], status[FAILED], status[PENDING])


def _uptake_rows(label: str, rows: list[tuple[str, int]], base: Uptake) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            label: pd.Series([r[0] for r in rows], dtype=STR_DTYPE),
            "with_tokens": np.array([r[1] for r in rows], dtype=np.int64),
            "fetched": np.full(len(rows), base.fetched, dtype=np.int64),
        }
    )
    frame["uptake"] = _share_array(frame["with_tokens"], frame["fetched"])
    frame["failed"] = np.full(len(rows), base.failed, dtype=np.int64)
    frame["pending"] = np.full(len(rows), base.pending, dtype=np.int64)
    return frame


def uptake_by_type(customers: pd.DataFrame, types: Sequence[str] = TOKEN_TYPES) -> pd.DataFrame:
    """Per type: fetched customers with >= 1 token of that type / all fetched customers.
    Columns: type, with_tokens, fetched, uptake, failed, pending (types in given order)."""
    base = uptake(customers)
    fetched = customers["status"] == FETCHED
    rows = []
    for t in types:
        counts = customers[TYPE_COUNT_COLUMN[t]].where(fetched, 0).fillna(0)
        rows.append((t, int((counts > 0).sum())))
    return _uptake_rows("type", rows, base)


def uptake_by_issuer(tokens: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Per issuer: fetched customers with >= 1 token of that issuer / all fetched.
    Columns: issuer, with_tokens, fetched, uptake, failed, pending; by with_tokens."""
    base = uptake(customers)
    pairs = pd.DataFrame(
        {"issuer": labelled(tokens["issuer"]), "customer_id": tokens["customer_id"]}
    ).drop_duplicates()
    counts = pairs["issuer"].value_counts(sort=False)
    rows = sorted(
        ((str(k), int(v)) for k, v in counts.items() if v > 0), key=lambda r: (-r[1], r[0])
    )
    return _uptake_rows("issuer", rows, base)


def attribute_column(frames_or_columns: RunFrames | Sequence[str], attribute: str) -> str:
    """The frame column of an attribute given by frame name or original input name;
    InvalidInputError naming the available ones otherwise."""
    if isinstance(frames_or_columns, RunFrames):
        columns = list(frames_or_columns.attributes)
        original = frames_or_columns.run.attribute_columns
    else:
        columns = list(frames_or_columns)
        original = columns
    if attribute in columns:
        return attribute
    for orig, col in zip(original, columns, strict=False):
        if orig == attribute:
            return col
    available = ", ".join(repr(c) for c in columns) or "none"
    raise InvalidInputError(f"no attribute column {attribute!r} (available: {available})")


def uptake_by_attribute(customers: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Per attribute value ("(blank)" for missing): customers, fetched, failed, pending,
    with_tokens, uptake (= with_tokens / fetched of that segment). Segment columns add
    up to the overall totals. Sorted by customers, then value."""
    if attribute not in customers.columns:
        raise InvalidInputError(f"no attribute column {attribute!r}")
    labels = labelled(customers[attribute])
    status = customers["status"]
    fetched = status == FETCHED
    has = (customers["n_tokens"].where(fetched, 0).fillna(0) > 0).astype(np.int64)
    grid = (
        pd.DataFrame({"value": labels, "status": status, "has": has})
        .groupby(["value", "status"], observed=True)
        .agg(n=("has", "size"), with_tokens=("has", "sum"))
    )
    n = grid["n"].unstack("status", fill_value=0).reindex(columns=list(STATUSES), fill_value=0)
    w = grid["with_tokens"].unstack("status", fill_value=0)
    with_tokens = w[FETCHED] if FETCHED in w.columns else pd.Series(0, index=n.index)
    frame = pd.DataFrame(
        {
            "value": pd.Series([str(v) for v in n.index], dtype=STR_DTYPE),
            "customers": n.sum(axis=1).to_numpy(dtype=np.int64),
            "fetched": n[FETCHED].to_numpy(dtype=np.int64),
            "failed": n[FAILED].to_numpy(dtype=np.int64),
            "pending": n[PENDING].to_numpy(dtype=np.int64),
            "with_tokens": with_tokens.reindex(n.index, fill_value=0).to_numpy(dtype=np.int64),
        }
    )
    frame["uptake"] = _share_array(frame["with_tokens"], frame["fetched"])
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
    frame.insert(3, "share", _share_array(frame["customers"], pd.Series([len(n)] * buckets)))
    return frame


# -- filters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """What the insights page narrows to. An empty selection means no restriction.

    - types / issuers / brands (brand labels, incl. "Direct debit (no brand)" and
      "Unknown brand") restrict TOKENS; per-customer token counts are recomputed, so
      uptake reads "share of fetched customers holding >= 1 matching token". Failed and
      pending customers are untouched (they stay beside the denominator).
    - attributes (frame column -> allowed values, "(blank)" for missing) restrict
      CUSTOMERS, and with them their tokens and errors.
    """

    types: Collection[str] = ()
    issuers: Collection[str] = ()
    brands: Collection[str] = ()
    attributes: Mapping[str, Collection[str]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(
            self.types or self.issuers or self.brands or any(self.attributes.values())
        )

    @property
    def restricts_tokens(self) -> bool:
        return bool(self.types or self.issuers or self.brands)

    def describe(self) -> str:
        """One line for chart titles and report headers ("" when nothing is filtered)."""
        parts = []
        for name, values in (
            ("type", self.types),
            ("issuer", self.issuers),
            ("brand", self.brands),
            *self.attributes.items(),
        ):
            if values:
                parts.append(f"{name}: {', '.join(sorted(map(str, values)))}")
        return "; ".join(parts)


def apply_filters(frames: RunFrames, filters: Filters) -> RunFrames:
    """A filtered copy of the frames (see `Filters` for the semantics). The run info is
    unchanged; every aggregate of the copy reflects the filter consistently."""
    tokens, customers = frames.tokens, frames.customers
    for column, allowed in filters.attributes.items():
        if not allowed:
            continue
        column = attribute_column(frames, column)
        allow = [str(v) for v in allowed]
        customers = customers[labelled(customers[column]).isin(allow).to_numpy()]
        tokens = tokens[labelled(tokens[column]).isin(allow).to_numpy()]
    if filters.restricts_tokens:
        keep = np.ones(len(tokens), dtype=bool)
        if filters.types:
            keep &= tokens["type"].isin(list(filters.types)).to_numpy()
        if filters.issuers:
            keep &= labelled(tokens["issuer"]).isin(list(filters.issuers)).to_numpy()
        if filters.brands:
            keep &= brand_labels(tokens).isin(list(filters.brands)).to_numpy()
        tokens = tokens[keep]
        customers = _recount(customers, tokens)
    return replace(
        frames,
        tokens=tokens.reset_index(drop=True),
        customers=customers.reset_index(drop=True),
        errors=errors_frame(customers),
        filters=filters,
    )


def _recount(customers: pd.DataFrame, tokens: pd.DataFrame) -> pd.DataFrame:
    """Per-customer token counts of fetched customers from a (filtered) tokens frame."""
    fetched = (customers["status"] == FETCHED).to_numpy()
    ids = customers["customer_id"]
    out = customers.copy()

    def count(sub: pd.DataFrame) -> pd.arrays.IntegerArray:
        per = sub["customer_id"].value_counts()
        values = ids.map(per).fillna(0).to_numpy(dtype=np.int64)
        return pd.arrays.IntegerArray(values, ~fetched)

    n_tokens = count(tokens)
    out["n_tokens"] = n_tokens
    out["n_direct_debit"] = count(tokens[tokens["type"] == DIRECT_DEBIT])
    out["n_credit_card"] = count(tokens[tokens["type"] == CREDIT_CARD])
    out["has_token"] = pd.arrays.BooleanArray(
        n_tokens.to_numpy(dtype=np.int64, na_value=0) > 0, ~fetched
    )
    return out


def types_in_scope(frames: RunFrames) -> tuple[str, ...]:
    """Token types a page shows: all, or those a type filter selected."""
    if frames.filters is not None and frames.filters.types:
        return tuple(t for t in TOKEN_TYPES if t in frames.filters.types)
    return TOKEN_TYPES


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
    per_type = uptake_by_type(frames.customers, types)
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
    float, NaN as None."""
    floats = {c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)}
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        values: dict[str, Any] = {str(c): v for c, v in row.items()}
        key = str(values.pop(label))
        out[key] = {
            c: None if pd.isna(v) else float(v) if c in floats else int(v)
            for c, v in values.items()
        }
    return out


def run_trend(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """One row per run (oldest first) for the run-over-run chart: run_id, run_label,
    created_at, status, customers, fetched, failed, pending, with_tokens, uptake, tokens.
    Counts are the store's own per-run counts (RunInfo)."""
    ordered = sorted(runs, key=lambda r: r.id)
    frame = pd.DataFrame(
        {
            "run_id": np.array([r.id for r in ordered], dtype=np.int64),
            "run_label": pd.Series(
                [f"#{r.id} {r.created_at[:10]}" for r in ordered], dtype=STR_DTYPE
            ),
            "created_at": pd.Series([r.created_at for r in ordered], dtype=STR_DTYPE),
            "status": pd.Series([r.status for r in ordered], dtype=STR_DTYPE),
            "customers": np.array([r.customers for r in ordered], dtype=np.int64),
            "fetched": np.array([r.fetched for r in ordered], dtype=np.int64),
            "failed": np.array([r.failed for r in ordered], dtype=np.int64),
            "pending": np.array([r.pending for r in ordered], dtype=np.int64),
            "with_tokens": np.array([r.with_tokens for r in ordered], dtype=np.int64),
            "tokens": np.array([r.tokens for r in ordered], dtype=np.int64),
        }
    )
    frame.insert(9, "uptake", _share_array(frame["with_tokens"], frame["fetched"]))
    return frame


# -- comparison --------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Run A -> run B. Customers are matched by customer_id and tokens by fingerprint.

    Gain/loss (gained, lost, unchanged, tokens_added, tokens_removed, changes) counts
    ONLY customers fetched in BOTH runs; a customer failed or pending in either run is
    `not_comparable`. Tokens are compared as per-customer fingerprint sets, so a
    fingerprint repeated within one customer counts once. Uptake figures are each run's
    own (its own fetched denominator), as in `report`.
    """

    run_a: int
    run_b: int
    customers_a: int
    customers_b: int
    in_both: int
    only_in_a: list[str]
    only_in_b: list[str]
    fetched_in_both: int
    not_comparable: int
    gained: list[str]
    lost: list[str]
    unchanged: int
    tokens_added: int
    tokens_removed: int
    changes: pd.DataFrame
    uptake_a: Uptake
    uptake_b: Uptake
    uptake_by_type: pd.DataFrame
    uptake_by_issuer: pd.DataFrame

    @property
    def uptake_change(self) -> float | None:
        """B's uptake minus A's, as a fraction (x100 for percentage points)."""
        a, b = self.uptake_a.share, self.uptake_b.share
        return None if a is None or b is None else b - a

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "customers_a": self.customers_a,
            "customers_b": self.customers_b,
            "in_both": self.in_both,
            "only_in_a": len(self.only_in_a),
            "only_in_b": len(self.only_in_b),
            "fetched_in_both": self.fetched_in_both,
            "not_comparable": self.not_comparable,
            "gained": len(self.gained),
            "lost": len(self.lost),
            "unchanged": self.unchanged,
            "tokens_added": self.tokens_added,
            "tokens_removed": self.tokens_removed,
            "uptake_a": self.uptake_a.to_dict(),
            "uptake_b": self.uptake_b.to_dict(),
            "uptake_change": self.uptake_change,
            "uptake_by_type": uptake_dict(self.uptake_by_type, "type"),
            "uptake_by_issuer": uptake_dict(self.uptake_by_issuer, "issuer"),
            "only_in_a_ids": self.only_in_a,
            "only_in_b_ids": self.only_in_b,
            "gained_ids": self.gained,
            "lost_ids": self.lost,
        }


def _side_by_side(
    a: pd.DataFrame, b: pd.DataFrame, label: str, up_a: Uptake, up_b: Uptake
) -> pd.DataFrame:
    """Two uptake frames joined on `label`; a label absent from one run has 0 holders
    there (the denominator is still that run's fetched customers)."""
    merged = a[[label, "with_tokens"]].merge(
        b[[label, "with_tokens"]], on=label, how="outer", suffixes=("_a", "_b"), sort=False
    )
    merged[label] = merged[label].astype(STR_DTYPE)
    for s, up in (("a", up_a), ("b", up_b)):
        merged[f"with_tokens_{s}"] = merged[f"with_tokens_{s}"].fillna(0).astype(np.int64)
        merged[f"fetched_{s}"] = np.full(len(merged), up.fetched, dtype=np.int64)
        merged[f"uptake_{s}"] = _share_array(merged[f"with_tokens_{s}"], merged[f"fetched_{s}"])
    merged["change"] = merged["uptake_b"] - merged["uptake_a"]
    merged = merged[
        [label, "with_tokens_a", "fetched_a", "uptake_a", "with_tokens_b", "fetched_b",
         "uptake_b", "change"]
    ]
    order = merged["with_tokens_a"] + merged["with_tokens_b"]
    merged = merged.assign(_o=order).sort_values(
        ["_o", label], ascending=[False, True], kind="stable"
    )
    return merged.drop(columns="_o").reset_index(drop=True)


def compare_runs(frames_a: RunFrames, frames_b: RunFrames) -> Comparison:
    """What changed between two runs (see `Comparison` for the rules)."""
    ca, cb = frames_a.customers, frames_b.customers
    ids_a = set(ca["customer_id"].tolist())
    ids_b = set(cb["customer_id"].tolist())
    fetched_a = set(ca.loc[ca["status"] == FETCHED, "customer_id"].tolist())
    fetched_b = set(cb.loc[cb["status"] == FETCHED, "customer_id"].tolist())
    both = ids_a & ids_b
    comparable = fetched_a & fetched_b

    def pairs(frames: RunFrames) -> pd.DataFrame:
        t = frames.tokens
        t = t[t["customer_id"].isin(list(comparable)).to_numpy()]
        cols = ["customer_id", "fingerprint", "type", "issuer", "masked_card"]
        return (
            t[cols]
            .assign(brand=brand_labels(t).astype(str), type=t["type"].astype(str),
                    issuer=t["issuer"].astype(str))
            .drop_duplicates(["customer_id", "fingerprint"])
        )

    merged = pairs(frames_a).merge(
        pairs(frames_b), on=["customer_id", "fingerprint"], how="outer", indicator=True,
        suffixes=("_a", "_b"),
    )
    added = merged[merged["_merge"] == "right_only"]
    removed = merged[merged["_merge"] == "left_only"]

    def side(frame: pd.DataFrame, suffix: str, change: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": frame["customer_id"].to_numpy(),
                "change": change,
                "type": frame[f"type{suffix}"].to_numpy(),
                "issuer": frame[f"issuer{suffix}"].to_numpy(),
                "brand": frame[f"brand{suffix}"].to_numpy(),
                "masked_card": frame[f"masked_card{suffix}"].to_numpy(),
                "fingerprint": frame["fingerprint"].to_numpy(),
            }
        )

    changes = pd.concat([side(added, "_b", "added"), side(removed, "_a", "removed")])
    changes = changes.sort_values(["customer_id", "change", "fingerprint"]).reset_index(
        drop=True
    ).astype(STR_DTYPE)
    gained = sorted(set(added["customer_id"].tolist()))
    lost = sorted(set(removed["customer_id"].tolist()))
    up_a, up_b = uptake(ca), uptake(cb)
    by_type = _side_by_side(
        uptake_by_type(ca, types_in_scope(frames_a)),
        uptake_by_type(cb, types_in_scope(frames_b)),
        "type", up_a, up_b,
    )
    by_issuer = _side_by_side(
        uptake_by_issuer(frames_a.tokens, ca), uptake_by_issuer(frames_b.tokens, cb),
        "issuer", up_a, up_b,
    )
    return Comparison(
        run_a=frames_a.run.id,
        run_b=frames_b.run.id,
        customers_a=len(ids_a),
        customers_b=len(ids_b),
        in_both=len(both),
        only_in_a=sorted(ids_a - ids_b),
        only_in_b=sorted(ids_b - ids_a),
        fetched_in_both=len(comparable),
        not_comparable=len(both - comparable),
        gained=gained,
        lost=lost,
        unchanged=len(comparable - set(gained) - set(lost)),
        tokens_added=len(added),
        tokens_removed=len(removed),
        changes=changes,
        uptake_a=up_a,
        uptake_b=up_b,
        uptake_by_type=by_type,
        uptake_by_issuer=by_issuer,
    )


def comparison_by(cmp: Comparison, by: str) -> pd.DataFrame:
    """Uptake A/B (in percent) per type or issuer beside the tokens added and removed
    per value (counted from `Comparison.changes`); `by` is "type" or "issuer"."""
    side = cmp.uptake_by_type if by == "type" else cmp.uptake_by_issuer
    table = side[[by, "uptake_a", "uptake_b", "with_tokens_a", "with_tokens_b"]].copy()
    table[by] = table[by].astype(str)
    table["uptake_a"] = table["uptake_a"] * 100  # percent, as the column formats show
    table["uptake_b"] = table["uptake_b"] * 100
    table.insert(3, "change_pp", (side["change"] * 100).to_numpy())
    counts = (
        cmp.changes.assign(**{by: cmp.changes[by].astype(str)})
        .groupby([by, "change"]).size().unstack("change", fill_value=0)
        if len(cmp.changes) else pd.DataFrame()
    )
    for column in ("added", "removed"):
        values = counts[column] if column in counts.columns else pd.Series(dtype="int64")
        table[column] = table[by].map(values).fillna(0).astype("int64").to_numpy()
    return table.reset_index(drop=True)

"""Run A -> run B (customers gained and lost, tokens added and removed); run-over-run trend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from doku.analysis.aggregates import (
    Uptake,
    apply_filters,
    types_in_scope,
    uptake,
    uptake_by_issuer,
    uptake_by_type,
    uptake_dict,
)
from doku.analysis.filters import Filters
from doku.analysis.frames import STR_DTYPE, RunFrames
from doku.analysis.labels import brand_labels, share_array
from doku.engine.schema import FETCHED, RunInfo


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
    frame.insert(9, "uptake", share_array(frame["with_tokens"], frame["fetched"]))
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

    Scope: token-level and type-level figures (gain/loss, tokens, uptake and its
    breakdowns) are computed only within the token types BOTH runs fetched: an
    all-types run against a credit-card-only run compares credit cards (`scope`).
    `differences` names every run field that differs ("token_type", "input_name",
    "customers", "env", "client_id"); `comparable` is False when the runs were made
    against another environment or client, fetched disjoint type scopes, or share no
    customer, and such a comparison is to be refused or clearly marked.
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
    comparable: bool = True
    differences: tuple[str, ...] = ()
    scope: str | None = None  # the token type compared; None: every type

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
            "comparable": self.comparable,
            "differences": list(self.differences),
            "scope": self.scope,
        }

    def warnings(self) -> list[str]:
        """What a page or report says before any figure, in plain words."""
        out = []
        if not self.comparable:
            out.append(
                f"runs {self.run_a} and {self.run_b} are not comparable: they differ in "
                f"{', '.join(self.differences)}"
            )
        elif self.differences:
            out.append(f"the runs differ in {', '.join(self.differences)}")
        if self.scope is not None:
            out.append(f"tokens and uptake are compared for {self.scope} only, the type "
                       "scope both runs fetched")
        return out


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
        merged[f"uptake_{s}"] = share_array(merged[f"with_tokens_{s}"], merged[f"fetched_{s}"])
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


def shared_scope(a: str | None, b: str | None) -> tuple[str | None, bool]:
    """The token types two runs both fetched (None: every type) and whether they
    overlap at all (a DIRECT_DEBIT-only and a CREDIT_CARD-only run do not)."""
    if a is None or a == b:
        return b, True
    if b is None:
        return a, True
    return None, False


def differences(a: RunInfo, b: RunInfo, ids_a: set[str], ids_b: set[str]) -> tuple[str, ...]:
    """The run fields that differ, in the order a reader weighs them."""
    out = [name for name in ("token_type", "input_name") if getattr(a, name) != getattr(b, name)]
    if ids_a != ids_b:
        out.append("customers")
    out += [name for name in ("env", "client_id") if getattr(a, name) != getattr(b, name)]
    return tuple(out)


def _in_scope(frames: RunFrames, scope: str | None, overlap: bool) -> RunFrames:
    if overlap and scope is None:
        return frames
    # A type filter recounts every customer's tokens; no overlap keeps no token at all.
    types = (scope,) if overlap and scope is not None else ("(none)",)
    return apply_filters(frames, Filters(types=types))


def compare_runs(frames_a: RunFrames, frames_b: RunFrames) -> Comparison:
    """What changed between two runs (see `Comparison` for the rules)."""
    scope, overlap = shared_scope(frames_a.run.token_type, frames_b.run.token_type)
    run_a, run_b = frames_a.run, frames_b.run
    frames_a = _in_scope(frames_a, scope, overlap)
    frames_b = _in_scope(frames_b, scope, overlap)
    ca, cb = frames_a.customers, frames_b.customers
    ids_a = set(ca["customer_id"].tolist())
    ids_b = set(cb["customer_id"].tolist())
    fetched_a = set(ca.loc[ca["status"] == FETCHED, "customer_id"].tolist())
    fetched_b = set(cb.loc[cb["status"] == FETCHED, "customer_id"].tolist())
    both = ids_a & ids_b
    comparable = fetched_a & fetched_b
    diff = differences(run_a, run_b, ids_a, ids_b)
    usable = overlap and bool(both) and not {"env", "client_id"} & set(diff)

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
        uptake_by_type(ca, types_in_scope(frames_a), frames_a.tokens),
        uptake_by_type(cb, types_in_scope(frames_b), frames_b.tokens),
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
        comparable=usable,
        differences=diff,
        scope=scope if overlap else None,
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


# -- series of comparable runs -----------------------------------------------------------
def series_key(run: RunInfo) -> str:
    """Which series a run belongs to: the saved audit it re-audits (whatever its runs
    are named: renaming the saved audit does not split its series), else its name when
    it has one ("Nov month-end" and "Dec month-end" are different series unless named
    alike), else its input and token type scope (a 3-ID paste and a 50k file never share
    a trend)."""
    if run.saved_audit_id is not None:
        return f"saved: {run.saved_audit_id:d}"
    if run.name:
        return f"name: {run.name}"
    return f"input: {run.input_name} | {run.token_type or 'all types'} | {run.env}"


def run_series(runs: Sequence[RunInfo]) -> dict[str, list[RunInfo]]:
    """Runs grouped by `series_key`, oldest first in each; archived runs left out."""
    out: dict[str, list[RunInfo]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        if not run.archived:
            out.setdefault(series_key(run), []).append(run)
    return out


def previous_comparable(runs: Sequence[RunInfo], run: RunInfo) -> RunInfo | None:
    """The latest earlier run of the same series (what "change vs last time" means)."""
    same = run_series(runs).get(series_key(run), [])
    earlier = [r for r in same if r.id < run.id]
    return earlier[-1] if earlier else None

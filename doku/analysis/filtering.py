"""A run narrowed to `Filters` (`apply_filters`): what every aggregate of a filtered
page, report or export is computed from; and `counted_view`, the same narrowed to
what the aggregates read, for a page that recounts on every filter change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from doku.analysis.counting import equals, isin
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, errors_frame
from doku.analysis.labels import attribute_column, brand_labels, labelled
from doku.engine.schema import FETCHED
from doku.models import CREDIT_CARD, DIRECT_DEBIT

# Token text no aggregate reads. Copying it is most of the cost of filtering a big run
# (a million fingerprints are 64 MB), so `counted_view` leaves it out.
TEXT_COLUMNS = ("customer_name", "masked_card", "fingerprint", "token_id")


def apply_filters(frames: RunFrames, filters: Filters) -> RunFrames:
    """A filtered copy of the frames (see `Filters` for the semantics). The run info is
    unchanged; every aggregate of the copy reflects the filter consistently."""
    return filter_rows(frames, filters)[0]


def counted_view(frames: RunFrames, filters: Filters) -> tuple[RunFrames, np.ndarray]:
    """`apply_filters` of `frames` without the tokens' TEXT_COLUMNS: every aggregate
    of it is that of the whole filtered copy. Also returns the row in `frames.tokens`
    of each token kept (to show some of them with every column)."""
    text = [c for c in TEXT_COLUMNS if c in frames.tokens.columns]
    return filter_rows(replace(frames, tokens=frames.tokens.drop(columns=text)), filters)


def filter_rows(frames: RunFrames, filters: Filters) -> tuple[RunFrames, np.ndarray]:
    """`apply_filters`, and the row in `frames.tokens` of each token kept."""
    tokens, customers, owner = frames.tokens, frames.customers, frames.token_owner
    rows = np.arange(len(tokens))
    for column, allowed in filters.attributes.items():
        if not allowed:
            continue
        column = attribute_column(frames, column)
        allow = [str(v) for v in allowed]
        kept = isin(labelled(customers[column]), allow)
        customers = customers[kept]
        if owner is None:
            keep = isin(labelled(tokens[column]), allow)
            tokens, rows = tokens[keep], rows[keep]
        else:  # a token has its customer's attributes: keep those of kept customers
            keep = kept[owner]
            tokens, rows, owner = tokens[keep], rows[keep], (np.cumsum(kept) - 1)[owner[keep]]
    if filters.restricts_tokens:
        keep = np.ones(len(tokens), dtype=bool)
        if filters.types:
            keep &= isin(tokens["type"], filters.types)
        if filters.issuers:
            keep &= isin(labelled(tokens["issuer"]), filters.issuers)
        if filters.brands:
            keep &= isin(brand_labels(tokens), filters.brands)
        tokens, rows = tokens[keep], rows[keep]
        owner = None if owner is None else owner[keep]
        customers = _recount(customers, tokens, owner)
    narrowed = replace(
        frames,
        tokens=tokens.reset_index(drop=True),
        customers=customers.reset_index(drop=True),
        errors=errors_frame(customers),
        filters=filters,
        token_owner=owner,
    )
    return narrowed, rows


def _recount(customers: pd.DataFrame, tokens: pd.DataFrame,
             owner: np.ndarray | None = None) -> pd.DataFrame:
    """Per-customer token counts of fetched customers from a (filtered) tokens frame;
    `owner`: each token's row in `customers` (else customers are matched by ID)."""
    unanswered = ~equals(customers["status"], FETCHED)  # their counts are <NA>
    ids = customers["customer_id"]
    out = customers.copy(deep=False)  # copy-on-write: only the recounted columns are new

    def count(rows: np.ndarray | None) -> pd.arrays.IntegerArray:
        if owner is not None:
            held = np.bincount(owner if rows is None else owner[rows], minlength=len(customers))
            values: np.ndarray = held.astype(np.int64, copy=False)
        else:
            sub = tokens if rows is None else tokens[rows]
            per = sub["customer_id"].value_counts()
            values = ids.map(per).fillna(0).to_numpy(dtype=np.int64)
        return pd.arrays.IntegerArray(values, unanswered.copy())  # a mask of its own

    n_tokens = count(None)
    out["n_tokens"] = n_tokens
    out["n_direct_debit"] = count(equals(tokens["type"], DIRECT_DEBIT))
    out["n_credit_card"] = count(equals(tokens["type"], CREDIT_CARD))
    out["has_token"] = pd.arrays.BooleanArray(
        n_tokens.to_numpy(dtype=np.int64, na_value=0) > 0, unanswered
    )
    return out

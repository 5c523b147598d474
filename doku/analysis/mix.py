"""The issuer mix a PM asks for first (shares within each token type, change in points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from doku.analysis.frames import RunFrames
from doku.analysis.labels import (
    labelled,
    share_array,
)


# -- issuer mix --------------------------------------------------------------------------
def issuer_mix(frames: RunFrames, previous: RunFrames | None = None) -> pd.DataFrame:
    """The PM's first question: per token type and issuer, the share of that type's
    tokens (token_share) and of its token-holding customers (holder_share), with the
    change in points against `previous` (a comparable earlier run; None: no change
    columns are filled). Columns: type, issuer, tokens, token_share, holders,
    holder_share, token_share_change_pp, holder_share_change_pp."""
    now = _mix(frames.tokens)
    if previous is None:
        now["token_share_change_pp"] = np.nan
        now["holder_share_change_pp"] = np.nan
        return now
    before = _mix(previous.tokens)[["type", "issuer", "token_share", "holder_share"]]
    merged = now.merge(before, on=["type", "issuer"], how="left", suffixes=("", "_before"))
    for col in ("token_share", "holder_share"):
        merged[f"{col}_change_pp"] = (merged[col] - merged[f"{col}_before"].fillna(0)) * 100
    return merged.drop(columns=["token_share_before", "holder_share_before"])


def _mix(tokens: pd.DataFrame) -> pd.DataFrame:
    pairs = pd.DataFrame({
        "type": tokens["type"].astype(str).to_numpy(),
        "issuer": labelled(tokens["issuer"]).astype(str).to_numpy(),
        "customer_id": tokens["customer_id"].astype(str).to_numpy(),
    })
    counts = pairs.groupby(["type", "issuer"]).agg(
        tokens=("customer_id", "size"), holders=("customer_id", "nunique")).reset_index()
    type_tokens = pairs.groupby("type")["customer_id"].size()
    type_holders = pairs.groupby("type")["customer_id"].nunique()
    counts["token_share"] = share_array(counts["tokens"],
                                        counts["type"].map(type_tokens).astype(np.int64))
    counts["holder_share"] = share_array(counts["holders"],
                                         counts["type"].map(type_holders).astype(np.int64))
    counts = counts[["type", "issuer", "tokens", "token_share", "holders", "holder_share"]]
    counts[["tokens", "holders"]] = counts[["tokens", "holders"]].astype(np.int64)
    return counts.sort_values(["type", "tokens", "issuer"], ascending=[True, False, True],
                              kind="stable").reset_index(drop=True)

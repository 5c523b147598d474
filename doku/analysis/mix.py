"""The issuer mix a PM asks for first (shares within each token type, change in points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from doku.analysis.frames import RunFrames
from doku.analysis.labels import (
    labelled,
    share_array,
)

MIX_COLUMNS = ("type", "issuer", "tokens", "token_share", "holders", "holder_share")
CHANGE_COLUMNS = ("token_share_change_pp", "holder_share_change_pp")


# -- issuer mix --------------------------------------------------------------------------
def issuer_mix(frames: RunFrames, previous: RunFrames | None = None) -> pd.DataFrame:
    """The PM's first question: per token type and issuer, the share of that type's
    tokens (token_share) and of its token-holding customers (holder_share), with the
    change in points against `previous` (a comparable earlier run). Columns: type,
    issuer, tokens, token_share, holders, holder_share, token_share_change_pp,
    holder_share_change_pp; by type, then tokens (descending), then issuer.

    The change is NaN when there is nothing to compare with: no `previous` run, or a
    type `previous` holds no token of (its shares were undefined there, so "+100 pp"
    would be invented). An issuer `previous` had within a type both runs hold, and
    this run does not, is a row with 0 tokens and a negative change: losing an issuer
    is part of the mix. A type only `previous` holds has no row (no share to show)."""
    now = _mix(frames.tokens)
    if previous is None:
        for col in CHANGE_COLUMNS:
            now[col] = np.nan
        return now
    before = _mix(previous.tokens)
    compared = set(now["type"]) & set(before["type"])
    gone = before[before["type"].isin(list(compared))].merge(
        now[["type", "issuer"]], on=["type", "issuer"], how="left", indicator=True)
    gone = gone.loc[gone["_merge"] == "left_only", ["type", "issuer"]]
    zero = gone.assign(tokens=0, token_share=0.0, holders=0, holder_share=0.0)
    rows = pd.concat([now, zero], ignore_index=True) if len(zero) else now
    merged = rows.merge(before[["type", "issuer", "token_share", "holder_share"]],
                        on=["type", "issuer"], how="left", suffixes=("", "_before"))
    in_both = merged["type"].isin(list(compared)).to_numpy()
    for col, change in zip(("token_share", "holder_share"), CHANGE_COLUMNS, strict=True):
        delta = (merged[col] - merged[f"{col}_before"].fillna(0.0)) * 100
        merged[change] = np.where(in_both, delta, np.nan)
    merged = merged[[*MIX_COLUMNS, *CHANGE_COLUMNS]]
    merged[["tokens", "holders"]] = merged[["tokens", "holders"]].astype(np.int64)
    return _ordered(merged)


def _mix(tokens: pd.DataFrame) -> pd.DataFrame:
    # Integer codes, not strings: a million tokens group in about a second.
    types = tokens["type"]
    types = types if isinstance(types.dtype, pd.CategoricalDtype) else types.astype("category")
    issuers = labelled(tokens["issuer"])
    codes = pd.DataFrame({
        "type": types.cat.codes.to_numpy(),
        "issuer": issuers.cat.codes.to_numpy(),
        "customer": pd.factorize(tokens["customer_id"])[0],
    })
    holding = codes.drop_duplicates()
    counts = pd.DataFrame({
        "tokens": codes.groupby(["type", "issuer"]).size(),
        "holders": holding.groupby(["type", "issuer"]).size(),
    }).reset_index()
    type_tokens = codes.groupby("type").size()
    type_holders = holding[["type", "customer"]].drop_duplicates().groupby("type").size()
    counts["token_share"] = share_array(counts["tokens"], counts["type"].map(type_tokens))
    counts["holder_share"] = share_array(counts["holders"], counts["type"].map(type_holders))
    counts["type"] = np.asarray(types.cat.categories.astype(str), dtype=object)[counts["type"]]
    counts["issuer"] = np.asarray(issuers.cat.categories.astype(str),
                                  dtype=object)[counts["issuer"]]
    counts = counts[list(MIX_COLUMNS)]
    counts[["tokens", "holders"]] = counts[["tokens", "holders"]].astype(np.int64)
    return _ordered(counts)


def _ordered(mix: pd.DataFrame) -> pd.DataFrame:
    return mix.sort_values(["type", "tokens", "issuer"], ascending=[True, False, True],
                           kind="stable").reset_index(drop=True)

"""How values are labelled and divided everywhere (blank values, brand labels, shares)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from doku.analysis.frames import STR_DTYPE, RunFrames
from doku.engine.schema import RunInfo
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT

DIRECT_DEBIT_BRAND = "Direct debit (no brand)"
UNKNOWN_BRAND = "Unknown brand"
BLANK = "(blank)"
TYPE_COUNT_COLUMN = {DIRECT_DEBIT: "n_direct_debit", CREDIT_CARD: "n_credit_card"}


def share(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def share_array(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
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


TYPE_LABELS = {DIRECT_DEBIT: "Direct debit", CREDIT_CARD: "Credit card"}


def type_label(token_type: str) -> str:
    """The one spelling of a token type on every screen and export: "Direct debit",
    "Credit card", and any other type DOKU returns in the same style
    ("WALLET_RECURRING" -> "Wallet recurring")."""
    known = TYPE_LABELS.get(token_type)
    if known is not None:
        return known
    words = token_type.replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:] if words else "(no type)"


def scope_label(token_type: str | None) -> str:
    """What a run fetched: "all types" or one type's label."""
    return "all types" if token_type is None else type_label(token_type)


def run_label(run: RunInfo) -> str:
    """A run as every picker and title shows it: "#12 Nov month-end · customers.csv ·
    3,000 customers · all types · 2026-11-25" (name only when the run has one)."""
    parts = [f"#{run.id}"]
    if run.name:
        parts[0] += f" {run.name}"
    parts += [run.input_name, f"{run.customers:,} customers", scope_label(run.token_type),
              run.created_at[:10]]
    return " · ".join(parts)


_DATE_LIKE = re.compile(r"\d{4}-\d{2}(?:-\d{2})?|\d{4}/\d{2}(?:/\d{2})?|\d{4}-Q[1-4]|\d{4}")


def chronological(values: Sequence[str]) -> list[int] | None:
    """Positions of `values` in time order when every non-blank value looks like a date
    or period (2024, 2024-03, 2024-03-15, 2024/03, 2024-Q1), "(blank)" last; else None."""
    dated = [v for v in values if v != BLANK]
    if not dated or not all(_DATE_LIKE.fullmatch(v) for v in dated):
        return None
    return sorted(range(len(values)),
                  key=lambda i: (values[i] == BLANK, values[i].replace("/", "-")))

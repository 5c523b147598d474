"""Counting a run's tokens on integer codes (categorical codes, customer rows) with
numpy, not on their text: a million tokens in milliseconds.

Tokens come grouped by customer (the store writes and reads them in input order),
so keys that start with the customer are nearly sorted already: `distinct` sorts
them with numpy's stable sort, which runs over such input about ten times faster
than its default one (and a little slower on shuffled keys).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd


def distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values of `keys`, sorted."""
    return distinct_sorted(np.sort(keys, kind="stable"))


def distinct_sorted(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of `ordered` (sorted already)."""
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (int64, -1 for missing) of `values` and the values they stand for."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    return cat.cat.codes.to_numpy().astype(np.int64), cat.cat.categories


def equals(values: pd.Series, value: str) -> np.ndarray:
    """`values == value` as a numpy bool array (on the codes of a categorical: without
    turning a million values into Python strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if value not in categories:
            return np.zeros(len(values), dtype=bool)
        found: np.ndarray = values.cat.codes.to_numpy() == categories.get_loc(value)
        return found
    return (values == value).to_numpy(dtype=bool, na_value=False)


def isin(values: pd.Series, allowed: Collection[str]) -> np.ndarray:
    """`values.isin(allowed)` as a numpy bool array (on the codes of a categorical)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.isin(list(allowed)).to_numpy(dtype=bool)
    wanted = set(allowed)
    positions = [i for i, c in enumerate(values.cat.categories) if c in wanted]
    code = values.cat.codes.to_numpy()
    if len(positions) > 4:  # a lookup per row beats that many comparisons
        lookup = np.zeros(len(values.cat.categories) + 1, dtype=bool)
        lookup[positions] = True
        return lookup[code]  # code -1 (missing) reads the last entry: False
    found = np.zeros(len(code), dtype=bool)
    for position in positions:
        found |= code == position
    return found


def customers_of(tokens: pd.DataFrame, owner: np.ndarray | None) -> np.ndarray:
    """Each token's customer as an int64 code: its customer row `owner` when known,
    else its customer ID's (a missing ID is a customer of its own, as in
    `drop_duplicates`)."""
    if owner is not None:
        return owner.astype(np.int64, copy=False)
    return pd.factorize(tokens["customer_id"], use_na_sentinel=False)[0].astype(np.int64)


def positive(counts: pd.Series, rows: np.ndarray) -> np.ndarray:
    """`rows` (bool) where a count column (nullable ints, floats or objects; missing
    reads 0) is above zero."""
    values = counts.to_numpy(dtype=np.float64, na_value=np.nan)
    return rows & (values > 0)  # NaN > 0 is False


def held_per_value(customer: np.ndarray, value: np.ndarray, n_values: int) -> np.ndarray:
    """Per value code 0..n_values-1: how many distinct customers hold a token with it
    (`customer`, `value`: one code per token)."""
    if not n_values:
        return np.zeros(0, dtype=np.int64)
    pairs = distinct(customer * n_values + value)
    return np.bincount(pairs % n_values, minlength=n_values).astype(np.int64)

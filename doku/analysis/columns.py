"""The frames' columns: their names, typed pandas columns built from store rows (Arrow
strings, categoricals, nullable ints) and the input's attribute columns."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

TOKEN_COLUMNS = (
    "customer_id",
    "customer_name",
    "type",
    "issuer",
    "brand",
    "masked_card",
    "fingerprint",
    "token_id",
)
CUSTOMER_COLUMNS = (
    "customer_id",
    "status",
    "customer_name",
    "n_tokens",
    "n_direct_debit",
    "n_credit_card",
    "has_token",
    "error_code",
    "error_kind",
    "error_message",
    "http_status",
    "attempts",
    "request_id",
)
ERROR_COLUMNS = (
    "customer_id", "error_code", "error_kind", "error_message", "http_status", "attempts",
    "request_id",
)
RESERVED_COLUMNS = frozenset(TOKEN_COLUMNS) | frozenset(CUSTOMER_COLUMNS)
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


# -- column builders (from a list of Python values, or an Arrow array read by the store) --
def arrow(values: Any) -> pa.Array | None:
    """`values` as one Arrow array if it is Arrow data (chunks joined, dictionaries
    unified), else None."""
    if isinstance(values, pa.ChunkedArray):
        if pa.types.is_dictionary(values.type):
            values = values.unify_dictionaries()
        if values.num_chunks == 1:
            return values.chunk(0)
        return pa.concat_arrays(values.chunks) if values.num_chunks else pa.array(
            [], type=values.type)
    return values if isinstance(values, pa.Array) else None


def str_column(values: Any) -> pd.Series:
    """pyarrow-backed `str` column without a per-element pandas pass."""
    arr = arrow(values)
    if arr is None:
        arr = pa.array(values, type=pa.large_string())
    elif not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return pd.Series(arr, dtype=STR_DTYPE)


def _encoded(values: Any) -> pa.DictionaryArray:
    arr = arrow(values)
    if arr is None:
        return pa.array(values, type=pa.string()).dictionary_encode()
    return arr if isinstance(arr, pa.DictionaryArray) else arr.dictionary_encode()


def map_text(values: Any, fn: Callable[[str], str]) -> Any:
    """`fn` of every non-null text value: once per distinct value for Arrow data."""
    arr = arrow(values)
    if arr is None:
        return [None if v is None else fn(v) for v in values]
    encoded = _encoded(arr)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pa.DictionaryArray.from_arrays(encoded.indices, mapped)


def categorical(values: Any, fixed: Sequence[str] = ()) -> pd.Series:
    """Categorical column via Arrow dictionary encoding; categories `fixed` first, then
    any other value present, in sorted order (stable display and value_counts with
    zeros)."""
    encoded = _encoded(values)
    indices = encoded.indices
    indices = indices.fill_null(-1) if indices.null_count else indices
    at = indices.to_numpy(zero_copy_only=False)
    seen: list[str] = encoded.dictionary.to_pylist()
    used = np.bincount(at + 1, minlength=len(seen) + 1)[1:] > 0  # index -1: missing
    extra = sorted({v for v, u in zip(seen, used, strict=True) if u} - set(fixed))
    categories = pd.Index([*fixed, *extra], dtype=STR_DTYPE)
    position = {c: i for i, c in enumerate(categories)}
    # One lookup per row; its last entry is what index -1 (missing) reads.
    lookup = np.array([position.get(v, -1) for v in seen] + [-1], dtype=np.int64)
    codes = np.take(lookup.astype(coerce_codes(len(categories))), at)  # -1 reads the last
    return pd.Series(pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(categories), validate=False))


def coerce_codes(n_categories: int) -> type[np.signedinteger[Any]]:
    """The code type pandas keeps for `n_categories` categories."""
    for kind in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(kind).max:
            return kind
    return np.int64


def int_column(values: Any, keep: np.ndarray | None = None) -> pd.Series:
    """Nullable Int64 column; rows where `keep` is False become <NA>."""
    arr = arrow(values)
    if arr is None:
        arr = pa.array(values, type=pa.int64())
    mask = arr.is_null().to_numpy(zero_copy_only=False)
    data = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if keep is not None:
        mask = mask | ~keep
    return pd.Series(pd.arrays.IntegerArray(data, mask))


def fetched_counts(values: Any, fetched: np.ndarray) -> pd.Series:
    """A count column of customers (Int64): missing counts of fetched customers read
    0, every count of the others is <NA> (they have no answer to count)."""
    arr = arrow(values)
    if arr is None:
        arr = pa.array(values, type=pa.int64())
    data = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return pd.Series(pd.arrays.IntegerArray(data, ~fetched))


def attribute_value(value: Any) -> str | None:
    """Attribute cells as text; None, empty or whitespace-only count as blank."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def encode_attribute(raw: list[Any]) -> tuple[np.ndarray, pd.Index]:
    """Codes and sorted categories of raw attribute values; blank -> code -1. Values
    are cleaned once per distinct value, not once per row."""
    try:
        encoded = pa.array(raw, type=pa.string()).dictionary_encode()
        distinct: list[Any] = encoded.dictionary.to_pylist()
        indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # non-text values (numbers from JSON)
        cleaned = [attribute_value(v) for v in raw]
        distinct = sorted({v for v in cleaned if v is not None})
        position = {v: i for i, v in enumerate(distinct)}
        indices = np.array([-1 if v is None else position[v] for v in cleaned], dtype=np.int64)
    values = [attribute_value(v) for v in distinct]
    categories = sorted({v for v in values if v is not None})
    position = {c: i for i, c in enumerate(categories)}
    lookup = np.array([-1 if v is None else position[v] for v in values] + [-1], dtype=np.int32)
    return lookup[indices], pd.Index(categories, dtype=STR_DTYPE)


def attribute_frame_names(attribute_columns: Iterable[str]) -> dict[str, str]:
    """Attribute name -> frame column name; names clashing with a built-in column (or
    blank) get " (attribute)" appended so no attribute ever shadows run data."""
    names: dict[str, str] = {}
    used = set(RESERVED_COLUMNS)
    for attr in attribute_columns:
        if attr in names:
            continue
        name = attr if attr.strip() and attr not in used else f"{attr} (attribute)".strip()
        while name in used:
            name += "'"
        used.add(name)
        names[attr] = name
    return names


def attribute_series(
    json_values: Any, attribute_columns: Sequence[str] | None
) -> tuple[list[str], dict[str, pd.Series]]:
    """Decode per-row attribute JSON once per distinct string (rows of one customer,
    and customers sharing values, repeat the same string) and gather codes with numpy."""
    encoded = _encoded(json_values)
    distinct: list[str] = encoded.dictionary.to_pylist()
    parsed: list[Mapping[str, Any]] = []
    for text in distinct:
        obj = json.loads(text) if text is not None else {}
        parsed.append(obj if isinstance(obj, dict) else {})
    if attribute_columns is None:
        order: dict[str, None] = {}
        for obj in parsed:
            order.update(dict.fromkeys(obj))
        attribute_columns = list(order)
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    names = attribute_frame_names(attribute_columns)
    columns: dict[str, pd.Series] = {}
    for attr, name in names.items():
        codes, categories = encode_attribute([obj.get(attr) for obj in parsed])
        codes = np.append(codes, -1)[indices]  # index -1 (no attributes) hits the -1
        columns[name] = pd.Series(pd.Categorical.from_codes(codes, categories=categories))
    return list(names.values()), columns

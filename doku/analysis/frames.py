"""Typed pandas frames of one run (or one in-memory lookup) for aggregates, charts and exports.

Frames are built column-wise straight into Arrow buffers: one list comprehension per
column, then zero-copy into pandas 3's pyarrow-backed `str` dtype, with categoricals
for low-cardinality columns. That keeps a million-token run at roughly 150 bytes per
token and an order of magnitude faster than `json_normalize` on row dicts.

Conventions every consumer relies on:
- tokens: one row per token; `brand` stays missing for DIRECT_DEBIT (labels are the
  aggregates' job). From the store, `token_id` exists only when raw IDs were stored
  (raw: masking for display or export is the caller's job); from an in-memory lookup
  (`tokens_frame_from_tokens`) it is masked unless the caller asks for `reveal=True`.
- customers: one row per valid input customer; token counts and `has_token` are
  missing (<NA>) unless the customer was fetched, so `.sum()`/`.mean()` never mix in
  customers whose tokens are unknown.
- customer attributes: one categorical column each; missing or blank values are NA.
  An attribute whose name clashes with a built-in column is renamed "NAME (attribute)"
  (see `attribute_frame_names`); `RunFrames.attributes` lists the frame names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from doku.analysis.columnar import tokens_from_columns
from doku.analysis.columns import CUSTOMER_COLUMNS as CUSTOMER_COLUMNS
from doku.analysis.columns import ERROR_COLUMNS as ERROR_COLUMNS
from doku.analysis.columns import RESERVED_COLUMNS as RESERVED_COLUMNS
from doku.analysis.columns import STR_DTYPE as STR_DTYPE
from doku.analysis.columns import TOKEN_COLUMNS as TOKEN_COLUMNS
from doku.analysis.columns import (
    attribute_frame_names,
    attribute_series,
    categorical,
    encode_attribute,
    fetched_counts,
    int_column,
    map_text,
    str_column,
)
from doku.analysis.filters import Filters
from doku.engine.run_columns import RunColumns, load_snapshot
from doku.engine.run_reading import snapshot_run
from doku.engine.schema import FAILED, FETCHED, RunInfo
from doku.engine.snapshots import CUSTOMER_FIELDS, TERMINAL
from doku.engine.store import Store
from doku.errors import NoSuchRunError, error_code, error_label
from doku.masking import mask_token_id
from doku.models import CREDIT_CARD, TOKEN_TYPES, Token

PENDING = "pending"
STATUSES = (FETCHED, FAILED, PENDING)




@dataclass(frozen=True)
class RunFrames:
    """Everything the insights page, report, exports and compare need for one run.

    `run` counts (fetched, failed, pending, with_tokens, tokens) are recomputed from
    the frames, so they always agree with them even while the run is still writing.
    `attributes` are the frame column names of the customer attributes. `filters` is
    set by `doku.analysis.aggregates.apply_filters` on a filtered copy.
    """

    run: RunInfo
    tokens: pd.DataFrame
    customers: pd.DataFrame
    errors: pd.DataFrame
    attributes: tuple[str, ...] = ()
    filters: Filters | None = None
    # The row in `customers` of each token (None: not known, e.g. frames built by
    # hand): lets filters recount customers with numpy instead of matching IDs.
    token_owner: np.ndarray | None = field(default=None, compare=False, repr=False)


# -- tokens ------------------------------------------------------------------------------
def tokens_frame(
    rows: Sequence[Sequence[Any]],
    attribute_columns: Sequence[str] | None = None,
    *,
    with_token_ids: bool | None = None,
) -> pd.DataFrame:
    """Tokens frame from `Store.token_rows` tuples (customer_id, customer_name, type,
    issuer, brand, masked_card, fingerprint, token_id, attributes_json).

    attribute_columns: the run's attribute columns (None: keys found in the rows, in
    order of first appearance). with_token_ids: keep the raw `token_id` column
    (None: only if some row carries one, i.e. the run stored raw IDs).
    """
    cols = [[r[i] for r in rows] for i in range(9)]
    if with_token_ids is None:
        with_token_ids = any(v is not None for v in cols[7])
    data: dict[str, pd.Series] = {
        "customer_id": str_column(cols[0]),
        "customer_name": str_column(cols[1]),
        "type": categorical(cols[2], TOKEN_TYPES),
        "issuer": categorical(cols[3]),
        "brand": categorical(cols[4]),
        "masked_card": str_column(cols[5]),
        "fingerprint": str_column(cols[6]),
    }
    if with_token_ids:
        data["token_id"] = str_column(cols[7])
    _, attrs = attribute_series(cols[8], attribute_columns)
    data.update(attrs)
    return pd.DataFrame(data, copy=False)


def tokens_frame_from_tokens(
    tokens: Sequence[Token],
    attributes: Mapping[str, Mapping[str, str]] | None = None,
    *,
    attribute_columns: Sequence[str] | None = None,
    with_token_ids: bool = True,
    reveal: bool = False,
) -> pd.DataFrame:
    """Tokens frame for an in-memory lookup (parsed API answer), same columns as
    `tokens_frame`. attributes: customer_id -> {attribute: value}.

    Token IDs are payment credentials: the `token_id` column holds them masked (first
    and last 4 characters, `doku.masking.mask_token_id`) unless reveal=True, and is
    left out with with_token_ids=False. `fingerprint` is always the raw ID's SHA-256.

    >>> from doku.models import Token
    >>> t = Token("C1", "Ani", "DIRECT_DEBIT", "BRI", None, "****8982", "243591d7e49f4510")
    >>> tokens_frame_from_tokens([t])["token_id"].tolist()
    ['2435********4510']
    >>> tokens_frame_from_tokens([t], reveal=True)["token_id"].tolist()
    ['243591d7e49f4510']
    """
    attributes = attributes or {}
    if attribute_columns is None:
        order: dict[str, None] = {}
        for attrs in attributes.values():
            order.update(dict.fromkeys(attrs))
        attribute_columns = list(order)
    customer_ids = list(map(attrgetter("customer_id"), tokens))
    types = list(map(attrgetter("type"), tokens))
    token_ids = list(map(attrgetter("token_id"), tokens))
    sha256 = hashlib.sha256
    data: dict[str, pd.Series] = {
        "customer_id": str_column(customer_ids),
        "customer_name": str_column(list(map(attrgetter("customer_name"), tokens))),
        "type": categorical(types, TOKEN_TYPES),
        "issuer": categorical(list(map(attrgetter("issuer"), tokens))),
        "brand": categorical(
            [b if k == CREDIT_CARD else None
             for b, k in zip(map(attrgetter("brand"), tokens), types, strict=True)]
        ),
        "masked_card": str_column(list(map(attrgetter("masked_card"), tokens))),
        # same digest as Token.fingerprint, without a property call per token
        "fingerprint": str_column([sha256(t.encode("utf-8")).hexdigest() for t in token_ids]),
    }
    if with_token_ids:
        data["token_id"] = str_column(token_ids if reveal else list(map(mask_token_id, token_ids)))
    data.update(_attributes_by_customer(customer_ids, attributes, attribute_columns))
    return pd.DataFrame(data, copy=False)


def _attributes_by_customer(
    customer_ids: list[str],
    attributes: Mapping[str, Mapping[str, str]],
    attribute_columns: Sequence[str],
) -> dict[str, pd.Series]:
    """Attribute columns looked up once per distinct customer, spread with numpy."""
    names = attribute_frame_names(attribute_columns)
    if not names:
        return {}
    encoded = pa.array(customer_ids, type=pa.string()).dictionary_encode()
    distinct: list[str] = encoded.dictionary.to_pylist()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    per_customer = list(map(attributes.get, distinct))
    columns: dict[str, pd.Series] = {}
    for attr, name in names.items():
        codes, categories = encode_attribute(
            [a.get(attr) if a is not None else None for a in per_customer]
        )
        columns[name] = pd.Series(
            pd.Categorical.from_codes(codes[indices], categories=categories)
        )
    return columns


# -- customers ---------------------------------------------------------------------------
def customers_frame(
    rows: Sequence[Sequence[Any]], attribute_columns: Sequence[str]
) -> pd.DataFrame:
    """Customers frame from `Store.customer_rows` tuples, one row per valid input
    customer in input order. status: fetched | failed | pending (no result yet)."""
    width = len(rows[0]) if rows else 12  # 11 before request_id was read
    cols: list[Any] = [[r[i] for r in rows] for i in range(min(width, 12))]
    if width < 12:
        cols.append([None] * len(rows))
    return customers_from_columns(cols, attribute_columns)


def customers_from_columns(cols: Sequence[Any], attribute_columns: Sequence[str]) -> pd.DataFrame:
    """Customers frame from its 12 columns in `customer_rows` order, each a list or an
    Arrow array (`doku.engine.run_columns.RunColumns`): the same frame either way."""
    # The store writes 'fetched', 'failed' or NULL (no result yet = pending).
    status = categorical(cols[1], STATUSES)
    codes = status.cat.codes.to_numpy()
    if (codes < 0).any():
        status = status.fillna(PENDING)
    fetched = codes == STATUSES.index(FETCHED)
    n_tokens = fetched_counts(cols[3], fetched)
    data: dict[str, pd.Series] = {
        "customer_id": str_column(cols[0]),
        "status": status,
        "customer_name": str_column(cols[2]),
        "n_tokens": n_tokens,
        "n_direct_debit": fetched_counts(cols[4], fetched),
        "n_credit_card": fetched_counts(cols[5], fetched),
        "has_token": pd.Series(pd.arrays.BooleanArray(
            (n_tokens.array.to_numpy(dtype=np.int64, na_value=0) > 0), ~fetched)),
        # The store holds the machine code (older stores: the label); show both.
        "error_code": categorical(map_text(cols[6], error_code)),
        "error_kind": categorical(map_text(cols[6], error_label)),
        "error_message": str_column(cols[7]),
        "http_status": int_column(cols[8]),
        "attempts": int_column(cols[9]).fillna(0).astype(np.int64),
        "request_id": str_column(cols[11]),
    }
    _, attrs = attribute_series(cols[10], attribute_columns)
    data.update(attrs)
    return pd.DataFrame(data, copy=False)


def errors_frame(customers: pd.DataFrame) -> pd.DataFrame:
    """Failed customers only: what went wrong, for triage and the errors export."""
    attrs = [c for c in customers.columns if c not in RESERVED_COLUMNS]
    failed = customers.loc[customers["status"] == FAILED, [*ERROR_COLUMNS, *attrs]]
    return failed.reset_index(drop=True)


# -- loading a run -----------------------------------------------------------------------
def frames_from_columns(info: RunInfo, columns: RunColumns) -> RunFrames:
    """Every frame of the run `info` from its columns; the counts in `run` are
    recomputed from them."""
    c = columns.customers
    customers = customers_from_columns(
        [c.column(name) for name in CUSTOMER_FIELDS[1:]], info.attribute_columns
    )
    attributes = tuple(attribute_frame_names(info.attribute_columns).values())
    tokens, owner = tokens_from_columns(columns, customers, attributes,
                                        with_token_ids=info.store_token_ids)
    status = customers["status"].value_counts()
    info = replace(
        info,
        customers=len(customers),
        fetched=int(status[FETCHED]),
        failed=int(status[FAILED]),
        pending=int(status[PENDING]),
        with_tokens=int(customers["has_token"].sum()),
        tokens=len(tokens),
    )
    return RunFrames(run=info, tokens=tokens, customers=customers,
                     errors=errors_frame(customers), attributes=attributes,
                     token_owner=owner)


def load_run_frames(store: Store, run_id: int) -> RunFrames:
    """All frames of one run, consistent with each other even while the run writes.

    A finished run comes from its snapshot in the store (`doku.engine.snapshots`),
    made now if it has none yet; a running one is read in one transaction. The
    RunInfo counts in the result are recomputed from the frames.
    """
    info = store.get_run(run_id, counted=False)
    if info is None:
        raise NoSuchRunError(f"run {run_id} is not in {store.where}")
    columns = load_snapshot(store, run_id) if info.status in TERMINAL else None
    if columns is None:
        columns = snapshot_run(store, run_id)
    return frames_from_columns(info, columns)

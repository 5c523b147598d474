"""The tokens frame of a run from its columns (`doku.engine.run_columns.RunColumns`):
the store's snapshot of a finished run, or a one-transaction columnar read of a
running one (`doku.analysis.frames.load_run_frames` builds every frame from them).

Each token's customer ID, name and attributes are taken from its customer's row
(`owner`), so no per-token join or JSON is read at all. The frame equals the one
`doku.analysis.frames.tokens_frame` builds from rows, column for column
(`tests/test_columnar.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from doku.analysis.columns import arrow, categorical, str_column
from doku.engine.run_columns import RunColumns
from doku.models import TOKEN_TYPES


def tokens_from_columns(
    columns: RunColumns, customers: pd.DataFrame, attributes: tuple[str, ...],
    *, with_token_ids: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The tokens frame and each token's customer row."""
    t = columns.tokens
    owner = t.column("owner").to_numpy().astype(np.intp, copy=False)
    taken = pa.array(owner)
    c = columns.customers
    data: dict[str, pd.Series] = {
        "customer_id": str_column(_take(c.column("customer_id"), taken)),
        "customer_name": str_column(_take(c.column("customer_name"), taken)),
        "type": categorical(t.column("type"), TOKEN_TYPES),
        "issuer": categorical(t.column("issuer")),
        "brand": categorical(t.column("brand")),
        "masked_card": str_column(t.column("masked_card")),
        "fingerprint": str_column(t.column("fingerprint")),
    }
    if with_token_ids:
        data["token_id"] = str_column(t.column("token_id"))
    for name in attributes:
        column = customers[name].cat
        codes = column.codes.to_numpy()[owner]
        # Only the values some token's customer has (as from rows): renumbered.
        used = np.bincount(codes[codes >= 0], minlength=len(column.categories)) > 0
        renumber = np.append(np.cumsum(used) - 1, -1).astype(codes.dtype)
        data[name] = pd.Series(pd.Categorical.from_codes(
            renumber[codes], categories=column.categories[used]))
    return pd.DataFrame(data, copy=False), owner


def _take(column: pa.ChunkedArray, rows: pa.Array) -> pa.Array:
    one = arrow(column)
    assert one is not None
    return one.take(rows)

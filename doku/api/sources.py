"""What `doku.audit` accepts, as a ParsedInput (a path, a DataFrame or an iterable of IDs)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from doku.engine.inputs import (
    ID_COLUMN_NAMES,
    MAX_ROWS,
    AmbiguousColumnError,
    ParsedInput,
    normalize_column_name,
    parse_path,
)
from doku.engine.parsed import Accumulator, build_parsed
from doku.errors import InvalidInputError

#: What `audit` accepts: a file path, a DataFrame, or any iterable of customer IDs.
Source = str | os.PathLike[str] | pd.DataFrame | Iterable[object]


LIST_SOURCE = "list of IDs"
FRAME_SOURCE = "DataFrame"


# -- inputs ------------------------------------------------------------------------------
def parse_source(source: Source, *, column: str | None, sheet: str | None) -> ParsedInput:
    """ParsedInput of any accepted source, with the same rules as files."""
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise InvalidInputError(
                f"{path}: no such file (to audit IDs, pass a list: doku.audit([{path!r}]))"
            )
        return parse_path(path, column=column, sheet=sheet)
    if isinstance(source, pd.DataFrame):
        if sheet is not None:
            raise InvalidInputError("sheet= applies to workbook files only")
        return _parse_frame(source, column)
    if isinstance(source, bytes | bytearray | memoryview) or not isinstance(source, Iterable):
        raise TypeError(
            "audit() takes a file path, a pandas DataFrame or an iterable of customer IDs, "
            f"not {type(source).__name__}"
        )
    if column is not None or sheet is not None:
        raise InvalidInputError("column= and sheet= apply to files and DataFrames only")
    name = getattr(source, "name", None) if isinstance(source, pd.Series) else None
    return _parse_ids(source, LIST_SOURCE if name is None else f"Series {name}")


def _cell(value: object) -> str:
    """One value as input text: missing -> "", integral floats without ".0"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def _parse_ids(values: Iterable[object], source: str) -> ParsedInput:
    """Every item is one ID (never split); blank items count as blank rows."""
    acc = Accumulator(source, MAX_ROWS, "more than {limit:,} IDs")
    for row, value in enumerate(values, 1):
        text = _cell(value).strip()
        if not text:
            acc.pending_blank += 1
            continue
        acc.flush_blanks()
        acc.add(row, text)
    if acc.data_rows == 0:
        raise InvalidInputError(f"{source}: no customer IDs")
    return acc.result(attributes={}, id_column=None, columns=[], has_header=False)


def _id_column(names: list[str]) -> str:
    """The column named most like a customer ID (`ID_COLUMN_NAMES` order), or the only one."""
    known = [
        (ID_COLUMN_NAMES.index(norm), i)
        for i, name in enumerate(names)
        if (norm := normalize_column_name(name)) in ID_COLUMN_NAMES
    ]
    if known:
        return names[min(known)[1]]
    if len(names) == 1:
        return names[0]
    raise AmbiguousColumnError(
        f"{FRAME_SOURCE}: none of the columns is named like a customer ID "
        f"({', '.join(names)}); pass column=NAME",
        columns=names,
    )


def _text_column(series: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(series.dtype):
        finite = series.dropna().to_numpy(dtype=np.float64)
        if np.isfinite(finite).all() and (finite == np.round(finite)).all():
            series = series.astype("Int64")  # IDs and codes read as floats because of NaN
    return [_cell(v) for v in series.tolist()]


def _parse_frame(frame: pd.DataFrame, column: str | None) -> ParsedInput:
    """A DataFrame as a file with a header row: same validation, duplicates, attributes."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()  # e.g. set_index("customer_id")
    names = [str(c) for c in frame.columns]
    if not names or frame.empty:
        raise InvalidInputError(f"{FRAME_SOURCE}: no rows to audit")
    if column is None:
        column = _id_column(names)
    elif normalize_column_name(column) not in {normalize_column_name(n) for n in names}:
        raise InvalidInputError(
            f"{FRAME_SOURCE}: no column named {column!r}; columns: {', '.join(names)}"
        )
    cells = [_text_column(frame.iloc[:, i]) for i in range(len(names))]
    rows = [names, *map(list, zip(*cells, strict=True))]
    return build_parsed(iter(rows), source=FRAME_SOURCE, column=column, max_rows=MAX_ROWS)

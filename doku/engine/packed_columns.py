"""A run's columns read packed: the database joins each column's values into one
string (`doku.engine.packed_sql`), so a million-token run reaches Python as a few
dozen strings instead of two million tuples of Python objects, and Arrow splits them
again in C.

Measured on a 1M-token run (885k customers, 2 busy cores, `bench.bench_insights
--live-only`): read as rows and converted column by column
(`doku.engine.run_columns.columns_from_rows`) 7-10 s on either backend - the
drivers build 20 million Python objects and pyarrow takes them apart again; packed,
1.5-2.5 s (aggregating is most of it: some 0.9 s per table in either database). The
two tables are read in one snapshot (`doku.engine.shared_snapshot`): on PostgreSQL
by two connections at once; on SQLite one after the other, each range unpacked while
the database packs the next. Measured and not kept: rows read with the garbage
collector off (4-5 s), PostgreSQL's COPY as CSV for pyarrow.csv (psycopg hands it
over a row at a time: 1-3 s a table before parsing), one string per row joined with
|| (twice the aggregates' time on both databases).

A value holding the separator would split into two: each column must split into
exactly as many values as the rows say it holds, or the run is read as rows instead
(`read_packed` gives None; so does a value that is not UTF-8, whose error the rows
read reports). The rows reach the aggregates in key order (SQLite reads them through
the primary key, PostgreSQL sorts them), which neither database promises to an
aggregate: the keys are read too, and rows out of order are put in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doku.engine.packed_sql import (
    INTEGERS,
    NULLABLE,
    SEPARATOR,
    SEQ_SPAN_SQL,
    TOKEN_COLUMNS,
    queries,
    seq_ranges,
)
from doku.engine.run_columns import DICTIONARY, RunColumns, owned_tokens
from doku.engine.shared_snapshot import Fetch, two_readers
from doku.engine.snapshots import CUSTOMER_FIELDS
from doku.engine.store import Store

_DICTIONARY_TYPE = pa.dictionary(pa.int32(), pa.string())


class _NotExact(Exception):
    """A column's packed values do not split back into its values."""


@dataclass(frozen=True)
class PackedRead:
    columns: RunColumns
    newest: str | None  # the newest `fetched_at` of the customers read


@dataclass(frozen=True)
class _Shape:
    fields: tuple[str, ...]
    nullable: tuple[str, ...]
    keys: tuple[str, ...]  # unique, the table's order
    stamped: bool  # its query's row starts with max(fetched_at)


_CUSTOMERS = _Shape(CUSTOMER_FIELDS, NULLABLE["customers"], ("seq",), True)
_TOKENS = _Shape(TOKEN_COLUMNS, NULLABLE["tokens"], ("customer_seq", "position"), False)


@dataclass(frozen=True)
class _Read:
    sql: str
    params: tuple[Any, ...]
    shape: _Shape


@dataclass(frozen=True)
class _Part:
    table: pa.Table
    newest: str | None


def read_packed(store: Store, run_id: int, since: str | None = None) -> PackedRead | None:
    """The run's columns (with `since`: of the customers whose result was written at or
    after it, and their tokens) as `columns_from_rows` makes them from `run_rows`;
    None if some value cannot be read packed (the caller reads rows)."""
    customers_sql, tokens_sql = queries(store.backend, since is not None)
    with ThreadPoolExecutor(1) as pool, two_readers(store) as (first, second):
        if since is None:  # a whole run, RANGE_ROWS customers at a time
            ranges = seq_ranges(*_only(first(SEQ_SPAN_SQL, (run_id,))))
            customer_reads = [_Read(customers_sql, (run_id, *r), _CUSTOMERS) for r in ranges]
            token_reads = [_Read(tokens_sql, (run_id, *r), _TOKENS) for r in ranges]
        else:  # its changes (a few thousand customers) at once
            customer_reads = [_Read(customers_sql, (run_id, since), _CUSTOMERS)]
            token_reads = [_Read(tokens_sql, (run_id, run_id, since), _TOKENS)]
        if first is second:  # SQLite: one connection, one query at a time
            # Each range is unpacked (Arrow, without the GIL) while the database packs
            # the next (without it too): on two cores, at the same time.
            unpacking = [pool.submit(_unpacked, _only(first(read.sql, read.params)),
                                     read.shape)
                         for read in (*customer_reads, *token_reads)]
            parts, split = [u.result() for u in unpacking], len(customer_reads)
            customer_parts, token_parts = parts[:split], parts[split:]
        else:  # PostgreSQL: customers and tokens packed, then unpacked, at once
            reading = pool.submit(_read_all, first, customer_reads)
            token_parts = _read_all(second, token_reads)
            customer_parts = reading.result()
    return _assembled(customer_parts, token_parts)


def _read_all(fetch: Fetch, reads: Sequence[_Read]) -> list[_Part | None]:
    return [_unpacked(_only(fetch(read.sql, read.params)), read.shape) for read in reads]


def _assembled(customer_parts: Sequence[_Part | None],
               token_parts: Sequence[_Part | None]) -> PackedRead | None:
    customer_tables = [p.table for p in customer_parts if p is not None]
    token_tables = [p.table for p in token_parts if p is not None]
    if len(customer_tables) < len(customer_parts) or len(token_tables) < len(token_parts):
        return None
    stamps = [p.newest for p in customer_parts if p is not None and p.newest is not None]
    tokens = _concatenated(token_tables).drop_columns(["position"])
    return PackedRead(owned_tokens(_concatenated(customer_tables), tokens),
                      max(stamps) if stamps else None)


def _concatenated(tables: Sequence[pa.Table]) -> pa.Table:
    """The ranges' tables as one, each dictionary as the whole column's values in order
    of first appearance (each range's, then the values new in the next)."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


def _only(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    (row,) = rows
    return row


def _unpacked(row: Sequence[Any], shape: _Shape) -> _Part | None:
    """The table of one query's row, in order; None if a column does not split back
    into its values."""
    newest, packed = (row[0], row[1:]) if shape.stamped else (None, row)
    try:
        table = _in_order(_table(packed[1:], int(packed[0]), shape), shape.keys)
    except _NotExact:
        return None
    return _Part(table, None if newest is None else str(newest))


def _table(packed: Sequence[Any], n: int, shape: _Shape) -> pa.Table:
    """The table of n rows from the null mask and each column's values."""
    mask = _split(packed[0], n, ",").cast(pa.int64()).to_numpy()
    arrays, bit = [], 0
    for name, values in zip(shape.fields, packed[1:], strict=True):
        present = None
        if name in shape.nullable:
            present = (mask >> bit) & 1 == 0
            bit += 1
        arrays.append(_column(name, values, n, present))
    return pa.Table.from_arrays(arrays, names=list(shape.fields))


def _column(name: str, values: str | bytes | None, n: int,
            present: np.ndarray | None) -> pa.Array:
    """One column of n rows from its values that are not NULL (`present`: which rows
    hold one; None: all)."""
    held = n if present is None else int(np.count_nonzero(present))
    column = _split(values, held, "," if name in INTEGERS else SEPARATOR)
    if name in INTEGERS:
        try:
            column = column.cast(pa.int64())
        except pa.ArrowInvalid as exc:  # not an integer the rows would give as one
            raise _NotExact from exc
    if held < n:
        assert present is not None
        rank = np.cumsum(present) - 1
        column = column.take(pa.array(rank, mask=~present))
    return column


def _split(packed: str | bytes | None, held: int, separator: str) -> pa.Array:
    """The `held` values joined in `packed` (None: the database joined none, or one
    empty string), checked to be that many."""
    if packed is None:
        if held > 1:
            raise _NotExact
        return pa.array([""] * held, type=pa.large_string())
    if isinstance(packed, bytes):  # SQLite's: read in place, not copied
        ends = pa.py_buffer(np.array([0, len(packed)], dtype=np.int64))
        whole = pa.LargeStringArray.from_buffers(1, ends, pa.py_buffer(packed))
        try:
            whole.validate(full=True)  # UTF-8, as the driver's own decoding checks
        except pa.ArrowInvalid as exc:  # read as rows, the driver says what is wrong
            raise _NotExact from exc
    else:
        whole = pa.array([packed], type=pa.large_string())
    values = pc.split_pattern(whole, separator).flatten()
    if len(values) != held:  # a value holds the separator
        raise _NotExact
    return values


def _in_order(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """`table` sorted by its unique `keys` (untouched if it already is), its
    low-cardinality columns then dictionary-encoded as `columns_from_rows` encodes
    them (values in order of first appearance)."""
    columns = [table.column(k).to_numpy() for k in keys]
    later = columns[0][1:] > columns[0][:-1]
    if len(keys) == 2:
        later |= (columns[0][1:] == columns[0][:-1]) & (columns[1][1:] > columns[1][:-1])
    if not bool(np.all(later)):
        table = table.take(pa.array(np.lexsort(tuple(reversed(columns)))))
    for at, name in enumerate(table.column_names):
        if name in DICTIONARY:
            encoded = table.column(at).combine_chunks().dictionary_encode()
            table = table.set_column(at, name, encoded.cast(_DICTIONARY_TYPE))
    return table.combine_chunks()

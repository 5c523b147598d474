"""The SQL of a packed read (`doku.engine.packed_columns`): per table, one aggregate
query joining each column's values into one string, over one range of customers.

Per column, its values that are not NULL, joined by SEPARATOR (text) or by commas
(integers); per row, one integer whose bit k says the k-th nullable column is NULL
(`null_mask`). Both databases have a size limit for one value (SQLite 1e9 bytes,
PostgreSQL 1 GB): a whole run is read in ranges of RANGE_ROWS customers (seq), so a
column of one range stays far below it even at kilobytes a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from doku.engine.database import SQLITE
from doku.engine.run_columns import INTS
from doku.engine.snapshots import CUSTOMER_FIELDS, TOKEN_FIELDS
from doku.engine.tables import customers, tokens

SEPARATOR = "\x1f"  # ASCII's unit separator: a control character no audit writes
RANGE_ROWS = 500_000
# `position` is read only to check the tokens' order.
TOKEN_COLUMNS = (*TOKEN_FIELDS, "position")
INTEGERS = INTS | {"position"}
NULLABLE = {table.name: tuple(c.name for c in table.columns if c.nullable)
            for table in (customers, tokens)}
SEQ_SPAN_SQL = "SELECT min(seq), max(seq) FROM customers WHERE run_id = ?"
_SINCE = " AND fetched_at >= ?"
_TOKENS_SINCE = " AND customer_seq IN (SELECT seq FROM customers WHERE run_id = ?{})"


def _joined(backend: str, column: str) -> str:
    if backend == SQLITE:  # a literal separator: char(31) is evaluated again every row
        return (f"group_concat({column}, ',')" if column in INTEGERS
                else f"CAST(group_concat({column}, '{SEPARATOR}') AS BLOB)")
    return (f"string_agg({column}::text, ',')" if column in INTEGERS
            else f"string_agg({column}, chr({ord(SEPARATOR)}))")


def null_mask(backend: str, fields: Sequence[str], nullable: Sequence[str]) -> str:
    """Per row, bit k set if the k-th nullable column of `fields` is NULL."""
    flag = "({} IS NULL)" if backend == SQLITE else "({} IS NULL)::int"
    terms = [f"{flag.format(name)} * {1 << bit}"
             for bit, name in enumerate(f for f in fields if f in nullable)]
    mask = " + ".join(terms) or "0"
    return (f"group_concat({mask}, ',')" if backend == SQLITE
            else f"string_agg(({mask})::text, ',')")


def _rows(backend: str, table: str, fields: Sequence[str], where: str, order: str) -> str:
    """Where the aggregates read from: on SQLite the table itself (read through its
    primary key, in order; a subquery would cost a third more), on PostgreSQL the rows
    in order (its sequential scans start wherever another scan of the table is)."""
    if backend == SQLITE:
        return f"{table} WHERE {where}"
    return f"(SELECT {', '.join(fields)} FROM {table} WHERE {where} ORDER BY {order}) AS r"


def queries(backend: str, since: bool) -> tuple[str, str]:
    """The customers' query (max(fetched_at), count(*), null mask, CUSTOMER_FIELDS) and
    the tokens' (count(*), null mask, TOKEN_COLUMNS). Parameters of a whole read:
    (run_id, first seq, seq after the last) for both; of a read `since`: (run_id,
    since) and (run_id, run_id, since) - a few thousand changed customers, at once
    (bounds on the tokens' seq would have SQLite scan them all)."""
    if since:
        customer_where = f"run_id = ?{_SINCE}"
        token_where = "run_id = ?" + _TOKENS_SINCE.format(_SINCE)
    else:
        customer_where = "run_id = ? AND seq >= ? AND seq < ?"
        token_where = "run_id = ? AND customer_seq >= ? AND customer_seq < ?"
    customer_rows = _rows(backend, "customers", (*CUSTOMER_FIELDS, "fetched_at"),
                          customer_where, "seq")
    token_rows = _rows(backend, "tokens", TOKEN_COLUMNS, token_where,
                       "customer_seq, position")
    customers_sql = (
        f"SELECT max(fetched_at), count(*), "
        f"{null_mask(backend, CUSTOMER_FIELDS, NULLABLE['customers'])}, "
        f"{', '.join(_joined(backend, f) for f in CUSTOMER_FIELDS)} FROM {customer_rows}")
    tokens_sql = (
        f"SELECT count(*), {null_mask(backend, TOKEN_COLUMNS, NULLABLE['tokens'])}, "
        f"{', '.join(_joined(backend, f) for f in TOKEN_COLUMNS)} FROM {token_rows}")
    return customers_sql, tokens_sql


def seq_ranges(first: int | None, last: int | None) -> list[tuple[int, int]]:
    """[first, last] in ranges of RANGE_ROWS seqs (one empty range: no customers)."""
    if first is None or last is None:
        return [(0, 0)]
    return [(start, min(start + RANGE_ROWS, last + 1))
            for start in range(first, last + 1, RANGE_ROWS)]

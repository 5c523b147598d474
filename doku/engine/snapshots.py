"""The store's columnar copy of each finished run (table `run_snapshots`, migration
0006) and the one-transaction read it is made from: the SQL side, mixed into
`doku.engine.store.Store`. The copy itself (Arrow tables, one compressed blob) is
`doku.engine.run_columns`, which only the readers of whole runs import: the store, and
with it `doku tokens`, never loads pyarrow.

A snapshot belongs to one finish of its run (status and `finished_at`); any result
written to the run afterwards deletes it (a trigger on `customers`), so it is never
older than the rows it copies. It is made in three steps: an empty placeholder is
committed (`begin_snapshot`), the run is read (`run_rows`), and the blob is written
only if the placeholder is still there (`fill_snapshot`) - a result written in
between took it away, and the copy read meanwhile is not kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, update

from doku.engine.access import _driver
from doku.engine.database import SQLITE
from doku.engine.reads import StoreReads
from doku.engine.schema import utc_iso
from doku.engine.tables import run_snapshots, runs

FORMAT = 1  # of the blob; a snapshot of another format is ignored (and made again)
TERMINAL = frozenset({"done", "cancelled", "aborted", "interrupted"})
CUSTOMER_FIELDS = (
    "seq", "customer_id", "status", "customer_name", "n_tokens", "n_direct_debit",
    "n_credit_card", "error_kind", "error_message", "http_status", "attempts",
    "attributes", "request_id",
)
TOKEN_FIELDS = (
    "customer_seq", "type", "issuer", "brand", "masked_card", "fingerprint", "token_id",
)
_CUSTOMERS_SQL = (f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM customers WHERE run_id=?"
                  " ORDER BY seq")
_TOKENS_SQL = (f"SELECT {', '.join(TOKEN_FIELDS)} FROM tokens WHERE run_id=?"
               " ORDER BY customer_seq, position")
_CUSTOMERS_STAMPED_SQL = (f"SELECT {', '.join(CUSTOMER_FIELDS)}, fetched_at FROM customers"
                          " WHERE run_id=? ORDER BY seq")
_CUSTOMERS_SINCE_SQL = (f"SELECT {', '.join(CUSTOMER_FIELDS)}, fetched_at FROM customers"
                        " WHERE run_id=? AND fetched_at >= ? ORDER BY seq")
# The changed customers drive the read (their tokens by primary key), not the tokens.
_TOKENS_SINCE_SQL = (
    f"SELECT {', '.join(TOKEN_FIELDS)} FROM tokens WHERE run_id = ? AND customer_seq IN"
    " (SELECT seq FROM customers WHERE run_id = ? AND fetched_at >= ?)"
    " ORDER BY customer_seq, position"
)
_SNAPSHOT_SQL = (
    "SELECT s.data FROM run_snapshots s JOIN runs r ON r.id = s.run_id"
    " WHERE s.run_id = ? AND s.format = ? AND s.data IS NOT NULL"
    " AND s.status = r.status AND s.finished_at = r.finished_at"
)
Rows = list[tuple[Any, ...]]


class StoreSnapshots(StoreReads):
    def run_rows(self, run_id: int) -> tuple[Rows, Rows]:
        """The run's customers (CUSTOMER_FIELDS, input order) and tokens (TOKEN_FIELDS,
        input order), read in one transaction: one snapshot of the store."""
        with self._consistent_read() as fetch:
            return fetch(_CUSTOMERS_SQL, (run_id,)), fetch(_TOKENS_SQL, (run_id,))

    def run_rows_since(self, run_id: int, since: str | None) -> tuple[Rows, Rows]:
        """As `run_rows`, each customer row ending with its `fetched_at`; with `since`
        (ISO-8601 UTC), only customers whose result was written at or after it, and
        their tokens: what a running run's reader reads again
        (`doku.engine.run_columns.LiveColumns`)."""
        with self._consistent_read() as fetch:
            if since is None:
                return (fetch(_CUSTOMERS_STAMPED_SQL, (run_id,)),
                        fetch(_TOKENS_SQL, (run_id,)))
            return (fetch(_CUSTOMERS_SINCE_SQL, (run_id, since)),
                    fetch(_TOKENS_SINCE_SQL, (run_id, run_id, since)))

    @contextmanager
    def _consistent_read(self) -> Iterator[Any]:
        """A function running driver-level SELECTs that all see one snapshot (SQLite: a
        deferred transaction in WAL; PostgreSQL: REPEATABLE READ, read only)."""
        with self._connection() as conn:
            if self.backend == SQLITE:
                db = self._db
                assert db is not None
                db.execute("BEGIN")
                try:
                    yield lambda sql, params: db.execute(sql, params).fetchall()
                finally:
                    db.execute("COMMIT")
                return
            raw = _driver(conn)
            try:
                with raw.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

                    def fetch(sql: str, params: Sequence[Any]) -> Rows:
                        cursor.execute(self._sql(sql), tuple(params))
                        return list(cursor.fetchall())

                    yield fetch
            finally:
                raw.rollback()

    def snapshot_blob(self, run_id: int) -> bytes | None:
        """The run's snapshot if it copies the run as it is now, else None. Read by the
        driver, on PostgreSQL in binary (SQLAlchemy's text transfer would send a
        100 MB blob as 200 MB of hex)."""
        with self._connection() as conn:
            if self._db is not None:
                row = self._db.execute(_SNAPSHOT_SQL, (run_id, FORMAT)).fetchone()
            else:
                raw = _driver(conn)
                try:
                    with raw.cursor(binary=True) as cursor:
                        cursor.execute(self._sql(_SNAPSHOT_SQL), (run_id, FORMAT))
                        row = cursor.fetchone()
                finally:
                    raw.rollback()
        return None if row is None else bytes(row[0])

    def begin_snapshot(self, run_id: int) -> tuple[str, str, str] | None:
        """A finished run's placeholder, committed: (status, finished_at, token) to
        fill; None for a run that is not finished (it gets no snapshot)."""
        with self._read() as conn:
            row = conn.execute(select(runs.c.status, runs.c.finished_at)
                               .where(runs.c.id == run_id)).one_or_none()
        if row is None or row.status not in TERMINAL or row.finished_at is None:
            return None
        status, finished_at, token = str(row.status), str(row.finished_at), utc_iso()
        with self._write() as conn:
            conn.execute(delete(run_snapshots).where(run_snapshots.c.run_id == run_id))
            conn.execute(insert(run_snapshots).values(
                run_id=run_id, status=status, finished_at=finished_at, created_at=token,
                format=FORMAT, data=None))
        return status, finished_at, token

    def fill_snapshot(self, run_id: int, placeholder: tuple[str, str, str], blob: bytes,
                      counts: dict[str, int]) -> bool:
        """Write the blob into its placeholder if it is still there and the run still
        at the same finish; False (nothing kept) otherwise."""
        status, finished_at, token = placeholder
        s = run_snapshots.c
        unchanged = exists().where(runs.c.id == run_id, runs.c.status == status,
                                   runs.c.finished_at == finished_at)
        with self._write() as conn:
            kept = conn.execute(
                update(run_snapshots)
                .where(and_(s.run_id == run_id, s.created_at == token, s.data.is_(None),
                            unchanged))
                .values(data=blob, size=len(blob), **counts)
            ).rowcount
        return bool(kept == 1)

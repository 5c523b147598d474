"""How a Store reaches its database: connections, transactions, fast paths, errors.

SQLite: one connection shared by every thread of the process behind an RLock (one
writer at a time is all SQLite allows anyway; a single connection keeps its page
cache warm). PostgreSQL: a connection from the pool per call and no process-wide
lock, so concurrent writers proceed in parallel. Either way each `_write` is one
transaction, and a failure of the database or driver surfaces as a StoreError naming
the store by its redacted form.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase

from doku.engine.database import (
    POSTGRESQL,
    SQLITE,
    Location,
    begin_kind,
    driver_errors,
    make_engine,
    store_error,
)
from doku.engine.upgrade import UpgradeReport, ensure_current


class StoreAccess:
    location: Location
    engine: Engine
    backend: str  # "sqlite" | "postgresql"
    upgrade_report: UpgradeReport  # what opening found and did to the schema
    _lock: threading.RLock
    _shared: Connection | None  # SQLite's one connection
    _db: sqlite3.Connection | None  # ... and its sqlite3 connection (fast paths)

    def _open(self, location: Location) -> None:
        self.location = location
        self.backend = location.backend
        self._lock = threading.RLock()
        self._errors = driver_errors(location.backend)
        self._shared = None
        self._db = None
        self._statements: dict[UpdateBase, Prepared] = {}
        try:
            self.engine = make_engine(location)
            if self.backend == SQLITE:
                self._shared = self.engine.connect()
                raw = self._shared.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                self._db = raw
        except self._errors as exc:
            raise store_error(exc, location, "open") from None
        try:
            with self._connection("open") as conn:
                self.upgrade_report = ensure_current(conn, location)
        except BaseException:
            self.close()
            raise

    # -- identity ------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The store as messages show it: its file, or its URL without the password."""
        return self.location.where

    @property
    def key(self) -> str:
        """The store's identity for caches (resolved file or redacted URL)."""
        return self.location.key

    @property
    def path(self) -> Path:
        """The SQLite file (`:memory:` for an in-memory store); PostgreSQL stores have
        none (use `where` / `key`)."""
        if self.backend != SQLITE:
            raise AttributeError(f"a {self.backend} store has no file; use .where or .key")
        return Path(self.where)

    def __repr__(self) -> str:
        return f"Store({self.backend}: {self.where})"

    def close(self) -> None:
        with self._lock:
            if self._shared is not None:
                self._shared.close()
            if hasattr(self, "engine"):
                self.engine.dispose()

    # -- connections and transactions ---------------------------------------------------
    @contextmanager
    def _connection(self, doing: str = "use") -> Iterator[Connection]:
        """A connection outside any transaction: SQLite's (holding the lock) or one from
        the pool; driver failures become StoreError ("cannot {doing} the store at ...")."""
        try:
            if self._shared is not None:
                with self._lock:
                    yield self._shared
            else:
                with self.engine.connect() as conn:
                    yield conn
        except self._errors as exc:
            raise store_error(exc, self.location, doing) from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction (one snapshot on both backends)."""
        with self._connection() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction, committed when the block ends (SQLite takes its write
        lock first, so concurrent writers wait their turn instead of failing)."""
        with self._connection() as conn:
            if self.backend == SQLITE:
                begin_kind(conn, "BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _result_write(self) -> Iterator[Transaction]:
        """One write transaction for the per-result hot path (a bulk audit records every
        customer this way). PostgreSQL: as `_write`. SQLite: the same Core statements,
        compiled once, run straight on the driver (SQLAlchemy's per-statement work
        would otherwise triple the cost of a result)."""
        if self._db is None:
            with self._write() as conn:
                yield Transaction(conn, None, self._prepared)
            return
        with self._connection():
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(None, db, self._prepared)
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def _prepared(self, statement: UpdateBase, keys: Sequence[str] = ()) -> Prepared:
        """`statement` compiled for the store's driver once: its SQL and how to order
        its values (SQLite's `?`; PostgreSQL's named `%(name)s` need no order)."""
        prepared = self._statements.get(statement)
        if prepared is None:
            compiled = statement.compile(dialect=self.engine.dialect,
                                         column_keys=list(keys) or None)
            names = tuple(compiled.positiontup or ())
            prepared = Prepared(compiled.string, names, dict(compiled.params))
            self._statements[statement] = prepared
        return prepared

    # -- fast paths ----------------------------------------------------------------------
    def _sql(self, statement: str) -> str:
        """A statement written with `?` placeholders in the driver's own style."""
        return statement if self.backend == SQLITE else statement.replace("?", "%s")

    def _fetch_all(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a big read as plain tuples straight from the driver (no SQLAlchemy
        row objects: a million-token run is read into pandas)."""
        with self._connection() as conn:
            if self._db is not None:
                return self._db.execute(statement, tuple(params)).fetchall()
            raw = _driver(conn)
            with raw.cursor() as cursor:
                cursor.execute(self._sql(statement), tuple(params))
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            raw.rollback()  # ends the driver's implicit read transaction
            return rows

    def _bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """Many rows into `table` inside `conn`'s transaction: executemany on SQLite,
        COPY on PostgreSQL."""
        names = ", ".join(f'"{c}"' for c in columns)  # quoted: `row` is a keyword
        if self.backend == POSTGRESQL:
            copy_in = f"COPY {table} ({names}) FROM STDIN"
            with _driver(conn).cursor() as cursor, cursor.copy(copy_in) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        assert self._db is not None
        self._db.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _driver(conn: Connection) -> Any:
    """The driver's own connection under `conn` (psycopg's, for COPY and fast reads)."""
    return conn.connection.driver_connection


SEQ_QUERY_IDS = 500  # customer IDs a seq query names (SQLite allows 32,766 parameters)


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for SQLite: its SQL, the order of its parameters and the
    values it fixes itself (literals in the statement)."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(params[n] if n in params else self.fixed[n] for n in self.names)


class Transaction:
    """The statements of one `_result_write`: through SQLAlchemy (`conn`) or, on
    SQLite, compiled once and run on the driver (`db`)."""

    def __init__(self, conn: Connection | None, db: sqlite3.Connection | None,
                 prepared: Callable[..., Prepared]) -> None:
        self._conn, self._db, self._prepared = conn, db, prepared

    def first(self, statement: UpdateBase, params: Mapping[str, Any]) -> Any:
        """The first row the statement returns (None when there is none)."""
        if self._conn is not None:
            return self._conn.execute(statement, dict(params)).first()
        assert self._db is not None
        prepared = self._prepared(statement)
        return self._db.execute(prepared.sql, prepared.values(params)).fetchone()

    def seqs_of(self, run_id: int, customer_ids: Sequence[str]) -> dict[str, int] | None:
        """On SQLite, customer ID -> seq of those of run `run_id` among `customer_ids`, in
        one query per 500 IDs (None on PostgreSQL: it marks and returns seqs at once)."""
        if self._db is None:
            return None
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(customer_ids))
        for start in range(0, len(unique), SEQ_QUERY_IDS):
            chunk = unique[start:start + SEQ_QUERY_IDS]
            marks = ", ".join("?" for _ in chunk)
            found.update(self._db.execute(
                "SELECT customer_id, seq FROM customers"
                f" WHERE run_id = ? AND customer_id IN ({marks})", (run_id, *chunk)).fetchall())
        return found

    def first_each(self, statement: UpdateBase,
                   params: Sequence[Mapping[str, Any]]) -> list[Any]:
        """`first` of each execution, in order. PostgreSQL gets them all in one pipeline
        (psycopg's executemany with returning: one round trip instead of one each)."""
        if self._conn is None or len(params) < 2:
            return [self.first(statement, p) for p in params]
        prepared = self._prepared(statement)
        rows = []
        with _driver(self._conn).cursor() as cursor:
            cursor.executemany(prepared.sql, [{**prepared.fixed, **p} for p in params],
                               returning=True)
            while True:
                rows.append(cursor.fetchone())
                if not cursor.nextset():
                    break
        return rows

    def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> None:
        if self._conn is not None:
            self._conn.execute(statement, dict(params))
            return
        assert self._db is not None
        prepared = self._prepared(statement)
        self._db.execute(prepared.sql, prepared.values(params))

    def execute_many(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._conn is not None:
            self._conn.execute(statement, [dict(r) for r in rows])
            return
        assert self._db is not None
        prepared = self._prepared(statement, tuple(rows[0]))
        self._db.executemany(prepared.sql, [prepared.values(r) for r in rows])

"""Two readers of one snapshot of the store, for reads that may run at once.

PostgreSQL: two pooled connections, each in a read-only REPEATABLE READ transaction,
the second importing the first's snapshot (`pg_export_snapshot`, `SET TRANSACTION
SNAPSHOT`): what one sees, the other sees, and their queries run on two server
processes at the same time. SQLite has no way to share a snapshot between
connections: both readers are the store's one connection in one transaction
(`StoreSnapshots._consistent_read`), and run one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from doku.engine.access import _driver
from doku.engine.database import SQLITE
from doku.engine.store import Store

Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
_SNAPSHOT_ISOLATION = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"


@contextmanager
def two_readers(store: Store) -> Iterator[tuple[Fetch, Fetch]]:
    """Two functions running SELECTs (`?` placeholders) that see one snapshot; they
    may be called from two threads at once if they are not the same function."""
    if store.backend == SQLITE:
        with store._consistent_read() as fetch:
            yield fetch, fetch
        return
    from psycopg import sql

    with store._connection() as first, store._connection() as second:
        raws = [_driver(first), _driver(second)]
        try:
            with raws[0].cursor() as exporting, raws[1].cursor() as importing:
                exporting.execute(_SNAPSHOT_ISOLATION)
                exporting.execute("SELECT pg_export_snapshot()")
                (snapshot,) = exporting.fetchone()
                importing.execute(_SNAPSHOT_ISOLATION)
                importing.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}")
                                  .format(sql.Literal(snapshot)))
                yield _fetcher(store, exporting), _fetcher(store, importing)
        finally:
            for raw in raws:
                raw.rollback()


def _fetcher(store: Store, cursor: Any) -> Fetch:
    def fetch(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor.execute(store._sql(statement), tuple(params))
        return list(cursor.fetchall())

    return fetch

"""Bring a store to the schema this code writes: create it, upgrade it in place, or
refuse it.

- empty: the migrations create every table and view;
- written before versioning (SQLite, tables but no `alembic_version`): a backup copy
  next to the file (`doku-audit.sqlite3.backup-<UTC time>`, private), the columns added
  later (`doku.engine.schema.add_missing_columns`), stamped as the baseline 0001, then
  upgraded to HEAD;
- an older revision: backed up (SQLite) and upgraded;
- a revision this code does not know: StoreTooNewError (upgrade doku instead).

Two processes opening a new or old store together never both migrate: SQLite takes
the write lock first (BEGIN IMMEDIATE) and PostgreSQL an advisory lock, both held for
the whole transaction, and the state is read again under the lock. Alembic is driven
here on that connection (no alembic.ini) and imported only when there is work to do.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from doku.engine.database import (
    SQLITE,
    Location,
    begin_kind,
    driver_errors,
    make_engine,
    store_error,
)
from doku.engine.local import private_file
from doku.engine.schema import add_missing_columns
from doku.engine.versioning import (
    BASELINE,
    BEHIND,
    CURRENT,
    HEAD,
    LEGACY,
    TOO_NEW,
    SchemaState,
    read_state,
)
from doku.errors import StoreTooNewError

T = TypeVar("T")
logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key of doku's schema upgrades (any fixed 64-bit number).
ADVISORY_LOCK = 0x646F6B75_0013


@dataclass(frozen=True)
class UpgradeReport:
    """What bringing a store to HEAD found and did."""

    before: SchemaState
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.before.kind != CURRENT

    def describe(self, where: str) -> str:
        """One line for `doku db upgrade` and the log."""
        if not self.changed:
            return f"the store at {where} is up to date (revision {HEAD})"
        if self.before.revision is None and not self.before.has_tables:
            return f"created the store at {where} (revision {HEAD})"
        start = self.before.revision or "an unversioned store"
        line = f"upgraded the store at {where} from {start} to {HEAD}"
        return line + (f"; backup: {self.backup}" if self.backup else "")


def too_new(state: SchemaState, where: str) -> StoreTooNewError:
    return StoreTooNewError(
        f"the store at {where} is at schema revision {state.revision}, newer than this "
        f"doku knows (up to {HEAD}); upgrade doku to use it"
    )


def ensure_current(conn: Connection, location: Location) -> UpgradeReport:
    """Bring the store behind `conn` to HEAD (see the module doc). The fast path, a
    store already at HEAD, is one read and imports nothing more."""
    _end_transaction(conn)
    with conn.begin():
        state = read_state(conn)
    if state.kind == CURRENT:
        return UpgradeReport(state)
    if state.kind == TOO_NEW:
        raise too_new(state, location.where)
    with _migration_lock(conn):
        state = read_state(conn)  # another process may have done it meanwhile
        if state.kind == TOO_NEW:
            raise too_new(state, location.where)
        if state.kind == CURRENT:
            return UpgradeReport(state)
        backup = None
        if state.kind in (LEGACY, BEHIND) and location.path is not None:
            backup = backup_sqlite(location.path)
        if state.kind == LEGACY:
            if conn.dialect.name == SQLITE:
                add_missing_columns(_raw_sqlite(conn))
            _alembic(conn, "stamp", BASELINE)
        _alembic(conn, "upgrade", HEAD)
    report = UpgradeReport(state, backup)
    logger.info("%s", report.describe(location.where))
    return report


def _end_transaction(conn: Connection) -> None:
    if conn.in_transaction():
        conn.commit()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """One transaction holding the store's migration lock until it ends. PostgreSQL:
    a session advisory lock taken before the transaction begins, so the transaction
    sees (catalog included) whatever the previous holder committed."""
    if conn.dialect.name == SQLITE:
        begin_kind(conn, "BEGIN IMMEDIATE")
        with conn.begin():
            yield
        return
    key = {"key": ADVISORY_LOCK}
    with conn.begin():
        conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
    try:
        with conn.begin():
            yield
    finally:
        try:
            with conn.begin():
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
        except SQLAlchemyError:
            pass  # the connection broke, which released the lock too


def _raw_sqlite(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def backup_sqlite(path: Path) -> Path:
    """A consistent private copy of the store next to it, made with SQLite's backup
    API: `<file>.backup-<UTC time>`. It reads through a connection of its own (the
    upgrading one holds the write lock, and SQLite will not copy from a connection
    that is writing), which sees every committed result: no one can write meanwhile."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.backup-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.backup-{stamp}-{n}")
    private_file(target)
    source = sqlite3.connect(path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def alembic_config(conn: Connection) -> Any:
    """Alembic's Config for doku's migrations, running on `conn` (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _alembic(conn: Connection, command_name: str, revision: str) -> None:
    from alembic import command

    getattr(command, command_name)(alembic_config(conn), revision)


def store_state(location: Location) -> SchemaState:
    """The store's schema state, changing nothing (a SQLite file that does not exist
    yet is an empty store and is not created)."""
    if location.backend == SQLITE and location.path is not None and not location.path.exists():
        return SchemaState(None, False)
    return _on_store(location, _read_state)


def upgrade_store(location: Location) -> UpgradeReport:
    """`doku db upgrade`: bring the store to HEAD (creating it when empty)."""
    return _on_store(location, lambda conn: ensure_current(conn, location))


def _read_state(conn: Connection) -> SchemaState:
    with conn.begin():
        return read_state(conn)


def _on_store(location: Location, work: Callable[[Connection], T]) -> T:
    engine = None
    try:
        engine = make_engine(location)
        with engine.connect() as conn:
            return work(conn)
    except driver_errors(location.backend) as exc:
        raise store_error(exc, location, "open") from None
    finally:
        if engine is not None:
            engine.dispose()

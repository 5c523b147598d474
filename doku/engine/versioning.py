"""Which schema revision a store is at, read without importing Alembic.

Opening a store reads `alembic_version` and compares it with `HEAD`: when equal (every
open but the first after an upgrade of doku) nothing else happens. Otherwise
`doku.engine.upgrade` brings the store to `HEAD`, or refuses a store newer than this
code. `REVISIONS` lists the migrations in `doku/engine/migrations/versions/` oldest
first; `tests/test_migrations.py` checks it against Alembic's own view.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from doku.engine.database import SQLITE

BASELINE = "0001"  # the schema of every store written before versioning
REVISIONS = (BASELINE, "0002", "0003", "0004", "0005", "0006")
HEAD = REVISIONS[-1]
VERSION_TABLE = "alembic_version"

EMPTY = "empty"  # no tables yet: created by running the migrations
LEGACY = "legacy"  # tables of the unversioned schema: backed up, stamped, upgraded
BEHIND = "behind"  # an older revision: upgraded
CURRENT = "current"
TOO_NEW = "too new"  # a revision this code does not know: refused


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # None: no version recorded
    has_tables: bool  # the `runs` table exists

    @property
    def kind(self) -> str:
        if self.revision is None:
            return LEGACY if self.has_tables else EMPTY
        if self.revision == HEAD:
            return CURRENT
        return BEHIND if self.revision in REVISIONS else TOO_NEW

    @property
    def upgrade_pending(self) -> bool:
        return self.kind in (EMPTY, LEGACY, BEHIND)

    @property
    def label(self) -> str:
        """The revision as `doku db status` shows it."""
        if self.revision is not None:
            return self.revision
        return "none (unversioned store)" if self.has_tables else "none (empty)"


def read_state(conn: Connection) -> SchemaState:
    """The store's revision and whether it has tables (one or two small queries)."""
    if conn.dialect.name == SQLITE:
        names = {
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='table'"
                f" AND name IN ('{VERSION_TABLE}', 'runs')"
            )
        }
        has_version, has_runs = VERSION_TABLE in names, "runs" in names
    else:
        row = conn.execute(
            text(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL,"
                 " to_regclass('runs') IS NOT NULL")
        ).one()
        has_version, has_runs = bool(row[0]), bool(row[1])
    revision = None
    if has_version:
        revision = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    return SchemaState(revision, has_runs)

"""A columnar copy of each finished run, so a million-token run opens in a second.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

`run_snapshots` holds, per finished run, its customers and tokens as one Arrow IPC
stream (`doku.engine.run_columns`) and the run's counts (the runs list reads
them instead of counting a big run's rows). A snapshot belongs to one finish of its run
(`status`, `finished_at`); any result written to the run afterwards (a late answer, a
retry, a resume) deletes it, by a trigger on the customers table on both backends, so a
snapshot is never older than the rows it copies.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER run_snapshots_stale AFTER UPDATE OF status ON customers
       BEGIN DELETE FROM run_snapshots WHERE run_id = NEW.run_id; END""",
]
_PG_TRIGGERS = [
    # TOAST keeps the blob (compressed already) out of line as it is: pglz would
    # spend CPU on every write and every read for nothing.
    "ALTER TABLE run_snapshots ALTER COLUMN data SET STORAGE EXTERNAL",
    """CREATE FUNCTION doku_run_snapshot_stale() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN DELETE FROM run_snapshots WHERE run_id = NEW.run_id; RETURN NULL; END $$""",
    """CREATE TRIGGER run_snapshots_stale AFTER UPDATE OF status ON customers
       FOR EACH ROW EXECUTE FUNCTION doku_run_snapshot_stale()""",
]


def upgrade() -> None:
    op.create_table(
        "run_snapshots",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer()),
        sa.Column("failed", sa.Integer()),
        sa.Column("pending", sa.Integer()),
        sa.Column("with_tokens", sa.Integer()),
        sa.Column("tokens", sa.Integer()),
        sa.Column("size", sa.Integer()),
        # NULL while the snapshot is being built (see doku.engine.snapshots); last, so
        # reading the counts never touches the blob's pages.
        sa.Column("data", sa.LargeBinary()),
    )
    triggers = _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER run_snapshots_stale" + (
        " ON customers" if op.get_bind().dialect.name == "postgresql" else ""))
    op.drop_table("run_snapshots")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION doku_run_snapshot_stale()")

"""The audit trail: who did what, when, to which object; append-only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

One row per sensitive action (sign-in, lookup, audit start/cancel/resume/retry, reveal,
download or export, run deletion, saved audit and schedule changes), written by
`doku.engine.trail`. The store refuses UPDATE and DELETE on it (a trigger on both
backends, and TRUNCATE on PostgreSQL): entries can only be added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SQLITE_GUARDS = [
    f"""CREATE TRIGGER trail_append_only_{what.lower()} BEFORE {what} ON trail
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"""
    for what in ("UPDATE", "DELETE")
]
_PG_GUARDS = [
    """CREATE FUNCTION doku_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$""",
    """CREATE TRIGGER trail_append_only BEFORE UPDATE OR DELETE ON trail
       FOR EACH ROW EXECUTE FUNCTION doku_trail_append_only()""",
    """CREATE TRIGGER trail_no_truncate BEFORE TRUNCATE ON trail
       FOR EACH STATEMENT EXECUTE FUNCTION doku_trail_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "trail",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=True),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("role", sa.Text()),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object", sa.Text()),
        sa.Column("detail", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        sqlite_autoincrement=True,
    )
    op.create_index("trail_by_time", "trail", ["at"])
    guards = _PG_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("trail")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION doku_trail_append_only()")

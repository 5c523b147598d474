"""Audits run by workers, saved audits and their schedules.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

- `customers.claimed_by` / `claim_until`: a pending customer a worker holds (a batch
  claimed at once), until its lease on the store's clock runs out
  (`doku.engine.claims`).
- `runs.queued_at`: the run is fetched by the queue (any number of workers) rather than
  one process; `runs.saved_audit_id` / `scheduled_for`: the saved audit (series) and the
  schedule slot a run was made for, unique so a slot fires once.
- `workers`: who fetches, with a heartbeat; `saved_audits`, `saved_customers`,
  `schedules`.
- On PostgreSQL, Procrastinate's own schema (the version pinned in requirements.txt):
  its job queue, worker heartbeats and periodic-task bookkeeping.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DOUBLE = sa.Float().with_variant(sqlite.REAL(), "sqlite").with_variant(
    postgresql.DOUBLE_PRECISION(), "postgresql"
)


def _procrastinate_schema() -> str:
    return (files("procrastinate") / "sql" / "schema.sql").read_text(encoding="utf-8")


# Everything Procrastinate's schema creates: its tables, types and functions.
_DROP_PROCRASTINATE = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
    procrastinate_jobs, procrastinate_workers CASCADE;
DO $$ DECLARE f record; BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema() LOOP
    EXECUTE 'DROP FUNCTION ' || f.sig || ' CASCADE';
  END LOOP;
END $$;
DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
    procrastinate_job_to_defer_v1 CASCADE;
"""


def _driver(bind: sa.Connection) -> Any:
    """psycopg's own connection under SQLAlchemy's (for multi-statement scripts)."""
    driver = bind.connection.driver_connection
    assert driver is not None
    return driver


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (a batch copy would trip over the BI views).
    op.add_column("runs", sa.Column("queued_at", sa.Text()))
    op.add_column("runs", sa.Column("saved_audit_id", sa.Integer()))
    op.add_column("runs", sa.Column("scheduled_for", sa.Text()))
    op.create_index("runs_by_schedule_slot", "runs", ["saved_audit_id", "scheduled_for"],
                    unique=True)
    op.add_column("customers", sa.Column("claimed_by", sa.Text()))
    op.add_column("customers", sa.Column("claim_until", DOUBLE))
    op.create_table(
        "workers",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("heartbeat_at", DOUBLE, nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("concurrency", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "saved_audits",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("input_name", sa.Text(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("attribute_columns", sa.Text(), nullable=False,
                  server_default=sa.text("'[]'")),
        sa.Column("token_type", sa.Text()),
        sa.Column("options", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "saved_customers",
        sa.Column("saved_audit_id", sa.Integer(),
                  sa.ForeignKey("saved_audits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text()),
        sa.PrimaryKeyConstraint("saved_audit_id", "seq"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=True),
        sa.Column("saved_audit_id", sa.Integer(),
                  sa.ForeignKey("saved_audits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cron", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("last_slot", sa.Text()),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Straight to psycopg: the schema's `::` casts and `%` must not be read as
        # bind parameters, and it is many statements.
        _driver(bind).execute(_procrastinate_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _driver(bind).execute(_DROP_PROCRASTINATE)
    for table in ("schedules", "saved_customers", "saved_audits", "workers"):
        op.drop_table(table)
    op.drop_index("runs_by_schedule_slot", "runs")
    # Native DROP COLUMN (SQLite >= 3.35): the BI views name only older columns.
    for table, column in (("customers", "claim_until"), ("customers", "claimed_by"),
                          ("runs", "scheduled_for"), ("runs", "saved_audit_id"),
                          ("runs", "queued_at")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

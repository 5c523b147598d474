"""Baseline: the store's schema as it was before versioning (runs, customers, tokens,
rejects; the name/note/archived columns of runs included).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Stores written before versioning hold exactly this and are stamped 0001 on their first
open (after a backup and `doku.engine.schema.add_missing_columns`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# REAL as the first schema declared it; double precision on PostgreSQL (its REAL rounds).
LATENCY = sa.Float().with_variant(sqlite.REAL(), "sqlite").with_variant(
    postgresql.DOUBLE_PRECISION(), "postgresql"
)


def _text(name: str, *, nullable: bool = True, default: str | None = None) -> sa.Column[str]:
    server_default = None if default is None else sa.text(default)
    return sa.Column(name, sa.Text(), nullable=nullable, server_default=server_default)


def _int(name: str, *, nullable: bool = True, default: str | None = None) -> sa.Column[int]:
    server_default = None if default is None else sa.text(default)
    return sa.Column(name, sa.Integer(), nullable=nullable, server_default=server_default)


def _run_ref() -> sa.Column[int]:
    return sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        # As the first schema declared it (no NOT NULL: SQLite's rowid is never null).
        sa.Column("id", sa.Integer(), primary_key=True, nullable=True),
        _text("created_at", nullable=False),
        _text("started_at"),
        _text("finished_at"),
        _text("status", nullable=False),
        _text("env", nullable=False),
        _text("base_url"),
        _text("client_id", nullable=False),
        _text("input_name", nullable=False),
        _text("token_type"),
        _text("options", nullable=False, default="'{}'"),
        _text("attribute_columns", nullable=False, default="'[]'"),
        _int("customers", nullable=False),
        _int("rejected", nullable=False, default="0"),
        _int("duplicates", nullable=False, default="0"),
        _int("blank_rows", nullable=False, default="0"),
        _int("store_token_ids", nullable=False, default="0"),
        _text("error"),
        _int("owner_pid"),
        _text("name"),
        _text("note"),
        _int("archived", nullable=False, default="0"),
        sqlite_autoincrement=True,  # ids are never reused
    )
    op.create_table(
        "customers",
        _run_ref(),
        _int("seq", nullable=False),
        _text("customer_id", nullable=False),
        _text("attributes"),
        _text("status"),
        _text("customer_name"),
        _int("n_tokens"),
        _int("n_direct_debit"),
        _int("n_credit_card"),
        _text("error_kind"),
        _text("error_message"),
        _int("http_status"),
        _text("request_id"),
        _int("attempts", nullable=False, default="0"),
        sa.Column("latency_ms", LATENCY),
        _text("fetched_at"),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )
    op.create_index("customers_by_id", "customers", ["run_id", "customer_id"], unique=True)
    op.create_index("customers_by_status", "customers", ["run_id", "status"])
    op.create_table(
        "tokens",
        _run_ref(),
        _int("customer_seq", nullable=False),
        _int("position", nullable=False),
        _text("type", nullable=False),
        _text("issuer", nullable=False),
        _text("brand"),
        _text("masked_card", nullable=False),
        _text("fingerprint", nullable=False),
        _text("token_id"),
        sa.PrimaryKeyConstraint("run_id", "customer_seq", "position"),
    )
    op.create_table(
        "rejects",
        _run_ref(),
        _int("row", nullable=False),
        _text("value", nullable=False),
        _text("reason", nullable=False),
    )


def downgrade() -> None:
    for table in ("rejects", "tokens", "customers", "runs"):
        op.drop_table(table)

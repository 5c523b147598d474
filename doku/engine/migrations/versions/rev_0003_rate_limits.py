"""The team's shared request schedule: one `rate_limits` row per DOKU client ID.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Every process auditing with DOKU_RATE_LIMIT set takes its send slots from this row
(`doku.engine.slots`), so the team together stays within DOKU's limit; a 429 seen by
any of them sets `paused_until`, which every process honours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Epoch seconds: REAL on SQLite, double precision on PostgreSQL (its REAL is 4 bytes).
DOUBLE = sa.Float().with_variant(sqlite.REAL(), "sqlite").with_variant(
    postgresql.DOUBLE_PRECISION(), "postgresql"
)


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("client_id", sa.Text(), primary_key=True),
        sa.Column("next_at", DOUBLE, nullable=False),
        sa.Column("paused_until", DOUBLE, nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", DOUBLE, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")

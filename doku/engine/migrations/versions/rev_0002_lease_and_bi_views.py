"""A run lease that works across machines (owner_host, heartbeat_at) and the read-only
views for BI tools (bi_runs, bi_customers, bi_tokens, bi_latest_customer_results).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The views are plain SQL over the tables; customer attributes are JSON text on SQLite and
`jsonb` on PostgreSQL (so Metabase or Superset can pick fields). `bi_tokens` never
exposes the raw `token_id` column.
"""

from __future__ import annotations

import textwrap

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

VIEWS = ("bi_latest_customer_results", "bi_tokens", "bi_customers", "bi_runs")


def _count(where: str) -> str:
    return f"(SELECT COUNT(*) FROM customers c WHERE c.run_id = r.id AND {where})"


def _views(attributes: str) -> dict[str, str]:
    """name -> SELECT; `attributes` is the SQL of a customer's attributes column."""
    return {
        "bi_runs": f"""
            SELECT r.id AS run_id, r.name, r.note, r.status, r.archived, r.created_at,
              r.started_at, r.finished_at, r.env, r.base_url, r.client_id, r.input_name,
              r.token_type, r.options, r.attribute_columns, r.customers, r.rejected,
              r.duplicates, r.blank_rows, r.store_token_ids, r.error,
              {_count("c.status = 'fetched'")} AS fetched,
              {_count("c.status = 'failed'")} AS failed,
              {_count("c.status IS NULL")} AS pending,
              {_count("c.n_tokens > 0")} AS with_tokens,
              (SELECT COALESCE(SUM(c.n_tokens), 0) FROM customers c
                WHERE c.run_id = r.id) AS tokens
            FROM runs r""",
        "bi_customers": f"""
            SELECT c.run_id, r.name AS run_name, r.created_at AS run_created_at,
              r.archived AS run_archived, c.seq, c.customer_id, c.customer_name,
              COALESCE(c.status, 'pending') AS status, c.n_tokens, c.n_direct_debit,
              c.n_credit_card, c.error_kind AS error_code, c.error_message, c.http_status,
              c.request_id, c.attempts, c.latency_ms, c.fetched_at,
              {attributes} AS attributes
            FROM customers c JOIN runs r ON r.id = c.run_id""",
        "bi_tokens": f"""
            SELECT t.run_id, c.customer_id, c.customer_name, t.position, t.type, t.issuer,
              t.brand, t.masked_card, t.fingerprint, {attributes} AS attributes
            FROM tokens t
            JOIN customers c ON c.run_id = t.run_id AND c.seq = t.customer_seq""",
        "bi_latest_customer_results": f"""
            SELECT latest.customer_id, latest.run_id, latest.fetched_at,
              latest.customer_name, latest.n_tokens, latest.n_direct_debit,
              latest.n_credit_card, latest.attributes
            FROM (
              SELECT c.customer_id, c.run_id, c.fetched_at, c.customer_name, c.n_tokens,
                c.n_direct_debit, c.n_credit_card, {attributes} AS attributes,
                ROW_NUMBER() OVER (PARTITION BY c.customer_id
                                   ORDER BY c.fetched_at DESC, c.run_id DESC) AS pick
              FROM customers c JOIN runs r ON r.id = c.run_id
              WHERE c.status = 'fetched' AND r.archived = 0
            ) latest
            WHERE latest.pick = 1""",
    }


def upgrade() -> None:
    op.add_column("runs", sa.Column("owner_host", sa.Text()))
    op.add_column("runs", sa.Column("heartbeat_at", sa.Text()))
    postgres = op.get_bind().dialect.name == "postgresql"
    attributes = "c.attributes::jsonb" if postgres else "c.attributes"
    for name, select in _views(attributes).items():
        op.execute(f"CREATE VIEW {name} AS\n{textwrap.dedent(select).strip()}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_column("runs", "heartbeat_at")
    op.drop_column("runs", "owner_host")

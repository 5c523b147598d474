"""The store's tables as SQLAlchemy Core objects: one schema for SQLite and PostgreSQL.

The same tables, columns and indexes as the first (unversioned) SQLite schema, plus the
run lease columns `owner_host` and `heartbeat_at` (0002) and the team's request
schedule `rate_limits` (0003). Timestamps stay ISO-8601 TEXT
(`doku.engine.schema.utc_iso`) and flags INTEGER 0/1, so both backends print identical
values. The migrations in `doku/engine/migrations/versions/` create exactly this;
`tests/test_migrations.py` checks that the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()

# REAL on SQLite (as the first schema declared it), double precision on PostgreSQL
# (its REAL is 4 bytes and would round the latencies SQLite keeps, and the epoch
# seconds of `rate_limits` to minutes).
DOUBLE = Float().with_variant(sqlite.REAL(), "sqlite").with_variant(
    postgresql.DOUBLE_PRECISION(), "postgresql"
)
LATENCY = DOUBLE

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),  # as 0001 declares it
    Column("created_at", Text, nullable=False),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("status", Text, nullable=False),
    Column("env", Text, nullable=False),
    Column("base_url", Text),
    Column("client_id", Text, nullable=False),
    Column("input_name", Text, nullable=False),
    Column("token_type", Text),
    Column("options", Text, nullable=False, server_default=text("'{}'")),
    Column("attribute_columns", Text, nullable=False, server_default=text("'[]'")),
    Column("customers", Integer, nullable=False),
    Column("rejected", Integer, nullable=False, server_default=text("0")),
    Column("duplicates", Integer, nullable=False, server_default=text("0")),
    Column("blank_rows", Integer, nullable=False, server_default=text("0")),
    Column("store_token_ids", Integer, nullable=False, server_default=text("0")),
    Column("error", Text),
    Column("owner_pid", Integer),
    Column("name", Text),
    Column("note", Text),
    Column("archived", Integer, nullable=False, server_default=text("0")),
    # The lease of a running run: which machine holds it and when it last said so.
    Column("owner_host", Text),
    Column("heartbeat_at", Text),
    # 0004: a run fetched by the queue's workers (`doku.engine.claims`) rather than by
    # one process; and a run of a saved audit (its series), fired for one schedule slot.
    Column("queued_at", Text),
    Column("saved_audit_id", Integer),
    Column("scheduled_for", Text),
    Index("runs_by_schedule_slot", "saved_audit_id", "scheduled_for", unique=True),
    sqlite_autoincrement=True,  # ids are never reused, as in the first schema
)

customers = Table(
    "customers",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("attributes", Text),
    Column("status", Text),
    Column("customer_name", Text),
    Column("n_tokens", Integer),
    Column("n_direct_debit", Integer),
    Column("n_credit_card", Integer),
    Column("error_kind", Text),
    Column("error_message", Text),
    Column("http_status", Integer),
    Column("request_id", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("latency_ms", LATENCY),
    Column("fetched_at", Text),
    # 0004: which worker holds this pending customer, until when (store clock, epoch s).
    Column("claimed_by", Text),
    Column("claim_until", DOUBLE),
    PrimaryKeyConstraint("run_id", "seq"),
    Index("customers_by_id", "run_id", "customer_id", unique=True),
    Index("customers_by_status", "run_id", "status"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("customer_seq", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("brand", Text),
    Column("masked_card", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("token_id", Text),
    PrimaryKeyConstraint("run_id", "customer_seq", "position"),
)

rejects = Table(
    "rejects",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("row", Integer, nullable=False),
    Column("value", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

# One DOKU client ID's shared request schedule (doku.engine.slots): times are seconds
# since the epoch on the store's clock (PostgreSQL's, or the SQLite machine's).
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("next_at", DOUBLE, nullable=False),  # the next free send time
    Column("paused_until", DOUBLE, nullable=False, server_default=text("0")),  # after a 429
    Column("updated_at", DOUBLE, nullable=False),  # the clock at the last slot taken
)

# 0004: the fetchers working on queued runs (`doku worker`, a dashboard or CLI joining a
# run), each renewing `heartbeat_at` (store clock, epoch seconds) while it lives.
workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),  # host:pid:random
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # worker | dashboard | cli | api
    Column("started_at", Text, nullable=False),
    Column("heartbeat_at", DOUBLE, nullable=False),
    Column("run_id", Integer),  # the run it fetches now, if any
    Column("concurrency", Integer, nullable=False, server_default=text("0")),
)

# 0004: a named customer list kept in the store, re-audited on demand or on a schedule.
saved_audits = Table(
    "saved_audits",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", Text, nullable=False),
    Column("created_by", Text),
    Column("input_name", Text, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("attribute_columns", Text, nullable=False, server_default=text("'[]'")),
    Column("token_type", Text),
    Column("options", Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

saved_customers = Table(
    "saved_customers",
    metadata,
    Column("saved_audit_id", Integer, ForeignKey("saved_audits.id", ondelete="CASCADE"),
           nullable=False),
    Column("seq", Integer, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("attributes", Text),
    PrimaryKeyConstraint("saved_audit_id", "seq"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),
    Column("saved_audit_id", Integer, ForeignKey("saved_audits.id", ondelete="CASCADE"),
           nullable=False),
    Column("cron", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("created_by", Text),
    Column("last_slot", Text),  # the last slot fired (ISO-8601 UTC), None: never
    sqlite_autoincrement=True,
)

# 0005: the audit trail, append-only (the store's triggers refuse UPDATE and DELETE).
trail = Table(
    "trail",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),
    Column("at", Text, nullable=False),  # ISO-8601 UTC
    Column("actor", Text, nullable=False),  # e-mail address, OS user or DOKU_ACTOR
    Column("via", Text, nullable=False),  # oidc | local | cli | api | worker
    Column("role", Text),
    Column("action", Text, nullable=False),
    Column("object", Text),  # "run 12", "schedule 3", a customer fingerprint, ...
    Column("detail", Text, nullable=False, server_default=text("'{}'")),  # JSON
    Index("trail_by_time", "at"),
    sqlite_autoincrement=True,
)

# 0006: a columnar copy of each finished run (`doku.engine.snapshots`); a trigger on
# customers deletes it when any result of the run is written again.
run_snapshots = Table(
    "run_snapshots",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("status", Text, nullable=False),  # the run's status and finish it copies
    Column("finished_at", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("format", Integer, nullable=False),
    Column("fetched", Integer),
    Column("failed", Integer),
    Column("pending", Integer),
    Column("with_tokens", Integer),
    Column("tokens", Integer),
    Column("size", Integer),
    Column("data", LargeBinary),  # NULL while being built
)

# Read-only views for BI tools (created by migration 0002; see the README).
BI_VIEWS = ("bi_runs", "bi_customers", "bi_tokens", "bi_latest_customer_results")

"""What the store holds (its SQL schema, run and customer states) and the records it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DB_NAME = "doku-audit.sqlite3"
RUN_STATES = ("running", "done", "cancelled", "aborted", "interrupted")
FETCHED = "fetched"
FAILED = "failed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    status TEXT NOT NULL,
    env TEXT NOT NULL,
    base_url TEXT,
    client_id TEXT NOT NULL,
    input_name TEXT NOT NULL,
    token_type TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    attribute_columns TEXT NOT NULL DEFAULT '[]',
    customers INTEGER NOT NULL,
    rejected INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    blank_rows INTEGER NOT NULL DEFAULT 0,
    store_token_ids INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    owner_pid INTEGER
);
CREATE TABLE IF NOT EXISTS customers (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    attributes TEXT,
    status TEXT,
    customer_name TEXT,
    n_tokens INTEGER,
    n_direct_debit INTEGER,
    n_credit_card INTEGER,
    error_kind TEXT,
    error_message TEXT,
    http_status INTEGER,
    request_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    latency_ms REAL,
    fetched_at TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS customers_by_id ON customers(run_id, customer_id);
CREATE INDEX IF NOT EXISTS customers_by_status ON customers(run_id, status);
CREATE TABLE IF NOT EXISTS tokens (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    customer_seq INTEGER NOT NULL,
    position INTEGER NOT NULL,
    type TEXT NOT NULL,
    issuer TEXT NOT NULL,
    brand TEXT,
    masked_card TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    token_id TEXT,
    PRIMARY KEY (run_id, customer_seq, position)
);
CREATE TABLE IF NOT EXISTS rejects (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


def utc_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def data_dir() -> Path:
    return Path(os.environ.get("DOKU_DATA_DIR", "") or "data")


@dataclass(frozen=True)
class RunInfo:
    id: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    status: str
    env: str
    base_url: str | None
    client_id: str
    input_name: str
    token_type: str | None
    options: dict[str, Any]
    attribute_columns: list[str]
    customers: int
    rejected: int
    duplicates: int
    blank_rows: int
    store_token_ids: bool
    error: str | None
    fetched: int
    failed: int
    pending: int
    with_tokens: int
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reject:
    row: int
    value: str
    reason: str

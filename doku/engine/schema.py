"""What the store holds (its SQL schema, run and customer states) and the records it returns."""

from __future__ import annotations

import os
import sqlite3
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
    owner_pid INTEGER,
    name TEXT,
    note TEXT,
    archived INTEGER NOT NULL DEFAULT 0
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
    name: str | None = None  # the analyst's own label ("Nov month-end")
    note: str | None = None
    archived: bool = False  # hidden from pickers and trends, kept for the record

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reject:
    row: int
    value: str
    reason: str


# Columns added after the first release; a store without them gets them on open.
ADDED_RUN_COLUMNS = (
    ("name", "TEXT"),
    ("note", "TEXT"),
    ("archived", "INTEGER NOT NULL DEFAULT 0"),
)
RUN_COLUMNS = (
    "id, created_at, started_at, finished_at, status, env, base_url, client_id, input_name,"
    " token_type, options, attribute_columns, customers, rejected, duplicates, blank_rows,"
    " store_token_ids, error, name, note, archived"
)
MAX_NAME = 120
MAX_NOTE = 2_000


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a store written before the columns above existed up to date (in place)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for name, kind in ADDED_RUN_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")


# Stored texts are bounded, whatever the server or the analyst sent.
MAX_ERROR_TEXT = 500
MAX_CODE = 128


def clip_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "\u2026"


def stored_labels(name: str | None, note: str | None) -> tuple[str | None, str | None]:
    """A run's name and note as stored: trimmed, blank as None, bounded (they are
    shown on every run label)."""
    clean_name = " ".join((name or "").split())[:MAX_NAME] or None
    clean_note = (note or "").strip()[:MAX_NOTE] or None
    return clean_name, clean_note

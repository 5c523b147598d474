"""What the store holds (run and customer states, bounded texts) and the records it returns.

The tables themselves are in `doku.engine.tables` (and their history in
`doku/engine/migrations/`).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DB_NAME = "doku-audit.sqlite3"
# queued: waiting for the queue's workers (PostgreSQL); the rest as before.
RUN_STATES = ("queued", "running", "done", "cancelled", "aborted", "interrupted")
FETCHED = "fetched"
FAILED = "failed"


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
    queued_at: str | None = None  # fetched by the queue's workers (doku.engine.claims)
    saved_audit_id: int | None = None  # a run of this saved audit (its series)
    scheduled_for: str | None = None  # the schedule slot it was fired for

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reject:
    row: int
    value: str
    reason: str


# Columns added to `runs` after the first release, before the schema was versioned: an
# unversioned store without them gets them before it is stamped as revision 0001.
ADDED_RUN_COLUMNS = (
    ("name", "TEXT"),
    ("note", "TEXT"),
    ("archived", "INTEGER NOT NULL DEFAULT 0"),
)
MAX_NAME = 120
MAX_NOTE = 2_000


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring an unversioned SQLite store written before the columns above existed up to
    the baseline (in place; `doku.engine.upgrade` calls it inside its transaction)."""
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

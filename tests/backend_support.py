"""Store URLs for tests that run on both backends.

SQLite: a file in the test's tmp_path. PostgreSQL: the server named by
DOKU_TEST_DATABASE_URL (tests skip without it), one fresh schema per test (set as the
connection's search_path, dropped afterwards), so tests never see each other's runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "DOKU_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")


def pg_server_url() -> str | None:
    """The PostgreSQL server tests may use (None: PostgreSQL tests skip)."""
    return os.environ.get(PG_ENV, "").strip() or None


def needs_pg() -> str:
    url = pg_server_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    return url


@contextmanager
def fresh_pg_schema(server_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema (dropped at the end)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def store_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store on `backend` (skips PostgreSQL without a server)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'doku-audit.sqlite3'}"
        return
    with fresh_pg_schema(needs_pg()) as url:
        yield url

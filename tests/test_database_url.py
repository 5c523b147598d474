"""Where the store is (DOKU_DATABASE_URL, the secrets table, DOKU_DATA_DIR) and how a
database password stays secret: never in a message, repr, log or exception."""

from __future__ import annotations

import logging
import os
import stat
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from doku.engine.database import make_engine, parse_url, resolve, store_error
from doku.engine.store import Store
from doku.errors import ConfigurationError, StoreError
from doku.settings import database_url
from tests.pg_cluster import SERVER_URL_ENV

# Passwords with every awkward character; the prefix keeps one from matching some other
# text of a message by chance (a one-letter password is in every message).
# No NUL: libpq's connection strings are C strings, so no PostgreSQL password holds one.
PASSWORDS = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                    min_size=0, max_size=24).map(
    lambda tail: "Pw$" + tail)


@pytest.fixture(autouse=True)
def no_configured_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("DOKU_") and k != SERVER_URL_ENV]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml


def _url(password: str, port: int = 1, **query: str) -> str:
    return URL.create("postgresql", username="doku", password=password, host="127.0.0.1",
                      port=port, database="audit", query=query).render_as_string(
                          hide_password=False)


def _leaks(password: str, *texts: str) -> list[str]:
    forms = {password, quote(password, safe=""), quote_plus(password)}
    return [t for t in texts for f in forms if f in t]


def test_the_environment_wins_then_the_secrets_table_then_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(f'[doku]\ndatabase_url = "sqlite:///{tmp_path}/from-secrets.db"\n')
    assert resolve().where == f"{tmp_path}/from-secrets.db"
    secrets.write_text(f'[doku]\nDATABASE_URL = "sqlite:///{tmp_path}/upper.db"\n')
    assert resolve().path == tmp_path / "upper.db"
    monkeypatch.setenv("DOKU_DATABASE_URL", "postgres://doku@db.example/audit")
    assert resolve().where == "postgresql+psycopg://doku@db.example/audit"
    assert database_url({}, {}) is None
    monkeypatch.delenv("DOKU_DATABASE_URL")
    secrets.unlink()
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "data"))
    location = resolve()
    assert (location.backend, location.path) == ("sqlite", tmp_path / "data" / "doku-audit.sqlite3")
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert resolve(tmp_path / "x.db").path == tmp_path / "x.db"
    assert resolve(tmp_path / "x.db", url="sqlite://").where == ":memory:"


@pytest.mark.parametrize(("given_url", "where"), [
    ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
    ("postgres://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
    ("postgresql+psycopg://u:pw@h/db?sslmode=require",
     "postgresql+psycopg://u:***@h/db?sslmode=require"),
    ("postgresql://u@h/db?password=pw&sslmode=disable",
     "postgresql+psycopg://u:***@h/db?sslmode=disable"),
    ("sqlite:///relative/store.db", "relative/store.db"),
    ("sqlite:////abs/store.db", "/abs/store.db"),
    ("sqlite://", ":memory:"),
])
def test_accepted_urls_and_how_they_are_shown(given_url: str, where: str) -> None:
    location = parse_url(given_url)
    assert (location.where, location.key if location.backend == "postgresql" else where) == (
        where, where)
    if "pw" in given_url:
        assert location.url.password == "pw"


@pytest.mark.parametrize(("given_url", "message"), [
    ("mysql://u:Pw$secret@h/db", "DOKU_DATABASE_URL: the database 'mysql' is not supported; "
     "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"),
    ("postgresql+asyncpg://u:Pw$secret@h/db", "DOKU_DATABASE_URL: the database "
     "'postgresql+asyncpg' is not supported; use sqlite:///PATH or "
     "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"),
    ("Pw$secret at db", "DOKU_DATABASE_URL is not a database URL; expected sqlite:///PATH "
     "or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"),
    ("postgresql://u:Pw$secret@h:port/db", "DOKU_DATABASE_URL is not a database URL; "
     "expected sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"),
])
def test_other_urls_are_refused_without_echoing_them(given_url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url(given_url)
    assert str(caught.value) == f"configuration error: {message}"


@given(PASSWORDS)
@settings(max_examples=200, deadline=None)
def test_no_form_of_a_location_shows_its_password(password: str) -> None:
    for text in (_url(password), _url("", sslmode="disable") + "&password=" + quote(password)):
        location = parse_url(text)
        assert location.url.password == password
        shown = (location.where, location.key, repr(location), str(location),
                 repr(location.url), str(location.url))
        assert _leaks(password, *shown) == []
        failure = store_error(RuntimeError(f"bad {password} / {quote(password)}"), location)
        assert _leaks(password, str(failure), repr(failure), str(failure.to_dict())) == []


@given(PASSWORDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_a_store_that_cannot_be_reached_says_where_without_the_password(password: str) -> None:
    with pytest.raises(StoreError) as caught:
        Store(url=_url(password))
    exc = caught.value
    text = str(exc)
    assert text.startswith("store error: cannot open the store at "
                           "postgresql+psycopg://doku:***@127.0.0.1:1/audit: ")
    assert "Connection refused" in text
    trace = "".join(traceback.format_exception(exc))
    assert _leaks(password, text, repr(exc), trace) == []


def test_sqlite_connections_are_set_up_for_concurrency(tmp_path: Path) -> None:
    engine = make_engine(resolve(tmp_path / "s.db"))
    with engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")]
    engine.dispose()
    assert pragmas == ["wal", 1, 1, 30_000]


def test_postgres_connections_are_pooled_named_and_logged_without_password(
    caplog: pytest.LogCaptureFixture, pg_url: str,
) -> None:
    caplog.set_level(logging.INFO, logger="doku")
    with Store(url=pg_url) as store:
        password = store.location.url.password or ""
        with store.engine.connect() as conn:
            name = conn.exec_driver_sql("SHOW application_name").scalar()
            jit = conn.exec_driver_sql("SHOW jit").scalar()
        pool = store.engine.pool
        assert (name, pool.size(), store.engine.pool._pre_ping) == ("doku", 20, True)  # type: ignore[attr-defined]
        assert jit == "off"  # short statements: no query compiled
        assert f"created the store at {store.where} (revision" in caplog.text
        assert ":***@" in store.where
        assert _leaks(str(password), caplog.text, repr(store), store.where, store.key) == []

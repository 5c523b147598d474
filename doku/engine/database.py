"""Where the store lives and how to connect to it: SQLite (default) or PostgreSQL.

Resolution: `DOKU_DATABASE_URL` (the environment wins, else the `[doku]` table of
`.streamlit/secrets.toml`, key `database_url`), else the SQLite file
`$DOKU_DATA_DIR/doku-audit.sqlite3` (default `./data`), its folder and file private.
Accepted: `sqlite:///PATH` and `postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`
(`postgresql://` and `postgres://` mean the same).

The password in a URL is a secret, like the DOKU secret key: only `redact`'s form
(password as `***`) is ever shown, logged, raised or stored, and driver errors are
wrapped into a `StoreError` that names the redacted URL (`store_error`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from doku.engine.local import private_file, private_folder
from doku.engine.schema import DB_NAME, data_dir
from doku.errors import ConfigurationError, StoreError
from doku.settings import database_url

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# deadlock_detected, serialization_failure: PostgreSQL aborted the transaction so that
# others could go on; it succeeds when run again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
PSYCOPG = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
# Bulk audits write from up to 16 threads by default; readers (pages, exports) too.
POOL_SIZE = 20
POOL_OVERFLOW = 10
MEMORY = ":memory:"
_HIDDEN = "***"


@dataclass(frozen=True)
class Location:
    """A resolved store: its SQLAlchemy URL (whose repr hides the password) and, for
    SQLite, its file (None for an in-memory store)."""

    url: URL
    backend: str  # SQLITE | POSTGRESQL
    path: Path | None = None

    @property
    def where(self) -> str:
        """What messages show: the SQLite file as given, or the redacted URL."""
        if self.backend == SQLITE:
            return MEMORY if self.path is None else str(self.path)
        return redact(self.url)

    @property
    def key(self) -> str:
        """The store's identity (caches, same-store checks): never holds a password."""
        if self.backend == SQLITE:
            return MEMORY if self.path is None else str(self.path.resolve())
        return redact(self.url)


def redact(url: URL) -> str:
    """The URL with its password (if any) as `***`: the only form ever shown."""
    return url.render_as_string(hide_password=True)


def _secret_forms(url: URL) -> list[str]:
    """Every spelling of the password a message could carry (raw and URL-quoted)."""
    password = url.password
    if not password:
        return []
    forms = {str(password), quote(str(password), safe=""), quote_plus(str(password))}
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text: str, url: URL) -> str:
    """`text` with any spelling of the URL's password replaced by `***`."""
    for form in _secret_forms(url):
        text = text.replace(form, _HIDDEN)
    return text


def parse_url(text: str | URL) -> Location:
    """A database URL as a Location: ConfigurationError (never echoing the URL, which
    may hold a password) when it cannot be read or names another database."""
    try:
        url = make_url(text.strip() if isinstance(text, str) else text)
    except (ArgumentError, ValueError):
        raise ConfigurationError(
            "DOKU_DATABASE_URL is not a database URL; expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    scheme = url.drivername.lower()
    if scheme in _SQLITE_SCHEMES:
        database = url.database or ""
        path = None if database in ("", MEMORY) else Path(database)
        return Location(url.set(drivername=SQLITE), SQLITE, path)
    if scheme not in _POSTGRES_SCHEMES:
        raise ConfigurationError(
            f"DOKU_DATABASE_URL: the database {url.drivername!r} is not supported; "
            "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    url = url.set(drivername=PSYCOPG)
    # libpq also takes ?password=...: moved where SQLAlchemy's repr hides it.
    if "password" in url.query:
        query_password = url.query["password"]
        password = query_password if isinstance(query_password, str) else query_password[0]
        url = url.difference_update_query(["password"]).set(password=url.password or password)
    return Location(url, POSTGRESQL)


def sqlite_location(path: str | Path) -> Location:
    """The SQLite store at `path` (`:memory:` for a private in-memory one)."""
    if str(path) == MEMORY:
        return Location(URL.create(SQLITE), SQLITE, None)
    return Location(URL.create(SQLITE, database=str(path)), SQLITE, Path(path))


def resolve(
    path: str | Path | None = None,
    *,
    url: str | URL | None = None,
    environ: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Location:
    """Where the store is: `url` wins, then `path` (a SQLite file), then the settings
    (see the module doc); the default folder is created private."""
    if url is not None:
        return parse_url(url)
    if path is not None:
        return sqlite_location(path)
    configured = database_url(environ, secrets)
    if configured:
        return parse_url(configured)
    folder = data_dir()
    private_folder(folder)
    return sqlite_location(folder / DB_NAME)


def make_engine(location: Location) -> Engine:
    """An Engine for the location. SQLite: WAL, synchronous=NORMAL, foreign keys, 30 s
    busy timeout, usable from any thread, and BEGIN emitted by us (so a read sees one
    snapshot and a write can take the lock first: see `begin_kind`). PostgreSQL: a pool
    for concurrent writers and readers, checked before use, 10 s connect timeout."""
    if location.backend == SQLITE:
        if location.path is not None:
            private_folder_of(location.path)
            private_file(location.path)
        engine = create_engine(
            location.url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
            poolclass=StaticPool if location.path is None else None,
            hide_parameters=True,  # raw token IDs are bound values: never in messages
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    query = location.url.query
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in query:
        connect_args["application_name"] = "doku"
    if "options" not in query:
        # No JIT: the store's statements are short, and the runs list's correlated
        # counts (never executed once a run has its snapshot) are estimated costly
        # enough for PostgreSQL to spend ~400 ms compiling the query on every call.
        connect_args["options"] = "-c jit=off"
    return create_engine(
        location.url,
        connect_args=connect_args,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def private_folder_of(path: Path) -> None:
    """A store file's folder is created private; an existing one is left as it is
    (the file itself is made private either way)."""
    if not path.parent.exists():
        private_folder(path.parent)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # sqlite3 must not open transactions by itself: `_sqlite_begin` does it.
    dbapi_connection.isolation_level = None
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={BUSY_TIMEOUT_S * 1000}",
    ):
        dbapi_connection.execute(f"PRAGMA {pragma}")


# Connection.info key: the BEGIN the next transaction of that connection starts with.
BEGIN_KEY = "doku_begin"


def begin_kind(conn: Connection, statement: str) -> None:
    """Have the next transaction of a SQLite connection begin with `statement`
    ("BEGIN IMMEDIATE": take the write lock before reading, so two writers queue on the
    busy timeout instead of one failing at once on a stale snapshot)."""
    conn.info[BEGIN_KEY] = statement


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.info.pop(BEGIN_KEY, "BEGIN"))


def store_error(exc: BaseException, location: Location, doing: str = "use") -> StoreError:
    """A driver or SQLAlchemy failure as a StoreError: one line naming the redacted
    store, the password scrubbed from the driver's own text, no SQL or parameters."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    # SQLAlchemy's own errors: the message alone, not the statement and help link
    text = original.args[0] if isinstance(original, SQLAlchemyError) and original.args \
        else original
    detail = " ".join(str(text).split()) or type(original).__name__
    error = StoreError(f"cannot {doing} the store at {location.where}: "
                       f"{scrub(detail, location.url)}")
    error.transient = getattr(original, "sqlstate", None) in TRANSIENT_SQLSTATES
    return error


def driver_errors(backend: str) -> tuple[type[BaseException], ...]:
    """The exceptions a store operation may raise from below (SQLAlchemy's, and the
    driver's own from the raw fast paths: sqlite3, psycopg)."""
    if backend == SQLITE:
        return (SQLAlchemyError, sqlite3.Error)
    import psycopg  # loaded already: the engine's dialect uses it

    return (SQLAlchemyError, psycopg.Error)

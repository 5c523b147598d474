"""Running a test on both store backends: SQLite (the default) and PostgreSQL.

A test that asks for the ``backend`` fixture (directly, through ``backend_store``, or
with the ``both_backends`` mark: ``@both_backends`` or ``pytestmark = both_backends``)
runs twice, with ids ``[sqlite]`` and ``[postgresql]`` (module-scoped parameter: a
parametrized test reads ``[postgresql-<its own id>]``):

- ``sqlite``: no DOKU_DATABASE_URL, so every store the code opens by itself (the app,
  the CLI, the API, ``Store()``) is the file under DOKU_DATA_DIR, as before;
- ``postgresql``: DOKU_DATABASE_URL names a database of the test's own (a copy of one
  migrated once per worker: copying is cheaper than migrating), on the server of
  ``tests.pg_cluster`` (a throw-away cluster, or DOKU_TEST_DATABASE_URL's server), so
  every such store is that database.

A module whose runs are seeded once (a module-scoped fixture) asks for
``module_backend`` in that fixture instead: one database per module and backend; its
tests that write runs of their own also ask for ``backend`` (a database per test). Both
follow the module-scoped parameter ``backend_param``, so a module runs all its tests on
SQLite, then all on PostgreSQL. A test marked ``@sqlite_only("why")`` runs on SQLite
alone though its fixtures follow the parameter (the page tests keep a few tests per
page on PostgreSQL: each costs about twice its SQLite run).

Tests that open a store themselves use ``open_store(folder)``: the configured backend's
store, or the SQLite file in `folder` the code would use with DOKU_DATA_DIR=folder.
Tests that are about SQLite itself (its file, WAL, the legacy upgrade) use none of this.
Outside these DOKU_DATABASE_URL is always unset (`no_shell_database_url`), whatever the
shell says, so no test reaches a developer's database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from doku.engine.database import parse_url
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from doku.settings import DATABASE_URL_KEY
from tests.pg_cluster import PgServer, fresh_database

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)

SQLITE_ONLY = "sqlite_only"

both_backends = pytest.mark.usefixtures("backend")
sqlite_only = pytest.mark.sqlite_only


def backend_url(folder: Path) -> str:
    """The URL of the store the code under test opens: DOKU_DATABASE_URL (the
    ``postgresql`` case), else `folder`'s SQLite file."""
    return os.environ.get(DATABASE_URL_KEY) or f"sqlite:///{(folder / DB_NAME).as_posix()}"


def backend_env() -> dict[str, str]:
    """What a child process needs to open this test's backend, for a test that gives
    it a clean environment (nothing on SQLite: DOKU_DATA_DIR says where)."""
    url = os.environ.get(DATABASE_URL_KEY)
    return {DATABASE_URL_KEY: url} if url else {}


def store_where(folder: Path) -> str:
    """How messages name the store at `backend_url(folder)`: the SQLite file, or the
    URL with its password hidden."""
    return parse_url(backend_url(folder)).where


def open_store(folder: Path) -> Store:
    """The store at `backend_url(folder)`."""
    return Store(url=backend_url(folder))


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server: PgServer) -> Iterator[str]:
    """A database migrated to HEAD once per worker, with nobody connected (a template
    must be idle to be copied); dropped at the end."""
    name = pg_server.create_database()
    try:
        Store(url=pg_server.url(name)).close()  # close() disposes its pool
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def pg_store_url(pg_server: PgServer, pg_migrated_template: str) -> Iterator[str]:
    """A database of this test's own, already at HEAD and empty; dropped afterwards."""
    with fresh_database(pg_server, template=pg_migrated_template) as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{SQLITE_ONLY}(reason): run on SQLite only, though the test's fixtures "
        "would run it on both backends (tests.backend_support)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`backend_param` for every test that uses it (through `backend` or
    `module_backend`): both backends, or SQLite alone for a test marked sqlite_only.
    Module-scoped, so a module runs its tests on SQLite first, then on PostgreSQL, and
    a test asking for both fixtures is not run four times."""
    if "backend_param" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker(SQLITE_ONLY) is not None
        backends = [SQLITE] if only_sqlite else list(BACKENDS)
        metafunc.parametrize("backend_param", backends, indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend_param(request: pytest.FixtureRequest) -> str:
    """Which backend this run of the test uses (see `pytest_generate_tests`)."""
    return POSTGRESQL if request.param == POSTGRESQL else SQLITE


@pytest.fixture
def backend(backend_param: str, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> str:
    """The backend of this run of the test, with a store of the test's own (see the
    module doc); overrides `module_backend`'s store for the test."""
    if backend_param == POSTGRESQL:
        monkeypatch.setenv(DATABASE_URL_KEY, request.getfixturevalue("pg_store_url"))
    return backend_param


@pytest.fixture
def backend_store(backend: str, tmp_path: Path) -> Iterator[Store]:  # noqa: ARG001
    """An empty store on this test's backend (`backend` parametrizes the test); on
    SQLite the file the code would open with DOKU_DATA_DIR=tmp_path."""
    with open_store(tmp_path) as store:
        yield store


@pytest.fixture(scope="module")
def module_backend(backend_param: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """`backend` for runs seeded once per module (ask for it in the module-scoped
    fixture that seeds them): one PostgreSQL database for the module, in
    DOKU_DATABASE_URL until the module's tests are done. Tests that write runs another
    test could see ask for `backend` too (a database of their own)."""
    if backend_param == SQLITE:
        yield SQLITE
        return
    server: PgServer = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_migrated_template")
    with (fresh_database(server, template=template) as url,
          pytest.MonkeyPatch.context() as mp):
        mp.setenv(DATABASE_URL_KEY, url)
        yield POSTGRESQL


@pytest.fixture(scope="session", autouse=True)
def no_shell_database_url() -> Iterator[None]:
    """A DOKU_DATABASE_URL from the shell never reaches a test (``backend`` and
    ``module_backend`` set their own)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATABASE_URL_KEY, raising=False)
        yield

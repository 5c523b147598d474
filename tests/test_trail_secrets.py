"""Whatever the DOKU secret key, the database password (PostgreSQL) and DOKU_ACTOR
(control characters included), no trail entry, command output or log line holds the
secret or the password, and the actor is stored printable; on both backends."""

from __future__ import annotations

import getpass
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from doku.cli.main import main
from doku.engine.store import Store
from doku.settings import DATABASE_URL_KEY
from doku.simulator import SimulatorConfig, start_simulator
from tests.backend_support import POSTGRESQL, backend_url
from tests.pg_cluster import PgServer

# Secrets and passwords as a settings file or URL carries them: no surrounding spaces (the
# settings trim them) and no NUL (an environment variable cannot hold one).
_SOLID = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))
SECRETS = st.text(_SOLID, min_size=16, max_size=40)
PASSWORDS = st.text(_SOLID, min_size=12, max_size=40)
ACTORS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 max_size=60)
CSV = "customer_id\nCUST-0001\nCUST-0002\n"
COMMANDS = (
    ("tokens", "CUST-0001", "--reveal"),
    ("audit", "customers.csv", "--store-token-ids", "--quiet"),
    ("export", "latest", "--what", "tokens", "-o", "out.csv", "--reveal-token-ids"),
    ("saved", "add", "{name}", "customers.csv"),
    ("trail", "--json"),
    ("trail",),
)


def expected_actor(named: str) -> str:
    """DOKU_ACTOR trimmed with its non-printable characters left out, at most 200
    characters ("unknown" when nothing is left); the OS user when it is blank."""
    if not named.strip():
        return getpass.getuser()
    kept = "".join(c for c in named.strip() if c.isprintable()).strip()
    return kept[:200] or "unknown"


@contextmanager
def role_with_password(server: PgServer, database_url: str, password: str) -> Iterator[str]:
    """The test's database, reached as a new role whose password is `password`."""
    role = f"r_{uuid.uuid4().hex}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
    url = make_url(database_url)
    try:
        yield (f"postgresql+psycopg://{role}:{quote(password, safe='')}@{url.host}:{url.port}"
               f"/{url.database}")
    finally:
        with server.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(secret=SECRETS, password=PASSWORDS, actor=ACTORS)
def test_no_secret_in_the_trail_and_actors_printable(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    secret: str, password: str, actor: str,
) -> None:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    (folder / "customers.csv").write_text(CSV, encoding="utf-8")
    sim = start_simulator(SimulatorConfig(secret_key=secret))
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as env, database_as_role(backend, request, password) \
            as url:
        for key in [k for k in os.environ if k.startswith("DOKU_")]:
            env.delenv(key)
        env.chdir(folder)
        env.setenv("DOKU_DATA_DIR", str(folder))
        env.setenv("DOKU_ENV", "sandbox")
        env.setenv("DOKU_BASE_URL", sim.url)
        env.setenv("DOKU_CLIENT_ID", sim.config.client_id)
        env.setenv("DOKU_SECRET_KEY", secret)
        env.setenv("DOKU_ACTOR", actor)
        if url is not None:
            env.setenv(DATABASE_URL_KEY, url)
        store_url = url or backend_url(folder)
        before = _last_entry(store_url)  # PostgreSQL: one database for every example
        name = f"Monthly {uuid.uuid4().hex}"
        try:
            codes = [main([word.format(name=name) for word in command]) for command in COMMANDS]
        finally:
            sim.stop()
        with Store(url=store_url) as store, store.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT at, actor, via, role, action, object, detail FROM trail WHERE id > :id"
                " ORDER BY id"), {"id": before}).all()
    out, err = capsys.readouterr()
    assert codes == [0] * len(COMMANDS), err
    assert [r.action for r in rows] == [
        "lookup", "reveal", "audit_start", "export", "reveal", "saved_add"]
    assert {r.actor for r in rows} == {expected_actor(actor)}
    assert expected_actor(actor).isprintable()
    for what, shown in [("trail", repr([tuple(r) for r in rows])), ("stdout", out),
                        ("stderr", err), ("logs", caplog.text)]:
        assert secret not in shown, what
        assert password not in shown, what


def _last_entry(url: str) -> int:
    with Store(url=url) as store, store.engine.connect() as conn:
        return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM trail")).scalar_one())


@contextmanager
def database_as_role(backend: str, request: pytest.FixtureRequest,
                       password: str) -> Iterator[str | None]:
    """PostgreSQL: the test's database as a role with `password`; SQLite: None (a file
    has no password)."""
    if backend != POSTGRESQL:
        yield None
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with role_with_password(server, os.environ[DATABASE_URL_KEY], password) as url:
        yield url

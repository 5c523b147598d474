"""A real PostgreSQL for the tests: a throw-away cluster, or the server CI names.

Fixtures (registered in conftest.py):

- ``pg_server`` (session): a `PgServer`. With ``DOKU_TEST_DATABASE_URL`` set (a server URL
  whose user may CREATE DATABASE, e.g. ``postgresql+psycopg://ci:pw@db:5432/postgres``)
  that server is used and nothing is started. Otherwise each xdist worker starts its own
  cluster (initdb + start: about 1.5 s; simpler than sharing one across workers):
  initdb into a fresh temporary folder, run as a non-root user, password authentication
  (scram-sha-256) on 127.0.0.1 only, a free port, durability off; stopped and deleted at
  the end of the session.
- ``pg_url`` (function): a fresh empty database for one test, as a
  ``postgresql+psycopg://user:password@127.0.0.1:PORT/t_<hex>`` URL; dropped afterwards
  (WITH (FORCE): connections a test left open do not keep it alive).
- ``store_url`` (function, ids ``sqlite`` / ``postgresql``): the test runs once on a
  SQLite file in tmp_path and once on a ``pg_url``.

The password is generated per cluster and reaches initdb through a 0600 file that is
deleted at once; it is never on a command line (``ps`` shows argv to every user).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import psycopg
import pytest
from psycopg import sql

SERVER_URL_ENV = "DOKU_TEST_DATABASE_URL"
POSTGRES_ROOT = Path("/usr/lib/postgresql")  # Debian: one <version>/bin per installed major
URL_SCHEME = "postgresql+psycopg"
SUPERUSER = "doku_test"
ADMIN_DB = "postgres"
FALLBACK_ACCOUNT = "doku-pgtest"  # created when running as root without Debian's `postgres`
START_ATTEMPTS = 5  # a free port can be taken by another worker before the server binds it
# A throw-away cluster needs no durability: these make initdb, CREATE DATABASE and every
# commit skip fsync. The socket folder is the cluster's own (not /var/run/postgresql).
SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
)
INSTALL_HINT = (
    f"PostgreSQL is not installed (no {POSTGRES_ROOT}/*/bin/initdb): run `make postgres` "
    f"(apt-get install postgresql), or set {SERVER_URL_ENV} to a server URL"
)


@dataclass(frozen=True)
class PgServer:
    """Where a PostgreSQL server listens and the account that may create databases."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    admin_db: str = ADMIN_DB
    options: tuple[tuple[str, str], ...] = ()  # URL query parameters, e.g. sslmode

    def url(self, dbname: str) -> str:
        """A SQLAlchemy URL for `dbname`; user and password percent-encoded."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "?" + urlencode(self.options) if self.options else ""
        return f"{URL_SCHEME}://{auth}@{host}:{self.port}/{quote(dbname, safe='')}{query}"

    def connect(self, dbname: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection (CREATE/DROP DATABASE refuse to run in a transaction)."""
        params: dict[str, Any] = {"connect_timeout": 10, **dict(self.options)}
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            dbname=dbname or self.admin_db, autocommit=True, **params,
        )

    def create_database(self, template: str | None = None) -> str:
        """A new database named t_<hex>: empty, or a copy of `template` (a database
        nobody is connected to, e.g. one a session fixture migrated once)."""
        name = f"t_{uuid.uuid4().hex}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(create)
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def server_from_url(url: str) -> PgServer:
    """Parse `postgresql[+driver]://user:pw@host:port/db?opts`; db is the admin database."""
    parts = urlsplit(url)
    if not re.fullmatch(r"postgres(ql)?(\+\w+)?", parts.scheme):
        # Never echo the URL: it holds a password.
        raise ValueError(f"{SERVER_URL_ENV} must be a postgresql:// URL")
    return PgServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        admin_db=unquote(parts.path.lstrip("/")) or ADMIN_DB,
        options=tuple(parse_qsl(parts.query)),
    )


@contextmanager
def fresh_database(server: PgServer, template: str | None = None) -> Iterator[str]:
    """A new database's URL (empty, or a copy of `template`), dropped on exit even if
    connections to it are still open."""
    name = server.create_database(template)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", folder.name))


def find_pg_bin(root: Path = POSTGRES_ROOT) -> Path | None:
    """The bin folder of the highest installed major (numerically: 15 beats 9.6)."""
    versions = [bin_dir.parent for bin_dir in root.glob("*/bin")
                if os.access(bin_dir / "initdb", os.X_OK)]
    if not versions:
        return None
    return max(versions, key=_version_key) / "bin"


@dataclass(frozen=True)
class Account:
    """Whom the server processes run as: None when we are not root (run as ourselves)."""

    uid: int
    gid: int


def server_account() -> Account | None:
    """Debian's `postgres` user when root (PostgreSQL refuses to run as root), else ours."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_ACCOUNT):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(entry.pw_uid, entry.pw_gid)
    # Several xdist workers may race here; useradd's "already exists" is fine.
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--shell", "/usr/sbin/nologin", FALLBACK_ACCOUNT],
        capture_output=True, check=False,
    )
    entry = pwd.getpwnam(FALLBACK_ACCOUNT)
    return Account(entry.pw_uid, entry.pw_gid)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ThrowAwayCluster:
    """initdb + pg_ctl in a temporary folder owned by the server's account."""

    def __init__(self, bin_dir: Path, account: Account | None) -> None:
        self.bin_dir = bin_dir
        self.account = account
        self.folder = Path(tempfile.mkdtemp(prefix="doku-pgtest-"))  # also the socket dir
        self.data_dir = self.folder / "data"
        self.log_file = self.folder / "server.log"
        self.password = secrets.token_urlsafe(24)
        self.server: PgServer | None = None
        if account is not None:
            os.chown(self.folder, account.uid, account.gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Child processes get no PG* variables of ours (PGPORT, PGDATA, PGPASSWORD...),
        # and run in the cluster folder: the server account may not enter our cwd.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        drop: dict[str, Any] = {} if self.account is None else {
            "user": self.account.uid, "group": self.account.gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], cwd=self.folder, env=env,
            capture_output=True, text=True, check=False, timeout=120, **drop,
        )

    def _initdb(self) -> None:
        pwfile = self.folder / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.password + "\n")
            if self.account is not None:
                os.chown(pwfile, self.account.uid, self.account.gid)
            done = self._run(
                "initdb", "-D", str(self.data_dir), f"--username={SUPERUSER}",
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
                "--no-locale", "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _pg_ctl_start(self, port: int) -> bool:
        options = " ".join((f"-p {port}", f"-k {self.folder}", *SERVER_SETTINGS))
        done = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                         "-o", options, "-w", "-t", "60", "start")
        return done.returncode == 0

    def start(self) -> PgServer:
        """initdb, then start on a free port (another one if it was taken meanwhile)."""
        self._initdb()
        for _ in range(START_ATTEMPTS):
            port = _free_loopback_port()
            if self._pg_ctl_start(port):
                # pg_ctl -w returned once the server accepts connections; prove it with
                # the password, which is what every test will do.
                server = PgServer("127.0.0.1", port, SUPERUSER, self.password)
                server.connect().close()
                self.server = server
                return server
        log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start after {START_ATTEMPTS} ports:\n{log}")

    def stop(self) -> None:
        """Immediate stop (nothing to keep) and delete the folder; safe to call twice."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.server = None


def start_cluster() -> ThrowAwayCluster:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    cluster = ThrowAwayCluster(bin_dir, server_account())
    # A worker killed before session teardown still stops its server at interpreter exit.
    atexit.register(cluster.stop)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[ThrowAwayCluster | None]:
    """This worker's own cluster, or None when CI names a server."""
    if os.environ.get(SERVER_URL_ENV):
        yield None
        return
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_server(pg_cluster: ThrowAwayCluster | None) -> PgServer:
    if pg_cluster is None:
        return server_from_url(os.environ[SERVER_URL_ENV])
    assert pg_cluster.server is not None
    return pg_cluster.server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'doku-audit.sqlite3').as_posix()}"
    url: str = request.getfixturevalue("pg_url")  # started only when a test needs it
    return url

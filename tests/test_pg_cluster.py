"""The tests' own PostgreSQL (tests/pg_cluster.py) and `make postgres`, which installs it."""

from __future__ import annotations

import os
import pwd
import re
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from tests.pg_cluster import (
    SUPERUSER,
    PgServer,
    ThrowAwayCluster,
    find_pg_bin,
    fresh_database,
    server_account,
    server_from_url,
    start_cluster,
)

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"
TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


@pytest.fixture
def own_cluster(pg_cluster: ThrowAwayCluster | None) -> ThrowAwayCluster:
    """The cluster this worker started; tests about how it runs need it to be local."""
    if pg_cluster is None:
        pytest.skip("DOKU_TEST_DATABASE_URL names the server: no cluster started here")
    return pg_cluster


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, IPv4 and IPv6, from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == TCP_LISTEN and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.mark.usefixtures("own_cluster")
def test_cluster_accepts_its_password_on_loopback_only(pg_server: PgServer) -> None:
    with pg_server.connect() as conn:
        settings = conn.execute(
            "SELECT host(inet_server_addr()), current_setting('listen_addresses'),"
            " current_setting('password_encryption'), current_setting('fsync')").fetchone()
        rules = conn.execute(
            "SELECT type, address, auth_method FROM pg_hba_file_rules"
            " WHERE 'all' = ANY(database) ORDER BY line_number").fetchall()
    assert settings == ("127.0.0.1", "127.0.0.1", "scram-sha-256", "off")
    assert rules == [("local", None, "scram-sha-256"),
                     ("host", "127.0.0.1", "scram-sha-256"),
                     ("host", "::1", "scram-sha-256")]
    assert listening_addresses(pg_server.port) == {"127.0.0.1"}


@pytest.mark.usefixtures("own_cluster")
@pytest.mark.parametrize("password", ["wrong", ""], ids=["wrong", "none"])
def test_cluster_refuses_a_wrong_or_missing_password(
        pg_server: PgServer, password: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))  # no ~/.pgpass fallback
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(host="127.0.0.1", port=pg_server.port, user=SUPERUSER,
                        password=password, dbname="postgres", connect_timeout=10)
    expected = (f'password authentication failed for user "{SUPERUSER}"' if password
                else "fe_sendauth: no password supplied")
    assert expected in str(refused.value)


def test_cluster_runs_as_a_non_root_account_with_no_password_on_show(
        own_cluster: ThrowAwayCluster, pg_server: PgServer) -> None:
    postmaster_pid = int((own_cluster.data_dir / "postmaster.pid").read_text().split()[0])
    status = Path(f"/proc/{postmaster_pid}/status").read_text()
    uid_line = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert uid_line is not None
    real_uid = int(uid_line.group(1))
    account = server_account()
    assert real_uid == (os.getuid() if account is None else account.uid) != 0

    commands = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                              check=True).stdout
    server_lines = [line for line in commands.splitlines()
                    if str(own_cluster.data_dir) in line and f"-p {pg_server.port}" in line]
    assert len(server_lines) == 1, commands  # ps does show the server (argv is public)
    assert pg_server.password not in commands
    assert pg_server.password not in own_cluster.log_file.read_text()
    assert pg_server.password not in repr(pg_server)
    # The password file initdb read is gone; the folder holds only what the server needs.
    assert sorted(p.name for p in own_cluster.folder.iterdir()) == [
        f".s.PGSQL.{pg_server.port}", f".s.PGSQL.{pg_server.port}.lock", "data", "server.log"]


def test_pg_url_is_a_psycopg_url_of_a_fresh_empty_database(pg_url: str,
                                                           pg_server: PgServer) -> None:
    parts = urlsplit(pg_url)
    assert parts.scheme == "postgresql+psycopg"
    assert (parts.hostname, parts.port) == (pg_server.host, pg_server.port)
    assert unquote(parts.username or "") == pg_server.user
    assert unquote(parts.password or "") == pg_server.password != ""
    assert re.fullmatch(r"/t_[0-9a-f]{32}", parts.path)
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        name, tables = conn.execute(
            "SELECT current_database(), (SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = 'public')").fetchone() or (None, None)
    assert (name, tables) == (parts.path[1:], 0)


def database_names(server: PgServer) -> set[str]:
    with server.connect() as conn:
        return {str(row[0]) for row in conn.execute("SELECT datname FROM pg_database")}


def test_databases_are_isolated_and_dropped_even_while_connected(pg_server: PgServer) -> None:
    with fresh_database(pg_server) as url_a, fresh_database(pg_server) as url_b:
        name_a, name_b = urlsplit(url_a).path[1:], urlsplit(url_b).path[1:]
        assert name_a != name_b
        lingering = pg_server.connect(name_a)  # a test that forgot to close its connection
        lingering.execute("CREATE TABLE marker (n int)")
        lingering.execute("INSERT INTO marker VALUES (7)")
        with pg_server.connect(name_b) as other:
            assert other.execute("SELECT to_regclass('public.marker')").fetchone() == (None,)
        assert {name_a, name_b} <= database_names(pg_server)
    assert not {name_a, name_b} & database_names(pg_server)
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")  # FORCE ended it
    lingering.close()


def test_a_database_can_be_a_copy_of_a_template(pg_server: PgServer) -> None:
    with fresh_database(pg_server) as template_url:
        template = urlsplit(template_url).path[1:]
        with pg_server.connect(template) as conn:
            conn.execute("CREATE TABLE schema_version (v int); INSERT INTO schema_version VALUES (3)")
        with (fresh_database(pg_server, template=template) as copy_url,
              pg_server.connect(urlsplit(copy_url).path[1:]) as copy):
            assert copy.execute("SELECT v FROM schema_version").fetchall() == [(3,)]


def test_store_url_runs_once_on_each_backend(store_url: str, request: pytest.FixtureRequest,
                                             tmp_path: Path) -> None:
    backend = request.node.callspec.id
    if backend == "sqlite":
        assert store_url == f"sqlite:///{tmp_path}/doku-audit.sqlite3"
        assert store_url.startswith("sqlite:////")  # an absolute path
    else:
        assert backend == "postgresql"
        server = request.getfixturevalue("pg_server")
        assert urlsplit(store_url).path[1:] in database_names(server)
        assert store_url.startswith("postgresql+psycopg://")


@pytest.mark.slow
@pytest.mark.usefixtures("own_cluster")  # needs the binaries, which CI's server may not bring
def test_stopped_cluster_is_gone() -> None:
    cluster = start_cluster()  # a second one: stopping this worker's would end other tests
    server = cluster.server
    assert server is not None
    server.connect().close()
    cluster.stop()
    assert not cluster.folder.exists()
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        server.connect()


def test_highest_installed_major_is_found_numerically(tmp_path: Path) -> None:
    assert find_pg_bin(tmp_path) is None
    for version, has_initdb in [("9.6", True), ("13", True), ("15", True), ("16", False)]:
        (tmp_path / version / "bin").mkdir(parents=True)
        if has_initdb:
            initdb = tmp_path / version / "bin" / "initdb"
            initdb.write_text("#!/bin/sh\n")
            initdb.chmod(initdb.stat().st_mode | stat.S_IXUSR)
    assert find_pg_bin(tmp_path) == tmp_path / "15" / "bin"


def test_a_server_url_from_ci_is_parsed_and_rebuilt() -> None:
    server = server_from_url(
        "postgresql+psycopg://ci%40corp:p%40ss%2Fw%3A@db.example:6543/admin?sslmode=require")
    assert server == PgServer("db.example", 6543, "ci@corp", "p@ss/w:", "admin",
                              (("sslmode", "require"),))
    assert server.url("t_1") == (
        "postgresql+psycopg://ci%40corp:p%40ss%2Fw%3A@db.example:6543/t_1?sslmode=require")
    assert "p@ss" not in repr(server)
    assert server_from_url("postgresql://u@[::1]/").url("d") == "postgresql+psycopg://u@[::1]:5432/d"
    with pytest.raises(ValueError, match=r"^DOKU_TEST_DATABASE_URL must be a postgresql:// URL$"):
        server_from_url("mysql://u:secret@h/db")


def run_make_postgres(root: Path, tmp_path: Path, **run: Any) -> subprocess.CompletedProcess[str]:
    """`make postgres` against a fake install root, apt-get replaced by a logging script."""
    fake_apt = tmp_path / "fake-apt-get"
    fake_apt.write_text(f'#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> {tmp_path}/apt.log\n')
    fake_apt.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOKU_TEST_DATABASE_URL", "DEBIAN_FRONTEND")}
    return subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "postgres", f"POSTGRES_ROOT={root}",
         f"APT_GET={fake_apt}"], cwd="/", env=env, capture_output=True, text=True,
        check=False, timeout=60, **run)


def test_make_postgres_does_nothing_when_installed(tmp_path: Path) -> None:
    initdb = tmp_path / "root" / "15" / "bin" / "initdb"
    initdb.parent.mkdir(parents=True)
    initdb.write_text("#!/bin/sh\n")
    initdb.chmod(0o755)
    done = run_make_postgres(tmp_path / "root", tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (tmp_path / "apt.log").exists()


def test_make_postgres_installs_with_apt_get_as_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("apt-get runs only as root")
    (tmp_path / "root" / "15" / "bin").mkdir(parents=True)  # a bin folder without initdb
    done = run_make_postgres(tmp_path / "root", tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "installing postgresql (apt-get)\n", "")
    assert (tmp_path / "apt.log").read_text().splitlines() == [
        " update -q", "noninteractive install -y -q postgresql"]


def test_make_postgres_tells_a_non_root_user_what_to_run(tmp_path: Path) -> None:
    # As root, run make as `nobody` (who cannot see tmp_path: nothing is found there).
    nobody = pwd.getpwnam("nobody")
    as_nobody = ({"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
                 if os.geteuid() == 0 else {})
    done = run_make_postgres(tmp_path / "missing", tmp_path, **as_nobody)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"error: PostgreSQL is missing ({tmp_path}/missing/*/bin/initdb);"
        " run: sudo apt-get install -y postgresql")
    assert not (tmp_path / "apt.log").exists()

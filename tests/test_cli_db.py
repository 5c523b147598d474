"""`doku db status` and `doku db upgrade`: the store's schema version and its upgrade,
run in-process; the store is shown as its file or its URL without the password."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from doku.engine.versioning import HEAD
from tests.pg_cluster import SERVER_URL_ENV
from tests.test_cli import Result, doku
from tests.test_migrations import LEGACY_STORE

SECRET = "Pw$not-for-your-eyes"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("DOKU_") and k != SERVER_URL_ENV]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def _json(result: Result) -> dict[str, object]:
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    assert isinstance(data, dict)
    return data


def test_db_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = doku(capsys, "--help")
    assert result.code == 0
    assert "    db        the store's schema version; upgrade it\n" in result.out


def test_status_and_upgrade_of_a_new_store(capsys: pytest.CaptureFixture[str],
                                           data_dir: Path) -> None:
    db = data_dir / DB_NAME
    status = doku(capsys, "db", "status")
    assert (status.code, status.err) == (0, "")
    assert status.out == (f"backend: sqlite\nstore: {db}\nrevision: none (empty)\n"
                          f"head: {HEAD}\nupgrade pending: yes (`doku db upgrade`, or any "
                          "command, upgrades it)\n")
    assert not db.exists()  # status changes nothing
    upgrade = doku(capsys, "db", "upgrade")
    assert (upgrade.code, upgrade.out, upgrade.err) == (
        0, f"created the store at {db} (revision {HEAD})\n", "")
    assert _json(doku(capsys, "db", "status", "--json")) == {
        "backend": "sqlite", "store": str(db), "revision": HEAD, "head": HEAD,
        "state": "current", "upgrade_pending": False}
    again = doku(capsys, "db", "upgrade")
    assert again.out == f"the store at {db} is up to date (revision {HEAD})\n"


def test_an_unversioned_store_is_upgraded_with_a_backup(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    data_dir.mkdir()
    db = data_dir / DB_NAME
    shutil.copy(LEGACY_STORE, db)
    status = doku(capsys, "db", "status")
    assert "revision: none (unversioned store)\n" in status.out
    assert "upgrade pending: yes" in status.out
    report = _json(doku(capsys, "db", "upgrade", "--json"))
    backup = Path(str(report.pop("backup")))
    assert report == {"backend": "sqlite", "store": str(db), "from": None,
                      "from_state": "legacy", "to": HEAD, "changed": True}
    assert backup.parent == data_dir
    assert backup.name.startswith(f"{DB_NAME}.backup-")
    assert backup.is_file()
    assert _json(doku(capsys, "db", "status", "--json"))["upgrade_pending"] is False


def test_a_store_newer_than_doku_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    data_dir.mkdir()
    db = data_dir / DB_NAME
    Store(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE alembic_version SET version_num='0099'")
    status = doku(capsys, "db", "status")
    assert status.out.splitlines()[2:] == [
        "revision: 0099", f"head: {HEAD}", "upgrade pending: no",
        "this store was written by a newer doku: upgrade doku to use it"]
    for command in (("runs",), ("db", "upgrade")):
        refused = doku(capsys, *command)
        assert (refused.code, refused.out) == (1, "")
        assert refused.err == (
            f"error: store too new: the store at {db} is at schema revision 0099, newer "
            f"than this doku knows (up to {HEAD}); upgrade doku to use it\n")


@pytest.mark.parametrize(("url", "err"), [
    ("mysql://doku:" + SECRET + "@db/audit",
     "error: configuration error: DOKU_DATABASE_URL: the database 'mysql' is not supported; "
     "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE\n"),
    ("postgresql://doku:" + SECRET + "@127.0.0.1:1/audit",
     "error: store error: cannot open the store at postgresql+psycopg://doku:***@127.0.0.1:1"
     "/audit: connection failed: connection to server at \"127.0.0.1\", port 1 failed: "
     "Connection refused Is the server running on that host and accepting TCP/IP "
     "connections?\n"),
])
def test_a_bad_or_unreachable_database_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, err: str
) -> None:
    monkeypatch.setenv("DOKU_DATABASE_URL", url)
    for command in (("db", "status"), ("db", "upgrade"), ("runs", "--json")):
        result = doku(capsys, *command)
        assert (result.code, result.out, result.err) == (1, "", err)


def test_status_and_upgrade_on_postgres(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    monkeypatch.setenv("DOKU_DATABASE_URL", pg_url)
    before = _json(doku(capsys, "db", "status", "--json"))
    store = str(before.pop("store"))
    assert before == {"backend": "postgresql", "revision": None, "head": HEAD,
                      "state": "empty", "upgrade_pending": True}
    assert store.startswith("postgresql+psycopg://")
    assert ":***@" in store
    upgrade = doku(capsys, "db", "upgrade")
    assert upgrade.out == f"created the store at {store} (revision {HEAD})\n"
    password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in upgrade.out + store
    assert _json(doku(capsys, "db", "status", "--json"))["state"] == "current"

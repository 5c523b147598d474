"""The versioned schema: a new store is created by the migrations and matches the
tables; a store from before versioning is backed up and upgraded in place; an older
revision is upgraded; a newer one is refused; processes opening a store together
migrate it once; the BI views read what the store holds."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from doku.engine.store import Store
from doku.engine.tables import BI_VIEWS, metadata
from doku.engine.upgrade import alembic_config
from doku.engine.versioning import BASELINE, CURRENT, EMPTY, HEAD, LEGACY, REVISIONS
from doku.errors import StoreTooNewError
from doku.models import DIRECT_DEBIT, Token

ROOT = Path(__file__).resolve().parent.parent
LEGACY_STORE = ROOT / "tests" / "data" / "legacy_store" / "doku-audit.sqlite3"
LATER_COLUMNS = ("owner_host", "heartbeat_at",  # added by 0002
                 "queued_at", "saved_audit_id", "scheduled_for")  # added by 0004
LATER_CUSTOMER_COLUMNS = ("claimed_by", "claim_until")  # added by 0004
LATER_TABLES = ("rate_limits",  # added by 0003
                "schedules", "saved_customers", "saved_audits", "workers",  # 0004
                "trail",  # 0005 (its append-only triggers go with it)
                "run_snapshots")  # 0006 (its trigger is on customers: dropped below)


def unversion(db: Path, drop: Sequence[str] = ()) -> None:
    """Make a store this code wrote what the release before versioning wrote (and,
    with `drop`, one from before those `runs` columns existed)."""
    with sqlite3.connect(db) as raw:
        for view in BI_VIEWS:
            raw.execute(f"DROP VIEW {view}")
        for table in ("alembic_version", *LATER_TABLES):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("DROP TRIGGER run_snapshots_stale")
        raw.execute("DROP INDEX runs_by_schedule_slot")
        for column in (*LATER_COLUMNS, *drop):
            raw.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        for column in LATER_CUSTOMER_COLUMNS:
            raw.execute(f"ALTER TABLE customers DROP COLUMN {column}")


@pytest.fixture
def url(store_url: str) -> str:
    """An empty store on each backend (tests.pg_cluster's `store_url`)."""
    return store_url


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A copy of the store today's release wrote (see tests/data/legacy_store)."""
    db = tmp_path / "data" / "doku-audit.sqlite3"
    db.parent.mkdir()
    shutil.copy(LEGACY_STORE, db)
    return db


def _revision(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())


def _alembic(store: Store, name: str, revision: str) -> None:
    with store.engine.connect() as conn, conn.begin():
        getattr(command, name)(alembic_config(conn), revision)


def test_revisions_are_alembics_own() -> None:
    with Store(":memory:") as store, store.engine.connect() as conn:
        script = ScriptDirectory.from_config(alembic_config(conn))
    assert [s.revision for s in reversed(list(script.walk_revisions()))] == list(REVISIONS)
    assert script.get_current_head() == HEAD


def _not_procrastinates(name: str | None, kind: str, parents: object) -> bool:  # noqa: ARG001
    """Procrastinate's own tables (PostgreSQL, migration 0004) are not doku's."""
    return not (kind == "table" and (name or "").startswith("procrastinate_"))


def test_a_new_store_is_migrated_to_head_and_matches_the_tables(url: str) -> None:
    with Store(url=url) as store:
        assert (store.upgrade_report.before.kind, _revision(store)) == (EMPTY, HEAD)
        with store.engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn, opts={
                "include_name": _not_procrastinates}), metadata)
            if store.backend == "postgresql":  # every primary key is NOT NULL there
                assert sorted(d[0][:4] for d in drift) == [
                    ("modify_nullable", None, table, "id")
                    for table in ("runs", "saved_audits", "schedules", "trail")]
            else:
                assert drift == []
            for view in BI_VIEWS:
                assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {view}").scalar() == 0
    with Store(url=url) as again:
        assert again.upgrade_report.before.kind == CURRENT


def _table_info(db: sqlite3.Connection) -> dict[str, object]:
    tables = ("runs", "customers", "tokens", "rejects")
    return {
        "columns": {t: db.execute(f"PRAGMA table_info({t})").fetchall() for t in tables},
        "indexes": {t: sorted((i[1], i[2], db.execute(f"PRAGMA index_info({i[1]})").fetchall())
                              for i in db.execute(f"PRAGMA index_list({t})"))
                    for t in tables},
        "foreign_keys": {t: db.execute(f"PRAGMA foreign_key_list({t})").fetchall()
                         for t in tables},
    }


def test_the_baseline_is_the_schema_before_versioning(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    with Store(db) as store:
        _alembic(store, "downgrade", BASELINE)
        assert _revision(store) == BASELINE
    with sqlite3.connect(db) as new, sqlite3.connect(LEGACY_STORE) as old:
        assert _table_info(new) == _table_info(old)


def test_an_unversioned_store_is_backed_up_and_upgraded_in_place(legacy: Path) -> None:
    with sqlite3.connect(legacy) as raw:
        before = raw.execute("SELECT * FROM runs ORDER BY id").fetchall()
        raw.execute("ALTER TABLE runs DROP COLUMN archived")  # from before archiving
    with Store(legacy) as store:
        report = store.upgrade_report
        assert (report.before.kind, _revision(store)) == (LEGACY, HEAD)
        assert [(r.id, r.archived) for r in store.list_runs()] == [
            (4, False), (3, False), (2, False), (1, False)]
    backup = report.backup
    assert backup is not None
    assert backup.parent == legacy.parent
    assert re.fullmatch(r"doku-audit\.sqlite3\.backup-\d{8}T\d{6}Z", backup.name)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    with sqlite3.connect(backup) as copy:  # the store as it was, unversioned
        assert copy.execute("SELECT name FROM sqlite_master WHERE name='alembic_version'"
                            ).fetchall() == []
        assert [r[:20] for r in copy.execute("SELECT * FROM runs ORDER BY id")] == [
            r[:20] for r in before]
    with Store(legacy) as again:
        assert (again.upgrade_report.before.kind, again.upgrade_report.backup) == (CURRENT, None)


def test_an_older_revision_is_upgraded(url: str) -> None:
    with Store(url=url) as store:
        _alembic(store, "downgrade", BASELINE)
    with Store(url=url) as store:
        report = store.upgrade_report
        assert (report.before.revision, _revision(store)) == (BASELINE, HEAD)
        assert (report.backup is not None) == (store.backend == "sqlite")
        assert report.describe(store.where).startswith(
            f"upgraded the store at {store.where} from {BASELINE} to {HEAD}")


def test_a_newer_store_is_refused(url: str) -> None:
    with Store(url=url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num='0099'"))
        where = store.where
    with pytest.raises(StoreTooNewError) as caught:
        Store(url=url)
    assert str(caught.value) == (
        f"store too new: the store at {where} is at schema revision 0099, newer than this "
        f"doku knows (up to {HEAD}); upgrade doku to use it")


def _open_together(url: str, go: object, out: object) -> None:
    go.wait(60)  # type: ignore[attr-defined]
    with Store(url=url) as store:
        report = store.upgrade_report
        out.put((report.before.kind, None if report.backup is None else report.backup.name))  # type: ignore[attr-defined]


def _open_in_processes(url: str, processes: int = 3) -> list[tuple[str, str | None]]:
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_open_together, args=(url, go, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * processes
    return sorted(results, key=lambda r: r[0] == CURRENT)


def test_processes_opening_a_new_store_together_migrate_it_once(url: str) -> None:
    assert _open_in_processes(url) == [(EMPTY, None), (CURRENT, None), (CURRENT, None)]
    with Store(url=url) as store:
        assert _revision(store) == HEAD


def test_processes_opening_an_old_store_together_upgrade_it_once(legacy: Path) -> None:
    results = _open_in_processes(f"sqlite:///{legacy}")
    assert [kind for kind, _ in results] == [LEGACY, CURRENT, CURRENT]
    backups = sorted(p.name for p in legacy.parent.iterdir() if ".backup-" in p.name)
    assert backups == [results[0][1]]


def _tokens(cid: str, count: int) -> list[Token]:
    return [Token(cid, f"Name {cid}", DIRECT_DEBIT, "BRI", None, f"***{n}", f"secret-{cid}-{n}")
            for n in range(count)]


def test_the_bi_views_read_runs_customers_tokens_and_latest_results(url: str) -> None:
    with Store(url=url) as store:
        runs = []
        for _ in range(3):
            runs.append(store.create_run(
                ids=["C1", "C2", "C3"], attribute_values={"seg": ["a", "b", "c"]},
                attribute_columns=["seg"], env="simulator", base_url=None, client_id="M",
                input_name="t", store_token_ids=True))
        first, second, archived = runs
        store.record_fetched(first, "C1", _tokens("C1", 2), attempts=1, store_token_ids=True)
        store.record_fetched(first, "C2", _tokens("C2", 1), attempts=1)
        store.record_fetched(second, "C1", _tokens("C1", 1), attempts=1, store_token_ids=True)
        store.record_failed(second, "C3", error_code="transport", error_message="x", attempts=1)
        store.record_fetched(archived, "C1", _tokens("C1", 5), attempts=1)
        store.set_archived(archived)
        seg = "attributes->>'seg'" if store.backend == "postgresql" else \
            "json_extract(attributes, '$.seg')"
        with store.engine.connect() as conn:
            def rows(sql: str) -> list[tuple[object, ...]]:
                return [tuple(r) for r in conn.exec_driver_sql(sql)]

            assert rows("SELECT run_id, fetched, failed, pending, with_tokens, tokens, archived"
                        " FROM bi_runs ORDER BY run_id") == [
                (first, 2, 0, 1, 2, 3, 0), (second, 1, 1, 1, 1, 1, 0), (archived, 1, 0, 2, 1, 5, 1)]
            assert rows(f"SELECT customer_id, status, n_tokens, error_code, {seg}"
                        f" FROM bi_customers WHERE run_id={second} ORDER BY seq") == [
                ("C1", "fetched", 1, None, "a"), ("C2", "pending", None, None, "b"),
                ("C3", "failed", None, "transport", "c")]
            columns = list(conn.exec_driver_sql("SELECT * FROM bi_tokens").keys())
            assert "token_id" not in columns
            assert rows(f"SELECT run_id, customer_id, masked_card, {seg} FROM bi_tokens"
                        f" WHERE run_id={first} ORDER BY customer_id, position") == [
                (first, "C1", "***0", "a"), (first, "C1", "***1", "a"), (first, "C2", "***0", "b")]
            assert rows(f"SELECT customer_id, run_id, n_tokens, {seg}"
                        " FROM bi_latest_customer_results ORDER BY customer_id") == [
                ("C1", second, 1, "a"), ("C2", first, 1, "b")]

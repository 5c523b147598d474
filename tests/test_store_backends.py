"""The store behaves the same on SQLite and PostgreSQL: what is written reads back
with identical values, results replace each other, leases work across machines, and
concurrent writers (threads, processes) never lose or duplicate a row.

Each test runs on a SQLite file and on a fresh PostgreSQL database (tests.pg_cluster).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from doku.engine import jobs, lease
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.lease import this_host
from doku.engine.schema import Reject
from doku.engine.store import Store, resolve_run
from doku.engine.tables import runs
from doku.errors import NoSuchRunError, RunBusyError
from doku.masking import fingerprint
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from doku.settings import SIMULATOR_CLIENT_ID
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import ids, settings_for
from tests.test_jobs import _dead_pid
from tests.waiting import wait_until


@pytest.fixture
def url(store_url: str) -> str:
    """An empty store on each backend (tests.pg_cluster's `store_url`)."""
    return store_url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store(url=url) as s:
        yield s


def _token(cid: str, n: int, kind: str = DIRECT_DEBIT) -> Token:
    return Token(cid, f"Name {cid}", kind, "BCA", "visa" if kind == CREDIT_CARD else None,
                 f"****{n:04d}", f"tok-{cid}-{n}")


def _tokens(cid: str, count: int) -> list[Token]:
    return [_token(cid, n, CREDIT_CARD if n % 2 else DIRECT_DEBIT) for n in range(count)]


def _run(store: Store, ids: list[str], **kw: object) -> int:
    return store.create_run(ids=ids, env="simulator", base_url=None, client_id="MCH-1",
                            input_name="t.csv", **kw)  # type: ignore[arg-type]


def test_a_run_reads_back_with_identical_values(store: Store) -> None:
    odd = "tab\there, new\nline, back\\slash, quote\" and \u00e9\u4e2d"  # COPY must escape
    run_id = _run(store, ["C1", "C2", "C3"], attribute_values={"seg": ["a", odd, "c"]},
                  attribute_columns=["seg"], rejects=[Reject(5, odd, "not an id")],
                  duplicates=2, blank_rows=1, token_type=None, options={"concurrency": 4},
                  name=" Nov ", note="first")
    store.record_fetched(run_id, "C1", _tokens("C1", 2), attempts=2, request_id="r-1",
                         latency_ms=12.345678, store_token_ids=True)
    store.record_failed(run_id, "C2", error_code="server_error", error_message="boom",
                        attempts=3, http_status=502, request_id="r-2")
    info = store.get_run(run_id)
    assert info is not None
    assert info.to_dict() | {"created_at": "", "started_at": ""} == {
        "id": run_id, "created_at": "", "started_at": "", "finished_at": None,
        "status": "running", "env": "simulator", "base_url": None, "client_id": "MCH-1",
        "input_name": "t.csv", "token_type": None, "options": {"concurrency": 4},
        "attribute_columns": ["seg"], "customers": 3, "rejected": 1, "duplicates": 2,
        "blank_rows": 1, "store_token_ids": False, "error": None, "fetched": 1,
        "failed": 1, "pending": 1, "with_tokens": 1, "tokens": 2, "name": "Nov",
        "note": "first", "archived": False, "queued_at": None, "saved_audit_id": None,
        "scheduled_for": None,
    }
    assert datetime.fromisoformat(info.created_at).tzinfo == timezone.utc
    assert store.customer_rows(run_id) == [
        ("C1", "fetched", "Name C1", 2, 1, 1, None, None, None, 2, '{"seg": "a"}', "r-1"),
        ("C2", "failed", None, None, None, None, "server_error", "boom", 502, 3,
         '{"seg": "tab\\there, new\\nline, back\\\\slash, quote\\" and \u00e9\u4e2d"}', "r-2"),
        ("C3", None, None, None, None, None, None, None, None, 0, '{"seg": "c"}', None),
    ]
    assert store.token_rows(run_id) == [
        ("C1", "Name C1", DIRECT_DEBIT, "BCA", None, "****0000", fingerprint("tok-C1-0"),
         "tok-C1-0", '{"seg": "a"}'),
        ("C1", "Name C1", CREDIT_CARD, "BCA", "visa", "****0001", fingerprint("tok-C1-1"),
         "tok-C1-1", '{"seg": "a"}'),
    ]
    assert store.rejects(run_id) == [Reject(5, odd, "not an id")]
    with store.engine.connect() as conn:
        latency = conn.exec_driver_sql("SELECT latency_ms FROM customers WHERE seq=0").scalar()
    assert latency == 12.345678  # double precision on PostgreSQL, as SQLite keeps it
    assert (store.pending_ids(run_id), store.failed_ids(run_id)) == (["C3"], ["C2"])


def test_a_new_result_replaces_the_earlier_one(store: Store) -> None:
    run_id = _run(store, ["C1", "C2"])
    store.record_fetched(run_id, "C1", _tokens("C1", 3), attempts=1)
    store.record_fetched(run_id, "C1", _tokens("C1", 1), attempts=2)
    assert [r[5] for r in store.token_rows(run_id)] == ["****0000"]
    assert (*store.customer_rows(run_id)[0][:4], store.customer_rows(run_id)[0][9]) == (
        "C1", "fetched", "Name C1", 1, 3)
    store.record_failed(run_id, "C1", error_code="transport", error_message="reset",
                        attempts=1)
    assert store.token_rows(run_id) == []
    assert store.customer_rows(run_id)[0][:4] == ("C1", "failed", None, None)
    with pytest.raises(KeyError, match="customer 'C9' is not part of run"):
        store.record_fetched(run_id, "C9", [], attempts=1)
    with pytest.raises(KeyError, match="customer 'C9' is not part of run"):
        store.record_failed(run_id, "C9", error_code="x", error_message="y", attempts=1)


def test_find_customers_is_case_blind_and_literal(store: Store) -> None:
    run_id = _run(store, ["Ab_1", "ab%2", "AXB3", "zz"])
    for cid in ("AXB3", "zz"):
        store.record_fetched(run_id, cid, [_token(cid, 0)], attempts=1)
    found = {q: [r[0] for r in store.find_customers(run_id, q)] for q in
             ("AB", "_", "%", "b3", "name ZZ", "nothing")}
    assert found == {"AB": ["Ab_1", "ab%2"], "_": ["Ab_1"], "%": ["ab%2"], "b3": ["AXB3"],
                     "name ZZ": ["zz"], "nothing": []}
    assert [r[0] for r in store.find_customers(run_id, "a", limit=2)] == ["Ab_1", "ab%2"]


def test_runs_are_listed_named_archived_and_deleted(store: Store) -> None:
    first = _run(store, ["C1"], rejects=[Reject(2, "x", "bad")])
    second = _run(store, ["C2"])
    store.record_fetched(first, "C1", _tokens("C1", 2), attempts=1)
    store.annotate_run(second, name=" Dec ", note="")
    store.set_archived(first)
    assert [(r.id, r.name, r.archived) for r in store.list_runs()] == [
        (second, "Dec", False), (first, None, True)]
    assert [r.id for r in store.list_runs(limit=1)] == [second]
    assert store.latest_run_id() == second == resolve_run(store, "latest").id
    store.set_status(first, "done")
    info = store.get_run(first)
    assert info is not None
    assert (info.status, info.finished_at is not None) == ("done", True)
    store.delete_run(first)
    assert (store.get_run(first), store.customer_rows(first), store.token_rows(first),
            store.rejects(first)) == (None, [], [], [])
    with pytest.raises(NoSuchRunError, match=re.escape(f"run {first} is not in {store.where}")):
        resolve_run(store, first)


def _lease(store: Store, run_id: int, pid: int, host: str, beat: datetime) -> None:
    """A lease as another fetcher would have left it."""
    stamp = beat.isoformat(timespec="seconds").replace("+00:00", "Z")
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status="running", owner_pid=pid, owner_host=host, heartbeat_at=stamp))


def test_a_lease_from_another_machine_holds_while_its_heartbeat_is_fresh(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "_jobs", {})
    now = datetime.now(timezone.utc)
    held, stale, dead_here = (_run(store, [f"C{i}"]) for i in range(3))
    _lease(store, held, 4242, "host-b", now - timedelta(seconds=5))
    _lease(store, stale, 4242, "host-b", now - timedelta(seconds=120))
    _lease(store, dead_here, _dead_pid(), this_host(), now)
    with pytest.raises(RunBusyError, match=rf"run {held} is already being fetched by "
                                           "process 4242 on host-b; wait for it"):
        store.claim_run(held)
    assert jobs.mark_orphans(store) == [stale, dead_here]
    assert {r.id: r.status for r in store.list_runs()} == {
        held: "running", stale: "interrupted", dead_here: "interrupted"}
    store.claim_run(stale)  # nobody holds it: taken over, with this process's lease
    lease = {x.run_id: x for x in store.running_leases()}[stale]
    assert (lease.pid, lease.host, lease.held_elsewhere()) == (os.getpid(), this_host(),
                                                             False)
    assert store.heartbeat(stale) is True
    assert store.heartbeat(held) is False  # not ours
    store.set_status(stale, "done")
    assert store.heartbeat(stale) is False


def test_threads_writing_together_lose_nothing(store: Store) -> None:
    ids = [f"C{i:04d}" for i in range(400)]
    run_id = _run(store, ids)
    errors: list[BaseException] = []

    def write(part: int) -> None:
        try:
            for i in range(part, len(ids), 16):
                store.record_fetched(run_id, ids[i], _tokens(ids[i], i % 4), attempts=1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    info = store.get_run(run_id)
    assert info is not None
    assert (info.fetched, info.pending, info.tokens) == (400, 0, sum(i % 4 for i in range(400)))


def test_postgres_writers_do_not_wait_for_each_other(pg_url: str) -> None:
    # PostgreSQL only: SQLite serialises writers by design.
    with Store(url=pg_url) as store:
        run_id = _run(store, ["C1"])
        with store._lock:  # SQLite's process-wide lock: a PostgreSQL write never takes it
            writer = threading.Thread(
                target=store.record_fetched, args=(run_id, "C1", _tokens("C1", 1)),
                kwargs={"attempts": 1})
            writer.start()
            writer.join(30)
            assert not writer.is_alive()
        assert store.get_run(run_id).fetched == 1  # type: ignore[union-attr]


PROCESSES = 3
CUSTOMERS = 240
CONTESTED = 12  # recorded by every process (each replacing the others' result)


def _record_share(url: str, run_id: int, part: int, go: object) -> None:
    """One writer process: its share of the customers, and all the contested ones."""
    with Store(url=url) as store:
        go.wait(60)  # type: ignore[attr-defined]
        for i in range(CUSTOMERS):
            if i < CONTESTED or i % PROCESSES == part:
                cid = f"C{i:04d}"
                store.record_fetched(run_id, cid, _tokens(cid, i % 5), attempts=1)


def test_processes_writing_one_run_never_lose_or_duplicate_a_row(store: Store, url: str) -> None:
    ids = [f"C{i:04d}" for i in range(CUSTOMERS)]
    run_id = _run(store, ids)
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_record_share, args=(url, run_id, p, go))
             for p in range(PROCESSES)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    info = store.get_run(run_id)
    assert info is not None
    assert (info.fetched, info.pending) == (CUSTOMERS, 0)
    assert info.tokens == sum(i % 5 for i in range(CUSTOMERS))
    rows = store.token_rows(run_id)
    assert len(rows) == len(set(rows)) == info.tokens
    attempts = {r[0]: r[9] for r in store.customer_rows(run_id)}
    assert attempts == {cid: PROCESSES if i < CONTESTED else 1 for i, cid in enumerate(ids)}


def test_a_big_input_goes_in_through_the_bulk_path(store: Store) -> None:
    ids = [f"C{i:06d}" for i in range(20_000)]
    run_id = _run(store, ids, attribute_values={"n": [str(i) for i in range(20_000)]},
                  attribute_columns=["n"],
                  rejects=[Reject(i, f"bad {i}", "invalid") for i in range(3)])
    info = store.get_run(run_id)
    assert info is not None
    assert (info.customers, info.pending, info.rejected) == (20_000, 20_000, 3)
    rows = store.customer_rows(run_id)
    assert (rows[0][0], rows[-1][0], rows[-1][10]) == ("C000000", "C019999", '{"n": "19999"}')
    assert store.pending_ids(run_id)[:2] == ["C000000", "C000001"]


def test_a_running_job_renews_its_lease_until_it_ends(
    store: Store, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run one process holds (SQLite's default; on PostgreSQL, resuming a run made
    outside the queue): its lease renewed every HEARTBEAT_S. Queued runs renew their
    fetchers' claims instead (tests/test_claims.py)."""
    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.02)
    beats: list[int] = []
    renew = store.heartbeat
    monkeypatch.setattr(store, "heartbeat", lambda run_id: beats.append(run_id) or renew(run_id))
    slow = make_simulator(latency_ms=50)
    run_id = store.create_run(ids=ids(400), env="simulator", base_url=slow.url,
                              client_id=SIMULATOR_CLIENT_ID, input_name="t.csv")
    job = BulkJob(store, run_id, ids(400), settings_for(slow.url),
                  AuditOptions(concurrency=2)).start()
    wait_until(lambda: len(beats) >= 3, 30, "three heartbeats")
    assert job.wait(0).state == "running"
    job.cancel()
    assert job.wait(30).state == "cancelled"
    assert job._heartbeat is not None
    job._heartbeat.join(5)
    assert not job._heartbeat.is_alive()
    assert set(beats) == {job.run_id}

"""The audit trail in the store, on both backends: append-only (UPDATE, DELETE and, on
PostgreSQL, TRUNCATE refused), each engine action adds exactly one entry by the given
actor in the action's own transaction (no action without its entry), lookups name the
customer by fingerprint unless raw IDs are configured, and `since` filters exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from doku.access import Actor, Role
from doku.engine import jobs, service
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.firing import fire_due, run_saved
from doku.engine.inputs import parse_text
from doku.engine.lookups import configured_policy, lookup_tokens
from doku.engine.store import Store
from doku.engine.trail import (
    AUDIT_CANCEL,
    AUDIT_RESUME,
    AUDIT_RETRY,
    AUDIT_START,
    LOOKUP,
    REVEAL,
    RUN_DELETE,
    SAVED_ADD,
    SAVED_REMOVE,
    SAVED_RUN,
    SCHEDULE_ADD,
    SCHEDULE_FIRE,
    SCHEDULE_REMOVE,
    Event,
    customer_ref,
)
from doku.errors import ConfigurationError, StoreError
from doku.masking import fingerprint
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import RunningSimulator
from tests.backend_support import POSTGRESQL, both_backends
from tests.simulator_fixtures import MakeSimulator

pytestmark = both_backends

ANA = Actor("ana@example.co.id", "oidc", Role.ANALYST)
ROOT = Actor("root@example.co.id", "oidc", Role.ADMIN)
WORKER = Actor("worker-7", "worker")
APPEND_ONLY = "the audit trail is append-only"


@pytest.fixture(autouse=True)
def own_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs these tests register stay theirs (run ids repeat from test to test)."""
    monkeypatch.setattr(jobs, "_jobs", {})


def settings_for(sim: RunningSimulator) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), sim.url)


def entries(store: Store) -> list[tuple[Any, ...]]:
    """Every entry as (actor, via, role, action, object, detail), oldest first."""
    return [(e.actor, e.via, e.role, e.action, e.object, e.detail) for e in store.trail()]


def actions(store: Store) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.action, e.object) for e in store.trail()]


def _run(store: Store, ids: str = "C-1\nC-2\n") -> int:
    return service.create_run(store, parse_text(ids), Settings(
        "simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), "http://127.0.0.1:9"),
        AuditOptions(concurrency=1))


def _rename_trail(store: Store) -> None:
    """Take the trail away (as a broken store would): every entry fails to go in."""
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE trail RENAME TO trail_elsewhere"))


# -- append-only -----------------------------------------------------------------------------
@pytest.mark.parametrize("statement", [
    "UPDATE trail SET actor = 'someone else'",
    "DELETE FROM trail",
    "TRUNCATE trail",
])
def test_the_trail_refuses_changes(backend_store: Store, statement: str) -> None:
    if statement.startswith("TRUNCATE") and backend_store.backend != POSTGRESQL:
        pytest.skip("SQLite has no TRUNCATE (its DELETE without WHERE is refused above)")
    backend_store.record_event(ANA, LOOKUP, "customer 0123", {"tokens": 2})
    with pytest.raises(DBAPIError, match=APPEND_ONLY), backend_store.engine.begin() as conn:
        conn.execute(text(statement))
    assert entries(backend_store) == [
        ("ana@example.co.id", "oidc", "analyst", LOOKUP, "customer 0123", {"tokens": 2})]


def test_an_unknown_action_or_a_nested_detail_is_refused(backend_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown trail action 'peek'"):
        backend_store.record_event(ANA, "peek")
    with pytest.raises(TypeError, match="trail detail 'filters' must be a scalar, not dict"):
        backend_store.record_event(ANA, LOOKUP, detail={"filters": {"issuer": "BCA"}})
    assert entries(backend_store) == []


def test_entries_are_filtered_by_time_action_and_actor(backend_store: Store) -> None:
    for at, who, action in [("2026-11-01T00:00:00Z", ANA, LOOKUP),
                            ("2026-11-02T09:30:00Z", ROOT, REVEAL),
                            ("2026-11-02T09:30:01Z", ANA, LOOKUP),
                            ("2026-11-03T00:00:00Z", ROOT, RUN_DELETE)]:
        backend_store.record_event(who, action, at=at)
    since = backend_store.trail(since="2026-11-02T09:30:00Z")
    assert [(e.at, e.action) for e in since] == [
        ("2026-11-02T09:30:00Z", REVEAL), ("2026-11-02T09:30:01Z", LOOKUP),
        ("2026-11-03T00:00:00Z", RUN_DELETE)]
    assert [e.at for e in backend_store.trail(action=LOOKUP, actor="ana@example.co.id")] == [
        "2026-11-01T00:00:00Z", "2026-11-02T09:30:01Z"]
    assert [e.at for e in backend_store.trail(limit=2)] == [
        "2026-11-02T09:30:01Z", "2026-11-03T00:00:00Z"]


# -- runs ------------------------------------------------------------------------------------
def test_deleting_a_run_is_recorded_with_it(backend_store: Store) -> None:
    run_id = _run(backend_store)
    assert backend_store.delete_run(run_id, actor=ROOT) is True
    assert backend_store.get_run(run_id) is None
    [entry] = entries(backend_store)
    created = entry[5]["created_at"]
    assert entry == ("root@example.co.id", "oidc", "admin", RUN_DELETE, f"run {run_id}", {
        "name": None, "input": "pasted text", "customers": 2, "created_at": created,
        "raw_token_ids": False})
    assert backend_store.delete_run(run_id, actor=ROOT) is False  # nothing left: no entry
    assert len(entries(backend_store)) == 1


def test_a_run_is_not_deleted_when_its_entry_cannot_be_written(backend_store: Store) -> None:
    run_id = _run(backend_store)
    _rename_trail(backend_store)
    with pytest.raises(StoreError):
        backend_store.delete_run(run_id, actor=ROOT)
    assert backend_store.get_run(run_id) is not None


def test_starting_an_audit_is_one_entry_in_the_runs_transaction(
    backend_store: Store, simulator: RunningSimulator, backend: str,
) -> None:
    parsed = parse_text("CUST-0001\nCUST-0002\nbad\x01\n")
    run_id, job = service.submit_audit(backend_store, parsed, settings_for(simulator),
                                       AuditOptions(token_type="CREDIT_CARD"), actor=ANA)
    assert job is not None
    assert job.wait(30).state == "done"
    assert entries(backend_store) == [
        ("ana@example.co.id", "oidc", "analyst", AUDIT_START, f"run {run_id}", {
            "customers": 2, "input": "pasted text", "token_type": "CREDIT_CARD",
            "store_token_ids": False, "queued": backend == POSTGRESQL})]
    _rename_trail(backend_store)
    with pytest.raises(StoreError):
        service.start_audit(backend_store, parsed, settings_for(simulator), AuditOptions())
    assert [r.id for r in backend_store.list_runs()] == [run_id]  # no run without its entry


def _finished(job: BulkJob | None) -> None:
    assert job is not None
    assert job.wait(30).finished


def test_resume_and_retry_are_one_entry_each(
    backend_store: Store, make_simulator: MakeSimulator,
) -> None:
    failing = settings_for(make_simulator(fail_rate=1.0))
    job = service.start_audit(backend_store, parse_text("CUST-0001\nCUST-0002\n"), failing,
                              AuditOptions(max_attempts=1), actor=ANA)
    _finished(job)
    run_id = job.run_id
    good = settings_for(make_simulator())
    _finished(service.launch_rerun(backend_store, run_id, good, retry=True, actor=ROOT))
    _finished(service.launch_rerun(backend_store, run_id, good, retry=False, actor=ANA))
    assert entries(backend_store)[1:] == [
        ("root@example.co.id", "oidc", "admin", AUDIT_RETRY, f"run {run_id}", {"failed": 2}),
        ("ana@example.co.id", "oidc", "analyst", AUDIT_RESUME, f"run {run_id}", {"pending": 0}),
    ]


def test_a_resume_left_to_the_workers_is_one_entry(
    backend_store: Store, backend: str,
) -> None:
    if backend != POSTGRESQL:
        pytest.skip("only PostgreSQL stores queue runs for workers")
    run_id = service.create_run(backend_store, parse_text("C-1\n"), Settings(
        "simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), "http://127.0.0.1:9"),
        AuditOptions(), queued=True)
    backend_store.set_status(run_id, "cancelled")
    settings = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY),
                        "http://127.0.0.1:9")
    assert service.launch_rerun(backend_store, run_id, settings, retry=False, join=False,
                                actor=ANA) is None
    assert actions(backend_store) == [("ana@example.co.id", AUDIT_RESUME, f"run {run_id}")]


def test_cancelling_is_one_entry_and_nothing_to_cancel_none(
    backend_store: Store, make_simulator: MakeSimulator,
) -> None:
    slow = settings_for(make_simulator(latency_ms=200))
    ids = "\n".join(f"CUST-{n:04d}" for n in range(1, 40))
    run_id, job = service.submit_audit(backend_store, parse_text(ids), slow,
                                       AuditOptions(concurrency=1), actor=ANA)
    assert service.cancel_run(backend_store, run_id, actor=ROOT) is True
    _finished(job)
    run = backend_store.get_run(run_id)
    assert run is not None
    assert run.status == "cancelled"
    assert service.cancel_run(backend_store, run_id, actor=ROOT) is False
    assert actions(backend_store) == [("ana@example.co.id", AUDIT_START, f"run {run_id}"),
                                      ("root@example.co.id", AUDIT_CANCEL, f"run {run_id}")]


def test_a_stopped_job_is_one_cancel(backend_store: Store, make_simulator: MakeSimulator) -> None:
    slow = settings_for(make_simulator(latency_ms=200))
    ids = "\n".join(f"CUST-{n:04d}" for n in range(1, 40))
    job = service.start_audit(backend_store, parse_text(ids), slow,
                              AuditOptions(concurrency=1), actor=ANA)
    assert service.stop_job(job, actor=ANA).state == "cancelled"
    assert actions(backend_store) == [("ana@example.co.id", AUDIT_START, f"run {job.run_id}"),
                                      ("ana@example.co.id", AUDIT_CANCEL, f"run {job.run_id}")]


# -- saved audits and schedules ----------------------------------------------------------------
def test_saved_audits_and_schedules_are_one_entry_per_change(backend_store: Store) -> None:
    parsed = parse_text("C-1\nC-2\nC-3\n")
    saved_id = backend_store.save_audit(parsed, "Monthly", {"concurrency": 2}, None, actor=ANA)
    schedule_id = backend_store.add_schedule("Monthly", "0 2 1 * *", actor=ANA)
    backend_store.remove_schedule(schedule_id, actor=ROOT)
    backend_store.remove_saved_audit(saved_id, actor=ROOT)
    saved_ref, schedule_ref = f"saved audit {saved_id}", f"schedule {schedule_id}"
    on_schedule = {"cron": "0 2 1 * *", "saved_audit": "Monthly", "saved_audit_id": saved_id}
    assert entries(backend_store) == [
        (ANA.name, "oidc", "analyst", SAVED_ADD, saved_ref, {
            "name": "Monthly", "customers": 3, "input": "pasted text", "token_type": None,
            "store_token_ids": False}),
        (ANA.name, "oidc", "analyst", SCHEDULE_ADD, schedule_ref, on_schedule),
        (ROOT.name, "oidc", "admin", SCHEDULE_REMOVE, schedule_ref, on_schedule),
        (ROOT.name, "oidc", "admin", SAVED_REMOVE, saved_ref, {
            "name": "Monthly", "customers": 3, "schedules": 0}),
    ]


def test_created_by_is_the_actor(backend_store: Store) -> None:
    saved_id = backend_store.save_audit(parse_text("C-1\n"), "Weekly", actor=ANA)
    backend_store.add_schedule(saved_id, "0 3 * * 1", actor=ANA)
    assert [s.created_by for s in backend_store.saved_audits()] == [ANA.name]
    assert [s.created_by for s in backend_store.schedules()] == [ANA.name]


def test_running_and_firing_saved_audits_is_one_entry_per_run(backend_store: Store) -> None:
    from datetime import datetime, timezone

    settings = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY),
                        "http://127.0.0.1:9")
    saved_id = backend_store.save_audit(parse_text("C-1\nC-2\n"), "Monthly", actor=ANA)
    schedule_id = backend_store.add_schedule(saved_id, "0 2 1 * *", actor=ANA)
    launched: list[int] = []

    def launch(_store: Store, run_id: int, _settings: Settings) -> None:
        launched.append(run_id)

    on_demand = run_saved(backend_store, "Monthly", settings, launch=launch, actor=ROOT)
    [fired] = fire_due(backend_store, settings, now=datetime(2100, 3, 14, tzinfo=timezone.utc),
                       launch=launch, actor=WORKER)
    assert fire_due(backend_store, settings, now=datetime(2100, 3, 14, tzinfo=timezone.utc),
                    launch=launch, actor=WORKER) == []
    assert launched == [on_demand, fired]
    assert entries(backend_store)[2:] == [
        (ROOT.name, "oidc", "admin", SAVED_RUN, f"run {on_demand}", {
            "saved_audit": "Monthly", "saved_audit_id": saved_id, "customers": 2}),
        ("worker-7", "worker", None, SCHEDULE_FIRE, f"run {fired}", {
            "schedule": schedule_id, "cron": "0 2 1 * *", "slot": "2100-03-01T02:00:00Z",
            "saved_audit": "Monthly", "saved_audit_id": saved_id, "customers": 2}),
    ]


# -- lookups ---------------------------------------------------------------------------------
def test_a_lookup_names_the_customer_by_fingerprint(
    backend_store: Store, simulator: RunningSimulator,
) -> None:
    result = lookup_tokens("CUST-0001", settings=settings_for(simulator), store=backend_store,
                           actor=ANA, raw_ids=False)
    assert len(result.tokens) == 3
    lookup_tokens("CUST-0001", "CREDIT_CARD", settings=settings_for(simulator), reveal=True,
                  store=backend_store, actor=ROOT, raw_ids=False)
    ref = f"customer {fingerprint('CUST-0001')[:16]}"
    assert entries(backend_store) == [
        (ANA.name, "oidc", "analyst", LOOKUP, ref, {"token_type": None, "tokens": 3}),
        (ROOT.name, "oidc", "admin", LOOKUP, ref, {"token_type": "CREDIT_CARD", "tokens": 1}),
        (ROOT.name, "oidc", "admin", REVEAL, ref, {
            "token_type": "CREDIT_CARD", "tokens": 1, "what": "token IDs"}),
    ]
    assert "CUST-0001" not in repr(entries(backend_store))


def test_raw_ids_in_the_trail_when_configured(
    backend_store: Store, simulator: RunningSimulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[doku.access]\ntrail_customer_ids = "raw"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert configured_policy().raw_customer_ids is True
    lookup_tokens("CUST-0002", settings=settings_for(simulator), store=backend_store, actor=ANA)
    assert actions(backend_store) == [(ANA.name, LOOKUP, "customer CUST-0002")]
    assert customer_ref("CUST-0002", raw=True) == "customer CUST-0002"
    secrets.write_text('[doku.access]\ntrail_customer_ids = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="trail_customer_ids must be"):
        configured_policy()


def test_a_lookup_whose_entry_cannot_be_written_fails(
    backend_store: Store, simulator: RunningSimulator,
) -> None:
    _rename_trail(backend_store)
    with pytest.raises(StoreError) as caught:
        lookup_tokens("CUST-0001", settings=settings_for(simulator), store=backend_store)
    assert str(caught.value).startswith(
        "store error: the audit trail could not be written: cannot use the store at "
        f"{backend_store.where}: ")


def test_events_go_in_together_or_not_at_all(backend_store: Store) -> None:
    assert backend_store.record_events([Event(ANA, LOOKUP, "a"), Event(ANA, REVEAL, "a")]) == [
        1, 2]
    assert actions(backend_store) == [(ANA.name, LOOKUP, "a"), (ANA.name, REVEAL, "a")]

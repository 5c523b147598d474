"""Firing saved audits: a due schedule makes one run in its saved audit's series for its
slot (however many times and however many firers fire it), on demand runs too, and a
fired run is fetched for real against the simulator; on both backends."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from doku.engine.firing import fire_due, run_saved
from doku.engine.inputs import parse_file, parse_text
from doku.engine.schedules import Schedule
from doku.engine.service import launch_run
from doku.engine.store import Store
from doku.errors import ConfigurationError, DokuError, NoSuchSavedAuditError
from doku.models import CREDIT_CARD
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import RunningSimulator
from tests.backend_support import POSTGRESQL, both_backends, open_store

pytestmark = both_backends

UTC = timezone.utc
MONTHLY = "0 2 1 * *"
# Far beyond the schedules' creation (the wall clock): the slot due is exact.
NOW = datetime(2100, 3, 14, 9, 26, 53, tzinfo=UTC)
SLOT = "2100-03-01T02:00:00Z"
SETTINGS = Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY),
                    "http://127.0.0.1:9")


@dataclass
class Launcher:
    """A stand-in for `doku.engine.service.launch_run` that records what it was given."""

    launched: list[tuple[int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, _store: Store, run_id: int, settings: Settings) -> None:
        with self.lock:
            self.launched.append((run_id, settings.base_url))


def _saved(store: Store, name: str = "Monthly merchants") -> int:
    parsed = parse_file(b"customer_id,region\nC-1,Bali\nC-2,Jawa\n", "merchants.csv")
    options = {"concurrency": 3, "max_attempts": 2}
    return store.save_audit(parsed, name, options, CREDIT_CARD, "ana")


def test_a_due_schedule_fires_one_run_in_its_series(backend_store: Store, backend: str) -> None:
    saved_id = _saved(backend_store)
    schedule = backend_store.add_schedule(saved_id, MONTHLY, "ana")
    launch = Launcher()
    [run_id] = fire_due(backend_store, SETTINGS, now=NOW, launch=launch)
    assert launch.launched == [(run_id, "http://127.0.0.1:9")]
    run = backend_store.get_run(run_id)
    assert run is not None
    assert (run.saved_audit_id, run.scheduled_for, run.name, run.input_name, run.customers,
            run.token_type, run.status, run.pending) == (
        saved_id, SLOT, "Monthly merchants", "merchants.csv", 2, CREDIT_CARD,
        "queued" if backend == POSTGRESQL else "running", 2)
    assert (run.options["concurrency"], run.options["max_attempts"]) == (3, 2)
    assert [(c[0], c[10]) for c in backend_store.customer_rows(run_id)] == [
        ("C-1", '{"region": "Bali"}'), ("C-2", '{"region": "Jawa"}')]
    assert backend_store.schedules(now=NOW)[0].last_slot == SLOT
    assert [s.id for s in backend_store.schedules()] == [schedule]
    assert backend_store.saved_audit(saved_id).last_run_id == run_id


def test_firing_again_for_the_same_slot_makes_no_second_run(backend_store: Store) -> None:
    saved_id = _saved(backend_store)
    backend_store.add_schedule(saved_id, MONTHLY)
    launch = Launcher()
    first = fire_due(backend_store, SETTINGS, now=NOW, launch=launch)
    assert fire_due(backend_store, SETTINGS, now=NOW, launch=launch) == []
    assert fire_due(backend_store, SETTINGS, now=datetime(2100, 3, 31, tzinfo=UTC),
                    launch=launch) == []
    assert [r.id for r in backend_store.list_runs()] == first
    [later] = fire_due(backend_store, SETTINGS, now=datetime(2100, 4, 1, 2, tzinfo=UTC),
                       launch=launch)
    assert [r.scheduled_for for r in backend_store.list_runs()] == [
        "2100-04-01T02:00:00Z", SLOT]
    assert [rid for rid, _ in launch.launched] == [*first, later]


def test_nothing_fires_before_the_first_slot(backend_store: Store) -> None:
    backend_store.add_schedule(_saved(backend_store), MONTHLY)
    launch = Launcher()
    created = backend_store.schedules()[0].created_at
    assert fire_due(backend_store, SETTINGS, now=datetime.fromisoformat(created), launch=launch
                    ) == []
    assert (launch.launched, backend_store.list_runs()) == ([], [])


def test_two_concurrent_firers_make_one_run(backend_store: Store, tmp_path: Path) -> None:
    saved_id = _saved(backend_store)
    backend_store.add_schedule(saved_id, MONTHLY)
    firers = [open_store(tmp_path) for _ in range(2)]
    start = threading.Barrier(len(firers))
    launch = Launcher()
    fired: list[list[int]] = []

    def fire(store: Store) -> None:
        start.wait()
        fired.append(fire_due(store, SETTINGS, now=NOW, launch=launch))

    threads = [threading.Thread(target=fire, args=(s,)) for s in firers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for s in firers:
            s.close()
    assert sorted(fired, key=len) == [[], [launch.launched[0][0]]]
    assert [(r.saved_audit_id, r.scheduled_for) for r in backend_store.list_runs()] == [
        (saved_id, SLOT)]


def test_two_schedules_naming_one_minute_make_one_run(backend_store: Store) -> None:
    saved_id = _saved(backend_store)
    backend_store.add_schedule(saved_id, MONTHLY)
    backend_store.add_schedule(saved_id, "0 2 * * *")  # 2100-03-14 02:00 is its slot
    backend_store.add_schedule(saved_id, "0 2 1 3 *")  # the same minute as MONTHLY
    launch = Launcher()
    fired = fire_due(backend_store, SETTINGS, now=NOW, launch=launch)
    assert sorted(r.scheduled_for or "" for r in backend_store.list_runs()) == [
        SLOT, "2100-03-14T02:00:00Z"]
    assert len(fired) == 2


def test_a_schedule_that_cannot_fire_is_reported_and_the_others_fire(
    backend_store: Store,
) -> None:
    first = _saved(backend_store, "First")
    second = _saved(backend_store, "Second")
    broken = backend_store.add_schedule(first, MONTHLY)
    backend_store.add_schedule(second, MONTHLY)
    failures: list[tuple[int, str]] = []

    def launch(store: Store, run_id: int, _settings: Settings) -> None:
        run = store.get_run(run_id)
        if run is not None and run.saved_audit_id == first:
            raise ConfigurationError("no way to reach DOKU")

    def on_error(schedule: Schedule, exc: DokuError) -> None:
        failures.append((schedule.id, str(exc)))

    fired = fire_due(backend_store, SETTINGS, now=NOW, launch=launch, on_error=on_error)
    assert failures == [(broken, "configuration error: no way to reach DOKU")]
    by_saved = {r.saved_audit_id: r.id for r in backend_store.list_runs()}
    assert fired == [by_saved[first], by_saved[second]]  # the first was recorded, not run


def test_settings_without_a_base_url_fire_nothing(backend_store: Store) -> None:
    backend_store.add_schedule(_saved(backend_store), MONTHLY)
    failures: list[str] = []
    sandbox = Settings("sandbox", "MCH-1", SecretKey("x"), None)
    fired = fire_due(backend_store, sandbox, now=NOW, launch=Launcher(),
                     on_error=lambda _, exc: failures.append(exc.message))
    assert fired == []
    assert failures == ["DOKU_ENV=sandbox has no base URL; set DOKU_BASE_URL (only the "
                        "simulator environment starts one by itself)"]
    assert backend_store.list_runs() == []


def test_runs_on_demand_join_the_series_without_a_slot(backend_store: Store) -> None:
    saved_id = _saved(backend_store)
    launch = Launcher()
    first = run_saved(backend_store, "Monthly merchants", SETTINGS, launch=launch)
    second = run_saved(backend_store, saved_id, SETTINGS, launch=launch)
    assert launch.launched == [(first, "http://127.0.0.1:9"), (second, "http://127.0.0.1:9")]
    assert [(r.id, r.saved_audit_id, r.scheduled_for, r.name) for r in backend_store.list_runs()
            ] == [(second, saved_id, None, "Monthly merchants"),
                  (first, saved_id, None, "Monthly merchants")]
    with pytest.raises(NoSuchSavedAuditError):
        run_saved(backend_store, "Nope", SETTINGS, launch=launch)
    with pytest.raises(ConfigurationError):
        run_saved(backend_store, saved_id, Settings("sandbox", "MCH-1", SecretKey("x"), None),
                  launch=launch)
    assert len(backend_store.list_runs()) == 2


def test_a_fired_run_is_fetched_against_the_simulator(
    backend_store: Store, simulator: RunningSimulator,
) -> None:
    ids = [f"CUST-{i:04d}" for i in range(1, 41)]
    saved_id = backend_store.save_audit(parse_text("\n".join(ids)), "Forty", {}, None, "ana")
    backend_store.add_schedule(saved_id, MONTHLY)
    settings = SETTINGS.with_base_url(simulator.url)
    jobs = []

    def launch(store: Store, run_id: int, launch_settings: Settings) -> None:
        jobs.append(launch_run(store, run_id, launch_settings, fetcher="cli", join=True))

    [run_id] = fire_due(backend_store, settings, now=NOW, launch=launch)
    [job] = jobs
    assert job is not None
    assert job.wait(60).state == "done"
    run = backend_store.get_run(run_id)
    assert run is not None
    assert (run.status, run.fetched, run.failed, run.pending, run.scheduled_for) == (
        "done", 40, 0, 0, SLOT)

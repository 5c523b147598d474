"""The dashboard's schedule clock: each tick fires what is due in this process and the
run is fetched here (SQLite) or queued and joined (PostgreSQL); a slot fires once."""

from __future__ import annotations

from datetime import datetime, timedelta

from doku.engine import jobs
from doku.engine.inputs import parse_text
from doku.engine.schedules import iso, next_slot, parse_iso
from doku.engine.store import Store
from doku.engine.ticker import ScheduleTicker
from doku.errors import StoreError
from tests.backend_support import both_backends
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import settings_for

pytestmark = both_backends


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_tick_fires_a_due_slot_once_and_the_run_is_fetched(
    backend_store: Store, make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    backend_store.save_audit(parse_text("T-1\nT-2"), "Weekly")
    backend_store.add_schedule("Weekly", "0 3 * * 1")  # Mondays 03:00 UTC
    [schedule] = backend_store.schedules()
    monday = parse_iso(next_slot(schedule.cron, parse_iso(schedule.created_at)))
    clock = Clock(monday - timedelta(minutes=1))
    ticker = ScheduleTicker(backend_store, settings_for(sim.url), now=clock)
    assert ticker.tick() == []  # nothing due between the schedule's creation and now
    clock.now = monday + timedelta(seconds=20)
    [run_id] = ticker.tick()
    assert ticker.tick() == []  # the slot is spent
    job = jobs.get(run_id, backend_store)
    assert job is not None  # fetched in this process (no worker is alive)
    assert job.wait(60).state == "done"
    run = backend_store.get_run(run_id)
    assert run is not None
    assert (run.status, run.fetched, run.name, run.scheduled_for) == (
        "done", 2, "Weekly", iso(monday))
    assert (monday.weekday(), monday.hour, monday.minute) == (0, 3, 0)
    assert ticker.fired == [run_id]


def test_a_store_error_skips_the_tick(backend_store: Store, monkeypatch: object) -> None:
    ticker = ScheduleTicker(backend_store, settings_for("http://127.0.0.1:9"))

    def broken(*_: object, **__: object) -> list[int]:
        raise StoreError("cannot read the store")

    import doku.engine.ticker as ticker_module

    monkeypatch.setattr(ticker_module, "fire_due", broken)  # type: ignore[attr-defined]
    assert ticker.tick() == []
    assert ticker.fired == []

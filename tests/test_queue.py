"""The workers' queue on PostgreSQL (Procrastinate): a run is enqueued once per
waiting job, a due schedule fires from a worker's periodic tick (injected clock) into
a run of its series that a worker then fetches, and the job of a worker that stopped
sending heartbeats goes back to the queue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from procrastinate.exceptions import AlreadyEnqueued

from doku.engine import queue
from doku.engine.inputs import parse_text
from doku.engine.store import Store
from doku.engine.worker import Worker, WorkerConfig
from doku.errors import ConfigurationError
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import settings_for


def _queued(store: Store, n: int = 3) -> int:
    return store.create_run(ids=[f"C{i}" for i in range(n)], env="simulator",
                            base_url=None, client_id="MCH-0001-10791114622547",
                            input_name="t.csv", queued=True)


def test_a_run_waits_on_the_queue_once(pg_store_url: str) -> None:
    with Store(url=pg_store_url) as store:
        run = _queued(store)
        assert [queue.enqueue(store, run), queue.enqueue(store, run)] == [True, False]
        assert queue.queued_jobs(store) == {"todo": 1}


def test_the_queue_refuses_a_sqlite_store() -> None:
    with Store(":memory:") as store, pytest.raises(ConfigurationError, match="PostgreSQL"):
        queue.conninfo(store)


def test_a_worker_registers_the_periodic_ticks(pg_store_url: str) -> None:
    with Store(url=pg_store_url) as store:
        app = queue.make_app(store, fetch_run=lambda *_: "", fire_schedules=lambda *_: [])
    ticks = {(p.task.name, p.cron) for p in app.periodic_registry.periodic_tasks.values()}
    assert ticks == {(queue.SCHEDULES_TASK, "* * * * *"), (queue.STALLED_TASK, "* * * * *")}
    assert {queue.FETCH_TASK, queue.SCHEDULES_TASK, queue.STALLED_TASK} <= set(app.tasks)


def test_a_due_schedule_fires_on_a_workers_tick_and_a_worker_fetches_its_run(
    pg_store_url: str, make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    settings = settings_for(sim.url)
    with Store(url=pg_store_url) as store:
        store.save_audit(parse_text("A-1\nA-2\nA-3"), "Monthly cards")
        store.add_schedule("Monthly cards", "0 2 1 * *")
        worker = Worker(store, settings, WorkerConfig(once=True, lease_s=3.0))
        app = queue.make_app(store)
        tick = datetime(2026, 12, 1, 2, 0, 30, tzinfo=timezone.utc)  # the tick of 02:00
        with app.open():
            context = SimpleNamespace(app=app)
            assert worker._fire_schedules(context, int(tick.timestamp() - 90)) == []  # 01:59
            fired = worker._fire_schedules(context, int(tick.timestamp()))
            again = worker._fire_schedules(context, int(tick.timestamp()) + 1)
        assert len(fired) == 1
        assert again == []  # one run per slot, however many ticks see it
        run = store.get_run(fired[0])
        assert run is not None
        saved = store.saved_audit("Monthly cards")
        assert (run.status, run.name, run.saved_audit_id, run.scheduled_for, run.customers) \
            == ("queued", "Monthly cards", saved.id, "2026-12-01T02:00:00Z", 3)
        assert queue.queued_jobs(store) == {"todo": 1}
        assert worker.run() == 0  # --once: until the audits queue is empty
        done = store.get_run(fired[0])
        assert done is not None
        assert (done.status, done.fetched, done.pending) == ("done", 3, 0)
        assert store.workers() == []


def test_the_job_of_a_silent_worker_goes_back_to_the_queue(pg_store_url: str) -> None:
    with Store(url=pg_store_url) as store:
        run = _queued(store)
        queue.enqueue(store, run)
        app = queue.make_app(store)

    async def scenario() -> tuple[str, int, str]:
        async with app.open_async():
            manager = app.job_manager
            dead = await manager.register_worker()
            job = await manager.fetch_job([queue.AUDITS_QUEUE], dead)
            assert job is not None
            await app.connector.execute_query_async(
                "UPDATE procrastinate_workers SET last_heartbeat = NOW() - INTERVAL '1 hour'"
                " WHERE id = %(id)s", id=dead)
            before = (await manager.get_job_status_async(job.id)).value
            retried = await queue._retry_stalled(SimpleNamespace(app=app), 0)
            after = (await manager.get_job_status_async(job.id)).value
            return before, retried, after

    assert asyncio.run(scenario()) == ("doing", 1, "todo")


def test_defer_reports_a_job_already_waiting(pg_store_url: str) -> None:
    with Store(url=pg_store_url) as store:
        run = _queued(store)
        app = queue.make_app(store)
        with app.open():
            assert queue.defer_fetch(app, run) is True
            assert queue.defer_fetch(app, run) is False
            with pytest.raises(AlreadyEnqueued):
                app.configure_task(queue.FETCH_TASK, queueing_lock=queue.run_lock(run)
                                   ).defer(run_id=run)

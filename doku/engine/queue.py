"""The team's job queue on PostgreSQL: Procrastinate runs audits on `doku worker`s.

Enqueuing a run (`enqueue`) defers one `doku:fetch_run` job under the run's
queueing lock. A worker taking it first defers the next one (the lock allows one
waiting at a time), then joins the run as a fetcher claiming customers in batches
(`doku.engine.claims`): every idle worker in turn takes the waiting job and joins,
so one run is shared by as many workers as there are, and the chain stops when a
worker finds nothing left. A worker that dies loses nothing: its customers' claims
run out and the others (or the waiting job's next taker) fetch them; its
Procrastinate job, stalled without heartbeats, is retried by `doku:retry_stalled`.

Two periodic tasks tick on every worker (Procrastinate defers each tick once for all
of them): `doku:fire_schedules` fires saved audits' schedules
(`doku.engine.firing`) and `doku:retry_stalled`. They run on their own queue, so a
long audit never delays a schedule.

Procrastinate's tables come with the store's migration 0004; its version is pinned.
Nothing here is used on the SQLite default, where audits run in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import URL

from doku.engine.database import POSTGRESQL
from doku.engine.store import Store
from doku.errors import ConfigurationError

logger = logging.getLogger(__name__)

AUDITS_QUEUE = "doku-audits"
CLOCK_QUEUE = "doku-clock"
FETCH_TASK = "doku:fetch_run"
SCHEDULES_TASK = "doku:fire_schedules"
STALLED_TASK = "doku:retry_stalled"
# Procrastinate's own worker heartbeat and how long without one means dead.
HEARTBEAT_S = 5.0
STALLED_AFTER_S = 30.0


def run_lock(run_id: int) -> str:
    """The queueing lock of a run's waiting job: at most one waits at a time."""
    return f"doku-run-{run_id}"


def conninfo(store: Store) -> str:
    """The libpq URI of a PostgreSQL store (psycopg's own, without SQLAlchemy's
    driver suffix). It holds the password: it stays in this process's memory."""
    if store.backend != POSTGRESQL:
        raise ConfigurationError(
            f"the job queue needs a PostgreSQL store (DOKU_DATABASE_URL); {store.where} "
            "is SQLite, where the dashboard and `doku audit` fetch in their own process"
        )
    url: URL = store.location.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


FetchRun = Callable[[Any, int], str]
FireSchedules = Callable[[Any, int], list[int]]


def make_app(store: Store, *, fetch_run: FetchRun | None = None,
             fire_schedules: FireSchedules | None = None) -> App:
    """A Procrastinate app on the store's database with doku's tasks.

    The enqueuing side (the dashboard, `doku audit`) passes no task bodies: it only
    defers by name. `doku worker` passes `fetch_run(context, run_id)` and
    `fire_schedules(context, timestamp)` (`doku.engine.worker`)."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(store), min_size=1, max_size=4))
    if fetch_run is not None:
        app.task(name=FETCH_TASK, queue=AUDITS_QUEUE, pass_context=True)(fetch_run)
    if fire_schedules is not None:
        schedules = app.task(name=SCHEDULES_TASK, queue=CLOCK_QUEUE, pass_context=True,
                             queueing_lock=SCHEDULES_TASK)(fire_schedules)
        app.periodic(cron="* * * * *", periodic_id="schedules")(schedules)
        stalled = app.task(name=STALLED_TASK, queue=CLOCK_QUEUE, pass_context=True,
                           queueing_lock=STALLED_TASK)(_retry_stalled)
        app.periodic(cron="* * * * *", periodic_id="stalled")(stalled)
    return app


def defer_fetch(app: App, run_id: int) -> bool:
    """Defer the run's next fetch job; False when one is already waiting."""
    try:
        app.configure_task(FETCH_TASK, queue=AUDITS_QUEUE,
                           queueing_lock=run_lock(run_id)).defer(run_id=run_id)
    except AlreadyEnqueued:
        return False
    return True


def enqueue(store: Store, run_id: int) -> bool:
    """Put a queued run on the queue for the workers (sync, from any process)."""
    app = make_app(store)
    with app.open():
        return defer_fetch(app, run_id)


def queued_jobs(store: Store) -> dict[str, int]:
    """Procrastinate's jobs by status (todo, doing, ...) on the audits queue."""
    app = make_app(store)
    with app.open():
        rows = app.connector.get_sync_connector().execute_query_all(
            "SELECT status::text AS status, COUNT(*) AS n FROM procrastinate_jobs"
            " WHERE queue_name = %(queue)s GROUP BY status", queue=AUDITS_QUEUE)
    return {str(r["status"]): int(r["n"]) for r in rows}


async def _retry_stalled(context: Any, timestamp: int) -> int:
    """Put back the jobs of workers that stopped sending heartbeats (killed, lost)."""
    del timestamp
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_S))
    for job in stalled:
        logger.warning("retrying job %s (%s) of a stalled worker", job.id, job.task_name)
        await manager.retry_job(job)
    return len(stalled)

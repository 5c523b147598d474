"""`doku worker`: a process that fetches queued runs from the team's PostgreSQL store.

It registers as a fetcher (`workers` row, heartbeat every lease / 3), then runs two
Procrastinate workers on one event loop: one takes `doku:fetch_run` jobs, one at a
time, each joining a run beside any other fetchers (`doku.engine.queue`); the other
takes the periodic ticks (schedules, stalled jobs), so a long audit never delays a
schedule. SIGINT/SIGTERM: the run in hand is left to the others (its claims given
back at once), the process unregisters and exits 0. kill -9: its claims run out after
the lease and the others fetch them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from doku.access import Actor
from doku.engine import queue
from doku.engine.bulk import BulkJob, check_settings_match, options_for
from doku.engine.claims import CLAIM_LEASE_S, CLAIMABLE_RUN_STATES
from doku.engine.lease import this_host
from doku.engine.store import Store
from doku.errors import ConfigurationError, DokuError, RunBusyError
from doku.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 8  # requests in flight for the run in hand
    lease_s: float = CLAIM_LEASE_S  # how long its claims outlive it if it dies
    once: bool = False  # exit when the audits queue is empty (tests, cron)
    poll_s: float = 1.0  # Procrastinate's polling beside LISTEN/NOTIFY


FireDue = Callable[..., list[int]]  # doku.engine.firing.fire_due(store, settings, now=, launch=)


class Worker:
    """One `doku worker` process (see the module docstring). `fire_due` fires due
    schedules (`doku.engine.firing.fire_due`); injected so tests can count calls."""

    def __init__(self, store: Store, settings: Settings, config: WorkerConfig,
                 fire_due: FireDue | None = None) -> None:
        queue.conninfo(store)  # ConfigurationError on SQLite, before anything starts
        self.store, self.settings, self.config = store, settings, config
        self._fire_due = fire_due
        self.worker_id: str | None = None
        self._job: BulkJob | None = None
        self._run_id: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- life ------------------------------------------------------------------------------
    def run(self) -> int:
        """Work until a signal (or, with `once`, until the queue is empty)."""
        self.worker_id = self.store.register_worker("worker", self.config.concurrency)
        beat = threading.Thread(target=self._beat, name="doku-worker-beat", daemon=True)
        beat.start()
        try:
            asyncio.run(self._main())
        finally:
            self._stopping.set()
            self.store.unregister_worker(self.worker_id)
        return 0

    def shutdown(self) -> None:
        """Stop taking jobs; leave the run in hand to the others (thread-safe)."""
        self._stopping.set()
        with self._lock:
            job = self._job
        if job is not None:
            threading.Thread(target=job.detach, daemon=True).start()

    async def _main(self) -> None:
        app = queue.make_app(self.store, fetch_run=self._fetch_run,
                             fire_schedules=self._fire_schedules)
        common: dict[str, Any] = {
            "install_signal_handlers": False,
            "update_heartbeat_interval": queue.HEARTBEAT_S,
            "stalled_worker_timeout": queue.STALLED_AFTER_S,
            "fetch_job_polling_interval": self.config.poll_s,
            "delete_jobs": "successful",
        }
        async with app.open_async():
            audits = asyncio.create_task(app.run_worker_async(
                queues=[queue.AUDITS_QUEUE], concurrency=1, wait=not self.config.once,
                name=f"{self.worker_id}:audits", **common))
            clock = asyncio.create_task(app.run_worker_async(
                queues=[queue.CLOCK_QUEUE], concurrency=1, name=f"{self.worker_id}:clock",
                **common))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def on_signal() -> None:
                self.shutdown()
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({audits, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (audits, clock, stopped):
                task.cancel()
            await asyncio.gather(audits, clock, stopped, return_exceptions=True)

    def _beat(self) -> None:
        """Say this worker is alive (idle ones too: the dashboard lists them)."""
        assert self.worker_id is not None
        while not self._stopping.wait(self.config.lease_s / 3):
            try:
                self.store.worker_heartbeat(self.worker_id, self._run_id, self.config.lease_s)
            except DokuError as exc:
                logger.warning("worker heartbeat failed: %s", exc)

    def _say_idle(self) -> None:
        """Tell the store at once that this worker is free (not at the next beat)."""
        assert self.worker_id is not None
        try:
            self.store.worker_heartbeat(self.worker_id, None, self.config.lease_s)
        except DokuError as exc:
            logger.warning("worker heartbeat failed: %s", exc)

    # -- tasks (Procrastinate runs these sync bodies in a thread) ----------------------------
    def _fetch_run(self, context: Any, run_id: int) -> str:
        if self._stopping.is_set():  # taken as this worker stops: back for another
            queue.defer_fetch(context.app, run_id)
            return f"run {run_id}: left to other workers"
        run = self.store.get_run(run_id)
        if run is None or run.status not in CLAIMABLE_RUN_STATES:
            return f"run {run_id}: nothing to fetch ({run.status if run else 'deleted'})"
        try:
            check_settings_match(self.store, run_id, self.settings)
        except ConfigurationError as exc:
            logger.warning("run %s left to other workers: %s", run_id, exc)
            return f"run {run_id}: not for this worker"
        if run.pending:
            queue.defer_fetch(context.app, run_id)  # the next idle worker joins too
        options = options_for(self.store, run_id, concurrency=self.config.concurrency)
        job = BulkJob.shared(self.store, run_id, self.settings, options, kind="worker",
                             worker_id=self.worker_id, lease_s=self.config.lease_s)
        with self._lock:
            self._job, self._run_id = job, run_id
        try:
            job.start()
        except RunBusyError:
            return f"run {run_id}: already fetched in this process"
        try:
            if self._stopping.is_set():
                job.detach()
            snap = job.wait()
        finally:
            with self._lock:
                self._job, self._run_id = None, None
            self._say_idle()
        logger.info("run %s: %s (%s fetched here)", run_id, snap.state, snap.fetched)
        return f"run {run_id}: {snap.state}"

    def _fire_schedules(self, context: Any, timestamp: int) -> list[int]:
        if self._fire_due is None:
            from doku.engine.firing import fire_due

            self._fire_due = fire_due

        def launch(store: Store, run_id: int, settings: Settings) -> bool:
            del store, settings
            return queue.defer_fetch(context.app, run_id)

        now = datetime.fromtimestamp(timestamp, timezone.utc)
        actor = Actor(self.worker_id or this_host(), "worker")
        return self._fire_due(self.store, self.settings, now=now, launch=launch, actor=actor)

"""Start, resume or retry an audit run: record the run, then fetch in the background.

Shared by `doku audit`, the dashboard's Bulk audit page and `doku.audit`.
Every function here takes settings as loaded (`doku.settings.load_settings`) or
already resolved: a simulator without a base URL gets the embedded simulator
(`doku.engine.connection.resolve`), any other environment without one is refused
with a ConfigurationError before a run is recorded - never a run that aborts
silently because its client had nowhere to connect.
"""

from __future__ import annotations

from typing import Any

from doku.engine import bulk, jobs
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.claims import WorkerInfo
from doku.engine.connection import resolve
from doku.engine.database import POSTGRESQL
from doku.engine.inputs import ParsedInput
from doku.engine.schema import Reject
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.settings import Settings


def create_run(
    store: Store,
    parsed: ParsedInput,
    settings: Settings,
    options: AuditOptions,
    *,
    name: str | None = None,
    note: str | None = None,
    queued: bool = False,
    saved_audit_id: int | None = None,
    scheduled_for: str | None = None,
) -> int:
    """Record the run with every valid customer pending and every rejected row kept.

    `settings` should be resolved (`doku.engine.connection.resolve`): the run
    records its base URL. `queued`, `saved_audit_id`, `scheduled_for`: see
    `doku.engine.store.Store.create_run`.
    """
    if not parsed.ids:
        raise InvalidInputError(
            f"{parsed.source}: no valid customer IDs to audit "
            f"({len(parsed.rejected)} rejected, {parsed.blank_rows} blank rows)"
        )
    return store.create_run(
        ids=parsed.ids,
        attribute_values=parsed.attributes,
        attribute_columns=parsed.attribute_columns,
        rejects=[Reject(r.row, r.value, r.reason) for r in parsed.rejected],
        duplicates=parsed.duplicates,
        blank_rows=parsed.blank_rows,
        env=settings.env,
        base_url=settings.base_url,
        client_id=settings.client_id,
        input_name=parsed.source,
        token_type=options.token_type,
        options=options.to_dict(),
        name=name,
        note=note,
        store_token_ids=options.store_token_ids,
        queued=queued,
        saved_audit_id=saved_audit_id,
        scheduled_for=scheduled_for,
    )


def start_audit(
    store: Store,
    parsed: ParsedInput,
    settings: Settings,
    options: AuditOptions,
    *,
    name: str | None = None,
    note: str | None = None,
    fetcher: str = "api",
) -> BulkJob:
    """Create the run and start fetching all its customers; returns the running job.

    On PostgreSQL the run is queued for the team's workers and this process joins it
    as one more fetcher (`fetcher`: cli | api | dashboard), so it finishes with or
    without workers and survives this process. Unresolved settings are resolved first
    (`doku.engine.connection.resolve`), so a configuration problem raises here and
    records no run.
    """
    settings = resolve(settings)
    queued = uses_queue(store)
    run_id = create_run(store, parsed, settings, options, name=name, note=note, queued=queued)
    if queued:
        queue_run(store, run_id)
        return BulkJob.shared(store, run_id, settings, options, kind=fetcher).start()
    return BulkJob(store, run_id, parsed.ids, settings, options).start()


def uses_queue(store: Store) -> bool:
    """Whether runs of this store go through the workers' queue (PostgreSQL)."""
    return store.backend == POSTGRESQL


def queue_run(store: Store, run_id: int) -> bool:
    """Put a queued run on the workers' queue (PostgreSQL only)."""
    from doku.engine import queue

    return queue.enqueue(store, run_id)


def live_workers(store: Store) -> list[WorkerInfo]:
    """The `doku worker` processes alive now (heartbeat within their lease)."""
    return [w for w in store.workers() if w.kind == "worker" and w.alive()]


def launch_run(store: Store, run_id: int, settings: Settings, *, fetcher: str = "dashboard",
               join: bool | None = None) -> BulkJob | None:
    """Fetch a recorded run: on SQLite in this process (returns the job, registered in
    `doku.engine.jobs`); on PostgreSQL on the workers' queue, this process joining it
    when `join` (None: only when no worker is alive, so nothing waits for one)."""
    settings = resolve(settings)
    if not uses_queue(store):
        opts = bulk.options_for(store, run_id)
        job = BulkJob(store, run_id, store.pending_ids(run_id), settings, opts).start()
        return jobs.register(job)
    queue_run(store, run_id)
    if join is None:
        join = not live_workers(store)
    if not join:
        return None
    opts = bulk.options_for(store, run_id)
    return jobs.register(BulkJob.shared(store, run_id, settings, opts, kind=fetcher).start())


def start_resume(store: Store, run_id: int, settings: Settings, *, fetcher: str = "api",
                 **overrides: Any) -> BulkJob:
    """Fetch only the customers of `run_id` without a terminal state (settings resolved
    first; `overrides`: concurrency, rps, ... as in `doku.engine.bulk.options_for`). A
    queued run goes back on the workers' queue and this process joins it."""
    job = bulk.start_resume(store, run_id, resolve(settings), fetcher=fetcher, **overrides)
    if job.source.shared:
        queue_run(store, run_id)
    return job


def start_retry_failed(
    store: Store, run_id: int, settings: Settings, *, fetcher: str = "api", **overrides: Any
) -> BulkJob:
    """Refetch only the failed customers of `run_id` (settings resolved first)."""
    job = bulk.start_retry_failed(store, run_id, resolve(settings), fetcher=fetcher,
                                  **overrides)
    if job.source.shared:
        queue_run(store, run_id)
    return job


def launch_rerun(store: Store, run_id: int, settings: Settings, *, retry: bool,
                 fetcher: str = "dashboard", join: bool | None = None) -> BulkJob | None:
    """Resume (pending customers) or retry (failed customers) a run. A queued run goes
    back on the workers' queue and this process joins it when `join` (None: only when
    no worker is alive); any other run is fetched here (returns the job, registered in
    `doku.engine.jobs`; RunBusyError when another fetcher holds it)."""
    run = store.get_run(run_id)
    if run is not None and run.queued_at is not None and uses_queue(store):
        if join is None:
            join = not live_workers(store)
        if not join:
            bulk.check_settings_match(store, run_id, settings)
            store.requeue_run(run_id, failed=retry)
            queue_run(store, run_id)
            return None
    start = start_retry_failed if retry else start_resume
    return jobs.register(start(store, run_id, settings, fetcher=fetcher))


def cancel_run(store: Store, run_id: int) -> None:
    """Stop a run wherever it is fetched: a job of this process stops taking customers;
    a queued run is marked cancelled, so every worker stops claiming its customers
    (requests in flight still land). Resume picks it up again."""
    job = jobs.get(run_id)
    if job is not None and not job.snapshot().finished:
        job.cancel()
    run = store.get_run(run_id)
    if run is not None and run.queued_at is not None and run.status in ("queued", "running"):
        store.set_status(run_id, "cancelled")


def submit_audit(store: Store, parsed: ParsedInput, settings: Settings,
                 options: AuditOptions, *, name: str | None = None,
                 note: str | None = None, fetcher: str = "dashboard") -> tuple[int, BulkJob | None]:
    """The dashboard's start: on SQLite `start_audit` (fetched in this process); on
    PostgreSQL the run is queued for the workers and this process fetches it only when
    no worker is alive, so a page never waits on one. Returns (run id, job or None)."""
    if not uses_queue(store):
        job = jobs.register(start_audit(store, parsed, settings, options, name=name,
                                        note=note, fetcher=fetcher))
        return job.run_id, job
    settings = resolve(settings)
    run_id = create_run(store, parsed, settings, options, name=name, note=note, queued=True)
    return run_id, launch_run(store, run_id, settings, fetcher=fetcher)

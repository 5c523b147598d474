"""Start, resume or retry an audit run: record the run, then fetch in the background.

Shared by `doku audit`, the dashboard's Bulk audit page and `doku.audit`.
Every function here takes settings as loaded (`doku.settings.load_settings`) or
already resolved: a simulator without a base URL gets the embedded simulator
(`doku.engine.connection.resolve`), any other environment without one is refused
with a ConfigurationError before a run is recorded - never a run that aborts
silently because its client had nowhere to connect.

The audit trail: each user action here adds exactly one entry, recorded at this layer
(and in the Store methods it calls) and nowhere above, by `actor` (default this
process's: DOKU_ACTOR or the OS user, via "api"). A new run's AUDIT_START goes in the
run's own transaction; a resume or retry is recorded once it has started, and when
the trail cannot be written it is stopped again and the error raised (no sensitive
action goes unrecorded). `launch_run` records nothing: the run it fetches was
recorded when it was made (an audit started, a saved audit run, a schedule fired).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doku.access import Actor
from doku.client.tokens import TokenClient
from doku.engine import bulk, jobs
from doku.engine.bulk import AuditOptions, BulkJob, Progress
from doku.engine.claims import WorkerInfo
from doku.engine.connection import resolve
from doku.engine.database import POSTGRESQL
from doku.engine.inputs import ParsedInput
from doku.engine.schema import Reject
from doku.engine.store import Store
from doku.engine.trail import (
    AUDIT_CANCEL,
    AUDIT_RESUME,
    AUDIT_RETRY,
    AUDIT_START,
    Event,
    acting,
)
from doku.errors import DokuError, InvalidInputError
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
    event: Event | None = None,
) -> int:
    """Record the run with every valid customer pending and every rejected row kept.

    `settings` should be resolved (`doku.engine.connection.resolve`): the run
    records its base URL. `queued`, `saved_audit_id`, `scheduled_for`, `event` (its
    trail entry, e.g. `start_event`): see `doku.engine.store.Store.create_run`.
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
        event=event,
    )


def start_event(actor: Actor | None, parsed: ParsedInput, options: AuditOptions, *,
                queued: bool = False) -> Event:
    """The AUDIT_START entry of a new run of `parsed` (the run is its object)."""
    return Event(acting(actor), AUDIT_START, detail={
        "customers": len(parsed.ids), "input": parsed.source,
        "token_type": options.token_type, "store_token_ids": options.store_token_ids,
        "queued": queued})


def start_audit(
    store: Store,
    parsed: ParsedInput,
    settings: Settings,
    options: AuditOptions,
    *,
    name: str | None = None,
    note: str | None = None,
    fetcher: str = "api",
    actor: Actor | None = None,
    client_factory: Callable[..., TokenClient] | None = None,
) -> BulkJob:
    """Create the run and start fetching all its customers; returns the running job.

    On PostgreSQL the run is queued for the team's workers and this process joins it
    as one more fetcher (`fetcher`: cli | api | dashboard), so it finishes with or
    without workers and survives this process. Unresolved settings are resolved first
    (`doku.engine.connection.resolve`), so a configuration problem raises here and
    records no run. The run and its AUDIT_START entry (by `actor`) go in together.
    `client_factory`: this process's transport (`BulkJob`'s; default AsyncTokenClient).
    """
    settings = resolve(settings)
    queued = uses_queue(store)
    run_id = create_run(store, parsed, settings, options, name=name, note=note, queued=queued,
                        event=start_event(actor, parsed, options, queued=queued))
    if queued:
        queue_run(store, run_id)
        return BulkJob.shared(store, run_id, settings, options, kind=fetcher,
                              client_factory=client_factory).start()
    return BulkJob(store, run_id, parsed.ids, settings, options,
                   client_factory=client_factory).start()


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
                 actor: Actor | None = None, **overrides: Any) -> BulkJob:
    """Fetch only the customers of `run_id` without a terminal state (settings resolved
    first; `overrides`: concurrency, rps, ... as in `doku.engine.bulk.options_for`). A
    queued run goes back on the workers' queue and this process joins it. Recorded
    as AUDIT_RESUME by `actor` once started."""
    event = _rerun_event(store, run_id, actor, retry=False)
    job = bulk.start_resume(store, run_id, resolve(settings), fetcher=fetcher, **overrides)
    if job.source.shared:
        queue_run(store, run_id)
    _record_started(store, run_id, event, job)
    return job


def start_retry_failed(
    store: Store, run_id: int, settings: Settings, *, fetcher: str = "api",
    actor: Actor | None = None, **overrides: Any
) -> BulkJob:
    """Refetch only the failed customers of `run_id` (settings resolved first).
    Recorded as AUDIT_RETRY by `actor` once started."""
    event = _rerun_event(store, run_id, actor, retry=True)
    job = bulk.start_retry_failed(store, run_id, resolve(settings), fetcher=fetcher,
                                  **overrides)
    if job.source.shared:
        queue_run(store, run_id)
    _record_started(store, run_id, event, job)
    return job


def _rerun_event(store: Store, run_id: int, actor: Actor | None, *, retry: bool) -> Event:
    """AUDIT_RETRY (with the failed count) or AUDIT_RESUME (with the pending count)
    of `run_id`, as the run stands before it starts again."""
    run = store.get_run(run_id)
    if retry:
        detail = {"failed": None if run is None else run.failed}
    else:
        detail = {"pending": None if run is None else run.pending}
    return Event(acting(actor), AUDIT_RETRY if retry else AUDIT_RESUME, f"run {run_id}", detail)


def _record_started(store: Store, run_id: int, event: Event, job: BulkJob | None) -> None:
    """Record a resume or retry that has started; when the trail cannot be written,
    stop it again (the run is stored as cancelled; its customers stay pending) and
    raise: no sensitive action goes unrecorded."""
    try:
        store.record_events([event])
    except DokuError:
        if job is not None:
            job.stop()
        else:
            _mark_cancelled(store, run_id)
        raise


def launch_rerun(store: Store, run_id: int, settings: Settings, *, retry: bool,
                 fetcher: str = "dashboard", join: bool | None = None,
                 actor: Actor | None = None) -> BulkJob | None:
    """Resume (pending customers) or retry (failed customers) a run. A queued run goes
    back on the workers' queue and this process joins it when `join` (None: only when
    no worker is alive); any other run is fetched here (returns the job, registered in
    `doku.engine.jobs`; RunBusyError when another fetcher holds it). One AUDIT_RESUME
    or AUDIT_RETRY entry by `actor`, either way."""
    run = store.get_run(run_id)
    if run is not None and run.queued_at is not None and uses_queue(store):
        if join is None:
            join = not live_workers(store)
        if not join:
            bulk.check_settings_match(store, run_id, settings)
            event = _rerun_event(store, run_id, actor, retry=retry)
            store.requeue_run(run_id, failed=retry)
            queue_run(store, run_id)
            _record_started(store, run_id, event, None)
            return None
    start = start_retry_failed if retry else start_resume
    return jobs.register(start(store, run_id, settings, fetcher=fetcher, actor=actor))


def cancel_run(store: Store, run_id: int, *, actor: Actor | None = None) -> bool:
    """Stop a run wherever it is fetched: a job of this process stops taking customers;
    a queued run is marked cancelled, so every worker stops claiming its customers
    (requests in flight still land). Resume picks it up again. False when there was
    nothing to cancel; else one AUDIT_CANCEL entry by `actor` (a cancel is never held
    back by the trail: when the entry cannot be written the run is cancelled all the
    same and the StoreError raised)."""
    cancelled = False
    job = jobs.get(run_id, store)
    if job is not None and not job.snapshot().finished:
        job.cancel()
        cancelled = True
    cancelled = _mark_cancelled(store, run_id) or cancelled
    if cancelled:
        store.record_events([Event(acting(actor), AUDIT_CANCEL, f"run {run_id}")])
    return cancelled


def _mark_cancelled(store: Store, run_id: int) -> bool:
    """Mark a queued run that is not over cancelled (every fetcher stops claiming)."""
    run = store.get_run(run_id)
    if run is not None and run.queued_at is not None and run.status in ("queued", "running"):
        store.set_status(run_id, "cancelled")
        return True
    return False


def stop_job(job: BulkJob, *, actor: Actor | None = None) -> Progress:
    """Ctrl+C on a job this process follows (`doku audit`, `doku saved run`, the Python
    API): stop it within ~2 s (`BulkJob.stop`) and, when that cancelled its run, add
    one AUDIT_CANCEL entry by `actor`."""
    return record_stopped(job, job.stop(), actor=actor)


def record_stopped(job: BulkJob, snap: Progress, *, actor: Actor | None = None) -> Progress:
    """After `job.stop()` returned `snap`: one AUDIT_CANCEL entry by `actor` when the
    stop cancelled the run (not when it had finished meanwhile); returns `snap`."""
    if snap.state == "cancelled":
        job.store.record_events([Event(acting(actor), AUDIT_CANCEL, f"run {job.run_id}",
                                       {"how": "interrupted"})])
    return snap


def submit_audit(store: Store, parsed: ParsedInput, settings: Settings,
                 options: AuditOptions, *, name: str | None = None,
                 note: str | None = None, fetcher: str = "dashboard",
                 actor: Actor | None = None) -> tuple[int, BulkJob | None]:
    """The dashboard's start: on SQLite `start_audit` (fetched in this process); on
    PostgreSQL the run is queued for the workers and this process fetches it only when
    no worker is alive, so a page never waits on one. Returns (run id, job or None).
    One AUDIT_START entry by `actor`, in the run's own transaction."""
    if not uses_queue(store):
        job = jobs.register(start_audit(store, parsed, settings, options, name=name,
                                        note=note, fetcher=fetcher, actor=actor))
        return job.run_id, job
    settings = resolve(settings)
    run_id = create_run(store, parsed, settings, options, name=name, note=note, queued=True,
                        event=start_event(actor, parsed, options, queued=True))
    return run_id, launch_run(store, run_id, settings, fetcher=fetcher)

"""Process-wide state: one `Store` per store key and the background audit jobs.

Jobs live in `doku.engine.jobs` (a registry in the server process), not in
`st.session_state`, so a run keeps going across page switches and browser reloads;
every result is in the store as it arrives, so a restart loses only what was in flight.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import streamlit as st

from doku.access import Actor
from doku.engine import database, jobs, service
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.database import Location
from doku.engine.inputs import ParsedInput
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from doku.engine.ticker import ScheduleTicker
from doku.errors import RunBusyError
from doku.settings import Settings

# Store key -> where that store is, for stores that are not a data folder's default
# file (a PostgreSQL URL, with its password: never shown; keys are redacted).
_locations: dict[str, Location] = {}


def _key_of(location: Location) -> str:
    """The data folder for the usual `<folder>/doku-audit.sqlite3`, else the store's
    own key (another SQLite file, or the URL without its password)."""
    if location.path is not None and location.path.name == DB_NAME:
        return str(location.path.resolve().parent)
    _locations[location.key] = location
    return location.key


@st.cache_resource(show_spinner=False)
def store_for(folder: str) -> Store:
    """The store of a key (`data_folder`, `folder_of`), shared by every session (it is
    thread-safe)."""
    location = _locations.get(folder)
    if location is not None:
        store = Store(url=location.url)
    else:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        store = Store(path / DB_NAME)
    # Once per process and store: runs a dead fetcher (or a restart) left 'running'
    # become 'interrupted', so they can be resumed.
    jobs.mark_orphans(store)
    return store


def data_folder() -> str:
    """The key of the configured store: $DOKU_DATA_DIR resolved (default ./data), or
    the redacted DOKU_DATABASE_URL when one is set."""
    return _key_of(database.resolve())


def get_store() -> Store:
    """The process-wide configured store (see `doku.engine.database.resolve`)."""
    return store_for(data_folder())


def folder_of(store: Store) -> str:
    """The key of a store (what `store_for` and run refs are keyed on)."""
    return _key_of(store.location)


def same_store(job: BulkJob, store: Store) -> bool:
    return job.store is store or job.store.key == store.key


def live_job(store: Store, run_id: int | None = None) -> BulkJob | None:
    """A job of this store still running (of `run_id` when given)."""
    if run_id is not None:
        job = jobs.get(run_id, store)
        if job is not None and same_store(job, store) and not job.snapshot().finished:
            return job
        return None
    for job in jobs.running():
        if same_store(job, store):
            return job
    return None


def jobs_progress(store: Store) -> tuple[tuple[int, str, int], ...]:
    """(run, state, done) of this store's running jobs: changes as they progress."""
    return tuple(
        (job.run_id, snap.state, snap.done)
        for job in jobs.running()
        if same_store(job, store)
        for snap in (job.snapshot(),)
    )


# Sessions share one server process: starts are serialised, so on SQLite two sessions
# pressing Start together get one run and one "already live" message, never two
# parallel runs. On PostgreSQL runs queue for the workers: any number may wait.
_start_lock = threading.Lock()


def queues(store: Store) -> bool:
    """Whether this store's runs go through the workers' queue (PostgreSQL)."""
    return service.uses_queue(store)


def launch_audit(
    store: Store, parsed: ParsedInput, settings: Settings, options: AuditOptions, *,
    actor: Actor | None = None,
) -> tuple[int, BulkJob | None]:
    """Record a run of `parsed` and have it fetched: (run id, the job fetching it in
    this process, or None when it waits for the workers' queue). On SQLite it is
    fetched here, one live run at a time (RunBusyError while another is live). The
    audit trail names `actor` (the engine records it)."""
    with _start_lock:
        if not queues(store):
            live = live_job(store)
            if live is not None:
                raise RunBusyError(
                    f"run {live.run_id} is already live; wait for it to finish or cancel it"
                )
        return service.submit_audit(store, parsed, settings, options, fetcher="dashboard",
                                    actor=actor)


def launch_rerun(store: Store, run_id: int, settings: Settings, *,
                 retry: bool, actor: Actor | None = None) -> BulkJob | None:
    """Resume (pending customers) or retry (failed customers) a run: fetched here (the
    job), or a queued run put back on the workers' queue (None). RunBusyError when the
    run is already being fetched, here or by another process."""
    with _start_lock:
        return service.launch_rerun(store, run_id, settings, retry=retry,
                                    fetcher="dashboard", actor=actor)


def cancel(store: Store, run_id: int, *, actor: Actor | None = None) -> None:
    """Stop a run wherever it is fetched: this process's job stops taking customers, and
    a queued run is marked cancelled so every worker stops claiming (their requests in
    flight still land)."""
    service.cancel_run(store, run_id, actor=actor)


# -- the schedule clock ------------------------------------------------------------------------
# One ScheduleTicker per process and store, started once the store has a schedule (a
# store without any never pays for a thread); checked at most every CLOCK_CHECK_S.
CLOCK_CHECK_S = 60.0
_clocks: dict[str, ScheduleTicker] = {}
_clock_checked: dict[str, float] = {}
_clock_lock = threading.Lock()


def ensure_schedule_clock(settings: Settings) -> ScheduleTicker | None:
    """Keep saved audits' schedules firing while this dashboard runs (on SQLite the only
    clock besides a system cron; on PostgreSQL one more beside the workers: a slot
    fires once however many clocks see it)."""
    key = data_folder()
    with _clock_lock:
        if key in _clocks:
            return _clocks[key]
        if time.monotonic() - _clock_checked.get(key, -CLOCK_CHECK_S) < CLOCK_CHECK_S:
            return None
        _clock_checked[key] = time.monotonic()
    store = store_for(key)
    if not store.schedules():
        return None
    with _clock_lock:
        if key not in _clocks:
            _clocks[key] = ScheduleTicker(store, settings).start()
        return _clocks[key]

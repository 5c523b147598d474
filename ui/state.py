"""Process-wide state: one `Store` per data folder and the background audit jobs.

Jobs live in `doku.engine.jobs` (a registry in the server process), not in
`st.session_state`, so a run keeps going across page switches and browser reloads;
every result is in the store as it arrives, so a restart loses only what was in flight.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from doku.engine import jobs
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.inputs import ParsedInput
from doku.engine.schema import DB_NAME, data_dir
from doku.engine.service import start_audit, start_resume, start_retry_failed
from doku.engine.store import Store
from doku.errors import RunBusyError
from doku.settings import Settings


@st.cache_resource(show_spinner=False)
def store_for(folder: str) -> Store:
    """The store of a data folder, shared by every session (it is thread-safe)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    store = Store(path / DB_NAME)
    # Once per process and store: runs a dead process (or a restart) left 'running'
    # become 'interrupted', so they can be resumed.
    jobs.mark_orphans(store)
    return store


def data_folder() -> str:
    """$DOKU_DATA_DIR (default ./data), resolved."""
    return str(data_dir().resolve())


def get_store() -> Store:
    """The process-wide store of $DOKU_DATA_DIR (default ./data)."""
    return store_for(data_folder())


def folder_of(store: Store) -> str:
    """The data folder of a store (what `store_for` and run refs are keyed on)."""
    return str(Path(store.path).resolve().parent)


def same_store(job: BulkJob, store: Store) -> bool:
    return job.store is store or Path(job.store.path).resolve() == Path(store.path).resolve()


def live_job(store: Store, run_id: int | None = None) -> BulkJob | None:
    """A job of this store still running (of `run_id` when given)."""
    if run_id is not None:
        job = jobs.get(run_id)
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


# Sessions share one server process: starts are serialised, so two sessions pressing
# Start together get one run and one "already live" message, never two parallel runs.
_start_lock = threading.Lock()


def launch_audit(
    store: Store, parsed: ParsedInput, settings: Settings, options: AuditOptions
) -> BulkJob:
    """Record a run of `parsed` and fetch it in the background (RunBusyError while
    another run of this store is live)."""
    with _start_lock:
        live = live_job(store)
        if live is not None:
            raise RunBusyError(
                f"run {live.run_id} is already live; wait for it to finish or cancel it"
            )
        return jobs.register(start_audit(store, parsed, settings, options))


def launch_rerun(store: Store, run_id: int, settings: Settings, *, retry: bool) -> BulkJob:
    """Resume (pending customers) or retry (failed customers) a run in the background;
    RunBusyError when the run is already being fetched, here or by another process."""
    start = start_retry_failed if retry else start_resume
    with _start_lock:
        return jobs.register(start(store, run_id, settings))

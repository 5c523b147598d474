"""The workers' queue on screen: who fetches a queued run (or why nobody does yet), and
the "Queue and workers" section of the Runs and Bulk audit pages: runs waiting, runs
being fetched and by whom, the live fetchers, the last runs finished.

Everything is read from the store (`doku.engine.queue_state`), never from a worker, so
a page never waits on one. On SQLite there is no queue: one caption says so."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.engine.claims import WorkerInfo
from doku.engine.queue_state import QueueState, RunningRun, queue_state
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from ui.chrome import guard
from ui.present import escape_md, fmt_seconds, fmt_time, run_label, shorten
from ui.state import live_job, queues

SQLITE_NOTE = ("Audits run inside this dashboard's process (SQLite store); a PostgreSQL "
               "store adds a queue shared by `doku worker`s.")
NO_WORKER = "Waiting for a worker - none is running; start one with `doku worker`."
NO_WORKER_ALIVE = ("No `doku worker` is alive: runs started here are fetched by this "
                   "dashboard itself; start one with `doku worker` to share the work.")
BETWEEN_BATCHES = ("No fetcher holds any of its customers right now: a worker takes the "
                   "next batch shortly.")
REFRESH = "5s"
_run_number = st.column_config.NumberColumn

QUEUED_COLUMNS = {"run": _run_number("Run", format="#%d"),
                  "customers": _run_number("Customers", format="localized")}
RUNNING_COLUMNS = {
    "run": _run_number("Run", format="#%d"),
    "progress": st.column_config.ProgressColumn("Progress", format="percent",
                                                min_value=0.0, max_value=1.0),
    "done": _run_number("Done", format="localized"),
    "customers": _run_number("Customers", format="localized"),
    "fetchers": st.column_config.TextColumn("Fetchers", width="large"),
}
WORKER_COLUMNS = {"concurrency": _run_number("Concurrency", format="%d")}
FINISHED_COLUMNS = {"run": _run_number("Run", format="#%d")}


# -- one queued run ----------------------------------------------------------------------
def is_queued_live(run: RunInfo | None) -> bool:
    """A run the workers' queue fetches that is still waiting or being fetched."""
    if run is None or run.queued_at is None:
        return False
    return run.status in ("queued", "running")


def fetcher_name(worker_id: str, workers: dict[str, WorkerInfo]) -> str:
    """A fetcher as `worker <id> on <host>` (plain text; one no longer registered is
    named by its id alone)."""
    info = workers.get(worker_id)
    if info is None:
        return f"fetcher {worker_id}"
    return f"{info.kind} {worker_id} on {info.host}"


def fetchers_line(holders: dict[str, int], workers: dict[str, WorkerInfo]) -> str:
    """Who holds a run's customers now, with how many each (plain text)."""
    return "; ".join(f"{fetcher_name(w, workers)} ({n:,} in hand)"
                     for w, n in sorted(holders.items()))


def queued_note(store: Store, run: RunInfo) -> str:
    """Markdown: who fetches a queued run now, or why nobody does yet."""
    workers = store.workers()
    alive = [w for w in workers if w.alive() and w.kind == "worker"]
    holders = store.claim_holders().get(run.id, {})
    if holders:
        named = fetchers_line(holders, {w.id: w for w in workers})
        return f"**Fetched by:** {escape_md(named, 1000)}."
    if not alive:
        return NO_WORKER
    if run.status != "queued":
        return BETWEEN_BATCHES
    idle = [w for w in alive if w.run_id is None]
    if idle:
        return (f"Queued: an idle worker takes it in a moment ({len(idle):,} of "
                f"{len(alive):,} workers idle).")
    ahead = runs_ahead(queue_state(store), run.id)
    return (f"Queued behind {ahead:,} run{'' if ahead == 1 else 's'}: every worker is "
            f"busy ({len(alive):,} alive); it starts when one is free.")


def runs_ahead(state: QueueState, run_id: int) -> int:
    """Queued runs before `run_id` plus queued runs being fetched: the work the busy
    workers finish before they come to it."""
    return (sum(1 for r in state.queued if r.id < run_id)
            + sum(1 for x in state.running if x.run.queued_at is not None))


# -- the section -------------------------------------------------------------------------
def queue_section(store: Store, *, in_expander: bool = False) -> None:
    """The Queue and workers section (bordered, or an expander); on SQLite a caption."""
    if not queues(store):
        st.caption(SQLITE_NOTE)
        return
    if in_expander:
        with st.expander("Queue and workers", icon=":material/queue:"):
            _live_section(store)
        return
    with st.container(border=True):
        st.subheader(":material/queue: Queue and workers")
        _live_section(store)


def _live_section(store: Store) -> None:
    first = [queue_state(store)]  # this full run's state; a fragment rerun reads anew
    active = _active(first[0])

    @st.fragment(run_every=REFRESH if active else None)
    def section() -> None:
        with guard("The queue"):
            state = first.pop() if first else queue_state(store)
            if _active(state) != active:  # something started or everything ended
                st.rerun()
            _show(store, state)

    section()


def _active(state: QueueState) -> bool:
    return bool(state.queued or state.running)


def summary(state: QueueState) -> str:
    """One line (Markdown: numbers and fixed words only)."""
    idle = len(state.idle_workers)
    workers = sum(1 for w in state.workers if w.kind == "worker")
    return (f"{len(state.queued):,} queued · {len(state.running):,} running · "
            f"{workers:,} worker{'' if workers == 1 else 's'} alive ({idle:,} idle).")


def _show(store: Store, state: QueueState) -> None:
    st.caption(summary(state))
    if state.queued:
        st.markdown("**Queued**")
        st.dataframe(queued_frame(state.queued), hide_index=True,
                     column_config=QUEUED_COLUMNS, alt="Runs waiting for a worker")
    if state.running:
        st.markdown("**Running**")
        st.dataframe(running_frame(store, state), hide_index=True,
                     column_config=RUNNING_COLUMNS, alt="Runs being fetched")
    if state.workers:
        st.markdown("**Fetchers alive**")
        st.dataframe(workers_frame(state.workers), hide_index=True,
                     column_config=WORKER_COLUMNS, alt="Workers and other fetchers alive")
    if not any(w.kind == "worker" for w in state.workers):
        st.caption(NO_WORKER_ALIVE)
    if state.finished:
        st.markdown("**Last finished**")
        st.dataframe(finished_frame(state.finished), hide_index=True,
                     column_config=FINISHED_COLUMNS, alt="The last runs that ended")


# -- tables (cells are shown literally: no escaping, `shorten` to cut) ---------------------
def queued_frame(runs: list[RunInfo]) -> pd.DataFrame:
    return pd.DataFrame({
        "run": [r.id for r in runs],
        "label": [run_label(r) for r in runs],
        "customers": [r.customers for r in runs],
        "waiting since": [fmt_time(r.queued_at) for r in runs],
    })


def running_frame(store: Store, state: QueueState) -> pd.DataFrame:
    workers = {w.id: w for w in state.workers}
    rows = state.running
    return pd.DataFrame({
        "run": [x.run.id for x in rows],
        "label": [run_label(x.run) for x in rows],
        "progress": [_done(x.run) / x.run.customers if x.run.customers else 1.0
                     for x in rows],
        "done": [_done(x.run) for x in rows],
        "customers": [x.run.customers for x in rows],
        "fetchers": [shorten(running_fetchers(store, x, workers), 1000) for x in rows],
    })


def running_fetchers(store: Store, running: RunningRun, workers: dict[str, WorkerInfo]) -> str:
    """Who fetches a running run (plain text)."""
    if running.holders:
        return fetchers_line(running.holders, workers)
    if live_job(store, running.run.id) is not None:
        return "this dashboard"
    if running.run.queued_at is None:
        return "its own process (not the queue)"
    return "none right now"


def workers_frame(workers: list[WorkerInfo]) -> pd.DataFrame:
    return pd.DataFrame({
        "fetcher": [shorten(w.id) for w in workers],
        "host": [shorten(w.host) for w in workers],
        "kind": [w.kind for w in workers],
        "concurrency": [w.concurrency for w in workers],
        "working on": ["idle" if w.run_id is None else f"run #{w.run_id:d}" for w in workers],
        "last heartbeat": [f"{fmt_seconds(w.heartbeat_age_s)} ago" for w in workers],
    })


def finished_frame(runs: list[RunInfo]) -> pd.DataFrame:
    return pd.DataFrame({
        "run": [r.id for r in runs],
        "label": [run_label(r) for r in runs],
        "status": [r.status for r in runs],
        "finished": [fmt_time(r.finished_at) for r in runs],
    })


def _done(run: RunInfo) -> int:
    return run.fetched + run.failed

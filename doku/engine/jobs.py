"""Process-wide registry of running bulk jobs.

The dashboard's sessions come and go (page switches, reloads); the jobs live here,
in the server process, and write every result to the store as it arrives. After a
server restart the registry is empty: runs left 'running' in the store are marked
interrupted and can be resumed.
"""

from __future__ import annotations

import threading

from doku.engine.bulk import BulkJob
from doku.engine.store import Store

_lock = threading.Lock()
# (store key, run id) -> job: run 1 of one store is not run 1 of another.
_jobs: dict[tuple[str, int], BulkJob] = {}


def register(job: BulkJob) -> BulkJob:
    with _lock:
        _jobs.pop((job.store.key, job.run_id), None)  # newest last
        _jobs[(job.store.key, job.run_id)] = job
    return job


def get(run_id: int, store: Store | None = None) -> BulkJob | None:
    """The job of `run_id` in `store` (None: the newest job of that run id in any
    store; a process serving one store, like the dashboard, has just one)."""
    with _lock:
        if store is not None:
            return _jobs.get((store.key, run_id))
        found = [job for (_, rid), job in _jobs.items() if rid == run_id]
    return found[-1] if found else None


def running() -> list[BulkJob]:
    with _lock:
        return [j for j in _jobs.values() if not j.snapshot().finished]


def mark_orphans(store: Store) -> list[int]:
    """Runs left 'running' by a fetcher that is gone: a process of this machine that
    died (or this one, without a job), or one of another machine whose heartbeat is
    stale (`doku.engine.lease`).

    A run another live fetcher (say a CLI audit, or a worker elsewhere) is working on
    is left alone.
    """
    with _lock:
        owned = {rid for (key, rid), j in _jobs.items()
                 if key == store.key and not j.snapshot().finished}
    orphans = [
        lease.run_id
        for lease in store.running_leases()
        if lease.run_id not in owned and not lease.held_elsewhere()
    ]
    for rid in orphans:
        store.set_status(rid, "interrupted")
    return orphans

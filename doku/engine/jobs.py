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
_jobs: dict[int, BulkJob] = {}


def register(job: BulkJob) -> BulkJob:
    with _lock:
        _jobs[job.run_id] = job
    return job


def get(run_id: int) -> BulkJob | None:
    with _lock:
        return _jobs.get(run_id)


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
        owned = {rid for rid, j in _jobs.items() if not j.snapshot().finished}
    orphans = [
        lease.run_id
        for lease in store.running_leases()
        if lease.run_id not in owned and not lease.held_elsewhere()
    ]
    for rid in orphans:
        store.set_status(rid, "interrupted")
    return orphans

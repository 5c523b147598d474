"""Process-wide registry of running bulk jobs.

The dashboard's sessions come and go (page switches, reloads); the jobs live here,
in the server process, and write every result to the store as it arrives. After a
server restart the registry is empty: runs left 'running' in the store are marked
interrupted and can be resumed.
"""

from __future__ import annotations

import os
import threading

from doku.engine.bulk import BulkJob
from doku.engine.local import process_alive
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
    """Runs left 'running' by a process that is gone (or by this one, without a job).

    A run another live process (say a CLI audit) is working on is left alone.
    """
    with _lock:
        owned = {rid for rid, j in _jobs.items() if not j.snapshot().finished}
    me = os.getpid()
    orphans = [
        rid
        for rid, pid in store.running_owners().items()
        if rid not in owned and (pid is None or pid == me or not process_alive(pid))
    ]
    for rid in orphans:
        store.set_status(rid, "interrupted")
    return orphans

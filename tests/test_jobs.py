"""doku.engine.jobs: the process-wide registry and orphaned runs."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from doku.engine import jobs
from doku.engine.store import Store
from doku.engine.tables import runs


def _run(store: Store, owner_pid: int | None) -> int:
    run_id = store.create_run(
        ids=["C1", "C2"], env="simulator", base_url=None, client_id="MCH-1", input_name="t"
    )
    store.set_status(run_id, "running")
    with store.engine.begin() as conn:  # another process's claim, as it would have written it
        conn.execute(update(runs).where(runs.c.id == run_id).values(owner_pid=owner_pid))
    return run_id


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def store(backend_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """An empty store on each backend, and an empty registry whatever ran before."""
    monkeypatch.setattr(jobs, "_jobs", {})
    return backend_store


def test_runs_of_gone_or_unknown_owners_become_interrupted(store: Store) -> None:
    dead = _run(store, _dead_pid())
    no_owner = _run(store, None)
    mine_without_job = _run(store, os.getpid())
    live_other = _run(store, os.getppid())  # the test runner's parent is alive
    assert jobs.mark_orphans(store) == [dead, no_owner, mine_without_job]
    status = {r.id: r.status for r in store.list_runs()}
    assert status == {
        dead: "interrupted",
        no_owner: "interrupted",
        mine_without_job: "interrupted",
        live_other: "running",
    }
    assert jobs.mark_orphans(store) == []  # idempotent


class _FakeJob:
    """What the registry reads of a BulkJob: its store, run id and whether it finished."""

    def __init__(self, run_id: int, store: Store) -> None:
        self.run_id = run_id
        self.store = store
        self.finished = False

    def snapshot(self) -> SimpleNamespace:
        return SimpleNamespace(finished=self.finished)


def test_a_run_this_process_is_working_on_is_left_alone(store: Store) -> None:
    run_id = _run(store, os.getpid())
    job = _FakeJob(run_id, store)
    jobs.register(job)  # type: ignore[arg-type]
    assert jobs.get(run_id, store) is job
    assert jobs.running() == [job]
    assert jobs.mark_orphans(store) == []
    job.finished = True
    assert jobs.running() == []
    assert jobs.mark_orphans(store) == [run_id]  # finished job, store still says running

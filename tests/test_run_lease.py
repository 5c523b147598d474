"""A run has one live fetcher: a second start, resume or retry is refused, here or in
another process, and a run whose fetcher died can be taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import update

from doku.engine import bulk
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.engine.tables import runs
from doku.errors import NoSuchRunError, RunBusyError
from tests.backend_support import backend_url, both_backends
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import ids, settings_for

ROOT = Path(__file__).resolve().parent.parent


def _running_by(store: Store, pid: int | None) -> int:
    run_id = store.create_run(
        ids=["C1", "C2"], env="simulator", base_url=None, client_id="MCH-1", input_name="t"
    )
    with store.engine.begin() as conn:  # as another process would have left it
        conn.execute(update(runs).where(runs.c.id == run_id)
                     .values(status="running", owner_pid=pid))
    return run_id


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_refuses_a_run_held_by_a_live_process(backend_store: Store) -> None:
    store = backend_store
    held = _running_by(store, os.getppid())
    with pytest.raises(RunBusyError, match=rf"run {held} is already being fetched by process {os.getppid()}"):
        store.claim_run(held)
    assert store.get_run(held).status == "running"  # type: ignore[union-attr]
    orphan = _running_by(store, _dead_pid())
    store.claim_run(orphan)  # its fetcher is gone: taken over
    assert store.running_owners()[orphan] == os.getpid()
    with pytest.raises(NoSuchRunError):
        store.claim_run(999)


def test_a_second_resume_in_this_process_is_refused_while_the_first_runs(
    backend_store: Store, make_simulator: MakeSimulator
) -> None:
    slow = make_simulator(latency_ms=100)
    store = backend_store
    job = start_audit(store, parse_text("\n".join(ids(40))), settings_for(slow.url),
                      AuditOptions(concurrency=2))
    with pytest.raises(RunBusyError, match=rf"run {job.run_id} is already being fetched in this process"):
        bulk.start_resume(store, job.run_id, settings_for(slow.url))
    with pytest.raises(RunBusyError):
        bulk.start_retry_failed(store, job.run_id, settings_for(slow.url))
    job.cancel()
    assert job.wait(30).state == "cancelled"
    again = bulk.start_resume(store, job.run_id, settings_for(slow.url), concurrency=8)
    assert again.wait(60).state == "done"
    info = store.get_run(job.run_id)
    assert info is not None
    assert (info.fetched, info.pending) == (40, 0)
    assert slow.stats["requests"] == 40  # nobody fetched a customer twice


CLAIM = textwrap.dedent(
    """
    import os, sys
    from doku.engine.store import Store
    from doku.errors import RunBusyError
    store = Store(url=os.environ["CLAIM_STORE_URL"])  # not argv: it may hold a password
    sys.stdin.readline()  # both processes start claiming together
    try:
        store.claim_run(1)
        print("claimed", flush=True)
        sys.stdin.readline()  # hold the run (alive) until the test has both answers
    except RunBusyError:
        print("busy", flush=True)
    """
)


@both_backends
def test_two_processes_claiming_together_one_wins(tmp_path: Path) -> None:
    url = backend_url(tmp_path)
    with Store(url=url) as store:
        assert _running_by(store, None) == 1
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAIM_STORE_URL": url}
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIM], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    answers = []
    for p in procs:  # each says one word first; the holder stays alive meanwhile
        assert p.stdout is not None
        answers.append(p.stdout.readline().strip())
    for p in procs:
        p.communicate(input="release\n" if p.poll() is None else None, timeout=30)
    assert sorted(answers) == ["busy", "claimed"]

"""ui.state: sessions of one server pressing Start together get one run, not two."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.inputs import parse_text
from doku.engine.store import Store
from doku.errors import RunBusyError
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import ids, settings_for
from ui import state


def test_two_sessions_starting_together_get_one_run(
    tmp_path: Path, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state.jobs, "_jobs", {})
    slow = make_simulator(latency_ms=50)
    store = Store(tmp_path / "s.sqlite3")
    barrier = threading.Barrier(2)
    started: list[BulkJob | None] = []
    refused: list[RunBusyError] = []

    def press_start(prefix: str) -> None:
        barrier.wait()
        try:
            _, job = state.launch_audit(store, parse_text("\n".join(ids(20, prefix))),
                                        settings_for(slow.url), AuditOptions())
            started.append(job)
        except RunBusyError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=press_start, args=(p,)) for p in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(started) == 1
    assert len(refused) == 1
    job = started[0]
    assert job is not None  # SQLite: fetched in this process
    run_id = job.run_id
    assert str(refused[0]) == (f"run already live: run {run_id} is already live; "
                               "wait for it to finish or cancel it")
    assert [r.id for r in store.list_runs()] == [run_id]  # no second run recorded
    with pytest.raises(RunBusyError, match=f"run {run_id} is already being fetched"):
        state.launch_rerun(store, run_id, settings_for(slow.url), retry=False)
    assert job.wait(30).state == "done"


def test_the_schedule_clock_starts_once_the_store_has_a_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DOKU_DATABASE_URL", raising=False)
    settings = settings_for("http://127.0.0.1:9")
    assert state.ensure_schedule_clock(settings) is None  # no schedule: no thread
    store = state.get_store()
    store.save_audit(parse_text("S-1"), "Monthly")
    store.add_schedule("Monthly", "0 2 1 * *")
    assert state.ensure_schedule_clock(settings) is None  # checked a moment ago
    monkeypatch.setattr(state, "CLOCK_CHECK_S", 0.0)
    clock = state.ensure_schedule_clock(settings)
    assert clock is not None
    assert state.ensure_schedule_clock(settings) is clock  # one per process and store
    clock.stop()
    assert clock.fired == []  # nothing due yet: the first slot is next month

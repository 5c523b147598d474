"""Bulk runs under DOKU_RATE_LIMIT: every request takes one team slot from the store, a
429 is recorded there for every other process, and a store that fails mid-run aborts
the run with its customers left pending (a resume fetches them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doku.engine.bulk import AuditOptions
from doku.engine.connection import connect
from doku.engine.inputs import parse_text
from doku.engine.ratelimit import TeamPacer
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from tests.simulator_fixtures import MakeSimulator

CUSTOMERS = [f"C-{i:04d}" for i in range(20)]


def team_settings(url: str, rate_limit: float) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url,
                    rate_limit=rate_limit)


def test_every_request_of_a_run_takes_one_team_slot(
    store_url: str, make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    with Store(url=store_url) as store:
        job = start_audit(store, parse_text("\n".join(CUSTOMERS)),
                          team_settings(sim.url, 400.0), AuditOptions(concurrency=4))
        progress = job.wait(60)
        assert (progress.state, progress.fetched, progress.retries) == ("done", 20, 0)
        assert isinstance(job.pacer, TeamPacer)
        assert job.pacer.slots == 20
        assert store.sending_pause(SIMULATOR_CLIENT_ID).until == 0.0


def test_a_429_in_a_run_is_recorded_for_the_whole_team(
    store_url: str, make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator(rate_429=1.0, retry_after_s=0)
    with Store(url=store_url) as store:
        job = start_audit(store, parse_text("\n".join(CUSTOMERS[:4])),
                          team_settings(sim.url, 400.0),
                          AuditOptions(concurrency=2, max_attempts=2))
        progress = job.wait(60)
        assert (progress.state, progress.failed, progress.retries) == ("done", 4, 4)
        assert progress.rate_limited_pauses >= 1
        pause = store.sending_pause(SIMULATOR_CLIENT_ID)
        assert pause.until > 0.0  # 0.0 until some process records a 429


def test_a_store_that_fails_aborts_the_run_and_keeps_its_customers_pending(
    tmp_path: Path, make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    db = tmp_path / "doku-audit.sqlite3"
    with Store(db) as store:
        with store.engine.begin() as conn:  # the schedule's table is gone
            conn.exec_driver_sql("DROP TABLE rate_limits")
        job = start_audit(store, parse_text("\n".join(CUSTOMERS)),
                          team_settings(sim.url, 400.0), AuditOptions(concurrency=1))
        progress = job.wait(60)
        assert (progress.state, progress.done) == ("aborted", 0)
        assert progress.error is not None
        assert progress.error.startswith(
            f"the team's rate limit (DOKU_RATE_LIMIT): cannot use the store at {db}: ")
        assert store.pending_ids(job.run_id) == CUSTOMERS


def test_a_single_lookup_takes_a_team_slot_too(
    tmp_path: Path, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DOKU_DATABASE_URL", raising=False)
    sim = make_simulator()
    with connect(team_settings(sim.url, 50.0), pool_size=1) as client:
        assert isinstance(client.pacer, TeamPacer)
        client.get_tokens("CUST-0001")
        client.get_tokens("CUST-0002")
        assert client.pacer.slots == 2
    with Store(tmp_path / "doku-audit.sqlite3") as store, store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT client_id FROM rate_limits").all()
    assert rows == [(SIMULATOR_CLIENT_ID,)]  # the team's schedule, in the configured store

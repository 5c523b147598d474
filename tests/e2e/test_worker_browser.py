"""A team's setup in a real browser: the dashboard and a `doku worker` on one PostgreSQL
store. An audit started on the page is queued and fetched by the worker (the dashboard
fetches nothing itself), the page names the worker while it runs, the dashboard is
stopped mid-run and the run still finishes, and a new dashboard shows it done."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY
from doku.simulator import SimulatorConfig, start_simulator_process, stop_simulator_process
from tests.e2e.conftest import ROOT, start_streamlit
from tests.e2e.test_journey import settle
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

IDS = [f"CUST-{20001 + i}" for i in range(400)]


def test_a_worker_fetches_what_the_dashboard_queues_and_survives_its_restart(
    pg_url: str, browser_page: Page, tmp_path: Path,
) -> None:
    sim_url, sim = start_simulator_process(SimulatorConfig(latency_ms=150))
    doku_env = {"DOKU_DATABASE_URL": pg_url, "DOKU_BASE_URL": sim_url,
                "DOKU_CLIENT_ID": SIMULATOR_CLIENT_ID, "DOKU_SECRET_KEY": SIMULATOR_SECRET_KEY}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env.update(doku_env, DOKU_ENV="simulator", PYTHONPATH=str(ROOT))
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "doku", "worker", "--concurrency", "4"],
                              env=env, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
    page = browser_page
    try:
        with Store(url=pg_url) as store:
            wait_until(lambda: [w.kind for w in store.workers()] == ["worker"], 60,
                       "the worker to register")
            with start_streamlit(tmp_path / "first", doku_env) as server:
                page.goto(f"{server.url}/Bulk_audit")
                expect(page.get_by_role("heading", name="Bulk audit", exact=True)
                       ).to_be_visible()
                paste = page.get_by_label("Paste customer IDs")
                paste.fill("\n".join(IDS))
                paste.press("Control+Enter")
                page.get_by_role("button", name=re.compile("Start audit")).click()
                expect(page.get_by_text(re.compile(r"worker \S+ on \S+ \(\d+ in hand\)"))
                       ).to_be_visible(timeout=60_000)
                run_id = store.latest_run_id()
                assert run_id is not None
                wait_until(lambda: store.get_run(run_id).fetched >= 40, 60,  # type: ignore[union-attr]
                           "the worker's first results")
                # Only the worker fetches: the dashboard never registered as a fetcher.
                assert {w.kind for w in store.workers()} == {"worker"}
            # The dashboard is gone (stopped mid-run); the worker goes on.
            run = store.get_run(run_id)
            assert run is not None
            assert (run.status, run.pending > 0) == ("running", True)
            wait_until(lambda: store.get_run(run_id).status == "done", 120,  # type: ignore[union-attr]
                       "the worker to finish the run")
            done = store.get_run(run_id)
            assert done is not None
            assert (done.fetched, done.failed, done.pending) == (len(IDS), 0, 0)
            with start_streamlit(tmp_path / "second", doku_env) as server:
                page.goto(f"{server.url}/Runs")
                expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
                settle(page)
                expect(page.get_by_text("Queue and workers")).to_be_visible()
                expect(page.get_by_text(re.compile(r"0 queued · 0 running · 1 worker alive \(1 idle\)"))
                       ).to_be_visible()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        worker_log.close()
        stop_simulator_process(sim)

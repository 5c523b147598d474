"""AppTest of audits run by workers: on PostgreSQL a run started on Bulk audit is queued
for `doku worker`s (this process fetches nothing while one is alive), its panel and the
"Queue and workers" section say who fetches it or why nobody does yet, Cancel stops
every worker; with no worker alive the dashboard fetches the run itself. On SQLite
nothing changes and the section is one caption.

Workers are registered straight in the store (`register_worker`, `claim_batch`), as a
`doku worker` would: the page reads the store alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from doku.engine import jobs
from doku.engine.lease import this_host
from doku.engine.store import Store
from doku.settings import DATABASE_URL_KEY, SIMULATOR_CLIENT_ID
from tests.apptest_support import isolate, metrics, ok, open_page, shown, wait_finished
from ui.present import run_label
from ui.queue_view import NO_WORKER, NO_WORKER_ALIVE, SQLITE_NOTE

BULK = "pages/2_Bulk_audit.py"
RUNS = "pages/4_Runs.py"
IDS = [f"Q-{i:03d}" for i in range(10)]
HOSTILE_WORKER = "w-1 *bold* [x](http://evil.test) <b>"  # ids come from the store


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path / "data")


@pytest.fixture
def pg_store(monkeypatch: pytest.MonkeyPatch, pg_store_url: str) -> Iterator[Store]:
    """This test's PostgreSQL database, as the dashboard's store (DOKU_DATABASE_URL)."""
    monkeypatch.setenv(DATABASE_URL_KEY, pg_store_url)
    with Store(url=pg_store_url) as store:
        yield store


def live_worker(store: Store, run_id: int | None = None, worker_id: str | None = None) -> str:
    """A `doku worker` (concurrency 8) that has just said it is alive."""
    worker = store.register_worker("worker", 8, worker_id)
    store.worker_heartbeat(worker, run_id)
    return worker


def queued_run(store: Store, ids: list[str], name: str) -> int:
    return store.create_run(ids=ids, env="simulator", base_url=None,
                            client_id=SIMULATOR_CLIENT_ID, input_name="queued.csv",
                            name=name, queued=True)


def start_audit(at: AppTest, ids: list[str]) -> int:
    ok(at.text_area(key="bulk_paste").input("\n".join(ids)).run())
    ok(at.button(key="bulk_start").click().run())
    run_id: int = at.session_state["bulk_run_id"]
    return run_id


def texts(at: AppTest) -> list[str]:
    """What the reader sees of the page's Markdown elements."""
    return [shown(e.value) for e in (*at.markdown, *at.caption, *at.warning, *at.info)]


def progress_text(at: AppTest) -> str:
    bars = at.get("progress")
    assert len(bars) == 1
    return str(bars[0].proto.text)


def table(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def status_of(store: Store, run_id: int) -> str:
    run = store.get_run(run_id)
    assert run is not None
    return run.status


def test_with_a_worker_alive_start_queues_the_run_and_cancel_stops_every_worker(
    pg_store: Store,
) -> None:
    worker = live_worker(pg_store, worker_id=HOSTILE_WORKER)
    at = open_page(BULK, no_errors=True)
    run_id = start_audit(at, IDS)
    assert jobs.get(run_id, pg_store) is None  # nothing fetched in this process
    run = pg_store.get_run(run_id)
    assert run is not None
    assert (run.status, run.pending, run.queued_at is not None) == ("queued", 10, True)
    assert progress_text(at) == f"Run #{run_id}: 0 of 10 customers (0 %) · waiting in the queue"
    assert "Queued: an idle worker takes it in a moment (1 of 1 workers idle)." in texts(at)
    assert not at.button(key="bulk_start").disabled  # runs queue: another may start

    # The worker takes a batch of 4 and records 2 of them.
    claim = pg_store.claim_batch(run_id, worker, 4)
    assert claim.customer_ids == IDS[:4]
    for cid in IDS[:2]:
        pg_store.record_fetched(run_id, cid, [], attempts=1)
    pg_store.worker_heartbeat(worker, run_id)
    ok(at.run(), no_errors=True)
    named = f"worker {worker} on {this_host()} (2 in hand)"
    assert progress_text(at) == f"Run #{run_id}: 2 of 10 customers (20 %) · fetched by the queue"
    assert f"**Fetched by:** {named}." in texts(at)
    assert not [m for m in at.markdown if "[x](" in m.value]  # escaped: no link
    m = metrics(at)
    assert (m["Done"], m["Failed"], m["Remaining"]) == ("2", "0", "8")
    running = table(at, "fetchers")  # the Queue and workers section
    assert running.to_dict("records") == [{
        "run": run_id, "label": run_label(run), "progress": 0.2, "done": 2, "customers": 10,
        "fetchers": named}]
    workers = table(at, "working on").drop(columns=["last heartbeat"])
    assert workers.to_dict("records") == [{
        "fetcher": worker, "host": this_host(), "kind": "worker", "concurrency": 8,
        "working on": f"run #{run_id}"}]

    ok(at.button(key="bulk_cancel").click().run(), no_errors=True)
    assert status_of(pg_store, run_id) == "cancelled"
    assert not pg_store.claim_batch(run_id, worker, 4).open  # the worker stops claiming
    assert not at.get("progress")
    assert (metrics(at)["Fetched"], metrics(at)["Pending"]) == ("2", "8")
    assert ":orange-badge[:material/cancel: Cancelled]" in [m.value for m in at.markdown]

    # Resume puts it back on the queue: still nothing fetched here.
    ok(at.button(key="bulk_resume").click().run(), no_errors=True)
    assert status_of(pg_store, run_id) == "queued"
    assert jobs.get(run_id, pg_store) is None
    assert progress_text(at) == f"Run #{run_id}: 2 of 10 customers (20 %) · waiting in the queue"


def test_a_run_waits_behind_the_runs_busy_workers_fetch(pg_store: Store) -> None:
    first = queued_run(pg_store, IDS[:5], "first")
    worker = live_worker(pg_store, first)
    pg_store.claim_batch(first, worker, 5)  # the only worker is busy with run 1
    at = open_page(BULK, no_errors=True)
    run_id = start_audit(at, IDS[5:])
    assert jobs.get(run_id, pg_store) is None
    assert ("Queued behind 1 run: every worker is busy (1 alive); it starts when one "
            "is free.") in texts(at)
    queued = table(at, "waiting since")
    created = pg_store.get_run(run_id)
    assert created is not None
    assert created.queued_at is not None
    since = created.queued_at
    assert queued.to_dict("records") == [{
        "run": run_id, "label": run_label(created), "customers": 5,
        "waiting since": f"{since[:10]} {since[11:16]} UTC"}]
    assert list(table(at, "fetchers")["fetchers"]) == [
        f"worker {worker} on {this_host()} (5 in hand)"]


def test_runs_page_says_nobody_fetches_a_queued_run_without_a_worker(pg_store: Store) -> None:
    run_id = queued_run(pg_store, IDS, "month-end")
    at = open_page(RUNS, timeout=60, no_errors=True)
    assert at.selectbox(key="runs_pick").value == run_id
    assert progress_text(at) == f"Run #{run_id}: 0 of 10 customers (0 %) · waiting in the queue"
    assert NO_WORKER in [m.value for m in at.markdown]
    assert NO_WORKER_ALIVE in [c.value for c in at.caption]
    assert "1 queued · 0 running · 0 workers alive (0 idle)." in texts(at)
    assert list(table(at, "waiting since")["run"]) == [run_id]
    assert "working on" not in {c for d in at.dataframe for c in d.value.columns}
    ok(at.button(key="runs_cancel").click().run(), no_errors=True)
    assert status_of(pg_store, run_id) == "cancelled"
    finished = table(at, "finished")
    assert (list(finished["run"]), list(finished["status"])) == ([run_id], ["cancelled"])


def test_with_no_worker_alive_the_dashboard_fetches_the_run_itself(pg_store: Store) -> None:
    at = open_page(BULK, no_errors=True)
    run_id = start_audit(at, IDS)
    job = jobs.get(run_id, pg_store)
    assert job is not None
    assert job.source.shared
    wait_finished(at, no_errors=True)
    run = pg_store.get_run(run_id)
    assert run is not None
    assert (run.status, run.fetched, run.pending, run.queued_at is not None) == (
        "done", 10, 0, True)
    assert (metrics(at)["Fetched"], metrics(at)["Pending"]) == ("10", "0")
    assert pg_store.workers() == []  # the dashboard's fetcher left when it was done
    assert "0 queued · 0 running · 0 workers alive (0 idle)." in texts(at)
    finished = table(at, "finished")
    assert (list(finished["run"]), list(finished["status"])) == ([run_id], ["done"])


def test_on_sqlite_the_dashboard_fetches_and_the_queue_is_one_caption(data_dir: Path) -> None:
    at = open_page(BULK, no_errors=True)
    assert SQLITE_NOTE in [c.value for c in at.caption]
    run_id = start_audit(at, IDS)
    job = jobs.get(run_id)
    assert job is not None
    assert not job.source.shared
    wait_finished(at, no_errors=True)
    assert (metrics(at)["Fetched"], metrics(at)["Pending"]) == ("10", "0")
    runs = open_page(RUNS, timeout=60, no_errors=True)
    assert SQLITE_NOTE in [c.value for c in runs.caption]
    assert "Queue and workers" not in [e.label for e in runs.expander]
    assert "Queue and workers" not in " ".join(s.value for s in runs.subheader)
    with Store(data_dir / "doku-audit.sqlite3") as store:
        run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.fetched, run.queued_at) == ("done", 10, None)

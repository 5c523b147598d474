"""AppTest of Insights on a run still being written: its results are read again once
they may be RUNNING_REFRESH_S old (the page's own clock reruns it that often), and a
finished run is read from its snapshot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import update

import ui.keys
from doku.engine.tables import runs
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.apptest_support import isolate, metrics, open_page, seed_run, shown
from tests.apptest_support import ok as check
from tests.backend_support import both_backends, open_store
from ui.keys import RUNNING_REFRESH_S

pytestmark = both_backends
IDS = [f"CUST-{i:03d}" for i in range(1, 7)]


def _tokens(cid: str, n: int) -> list[Token]:
    return [Token(cid, "Ani", DIRECT_DEBIT if i % 2 else CREDIT_CARD, "BRI",
                  None if i % 2 else "visa", f"****{i:04d}", f"{cid}-tok-{i}")
            for i in range(n)]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_a_running_run_is_read_again_every_refresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest,
    backend: str,  # noqa: ARG001
) -> None:
    folder = isolate(monkeypatch, tmp_path / "data")
    clock = Clock(1_000 * RUNNING_REFRESH_S)
    monkeypatch.setattr(ui.keys, "time", clock)
    tokens = {cid: _tokens(cid, 2) for cid in IDS}
    run_id = seed_run(folder, IDS, tokens, pending=IDS[2:], status=None)
    holder = subprocess.Popen(["sleep", "600"])  # the live process fetching the run
    request.addfinalizer(holder.kill)
    with open_store(folder) as store:
        store.claim_run(run_id)
        with store.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(owner_pid=holder.pid))
    at = open_page("pages/3_Insights.py", timeout=60, no_errors=True, run=str(run_id))
    assert metrics(at)["Tokens"] == "4"
    assert f"refreshed every {RUNNING_REFRESH_S:d} s" in " ".join(shown(c.value) for c in at.caption)
    with open_store(folder) as store:
        store.record_fetched(run_id, IDS[2], tokens[IDS[2]], attempts=1)
    clock.now += RUNNING_REFRESH_S - 1
    check(at.run(), no_errors=True)
    assert metrics(at)["Tokens"] == "4"  # at most RUNNING_REFRESH_S old
    clock.now += 1
    check(at.run(), no_errors=True)
    assert metrics(at)["Tokens"] == "6"
    with open_store(folder) as store:
        for cid in IDS[3:]:
            store.record_fetched(run_id, cid, tokens[cid], attempts=1)
        store.set_status(run_id, "done")
    check(at.run(), no_errors=True)
    assert metrics(at)["Tokens"] == "12"
    assert "refreshed every" not in " ".join(shown(c.value) for c in at.caption)
    with open_store(folder) as store:
        assert [r.tokens for r in store.list_runs()] == [12]
        assert store.snapshot_blob(run_id) is not None  # kept by the page's first look

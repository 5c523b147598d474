"""AppTest of the Runs page: history, resume/retry of a picked run, and run comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import SimulatorConfig, start_simulator
from tests.apptest_support import ROOT, isolate, metrics, open_page
from tests.apptest_support import ok as check
from tests.apptest_support import wait_finished as wait_for_runs
from tests.simulator_fixtures import MakeSimulator

RUNS = "pages/4_Runs.py"
IDS = [f"CMP-{i:04d}" for i in range(800)]


def settings_for(url: str) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url)


def audit(store: Store, url: str, ids: list[str]) -> int:
    job = start_audit(store, parse_text("\n".join(ids)), settings_for(url), AuditOptions())
    assert job.wait(120).finished
    return job.run_id


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run #1 against the world at epoch 0, run #2 (same customers but the first 100,
    plus 50 new ones) three epochs later: some customers gained or lost tokens."""
    folder = tmp_path_factory.mktemp("runs") / "data"
    folder.mkdir()
    before = start_simulator(SimulatorConfig(epoch=0))
    after = start_simulator(SimulatorConfig(epoch=3))
    try:
        with Store(folder / "doku-audit.sqlite3") as store:
            audit(store, before.url, IDS)
            audit(store, after.url, IDS[100:] + [f"NEW-{i}" for i in range(50)])
    finally:
        before.stop()
        after.stop()
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def ok(at: AppTest) -> AppTest:
    return check(at, no_errors=True)


def open_runs() -> AppTest:
    return open_page(RUNS, timeout=60, no_errors=True)


def num(text: str) -> int:
    return int(text.replace(",", ""))


def cli(data_dir: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env["DOKU_DATA_DIR"] = str(data_dir)
    out = subprocess.run([sys.executable, "-m", "doku", *args, "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def wait_finished(at: AppTest) -> AppTest:
    return wait_for_runs(at, no_errors=True)


def test_history_lists_every_run_with_its_counts(data_dir: Path) -> None:
    at = open_runs()
    history = at.dataframe[0].value
    with Store(data_dir / "doku-audit.sqlite3") as store:
        runs = store.list_runs()
    assert list(history["run"]) == [r.id for r in runs] == [2, 1]
    for row, run in zip(history.itertuples(), runs, strict=True):
        assert (row.status, row.customers, row.fetched, row.failed, row.tokens) == (
            run.status, run.customers, run.fetched, run.failed, run.tokens
        )
    assert at.get("vega_lite_chart"), "run-over-run trend chart"


def test_compare_previous_with_latest_equals_the_compare_cli(data_dir: Path) -> None:
    at = open_runs()
    assert (at.selectbox(key="runs_compare_a").value,
            at.selectbox(key="runs_compare_b").value) == (1, 2)
    expected = cli(data_dir, "compare", "1", "2")
    assert expected["gained"] > 0
    assert expected["lost"] > 0
    m = metrics(at)
    assert num(m["Gained tokens"]) == expected["gained"]
    assert num(m["Lost tokens"]) == expected["lost"]
    assert num(m["Tokens added"]) == expected["tokens_added"]
    assert num(m["Tokens removed"]) == expected["tokens_removed"]
    assert m["Uptake A"] == f"{expected['uptake_a']['uptake'] * 100:.1f} %"
    assert m["Uptake B"] == f"{expected['uptake_b']['uptake'] * 100:.1f} %"
    captions = " ".join(c.value for c in at.caption)
    assert f"{expected['fetched_in_both']:,} customers fetched in both" in captions
    assert f"{expected['only_in_a']:,} only in A" in captions
    by_type, by_issuer, changes = at.dataframe[1].value, at.dataframe[2].value, at.dataframe[3].value
    for table in (by_type, by_issuer):
        assert table["added"].sum() == expected["tokens_added"]
        assert table["removed"].sum() == expected["tokens_removed"]
    assert len(changes) == min(500, expected["tokens_added"] + expected["tokens_removed"])
    for kind, row in expected["uptake_by_type"].items():
        mine = by_type[by_type["type"] == kind].iloc[0]
        assert mine["uptake_a"] == pytest.approx(row["uptake_a"] * 100)
        assert mine["uptake_b"] == pytest.approx(row["uptake_b"] * 100)


def test_swapping_the_runs_swaps_gains_and_losses(data_dir: Path) -> None:
    at = open_runs()
    before = metrics(at)
    ok(at.selectbox(key="runs_compare_a").select(2).run())
    ok(at.selectbox(key="runs_compare_b").select(1).run())
    after = metrics(at)
    assert after["Gained tokens"] == before["Lost tokens"]
    assert after["Tokens added"] == before["Tokens removed"]


def test_same_run_twice_is_not_compared() -> None:
    at = open_runs()
    ok(at.selectbox(key="runs_compare_a").select(2).run())
    assert "Pick two different runs." in [c.value for c in at.caption]
    assert "Tokens added" not in metrics(at)


def test_resume_an_interrupted_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A run left 'running' by a dead process is marked interrupted and resumable."""
    folder = tmp_path / "data"
    folder.mkdir()
    isolate(monkeypatch, folder)
    with Store(folder / "doku-audit.sqlite3") as store:
        run_id = store.create_run(
            ids=IDS[:300], env="simulator", base_url=None, client_id=SIMULATOR_CLIENT_ID,
            input_name="crashed.csv",
        )  # status 'running', no owner: its process is gone
    at = open_runs()
    assert at.selectbox(key="runs_pick").value == run_id
    assert "Interrupted" in " ".join(m.value for m in at.markdown)
    assert num(metrics(at)["Pending"]) == 300
    ok(at.button(key="runs_resume").click().run())
    wait_finished(at)
    m = metrics(at)
    assert (num(m["Fetched"]), num(m["Pending"])) == (300, 0)
    with Store(folder / "doku-audit.sqlite3") as store:
        info = store.get_run(run_id)
        assert info is not None
        assert info.status == "done"


def test_retry_failed_from_the_runs_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         make_simulator: MakeSimulator) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    isolate(monkeypatch, folder)
    faulty = make_simulator(bad_signature_rate=0.3, seed=3)
    with Store(folder / "doku-audit.sqlite3") as store:
        run_id = audit(store, faulty.url, IDS[:200])
        info = store.get_run(run_id)
        assert info is not None
        assert info.failed > 0
    # The page uses the embedded simulator (no faults): a retry fetches them all.
    at = open_runs()
    assert num(metrics(at)["Failed"]) == info.failed
    assert "runs_resume" not in {b.key for b in at.button}  # nothing pending
    ok(at.button(key="runs_retry").click().run())
    wait_finished(at)
    m = metrics(at)
    assert (num(m["Fetched"]), num(m["Failed"])) == (200, 0)


def test_no_runs_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path / "empty")
    at = open_runs()
    assert not at.dataframe
    assert "No runs yet" in " ".join(m.value for m in at.markdown)

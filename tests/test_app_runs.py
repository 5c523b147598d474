"""AppTest of the Runs page: history, resume/retry of a picked run, and run comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from doku.analysis.labels import type_label
from tests.apptest_support import (
    cli_json,
    isolate,
    metrics,
    open_page,
    seed_run,
    shown,
    world_tokens,
)
from tests.apptest_support import ok as check
from tests.apptest_support import wait_finished as wait_for_runs
from tests.backend_support import open_store, sqlite_only

RUNS = "pages/4_Runs.py"
IDS = [f"CMP-{i:04d}" for i in range(800)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    """Run #1 of the simulator's world at epoch 0, run #2 (same customers but the first
    100, plus 50 new ones) three epochs later, so some customers gained or lost tokens;
    both written straight into the store."""
    folder = tmp_path_factory.mktemp("runs") / "data"
    seed_run(folder, IDS, world_tokens(epoch=0))
    seed_run(folder, IDS[100:] + [f"NEW-{i}" for i in range(50)], world_tokens(epoch=3))
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


def wait_finished(at: AppTest) -> AppTest:
    return wait_for_runs(at, no_errors=True)


def test_history_lists_every_run_with_its_counts(data_dir: Path) -> None:
    at = open_runs()
    history = at.dataframe[0].value
    with open_store(data_dir) as store:
        runs = store.list_runs()
    assert list(history["run"]) == [r.id for r in runs] == [2, 1]
    for row, run in zip(history.itertuples(), runs, strict=True):
        assert (row.status, row.customers, row.fetched, row.failed, row.tokens) == (
            run.status, run.customers, run.fetched, run.failed, run.tokens
        )
    assert at.get("vega_lite_chart"), "run-over-run trend chart"


def test_compare_previous_with_latest_equals_the_compare_cli() -> None:
    at = open_runs()
    assert (at.selectbox(key="runs_compare_a").value,
            at.selectbox(key="runs_compare_b").value) == (1, 2)
    expected = cli_json("compare", "1", "2")
    assert expected["gained"] > 0
    assert expected["lost"] > 0
    m = metrics(at)
    assert num(m["Gained tokens"]) == expected["gained"]
    assert num(m["Lost tokens"]) == expected["lost"]
    assert num(m["Tokens added"]) == expected["tokens_added"]
    assert num(m["Tokens removed"]) == expected["tokens_removed"]
    assert m["Uptake A"] == f"{expected['uptake_a']['uptake'] * 100:.1f} %"
    assert m["Uptake B"] == f"{expected['uptake_b']['uptake'] * 100:.1f} %"
    captions = shown(" ".join(c.value for c in at.caption))
    assert f"{expected['fetched_in_both']:,} customers fetched in both" in captions
    assert f"{expected['only_in_a']:,} only in A" in captions
    tables = [d.value for d in at.dataframe]
    by_type = next(t for t in tables if {"type", "added"} <= set(t.columns))
    by_issuer = next(t for t in tables if {"issuer", "added"} <= set(t.columns))
    changes = next(t for t in tables if "change" in t.columns)
    for table in (by_type, by_issuer):
        assert table["added"].sum() == expected["tokens_added"]
        assert table["removed"].sum() == expected["tokens_removed"]
    assert len(changes) == min(500, expected["tokens_added"] + expected["tokens_removed"])
    for kind, row in expected["uptake_by_type"].items():
        mine = by_type[by_type["type"] == type_label(kind)].iloc[0]
        assert mine["uptake_a"] == pytest.approx(row["uptake_a"] * 100)
        assert mine["uptake_b"] == pytest.approx(row["uptake_b"] * 100)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_swapping_the_runs_swaps_gains_and_losses() -> None:
    at = open_runs()
    before = metrics(at)
    ok(at.selectbox(key="runs_compare_a").select(2).run())
    ok(at.selectbox(key="runs_compare_b").select(1).run())
    after = metrics(at)
    assert after["Gained tokens"] == before["Lost tokens"]
    assert after["Tokens added"] == before["Tokens removed"]


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_same_run_twice_is_not_compared() -> None:
    at = open_runs()
    ok(at.selectbox(key="runs_compare_a").select(2).run())
    assert "Pick two different runs." in [c.value for c in at.caption]
    assert "Tokens added" not in metrics(at)


@pytest.mark.usefixtures("backend")  # a store of its own
def test_resume_an_interrupted_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A run left 'running' by a dead process is marked interrupted and resumable."""
    folder = isolate(monkeypatch, tmp_path / "data")
    # status 'running', no owner and no results: its process is gone
    run_id = seed_run(folder, IDS[:300], {}, pending=IDS[:300], status=None,
                      input_name="crashed.csv")
    at = open_runs()
    assert at.selectbox(key="runs_pick").value == run_id
    assert "Interrupted" in " ".join(m.value for m in at.markdown)
    assert num(metrics(at)["Pending"]) == 300
    ok(at.button(key="runs_resume").click().run())
    wait_finished(at)
    m = metrics(at)
    assert (num(m["Fetched"]), num(m["Pending"])) == (300, 0)
    with open_store(folder) as store:
        info = store.get_run(run_id)
        assert info is not None
        assert info.status == "done"


@sqlite_only("retries run on PostgreSQL from Bulk audit and the engine tests")
def test_retry_failed_from_the_runs_page(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    folder = isolate(monkeypatch, tmp_path / "data")
    failed = {cid: "signature_mismatch" for cid in IDS[:200:4]}  # 50 of 200
    run_id = seed_run(folder, IDS[:200], world_tokens(), failed=failed)
    # The page uses the embedded simulator (no faults): a retry fetches them all.
    at = open_runs()
    assert at.selectbox(key="runs_pick").value == run_id
    m = metrics(at)
    assert (num(m["Fetched"]), num(m["Failed"]), num(m["Pending"])) == (150, 50, 0)
    assert "runs_resume" not in {b.key for b in at.button}  # nothing pending
    ok(at.button(key="runs_retry").click().run())
    wait_finished(at)
    m = metrics(at)
    assert (num(m["Fetched"]), num(m["Failed"])) == (200, 0)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_no_runs_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path / "empty")
    at = open_runs()
    assert not at.dataframe
    assert "No runs yet" in " ".join(m.value for m in at.markdown)

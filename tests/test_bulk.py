"""Bulk audits against the project's simulator: terminal states, truth, resume, aborts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from doku.client.pacing import SharedPacer
from doku.engine import bulk
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.results import Result
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.errors import CancelledError
from doku.models import parse_tokens
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import (
    RunningSimulator,
    SimulatorConfig,
    start_simulator_process,
    stop_simulator_process,
    world,
)
from tests.backend_support import SQLITE, backend_url, both_backends, open_store
from tests.simulator_fixtures import MakeSimulator
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def settings_for(url: str, secret: str = SIMULATOR_SECRET_KEY, env: str = "simulator") -> Settings:
    return Settings(env, SIMULATOR_CLIENT_ID, SecretKey(secret), url)


def ids(n: int, prefix: str = "C") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(n)]


def truth(cid: str, seed: int = 0, epoch: int = 0) -> list[tuple[str, str, str | None, str]]:
    return [
        (t.type, t.issuer, t.brand, t.fingerprint)
        for t in parse_tokens(world.tokens_for(cid, seed, epoch))
    ]


def stored(store: Store, run_id: int) -> dict[str, list[tuple[str, str, str | None, str]]]:
    out: dict[str, list[tuple[str, str, str | None, str]]] = {}
    for cid, _name, typ, issuer, brand, _masked, fp, _tid, _attrs in store.token_rows(run_id):
        out.setdefault(cid, []).append((typ, issuer, brand, fp))
    return out


def assert_matches_truth(store: Store, run_id: int, seed: int = 0) -> None:
    rows = store.customer_rows(run_id)
    got = stored(store, run_id)
    for cid, status, _name, n_tokens, *_ in rows:
        if status == "fetched":
            assert got.get(cid, []) == truth(cid, seed), cid
            assert n_tokens == len(truth(cid, seed))
        else:
            assert status == "failed"
            assert cid not in got


@pytest.fixture
def store(backend_store: Store) -> Store:
    """An empty store on each backend: the tests that use it run twice."""
    return backend_store


def test_run_fetches_everyone_and_matches_truth(store: Store, simulator: RunningSimulator) -> None:
    parsed = parse_text("\n".join([*ids(300), "CUST-0001", "C-000001"]))
    job = start_audit(store, parsed, settings_for(simulator.url), AuditOptions(concurrency=8))
    p = job.wait(60)
    assert p.state == "done"
    assert p.done == p.total == 301
    assert p.failed == 0
    info = store.get_run(job.run_id)
    assert info is not None
    assert (info.customers, info.fetched, info.pending, info.duplicates) == (301, 301, 0, 1)
    assert info.tokens == sum(len(truth(c)) for c in parsed.ids) == p.tokens
    assert_matches_truth(store, job.run_id)
    # raw token IDs are not stored unless asked for
    assert all(r[7] is None for r in store.token_rows(job.run_id))


def test_token_ids_stored_only_on_opt_in(store: Store, simulator: RunningSimulator) -> None:
    parsed = parse_text("CUST-0001")
    job = start_audit(
        store, parsed, settings_for(simulator.url), AuditOptions(store_token_ids=True)
    )
    job.wait(30)
    assert next(r[7] for r in store.token_rows(job.run_id)) == "243591d7e49f45109961581718c3ef82"


def test_wrong_credentials_abort_at_once(store: Store, simulator: RunningSimulator) -> None:
    parsed = parse_text("\n".join(ids(2000)))
    job = start_audit(
        store, parsed, settings_for(simulator.url, secret="wrong"), AuditOptions(concurrency=8)
    )
    p = job.wait(30)
    assert p.state == "aborted"
    assert "authentication rejected (401)" in (p.error or "")
    info = store.get_run(job.run_id)
    assert info is not None
    assert info.status == "aborted"
    assert info.pending >= 2000 - 16  # nobody was failed for the credentials' fault
    assert simulator.stats.snapshot()["requests"] < 50


def test_cancel_then_resume_completes(store: Store, make_simulator: MakeSimulator) -> None:
    sim = make_simulator(latency_ms=20)
    parsed = parse_text("\n".join(ids(600)))
    settings = settings_for(sim.url)
    job = start_audit(store, parsed, settings, AuditOptions(concurrency=4))
    wait_until(lambda: job.snapshot().done >= 20, 30, "20 customers done")
    job.cancel()
    p = job.wait(30)
    assert p.state == "cancelled"
    info = store.get_run(job.run_id)
    assert info is not None
    assert info.status == "cancelled"
    assert info.fetched + info.failed + info.pending == 600
    assert info.pending > 0
    resumed = bulk.start_resume(store, job.run_id, settings, concurrency=16)
    assert resumed.snapshot().total == info.pending
    assert resumed.wait(60).state == "done"
    final = store.get_run(job.run_id)
    assert final is not None
    assert (final.fetched, final.pending, final.status) == (600, 0, "done")
    assert_matches_truth(store, job.run_id)


def test_retry_failed_refetches_only_failed(store: Store, make_simulator: MakeSimulator) -> None:
    flaky = make_simulator(bad_signature_rate=0.3, seed=4)
    parsed = parse_text("\n".join(ids(200)))
    job = start_audit(store, parsed, settings_for(flaky.url), AuditOptions(concurrency=8))
    job.wait(60)
    failed = store.failed_ids(job.run_id)
    assert 20 < len(failed) < 110
    kinds = {r[6] for r in store.customer_rows(job.run_id) if r[1] == "failed"}
    assert kinds == {"signature_mismatch"}
    clean = make_simulator(seed=4)
    before = flaky.stats.snapshot()["requests"]
    retry = bulk.start_retry_failed(store, job.run_id, settings_for(clean.url))
    assert retry.wait(60).state == "done"
    assert clean.stats.snapshot()["requests"] == len(failed)
    assert flaky.stats.snapshot()["requests"] == before
    info = store.get_run(job.run_id)
    assert info is not None
    assert (info.fetched, info.failed) == (200, 0)
    assert_matches_truth(store, job.run_id, seed=4)


def test_resume_refuses_other_credentials(store: Store, simulator: RunningSimulator) -> None:
    job = start_audit(store, parse_text("A B C"), settings_for(simulator.url), AuditOptions())
    job.wait(30)
    other = Settings("sandbox", "MCH-OTHER", SecretKey("x"), simulator.url)
    with pytest.raises(Exception, match="was made on simulator"):
        bulk.start_resume(store, job.run_id, other)


def test_pacer_shares_a_429_pause_and_cancels() -> None:
    cancel = threading.Event()
    pacer = SharedPacer(cancel=cancel)
    pacer.pause(0.3)
    started = time.monotonic()
    pacer.acquire()  # another worker must wait out the pause too
    assert time.monotonic() - started >= 0.25
    pacer.pause(30)
    threading.Timer(0.1, cancel.set).start()
    with pytest.raises(CancelledError):
        pacer.acquire()


def test_pacer_rate_limit_spaces_requests() -> None:
    pacer = SharedPacer(rps=100)
    started = time.monotonic()
    for _ in range(51):
        pacer.acquire()
    assert time.monotonic() - started >= 0.45  # 50 intervals of 10 ms


@pytest.mark.slow
def test_two_thousand_customers_with_faults(store: Store) -> None:
    """Every customer terminal, fetched ones equal the ground truth, no duplicate rows."""
    config = SimulatorConfig(
        seed=11,
        fail_rate=0.10,
        rate_429=0.05,
        retry_after_s=0,
        hang_rate=0.02,
        hang_s=2,
        malformed_rate=0.01,
        bad_signature_rate=0.01,
    )
    url, proc = start_simulator_process(config)
    try:
        parsed = parse_text("\n".join(ids(2_000, "R")))
        opts = AuditOptions(concurrency=32, read_timeout_s=0.5, max_attempts=5)
        job = start_audit(store, parsed, settings_for(url), opts)
        p = job.wait(600)
    finally:
        stop_simulator_process(proc)
    assert p.state == "done"
    assert p.done == 2_000
    info = store.get_run(job.run_id)
    assert info is not None
    assert info.pending == 0
    assert info.fetched + info.failed == 2_000
    assert info.fetched > 1_900  # signature/malformed ~2% are final; the rest retried
    kinds = {r[6] for r in store.customer_rows(job.run_id) if r[1] == "failed"}
    assert kinds <= {
        "signature_mismatch",
        "malformed_response",
        "server_error",
        "transport",
        "rate_limited",
    }
    assert_matches_truth(store, job.run_id, seed=11)
    rows = store.token_rows(job.run_id)
    keys = [(r[0], r[6]) for r in rows]
    assert len(keys) == len(set(keys)) == info.tokens


def _audit_cmd(url: str, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DOKU_ENV": "simulator",
        "DOKU_BASE_URL": url,
        "DOKU_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DOKU_CLIENT_ID", None)
    env.pop("DOKU_SECRET_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "doku", "audit", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@both_backends
def test_sigkill_halfway_then_resume_equals_uninterrupted(tmp_path: Path, backend: str) -> None:
    source = tmp_path / "customers.txt"
    source.write_text("\n".join(ids(800, "K")) + "\n")
    # 8 workers at 30 ms: ~6 s for the victim, so a kill at 200 lands early on a loaded box
    url, proc = start_simulator_process(SimulatorConfig(latency_ms=30))
    try:
        killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
        victim = _audit_cmd(url, killed_dir, str(source), "--concurrency", "8")
        db = killed_dir / "doku-audit.sqlite3"

        def done() -> int:
            if backend == SQLITE and not db.exists():
                return 0  # opening it here would create it
            with open_store(killed_dir) as s:
                run = s.get_run(1)
                return 0 if run is None else run.fetched + run.failed

        wait_until(lambda: done() >= 200, 60, "200 results in the victim's store")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        with open_store(killed_dir) as s:
            run = s.get_run(1)
            assert run is not None
            assert 0 < run.pending < 800
        resumed = _audit_cmd(url, killed_dir, "--resume", "1", "--concurrency", "16")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert json.loads(out)["fetched"] == 800
        clean = _audit_cmd(url, clean_dir, str(source), "--concurrency", "16")
        out, err = clean.communicate(timeout=120)
        assert clean.returncode == 0, err
        # SQLite: run 1 of its own folder; PostgreSQL: run 2 of the same database
        clean_run = json.loads(out)["run_id"]
        assert clean_run == (1 if backend == SQLITE else 2)
    finally:
        stop_simulator_process(proc)
    with open_store(killed_dir) as a, open_store(clean_dir) as b:
        assert stored(a, 1) == stored(b, clean_run)
        strip = lambda rows: [(r[0], r[1], r[3]) for r in rows]  # noqa: E731
        assert strip(a.customer_rows(1)) == strip(b.customer_rows(clean_run))
        resumed_run, clean_info = a.get_run(1), b.get_run(clean_run)
        assert resumed_run is not None
        assert clean_info is not None
        assert resumed_run.status == clean_info.status == "done"


@both_backends
def test_store_failure_aborts_the_run_without_losing_written_results(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    class FullDisk(Store):
        """Full once it holds 50 results: the batch that would pass them fails."""

        accepted = 0

        def record_results(self, run_id: int, results: Sequence[Result], *,
                           store_token_ids: bool = False) -> None:
            if FullDisk.accepted + len(results) > 50:
                raise OSError(28, "No space left on device")
            super().record_results(run_id, results, store_token_ids=store_token_ids)
            FullDisk.accepted += len(results)

    with FullDisk(url=backend_url(tmp_path)) as store:
        job = start_audit(store, parse_text("\n".join(ids(300))), settings_for(simulator.url),
                          AuditOptions(concurrency=4))
        p = job.wait(30)
        assert p.state == "aborted"
        assert "No space left on device" in (p.error or "")
        info = store.get_run(job.run_id)
        assert info is not None
        # Every result the store took is kept; the rest stay pending for a resume.
        assert FullDisk.accepted <= 50
        assert (info.fetched, info.pending) == (FullDisk.accepted, 300 - FullDisk.accepted)
        assert (p.fetched, p.done) == (FullDisk.accepted, FullDisk.accepted)

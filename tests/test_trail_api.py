"""The audit trail from the Python API, on both backends: each call that looks a
customer up, starts, resumes, retries or (Ctrl-C) cancels an audit, or returns raw
token IDs leaves exactly one entry per action by DOKU_ACTOR (or the OS user) via
"api"; loading, comparing and masked results leave none."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest

import doku
from doku.engine.bulk import Progress
from doku.engine.store import Store
from doku.engine.trail import (
    AUDIT_CANCEL,
    AUDIT_RESUME,
    AUDIT_RETRY,
    AUDIT_START,
    LOOKUP,
    REVEAL,
)
from doku.masking import fingerprint
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from tests.backend_support import both_backends
from tests.simulator_fixtures import MakeSimulator

pytestmark = both_backends
ACTOR = "notebook-ana"
IDS = ["CUST-0001", "CUST-0002"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Nothing configured (the embedded simulator), runs and trail under tmp_path, no
    secrets file, DOKU_ACTOR set."""
    for key in ("DOKU_CLIENT_ID", "DOKU_SECRET_KEY", "DOKU_ENV", "DOKU_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOKU_ACTOR", ACTOR)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings_for(url: str) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url)


class Trail:
    """What each call added to the configured store's trail."""

    def __init__(self) -> None:
        self.seen = 0

    def added(self) -> list[tuple[Any, ...]]:
        with Store() as store:
            new = [e for e in store.trail() if e.id > self.seen]
        self.seen = max([self.seen, *(e.id for e in new)])
        assert {(e.via, e.role) for e in new} <= {("api", None)}
        return [(e.actor, e.action, e.object) for e in new]


def test_lookups_and_reveals() -> None:
    trail = Trail()
    customer = f"customer {fingerprint('CUST-0001')[:16]}"
    assert len(doku.fetch_tokens("CUST-0001")) == 3
    assert trail.added() == [(ACTOR, LOOKUP, customer)]
    doku.fetch_tokens("CUST-0001", "CREDIT_CARD", reveal=True)
    assert trail.added() == [(ACTOR, LOOKUP, customer), (ACTOR, REVEAL, customer)]


def test_audits_resumes_retries_and_reveals(make_simulator: MakeSimulator) -> None:
    trail = Trail()
    failing = settings_for(make_simulator(fail_rate=1.0).url)
    frames = doku.audit(IDS, settings=failing, max_attempts=1, store_token_ids=True,
                        progress=False)
    run = f"run {frames.run.id}"
    assert (frames.run.failed, trail.added()) == (2, [(ACTOR, AUDIT_START, run)])
    good = settings_for(make_simulator().url)
    doku.resume(frames.run.id, retry_failed=True, settings=good, progress=False)
    assert trail.added() == [(ACTOR, AUDIT_RETRY, run)]
    revealed = doku.resume("latest", settings=good, progress=False, reveal=True)
    assert trail.added() == [(ACTOR, AUDIT_RESUME, run), (ACTOR, REVEAL, run)]
    assert revealed.tokens["token_id"].str.contains(r"\*").sum() == 0
    doku.load_run("latest")
    doku.compare("latest", "latest")
    assert trail.added() == []  # masked loads and comparisons are reads
    doku.load_run(frames.run.id, reveal=True)
    assert trail.added() == [(ACTOR, REVEAL, run)]


def test_a_run_without_raw_ids_reveals_nothing() -> None:
    trail = Trail()
    frames = doku.audit(IDS, progress=False, reveal=True)
    assert trail.added() == [(ACTOR, AUDIT_START, f"run {frames.run.id}")]


def test_ctrl_c_is_one_cancel(make_simulator: MakeSimulator) -> None:
    trail = Trail()
    sim = make_simulator(latency_ms=100)

    def interrupt(p: Progress) -> None:
        if p.state == "running":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        doku.audit([f"CUST-{i:04d}" for i in range(1, 31)], concurrency=1,
                   settings=settings_for(sim.url), progress=interrupt)
    run = doku.load_run("latest").run
    assert run.status == "cancelled"
    assert trail.added() == [(ACTOR, AUDIT_START, f"run {run.id}"),
                             (ACTOR, AUDIT_CANCEL, f"run {run.id}")]


def test_the_os_user_without_doku_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOKU_ACTOR")
    trail = Trail()
    doku.fetch_tokens("CUST-0002")
    assert trail.added() == [
        (getpass.getuser(), LOOKUP, f"customer {fingerprint('CUST-0002')[:16]}")]

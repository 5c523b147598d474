"""The audit trail from the command line, on both backends: every `doku` action leaves
exactly one entry per action (a lookup with --reveal: a lookup and a reveal) by
DOKU_ACTOR (or the OS user) via "cli", read-only commands leave none, a lookup or an
export whose entry cannot be written fails and shows or writes nothing, and `doku
trail` filters exactly and prints what it reads escaped."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from doku.cli.trail import since_text
from doku.engine import jobs
from doku.engine.bulk import BulkJob
from doku.engine.trail import (
    AUDIT_CANCEL,
    AUDIT_RESUME,
    AUDIT_RETRY,
    AUDIT_START,
    EXPORT,
    LOOKUP,
    REVEAL,
    SAVED_ADD,
    SAVED_REMOVE,
    SAVED_RUN,
    SCHEDULE_ADD,
    SCHEDULE_FIRE,
    SCHEDULE_REMOVE,
)
from doku.masking import fingerprint
from doku.simulator import RunningSimulator
from tests.backend_support import both_backends, open_store
from tests.simulator_fixtures import MakeSimulator
from tests.test_cli import Result, clean_env, doku, use_sandbox

pytestmark = both_backends
__all__ = ["clean_env"]  # the autouse fixture: no DOKU_* from the shell, store in tmp_path

ACTOR = "ana"
CUSTOMER = f"customer {fingerprint('CUST-0001')[:16]}"
CSV = "customer_id\nCUST-0001\nCUST-0002\n"


@pytest.fixture(autouse=True)
def own_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`saved run` and `schedule fire` register their jobs: they stay these tests'."""
    monkeypatch.setattr(jobs, "_jobs", {})


@pytest.fixture
def sandbox(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    use_sandbox(monkeypatch, simulator)
    monkeypatch.setenv("DOKU_ACTOR", ACTOR)
    return simulator


class Trail:
    """Runs `doku` and returns what each run added to the trail."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder, self.capsys = folder, capsys
        self.seen = 0

    def run(self, *args: str) -> tuple[Result, list[tuple[Any, ...]]]:
        result = doku(self.capsys, *args)
        with open_store(self.folder) as store:
            added = [(e.actor, e.via, e.role, e.action, e.object, e.detail)
                     for e in store.trail() if e.id > self.seen]
            self.seen = max([self.seen, *(e.id for e in store.trail())])
        return result, added

    def added(self, *args: str, code: int = 0) -> list[tuple[str, str, str | None]]:
        """`doku ARGS` exits `code`; its entries as (actor, action, object), all via cli."""
        result, added = self.run(*args)
        assert result.code == code, result.err
        assert {(e[1], e[2]) for e in added} <= {("cli", None)}
        return [(e[0], e[3], e[4]) for e in added]


@pytest.fixture
def trail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Trail:
    (tmp_path / "customers.csv").write_text(CSV, encoding="utf-8")
    return Trail(tmp_path, capsys)


@pytest.mark.usefixtures("sandbox")
def test_lookups_are_one_entry_and_a_reveal_one_more(trail: Trail) -> None:
    result, added = trail.run("tokens", "CUST-0001", "--type", "CREDIT_CARD")
    assert result.code == 0
    assert added == [(ACTOR, "cli", None, LOOKUP, CUSTOMER,
                      {"token_type": "CREDIT_CARD", "tokens": 1})]
    assert trail.added("tokens", "CUST-0001", "--json", "--reveal") == [
        (ACTOR, LOOKUP, CUSTOMER), (ACTOR, REVEAL, CUSTOMER)]


@pytest.mark.usefixtures("sandbox")
def test_audits_exports_and_reads(trail: Trail) -> None:
    result, added = trail.run("audit", "customers.csv", "--store-token-ids", "--quiet")
    assert result.code == 0
    assert [e[3:] for e in added] == [(AUDIT_START, "run 1", {
        "customers": 2, "input": "customers.csv", "token_type": None,
        "store_token_ids": True, "queued": added[0][5]["queued"]})]
    assert trail.added("audit", "--resume", "1", "--quiet") == [(ACTOR, AUDIT_RESUME, "run 1")]
    assert trail.added("audit", "--retry-failed", "1", "--quiet") == [
        (ACTOR, AUDIT_RETRY, "run 1")]
    result, added = trail.run("export", "1", "--what", "tokens", "-o", "tokens.csv")
    assert [e[3:] for e in added] == [(EXPORT, "run 1", {
        "what": "tokens", "format": "csv", "rows": 6, "output": "tokens.csv",
        "token_ids": "masked"})]
    assert trail.added("export", "1", "--what", "tokens", "-o", "raw.xlsx",
                       "--reveal-token-ids") == [(ACTOR, EXPORT, "run 1"), (ACTOR, REVEAL, "run 1")]
    result, added = trail.run("export", "latest", "--what", "customers", "-o", "-")
    assert [e[3:] for e in added] == [(EXPORT, "run 1", {
        "what": "customers", "format": "csv", "rows": 2, "output": "stdout",
        "token_ids": "masked"})]
    for read in (["runs"], ["report", "1"], ["compare", "1", "1"], ["trail"], ["queue"],
                 ["saved", "list"], ["schedule", "list"]):
        assert trail.added(*read) == [], read


@pytest.mark.usefixtures("sandbox")
def test_saved_audits_and_schedules(trail: Trail) -> None:
    assert trail.added("saved", "add", "Monthly", "customers.csv") == [
        (ACTOR, SAVED_ADD, "saved audit 1")]
    assert trail.added("schedule", "add", "Monthly", "--cron", "0 2 1 * *") == [
        (ACTOR, SCHEDULE_ADD, "schedule 1")]
    assert trail.added("saved", "run", "Monthly", "--quiet") == [(ACTOR, SAVED_RUN, "run 1")]
    assert trail.added("schedule", "fire", "--now", "2100-03-14T00:00:00Z", "--quiet") == [
        (ACTOR, SCHEDULE_FIRE, "run 2")]
    assert trail.added("schedule", "remove", "1") == [(ACTOR, SCHEDULE_REMOVE, "schedule 1")]
    assert trail.added("saved", "remove", "Monthly") == [(ACTOR, SAVED_REMOVE, "saved audit 1")]


def test_the_actor_is_the_os_user_without_doku_actor(
    trail: Trail, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_sandbox(monkeypatch, simulator)
    assert trail.added("tokens", "CUST-0001") == [(getpass.getuser(), LOOKUP, CUSTOMER)]
    monkeypatch.setenv("DOKU_ACTOR", "  budi\x1b[31m \n")  # trimmed, made printable
    assert trail.added("tokens", "CUST-0001") == [("budi[31m", LOOKUP, CUSTOMER)]


def test_ctrl_c_on_an_audit_is_one_cancel(
    trail: Trail, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_sandbox(monkeypatch, make_simulator(latency_ms=200))
    monkeypatch.setenv("DOKU_ACTOR", ACTOR)
    (trail.folder / "many.csv").write_text(
        "\n".join(f"CUST-{n:04d}" for n in range(1, 40)), encoding="utf-8")
    wait = BulkJob.wait
    pressed: list[bool] = []

    def ctrl_c_once(job: BulkJob, timeout: float | None = None) -> Any:
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt
        return wait(job, timeout)

    monkeypatch.setattr(BulkJob, "wait", ctrl_c_once)
    result, added = trail.run("audit", "many.csv", "--concurrency", "1", "--quiet")
    assert (result.code, result.err) == (
        1, "error: run 1 cancelled; resume with `doku audit --resume 1`\n")
    assert [(e[0], e[3], e[4], e[5]) for e in added] == [
        (ACTOR, AUDIT_START, "run 1", added[0][5]),
        (ACTOR, AUDIT_CANCEL, "run 1", {"how": "interrupted"})]


def _rename_trail(folder: Path) -> None:
    with open_store(folder) as store, store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE trail RENAME TO trail_elsewhere"))


@pytest.mark.usefixtures("sandbox")
def test_no_lookup_or_export_without_its_entry(
    trail: Trail, capsys: pytest.CaptureFixture[str],
) -> None:
    assert trail.added("audit", "customers.csv", "--quiet") == [(ACTOR, AUDIT_START, "run 1")]
    _rename_trail(trail.folder)
    for args in (["tokens", "CUST-0001", "--reveal"],
                 ["export", "1", "--what", "tokens", "-o", "tokens.csv"],
                 ["export", "1", "--what", "tokens", "-o", "-"]):
        result = doku(capsys, *args)
        assert (result.code, result.out, result.err.count("\n")) == (1, "", 1), args
        assert result.err.startswith(
            "error: store error: the audit trail could not be written: cannot use the store")
    assert not (trail.folder / "tokens.csv").exists()


# -- doku trail ------------------------------------------------------------------------------
def _seed(folder: Path) -> None:
    with open_store(folder) as store, store.engine.begin() as conn:
        for at, actor, action, obj in [
            ("2020-01-01T00:00:00Z", "ana", "lookup", "customer 1"),
            ("2020-01-02T09:30:00Z", "root", "reveal", "run 1"),
            ("2020-01-02T09:30:01Z", "eve\x1b[2J", "export", "run 1\nrm -rf"),
        ]:
            conn.execute(text(
                "INSERT INTO trail (at, actor, via, role, action, object, detail) "
                "VALUES (:at, :actor, 'oidc', NULL, :action, :obj, '{\"rows\": 2}')"),
                {"at": at, "actor": actor, "action": action, "obj": obj})


def test_trail_since_filters_exactly(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(trail.folder)
    listed = json.loads(doku(capsys, "trail", "--since", "2020-01-02T09:30:00Z", "--json").out)
    assert listed == [
        {"id": 2, "at": "2020-01-02T09:30:00Z", "actor": "root", "via": "oidc", "role": None,
         "action": "reveal", "object": "run 1", "detail": {"rows": 2}},
        {"id": 3, "at": "2020-01-02T09:30:01Z", "actor": "eve\x1b[2J", "via": "oidc",
         "role": None, "action": "export", "object": "run 1\nrm -rf", "detail": {"rows": 2}},
    ]
    # a time with an offset is compared in UTC: 16:30:01+07:00 is 09:30:01Z
    assert [e["id"] for e in json.loads(doku(
        capsys, "trail", "--since", "2020-01-02T16:30:01+07:00", "--json").out)] == [3]
    assert json.loads(doku(capsys, "trail", "--since", "7d", "--json").out) == []
    assert [e["id"] for e in json.loads(doku(
        capsys, "trail", "--action", "reveal", "--json").out)] == [2]
    assert [e["id"] for e in json.loads(doku(
        capsys, "trail", "--actor", "ana", "--json").out)] == [1]
    assert [e["id"] for e in json.loads(doku(capsys, "trail", "--limit", "1", "--json").out)
            ] == [3]


def test_trail_text_is_escaped(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(trail.folder)
    shown = doku(capsys, "trail", "--since", "2020-01-02T09:30:01Z")
    assert (shown.code, shown.err) == (0, "")
    assert shown.out.splitlines() == [
        "id  at                    actor       via   role  action  object         detail",
        " 3  2020-01-02T09:30:01Z  eve\\x1b[2J  oidc  -     export  run 1\\nrm -rf  rows=2",
    ]
    assert doku(capsys, "trail", "--since", "2030-01-01").out == (
        "no trail entries since 2030-01-01T00:00:00Z\n")


def test_trail_refuses_what_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    wrong = doku(capsys, "trail", "--since", "last tuesday")
    assert (wrong.code, wrong.out, wrong.err) == (
        1, "", "error: invalid input: --since 'last tuesday' is neither an ISO-8601 time nor "
        "an age like 7d, 24h or 30m\n")
    assert doku(capsys, "trail", "--limit", "0").err == (
        "error: invalid input: --limit must be at least 1, not 0\n")
    assert doku(capsys, "trail", "--action", "peek").code == 2


def test_since_ages_are_counted_back_from_now() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 11, 26, 4, 30, 15, tzinfo=timezone.utc)
    assert [since_text(age, now) for age in ("7d", "24h", "30m", " 2H ")] == [
        "2026-11-19T04:30:15Z", "2026-11-25T04:30:15Z", "2026-11-26T04:00:15Z",
        "2026-11-26T02:30:15Z"]

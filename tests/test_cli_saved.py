"""`doku saved ...` and `doku schedule ...`, run in-process through the dispatcher, on both
backends: saving a list, running it (the command waits for the runs it fetches), its
schedules, firing what is due at an injected time, and the one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from doku.cli import saved as saved_cli
from doku.errors import StoreError
from doku.simulator import RunningSimulator
from tests.backend_support import both_backends, open_store, store_where
from tests.test_cli import Result, clean_env, doku, use_sandbox

pytestmark = both_backends
uses_sandbox = pytest.mark.usefixtures("sandbox")
__all__ = ["clean_env"]  # the autouse fixture: no DOKU_* from the shell, store in tmp_path

CSV = "customer_id,region\nCUST-0001,Bali\nCUST-0002,Jawa\nCUST-0002,Jawa\nbad\x01,x\n"
NAME = "Monthly merchants"


@pytest.fixture
def sandbox(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    use_sandbox(monkeypatch, simulator)
    monkeypatch.setenv("DOKU_ACTOR", "ana")
    return simulator


def _saved(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Result:
    (tmp_path / "merchants.csv").write_text(CSV, encoding="utf-8")  # the working directory
    return doku(capsys, "saved", "add", NAME, "merchants.csv", *extra)


@uses_sandbox
def test_saving_a_list_and_listing_it(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    added = _saved(tmp_path, capsys, "--type", "CREDIT_CARD", "--concurrency", "3")
    assert (added.code, added.out) == (
        0, "saved audit 1 'Monthly merchants': 2 customers from merchants.csv "
        "(1 rejected row, 1 duplicate not kept)\n")
    assert added.err == "rejected row 5: 'bad\\\\x01': contains control character U+0001\n"
    listed = doku(capsys, "saved", "list")
    assert listed.out.splitlines() == [
        "id  name               customers  schedules  last_run  last_run_at  input          "
        "created_by",
        " 1  Monthly merchants          2          0         -  -            merchants.csv  ana",
    ]
    [row] = json.loads(doku(capsys, "saved", "list", "--json").out)
    assert {k: row[k] for k in ("id", "name", "customers", "schedules", "last_run", "input",
                                "created_by", "token_type", "attribute_columns")} == {
        "id": 1, "name": NAME, "customers": 2, "schedules": 0, "last_run": None,
        "input": "merchants.csv", "created_by": "ana", "token_type": "CREDIT_CARD",
        "attribute_columns": ["region"]}
    assert (row["options"]["concurrency"], "token_type" in row["options"]) == (3, False)


@uses_sandbox
def test_a_list_from_stdin_and_a_taken_name(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("A-1, A-2\nA-3\n"))
    added = doku(capsys, "saved", "add", "Pasted", "-", "--json")
    assert (added.code, json.loads(added.out)["customers"], json.loads(added.out)["input"]) == (
        0, 3, "pasted text")
    monkeypatch.setattr("sys.stdin", io.StringIO("B-1\n"))
    again = doku(capsys, "saved", "add", "Pasted", "-")
    assert (again.code, again.out, again.err) == (
        1, "", "error: invalid input: a saved audit named 'Pasted' already exists\n")


@uses_sandbox
def test_running_a_saved_audit_waits_for_it(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _saved(tmp_path, capsys)
    ran = doku(capsys, "saved", "run", NAME, "--json")
    assert (ran.code, ran.err) == (0, "")
    summary = json.loads(ran.out)
    assert {k: summary[k] for k in ("run_id", "status", "customers", "fetched", "failed",
                                    "pending", "name", "saved_audit_id", "scheduled_for",
                                    "fetched_here")} == {
        "run_id": 1, "status": "done", "customers": 2, "fetched": 2, "failed": 0,
        "pending": 0, "name": NAME, "saved_audit_id": 1, "scheduled_for": None,
        "fetched_here": True}
    text = doku(capsys, "saved", "run", "1")
    assert text.code == 0
    assert text.out.startswith("run 2: done; 2 customers, 2 fetched, 0 failed, 0 pending, ")
    [row] = json.loads(doku(capsys, "saved", "list", "--json").out)
    assert row["last_run"] == 2


@uses_sandbox
def test_schedules_are_added_listed_fired_once_and_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    _saved(tmp_path, capsys)
    added = doku(capsys, "schedule", "add", NAME, "--cron", "0 2 1 * *", "--json")
    schedule = json.loads(added.out)
    assert {k: schedule[k] for k in ("id", "saved_audit_id", "saved_audit", "cron",
                                     "created_by", "last_slot")} == {
        "id": 1, "saved_audit_id": 1, "saved_audit": NAME, "cron": "0 2 1 * *",
        "created_by": "ana", "last_slot": None}
    assert schedule["next_slot"].endswith("-01T02:00:00Z")
    listed = doku(capsys, "schedule", "list").out.splitlines()
    assert listed[0] == "id  saved_audit        cron       next_slot             last_slot  created_by"
    assert listed[1].startswith(" 1  Monthly merchants  0 2 1 * *  ")
    assert listed[1].endswith("-01T02:00:00Z  -          ana")

    fired = doku(capsys, "schedule", "fire", "--now", "2100-01-01T02:00:30Z", "--json")
    assert (fired.code, fired.err) == (0, "")
    result = json.loads(fired.out)
    assert (result["now"], result["errors"]) == ("2100-01-01T02:00:30Z", [])
    assert [(r["run_id"], r["status"], r["fetched"], r["saved_audit_id"], r["scheduled_for"])
            for r in result["runs"]] == [(1, "done", 2, 1, "2100-01-01T02:00:00Z")]
    again = doku(capsys, "schedule", "fire", "--now", "2100-01-01T02:09:00Z")
    assert (again.code, again.out) == (0, "nothing due at 2100-01-01T02:09:00Z\n")
    assert json.loads(doku(capsys, "schedule", "list", "--json").out)[0]["last_slot"] == (
        "2100-01-01T02:00:00Z")

    removed = doku(capsys, "schedule", "remove", "1")
    assert (removed.code, removed.out) == (0, "removed schedule 1\n")
    gone = doku(capsys, "schedule", "remove", "1")
    assert (gone.code, gone.err) == (
        1, f"error: no such saved audit: schedule 1 is not in {store_where(tmp_path)}\n")
    assert doku(capsys, "schedule", "list").out == (
        "no schedules yet; add one with `doku schedule add NAME --cron CRON`\n")


@uses_sandbox
def test_a_schedule_that_cannot_fire_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def unreachable_queue(*_: object, **__: object) -> None:
        raise StoreError("cannot reach the job queue")

    monkeypatch.setattr(saved_cli, "launch_run", unreachable_queue)
    _saved(tmp_path, capsys)
    doku(capsys, "schedule", "add", NAME, "--cron", "*/5 * * * *")
    fired = doku(capsys, "schedule", "fire", "--now", "2100-01-01T00:07:00Z")
    assert (fired.code, fired.out) == (1, "")
    assert fired.err == ("error: schedule 1 ('Monthly merchants') did not fire: store error: "
                         "cannot reach the job queue\n")
    with open_store(tmp_path) as store:  # recorded, for `doku audit --resume`
        assert [(r.id, r.scheduled_for) for r in store.list_runs()] == [
            (1, "2100-01-01T00:05:00Z")]


@pytest.mark.parametrize(("args", "line"), [
    (["schedule", "add", NAME, "--cron", "0 2 * *"],
     "error: invalid input: cron expression '0 2 * *' has 4 fields; it needs 5: minute, "
     'hour, day of month, month, day of week (e.g. "0 2 1 * *": 02:00 UTC on the 1st)'),
    (["schedule", "add", "Nope", "--cron", "0 2 * * *"],
     "error: no such saved audit: there is no saved audit named 'Nope' in {where}"),
    (["schedule", "fire", "--now", "yesterday"],
     "error: invalid input: 'yesterday' is not an ISO-8601 time"),
    (["saved", "run", "Nope"],
     "error: no such saved audit: there is no saved audit named 'Nope' in {where}"),
    (["saved", "remove", "Nope"],
     "error: no such saved audit: there is no saved audit named 'Nope' in {where}"),
    (["saved", "add", "   ", "-"], "error: invalid input: a saved audit needs a name"),
])
def test_mistakes_are_one_line(args: list[str], line: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("A-1\n"))
    result = doku(capsys, *args)
    assert (result.code, result.out, result.err) == (
        1, "", line.format(where=store_where(tmp_path)) + "\n")


@uses_sandbox
def test_removing_a_saved_audit_keeps_its_runs(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _saved(tmp_path, capsys)
    doku(capsys, "schedule", "add", NAME, "--cron", "0 2 1 * *")
    doku(capsys, "schedule", "add", NAME, "--cron", "0 3 * * 1")
    assert doku(capsys, "saved", "run", NAME, "--quiet").code == 0
    removed = doku(capsys, "saved", "remove", NAME)
    assert (removed.code, removed.out) == (
        0, "removed saved audit 'Monthly merchants' and its 2 schedules; its runs stay in "
        "the store\n")
    assert doku(capsys, "saved", "list").out == (
        "no saved audits yet; add one with `doku saved add NAME FILE`\n")
    [run] = json.loads(doku(capsys, "runs", "--json").out)
    assert (run["id"], run["name"], run["status"]) == (1, NAME, "done")


def test_an_action_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    result = doku(capsys, "schedule")
    assert result.code == 2
    assert result.err.startswith("error: doku schedule: the following arguments are required")

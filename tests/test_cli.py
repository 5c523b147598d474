"""`doku tokens` and `doku audit`, run in-process through the dispatcher (`main`).

The environment is the test's own (monkeypatch); the installed console command runs
end to end once, in `test_cli_smoke.py`.
"""

from __future__ import annotations

import io
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from doku.cli.main import COMMANDS, main
from doku.cli.tokens import EMPTY_NOTE, SIMULATOR_NOTE
from doku.settings import DATABASE_URL_KEY
from doku.simulator import RunningSimulator
from doku.simulator.world import tokens_for
from tests.backend_support import both_backends, store_where

SIM_SECRET = "SK-simulator-demo-only"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def doku(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run `doku ARGS...` in this process; its exit status, stdout and stderr."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DOKU_* from the caller's environment, the store in tmp_path (or the
    `backend` fixture's DOKU_DATABASE_URL), and a working directory without
    `.streamlit/secrets.toml`."""
    for key in list(os.environ):
        if key.startswith("DOKU_") and key != DATABASE_URL_KEY:
            monkeypatch.delenv(key)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use_sandbox(monkeypatch: pytest.MonkeyPatch, sim: RunningSimulator,
                secret: str = SIM_SECRET) -> None:
    """Point the settings at `sim` as a sandbox environment."""
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_BASE_URL", sim.url)
    monkeypatch.setenv("DOKU_CLIENT_ID", sim.config.client_id)
    monkeypatch.setenv("DOKU_SECRET_KEY", secret)


def test_tokens_json_reveal_prints_the_guides_three_tokens(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_sandbox(monkeypatch, simulator)
    r = doku(capsys, "tokens", "CUST-0001", "--json", "--reveal")
    assert (r.code, r.err) == (0, "")
    rows = json.loads(r.out)
    assert [list(row) for row in rows] == [["customer_id", "customer_name", "type", "issuer",
                                            "brand", "masked_card", "token_id"]] * 3
    assert [(t["type"], t["issuer"], t["brand"], t["masked_card"], t["token_id"]) for t in rows] == [
        ("DIRECT_DEBIT", "BRI", None, "*********8982", "243591d7e49f45109961581718c3ef82"),
        ("DIRECT_DEBIT", "BRI", None, "*********8981", "05fc9236261381647e24a14a691e1590"),
        ("CREDIT_CARD", "BCA", "visa", "4096****5464", "4bc187a24c60fc88977604d170eea4a5"),
    ]
    assert {t["customer_name"] for t in rows} == {"Anton Budiman"}


def test_tokens_masked_by_default_and_type_filter(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_sandbox(monkeypatch, simulator)
    r = doku(capsys, "tokens", "CUST-0001", "--type", "CREDIT_CARD")
    assert (r.code, r.err) == (0, "")
    lines = r.out.splitlines()
    assert lines[:2] == [
        "customer_id  customer_name  type         issuer  brand  masked_card   token_id",
        "CUST-0001    Anton Budiman  CREDIT_CARD  BCA     visa   4096****5464  "
        "4bc1************************a4a5",
    ]
    assert lines[2] == ""
    assert lines[3].startswith("1 token(s); response signature verified; Request-Id ")
    assert len(lines) == 4
    assert "4bc187a24c60fc88977604d170eea4a5" not in r.out


def test_tokens_empty_list_says_doku_cannot_tell(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_sandbox(monkeypatch, simulator)
    empty = next(f"E-{i}" for i in range(1000) if not tokens_for(f"E-{i}"))
    r = doku(capsys, "tokens", empty, "--json")
    assert r.code == 0
    assert json.loads(r.out) == []
    assert r.err == f"note: {EMPTY_NOTE}\n"
    assert "unknown customer ID" in EMPTY_NOTE
    r = doku(capsys, "tokens", empty)
    assert (r.code, r.out, r.err) == (0, f"{empty}: {EMPTY_NOTE}\n", "")


def test_tokens_wrong_secret_one_line_error(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_sandbox(monkeypatch, simulator, secret="SK-wrong-secret")
    r = doku(capsys, "tokens", "CUST-0001")
    assert r.code == 1
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: authentication rejected (401): ")
    assert "SK-wrong-secret" not in r.err


@pytest.mark.parametrize(("args", "env", "line"), [
    (["tokens", "x" * 51], {},
     "error: invalid input: customer.id is longer than 50 characters (51)"),
    (["tokens", "C1"], {"DOKU_ENV": "production"},
     "error: configuration error: DOKU_ENV=production needs DOKU_CLIENT_ID and DOKU_SECRET_KEY "
     "(environment variable or [doku] table in .streamlit/secrets.toml)"),
])
def test_tokens_bad_input_and_missing_credentials(
    args: list[str], env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    r = doku(capsys, *args)
    assert (r.code, r.out, r.err) == (1, "", line + "\n")


def test_tokens_with_no_configuration_uses_embedded_simulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = doku(capsys, "tokens", "CUST-0001", "--json")
    assert r.code == 0
    assert [t["masked_card"] for t in json.loads(r.out)] == [
        "*********8982", "*********8981", "4096****5464"]
    assert r.err == f"note: {SIMULATOR_NOTE}\n"
    assert "built-in simulator" in SIMULATOR_NOTE


@both_backends
def test_audit_json_summary_from_file_and_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    f = tmp_path / "c.csv"
    f.write_text("customer_id,plan\nA-1,gold\nA-2,basic\nA-1,gold\n,\n" + "B" * 51 + ",x\n")
    r = doku(capsys, "audit", str(f), "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert list(summary) == ["run_id", "status", "customers", "fetched", "failed", "pending",
                             "rejected", "duplicates", "tokens", "elapsed_s", "duplicate_tokens",
                             "name", "note"]
    assert {k: v for k, v in summary.items() if k != "elapsed_s"} == {
        "run_id": 1, "status": "done", "customers": 2, "fetched": 2, "failed": 0,
        "pending": 0, "rejected": 1, "duplicates": 1, "duplicate_tokens": 0,
        "name": None, "note": None,
        "tokens": len(tokens_for("A-1")) + len(tokens_for("A-2")),
    }
    assert r.err.splitlines() == [
        "rejected row 6: '" + "B" * 51 + "': longer than 50 characters (51)",
        f"note: {SIMULATOR_NOTE}",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("X-1, X-2; X-3\tX-1"))
    r = doku(capsys, "audit", "-", "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert (summary["run_id"], summary["customers"], summary["duplicates"]) == (2, 3, 1)


@both_backends
def test_audit_text_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("T-1\nT-2\n")
    r = doku(capsys, "audit", str(f), "--quiet")
    assert r.code == 0, r.err
    tokens = len(tokens_for("T-1")) + len(tokens_for("T-2"))
    head, _, elapsed = r.out.rstrip("\n").rpartition("; ")
    assert head == (f"run 1: done; 2 customers, 2 fetched, 0 failed, 0 pending, {tokens} tokens; "
                    "0 rejected rows, 0 duplicates")
    assert elapsed.endswith(" s")


@pytest.mark.parametrize(("content", "needle"), [(b"", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "")])
def test_audit_unreadable_file_fails_with_one_line(
    tmp_path: Path, content: bytes, needle: str, capsys: pytest.CaptureFixture[str],
) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    r = doku(capsys, "audit", str(f))
    assert r.code == 1
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert lines[0].isprintable()


@both_backends
def test_audit_missing_file_and_unknown_run(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    r = doku(capsys, "audit", str(tmp_path / "nope.csv"))
    assert r.code == 1
    assert len(r.err.splitlines()) == 1
    assert r.err.startswith("error: ")
    assert "nope.csv" in r.err
    r = doku(capsys, "audit", "--resume", "42")
    assert (r.code, r.out) == (1, "")
    assert r.err == f"error: no such run: run 42 is not in {store_where(tmp_path)}\n"


@pytest.mark.parametrize(("args", "line"), [
    ([], "error: configuration error: give a FILE (or - for stdin), --resume or --retry-failed"),
    (["x.csv", "--resume", "1"],
     "error: configuration error: give either FILE or --resume/--retry-failed, not both"),
])
def test_audit_needs_exactly_one_source(args: list[str], line: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    r = doku(capsys, "audit", *args)
    assert (r.code, r.out, r.err) == (1, "", line + "\n")


@both_backends
def test_audit_wrong_credentials_stop_the_run(
    simulator: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_sandbox(monkeypatch, simulator, secret="SK-bad")
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(f"C-{i}" for i in range(500)))
    r = doku(capsys, "audit", str(f), "--json")
    assert r.code == 1
    lines = r.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: run 1 stopped: authentication rejected (401)")
    summary = json.loads(r.out)
    assert summary["status"] == "aborted"
    assert summary["pending"] >= 490


@pytest.mark.parametrize(("args", "line"), [
    (["tokens"], "error: doku tokens: the following arguments are required: CUSTOMER_ID"),
    (["tokens", "C1", "--type", "X"], "error: doku tokens: argument --type: invalid choice: "
                                      "'X' (choose from 'DIRECT_DEBIT', 'CREDIT_CARD')"),
    (["bogus"], "error: doku: argument COMMAND: invalid choice: 'bogus' (choose from "
                + ", ".join(repr(name) for name in COMMANDS) + ")"),
    ([], "error: doku: the following arguments are required: COMMAND"),
])
def test_usage_mistakes_are_one_line(args: list[str], line: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    r = doku(capsys, *args)
    assert (r.code, r.out, r.err) == (2, "", line + " (see --help)\n")


@both_backends
def test_audit_where_every_customer_failed_exits_3_not_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # nothing listens on a refused port: every customer ends failed (transport)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DOKU_ENV", "simulator")
    monkeypatch.setenv("DOKU_BASE_URL", f"http://127.0.0.1:{port}")
    f = tmp_path / "ids.txt"
    f.write_text("A-1\nA-2\nA-3\n")
    r = doku(capsys, "audit", str(f), "--quiet", "--max-attempts", "1")
    assert r.code == 3
    assert r.out.startswith("run 1: done with 3 failed; 3 customers, 0 fetched, 3 failed,")
    assert r.err == ("error: run 1 done with 3 failed of 3 customers; retry them with "
                     "`doku audit --retry-failed 1`\n")
    r = doku(capsys, "audit", str(f), "--json", "--max-attempts", "1")
    assert r.code == 3
    assert json.loads(r.out)["status"] == "done"  # the JSON contract keeps its values


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "0"], "read timeout must be between 0 and 600 seconds, not 0.0"),
    (["--timeout", "nan"], "read timeout must be between 0 and 600 seconds, not nan"),
    (["--max-attempts", "0"], "max attempts must be between 1 and 20, not 0"),
    (["--concurrency", "0"], "concurrency must be between 1 and 256, not 0"),
    (["--rps", "-1"], "rps must be a positive number (or none for no limit), not -1.0"),
])
@both_backends
def test_invalid_options_are_refused_before_a_run_is_created(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("A-1\n")
    r = doku(capsys, "audit", str(f), *args)
    assert (r.code, r.out) == (1, "")
    assert r.err == f"error: invalid input: {message}\n"
    r = doku(capsys, "runs", "--json")
    assert json.loads(r.out) == []  # no junk run left behind


@both_backends
def test_audit_lists_ids_that_look_like_two_in_one(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ids.csv"
    f.write_text('customer_id\nA-1\n"A-2, A-3"\n')
    r = doku(capsys, "audit", str(f), "--quiet")
    assert r.code == 0, r.err
    assert r.err.splitlines()[0] == (
        "audited as given, row 3: 'A-2, A-3': contains a comma and a space: two IDs in one cell?"
    )

"""`python -m doku tokens` and `python -m doku audit` end to end, in real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doku.simulator import RunningSimulator
from doku.simulator.world import tokens_for

ROOT = Path(__file__).resolve().parent.parent
SIM_SECRET = "SK-simulator-demo-only"


def doku(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    base["PYTHONPATH"] = str(ROOT)
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "doku", *args], env=base, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd or ROOT)


def sandbox_env(sim: RunningSimulator, tmp_path: Path, secret: str = SIM_SECRET) -> dict[str, str]:
    return {"DOKU_ENV": "sandbox", "DOKU_BASE_URL": sim.url, "DOKU_CLIENT_ID": sim.config.client_id,
            "DOKU_SECRET_KEY": secret, "DOKU_DATA_DIR": str(tmp_path)}


def test_tokens_json_reveal_prints_the_guides_three_tokens(simulator: RunningSimulator,
                                                           tmp_path: Path) -> None:
    out = doku("tokens", "CUST-0001", "--json", "--reveal", env=sandbox_env(simulator, tmp_path))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [list(r) for r in rows] == [["customer_id", "customer_name", "type", "issuer", "brand",
                                        "masked_card", "token_id"]] * 3
    assert [(r["type"], r["issuer"], r["brand"], r["masked_card"], r["token_id"]) for r in rows] == [
        ("DIRECT_DEBIT", "BRI", None, "*********8982", "243591d7e49f45109961581718c3ef82"),
        ("DIRECT_DEBIT", "BRI", None, "*********8981", "05fc9236261381647e24a14a691e1590"),
        ("CREDIT_CARD", "BCA", "visa", "4096****5464", "4bc187a24c60fc88977604d170eea4a5"),
    ]
    assert {r["customer_name"] for r in rows} == {"Anton Budiman"}


def test_tokens_masked_by_default_and_type_filter(simulator: RunningSimulator,
                                                  tmp_path: Path) -> None:
    out = doku("tokens", "CUST-0001", "--type", "CREDIT_CARD", env=sandbox_env(simulator, tmp_path))
    assert out.returncode == 0, out.stderr
    assert "4bc1************************a4a5" in out.stdout
    assert "4bc187a24c60fc88977604d170eea4a5" not in out.stdout
    assert "DIRECT_DEBIT" not in out.stdout
    assert "signature verified" in out.stdout


def test_tokens_empty_list_says_doku_cannot_tell(simulator: RunningSimulator, tmp_path: Path) -> None:
    empty = next(f"E-{i}" for i in range(1000) if not tokens_for(f"E-{i}"))
    out = doku("tokens", empty, "--json", env=sandbox_env(simulator, tmp_path))
    assert out.returncode == 0
    assert json.loads(out.stdout) == []
    assert "unknown customer" in out.stderr


def test_tokens_wrong_secret_one_line_error(simulator: RunningSimulator, tmp_path: Path) -> None:
    out = doku("tokens", "CUST-0001", env=sandbox_env(simulator, tmp_path, secret="SK-wrong-secret"))
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: authentication rejected (401)")
    assert "SK-wrong-secret" not in out.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["tokens", "x" * 51], "invalid input: customer.id is longer than 50"),
    (["tokens", "C1"], "DOKU_ENV=production needs DOKU_CLIENT_ID and DOKU_SECRET_KEY"),
])
def test_tokens_bad_input_and_missing_credentials(args: list[str], needle: str,
                                                  tmp_path: Path) -> None:
    env = {"DOKU_DATA_DIR": str(tmp_path)}
    if args[1] == "C1":
        env["DOKU_ENV"] = "production"
    out = doku(*args, env=env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f"error: {out.stderr.strip()[7:]}"]
    assert needle in out.stderr


def test_tokens_with_no_configuration_uses_embedded_simulator(tmp_path: Path) -> None:
    out = doku("tokens", "CUST-0001", "--json", env={"DOKU_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 3
    assert "built-in simulator" in out.stderr


def test_audit_json_summary_from_file_and_stdin(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("customer_id,plan\nA-1,gold\nA-2,basic\nA-1,gold\n,\n" + "B" * 51 + ",x\n")
    env = {"DOKU_DATA_DIR": str(tmp_path / "d")}
    out = doku("audit", str(f), "--json", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) >= {"run_id", "customers", "fetched", "failed", "rejected", "duplicates",
                            "tokens", "elapsed_s"}
    assert (summary["customers"], summary["fetched"], summary["failed"]) == (2, 2, 0)
    assert (summary["rejected"], summary["duplicates"]) == (1, 1)
    assert summary["tokens"] == len(tokens_for("A-1")) + len(tokens_for("A-2"))
    assert "rejected row 6" in out.stderr
    out = doku("audit", "-", "--json", env=env, stdin="X-1, X-2; X-3\tX-1", cwd=tmp_path)
    assert json.loads(out.stdout)["customers"] == 3
    assert json.loads(out.stdout)["run_id"] == 2


@pytest.mark.parametrize(("content", "needle"), [(b"", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "")])
def test_audit_unreadable_file_fails_with_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    out = doku("audit", str(f), env={"DOKU_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_audit_missing_file_and_unknown_run(tmp_path: Path) -> None:
    env = {"DOKU_DATA_DIR": str(tmp_path)}
    out = doku("audit", str(tmp_path / "nope.csv"), env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1
    out = doku("audit", "--resume", "42", env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert "error: no such run: run 42 is not in " in out.stderr


def test_audit_wrong_credentials_stop_the_run(simulator: RunningSimulator, tmp_path: Path) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(f"C-{i}" for i in range(500)))
    out = doku("audit", str(f), "--json", env=sandbox_env(simulator, tmp_path, "SK-bad"))
    assert out.returncode == 1
    assert "authentication rejected (401)" in out.stderr.strip().splitlines()[-1]
    assert json.loads(out.stdout)["pending"] >= 490


@pytest.mark.parametrize("args", [["tokens"], ["tokens", "C1", "--type", "X"], ["bogus"]])
def test_usage_mistakes_are_one_line(args: list[str], tmp_path: Path) -> None:
    out = doku(*args, env={"DOKU_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: python -m doku")

"""The installed `doku` console command end to end, and what a fresh interpreter imports.

The only CLI test that starts interpreters (every other one calls `doku.cli.main.main`
in-process): the console script installed next to this Python must work, and
`doku --help` / `doku tokens` must stay light: the dispatcher imports only the module
of the command being run, and none of them pulls in pandas, pyarrow, numpy, altair or
openpyxl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from doku.simulator import RunningSimulator

HEAVY = ["altair", "numpy", "openpyxl", "pandas", "pyarrow"]

# Runs in a fresh interpreter: the dispatcher for `--help`, `tokens --help` and a
# `tokens` lookup (on the embedded, in-process simulator), then what got imported.
IMPORT_CHECK = f"""
import contextlib, io, json, sys
from doku.cli.main import main

steps = []
for argv in (["--help"], ["tokens", "--help"], ["tokens", "CUST-0001", "--json"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    steps.append({{
        "argv": argv,
        "code": code,
        "stdout": out.getvalue(),
        "heavy": sorted({{m.partition(".")[0] for m in sys.modules}} & set({HEAVY!r})),
        "cli": sorted(m for m in sys.modules if m.startswith("doku.cli.")),
    }})
print(json.dumps(steps))
"""


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    return {**env, "DOKU_DATA_DIR": str(data_dir), **extra}


def test_console_command_end_to_end_and_no_heavy_imports(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    doku = Path(sys.executable).parent / "doku"
    assert doku.is_file(), f"no console command at {doku}: pip install -e ."
    env = clean_env(tmp_path, DOKU_ENV="sandbox", DOKU_BASE_URL=simulator.url,
                    DOKU_CLIENT_ID=simulator.config.client_id,
                    DOKU_SECRET_KEY="SK-simulator-demo-only")
    done = subprocess.run([str(doku), "tokens", "CUST-0001", "--json"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert [(t["customer_id"], t["type"], t["masked_card"], t["token_id"])
            for t in json.loads(done.stdout)] == [
        ("CUST-0001", "DIRECT_DEBIT", "*********8982", "2435************************ef82"),
        ("CUST-0001", "DIRECT_DEBIT", "*********8981", "05fc************************1590"),
        ("CUST-0001", "CREDIT_CARD", "4096****5464", "4bc1************************a4a5"),
    ]

    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], env=clean_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "note: no DOKU credentials configured; used the built-in simulator\n"
    help_, tokens_help, tokens = json.loads(done.stdout)
    assert help_["code"] == 0
    assert help_["stdout"].startswith("usage: doku [-h] COMMAND ...\n")
    assert help_["cli"] == ["doku.cli.main", "doku.cli.render"]  # listed, not imported
    assert tokens_help["code"] == 0
    assert tokens_help["stdout"].startswith("usage: doku tokens [-h]")
    assert tokens_help["cli"] == ["doku.cli.main", "doku.cli.render", "doku.cli.tokens"]
    assert tokens["code"] == 0
    assert len(json.loads(tokens["stdout"])) == 3
    assert tokens["cli"] == ["doku.cli.main", "doku.cli.render", "doku.cli.tokens"]
    assert [step["heavy"] for step in (help_, tokens_help, tokens)] == [[], [], []]

"""A store written by the release before versioning (tests/data/legacy_store) is
upgraded in place on first open, after a backup, and then prints exactly what that
release printed for it: runs, reports, a breakdown, a comparison and exports, byte for
byte."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from doku.engine.schema import DB_NAME
from doku.engine.versioning import HEAD
from tests.test_cli import doku

FIXTURE = Path(__file__).resolve().parent / "data" / "legacy_store"
# command -> the file holding what the release before versioning printed on stdout
PRINTED = {
    ("runs", "--json"): "runs.json",
    **{("report", str(n), "--json"): f"report-{n}.json" for n in (1, 2, 3, 4)},
    ("report", "1", "--by", "region", "--by", "plan", "--json"): "report-1-by.json",
    ("compare", "2", "1", "--json"): "compare-2-1.json",
}
# (run, what, extra options) -> the file that release's `doku export` wrote
EXPORTED = {
    ("1", "customers", ()): "export-1-customers.csv",
    ("1", "tokens", ()): "export-1-tokens.csv",
    ("1", "errors", ()): "export-1-errors.csv",
    ("3", "tokens", ("--reveal-token-ids",)): "export-3-tokens.csv",  # run 3 kept raw IDs
    ("3", "errors", ()): "export-3-errors.csv",
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture store copied into a data folder of its own (the release that wrote
    it used another folder and input path: neither is part of what it printed)."""
    for key in [k for k in os.environ if k.startswith("DOKU_")]:
        monkeypatch.delenv(key)
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(FIXTURE / DB_NAME, folder / DB_NAME)
    monkeypatch.setenv("DOKU_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def test_an_upgraded_store_prints_what_it_printed_before(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    for command, expected in PRINTED.items():
        result = doku(capsys, *command)
        assert (result.code, result.err) == (0, ""), command
        assert result.out == (FIXTURE / expected).read_text(encoding="utf-8"), command
    for (run, what, extra), expected in EXPORTED.items():
        target = tmp_path / expected
        result = doku(capsys, "export", run, "--what", what, "-o", str(target), *extra)
        assert result.code == 0, (run, what)
        assert target.read_bytes() == (FIXTURE / expected).read_bytes(), expected
    backups = [p.name for p in data_dir.iterdir() if p.name.startswith(f"{DB_NAME}.backup-")]
    assert len(backups) == 1
    assert (data_dir / backups[0]).stat().st_size == (FIXTURE / DB_NAME).stat().st_size
    status = doku(capsys, "db", "status", "--json")
    assert json.loads(status.out) == {
        "backend": "sqlite", "store": str(data_dir / DB_NAME), "revision": HEAD,
        "head": HEAD, "state": "current", "upgrade_pending": False}

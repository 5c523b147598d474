"""Runs can be named, annotated and archived; older stores gain the columns on open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doku.cli.main import main
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from tests.backend_support import both_backends
from tests.test_migrations import unversion


def test_name_note_and_archive_round_trip(backend_store: Store) -> None:
    store = backend_store
    run = store.create_run(ids=["C1"], env="simulator", base_url=None, client_id="M",
                           input_name="t", name="  Nov \n month-end ", note=" first ")
    info = store.get_run(run)
    assert info is not None
    assert (info.name, info.note, info.archived) == ("Nov month-end", "first", False)
    store.annotate_run(run, name="x" * 500, note="")
    store.set_archived(run)
    info = store.get_run(run)
    assert info is not None
    assert (info.name, info.note, info.archived) == ("x" * 120, None, True)


def test_a_store_from_before_the_columns_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    with Store(db) as store:
        run = store.create_run(ids=["C1"], env="simulator", base_url=None, client_id="M",
                               input_name="old.csv")
    unversion(db, drop=("name", "note", "archived"))  # what the release before wrote
    with Store(db) as store:
        info = store.get_run(run)
    assert info is not None
    assert (info.input_name, info.name, info.archived) == ("old.csv", None, False)


@both_backends
def test_audit_name_and_note_show_in_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("DOKU_ENV", "DOKU_BASE_URL", "DOKU_CLIENT_ID", "DOKU_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ids.txt").write_text("A-1\n")
    assert main(["audit", "ids.txt", "--quiet", "--json", "--name", "Nov month-end",
                 "--note", "before the promo"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["name"], summary["note"]) == ("Nov month-end", "before the promo")
    assert main(["runs", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["name"], row["note"], row["token_type"], row["archived"]) == (
        "Nov month-end", "before the promo", None, False)
    assert main(["runs"]) == 0
    assert "Nov month-end" in capsys.readouterr().out

"""The store is private to its user and keeps bounded error texts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from doku.engine.schema import DB_NAME
from doku.engine.store import Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_data_folder_and_store_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "data"))
    old = os.umask(0o022)
    try:
        with Store() as store:
            store.create_run(ids=["C1"], env="simulator", base_url=None, client_id="M",
                             input_name="t")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / DB_NAME) == 0o600
    for extra in ("-wal", "-shm"):
        side = tmp_path / "data" / (DB_NAME + extra)
        if side.exists():
            assert _mode(side) == 0o600


def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    Store(db).close()
    db.chmod(0o644)
    Store(db).close()
    assert _mode(db) == 0o600


def test_stored_error_texts_are_bounded(backend_store: Store) -> None:
    store = backend_store
    run = store.create_run(ids=["C1"], env="simulator", base_url=None, client_id="M",
                           input_name="t")
    store.record_failed(run, "C1", error_code="server_error", error_message="x" * 60_000,
                        attempts=1, request_id="r" * 1_000)
    store.set_status(run, "aborted", "y" * 60_000)
    row = store.customer_rows(run)[0]
    assert row[7] == "x" * 499 + "\u2026"
    info = store.get_run(run)
    assert info is not None
    assert info.error == "y" * 499 + "\u2026"

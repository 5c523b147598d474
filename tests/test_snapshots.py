"""The store's columnar copy of a finished run: made on first read, given back while
current, never kept or used once any result of the run changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from doku.analysis.frames import load_run_frames
from doku.engine import run_reading
from doku.engine.run_columns import RunColumns, load_snapshot
from doku.engine.run_reading import read_columns, snapshot_run
from doku.engine.sources import EXHAUSTED, FixedCustomers
from doku.engine.store import Store
from doku.engine.tables import run_snapshots
from doku.errors import StoreError
from doku.models import DIRECT_DEBIT, Token
from tests.backend_support import backend_url, both_backends
from tests.test_frames import build_small_store

pytestmark = both_backends
COUNTS = ("fetched", "failed", "pending", "with_tokens", "tokens")


def _snapshot_rows(store: Store) -> list[tuple[int, str, int | None]]:
    s = run_snapshots.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(s.run_id, s.status, s.tokens).order_by(s.run_id))]


def _counts(store: Store, run_id: int) -> tuple[int, ...]:
    info = store.get_run(run_id)
    assert info is not None
    return tuple(getattr(info, k) for k in COUNTS)


@pytest.fixture
def small(backend: str, tmp_path: Path):  # noqa: ARG001
    store, a, b = build_small_store(backend_url(tmp_path))
    with store:
        yield store, a, b


def test_first_read_keeps_a_copy_that_later_reads_use(small) -> None:
    store, a, b = small
    counted = _counts(store, a)
    assert load_snapshot(store, a) is None
    assert _snapshot_rows(store) == []
    load_run_frames(store, a)
    copy = load_snapshot(store, a)
    assert copy is not None
    assert copy.customers.equals(read_columns(store, a).customers)
    assert copy.tokens.equals(read_columns(store, a).tokens)
    # Run A (see build_small_store): 5 fetched, 1 failed, 1 pending... as counted
    assert _snapshot_rows(store) == [(a, "done", 7)]
    assert _counts(store, a) == counted == (6, 1, 1, 4, 7)
    assert [r.tokens for r in store.list_runs()] == [8, 7]  # B counted, A from its copy
    assert RunColumns.from_bytes(copy.to_bytes()).tokens.equals(copy.tokens)
    assert load_snapshot(store, b) is None


def test_a_result_written_later_deletes_the_copy(small) -> None:
    store, a, _ = small
    load_run_frames(store, a)
    store.record_fetched(a, "C3", [Token("C3", "Budi", DIRECT_DEBIT, "BNI", None,
                                         "****0003", "late-0003")], attempts=1)
    assert load_snapshot(store, a) is None
    assert _snapshot_rows(store) == []
    assert _counts(store, a)[4] == 8  # counted again: the late token is in
    assert len(load_run_frames(store, a).tokens) == 8
    assert _snapshot_rows(store) == [(a, "done", 8)]


def test_a_result_written_while_the_copy_is_read_is_not_lost(small, monkeypatch) -> None:
    """Placeholder first, read, fill only if the placeholder survived: a result
    written in between leaves no copy (the rows read are still returned)."""
    store, a, _ = small
    read = run_reading.read_columns

    def read_then_write(store_: Store, run_id: int) -> RunColumns:
        columns = read(store_, run_id)
        store.record_failed(a, "C2", error_code="server_error", error_message="late",
                            attempts=1)
        return columns

    monkeypatch.setattr(run_reading, "read_columns", read_then_write)
    columns = snapshot_run(store, a)
    assert columns.tokens.num_rows == 7
    assert _snapshot_rows(store) == []
    assert load_snapshot(store, a) is None
    monkeypatch.undo()
    assert len(load_run_frames(store, a).tokens) == 6


def test_no_copy_of_a_running_run_and_none_used_once_it_wrote(small) -> None:
    store, a, _ = small
    load_run_frames(store, a)
    store.set_status(a, "running")  # a resume: the copy belongs to the last finish
    assert load_snapshot(store, a) is None
    load_run_frames(store, a)  # read live, and not kept
    assert [r[0] for r in _snapshot_rows(store)] == [a]  # the old one, unused
    store.record_fetched(a, "C6", [], attempts=1)  # the resume fetched the pending one
    assert _snapshot_rows(store) == []
    store.set_status(a, "done")
    assert load_snapshot(store, a) is None
    assert load_run_frames(store, a).run.pending == 0
    assert _snapshot_rows(store) == [(a, "done", 7)]
    assert load_snapshot(store, a) is not None


def test_another_format_is_ignored_and_deleting_the_run_deletes_its_copy(small) -> None:
    store, a, b = small
    load_run_frames(store, a)
    with store.engine.begin() as conn:
        conn.execute(update(run_snapshots).values(format=0))
    assert load_snapshot(store, a) is None
    load_run_frames(store, a)
    assert load_snapshot(store, a) is not None
    load_run_frames(store, b)
    store.delete_run(a)
    assert [r[0] for r in _snapshot_rows(store)] == [b]


def test_a_copy_too_big_to_keep_is_not_kept_and_the_run_still_reads(
    small, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, a, _ = small
    monkeypatch.setattr("doku.engine.run_reading.MAX_SNAPSHOT_BYTES", 1_000)
    assert len(load_run_frames(store, a).tokens) == 7
    assert load_snapshot(store, a) is None
    assert [r.tokens for r in store.list_runs()] == [8, 7]  # counted: no copy to read


def test_a_store_that_refuses_the_copy_still_gives_the_run(
    small, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read-only role (say `doku report` run as the BI user) reads the rows."""
    store, a, _ = small

    def refuse(*_args: object) -> None:
        raise StoreError("permission denied for table run_snapshots")

    monkeypatch.setattr(store, "begin_snapshot", refuse)
    assert len(load_run_frames(store, a).tokens) == 7
    monkeypatch.undo()
    monkeypatch.setattr(store, "fill_snapshot", refuse)
    assert len(load_run_frames(store, a).tokens) == 7
    assert load_snapshot(store, a) is None


def test_the_fetcher_that_finishes_a_big_run_keeps_its_copy(
    small, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, a, b = small
    ids = [row[0] for row in store.customer_rows(b)]
    assert FixedCustomers(store, b, ids).end(EXHAUSTED, None) == "done"
    assert load_snapshot(store, b) is None  # 7 customers: its first reader makes it
    monkeypatch.setattr("doku.engine.sources.COPY_FROM_CUSTOMERS", 7)
    assert FixedCustomers(store, b, ids).end(EXHAUSTED, None) == "done"
    assert load_snapshot(store, b) is not None
    assert _snapshot_rows(store) == [(b, "done", 8)]
    assert FixedCustomers(store, a, ids).end(EXHAUSTED, None) == "cancelled"  # C6 pending
    assert load_snapshot(store, a) is None

"""A run read packed (`doku.engine.packed_columns`) is exactly the run read as rows:
the same Arrow tables (values, NULLs, types, dictionaries) and the same newest
`fetched_at`, on both backends, whole or only its changes, in one snapshot."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import update

from doku.analysis.frames import frames_from_columns
from doku.engine import packed_sql
from doku.engine.live_columns import LiveColumns, read_rows
from doku.engine.packed_columns import PackedRead, _in_order, read_packed
from doku.engine.run_columns import RunColumns
from doku.engine.shared_snapshot import Fetch, two_readers
from doku.engine.store import Store
from doku.engine.tables import customers, tokens
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.backend_support import both_backends, open_store

pytestmark = both_backends
IDS = [f"C{i}" for i in range(1, 15)]
ODD = "Ani, \"Budi\"\n\tsiti\u00e9 \U0001f600 \\ ; |"  # commas, quotes, newline, non-ASCII


def _tokens(cid: str, n: int, tag: str = "a") -> list[Token]:
    return [Token(cid, f"Name {cid}", DIRECT_DEBIT if i % 2 else CREDIT_CARD,
                  ("BRI", "BCA", ODD)[i % 3], None if i % 2 else ("visa", "")[i % 4 // 2],
                  f"****{i:04d}", f"{cid}-{tag}-{i}") for i in range(n)]


def _set(store: Store, customer_id: str, **values: object) -> None:
    """Set columns of one customer straight in the store."""
    with store.engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.customer_id == customer_id)
                     .values(**values))


def _varied_run(store: Store, *, raw_ids: bool = False) -> int:
    """Fetched customers with and without tokens, failed ones, pending ones (never
    written), and values packing could get wrong: empty strings, NULLs, NULL-looking
    text, separators of other formats, non-ASCII."""
    attributes = {cid: {"segment": ("gold", "", ODD)[i % 3]} for i, cid in enumerate(IDS)
                  if i % 4}
    run_id = store.create_run(ids=IDS, env="simulator", base_url=None, client_id="M",
                              input_name="packed.csv", attributes=attributes,
                              attribute_columns=["segment"], store_token_ids=raw_ids)
    store.claim_run(run_id)
    for i, cid in enumerate(IDS[:10]):
        if i % 3 == 2:
            store.record_failed(run_id, cid, error_code=("server_error", "timeout")[i % 2],
                                error_message=("", ODD, "None")[i % 3], attempts=i,
                                http_status=(None, 500)[i % 2], request_id=f"r-{i}")
        else:
            store.record_fetched(run_id, cid, _tokens(cid, i % 4), attempts=1,
                                 request_id=None if i % 2 else ODD,
                                 store_token_ids=raw_ids)
    _set(store, "C1", customer_name="")
    _set(store, "C2", customer_name=ODD)
    _set(store, "C4", customer_name="NULL", error_message="\x1e")
    return run_id


def _equal(got: PackedRead | None, want: tuple[RunColumns, str | None]) -> None:
    assert got is not None
    columns, newest = want
    assert got.columns.customers.schema == columns.customers.schema
    assert got.columns.tokens.schema == columns.tokens.schema
    assert got.columns.customers.equals(columns.customers)
    assert got.columns.tokens.equals(columns.tokens)
    for name in ("status", "error_kind", "attributes"):  # dictionaries in the same order
        assert (got.columns.customers.column(name).combine_chunks().dictionary
                == columns.customers.column(name).combine_chunks().dictionary)
    assert got.newest == newest


def _same_frames(store: Store, run_id: int, got: RunColumns, want: RunColumns) -> None:
    info = store.get_run(run_id, counted=False)
    assert info is not None
    have, expected = frames_from_columns(info, got), frames_from_columns(info, want)
    pd.testing.assert_frame_equal(have.customers, expected.customers)
    pd.testing.assert_frame_equal(have.tokens, expected.tokens)
    assert have.run == expected.run


@pytest.mark.parametrize("range_rows", [packed_sql.RANGE_ROWS, 3, 1])
@pytest.mark.parametrize("raw_ids", [False, True])
def test_a_packed_read_is_the_rows_read(backend_store: Store, raw_ids: bool,
                                        range_rows: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """In one range or several (a whole run is read RANGE_ROWS customers at a time)."""
    store = backend_store
    monkeypatch.setattr(packed_sql, "RANGE_ROWS", range_rows)
    run_id = _varied_run(store, raw_ids=raw_ids)
    got, want = read_packed(store, run_id), read_rows(store, run_id, None)
    _equal(got, want)
    assert got is not None
    _same_frames(store, run_id, got.columns, want[0])
    counts = got.columns.counts()
    assert counts == {"fetched": 7, "failed": 3, "pending": 4, "with_tokens": 5,
                      "tokens": 10}


def test_changes_read_packed_are_the_changes_read_as_rows(backend_store: Store) -> None:
    store = backend_store
    run_id = _varied_run(store)
    with store.engine.begin() as conn:  # all but three written long ago
        conn.execute(update(customers).where(customers.c.customer_id.not_in(["C2", "C3", "C4"]))
                     .values(fetched_at="2000-01-01T00:00:00Z"))
    since = "2020-01-01T00:00:00Z"
    got = read_packed(store, run_id, since)
    _equal(got, read_rows(store, run_id, since))
    assert got is not None
    assert got.columns.customers.column("customer_id").to_pylist() == ["C2", "C3", "C4"]
    assert got.columns.tokens.column("owner").to_pylist() == [0, 2, 2, 2]  # C3 failed


@pytest.mark.parametrize("written", [0, 1])
def test_runs_with_no_answer_or_no_customer(backend_store: Store, written: int) -> None:
    """All customers pending (and then one fetched without tokens), and a run of no
    customers at all: every column's aggregate is NULL."""
    store = backend_store
    run_id = store.create_run(ids=IDS[:3], env="simulator", base_url=None, client_id="M",
                              input_name="pending.csv")
    if written:
        store.record_fetched(run_id, "C2", [], attempts=1)
    empty = store.create_run(ids=[], env="simulator", base_url=None, client_id="M",
                             input_name="empty.csv")
    for run in (run_id, empty):
        _equal(read_packed(store, run), read_rows(store, run, None))
    got = read_packed(store, empty)
    assert got is not None
    assert (got.columns.customers.num_rows, got.newest) == (0, None)


def test_one_empty_string_among_nulls(backend_store: Store) -> None:
    """SQLite joins a single empty string into NULL, as if it joined nothing."""
    store = backend_store
    run_id = store.create_run(ids=IDS[:3], env="simulator", base_url=None, client_id="M",
                              input_name="one.csv")
    store.record_fetched(run_id, "C2", [], attempts=1)
    _set(store, "C2", customer_name="", request_id="")
    got = read_packed(store, run_id)
    _equal(got, read_rows(store, run_id, None))
    assert got is not None
    assert got.columns.customers.column("customer_name").to_pylist() == [None, "", None]


@pytest.mark.parametrize(("table", "column"), [(customers, "customer_name"),
                                               (tokens, "masked_card")])
def test_a_value_holding_the_separator_is_read_as_rows(backend_store: Store, table: object,
                                                       column: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = backend_store
    run_id = _varied_run(store)
    with store.engine.begin() as conn:
        conn.execute(update(table).values({column: f"a{packed_sql.SEPARATOR}b"}))  # type: ignore[arg-type]
    assert read_packed(store, run_id) is None
    rows_read = []
    real = store.run_rows_since

    def counted(run: int, since: str | None) -> object:
        rows_read.append(since)
        return real(run, since)

    monkeypatch.setattr(store, "run_rows_since", counted)
    live = LiveColumns(store, run_id)
    got = live.current()
    assert rows_read == [None]
    want, _ = read_rows(store, run_id, None)
    assert got.customers.equals(want.customers)
    assert got.tokens.equals(want.tokens)


def test_both_tables_are_read_in_one_snapshot(backend_store: Store, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Results written by another connection once the read has begun (after its first
    query) are in neither table: the tokens read are those of the customers read (a
    later snapshot of the tokens would hold C2's new ones and not C4's)."""
    store = backend_store
    run_id = _varied_run(store)
    before = read_rows(store, run_id, None)
    written = []

    def write() -> None:
        with open_store(tmp_path) as writer:
            writer.record_fetched(run_id, "C2", _tokens("C2", 4, "late"), attempts=1)
            writer.record_failed(run_id, "C4", error_code="timeout", error_message="late",
                                 attempts=1)
        written.append(True)

    @contextmanager
    def writing_once_begun(of: Store) -> Iterator[tuple[Fetch, Fetch]]:
        with two_readers(of) as (first, second):
            def then_write(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                rows = first(sql, params)
                if not written:
                    write()
                return rows

            yield then_write, (then_write if first is second else second)

    monkeypatch.setattr("doku.engine.packed_columns.two_readers", writing_once_begun)
    _equal(read_packed(store, run_id), before)
    assert written == [True]
    monkeypatch.undo()
    after = read_packed(store, run_id)
    _equal(after, read_rows(store, run_id, None))
    assert after is not None
    owners = after.columns.tokens.column("owner").to_pylist()
    assert (owners.count(1), owners.count(3)) == (4, 0)  # C2's 4 new tokens, C4's none
    assert before[0].tokens.column("owner").to_pylist().count(3) == 3


def test_rows_out_of_order_are_put_in_order() -> None:
    """Neither database promises an aggregate its rows in key order."""
    shuffled = pa.table({
        "customer_seq": pa.array([2, 0, 2, 1], type=pa.int64()),
        "position": pa.array([1, 0, 0, 0], type=pa.int64()),
        "type": pa.array(["b", "a", "c", None], type=pa.large_string()),
    })
    got = _in_order(shuffled, ("customer_seq", "position"))
    assert got.column("customer_seq").to_pylist() == [0, 1, 2, 2]
    assert got.column("position").to_pylist() == [0, 0, 0, 1]
    assert got.column("type").equals(pa.chunked_array(
        [pa.array(["a", None, "c", "b"], type=pa.string()).dictionary_encode()]))

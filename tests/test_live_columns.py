"""A running run read again only where it changed gives the frames a whole read gives."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import update

from doku.analysis.frames import RunFrames, frames_from_columns
from doku.engine.live_columns import FULL_READ_S, MARGIN_S, LiveColumns
from doku.engine.packed_columns import PackedRead, read_packed
from doku.engine.run_columns import RunColumns
from doku.engine.run_reading import read_columns
from doku.engine.store import Store
from doku.engine.tables import customers
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.backend_support import both_backends

pytestmark = both_backends
IDS = [f"C{i}" for i in range(1, 9)]


def _tokens(cid: str, n: int, tag: str = "a") -> list[Token]:
    return [Token(cid, f"Name {cid}", DIRECT_DEBIT if i % 2 else CREDIT_CARD,
                  ("BRI", "BCA", "Mandiri")[i % 3], None if i % 2 else "visa",
                  f"****{i:04d}", f"{cid}-{tag}-{i}") for i in range(n)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frames(store: Store, run_id: int, columns: RunColumns) -> RunFrames:
    info = store.get_run(run_id, counted=False)
    assert info is not None
    return frames_from_columns(info, columns)


def _same(store: Store, run_id: int, got: RunColumns) -> None:
    want = _frames(store, run_id, read_columns(store, run_id))
    have = _frames(store, run_id, got)
    pd.testing.assert_frame_equal(have.customers, want.customers)
    pd.testing.assert_frame_equal(have.tokens, want.tokens)


@pytest.fixture
def running(backend_store: Store) -> tuple[Store, int]:
    store = backend_store
    run_id = store.create_run(ids=IDS, env="simulator", base_url=None, client_id="M",
                              input_name="live.csv",
                              attributes={cid: {"segment": "gold" if i % 2 else "basic"}
                                          for i, cid in enumerate(IDS)})
    store.claim_run(run_id)
    for cid in IDS[:3]:
        store.record_fetched(run_id, cid, _tokens(cid, 2), attempts=1)
    return store, run_id


def test_changes_are_read_and_put_in_place(running: tuple[Store, int]) -> None:
    store, run_id = running
    clock = Clock()
    live = LiveColumns(store, run_id, clock=clock)
    _same(store, run_id, live.current())
    assert live.last_read == "whole"
    store.record_fetched(run_id, "C5", _tokens("C5", 3), attempts=1)
    store.record_failed(run_id, "C4", error_code="server_error", error_message="boom",
                        attempts=2)
    store.record_fetched(run_id, "C2", _tokens("C2", 1, tag="again"), attempts=1)  # replaced
    store.record_fetched(run_id, "C1", [], attempts=1)  # now holds none
    clock.now += 5
    got = live.current()
    assert live.last_read == "changes"
    _same(store, run_id, got)
    frames = _frames(store, run_id, got)
    assert frames.tokens["customer_id"].tolist() == ["C2", "C3", "C3", "C5", "C5", "C5"]
    assert frames.run.pending == 3
    assert frames.run.failed == 1


def test_a_result_stamped_a_little_earlier_is_still_read(running: tuple[Store, int]) -> None:
    """A writer whose clock is behind (or whose commit came late) within MARGIN_S."""
    store, run_id = running
    live = LiveColumns(store, run_id, clock=Clock())
    live.current()
    store.record_fetched(run_id, "C6", _tokens("C6", 2), attempts=1)
    with store.engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.customer_id == "C6")
                     .values(fetched_at="2000-01-01T00:00:00Z"))
    live.current()  # far older than the margin: only the next whole read sees it
    store.record_fetched(run_id, "C7", _tokens("C7", 1), attempts=1)
    newest = max(r[-1] for r in store.run_rows_since(run_id, None)[0] if r[-1])
    with store.engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.customer_id == "C7")
                     .values(fetched_at=newest[:-3] + f"{max(int(newest[-3:-1]) - 5, 0):02d}Z"))
    got = _frames(store, run_id, live.current())
    assert "C7" in set(got.tokens["customer_id"])
    assert "C6" not in set(got.tokens["customer_id"])
    assert MARGIN_S >= 5


def test_a_whole_read_every_full_read_s_catches_what_writes_no_time(
    running: tuple[Store, int],
) -> None:
    store, run_id = running
    store.record_failed(run_id, "C8", error_code="server_error", error_message="x",
                        attempts=1)
    with store.engine.begin() as conn:  # failed long ago, outside any re-read window
        conn.execute(update(customers).where(customers.c.customer_id == "C8")
                     .values(fetched_at="2000-01-01T00:00:00Z"))
    clock = Clock()
    live = LiveColumns(store, run_id, clock=clock)
    assert _frames(store, run_id, live.current()).run.failed == 1
    with store.engine.begin() as conn:  # a retry puts failed customers back to pending
        conn.execute(update(customers).where(customers.c.status == "failed")
                     .values(status=None))
    clock.now += FULL_READ_S - 1
    assert _frames(store, run_id, live.current()).run.failed == 1
    clock.now += 1
    assert _frames(store, run_id, live.current()).run.failed == 0
    assert live.last_read == "whole"


def test_a_retry_putting_failed_customers_back_is_a_change(running: tuple[Store, int]) -> None:
    store, run_id = running
    store.record_failed(run_id, "C8", error_code="server_error", error_message="x",
                        attempts=1)
    live = LiveColumns(store, run_id, clock=Clock())
    assert _frames(store, run_id, live.current()).run.failed == 1
    store.requeue_run(run_id, failed=True)
    got = live.current()
    assert live.last_read == "changes"
    assert _frames(store, run_id, got).run.failed == 0
    _same(store, run_id, got)


def test_reads_are_packed_and_a_refresh_reads_only_the_changed_customers(
    running: tuple[Store, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, run_id = running
    read: list[tuple[str | None, list[str]]] = []

    def spied(of: Store, run: int, since: str | None = None) -> PackedRead | None:
        got = read_packed(of, run, since)
        assert got is not None
        read.append((since, got.columns.customers.column("customer_id").to_pylist()))
        return got

    monkeypatch.setattr("doku.engine.live_columns.read_packed", spied)
    monkeypatch.setattr(store, "run_rows_since", None)  # never read as rows
    live = LiveColumns(store, run_id, clock=Clock())
    live.current()
    with store.engine.begin() as conn:  # the first results, written long ago
        conn.execute(update(customers).values(fetched_at="2000-01-01T00:00:00Z"))
    store.record_fetched(run_id, "C6", _tokens("C6", 2), attempts=1)
    store.record_failed(run_id, "C2", error_code="timeout", error_message="x", attempts=2)
    got = live.current()
    assert live.last_read == "changes"
    assert [(since is None, ids) for since, ids in read] == [(True, IDS), (False, ["C2", "C6"])]
    monkeypatch.undo()
    _same(store, run_id, got)

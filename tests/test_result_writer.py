"""Results in batches (`Store.record_results`, `doku.engine.result_writer`): all or
nothing per batch, committed by size, by delay or on flush, counted after the commit,
written by the caller once the writer is closed. On both backends."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from doku.engine.result_writer import ResultWriter
from doku.engine.results import Failed, Fetched, Result
from doku.engine.store import Store
from doku.models import Token
from tests.backend_support import both_backends
from tests.waiting import wait_until

pytestmark = both_backends
LONG_S = 600.0  # a delay no test waits for: only size, flush or close can commit


def new_run(store: Store, n: int) -> int:
    return store.create_run(ids=[f"C{i}" for i in range(n)], env="simulator",
                            base_url=None, client_id="MCH", input_name="x.csv")


def card(cid: str, n: int = 1) -> list[Token]:
    return [Token(cid, f"Name {cid}", "CREDIT_CARD", "BCA", "VISA", "411111******1111",
                  f"tok-{cid}-{i}") for i in range(n)]


def statuses(store: Store, run_id: int) -> list[tuple[str, str | None, int | None]]:
    return [(r[0], r[1], r[3]) for r in store.customer_rows(run_id)]


class Seen:
    """What the writer reported: committed batches and failures."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.errors: list[tuple[list[str], str]] = []

    def written(self, batch: Sequence[Result]) -> None:
        self.batches.append([r.customer_id for r in batch])

    def failed(self, batch: Sequence[Result], exc: Exception) -> None:
        self.errors.append(([r.customer_id for r in batch], str(exc)))

    def writer(self, store: Store, run_id: int, **kw: float | int) -> ResultWriter:
        return ResultWriter(store, run_id, store_token_ids=False, on_written=self.written,
                            on_error=self.failed, **kw)  # type: ignore[arg-type]


def test_record_results_writes_a_mixed_batch_and_a_later_result_wins(
    backend_store: Store,
) -> None:
    store = backend_store
    run = new_run(store, 4)
    store.record_results(run, [
        Fetched("C0", card("C0", 2), attempts=1, request_id="r0"),
        Failed("C1", "server_error", "upstream 503", attempts=3, http_status=503),
        Fetched("C2", card("C2", 3), attempts=1),
        Failed("C2", "transport", "reset", attempts=1),  # the same customer again
        Fetched("C3", [], attempts=2),
    ])
    assert statuses(store, run) == [
        ("C0", "fetched", 2), ("C1", "failed", None), ("C2", "failed", None),
        ("C3", "fetched", 0),
    ]
    assert [(r[0], r[7]) for r in store.token_rows(run)] == [("C0", None), ("C0", None)]
    info = store.get_run(run)
    assert info is not None
    assert (info.fetched, info.failed, info.pending) == (2, 2, 0)


def test_a_batch_is_all_or_nothing(backend_store: Store) -> None:
    store = backend_store
    run = new_run(store, 2)
    with pytest.raises(KeyError, match="'NOPE' is not part of run"):
        store.record_results(run, [Fetched("C0", card("C0"), attempts=1),
                                   Fetched("NOPE", [], attempts=1)])
    assert statuses(store, run) == [("C0", None, None), ("C1", None, None)]
    assert store.token_rows(run) == []


def test_a_full_batch_is_committed_without_waiting_for_the_delay(
    backend_store: Store,
) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 5)
    writer = seen.writer(store, run, delay_s=LONG_S, batch=3)
    for i in range(4):
        writer.put(Fetched(f"C{i}", card(f"C{i}"), attempts=1))
    wait_until(lambda: writer.waiting == 1, 10, "the first full batch")
    assert seen.batches == [["C0", "C1", "C2"]]
    assert [s for _, s, _ in statuses(store, run)] == ["fetched"] * 3 + [None, None]
    writer.close()
    assert seen.batches == [["C0", "C1", "C2"], ["C3"]]


def test_a_result_is_committed_within_the_delay_without_a_flush(
    backend_store: Store,
) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 2)
    writer = seen.writer(store, run, delay_s=0.05, batch=100)
    writer.put(Fetched("C1", card("C1"), attempts=1))
    wait_until(lambda: seen.batches, 10, "the delayed commit")
    assert seen.batches == [["C1"]]
    assert statuses(store, run) == [("C0", None, None), ("C1", "fetched", 1)]
    writer.close()


def test_flush_commits_everything_received_before_it(backend_store: Store) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 3)
    writer = seen.writer(store, run, delay_s=LONG_S, batch=100)
    writer.put(Fetched("C0", card("C0"), attempts=1))
    writer.put(Failed("C2", "not_found", "no such customer", attempts=1, http_status=404))
    writer.flush()
    assert seen.batches == [["C0", "C2"]]
    assert writer.waiting == 0
    assert statuses(store, run) == [("C0", "fetched", 1), ("C1", None, None),
                                    ("C2", "failed", None)]
    writer.flush()  # nothing new: returns at once, writes nothing
    assert seen.batches == [["C0", "C2"]]
    writer.close()


def test_a_failed_batch_stays_pending_and_later_ones_are_written(
    backend_store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 4)
    original = store.record_results

    def full_disk_once(run_id: int, results: Sequence[Result], **kw: bool) -> None:
        if any(r.customer_id == "C1" for r in results):
            raise OSError(28, "No space left on device")
        original(run_id, results, **kw)

    monkeypatch.setattr(store, "record_results", full_disk_once)
    writer = seen.writer(store, run, delay_s=LONG_S, batch=2)
    for cid in ("C0", "C1", "C2", "C3"):
        writer.put(Fetched(cid, [], attempts=1))
    writer.close()
    assert seen.errors == [(["C0", "C1"], "[Errno 28] No space left on device")]
    assert seen.batches == [["C2", "C3"]]
    assert statuses(store, run) == [("C0", None, None), ("C1", None, None),
                                    ("C2", "fetched", 0), ("C3", "fetched", 0)]


def test_after_close_a_late_result_is_written_by_its_own_thread(
    backend_store: Store,
) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 2)
    writer = seen.writer(store, run, delay_s=LONG_S)
    writer.close()
    writer.put(Fetched("C1", card("C1", 2), attempts=4))  # e.g. abandoned by `stop`
    assert seen.batches == [["C1"]]
    assert statuses(store, run) == [("C0", None, None), ("C1", "fetched", 2)]


def test_many_threads_every_result_once_in_order_of_arrival_per_thread(
    backend_store: Store,
) -> None:
    store, seen = backend_store, Seen()
    run = new_run(store, 400)
    # A queue of at most 8 holds the putting threads back while the store catches up.
    writer = seen.writer(store, run, delay_s=0.01, batch=8, max_waiting=8)

    def put_range(start: int) -> None:
        for i in range(start, 400, 4):
            writer.put(Fetched(f"C{i}", card(f"C{i}"), attempts=1))

    threads = [threading.Thread(target=put_range, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    committed = [cid for batch in seen.batches for cid in batch]
    assert sorted(committed) == sorted(f"C{i}" for i in range(400))
    assert max(len(b) for b in seen.batches) <= 8
    for k in range(4):  # each thread's results were committed in the order it put them
        mine = [c for c in committed if int(c[1:]) % 4 == k]
        assert mine == [f"C{i}" for i in range(k, 400, 4)]
    info = store.get_run(run)
    assert info is not None
    assert (info.fetched, info.pending, info.tokens) == (400, 0, 400)


def test_a_later_result_in_the_same_batch_replaces_an_earlier_one(backend_store: Store) -> None:
    store = backend_store
    run = new_run(store, 3)
    store.record_results(run, [
        Fetched("C0", card("C0", 2), attempts=1), Failed("C0", "server", "boom", 1, 500, None),
        Failed("C1", "server", "boom", 1, 503, None), Fetched("C1", card("C1"), attempts=2),
        Fetched("C2", card("C2"), attempts=1), Fetched("C2", card("C2", 3), attempts=1),
    ])
    assert statuses(store, run) == [("C0", "failed", None), ("C1", "fetched", 1),
                                    ("C2", "fetched", 3)]
    assert [r[0] for r in store.token_rows(run)] == ["C1", "C2", "C2", "C2"]
    assert [r[9] for r in store.customer_rows(run)] == [2, 3, 2]  # attempts add up


def test_a_batch_larger_than_one_seq_query_is_written_whole(backend_store: Store) -> None:
    from doku.engine.access import SEQ_QUERY_IDS

    store = backend_store
    n = 2 * SEQ_QUERY_IDS + 7  # SQLite looks seqs up SEQ_QUERY_IDS at a time
    run = new_run(store, n)
    batch: list[Result] = [Fetched(f"C{i}", card(f"C{i}", i % 3), attempts=1)
                           for i in range(n)]
    batch.append(Failed("C5", "server", "boom", 2, 500, None))  # the last result wins
    store.record_results(run, batch)
    info = store.get_run(run)
    assert info is not None
    assert (info.fetched, info.failed, info.pending) == (n - 1, 1, 0)
    assert info.tokens == sum(i % 3 for i in range(n)) - 5 % 3
    assert statuses(store, run)[5] == ("C5", "failed", None)

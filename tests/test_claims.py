"""Queued runs shared by fetchers: batches claimed under a lease, handed out once, given
back when a fetcher dies or leaves, and the run finished exactly once."""

from __future__ import annotations

import pytest

from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.queue_state import queue_state, to_dict
from doku.engine.store import Store
from doku.settings import SIMULATOR_CLIENT_ID
from tests.backend_support import both_backends, sqlite_only
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import settings_for
from tests.waiting import wait_until

pytestmark = both_backends


def _queued(store: Store, n: int, base_url: str | None = None) -> int:
    return store.create_run(ids=[f"C{i:03d}" for i in range(n)], env="simulator",
                            base_url=base_url, client_id=SIMULATOR_CLIENT_ID,
                            input_name="t.csv", queued=True)


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_batches_are_handed_out_once_in_input_order(store: Store) -> None:
    run = _queued(store, 7)
    assert store.get_run(run).status == "queued"  # type: ignore[union-attr]
    first = store.claim_batch(run, "w1", 3)
    second = store.claim_batch(run, "w2", 3)
    third = store.claim_batch(run, "w1", 3)
    assert [first.customer_ids, second.customer_ids, third.customer_ids] == [
        ["C000", "C001", "C002"], ["C003", "C004", "C005"], ["C006"]]
    assert (third.status, third.pending, third.open) == ("running", 7, True)
    empty = store.claim_batch(run, "w3", 3)
    assert (empty.customer_ids, empty.pending) == ([], 7)  # others hold the rest
    assert store.claim_holders() == {run: {"w1": 4, "w2": 3}}
    assert store.get_run(run).status == "running"  # type: ignore[union-attr]


def test_a_recorded_customer_is_never_claimed_again_and_the_run_finishes_once(
    store: Store,
) -> None:
    run = _queued(store, 2)
    ids = store.claim_batch(run, "w1", 5).customer_ids
    store.record_fetched(run, ids[0], [], attempts=1)
    assert store.finish_queued_run(run) is False  # one still pending
    store.record_failed(run, ids[1], error_code="x", error_message="boom", attempts=1)
    assert store.claim_holders() == {}
    done = store.claim_batch(run, "w2", 5)
    assert (done.customer_ids, done.pending) == ([], 0)
    assert [store.finish_queued_run(run), store.finish_queued_run(run)] == [True, False]
    info = store.get_run(run)
    assert (info.status, info.fetched, info.failed) == ("done", 1, 1)  # type: ignore[union-attr]
    assert store.claim_batch(run, "w2", 5).open is False


@sqlite_only("the claims' clock is injectable on SQLite; PostgreSQL reads its own")
def test_claims_run_out_unless_renewed(store: Store) -> None:
    clock = Clock()
    run = _queued(store, 4)
    store.register_worker("worker", 2, "w1", clock=clock)
    assert store.claim_batch(run, "w1", 2, lease_s=30, clock=clock).customer_ids == [
        "C000", "C001"]
    clock.now += 20
    assert store.worker_heartbeat("w1", run, lease_s=30, clock=clock) == 2  # until +50
    clock.now += 20
    assert store.claim_batch(run, "w2", 4, lease_s=30, clock=clock).customer_ids == [
        "C002", "C003"]
    clock.now += 11  # w1 went silent 31 s ago: its claims ran out
    assert store.claim_batch(run, "w3", 4, lease_s=30, clock=clock).customer_ids == [
        "C000", "C001"]
    workers = store.workers(clock=clock)
    assert [(w.id, w.kind, w.run_id, w.heartbeat_age_s, w.alive()) for w in workers] == [
        ("w1", "worker", run, 31.0, False)]
    assert store.prune_workers(30, clock=clock) == 1
    assert store.workers(clock=clock) == []


def test_claims_of_a_silent_fetcher_come_back_after_its_lease(store: Store) -> None:
    run = _queued(store, 3)
    assert store.claim_batch(run, "ghost", 2, lease_s=0.3).customer_ids == ["C000", "C001"]
    assert store.claim_batch(run, "w2", 5, lease_s=30).customer_ids == ["C002"]
    wait_until(lambda: store.claim_batch(run, "w2", 5, lease_s=30).customer_ids, 10,
               "the ghost's claims to run out")
    assert store.claim_holders() == {run: {"w2": 3}}


def test_leaving_gives_claims_back_and_requeue_reopens_a_run(store: Store) -> None:
    run = _queued(store, 3)
    worker = store.register_worker("cli", 4)
    store.claim_batch(run, worker, 2)
    store.unregister_worker(worker)
    assert store.claim_holders() == {}
    assert store.workers() == []
    ids = store.claim_batch(run, "w2", 3).customer_ids
    store.record_failed(run, ids[0], error_code="x", error_message="boom", attempts=1)
    store.set_status(run, "cancelled")
    assert store.claim_batch(run, "w2", 3).open is False
    assert store.release_claims("w2") == 2
    store.requeue_run(run, failed=True)
    info = store.get_run(run)
    assert (info.status, info.failed, info.pending) == ("queued", 0, 3)  # type: ignore[union-attr]


def test_a_shared_job_takes_over_a_dead_fetchers_customers(
    store: Store, make_simulator: MakeSimulator
) -> None:
    sim = make_simulator()
    run = _queued(store, 12, sim.url)
    assert store.claim_batch(run, "dead", 3, lease_s=0.5).customer_ids == [
        "C000", "C001", "C002"]
    job = BulkJob.shared(store, run, settings_for(sim.url), AuditOptions(concurrency=3),
                         kind="api", lease_s=3.0).start()
    progress = job.wait(60)
    assert (progress.state, progress.fetched, progress.failed) == ("done", 12, 0)
    info = store.get_run(run)
    assert (info.status, info.fetched, info.pending) == ("done", 12, 0)  # type: ignore[union-attr]
    assert store.workers() == []  # the job registered itself and left


def test_cancel_ends_the_run_and_detach_leaves_it_to_the_others(
    store: Store, make_simulator: MakeSimulator
) -> None:
    slow = make_simulator(latency_ms=200)
    run = _queued(store, 200, slow.url)
    job = BulkJob.shared(store, run, settings_for(slow.url), AuditOptions(concurrency=2),
                         kind="api").start()
    wait_until(lambda: store.get_run(run).fetched >= 1, 30, "a first result")  # type: ignore[union-attr]
    assert job.detach().state == "cancelled"
    info = store.get_run(run)
    assert info.status == "running"  # type: ignore[union-attr]
    assert store.claim_holders() == {}
    other = BulkJob.shared(store, run, settings_for(slow.url), AuditOptions(concurrency=2),
                           kind="api").start()
    wait_until(lambda: store.claim_holders(), 30, "the second fetcher's claims")
    assert other.stop().state == "cancelled"
    info = store.get_run(run)
    assert (info.status, info.pending > 0) == ("cancelled", True)  # type: ignore[union-attr]
    assert store.claim_holders() == {}


def test_queue_state_lists_runs_fetchers_and_workers(store: Store) -> None:
    waiting = _queued(store, 2)
    busy = _queued(store, 3)
    worker = store.register_worker("worker", 8)
    store.worker_heartbeat(worker, busy)
    store.claim_batch(busy, worker, 2)
    state = queue_state(store)
    assert [r.id for r in state.queued] == [waiting]
    assert [(x.run.id, x.holders) for x in state.running] == [(busy, {worker: 2})]
    assert [(w.id, w.run_id) for w in state.workers] == [(worker, busy)]
    assert state.idle_workers == []
    as_json = to_dict(state)
    assert sorted(as_json) == ["finished", "queued", "running", "workers"]
    assert as_json["running"][0]["fetchers"] == {worker: 2}  # type: ignore[index]


def test_take_claimed_hands_out_only_what_is_already_claimed(store: Store) -> None:
    import threading

    from doku.engine.sources import ClaimedCustomers

    run = _queued(store, 5)
    source = ClaimedCustomers(store, run, kind="api", concurrency=1, batch=2)
    source.begin()
    stop = threading.Event()
    assert source.take_claimed(stop) is None  # nothing claimed yet: never a store call
    assert store.claim_holders() == {}
    assert source.take(stop) == "C000"  # claims C000, C001
    assert source.take_claimed(stop) == "C001"
    assert source.take_claimed(stop) is None
    assert source.take(stop) == "C002"
    stop.set()
    assert source.take_claimed(stop) is None  # stopped: the rest stays claimable
    source.end("cancelled", None)


def test_a_fetcher_waiting_on_its_own_last_customers_wakes_when_they_are_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from doku.engine import sources

    monkeypatch.setattr(sources, "WAIT_FOR_OTHERS_S", 600.0)  # only a wake can end it
    run = _queued(store, 1)
    source = sources.ClaimedCustomers(store, run, kind="api", concurrency=2, batch=1)
    source.begin()
    claims: list[int] = []
    claim_batch = store.claim_batch
    monkeypatch.setattr(store, "claim_batch", lambda *a, **k: (
        claims.append(1), claim_batch(*a, **k))[1])
    stop = threading.Event()
    assert source.take(stop) == "C000"
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(source.take(stop)), daemon=True)
    waiter.start()  # nothing left to claim and C000 still in flight: it waits
    wait_until(lambda: len(claims) == 2, 10.0, "the waiter's empty claim")
    store.record_fetched(run, "C000", [], attempts=1)
    source.wake()  # what the job does when its writer commits
    waiter.join(30.0)
    assert got == [None]  # woken, claimed again: nothing pending, exhausted
    assert len(claims) == 3
    source.end("exhausted", None)

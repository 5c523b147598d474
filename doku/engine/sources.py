"""Where a bulk job's customers come from, and what its end means for the run.

- `FixedCustomers`: a list given up front, the run held by this one process (its
  lease, `doku.engine.lease`) - the embedded SQLite default, resume and retry.
- `ClaimedCustomers`: a queued run shared by any number of fetchers (`doku worker`,
  a dashboard or a CLI joining it): small batches claimed from the store under a
  lease (`doku.engine.claims`), so one run is split between machines and a fetcher
  that dies only delays its batch.

`doku.engine.bulk.BulkJob` asks its source for the next customer, renews the
source's lease on a timer and, when its threads are done, lets the source settle the
run's status (`end`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from doku.engine import lease
from doku.engine.claims import CLAIM_BATCH, CLAIM_LEASE_S
from doku.engine.store import Store
from doku.errors import DokuError

logger = logging.getLogger(__name__)

# How a job's threads stopped: every customer taken, a user's cancel, an abort (its
# error says why), or a fetcher leaving a shared run to the others (a worker's shutdown).
EXHAUSTED, CANCELLED, ABORTED, DETACHED = "exhausted", "cancelled", "aborted", "detached"
WAIT_FOR_OTHERS_S = 0.5  # polling while other fetchers hold a shared run's last customers


class CustomerSource(Protocol):
    shared: bool
    total: int  # customers this job set out to settle

    @property
    def beat_every(self) -> float: ...

    def begin(self) -> None: ...
    def take(self, stop: threading.Event) -> str | None: ...
    def wake(self) -> None: ...  # a result was written or the job stops: re-check now
    def beat(self) -> None: ...
    def pending(self) -> int | None: ...
    def end(self, outcome: str, error: str | None) -> str: ...


class FixedCustomers:
    """The given customers of a run this process holds alone."""

    shared = False

    def __init__(self, store: Store, run_id: int, ids: Sequence[str]) -> None:
        self.store, self.run_id = store, run_id
        self.ids = list(ids)
        self.total = len(self.ids)
        self._next = 0
        self._lock = threading.Lock()

    @property
    def beat_every(self) -> float:
        return lease.HEARTBEAT_S

    def begin(self) -> None:
        self.store.claim_run(self.run_id)  # RunBusyError when another fetcher holds it

    def take(self, stop: threading.Event) -> str | None:
        with self._lock:
            if self._next >= len(self.ids) or stop.is_set():
                return None
            self._next += 1
            return self.ids[self._next - 1]

    def wake(self) -> None:
        pass  # `take` never waits

    def beat(self) -> None:
        self.store.heartbeat(self.run_id)

    def pending(self) -> int | None:
        return None  # this job's own count is the whole story

    def end(self, outcome: str, error: str | None) -> str:
        if outcome == ABORTED:
            state = "aborted"
        elif outcome != EXHAUSTED or self.store.pending_ids(self.run_id):
            state = "cancelled"  # stopped, or an earlier part of the run never finished
        else:
            state = "done"
        self.store.set_status(self.run_id, state, error)
        if state == "done":
            keep_copy(self.store, self.run_id)
        return state


class ClaimedCustomers:
    """Batches of a queued run claimed from the store, shared with other fetchers.

    `worker_id`: the fetcher's registration (`doku worker` registers once for all the
    runs it takes); without one the source registers itself as `kind` and leaves when
    it ends. `lease_s`: how long its claims outlive it if it dies (renewed every
    lease / 3 while it lives)."""

    shared = True

    def __init__(self, store: Store, run_id: int, *, kind: str, concurrency: int,
                 worker_id: str | None = None, lease_s: float = CLAIM_LEASE_S,
                 batch: int | None = None) -> None:
        self.store, self.run_id, self.kind = store, run_id, kind
        self.concurrency = concurrency
        self.worker_id = worker_id
        self._own_worker = worker_id is None
        self.lease_s = lease_s
        self.beat_every = lease_s / 3
        # Small batches: twice the threads, so a claim (one round trip, by the thread
        # that found the buffer empty) leaves the others busy; few enough that the end
        # of a run is spread over every fetcher.
        self.batch = batch or max(CLAIM_BATCH, min(2 * concurrency, 4 * CLAIM_BATCH))
        self.total = 0
        self.closed = False  # the run stopped taking fetchers (see closed_status)
        self.closed_status: str | None = None  # then: its status (None: deleted)
        self._buffer: deque[str] = deque()
        self._exhausted = False
        self._lock = threading.Lock()
        self._pending = 0
        self._woken = threading.Event()

    def wake(self) -> None:
        self._woken.set()

    @property
    def worker(self) -> str:
        assert self.worker_id is not None, "begin() registers the fetcher"
        return self.worker_id

    def begin(self) -> None:
        if self.worker_id is None:
            self.worker_id = self.store.register_worker(self.kind, self.concurrency)
        self.store.worker_heartbeat(self.worker, self.run_id, self.lease_s)
        run = self.store.get_run(self.run_id)
        self.total = self._pending = run.pending if run is not None else 0

    def take(self, stop: threading.Event) -> str | None:
        with self._lock:
            while not self._buffer:
                if stop.is_set() or self._exhausted:
                    return None
                self._woken.clear()  # before the claim: a write after it is not missed
                claim = self.store.claim_batch(self.run_id, self.worker, self.batch,
                                               self.lease_s)
                self._pending = claim.pending
                if not claim.open:
                    self.closed, self.closed_status = True, claim.status
                    self._exhausted = True
                elif claim.customer_ids:
                    self._buffer.extend(claim.customer_ids)
                elif claim.pending == 0:
                    self._exhausted = True
                else:  # others hold the rest (this job's own workers, or other
                    # fetchers): they finish, or their claims run out. Our own writes
                    # and a stop wake us at once (`wake`); others' are polled.
                    self._woken.wait(WAIT_FOR_OTHERS_S)
            return self._buffer.popleft()

    def take_claimed(self, stop: threading.Event) -> str | None:
        """The next customer already claimed, never waiting (None: none at hand, or
        another thread is claiming: then `take`). An event loop calls this inline and
        hands `take` to a thread only when a claim has to go to the store."""
        if stop.is_set() or not self._lock.acquire(blocking=False):
            return None
        try:
            return self._buffer.popleft() if self._buffer else None
        finally:
            self._lock.release()

    def beat(self) -> None:
        self.store.worker_heartbeat(self.worker, self.run_id, self.lease_s)
        run = self.store.get_run(self.run_id)
        if run is not None:
            self._pending = run.pending

    def pending(self) -> int | None:
        """The run's customers still without a result (any fetcher's), as of this
        fetcher's last claim or heartbeat: never a store call, so a progress poll (the
        CLI's main thread, where Ctrl+C lands) never waits on the store."""
        return self._pending

    def end(self, outcome: str, error: str | None) -> str:
        try:
            if outcome == ABORTED:
                self.store.set_status(self.run_id, "aborted", error)
                return "aborted"
            if outcome == CANCELLED:
                self.store.set_status(self.run_id, "cancelled", error)
                return "cancelled"
            if outcome == DETACHED:
                return "cancelled"  # this fetcher left; the run goes on without it
            if self.closed:  # cancelled, aborted, finished or deleted by someone else
                return self.closed_status or "aborted"
            if self.store.finish_queued_run(self.run_id):  # False: another fetcher did it
                keep_copy(self.store, self.run_id)
            return "done"
        finally:
            self._leave()

    def _leave(self) -> None:
        with self._lock:
            self._buffer.clear()
        if self._own_worker and self.worker_id is not None:
            self.store.unregister_worker(self.worker_id)
        elif self.worker_id is not None:
            self.store.release_claims(self.worker_id)


# Runs smaller than this are not copied when they finish: they read in well under a
# second anyway, and the copy would cost a short CLI audit the import of pyarrow at
# exit. Their first reader makes the copy (`doku.engine.run_reading.snapshot_run`).
COPY_FROM_CUSTOMERS = 20_000


def keep_copy(store: Store, run_id: int) -> None:
    """A big finished run's columnar copy (`doku.engine.snapshots`), made by whoever
    finishes it, so the first look at it is as quick as the next. Without it the
    first reader makes it: a failure here costs time, never the run."""
    try:
        run = store.get_run(run_id, counted=False)
        if run is None or run.customers < COPY_FROM_CUSTOMERS:
            return
        from doku.engine.run_reading import snapshot_run  # pyarrow: only when a run ends

        snapshot_run(store, run_id)
    except (DokuError, OSError, MemoryError) as exc:
        logger.warning("run %s: no snapshot kept (%s); the first reader makes it", run_id,
                       exc)

"""One writer per bulk job: results from every fetch thread, committed in small batches.

A fetch thread hands its customer's result to `ResultWriter.put` and goes on to the
next customer; the writer's own thread commits whatever has arrived, once per
`delay_s` (or at once when `batch` results wait), in one transaction
(`Store.record_results`). Compared with one transaction per customer written by the
fetch thread itself, this takes the store's lock (SQLite: one writer at a time) out of
the fetch threads' path and pays one commit per batch instead of per customer.

Guarantees (pinned in tests/test_result_writer.py):
- Durability: a result is committed within about `delay_s` plus one batch's write
  after it is put (DEFAULT_DELAY_S, 50 ms), unless the store is slower than the
  results arrive; then `put` waits while `max_waiting` results are queued.
- `flush` returns once everything put before it was committed (or failed), so a job
  settles its run only after every result it received is in the store.
- A batch is all or nothing: when it fails, `on_error` is told why and its customers
  stay pending (a resume fetches them); a crash loses only the results not yet
  committed, which stay pending too.
- `on_written` is called after each commit with the results committed, in order, so
  progress counters count exactly what the store holds.
- After `close`, a result still put (a request abandoned by `stop`) is written at
  once by the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from doku.engine.results import Result
from doku.engine.store import Store

DEFAULT_DELAY_S = 0.05  # the longest a received result waits for its commit (idle writer)
DEFAULT_BATCH = 256  # results that wake the writer before the delay is up
MAX_WAITING = 8 * DEFAULT_BATCH  # queued results that make `put` wait (slow store)

Written = Callable[[Sequence[Result]], None]
Failed = Callable[[Sequence[Result], Exception], None]


class ResultWriter:
    """Commits the results of run `run_id` in batches, on its own thread."""

    def __init__(self, store: Store, run_id: int, *, store_token_ids: bool,
                 on_written: Written, on_error: Failed, delay_s: float = DEFAULT_DELAY_S,
                 batch: int = DEFAULT_BATCH, max_waiting: int = MAX_WAITING,
                 name: str = "results") -> None:
        self.store, self.run_id = store, run_id
        self.store_token_ids = store_token_ids
        self.delay_s, self.batch, self.max_waiting = delay_s, batch, max(batch, max_waiting)
        self._on_written, self._on_error = on_written, on_error
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[Result] = []
        self._received = 0  # results put so far
        self._settled = 0  # ... of which committed or failed
        self._urgent = 0  # flushes waiting: write without waiting for the delay
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def put(self, result: Result) -> None:
        """Queue one result (written by this thread at once once the writer is closed)."""
        with self._cond:
            if not self._closing:
                while len(self._queue) >= self.max_waiting and not self._closing:
                    self._cond.wait()  # the store is behind: hold this fetch thread
                if not self._closing:
                    self._queue.append(result)
                    self._received += 1
                    # Wake the writer for the first result of a batch and for a full
                    # one only: every other put costs no thread switch.
                    if len(self._queue) in (1, self.batch):
                        self._cond.notify_all()
                    return
        self._write([result])

    def flush(self) -> None:
        """Return once every result put before this call was committed or failed."""
        with self._cond:
            target = self._received
            if self._settled >= target:
                return
            self._urgent += 1
            self._cond.notify_all()
            try:
                while self._settled < target:
                    self._cond.wait()
            finally:
                self._urgent -= 1

    def close(self) -> None:
        """Flush, stop the writer's thread; later results are written as they come."""
        self.flush()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    @property
    def waiting(self) -> int:
        """Results received and not yet committed (or failed)."""
        with self._cond:
            return self._received - self._settled

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._write(batch)
            finally:  # even if a callback failed: a flush must never wait forever
                with self._cond:
                    self._settled += len(batch)
                    self._cond.notify_all()  # flushes, and puts held by a full queue

    def _next_batch(self) -> list[Result] | None:
        """The next results to commit: after the delay, or at once when a batch is full
        or someone flushes; None once closed with nothing left."""
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            if len(self._queue) < self.batch and not (self._urgent or self._closing):
                self._cond.wait_for(
                    lambda: len(self._queue) >= self.batch or self._urgent or self._closing,
                    self.delay_s,
                )
            batch, self._queue = self._queue[:self.batch], self._queue[self.batch:]
            return batch

    def _write(self, batch: list[Result]) -> None:
        try:
            self.store.record_results(self.run_id, batch,
                                      store_token_ids=self.store_token_ids)
        except Exception as exc:
            self._on_error(batch, exc)  # its customers stay pending
        else:
            self._on_written(batch)

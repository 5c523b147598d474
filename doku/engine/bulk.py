"""Bulk audits: fetch many customers' tokens through one client, C at a time.

The C workers are coroutines on the client's event loop (`AsyncTokenClient`, the
default) or threads over any blocking `TokenClient` a caller passes as
`client_factory` (`doku.engine.fetch_loops`). Every customer ends in exactly one
terminal state: fetched (0 or more tokens) or failed (error kind, message,
attempts). The workers hand each result to the job's `ResultWriter`, which commits
what arrived in batches within about 50 ms (`doku.engine.result_writer`); the run is
settled only after everything received is committed. Customers still in flight (or
received but not yet committed when the process dies) when a run is cancelled or
aborted stay pending, so `resume` fetches exactly those. Progress counts what is
committed. Authentication rejected before any success stops the run at once instead
of failing every customer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from doku.client.aio import AsyncTokenClient
from doku.client.retry import RetryPolicy
from doku.client.tokens import TokenClient
from doku.engine.audit_model import (  # re-exported: callers import them from here
    AUTH_FAILURES_TO_ABORT,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_TIMEOUT_S,
    AuditOptions,
    Progress,
    _Counters,
)
from doku.engine.claims import CLAIM_LEASE_S
from doku.engine.fetch_loops import fetch_all
from doku.engine.heap import frozen_heap
from doku.engine.ratelimit import pacer_for
from doku.engine.result_writer import ResultWriter
from doku.engine.results import Fetched, Result
from doku.engine.sources import (
    ABORTED,
    CANCELLED,
    DETACHED,
    EXHAUSTED,
    ClaimedCustomers,
    CustomerSource,
    FixedCustomers,
)
from doku.engine.store import Store
from doku.errors import (
    ConfigurationError,
    DokuError,
    NoSuchRunError,
    RunBusyError,
)
from doku.settings import Settings

__all__ = [
    "AUTH_FAILURES_TO_ABORT", "MAX_ATTEMPTS", "MAX_CONCURRENCY", "MAX_TIMEOUT_S",
    "STOP_GRACE_S", "AuditOptions", "BulkJob", "Progress", "check_settings_match",
    "options_for", "start_resume", "start_retry_failed",
]
logger = logging.getLogger(__name__)
# How long `stop` waits for requests in flight (Ctrl+C must leave the CLI within 2 s on
# a loaded machine: settling the run and the interpreter's exit take the rest).
STOP_GRACE_S = 1.0
# Runs with a live BulkJob in this process (the store's claim covers other processes).
_active_lock = threading.Lock()
_active: set[int] = set()


class BulkJob:
    """Fetches `ids` of run `run_id` on a background thread; poll `snapshot()`."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        ids: Sequence[str],
        settings: Settings,
        options: AuditOptions,
        *,
        client_factory: Callable[..., TokenClient] | None = None,
        source: CustomerSource | None = None,
    ) -> None:
        if settings.base_url is None:
            # Refuse here rather than record a run that aborts on its first request.
            raise ConfigurationError(
                "the settings have no base URL; resolve them first "
                "(doku.engine.connection.resolve starts the embedded simulator)"
            )
        self.store = store
        self.run_id = run_id
        # The customers: `ids` of a run this process holds, or a shared source.
        self.source: CustomerSource = source or FixedCustomers(store, run_id, ids)
        self.settings = settings
        self.options = options
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        # DOKU_RATE_LIMIT set: the team's schedule in the store, on top of options.rps.
        self.pacer = pacer_for(store, settings, options.rps, self.cancel_event, self._abort)
        self._client_factory = client_factory or AsyncTokenClient
        self._c = _Counters()
        self._state = "running"
        self._error: str | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._detached = False
        self._settling = False
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._writer: ResultWriter | None = None
        self._succeeded = False  # any customer fetched (set before its result is stored)

    @classmethod
    def shared(cls, store: Store, run_id: int, settings: Settings, options: AuditOptions,
               *, kind: str, worker_id: str | None = None,
               lease_s: float = CLAIM_LEASE_S,
               client_factory: Callable[..., TokenClient] | None = None) -> BulkJob:
        """A fetcher joining a queued run beside any others (`doku.engine.claims`)."""
        source = ClaimedCustomers(store, run_id, kind=kind, concurrency=options.concurrency,
                                  worker_id=worker_id, lease_s=lease_s)
        return cls(store, run_id, (), settings, options, client_factory=client_factory,
                   source=source)

    # -- control --------------------------------------------------------------------
    def start(self) -> BulkJob:
        """Claim the run (RunBusyError when a live job, here or in another process,
        holds it; a shared run registers this fetcher instead) and start fetching in a
        background thread."""
        with _active_lock:
            if self.run_id in _active:
                raise RunBusyError(
                    f"run {self.run_id} is already being fetched in this process"
                )
            self.source.begin()
            _active.add(self.run_id)
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"audit-{self.run_id}",
                                        daemon=True)
        self._heartbeat = threading.Thread(target=self._beat, daemon=True,
                                           name=f"audit-{self.run_id}-lease")
        try:
            self._thread.start()
            self._heartbeat.start()
        except BaseException as exc:
            # Thread.start waits for the new thread to run: a Ctrl+C there must not
            # leave the run fetching with no caller holding its job. Stopped, kept.
            self.stop()
            exc.add_note(f"doku: run {self.run_id} cancelled while starting; "
                         "what was fetched is kept")
            raise
        return self

    def cancel(self) -> None:
        """Stop taking customers; requests in flight finish (see `stop` for a bound)."""
        self.cancel_event.set()
        self.source.wake()  # a fetcher waiting for others' customers stops waiting

    def stop(self, grace_s: float = STOP_GRACE_S) -> Progress:
        """Cancel and return within about `grace_s` (Ctrl+C in the CLI and the API).

        Requests still in flight after that are abandoned: their customers stay
        pending (a resume fetches them) and the run is stored as cancelled now. A
        result that still arrives is written as usual; it is a valid one."""
        self.cancel()
        snap = self.wait(grace_s)
        if not snap.finished:
            self._finish(CANCELLED, None)
            snap = self.snapshot()
        return snap

    def detach(self, grace_s: float = STOP_GRACE_S) -> Progress:
        """Leave a shared run to its other fetchers (a worker shutting down): stop like
        `stop`, give back the customers in hand, leave the run's status alone."""
        self._detached = True
        return self.stop(grace_s)

    def wait(self, timeout: float | None = None) -> Progress:
        self._finished.wait(timeout)
        return self.snapshot()

    def snapshot(self) -> Progress:
        with self._lock:
            c = self._c
            end = self._ended if self._ended is not None else time.monotonic()
            elapsed = max(0.0, end - self._started) if self._started else 0.0
            window = sum(n for t, n in c.recent if t >= end - 5.0)
            span = min(5.0, elapsed)
            rate = window / span if span > 0.2 else 0.0
            total = self.source.total
            done = c.done
            if self.source.shared and self._state == "running":
                # A shared run's progress is everyone's: the store's pending count.
                done = max(done, total - (self.source.pending() or 0))
            remaining = total - done
            eta = remaining / rate if rate > 0 and self._state == "running" else None
            return Progress(
                self.run_id, self._state, total, done, c.fetched, c.failed,
                c.tokens, elapsed, rate, eta, self._error, c.retries, self.pacer.pauses,
                c.duplicate_tokens,
            )

    # -- work -----------------------------------------------------------------------
    def _beat(self) -> None:
        """Renew the run's lease until the job finishes, so fetchers on other machines
        see it held (a timer beside the workers: no extra write per result)."""
        while not self._finished.wait(self.source.beat_every):
            try:
                self.source.beat()
            except DokuError as exc:  # the store is unreachable: the workers will say so
                logger.warning("run %s: lease not renewed: %s", self.run_id, exc)

    def _take(self) -> str | None:
        return self.source.take(self.cancel_event)

    def _abort(self, message: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = message
        self.cancel_event.set()
        self.source.wake()  # a fetcher waiting for others' customers stops waiting

    def _run(self) -> None:
        opts = self.options
        try:
            client = self._client_factory(
                self.settings,
                pool_size=opts.concurrency,
                connect_timeout_s=opts.connect_timeout_s,
                read_timeout_s=opts.read_timeout_s,
                retry=RetryPolicy(max_attempts=opts.max_attempts),
                pacer=self.pacer,
            )
        except (DokuError, ValueError) as exc:
            self._finish(ABORTED, str(exc))
            return
        writer = self._writer = ResultWriter(
            self.store, self.run_id, store_token_ids=opts.store_token_ids,
            on_written=self._written, on_error=self._not_written,
            name=f"audit-{self.run_id}-results")
        with frozen_heap():  # no full collection of the whole process mid-audit
            fetch_all(self, client, min(opts.concurrency, max(1, self.source.total)))
        writer.close()
        client.close()
        if self._error is not None:
            self._finish(ABORTED, self._error)
        elif self.cancel_event.is_set() and self._left() > 0:
            self._finish(CANCELLED, None)
        else:
            self._finish(EXHAUSTED, None)

    def _left(self) -> int:
        """Customers still without a result: the run's (shared; read now) or this
        job's."""
        if self.source.shared:
            run = self.store.get_run(self.run_id)
            return run.pending if run is not None else 0
        return self.source.total - self._c.done

    def _finish(self, outcome: str, error: str | None) -> None:
        """Let the source settle the run (`doku.engine.sources`), once."""
        with self._lock:
            if self._settling:
                return  # `stop` settled it already; a late thread changes nothing
            self._settling = True
        if outcome == CANCELLED and self._detached:
            outcome = DETACHED
        state = "aborted"
        try:
            if self._writer is not None:
                self._writer.flush()  # every result received is in the store first
                if self._error is not None and outcome in (EXHAUSTED, CANCELLED):
                    outcome, error = ABORTED, self._error  # a batch could not be written
            state = self.source.end(outcome, error)
        finally:
            with _active_lock:
                _active.discard(self.run_id)
            with self._lock:
                self._state, self._error = state, error
                self._ended = time.monotonic()
            self._finished.set()

    def _written(self, batch: Sequence[Result]) -> None:
        """The writer committed `batch`: count it (progress counts what is stored)."""
        fetched = tokens = retries = duplicates = 0
        for r in batch:
            retries += r.attempts - 1
            if isinstance(r, Fetched):
                fetched += 1
                tokens += len(r.tokens)
                duplicates += r.duplicates
        with self._lock:
            c = self._c
            c.done += len(batch)
            c.fetched += fetched
            c.failed += len(batch) - fetched
            c.tokens += tokens
            c.retries += retries
            c.duplicate_tokens += duplicates
            c.recent.append((time.monotonic(), len(batch)))
        self.source.wake()  # our own results may be the last ones others waited for

    def _not_written(self, batch: Sequence[Result], exc: Exception) -> None:
        """A batch failed (the store is unreachable, the disk full): its customers stay
        pending and the run stops; what was written so far is kept."""
        logger.warning("run %s: %d results not written: %s", self.run_id, len(batch), exc)
        self._abort(f"{type(exc).__name__}: {exc}")


def check_settings_match(store: Store, run_id: int, settings: Settings) -> None:
    """A run is resumed with the environment and client it was started with."""
    run = store.get_run(run_id)
    if run is None:
        raise NoSuchRunError(f"run {run_id} is not in {store.where}")
    if (run.env, run.client_id) != (settings.env, settings.client_id):
        raise ConfigurationError(
            f"run {run_id} was made on {run.env} as client {run.client_id!r}; "
            f"the current settings are {settings.env} as {settings.client_id!r}"
        )


def options_for(store: Store, run_id: int, **overrides: Any) -> AuditOptions:
    """The run's own options (type, stored IDs) with concurrency/rps overridable."""
    run = store.get_run(run_id)
    if run is None:
        raise NoSuchRunError(f"run {run_id} is not in {store.where}")
    saved = {k: v for k, v in run.options.items() if k in AuditOptions.__dataclass_fields__}
    saved.update({k: v for k, v in overrides.items() if v is not None})
    saved["token_type"] = run.token_type
    saved["store_token_ids"] = run.store_token_ids
    return AuditOptions(**saved)


def start_resume(store: Store, run_id: int, settings: Settings, *, fetcher: str = "api",
                 **overrides: Any) -> BulkJob:
    """Fetch only the customers of `run_id` without a terminal state. A queued run
    (`doku.engine.claims`) goes back to the queue and this process joins it as
    `fetcher` (the caller puts it on the workers' queue: `doku.engine.service`)."""
    check_settings_match(store, run_id, settings)
    opts = options_for(store, run_id, **overrides)
    if _is_queued(store, run_id):
        store.requeue_run(run_id, failed=False)
        return BulkJob.shared(store, run_id, settings, opts, kind=fetcher).start()
    return BulkJob(store, run_id, store.pending_ids(run_id), settings, opts).start()


def start_retry_failed(store: Store, run_id: int, settings: Settings, *,
                       fetcher: str = "api", **overrides: Any) -> BulkJob:
    """Refetch only the failed customers of `run_id` (their results are replaced; on a
    queued run they become pending again, for every fetcher)."""
    check_settings_match(store, run_id, settings)
    opts = options_for(store, run_id, **overrides)
    if _is_queued(store, run_id):
        store.requeue_run(run_id, failed=True)
        return BulkJob.shared(store, run_id, settings, opts, kind=fetcher).start()
    return BulkJob(store, run_id, store.failed_ids(run_id), settings, opts).start()


def _is_queued(store: Store, run_id: int) -> bool:
    run = store.get_run(run_id)
    return run is not None and run.queued_at is not None

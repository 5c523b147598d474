"""Bulk audits: fetch many customers' tokens through one client with a worker pool.

Every customer ends in exactly one terminal state, written to the store as it
arrives: fetched (0 or more tokens) or failed (error kind, message, attempts).
Customers still in flight when a run is cancelled or aborted stay pending, so
`resume` fetches exactly those. Authentication rejected before any success stops
the run at once instead of failing every customer.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from doku.client.retry import RetryPolicy
from doku.client.tokens import TokenClient
from doku.engine import lease
from doku.engine.ratelimit import pacer_for
from doku.engine.store import Store
from doku.errors import (
    AuthenticationError,
    CancelledError,
    ConfigurationError,
    DokuError,
    NoSuchRunError,
    RunBusyError,
)
from doku.models import TOKEN_TYPES
from doku.settings import Settings

logger = logging.getLogger(__name__)
# After this many authentication failures in a row (with no success in between)
# the credentials are wrong, not the customers.
AUTH_FAILURES_TO_ABORT = 3
MAX_CONCURRENCY = 256
MAX_ATTEMPTS = 20
MAX_TIMEOUT_S = 600.0
STOP_GRACE_S = 1.5  # how long `stop` waits for requests in flight
# Runs with a live BulkJob in this process (the store's claim covers other processes).
_active_lock = threading.Lock()
_active: set[int] = set()


@dataclass(frozen=True)
class AuditOptions:
    concurrency: int = 8
    rps: float | None = None
    token_type: str | None = None
    store_token_ids: bool = False
    max_attempts: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        """Every option is checked here, before a run is recorded: a bad value must
        never leave an aborted run behind (ValueError naming the option)."""
        problem = _option_problem(self)
        if problem is not None:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _option_problem(o: AuditOptions) -> str | None:
    if isinstance(o.concurrency, bool) or not 1 <= o.concurrency <= MAX_CONCURRENCY:
        return f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {o.concurrency}"
    if o.rps is not None and not (math.isfinite(o.rps) and o.rps > 0):
        return f"rps must be a positive number (or none for no limit), not {o.rps}"
    if o.token_type is not None and o.token_type not in TOKEN_TYPES:
        return f"token type must be one of {', '.join(TOKEN_TYPES)}, not {o.token_type!r}"
    if not 1 <= o.max_attempts <= MAX_ATTEMPTS:
        return f"max attempts must be between 1 and {MAX_ATTEMPTS}, not {o.max_attempts}"
    for name in ("connect_timeout_s", "read_timeout_s"):
        value = getattr(o, name)
        if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
            label = name.removesuffix("_s").replace("_", " ")
            return f"{label} must be between 0 and {MAX_TIMEOUT_S:g} seconds, not {value}"
    return None


@dataclass(frozen=True)
class Progress:
    run_id: int
    state: str  # running | done | cancelled | aborted
    total: int  # customers this job fetches
    done: int  # reached a terminal state in this job
    fetched: int
    failed: int
    tokens: int
    elapsed_s: float
    rate: float  # customers/second over the last few seconds
    eta_s: float | None
    error: str | None = None
    retries: int = 0
    rate_limited_pauses: int = 0
    # Tokens DOKU listed twice in one answer (kept once; counted here, not stored).
    duplicate_tokens: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def finished(self) -> bool:
        return self.state != "running"


@dataclass
class _Counters:
    done: int = 0
    fetched: int = 0
    failed: int = 0
    tokens: int = 0
    retries: int = 0
    duplicate_tokens: int = 0
    auth_streak: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=4096))


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
    ) -> None:
        if settings.base_url is None:
            # Refuse here rather than record a run that aborts on its first request.
            raise ConfigurationError(
                "the settings have no base URL; resolve them first "
                "(doku.engine.connection.resolve starts the embedded simulator)"
            )
        self.store = store
        self.run_id = run_id
        self.ids = list(ids)
        self.settings = settings
        self.options = options
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        # DOKU_RATE_LIMIT set: the team's schedule in the store, on top of options.rps.
        self.pacer = pacer_for(store, settings, options.rps, self.cancel_event, self._abort)
        self._client_factory = client_factory or TokenClient
        self._c = _Counters()
        self._state = "running"
        self._error: str | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._next = 0
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- control --------------------------------------------------------------------
    def start(self) -> BulkJob:
        """Claim the run (RunBusyError when a live job, here or in another process,
        holds it) and start fetching in a background thread."""
        with _active_lock:
            if self.run_id in _active:
                raise RunBusyError(
                    f"run {self.run_id} is already being fetched in this process"
                )
            self.store.claim_run(self.run_id)
            _active.add(self.run_id)
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"audit-{self.run_id}",
                                        daemon=True)
        self._heartbeat = threading.Thread(target=self._beat, daemon=True,
                                           name=f"audit-{self.run_id}-lease")
        self._thread.start()
        self._heartbeat.start()
        return self

    def cancel(self) -> None:
        """Stop taking customers; requests in flight finish (see `stop` for a bound)."""
        self.cancel_event.set()

    def stop(self, grace_s: float = STOP_GRACE_S) -> Progress:
        """Cancel and return within about `grace_s` (Ctrl+C in the CLI and the API).

        Requests still in flight after that are abandoned: their customers stay
        pending (a resume fetches them) and the run is stored as cancelled now. A
        result that still arrives is written as usual; it is a valid one."""
        self.cancel()
        snap = self.wait(grace_s)
        if not snap.finished:
            self._finish("cancelled", None)
            snap = self.snapshot()
        return snap

    def wait(self, timeout: float | None = None) -> Progress:
        self._finished.wait(timeout)
        return self.snapshot()

    def snapshot(self) -> Progress:
        with self._lock:
            c = self._c
            end = self._ended if self._ended is not None else time.monotonic()
            elapsed = max(0.0, end - self._started) if self._started else 0.0
            window = [t for t in c.recent if t >= end - 5.0]
            span = min(5.0, elapsed)
            rate = len(window) / span if span > 0.2 else 0.0
            remaining = len(self.ids) - c.done
            eta = remaining / rate if rate > 0 and self._state == "running" else None
            return Progress(
                self.run_id, self._state, len(self.ids), c.done, c.fetched, c.failed,
                c.tokens, elapsed, rate, eta, self._error, c.retries, self.pacer.pauses,
                c.duplicate_tokens,
            )

    # -- work -----------------------------------------------------------------------
    def _beat(self) -> None:
        """Renew the run's lease until the job finishes, so fetchers on other machines
        see it held (a timer beside the workers: no extra write per result)."""
        while not self._finished.wait(lease.HEARTBEAT_S):
            try:
                self.store.heartbeat(self.run_id)
            except DokuError as exc:  # the store is unreachable: the workers will say so
                logger.warning("run %s: lease not renewed: %s", self.run_id, exc)

    def _take(self) -> str | None:
        with self._lock:
            if self._next >= len(self.ids) or self.cancel_event.is_set():
                return None
            cid = self.ids[self._next]
            self._next += 1
            return cid

    def _abort(self, message: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = message
        self.cancel_event.set()

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
            self._finish("aborted", str(exc))
            return
        workers = [
            threading.Thread(target=self._worker, args=(client,), daemon=True,
                             name=f"audit-{self.run_id}-w{i}")
            for i in range(min(opts.concurrency, max(1, len(self.ids))))
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        client.close()
        if self._error is not None:
            self._finish("aborted", self._error)
        elif self.cancel_event.is_set() and self._c.done < len(self.ids):
            self._finish("cancelled", None)
        elif self.store.pending_ids(self.run_id):
            self._finish("cancelled", None)  # an earlier part of the run never finished
        else:
            self._finish("done", None)

    def _finish(self, state: str, error: str | None) -> None:
        try:
            self.store.set_status(self.run_id, state, error)
        finally:
            with _active_lock:
                _active.discard(self.run_id)
            with self._lock:
                self._state, self._error = state, error
                self._ended = time.monotonic()
            self._finished.set()

    def _worker(self, client: TokenClient) -> None:
        try:
            self._work(client)
        except Exception as exc:
            # The customer in hand stays pending; everything written so far is kept.
            self._abort(f"{type(exc).__name__}: {exc}")

    def _work(self, client: TokenClient) -> None:
        while (cid := self._take()) is not None:
            try:
                result = client.get_tokens(cid, self.options.token_type)
            except CancelledError:
                return  # stays pending: a resume fetches it
            except AuthenticationError as exc:
                with self._lock:
                    self._c.auth_streak += 1
                    first = self._c.fetched == 0
                    streak = self._c.auth_streak
                if first or streak >= AUTH_FAILURES_TO_ABORT:
                    self._abort(f"{exc} - check DOKU_CLIENT_ID / DOKU_SECRET_KEY; "
                                "the run stopped and can be resumed")
                    return  # this customer stays pending
                self._record_failure(cid, exc)
            except DokuError as exc:
                self._record_failure(cid, exc)
            except Exception as exc:
                self._abort(f"unexpected {type(exc).__name__}: {exc}")
                return
            else:
                self.store.record_fetched(
                    self.run_id, cid, result.tokens, attempts=result.attempts,
                    request_id=result.request_id, latency_ms=result.latency_ms,
                    store_token_ids=self.options.store_token_ids,
                )
                with self._lock:
                    c = self._c
                    c.done += 1
                    c.fetched += 1
                    c.tokens += len(result.tokens)
                    c.retries += result.attempts - 1
                    c.duplicate_tokens += result.duplicates
                    c.auth_streak = 0
                    c.recent.append(time.monotonic())

    def _record_failure(self, cid: str, exc: DokuError) -> None:
        self.store.record_failed(
            self.run_id, cid, error_code=exc.code, error_message=exc.message,
            attempts=exc.attempts, http_status=exc.status, request_id=exc.request_id,
        )
        with self._lock:
            c = self._c
            c.done += 1
            c.failed += 1
            c.retries += exc.attempts - 1
            c.recent.append(time.monotonic())


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


def start_resume(store: Store, run_id: int, settings: Settings, **overrides: Any) -> BulkJob:
    """Fetch only the customers of `run_id` without a terminal state."""
    check_settings_match(store, run_id, settings)
    opts = options_for(store, run_id, **overrides)
    return BulkJob(store, run_id, store.pending_ids(run_id), settings, opts).start()


def start_retry_failed(store: Store, run_id: int, settings: Settings,
                       **overrides: Any) -> BulkJob:
    """Refetch only the failed customers of `run_id` (their results are replaced)."""
    check_settings_match(store, run_id, settings)
    opts = options_for(store, run_id, **overrides)
    return BulkJob(store, run_id, store.failed_ids(run_id), settings, opts).start()

"""One rate limit for the whole team: DOKU_RATE_LIMIT requests/second per DOKU client
ID, shared through the store by every process that audits with that client ID.

`TeamPacer` is a `doku.client.pacing.Pacer` (what `TokenClient` calls before every
attempt and after a 429). Before each attempt it first honours this run's own pacing
(`--rps` and this process's pauses, a `SharedPacer`), then takes the team's next send
slot from the store (`doku.engine.slots`: one round trip) and waits until it. So with
both limits set the stricter wins, and the team's slot is the last wait before the
request goes out. A 429 pauses this process at once and records the pause in the
store, where every other process's next slot honours it.

A slot given before another process recorded a 429 is checked again shortly before it
falls due when the wait is long (`RECHECK_S`): a request is then re-queued behind the
pause. A wait shorter than that is not re-read (one round trip per request), so at
most about R x RECHECK_S requests of the team, plus those already in flight, still go
out after a 429 elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from doku.client.pacing import Monotonic, SharedPacer, Waiter
from doku.client.tokens import DEFAULT_MAX_RETRY_AFTER_S
from doku.engine.slots import Clock, Slot, StoreSendSlots
from doku.errors import CancelledError, StoreError
from doku.settings import Settings

# Waits at least this long are re-checked against the team's pause before sending ...
RECHECK_S = 0.25
# ... this long before the slot, so the re-check's round trip delays nothing.
RECHECK_LEAD_S = 0.0625
# A 429 pauses the team for its Retry-After, capped as TokenClient caps it.
MAX_TEAM_PAUSE_S = DEFAULT_MAX_RETRY_AFTER_S
T = TypeVar("T")
ErrorSink = Callable[[str], None]  # takes one line saying why the team's limit failed


class TeamPacer:
    """Pacing through the store's schedule for `client_id` at `rate_limit` requests/s.

    `local` paces this run alone (its `--rps`, pauses, cancellation). `store_clock`
    replaces the store's clock and `clock`/`wait` the local monotonic clock and wait,
    so tests can drive a fake timeline. A store failure raises StoreError; with
    `on_store_error` the message goes there instead (a BulkJob aborts the run) and the
    request is cancelled, so its customer stays pending for a resume."""

    def __init__(
        self,
        store: StoreSendSlots,
        client_id: str,
        rate_limit: float,
        local: SharedPacer,
        *,
        store_clock: Clock | None = None,
        clock: Monotonic = time.monotonic,
        wait: Waiter | None = None,
        on_store_error: ErrorSink | None = None,
    ) -> None:
        if not rate_limit > 0:
            raise ValueError("rate_limit must be positive")
        self.store = store
        self.client_id = client_id
        self.rate_limit = rate_limit
        self.interval = 1.0 / rate_limit
        self.local = local
        self.cancel = local.cancel
        self._store_clock = store_clock
        self._clock = clock
        self._wait = wait or self.cancel.wait
        self._on_store_error = on_store_error
        self._lock = threading.Lock()
        self._paused_until = 0.0  # this process's own pause, on `clock`
        self.slots = 0  # team slots this pacer took (requeued ones included)

    @property
    def pauses(self) -> int:
        """429 pauses this run started (as `SharedPacer.pauses`)."""
        return self.local.pauses

    def acquire(self) -> None:
        """Block until this worker may send: this run's pacing, then the team's slot."""
        self.local.acquire()
        while True:
            self._wait_until(self._own_pause_end())
            slot = self._take()
            due = self._clock() + slot.wait_s
            if slot.wait_s >= RECHECK_S:
                self._wait_until(due - RECHECK_LEAD_S)
                pause = self._guard(lambda: self.store.sending_pause(
                    self.client_id, self._store_clock))
                if pause.until > slot.at:  # a 429 elsewhere since: queue behind it
                    continue
            self._wait_until(due)
            if self._clock() >= self._own_pause_end():
                return
            # A 429 here while we waited: queue again once this process's pause ends.

    def pause(self, seconds: float) -> None:
        """After a 429: this process stops at once; the team from its next slot on."""
        self.local.pause(seconds)
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        team_s = min(seconds, MAX_TEAM_PAUSE_S)
        self._guard(lambda: self.store.pause_sending(self.client_id, team_s,
                                                     self._store_clock))

    def sleep(self, seconds: float) -> None:
        """Backoff wait of this worker alone; cancellation cuts it short."""
        self.local.sleep(seconds)

    # -- inner workings ------------------------------------------------------------------
    def _own_pause_end(self) -> float:
        with self._lock:
            return self._paused_until

    def _take(self) -> Slot:
        slot = self._guard(lambda: self.store.take_send_slot(
            self.client_id, self.interval, self._store_clock))
        with self._lock:
            self.slots += 1
        return slot

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except StoreError as exc:
            if self._on_store_error is None:
                raise
            self._on_store_error(f"the team's rate limit (DOKU_RATE_LIMIT): {exc.message}")
            raise CancelledError("the team's rate limit is unavailable") from None

    def _wait_until(self, deadline: float) -> None:
        while True:
            if self.cancel.is_set():
                raise CancelledError("run cancelled")
            left = deadline - self._clock()
            if left <= 0:
                return
            self._wait(left)


def pacer_for(
    store: StoreSendSlots,
    settings: Settings,
    rps: float | None,
    cancel: threading.Event,
    on_store_error: ErrorSink | None = None,
) -> SharedPacer | TeamPacer:
    """A bulk run's pacer: the team's (DOKU_RATE_LIMIT set) on top of the run's own
    `rps`, or the run's own alone (today's behaviour when the setting is unset)."""
    local = SharedPacer(rps, cancel)
    if settings.rate_limit is None:
        return local
    return TeamPacer(store, settings.client_id, settings.rate_limit, local,
                     on_store_error=on_store_error)

"""Shared pacing for a pool of workers: a global requests/second limit, a pause every
worker honours after a 429, and cancellation that interrupts any wait at once.

`Pacer` is what `TokenClient` needs; `SharedPacer` is the implementation. Its clock and
its wait are injectable so that tests can drive it on a fake timeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from doku.errors import CancelledError

Monotonic = Callable[[], float]
# Blocks for at most `seconds`; returns True when woken early because of cancellation.
Waiter = Callable[[float], bool]


class Pacer(Protocol):
    """Shared pacing across workers: the bulk fetcher's rate limit and 429 pauses."""

    def acquire(self) -> None: ...  # before every attempt; may raise CancelledError

    def pause(self, seconds: float) -> None: ...  # a 429 asks everyone to wait

    def sleep(self, seconds: float) -> None: ...  # backoff wait; may raise CancelledError


class SharedPacer:
    def __init__(
        self,
        rps: float | None = None,
        cancel: threading.Event | None = None,
        *,
        clock: Monotonic = time.monotonic,
        wait: Waiter | None = None,
    ) -> None:
        if rps is not None and rps <= 0:
            raise ValueError("rps must be positive")
        self.interval = 1.0 / rps if rps else 0.0
        self.cancel = cancel or threading.Event()
        self._clock = clock
        self._wait = wait or self.cancel.wait  # Event.wait returns at once on cancel
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._pause_until = 0.0
        self.pauses = 0

    def _wait_until(self, deadline: float) -> None:
        while True:
            if self.cancel.is_set():
                raise CancelledError("run cancelled")
            left = deadline - self._clock()
            if left <= 0:
                return
            self._wait(left)

    def ready(self) -> bool:
        """True when `acquire` would return at once (no rate, no pause, no cancel): an
        event loop calls it inline then, and hands it to a thread otherwise."""
        return (not self.interval and not self.cancel.is_set()
                and self._clock() >= self._pause_until)

    def acquire(self) -> None:
        """Block until this worker may send its next request."""
        if not self.interval:  # no rate: only a cancel or a pause can hold it back
            if self.cancel.is_set():
                raise CancelledError("run cancelled")
            if self._clock() >= self._pause_until:  # one float read: no lock (a bulk
                return  # audit's every request; at 256 threads the lock was contended)
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot, self._pause_until)
            if self.interval:
                self._next_slot = slot + self.interval
        self._wait_until(slot)
        while True:  # a pause that began while we waited applies to us too
            with self._lock:
                until = self._pause_until
            if self._clock() >= until:
                return
            self._wait_until(until)

    def pause(self, seconds: float) -> None:
        """After a 429: nobody sends until the server's Retry-After has passed."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._pause_until:
                self._pause_until = until
                self.pauses += 1
            self._next_slot = max(self._next_slot, self._pause_until)

    def sleep(self, seconds: float) -> None:
        """Backoff wait of this worker alone; cancellation cuts it short."""
        self._wait_until(self._clock() + seconds)

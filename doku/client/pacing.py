"""Shared pacing for a pool of workers: a global requests/second limit, a pause every
worker honours after a 429, and cancellation that interrupts any wait at once."""

from __future__ import annotations

import threading
import time

from doku.errors import CancelledError


class SharedPacer:
    def __init__(self, rps: float | None = None, cancel: threading.Event | None = None) -> None:
        if rps is not None and rps <= 0:
            raise ValueError("rps must be positive")
        self.interval = 1.0 / rps if rps else 0.0
        self.cancel = cancel or threading.Event()
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._pause_until = 0.0
        self.pauses = 0

    def _wait_until(self, deadline: float) -> None:
        while True:
            if self.cancel.is_set():
                raise CancelledError("run cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.cancel.wait(min(left, 0.2))

    def acquire(self) -> None:
        """Block until this worker may send its next request."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot, self._pause_until)
            if self.interval:
                self._next_slot = slot + self.interval
        self._wait_until(slot)
        while True:  # a pause that began while we waited applies to us too
            with self._lock:
                until = self._pause_until
            if time.monotonic() >= until:
                return
            self._wait_until(until)

    def pause(self, seconds: float) -> None:
        """After a 429: nobody sends until the server's Retry-After has passed."""
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._pause_until:
                self._pause_until = until
                self.pauses += 1
            self._next_slot = max(self._next_slot, self._pause_until)

    def sleep(self, seconds: float) -> None:
        self._wait_until(time.monotonic() + seconds)

"""Wait for a condition with a deadline, never for a fixed time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, what: str = "condition") -> None:
    """Return as soon as `condition()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: wait() is an interruptible short back-off
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(min(0.05, left))


def join_audit_threads(run_id: int, timeout: float = 10) -> None:
    """Wait for the fetch thread of run `run_id`'s jobs in this process to end (an
    abandoned job's thread outlives its `stop`); fail the test if one does not."""
    for thread in threading.enumerate():
        if thread.name == f"audit-{run_id}":
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"

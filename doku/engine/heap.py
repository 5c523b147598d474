"""The process's objects set aside from garbage collection while bulk jobs fetch.

Why: a bulk job keeps each result alive until the writer stores it, so at thousands
of answers a second tens of thousands of objects a second reach the collector's
oldest generation, and a full collection then runs every audit or so. Such a
collection walks every object the process has (the dashboard's, pandas', the
store's) and took 45-60 ms here: every answer on the event loop waits meanwhile,
which cost L = 50 ms, C = 256 up to a fifth of its rate. `gc.freeze()` moves the
objects that exist when a job starts out of the collector's way (a move, not a
copy: it costs no time or memory), so a collection during the job only walks what
the job made. Measured with bench/bench_bulk.py's L = 50 ms, C = 256 point after the
C = 16 and 64 ones, 8 audits each: sustained .957-.976 of C/L frozen, .786-.967 not.

Only the first of the jobs running at a time freezes: objects that were already
cyclic garbage then wait until the last of those jobs ends, and `gc.unfreeze()`
hands them back to the collector. A worker whose jobs overlap without end thus
keeps one freeze's worth, never one per job. A host that froze its heap itself
before the first job (a pre-forking server) keeps its freeze: nothing is unfrozen.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_unfreeze_at_end = False


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Hold the freeze for one job's fetching (nested and concurrent holders share
    the first one's)."""
    global _holders, _unfreeze_at_end
    with _lock:
        if _holders == 0:
            _unfreeze_at_end = gc.get_freeze_count() == 0
            gc.freeze()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _unfreeze_at_end:
                gc.unfreeze()

"""The in-process schedule clock: the dashboard's stand-in for a worker's periodic tick.

On the embedded SQLite default there is no `doku worker`; the dashboard server keeps
saved audits' schedules firing with one background thread that calls
`doku.engine.firing.fire_due` every `TICK_S` and launches what fired in its own
process (`doku.engine.service.launch_run`). On PostgreSQL it ticks too, beside the
workers: a slot is claimed atomically, so however many clocks see it, it fires once.
While the dashboard is not running nothing fires; `doku schedule fire` from a system
cron covers that (README).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from doku.access import Actor
from doku.engine.firing import fire_due
from doku.engine.service import launch_run
from doku.engine.store import Store
from doku.errors import DokuError
from doku.settings import Settings

logger = logging.getLogger(__name__)

TICK_S = 30.0
CLOCK_ACTOR = Actor("schedule clock", "dashboard")  # who fired a schedule, in the trail
Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ScheduleTicker:
    """Fires due schedules of `store` every `interval_s` on a daemon thread."""

    def __init__(self, store: Store, settings: Settings, *, interval_s: float = TICK_S,
                 now: Now = _utc_now) -> None:
        self.store, self.settings = store, settings
        self.interval_s = interval_s
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[int] = []  # every run it fired, in order

    def tick(self) -> list[int]:
        """Fire what is due now; the runs are launched in this process (or queued)."""
        try:
            fired = fire_due(self.store, self.settings, now=self._now(), launch=_launch,
                             actor=CLOCK_ACTOR)
        except DokuError as exc:  # the store is unreachable: try again next tick
            logger.warning("schedules not checked: %s", exc)
            return []
        self.fired.extend(fired)
        return fired

    def start(self) -> ScheduleTicker:
        self._thread = threading.Thread(target=self._loop, name="doku-schedules",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval_s)


def _launch(store: Store, run_id: int, settings: Settings) -> object:
    return launch_run(store, run_id, settings, fetcher="dashboard")

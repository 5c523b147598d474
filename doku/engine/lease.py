"""Who holds a running run: the lease that keeps two fetchers off one run.

A fetcher records its process id, its machine (`owner_host`) and, every
`HEARTBEAT_S` while it works, the time (`heartbeat_at`). On the fetcher's own machine
a run is held while that process is alive; from another machine (several app
instances or workers on one PostgreSQL store) it is held while its heartbeat is newer
than `LEASE_SECONDS`. A run nobody holds can be claimed, or marked interrupted.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from doku.engine.local import process_alive

LEASE_SECONDS = 60
HEARTBEAT_S = 10.0  # how often a running BulkJob renews its lease


def this_host() -> str:
    """This machine's name, as leases record it."""
    return socket.gethostname()


def heartbeat_fresh(heartbeat_at: str | None, now: datetime | None = None) -> bool:
    """Whether an ISO-8601 UTC heartbeat is newer than LEASE_SECONDS (an unreadable or
    missing one is stale)."""
    if not heartbeat_at:
        return False
    try:
        beat = datetime.fromisoformat(heartbeat_at)
    except ValueError:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return now - beat < timedelta(seconds=LEASE_SECONDS)


@dataclass(frozen=True)
class Lease:
    """A running run's owner as stored (any part may be missing: older stores
    recorded only the pid, always on this machine)."""

    run_id: int
    pid: int | None
    host: str | None
    heartbeat_at: str | None
    queued: bool = False  # fetched by the queue's fetchers: held while any of them beats

    @property
    def local(self) -> bool:
        return self.host is None or self.host == this_host()

    def held_elsewhere(self, now: datetime | None = None) -> bool:
        """Whether another live fetcher holds the run: another live process here, or a
        fetcher on another machine whose heartbeat is fresh. This process is never
        "elsewhere" (its own job registry knows what it runs). A queued run is held
        while its fetchers' heartbeat (`doku.engine.claims`) is fresh, wherever they are."""
        if self.queued:
            return heartbeat_fresh(self.heartbeat_at, now)
        if self.local:
            return self.pid is not None and self.pid != os.getpid() and process_alive(self.pid)
        return heartbeat_fresh(self.heartbeat_at, now)

    def holder(self) -> str:
        """Who holds it, for messages: `process 123` (on this machine) or
        `process 123 on host-b`."""
        if self.queued:
            return "the queue's workers"
        who = f"process {self.pid}"
        return who if self.local else f"{who} on {self.host}"

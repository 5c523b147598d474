"""The team's request schedule in the store: one `rate_limits` row per DOKU client ID.

Every request of every process that shares the store takes the next send slot with
one statement, its own short transaction:

    next_at = max(next_at, now, paused_until) + 1/R   -- returning the slot it was

On PostgreSQL that is an upsert whose DO UPDATE holds the row lock, and `now` is the
server's `clock_timestamp()` read after the lock is granted, so processes on machines
whose clocks disagree share one timeline and one slot is never given twice. On
SQLite the write lock (BEGIN IMMEDIATE) serialises takers and `now` is this
machine's clock (`time.time()`), read under that lock: a SQLite store is one file on
one machine, so every process taking slots reads the same clock.

A 429 seen by any process sets `paused_until` (never moving it earlier), and the
next slot of every process is then at or after it. Callers wait `slot - now`, a
difference on the store's own clock, so no two machines' clocks are ever compared.
If the clock steps back by more than `CLOCK_STEP_S` (NTP, a restored VM), the
schedule restarts from now instead of making everyone wait out the step.

PostgreSQL: the slot statements run on a connection of their own in autocommit
(one round trip each, no pool checkout or ping in between), shared by the process's
threads behind a lock: they would queue on the row lock anyway.

Mixed into `doku.engine.store.Store`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from doku.engine.access import StoreAccess
from doku.engine.database import POSTGRESQL, Location, store_error

# A clock further back than this from the last slot taken has stepped: start afresh.
CLOCK_STEP_S = 1.0
_PG_NOW = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
_PG_GIVEN_NOW = "CAST(:now AS DOUBLE PRECISION)"


@dataclass(frozen=True)
class Slot:
    """A send slot, on the store's clock (seconds since the epoch)."""

    at: float  # when the request may be sent
    now: float  # the store's clock when the slot was given
    paused_until: float  # the team's pause after a 429 (0: none yet)

    @property
    def wait_s(self) -> float:
        """How long the taker waits from when it got the slot."""
        return max(0.0, self.at - self.now)


@dataclass(frozen=True)
class Pause:
    """The team's pause after a 429, on the store's clock."""

    until: float  # 0.0: there has been none
    now: float


def _take_sql(greatest: str, now: str) -> str:
    stepped = f"{now} < rate_limits.updated_at - {CLOCK_STEP_S}"
    return f"""
        INSERT INTO rate_limits (client_id, next_at, paused_until, updated_at)
        VALUES (:client_id, {now} + :interval, 0, {now})
        ON CONFLICT (client_id) DO UPDATE SET
          next_at = CASE WHEN {stepped} THEN {now}
                    ELSE {greatest}(rate_limits.next_at, {now}, rate_limits.paused_until)
                    END + :interval,
          paused_until = CASE WHEN {stepped} THEN 0 ELSE rate_limits.paused_until END,
          updated_at = {now}
        RETURNING next_at - :interval, updated_at, paused_until"""


def _pause_sql(greatest: str, now: str) -> str:
    return f"""
        INSERT INTO rate_limits (client_id, next_at, paused_until, updated_at)
        VALUES (:client_id, {now}, {now} + :seconds, {now})
        ON CONFLICT (client_id) DO UPDATE SET
          paused_until = {greatest}(rate_limits.paused_until, {now} + :seconds)
        RETURNING paused_until, {now}"""


def _read_sql(now: str) -> str:
    return ("SELECT COALESCE((SELECT paused_until FROM rate_limits"
            f" WHERE client_id = :client_id), 0), {now}")


@dataclass(frozen=True)
class _Statements:
    take: TextClause
    pause: TextClause
    read: TextClause


def _statements(greatest: str, now: str) -> _Statements:
    return _Statements(text(_take_sql(greatest, now)), text(_pause_sql(greatest, now)),
                       text(_read_sql(now)))


# PostgreSQL with its own clock, PostgreSQL with a given one (tests), SQLite (always
# given: this machine's clock, read under the write lock).
_PG_SERVER_CLOCK = _statements("GREATEST", _PG_NOW)
_PG_GIVEN_CLOCK = _statements("GREATEST", _PG_GIVEN_NOW)
_SQLITE = _statements("MAX", ":now")

Clock = Callable[[], float]  # seconds since the epoch


class StoreSendSlots(StoreAccess):
    def _open(self, location: Location) -> None:
        self._slot_lock = threading.Lock()
        self._slot_conn: Connection | None = None
        super()._open(location)

    def take_send_slot(self, client_id: str, interval_s: float,
                       clock: Clock | None = None) -> Slot:
        """The next send slot of `client_id`, `interval_s` (1/R) after the previous one
        at the earliest, and never before the team's pause ends. `clock`: the store's
        clock unless given (tests drive a fake timeline with it)."""
        params = {"client_id": client_id, "interval": float(interval_s)}
        at, now, paused_until = self._slot_statement("take", params, clock, write=True)
        return Slot(at, now, paused_until)

    def pause_sending(self, client_id: str, seconds: float,
                      clock: Clock | None = None) -> Pause:
        """After a 429: no slot of `client_id` before now + `seconds` (an existing
        longer pause is kept)."""
        params = {"client_id": client_id, "seconds": max(0.0, float(seconds))}
        until, now = self._slot_statement("pause", params, clock, write=True)
        return Pause(until, now)

    def sending_pause(self, client_id: str, clock: Clock | None = None) -> Pause:
        """The team's current pause for `client_id` (until 0.0 when there is none)."""
        until, now = self._slot_statement("read", {"client_id": client_id}, clock,
                                          write=False)
        return Pause(until, now)

    # -- plumbing ------------------------------------------------------------------------
    def _slot_statement(self, name: str, params: Mapping[str, Any], clock: Clock | None,
                        *, write: bool) -> tuple[float, ...]:
        """The one row statement `name` returns, as floats."""
        if self.backend == POSTGRESQL:
            statements = _PG_SERVER_CLOCK if clock is None else _PG_GIVEN_CLOCK
            with self._slot_connection() as conn:
                values = dict(params) if clock is None else {**params, "now": clock()}
                row = conn.execute(getattr(statements, name), values).one()
        else:
            run = self._write if write else self._read
            with run() as conn:
                # Read under the write lock: slots are handed out in clock order.
                values = {**params, "now": clock() if clock is not None else time.time()}
                row = conn.execute(getattr(_SQLITE, name), values).one()
        return tuple(float(value) for value in row)

    @contextmanager
    def _slot_connection(self) -> Iterator[Connection]:
        """PostgreSQL: this store's slot connection (autocommit), opened on first use
        and again after a failure."""
        with self._slot_lock:
            try:
                if self._slot_conn is None:
                    self._slot_conn = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT")
                yield self._slot_conn
            except self._errors as exc:
                self._drop_slot_connection()
                raise store_error(exc, self.location) from None

    def _drop_slot_connection(self) -> None:
        conn, self._slot_conn = self._slot_conn, None
        if conn is not None:
            try:
                conn.invalidate()  # broken or not, never back into the pool
                conn.close()
            except self._errors:
                pass

    def close(self) -> None:
        with self._slot_lock:
            self._drop_slot_connection()
        super().close()

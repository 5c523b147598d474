"""Queued runs shared by workers: customers claimed in small batches, under a lease.

A run the queue fetches (`runs.queued_at` set) has no single owner. Each fetcher - a
`doku worker`, or a dashboard or CLI process joining the run - registers in `workers`
and claims a batch of pending customers at a time:

    claimed_by = <worker>, claim_until = now + lease      -- one statement, atomic

(PostgreSQL: `FOR UPDATE SKIP LOCKED`, so claimers never wait on each other; SQLite:
under the write lock, BEGIN IMMEDIATE). A customer is claimable while it is pending
and unclaimed or its claim has run out, so two live fetchers never hold one customer,
and the customers of a fetcher that died (kill -9, a lost machine) come back once
its lease runs out: the other fetchers finish the run. A live fetcher renews its
claims (and its `workers` row) every `lease / 3`. Recording a result clears the claim
(`doku.engine.results`).

Times are the store's clock in epoch seconds: PostgreSQL's `clock_timestamp()`, or on
SQLite (one file, one machine) this machine's `time.time()`.

Mixed into `doku.engine.store.Store`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from doku.engine.database import POSTGRESQL
from doku.engine.lease import this_host
from doku.engine.schema import utc_iso
from doku.engine.slots import StoreSendSlots
from doku.errors import StoreError

CLAIM_BATCH = 16  # customers a fetcher claims at a time, at least (sources: 2 x threads)
CLAIM_LEASE_S = 30.0  # a claim's life without renewal; renewed every lease / 3
# Statuses a fetcher may take customers from (interrupted: every fetcher was gone).
CLAIMABLE_RUN_STATES = ("queued", "running", "interrupted")
WORKER_KINDS = ("worker", "dashboard", "cli", "api")

Clock = Callable[[], float]

_PG_NOW = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"

_CLAIM_PG = text(f"""
    WITH picked AS (
      SELECT seq FROM customers
      WHERE run_id = :run AND status IS NULL
        AND (claim_until IS NULL OR claim_until < {_PG_NOW})
      ORDER BY seq LIMIT :n FOR UPDATE SKIP LOCKED)
    UPDATE customers c SET claimed_by = :worker, claim_until = {_PG_NOW} + :lease
    FROM picked WHERE c.run_id = :run AND c.seq = picked.seq
    RETURNING c.seq, c.customer_id""")
_CLAIM_SQLITE = text("""
    UPDATE customers SET claimed_by = :worker, claim_until = :now + :lease
    WHERE run_id = :run AND seq IN (
      SELECT seq FROM customers
      WHERE run_id = :run AND status IS NULL
        AND (claim_until IS NULL OR claim_until < :now)
      ORDER BY seq LIMIT :n)
    RETURNING seq, customer_id""")
_RUN_STATUS = text("SELECT status FROM runs WHERE id = :run")
_RUN_TAKEN = text("""
    UPDATE runs SET status = 'running', started_at = COALESCE(started_at, :iso),
      heartbeat_at = :iso, finished_at = NULL, error = NULL
    WHERE id = :run AND status IN ('queued', 'interrupted', 'running')""")
_PENDING = text("SELECT COUNT(*) FROM customers WHERE run_id = :run AND status IS NULL")
_FINISH = text("""
    UPDATE runs SET status = 'done', finished_at = :iso
    WHERE id = :run AND status = 'running' AND NOT EXISTS (
      SELECT 1 FROM customers WHERE run_id = :run AND status IS NULL)""")
# fetched_at moves to now: a reader following the run (doku.engine.live_columns) reads
# again what changed since a time, and these customers changed.
_FAILED_AGAIN = text("""
    UPDATE customers SET status = NULL, claimed_by = NULL, claim_until = NULL,
        fetched_at = :iso
    WHERE run_id = :run AND status = 'failed'""")
_REQUEUE = text("""
    UPDATE runs SET status = 'queued', finished_at = NULL, error = NULL
    WHERE id = :run AND status <> 'running'""")
_RELEASE = text("""
    UPDATE customers SET claimed_by = NULL, claim_until = NULL
    WHERE claimed_by = :worker AND status IS NULL""")
HEARTBEAT_ATTEMPTS = 4
_RENEW_CLAIMS = text("""
    UPDATE customers SET claim_until = {now} + :lease
    WHERE claimed_by = :worker AND status IS NULL""")
_RENEW_WORKER = text("""
    UPDATE workers SET heartbeat_at = {now}, run_id = :run WHERE id = :worker""")
_RENEW_RUN = text("""
    UPDATE runs SET heartbeat_at = :iso WHERE id = :run AND status = 'running'""")
_ADD_WORKER = text("""
    INSERT INTO workers (id, host, pid, kind, started_at, heartbeat_at, run_id, concurrency)
    VALUES (:worker, :host, :pid, :kind, :iso, {now}, NULL, :concurrency)""")
_DROP_WORKER = text("DELETE FROM workers WHERE id = :worker")
_LIVE_WORKERS = text("""
    SELECT id, host, pid, kind, started_at, heartbeat_at, run_id, concurrency, {now}
    FROM workers ORDER BY started_at, id""")
_HOLDERS = text("""
    SELECT run_id, claimed_by, COUNT(*) FROM customers
    WHERE status IS NULL AND claimed_by IS NOT NULL AND claim_until >= {now}
      AND run_id IN (SELECT id FROM runs WHERE status = 'running' AND queued_at IS NOT NULL)
    GROUP BY run_id, claimed_by ORDER BY run_id, claimed_by""")


def _with_now(statement: Any, backend: str) -> Any:
    return text(statement.text.format(now=_PG_NOW if backend == POSTGRESQL else ":now"))


@dataclass(frozen=True)
class Claim:
    """What `claim_batch` got: the run's status, and the customers now held (in order)."""

    status: str | None  # None: no such run
    customer_ids: list[str]
    pending: int  # the run's customers still without a result, after this claim

    @property
    def open(self) -> bool:
        """Whether the run still takes fetchers (not done, cancelled, aborted, gone)."""
        return self.status in CLAIMABLE_RUN_STATES


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    kind: str
    started_at: str
    heartbeat_age_s: float  # seconds since its last heartbeat, on the store's clock
    run_id: int | None
    concurrency: int

    def alive(self, lease_s: float = CLAIM_LEASE_S) -> bool:
        return self.heartbeat_age_s < lease_s


def new_worker_id() -> str:
    """host:pid:random - unique across machines and restarts."""
    return f"{this_host()}:{os.getpid()}:{secrets.token_hex(3)}"


class StoreClaims(StoreSendSlots):
    # -- fetchers ------------------------------------------------------------------------
    def register_worker(self, kind: str, concurrency: int, worker_id: str | None = None,
                        clock: Clock | None = None) -> str:
        """Record a fetcher (with a first heartbeat); returns its id."""
        if kind not in WORKER_KINDS:
            raise ValueError(f"unknown worker kind {kind!r}")
        worker = worker_id or new_worker_id()
        with self._write() as conn:
            conn.execute(_with_now(_ADD_WORKER, self.backend), self._now({
                "worker": worker, "host": this_host(), "pid": os.getpid(), "kind": kind,
                "iso": utc_iso(), "concurrency": concurrency}, clock))
        return worker

    def unregister_worker(self, worker_id: str) -> None:
        """A fetcher leaving cleanly: its claims go back at once, its row goes."""
        with self._write() as conn:
            conn.execute(_RELEASE, {"worker": worker_id})
            conn.execute(_DROP_WORKER, {"worker": worker_id})

    def worker_heartbeat(self, worker_id: str, run_id: int | None,
                         lease_s: float = CLAIM_LEASE_S, clock: Clock | None = None) -> int:
        """Renew a fetcher's row, its claims and the lease of the run it works on;
        returns how many claims it holds."""
        values = self._now({"worker": worker_id, "run": run_id, "lease": float(lease_s),
                            "iso": utc_iso()}, clock)
        for attempt in range(1, HEARTBEAT_ATTEMPTS + 1):
            try:
                with self._write() as conn:
                    conn.execute(_with_now(_RENEW_WORKER, self.backend), values)
                    held = conn.execute(_with_now(_RENEW_CLAIMS, self.backend),
                                        values).rowcount
                    if run_id is not None:
                        conn.execute(_RENEW_RUN, values)
                return int(held)
            except StoreError as exc:
                # Renewing locks the fetcher's claimed customers, which its own batch of
                # results may hold in another order: PostgreSQL then gives one of the two
                # up (deadlock), and running it again succeeds.
                if not exc.transient or attempt == HEARTBEAT_ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def workers(self, clock: Clock | None = None) -> list[WorkerInfo]:
        """Every registered fetcher, with how long since it last said it is alive."""
        with self._read() as conn:
            rows = conn.execute(_with_now(_LIVE_WORKERS, self.backend),
                                self._now({}, clock)).all()
        return [WorkerInfo(r[0], r[1], int(r[2]), r[3], r[4], float(r[8]) - float(r[5]),
                           r[6], int(r[7])) for r in rows]

    def prune_workers(self, older_than_s: float, clock: Clock | None = None) -> int:
        """Forget fetchers silent for longer than `older_than_s` (their claims have run
        out long before); returns how many."""
        gone = [w.id for w in self.workers(clock) if w.heartbeat_age_s > older_than_s]
        with self._write() as conn:
            for worker in gone:
                conn.execute(_DROP_WORKER, {"worker": worker})
        return len(gone)

    def claim_holders(self, clock: Clock | None = None) -> dict[int, dict[str, int]]:
        """Running queued runs -> live claim holder -> customers it holds now."""
        with self._read() as conn:
            rows = conn.execute(_with_now(_HOLDERS, self.backend), self._now({}, clock)).all()
        out: dict[int, dict[str, int]] = {}
        for run_id, worker, count in rows:
            out.setdefault(int(run_id), {})[str(worker)] = int(count)
        return out

    # -- customers -------------------------------------------------------------------------
    def claim_batch(self, run_id: int, worker_id: str, n: int = CLAIM_BATCH,
                    lease_s: float = CLAIM_LEASE_S, clock: Clock | None = None) -> Claim:
        """Claim up to `n` pending customers of a queued run nobody holds (the run is
        marked running). An empty claim with `pending > 0`: others hold the rest."""
        with self._write() as conn:
            status = conn.execute(_RUN_STATUS, {"run": run_id}).scalar()
            if status not in CLAIMABLE_RUN_STATES:
                return Claim(status, [], 0)
            params = self._now({"run": run_id, "worker": worker_id, "n": int(n),
                                "lease": float(lease_s)}, clock)
            statement = _CLAIM_PG if self.backend == POSTGRESQL else _CLAIM_SQLITE
            rows = sorted(conn.execute(statement, params).all())
            if rows or status != "running":
                conn.execute(_RUN_TAKEN, {"run": run_id, "iso": utc_iso()})
            pending = int(conn.execute(_PENDING, {"run": run_id}).scalar_one())
        return Claim("running", [r[1] for r in rows], pending)

    def requeue_run(self, run_id: int, *, failed: bool) -> None:
        """Put a queued run back for its fetchers (resume; with `failed`, its failed
        customers become pending again: retry). A running one keeps running."""
        with self._write() as conn:
            if failed:
                conn.execute(_FAILED_AGAIN, {"run": run_id, "iso": utc_iso()})
            conn.execute(_REQUEUE, {"run": run_id})

    def release_claims(self, worker_id: str) -> int:
        """Give back the customers a fetcher holds and has not fetched."""
        with self._write() as conn:
            return int(conn.execute(_RELEASE, {"worker": worker_id}).rowcount)

    def finish_queued_run(self, run_id: int) -> bool:
        """Mark a queued run done once no customer is pending (whoever records the last
        result, or sees none left, does it; exactly one succeeds)."""
        with self._write() as conn:
            return bool(conn.execute(_FINISH, {"run": run_id, "iso": utc_iso()}).rowcount)

    # -- plumbing --------------------------------------------------------------------------
    def _now(self, params: dict[str, Any], clock: Clock | None) -> dict[str, Any]:
        """SQLite: the clock as a parameter (`clock`, tests, or this machine's).
        PostgreSQL reads its own clock in the statement; `clock` is not used there."""
        if self.backend != POSTGRESQL:
            return {**params, "now": clock() if clock is not None else time.time()}
        return params

"""The store: runs, their customers, tokens and rejected rows, on SQLite or PostgreSQL.

SQLite (the default, one file under DOKU_DATA_DIR, WAL) or PostgreSQL
(`DOKU_DATABASE_URL`, shared by a team); see `doku.engine.database` for how the store
is found and `doku.engine.upgrade` for how its schema is kept current. One row per
valid input customer (its terminal state once known), the tokens fetched and the
rejected input rows. Results are written as they arrive, one small transaction each,
so a crash or kill -9 loses only requests in flight. Raw token IDs are payment
credentials: by default only a SHA-256 fingerprint is kept; storing raw IDs is an
explicit per-run opt-in.

The team's shared request schedule (DOKU_RATE_LIMIT) lives here too
(`doku.engine.slots`). One Store object may be shared by threads. Other processes (or
machines, on PostgreSQL) open their own; readers see committed results while a run
writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import URL

from doku.access import Actor
from doku.engine.claims import StoreClaims
from doku.engine.database import resolve
from doku.engine.lease import Lease, this_host
from doku.engine.results import StoreResults
from doku.engine.saved import StoreSaved
from doku.engine.schedules import StoreSchedules
from doku.engine.schema import RUN_STATES, Reject, RunInfo, clip_error, stored_labels, utc_iso
from doku.engine.snapshots import StoreSnapshots
from doku.engine.tables import runs
from doku.engine.trail import RUN_DELETE, Event, StoreTrail, acting, insert_event
from doku.errors import InvalidInputError, NoSuchRunError, RunBusyError


class Store(StoreResults, StoreSnapshots, StoreClaims, StoreSaved, StoreSchedules,
            StoreTrail):
    """Open (creating or upgrading it as needed) the store: `url` (a database URL)
    wins; `path` is a SQLite file (`:memory:` for a private in-memory store); neither:
    the configured one (`doku.engine.database.resolve`).

    `engine` (SQLAlchemy), `backend` ("sqlite" | "postgresql"), `where` (for messages:
    the file or the URL without its password) and `key` (identity for caches) describe
    it; `path` is the SQLite file."""

    def __init__(self, path: str | Path | None = None, *, url: str | URL | None = None) -> None:
        self._open(resolve(path, url=url))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------
    def create_run(
        self,
        *,
        ids: Sequence[str],
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        attribute_values: Mapping[str, Sequence[str]] | None = None,
        attribute_columns: Sequence[str] = (),
        rejects: Iterable[Reject] = (),
        duplicates: int = 0,
        blank_rows: int = 0,
        env: str,
        base_url: str | None,
        client_id: str,
        input_name: str,
        token_type: str | None = None,
        options: Mapping[str, Any] | None = None,
        store_token_ids: bool = False,
        name: str | None = None,
        note: str | None = None,
        queued: bool = False,
        saved_audit_id: int | None = None,
        scheduled_for: str | None = None,
        event: Event | None = None,
    ) -> int:
        """Record a run and its input customers (no results yet); returns the run id.

        `event`: the audit trail entry of whatever made the run (an audit started, a
        saved audit run, a schedule fired), added in the run's own transaction and
        naming it ("run N") unless it names its object itself.

        `queued`: the queue's workers fetch it (`doku.engine.claims`): it starts as
        'queued' with no owner. `saved_audit_id` / `scheduled_for`: the saved audit it
        re-audits and the schedule slot that fired it (a slot makes one run: a second
        insert for the same slot raises IntegrityError, wrapped as a StoreError).

        Attributes come either per customer (`attributes`: id -> {column: value}) or
        column-wise (`attribute_values`: column -> values parallel to `ids`, as
        doku.engine.inputs parses them). The customers and rejects go in with the
        backend's bulk path (executemany / COPY), in the run's own transaction.
        """
        rejects = list(rejects)
        columnwise = attribute_values or {}

        def attrs_json(seq: int, cid: str) -> str | None:
            if columnwise:
                row = {col: vals[seq] for col, vals in columnwise.items()}
            elif attributes and cid in attributes:
                row = dict(attributes[cid])
            else:
                return None
            return json.dumps(row, ensure_ascii=False)

        run_name, run_note = stored_labels(name, note)
        now = utc_iso()
        new_run = insert(runs).values(
            created_at=now, status="queued" if queued else "running", env=env, base_url=base_url,
            client_id=client_id, input_name=input_name, token_type=token_type,
            options=json.dumps(dict(options or {}), sort_keys=True),
            attribute_columns=json.dumps(list(attribute_columns)), customers=len(ids),
            rejected=len(rejects), duplicates=duplicates, blank_rows=blank_rows,
            store_token_ids=int(store_token_ids), name=run_name, note=run_note,
            queued_at=now if queued else None, saved_audit_id=saved_audit_id,
            scheduled_for=scheduled_for,
        ).returning(runs.c.id)
        with self._write() as conn:
            run_id = int(conn.execute(new_run).scalar_one())
            self._bulk_insert(
                conn, "customers", ("run_id", "seq", "customer_id", "attributes"),
                ((run_id, seq, cid, attrs_json(seq, cid)) for seq, cid in enumerate(ids)),
            )
            self._bulk_insert(
                conn, "rejects", ("run_id", "row", "value", "reason"),
                ((run_id, r.row, r.value, r.reason) for r in rejects),
            )
            if event is not None:
                insert_event(conn, event, object=f"run {run_id}")
        return run_id

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        if status not in RUN_STATES:
            raise ValueError(f"unknown run status {status!r}")
        if status == "running":
            change = _claimed(utc_iso())
        else:
            change = {"status": status, "finished_at": utc_iso(),
                      "error": None if error is None else clip_error(error)}
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**change))

    def claim_run(self, run_id: int) -> None:
        """Mark the run as being fetched by this process, atomically: RunBusyError when
        another live fetcher holds its lease (`doku.engine.lease`), here or on another
        machine, so two resumes of one run never fetch a customer twice at once. The
        run is read under the write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT
        ... FOR UPDATE), so of two processes claiming together exactly one sees it free."""
        lease_of = select(runs.c.status, runs.c.owner_pid, runs.c.owner_host,
                          runs.c.heartbeat_at, runs.c.queued_at,
                          ).where(runs.c.id == run_id).with_for_update()
        with self._write() as conn:
            row = conn.execute(lease_of).one_or_none()
            if row is None:
                raise NoSuchRunError(f"run {run_id} is not in {self.where}")
            status, pid, host, heartbeat_at, queued_at = row
            lease = Lease(run_id, pid, host, heartbeat_at, queued_at is not None)
            if status == "running" and lease.held_elsewhere():
                raise RunBusyError(
                    f"run {run_id} is already being fetched by {lease.holder()}; "
                    "wait for it to finish or cancel it there"
                )
            conn.execute(update(runs).where(runs.c.id == run_id).values(**_claimed(utc_iso())))

    def heartbeat(self, run_id: int) -> bool:
        """Renew this process's lease on a running run (a BulkJob does every
        `doku.engine.lease.HEARTBEAT_S`); False when the run is no longer ours."""
        with self._write() as conn:
            renewed = conn.execute(_RENEW, {
                "b_id": run_id, "b_pid": os.getpid(), "b_host": this_host(), "b_at": utc_iso(),
            })
        return bool(renewed.rowcount)

    def annotate_run(self, run_id: int, *, name: str | None, note: str | None) -> None:
        """Set (or, with None/blank, clear) a run's name and note."""
        run_name, run_note = stored_labels(name, note)
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id)
                         .values(name=run_name, note=run_note))

    def set_archived(self, run_id: int, archived: bool = True) -> None:
        """Archived runs stay in the store but leave pickers and trends."""
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id)
                         .values(archived=int(archived)))

    def running_owners(self) -> dict[int, int | None]:
        """Run id -> pid of the process that said it is running it."""
        return {lease.run_id: lease.pid for lease in self.running_leases()}

    def running_leases(self) -> list[Lease]:
        """The lease of every run stored as running, by run id."""
        statement = (
            select(runs.c.id, runs.c.owner_pid, runs.c.owner_host, runs.c.heartbeat_at,
                   runs.c.queued_at)
            .where(runs.c.status == "running")
            .order_by(runs.c.id)
        )
        with self._read() as conn:
            return [Lease(int(r[0]), r[1], r[2], r[3], r[4] is not None)
                    for r in conn.execute(statement)]

    def delete_run(self, run_id: int, *, actor: Actor | None = None) -> bool:
        """Delete a run with its customers, tokens and rejects; False when there was no
        such run. The audit trail's entry (by `actor`, default this process's: see
        `doku.engine.trail.acting`) is added in the same transaction: no deletion
        without its record."""
        who = acting(actor)
        what = select(runs.c.name, runs.c.input_name, runs.c.customers, runs.c.created_at,
                      runs.c.store_token_ids).where(runs.c.id == run_id)
        with self._write() as conn:
            row = conn.execute(what).one_or_none()
            if row is None:
                return False
            conn.execute(delete(runs).where(runs.c.id == run_id))
            insert_event(conn, Event(who, RUN_DELETE, f"run {run_id}", {
                "name": row.name, "input": row.input_name, "customers": row.customers,
                "created_at": row.created_at, "raw_token_ids": bool(row.store_token_ids)}))
        return True


_RENEW = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.status == "running",
           runs.c.owner_pid == bindparam("b_pid"), runs.c.owner_host == bindparam("b_host"))
    .values(heartbeat_at=bindparam("b_at"))
)


def _claimed(now: str) -> dict[str, Any]:
    """The columns of a run this process starts fetching (its lease included)."""
    return {
        "status": "running", "error": None, "finished_at": None, "owner_pid": os.getpid(),
        "owner_host": this_host(), "heartbeat_at": now,
        "started_at": func.coalesce(runs.c.started_at, now),
    }


def resolve_run(store: Store, ref: str | int) -> RunInfo:
    """A run by id or `latest`; NoSuchRunError (one clear line) when there is none."""
    text = str(ref).strip()
    if text.lower() == "latest":
        latest = store.latest_run_id()
        if latest is None:
            raise NoSuchRunError(f"there are no runs yet in {store.where}")
        run_id = latest
    else:
        try:
            run_id = int(text)
        except ValueError:
            raise InvalidInputError(
                f"run id must be a number or 'latest', not {text!r}"
            ) from None
    info = store.get_run(run_id)
    if info is None:
        raise NoSuchRunError(f"run {run_id} is not in {store.where}")
    return info

"""Runs of saved audits: on demand (`run_saved`) and for the schedules that are due
(`fire_due`, called by `doku schedule fire` from a system cron, or by whatever ticks).

Both record a run of the saved list (named after the saved audit, in its series) and
hand it to `launch(store, run_id, settings)`: `doku.engine.service.launch_run` in the
app (SQLite: an in-process job; PostgreSQL: the queue's workers), anything else in
tests. On PostgreSQL the run is recorded as queued, for the workers to fetch.

Each new run carries its audit trail entry in its own transaction: SAVED_RUN (by the
caller's actor) or SCHEDULE_FIRE (by whoever fires: a worker, the dashboard's clock,
`doku schedule fire`); launching it adds nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from doku.access import Actor
from doku.engine.audit_model import AuditOptions
from doku.engine.connection import resolve
from doku.engine.database import POSTGRESQL
from doku.engine.saved import SavedAudit, audit_options
from doku.engine.schedules import Schedule, aware, slot_due
from doku.engine.service import create_run
from doku.engine.store import Store
from doku.engine.trail import SAVED_RUN, SCHEDULE_FIRE, Event, acting
from doku.errors import DokuError, InvalidInputError
from doku.settings import Settings

logger = logging.getLogger(__name__)

Launch = Callable[[Store, int, Settings], object]
OnError = Callable[[Schedule, DokuError], None]


def options_of(saved: SavedAudit) -> AuditOptions:
    """The options the saved audit's runs use."""
    try:
        return audit_options(saved.options, saved.token_type)
    except InvalidInputError as exc:
        raise InvalidInputError(f"saved audit {saved.name!r}: {exc.message}") from None


def _record(store: Store, saved: SavedAudit, settings: Settings,
            scheduled_for: str | None, event: Event) -> int:
    """A run of the saved list (queued on PostgreSQL) with its trail `event`;
    `settings` resolved."""
    return create_run(
        store, store.saved_input(saved.id), settings, options_of(saved),
        name=saved.name, queued=store.backend == POSTGRESQL, saved_audit_id=saved.id,
        scheduled_for=scheduled_for, event=event,
    )


def run_saved(store: Store, ref: str | int, settings: Settings, *, launch: Launch,
              actor: Actor | None = None) -> int:
    """Record a run of the saved audit `ref` (name or id) now and launch it; returns the
    run id. A configuration problem (`resolve`) raises before any run is recorded.
    One SAVED_RUN entry by `actor` (default this process's), with the run."""
    saved = store.saved_audit(ref)
    settings = resolve(settings)
    event = Event(acting(actor), SAVED_RUN, detail={
        "saved_audit": saved.name, "saved_audit_id": saved.id, "customers": saved.customers})
    run_id = _record(store, saved, settings, None, event)
    launch(store, run_id, settings)
    return run_id


def _log_error(schedule: Schedule, exc: DokuError) -> None:
    logger.error("schedule %d (%s) did not fire: %s", schedule.id, schedule.saved_audit, exc)


def fire_due(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    launch: Launch,
    on_error: OnError = _log_error,
    actor: Actor | None = None,
) -> list[int]:
    """Fire every schedule with a slot due at `now` (`doku.engine.schedules.slot_due`):
    claim the slot, record a run of its saved audit for that slot and launch it.
    Returns the new runs' ids, in schedule order.

    A slot another firer claimed first is skipped, and so is one a run of the same
    saved audit already covers (two of its schedules naming one minute). A schedule
    that fails to fire (settings, store, launch) goes to `on_error` and the others
    still fire; its slot stays claimed: the next slot fires as usual.

    Each run made has one SCHEDULE_FIRE entry by `actor` (whoever fires: a worker's
    `Actor(worker id, "worker")`, the dashboard clock's; default this process's).
    """
    who = acting(actor)
    now = aware(now)
    fired: list[int] = []
    resolved: Settings | None = None
    for schedule in store.schedules(now=now):
        slot = slot_due(schedule.cron, schedule.last_slot, schedule.created_at, now)
        if slot is None or not store.claim_slot(schedule.id, slot):
            continue
        try:
            if store.slot_run(schedule.saved_audit_id, slot) is not None:
                continue
            resolved = resolved or resolve(settings)  # only once something is due
            saved = store.saved_audit(schedule.saved_audit_id)
            event = Event(who, SCHEDULE_FIRE, detail={
                "schedule": schedule.id, "cron": schedule.cron, "slot": slot,
                "saved_audit": saved.name, "saved_audit_id": saved.id,
                "customers": saved.customers})
            run_id = _record(store, saved, resolved, slot, event)
            fired.append(run_id)
            launch(store, run_id, resolved)
        except DokuError as exc:
            on_error(schedule, exc)
    return fired

"""Schedules of saved audits: a 5-field cron expression (UTC) each, and the slot it last
fired for.

A slot is a minute the expression names. A schedule is due when the latest slot at or
before now is after the slot it last fired (or, never fired, after it was made): only
that latest slot fires, never a backlog, so a firer that was down for a week starts
one run, not seven. Firing claims the slot first (`StoreSchedules.claim_slot`, one
atomic UPDATE): of any number of firers, here or on other machines, exactly one wins
it (`doku.engine.firing`).

Times are UTC ISO-8601 text to the second, as `doku.engine.schema.utc_iso` writes
them ("2026-12-01T02:00:00Z"), so they compare as text in SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# croniter ships no type information (and types-croniter trails its releases).
from croniter import (  # type: ignore[import-untyped]
    CroniterBadCronError,
    CroniterBadDateError,
    croniter,
)
from sqlalchemy import delete, insert, or_, select, update

from doku.access import Actor
from doku.engine.access import StoreAccess
from doku.engine.saved import find_saved_id
from doku.engine.schema import utc_iso
from doku.engine.tables import runs, saved_audits, schedules
from doku.engine.trail import SCHEDULE_ADD, SCHEDULE_REMOVE, Event, acting, insert_event
from doku.errors import InvalidInputError, NoSuchSavedAuditError

CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
MAX_CRON = 200
_MINUTE = timedelta(minutes=1)


# -- times -------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    """A moment as stored: UTC, to the second, with a Z."""
    return aware(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """A stored (or typed) ISO-8601 time as an aware UTC datetime; one without a zone
    is UTC. InvalidInputError naming the text when it is not a time."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{text!r} is not an ISO-8601 time") from None
    return aware(moment)


def aware(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one is taken as UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# -- cron ----------------------------------------------------------------------------------
# croniter reads an equal range ("1-1", "jan-jan") as the whole cycle and "R" as a random
# value chosen anew by every reader: "0 2 1-1 * *" would fire daily. Equal ranges are
# written as their one value (cron's own reading) and R or H (hashed) are refused.
_RANGE = re.compile(r"^([0-9a-z]+)-([0-9a-z]+)(/\d+)?$", re.IGNORECASE)
_RANDOM_OR_HASHED = re.compile(r"(?<![a-z])[hr](?![a-z])", re.IGNORECASE)
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                 "sep", "oct", "nov", "dec"), 1)},
    {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
)


def _single_values(field: str, names: dict[str, int]) -> str:
    """`field` with every equal range ("5-5", "jan-1", "3-3/2") as its one value."""

    def value(text: str) -> int | str:
        return int(text) if text.isdigit() else names.get(text.lower(), text)

    elements = []
    for element in field.split(","):
        found = _RANGE.match(element)
        if found and value(found[1]) == value(found[2]):
            element = found[1]
        elements.append(element)
    return ",".join(elements)


def check_cron(cron: str) -> str:
    """A cron expression as stored (one space between its 5 fields, equal ranges as
    their value); InvalidInputError naming it when it is not 5 valid fields or names
    no minute that ever comes."""
    clean = " ".join(str(cron).split())
    shown = clean if len(clean) <= MAX_CRON else clean[:MAX_CRON] + "\u2026"
    fields = clean.split(" ") if clean else []
    if len(fields) != len(CRON_FIELDS):
        raise InvalidInputError(
            f"cron expression {shown!r} has {len(fields)} field"
            f"{'' if len(fields) == 1 else 's'}; it needs 5: "
            + ", ".join(CRON_FIELDS) + ' (e.g. "0 2 1 * *": 02:00 UTC on the 1st)')
    clean = " ".join(_single_values(f, names) for f, names in zip(fields, _NAMES, strict=True))
    if _RANDOM_OR_HASHED.search(clean) or not croniter.is_valid(clean):
        raise InvalidInputError(f"cron expression {shown!r} is not valid "
                                "(fields: " + ", ".join(CRON_FIELDS) + ")")
    try:
        croniter(clean, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except (CroniterBadCronError, CroniterBadDateError):
        raise InvalidInputError(f"cron expression {shown!r} names no date that comes "
                                "(e.g. the 31st of a month that has 30 days)") from None
    return clean


def next_slot(cron: str, after: datetime) -> str:
    """The first slot strictly after `after`."""
    slot: datetime = croniter(cron, aware(after)).get_next(datetime)
    return iso(slot)


def latest_slot(cron: str, now: datetime) -> datetime:
    """The latest slot at or before `now` (slots are whole minutes; croniter's
    `get_prev` is strictly before its base, so the base is the next minute)."""
    base = aware(now).replace(second=0, microsecond=0) + _MINUTE
    slot: datetime = croniter(cron, base).get_prev(datetime)
    return aware(slot)


def slot_due(cron: str, last_slot: str | None, created_at: str, now: datetime) -> str | None:
    """The slot to fire now: the latest at or before `now` when it is after
    `last_slot` (or, never fired, after `created_at`); else None."""
    slot = latest_slot(cron, now)
    since = parse_iso(last_slot if last_slot is not None else created_at)
    return iso(slot) if slot > since else None


# -- the store -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    id: int
    saved_audit_id: int
    saved_audit: str  # its name
    cron: str
    created_at: str
    created_by: str | None
    last_slot: str | None  # the last slot fired, None: never
    next_slot: str  # the first slot after the time it was listed at

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_LISTED = (
    select(schedules.c.id, schedules.c.saved_audit_id, saved_audits.c.name, schedules.c.cron,
           schedules.c.created_at, schedules.c.created_by, schedules.c.last_slot)
    .join_from(schedules, saved_audits, schedules.c.saved_audit_id == saved_audits.c.id)
)


class StoreSchedules(StoreAccess):
    def add_schedule(self, saved_ref: str | int, cron: str,
                     created_by: str | None = None, *, actor: Actor | None = None) -> int:
        """Run the saved audit `saved_ref` (name or id) at every slot of `cron` (UTC)
        from now on; returns the schedule's id. InvalidInputError for an expression
        that is not valid (`check_cron`) or one the saved audit already has. The audit
        trail's entry (by `actor`, default this process's) goes in with it;
        `created_by` defaults to `actor`'s name."""
        who = acting(actor)
        if created_by is None and actor is not None:  # a caller naming no actor keeps None
            created_by = actor.name
        clean = check_cron(cron)
        with self._write() as conn:
            saved_id = find_saved_id(conn, saved_ref, self.where)
            name = conn.execute(select(saved_audits.c.name)
                                .where(saved_audits.c.id == saved_id)).scalar_one()
            same = select(schedules.c.id).where(schedules.c.saved_audit_id == saved_id,
                                                schedules.c.cron == clean)
            existing = conn.execute(same).scalar()
            if existing is not None:
                raise InvalidInputError(
                    f"that saved audit already runs at {clean!r} (schedule {existing})")
            added = conn.execute(insert(schedules).values(
                saved_audit_id=saved_id, cron=clean, created_at=utc_iso(),
                created_by=created_by,
            ).returning(schedules.c.id))
            schedule_id = int(added.scalar_one())
            insert_event(conn, Event(who, SCHEDULE_ADD, f"schedule {schedule_id}", {
                "cron": clean, "saved_audit": name, "saved_audit_id": saved_id}))
            return schedule_id

    def schedules(self, now: datetime | None = None,
                  saved_id: int | None = None) -> list[Schedule]:
        """Every schedule (of one saved audit, with `saved_id`), by saved audit name
        then id, with its next slot after `now` (default: the clock)."""
        after = aware(now) if now is not None else datetime.now(timezone.utc)
        query = _LISTED.order_by(saved_audits.c.name, schedules.c.id)
        if saved_id is not None:
            query = query.where(schedules.c.saved_audit_id == saved_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Schedule(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6],
                         next_slot(r[3], after)) for r in rows]

    def remove_schedule(self, schedule_id: int, *, actor: Actor | None = None) -> None:
        """NoSuchSavedAuditError when there is no such schedule. The audit trail's entry
        (by `actor`, default this process's) goes in the same transaction."""
        who = acting(actor)
        with self._write() as conn:
            row = conn.execute(_LISTED.where(schedules.c.id == schedule_id)).one_or_none()
            gone = conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
            if row is None or not gone.rowcount:
                raise NoSuchSavedAuditError(f"schedule {schedule_id} is not in {self.where}")
            insert_event(conn, Event(who, SCHEDULE_REMOVE, f"schedule {schedule_id}", {
                "cron": row.cron, "saved_audit": row.name, "saved_audit_id": row.saved_audit_id}))

    def claim_slot(self, schedule_id: int, slot: str) -> bool:
        """Mark `slot` fired for the schedule, if it is later than the one it last
        fired; True for the one caller that did. A single UPDATE: under PostgreSQL's
        row lock (or SQLite's write lock) a second claimer of the same slot finds its
        condition false and changes nothing."""
        claim = (
            update(schedules)
            .where(schedules.c.id == schedule_id,
                   or_(schedules.c.last_slot.is_(None), schedules.c.last_slot < slot))
            .values(last_slot=slot)
        )
        with self._write() as conn:
            return bool(conn.execute(claim).rowcount)

    def slot_run(self, saved_id: int, slot: str) -> int | None:
        """The run already made for the saved audit's `slot` (by another of its
        schedules naming the same minute), if any."""
        made = select(runs.c.id).where(runs.c.saved_audit_id == saved_id,
                                       runs.c.scheduled_for == slot)
        with self._read() as conn:
            found = conn.execute(made).scalar()
        return None if found is None else int(found)

"""The audit trail in the store: who did what, when, to which object. Append-only.

Every sensitive action adds exactly one entry (`record_event`), from wherever it was
taken: the dashboard (the signed-in user, or the local user in single-user mode), the
CLI and the Python API (the OS user or DOKU_ACTOR), a worker. Entries are never
changed or removed: the store's triggers refuse it (migration 0005).

What an entry may hold is narrow on purpose: an action name, an object ("run 12",
"schedule 3", "customer 9f86d081..."), and a detail of short scalar values. Customer
IDs are fingerprinted unless `[doku.access] trail_customer_ids = "raw"`; token IDs,
secrets and URLs with passwords never belong here, and `detail` refuses nested values
and clips long text so nothing bulky or sensitive slips in by accident.

Mixed into `doku.engine.store.Store`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from doku.access import Actor, process_actor
from doku.engine.access import StoreAccess
from doku.engine.schema import utc_iso
from doku.engine.tables import trail
from doku.errors import StoreError
from doku.masking import fingerprint

# The actions the trail knows (a typo must not create a new kind of entry).
SIGN_IN = "sign_in"
LOOKUP = "lookup"
AUDIT_START = "audit_start"
AUDIT_CANCEL = "audit_cancel"
AUDIT_RESUME = "audit_resume"
AUDIT_RETRY = "audit_retry"
REVEAL = "reveal"
DOWNLOAD = "download"
EXPORT = "export"
RUN_DELETE = "run_delete"
SAVED_ADD = "saved_add"
SAVED_REMOVE = "saved_remove"
SAVED_RUN = "saved_run"
SCHEDULE_ADD = "schedule_add"
SCHEDULE_REMOVE = "schedule_remove"
SCHEDULE_FIRE = "schedule_fire"
ACTIONS = (SIGN_IN, LOOKUP, AUDIT_START, AUDIT_CANCEL, AUDIT_RESUME, AUDIT_RETRY, REVEAL,
           DOWNLOAD, EXPORT, RUN_DELETE, SAVED_ADD, SAVED_REMOVE, SAVED_RUN, SCHEDULE_ADD,
           SCHEDULE_REMOVE, SCHEDULE_FIRE)
MAX_TEXT = 300  # per object or detail value
MAX_DETAIL_KEYS = 20
DEFAULT_LIMIT = 1000

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class TrailEntry:
    id: int
    at: str
    actor: str
    via: str
    role: str | None
    action: str
    object: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Event:
    """One entry to add: who, which action, to what (None: the caller names it, e.g.
    the "run N" a new run gets), and short scalar details (`clean_detail`)."""

    actor: Actor
    action: str
    object: str | None = None
    detail: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:  # never silently a new kind of entry
            raise ValueError(f"unknown trail action {self.action!r}")


def acting(actor: Actor | None, via: str = "api") -> Actor:
    """`actor`, or this process's (DOKU_ACTOR, else the OS user) when None: every
    engine function that records takes an optional actor and defaults this way."""
    return actor if actor is not None else process_actor(via)


def insert_event(conn: Connection, event: Event, *, object: str | None = None,
                 at: str | None = None) -> int:
    """Add `event` inside the caller's transaction (so the action and its entry are
    committed, or rolled back, together); `object` is used when the event names none.
    Returns the entry's id."""
    actor = event.actor
    named = event.object if event.object is not None else object
    row = {
        "at": at or utc_iso(), "actor": _clip(actor.name), "via": _clip(actor.via),
        "role": actor.role.label if actor.role is not None else None,
        "action": event.action, "object": None if named is None else _clip(named),
        "detail": json.dumps(clean_detail(event.detail), ensure_ascii=False, sort_keys=True),
    }
    return int(conn.execute(insert(trail).values(**row).returning(trail.c.id)).scalar_one())


def customer_ref(customer_id: str, *, raw: bool = False) -> str:
    """How the trail names a customer: its fingerprint (default) or, when configured,
    the ID itself."""
    return f"customer {customer_id}" if raw else f"customer {fingerprint(customer_id)[:16]}"


def _clip(value: object) -> str:
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """The detail as stored: at most MAX_DETAIL_KEYS keys of scalars, text clipped;
    a list of scalars becomes one comma-joined text (filters: "BCA, BNI")."""
    out: dict[str, Scalar] = {}
    for key, value in list((detail or {}).items())[:MAX_DETAIL_KEYS]:
        if isinstance(value, (list, tuple, set, frozenset)):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
            out[_clip(key)] = value
        elif isinstance(value, str):
            out[_clip(key)] = _clip(value)
        else:
            raise TypeError(f"trail detail {key!r} must be a scalar, not {type(value).__name__}")
    return out


class StoreTrail(StoreAccess):
    def record_event(self, actor: Actor, action: str, object: str | None = None,
                     detail: Mapping[str, Any] | None = None, *, at: str | None = None) -> int:
        """Add one entry; returns its id. ValueError for an action the trail does not
        know (never silently a new kind)."""
        return self.record_events([Event(actor, action, object, detail)], at=at)[0]

    def record_events(self, events: Sequence[Event], *, at: str | None = None) -> list[int]:
        """Add `events` in one transaction (a lookup and its reveal: both or neither);
        their ids. A store that cannot take them raises StoreError saying the trail
        could not be written: the caller must not go on with the action unrecorded."""
        try:
            with self._write() as conn:
                return [insert_event(conn, event, at=at) for event in events]
        except StoreError as exc:
            raise StoreError(f"the audit trail could not be written: {exc.message}") from None

    def trail(self, *, since: str | None = None, action: str | None = None,
              actor: str | None = None, limit: int = DEFAULT_LIMIT) -> list[TrailEntry]:
        """Entries at or after `since` (ISO-8601 UTC), oldest first, at most `limit`
        of the newest; optionally of one action or actor."""
        query = select(trail)
        if since is not None:
            query = query.where(trail.c.at >= since)
        if action is not None:
            query = query.where(trail.c.action == action)
        if actor is not None:
            query = query.where(trail.c.actor == actor)
        query = query.order_by(trail.c.id.desc()).limit(max(1, int(limit)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [TrailEntry(r.id, r.at, r.actor, r.via, r.role, r.action, r.object,
                           json.loads(r.detail)) for r in reversed(rows)]

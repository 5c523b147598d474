"""Saved audits: a named customer list kept in the store, audited again on demand or on
a schedule (`doku.engine.schedules`, fired by `doku.engine.firing`). Every run made
from one carries its id (`runs.saved_audit_id`): those runs form its series.

Mixed into `doku.engine.store.Store`. A saved list keeps only the valid, unique
customer IDs of its input (rejected rows and duplicates were reported when it was
saved) with their attributes, one JSON object per customer as `customers.attributes`
holds them; lists of 100,000 customers go in with the backend's bulk path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from doku.access import Actor
from doku.engine.access import StoreAccess
from doku.engine.audit_model import AuditOptions
from doku.engine.parsed import ParsedInput
from doku.engine.schema import MAX_NAME, utc_iso
from doku.engine.tables import runs, saved_audits, saved_customers, schedules
from doku.engine.trail import SAVED_ADD, SAVED_REMOVE, Event, acting, insert_event
from doku.errors import InvalidInputError, NoSuchSavedAuditError


@dataclass(frozen=True)
class SavedAudit:
    """One saved audit as listed: its list, the options its runs use, how many
    schedules it has and its newest run (None before the first)."""

    id: int
    name: str
    created_at: str
    created_by: str | None
    input_name: str
    customers: int
    attribute_columns: list[str]
    token_type: str | None
    options: dict[str, Any] = field(default_factory=dict)
    schedules: int = 0
    last_run_id: int | None = None
    last_run_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def saved_name(name: str) -> str:
    """A saved audit's name as stored: trimmed, one space between words, at most
    MAX_NAME characters, printable, and not digits alone (an id reads that way);
    InvalidInputError saying which rule it breaks."""
    clean = " ".join(str(name).split())
    if not clean:
        raise InvalidInputError("a saved audit needs a name")
    if len(clean) > MAX_NAME:
        raise InvalidInputError(
            f"a saved audit's name is at most {MAX_NAME} characters, not {len(clean)}")
    if not clean.isprintable():
        raise InvalidInputError("a saved audit's name cannot hold control characters")
    if clean.isdigit():
        raise InvalidInputError(
            f"a saved audit's name cannot be digits alone ({clean} would read as an id)")
    return clean


def audit_options(options: Mapping[str, Any], token_type: str | None) -> AuditOptions:
    """The options a saved audit's runs use: those AuditOptions knows, with the saved
    token type; InvalidInputError naming a value that is not valid."""
    known = {k: v for k, v in options.items() if k in AuditOptions.__dataclass_fields__}
    known["token_type"] = token_type
    try:
        return AuditOptions(**known)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(str(exc)) from None


def find_saved_id(conn: Connection, ref: str | int, where: str) -> int:
    """The id of the saved audit `ref` names: an int is an id; text is a name (as
    `saved_name` stores it), else an id written in digits. NoSuchSavedAuditError when
    there is none."""
    if isinstance(ref, int):
        found = conn.execute(select(saved_audits.c.id).where(saved_audits.c.id == ref))
        saved_id = found.scalar()
        if saved_id is None:
            raise NoSuchSavedAuditError(f"saved audit {ref} is not in {where}")
        return int(saved_id)
    text = " ".join(str(ref).split())
    by_name = select(saved_audits.c.id).where(saved_audits.c.name == text)
    saved_id = conn.execute(by_name).scalar()
    if saved_id is None and text.isdigit():
        by_id = select(saved_audits.c.id).where(saved_audits.c.id == int(text))
        saved_id = conn.execute(by_id).scalar()
    if saved_id is None:
        raise NoSuchSavedAuditError(f"there is no saved audit named {text!r} in {where}")
    return int(saved_id)


def _listed() -> Any:
    """Every saved audit column, its schedule count and its newest run (id, created)."""
    count_schedules = (
        select(func.count()).select_from(schedules)
        .where(schedules.c.saved_audit_id == saved_audits.c.id).scalar_subquery()
    )
    newest_run = (
        select(func.max(runs.c.id)).where(runs.c.saved_audit_id == saved_audits.c.id)
        .scalar_subquery()
    )
    newest_created = (
        select(runs.c.created_at).where(runs.c.saved_audit_id == saved_audits.c.id)
        .order_by(runs.c.id.desc()).limit(1).scalar_subquery()
    )
    c = saved_audits.c
    return select(
        c.id, c.name, c.created_at, c.created_by, c.input_name, c.customers,
        c.attribute_columns, c.token_type, c.options, count_schedules, newest_run,
        newest_created,
    )


_LISTED = _listed()


def _saved(row: Any) -> SavedAudit:
    (sid, name, created, by, input_name, n, columns, token_type, options, n_schedules,
     last_id, last_at) = row
    return SavedAudit(
        id=int(sid), name=name, created_at=created, created_by=by, input_name=input_name,
        customers=int(n), attribute_columns=json.loads(columns), token_type=token_type,
        options=json.loads(options), schedules=int(n_schedules),
        last_run_id=None if last_id is None else int(last_id), last_run_at=last_at,
    )


class StoreSaved(StoreAccess):
    def save_audit(
        self,
        parsed: ParsedInput,
        name: str,
        options: Mapping[str, Any] | None = None,
        token_type: str | None = None,
        created_by: str | None = None,
        *,
        actor: Actor | None = None,
    ) -> int:
        """Keep `parsed`'s customers (and attributes) under `name`, with the options its
        runs will use (`audit_options`); returns its id. InvalidInputError for a name
        that is not valid (`saved_name`) or taken, options that are not, or an input
        without a valid customer.

        The audit trail's entry (by `actor`, default this process's) goes in with it;
        `created_by` defaults to `actor`'s name."""
        who = acting(actor)
        if created_by is None and actor is not None:  # a caller naming no actor keeps None
            created_by = actor.name
        clean = saved_name(name)
        audit_options(options or {}, token_type)  # refused now, not when it fires
        if not parsed.ids:
            raise InvalidInputError(f"{parsed.source}: no valid customer IDs to save")
        taken = InvalidInputError(f"a saved audit named {clean!r} already exists")
        columns = list(parsed.attribute_columns)
        values = [parsed.attributes[c] for c in columns]

        def attributes_json(seq: int) -> str | None:
            if not columns:
                return None
            row = {col: vals[seq] for col, vals in zip(columns, values, strict=True)}
            return json.dumps(row, ensure_ascii=False)

        new_saved = insert(saved_audits).values(
            name=clean, created_at=utc_iso(), created_by=created_by,
            input_name=parsed.source, customers=len(parsed.ids),
            attribute_columns=json.dumps(columns), token_type=token_type,
            options=json.dumps(dict(options or {}), sort_keys=True),
        ).returning(saved_audits.c.id)
        with self._write() as conn:
            exists = select(saved_audits.c.id).where(saved_audits.c.name == clean)
            if conn.execute(exists).first() is not None:
                raise taken
            try:
                saved_id = int(conn.execute(new_saved).scalar_one())
            except IntegrityError:  # PostgreSQL: another writer took the name meanwhile
                raise taken from None
            self._bulk_insert(
                conn, "saved_customers",
                ("saved_audit_id", "seq", "customer_id", "attributes"),
                ((saved_id, seq, cid, attributes_json(seq))
                 for seq, cid in enumerate(parsed.ids)),
            )
            insert_event(conn, Event(who, SAVED_ADD, f"saved audit {saved_id}", {
                "name": clean, "customers": len(parsed.ids), "input": parsed.source,
                "token_type": token_type,
                "store_token_ids": bool((options or {}).get("store_token_ids", False))}))
        return saved_id

    def saved_audits(self) -> list[SavedAudit]:
        """Every saved audit, by name."""
        with self._read() as conn:
            rows = conn.execute(_LISTED.order_by(saved_audits.c.name)).all()
        return [_saved(r) for r in rows]

    def saved_audit(self, ref: str | int) -> SavedAudit:
        """One saved audit by name or id (`find_saved_id`)."""
        with self._read() as conn:
            saved_id = find_saved_id(conn, ref, self.where)
            row = conn.execute(_LISTED.where(saved_audits.c.id == saved_id)).one()
        return _saved(row)

    def saved_input(self, saved_id: int) -> ParsedInput:
        """The saved list as the input of a new run (`doku.engine.service.create_run`):
        its customers in their saved order, attributes by column, the input's name."""
        saved = self.saved_audit(saved_id)
        rows = self._fetch_all(
            "SELECT customer_id, attributes FROM saved_customers"
            " WHERE saved_audit_id=? ORDER BY seq",
            (saved_id,),
        )
        columns = saved.attribute_columns
        ids = [r[0] for r in rows]
        attributes: dict[str, list[str]] = {c: [] for c in columns}
        if columns:
            for _, raw in rows:
                row = json.loads(raw) if raw else {}
                for col in columns:
                    attributes[col].append(str(row.get(col, "")))
        return ParsedInput(
            source=saved.input_name, ids=ids, attributes=attributes,
            attribute_columns=list(columns), id_column=None, columns=[],
            has_header=False, rejected=[], duplicates=0, duplicate_ids=[], blank_rows=0,
            total_rows=len(ids),
        )

    def remove_saved_audit(self, ref: str | int, *, actor: Actor | None = None) -> SavedAudit:
        """Remove a saved audit, its list and its schedules; returns what it was. Its
        runs stay in the store, no longer in a series (their saved_audit_id is
        cleared here: `runs` has no foreign key to it). The audit trail's entry (by
        `actor`, default this process's) goes in the same transaction."""
        who = acting(actor)
        saved = self.saved_audit(ref)
        with self._write() as conn:
            conn.execute(update(runs).where(runs.c.saved_audit_id == saved.id)
                         .values(saved_audit_id=None))
            conn.execute(delete(schedules).where(schedules.c.saved_audit_id == saved.id))
            conn.execute(delete(saved_customers)
                         .where(saved_customers.c.saved_audit_id == saved.id))
            gone = conn.execute(delete(saved_audits).where(saved_audits.c.id == saved.id))
            if not gone.rowcount:  # removed by someone else meanwhile
                raise NoSuchSavedAuditError(f"saved audit {saved.id} is not in {self.where}")
            insert_event(conn, Event(who, SAVED_REMOVE, f"saved audit {saved.id}", {
                "name": saved.name, "customers": saved.customers,
                "schedules": saved.schedules}))
        return saved

"""The Audit trail page (admins): who did what, when, to which object - filtered by
time, action and actor, newest first.

Actors, objects and details come from users (e-mail addresses, run names, file names,
cron texts): they are shown as table cells (never Markdown), each cut to one line."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pandas as pd
import streamlit as st

from doku.engine import trail
from doku.engine.store import Store
from doku.engine.trail import TrailEntry
from ui.present import fmt_int, shorten

ALL = "All actions"
LIMIT = 1000
DETAIL_CHARS = 240
LABELS = {
    trail.SIGN_IN: "Sign-in", trail.LOOKUP: "Customer lookup",
    trail.AUDIT_START: "Audit started", trail.AUDIT_CANCEL: "Audit cancelled",
    trail.AUDIT_RESUME: "Audit resumed", trail.AUDIT_RETRY: "Failed customers retried",
    trail.REVEAL: "Token IDs revealed", trail.DOWNLOAD: "Download", trail.EXPORT: "Export",
    trail.RUN_DELETE: "Run deleted", trail.SAVED_ADD: "Saved audit added",
    trail.SAVED_REMOVE: "Saved audit removed", trail.SAVED_RUN: "Saved audit run",
    trail.SCHEDULE_ADD: "Schedule added", trail.SCHEDULE_REMOVE: "Schedule removed",
    trail.SCHEDULE_FIRE: "Schedule fired",
}
COLUMNS = {
    "at": st.column_config.TextColumn("When (UTC)", width="small"),
    "actor": st.column_config.TextColumn("Who"),
    "via": st.column_config.TextColumn("Via", width="small"),
    "role": st.column_config.TextColumn("Role", width="small"),
    "action": st.column_config.TextColumn("Action"),
    "object": st.column_config.TextColumn("Object"),
    "detail": st.column_config.TextColumn("Details", width="large"),
}


def action_label(action: str) -> str:
    return LABELS.get(action, action)


def since_iso(day: date | None) -> str | None:
    """The start of `day` (UTC) as the trail stores times; None: from the beginning."""
    if day is None:
        return None
    start = datetime.combine(day, time(0, 0), tzinfo=timezone.utc)
    return start.isoformat(timespec="seconds").replace("+00:00", "Z")


def detail_text(detail: dict[str, object]) -> str:
    """An entry's details on one line: "key: value · key: value" (empty values left
    out), cut to DETAIL_CHARS."""
    parts = [f"{k}: {v}" for k, v in detail.items() if v is not None and v != ""]
    return shorten(" · ".join(parts), DETAIL_CHARS)


def entries_frame(entries: list[TrailEntry]) -> pd.DataFrame:
    """The entries newest first, as the table shows them (plain one-line text)."""
    newest = list(reversed(entries))
    return pd.DataFrame({
        "at": [e.at.replace("T", " ").replace("Z", "") for e in newest],
        "actor": [shorten(e.actor) for e in newest],
        "via": [e.via for e in newest],
        "role": [e.role or "" for e in newest],
        "action": [action_label(e.action) for e in newest],
        "object": [shorten(e.object or "") for e in newest],
        "detail": [detail_text(e.detail) for e in newest],
    }, columns=list(COLUMNS))


def filters() -> tuple[str | None, str | None, str | None]:
    """(since, action, actor) from the filter row; None: no filter."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        day = st.date_input("Since (UTC)", value=None, key="trail_since", width=200,
                            help="Entries on or after this day; empty: all.")
        action = st.selectbox("Action", [ALL, *trail.ACTIONS], key="trail_action",
                              format_func=lambda a: a if a == ALL else action_label(a),
                              width=260)
        actor = st.text_input("Who", key="trail_actor", width=320, max_chars=200,
                              placeholder="an e-mail address or user, exactly")
    day = day if isinstance(day, date) else None
    return since_iso(day), None if action == ALL else action, actor.strip() or None


def section(store: Store) -> None:
    """The filtered entries, newest first (at most LIMIT)."""
    since, action, actor = filters()
    entries = store.trail(since=since, action=action, actor=actor, limit=LIMIT)
    if not entries:
        st.caption("No entries match." if since or action or actor else "No entries yet.")
        return
    st.dataframe(entries_frame(entries), hide_index=True, column_config=COLUMNS,
                 key="trail_table", height=520, alt="Audit trail entries, newest first")
    more = " (the newest; narrow the filters to see older ones)" if len(entries) == LIMIT else ""
    st.caption(f"{fmt_int(len(entries))} entries{more}. Entries are never changed or "
               "removed: the store refuses it.")

"""Saved audits page: save a customer list (pasted or uploaded, as on Bulk audit), list
the saved audits, run one now, schedule it (cron, UTC) and remove schedules or the
saved audit itself (confirmed; its runs stay).

Names, input file names, cron texts and who made them come from the analyst: as
Markdown they go through `escape_md`; in tables and pickers they are literal. Writes
happen in widget callbacks, which run before the page is drawn; a problem they meet
is kept in the session and shown on the page (`outcome`).

The page is for roles that include saved audits; each write asks `ui.auth` again and
passes the actor to the engine, which records it in the audit trail. "Keep raw token
IDs" is offered to admins only."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from doku.access import KEEP_RAW_IDS, SAVED, Actor
from doku.engine.audit_model import MAX_CONCURRENCY, AuditOptions
from doku.engine.firing import run_saved
from doku.engine.inputs import ParsedInput
from doku.engine.saved import SavedAudit
from doku.engine.schedules import check_cron, next_slot
from doku.engine.service import launch_run
from doku.engine.store import Store
from doku.errors import DokuError, NotAllowedError
from doku.models import TOKEN_TYPES
from doku.settings import Settings
from ui import auth, bulk_view, data
from ui.chrome import current_actor, show_error
from ui.input_widgets import InputWidgets
from ui.present import ALL_TYPES, ERROR_CHARS, escape_md, fmt_int, fmt_time, type_name
from ui.state import live_job

INPUT = "saved_input"  # session_state: the list being saved (a BulkInput)
PICK = "saved_pick"  # the saved audit picked to manage (its id)
CONFIRM = "saved_confirm_remove"  # the saved audit asked to be removed
STARTED = "saved_run_id"  # the run "Run now" started, shown in a run panel
OUTCOME = "saved_outcome"  # what the last callback did: ("ok" | "error", plain text)
ACTOR = "dashboard"  # single-user mode: created_by, unless DOKU_ACTOR says who
NAME_CHARS = 120
CRON_EXAMPLE = "0 2 1 * *"


def created_by(actor: Actor) -> str:
    """Who a saved audit or schedule is shown as made by: the signed-in user; in
    single-user mode DOKU_ACTOR or "dashboard", as before sign-in existed (the trail
    names the OS user)."""
    if actor.via == auth.OIDC:
        return actor.name
    return os.environ.get("DOKU_ACTOR", "").strip() or ACTOR


def _acting(*also: str) -> Actor | None:
    """The callback's actor if its role includes saved audits (and `also`); else the
    refusal is said on the page and None returned."""
    try:
        actor = auth.acting(SAVED)
        for action in also:
            actor.require(action)
    except NotAllowedError as exc:
        _said("error", str(exc))
        return None
    return actor


def _said(kind: str, text: str) -> None:
    """Keep what a callback did (plain text: it is escaped when shown)."""
    st.session_state[OUTCOME] = (kind, text)


def outcome() -> None:
    """Show (once) what the last callback did."""
    said = st.session_state.pop(OUTCOME, None)
    if said is None:
        return
    kind, text = said
    if kind == "ok":
        st.success(escape_md(text, ERROR_CHARS), icon=":material/check_circle:")
    else:
        st.error(escape_md(text, ERROR_CHARS), icon=":material/error:")


# -- the list to save -------------------------------------------------------------------------
WIDGETS = InputWidgets("saved", INPUT)
current_input = WIDGETS.current
on_paste = WIDGETS.on_paste
on_upload = WIDGETS.on_upload
on_sheet = WIDGETS.on_sheet
on_column = WIDGETS.on_column


def input_section() -> ParsedInput | None:
    """Parse the list if it changed, its sheet and ID column pickers, any problem and
    the preview (Bulk audit's); the parsed list when it can be saved."""
    current = current_input()
    if current.source is None:
        st.caption("Paste IDs or upload a file to see a preview here.")
        return None
    if current.needs_parse:
        with st.spinner(f"Reading {escape_md(current.source.name)}…"):
            for name, value in current.parse().items():
                st.session_state[f"saved_{name}"] = value
    if current.sheet_options:
        st.selectbox("Sheet", current.sheet_options, key="saved_sheet", on_change=on_sheet,
                     width=320)
    if current.column_options:
        st.selectbox("Customer ID column", current.column_options, index=None,
                     key="saved_column", on_change=on_column, width=320,
                     placeholder="Choose the column that holds customer IDs")
    if current.error:
        st.error(escape_md(current.error, ERROR_CHARS), title="This input cannot be used",
                 icon=":material/error:")
    if current.parsed is not None:
        bulk_view.preview(current.parsed)
    return current.parsed


def options_row() -> AuditOptions | None:
    """The options the saved audit's runs will use; None (with why) when not valid."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        choice = st.selectbox("Token type", [ALL_TYPES, *TOKEN_TYPES], key="saved_type",
                              format_func=lambda t: t if t == ALL_TYPES else type_name(t),
                              width=200)
        concurrency = st.number_input("Concurrency", value=8, step=1, key="saved_concurrency",
                                      width=160, help=f"Requests in flight at once, 1 to "
                                      f"{MAX_CONCURRENCY:d}.")
        rps = st.number_input("Requests/second (0 = no limit)", value=0.0, step=1.0,
                              format="%.1f", key="saved_rps", width=220)
        keep_ids = current_actor().allowed(KEEP_RAW_IDS) and st.checkbox(
            "Keep raw token IDs", key="saved_store_ids",
            help="By default only a fingerprint of each token is stored.")
    try:
        return AuditOptions(concurrency=int(concurrency), rps=float(rps) if rps else None,
                            token_type=None if choice == ALL_TYPES else choice,
                            store_token_ids=bool(keep_ids))
    except ValueError as exc:
        st.error(f"Option not valid: {escape_md(str(exc), ERROR_CHARS)}.",
                 icon=":material/error:")
        return None


def _save(store: Store, parsed: ParsedInput, options: AuditOptions) -> None:
    actor = _acting(KEEP_RAW_IDS) if options.store_token_ids else _acting()
    if actor is None:
        return
    kept = {k: v for k, v in options.to_dict().items() if k != "token_type"}
    try:
        saved_id = store.save_audit(parsed, st.session_state.get("saved_name") or "", kept,
                                    options.token_type, created_by(actor), actor=actor)
    except DokuError as exc:
        _said("error", str(exc))
        return
    saved = store.saved_audit(saved_id)
    st.session_state[PICK] = saved_id
    st.session_state["saved_name"] = ""
    _said("ok", f"Saved {saved.name}: {saved.customers:,} customers.")


def save_row(store: Store, parsed: ParsedInput | None, options: AuditOptions | None) -> None:
    """The name and the Save button (disabled until there is a list and valid options)."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.text_input("Name", key="saved_name", max_chars=NAME_CHARS, width=360,
                      placeholder="e.g. Monthly merchants")
        st.button("Save list", key="saved_save", type="primary", icon=":material/bookmark_add:",
                  disabled=parsed is None or options is None,
                  on_click=_save, args=(store, parsed, options))


# -- the saved audits -------------------------------------------------------------------------
def overview(saved: list[SavedAudit]) -> None:
    table = pd.DataFrame({
        "name": [s.name for s in saved],
        "customers": [s.customers for s in saved],
        "schedules": [s.schedules for s in saved],
        "last run": [s.last_run_id for s in saved],
        "last run at": [fmt_time(s.last_run_at) for s in saved],
        "input": [s.input_name for s in saved],
        "type": [type_name(s.token_type) if s.token_type else ALL_TYPES for s in saved],
        "created": [fmt_time(s.created_at) for s in saved],
        "by": [s.created_by or "" for s in saved],
    })
    st.dataframe(table, hide_index=True, key="saved_table", alt="Saved audits")


def pick(saved: list[SavedAudit]) -> SavedAudit:
    by_id = {s.id: s for s in saved}
    if st.session_state.get(PICK) not in by_id:
        st.session_state[PICK] = saved[0].id
    chosen = st.selectbox("Saved audit", list(by_id), key=PICK, width=480,
                          format_func=lambda i: f"{by_id[i].name} · {by_id[i].customers:,} "
                          "customers")
    return by_id[chosen]


def run_now(store: Store, saved: SavedAudit, settings: Settings | None) -> None:
    """Record a run of the list and launch it as Bulk audit does (one live run of this
    store at a time in this process)."""
    live = live_job(store)
    if live is not None:
        st.caption(f"Run #{live.run_id:d} is in progress: start another when it is done.")
    raw = bool(saved.options.get("store_token_ids"))
    refused = raw and not current_actor().allowed(KEEP_RAW_IDS)
    if refused:
        st.caption("This saved audit keeps raw token IDs: only an admin can run it.")
    if st.button("Run now", key="saved_run_now", type="primary", icon=":material/play_arrow:",
                 disabled=settings is None or live is not None or refused):
        assert settings is not None
        try:
            actor = auth.acting(SAVED)
            if raw:
                actor.require(KEEP_RAW_IDS)
            st.session_state[STARTED] = run_saved(store, saved.id, settings, launch=launch_run,
                                                  actor=actor)
        except DokuError as exc:
            show_error(exc)
            return
        data.forget_runs()
        st.rerun()
    if saved.last_run_id is not None:
        st.caption(f"Last run: #{saved.last_run_id:d}, {fmt_time(saved.last_run_at)}. Its runs "
                   "form a series: see the trend on the Runs page.")


def _remove_schedule(store: Store, schedule_id: int) -> None:
    actor = _acting()
    if actor is None:
        return
    try:
        store.remove_schedule(schedule_id, actor=actor)
    except DokuError as exc:
        _said("error", str(exc))


def _add_schedule(store: Store, saved_id: int) -> None:
    actor = _acting()
    if actor is None:
        return
    try:
        store.add_schedule(saved_id, st.session_state.get("saved_cron") or "",
                           created_by(actor), actor=actor)
    except DokuError as exc:
        _said("error", str(exc))
        return
    st.session_state["saved_cron"] = ""
    _said("ok", "Schedule added.")


def schedules_section(store: Store, saved: SavedAudit) -> None:
    """The saved audit's schedules (next and last slot, Remove) and a new one."""
    now = datetime.now(timezone.utc)
    for schedule in store.schedules(now=now, saved_id=saved.id):
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"**{escape_md(schedule.cron)}** (UTC) · next "
                        f"{fmt_time(schedule.next_slot)} · last fired "
                        f"{fmt_time(schedule.last_slot)} · by {escape_md(schedule.created_by)}")
            st.button("Remove", key=f"saved_unschedule_{schedule.id:d}",
                      icon=":material/event_busy:", on_click=_remove_schedule,
                      args=(store, schedule.id))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        cron = st.text_input("Cron (UTC)", key="saved_cron", width=240,
                             placeholder=CRON_EXAMPLE,
                             help="minute hour day-of-month month day-of-week, in UTC: "
                             f"{CRON_EXAMPLE} is 02:00 on the 1st of every month.")
        valid = _cron_note(cron, now)
        st.button("Add schedule", key="saved_add_schedule", icon=":material/event:",
                  disabled=not valid, on_click=_add_schedule, args=(store, saved.id))
    st.caption("Schedules fire by themselves on a PostgreSQL store with `doku worker`s; "
               "on SQLite a system cron runs `doku schedule fire`.")


def _cron_note(cron: str, now: datetime) -> bool:
    """Whether `cron` can be added, saying when it would first fire (or why not)."""
    if not cron.strip():
        return False
    try:
        clean = check_cron(cron)
    except DokuError as exc:
        st.caption(f":red[{escape_md(exc.message, ERROR_CHARS)}]")
        return False
    st.caption(f"Next: {fmt_time(next_slot(clean, now))}")
    return True


def _remove_saved(store: Store, saved_id: int) -> None:
    st.session_state.pop(CONFIRM, None)
    actor = _acting()
    if actor is None:
        return
    try:
        removed = store.remove_saved_audit(saved_id, actor=actor)
    except DokuError as exc:
        _said("error", str(exc))
        return
    st.session_state.pop(PICK, None)
    data.forget_runs()
    _said("ok", f"Removed {removed.name}; its runs stay.")


def remove_section(store: Store, saved: SavedAudit) -> None:
    """Remove… and its confirmation."""
    if st.button("Remove saved audit…", key="saved_remove", icon=":material/delete:"):
        st.session_state[CONFIRM] = saved.id
    if st.session_state.get(CONFIRM) != saved.id:
        return
    st.warning(f"Remove **{escape_md(saved.name)}**, its list and its {saved.schedules:,} "
               "schedule(s)? Its runs stay in the store.", icon=":material/delete_forever:")
    with st.container(horizontal=True):
        st.button("Yes, remove it", key="saved_remove_confirm", type="primary",
                  on_click=_remove_saved, args=(store, saved.id))
        st.button("Keep it", key="saved_remove_cancel",
                  on_click=lambda: st.session_state.pop(CONFIRM, None))


def details(saved: SavedAudit) -> None:
    by = f" by {escape_md(saved.created_by)}" if saved.created_by else ""
    st.caption(f"{fmt_int(saved.customers)} customers from {escape_md(saved.input_name)} · "
               f"saved {fmt_time(saved.created_at)}{by}")

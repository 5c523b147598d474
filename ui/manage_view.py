"""Runs page: manage one run - its name and note, archive, delete (confirmed), the
options it ran with, and its rejected input rows as a CSV download.

Name, note and archive are offered to roles that include auditing, delete to admins
(recorded in the audit trail by `Store.delete_run`); each callback checks again.

A run's name, note and options come from the analyst or a file: as Markdown they go
through `escape_md`; in tables, text inputs and downloads they are literal."""

from __future__ import annotations

import io
import json
from functools import partial

import pandas as pd
import streamlit as st

from doku.access import AUDIT, DELETE_RUN
from doku.analysis.exports import neutralise_formulas
from doku.analysis.labels import scope_label
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.errors import DokuError
from ui import auth, data
from ui.chrome import current_actor
from ui.downloads import deferred_bytes
from ui.present import escape_md
from ui.state import live_job
from ui.trail_events import download_detail, download_recorder

NAME_CHARS, NOTE_CHARS = 80, 2_000
CONFIRM = "runs_confirm_delete"


def options_frame(run: RunInfo) -> pd.DataFrame:
    """What the run asked for and how: type scope, environment, then its options."""
    rows = [("token type scope", scope_label(run.token_type)), ("environment", run.env)]
    rows += [(str(k), v if isinstance(v, str) else json.dumps(v))
             for k, v in sorted(run.options.items())]
    return pd.DataFrame(rows, columns=["option", "value"])


def rejects_csv(store: Store, run_id: int) -> bytes:
    """The run's rejected input rows (row, value, reason) as CSV, formulas neutralised."""
    rows = [(r.row, r.value, r.reason) for r in store.rejects(run_id)]
    frame = neutralise_formulas(pd.DataFrame(rows, columns=["row", "value", "reason"]))
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue().encode("utf-8")


def _save(store: Store, run_id: int) -> None:
    if auth.callback_actor(AUDIT) is None:
        return
    store.annotate_run(run_id, name=st.session_state.get(f"runs_name_{run_id:d}") or None,
                       note=st.session_state.get(f"runs_note_{run_id:d}") or None)
    data.forget_runs()
    st.toast(f"Run #{run_id:d} saved.", icon=":material/check:")


def _archive(store: Store, run: RunInfo) -> None:
    if auth.callback_actor(AUDIT) is None:
        return
    store.set_archived(run.id, not run.archived)
    data.forget_runs()


def _delete(store: Store, run_id: int) -> None:
    st.session_state.pop(CONFIRM, None)
    actor = auth.callback_actor(DELETE_RUN)
    if actor is None:
        return
    try:
        store.delete_run(run_id, actor=actor)
    except DokuError as exc:
        auth.keep_problem(exc)
        return
    data.forget_runs()
    st.toast(f"Run #{run_id:d} deleted.", icon=":material/delete:")


def manage(store: Store, run: RunInfo) -> None:
    """Name and note, archive, delete with a confirmation (each only for a role that
    includes it), options, rejected rows."""
    actor = current_actor()
    edits, deletes = actor.allowed(AUDIT), actor.allowed(DELETE_RUN)
    if edits:
        with st.form(f"runs_manage_{run.id:d}", border=False):
            st.text_input("Name", value=run.name or "", key=f"runs_name_{run.id:d}",
                          max_chars=NAME_CHARS, placeholder="e.g. Nov month-end")
            st.text_area("Note", value=run.note or "", key=f"runs_note_{run.id:d}",
                         max_chars=NOTE_CHARS, height=80)
            st.form_submit_button("Save name and note", key="runs_save",
                                  on_click=_save, args=(store, run.id))
    if run.note:
        st.caption("Note: " + escape_md(run.note, NOTE_CHARS))
    busy = live_job(store, run.id) is not None or run.status == "running"
    with st.container(horizontal=True, vertical_alignment="center"):
        if edits:
            st.button("Unarchive" if run.archived else "Archive", key="runs_archive",
                      icon=":material/archive:", on_click=_archive, args=(store, run),
                      help="Archived runs stay stored but leave pickers and trends.")
        if deletes and st.button("Delete…", key="runs_delete", icon=":material/delete:",
                                 disabled=busy,
                                 help="A running run cannot be deleted." if busy else None):
            st.session_state[CONFIRM] = run.id
        if run.rejected:
            record = download_recorder(f"run {run.id:d}", download_detail(
                "rejected input rows", "csv", rows=run.rejected))
            st.download_button(f"Rejected input rows ({run.rejected:,}) · CSV",
                               deferred_bytes(("rejects", store.key, run.id),
                                              partial(rejects_csv, store, run.id),
                                              before=record),
                               file_name=f"doku-run-{run.id:d}-rejected.csv",
                               mime="text/csv", key="runs_rejects", on_click="ignore",
                               icon=":material/download:")
    if deletes and st.session_state.get(CONFIRM) == run.id and not busy:
        st.warning(f"Delete run #{run.id:d} and all its results? This cannot be undone.",
                   icon=":material/delete_forever:")
        with st.container(horizontal=True):
            st.button(f"Yes, delete run #{run.id:d}", key="runs_delete_confirm",
                      type="primary", on_click=_delete, args=(store, run.id))
            st.button("Keep it", key="runs_delete_cancel",
                      on_click=lambda: st.session_state.pop(CONFIRM, None))
    st.markdown("**Options this run used**")
    st.dataframe(options_frame(run), hide_index=True, alt=f"Options of run {run.id}")

"""Saved audits: customer lists kept in the store, run again now or on a schedule."""

from __future__ import annotations

import streamlit as st

from ui import chrome, saved_view, state
from ui.bulk_input import UPLOAD_LIMIT_MB
from ui.present import PAGE_NEEDS, SAVED
from ui.run_panel import run_panel

settings = chrome.page_setup(
    "Saved audits",
    icon=":material/bookmarks:",
    intro="Keep a customer list under a name, then audit it again whenever you like or on "
    "a schedule. Its runs form a series: compare each period with the last on Runs.",
    needs=PAGE_NEEDS[SAVED],
)

with chrome.guard():
    store = state.get_store()
    saved_view.outcome()

    # -- 1. a new saved audit --
    with st.container(border=True):
        st.subheader(":material/bookmark_add: Save a customer list")
        paste_col, file_col = st.columns(2, gap="large")
        with paste_col:
            st.text_area("Paste customer IDs", key="saved_paste", height=140,
                         placeholder="One per line, or separated by commas, semicolons, "
                         "tabs or spaces", on_change=saved_view.on_paste)
        with file_col:
            st.file_uploader("Or upload a file", type=["csv", "tsv", "txt", "xlsx"],
                             key="saved_file", on_change=saved_view.on_upload,
                             max_upload_size=UPLOAD_LIMIT_MB,
                             help=f"CSV, TSV, text or Excel .xlsx, up to {UPLOAD_LIMIT_MB:d} "
                             "MB; other columns are kept as attributes.")
        parsed = saved_view.input_section()
        options = saved_view.options_row()
        saved_view.save_row(store, parsed, options)

    # -- 2. the saved audits --
    with st.container(border=True):
        st.subheader(":material/bookmarks: Saved audits")
        saved = store.saved_audits()
        if not saved:
            st.caption("No saved audits yet: save a customer list above.")
        else:
            saved_view.overview(saved)
            picked = saved_view.pick(saved)
            saved_view.details(picked)
            saved_view.run_now(store, picked, settings)
            st.markdown("**Schedules**")
            saved_view.schedules_section(store, picked)
            saved_view.remove_section(store, picked)

    # -- 3. the run just started --
    run_id = st.session_state.get(saved_view.STARTED)
    if run_id is not None and store.get_run(run_id) is not None:
        with st.container(border=True):
            st.subheader(":material/monitoring: Run")
            run_panel(store, run_id, settings, prefix="saved")

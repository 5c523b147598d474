"""Bulk audit: paste or upload customers, then fetch every customer's tokens in the background."""

from __future__ import annotations

import streamlit as st

from doku.access import AUDIT, KEEP_RAW_IDS
from ui import auth, bulk_view, chrome, state
from ui.bulk_input import UPLOAD_LIMIT_MB
from ui.present import BULK, PAGE_NEEDS
from ui.queue_view import queue_section
from ui.run_panel import run_panel

settings = chrome.page_setup(
    "Bulk audit",
    icon=":material/playlist_add_check:",
    intro="Fetch the stored tokens of many customers at once. The run keeps going in the "
    "background when you switch pages, and every result is saved as it arrives.",
    needs=PAGE_NEEDS[BULK],
)

with chrome.guard():
    settings = chrome.require_settings(settings)
    store = state.get_store()

    # -- 1. customers --
    with st.container(border=True):
        st.subheader(":material/group: 1. Customers")
        paste_col, file_col = st.columns(2, gap="large")
        with paste_col:
            st.text_area(
                "Paste customer IDs",
                key="bulk_paste",
                height=170,
                placeholder="One per line, or separated by commas, semicolons, tabs or spaces",
                on_change=bulk_view.on_paste,
                persist_state="session",
            )
        with file_col:
            st.file_uploader(
                "Or upload a file",
                type=["csv", "tsv", "txt", "xlsx"],
                key="bulk_file",
                on_change=bulk_view.on_upload,
                max_upload_size=UPLOAD_LIMIT_MB,
                help=f"CSV, TSV, text (one ID per line) or Excel .xlsx, up to "
                f"{UPLOAD_LIMIT_MB:d} MB. With a header row, "
                "the customer ID column is found by name (customer_id, id, …); other "
                "columns become attributes you can segment by in Insights.",
            )
            with st.container(horizontal=True, vertical_alignment="center"):
                st.button(
                    "Use the sample file",
                    key="bulk_sample",
                    icon=":material/dataset:",
                    on_click=bulk_view.on_sample,
                )
                st.caption("3,000 demo customers with region, plan and signup month.")
        parsed = bulk_view.input_section(bulk_view.current_input())

    # -- 2. options and start --
    live = state.live_job(store)
    one_at_a_time = live is not None and not state.queues(store)  # SQLite: no queue
    with st.container(border=True):
        st.subheader(":material/tune: 2. Options")
        options = bulk_view.options_row()
        if one_at_a_time and live is not None:
            st.caption(f"Run #{live.run_id:d} is in progress: start another when it is done.")
        start = st.button(
            "Start audit",
            key="bulk_start",
            type="primary",
            icon=":material/play_arrow:",
            disabled=parsed is None or options is None or one_at_a_time,
        )
        if start and parsed is not None and options is not None:
            actor = auth.acting(AUDIT)  # checked again: the page was offered to this role
            if options.store_token_ids:
                actor.require(KEEP_RAW_IDS)
            started, _ = state.launch_audit(store, parsed, settings, options, actor=actor)
            st.session_state["bulk_run_id"] = started
            st.rerun()

    # -- 3. the run --
    run_id = st.session_state.get("bulk_run_id")
    if run_id is None:  # e.g. after a reload: the run in progress, else the latest one
        run_id = live.run_id if live is not None else store.latest_run_id()
    if run_id is not None:
        with st.container(border=True):
            st.subheader(":material/monitoring: 3. Run")
            run_panel(store, run_id, settings, prefix="bulk")
    queue_section(store, in_expander=True)

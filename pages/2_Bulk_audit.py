"""Bulk audit: paste or upload customers, then fetch every customer's tokens in the background."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import ui
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import MAX_BYTES, AmbiguousColumnError, ParsedInput, parse_file, parse_text
from doku.errors import InvalidInputError
from doku.models import TOKEN_TYPES

PREVIEW_ROWS = 200
REJECT_ROWS = 1000
INPUT = "bulk_input"  # session_state: the current input, kept across page switches

settings = ui.page_setup(
    "Bulk audit",
    icon=":material/playlist_add_check:",
    intro="Fetch the stored tokens of many customers at once. The run keeps going in the "
    "background when you switch pages, and every result is saved as it arrives.",
)


# -- input callbacks: record what the analyst gave; the script parses it below ---------------
def _use_paste() -> None:
    text = st.session_state.get("bulk_paste") or ""
    current = st.session_state.get(INPUT)
    if text.strip():
        st.session_state[INPUT] = {"kind": "paste", "name": "pasted text", "text": text}
    elif current and current["kind"] == "paste":
        del st.session_state[INPUT]


def _use_file() -> None:
    uploaded = st.session_state.get("bulk_file")
    current = st.session_state.get(INPUT)
    if uploaded is not None:
        st.session_state[INPUT] = {
            "kind": "file", "name": uploaded.name, "data": uploaded.getvalue()
        }
    elif current and current["kind"] == "file":
        del st.session_state[INPUT]


def _use_sample() -> None:
    st.session_state[INPUT] = {
        "kind": "sample", "name": ui.SAMPLE_FILE.name, "data": ui.SAMPLE_FILE.read_bytes()
    }


def _use_column() -> None:
    current = st.session_state.get(INPUT)
    if current:
        current.update(column=st.session_state.get("bulk_column"), parsed=None, error=None)


def _use_sheet() -> None:
    current = st.session_state.get(INPUT)
    if current:
        current.update(sheet=st.session_state.get("bulk_sheet"), column=None, parsed=None,
                       error=None)


def _parse(current: dict[str, Any]) -> None:
    """Parse the current input once (results kept in session_state)."""
    try:
        if current["kind"] == "paste":
            parsed = parse_text(str(current["text"]))
        else:
            parsed = parse_file(
                current["data"],
                current["name"],
                column=current.get("column"),
                sheet=current.get("sheet"),
            )
    except AmbiguousColumnError as exc:
        current.update(parsed=None, error=exc.message, choose=exc.columns)
        st.session_state["bulk_column"] = None
        return
    except InvalidInputError as exc:
        current.update(parsed=None, error=exc.message, choose=None)
        return
    current.update(parsed=parsed, error=None, choose=None)
    if parsed.has_header and len(parsed.columns) > 1:
        st.session_state["bulk_column"] = parsed.id_column
    if len(parsed.sheets) > 1:
        st.session_state["bulk_sheet"] = parsed.sheet


with ui.guard():
    settings = ui.require_settings(settings)
    store = ui.get_store()

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
                on_change=_use_paste,
                persist_state="session",
            )
        with file_col:
            st.file_uploader(
                "Or upload a file",
                type=["csv", "tsv", "txt", "xlsx"],
                key="bulk_file",
                on_change=_use_file,
                max_upload_size=MAX_BYTES // (1024 * 1024),
                help="CSV, TSV, text (one ID per line) or Excel .xlsx. With a header row, "
                "the customer ID column is found by name (customer_id, id, …); other "
                "columns become attributes you can segment by in Insights.",
            )
            with st.container(horizontal=True, vertical_alignment="center"):
                st.button(
                    "Use the sample file",
                    key="bulk_sample",
                    icon=":material/dataset:",
                    on_click=_use_sample,
                )
                st.caption("3,000 demo customers with region, plan and signup month.")

        current = st.session_state.get(INPUT)
        parsed: ParsedInput | None = None
        if current is None:
            st.caption("Paste IDs, upload a file or use the sample file to see a preview here.")
        else:
            if current.get("parsed") is None and current.get("error") is None:
                with st.spinner(f"Reading {current['name']}…"):
                    _parse(current)
            parsed = current.get("parsed")
            sheets = parsed.sheets if parsed is not None else []
            if len(sheets) > 1:
                st.selectbox("Sheet", sheets, key="bulk_sheet", on_change=_use_sheet, width=320)
            columns = current.get("choose") or (
                parsed.columns if parsed is not None and parsed.has_header
                and len(parsed.columns) > 1 else None
            )
            if columns:
                st.selectbox(
                    "Customer ID column",
                    columns,
                    index=None,
                    key="bulk_column",
                    placeholder="Choose the column that holds customer IDs",
                    on_change=_use_column,
                    width=320,
                    help="The other columns become attributes to segment uptake by.",
                )
            if current.get("error"):
                if current.get("choose"):
                    st.warning(
                        f"{current['error']}. Choose the customer ID column above.",
                        icon=":material/view_column:",
                    )
                else:
                    st.error(
                        f"{current['error']}\n\nFix the input (or pick another file) and try "
                        "again.",
                        title="This input cannot be used",
                        icon=":material/error:",
                    )
            if parsed is not None:
                summary = parsed.summary()
                details = [f"**{parsed.source}**", f"{parsed.total_rows:,} rows"]
                if parsed.id_column:
                    details.append(f"ID column `{parsed.id_column}`")
                if parsed.attribute_columns:
                    details.append(
                        "attributes " + ", ".join(f"`{c}`" for c in parsed.attribute_columns)
                    )
                if parsed.sheet:
                    details.append(f"sheet `{parsed.sheet}`")
                st.markdown(" · ".join(details))
                with st.container(horizontal=True):
                    st.metric("Valid IDs", ui.fmt_int(summary["ids"]), border=True)
                    st.metric("Duplicates", ui.fmt_int(summary["duplicates"]), border=True,
                              help="Repeated IDs are audited once.")
                    st.metric("Rejected", ui.fmt_int(summary["rejected"]), border=True,
                              help="Rows whose ID cannot be sent to DOKU (see below).")
                    st.metric("Blank rows", ui.fmt_int(summary["blank_rows"]), border=True)
                preview = pd.DataFrame(
                    {"customer_id": parsed.ids[:PREVIEW_ROWS]}
                    | {c: v[:PREVIEW_ROWS] for c, v in parsed.attributes.items()}
                )
                ids_tab, rejects_tab = st.tabs(
                    [f"IDs ({len(parsed.ids):,})", f"Rejected rows ({len(parsed.rejected):,})"]
                )
                with ids_tab:
                    st.dataframe(preview, hide_index=True, height=240,
                                 alt="Preview of the customer IDs to audit")
                    if len(parsed.ids) > PREVIEW_ROWS:
                        st.caption(
                            f"Showing the first {PREVIEW_ROWS:,} of {len(parsed.ids):,} IDs."
                        )
                    if parsed.duplicate_ids:
                        st.caption(
                            "Duplicates, e.g. "
                            + ", ".join(f"`{d}`" for d in parsed.duplicate_ids[:10])
                        )
                with rejects_tab:
                    if parsed.rejected:
                        rejects = pd.DataFrame(
                            [(r.row, r.value, r.reason) for r in parsed.rejected[:REJECT_ROWS]],
                            columns=["row", "value", "reason"],
                        )
                        st.dataframe(
                            rejects,
                            hide_index=True,
                            column_config={
                                "row": st.column_config.NumberColumn("Row", format="%d"),
                                "value": st.column_config.TextColumn("Value"),
                                "reason": st.column_config.TextColumn("Reason", width="large"),
                            },
                            key="bulk_rejects",
                            alt="Rejected input rows and why",
                        )
                        if len(parsed.rejected) > REJECT_ROWS:
                            st.caption(
                                f"Showing the first {REJECT_ROWS:,} of "
                                f"{len(parsed.rejected):,} rejected rows; all are kept with "
                                "the run."
                            )
                    else:
                        st.caption("No rejected rows.")

    # -- 2. options and start --
    live = ui.live_job(store)
    with st.container(border=True):
        st.subheader(":material/tune: 2. Options")
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.selectbox("Token type", [ui.ALL_TYPES, *TOKEN_TYPES], key="bulk_type",
                         persist_state="session", width=200)
            st.number_input(
                "Concurrency", min_value=1, max_value=64, value=8, step=1,
                key="bulk_concurrency", persist_state="session", width=160,
                help="Requests in flight at once. 8 is safe; raise it only if DOKU allows.",
            )
            st.number_input(
                "Requests/second (0 = no limit)", min_value=0.0, max_value=1000.0, value=0.0,
                step=1.0, format="%.1f",
                key="bulk_rps", persist_state="session", width=220,
                help="Overall cap across all workers; 0 = unlimited. Rate-limit answers "
                "(429) always pause every worker.",
            )
            st.checkbox(
                "Keep raw token IDs", key="bulk_store_ids", persist_state="session",
                help="Token IDs are payment credentials. By default only a fingerprint is "
                "stored (enough to compare runs); tick this to store the IDs themselves.",
            )
        if live is not None:
            st.caption(f"Run #{live.run_id} is in progress: start another when it is done.")
        start = st.button(
            "Start audit",
            key="bulk_start",
            type="primary",
            icon=":material/play_arrow:",
            disabled=parsed is None or live is not None,
        )
        if start and parsed is not None:
            rps = float(st.session_state.get("bulk_rps") or 0.0)
            choice = st.session_state.get("bulk_type", ui.ALL_TYPES)
            options = AuditOptions(
                concurrency=int(st.session_state.get("bulk_concurrency") or 8),
                rps=rps if rps > 0 else None,
                token_type=None if choice == ui.ALL_TYPES else choice,
                store_token_ids=bool(st.session_state.get("bulk_store_ids")),
            )
            job = ui.launch_audit(store, parsed, settings, options)
            st.session_state["bulk_run_id"] = job.run_id
            st.rerun()

    # -- 3. the run --
    run_id = st.session_state.get("bulk_run_id")
    if run_id is None:  # e.g. after a reload: the run in progress, else the latest one
        run_id = live.run_id if live is not None else store.latest_run_id()
    if run_id is not None:
        with st.container(border=True):
            st.subheader(":material/monitoring: 3. Run")
            ui.run_panel(store, run_id, settings, prefix="bulk")

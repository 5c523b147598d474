"""Bulk audit: the session's `BulkInput` and the widget callbacks that feed it, the
input preview (counts, IDs, rejected rows) and the audit options.

File, sheet and column names, IDs and cell values are the analyst's file: in Markdown
(captions, messages, the spinner) they go through `escape_md`; the preview tables, the
sheet and column pickers' options show them literally."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.access import KEEP_RAW_IDS
from doku.engine.bulk import MAX_CONCURRENCY, AuditOptions
from doku.engine.inputs import ParsedInput
from doku.models import TOKEN_TYPES
from ui import columns
from ui.bulk_input import BulkInput
from ui.chrome import current_actor
from ui.input_widgets import InputWidgets
from ui.present import (
    ALL_TYPES,
    ERROR_CHARS,
    SAMPLE_FILE,
    escape_md,
    fmt_int,
    md_list,
    type_name,
)

INPUT = "bulk_input"  # session_state: the current input, kept across page switches
PREVIEW_ROWS = 200
PREVIEW_COLUMNS = 50  # attribute columns in the preview table (all are kept with the run)
REJECT_ROWS = 1000
DUPLICATES_SHOWN = 10
FLAGGED_SHOWN = 3


# -- the input and its callbacks (they record what the analyst gave; `input_section`
# -- parses it) ------------------------------------------------------------------------------
WIDGETS = InputWidgets("bulk", INPUT)
current_input = WIDGETS.current
on_paste = WIDGETS.on_paste
on_upload = WIDGETS.on_upload
on_sheet = WIDGETS.on_sheet
on_column = WIDGETS.on_column


def on_sample() -> None:
    current_input().use_sample(SAMPLE_FILE)


# -- what was given ----------------------------------------------------------------------------
def input_section(current: BulkInput) -> ParsedInput | None:
    """Parse the input if it changed, then its sheet and ID column pickers, any problem,
    and the preview. Returns the parsed input when it can be audited."""
    if current.source is None:
        st.caption("Paste IDs, upload a file or use the sample file to see a preview here.")
        return None
    if current.needs_parse:
        with st.spinner(f"Reading {escape_md(current.source.name)}…"):
            for name, value in current.parse().items():
                st.session_state[f"bulk_{name}"] = value
    if current.sheet_options:
        st.selectbox("Sheet", current.sheet_options, key="bulk_sheet", on_change=on_sheet,
                     width=320)
    if current.column_options:
        st.selectbox(
            "Customer ID column",
            current.column_options,
            index=None,
            key="bulk_column",
            placeholder="Choose the column that holds customer IDs",
            on_change=on_column,
            width=320,
            help="The other columns become attributes to segment uptake by.",
        )
    if current.error and current.ambiguous_columns:
        st.warning(f"{escape_md(current.error, ERROR_CHARS)}. Choose the customer ID column "
                   "above.", icon=":material/view_column:")
    elif current.error:
        st.error(f"{escape_md(current.error, ERROR_CHARS)}\n\nFix the input (or pick another "
                 "file) and try again.", title="This input cannot be used",
                 icon=":material/error:")
    if current.parsed is not None:
        preview(current.parsed)
    return current.parsed


def describe_input(parsed: ParsedInput) -> str:
    """Source, rows, ID column, attributes and sheet in one line (Markdown, names
    escaped; a long attribute list is cut and counted)."""
    details = [escape_md(parsed.source), f"{parsed.total_rows:,} rows"]
    if parsed.id_column:
        details.append(f"ID column {escape_md(parsed.id_column)}")
    if parsed.attribute_columns:
        details.append("attributes " + md_list(parsed.attribute_columns))
    if parsed.sheet:
        details.append(f"sheet {escape_md(parsed.sheet)}")
    return " · ".join(details)


def preview(parsed: ParsedInput) -> None:
    """Counts, the first IDs with their attributes, and the rejected rows with reasons."""
    summary = parsed.summary()
    st.markdown(describe_input(parsed))
    with st.container(horizontal=True):
        st.metric("Valid IDs", fmt_int(summary["ids"]), border=True)
        st.metric("Duplicates", fmt_int(summary["duplicates"]), border=True,
                  help="Repeated IDs are audited once.")
        st.metric("Rejected", fmt_int(summary["rejected"]), border=True,
                  help="Rows whose ID cannot be sent to DOKU (see below).")
        st.metric("Blank rows", fmt_int(summary["blank_rows"]), border=True)
    if parsed.flagged:
        st.warning(
            f"{len(parsed.flagged):,} ID{'' if len(parsed.flagged) == 1 else 's'} hold "
            "separators or spaces, e.g. "
            + md_list([f.value for f in parsed.flagged[:FLAGGED_SHOWN]], FLAGGED_SHOWN)
            + ". They are audited as they are; check they are not two IDs in one cell "
            "(tab Flagged IDs).", icon=":material/flag:")
    ids_tab, flagged_tab, rejects_tab = st.tabs(
        [f"IDs ({len(parsed.ids):,})", f"Flagged IDs ({len(parsed.flagged):,})",
         f"Rejected rows ({len(parsed.rejected):,})"]
    )
    with ids_tab:
        shown = parsed.attribute_columns[:PREVIEW_COLUMNS]
        table = pd.DataFrame(
            {"customer_id": parsed.ids[:PREVIEW_ROWS]}
            | {c: parsed.attributes[c][:PREVIEW_ROWS] for c in shown if c in parsed.attributes}
        )
        st.dataframe(table, hide_index=True, height=240,
                     alt="Preview of the customer IDs to audit")
        if len(parsed.ids) > PREVIEW_ROWS:
            st.caption(f"Showing the first {PREVIEW_ROWS:,} of {len(parsed.ids):,} IDs.")
        if len(parsed.attribute_columns) > PREVIEW_COLUMNS:
            st.caption(f"Showing {PREVIEW_COLUMNS:,} of {len(parsed.attribute_columns):,} "
                       "attribute columns; all are kept with the run.")
        if parsed.duplicate_ids:
            st.caption("Duplicates, e.g. "
                       + md_list(parsed.duplicate_ids[:DUPLICATES_SHOWN], DUPLICATES_SHOWN))
    with flagged_tab:
        _flagged(parsed)
    with rejects_tab:
        _rejects(parsed)


def _flagged(parsed: ParsedInput) -> None:
    if not parsed.flagged:
        st.caption("No ID holds a separator or a space.")
        return
    flagged = pd.DataFrame([(f.row, f.value, f.reason) for f in parsed.flagged[:REJECT_ROWS]],
                           columns=["row", "value", "reason"])
    st.dataframe(flagged, hide_index=True, column_config=columns.REJECTS, key="bulk_flagged",
                 alt="IDs holding separators or spaces, audited as they are")


def _rejects(parsed: ParsedInput) -> None:
    if not parsed.rejected:
        st.caption("No rejected rows.")
        return
    rejects = pd.DataFrame(
        [(r.row, r.value, r.reason) for r in parsed.rejected[:REJECT_ROWS]],
        columns=["row", "value", "reason"],
    )
    st.dataframe(rejects, hide_index=True, column_config=columns.REJECTS, key="bulk_rejects",
                 alt="Rejected input rows and why")
    if len(parsed.rejected) > REJECT_ROWS:
        st.caption(
            f"Showing the first {REJECT_ROWS:,} of {len(parsed.rejected):,} rejected rows; "
            "all are kept with the run."
        )


# -- how to audit -----------------------------------------------------------------------------
def options_row() -> AuditOptions | None:
    """Token type, concurrency, requests per second and raw-ID storage (kept for the
    session; offered to admins only), as the options of the next run; None (with a
    message naming the option) when one is not valid. The inputs have no browser-side
    bounds on purpose: an out-of-range value reaches here and blocks Start, instead of
    the browser silently keeping the last valid one."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        choice = st.selectbox("Token type", [ALL_TYPES, *TOKEN_TYPES], key="bulk_type",
                              format_func=lambda t: t if t == ALL_TYPES else type_name(t),
                              persist_state="session", width=200)
        concurrency = st.number_input(
            "Concurrency", value=8, step=1, key="bulk_concurrency",
            persist_state="session", width=160,
            help=f"Requests in flight at once, 1 to {MAX_CONCURRENCY:d}. 8 is safe; raise "
            "it only if DOKU allows.",
        )
        rps = st.number_input(
            "Requests/second (0 = no limit)", value=0.0, step=1.0, format="%.1f",
            key="bulk_rps", persist_state="session", width=220,
            help="Overall cap across all workers; 0 = unlimited. Rate-limit answers "
            "(429) always pause every worker.",
        )
        keep_ids = current_actor().allowed(KEEP_RAW_IDS) and st.checkbox(
            "Keep raw token IDs", key="bulk_store_ids", persist_state="session",
            help="Token IDs are payment credentials. By default only a fingerprint is "
            "stored (enough to compare runs); tick this to store the IDs themselves.",
        )
    try:
        return AuditOptions(
            concurrency=int(concurrency),
            rps=float(rps) if rps != 0 else None,
            token_type=None if choice == ALL_TYPES else choice,
            store_token_ids=bool(keep_ids),
        )
    except ValueError as exc:
        st.error(f"Option not valid: {escape_md(str(exc), ERROR_CHARS)}. Fix it to start.",
                 icon=":material/error:")
        return None

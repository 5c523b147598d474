"""Insights' chart cards (with their PNG/SVG downloads; a click on a bar or slice
filters the page, see `ui.insights_drill`), the uptake card, the token table and the
table downloads.

Issuers and brands come from DOKU and segment values from the analyst's file: in chart
text and table cells they are shown literally (Vega and the grid do not read Markdown);
in captions they go through `escape_md`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import streamlit as st
from streamlit import dataframe_util
from streamlit.util import calc_hash

from doku.analysis import chart_specs, charts, exports
from doku.analysis.aggregates import SMALL_GROUP
from doku.analysis.chart_specs import PICK, ChartSpec
from doku.analysis.filtering import apply_filters
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames
from ui import columns, data
from ui.downloads import deferred_bytes
from ui.insights_drill import BRAND, ISSUER, TYPE, Drill, chart_key, drill, on_pick, segment_drill
from ui.insights_view import BY_ISSUER, BY_TYPE, MAX_SEGMENT_ATTRIBUTES, TABLE_ROWS
from ui.keys import RunRef, filters_identity
from ui.present import escape_md, fmt_share, shorten, spelled
from ui.trail_events import download_detail, download_recorder


# -- charts -------------------------------------------------------------------------------------
def drawn(chart: ChartSpec) -> dict[str, Any]:
    """The spec as `st.altair_chart` sends an Altair chart: its data as Arrow bytes,
    named by their hash (new data, new name: the browser replaces the old)."""
    arrow = dataframe_util.convert_anything_to_arrow_bytes(chart.data)
    return chart.with_data(calc_hash(arrow), arrow)


def chart_file(render: Callable[[Any], Any], chart: ChartSpec) -> Any:
    """A chart's PNG or SVG (`render`: charts.chart_to_png or chart_to_svg)."""
    return render(charts.to_altair(chart))


def chart_card(
    name: str, chart: ChartSpec, alt: str, run: RunRef, filters: Filters, *,
    fixed: bool = False, variant: str = "", pick: Drill | None = None,
) -> None:
    """One chart (a `doku.analysis.chart_specs` spec, drawn as it is: no Altair
    objects are built on a rerun) with its PNG/SVG downloads (rendered only when
    clicked). `fixed`: the chart has its own size (the donut) instead of the
    container's width. The download bytes are keyed on the run, the filters,
    `variant` and the chart. `pick`: what a click on the chart (made with pick=True)
    filters."""
    stem = f"{run.name}-{name}"
    key = (run, filters_identity(filters), variant, name)
    width: Literal["content", "stretch"] = "content" if fixed else "stretch"
    with st.container(border=True, height="stretch"):
        if pick is None:
            st.vega_lite_chart(drawn(chart), theme=None, alt=alt,
                               key=f"insights_chart_{name}", width=width)
        else:
            widget = chart_key(name, key)
            st.vega_lite_chart(drawn(chart), theme=None, alt=alt, key=widget, width=width,
                               on_select=partial(on_pick, widget, pick),
                               selection_mode=PICK)
        with st.container(horizontal=True, horizontal_alignment="right"):
            for fmt, label, render, mime, icon in (
                    ("png", "PNG", charts.chart_to_png, "image/png", ":material/image:"),
                    ("svg", "SVG", charts.chart_to_svg, "image/svg+xml", ":material/draw:")):
                record = download_recorder(f"run {run.run_id:d}", download_detail(
                    f"chart {name}", fmt, filters=filters, variant=variant or None))
                st.download_button(
                    escape_md(label), deferred_bytes((*key, fmt),
                                                     partial(chart_file, render, chart),
                                                     before=record),
                    file_name=f"{stem}.{fmt}", mime=mime, key=f"insights_{fmt}_{name}",
                    icon=icon, type="tertiary", on_click="ignore",
                )


def chart_label(run: RunRef, filters: Filters) -> str:
    """What chart titles say about the data: the run, and whether it is filtered."""
    return f"run #{run.run_id:d}" + (" (filtered)" if filters.active else "")


def token_charts(run: RunRef, filters: Filters) -> None:
    """Tokens by issuer and type, by brand, by type, and customers by tokens held."""
    label = chart_label(run, filters)
    left, right = st.columns(2)
    with left:
        chart_card("issuers",
                   chart_specs.issuer_spec(data.issuer_by_type(run, filters), label,
                                           pick=True),
                   "Tokens by issuer, stacked by token type", run, filters,
                   pick=drill(run, ISSUER))
    with right:
        chart_card("brands",
                   chart_specs.brand_spec(data.by_brand(run, filters), label, pick=True),
                   "Tokens by card brand", run, filters, pick=drill(run, BRAND))
    left, right = st.columns([2, 3])
    with left:
        chart_card("types", chart_specs.type_spec(data.by_type(run, filters), label, pick=True),
                   "Tokens by type, direct debit versus credit card", run, filters, fixed=True,
                   pick=drill(run, TYPE))
    with right:
        distribution = data.tokens_per_customer(run, filters)
        chart_card("tokens_per_customer",
                   chart_specs.tokens_per_customer_spec(distribution, label),
                   "Fetched customers by number of tokens held", run, filters)


def uptake_card(
    run: RunRef, filters: Filters, by: str, overall: float | None, segments: list[str]
) -> None:
    """Uptake by token type, by issuer, or by a segment attribute (one of `segments`),
    with the overall average as a reference line; small segments are marked."""
    if by == BY_TYPE:
        uptake = data.uptake_by_type(run, filters)
    elif by == BY_ISSUER:
        uptake = data.uptake_by_issuer(run, filters)
    else:
        uptake = data.uptake_by_attribute(run, filters, by)
    segment = by.lower() if by in (BY_TYPE, BY_ISSUER) else shorten(by, 80)  # chart text
    chart = chart_specs.with_average(
        chart_specs.uptake_spec(uptake, segment, chart_label(run, filters), pick=True),
        overall)
    chart_card("uptake", chart, f"Token uptake by {shorten(by)}", run, filters, variant=by,
               pick=segment_drill(run, by, segments))
    notes = [] if overall is None else [
        f"Dashed line: the overall average, {fmt_share(overall)} of fetched customers."]
    small = int(uptake["small"].sum()) if "small" in uptake.columns else 0
    if small:
        notes.append(f"{small:,} group{'' if small == 1 else 's'} marked “small” "
                     f"{'has' if small == 1 else 'have'} fewer than {SMALL_GROUP:d} "
                     "customers: one customer moves the share a lot.")
    if notes:
        st.caption(" ".join(notes))


# -- tables --------------------------------------------------------------------------------------
def tokens_table(run: RunRef, filters: Filters) -> None:
    """The first TABLE_ROWS tokens, IDs masked, with the first MAX_SEGMENT_ATTRIBUTES
    attribute columns, and an honest caption."""
    view = data.counted(run, filters)
    head = data.first_tokens(run, filters, TABLE_ROWS)
    hidden = [a for a in view.attributes[MAX_SEGMENT_ATTRIBUTES:] if a in head.columns]
    table = spelled(head.drop(columns=["fingerprint", *hidden]))
    if "token_id" in table.columns:
        table = table.assign(token_id=exports.mask_ids(table["token_id"]))
    st.dataframe(table, hide_index=True, height=360, column_config=columns.RUN_TOKENS,
                 alt=f"Tokens of run {view.run.id}")
    shown, total = len(table), len(view.tokens)
    st.caption(
        f"Showing {shown:,} of {total:,} tokens"
        + (" (download the full table below)." if shown < total else ".")
        + (f" {len(hidden):,} more attribute columns are in the download." if hidden else "")
        + ("" if "token_id" in head.columns else
           " This run stored fingerprints only, not raw token IDs.")
    )


def export_view(frames: RunFrames, filters: Filters, what: str, fmt: str) -> bytes:
    """An export of the run `frames` narrowed to `filters`."""
    view = apply_filters(frames, filters) if filters.active else frames
    return exports.export_bytes(view, what, fmt)


def export_later(frames: Callable[[], RunFrames], filters: Filters, what: str,
                 fmt: str) -> bytes:
    """`export_view` of the frames `frames()` gives when the download is clicked."""
    return export_view(frames(), filters, what, fmt)


def downloads(run: RunRef, filters: Filters) -> None:
    """Tokens, customers and errors of `run` with `filters` as CSV and XLSX, made when
    clicked (token IDs masked); each click is recorded in the audit trail."""
    key = (run, filters_identity(filters))
    view = data.counted(run, filters)
    later = data.frames_later(run)
    sizes = {"tokens": len(view.tokens), "customers": len(view.customers),
             "errors": len(view.errors)}
    with st.container(horizontal=True):
        for what, title in (("tokens", "Tokens"), ("customers", "Customers"),
                            ("errors", "Errors")):
            for fmt in ("csv", "xlsx"):
                too_big = fmt == "xlsx" and sizes[what] > exports.XLSX_MAX_ROWS
                record = download_recorder(f"run {run.run_id:d}", download_detail(
                    what, fmt, rows=sizes[what], filters=filters,
                    token_ids="masked" if what == "tokens" else None))
                st.download_button(
                    f"{title} ({sizes[what]:,}) · {fmt.upper()}",
                    deferred_bytes((*key, what, fmt),
                                   partial(export_later, later, filters, what, fmt),
                                   before=record),
                    file_name=exports.file_name(view, what, fmt),
                    mime=exports.MIME_TYPES[fmt],
                    key=f"insights_dl_{what}_{fmt}",
                    on_click="ignore",
                    icon=":material/download:",
                    disabled=too_big,
                    help="Too many rows for one Excel sheet: use CSV." if too_big else None,
                )

"""Insights: the run picker's default, the filter widgets, the KPI row, chart cards
with their PNG/SVG downloads, the token table and the table downloads.

Attribute (column) names and values are the analyst's file, issuers and brands come
from DOKU: as widget labels and in captions they go through `escape_md`; as multiselect
options, placeholders, chart text and table cells they are shown literally."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

from doku.analysis import charts, exports
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames
from doku.models import TOKEN_TYPES
from ui import columns, data
from ui.downloads import deferred_bytes
from ui.keys import NO_FILTERS, RunRef, filters_identity, make_filters
from ui.present import TYPE_NAMES, escape_md, fmt_int, fmt_share, md_list, run_from_query, shorten

TABLE_ROWS = 2_000
MAX_SEGMENT_VALUES = 100  # attributes with more distinct values are not offered as segments
# Only the first this many attribute columns of an input are considered as filters and
# segments (one widget each); the others are still in the run and its exports.
MAX_SEGMENT_ATTRIBUTES = 20
BY_TYPE, BY_ISSUER = "Token type", "Issuer"


def default_run(run_ids: list[int]) -> None:
    """Open the run a link asked for, else the latest (`run_ids[0]`); keep the picked
    run while it exists."""
    if "insights_run" not in st.session_state:
        wanted = st.query_params.get("run")
        st.session_state["insights_run"] = run_from_query(wanted, run_ids, run_ids[0])
    elif st.session_state["insights_run"] not in run_ids:
        st.session_state["insights_run"] = run_ids[0]


def reset_filters() -> None:
    """Another run: its issuers, brands and segments differ."""
    for key in list(st.session_state):
        if str(key).startswith(("insights_filter_", "insights_by")):
            del st.session_state[key]


def segments_of(
    run: RunRef, attributes: tuple[str, ...]
) -> tuple[dict[str, list[str]], list[str], int]:
    """Of the first MAX_SEGMENT_ATTRIBUTES attributes, those with few enough values to
    filter and segment by (with their values) and those skipped for having too many;
    then how many attributes were left out unexamined."""
    segments: dict[str, list[str]] = {}
    skipped: list[str] = []
    for attr in attributes[:MAX_SEGMENT_ATTRIBUTES]:
        values = data.attribute_values(run, attr)
        if len(values) <= MAX_SEGMENT_VALUES:
            segments[attr] = values
        else:
            skipped.append(attr)
    return segments, skipped, max(len(attributes) - MAX_SEGMENT_ATTRIBUTES, 0)


def attribute_label(attr: str) -> str:
    """An attribute's name as a widget label (Markdown; never empty)."""
    return escape_md(attr) or "(unnamed column)"


def segments_note(skipped: list[str], left_out: int) -> str:
    """Which attributes are not offered as filters or segments, and why (Markdown)."""
    notes = []
    if skipped:
        notes.append(f"{md_list(skipped)} (more than {MAX_SEGMENT_VALUES:d} distinct values)")
    if left_out:
        notes.append(f"{left_out:,} more attribute column{'' if left_out == 1 else 's'} "
                     f"(only the first {MAX_SEGMENT_ATTRIBUTES:d} are offered)")
    return ("Not offered as filters or segments: " + "; ".join(notes)
            + ". Every column is kept in the run and its downloads.")


def filters_panel(run: RunRef, attributes: tuple[str, ...]) -> tuple[Filters, list[str]]:
    """The filter widgets (type, issuer, brand, one per segment attribute). Returns the
    canonical Filters chosen and the segment attributes."""
    issuers = data.by_issuer(run, NO_FILTERS)["issuer"].tolist()
    brands = data.by_brand(run, NO_FILTERS)["brand"].tolist()
    segments, skipped, left_out = segments_of(run, attributes)
    with st.container(border=True):
        st.markdown("**:material/filter_alt: Filters**")
        with st.container(horizontal=True):
            types = st.multiselect(
                "Token type", list(TOKEN_TYPES), key="insights_filter_type",
                format_func=lambda t: TYPE_NAMES.get(t, t), placeholder="All types", width=260,
            )
            chosen_issuers = st.multiselect("Issuer", issuers, key="insights_filter_issuer",
                                            placeholder="All issuers", width=260)
            chosen_brands = st.multiselect("Brand", brands, key="insights_filter_brand",
                                           placeholder="All brands", width=260)
            chosen = {
                attr: st.multiselect(attribute_label(attr), values,
                                     key=f"insights_filter_attr_{attr}",
                                     placeholder=f"All {shorten(attr, 60)} values", width=260)
                for attr, values in segments.items()
            }
        if skipped or left_out:
            st.caption(segments_note(skipped, left_out))
    return make_filters(types, chosen_issuers, chosen_brands, chosen), list(segments)


def kpis(summary: dict[str, Any]) -> None:
    with st.container(horizontal=True):
        st.metric("Customers audited", fmt_int(summary["customers"]), border=True,
                  help=f"{summary['fetched']:,} fetched, {summary['failed']:,} failed, "
                  f"{summary['pending']:,} pending.")
        st.metric("With ≥1 token", fmt_share(summary["uptake"]), border=True,
                  help=f"{summary['with_tokens']:,} of {summary['fetched']:,} fetched "
                  "customers. Failed and pending customers are not in the denominator.")
        st.metric("Tokens", fmt_int(summary["tokens"]), border=True)
        st.metric("Direct debit", fmt_int(summary["direct_debit"]), border=True,
                  help="Direct-debit tokens.")
        st.metric("Credit card", fmt_int(summary["credit_card"]), border=True,
                  help="Credit-card tokens.")
        st.metric("Failed customers", fmt_int(summary["failed"]), border=True,
                  help="No answer could be trusted for them; see the errors download, or "
                  "retry them on the Runs page.")


# -- charts -------------------------------------------------------------------------------------
def chart_card(
    name: str, chart: Any, alt: str, run: RunRef, filters: Filters, *,
    fixed: bool = False, variant: str = "",
) -> None:
    """One chart with its PNG/SVG downloads (rendered only when clicked). `fixed`: the
    chart has its own size (the donut) instead of the container's width. The download
    bytes are keyed on the run, the filters, `variant` and the chart."""
    stem = f"{run.name}-{name}"
    key = (run, filters_identity(filters), variant, name)
    with st.container(border=True, height="stretch"):
        st.altair_chart(chart, theme=None, alt=alt, key=f"insights_chart_{name}",
                        width="content" if fixed else "stretch")
        with st.container(horizontal=True, horizontal_alignment="right"):
            st.download_button(
                "PNG", deferred_bytes((*key, "png"), lambda: charts.chart_to_png(chart)),
                file_name=f"{stem}.png", mime="image/png",
                key=f"insights_png_{name}", on_click="ignore", icon=":material/image:",
                type="tertiary",
            )
            st.download_button(
                "SVG", deferred_bytes((*key, "svg"), lambda: charts.chart_to_svg(chart)),
                file_name=f"{stem}.svg", mime="image/svg+xml",
                key=f"insights_svg_{name}", on_click="ignore", icon=":material/draw:",
                type="tertiary",
            )


def chart_label(run: RunRef, filters: Filters) -> str:
    """What chart titles say about the data: the run, and whether it is filtered."""
    return f"run #{run.run_id:d}" + (" (filtered)" if filters.active else "")


def token_charts(run: RunRef, filters: Filters) -> None:
    """Tokens by issuer and type, by brand, by type, and customers by tokens held."""
    label = chart_label(run, filters)
    left, right = st.columns(2)
    with left:
        chart_card("issuers", charts.issuer_chart(data.issuer_by_type(run, filters), label),
                   "Tokens by issuer, stacked by token type", run, filters)
    with right:
        chart_card("brands", charts.brand_chart(data.by_brand(run, filters), label),
                   "Tokens by card brand", run, filters)
    left, right = st.columns([2, 3])
    with left:
        chart_card("types", charts.type_chart(data.by_type(run, filters), label),
                   "Tokens by type, direct debit versus credit card", run, filters, fixed=True)
    with right:
        distribution = data.tokens_per_customer(run, filters)
        chart_card("tokens_per_customer", charts.tokens_per_customer_chart(distribution, label),
                   "Fetched customers by number of tokens held", run, filters)


def uptake_card(run: RunRef, filters: Filters, by: str) -> None:
    """Uptake by token type, by issuer, or by a segment attribute."""
    if by == BY_TYPE:
        uptake = data.uptake_by_type(run, filters)
    elif by == BY_ISSUER:
        uptake = data.uptake_by_issuer(run, filters)
    else:
        uptake = data.uptake_by_attribute(run, filters, by)
    segment = by.lower() if by in (BY_TYPE, BY_ISSUER) else shorten(by, 80)  # chart text
    chart = charts.uptake_chart(uptake, segment, chart_label(run, filters))
    chart_card("uptake", chart, f"Token uptake by {shorten(by)}", run, filters, variant=by)


# -- tables --------------------------------------------------------------------------------------
def tokens_table(view: RunFrames) -> None:
    """The first TABLE_ROWS tokens, IDs masked, with the first MAX_SEGMENT_ATTRIBUTES
    attribute columns, and an honest caption."""
    hidden = [a for a in view.attributes[MAX_SEGMENT_ATTRIBUTES:] if a in view.tokens.columns]
    table = view.tokens.head(TABLE_ROWS).drop(columns=["fingerprint", *hidden])
    if "token_id" in table.columns:
        table = table.assign(token_id=exports.mask_ids(table["token_id"]))
    st.dataframe(table, hide_index=True, height=360, column_config=columns.RUN_TOKENS,
                 alt=f"Tokens of run {view.run.id}")
    shown, total = len(table), len(view.tokens)
    st.caption(
        f"Showing {shown:,} of {total:,} tokens"
        + (" (download the full table below)." if shown < total else ".")
        + (f" {len(hidden):,} more attribute columns are in the download." if hidden else "")
        + ("" if "token_id" in view.tokens.columns else
           " This run stored fingerprints only, not raw token IDs.")
    )


def downloads(run: RunRef, filters: Filters, view: RunFrames) -> None:
    """Tokens, customers and errors of `view` (`run` with `filters`) as CSV and XLSX,
    made when clicked."""
    key = (run, filters_identity(filters))
    sizes = {"tokens": len(view.tokens), "customers": len(view.customers),
             "errors": len(view.errors)}
    with st.container(horizontal=True):
        for what, title in (("tokens", "Tokens"), ("customers", "Customers"),
                            ("errors", "Errors")):
            for fmt in ("csv", "xlsx"):
                too_big = fmt == "xlsx" and sizes[what] > exports.XLSX_MAX_ROWS
                st.download_button(
                    f"{title} ({sizes[what]:,}) · {fmt.upper()}",
                    deferred_bytes((*key, what, fmt),
                                   partial(exports.export_bytes, view, what, fmt)),
                    file_name=exports.file_name(view, what, fmt),
                    mime=exports.MIME_TYPES[fmt],
                    key=f"insights_dl_{what}_{fmt}",
                    on_click="ignore",
                    icon=":material/download:",
                    disabled=too_big,
                    help="Too many rows for one Excel sheet: use CSV." if too_big else None,
                )

"""Insights: uptake, issuers, brands and segments of one run, with filters and downloads."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

import ui
from doku.analysis import charts, exports
from doku.analysis.filters import Filters
from doku.models import TOKEN_TYPES

TABLE_ROWS = 2_000
MAX_SEGMENT_VALUES = 100  # attributes with more distinct values are not offered as segments
TYPE_NAMES = {"DIRECT_DEBIT": "Direct debit", "CREDIT_CARD": "Credit card"}
BY_TYPE, BY_ISSUER = "Token type", "Issuer"

ui.page_setup(
    "Insights",
    icon=":material/insights:",
    intro="Who holds tokens, of which type, issuer and brand, and how uptake differs by "
    "customer segment. Filters apply to every figure, chart, table and download below.",
)


def _reset_filters() -> None:
    for key in list(st.session_state):
        if str(key).startswith(("insights_filter_", "insights_by")):
            del st.session_state[key]


def _chart_card(
    name: str, chart: Any, alt: str, key: tuple[Any, ...], *, fixed: bool = False
) -> None:
    """One chart with its PNG/SVG downloads (rendered only when clicked). `fixed`: the
    chart has its own size (the donut) instead of the container's width."""
    with st.container(border=True, height="stretch"):
        st.altair_chart(chart, theme=None, alt=alt, key=f"insights_chart_{name}",
                        width="content" if fixed else "stretch")
        with st.container(horizontal=True, horizontal_alignment="right"):
            st.download_button(
                "PNG", ui.deferred_bytes((*key, name, "png"), lambda: charts.chart_to_png(chart)),
                file_name=f"{key[1]}-{name}.png", mime="image/png",
                key=f"insights_png_{name}", on_click="ignore", icon=":material/image:",
                type="tertiary",
            )
            st.download_button(
                "SVG", ui.deferred_bytes((*key, name, "svg"), lambda: charts.chart_to_svg(chart)),
                file_name=f"{key[1]}-{name}.svg", mime="image/svg+xml",
                key=f"insights_svg_{name}", on_click="ignore", icon=":material/draw:",
                type="tertiary",
            )


with ui.guard():
    store = ui.get_store()
    runs = ui.require_runs(store)
    by_id = {r.id: r for r in runs}
    if "insights_run" not in st.session_state:  # latest, or the run a link asked for
        wanted = st.query_params.get("run")
        st.session_state["insights_run"] = (
            int(wanted) if wanted and wanted.isdigit() and int(wanted) in by_id else runs[0].id
        )
    elif st.session_state["insights_run"] not in by_id:
        st.session_state["insights_run"] = runs[0].id

    with st.container(horizontal=True, vertical_alignment="bottom"):
        run_id = st.selectbox(
            "Run",
            list(by_id),
            key="insights_run",
            format_func=lambda rid: ui.run_label(by_id[rid]),
            on_change=_reset_filters,
            width=560,
        )
        run = by_id[run_id]
        ui.status_badge(run.status)
    if run.status == "running":
        st.caption("This run is still running: these are the results so far (refreshed "
                   f"at most every {ui.RUNNING_REFRESH_S} s when you interact or reload).")

    frames = ui.run_frames(store, run)

    # -- filters -------------------------------------------------------------------------------
    issuers = ui.aggregate(store, run, frames, "by_issuer")["issuer"].tolist()
    brands = ui.aggregate(store, run, frames, "by_brand")["brand"].tolist()
    segments: dict[str, list[str]] = {}
    skipped: list[str] = []
    for attr in frames.attributes:
        values = ui.aggregate(store, run, frames, "attribute_values", attr)
        if len(values) <= MAX_SEGMENT_VALUES:
            segments[attr] = values
        else:
            skipped.append(attr)
    with st.container(border=True):
        st.markdown("**:material/filter_alt: Filters**")
        with st.container(horizontal=True):
            types = st.multiselect(
                "Token type", list(TOKEN_TYPES), key="insights_filter_type",
                format_func=lambda t: TYPE_NAMES.get(t, t), placeholder="All types",
                width=260,
            )
            chosen_issuers = st.multiselect(
                "Issuer", issuers, key="insights_filter_issuer", placeholder="All issuers",
                width=260,
            )
            chosen_brands = st.multiselect(
                "Brand", brands, key="insights_filter_brand", placeholder="All brands",
                width=260,
            )
            chosen_attrs = {
                attr: st.multiselect(
                    attr, values, key=f"insights_filter_attr_{attr}",
                    placeholder=f"All {attr} values", width=260,
                )
                for attr, values in segments.items()
            }
        if skipped:
            st.caption(
                "Not offered as filters or segments (more than "
                f"{MAX_SEGMENT_VALUES} distinct values): " + ", ".join(skipped)
            )
    filters = Filters(
        types=tuple(types), issuers=tuple(chosen_issuers), brands=tuple(chosen_brands),
        attributes={a: tuple(v) for a, v in chosen_attrs.items() if v},
    )
    view = ui.filtered_frames(store, run, frames, filters)
    fkey = ui.filters_key(filters)
    summary = ui.aggregate(store, run, view, "summary")
    if filters.active:
        st.caption(f"Filtered: {filters.describe()}. Token filters narrow each customer's "
                   "tokens, so uptake reads 'customers holding ≥1 matching token'.")

    # -- KPIs ----------------------------------------------------------------------------------
    with st.container(horizontal=True):
        st.metric("Customers audited", ui.fmt_int(summary["customers"]), border=True,
                  help=f"{summary['fetched']:,} fetched, {summary['failed']:,} failed, "
                  f"{summary['pending']:,} pending.")
        st.metric("With ≥1 token", ui.fmt_share(summary["uptake"]), border=True,
                  help=f"{summary['with_tokens']:,} of {summary['fetched']:,} fetched "
                  "customers. Failed and pending customers are not in the denominator.")
        st.metric("Tokens", ui.fmt_int(summary["tokens"]), border=True)
        st.metric("Direct debit", ui.fmt_int(summary["direct_debit"]), border=True,
                  help="Direct-debit tokens.")
        st.metric("Credit card", ui.fmt_int(summary["credit_card"]), border=True,
                  help="Credit-card tokens.")
        st.metric("Failed customers", ui.fmt_int(summary["failed"]), border=True,
                  help="No answer could be trusted for them; see the errors download, or "
                  "retry them on the Runs page.")

    # -- charts (from aggregates only: a few hundred rows at most) ------------------------------
    label = f"run #{run.id}" + (" (filtered)" if filters.active else "")
    key = (str(store.path), f"doku-run-{run.id}", ui.run_version(run), fkey)
    if summary["tokens"] == 0:
        st.warning("No tokens match: there is nothing to chart by issuer, brand or type.",
                   icon=":material/filter_alt_off:")
    else:
        left, right = st.columns(2)
        with left:
            _chart_card(
                "issuers",
                charts.issuer_chart(ui.aggregate(store, run, view, "issuer_by_type"), label),
                "Tokens by issuer, stacked by token type", key,
            )
        with right:
            _chart_card(
                "brands",
                charts.brand_chart(ui.aggregate(store, run, view, "by_brand"), label),
                "Tokens by card brand", key,
            )
        left, right = st.columns([2, 3])
        with left:
            _chart_card(
                "types", charts.type_chart(ui.aggregate(store, run, view, "by_type"), label),
                "Tokens by type, direct debit versus credit card", key, fixed=True,
            )
        with right:
            _chart_card(
                "tokens_per_customer",
                charts.tokens_per_customer_chart(
                    ui.aggregate(store, run, view, "tokens_per_customer"), label
                ),
                "Fetched customers by number of tokens held", key,
            )

    by_options = [*segments, BY_TYPE, BY_ISSUER]
    by = st.selectbox("Uptake by", by_options, key="insights_by", width=320,
                      help="Share of fetched customers holding at least one (matching) "
                      "token, per value.")
    if by == BY_TYPE:
        uptake = ui.aggregate(store, run, view, "uptake_by_type")
    elif by == BY_ISSUER:
        uptake = ui.aggregate(store, run, view, "uptake_by_issuer")
    else:
        uptake = ui.aggregate(store, run, view, "uptake_by_attribute", by)
    _chart_card(
        "uptake", charts.uptake_chart(uptake, by.lower() if by in (BY_TYPE, BY_ISSUER) else by,
                                      label),
        f"Token uptake by {by}", (*key, by),  # the segment is part of the PNG/SVG identity
    )

    # -- tokens table ----------------------------------------------------------------------------
    st.subheader(":material/table: Tokens")
    table = view.tokens.head(TABLE_ROWS).drop(columns=["fingerprint"])
    if "token_id" in table.columns:
        table = table.assign(token_id=exports.mask_ids(table["token_id"]))
    st.dataframe(
        table,
        hide_index=True,
        height=360,
        column_config={
            "customer_id": st.column_config.TextColumn("Customer ID", pinned=True),
            "customer_name": st.column_config.TextColumn("Name"),
            "type": st.column_config.TextColumn("Type"),
            "issuer": st.column_config.TextColumn("Issuer"),
            "brand": st.column_config.TextColumn("Brand"),
            "masked_card": st.column_config.TextColumn("Card"),
            "token_id": st.column_config.TextColumn(
                "Token ID (masked)", help="Token IDs are credentials: masked here and in exports."
            ),
        },
        alt=f"Tokens of run {run.id}",
    )
    shown, total = len(table), len(view.tokens)
    st.caption(
        f"Showing {shown:,} of {total:,} tokens"
        + (" (download the full table below)." if shown < total else ".")
        + ("" if "token_id" in view.tokens.columns else
           " This run stored fingerprints only, not raw token IDs.")
    )

    # -- downloads ---------------------------------------------------------------------------------
    st.subheader(":material/download: Downloads")
    st.caption("Full tables of this run with the filters above; token IDs are masked.")
    sizes = {"tokens": len(view.tokens), "customers": len(view.customers),
             "errors": len(view.errors)}
    with st.container(horizontal=True):
        for what, title in (("tokens", "Tokens"), ("customers", "Customers"),
                            ("errors", "Errors")):
            for fmt in ("csv", "xlsx"):
                too_big = fmt == "xlsx" and sizes[what] > exports.XLSX_MAX_ROWS
                st.download_button(
                    f"{title} ({sizes[what]:,}) · {fmt.upper()}",
                    ui.deferred_bytes(
                        (*key, what, fmt),
                        partial(exports.export_bytes, view, what, fmt),
                    ),
                    file_name=exports.file_name(view, what, fmt),
                    mime=exports.MIME_TYPES[fmt],
                    key=f"insights_dl_{what}_{fmt}",
                    on_click="ignore",
                    icon=":material/download:",
                    disabled=too_big,
                    help="Too many rows for one Excel sheet: use CSV." if too_big else None,
                )

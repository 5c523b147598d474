"""Insights: the run picker, the filter widgets (kept in the URL and its history by
`ui.links`), the KPI row and the link to this view. Charts, tables and downloads are
in `ui.insights_charts`.

Attribute (column) names and values are the analyst's file, issuers and brands come
from DOKU: as widget labels and in captions they go through `escape_md`; as multiselect
options, placeholders, chart text and table cells they are shown literally."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from doku.analysis.filters import Filters
from doku.engine.schema import RunInfo
from doku.models import CREDIT_CARD, DIRECT_DEBIT, TOKEN_TYPES
from ui import data, insights_series, links
from ui.chrome import run_status_badge
from ui.keys import FOLLOW_EVERY_S, NO_FILTERS, RunRef, make_filters, run_ref
from ui.present import (
    NOT_REQUESTED,
    escape_md,
    finished_note,
    fmt_int,
    fmt_share,
    in_scope,
    md_list,
    run_label,
    shorten,
    type_name,
)
from ui.state import store_for

TABLE_ROWS = 2_000
MAX_SEGMENT_VALUES = 100  # attributes with more distinct values are not offered as segments
# Only the first this many attribute columns of an input are considered as filters and
# segments (one widget each); the others are still in the run and its exports.
MAX_SEGMENT_ATTRIBUTES = 20
BY_TYPE, BY_ISSUER = "Token type", "Issuer"


RUN_KEY, BY_KEY, FILTER_PREFIX = "insights_run", "insights_by", "insights_filter_"
TYPE_KEY, ISSUER_KEY, BRAND_KEY = (f"{FILTER_PREFIX}{k}" for k in ("type", "issuer", "brand"))


def run_picker(runs: list[RunInfo]) -> RunInfo:
    """The run (not archived ones, unless every run is), in the URL; a run the link
    asks for that is not here is reported, and the latest run shown."""
    offered = [r for r in runs if not r.archived] or runs
    by_id = {r.id: r for r in offered}
    links.from_url(RUN_KEY, {run_label(r): r.id for r in offered}, "run")
    links.legacy_run(list(by_id), RUN_KEY)
    if RUN_KEY in st.session_state and st.session_state[RUN_KEY] not in by_id:
        st.session_state[RUN_KEY] = offered[0].id  # deleted or archived meanwhile
    with st.container(horizontal=True, vertical_alignment="bottom"):
        run_id = st.selectbox("Run", list(by_id), key=RUN_KEY, width=560,
                              format_func=lambda rid: run_label(by_id[rid]),
                              on_change=links.forget_notes)  # a link's notes go
        run = by_id[run_id]
        run_status_badge(run)
    links.drawn(RUN_KEY, [run_label(run)], default=run is offered[0])
    links.scope(run.id)  # the filters and "uptake by" below are this run's
    return run


def follow_running(ref: RunRef) -> None:
    """While the run is being written: every FOLLOW_EVERY_S, rerun the page if the run
    moved on (a newer version, every RUNNING_REFRESH_S, or it finished), so what it
    shows is never much older than that. Reads only the run's row, not its counts."""
    @st.fragment(run_every=FOLLOW_EVERY_S)
    def follow() -> None:
        current = store_for(ref.folder).get_run(ref.run_id, counted=False)
        if current is not None and run_ref(ref.folder, current) != ref:
            st.rerun()

    follow()


def attribute_keys(attributes: list[str]) -> dict[str, str]:
    """Widget key (= URL parameter) of each attribute filter: its name cut to letters,
    digits and "_" (a link stays readable and carries no markup), unique."""
    keys: dict[str, str] = {}
    for i, attr in enumerate(attributes):
        key = f"{FILTER_PREFIX}attr_{re.sub(r'[^A-Za-z0-9]+', '_', attr).strip('_')[:40]}"
        keys[attr] = key if key not in keys.values() else f"{key}_{i:d}"
    return keys


def uptake_by(segments: list[str]) -> str:
    """What uptake is broken down by, in the URL."""
    options = [*segments, BY_TYPE, BY_ISSUER]
    links.from_url(BY_KEY, {o: o for o in options}, "uptake by")
    by: str = st.selectbox("Uptake by", options, key=BY_KEY, width=320,
                           help="Share of fetched customers holding at least one "
                           "(matching) token, per value.")
    links.drawn(BY_KEY, [by], default=by == options[0])
    return by


def share() -> None:
    """The link to this view: the run always in it (a bare link follows newer runs)."""
    with st.expander("Link to this view", icon=":material/link:"):
        st.code(links.share_link(links.url_params(always=[RUN_KEY])), language=None,
                wrap_lines=True)
        st.caption("The link opens this run with these filters and this breakdown.")


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
    """An attribute's (or a filter's) name as a widget label (Markdown; never empty)."""
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


def url_multiselect(
    name: str, key: str, choices: dict[str, str], what: str, placeholder: str,
    format_func: Callable[[str], str] = str,
) -> list[str]:
    """A filter multiselect in the URL (`choices`: URL spelling -> option). `name`,
    `what` and `placeholder`: plain text (the label is `attribute_label(name)`)."""
    links.from_url(key, choices, what, many=True)
    chosen: list[str] = st.multiselect(attribute_label(name), list(choices.values()), key=key,
                                       width=260, format_func=format_func,
                                       placeholder=placeholder)
    spelling = {option: spelled for spelled, option in choices.items()}
    links.drawn(key, [spelling[c] for c in chosen], default=not chosen)
    return chosen


def filters_panel(run: RunRef, attributes: tuple[str, ...]) -> tuple[Filters, list[str]]:
    """The filter widgets (type, issuer, brand, one per segment attribute). Returns the
    canonical Filters chosen and the segment attributes."""
    issuers = data.by_issuer(run, NO_FILTERS)["issuer"].tolist()
    brands = data.by_brand(run, NO_FILTERS)["brand"].tolist()
    segments, skipped, left_out = segments_of(run, attributes)
    with st.container(border=True):
        st.markdown("**:material/filter_alt: Filters**")
        with st.container(horizontal=True):
            types = url_multiselect("Token type", TYPE_KEY, {type_name(t): t for t in TOKEN_TYPES},
                                    "token type", "All types", format_func=type_name)
            chosen_issuers = url_multiselect("Issuer", ISSUER_KEY, {i: i for i in issuers},
                                             "issuer", "All issuers")
            chosen_brands = url_multiselect("Brand", BRAND_KEY, {b: b for b in brands},
                                            "brand", "All brands")
            keys = attribute_keys(list(segments))
            chosen = {attr: url_multiselect(attr, keys[attr],
                                            {v: v for v in values},
                                            f"{shorten(attr, 60)} value",
                                            f"All {shorten(attr, 60)} values")
                      for attr, values in segments.items()}
        if skipped or left_out:
            st.caption(segments_note(skipped, left_out))
    return make_filters(types, chosen_issuers, chosen_brands, chosen), list(segments)


def type_count(summary: dict[str, Any], run: RunInfo, token_type: str, key: str) -> str:
    """A token type's count, or "not requested" when the run did not ask for it."""
    return fmt_int(summary[key]) if in_scope(run, token_type) else NOT_REQUESTED


def kpis(summary: dict[str, Any], run: RunInfo) -> None:
    running = run.status == "running"
    of = finished_note(summary["fetched"], summary["failed"], summary["pending"])
    with st.container(horizontal=True):
        st.metric("Customers audited", fmt_int(summary["customers"]), border=True,
                  help=f"{summary['fetched']:,} fetched, {summary['failed']:,} failed, "
                  f"{summary['pending']:,} pending.")
        st.metric("With ≥1 token", fmt_share(summary["uptake"]), border=True,
                  help=f"{summary['with_tokens']:,} of {summary['fetched']:,} fetched "
                  "customers. Failed and pending customers are not in the denominator.")
        st.metric("Tokens", fmt_int(summary["tokens"]), border=True)
        for token_type, key in ((DIRECT_DEBIT, "direct_debit"), (CREDIT_CARD, "credit_card")):
            label = escape_md(type_name(token_type))
            st.metric(label, type_count(summary, run, token_type, key), border=True,
                      help=f"{label} tokens." if in_scope(run, token_type)
                      else "This run did not ask DOKU for them.")
        st.metric("Failed customers", fmt_int(summary["failed"]), border=True,
                  help="No answer could be trusted for them; see the errors download, or "
                  "retry them on the Runs page.")
    if running and summary["pending"]:
        st.caption(f"Still running: figures count finished customers only ({of}).")
    insights_series.section(run)  # a saved audit's run: this period against the last

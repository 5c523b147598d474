"""Drill-down on Insights: clicking a bar, slice or segment of a chart filters the page
to it.

A pickable chart (`doku.analysis.charts`, `pick=True`) has a point selection named
PICK on its RAW value fields (issuer "(blank)", type "CREDIT_CARD", a segment value
without its " · small"), kept in the chart data beside the label it shows, so no label
is ever parsed back. Its `on_select` callback (`on_pick`) runs before the script,
while the filter widgets do not exist yet, and sets their session-state keys: the
filter widgets then show the pick, the URL follows them (`ui.links`), and clearing a
widget clears the filter. A value a widget does not offer (a token type DOKU added
later) is not set, and a toast says so."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from doku.analysis.charts import PICK
from doku.analysis.labels import type_label
from doku.models import TOKEN_TYPES
from ui import data
from ui.insights_view import (
    BRAND_KEY,
    BY_ISSUER,
    BY_TYPE,
    ISSUER_KEY,
    TYPE_KEY,
    attribute_keys,
)
from ui.keys import NO_FILTERS, RunRef
from ui.present import md_list

NOTE = ("Click a bar or a slice of a chart below to filter the whole page to it; "
        "clear it in the Filters panel above.")
ISSUER = {"issuer": ISSUER_KEY}
BRAND = {"brand": BRAND_KEY}
TYPE = {"type": TYPE_KEY}
MIX = {"type": TYPE_KEY, "issuer": ISSUER_KEY}


@dataclass(frozen=True)
class Drill:
    """What a pick on one chart sets: `targets` maps a selected data field to the
    filter widget key it sets; `options` holds the values each of those widgets offers."""

    targets: Mapping[str, str]
    options: Mapping[str, tuple[str, ...]]


def drill(run: RunRef, targets: Mapping[str, str], attribute: str | None = None) -> Drill:
    """The Drill of a chart of `run`: the options each target widget offers, from the
    same sources as the filter widgets (`insights_view.filters_panel`); `attribute`:
    the segment attribute behind an attribute key."""
    options: dict[str, tuple[str, ...]] = {}
    for key in targets.values():
        if key == TYPE_KEY:
            options[key] = tuple(TOKEN_TYPES)
        elif key == ISSUER_KEY:
            options[key] = tuple(data.by_issuer(run, NO_FILTERS)["issuer"])
        elif key == BRAND_KEY:
            options[key] = tuple(data.by_brand(run, NO_FILTERS)["brand"])
        elif attribute is not None:
            options[key] = tuple(data.attribute_values(run, attribute))
    return Drill(dict(targets), options)


def segment_drill(run: RunRef, by: str, segments: list[str]) -> Drill:
    """The Drill of the uptake chart broken down by `by`: a token type, an issuer or
    a value of segment attribute `by`."""
    if by == BY_TYPE:
        return drill(run, TYPE)
    if by == BY_ISSUER:
        return drill(run, ISSUER)
    return drill(run, {"value": attribute_keys(segments)[by]}, by)


def picked(selection: Any, field: str) -> list[str]:
    """The values of `field` in a point selection as Streamlit reports it: a list of
    {field: value} (one per clicked mark), or Vega's {field: [values]}; {} when the
    click cleared it."""
    if isinstance(selection, Mapping):
        raw = selection.get(field, [])
        values = raw if isinstance(raw, list) else [raw]
    elif isinstance(selection, list):
        values = [point.get(field) for point in selection if isinstance(point, Mapping)]
    else:
        values = []
    return list(dict.fromkeys(str(v) for v in values if v is not None))


def apply_pick(state: MutableMapping[Any, Any], chart_key: str, pick: Drill) -> list[str]:
    """Set each target filter of `pick` to the values clicked on chart `chart_key`
    (its event in `state`). Returns the clicked values no widget offers (not set).
    A click that selected nothing leaves the filters as they are."""
    event = state.get(chart_key)
    selection = event["selection"].get(PICK) if isinstance(event, Mapping) else None
    refused: list[str] = []
    for field, key in pick.targets.items():
        values = picked(selection, field)
        offered = set(pick.options.get(key, ()))
        usable = [v for v in values if v in offered]
        refused += [type_label(v) if key == TYPE_KEY else v for v in values if v not in offered]
        if usable:
            state[key] = usable
    return refused


def on_pick(chart_key: str, pick: Drill) -> None:
    """The `on_select` callback of a pickable chart."""
    refused = apply_pick(st.session_state, chart_key, pick)
    if refused:
        st.toast(f"Not a filter option, so not applied: {md_list(refused)}.",
                 icon=":material/filter_alt_off:")


def chart_key(name: str, identity: tuple[Any, ...]) -> str:
    """The widget key of chart `name` showing `identity` (run, filters, variant): a
    new key when the data change, so a new chart starts with no selection and a click
    on the bar picked before (filter cleared meanwhile) is a change again."""
    digest = hashlib.sha256(repr(identity).encode()).hexdigest()[:12]
    return f"insights_chart_{name}_{digest}"


def note() -> None:
    st.caption(NOTE)

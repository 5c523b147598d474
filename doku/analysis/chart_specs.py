"""The Insights charts as Vega-Lite specs written as plain dicts (`ChartSpec`): what
`doku.analysis.charts` turns into Altair charts (files, reports) and what a page
draws as it is.

Why dicts: building the same chart with Altair's objects (encodings, layers, params,
a theme) costs 15-30 ms a chart in copies and schema checks, on every rerun of a page
that shows eight of them; a dict costs well under a millisecond. The spec is exactly
the one Altair makes of the same chart (`tests/test_charts.py` validates every
builder's output against the Vega-Lite schema through Altair).

A spec holds no data: its one dataset is `ChartSpec.data`, the aggregate (a few
hundred rows at most) with the columns the marks read, and the spec names it
`DATA`. Theme, palette and reading rules: see `doku.analysis.charts`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from doku.analysis.labels import type_label
from doku.models import CREDIT_CARD, DIRECT_DEBIT

SCHEMA_URL = "https://vega.github.io/schema/vega-lite/v6.4.1.json"  # = altair.SCHEMA_URL
DATA = "data"  # the name of a spec's one dataset, before a page or a file names it
VIEW = "view_1"  # the name of the layer a pick selects on
# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
TYPE_LABELS = {DIRECT_DEBIT: "Direct debit", CREDIT_CARD: "Credit card"}
TYPE_COLORS = {DIRECT_DEBIT: OKABE_ITO["blue"], CREDIT_CARD: OKABE_ITO["orange"]}
UPTAKE_COLOR = OKABE_ITO["bluish_green"]
COUNT_COLOR = OKABE_ITO["sky_blue"]
TOKENS_COLOR = OKABE_ITO["vermillion"]
EXCLUDED_NOTE = "Failed and pending customers are excluded from every denominator."
FONT = "Helvetica, Arial, sans-serif"
TEXT_COLOR = "#333333"
PICK = "pick"  # the point-selection parameter of a chart made with pick=True
SMALL_MARK = " · small"  # after a segment value of fewer than SMALL_GROUP customers
# Shares printed on marks are formatted by Vega, as the tooltips, tables and
# downloads in the browser round them (a Python "%" rounds a tie the other way).
SHARE_FORMAT = ".1%"
_KINDS = {"N": "nominal", "Q": "quantitative"}


def theme_config() -> dict[str, Any]:
    """The one chart theme, as a Vega-Lite config object."""
    return {
        "font": FONT,
        "background": "white",
        "view": {"stroke": None},
        "title": {"anchor": "start", "fontSize": 15, "subtitleFontSize": 12,
                  "subtitleColor": "#555555", "offset": 10},
        "axis": {"labelFontSize": 12, "titleFontSize": 12, "gridColor": "#e6e6e6",
                 "domainColor": "#888888", "tickColor": "#888888", "labelLimit": 220},
        "legend": {"orient": "bottom", "labelFontSize": 12, "titleFontSize": 12},
        "range": {"category": list(OKABE_ITO.values())},
        "bar": {"cornerRadiusEnd": 2},
    }


@dataclass(frozen=True)
class ChartSpec:
    """A Vega-Lite spec whose data is the dataset named DATA, and that dataset."""

    spec: dict[str, Any]
    data: pd.DataFrame

    def with_data(self, name: str, values: Any) -> dict[str, Any]:
        """A new top-level spec (the nested parts shared) with the data as dataset
        `name` holding `values` (the frame, its records or its bytes)."""
        return {**self.spec, "data": {"name": name}, "datasets": {name: values}}

    def copied(self) -> ChartSpec:
        """A copy whose spec can be changed (the data frame shared: read-only)."""
        return ChartSpec(copy.deepcopy(self.spec), self.data)


# -- building blocks --------------------------------------------------------------------
def field(shorthand: str, **extra: Any) -> dict[str, Any]:
    """An encoding of a field ("issuer:N", "tokens:Q") as Altair spells it."""
    name, kind = shorthand.split(":")
    return {"field": name, "type": _KINDS[kind], **extra}


def tip(shorthand: str, title: str, fmt: str | None = None) -> dict[str, Any]:
    return field(shorthand, title=title) if fmt is None else field(shorthand, title=title,
                                                                   format=fmt)


def count_axis() -> dict[str, Any]:
    return {"format": ",d", "tickMinStep": 1}  # counts are whole numbers


def share_axis() -> dict[str, Any]:
    return {"format": "%"}


def type_scale() -> dict[str, Any]:
    return {"domain": [TYPE_LABELS[DIRECT_DEBIT], TYPE_LABELS[CREDIT_CARD]],
            "range": [TYPE_COLORS[DIRECT_DEBIT], TYPE_COLORS[CREDIT_CARD]]}


def title(text: str, run_label: str, subtitle: str | None = None) -> dict[str, Any]:
    full = f"{text} — {run_label}" if run_label else text
    return {"text": full} if not subtitle else {"text": full, "subtitle": subtitle}


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain object/float columns so the data hold exactly the aggregate's values."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            out[col].dtype
        ):
            out[col] = out[col].astype(object)
    return out.reset_index(drop=True)


def type_labels(values: pd.Series) -> list[str]:
    return [type_label(str(v)) for v in values]


def top_level(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with what every chart has at its top: the data, the theme, the schema."""
    return {"data": {"name": DATA}, **spec, "config": theme_config(), "$schema": SCHEMA_URL}


def layered(data: pd.DataFrame, marks: Sequence[dict[str, Any]], fields: list[str],
            pick: bool, **top: Any) -> ChartSpec:
    """A layer chart of `marks` (each {"mark", "encoding", ...}) over one dataset. With
    `pick`, the first layer carries the PICK point selection on `fields`, and a
    pointer cursor."""
    layers = [dict(m) for m in marks]
    spec: dict[str, Any] = {"layer": layers, **top}
    if pick:
        layers[0]["mark"] = {**layers[0]["mark"], "cursor": "pointer"}
        layers[0]["name"] = VIEW
        spec["params"] = [{"name": PICK, "select": {"type": "point", "fields": fields},
                           "views": [VIEW]}]
    return ChartSpec(top_level(spec), data)


def bar_text(**extra: Any) -> dict[str, Any]:
    """The text mark printed at the end of a horizontal bar."""
    return {"type": "text", "align": "left", "dx": 4, "color": TEXT_COLOR, **extra}


def bar(**extra: Any) -> dict[str, Any]:
    return {"type": "bar", **extra}


# -- the charts -------------------------------------------------------------------------
def issuer_spec(issuer_type: pd.DataFrame, run_label: str, *, pick: bool = False) -> ChartSpec:
    """Tokens per issuer stacked by type, each issuer's share of all tokens printed at
    the end of its bar (input: aggregates.issuer_by_type). Picks: issuer."""
    data = plain(issuer_type)
    data["type_label"] = type_labels(data["type"])
    totals = data.groupby("issuer", sort=False)["tokens"].transform("sum")
    data["issuer_tokens"] = totals.astype("int64")
    total = int(data["tokens"].sum())
    data["issuer_share"] = data["issuer_tokens"] / total if total else 0.0
    data["first_of_issuer"] = ~data["issuer"].duplicated()  # one text per issuer
    order = list(dict.fromkeys(data["issuer"]))
    base = {
        "y": field("issuer:N", sort=order, title="Issuer"),
        "tooltip": [
            tip("issuer:N", "Issuer"),
            tip("type_label:N", "Type"),
            tip("tokens:Q", "Tokens", ","),
            tip("issuer_tokens:Q", "Issuer total", ","),
            tip("issuer_share:Q", "Issuer share of tokens", ".1%"),
        ],
    }
    bars = {"mark": bar(), "encoding": {
        **base,
        "x": field("tokens:Q", stack="zero", title="Tokens", axis=count_axis()),
        "color": field("type_label:N", scale=type_scale(), title="Token type"),
        "order": field("type_label:N", sort="descending"),
    }}
    text = {"mark": bar_text(), "encoding": {
        **base, "x": field("issuer_tokens:Q"),
        "text": field("issuer_share:Q", format=SHARE_FORMAT),
    }, "transform": [{"filter": "datum.first_of_issuer"}]}
    return layered(data, [bars, text], ["issuer"], pick,
                   title=title("Tokens by issuer and type", run_label,
                               "Count of tokens held by fetched customers; share of all "
                               "tokens"),
                   height={"step": 22}, width="container")


def brand_spec(
    brands: pd.DataFrame, run_label: str, *, pick: bool = False,
    title_text: str = "Tokens by card brand",
    subtitle: str = "Direct debit has no brand and is counted as its own category",
) -> ChartSpec:
    """Tokens per brand with each brand's share of them printed (input:
    aggregates.by_brand; direct debit is its own bar). Picks: brand."""
    data = plain(brands)
    data["type_label"] = type_labels(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    base = {
        "y": field("brand:N", sort=list(data["brand"]), title="Brand"),
        "x": field("tokens:Q", title="Tokens", axis=count_axis()),
        "tooltip": [
            tip("brand:N", "Brand"),
            tip("tokens:Q", "Tokens", ","),
            tip("share:Q", "Share of tokens", ".1%"),
        ],
    }
    color = field("type_label:N", scale=type_scale(), title="Token type")
    if data["type"].nunique() <= 1:  # e.g. credit cards only: no legend needed
        color["legend"] = None
    bars = {"mark": bar(), "encoding": {**base, "color": color}}
    text = {"mark": bar_text(), "encoding": {
        **base, "text": field("share:Q", format=SHARE_FORMAT)}}
    return layered(data, [bars, text], ["brand"], pick,
                   title=title(title_text, run_label, subtitle),
                   height={"step": 22}, width="container")


def type_spec(types: pd.DataFrame, run_label: str, *, pick: bool = False) -> ChartSpec:
    """Donut of tokens per type, each type's share printed beside its slice (input:
    aggregates.by_type). Picks: type (the raw type, e.g. "CREDIT_CARD")."""
    data = plain(types)
    data["type_label"] = type_labels(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    # Arcs and texts stack in the same order (same colour field, same `order`).
    base = {
        "theta": field("tokens:Q", stack=True),
        "color": field("type_label:N", scale=type_scale(), title="Token type"),
        "order": field("type_label:N"),
        "tooltip": [
            tip("type_label:N", "Type"),
            tip("tokens:Q", "Tokens", ","),
            tip("share:Q", "Share of tokens", ".1%"),
        ],
    }
    arcs = {"mark": {"type": "arc", "innerRadius": 55, "outerRadius": 100},
            "encoding": base}
    text = {"mark": {"type": "text", "radius": 122, "fontWeight": "bold"},
            "encoding": {**base, "text": field("share:Q", format=SHARE_FORMAT)},
            "transform": [{"filter": "(datum.tokens > 0)"}]}
    return layered(data, [arcs, text], ["type"], pick,
                   title=title("Tokens by type", run_label, f"{total:,} tokens"),
                   width=280, height=270,
                   # padded, not fitted: a fixed-size donut keeps its title and legend
                   autosize={"type": "pad", "contains": "padding"})


def uptake_spec(uptake: pd.DataFrame, segment: str, run_label: str, *,
                pick: bool = False) -> ChartSpec:
    """Uptake per segment value with counts (input: an aggregates.uptake_by_* frame;
    its first column holds the segment values). Bars show the share; the text and
    tooltip give holders / fetched, so no share is shown without its counts. Values
    of small groups (a True `small` column) read " · small". Picks: the first column
    (raw: "CREDIT_CARD", "(blank)", a segment value without its " · small")."""
    label = str(uptake.columns[0])
    data = plain(uptake)
    data["text"] = [
        f"{u:.1%} ({w:,}/{f:,})" if f else "n/a (0 fetched)"
        for u, w, f in zip(data["uptake"], data["with_tokens"], data["fetched"], strict=True)
    ]
    data["text_x"] = data["uptake"].fillna(0.0)
    # bars are named by `segment_value` (token types get their readable names)
    names = type_labels(data[label]) if label == "type" else [str(v) for v in data[label]]
    small = data["small"].tolist() if "small" in data.columns else [False] * len(data)
    data["segment_value"] = [f"{n}{SMALL_MARK}" if s else n
                             for n, s in zip(names, small, strict=True)]
    tooltip = [
        tip("segment_value:N", segment),
        tip("uptake:Q", "Uptake", ".1%"),
        tip("with_tokens:Q", "Customers with token(s)", ","),
        tip("fetched:Q", "Fetched customers", ","),
    ]
    for extra, name in (("failed", "Failed (excluded)"), ("pending", "Pending (excluded)")):
        if extra in data.columns:
            tooltip.append(tip(f"{extra}:Q", name, ","))
    base = {
        "y": field("segment_value:N", sort=list(data["segment_value"]), title=segment),
        "x": field("uptake:Q", title="Share of fetched customers with ≥1 token",
                   axis=share_axis(), scale={"domain": [0, 1]}),
        "tooltip": tooltip,
    }
    bars = {"mark": bar(color=UPTAKE_COLOR), "encoding": base}
    text = {"mark": bar_text(), "encoding": {
        **base, "x": field("text_x:Q"), "text": field("text:N")}}
    return layered(data, [bars, text], [label], pick,
                   title=title(f"Token uptake by {segment}", run_label, EXCLUDED_NOTE),
                   height={"step": 24}, width="container")


def with_average(chart: ChartSpec, overall: float | None) -> ChartSpec:
    """A layered chart with a dashed line at the overall average `overall` (every
    segment together; the data stay the chart's own, one dataset); None: unchanged."""
    if overall is None:
        return chart
    rule = {"mark": {"type": "rule", "strokeDash": [4, 4], "color": "#444444",
                     "strokeWidth": 1.5},
            "encoding": {"x": {"datum": overall}}}
    return ChartSpec({**chart.spec, "layer": [*chart.spec["layer"], rule]}, chart.data)


# "27.5% · +0.2 pp"; the share alone when there is no change (NaN arrives as null)
MIX_TEXT = (f"format(datum.token_share, '{SHARE_FORMAT}') + "
            "(isValid(datum.token_share_change_pp) && isFinite(datum.token_share_change_pp)"
            " ? ' · ' + format(datum.token_share_change_pp, '+.1f') + ' pp' : '')")


def issuer_mix_spec(mix: pd.DataFrame, token_type: str, run_label: str, compared: str, *,
                    pick: bool = False) -> ChartSpec:
    """Each issuer's share of ONE type's tokens, the share and its change in points
    printed on the bar (input: the rows of one type of mix.issuer_mix). `compared`:
    what the change is against ("change in points vs run #11", or why there is none).
    Picks: type and issuer."""
    data = plain(mix)
    name = type_label(token_type)
    base = {
        "y": field("issuer:N", sort=list(data["issuer"]), title="Issuer"),
        "x": field("token_share:Q", title=f"Share of {name.lower()} tokens",
                   axis=share_axis(), scale={"domain": [0, 1]}),
        "tooltip": [
            tip("issuer:N", "Issuer"),
            tip("tokens:Q", "Tokens", ","),
            tip("token_share:Q", "Share of the type's tokens", ".1%"),
            tip("token_share_change_pp:Q", "Change (points)", "+.1f"),
            tip("holders:Q", "Customers holding one", ","),
            tip("holder_share:Q", "Share of the type's holders", ".1%"),
            tip("holder_share_change_pp:Q", "Change (points)", "+.1f"),
        ],
    }
    bars = {"mark": bar(color=TYPE_COLORS.get(token_type, COUNT_COLOR)), "encoding": base}
    text = {"mark": bar_text(), "encoding": {**base, "text": field("text:N")},
            "transform": [{"calculate": MIX_TEXT, "as": "text"}]}
    return layered(data, [bars, text], ["type", "issuer"], pick,
                   title=title(f"{name} issuer mix", run_label,
                               f"Share of the type's tokens; {compared}"),
                   height={"step": 22}, width="container")


def tokens_per_customer_spec(distribution: pd.DataFrame, run_label: str) -> ChartSpec:
    """Histogram of tokens held per fetched customer (input:
    aggregates.tokens_per_customer)."""
    data = plain(distribution)
    return ChartSpec(top_level({
        "mark": bar(color=COUNT_COLOR),
        "encoding": {
            "x": field("tokens:N", sort=list(data["tokens"]), title="Tokens held",
                       axis={"labelAngle": 0}),
            "y": field("customers:Q", title="Fetched customers", axis=count_axis()),
            "tooltip": [
                tip("tokens:N", "Tokens held"),
                tip("customers:Q", "Customers", ","),
                tip("share:Q", "Share of fetched", ".1%"),
                tip("tokens_held:Q", "Tokens in this group", ","),
            ],
        },
        "title": title("Fetched customers by number of tokens held", run_label,
                       EXCLUDED_NOTE),
        "width": "container",
        "height": 240,
    }), data)

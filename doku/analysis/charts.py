"""Altair charts of AGGREGATED frames (doku.analysis.aggregates output, a few hundred rows at most).

Charts never see token- or customer-level rows: every rerun ships the chart's data to
the browser, and altair refuses more than 5,000 rows outside Streamlit. One theme
(`apply_theme`), the colour-blind-safe Okabe-Ito palette with a FIXED colour per token
type, bars in the order the aggregate gives (by count), and titles that say what is
counted and for which run. In Streamlit use `st.altair_chart(chart, theme=None)` so
the app's theme does not override this one.

Shares are printed on the marks (text layers over the same one dataset). A chart made
with `pick=True` carries a point selection named PICK: clicking a mark selects the
chart's raw value fields (issuer, brand, type, segment value: never a display label),
which a page turns into a filter.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from doku.analysis.chart_files import chart_to_png as chart_to_png
from doku.analysis.chart_files import chart_to_svg as chart_to_svg
from doku.analysis.labels import type_label
from doku.models import CREDIT_CARD, DIRECT_DEBIT

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
_FONT = "Helvetica, Arial, sans-serif"
_COUNT_AXIS = alt.Axis(format=",d", tickMinStep=1)  # counts are whole numbers
_TEXT_COLOR = "#333333"
PICK = "pick"  # the point-selection parameter of a chart made with pick=True
SMALL_MARK = " · small"  # after a segment value of fewer than SMALL_GROUP customers


def theme_config() -> dict[str, Any]:
    """The one chart theme, as a Vega-Lite config object."""
    return {
        "font": _FONT,
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


def apply_theme(chart: Any) -> Any:
    """Apply `theme_config` to a (top-level) chart; returns the configured copy."""
    return chart.configure(**theme_config())


def _type_scale() -> alt.Scale:
    return alt.Scale(
        domain=[TYPE_LABELS[DIRECT_DEBIT], TYPE_LABELS[CREDIT_CARD]],
        range=[TYPE_COLORS[DIRECT_DEBIT], TYPE_COLORS[CREDIT_CARD]],
    )


def _type_label(values: pd.Series) -> list[str]:
    return [type_label(str(v)) for v in values]


def _pickable(chart: Any, fields: list[str], pick: bool) -> Any:
    """`chart` with the PICK point selection on `fields` when `pick`."""
    return chart.add_params(alt.selection_point(name=PICK, fields=fields)) if pick else chart


def _cursor(pick: bool) -> Any:
    return "pointer" if pick else alt.Undefined


# Shares printed on marks are formatted by Vega, as the tooltips, tables and
# downloads in the browser round them (a Python "%" rounds a tie the other way).
SHARE_FORMAT = ".1%"


def _title(text: str, run_label: str, subtitle: str | None = None) -> alt.TitleParams:
    full = f"{text} — {run_label}" if run_label else text
    return alt.TitleParams(full, subtitle=subtitle or alt.Undefined)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain object/float columns so the JSON data holds exactly the aggregate's values."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            out[col].dtype
        ):
            out[col] = out[col].astype(object)
    return out.reset_index(drop=True)


def issuer_chart(issuer_type: pd.DataFrame, run_label: str, *, pick: bool = False) -> Any:
    """Tokens per issuer stacked by type, each issuer's share of all tokens printed at
    the end of its bar (input: aggregates.issuer_by_type). Picks: issuer."""
    data = _plain(issuer_type)
    data["type_label"] = _type_label(data["type"])
    totals = data.groupby("issuer", sort=False)["tokens"].transform("sum")
    data["issuer_tokens"] = totals.astype("int64")
    total = int(data["tokens"].sum())
    data["issuer_share"] = data["issuer_tokens"] / total if total else 0.0
    data["first_of_issuer"] = ~data["issuer"].duplicated()  # one text per issuer
    order = list(dict.fromkeys(data["issuer"]))
    base = alt.Chart(data).encode(
        y=alt.Y("issuer:N", sort=order, title="Issuer"),
        tooltip=[
            alt.Tooltip("issuer:N", title="Issuer"),
            alt.Tooltip("type_label:N", title="Type"),
            alt.Tooltip("tokens:Q", title="Tokens", format=","),
            alt.Tooltip("issuer_tokens:Q", title="Issuer total", format=","),
            alt.Tooltip("issuer_share:Q", title="Issuer share of tokens", format=".1%"),
        ],
    )
    bars = base.mark_bar(cursor=_cursor(pick)).encode(
        x=alt.X("tokens:Q", stack="zero", title="Tokens", axis=_COUNT_AXIS),
        color=alt.Color("type_label:N", scale=_type_scale(), title="Token type"),
        order=alt.Order("type_label:N", sort="descending"),
    )
    text = base.mark_text(align="left", dx=4, color=_TEXT_COLOR).encode(
        x=alt.X("issuer_tokens:Q"), text=alt.Text("issuer_share:Q", format=SHARE_FORMAT),
    ).transform_filter(alt.datum.first_of_issuer)
    chart = alt.layer(_pickable(bars, ["issuer"], pick), text).properties(
        title=_title("Tokens by issuer and type", run_label,
                     "Count of tokens held by fetched customers; share of all tokens"),
        height=alt.Step(22),
        width="container",
    )
    return apply_theme(chart)


def brand_chart(
    brands: pd.DataFrame, run_label: str, *, pick: bool = False,
    title: str = "Tokens by card brand",
    subtitle: str = "Direct debit has no brand and is counted as its own category",
) -> Any:
    """Tokens per brand with each brand's share of them printed (input:
    aggregates.by_brand; direct debit is its own bar). Picks: brand."""
    data = _plain(brands)
    data["type_label"] = _type_label(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    base = alt.Chart(data).encode(
        y=alt.Y("brand:N", sort=list(data["brand"]), title="Brand"),
        x=alt.X("tokens:Q", title="Tokens", axis=_COUNT_AXIS),
        tooltip=[
            alt.Tooltip("brand:N", title="Brand"),
            alt.Tooltip("tokens:Q", title="Tokens", format=","),
            alt.Tooltip("share:Q", title="Share of tokens", format=".1%"),
        ],
    )
    one_type = data["type"].nunique() <= 1  # e.g. credit cards only: no legend needed
    bars = base.mark_bar(cursor=_cursor(pick)).encode(
        color=alt.Color("type_label:N", scale=_type_scale(), title="Token type",
                        legend=None if one_type else alt.Undefined))
    text = base.mark_text(align="left", dx=4, color=_TEXT_COLOR).encode(
        text=alt.Text("share:Q", format=SHARE_FORMAT))
    chart = alt.layer(_pickable(bars, ["brand"], pick), text).properties(
        title=_title(title, run_label, subtitle),
        height=alt.Step(22),
        width="container",
    )
    return apply_theme(chart)


def type_chart(types: pd.DataFrame, run_label: str, *, pick: bool = False) -> Any:
    """Donut of tokens per type, each type's share printed beside its slice (input:
    aggregates.by_type). Picks: type (the raw type, e.g. "CREDIT_CARD")."""
    data = _plain(types)
    data["type_label"] = _type_label(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    # Arcs and texts stack in the same order (same colour field, same `order`).
    base = alt.Chart(data).encode(
        theta=alt.Theta("tokens:Q", stack=True),
        color=alt.Color("type_label:N", scale=_type_scale(), title="Token type"),
        order=alt.Order("type_label:N"),
        tooltip=[
            alt.Tooltip("type_label:N", title="Type"),
            alt.Tooltip("tokens:Q", title="Tokens", format=","),
            alt.Tooltip("share:Q", title="Share of tokens", format=".1%"),
        ],
    )
    arcs = base.mark_arc(innerRadius=55, outerRadius=100, cursor=_cursor(pick))
    text = base.mark_text(radius=122, fontWeight="bold").encode(
        text=alt.Text("share:Q", format=SHARE_FORMAT)).transform_filter(alt.datum.tokens > 0)
    chart = alt.layer(_pickable(arcs, ["type"], pick), text).properties(
        title=_title("Tokens by type", run_label, f"{total:,} tokens"),
        width=280, height=270,
        # padded, not fitted: a fixed-size donut keeps its title and legend
        autosize=alt.AutoSizeParams(type="pad", contains="padding"))
    return apply_theme(chart)


def uptake_chart(uptake: pd.DataFrame, segment: str, run_label: str, *,
                 pick: bool = False) -> Any:
    """Uptake per segment value with counts (input: an aggregates.uptake_by_* frame;
    its first column holds the segment values). Bars show the share; the text and
    tooltip give holders / fetched, so no share is shown without its counts. Values
    of small groups (a True `small` column) read " · small". Picks: the first column
    (raw: "CREDIT_CARD", "(blank)", a segment value without its " · small")."""
    label = str(uptake.columns[0])
    data = _plain(uptake)
    data["text"] = [
        f"{u:.1%} ({w:,}/{f:,})" if f else "n/a (0 fetched)"
        for u, w, f in zip(data["uptake"], data["with_tokens"], data["fetched"], strict=True)
    ]
    data["text_x"] = data["uptake"].fillna(0.0)
    # bars are named by `segment_value` (token types get their readable names)
    names = _type_label(data[label]) if label == "type" else [str(v) for v in data[label]]
    small = data["small"].tolist() if "small" in data.columns else [False] * len(data)
    data["segment_value"] = [f"{n}{SMALL_MARK}" if s else n
                             for n, s in zip(names, small, strict=True)]
    order = list(data["segment_value"])
    tooltip = [
        alt.Tooltip("segment_value:N", title=segment),
        alt.Tooltip("uptake:Q", title="Uptake", format=".1%"),
        alt.Tooltip("with_tokens:Q", title="Customers with token(s)", format=","),
        alt.Tooltip("fetched:Q", title="Fetched customers", format=","),
    ]
    for extra, title in (("failed", "Failed (excluded)"), ("pending", "Pending (excluded)")):
        if extra in data.columns:
            tooltip.append(alt.Tooltip(f"{extra}:Q", title=title, format=","))
    base = alt.Chart(data).encode(
        y=alt.Y("segment_value:N", sort=order, title=segment),
        x=alt.X("uptake:Q", title="Share of fetched customers with ≥1 token",
                axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=tooltip,
    )
    bars = base.mark_bar(color=UPTAKE_COLOR, cursor=_cursor(pick))
    text = base.mark_text(align="left", dx=4, color=_TEXT_COLOR).encode(
        x=alt.X("text_x:Q"), text="text:N",
    )
    chart = alt.layer(_pickable(bars, [label], pick), text).properties(
        title=_title(f"Token uptake by {segment}", run_label, EXCLUDED_NOTE),
        height=alt.Step(24),
        width="container",
    )
    return apply_theme(chart)


# "27.5% · +0.2 pp"; the share alone when there is no change (NaN arrives as null)
MIX_TEXT = (f"format(datum.token_share, '{SHARE_FORMAT}') + "
            "(isValid(datum.token_share_change_pp) && isFinite(datum.token_share_change_pp)"
            " ? ' · ' + format(datum.token_share_change_pp, '+.1f') + ' pp' : '')")


def issuer_mix_chart(mix: pd.DataFrame, token_type: str, run_label: str, compared: str, *,
                     pick: bool = False) -> Any:
    """Each issuer's share of ONE type's tokens, the share and its change in points
    printed on the bar (input: the rows of one type of mix.issuer_mix). `compared`:
    what the change is against ("change in points vs run #11", or why there is none).
    Picks: type and issuer."""
    data = _plain(mix)
    name = type_label(token_type)
    base = alt.Chart(data).encode(
        y=alt.Y("issuer:N", sort=list(data["issuer"]), title="Issuer"),
        x=alt.X("token_share:Q", title=f"Share of {name.lower()} tokens",
                axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=[
            alt.Tooltip("issuer:N", title="Issuer"),
            alt.Tooltip("tokens:Q", title="Tokens", format=","),
            alt.Tooltip("token_share:Q", title="Share of the type's tokens", format=".1%"),
            alt.Tooltip("token_share_change_pp:Q", title="Change (points)", format="+.1f"),
            alt.Tooltip("holders:Q", title="Customers holding one", format=","),
            alt.Tooltip("holder_share:Q", title="Share of the type's holders", format=".1%"),
            alt.Tooltip("holder_share_change_pp:Q", title="Change (points)", format="+.1f"),
        ],
    )
    bars = base.mark_bar(color=TYPE_COLORS.get(token_type, COUNT_COLOR), cursor=_cursor(pick))
    text = base.mark_text(align="left", dx=4, color=_TEXT_COLOR).encode(
        text="text:N").transform_calculate(text=MIX_TEXT)
    chart = alt.layer(_pickable(bars, ["type", "issuer"], pick), text).properties(
        title=_title(f"{name} issuer mix", run_label,
                     f"Share of the type's tokens; {compared}"),
        height=alt.Step(22),
        width="container",
    )
    return apply_theme(chart)


def tokens_per_customer_chart(distribution: pd.DataFrame, run_label: str) -> Any:
    """Histogram of tokens held per fetched customer (input:
    aggregates.tokens_per_customer)."""
    data = _plain(distribution)
    chart = (
        alt.Chart(data)
        .mark_bar(color=COUNT_COLOR)
        .encode(
            x=alt.X("tokens:N", sort=list(data["tokens"]), title="Tokens held",
                    axis=alt.Axis(labelAngle=0)),
            y=alt.Y("customers:Q", title="Fetched customers", axis=_COUNT_AXIS),
            tooltip=[
                alt.Tooltip("tokens:N", title="Tokens held"),
                alt.Tooltip("customers:Q", title="Customers", format=","),
                alt.Tooltip("share:Q", title="Share of fetched", format=".1%"),
                alt.Tooltip("tokens_held:Q", title="Tokens in this group", format=","),
            ],
        )
        .properties(
            title=_title("Fetched customers by number of tokens held", run_label,
                         EXCLUDED_NOTE),
            width="container",
            height=240,
        )
    )
    return apply_theme(chart)


def trend_chart(trend: pd.DataFrame, title: str = "Run over run") -> Any:
    """Uptake and token count per run (input: aggregates.run_trend, oldest first)."""
    data = _plain(trend)
    order = list(data["run_label"])
    tooltip = [
        alt.Tooltip("run_label:N", title="Run"),
        alt.Tooltip("uptake:Q", title="Uptake", format=".1%"),
        alt.Tooltip("with_tokens:Q", title="Customers with token(s)", format=","),
        alt.Tooltip("fetched:Q", title="Fetched customers", format=","),
        alt.Tooltip("failed:Q", title="Failed (excluded)", format=","),
        alt.Tooltip("tokens:Q", title="Tokens", format=","),
    ]
    # Fifty runs stay readable: slanted labels, and Vega drops any that would overlap.
    x = alt.X("run_label:N", sort=order, title="Run",
              axis=alt.Axis(labelAngle=-40, labelOverlap="greedy", labelLimit=110))
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    up = base.mark_line(point=alt.OverlayMarkDef(color=UPTAKE_COLOR), color=UPTAKE_COLOR).encode(
        y=alt.Y("uptake:Q", title="Uptake", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]))
    ).properties(width="container", height=160,
                 title=alt.TitleParams("Uptake: fetched customers with ≥1 token",
                                       fontSize=13))
    tok = base.mark_line(point=alt.OverlayMarkDef(color=TOKENS_COLOR), color=TOKENS_COLOR).encode(
        y=alt.Y("tokens:Q", title="Tokens", axis=_COUNT_AXIS)
    ).properties(width="container", height=160,
                 title=alt.TitleParams("Tokens fetched", fontSize=13))
    chart = alt.vconcat(up, tok).properties(
        title=alt.TitleParams(f"{title}: uptake and tokens per run", subtitle=EXCLUDED_NOTE)
    )
    return apply_theme(chart)

"""Altair charts of AGGREGATED frames (doku.analysis.aggregates output, a few hundred rows at most).

Charts never see token- or customer-level rows: every rerun ships the chart's data to
the browser, and altair refuses more than 5,000 rows outside Streamlit. One theme
(`apply_theme`), the colour-blind-safe Okabe-Ito palette with a FIXED colour per token
type, bars in the order the aggregate gives (by count), and titles that say what is
counted and for which run. In Streamlit use `st.altair_chart(chart, theme=None)` so
the app's theme does not override this one.
"""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import pandas as pd
import vl_convert

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
    return [TYPE_LABELS.get(str(v), str(v)) for v in values]


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


def issuer_chart(issuer_type: pd.DataFrame, run_label: str) -> Any:
    """Tokens per issuer stacked by type (input: aggregates.issuer_by_type)."""
    data = _plain(issuer_type)
    data["type_label"] = _type_label(data["type"])
    totals = data.groupby("issuer", sort=False)["tokens"].transform("sum")
    data["issuer_tokens"] = totals.astype("int64")
    order = list(dict.fromkeys(data["issuer"]))
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("issuer:N", sort=order, title="Issuer"),
            x=alt.X("tokens:Q", stack="zero", title="Tokens", axis=_COUNT_AXIS),
            color=alt.Color("type_label:N", scale=_type_scale(), title="Token type"),
            order=alt.Order("type_label:N", sort="descending"),
            tooltip=[
                alt.Tooltip("issuer:N", title="Issuer"),
                alt.Tooltip("type_label:N", title="Type"),
                alt.Tooltip("tokens:Q", title="Tokens", format=","),
                alt.Tooltip("issuer_tokens:Q", title="Issuer total", format=","),
            ],
        )
        .properties(
            title=_title("Tokens by issuer and type", run_label,
                         "Count of tokens held by fetched customers"),
            height=alt.Step(22),
            width="container",
        )
    )
    return apply_theme(chart)


def brand_chart(brands: pd.DataFrame, run_label: str) -> Any:
    """Tokens per brand (input: aggregates.by_brand; direct debit is its own bar)."""
    data = _plain(brands)
    data["type_label"] = _type_label(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("brand:N", sort=list(data["brand"]), title="Brand"),
            x=alt.X("tokens:Q", title="Tokens", axis=_COUNT_AXIS),
            color=alt.Color("type_label:N", scale=_type_scale(), title="Token type"),
            tooltip=[
                alt.Tooltip("brand:N", title="Brand"),
                alt.Tooltip("tokens:Q", title="Tokens", format=","),
                alt.Tooltip("share:Q", title="Share of tokens", format=".1%"),
            ],
        )
        .properties(
            title=_title("Tokens by card brand", run_label,
                         "Direct debit has no brand and is counted as its own category"),
            height=alt.Step(22),
            width="container",
        )
    )
    return apply_theme(chart)


def type_chart(types: pd.DataFrame, run_label: str) -> Any:
    """Donut of tokens per type (input: aggregates.by_type)."""
    data = _plain(types)
    data["type_label"] = _type_label(data["type"])
    total = int(data["tokens"].sum())
    data["share"] = data["tokens"] / total if total else 0.0
    chart = (
        alt.Chart(data)
        .mark_arc(innerRadius=55, outerRadius=100)
        .encode(
            theta=alt.Theta("tokens:Q", stack=True),
            color=alt.Color("type_label:N", scale=_type_scale(), title="Token type"),
            tooltip=[
                alt.Tooltip("type_label:N", title="Type"),
                alt.Tooltip("tokens:Q", title="Tokens", format=","),
                alt.Tooltip("share:Q", title="Share of tokens", format=".1%"),
            ],
        )
        .properties(title=_title("Tokens by type", run_label, f"{total:,} tokens"),
                    width=260, height=240,
                    # padded, not fitted: a fixed-size donut keeps its title and legend
                    autosize=alt.AutoSizeParams(type="pad", contains="padding"))
    )
    return apply_theme(chart)


def uptake_chart(uptake: pd.DataFrame, segment: str, run_label: str) -> Any:
    """Uptake per segment value with counts (input: an aggregates.uptake_by_* frame;
    its first column holds the segment values). Bars show the share; the text and
    tooltip give holders / fetched, so no share is shown without its counts."""
    label = str(uptake.columns[0])
    data = _plain(uptake)
    data["text"] = [
        f"{u:.1%} ({w:,}/{f:,})" if f else "n/a (0 fetched)"
        for u, w, f in zip(data["uptake"], data["with_tokens"], data["fetched"], strict=True)
    ]
    data["text_x"] = data["uptake"].fillna(0.0)
    # bars are named by `segment_value` (token types get their readable names)
    data["segment_value"] = (
        _type_label(data[label]) if label == "type" else [str(v) for v in data[label]]
    )
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
    bars = base.mark_bar(color=UPTAKE_COLOR)
    text = base.mark_text(align="left", dx=4, color="#333333").encode(
        x=alt.X("text_x:Q"), text="text:N",
    )
    chart = alt.layer(bars, text).properties(
        title=_title(f"Token uptake by {segment}", run_label, EXCLUDED_NOTE),
        height=alt.Step(24),
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


# -- static rendering -----------------------------------------------------------------------
def _vl_version() -> str | None:
    """The vl-convert Vega-Lite version matching altair's schema (e.g. "6.4")."""
    match = re.match(r"v?(\d+)\.(\d+)", alt.SCHEMA_VERSION)
    if match is None:
        return None
    wanted = f"{match.group(1)}.{match.group(2)}"
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


def _static_spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    # "container" width needs a browser container; a file gets a fixed width.
    _fix_container_width(spec)
    return spec


def _fix_container_width(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("width") == "container":
            node["width"] = 520
        for key, value in node.items():
            if key != "datasets":
                _fix_container_width(value)
    elif isinstance(node, list):
        for value in node:
            _fix_container_width(value)


def chart_to_png(chart: Any, scale: float = 2.0) -> bytes:
    """PNG bytes, rendered offline by vl-convert (no network fetches allowed)."""
    png: bytes = vl_convert.vegalite_to_png(
        _static_spec(chart), vl_version=_vl_version(), scale=scale, allowed_base_urls=[]
    )
    return png


def chart_to_svg(chart: Any) -> str:
    """SVG text, rendered offline by vl-convert (no network fetches allowed)."""
    svg: str = vl_convert.vegalite_to_svg(
        _static_spec(chart), vl_version=_vl_version(), allowed_base_urls=[]
    )
    return svg

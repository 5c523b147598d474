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

The Insights charts are written as Vega-Lite dicts in `doku.analysis.chart_specs`
(a page can draw those without building Altair objects); here they become Altair
charts (`to_altair`), for files and reports.
"""

from __future__ import annotations

import copy
from typing import Any

import altair as alt
import pandas as pd

from doku.analysis import chart_specs as specs
from doku.analysis.chart_files import chart_to_png as chart_to_png
from doku.analysis.chart_files import chart_to_svg as chart_to_svg
from doku.analysis.chart_specs import COUNT_COLOR as COUNT_COLOR
from doku.analysis.chart_specs import EXCLUDED_NOTE as EXCLUDED_NOTE
from doku.analysis.chart_specs import MIX_TEXT as MIX_TEXT
from doku.analysis.chart_specs import OKABE_ITO as OKABE_ITO
from doku.analysis.chart_specs import PICK as PICK
from doku.analysis.chart_specs import SHARE_FORMAT as SHARE_FORMAT
from doku.analysis.chart_specs import SMALL_MARK as SMALL_MARK
from doku.analysis.chart_specs import TOKENS_COLOR as TOKENS_COLOR
from doku.analysis.chart_specs import TYPE_COLORS as TYPE_COLORS
from doku.analysis.chart_specs import TYPE_LABELS as TYPE_LABELS
from doku.analysis.chart_specs import UPTAKE_COLOR as UPTAKE_COLOR
from doku.analysis.chart_specs import ChartSpec
from doku.analysis.chart_specs import theme_config as theme_config

_COUNT_AXIS = alt.Axis(format=",d", tickMinStep=1)  # counts are whole numbers


def apply_theme(chart: Any) -> Any:
    """Apply `theme_config` to a (top-level) chart; returns the configured copy."""
    return chart.configure(**theme_config())


def to_altair(chart: ChartSpec) -> Any:
    """The Altair chart of a `ChartSpec`, its data the spec's frame (so `to_dict`
    validates the spec and inlines the data as Altair does)."""
    spec = {k: v for k, v in chart.spec.items() if k not in ("data", "$schema")}
    kind = alt.LayerChart if "layer" in spec else alt.Chart
    made = kind.from_dict(copy.deepcopy(spec), validate=False)
    made.data = chart.data
    return made


def issuer_chart(issuer_type: pd.DataFrame, run_label: str, *, pick: bool = False) -> Any:
    """Tokens per issuer stacked by type, each issuer's share of all tokens printed at
    the end of its bar (input: aggregates.issuer_by_type). Picks: issuer."""
    return to_altair(specs.issuer_spec(issuer_type, run_label, pick=pick))


def brand_chart(
    brands: pd.DataFrame, run_label: str, *, pick: bool = False,
    title: str = "Tokens by card brand",
    subtitle: str = "Direct debit has no brand and is counted as its own category",
) -> Any:
    """Tokens per brand with each brand's share of them printed (input:
    aggregates.by_brand; direct debit is its own bar). Picks: brand."""
    return to_altair(specs.brand_spec(brands, run_label, pick=pick, title_text=title,
                                      subtitle=subtitle))


def type_chart(types: pd.DataFrame, run_label: str, *, pick: bool = False) -> Any:
    """Donut of tokens per type, each type's share printed beside its slice (input:
    aggregates.by_type). Picks: type (the raw type, e.g. "CREDIT_CARD")."""
    return to_altair(specs.type_spec(types, run_label, pick=pick))


def uptake_chart(uptake: pd.DataFrame, segment: str, run_label: str, *,
                 pick: bool = False) -> Any:
    """Uptake per segment value with counts (input: an aggregates.uptake_by_* frame;
    its first column holds the segment values). Bars show the share; the text and
    tooltip give holders / fetched, so no share is shown without its counts. Values
    of small groups (a True `small` column) read " · small". Picks: the first column
    (raw: "CREDIT_CARD", "(blank)", a segment value without its " · small")."""
    return to_altair(specs.uptake_spec(uptake, segment, run_label, pick=pick))


def issuer_mix_chart(mix: pd.DataFrame, token_type: str, run_label: str, compared: str, *,
                     pick: bool = False) -> Any:
    """Each issuer's share of ONE type's tokens, the share and its change in points
    printed on the bar (input: the rows of one type of mix.issuer_mix). `compared`:
    what the change is against ("change in points vs run #11", or why there is none).
    Picks: type and issuer."""
    return to_altair(specs.issuer_mix_spec(mix, token_type, run_label, compared, pick=pick))


def tokens_per_customer_chart(distribution: pd.DataFrame, run_label: str) -> Any:
    """Histogram of tokens held per fetched customer (input:
    aggregates.tokens_per_customer)."""
    return to_altair(specs.tokens_per_customer_spec(distribution, run_label))


def trend_chart(trend: pd.DataFrame, title: str = "Run over run") -> Any:
    """Uptake and token count per run (input: aggregates.run_trend, oldest first)."""
    data = specs.plain(trend)
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

"""Charts: valid Vega-Lite, data equal to the aggregate they draw, fixed type colours,
shares printed on the marks, a point selection on raw values when pickable, and
offline PNG/SVG rendering through vl-convert (selections included)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pandas as pd
import pytest

from doku.analysis.aggregates import (
    by_brand,
    by_type,
    issuer_by_type,
    tokens_per_customer,
    uptake_by_attribute,
    uptake_by_issuer,
    uptake_by_type,
)
from doku.analysis.charts import (
    OKABE_ITO,
    PICK,
    TYPE_COLORS,
    brand_chart,
    chart_to_png,
    chart_to_svg,
    issuer_chart,
    issuer_mix_chart,
    theme_config,
    tokens_per_customer_chart,
    trend_chart,
    type_chart,
    uptake_chart,
)
from doku.analysis.comparison import run_trend
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.mix import issuer_mix
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.test_frames import build_small_store

LABEL = "run #1 (customers-a.csv)"


@pytest.fixture(scope="module")
def run() -> tuple[RunFrames, Store]:
    store, a, _ = build_small_store()
    return load_run_frames(store, a), store


def dataset(chart: Any) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    datasets = spec["datasets"]
    assert len(datasets) == 1
    return next(iter(datasets.values()))  # type: ignore[no-any-return]


def same_numbers(records: list[dict[str, Any]], aggregate: pd.DataFrame) -> None:
    """Every aggregate column is in the chart data with exactly the same values."""
    assert len(records) == len(aggregate)
    for col in aggregate.columns:
        chart_values = [r[col] for r in records]
        expected = [None if pd.isna(v) else v for v in aggregate[col].tolist()]
        assert chart_values == expected, col


def walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for v in node.values():
            found += walk(v)
    elif isinstance(node, list):
        for v in node:
            found += walk(v)
    return found


def type_scale_ok(spec: dict[str, Any]) -> bool:
    scales = [n["scale"] for n in walk(spec) if isinstance(n.get("scale"), dict)
              and n["scale"].get("domain") == ["Direct debit", "Credit card"]]
    return bool(scales) and all(
        s["range"] == [TYPE_COLORS[DIRECT_DEBIT], TYPE_COLORS[CREDIT_CARD]] for s in scales
    )


def test_issuer_chart(run: tuple[RunFrames, Store]) -> None:
    frames = run[0]
    agg = issuer_by_type(frames.tokens)
    chart = issuer_chart(agg, LABEL)
    spec = chart.to_dict()
    same_numbers(dataset(chart), agg)
    assert sum(r["tokens"] for r in dataset(chart)) == len(frames.tokens)
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["BCA", "BRI", "Mandiri", "BNI"]
    assert type_scale_ok(spec)
    assert LABEL in spec["title"]["text"]
    assert "issuer" in spec["title"]["text"]
    theme = json.loads(json.dumps(theme_config()))
    for key, value in theme.items():
        if isinstance(value, dict):
            assert value.items() <= spec["config"][key].items(), key
        else:
            assert spec["config"][key] == value, key


def test_brand_and_type_charts(run: tuple[RunFrames, Store]) -> None:
    frames = run[0]
    brands = by_brand(frames.tokens)
    chart = brand_chart(brands, LABEL)
    same_numbers(dataset(chart), brands)
    assert next(r["brand"] for r in dataset(chart)) == "Direct debit (no brand)"
    assert chart.to_dict()["layer"][0]["encoding"]["y"]["sort"] == brands["brand"].tolist()
    assert type_scale_ok(chart.to_dict())
    types = by_type(frames.tokens)
    donut = type_chart(types, LABEL)
    same_numbers(dataset(donut), types)
    assert [r["share"] for r in dataset(donut)] == pytest.approx([4 / 7, 3 / 7])
    assert type_scale_ok(donut.to_dict())


def test_uptake_chart_carries_counts(run: tuple[RunFrames, Store]) -> None:
    frames = run[0]
    for agg, segment in (
        (uptake_by_attribute(frames.customers, "segment"), "segment"),
        (uptake_by_type(frames.customers), "type"),
        (uptake_by_issuer(frames.tokens, frames.customers), "issuer"),
    ):
        chart = uptake_chart(agg, segment, LABEL)
        records = dataset(chart)
        same_numbers(records, agg)
        spec = chart.to_dict()
        tooltip_fields = {t["field"] for layer in spec["layer"]
                          for t in layer.get("encoding", {}).get("tooltip", [])}
        assert {"with_tokens", "fetched", "uptake"} <= tooltip_fields
        assert "excluded" in spec["title"]["subtitle"]
    seg = dataset(uptake_chart(uptake_by_attribute(frames.customers, "segment"), "segment",
                               LABEL))
    assert [r["text"] for r in seg] == [
        "100.0% (2/2)", "33.3% (1/3)", "n/a (0 fetched)", "100.0% (1/1)"
    ]


def test_tokens_per_customer_and_trend(run: tuple[RunFrames, Store]) -> None:
    frames, store = run
    dist = tokens_per_customer(frames.customers)
    chart = tokens_per_customer_chart(dist, LABEL)
    same_numbers(dataset(chart), dist)
    assert chart.to_dict()["encoding"]["x"]["sort"] == ["0", "1", "2", "3", "4", "5+"]
    trend = run_trend(store.list_runs())
    tchart = trend_chart(trend)
    same_numbers(dataset(tchart), trend)
    assert len(tchart.to_dict()["vconcat"]) == 2


def test_palette_is_okabe_ito() -> None:
    assert set(TYPE_COLORS.values()) <= set(OKABE_ITO.values())
    assert theme_config()["range"]["category"] == list(OKABE_ITO.values())


def test_render_png_and_svg_offline(run: tuple[RunFrames, Store]) -> None:
    frames = run[0]
    chart = issuer_chart(issuer_by_type(frames.tokens), LABEL)
    png = chart_to_png(chart)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000
    svg = chart_to_svg(uptake_chart(uptake_by_type(frames.customers), "type", LABEL))
    assert svg.lstrip().startswith("<svg")
    assert "Direct debit" in svg
    assert chart_to_png(trend_chart(run_trend(run[1].list_runs()))).startswith(b"\x89PNG")


def test_empty_aggregates_still_chart() -> None:
    store = Store(":memory:")
    run_id = store.create_run(ids=["X"], env="simulator", base_url=None, client_id="M",
                              input_name="x")
    frames = load_run_frames(store, run_id)
    for chart in (
        issuer_chart(issuer_by_type(frames.tokens), "run #1"),
        brand_chart(by_brand(frames.tokens), "run #1"),
        type_chart(by_type(frames.tokens), "run #1"),
        uptake_chart(uptake_by_type(frames.customers), "type", "run #1"),
        tokens_per_customer_chart(tokens_per_customer(frames.customers), "run #1"),
    ):
        assert chart.to_dict()["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
        assert chart_to_svg(chart).lstrip().startswith("<svg")


def test_trend_of_fifty_runs_keeps_its_labels_apart() -> None:
    from doku.engine.schema import RunInfo

    runs = [RunInfo(id=i, created_at=f"2026-{1 + i % 12:02d}-01T00:00:00Z", started_at=None,
                    finished_at=None, status="done", env="simulator", base_url=None,
                    client_id="M", input_name="customers.csv", token_type=None, options={},
                    attribute_columns=[], customers=100, rejected=0, duplicates=0,
                    blank_rows=0, store_token_ids=False, error=None, fetched=100, failed=0,
                    pending=0, with_tokens=50 + i % 7, tokens=80 + i)
            for i in range(1, 51)]
    spec = trend_chart(run_trend(runs)).to_dict()
    axes = [c["encoding"]["x"]["axis"] for c in spec["vconcat"]]
    assert all(a["labelOverlap"] == "greedy" and a["labelAngle"] == -40 for a in axes)
    assert [len(rows) for rows in spec["datasets"].values()] == [50]  # one row per run


# -- shares on the marks, selections, files ------------------------------------------------
def texts(chart: Any) -> list[str]:
    """The texts of the chart as vl-convert renders it to SVG (axes, marks, titles)."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", chart_to_svg(chart))


def test_shares_are_printed_on_the_marks(run: tuple[RunFrames, Store]) -> None:
    frames = run[0]  # 7 tokens: BCA 2, BRI 2, Mandiri 2, BNI 1; DD 4, CC 3
    shown = texts(issuer_chart(issuer_by_type(frames.tokens), LABEL))
    assert [s for s in shown if s.endswith("%")] == ["28.6%", "28.6%", "28.6%", "14.3%"]
    shown = texts(type_chart(by_type(frames.tokens), LABEL))
    assert sorted(s for s in shown if s.endswith("%")) == ["42.9%", "57.1%"]
    shown = texts(brand_chart(by_brand(frames.tokens), LABEL))
    assert [s for s in shown if s.endswith("%")] == ["57.1%", "14.3%", "14.3%", "14.3%"]


def test_issuer_mix_chart_prints_share_and_change(run: tuple[RunFrames, Store]) -> None:
    frames, store = run
    after = load_run_frames(store, store.list_runs()[0].id)  # run B against run A
    mix = issuer_mix(after, frames)
    cards = mix[mix["type"] == CREDIT_CARD]
    chart = issuer_mix_chart(cards, CREDIT_CARD, "run #2", "change in points vs run #1")
    same_numbers(dataset(chart), cards)
    # B: BCA 3 of 4 credit cards, BNI 1 (none in A), Mandiri gone (1 of 3 in A)
    assert [s for s in texts(chart) if "%" in s and "pp" in s] == [
        "75.0% · +8.3 pp", "25.0% · +25.0 pp", "0.0% · \N{MINUS SIGN}33.3 pp"]  # d3's minus
    assert "Credit card issuer mix — run #2" in texts(chart)
    alone = issuer_mix_chart(issuer_mix(after)[lambda m: m["type"] == DIRECT_DEBIT],
                             DIRECT_DEBIT, "run #2", "no earlier comparable run")
    # B's direct debits: BRI 2, BNI 2
    assert [s for s in texts(alone) if re.fullmatch(r"\d+\.\d%", s)] == ["50.0%", "50.0%"]
    assert not any("pp" in s for s in texts(alone))  # no change: the share alone


def pickable_charts(frames: RunFrames) -> dict[str, tuple[Any, list[str]]]:
    """Every pickable chart with pick=True, and the raw fields its pick selects."""
    mix = issuer_mix(frames)
    return {
        "issuer": (issuer_chart(issuer_by_type(frames.tokens), LABEL, pick=True), ["issuer"]),
        "brand": (brand_chart(by_brand(frames.tokens), LABEL, pick=True), ["brand"]),
        "type": (type_chart(by_type(frames.tokens), LABEL, pick=True), ["type"]),
        "segment": (uptake_chart(uptake_by_attribute(frames.customers, "segment"), "segment",
                                 LABEL, pick=True), ["value"]),
        "uptake type": (uptake_chart(uptake_by_type(frames.customers), "type", LABEL,
                                     pick=True), ["type"]),
        "mix": (issuer_mix_chart(mix[mix["type"] == CREDIT_CARD], CREDIT_CARD, LABEL, "x",
                                 pick=True), ["type", "issuer"]),
    }


def test_pickable_charts_select_raw_values_and_still_render(
    run: tuple[RunFrames, Store],
) -> None:
    frames = run[0]
    for name, (chart, fields) in pickable_charts(frames).items():
        spec = chart.to_dict()
        (param,) = spec["params"]
        assert param["name"] == PICK, name
        assert param["select"] == {"type": "point", "fields": fields}, name
        marks = [layer for layer in spec["layer"] if layer.get("name") in param["views"]]
        assert [m["mark"]["cursor"] for m in marks] == ["pointer"], name
        assert chart_to_png(chart).startswith(b"\x89PNG\r\n\x1a\n"), name
        assert chart_to_svg(chart).lstrip().startswith("<svg"), name
    assert "params" not in issuer_chart(issuer_by_type(frames.tokens), LABEL).to_dict()


def test_small_segments_are_marked_but_picked_by_their_raw_value() -> None:
    uptake = pd.DataFrame({"value": ["2024-01", "(blank)"], "customers": [40, 3],
                           "fetched": [40, 3], "failed": [0, 0], "pending": [0, 0],
                           "with_tokens": [10, 1], "uptake": [0.25, 1 / 3],
                           "small": [False, True]})
    records = dataset(uptake_chart(uptake, "signup", LABEL, pick=True))
    assert [(r["value"], r["segment_value"]) for r in records] == [
        ("2024-01", "2024-01"), ("(blank)", "(blank) · small")]
    types = dataset(uptake_chart(uptake_by_type(pd.DataFrame(
        {"status": ["fetched"], "n_tokens": [1], "n_direct_debit": [0],
         "n_credit_card": [1]})), "type", LABEL))
    assert [(r["type"], r["segment_value"]) for r in types] == [
        (DIRECT_DEBIT, "Direct debit"), (CREDIT_CARD, "Credit card")]


def test_credit_card_brand_chart_says_so_and_has_no_type_legend(
    run: tuple[RunFrames, Store],
) -> None:
    tokens = run[0].tokens
    cards = by_brand(tokens[(tokens["type"] == CREDIT_CARD).to_numpy()])
    chart = brand_chart(cards, LABEL, title="Credit-card tokens by brand",
                        subtitle="Credit cards only")
    spec = chart.to_dict()
    assert spec["title"]["text"] == f"Credit-card tokens by brand — {LABEL}"
    assert spec["layer"][0]["encoding"]["color"]["legend"] is None
    assert [r["brand"] for r in dataset(chart)] == ["Unknown brand", "mastercard", "visa"]
    assert [r["share"] for r in dataset(chart)] == pytest.approx([1 / 3] * 3)
    assert not math.isnan(dataset(chart)[0]["share"])

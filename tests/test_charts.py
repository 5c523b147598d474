"""Charts: valid Vega-Lite, data equal to the aggregate they draw, fixed type colours,
and offline PNG/SVG rendering through vl-convert."""

from __future__ import annotations

import json
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
    TYPE_COLORS,
    brand_chart,
    chart_to_png,
    chart_to_svg,
    issuer_chart,
    theme_config,
    tokens_per_customer_chart,
    trend_chart,
    type_chart,
    uptake_chart,
)
from doku.analysis.comparison import run_trend
from doku.analysis.frames import RunFrames, load_run_frames
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
    assert spec["encoding"]["y"]["sort"] == ["BCA", "BRI", "Mandiri", "BNI"]
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
    assert chart.to_dict()["encoding"]["y"]["sort"] == brands["brand"].tolist()
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

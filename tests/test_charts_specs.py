"""The Insights charts as Vega-Lite dicts (`doku.analysis.chart_specs`): every spec is
valid and is exactly what Altair makes of it (so a page drawing the dict and a file
rendered through Altair show one chart), the average line, and the spec a page sends
(its data as Arrow bytes named by their hash)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.util import calc_hash

from doku.analysis import aggregates as agg
from doku.analysis import chart_specs, charts
from doku.analysis.chart_specs import DATA, PICK, VIEW, ChartSpec
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.mix import issuer_mix
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.test_frames import build_small_store
from ui.insights_charts import drawn

ISSUERS = pd.DataFrame({"issuer": ["BCA", "BCA", "BRI"],
                        "type": [CREDIT_CARD, DIRECT_DEBIT, DIRECT_DEBIT], "tokens": [3, 1, 2]})


@pytest.fixture(scope="module")
def frames() -> RunFrames:
    store, a, _ = build_small_store()
    return load_run_frames(store, a)


def every_spec(frames: RunFrames, pick: bool) -> dict[str, ChartSpec]:
    tokens, customers = frames.tokens, frames.customers
    mix = issuer_mix(frames)
    return {
        "issuer": chart_specs.issuer_spec(agg.issuer_by_type(tokens), "run #1", pick=pick),
        "brand": chart_specs.brand_spec(agg.by_brand(tokens), "run #1", pick=pick),
        "cards": chart_specs.brand_spec(
            agg.by_brand(tokens[(tokens["type"] == CREDIT_CARD).to_numpy()]), "", pick=pick,
            title_text="Credit-card tokens by brand", subtitle="Credit cards only"),
        "type": chart_specs.type_spec(agg.by_type(tokens), "run #1", pick=pick),
        "uptake": chart_specs.with_average(chart_specs.uptake_spec(
            agg.uptake_by_attribute(customers, "segment"), "segment", "run #1", pick=pick),
            0.5),
        "uptake by type": chart_specs.uptake_spec(agg.uptake_by_type(customers), "type",
                                                  "run #1 (filtered)", pick=pick),
        "mix": chart_specs.issuer_mix_spec(mix[mix["type"] == CREDIT_CARD], CREDIT_CARD,
                                           "run #1", "no earlier run", pick=pick),
        "held": chart_specs.tokens_per_customer_spec(agg.tokens_per_customer(customers),
                                                     "run #1"),
    }


def plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("pick", [False, True])
def test_every_spec_is_what_altair_makes_of_it(frames: RunFrames, pick: bool) -> None:
    for name, chart in every_spec(frames, pick).items():
        made = charts.to_altair(chart).to_dict()  # validated against the schema
        ((dataset, records),) = made["datasets"].items()
        assert records == plain_json(
            chart.data.astype(object).where(chart.data.notna(), None).to_dict("records"))
        theme = chart.spec["config"]
        expected = {**chart.spec, "data": {"name": dataset}, "datasets": made["datasets"],
                    # Altair's default theme adds a view size outside Streamlit
                    "config": {**theme, "view": {**theme["view"], "continuousWidth": 300,
                                                 "continuousHeight": 300}}}
        assert plain_json(made) == plain_json(expected), name
        assert ("params" in made) == (pick and name != "held"), name


def test_the_issuer_spec_exactly() -> None:
    chart = chart_specs.issuer_spec(ISSUERS, "run #7", pick=True)
    assert chart.data.to_dict("records") == [
        {"issuer": "BCA", "type": CREDIT_CARD, "tokens": 3, "type_label": "Credit card",
         "issuer_tokens": 4, "issuer_share": 4 / 6, "first_of_issuer": True},
        {"issuer": "BCA", "type": DIRECT_DEBIT, "tokens": 1, "type_label": "Direct debit",
         "issuer_tokens": 4, "issuer_share": 4 / 6, "first_of_issuer": False},
        {"issuer": "BRI", "type": DIRECT_DEBIT, "tokens": 2, "type_label": "Direct debit",
         "issuer_tokens": 2, "issuer_share": 2 / 6, "first_of_issuer": True},
    ]
    spec = chart.spec
    assert spec["data"] == {"name": DATA}
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v6.4.1.json"
    assert spec["title"] == {"text": "Tokens by issuer and type — run #7",
                             "subtitle": "Count of tokens held by fetched customers; share "
                                         "of all tokens"}
    assert (spec["height"], spec["width"]) == ({"step": 22}, "container")
    assert spec["params"] == [{"name": PICK, "select": {"type": "point", "fields": ["issuer"]},
                               "views": [VIEW]}]
    bars, text = spec["layer"]
    assert bars["name"] == VIEW
    assert bars["mark"] == {"type": "bar", "cursor": "pointer"}
    assert bars["encoding"]["y"] == {"field": "issuer", "type": "nominal",
                                     "sort": ["BCA", "BRI"], "title": "Issuer"}
    assert bars["encoding"]["x"] == {"field": "tokens", "type": "quantitative",
                                     "stack": "zero", "title": "Tokens",
                                     "axis": {"format": ",d", "tickMinStep": 1}}
    assert text["mark"] == {"type": "text", "align": "left", "dx": 4, "color": "#333333"}
    assert text["encoding"]["text"] == {"field": "issuer_share", "type": "quantitative",
                                        "format": ".1%"}
    assert text["transform"] == [{"filter": "datum.first_of_issuer"}]
    assert "name" not in text


def test_the_average_line_is_a_layer_of_its_own() -> None:
    uptake = pd.DataFrame({"value": ["a", "b"], "with_tokens": [1, 3], "fetched": [4, 4],
                           "uptake": [0.25, 0.75]})
    chart = chart_specs.uptake_spec(uptake, "plan", "run #2")
    assert chart_specs.with_average(chart, None) is chart
    lined = chart_specs.with_average(chart, 0.5)
    assert lined.spec["layer"][:2] == chart.spec["layer"]
    assert lined.spec["layer"][2] == {
        "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#444444", "strokeWidth": 1.5},
        "encoding": {"x": {"datum": 0.5}}}
    assert len(chart.spec["layer"]) == 2  # the chart it was made from is unchanged
    assert lined.data is chart.data
    assert lined.data["text"].tolist() == ["25.0% (1/4)", "75.0% (3/4)"]


def test_a_page_sends_the_data_as_arrow_named_by_its_hash() -> None:
    chart = chart_specs.brand_spec(agg.by_brand(pd.DataFrame({
        "type": [CREDIT_CARD, CREDIT_CARD, DIRECT_DEBIT],
        "brand": ["visa", "visa", None]})), "run #3")
    sent = drawn(chart)
    ((name, arrow),) = sent["datasets"].items()
    assert isinstance(arrow, bytes)
    assert name == calc_hash(arrow)
    assert sent["data"] == {"name": name}
    table = pa.ipc.open_stream(arrow).read_all().to_pandas()
    assert table["brand"].tolist() == ["visa", "Direct debit (no brand)"]
    assert table["tokens"].tolist() == [2, 1]
    assert table["share"].tolist() == [2 / 3, 1 / 3]
    assert chart.spec["data"] == {"name": DATA}  # the spec itself is not changed
    assert "datasets" not in chart.spec
    assert {k: v for k, v in sent.items() if k not in ("data", "datasets")} == {
        k: v for k, v in chart.spec.items() if k != "data"}

"""AppTest of the Insights page: KPIs and chart data equal the report CLI and the
aggregates; filters apply to every KPI, chart, table and download consistently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from doku.analysis.aggregates import apply_filters, summary
from doku.analysis.filters import Filters
from doku.analysis.frames import load_run_frames
from doku.engine.inputs import parse_file
from tests.apptest_support import (
    ROOT,
    cli_json,
    isolate,
    metrics,
    open_page,
    seed_run,
    shown,
    world_tokens,
)
from tests.apptest_support import ok as check
from tests.backend_support import open_store, sqlite_only
from ui.downloads import deferred_bytes

INSIGHTS = "pages/3_Insights.py"
SAMPLE = ROOT / "samples" / "customers.csv"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    """Two finished runs, written straight into the store with the simulator world's
    tokens: #1 the whole sample file, #2 its first 500 customers."""
    folder = tmp_path_factory.mktemp("insights") / "data"
    data = SAMPLE.read_bytes()
    head = b"".join(data.splitlines(keepends=True)[:501])
    for name, content in (("customers.csv", data), ("first-500.csv", head)):
        seed_run(folder, parse_file(content, name), world_tokens())
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def ok(at: AppTest) -> AppTest:
    return check(at, no_errors=True)


def open_insights(**query: str) -> AppTest:
    return open_page(INSIGHTS, timeout=60, no_errors=True, **query)


def num(text: str) -> int:
    return int(text.replace(",", ""))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def report(run_id: int, *by: str) -> dict[str, Any]:
    """`python -m doku report RUN_ID --json [--by ATTRIBUTE]...`, in process."""
    args = ["report", str(run_id)]
    for attribute in by:
        args += ["--by", attribute]
    return cli_json(*args)


def chart_data(at: AppTest) -> dict[str, pd.DataFrame]:
    """Chart title (before the run label) -> the data the chart ships."""
    out = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title") or spec["layer"][0].get("title")
        (dataset,) = chart.proto.datasets
        out[title["text"].split(" — ")[0]] = convert_arrow_bytes_to_pandas_df(dataset.data.data)
    return out


def tokens_table(at: AppTest) -> pd.DataFrame:
    """The token table (the issuer mix table comes before it)."""
    return next(d.value for d in at.dataframe if "masked_card" in d.value.columns)


def assert_kpis(at: AppTest, expected: dict[str, Any]) -> None:
    m = metrics(at)
    assert num(m["Customers audited"]) == expected["customers"]
    assert m["With ≥1 token"] == pct(expected["uptake"])
    assert num(m["Tokens"]) == expected["tokens"]
    assert num(m["Direct debit"]) == expected["direct_debit"]
    assert num(m["Credit card"]) == expected["credit_card"]
    assert num(m["Failed customers"]) == expected["failed"]


def test_latest_run_by_default_and_kpis_equal_the_report_cli() -> None:
    at = open_insights()
    assert at.selectbox(key="insights_run").value == 2
    assert_kpis(at, report(2))
    ok(at.selectbox(key="insights_run").select(1).run())
    expected = report(1)
    assert expected["customers"] == 3000
    assert_kpis(at, expected)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_link_can_open_a_given_run() -> None:
    at = open_insights(run="1")
    assert at.selectbox(key="insights_run").value == 1
    assert num(metrics(at)["Customers audited"]) == 3000


def test_chart_numbers_equal_the_report_cli() -> None:
    at = open_insights(run="1")
    expected = report(1, "plan")
    data = chart_data(at)
    issuers = data["Tokens by issuer and type"].groupby("issuer")["tokens"].sum()
    assert issuers.to_dict() == expected["by_issuer"]
    brands = data["Tokens by card brand"]
    assert dict(zip(brands["brand"], brands["tokens"], strict=True)) == expected["by_brand"]
    types = data["Tokens by type"]
    assert dict(zip(types["type"], types["tokens"], strict=True)) == expected["by_type"]
    dist = data["Fetched customers by number of tokens held"]
    assert dict(zip(dist["tokens"], dist["customers"], strict=True)) == expected[
        "tokens_per_customer"
    ]

    ok(at.selectbox(key="insights_by").select("plan").run())
    uptake = chart_data(at)["Token uptake by plan"]
    for row in uptake.itertuples():
        want = expected["uptake_by"]["plan"][row.value]
        assert (row.customers, row.fetched, row.with_tokens) == (
            want["customers"], want["fetched"], want["with_tokens"]
        )
        assert row.uptake == pytest.approx(want["uptake"])


def test_filters_apply_to_kpis_charts_table_and_downloads(data_dir: Path) -> None:
    at = open_insights(run="1")
    with open_store(data_dir) as store:
        frames = load_run_frames(store, 1)
    base = summary(frames)

    ok(at.multiselect(key="insights_filter_type").select("CREDIT_CARD").run())
    only_cards = summary(apply_filters(frames, Filters(types=("CREDIT_CARD",))))
    assert_kpis(at, only_cards)
    assert only_cards["tokens"] < base["tokens"]
    assert only_cards["direct_debit"] == 0
    assert num(metrics(at)["Customers audited"]) == base["customers"]  # token filter

    ok(at.multiselect(key="insights_filter_attr_region").select("Jakarta").run())
    filters = Filters(types=("CREDIT_CARD",), attributes={"region": ("Jakarta",)})
    view = apply_filters(frames, filters)
    expected = summary(view)
    assert_kpis(at, expected)
    jakarta = sum(1 for line in SAMPLE.read_text().splitlines() if ",Jakarta," in line)
    assert expected["customers"] == jakarta

    data = chart_data(at)
    assert data["Tokens by issuer and type"]["tokens"].sum() == expected["tokens"]
    assert set(data["Tokens by issuer and type"]["type"]) == {"CREDIT_CARD"}
    assert dict(zip(data["Tokens by card brand"]["brand"],
                    data["Tokens by card brand"]["tokens"], strict=True)) == expected["by_brand"]
    table = tokens_table(at)
    assert len(table) == min(2000, expected["tokens"])
    assert set(table["type"]) == {"Credit card"}  # spelled as every screen spells it
    assert set(table["region"]) == {"Jakarta"}
    captions = shown(" ".join(c.value for c in at.caption))
    assert f"of {expected['tokens']:,} tokens" in captions
    labels = [b.proto.label for b in at.get("download_button")]
    assert f"Tokens ({expected['tokens']:,}) · CSV" in labels
    assert f"Customers ({expected['customers']:,}) · XLSX" in labels

    ok(at.multiselect(key="insights_filter_type").set_value([]).run())
    ok(at.multiselect(key="insights_filter_attr_region").set_value([]).run())
    assert_kpis(at, base)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_token_table_is_capped_with_an_honest_caption() -> None:
    at = open_insights(run="1")
    expected = report(1)
    table = tokens_table(at)
    assert len(table) == 2000
    assert expected["tokens"] > 2000
    assert "fingerprint" not in table.columns
    captions = shown(" ".join(c.value for c in at.caption))
    assert f"Showing 2,000 of {expected['tokens']:,} tokens" in captions


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_every_table_and_chart_has_downloads() -> None:
    at = open_insights(run="1")
    keys = {b.key for b in at.get("download_button")}
    for what in ("tokens", "customers", "errors"):
        for fmt in ("csv", "xlsx"):
            assert f"insights_dl_{what}_{fmt}" in keys
    for chart in ("issuers", "brands", "types", "tokens_per_customer", "uptake"):
        assert {f"insights_png_{chart}", f"insights_svg_{chart}"} <= keys


@pytest.mark.usefixtures("backend")  # a store of its own
def test_no_runs_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "empty"))
    at = open_insights()
    assert not at.metric
    assert "No runs yet" in " ".join(m.value for m in at.markdown)


@sqlite_only("no store: a pure function")
def test_download_bytes_are_made_once_on_demand_and_never_raise() -> None:
    calls: list[int] = []

    def make() -> bytes:
        calls.append(1)
        return b"a,b\n"

    key = ("test", "run-x", ("v",), (), "tokens", "csv")
    build = deferred_bytes(key, make)
    assert calls == []  # nothing is built before the click
    assert build() == b"a,b\n"
    assert build() == b"a,b\n"
    assert calls == [1]

    def broken() -> bytes:
        raise ValueError("boom")

    text = deferred_bytes((*key, "broken"), broken)()
    assert text.startswith(b"export failed (ValueError)")

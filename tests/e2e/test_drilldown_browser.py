"""Drill-down in a real browser: clicking a bar of the issuer chart (Vega's SVG mark,
found by its aria-label) filters Insights to that issuer: the Issuer filter shows it and
the Tokens KPI drops to that issuer's count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from doku.engine.inputs import parse_file
from tests.apptest_support import seed_run
from tests.e2e.conftest import StreamlitServer, start_streamlit
from tests.test_app_drilldown import drill_tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """One run of 45 customers holding 24 tokens, 11 of them issued by BCA."""
    workdir = tmp_path_factory.mktemp("drill")
    rows = "".join(f"D{n:03d},{'gold' if n <= 40 else 'silver'}\n" for n in range(1, 46))
    seed_run(workdir / "data", parse_file(f"customer_id,tier\n{rows}".encode(), "drill.csv"),
             drill_tokens())
    with start_streamlit(workdir) as running:
        yield running


def tokens_kpi(page: Page) -> Locator:
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_text("Tokens", exact=True))
    return metric.get_by_test_id("stMetricValue")


def test_clicking_an_issuer_bar_filters_the_page(
    server: StreamlitServer, browser_page: Page, artifacts_dir: Path
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Insights")
    expect(tokens_kpi(page)).to_have_text("24", timeout=30_000)
    issuer_chart = page.get_by_test_id("stVegaLiteChart").filter(
        has=page.locator("[aria-label^=\"Title text 'Tokens by issuer and type\"]"))
    # Vega-Lite's SVG marks name their datum: "Tokens: 11; Issuer: BCA; ..."
    bar = issuer_chart.locator('path[aria-roledescription="bar"][aria-label*="Issuer: BCA;"]')
    expect(bar).to_have_count(1, timeout=30_000)  # BCA holds credit cards only: one segment
    bar.click()
    issuer_filter = page.get_by_test_id("stMultiSelect").filter(
        has=page.get_by_text("Issuer", exact=True))
    expect(issuer_filter.get_by_text("BCA", exact=True)).to_be_visible(timeout=30_000)
    expect(tokens_kpi(page)).to_have_text("11", timeout=30_000)
    # the chart now draws BCA alone
    expect(issuer_chart.locator('path[aria-roledescription="bar"]')).to_have_count(1)
    page.screenshot(path=artifacts_dir / "insights-drilldown.png")

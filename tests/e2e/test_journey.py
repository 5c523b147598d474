"""An analyst's journey in a real browser: look a customer up, upload the sample file on
Bulk audit, run it, check the Insights KPIs against `python -m doku report`, download the
tokens CSV, and screenshot every page into artifacts/ (home, lookup, bulk_audit,
insights, runs). The server fixture fails on any Traceback or deprecation warning."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, StreamlitServer

pytestmark = pytest.mark.e2e

SAMPLE = ROOT / "samples" / "customers.csv"
RUN_TIMEOUT_MS = 60_000


def settle(page: Page) -> None:
    """Wait until the script run is over (no 'Running...' status) and charts are drawn."""
    page.wait_for_load_state("networkidle")
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)
    page.wait_for_timeout(400)


def screenshot(page: Page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main container, not the document, so
    grow the viewport to the content's height for the shot."""
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
        "[data-testid=\"stMainBlockContainer\"]')].map(e => e.scrollHeight), 0)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 40)})
    page.wait_for_timeout(500)
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(size)


def metric_values(page: Page) -> dict[str, str]:
    out = {}
    for metric in page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


def report(server: StreamlitServer, run_id: int) -> dict[str, Any]:
    return doku_report(run_id, {"DOKU_DATA_DIR": str(server.data_dir)})


def doku_report(run_id: int, store_env: dict[str, str]) -> dict[str, Any]:
    """`doku report RUN --json` in a child process on the store `store_env` names
    (by environment, so a database URL never reaches argv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKU_")}
    env.update(store_env)
    out = subprocess.run(
        [sys.executable, "-m", "doku", "report", str(run_id), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_audit_journey(
    streamlit_server: StreamlitServer, browser_page: Page, artifacts_dir: Path, tmp_path: Path
) -> None:
    page, url = browser_page, streamlit_server.url

    # Customer lookup: the guide's customer, token IDs masked.
    page.goto(f"{url}/Customer_lookup")
    expect(page.get_by_role("heading", name="Customer lookup", exact=True)).to_be_visible()
    expect(page.get_by_text("Running on the built-in simulator")).to_be_visible()
    page.get_by_label("Customer ID").fill("CUST-0001")
    page.get_by_role("button", name=re.compile("Look up")).click()
    expect(page.get_by_role("heading", name="Anton Budiman", exact=True)).to_be_visible()
    expect(page.get_by_text("Response signature verified")).to_be_visible()
    settle(page)
    screenshot(page, artifacts_dir / "lookup.png")

    # Bulk audit: upload the sample file through the real file input, start, wait.
    page.goto(f"{url}/Bulk_audit")
    expect(page.get_by_role("heading", name="Bulk audit", exact=True)).to_be_visible()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(SAMPLE)
    expect(page.get_by_text("customers.csv", exact=True).first).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').first).to_contain_text("3,000")
    start = page.get_by_role("button", name=re.compile("Start audit"))
    expect(start).to_be_enabled()
    start.click()
    expect(page.locator('[data-testid="stProgress"]').first).to_be_visible()
    link = page.get_by_role("link", name=re.compile(r"Open insights for run #\d+"))
    expect(link).to_be_visible(timeout=RUN_TIMEOUT_MS)
    match = re.search(r"#(\d+)", link.inner_text())
    assert match
    run_id = int(match.group(1))
    settle(page)
    figures = metric_values(page)
    assert figures["Customers"] == "3,000"
    assert figures["Pending"] == "0"
    screenshot(page, artifacts_dir / "bulk_audit.png")

    # Insights: the KPIs are the report CLI's numbers for this run.
    expected = report(streamlit_server, run_id)
    link.click()
    expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
    expect(page.get_by_text("Customers audited")).to_be_visible()
    # issuer mix of each type, credit-card brands; issuers, brands, types, tokens held, uptake
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(8, timeout=30_000)
    settle(page)
    kpis = metric_values(page)
    assert kpis["Customers audited"] == f"{expected['customers']:,}"
    assert kpis["With ≥1 token"] == f"{expected['uptake'] * 100:.1f} %"
    assert kpis["Tokens"] == f"{expected['tokens']:,}"
    assert kpis["Direct debit"] == f"{expected['direct_debit']:,}"
    assert kpis["Credit card"] == f"{expected['credit_card']:,}"
    assert kpis["Failed customers"] == f"{expected['failed']:,}"
    screenshot(page, artifacts_dir / "insights.png")

    # Download the tokens CSV: every token, token IDs never raw.
    button = page.get_by_role("button", name=re.compile(r"Tokens \(.*CSV"))
    with page.expect_download(timeout=30_000) as download_info:
        button.click()
    target = tmp_path / "tokens.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == expected["tokens"]
    assert {"customer_id", "type", "issuer", "brand", "masked_card"} <= set(rows[0])
    assert sum(r["type"] == "CREDIT_CARD" for r in rows) == expected["credit_card"]

    # A chart as PNG, rendered offline on the server only when asked for (our download
    # button, not the chart toolbar's client-side "Download as PNG").
    with page.expect_download(timeout=30_000) as png_info:
        page.get_by_test_id("stDownloadButton").get_by_role(
            "button", name="PNG", exact=True).first.click()
    png = tmp_path / "chart.png"
    png_info.value.save_as(png)
    assert png.read_bytes().startswith(b"\x89PNG")

    # A second, smaller run (pasted IDs) so Runs has two runs to compare.
    page.goto(f"{url}/Bulk_audit")
    ids = [line.split(",")[0] for line in SAMPLE.read_text().splitlines()[1:501]]
    paste = page.get_by_label("Paste customer IDs")
    paste.fill("\n".join(ids))
    paste.press("Control+Enter")
    expect(page.locator('[data-testid="stMetric"]').first).to_contain_text("500")
    page.get_by_role("button", name=re.compile("Start audit")).click()
    expect(page.get_by_role("link", name=f"Open insights for run #{run_id + 1}")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )

    # Runs and Home show the runs too.
    page.goto(f"{url}/Runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.get_by_text("Gained tokens")).to_be_visible()
    settle(page)
    screenshot(page, artifacts_dir / "runs.png")

    page.goto(url)
    expect(page.get_by_role("heading", name="DOKU token audit", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Run #{run_id + 1}")).to_be_visible()
    # The latest run's figures are drawn after its label: wait for them, then read.
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Customers")).to_be_visible()
    settle(page)
    assert metric_values(page)["Customers"] == "500"
    screenshot(page, artifacts_dir / "home.png")
    streamlit_server.assert_clean_log()

"""Insights in a real browser: each change of view is in the URL and is one history
entry, so Back and Forward step through views (widgets and numbers); the URL opens
the same view; what a link asks for that is not here is reported."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from doku.analysis.filters import Filters
from doku.engine.inputs import parse_file
from tests.apptest_support import ROOT, seed_run, world_tokens
from tests.e2e.conftest import StreamlitServer, start_streamlit
from tests.e2e.insights_ui import (
    WAIT_MS,
    choose,
    expect_chosen,
    expect_kpis,
    numbers,
    pick,
    selectbox,
    settle,
)

pytestmark = pytest.mark.e2e
HEAD = b"".join((ROOT / "samples" / "customers.csv").read_bytes().splitlines(True)[:201])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    workdir = tmp_path_factory.mktemp("links")
    for name in ("first.csv", "second.csv"):
        seed_run(workdir / "data", parse_file(HEAD, name), world_tokens())
    with start_streamlit(workdir) as running:
        yield running


def history_length(page: Page) -> int:
    length: int = page.evaluate("history.length")
    return length


def test_the_url_follows_the_widgets_and_opens_the_same_view(
    server: StreamlitServer, browser_page: Page, artifacts_dir: Path
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Insights")
    expect(page.get_by_text("Uptake by", exact=True)).to_be_visible(timeout=WAIT_MS)
    pick(page, "Uptake by", "Issuer")
    expect(page).to_have_url(re.compile(r"insights_by=Issuer"), timeout=WAIT_MS)
    pick(page, "Run", "#1 · first.csv")
    # Another run: "uptake by" back to its default, shown so too (not only in the URL).
    expect(page).to_have_url(re.compile(r"\?insights_run=%231\+%C2%B7\+first\.csv[^&]*$"),
                             timeout=WAIT_MS)
    expect(selectbox(page, "Uptake by")).to_have_value("region")
    # The URL opens the same view in a new session (a shared link).
    shared = page.url
    settle(page)
    page.goto("about:blank")
    page.goto(shared)
    expect(selectbox(page, "Run")).to_have_value(
        re.compile(r"^#1 · first\.csv · 200 customers"), timeout=WAIT_MS)
    page.screenshot(path=artifacts_dir / "insights-links.png", full_page=True)


def test_back_and_forward_step_through_views(
    server: StreamlitServer, browser_page: Page
) -> None:
    page = browser_page
    every = numbers(server.data_dir, 2)
    bca = numbers(server.data_dir, 2, Filters(issuers=("BCA",)))
    assert bca["tokens"] < every["tokens"]  # the filter shows in the KPIs
    page.goto(f"{server.url}/Insights")
    expect_kpis(page, every)
    start = history_length(page)

    choose(page, "Issuer", "BCA")
    expect(page).to_have_url(re.compile(r"\?insights_filter_issuer=BCA$"), timeout=WAIT_MS)
    expect_kpis(page, bca)
    pick(page, "Uptake by", "Issuer")
    expect(page).to_have_url(re.compile(r"\?insights_filter_issuer=BCA&insights_by=Issuer$"),
                             timeout=WAIT_MS)
    settle(page)
    assert history_length(page) == start + 2  # one entry per change

    page.go_back()
    expect(page).to_have_url(re.compile(r"\?insights_filter_issuer=BCA$"))
    expect(selectbox(page, "Uptake by")).to_have_value("region", timeout=WAIT_MS)
    expect_chosen(page, "Issuer", ["BCA"])
    expect_kpis(page, bca)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/Insights$"))
    expect_chosen(page, "Issuer", [])
    expect(selectbox(page, "Uptake by")).to_have_value("region")
    expect_kpis(page, every)

    page.go_forward()
    expect(page).to_have_url(re.compile(r"\?insights_filter_issuer=BCA$"))
    expect_chosen(page, "Issuer", ["BCA"])
    expect(selectbox(page, "Uptake by")).to_have_value("region")
    expect_kpis(page, bca)
    settle(page)
    assert history_length(page) == start + 2  # replaying history adds no entry


def test_a_chart_click_is_a_view_in_the_url_and_in_history(
    server: StreamlitServer, browser_page: Page
) -> None:
    """The drill-down's callback sets the Issuer filter's key: written like a widget's
    change, one history entry, undone by Back."""
    page = browser_page
    every = numbers(server.data_dir, 2)
    page.goto(f"{server.url}/Insights")
    expect_kpis(page, every)
    settle(page)
    start = history_length(page)
    issuer_chart = page.get_by_test_id("stVegaLiteChart").filter(
        has=page.locator("[aria-label^=\"Title text 'Tokens by issuer and type\"]"))
    # Vega-Lite's SVG marks name their datum: "Tokens: 11; Issuer: BCA; ..."
    issuer_chart.locator('path[aria-roledescription="bar"][aria-label*="Issuer: BCA;"]').first \
        .click()
    expect(page).to_have_url(re.compile(r"\?insights_filter_issuer=BCA$"), timeout=WAIT_MS)
    expect_chosen(page, "Issuer", ["BCA"])
    expect_kpis(page, numbers(server.data_dir, 2, Filters(issuers=("BCA",))))
    settle(page)
    assert history_length(page) == start + 1
    page.go_back()
    expect(page).to_have_url(re.compile(r"/Insights$"))
    expect_chosen(page, "Issuer", [])
    expect_kpis(page, every)


def test_a_link_with_unknown_values_says_so(
    server: StreamlitServer, browser_page: Page
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Insights?insights_by=planet&insights_filter_issuer=Nope")
    expect(page.get_by_text("The link asked for uptake by planet, which this run does not "
                            "have: not applied.")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("The link asked for issuer Nope")).to_be_visible()

"""Insights in a real browser: widget values go to the URL, that URL opens the same
view, and what a link asks for that is not here is reported.

Streamlit 1.67 (pages/ folder mode) replaces the history entry on a widget change and
going back to Insights from another page returns to the bare /Insights: back/forward
do not step through or restore Insights views (checked here by hand, Nov 2026)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from doku.engine.inputs import parse_file
from tests.apptest_support import ROOT, seed_run, world_tokens
from tests.e2e.conftest import StreamlitServer, start_streamlit

pytestmark = pytest.mark.e2e
HEAD = b"".join((ROOT / "samples" / "customers.csv").read_bytes().splitlines(True)[:201])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    workdir = tmp_path_factory.mktemp("links")
    for name in ("first.csv", "second.csv"):
        seed_run(workdir / "data", parse_file(HEAD, name), world_tokens())
    with start_streamlit(workdir) as running:
        yield running


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def wait_for_query(page: Page, key: str, prefix: str, timeout_s: float = 30.0) -> None:
    """Until the URL's `key` starts with `prefix` (a loaded machine reruns slowly)."""
    deadline = time.monotonic() + timeout_s
    while not query(page).get(key, [""])[0].startswith(prefix):
        assert time.monotonic() < deadline, (key, prefix, page.url)
        page.wait_for_timeout(200)


def settle(page: Page) -> None:
    """The script run is over (no 'Running...' status)."""
    page.wait_for_load_state("networkidle")
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)


def pick(page: Page, label: str, typed: str) -> None:
    """Type into the selectbox labelled `label` and take the first match (the dropdown
    may reach beyond the viewport, so no option is clicked)."""
    settle(page)
    box = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_text(label, exact=True)).locator("input")
    box.click()
    box.press_sequentially(typed)
    box.press("Enter")


def test_the_url_follows_the_widgets_and_opens_the_same_view(
    server: StreamlitServer, browser_page: Page, artifacts_dir: Path
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Insights")
    expect(page.get_by_text("Uptake by")).to_be_visible(timeout=30_000)
    pick(page, "Uptake by", "Issuer")
    expect(page).to_have_url(re.compile(r"insights_by=Issuer"), timeout=30_000)
    pick(page, "Run", "#1 · first.csv")
    wait_for_query(page, "insights_run", "#1 · first.csv")
    # The URL opens the same view in a new session (a shared link).
    shared = page.url
    settle(page)
    page.goto("about:blank")
    page.goto(shared)
    expect(page.get_by_role("combobox", name="Run", exact=True)).to_have_value(
        re.compile(r"^#1 · first\.csv · 200 customers"), timeout=30_000)
    page.screenshot(path=artifacts_dir / "insights-links.png", full_page=True)


def test_a_link_with_unknown_values_says_so(
    server: StreamlitServer, browser_page: Page
) -> None:
    page = browser_page
    page.goto(f"{server.url}/Insights?insights_by=planet&insights_filter_issuer=Nope")
    expect(page.get_by_text("The link asked for uptake by planet, which this run does not "
                            "have: not applied.")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The link asked for issuer Nope")).to_be_visible()

"""The home page renders in a real browser, on the built-in simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import StreamlitServer

pytestmark = pytest.mark.e2e


def test_home_page_renders(
    streamlit_server: StreamlitServer, browser_page: Page, artifacts_dir: Path
) -> None:
    page = browser_page
    page.goto(streamlit_server.url)
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    expect(page.get_by_role("heading", name="DOKU token audit")).to_be_visible()
    expect(page.get_by_text("Running on the built-in simulator")).to_be_visible()
    expect(page).to_have_title("DOKU token audit")
    page.screenshot(path=artifacts_dir / "home.png", full_page=True)
    streamlit_server.assert_clean_log()

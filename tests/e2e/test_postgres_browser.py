"""The dashboard on a shared PostgreSQL store (DOKU_DATABASE_URL), in a real browser:
an audit of pasted IDs runs to the end, its KPIs are `doku report`'s on the same
database, the sidebar names the store with its password hidden, and the password is
nowhere in the page, the server log or a download."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import start_streamlit
from tests.e2e.test_journey import doku_report, metric_values, settle

pytestmark = pytest.mark.e2e

IDS = [f"CUST-{10001 + i}" for i in range(120)]


def test_an_audit_on_postgresql_end_to_end(
    pg_url: str, browser_page: Page, tmp_path: Path
) -> None:
    password = unquote(urlsplit(pg_url).password or "")
    assert len(password) >= 8  # the throw-away cluster authenticates with a password
    page = browser_page
    with start_streamlit(tmp_path, {"DOKU_DATABASE_URL": pg_url}) as server:
        page.goto(f"{server.url}/Bulk_audit")
        expect(page.get_by_role("heading", name="Bulk audit", exact=True)).to_be_visible()
        sidebar = page.get_by_test_id("stSidebar")
        # escape_md puts a word joiner after ":" and "@" (no autolinks).
        expect(sidebar).to_contain_text(re.compile(
            r"Store: PostgreSQL postgresql\+psycopg:\u2060?//\w+:\*\*\*@\u2060?127\.0\.0\.1:"))
        paste = page.get_by_label("Paste customer IDs")
        paste.fill("\n".join(IDS))
        paste.press("Control+Enter")
        expect(page.locator('[data-testid="stMetric"]').first).to_contain_text(f"{len(IDS)}")
        page.get_by_role("button", name=re.compile("Start audit")).click()
        link = page.get_by_role("link", name=re.compile(r"Open insights for run #\d+"))
        expect(link).to_be_visible(timeout=60_000)
        match = re.search(r"#(\d+)", link.inner_text())
        assert match
        run_id = int(match.group(1))

        expected = doku_report(run_id, {"DOKU_DATABASE_URL": pg_url})
        assert expected["customers"] == len(IDS)
        assert expected["fetched"] == len(IDS)
        link.click()
        expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
        expect(page.get_by_text("Customers audited")).to_be_visible()
        settle(page)
        kpis = metric_values(page)
        assert kpis["Customers audited"] == f"{expected['customers']:,}"
        assert kpis["Tokens"] == f"{expected['tokens']:,}"
        assert kpis["Direct debit"] == f"{expected['direct_debit']:,}"
        assert kpis["Credit card"] == f"{expected['credit_card']:,}"

        page.goto(f"{server.url}/Runs")
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        settle(page)
        assert password not in page.content()
        assert not any(server.data_dir.iterdir()), "a PostgreSQL store writes no SQLite file"
    assert password not in server.log_text()

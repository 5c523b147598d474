"""Sharing what Insights and Runs show, in a real browser: two runs of different type
scope compared on Runs (with the scope warning first), the "Link to this view" opened
in another browser (same numbers), and a filtered download (its file name says the
filters, its rows all match them). Numbers are the library's for the seeded runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from doku.analysis import exports
from doku.analysis.comparison import compare_runs
from doku.analysis.filters import Filters
from doku.engine.inputs import parse_file
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from doku.models import CREDIT_CARD
from tests.apptest_support import ROOT, seed_run, world_tokens
from tests.e2e.conftest import StreamlitServer, start_streamlit
from tests.e2e.insights_ui import (
    WAIT_MS,
    choose,
    expect_chosen,
    expect_kpis,
    frames,
    kpi,
    numbers,
    pick,
    selectbox,
    settle,
)
from ui.present import fmt_int, fmt_share, run_label

pytestmark = pytest.mark.e2e
INPUT = "customers.csv"
HEAD = b"".join((ROOT / "samples" / INPUT).read_bytes().splitlines(True)[:201])
BCA_CARDS = Filters(types=(CREDIT_CARD,), issuers=("BCA",))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """#1: 200 customers, every token type; #2 (later, the latest): the same customers,
    credit cards only, as the simulator's world holds them a while later."""
    workdir = tmp_path_factory.mktemp("share")
    parsed = parse_file(HEAD, INPUT)
    seed_run(workdir / "data", parsed, world_tokens())
    later = world_tokens(epoch=1)
    seed_run(workdir / "data", parsed.ids, lambda cid: [t for t in later(cid)
                                                        if t.type == CREDIT_CARD],
             token_type=CREDIT_CARD, input_name=INPUT)
    with start_streamlit(workdir) as running:
        yield running


def first_run_label(server: StreamlitServer) -> str:
    with Store(server.data_dir / DB_NAME) as store:
        run = store.get_run(1)
    assert run is not None
    return run_label(run)


def test_runs_of_different_type_scope_compare_credit_cards_with_a_warning(
    server: StreamlitServer, browser_page: Page
) -> None:
    page = browser_page
    cmp = compare_runs(frames(server.data_dir, 1), frames(server.data_dir, 2))
    assert cmp.scope == CREDIT_CARD
    assert (len(cmp.gained), len(cmp.lost)) != (0, 0)  # the runs differ in something
    page.goto(f"{server.url}/Runs")
    expect(selectbox(page, "From run (A)")).to_have_value(re.compile(r"^#1 "), timeout=WAIT_MS)
    expect(selectbox(page, "To run (B)")).to_have_value(re.compile(r"^#2 "))
    warnings = page.get_by_test_id("stAlertContentWarning").get_by_test_id(
        "stMarkdownContainer")
    expect(warnings).to_have_text([
        "The runs differ in token_type",
        "Tokens and uptake are compared for CREDIT_CARD only, the type scope both runs "
        "fetched",
    ], timeout=WAIT_MS)
    expect(kpi(page, "Uptake A")).to_have_text(fmt_share(cmp.uptake_a.share))
    expect(kpi(page, "Uptake B")).to_have_text(fmt_share(cmp.uptake_b.share))
    expect(kpi(page, "Gained tokens")).to_have_text(fmt_int(len(cmp.gained)))
    expect(kpi(page, "Lost tokens")).to_have_text(fmt_int(len(cmp.lost)))


def test_a_shared_link_opens_the_same_view_in_another_browser(
    server: StreamlitServer, browser_page: Page, browser: Browser
) -> None:
    page = browser_page
    expected = numbers(server.data_dir, 1, BCA_CARDS)
    page.goto(f"{server.url}/Insights")
    expect(selectbox(page, "Run")).to_have_value(re.compile(r"^#2 "), timeout=WAIT_MS)
    pick(page, "Run", "#1 ")
    expect(selectbox(page, "Run")).to_have_value(re.compile(r"^#1 "), timeout=WAIT_MS)
    choose(page, "Issuer", "BCA")
    expect(page).to_have_url(re.compile(r"insights_filter_issuer=BCA"), timeout=WAIT_MS)
    choose(page, "Token type", "Credit card")
    expect(page).to_have_url(re.compile(r"insights_filter_type=Credit\+card"), timeout=WAIT_MS)
    expect_kpis(page, expected)
    settle(page)
    page.get_by_text("Link to this view", exact=True).click()
    link = page.get_by_test_id("stCode").inner_text().strip()
    assert link.startswith(f"{server.url}/Insights?")
    assert parse_qs(urlsplit(link).query) == {
        "insights_run": [first_run_label(server)],
        "insights_filter_type": ["Credit card"],
        "insights_filter_issuer": ["BCA"],
    }
    shown_here = [kpi(page, label).inner_text() for label in ("Customers audited",
                                                              "With ≥1 token", "Tokens")]

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        elsewhere = other.new_page()
        elsewhere.goto(link)
        expect(selectbox(elsewhere, "Run")).to_have_value(re.compile(r"^#1 "), timeout=WAIT_MS)
        expect_chosen(elsewhere, "Issuer", ["BCA"])
        expect_chosen(elsewhere, "Token type", ["Credit card"])
        expect_kpis(elsewhere, expected)
        assert [kpi(elsewhere, label).inner_text() for label in (
            "Customers audited", "With ≥1 token", "Tokens")] == shown_here
    finally:
        other.close()


def test_a_filtered_download_is_named_and_filled_by_its_filters(
    server: StreamlitServer, browser_page: Page
) -> None:
    page = browser_page
    view = frames(server.data_dir, 1, BCA_CARDS)
    name = exports.file_name(view, "tokens", "csv")
    assert name == "doku-run-1-tokens-type-CREDIT_CARD-issuer-BCA.csv"
    query = urlencode({"insights_run": first_run_label(server),
                       "insights_filter_issuer": "BCA", "insights_filter_type": "Credit card"})
    page.goto(f"{server.url}/Insights?{query}")
    expect_kpis(page, numbers(server.data_dir, 1, BCA_CARDS))
    settle(page)
    with page.expect_download(timeout=WAIT_MS) as download_info:
        page.get_by_role("button", name=re.compile(r"^Tokens \(.*CSV")).click()
    download = download_info.value
    assert download.suggested_filename == name
    path = download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == len(view.tokens) > 0
    assert {(r["type"], r["issuer"]) for r in rows} == {(CREDIT_CARD, "BCA")}

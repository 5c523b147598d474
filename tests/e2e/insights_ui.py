"""What the Insights browser tests share: driving its widgets, reading its KPIs, and
the numbers the library gives for a run and filters (the page must show the same)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from doku.analysis.aggregates import apply_filters, summary
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, load_run_frames
from doku.engine.schema import DB_NAME
from doku.engine.store import Store

WAIT_MS = 30_000
CHOICE_TRIES = 3  # a choice a rebuilt widget dropped is made again (`pick`, `choose`)


def settle(page: Page) -> None:
    """The script run is over (no 'Running...' status)."""
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=WAIT_MS)


def selectbox(page: Page, label: str) -> Locator:
    return page.get_by_role("combobox", name=label, exact=True)


def pick(page: Page, label: str, typed: str) -> None:
    """Type into the selectbox labelled `label` and take the first match (the dropdown
    may reach beyond the viewport, so no option is clicked), and see it taken: a script
    run about to start can rebuild the widget and drop the choice (see `choose`), so
    it is made again until the box shows it."""
    shown = re.compile(re.escape(typed.strip()), re.IGNORECASE)
    for attempt in range(1, CHOICE_TRIES + 1):
        settle(page)
        box = selectbox(page, label)
        box.click()
        box.press_sequentially(typed)
        box.press("Enter")
        settle(page)
        try:
            expect(selectbox(page, label)).to_have_value(shown, timeout=WAIT_MS // 6)
            return
        except AssertionError:
            if attempt == CHOICE_TRIES:
                raise


def multiselect(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMultiSelect").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))


def choose(page: Page, label: str, option: str) -> None:
    """Add `option` to the multiselect labelled `label`, and see it chosen.

    A script run that was about to start when the choice was made (the status widget
    not shown yet, so `settle` saw none) can rebuild the widget and drop the choice: a
    loaded CI machine did, once. So the choice is made again until its tag shows."""
    for attempt in range(1, CHOICE_TRIES + 1):
        settle(page)
        box = multiselect(page, label)
        box.locator("input").click()
        page.get_by_role("option", name=option, exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        chosen = box.locator("[data-tag]").filter(has_text=option)
        try:
            expect(chosen).to_have_count(1, timeout=WAIT_MS // 6)
            return
        except AssertionError:
            if attempt == CHOICE_TRIES:
                raise


def expect_chosen(page: Page, label: str, options: list[str]) -> None:
    """The multiselect labelled `label` shows exactly `options` as chosen."""
    tags = multiselect(page, label).locator('[data-tag]')
    if options:
        expect(tags).to_have_text(options, timeout=WAIT_MS)
    else:
        expect(tags).to_have_count(0, timeout=WAIT_MS)


def kpi(page: Page, label: str) -> Locator:
    """The value of the metric labelled `label`."""
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    return metric.get_by_test_id("stMetricValue")


def expect_kpis(page: Page, expected: dict[str, Any]) -> None:
    """Customers, uptake and tokens as the page spells the library's `summary`."""
    uptake = expected["uptake"]
    expect(kpi(page, "Customers audited")).to_have_text(f"{expected['customers']:,}",
                                                        timeout=WAIT_MS)
    expect(kpi(page, "With ≥1 token")).to_have_text(
        "-" if uptake is None else f"{uptake * 100:.1f} %", timeout=WAIT_MS)
    expect(kpi(page, "Tokens")).to_have_text(f"{expected['tokens']:,}", timeout=WAIT_MS)


def frames(data_dir: Path, run_id: int, filters: Filters | None = None) -> RunFrames:
    """A stored run's frames, `filters` applied, as the library reads them."""
    with Store(data_dir / DB_NAME) as store:
        loaded = load_run_frames(store, run_id)
    return loaded if filters is None else apply_filters(loaded, filters)


def numbers(data_dir: Path, run_id: int, filters: Filters | None = None) -> dict[str, Any]:
    """The library's headline numbers of a stored run with `filters`."""
    return summary(frames(data_dir, run_id, filters))

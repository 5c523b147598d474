"""AppTest of Insights' URL history (ui/links.py): every change of view - a widget or
a callback writing a widget's key, as a chart drill-down does - is written to the URL
(the browser makes it one history entry); a URL this session did not write (Back,
Forward, a link, a return from another page) is read into the widgets and not written
back. AppTest has no browser history: Back is the previous query string, rerun with
the widgets unchanged, which is what the browser sends (tests/e2e checks the browser)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.inputs import parse_file
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from tests.apptest_support import (
    ROOT,
    isolate,
    metrics,
    ok,
    open_page,
    seed_run,
    shown,
    world_tokens,
)
from ui import links
from ui.insights_view import BRAND_KEY, BY_KEY, ISSUER_KEY, RUN_KEY, TYPE_KEY
from ui.present import run_label

INSIGHTS = "pages/3_Insights.py"
LINES = (ROOT / "samples" / "customers.csv").read_bytes().splitlines(True)
# The seeded runs' KPIs (Customers, With >=1 token, Tokens) as the page shows them.
ALL_2 = ("300", "65.0 %", "350")
BCA_2 = ("300", "22.3 %", "82")
BCA_VISA_2 = ("300", "6.0 %", "18")
ALL_1 = ("150", "64.7 %", "163")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """#1: the sample's first 150 customers, #2 (the latest): its first 300."""
    folder = tmp_path_factory.mktemp("history") / "data"
    for name, rows in (("first.csv", 150), ("second.csv", 300)):
        seed_run(folder, parse_file(b"".join(LINES[:rows + 1]), name), world_tokens())
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


@pytest.fixture(scope="module")
def first_run(data_dir: Path) -> str:
    with Store(data_dir / DB_NAME) as store:
        run = store.get_run(1)
    assert run is not None
    return run_label(run)


def kpis(at: AppTest) -> tuple[str, str, str]:
    shown_now = metrics(at)
    return shown_now["Customers audited"], shown_now["With ≥1 token"], shown_now["Tokens"]


def view(at: AppTest) -> tuple[int, list[str], list[str], str]:
    return (at.selectbox(key=RUN_KEY).value, at.multiselect(key=ISSUER_KEY).value,
            at.multiselect(key=BRAND_KEY).value, at.selectbox(key=BY_KEY).value)


def navigate(at: AppTest, query: dict[str, str]) -> AppTest:
    """What Back/Forward does: rerun with that entry's query string, widgets untouched,
    flagged as history navigation (as the frontend's popstate rerun is)."""
    at.query_params.clear()
    at.query_params.update(query)
    with mock.patch.object(links, "history_navigation", return_value=True):
        return ok(at.run(), no_errors=True)


def test_each_change_of_view_is_written_to_the_url(first_run: str) -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    assert at.query_params == {}
    assert kpis(at) == ALL_2
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run(), no_errors=True)
    assert at.query_params == {ISSUER_KEY: "BCA"}
    assert kpis(at) == BCA_2
    ok(at.selectbox(key=BY_KEY).set_value("Issuer").run(), no_errors=True)
    assert at.query_params == {ISSUER_KEY: "BCA", BY_KEY: "Issuer"}
    ok(at.multiselect(key=TYPE_KEY).set_value(["CREDIT_CARD", "DIRECT_DEBIT"]).run())
    assert at.query_params == {TYPE_KEY: ["Credit card", "Direct debit"], ISSUER_KEY: "BCA",
                               BY_KEY: "Issuer"}
    ok(at.selectbox(key=RUN_KEY).set_value(1).run(), no_errors=True)  # filters reset
    assert at.query_params == {RUN_KEY: first_run}
    assert kpis(at) == ALL_1
    ok(at.selectbox(key=RUN_KEY).set_value(2).run(), no_errors=True)  # the latest: left out
    assert at.query_params == {}
    ok(at.run(), no_errors=True)  # nothing changed, nothing written
    assert at.query_params == {}


def test_a_callback_writing_a_widget_key_goes_to_the_url() -> None:
    """As the chart drill-down's on_select callback does (AppTest applies a session
    state write before the next run, like a callback)."""
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    at.session_state[ISSUER_KEY] = ["BCA"]
    ok(at.run(), no_errors=True)
    assert at.query_params == {ISSUER_KEY: "BCA"}
    assert view(at) == (2, ["BCA"], [], "region")
    at.session_state[BRAND_KEY] = ["visa"]
    at.session_state[BY_KEY] = "Issuer"
    ok(at.run(), no_errors=True)
    assert at.query_params == {ISSUER_KEY: "BCA", BRAND_KEY: "visa", BY_KEY: "Issuer"}
    assert kpis(at) == BCA_VISA_2


def test_back_and_forward_restore_widgets_and_numbers(first_run: str) -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run(), no_errors=True)
    ok(at.multiselect(key=BRAND_KEY).set_value(["visa"]).run(), no_errors=True)
    ok(at.selectbox(key=RUN_KEY).set_value(1).run(), no_errors=True)
    assert (view(at), kpis(at)) == ((1, [], [], "region"), ALL_1)
    # Back, Back, Forward: each entry read into the widgets, the URL left as it is.
    navigate(at, {ISSUER_KEY: "BCA", BRAND_KEY: "visa"})
    assert (view(at), kpis(at)) == ((2, ["BCA"], ["visa"], "region"), BCA_VISA_2)
    assert at.query_params == {ISSUER_KEY: "BCA", BRAND_KEY: "visa"}
    navigate(at, {ISSUER_KEY: "BCA"})
    assert (view(at), kpis(at)) == ((2, ["BCA"], [], "region"), BCA_2)
    navigate(at, {ISSUER_KEY: "BCA", BRAND_KEY: "visa"})
    assert (view(at), kpis(at)) == ((2, ["BCA"], ["visa"], "region"), BCA_VISA_2)
    navigate(at, {RUN_KEY: first_run})
    assert (view(at), kpis(at)) == ((1, [], [], "region"), ALL_1)
    navigate(at, {})  # the first entry: the latest run, no filter
    assert (view(at), kpis(at)) == ((2, [], [], "region"), ALL_2)
    # A change after going back is written (the browser drops the forward entries).
    ok(at.selectbox(key=BY_KEY).set_value("Issuer").run(), no_errors=True)
    assert at.query_params == {BY_KEY: "Issuer"}


def test_a_change_wins_over_a_url_the_browser_has_not_updated_yet() -> None:
    """A click just after a run, before the browser applied that run's URL: the rerun
    carries the older query string, and the widget's change is kept and written."""
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run(), no_errors=True)
    at.query_params.clear()  # the URL before the BCA entry
    ok(at.multiselect(key=BRAND_KEY).set_value(["visa"]).run(), no_errors=True)
    assert view(at) == (2, ["BCA"], ["visa"], "region")
    assert at.query_params == {ISSUER_KEY: "BCA", BRAND_KEY: "visa"}


def test_a_link_is_read_not_rewritten_until_the_view_changes(first_run: str) -> None:
    at = open_page(INSIGHTS, timeout=60, run="1", insights_filter_issuer=["BCA", "Nope"],
                   insights_by="planet")
    assert view(at) == (1, ["BCA"], [], "region")
    assert sorted(shown(w.value) for w in at.warning) == [
        "The link asked for issuer Nope, which this run does not have: not applied.",
        "The link asked for uptake by planet, which this run does not have: not applied.",
    ]
    assert at.query_params == {"run": "1", ISSUER_KEY: ["BCA", "Nope"], BY_KEY: "planet"}
    ok(at.run())  # a rerun: the notes stay, the URL too
    assert len(at.warning) == 2
    assert at.query_params == {"run": "1", ISSUER_KEY: ["BCA", "Nope"], BY_KEY: "planet"}
    ok(at.selectbox(key=BY_KEY).set_value("Issuer").run())
    assert at.query_params == {RUN_KEY: first_run, ISSUER_KEY: "BCA", BY_KEY: "Issuer"}
    assert len(at.warning) == 2  # still what the link asked for, until another run


def test_back_to_a_link_with_unknown_values_notes_them_again() -> None:
    at = open_page(INSIGHTS, timeout=60, insights_filter_brand="martian")
    assert [shown(w.value) for w in at.warning] == [
        "The link asked for brand martian, which this run does not have: not applied."]
    ok(at.selectbox(key=RUN_KEY).set_value(1).run())  # another run: the note goes
    assert not at.warning
    navigate(at, {BRAND_KEY: "martian"})
    assert [shown(w.value) for w in at.warning] == [
        "The link asked for brand martian, which this run does not have: not applied."]
    assert view(at) == (2, [], [], "region")


def test_coming_back_from_another_page_opens_the_view_in_the_url() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run(), no_errors=True)
    ok(at.switch_page("pages/4_Runs.py").run())
    ok(at.switch_page(INSIGHTS).run(), no_errors=True)
    assert view(at) == (2, ["BCA"], [], "region")
    assert kpis(at) == BCA_2


def test_a_rerun_carrying_the_url_before_the_last_write_keeps_the_view() -> None:
    """Any rerun (not Back/Forward) sent before the browser applied the last write
    carries the older query string: it must not be read as a view (it reset filters)."""
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run(), no_errors=True)
    ok(at.multiselect(key=TYPE_KEY).set_value(["CREDIT_CARD"]).run(), no_errors=True)
    at.query_params.clear()
    at.query_params.update({ISSUER_KEY: "BCA"})  # the URL the type's write replaced
    ok(at.run(), no_errors=True)
    assert view(at)[1] == ["BCA"]
    assert at.session_state[TYPE_KEY] == ["CREDIT_CARD"]

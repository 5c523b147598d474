"""AppTest: Insights lives in the URL - run, filters and "uptake by" are query
parameters; a link opens that view (history: tests/test_links_history.py); what a link asks for that is not here is reported,
never silently replaced; the share link always names the run."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.inputs import parse_file
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
from tests.backend_support import open_store, sqlite_only
from ui.present import run_label

INSIGHTS = "pages/3_Insights.py"
HEAD = b"".join((ROOT / "samples" / "customers.csv").read_bytes().splitlines(True)[:301])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    folder = tmp_path_factory.mktemp("links") / "data"
    for name in ("first.csv", "second.csv"):
        seed_run(folder, parse_file(HEAD, name), world_tokens())
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def label(data_dir: Path, run_id: int) -> str:
    with open_store(data_dir) as store:
        run = store.get_run(run_id)
    assert run is not None
    return run_label(run)


def warnings(at: AppTest) -> list[str]:
    return [shown(w.value) for w in at.warning]


def open_insights(**query: str) -> AppTest:
    return open_page(INSIGHTS, timeout=60, **query)


def test_a_link_opens_run_filters_and_breakdown(data_dir: Path) -> None:
    at = open_insights(insights_run=label(data_dir, 1), insights_filter_type="Credit card",
                       insights_by="Issuer")
    ok(at, no_errors=True)
    assert at.selectbox(key="insights_run").value == 1
    assert at.multiselect(key="insights_filter_type").value == ["CREDIT_CARD"]
    assert at.selectbox(key="insights_by").value == "Issuer"
    assert metrics(at)["Direct debit"] == "0"
    assert not warnings(at)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_link_opens_segment_filters_and_the_url_follows_a_change() -> None:
    at = open_insights(insights_filter_attr_region=["East Java", "North Sumatra"],
                       insights_filter_attr_plan="plus")
    ok(at, no_errors=True)
    assert at.multiselect(key="insights_filter_attr_region").value == [
        "East Java", "North Sumatra"]
    assert at.multiselect(key="insights_filter_attr_plan").value == ["plus"]
    ok(at.multiselect(key="insights_filter_attr_plan").set_value([]).run(), no_errors=True)
    assert at.query_params == {"insights_filter_attr_region": ["East Java", "North Sumatra"]}


@sqlite_only("reads the page's source, not the store")
def test_no_insights_widget_uses_streamlits_url_binding() -> None:
    """`bind="query-params"` would make the browser replace the history entry on each
    change (Back would leave the page): ui/links.py writes the URL instead."""
    at = open_insights()
    assert {w.proto.query_param_key for w in (*at.selectbox, *at.multiselect)} == {""}


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_the_share_link_always_names_the_run(data_dir: Path) -> None:
    at = open_insights()  # the latest run: left out of the URL by Streamlit
    ok(at.selectbox(key="insights_by").select("Issuer").run())
    (code,) = [c.value for c in at.code]
    query = parse_qs(code.split("?", 1)[1])
    assert query == {"insights_run": [label(data_dir, 2)], "insights_by": ["Issuer"]}
    assert code.startswith("Insights?")


def test_an_unknown_run_in_the_link_is_reported() -> None:
    at = open_insights(insights_run="#99 gone · x.csv")
    assert warnings(at) == [
        "The link asked for run #99 gone · x.csv, which is not in this data folder "
        "(deleted, archived or renamed?): showing the latest run instead."]
    assert at.selectbox(key="insights_run").value == 2
    at = open_insights(run="99")
    assert warnings(at) == [
        "The link asked for run 99, which is not in this data folder "
        "(deleted, archived or renamed?): showing the latest run instead."]
    assert open_insights(run="1").selectbox(key="insights_run").value == 1


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_unknown_values_in_the_link_are_reported_not_applied() -> None:
    at = open_insights(insights_filter_issuer=["BCA", "Nope <b>"], insights_by="planet")
    assert sorted(warnings(at)) == sorted([
        "The link asked for issuer Nope <b>, which this run does not have: not applied.",
        "The link asked for uptake by planet, which this run does not have: not applied.",
    ])
    assert at.multiselect(key="insights_filter_issuer").value == ["BCA"]
    ok(at.selectbox(key="insights_run").select(1).run())  # another run: notes go
    assert not warnings(at)

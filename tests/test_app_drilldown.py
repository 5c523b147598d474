"""Drill-down on Insights: a click on a bar, slice or segment of a chart filters the
page to its RAW value (issuer "(blank)", type "CREDIT_CARD", a segment value without
its " · small"), seen in the filter widgets and the KPIs.

AppTest has no setter for chart selections, so `click` sends what the browser sends
when a mark is clicked: the chart's widget state {"selection": {"pick": [{field:
value}]}} with the values of the clicked row of the chart's own data, through
AppTest's run with widget states (private `_run`: the public `run` only sends the
widgets AppTest models). The `on_select` callback then runs as in the app; the real
click is covered by tests/e2e/test_drilldown_browser.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from doku.analysis.charts import PICK
from doku.engine.inputs import parse_file
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.apptest_support import isolate, metrics, open_page, seed_run
from tests.apptest_support import ok as check
from tests.backend_support import sqlite_only
from ui.insights_drill import Drill, apply_pick, chart_key, picked
from ui.insights_view import BRAND_KEY, BY_KEY, ISSUER_KEY, TYPE_KEY, attribute_keys

INSIGHTS = "pages/3_Insights.py"
WALLET = "WALLET_RECURRING"
TIER_KEY = attribute_keys(["tier"])["tier"]


def held(cid: str, token_type: str, issuer: str, brand: str | None = None) -> list[Token]:
    return [Token(cid, f"Customer {cid}", token_type, issuer, brand, "****", f"tok-{cid}")]


def drill_tokens() -> dict[str, list[Token]]:
    """45 customers (tier gold: D001-D040, silver: D041-D045, a small segment) holding
    24 tokens: credit cards BCA 11 (visa), BNI 5 (mastercard); direct debits BRI 5,
    no issuer 2; one wallet token (a type DOKU may add, not a filter option)."""
    tokens: dict[str, list[Token]] = {}
    for n in range(1, 11):
        tokens[f"D{n:03d}"] = held(f"D{n:03d}", CREDIT_CARD, "BCA", "visa")
    for n in range(11, 16):
        tokens[f"D{n:03d}"] = held(f"D{n:03d}", CREDIT_CARD, "BNI", "mastercard")
    for n in range(16, 21):
        tokens[f"D{n:03d}"] = held(f"D{n:03d}", DIRECT_DEBIT, "BRI")
    for n in (21, 22):
        tokens[f"D{n:03d}"] = held(f"D{n:03d}", DIRECT_DEBIT, "")
    tokens["D041"] = held("D041", CREDIT_CARD, "BCA", "visa")
    tokens["D042"] = held("D042", WALLET, "OVO")
    return tokens


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    folder = tmp_path_factory.mktemp("drill") / "data"
    rows = "".join(f"D{n:03d},{'gold' if n <= 40 else 'silver'}\n" for n in range(1, 46))
    seed_run(folder, parse_file(f"customer_id,tier\n{rows}".encode(), "drill.csv"),
             drill_tokens())
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def ok(at: AppTest) -> AppTest:
    return check(at, no_errors=True)


def chart(at: AppTest, title: str) -> Any:
    """The chart whose title starts with `title`."""
    for element in at.get("vega_lite_chart"):
        text = json.loads(element.proto.spec)["title"]["text"]
        if text.startswith(title):
            return element
    raise AssertionError(f"no chart titled {title!r}")


def chart_rows(element: Any) -> pd.DataFrame:
    (dataset,) = element.proto.datasets
    return convert_arrow_bytes_to_pandas_df(dataset.data.data)


def click(at: AppTest, title: str, where: Mapping[str, str]) -> AppTest:
    """Click the mark of chart `title` drawn from the data row matching `where` (the
    labels the chart shows): send the values of its selection fields, as Vega does."""
    element = chart(at, title)
    (param,) = [p for p in json.loads(element.proto.spec)["params"] if p["name"] == PICK]
    rows = chart_rows(element)
    for column, value in where.items():
        rows = rows[rows[column] == value]
    row = rows.iloc[0]
    point = {field: str(row[field]) for field in param["select"]["fields"]}
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(
        id=element.proto.id, string_value=json.dumps({"selection": {PICK: [point]}})))
    return ok(at._run(states))


def tokens_kpi(at: AppTest) -> str:
    return metrics(at)["Tokens"]


def test_clicking_an_issuer_bar_filters_the_page_and_works_again_after_clearing() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    assert tokens_kpi(at) == "24"
    assert "Click a bar or a slice of a chart below to filter the whole page to it" in (
        " ".join(c.value for c in at.caption))
    first_key = chart(at, "Tokens by issuer and type").proto.id
    click(at, "Tokens by issuer and type", {"issuer": "BCA"})
    assert at.multiselect(key=ISSUER_KEY).value == ["BCA"]
    assert tokens_kpi(at) == "11"
    assert set(chart_rows(chart(at, "Tokens by issuer and type"))["issuer"]) == {"BCA"}
    assert chart(at, "Tokens by issuer and type").proto.id != first_key  # a fresh chart

    ok(at.multiselect(key=ISSUER_KEY).set_value([]).run())  # the filters panel clears it
    assert tokens_kpi(at) == "24"
    click(at, "Tokens by issuer and type", {"issuer": "(blank)"})
    assert at.multiselect(key=ISSUER_KEY).value == ["(blank)"]
    assert tokens_kpi(at) == "2"


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_type_slice_sets_the_raw_type_and_a_wallet_slice_says_it_cannot() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    click(at, "Tokens by type", {"type_label": "Credit card"})
    assert at.multiselect(key=TYPE_KEY).value == [CREDIT_CARD]
    assert tokens_kpi(at) == "16"
    ok(at.multiselect(key=TYPE_KEY).set_value([]).run())
    click(at, "Tokens by type", {"type_label": "Wallet recurring"})
    assert at.multiselect(key=TYPE_KEY).value == []
    assert [t.value for t in at.toast] == [
        "Not a filter option, so not applied: Wallet recurring."]
    assert tokens_kpi(at) == "24"


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_brand_bar_sets_the_brand_filter() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    click(at, "Tokens by card brand", {"brand": "mastercard"})
    assert at.multiselect(key=BRAND_KEY).value == ["mastercard"]
    assert tokens_kpi(at) == "5"


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_small_segment_bar_sets_its_attribute_filter_to_the_raw_value() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.selectbox(key=BY_KEY).select("tier").run())
    click(at, "Token uptake by tier", {"segment_value": "silver · small"})
    assert at.multiselect(key=TIER_KEY).value == ["silver"]
    assert metrics(at)["Customers audited"] == "5"
    assert tokens_kpi(at) == "2"  # D041's card, D042's wallet


def test_uptake_by_issuer_and_by_type_set_issuer_and_type() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    ok(at.selectbox(key=BY_KEY).select("Issuer").run())
    click(at, "Token uptake by issuer", {"segment_value": "BNI"})
    assert at.multiselect(key=ISSUER_KEY).value == ["BNI"]
    assert tokens_kpi(at) == "5"
    ok(at.selectbox(key=BY_KEY).select("Token type").run())
    click(at, "Token uptake by token type", {"segment_value": "Direct debit"})
    assert at.multiselect(key=TYPE_KEY).value == [DIRECT_DEBIT]
    assert at.multiselect(key=ISSUER_KEY).value == ["BNI"]  # the other filter stays
    assert tokens_kpi(at) == "0"


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_an_issuer_mix_bar_sets_type_and_issuer() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True)
    click(at, "Credit card issuer mix", {"issuer": "BNI"})
    assert at.multiselect(key=TYPE_KEY).value == [CREDIT_CARD]
    assert at.multiselect(key=ISSUER_KEY).value == ["BNI"]
    assert tokens_kpi(at) == "5"


# -- the callback's logic on a plain dict (what st.session_state holds) ----------------------
ISSUERS = Drill({"issuer": ISSUER_KEY}, {ISSUER_KEY: ("BCA", "(blank)")})
MIX = Drill({"type": TYPE_KEY, "issuer": ISSUER_KEY},
            {TYPE_KEY: (CREDIT_CARD, DIRECT_DEBIT), ISSUER_KEY: ("BCA", "OVO")})


@sqlite_only("no store: a pure function")
def test_picked_reads_every_form_a_point_selection_takes() -> None:
    assert picked([{"issuer": "BCA"}, {"issuer": "(blank)"}], "issuer") == ["BCA", "(blank)"]
    assert picked({"issuer": ["BCA"], "vlPoint": {}}, "issuer") == ["BCA"]  # Vega's own
    assert picked({}, "issuer") == []  # a click that cleared the selection
    assert picked([{"type": "CREDIT_CARD"}], "issuer") == []
    assert picked(None, "issuer") == []


@sqlite_only("no store: a pure function")
def test_apply_pick_sets_offered_values_and_returns_the_others() -> None:
    state: dict[str, Any] = {"c": {"selection": {PICK: [{"issuer": "(blank)"}]}}}
    assert apply_pick(state, "c", ISSUERS) == []
    assert state[ISSUER_KEY] == ["(blank)"]

    state = {"c": {"selection": {PICK: [{"type": WALLET, "issuer": "OVO"}]}},
             TYPE_KEY: [DIRECT_DEBIT]}
    assert apply_pick(state, "c", MIX) == ["Wallet recurring"]
    assert state[TYPE_KEY] == [DIRECT_DEBIT]  # not offered: left as it was
    assert state[ISSUER_KEY] == ["OVO"]

    state = {"c": {"selection": {PICK: {}}}, ISSUER_KEY: ["BCA"]}
    assert apply_pick(state, "c", ISSUERS) == []
    assert state == {"c": {"selection": {PICK: {}}}, ISSUER_KEY: ["BCA"]}  # untouched


@sqlite_only("no store: a pure function")
def test_a_chart_key_changes_with_what_the_chart_shows() -> None:
    shown = ("run", (("CREDIT_CARD",), (), (), ()), "", "issuers")
    assert chart_key("issuers", shown) == chart_key("issuers", shown)
    assert chart_key("issuers", shown).startswith("insights_chart_issuers_")
    assert chart_key("issuers", shown) != chart_key("issuers", (*shown[:1], (), "", "x"))

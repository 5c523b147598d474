"""The issuer mix on Insights: shares within each token type with the change in points
against the previous comparable run (or an honest "no earlier comparable run"), the
filters it applies to both runs, and the credit-card brand chart ("not requested"
when the run did not ask for credit cards)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.inputs import parse_file
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.apptest_support import isolate, open_page, seed_run, shown
from tests.apptest_support import ok as check
from tests.backend_support import sqlite_only
from tests.test_app_drilldown import chart, chart_rows
from ui.insights_view import BRAND_KEY, ISSUER_KEY, TYPE_KEY, attribute_keys

INSIGHTS = "pages/3_Insights.py"


def tokens(*held: tuple[str, str, str, str | None]) -> dict[str, list[Token]]:
    """(customer, type, issuer, brand) -> the tokens per customer."""
    out: dict[str, list[Token]] = {}
    for n, (cid, token_type, issuer, brand) in enumerate(held):
        out.setdefault(cid, []).append(
            Token(cid, None, token_type, issuer, brand, "****", f"tok-{cid}-{n:02d}"))
    return out


BEFORE = tokens(("M01", CREDIT_CARD, "BCA", "visa"), ("M02", CREDIT_CARD, "BNI", "visa"),
                ("M03", CREDIT_CARD, "Mandiri", "mastercard"), ("M04", DIRECT_DEBIT, "BRI", None))
AFTER = tokens(("M01", CREDIT_CARD, "BCA", "visa"), ("M01", CREDIT_CARD, "BCA", "mastercard"),
               ("M02", CREDIT_CARD, "BNI", "visa"), ("M05", CREDIT_CARD, "BCA", "amex"),
               ("M04", DIRECT_DEBIT, "BRI", None), ("M06", DIRECT_DEBIT, "BNI", None))
IDS = [f"M0{n}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    """#1 and #2: one series (the same input file name), #2's file has a `tier` column
    #1's lacks; #3: direct debit only (its own series)."""
    folder = tmp_path_factory.mktemp("mix") / "data"
    plain = "customer_id\n" + "".join(f"{c}\n" for c in IDS)
    tiered = "customer_id,tier\n" + "".join(
        f"{c},{'gold' if c <= 'M03' else 'silver'}\n" for c in IDS)
    seed_run(folder, parse_file(plain.encode(), "mix.csv"), BEFORE)
    seed_run(folder, parse_file(tiered.encode(), "mix.csv"), AFTER)
    debits = {c: [t for t in held if t.type == DIRECT_DEBIT] for c, held in AFTER.items()}
    seed_run(folder, IDS, debits, token_type=DIRECT_DEBIT, input_name="dd.csv")
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def ok(at: AppTest) -> AppTest:
    return check(at, no_errors=True)


def mix_table(at: AppTest) -> list[list[Any]]:
    """The issuer mix table's rows (shares in percent, changes in points)."""
    table = next(d.value for d in at.dataframe if "token_share_change_pp" in d.value.columns)
    columns = ["type", "issuer", "tokens", "token_share", "token_share_change_pp", "holders",
               "holder_share", "holder_share_change_pp"]
    return [list(row) for row in table[columns].values.tolist()]


def text(at: AppTest) -> str:
    return shown(" ".join(str(e.value) for e in (*at.caption, *at.info, *at.markdown)))


def approx_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Expected rows with their floats compared to 1e-9 (NaN equal to NaN)."""
    return [[pytest.approx(v, abs=1e-9, nan_ok=True) if isinstance(v, float) else v
             for v in row] for row in rows]


def chart_title(element: Any) -> tuple[str, str]:
    title = json.loads(element.proto.spec)["title"]
    return title["text"], title["subtitle"]


def test_mix_with_change_in_points_against_the_previous_run_of_the_series() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run="2")
    assert "Change in points against #1 · mix.csv · 6 customers" in text(at)
    # #2: credit cards BCA 3 (M01 x2, M05), BNI 1; 3 holders. #1: BCA, BNI, Mandiri 1 each.
    assert mix_table(at) == approx_rows([
        ["Credit card", "BCA", 3, 75.0, 75 - 100 / 3, 2, 200 / 3, 100 / 3],
        ["Credit card", "BNI", 1, 25.0, 25 - 100 / 3, 1, 100 / 3, 0.0],
        ["Credit card", "Mandiri", 0, 0.0, -100 / 3, 0, 0.0, -100 / 3],
        ["Direct debit", "BNI", 1, 50.0, 50.0, 1, 50.0, 50.0],
        ["Direct debit", "BRI", 1, 50.0, -50.0, 1, 50.0, -50.0],
    ])
    cards = chart(at, "Credit card issuer mix")
    assert list(chart_rows(cards)["token_share"]) == pytest.approx([0.75, 0.25, 0.0])
    assert chart_title(cards) == ("Credit card issuer mix — run #2",
                                  "Share of the type's tokens; change in points vs run #1")
    brands = chart_rows(chart(at, "Credit-card tokens by brand"))
    assert list(zip(brands["brand"], brands["tokens"], strict=True)) == [
        ("visa", 2), ("amex", 1), ("mastercard", 1)]
    assert set(brands["type"]) == {CREDIT_CARD}
    keys = {b.key for b in at.get("download_button")}
    for name in ("mix_credit_card", "mix_direct_debit", "card_brands"):
        assert {f"insights_png_{name}", f"insights_svg_{name}"} <= keys


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_no_earlier_comparable_run_is_said_and_no_change_shown() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run="1")
    assert "No earlier comparable run" in text(at)
    assert mix_table(at) == approx_rows([
        ["Credit card", "BCA", 1, 100 / 3, math.nan, 1, 100 / 3, math.nan],
        ["Credit card", "BNI", 1, 100 / 3, math.nan, 1, 100 / 3, math.nan],
        ["Credit card", "Mandiri", 1, 100 / 3, math.nan, 1, 100 / 3, math.nan],
        ["Direct debit", "BRI", 1, 100.0, math.nan, 1, 100.0, math.nan],
    ])
    assert chart_title(chart(at, "Credit card issuer mix"))[1] == (
        "Share of the type's tokens; no earlier comparable run")


def test_the_same_filters_narrow_both_runs_except_the_issuer_filter() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run="2")
    ok(at.multiselect(key=BRAND_KEY).set_value(["visa"]).run())
    # visa only: #2 BCA (M01) and BNI (M02), as in #1: no change; no direct debit
    assert mix_table(at) == approx_rows([
        ["Credit card", "BCA", 1, 50.0, 0.0, 1, 50.0, 0.0],
        ["Credit card", "BNI", 1, 50.0, 0.0, 1, 50.0, 0.0],
    ])
    ok(at.multiselect(key=ISSUER_KEY).set_value(["BCA"]).run())
    assert [r[:4] for r in mix_table(at)] == [  # the issuer filter leaves the mix whole
        ["Credit card", "BCA", 1, 50.0], ["Credit card", "BNI", 1, 50.0]]
    brands = chart_rows(chart(at, "Credit-card tokens by brand"))  # every filter applies
    assert list(zip(brands["brand"], brands["tokens"], strict=True)) == [("visa", 1)]
    ok(at.multiselect(key=BRAND_KEY).set_value([]).run())
    ok(at.multiselect(key=ISSUER_KEY).set_value([]).run())
    ok(at.multiselect(key=TYPE_KEY).set_value([DIRECT_DEBIT]).run())
    assert [r[:2] for r in mix_table(at)] == [["Direct debit", "BNI"], ["Direct debit", "BRI"]]
    assert "Credit-card brands: no credit-card token matches the filters." in text(at)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_filter_on_a_column_the_earlier_run_lacks_shows_no_change() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run="2")
    ok(at.multiselect(key=attribute_keys(["tier"])["tier"]).set_value(["gold"]).run())
    assert ("No change in points: the earlier comparable run #1 · mix.csv · 6 customers"
            in text(at))
    assert "has no column tier to apply the same filters to." in text(at)
    # gold: M01-M03; credit cards BCA 2 (M01), BNI 1 (M02)
    assert mix_table(at) == approx_rows([
        ["Credit card", "BCA", 2, 200 / 3, math.nan, 1, 50.0, math.nan],
        ["Credit card", "BNI", 1, 100 / 3, math.nan, 1, 50.0, math.nan],
    ])


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_run_without_credit_cards_says_not_requested() -> None:
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run="3")
    assert ("Credit-card brands: not requested. This run did not ask DOKU for credit cards."
            in text(at))
    titles = [chart_title(c)[0] for c in at.get("vega_lite_chart")]
    assert not any(t.startswith("Credit-card tokens by brand") for t in titles)
    assert "No earlier comparable run" in text(at)  # its own series: direct debit only
    assert [r[:3] for r in mix_table(at)] == [["Direct debit", "BNI", 1], ["Direct debit", "BRI", 1]]


"""AppTest of a saved audit's series: on Runs its trend with the table of periods (each
run against the run before it) and the latest issuer share moves; on Insights, a run of
the series against the previous one, or "first run of this series"."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_support import isolate, metrics, open_page, shown
from tests.apptest_support import ok as check
from tests.backend_support import open_store, sqlite_only
from tests.test_app_trust import trend_labels
from tests.test_series import PERIODS, SLOTS, seed_period
from ui import series_view

RUNS, INSIGHTS = "pages/4_Runs.py", "pages/3_Insights.py"
SERIES_PICKER, RUN_PICKER = "runs_series", "insights_run"
RENAMED = "Weekly *renamed* [x](y)"  # the saved audit renamed before its third run


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    """#1-#3: weekly runs of saved audit 7 (tests.test_series.PERIODS: uptake 50 %, 75 %,
    100 %); #4, #5: runs named "Weekly" that are no saved audit's (their own series)."""
    folder = tmp_path_factory.mktemp("series") / "data"
    folder.mkdir(parents=True)
    with open_store(folder) as store:
        for i, held in enumerate(PERIODS):
            seed_period(store, held, name="Weekly" if i < 2 else RENAMED, slot=SLOTS[i])
        seed_period(store, PERIODS[0], name="Weekly", saved=None)
        seed_period(store, PERIODS[1], name="Weekly", saved=None)
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


def ok(at: AppTest) -> AppTest:
    return check(at, no_errors=True)


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def blank(value: Any) -> Any:
    """A blank cell (NaN or <NA>) as None, so rows compare exactly."""
    return None if value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value


def rows(table: pd.DataFrame, columns: list[str]) -> list[list[Any]]:
    return [[blank(v) for v in row] for row in table[columns].astype(object).values.tolist()]


def text(at: AppTest) -> str:
    return shown(" ".join(str(e.value) for e in (*at.caption, *at.markdown, *at.warning)))


PERIOD_COLUMNS = ["period", "run_id", "fetched", "uptake", "uptake_change_pts", "tokens",
                  "tokens_added", "tokens_removed"]


def test_runs_lists_the_saved_audit_first_with_its_periods() -> None:
    at = ok(open_page(RUNS, timeout=60))
    picker = at.selectbox(key=SERIES_PICKER)
    assert picker.options == [f"{RENAMED} · saved audit (3 runs)", "Weekly (2 runs)"]
    assert picker.value == "saved: 7"
    assert trend_labels(at) == ["#1 2026-11-01", "#2 2026-11-08", "#3 2026-11-15"]  # slot days
    assert rows(table_with(at, "uptake_change_pts"), PERIOD_COLUMNS) == [
        ["2026-11-01", 1, 4, 50.0, None, 2, None, None],
        ["2026-11-08", 2, 4, 75.0, 25.0, 4, 2, 0],
        ["2026-11-15", 3, 3, 100.0, 25.0, 3, 0, 1],
    ]
    assert "**Issuer shares, run #3 against run #2**" in [m.value for m in at.markdown]
    shares = table_with(at, "change_pts")
    assert rows(shares, ["type", "issuer", "tokens", "share", "change_pts"]) == [
        ["Credit card", "BNI", 1, 100.0, 50.0],
        ["Credit card", "BCA", 0, 0.0, -50.0],
        ["Direct debit", "BRI", 2, 100.0, 0.0],
    ]


def test_picking_another_series_shows_its_periods(data_dir: Path) -> None:
    """Runs without a schedule slot: the period is the day they were created."""
    with open_store(data_dir) as store:
        created = [store.get_run(i).created_at[:10] for i in (4, 5)]  # type: ignore[union-attr]
    at = ok(open_page(RUNS, timeout=60))
    ok(at.selectbox(key=SERIES_PICKER).select("name: Weekly").run())
    assert rows(table_with(at, "uptake_change_pts"), PERIOD_COLUMNS) == [
        [created[0], 4, 4, 50.0, None, 2, None, None],
        [created[1], 5, 4, 75.0, 25.0, 4, 2, 0],
    ]
    assert "**Issuer shares, run #5 against run #4**" in [m.value for m in at.markdown]


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_a_heavy_series_is_computed_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(series_view, "AUTO_TOKENS", 8)  # #1-#3 hold 9 tokens
    at = ok(open_page(RUNS, timeout=60))
    assert not [d for d in at.dataframe if "uptake_change_pts" in d.value.columns]
    assert "These runs hold 9 tokens: the table of changes is computed on request." in text(at)
    (toggle,) = [t for t in at.toggle if t.key.startswith("runs_periods_")]
    ok(toggle.set_value(True).run())
    assert table_with(at, "uptake_change_pts")["tokens_added"].tolist()[1:] == [2, 0]


def test_insights_shows_a_saved_audit_run_against_the_previous_one() -> None:
    at = ok(open_page(INSIGHTS, timeout=60))
    assert at.selectbox(key=RUN_PICKER).value == 5  # not a saved audit's run
    assert ":material/timeline: Series" not in [s.value for s in at.subheader]
    ok(at.selectbox(key=RUN_PICKER).select(3).run())
    assert ":material/timeline: Series" in [s.value for s in at.subheader]
    shown_metrics = metrics(at)
    assert (shown_metrics["Uptake change"], shown_metrics["Tokens added"],
            shown_metrics["Tokens removed"]) == ("+25.0 pp", "0", "1")
    page = text(at)
    assert ("This period (2026-11-15) against run #2 (2026-11-08), the previous run of this "
            "saved audit; whole runs, the filters above do not apply.") in page
    assert ("Biggest issuer share moves (share of the type's tokens): BCA (Credit card) "
            "-50.0 pp; BNI (Credit card) +50.0 pp.") in page
    ok(at.selectbox(key=RUN_PICKER).select(2).run())
    shown_metrics = metrics(at)
    assert (shown_metrics["Uptake change"], shown_metrics["Tokens added"],
            shown_metrics["Tokens removed"]) == ("+25.0 pp", "2", "0")


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_insights_says_first_run_of_the_series() -> None:
    at = ok(open_page(INSIGHTS, timeout=60))
    ok(at.selectbox(key=RUN_PICKER).select(1).run())
    assert "First run of this series: there is no earlier run to compare with yet." in text(at)
    assert "Uptake change" not in metrics(at)

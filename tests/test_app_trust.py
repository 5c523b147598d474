"""AppTest: screens say only what the data supports - failures named, running runs
counted honestly, out-of-scope types "not requested", not-comparable runs marked,
trends per series, and a run renamed, archived and deleted from the Runs page."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import update
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from doku.engine.schema import Reject
from doku.engine.tables import runs as runs_table
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.apptest_support import (
    DASHBOARD,
    isolate,
    metrics,
    ok,
    open_page,
    seed_run,
    shown,
    world_tokens,
)
from tests.backend_support import both_backends, open_store

RUNS, INSIGHTS = "pages/4_Runs.py", "pages/3_Insights.py"
IDS = [f"TR-{i:04d}" for i in range(200)]


def text(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.warning, *at.error, *at.info)]
    return shown("\n".join(str(p) for p in parts))


def frame_with(at: AppTest, column: str) -> object:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def trend_labels(at: AppTest) -> list[str]:
    (dataset,) = at.get("vega_lite_chart")[0].proto.datasets
    return list(convert_arrow_bytes_to_pandas_df(dataset.data.data)["run_label"])


@pytest.fixture
def folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data folder of the test's own (the store, with @both_backends)."""
    return isolate(monkeypatch, tmp_path / "data")


@both_backends
def test_a_done_run_with_failures_says_so_and_lists_them(folder: Path) -> None:
    failed = {IDS[0]: "server_error", IDS[1]: "server_error", IDS[2]: "transport"}
    run_id = seed_run(folder, IDS, world_tokens(), failed=failed)
    at = open_page(RUNS, timeout=60, no_errors=True)
    shown_text = text(at)
    assert "Done, 3 failed" in shown_text
    assert "Failures: 3 customers" in shown_text
    table = frame_with(at, "error_code")
    rows = table[["error_code", "meaning", "customers", "example_request_ids"]].values.tolist()
    assert rows == [["server_error", "DOKU server error", 2, f"req-{IDS[0]}, req-{IDS[1]}"],
                    ["transport", "DOKU unreachable", 1, f"req-{IDS[2]}"]]
    assert "runs_retry" in {b.key for b in at.button}
    home = ok(AppTest.from_file(DASHBOARD, default_timeout=30).run())
    assert "Done, 3 failed" in text(home)
    assert f"Run #{run_id}" in text(home)


def test_a_clean_done_run_is_plain_done(folder: Path) -> None:
    seed_run(folder, IDS[:20], world_tokens())
    at = open_page(RUNS, timeout=60, no_errors=True)
    assert "Done" in text(at)
    assert "failed" not in " ".join(m.value for m in at.markdown if "Done" in m.value)
    assert not [d for d in at.dataframe if "error_code" in d.value.columns]


@both_backends
def test_a_running_run_counts_finished_customers_only(folder: Path) -> None:
    run_id = seed_run(folder, IDS[:100], world_tokens(), failed={IDS[0]: "transport"},
                      pending=IDS[60:], status=None)
    owner = subprocess.Popen(["sleep", "120"])  # another live process (say a CLI audit)
    try:
        with open_store(folder) as store, store.engine.begin() as conn:
            conn.execute(update(runs_table).where(runs_table.c.id == run_id)
                         .values(owner_pid=owner.pid))
        at = open_page(INSIGHTS, timeout=60, no_errors=True, run=str(run_id))
        assert ("Still running: figures count finished customers only "
                "(of 60 finished; 40 pending).") in text(at)
        home = ok(AppTest.from_file(DASHBOARD, default_timeout=30).run())
        assert "(of 60 finished; 40 pending)" in text(home)
    finally:
        owner.kill()
        owner.wait()


@pytest.mark.parametrize(("scope", "absent", "present"), [
    (DIRECT_DEBIT, "Credit card", "Direct debit"),
    (CREDIT_CARD, "Direct debit", "Credit card"),
])
def test_types_outside_the_scope_are_not_requested(
    folder: Path, scope: str, absent: str, present: str
) -> None:
    run_id = seed_run(folder, IDS[:50], world_tokens(), token_type=scope)
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run=str(run_id))
    m = metrics(at)
    assert m[absent] == "not requested"
    assert m[present] != "not requested"


def test_not_comparable_runs_hide_figures_until_asked(folder: Path) -> None:
    seed_run(folder, IDS[:50], world_tokens(), token_type=DIRECT_DEBIT)
    seed_run(folder, IDS[:50], world_tokens(epoch=2), token_type=CREDIT_CARD)
    at = open_page(RUNS, timeout=60)
    assert [shown(w.value) for w in at.warning] == [
        "Runs 1 and 2 are not comparable: they differ in token_type"]
    assert [e.value for e in at.error] == [
        "These runs are not comparable: the figures below would mislead."]
    assert "Gained tokens" not in metrics(at)
    ok(at.toggle(key="runs_compare_anyway").set_value(True).run())
    assert "Gained tokens" in metrics(at)


def test_comparable_runs_show_warnings_first(folder: Path) -> None:
    seed_run(folder, IDS[:50], world_tokens())
    seed_run(folder, IDS[:40], world_tokens(epoch=2), token_type=CREDIT_CARD)
    at = open_page(RUNS, timeout=60, no_errors=True)
    assert [shown(w.value) for w in at.warning] == [
        "The runs differ in token_type, customers",
        "Tokens and uptake are compared for CREDIT_CARD only, the type scope both runs "
        "fetched"]
    assert "Gained tokens" in metrics(at)


def test_trend_per_series_readable_with_fifty_runs(folder: Path) -> None:
    for _ in range(50):
        seed_run(folder, IDS[:5], world_tokens(), name="Nightly")
    seed_run(folder, IDS[:5], world_tokens(), input_name="other.csv")
    seed_run(folder, IDS[:5], world_tokens(), input_name="other.csv")
    at = open_page(RUNS, timeout=90, no_errors=True)
    series = at.selectbox(key="runs_series")
    assert series.options == ["Nightly (50 runs)", "other.csv · all types · simulator (2 runs)"]
    assert [label.split()[0] for label in trend_labels(at)] == [f"#{i}" for i in range(1, 51)]
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["vconcat"][0]["encoding"]["x"]["axis"]["labelOverlap"] == "greedy"
    ok(series.select("input: other.csv | all types | simulator").run())
    assert [label.split()[0] for label in trend_labels(at)] == ["#51", "#52"]


@both_backends
def test_rename_archive_and_delete_a_run(folder: Path) -> None:
    seed_run(folder, IDS[:10], world_tokens(), options={"concurrency": 4, "rps": 10.0},
             rejects=[Reject(3, "=bad", "not an ID")])
    second = seed_run(folder, IDS[:10], world_tokens())
    at = open_page(RUNS, timeout=60, no_errors=True)
    ok(at.selectbox(key="runs_pick").select(1).run())
    options = frame_with(at, "option")
    assert dict(options.values.tolist())["concurrency"] == "4"
    assert dict(options.values.tolist())["token type scope"] == "all types"
    assert "runs_rejects" in {b.key for b in at.get("download_button")}
    at.text_input(key="runs_name_1").input("Nov month-end")
    at.text_area(key="runs_note_1").input("before the *fix*")
    ok(at.button(key="runs_save").click().run())
    history = at.dataframe[0].value
    assert history.set_index("run").loc[1, "name"] == "Nov month-end"
    assert "Note: before the *fix*" in text(at)
    assert at.selectbox(key="runs_pick").format_func(1).startswith("#1 Nov month-end · ")
    ok(at.button(key="runs_archive").click().run())
    assert at.dataframe[0].value.set_index("run").loc[1, "archived"]
    assert "Compare needs at least two runs" in text(at)  # archived left compare
    ok(at.selectbox(key="runs_pick").select(second).run())
    ok(at.button(key="runs_delete").click().run())
    assert f"Delete run #{second} and all its results? This cannot be undone." in text(at)
    ok(at.button(key="runs_delete_cancel").click().run())
    assert "cannot be undone" not in text(at)
    ok(at.button(key="runs_delete").click().run())
    ok(at.button(key="runs_delete_confirm").click().run())
    assert list(at.dataframe[0].value["run"]) == [1]
    with open_store(folder) as store:
        assert store.get_run(second) is None


@both_backends
def test_rejected_rows_download_neutralises_formulas(folder: Path) -> None:
    from ui.manage_view import rejects_csv

    run_id = seed_run(folder, IDS[:3], world_tokens(),
                      rejects=[Reject(3, "=HYPERLINK(1)", "not an ID"), Reject(9, "", "blank")])
    with open_store(folder) as store:
        csv = rejects_csv(store, run_id).decode()
    assert csv.splitlines() == ["row,value,reason", "3,'=HYPERLINK(1),not an ID", "9,,blank"]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("bulk_concurrency", 0, "concurrency must be between 1 and 256, not 0"),
    ("bulk_concurrency", 999, "concurrency must be between 1 and 256, not 999"),
    ("bulk_rps", -5.0, "rps must be a positive number (or none for no limit), not -5.0"),
])
def test_an_invalid_option_blocks_start_and_is_named(
    folder: Path, key: str, value: float, message: str
) -> None:
    at = open_page("pages/2_Bulk_audit.py", timeout=60, no_errors=True)
    ok(at.button(key="bulk_sample").click().run())
    assert not at.button(key="bulk_start").disabled
    ok(at.number_input(key=key).set_value(value).run())
    assert [shown(e.value) for e in at.error] == [f"Option not valid: {message}. Fix it to start."]
    assert at.button(key="bulk_start").disabled
    ok(at.number_input(key=key).set_value(2).run())
    assert not at.error
    assert not at.button(key="bulk_start").disabled
    with open_store(folder) as store:
        assert store.list_runs() == []


def test_the_run_panel_shows_the_options_used(folder: Path) -> None:
    seed_run(folder, IDS[:5], world_tokens(), token_type=DIRECT_DEBIT,
             options={"concurrency": 4, "rps": 2.5, "store_token_ids": False,
                      "max_attempts": 4})
    at = open_page(RUNS, timeout=60, no_errors=True)
    assert ("Options: Direct debit · concurrency 4 · 2.5 requests/s · up to 4 attempts · "
            "fingerprints only.") in [shown(c.value) for c in at.caption]


def test_home_moves_the_simulator_world_on(folder: Path) -> None:
    from doku.engine.connection import embedded_world_epoch, move_embedded_world_on

    at = ok(AppTest.from_file(DASHBOARD, default_timeout=30).run())
    before = embedded_world_epoch()
    assert before is not None
    assert f"Simulator world: month {before}." in text(at)
    try:
        ok(at.button(key="home_move_world").click().run())
        assert embedded_world_epoch() == before + 1
        assert f"Simulator world: month {before + 1}." in text(at)
    finally:  # the embedded simulator is shared by this worker's other tests
        move_embedded_world_on(before - (embedded_world_epoch() or 0))
    assert folder.name == "data"


def test_segments_keep_time_order_mark_small_groups_and_draw_the_average(
    folder: Path,
) -> None:
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df as frame

    from doku.engine.inputs import parse_file

    months = ["2024-02"] * 50 + ["2023-12"] * 40 + ["2024-01"] * 10
    csv = "customer_id,signup_month\n" + "".join(
        f"SEG-{i:03d},{m}\n" for i, m in enumerate(months))
    run_id = seed_run(folder, parse_file(csv.encode(), "segments.csv"), world_tokens())
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run=str(run_id))
    ok(at.selectbox(key="insights_by").select("signup_month").run())
    chart = next(c for c in at.get("vega_lite_chart")
                 if "Token uptake by" in json.dumps(json.loads(c.proto.spec).get("title")))
    (dataset,) = chart.proto.datasets
    data = frame(dataset.data.data)
    assert list(data["segment_value"]) == ["2023-12", "2024-01 · small", "2024-02"]
    spec = json.loads(chart.proto.spec)
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    overall = data["with_tokens"].sum() / data["fetched"].sum()
    assert [r["encoding"]["x"]["datum"] for r in rules] == [pytest.approx(overall)]
    caption = " ".join(shown(c.value) for c in at.caption)
    assert (f"Dashed line: the overall average, {overall * 100:.1f} % of fetched customers. "
            "1 group marked “small” has fewer than 30 customers") in caption


@both_backends
def test_customers_table_covers_the_whole_run_and_searches_it(folder: Path) -> None:
    ids = [f"CUS-{i:04d}" for i in range(2_500)]
    run_id = seed_run(folder, ids, {}, failed={"CUS-0003": "transport"})  # no tokens at all
    at = open_page(INSIGHTS, timeout=60, no_errors=True, run=str(run_id))
    table = at.dataframe(key="insights_customers").value
    assert len(table) == 2_000
    assert table["customer_id"].iloc[0] == "CUS-0000"
    assert "Showing 2,000 of 2,500 customers of the whole run" in text(at)
    ok(at.text_input(key="insights_customer_q").input("cus-24").run())  # beyond the 2,000
    found = at.dataframe(key="insights_customers").value
    assert list(found["customer_id"]) == [f"CUS-24{i:02d}" for i in range(100)]
    assert "100 customers of 2,500 match (the first ones: narrow the search)." in text(at)
    ok(at.text_input(key="insights_customer_q").input("CUS-0003").run())
    found = at.dataframe(key="insights_customers").value
    assert found[["customer_id", "status"]].values.tolist() == [["CUS-0003", "failed"]]


def test_a_customer_link_prefills_customer_lookup(folder: Path) -> None:
    at = open_page("pages/1_Customer_lookup.py", timeout=60, no_errors=True,
                   customer="CUST-0001")
    assert at.text_input(key="lookup_customer_id").value == "CUST-0001"
    assert folder.exists()


def test_flagged_ids_are_shown_escaped(folder: Path) -> None:
    at = open_page("pages/2_Bulk_audit.py", timeout=60, no_errors=True)
    csv = "customer_id\nCUST-1\nCUST-2 CUST-3\n**CUST-4**|x\n"
    ok(at.file_uploader(key="bulk_file").upload("two.csv", csv.encode(), "text/csv").run())
    (warning,) = [shown(w.value) for w in at.warning]
    assert warning.startswith("2 IDs hold separators or spaces, e.g. CUST-2 CUST-3, **CUST-4**|x.")
    assert "**CUST-4**" not in "".join(w.value for w in at.warning)  # escaped, not bold
    flagged = next(d.value for d in at.dataframe  # the Flagged IDs tab (no rejects here)
                   if list(d.value.columns) == ["row", "value", "reason"])
    assert list(flagged["value"]) == ["CUST-2 CUST-3", "**CUST-4**|x"]
    assert folder.exists()

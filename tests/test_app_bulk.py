"""AppTest of the Bulk audit page: input preview, background runs, cancel/resume/retry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from streamlit.testing.v1 import AppTest

import doku.settings
from doku.engine import jobs
from tests.apptest_support import isolate, metrics, ok, open_page, shown, wait_finished
from tests.backend_support import SQLITE, both_backends, open_store
from tests.simulator_fixtures import MakeSimulator

BULK = "pages/2_Bulk_audit.py"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path / "data")


def open_bulk() -> AppTest:
    return open_page(BULK)


def run_status(folder: Path, run_id: int) -> str:
    with open_store(folder) as store:
        info = store.get_run(run_id)
        assert info is not None
        return info.status


def test_paste_shows_counts_and_rejects() -> None:
    at = open_bulk()
    assert not at.error
    assert at.button(key="bulk_start").disabled  # nothing to audit yet
    text = "CUST-0001\nA-1, A-2; A-3\n\nA-1\n" + "x" * 60 + "\nbad\x01id\nA-4"
    ok(at.text_area(key="bulk_paste").input(text).run())
    m = metrics(at)
    assert (m["Valid IDs"], m["Duplicates"], m["Rejected"], m["Blank rows"]) == (
        "5", "1", "2", "1"
    )
    preview, rejects = at.dataframe[0].value, at.dataframe[1].value
    assert list(preview["customer_id"]) == ["CUST-0001", "A-1", "A-2", "A-3", "A-4"]
    assert list(rejects.columns) == ["row", "value", "reason"]
    assert list(rejects["row"]) == [5, 6]  # lines of the pasted text
    assert "longer than 50" in rejects["reason"][0]
    assert "control character" in rejects["reason"][1]
    assert not at.button(key="bulk_start").disabled


def test_sample_file_one_click_and_run_to_completion(data_dir: Path) -> None:
    at = open_bulk()
    ok(at.button(key="bulk_sample").click().run())
    m = metrics(at)
    assert m["Valid IDs"] == "3,000"
    assert m["Rejected"] == "0"
    assert at.selectbox(key="bulk_column").value == "customer_id"
    assert list(at.dataframe[0].value.columns) == ["customer_id", "region", "plan", "signup_month"]

    ok(at.button(key="bulk_start").click().run())
    run_id = at.session_state["bulk_run_id"]
    wait_finished(at)
    m = metrics(at)
    assert m["Customers"] == "3,000"
    assert m["Fetched"] == "3,000"
    assert m["Failed"] == "0"
    assert run_status(data_dir, run_id) == "done"
    links = at.get("page_link")
    assert links
    assert any("Insights" in str(link.proto.page) for link in links)
    keys = {b.key for b in at.button}
    assert "bulk_resume" not in keys
    assert "bulk_retry" not in keys


def test_upload_csv_with_ambiguous_columns_asks_for_the_id_column() -> None:
    at = open_bulk()
    data = b"account,region,plan\nACC-1,Jakarta,basic\nACC-2,Bali,plus\nACC-3,Bali,plus\n"
    ok(at.file_uploader(key="bulk_file").upload("accounts.csv", data, "text/csv").run())
    assert at.warning
    assert "account" in shown(at.warning[0].value)
    assert at.button(key="bulk_start").disabled
    picker = at.selectbox(key="bulk_column")
    assert list(picker.options) == ["account", "region", "plan"]
    ok(picker.select("account").run())
    assert metrics(at)["Valid IDs"] == "3"
    assert list(at.dataframe[0].value["customer_id"]) == ["ACC-1", "ACC-2", "ACC-3"]
    assert list(at.dataframe[0].value.columns) == ["customer_id", "region", "plan"]
    assert not at.button(key="bulk_start").disabled


def test_upload_xlsx() -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Customer ID", "segment"])
    for i in range(1, 6):
        sheet.append([f"X-{i}", "retail" if i % 2 else "sme"])
    sheet.append(["X-1", "retail"])
    buf = io.BytesIO()
    book.save(buf)
    at = open_bulk()
    ok(at.file_uploader(key="bulk_file").upload("list.xlsx", buf.getvalue()).run())
    m = metrics(at)
    assert (m["Valid IDs"], m["Duplicates"]) == ("5", "1")


def test_upload_xlsx_with_two_sheets_offers_the_sheets() -> None:
    book = Workbook()
    first = book.active
    first.title = "first"
    for row in (["customer_id", "segment"], ["X-1", "sme"], ["X-2", "retail"]):
        first.append(row)
    second = book.create_sheet("second")
    for row in (["id"], ["Y-1"], ["Y-2"], ["Y-3"]):
        second.append(row)
    buf = io.BytesIO()
    book.save(buf)
    at = open_bulk()
    ok(at.file_uploader(key="bulk_file").upload("book.xlsx", buf.getvalue()).run())
    sheet = at.selectbox(key="bulk_sheet")
    assert (list(sheet.options), sheet.value) == (["first", "second"], "first")
    assert at.selectbox(key="bulk_column").value == "customer_id"
    assert list(at.dataframe[0].value["customer_id"]) == ["X-1", "X-2"]
    ok(sheet.select("second").run())
    assert metrics(at)["Valid IDs"] == "3"
    assert list(at.dataframe[0].value["customer_id"]) == ["Y-1", "Y-2", "Y-3"]
    assert "sheet second" in shown(" ".join(m.value for m in at.markdown))
    assert "bulk_column" not in {s.key for s in at.selectbox}  # one column: nothing to pick
    assert not at.button(key="bulk_start").disabled


def test_unparseable_file_is_an_error_not_a_traceback() -> None:
    at = open_bulk()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    ok(at.file_uploader(key="bulk_file").upload("customers.csv", png, "text/csv").run())
    assert at.error
    assert "PNG image" in shown(at.error[0].value)
    assert at.button(key="bulk_start").disabled
    ok(at.text_area(key="bulk_paste").input(" \n ").run())  # blank paste: still nothing
    assert at.button(key="bulk_start").disabled


def test_parsed_input_survives_a_page_switch() -> None:
    at = open_bulk()
    ok(at.button(key="bulk_sample").click().run())
    ok(at.switch_page("pages/1_Customer_lookup.py").run())
    ok(at.switch_page(BULK).run())
    assert metrics(at)["Valid IDs"] == "3,000"
    assert not at.button(key="bulk_start").disabled


def slow_simulator(monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator,
                   **config: float) -> None:
    sim = make_simulator(**config)
    monkeypatch.setenv("DOKU_ENV", "simulator")
    monkeypatch.setenv("DOKU_BASE_URL", sim.url)


def start_slow_run(at: AppTest, n: int = 200) -> int:
    ok(at.text_area(key="bulk_paste").input("\n".join(f"S-{i}" for i in range(n))).run())
    ok(at.number_input(key="bulk_concurrency").set_value(2).run())
    ok(at.button(key="bulk_start").click().run())
    run_id: int = at.session_state["bulk_run_id"]
    assert at.get("progress"), "the run should still be going"
    return run_id


@both_backends
def test_cancel_then_resume(monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator,
                            data_dir: Path, backend: str) -> None:
    slow_simulator(monkeypatch, make_simulator, latency_ms=15)
    at = open_bulk()
    run_id = start_slow_run(at)
    # SQLite: one run at a time; PostgreSQL: runs queue, another may start
    assert at.button(key="bulk_start").disabled == (backend == SQLITE)
    ok(at.button(key="bulk_cancel").click().run())
    wait_finished(at)
    assert run_status(data_dir, run_id) == "cancelled"
    pending = int(metrics(at)["Pending"].replace(",", ""))
    assert pending > 0
    assert "bulk_retry" not in {b.key for b in at.button}  # nothing failed

    ok(at.button(key="bulk_resume").click().run())
    wait_finished(at)
    assert run_status(data_dir, run_id) == "done"
    m = metrics(at)
    assert (m["Fetched"], m["Pending"]) == ("200", "0")


@both_backends
def test_retry_failed(monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator) -> None:
    # Bad signatures are never retried by the client: those customers fail at once.
    slow_simulator(monkeypatch, make_simulator, bad_signature_rate=0.3, seed=7)
    at = open_bulk()
    ok(at.text_area(key="bulk_paste").input("\n".join(f"R-{i}" for i in range(200))).run())
    ok(at.button(key="bulk_start").click().run())
    wait_finished(at)
    failed = int(metrics(at)["Failed"])
    assert failed > 0
    ok(at.button(key="bulk_retry").click().run())
    wait_finished(at)
    assert int(metrics(at)["Failed"]) < failed
    assert int(metrics(at)["Fetched"]) + int(metrics(at)["Failed"]) == 200


def test_a_new_session_finds_the_running_job(
    monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator, data_dir: Path
) -> None:
    """A browser reload is a new session: the job lives in doku.engine.jobs, not session_state."""
    slow_simulator(monkeypatch, make_simulator, latency_ms=15)
    first = open_bulk()
    run_id = start_slow_run(first)
    reloaded = open_bulk()
    assert reloaded.get("progress"), "the reloaded page should show the live run"
    assert f"Run #{run_id}" in reloaded.get("progress")[0].proto.text
    ok(reloaded.button(key="bulk_cancel").click().run())
    job = jobs.get(run_id)
    assert job is not None
    assert job.wait(30).finished
    wait_finished(reloaded)
    assert run_status(data_dir, run_id) == "cancelled"


@both_backends
def test_rejected_credentials_stop_the_run_with_advice(
    monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator, data_dir: Path
) -> None:
    sim = make_simulator()  # knows the demo key only
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_BASE_URL", sim.url)
    monkeypatch.setenv("DOKU_CLIENT_ID", doku.settings.SIMULATOR_CLIENT_ID)
    monkeypatch.setenv("DOKU_SECRET_KEY", "SK-not-the-right-one")
    at = open_bulk()
    ok(at.text_area(key="bulk_paste").input("A-1\nA-2\nA-3").run())
    ok(at.button(key="bulk_start").click().run())
    run_id = at.session_state["bulk_run_id"]
    wait_finished(at)
    assert run_status(data_dir, run_id) == "aborted"
    assert at.warning
    assert "DOKU_CLIENT_ID" in shown(at.warning[0].value)
    assert "SK-not-the-right-one" not in shown(at.warning[0].value)
    assert metrics(at)["Pending"] == "3"
    assert "bulk_resume" in {b.key for b in at.button}  # fix the key, then resume
    # Insights of a run with nothing fetched: no charts to draw, and no crash.
    ok(at.switch_page("pages/3_Insights.py").run())
    assert not at.error
    m = metrics(at)
    assert (m["Customers audited"], m["With ≥1 token"], m["Tokens"]) == ("3", "-", "0")
    assert at.warning
    assert "No tokens match" in shown(at.warning[0].value)

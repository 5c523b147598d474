"""AppTest of the Saved audits page: save a pasted or uploaded list, run one now, add and
remove schedules, remove a saved audit (confirmed), with hostile names kept inert."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from doku.engine.inputs import parse_file, parse_text
from doku.engine.schedules import next_slot
from doku.models import CREDIT_CARD
from tests.apptest_support import isolate, markdown_sources, ok, open_page, shown, wait_finished
from tests.backend_support import both_backends, open_store, sqlite_only
from tests.test_app_hostile import HOSTILE, LIVE
from ui.present import escape_md

pytestmark = both_backends
SAVED = "pages/5_Saved_audits.py"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("DOKU_ACTOR", raising=False)
    return isolate(monkeypatch, tmp_path / "data")


def seed(folder: Path, name: str = "Monthly merchants", ids: str = "CUST-0001\nCUST-0002",
         *, by: str | None = "ana") -> int:
    folder.mkdir(parents=True, exist_ok=True)
    with open_store(folder) as store:
        return store.save_audit(parse_text(ids), name, {"concurrency": 2}, None, by)


def open_saved() -> AppTest:
    return open_page(SAVED, no_errors=True)


def saved_table(at: AppTest) -> pd.DataFrame:
    """The table of saved audits (a dataframe without selection has no key in AppTest)."""
    [table] = [d.value for d in at.dataframe if list(d.value.columns)[:3] == [
        "name", "customers", "schedules"]]
    return table


def texts(at: AppTest) -> str:
    return "\n".join(shown(s) for s in markdown_sources(at))


def test_without_saved_audits_the_page_says_so() -> None:
    at = open_saved()
    assert "No saved audits yet: save a customer list above." in texts(at)
    assert at.button(key="saved_save").disabled


def test_a_pasted_list_is_saved_under_its_name(data_dir: Path) -> None:
    at = open_saved()
    ok(at.text_area(key="saved_paste").input("A-1, A-2\nA-3\nA-1\n").run())
    assert at.metric[0].value == "3"  # Bulk audit's preview: valid IDs
    ok(at.selectbox(key="saved_type").select(CREDIT_CARD).run())
    ok(at.number_input(key="saved_concurrency").set_value(5).run())
    ok(at.text_input(key="saved_name").input("  Weekly   pasted ").run())
    ok(at.button(key="saved_save").click().run(), no_errors=True)
    assert [shown(s.value) for s in at.success] == ["Saved Weekly pasted: 3 customers."]
    table = saved_table(at)
    assert (list(table["name"]), list(table["customers"]), list(table["schedules"])) == (
        ["Weekly pasted"], [3], [0])
    assert at.text_input(key="saved_name").value == ""
    with open_store(data_dir) as store:
        [saved] = store.saved_audits()
        assert (saved.name, saved.customers, saved.token_type, saved.created_by,
                saved.options["concurrency"], saved.input_name) == (
            "Weekly pasted", 3, CREDIT_CARD, "dashboard", 5, "pasted text")
        assert store.saved_input(saved.id).ids == ["A-1", "A-2", "A-3"]


def test_an_uploaded_file_keeps_its_attributes_and_a_taken_name_is_refused(
    data_dir: Path,
) -> None:
    seed(data_dir, "Taken")
    at = open_saved()
    body = b"customer_id,region\nC-1,Bali\nC-2,Jawa\n"
    ok(at.file_uploader(key="saved_file").upload("regions.csv", body, "text/csv").run())
    ok(at.text_input(key="saved_name").input("Taken").run())
    ok(at.button(key="saved_save").click().run())
    assert [shown(e.value) for e in at.error] == [
        "invalid input: a saved audit named 'Taken' already exists"]
    ok(at.text_input(key="saved_name").input("Regions").run())
    ok(at.button(key="saved_save").click().run(), no_errors=True)
    with open_store(data_dir) as store:
        regions = store.saved_audit("Regions").id
        again = store.saved_input(regions)
    assert (again.source, again.ids, again.attributes) == (
        "regions.csv", ["C-1", "C-2"], {"region": ["Bali", "Jawa"]})
    assert at.selectbox(key="saved_pick").value == regions


def test_a_schedule_is_checked_added_and_removed(data_dir: Path) -> None:
    saved_id = seed(data_dir)
    at = open_saved()
    assert at.button(key="saved_add_schedule").disabled
    ok(at.text_input(key="saved_cron").input("0 2 1 *").run())
    assert at.button(key="saved_add_schedule").disabled
    assert "cron expression '0 2 1 *' has 4 fields; it needs 5" in texts(at)
    ok(at.text_input(key="saved_cron").input("0 2 1 * *").run())
    assert not at.button(key="saved_add_schedule").disabled
    next_fire = next_slot("0 2 1 * *", datetime.now(timezone.utc))
    assert f"Next: {next_fire[:10]} 02:00 UTC" in texts(at)
    ok(at.button(key="saved_add_schedule").click().run(), no_errors=True)
    with open_store(data_dir) as store:
        [schedule] = store.schedules()
    assert (schedule.saved_audit_id, schedule.cron, schedule.created_by) == (
        saved_id, "0 2 1 * *", "dashboard")
    assert at.text_input(key="saved_cron").value == ""
    assert f"**{escape_md('0 2 1 * *')}** (UTC) · next" in "\n".join(markdown_sources(at))
    assert list(saved_table(at)["schedules"]) == [1]
    ok(at.button(key=f"saved_unschedule_{schedule.id:d}").click().run(), no_errors=True)
    with open_store(data_dir) as store:
        assert store.schedules() == []
    assert list(saved_table(at)["schedules"]) == [0]


def test_run_now_fetches_the_list_in_its_series(data_dir: Path) -> None:
    saved_id = seed(data_dir)
    at = open_saved()
    ok(at.button(key="saved_run_now").click().run())
    run_id = at.session_state["saved_run_id"]
    wait_finished(at, no_errors=True)
    with open_store(data_dir) as store:
        run = store.get_run(run_id)
        assert store.saved_audit(saved_id).last_run_id == run_id
    assert run is not None
    assert (run.status, run.fetched, run.saved_audit_id, run.scheduled_for, run.name) == (
        "done", 2, saved_id, None, "Monthly merchants")
    ok(at.run(), no_errors=True)
    assert f"Last run: #{run_id:d}," in texts(at)


def test_removing_a_saved_audit_is_confirmed_and_keeps_its_runs(data_dir: Path) -> None:
    seed(data_dir, "Keep me")
    gone = seed(data_dir, "Gone soon")
    with open_store(data_dir) as store:
        store.add_schedule(gone, "0 2 1 * *")
        run_id = store.create_run(ids=["X-1"], env="simulator", base_url=None,
                                  client_id="MCH", input_name="x", saved_audit_id=gone)
    at = open_saved()
    ok(at.selectbox(key="saved_pick").select(gone).run())
    ok(at.button(key="saved_remove").click().run())
    assert [shown(w.value) for w in at.warning] == [
        "Remove **Gone soon**, its list and its 1 schedule(s)? Its runs stay in the store."]
    ok(at.button(key="saved_remove_cancel").click().run(), no_errors=True)
    assert not at.warning
    ok(at.button(key="saved_remove").click().run())
    ok(at.button(key="saved_remove_confirm").click().run(), no_errors=True)
    assert [shown(s.value) for s in at.success] == ["Removed Gone soon; its runs stay."]
    assert list(saved_table(at)["name"]) == ["Keep me"]
    with open_store(data_dir) as store:
        assert [s.name for s in store.saved_audits()] == ["Keep me"]
        run = store.get_run(run_id)
    assert run is not None
    assert run.saved_audit_id is None


@sqlite_only("escaping does not depend on the backend")
def test_hostile_names_stay_inert(data_dir: Path) -> None:
    name = f"{HOSTILE} list"[:120]
    data_dir.mkdir(parents=True, exist_ok=True)
    with open_store(data_dir) as store:
        parsed = parse_file(b"customer_id\nC-1\n", f"{HOSTILE}.csv")
        saved_id = store.save_audit(parsed, name, {}, None, HOSTILE)
        store.add_schedule(saved_id, "0 2 1 * *", HOSTILE)
    at = open_saved()
    ok(at.button(key="saved_remove").click().run())
    sources = markdown_sources(at)
    assert [s for s in sources if LIVE.search(s)] == []
    text = "\n".join(sources)
    for value in (name, f"{HOSTILE}.csv", HOSTILE):
        assert escape_md(value) in text, value

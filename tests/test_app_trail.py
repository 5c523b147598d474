"""AppTest of the audit trail from the dashboard: every sensitive action a signed-in user
takes leaves exactly one entry naming them (sign-in once per sign-in, lookup, reveal,
audit start / cancel / resume / retry, download, run deletion, saved audits and
schedules), and the admins' Audit trail page shows them, filtered, newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from doku.engine.schema import Reject
from doku.masking import fingerprint
from doku.simulator.world import GUIDE_CUSTOMER_ID
from tests.apptest_support import ok, seed_run, shown, token, wait_finished, world_tokens
from tests.auth_support import (
    ACCESS,
    ADMIN,
    ANALYST,
    BULK,
    INSIGHTS,
    ISSUED_AT,
    ISSUED_ISO,
    LOOKUP,
    RUNS,
    SAVED,
    TRAIL,
    VIEWER,
    actions,
    app_as,
    open_as,
    trail,
)
from tests.backend_support import both_backends, open_store
from tests.simulator_fixtures import MakeSimulator
from tests.test_app_bulk import slow_simulator, start_slow_run
from ui.trail_view import entries_frame

pytestmark = both_backends


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    from tests.apptest_support import isolate
    return isolate(monkeypatch, tmp_path / "data")


def clean(at: AppTest) -> AppTest:
    return ok(at, no_errors=True)


def test_a_sign_in_is_recorded_once_however_many_pages_and_sessions(data_dir: Path) -> None:
    at = open_as(ANALYST, RUNS)
    clean(at.run())
    clean(at.switch_page(BULK).run())
    open_as(ANALYST)  # a reload or another tab: a new session, the same sign-in
    [entry] = trail(data_dir)
    assert (entry.action, entry.actor, entry.via, entry.role, entry.object, entry.detail) == (
        "sign_in", ANALYST, "oidc", "analyst", "dashboard",
        {"provider": "default", "issued_at": ISSUED_ISO})
    ok(app_as(ANALYST, iat=ISSUED_AT + 3600).run())  # signed in again
    ok(app_as(VIEWER).run())
    assert [(e.actor, e.detail["issued_at"]) for e in trail(data_dir)] == [
        (ANALYST, ISSUED_ISO), (ANALYST, "2026-11-26T05:30:55Z"), (VIEWER, ISSUED_ISO)]


def test_lookups_and_reveals_leave_one_entry_each(data_dir: Path) -> None:
    at = open_as(ADMIN, LOOKUP)
    at.text_input(key="lookup_customer_id").set_value(GUIDE_CUSTOMER_ID)
    clean(at.button(key="lookup_go").click().run())
    clean(at.run())  # a rerun is not another lookup
    assert actions(data_dir) == ["sign_in", "lookup"]
    clean(at.toggle(key="lookup_reveal").set_value(True).run())
    clean(at.run())
    assert actions(data_dir) == ["sign_in", "lookup", "reveal"]
    clean(at.button(key="lookup_go").click().run())  # looked up while revealed
    clean(at.toggle(key="lookup_reveal").set_value(False).run())  # hiding is not recorded
    assert actions(data_dir) == ["sign_in", "lookup", "reveal", "lookup", "reveal"]
    customer = f"customer {fingerprint(GUIDE_CUSTOMER_ID)[:16]}"
    entries = trail(data_dir)[1:]
    assert {(e.actor, e.role, e.object) for e in entries} == {(ADMIN, "admin", customer)}
    assert [e.detail for e in entries[:2]] == [
        {"token_type": None, "tokens": 3},
        {"token_type": None, "tokens": 3, "what": "token IDs"}]
    assert GUIDE_CUSTOMER_ID not in str([e.to_dict() for e in trail(data_dir)])


def test_customers_are_named_by_id_when_access_says_raw(data_dir: Path) -> None:
    at = open_as(ANALYST, LOOKUP, access={**ACCESS, "trail_customer_ids": "raw"})
    at.text_input(key="lookup_customer_id").set_value(GUIDE_CUSTOMER_ID)
    clean(at.button(key="lookup_go").click().run())
    assert [e.object for e in trail(data_dir, "lookup")] == [f"customer {GUIDE_CUSTOMER_ID}"]


def test_start_cancel_and_resume_leave_one_entry_each(
        monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator, data_dir: Path) -> None:
    slow_simulator(monkeypatch, make_simulator, latency_ms=15)
    at = open_as(ANALYST, BULK)
    run_id = start_slow_run(at, 120)
    ok(at.button(key="bulk_cancel").click().run())
    wait_finished(at)
    ok(at.button(key="bulk_resume").click().run())
    wait_finished(at)
    entries = trail(data_dir)[1:]
    assert [(e.action, e.actor, e.object) for e in entries] == [
        ("audit_start", ANALYST, f"run {run_id}"), ("audit_cancel", ANALYST, f"run {run_id}"),
        ("audit_resume", ANALYST, f"run {run_id}")]
    assert entries[0].detail["customers"] == 120
    assert entries[0].detail["store_token_ids"] is False


def test_retry_and_delete_on_runs_leave_one_entry_each(data_dir: Path) -> None:
    ids = [f"RT-{i}" for i in range(5)]
    run_id = seed_run(data_dir, ids, world_tokens(), failed={"RT-0": "server_error"})
    at = open_as(ANALYST, RUNS)
    clean(at.button(key="runs_retry").click().run())
    wait_finished(at)
    at = open_as(ADMIN, RUNS)
    clean(at.button(key="runs_delete").click().run())
    clean(at.button(key="runs_delete_confirm").click().run())
    assert [(e.action, e.actor, e.object) for e in trail(data_dir)] == [
        ("sign_in", ANALYST, "dashboard"), ("audit_retry", ANALYST, f"run {run_id}"),
        ("sign_in", ADMIN, "dashboard"), ("run_delete", ADMIN, f"run {run_id}")]


def test_saved_audits_and_schedules_leave_one_entry_each(data_dir: Path) -> None:
    at = open_as(ANALYST, SAVED)
    clean(at.text_area(key="saved_paste").input("CUST-0001\nCUST-0002").run())
    at.text_input(key="saved_name").set_value("Monthly")
    clean(at.button(key="saved_save").click().run())
    clean(at.text_input(key="saved_cron").input("0 2 1 * *").run())
    clean(at.button(key="saved_add_schedule").click().run())
    with open_store(data_dir) as store:
        [schedule] = store.schedules()
        saved = store.saved_audit("Monthly")
    assert (saved.created_by, schedule.created_by) == (ANALYST, ANALYST)
    clean(at.button(key=f"saved_unschedule_{schedule.id:d}").click().run())
    ok(at.button(key="saved_run_now").click().run())
    wait_finished(at)
    clean(at.button(key="saved_remove").click().run())
    clean(at.button(key="saved_remove_confirm").click().run())
    entries = trail(data_dir)[1:]
    assert [(e.action, e.actor, e.object) for e in entries] == [
        ("saved_add", ANALYST, f"saved audit {saved.id}"),
        ("schedule_add", ANALYST, f"schedule {schedule.id}"),
        ("schedule_remove", ANALYST, f"schedule {schedule.id}"),
        ("saved_run", ANALYST, f"run {at.session_state['saved_run_id']}"),
        ("saved_remove", ANALYST, f"saved audit {saved.id}")]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], object]]:
    """The deferred bytes of every download button drawn, by file id: calling one is
    what the server does when the browser fetches the file."""
    callables: dict[str, Callable[[], object]] = {}
    original = MediaFileManager.add_deferred

    def add(self: MediaFileManager, data_callable: Callable[[], object], *args: Any,
            **kwargs: Any) -> str:
        file_id = original(self, data_callable, *args, **kwargs)  # type: ignore[arg-type]
        callables[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add)
    return callables


def fetch(at: AppTest, key: str, served: dict[str, Callable[[], object]]) -> object:
    """The browser fetching the file of download button `key`."""
    return served[at.download_button(key=key).proto.deferred_file_id]()


def test_each_download_leaves_one_entry_with_what_and_filters(
    data_dir: Path, served: dict[str, Callable[[], object]],
) -> None:
    tokens = {f"D-{i}": [token(f"D-{i}", 1)] for i in range(3)}
    run_id = seed_run(data_dir, list(tokens), tokens, rejects=[Reject(2, "a b", "space")])
    at = open_as(VIEWER, INSIGHTS)
    clean(at.download_button(key="insights_dl_tokens_csv").click().run())
    assert trail(data_dir)[1:] == []  # a click alone (or a rerun) is no download
    fetch(at, "insights_dl_tokens_csv", served)
    clean(at.multiselect(key="insights_filter_type").select("CREDIT_CARD").run())
    fetch(at, "insights_png_brands", served)
    clean(at.run())  # a rerun is not another download
    clean(at.switch_page(RUNS).run())
    fetch(at, "runs_rejects", served)
    entries = trail(data_dir)[1:]
    assert [(e.action, e.actor, e.role, e.object) for e in entries] == [
        ("download", VIEWER, "viewer", f"run {run_id}")] * 3
    assert [e.detail for e in entries] == [
        {"what": "tokens", "format": "csv", "rows": 3, "filters": "none",
         "token_ids": "masked"},
        {"what": "chart brands", "format": "png", "rows": None,
         "filters": "type: CREDIT_CARD"},
        {"what": "rejected input rows", "format": "csv", "rows": 1, "filters": "none"}]


def test_the_trail_page_shows_entries_newest_first_and_filters_them(data_dir: Path) -> None:
    run_id = seed_run(data_dir, ["T-1"], world_tokens())
    today = datetime.now(timezone.utc).date()
    open_as(VIEWER, INSIGHTS)
    at = open_as(ADMIN, TRAIL)
    assert not at.error
    table = at.dataframe[0].value
    assert list(table["actor"]) == [ADMIN, VIEWER]
    assert list(table["action"]) == ["Sign-in", "Sign-in"]
    assert list(table["detail"]) == [f"issued_at: {ISSUED_ISO} · provider: default"] * 2
    assert shown(at.main.caption[-1].value).startswith("2 entries.")
    clean(at.text_input(key="trail_actor").input(VIEWER).run())
    assert list(at.dataframe[0].value["actor"]) == [VIEWER]
    clean(at.text_input(key="trail_actor").input("").run())
    clean(at.switch_page(RUNS).run())
    clean(at.button(key="runs_delete").click().run())
    clean(at.button(key="runs_delete_confirm").click().run())
    clean(at.switch_page(TRAIL).run())
    clean(at.selectbox(key="trail_action").select("run_delete").run())
    [row] = at.dataframe[0].value.to_dict("records")
    assert (row["actor"], row["role"], row["action"], row["object"]) == (
        ADMIN, "admin", "Run deleted", f"run {run_id}")
    clean(at.date_input(key="trail_since").set_value(today).run())
    assert len(at.dataframe[0].value) == 1
    clean(at.date_input(key="trail_since").set_value(today + timedelta(days=1)).run())
    assert not at.dataframe
    assert shown(at.main.caption[-1].value) == "No entries match."


def test_the_trail_table_keeps_hostile_text_literal_and_short() -> None:
    from doku.engine.trail import TrailEntry
    hostile = "**bold** [x](http://x.test)\nline" + "y" * 400
    entry = TrailEntry(1, "2026-11-26T04:30:55Z", hostile, "oidc", "admin", "download",
                       hostile, {"what": hostile, "empty": None})
    [row] = entries_frame([entry]).to_dict("records")
    assert row["at"] == "2026-11-26 04:30:55"
    assert row["actor"].startswith("**bold** [x](http://x.test) line")
    assert row["object"] == "**bold** [x](http://x.test) line" + "y" * 167 + "…"
    assert row["detail"] == ("what: **bold** [x](http://x.test) line" + "y" * 400)[:239] + "…"

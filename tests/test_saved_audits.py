"""Saved audits in the store: a named customer list kept with its attributes and options,
listed with its schedules and newest run, read back as the input of a new run, and
removed (its schedules with it, its runs kept), on both backends."""

from __future__ import annotations

import re

import pytest

from doku.engine.inputs import parse_file, parse_text
from doku.engine.saved import SavedAudit
from doku.engine.store import Store
from doku.errors import InvalidInputError, NoSuchSavedAuditError
from doku.settings import SIMULATOR_CLIENT_ID
from tests.backend_support import both_backends

pytestmark = both_backends

CSV = "customer_id,region,plan\nC-1,Bali,gold\nC-2,Jawa \u00e9\u4e2d,\nC-1,Bali,gold\n,,\nC-3,,silver\n"


def _run_of(store: Store, saved_id: int, slot: str | None = None) -> int:
    return store.create_run(ids=["C-1"], env="simulator", base_url=None,
                            client_id=SIMULATOR_CLIENT_ID, input_name="x.csv",
                            saved_audit_id=saved_id, scheduled_for=slot)


def test_a_saved_audit_keeps_its_list_attributes_and_options(backend_store: Store) -> None:
    parsed = parse_file(CSV.encode(), "merchants.csv")
    options = {"concurrency": 4, "rps": 2.5, "store_token_ids": True}
    saved_id = backend_store.save_audit(parsed, "  Monthly   merchants ", options,
                                        "CREDIT_CARD", "ana")
    [saved] = backend_store.saved_audits()
    assert saved == SavedAudit(
        id=saved_id, name="Monthly merchants", created_at=saved.created_at,
        created_by="ana", input_name="merchants.csv", customers=3,
        attribute_columns=["region", "plan"], token_type="CREDIT_CARD", options=options,
        schedules=0, last_run_id=None, last_run_at=None,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", saved.created_at)
    again = backend_store.saved_input(saved_id)
    assert (again.source, again.ids, again.attribute_columns, again.attributes) == (
        "merchants.csv", ["C-1", "C-2", "C-3"], ["region", "plan"],
        {"region": ["Bali", "Jawa \u00e9\u4e2d", ""], "plan": ["gold", "", "silver"]},
    )
    assert (again.rejected, again.duplicates, again.blank_rows, again.total_rows) == ([], 0, 0, 3)


def test_a_list_without_attributes_reads_back_without_them(backend_store: Store) -> None:
    saved_id = backend_store.save_audit(parse_text("B-2, B-1 B-3"), "Pasted", {}, None, None)
    again = backend_store.saved_input(saved_id)
    assert (again.source, again.ids, again.attributes, again.attribute_columns) == (
        "pasted text", ["B-2", "B-1", "B-3"], {}, [])


def test_a_hundred_thousand_customers_are_saved_and_read_back_in_order(
    backend_store: Store,
) -> None:
    ids = [f"CUST-{i:06d}" for i in range(100_000)]
    body = "customer_id,segment\n" + "".join(f"{c},s{i % 7}\n" for i, c in enumerate(ids))
    saved_id = backend_store.save_audit(parse_file(body.encode(), "big.csv"), "Big", {}, None,
                                        None)
    again = backend_store.saved_input(saved_id)
    assert again.ids == ids
    assert again.attributes["segment"] == [f"s{i % 7}" for i in range(100_000)]
    assert backend_store.saved_audit("Big").customers == 100_000


@pytest.mark.parametrize(("name", "message"), [
    ("   ", "a saved audit needs a name"),
    ("x" * 121, "a saved audit's name is at most 120 characters, not 121"),
    ("bad\x1bname", "a saved audit's name cannot hold control characters"),
    ("2024", "a saved audit's name cannot be digits alone (2024 would read as an id)"),
])
def test_a_name_that_is_not_valid_is_refused(backend_store: Store, name: str,
                                             message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        backend_store.save_audit(parse_text("A-1"), name, {}, None, None)
    assert caught.value.message == message
    assert backend_store.saved_audits() == []


@pytest.mark.parametrize(("options", "token_type", "message"), [
    ({"concurrency": 0}, None, "concurrency must be between 1 and 256, not 0"),
    ({}, "CARD", "token type must be one of DIRECT_DEBIT, CREDIT_CARD, not 'CARD'"),
])
def test_options_that_are_not_valid_are_refused_when_saved(
    backend_store: Store, options: dict[str, int], token_type: str | None, message: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        backend_store.save_audit(parse_text("A-1"), "Options", options, token_type, None)
    assert caught.value.message == message
    assert backend_store.saved_audits() == []


def test_a_taken_name_is_refused_and_the_first_list_kept(backend_store: Store) -> None:
    first = backend_store.save_audit(parse_text("A-1"), "Monthly", {}, None, None)
    with pytest.raises(InvalidInputError) as caught:
        backend_store.save_audit(parse_text("B-1\nB-2"), " Monthly ", {}, None, None)
    assert caught.value.message == "a saved audit named 'Monthly' already exists"
    assert [(s.id, s.customers) for s in backend_store.saved_audits()] == [(first, 1)]
    assert backend_store.saved_input(first).ids == ["A-1"]


def test_an_input_without_valid_ids_is_refused(backend_store: Store) -> None:
    parsed = parse_text("\x01bad")
    with pytest.raises(InvalidInputError, match="pasted text: no valid customer IDs to save"):
        backend_store.save_audit(parsed, "Empty", {}, None, None)


def test_a_saved_audit_is_found_by_name_or_id(backend_store: Store) -> None:
    first = backend_store.save_audit(parse_text("A-1"), "Alpha", {}, None, None)
    second = backend_store.save_audit(parse_text("B-1"), "Beta  list", {}, None, None)
    assert backend_store.saved_audit("Alpha").id == first
    assert backend_store.saved_audit(" Beta list ").id == second
    assert backend_store.saved_audit(second).name == "Beta list"
    assert backend_store.saved_audit(str(first)).name == "Alpha"
    with pytest.raises(NoSuchSavedAuditError) as by_name:
        backend_store.saved_audit("alpha")
    assert by_name.value.message == (
        f"there is no saved audit named 'alpha' in {backend_store.where}")
    with pytest.raises(NoSuchSavedAuditError) as by_id:
        backend_store.saved_audit(99)
    assert by_id.value.message == f"saved audit 99 is not in {backend_store.where}"
    assert [s.name for s in backend_store.saved_audits()] == ["Alpha", "Beta list"]


def test_the_listing_shows_the_newest_run_of_the_series(backend_store: Store) -> None:
    saved_id = backend_store.save_audit(parse_text("C-1"), "Series", {}, None, None)
    other = backend_store.save_audit(parse_text("C-1"), "Other", {}, None, None)
    _run_of(backend_store, saved_id, "2026-11-01T02:00:00Z")
    newest = _run_of(backend_store, saved_id)
    _run_of(backend_store, other)
    saved = backend_store.saved_audit("Series")
    newest_run = backend_store.get_run(newest)
    assert newest_run is not None
    assert (saved.last_run_id, saved.last_run_at) == (newest, newest_run.created_at)


def test_removing_a_saved_audit_drops_its_schedules_and_keeps_its_runs(
    backend_store: Store,
) -> None:
    saved_id = backend_store.save_audit(parse_text("C-1\nC-2"), "Gone", {}, None, None)
    kept = backend_store.save_audit(parse_text("K-1"), "Kept", {}, None, None)
    backend_store.add_schedule(saved_id, "0 2 1 * *")
    backend_store.add_schedule(saved_id, "0 3 * * *")
    kept_schedule = backend_store.add_schedule(kept, "0 2 1 * *")
    runs = [_run_of(backend_store, saved_id, "2026-11-01T02:00:00Z"),
            _run_of(backend_store, saved_id)]
    kept_run = _run_of(backend_store, kept)
    removed = backend_store.remove_saved_audit("Gone")
    assert (removed.id, removed.name, removed.schedules) == (saved_id, "Gone", 2)
    assert [s.name for s in backend_store.saved_audits()] == ["Kept"]
    assert [s.id for s in backend_store.schedules()] == [kept_schedule]
    series = {r.id: (r.saved_audit_id, r.scheduled_for) for r in backend_store.list_runs()}
    assert series == {runs[0]: (None, "2026-11-01T02:00:00Z"), runs[1]: (None, None),
                      kept_run: (kept, None)}
    assert backend_store._fetch_all(
        "SELECT COUNT(*) FROM saved_customers WHERE saved_audit_id=?", (saved_id,)) == [(0,)]
    with pytest.raises(NoSuchSavedAuditError):
        backend_store.remove_saved_audit(saved_id)

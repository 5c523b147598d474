"""Schedules: cron expressions checked, the slot due at a given time (exact values and a
brute-force minute walk), and the schedules kept in the store with their atomic claim."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doku.engine.inputs import parse_text
from doku.engine.schedules import check_cron, iso, next_slot, parse_iso, slot_due
from doku.engine.store import Store
from doku.errors import InvalidInputError, NoSuchSavedAuditError
from tests.backend_support import both_backends, open_store

UTC = timezone.utc
MONTHLY = "0 2 1 * *"  # 02:00 UTC on the 1st
CREATED = "2026-11-26T03:44:44Z"


def at(text: str) -> datetime:
    return parse_iso(text)


# -- cron expressions ------------------------------------------------------------------
def test_a_cron_expression_is_kept_with_single_spaces() -> None:
    assert check_cron("  0  2 1 *\t* ") == MONTHLY
    assert check_cron("*/15 8-18 * * 1-5") == "*/15 8-18 * * 1-5"


def test_an_equal_range_is_its_one_value_as_cron_reads_it() -> None:
    """croniter alone would read "1-1" (or "jan-jan") as the whole cycle: daily."""
    assert check_cron("0 2 1-1 * *") == MONTHLY
    assert check_cron("0-0 2 1 jan-JAN sun-0") == "0 2 1 jan sun"
    assert check_cron("0 2 3-3/2 * *") == "0 2 3 * *"
    assert check_cron("0 2 * mar-apr mon-fri") == "0 2 * mar-apr mon-fri"
    assert slot_due(check_cron("0 2 1-1 * *"), None, CREATED, at("2026-12-02T03:00:00Z")) == (
        "2026-12-01T02:00:00Z")


@pytest.mark.parametrize(("cron", "message"), [
    ("0 2 1 *", "cron expression '0 2 1 *' has 4 fields; it needs 5"),
    ("0 0 2 1 * *", "cron expression '0 0 2 1 * *' has 6 fields; it needs 5"),
    ("", "cron expression '' has 0 fields; it needs 5"),
    ("@daily", "cron expression '@daily' has 1 field; it needs 5"),
    ("61 * * * *", "cron expression '61 * * * *' is not valid (fields: minute, hour, "
                   "day of month, month, day of week)"),
    ("0 2 x * *", "cron expression '0 2 x * *' is not valid"),
    ("R 2 * * *", "cron expression 'R 2 * * *' is not valid"),  # random: differs per read
    ("H 2 * * *", "cron expression 'H 2 * * *' is not valid"),
    ("0 0 31 2 *", "cron expression '0 0 31 2 *' names no date that comes"),
])
def test_a_bad_cron_expression_is_refused_naming_it(cron: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_cron(cron)
    assert caught.value.message.startswith(message), caught.value.message


# -- the slot due ------------------------------------------------------------------------
def test_the_slot_fires_from_its_minute_on_and_only_once() -> None:
    assert slot_due(MONTHLY, None, CREATED, at("2026-12-01T01:59:59Z")) is None
    assert slot_due(MONTHLY, None, CREATED, at("2026-12-01T02:00:00Z")) == "2026-12-01T02:00:00Z"
    assert slot_due(MONTHLY, None, CREATED, at("2026-12-01T02:00:59.9Z")) == (
        "2026-12-01T02:00:00Z")
    assert slot_due(MONTHLY, None, CREATED, at("2026-12-20T00:00:00Z")) == (
        "2026-12-01T02:00:00Z")
    assert slot_due(MONTHLY, "2026-12-01T02:00:00Z", CREATED, at("2026-12-20T00:00:00Z")) is None
    assert slot_due(MONTHLY, "2026-12-01T02:00:00Z", CREATED, at("2027-01-01T02:00:00Z")) == (
        "2027-01-01T02:00:00Z")


def test_only_the_latest_missed_slot_fires_never_a_backlog() -> None:
    assert slot_due(MONTHLY, "2026-12-01T02:00:00Z", CREATED, at("2027-05-17T09:30:00Z")) == (
        "2027-05-01T02:00:00Z")
    assert slot_due("0 * * * *", None, CREATED, at("2026-11-29T07:15:00Z")) == (
        "2026-11-29T07:00:00Z")


def test_a_slot_before_or_at_the_schedules_creation_never_fires() -> None:
    assert slot_due(MONTHLY, None, "2026-12-01T02:00:00Z", at("2026-12-01T02:00:30Z")) is None
    assert slot_due(MONTHLY, None, "2026-12-01T01:59:59Z", at("2026-12-01T02:00:30Z")) == (
        "2026-12-01T02:00:00Z")
    assert slot_due("30 * * * *", None, "2026-11-26T03:44:44Z",
                    at("2026-11-26T04:29:00Z")) is None


def test_times_are_utc_whatever_zone_now_is_given_in() -> None:
    jakarta = timezone(timedelta(hours=7))
    now = datetime(2026, 12, 1, 9, 0, 5, tzinfo=jakarta)  # 02:00:05 UTC
    assert slot_due(MONTHLY, None, CREATED, now) == "2026-12-01T02:00:00Z"
    assert slot_due(MONTHLY, None, CREATED, datetime(2026, 12, 1, 2, 0)) == (
        "2026-12-01T02:00:00Z")  # naive: already UTC
    assert iso(now) == "2026-12-01T02:00:05Z"
    assert next_slot(MONTHLY, now) == "2027-01-01T02:00:00Z"


# -- brute force: walk the minutes ----------------------------------------------------------
def _field(low: int, high: int, *, steps: bool) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    options = [
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.lists(value, min_size=2, max_size=3, unique=True).map(
            lambda vs: ",".join(map(str, vs))),
    ]
    if steps:
        options.append(st.integers(2, 30).map(lambda n: f"*/{n}"))
    return st.one_of(*options)


CRONS = st.tuples(
    _field(0, 59, steps=True), _field(0, 23, steps=True), _field(1, 28, steps=False),
    _field(1, 12, steps=True), _field(0, 6, steps=False),
).map(" ".join)


def _values(spec: str, low: int, high: int) -> set[int]:
    if spec == "*":
        return set(range(low, high + 1))
    if spec.startswith("*/"):
        return set(range(low, high + 1, int(spec[2:])))
    if "-" in spec:
        a, b = map(int, spec.split("-"))
        return set(range(a, b + 1))
    return {int(v) for v in spec.split(",")}


def _matches(cron: str, minute: datetime) -> bool:
    """Cron's own rule, written out: day of month and day of week both restricted
    means either one (Sunday is 0)."""
    m, h, dom, mon, dow = cron.split(" ")
    if minute.minute not in _values(m, 0, 59) or minute.hour not in _values(h, 0, 23):
        return False
    if minute.month not in _values(mon, 1, 12):
        return False
    in_dom = minute.day in _values(dom, 1, 31)
    in_dow = (minute.weekday() + 1) % 7 in _values(dow, 0, 6)
    if dom != "*" and dow != "*":
        return in_dom or in_dow
    return in_dom and in_dow


def _walked(cron: str, since: datetime, now: datetime) -> str | None:
    minute = now.replace(second=0, microsecond=0)
    while minute > since:
        if _matches(cron, minute):
            return iso(minute)
        minute -= timedelta(minutes=1)
    return None


@settings(max_examples=150, deadline=None)
@given(
    cron=CRONS,
    now=st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)),
    back=st.integers(0, 3 * 24 * 60 * 60),
    fired_before=st.booleans(),
)
def test_the_slot_due_is_the_latest_minute_of_a_brute_force_walk(
    cron: str, now: datetime, back: int, fired_before: bool
) -> None:
    since = (now - timedelta(seconds=back)).replace(microsecond=0)
    created, last = (CREATED, iso(since)) if fired_before else (iso(since), None)
    assert slot_due(check_cron(cron), last, created, now) == _walked(cron, since, now)


# -- in the store -----------------------------------------------------------------------------
def _saved(store: Store, name: str = "Monthly merchants") -> int:
    return store.save_audit(parse_text("A-1\nA-2"), name, {}, None, "ana")


@both_backends
def test_schedules_are_listed_with_their_saved_audit_and_next_slot(backend_store: Store) -> None:
    first = _saved(backend_store, "Zebra list")
    second = _saved(backend_store, "Alpha list")
    monthly = backend_store.add_schedule("Zebra list", " 0 2 1 * * ", "ana")
    hourly = backend_store.add_schedule(second, "15 * * * *", None)
    daily = backend_store.add_schedule(str(first), "0 4 * * *", "budi")
    listed = backend_store.schedules(now=at("2026-12-01T02:00:00Z"))
    assert [(s.id, s.saved_audit_id, s.saved_audit, s.cron, s.created_by, s.last_slot,
             s.next_slot) for s in listed] == [
        (hourly, second, "Alpha list", "15 * * * *", None, None, "2026-12-01T02:15:00Z"),
        (monthly, first, "Zebra list", MONTHLY, "ana", None, "2027-01-01T02:00:00Z"),
        (daily, first, "Zebra list", "0 4 * * *", "budi", None, "2026-12-01T04:00:00Z"),
    ]
    assert [s.id for s in backend_store.schedules(saved_id=first)] == [monthly, daily]
    assert {s.name: s.schedules for s in backend_store.saved_audits()} == {
        "Alpha list": 1, "Zebra list": 2}


@both_backends
def test_adding_a_schedule_refuses_unknown_audits_bad_crons_and_repeats(
    backend_store: Store,
) -> None:
    saved_id = _saved(backend_store)
    with pytest.raises(NoSuchSavedAuditError, match="there is no saved audit named 'Nope'"):
        backend_store.add_schedule("Nope", MONTHLY)
    with pytest.raises(InvalidInputError, match="has 4 fields"):
        backend_store.add_schedule(saved_id, "0 2 1 *")
    first = backend_store.add_schedule(saved_id, MONTHLY)
    with pytest.raises(InvalidInputError) as caught:
        backend_store.add_schedule("Monthly merchants", "0  2 1 * *")
    assert caught.value.message == (
        f"that saved audit already runs at '0 2 1 * *' (schedule {first})")
    assert [s.id for s in backend_store.schedules()] == [first]


@both_backends
def test_removing_a_schedule(backend_store: Store) -> None:
    schedule = backend_store.add_schedule(_saved(backend_store), MONTHLY)
    backend_store.remove_schedule(schedule)
    assert backend_store.schedules() == []
    with pytest.raises(NoSuchSavedAuditError) as caught:
        backend_store.remove_schedule(schedule)
    assert caught.value.message == f"schedule {schedule} is not in {backend_store.where}"


@both_backends
def test_a_slot_is_claimed_once_and_never_an_earlier_one(backend_store: Store) -> None:
    schedule = backend_store.add_schedule(_saved(backend_store), MONTHLY)
    assert backend_store.claim_slot(schedule, "2026-12-01T02:00:00Z") is True
    assert backend_store.claim_slot(schedule, "2026-12-01T02:00:00Z") is False
    assert backend_store.claim_slot(schedule, "2026-11-01T02:00:00Z") is False
    assert backend_store.schedules()[0].last_slot == "2026-12-01T02:00:00Z"
    assert backend_store.claim_slot(schedule, "2027-01-01T02:00:00Z") is True
    assert backend_store.schedules()[0].last_slot == "2027-01-01T02:00:00Z"


@both_backends
def test_of_many_concurrent_claimers_of_a_slot_exactly_one_wins(
    backend_store: Store, tmp_path: Path,
) -> None:
    schedule = backend_store.add_schedule(_saved(backend_store), MONTHLY)
    claimers = 6
    stores = [open_store(tmp_path) for _ in range(claimers)]
    start = threading.Barrier(claimers)
    won: list[bool] = []

    def claim(store: Store) -> None:
        start.wait()
        won.append(store.claim_slot(schedule, "2026-12-01T02:00:00Z"))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for s in stores:
            s.close()
    assert sorted(won) == [False] * (claimers - 1) + [True]

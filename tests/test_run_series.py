"""Run labels, series of comparable runs and the server-side customer search."""

from __future__ import annotations

from doku.analysis.comparison import previous_comparable, run_series, series_key
from doku.analysis.labels import run_label, scope_label, type_label
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token


def _with_six_runs(store: Store) -> Store:
    """Six runs: two series by input, one by name, one narrower scope."""
    for name, input_name, scope in ((None, "customers.csv", None),
                                    (None, "pasted text", None),
                                    ("Nov month-end", "customers.csv", None),
                                    (None, "customers.csv", CREDIT_CARD),
                                    (None, "customers.csv", None),
                                    ("Nov month-end", "nov.csv", None)):
        store.create_run(ids=["C1", "C2"], env="simulator", base_url=None, client_id="M",
                         input_name=input_name, token_type=scope, name=name)
    return store


def test_type_and_run_labels() -> None:
    assert [type_label(t) for t in (DIRECT_DEBIT, CREDIT_CARD, "WALLET_RECURRING", "")] == [
        "Direct debit", "Credit card", "Wallet recurring", "(no type)"]
    assert (scope_label(None), scope_label(CREDIT_CARD)) == ("all types", "Credit card")


def test_series_group_by_name_else_input_and_scope(backend_store: Store) -> None:
    store = _with_six_runs(backend_store)
    runs = store.list_runs()
    info = {r.id: r for r in runs}
    label = run_label(info[3])
    assert label.startswith("#3 Nov month-end · customers.csv · 2 customers · all types · 20")
    series = run_series(runs)
    assert {k: [r.id for r in v] for k, v in series.items()} == {
        "input: customers.csv | all types | simulator": [1, 5],
        "input: pasted text | all types | simulator": [2],
        "name: Nov month-end": [3, 6],
        "input: customers.csv | CREDIT_CARD | simulator": [4],
    }
    assert previous_comparable(runs, info[5]).id == 1  # type: ignore[union-attr]
    assert previous_comparable(runs, info[6]).id == 3  # type: ignore[union-attr]
    assert previous_comparable(runs, info[4]) is None
    store.set_archived(1)
    assert previous_comparable(store.list_runs(), info[5]) is None
    assert series_key(info[2]) == "input: pasted text | all types | simulator"


def test_customer_search_covers_the_whole_run_by_id_or_name(backend_store: Store) -> None:
    store = backend_store
    ids = [f"P{i:06}" for i in range(5_000)]
    run = store.create_run(ids=ids, env="simulator", base_url=None, client_id="M",
                           input_name="t")
    store.record_fetched(run, "P004321", [
        Token("P004321", "Siti Rahma_100%", DIRECT_DEBIT, "BRI", None, "****1", "tok-00000001")],
        attempts=1)
    assert [r[0] for r in store.find_customers(run, "4321")] == ["P004321"]
    assert [r[0] for r in store.find_customers(run, "siti")] == ["P004321"]
    assert [r[0] for r in store.find_customers(run, "a_100%")] == ["P004321"]
    assert store.find_customers(run, "_") == [store.find_customers(run, "a_1")[0]]  # literal
    assert len(store.find_customers(run, "P00", limit=100)) == 100
    assert store.find_customers(run, "nobody") == []

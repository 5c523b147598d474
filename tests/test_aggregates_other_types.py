"""A token type DOKU adds later (a wallet) is kept and counted as its own type."""

from __future__ import annotations

from pathlib import Path

import pytest

from doku.analysis.aggregates import apply_filters, by_type, summary, types_in_scope, uptake_by_type
from doku.analysis.filters import Filters
from doku.analysis.frames import load_run_frames
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

WALLET = "WALLET_RECURRING"


def _run(tmp_path: Path) -> tuple[Store, int]:
    store = Store(tmp_path / "s.sqlite3")
    run = store.create_run(ids=["C1", "C2", "C3"], env="simulator", base_url=None,
                           client_id="M", input_name="t")
    store.record_fetched(run, "C1", [
        Token("C1", "A", DIRECT_DEBIT, "BRI", None, "****1", "tok-dd-000001"),
        Token("C1", "A", WALLET, "OVO", None, "0812****99", "tok-wa-000001"),
    ], attempts=1)
    store.record_fetched(run, "C2", [
        Token("C2", "B", WALLET, "OVO", None, "0813****11", "tok-wa-000002"),
    ], attempts=1)
    store.record_fetched(run, "C3", [
        Token("C3", "C", CREDIT_CARD, "BCA", "visa", "4111****1111", "tok-cc-000003"),
    ], attempts=1)
    return store, run


def test_wallet_tokens_are_their_own_type_everywhere(tmp_path: Path) -> None:
    store, run = _run(tmp_path)
    frames = load_run_frames(store, run)
    assert types_in_scope(frames) == (DIRECT_DEBIT, CREDIT_CARD, WALLET)
    assert by_type(frames.tokens, types_in_scope(frames)).values.tolist() == [
        [WALLET, 2], [CREDIT_CARD, 1], [DIRECT_DEBIT, 1],
    ]
    per_type = uptake_by_type(frames.customers, types_in_scope(frames), frames.tokens)
    assert per_type[["type", "with_tokens", "fetched"]].values.tolist() == [
        [DIRECT_DEBIT, 1, 3], [CREDIT_CARD, 1, 3], [WALLET, 2, 3],
    ]
    s = summary(frames)
    assert s["by_type"] == {WALLET: 2, CREDIT_CARD: 1, DIRECT_DEBIT: 1}
    assert (s["direct_debit"], s["credit_card"], s["tokens"]) == (1, 1, 4)
    assert s["uptake_by_type"][WALLET]["with_tokens"] == 2
    rows = {r[0]: r for r in store.customer_rows(run)}
    assert (rows["C1"][3], rows["C1"][4], rows["C1"][5]) == (2, 1, 0)  # n_tokens, dd, cc


def test_a_type_filter_on_the_wallet_type(tmp_path: Path) -> None:
    store, run = _run(tmp_path)
    only = apply_filters(load_run_frames(store, run), Filters(types=(WALLET,)))
    assert types_in_scope(only) == (WALLET,)
    assert summary(only)["with_tokens"] == 2
    assert summary(only)["tokens"] == 2


def test_failures_by_code_with_example_request_ids(tmp_path: Path) -> None:
    from doku.analysis.aggregates import failures_by_code

    store = Store(tmp_path / "f.sqlite3")
    ids = [f"C{i}" for i in range(6)]
    run = store.create_run(ids=ids, env="simulator", base_url=None, client_id="M",
                           input_name="t")
    for i, code in ((0, "server_error"), (1, "transport"), (2, "server_error"),
                    (3, "server_error"), (4, "server_error")):
        store.record_failed(run, f"C{i}", error_code=code, error_message="x", attempts=2,
                            request_id=f"rid-{i}" if i != 2 else None)
    store.record_fetched(run, "C5", [], attempts=1)
    table = failures_by_code(load_run_frames(store, run).customers)
    assert table.to_dict("records") == [
        {"error_code": "server_error", "error_kind": "server error", "customers": 4,
         "example_request_ids": "rid-0, rid-3, rid-4", "example_customer_ids": "C0, C2, C3"},
        {"error_code": "transport", "error_kind": "transport error", "customers": 1,
         "example_request_ids": "rid-1", "example_customer_ids": "C1"},
    ]


def test_date_like_segments_are_in_time_order_with_blank_last() -> None:
    from doku.analysis.labels import chronological

    assert chronological(["2024-03", "2023-11", "(blank)", "2024-01"]) == [1, 3, 0, 2]
    assert chronological(["2024-03-02", "2024/01/15"]) == [1, 0]
    assert chronological(["2024-Q2", "2023-Q4"]) == [1, 0]
    assert chronological(["gold", "2024-01"]) is None
    assert chronological(["(blank)"]) is None


def test_signup_month_uptake_is_chronological_and_flags_small_groups(tmp_path: Path) -> None:
    from doku.analysis.aggregates import uptake_by_attribute

    store = Store(tmp_path / "m.sqlite3")
    months = ["2024-03"] * 31 + ["2023-12"] * 2 + ["2024-01"] * 5
    ids = [f"C{i}" for i in range(len(months))]
    run = store.create_run(ids=ids, attribute_values={"signup_month": months},
                           attribute_columns=["signup_month"], env="simulator",
                           base_url=None, client_id="M", input_name="t")
    for cid in ids:
        store.record_fetched(run, cid, [], attempts=1)
    seg = uptake_by_attribute(load_run_frames(store, run).customers, "signup_month")
    assert seg[["value", "customers", "small"]].values.tolist() == [
        ["2023-12", 2, True], ["2024-01", 5, True], ["2024-03", 31, False],
    ]


def test_issuer_mix_shares_within_each_type_and_change_in_points(tmp_path: Path) -> None:
    from doku.analysis.mix import issuer_mix

    def run(store: Store, tokens: dict[str, list[tuple[str, str]]]) -> int:
        rid = store.create_run(ids=list(tokens), env="simulator", base_url=None,
                               client_id="M", input_name="t")
        for cid, held in tokens.items():
            store.record_fetched(rid, cid, [
                Token(cid, None, t, issuer, "visa" if t == CREDIT_CARD else None, "****",
                      f"{cid}-{i:08}") for i, (t, issuer) in enumerate(held)], attempts=1)
        return rid

    store = Store(tmp_path / "mix.sqlite3")
    before = run(store, {"C1": [(CREDIT_CARD, "BCA")], "C2": [(CREDIT_CARD, "BNI")]})
    after = run(store, {"C1": [(CREDIT_CARD, "BCA"), (CREDIT_CARD, "BCA")],
                        "C2": [(CREDIT_CARD, "BNI"), (DIRECT_DEBIT, "BRI")],
                        "C3": [(CREDIT_CARD, "BCA")]})
    mix = issuer_mix(load_run_frames(store, after), load_run_frames(store, before))
    assert mix.values.tolist() == [
        [CREDIT_CARD, "BCA", 3, 0.75, 2, 2 / 3, pytest.approx(25.0), pytest.approx(100 * (2 / 3 - 0.5))],
        [CREDIT_CARD, "BNI", 1, 0.25, 1, 1 / 3, pytest.approx(-25.0), pytest.approx(100 * (1 / 3 - 0.5))],
        [DIRECT_DEBIT, "BRI", 1, 1.0, 1, 1.0,  # no direct debit before: no change
         pytest.approx(float("nan"), nan_ok=True), pytest.approx(float("nan"), nan_ok=True)],
    ]

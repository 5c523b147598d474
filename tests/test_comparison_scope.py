"""Comparing runs of different scope, input or environment says so and compares only
what both runs fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doku.analysis.comparison import compare_runs, shared_scope
from doku.analysis.frames import load_run_frames
from doku.cli.main import main
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

IDS = ["C1", "C2", "C3", "C4"]
HELD = {  # customer -> (direct debits, credit cards) the world holds
    "C1": (1, 1), "C2": (2, 0), "C3": (0, 1), "C4": (0, 0), "C9": (1, 0),
}


def _tokens(cid: str, scope: str | None) -> list[Token]:
    dd, cc = HELD[cid]
    out = [Token(cid, None, DIRECT_DEBIT, "BRI", None, f"****{i}", f"{cid}-dd-{i:06}")
           for i in range(dd)]
    out += [Token(cid, None, CREDIT_CARD, "BCA", "visa", f"4111****{i}", f"{cid}-cc-{i:06}")
            for i in range(cc)]
    return [t for t in out if scope is None or t.type == scope]


def _run(store: Store, scope: str | None, *, ids: list[str] = IDS, env: str = "simulator",
         name: str = "customers.csv") -> int:
    run = store.create_run(ids=ids, env=env, base_url=None, client_id="MCH-1",
                           input_name=name, token_type=scope)
    for cid in ids:
        store.record_fetched(run, cid, _tokens(cid, scope), attempts=1)
    store.set_status(run, "done")
    return run


@pytest.fixture
def store(backend_store: Store) -> Store:
    """An empty store on each backend (what `doku compare` opens with
    DOKU_DATA_DIR=tmp_path): the tests that use it run twice."""
    return backend_store


def test_scopes() -> None:
    assert shared_scope(None, None) == (None, True)
    assert shared_scope(None, CREDIT_CARD) == (CREDIT_CARD, True)
    assert shared_scope(DIRECT_DEBIT, None) == (DIRECT_DEBIT, True)
    assert shared_scope(CREDIT_CARD, CREDIT_CARD) == (CREDIT_CARD, True)
    assert shared_scope(CREDIT_CARD, DIRECT_DEBIT) == (None, False)


def test_all_types_against_credit_cards_only_compares_credit_cards(store: Store) -> None:
    a, b = _run(store, None), _run(store, CREDIT_CARD)
    c = compare_runs(load_run_frames(store, a), load_run_frames(store, b))
    assert (c.comparable, c.differences, c.scope) == (True, ("token_type",), CREDIT_CARD)
    # nothing changed within the shared scope: no customer "lost" a direct debit
    assert (len(c.gained), len(c.lost), c.tokens_added, c.tokens_removed) == (0, 0, 0, 0)
    assert (c.uptake_a.with_tokens, c.uptake_b.with_tokens, c.uptake_change) == (2, 2, 0.0)
    assert c.uptake_by_type["type"].tolist() == [CREDIT_CARD]
    assert c.warnings() == [
        "the runs differ in token_type",
        "tokens and uptake are compared for CREDIT_CARD only, the type scope both runs fetched",
    ]


def test_disjoint_scopes_and_other_environments_are_not_comparable(store: Store) -> None:
    dd, cc = _run(store, DIRECT_DEBIT), _run(store, CREDIT_CARD)
    c = compare_runs(load_run_frames(store, dd), load_run_frames(store, cc))
    assert (c.comparable, c.differences, c.scope) == (False, ("token_type",), None)
    assert (c.tokens_added, c.tokens_removed, len(c.lost)) == (0, 0, 0)
    sandbox = _run(store, None, env="sandbox", ids=["C1", "C9"], name="other.csv")
    c = compare_runs(load_run_frames(store, _run(store, None)), load_run_frames(store, sandbox))
    assert c.comparable is False
    assert c.differences == ("input_name", "customers", "env")
    assert c.warnings()[0].startswith("runs 4 and 3 are not comparable: they differ in "
                                      "input_name, customers, env")


def test_compare_json_carries_comparable_and_differences(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = _run(store, None), _run(store, CREDIT_CARD)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    assert main(["compare", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["comparable"], data["differences"], data["scope"]) == (
        True, ["token_type"], CREDIT_CARD)
    assert main(["compare", str(a), str(b)]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "warning: the runs differ in token_type",
        "warning: tokens and uptake are compared for CREDIT_CARD only, the type scope both "
        "runs fetched",
    ]

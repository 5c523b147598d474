"""The issuer mix: shares within each token type, and the change in points against an
earlier run, on small hand-built token frames (exact numbers)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from doku.analysis.frames import RunFrames
from doku.analysis.mix import issuer_mix
from doku.engine.schema import RunInfo
from doku.models import CREDIT_CARD, DIRECT_DEBIT

WALLET = "WALLET_RECURRING"
COLUMNS = ["type", "issuer", "tokens", "token_share", "holders", "holder_share",
           "token_share_change_pp", "holder_share_change_pp"]


def frames(held: list[tuple[str, str, str | None]]) -> RunFrames:
    """A run whose tokens are (customer, type, issuer) triples (None: no issuer)."""
    run = RunInfo(id=1, created_at="2026-11-01T00:00:00Z", started_at=None, finished_at=None,
                  status="done", env="simulator", base_url=None, client_id="M",
                  input_name="t.csv", token_type=None, options={}, attribute_columns=[],
                  customers=0, rejected=0, duplicates=0, blank_rows=0,
                  store_token_ids=False, error=None, fetched=0, failed=0, pending=0,
                  with_tokens=0, tokens=len(held))
    tokens = pd.DataFrame({"customer_id": [c for c, _, _ in held],
                           "type": [t for _, t, _ in held],
                           "issuer": [i for _, _, i in held]})
    return RunFrames(run=run, tokens=tokens, customers=pd.DataFrame(), errors=pd.DataFrame())


NOW = frames([
    ("C1", CREDIT_CARD, "BCA"), ("C1", CREDIT_CARD, "BCA"), ("C3", CREDIT_CARD, "BCA"),
    ("C2", CREDIT_CARD, "BNI"),
    ("C2", DIRECT_DEBIT, "BRI"), ("C4", DIRECT_DEBIT, None),
])
BEFORE = frames([
    ("C1", CREDIT_CARD, "BCA"), ("C2", CREDIT_CARD, "BNI"), ("C3", CREDIT_CARD, "Mandiri"),
    ("C5", WALLET, "OVO"),
])
NAN = pytest.approx(math.nan, nan_ok=True)


def test_shares_within_each_type_without_an_earlier_run() -> None:
    mix = issuer_mix(NOW)
    assert list(mix.columns) == COLUMNS
    # credit cards: 4 tokens held by C1, C2, C3; direct debit: 2 tokens, 2 holders
    assert mix.values.tolist() == [
        [CREDIT_CARD, "BCA", 3, 0.75, 2, pytest.approx(2 / 3), NAN, NAN],
        [CREDIT_CARD, "BNI", 1, 0.25, 1, pytest.approx(1 / 3), NAN, NAN],
        [DIRECT_DEBIT, "(blank)", 1, 0.5, 1, 0.5, NAN, NAN],
        [DIRECT_DEBIT, "BRI", 1, 0.5, 1, 0.5, NAN, NAN],
    ]


def test_change_in_points_against_an_earlier_run() -> None:
    mix = issuer_mix(NOW, BEFORE)
    assert mix.values.tolist() == [
        # before: BCA, BNI and Mandiri one credit card each (1/3 of tokens and holders)
        [CREDIT_CARD, "BCA", 3, 0.75, 2, pytest.approx(2 / 3),
         pytest.approx(75 - 100 / 3), pytest.approx(100 * (2 / 3 - 1 / 3))],
        [CREDIT_CARD, "BNI", 1, 0.25, 1, pytest.approx(1 / 3),
         pytest.approx(25 - 100 / 3), pytest.approx(0.0)],
        # gone since: a row with nothing, and all its share lost
        [CREDIT_CARD, "Mandiri", 0, 0.0, 0, 0.0,
         pytest.approx(-100 / 3), pytest.approx(-100 / 3)],
        # no direct debit before: its shares were undefined, so no change (not +50 pp)
        [DIRECT_DEBIT, "(blank)", 1, 0.5, 1, 0.5, NAN, NAN],
        [DIRECT_DEBIT, "BRI", 1, 0.5, 1, 0.5, NAN, NAN],
        # the wallet type held only before has no row: it has no share now
    ]


def test_the_same_run_twice_changes_nothing_and_no_tokens_is_an_empty_mix() -> None:
    same = issuer_mix(NOW, NOW)
    assert same["token_share_change_pp"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert same["holder_share_change_pp"].tolist() == [0.0, 0.0, 0.0, 0.0]
    empty = issuer_mix(frames([]), BEFORE)
    assert list(empty.columns) == COLUMNS
    assert empty.empty

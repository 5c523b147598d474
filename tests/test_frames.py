"""Frames: columns, dtypes and counts equal what was stored.

`build_small_store` is the hand-made fixture shared by the aggregate, chart, export and
report tests (they import it from here); every expected number in those tests is
worked out by hand from the table in its docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from doku.analysis.frames import (
    CUSTOMER_COLUMNS,
    attribute_frame_names,
    customers_frame,
    errors_frame,
    load_run_frames,
    tokens_frame,
    tokens_frame_from_tokens,
)
from doku.engine.store import Store, resolve_run
from doku.errors import InvalidInputError, NoSuchRunError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.backend_support import backend_url

DD, CC = DIRECT_DEBIT, CREDIT_CARD
INJECTION_NAME = "=cmd|' /C calc'!A0"


def _t(cid: str, name: str | None, kind: str, issuer: str, brand: str | None, tid: str) -> Token:
    return Token(cid, name, kind, issuer, brand, f"****{tid[-4:]}", tid)


def build_small_store(path: str | Path = ":memory:", store_token_ids: bool = False) -> tuple[
    Store, int, int
]:
    """Two runs (A, B) on one store (`path`: a SQLite file, `:memory:` or a database
    URL); returns (store, run_a, run_b).

    Run A, attributes segment/city, 8 customers:
      C1 gold/Jakarta   fetched  DD BRI a1dd1, DD BRI a1dd2, CC BCA visa a1cc1
      C2 gold/Bandung   fetched  CC BCA mastercard a2cc1
      C3 silver/Jakarta fetched  (no tokens)
      C4 silver/""      fetched  CC Mandiri (no brand) a4cc1, DD Mandiri a4dd1
      C5 gold/Jakarta   failed   server error, 503, 3 attempts
      C6 (no attributes) pending
      C7 bronze/"=1+2"  fetched  DD BNI a7dd1 (customer name is a formula)
      C8 silver/Surabaya fetched (no tokens)
    Run B, same attributes, 7 customers:
      C1 fetched DD BRI a1dd1, CC BCA visa a1cc1          (lost a1dd2)
      C2 fetched CC BCA mastercard a2cc1, CC BNI visa b2cc2 (gained b2cc2)
      C3 fetched DD BNI b3dd1                               (gained)
      C4 failed  rate limited, 429, 5 attempts
      C5 fetched DD BRI b5dd1
      C7 fetched DD BNI a7dd1                               (unchanged)
      C9 gold/Jakarta fetched CC BCA visa b9cc1             (only in B)
    """
    store = Store(url=path) if "://" in str(path) else Store(path)
    attrs = {
        "C1": {"segment": "gold", "city": "Jakarta"},
        "C2": {"segment": "gold", "city": "Bandung"},
        "C3": {"segment": "silver", "city": "Jakarta"},
        "C4": {"segment": "silver", "city": ""},
        "C5": {"segment": "gold", "city": "Jakarta"},
        "C7": {"segment": "bronze", "city": "=1+2"},
        "C8": {"segment": "silver", "city": "Surabaya"},
        "C9": {"segment": "gold", "city": "Jakarta"},
    }
    common = {"env": "simulator", "base_url": None, "client_id": "MCH-TEST",
              "attribute_columns": ["segment", "city"], "store_token_ids": store_token_ids}
    a = store.create_run(
        ids=["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"], attributes=attrs,
        input_name="customers-a.csv", **common,
    )

    def fetched(run: int, cid: str, tokens: list[Token]) -> None:
        store.record_fetched(run, cid, tokens, attempts=1, store_token_ids=store_token_ids)

    fetched(a, "C1", [
        _t("C1", "Anton Budiman", DD, "BRI", None, "tok-a1dd1-0001"),
        _t("C1", "Anton Budiman", DD, "BRI", None, "tok-a1dd2-0002"),
        _t("C1", "Anton Budiman", CC, "BCA", "visa", "tok-a1cc1-0003"),
    ])
    fetched(a, "C2", [_t("C2", "Budi", CC, "BCA", "mastercard", "tok-a2cc1-0004")])
    fetched(a, "C3", [])
    fetched(a, "C4", [
        _t("C4", "Citra", CC, "Mandiri", None, "tok-a4cc1-0005"),
        _t("C4", "Citra", DD, "Mandiri", None, "tok-a4dd1-0006"),
    ])
    store.record_failed(a, "C5", error_code="server_error", error_message="upstream 503",
                        attempts=3, http_status=503)
    fetched(a, "C7", [_t("C7", INJECTION_NAME, DD, "BNI", None, "tok-a7dd1-0007")])
    fetched(a, "C8", [])
    store.set_status(a, "done")

    b = store.create_run(
        ids=["C1", "C2", "C3", "C4", "C5", "C7", "C9"], attributes=attrs,
        input_name="customers-b.csv", **common,
    )
    fetched(b, "C1", [
        _t("C1", "Anton Budiman", DD, "BRI", None, "tok-a1dd1-0001"),
        _t("C1", "Anton Budiman", CC, "BCA", "visa", "tok-a1cc1-0003"),
    ])
    fetched(b, "C2", [
        _t("C2", "Budi", CC, "BCA", "mastercard", "tok-a2cc1-0004"),
        _t("C2", "Budi", CC, "BNI", "visa", "tok-b2cc2-0008"),
    ])
    fetched(b, "C3", [_t("C3", "Dewi", DD, "BNI", None, "tok-b3dd1-0009")])
    store.record_failed(b, "C4", error_code="rate_limited", error_message="slow down",
                        attempts=5, http_status=429)
    fetched(b, "C5", [_t("C5", "Eka", DD, "BRI", None, "tok-b5dd1-0010")])
    fetched(b, "C7", [_t("C7", INJECTION_NAME, DD, "BNI", None, "tok-a7dd1-0007")])
    fetched(b, "C9", [_t("C9", "Fajar", CC, "BCA", "visa", "tok-b9cc1-0011")])
    store.set_status(b, "done")
    return store, a, b


@pytest.fixture
def small(backend: str, tmp_path: Path) -> Iterator[tuple[Store, int, int]]:  # noqa: ARG001
    """The small store on each backend (`backend` parametrizes the tests using it)."""
    store, a, b = build_small_store(backend_url(tmp_path))
    with store:
        yield store, a, b


def test_frames_read_the_same_from_sqlite_and_postgresql(tmp_path: Path,
                                                        pg_store_url: str) -> None:
    """What aggregates, charts, exports, reports and comparisons are computed from does
    not depend on the backend (those tests use SQLite's frames)."""
    lite, a, b = build_small_store(tmp_path / "small.sqlite3", store_token_ids=True)
    pg, pg_a, pg_b = build_small_store(pg_store_url, store_token_ids=True)
    with lite, pg:
        assert (pg_a, pg_b) == (a, b)
        for run in (a, b):
            want, got = load_run_frames(lite, run), load_run_frames(pg, run)
            assert len(want.tokens) > 0
            for frame in ("tokens", "customers", "errors"):
                pd.testing.assert_frame_equal(getattr(got, frame), getattr(want, frame))
            stamps = {"created_at": "", "started_at": "", "finished_at": ""}
            assert got.run.to_dict() | stamps == want.run.to_dict() | stamps
            assert got.attributes == want.attributes == ("segment", "city")


def test_tokens_frame_columns_and_dtypes(small: tuple[Store, int, int]) -> None:
    store, a, _ = small
    f = load_run_frames(store, a)
    t = f.tokens
    assert list(t.columns) == [
        "customer_id", "customer_name", "type", "issuer", "brand", "masked_card",
        "fingerprint", "segment", "city",
    ]
    assert len(t) == 7
    for col in ("type", "issuer", "brand", "segment", "city"):
        assert isinstance(t[col].dtype, pd.CategoricalDtype), col
    for col in ("customer_id", "customer_name", "masked_card", "fingerprint"):
        assert t[col].dtype == "str", col
        assert t[col].dtype.storage == "pyarrow", col
    assert t["customer_id"].tolist() == ["C1", "C1", "C1", "C2", "C4", "C4", "C7"]
    # direct debit has no brand in the frame; a brandless credit card neither
    assert t.loc[t["type"] == DD, "brand"].isna().all()
    assert t["brand"].isna().sum() == 5
    assert t.loc[t["customer_id"] == "C4", "city"].isna().all()  # "" is blank
    assert "token_id" not in t.columns  # raw IDs were not stored
    assert t["fingerprint"].str.len().eq(64).all()


def test_token_id_column_only_when_raw_ids_stored() -> None:
    store, a, _ = build_small_store(store_token_ids=True)
    t = load_run_frames(store, a).tokens
    assert t["token_id"].tolist()[:2] == ["tok-a1dd1-0001", "tok-a1dd2-0002"]


def test_customers_frame(small: tuple[Store, int, int]) -> None:
    store, a, _ = small
    f = load_run_frames(store, a)
    c = f.customers
    assert list(c.columns) == [*CUSTOMER_COLUMNS, "segment", "city"]
    assert c["customer_id"].tolist() == [f"C{i}" for i in range(1, 9)]
    assert c["status"].astype(str).tolist() == [
        "fetched", "fetched", "fetched", "fetched", "failed", "pending", "fetched", "fetched"
    ]
    assert c["n_tokens"].tolist() == [3, 1, 0, 2, pd.NA, pd.NA, 1, 0]
    assert c["n_direct_debit"].tolist() == [2, 0, 0, 1, pd.NA, pd.NA, 1, 0]
    assert c["n_credit_card"].tolist() == [1, 1, 0, 1, pd.NA, pd.NA, 0, 0]
    assert c["has_token"].tolist() == [True, True, False, True, pd.NA, pd.NA, True, False]
    assert c["attempts"].tolist() == [1, 1, 1, 1, 3, 0, 1, 1]
    assert c.loc[4, "http_status"] == 503
    assert c.loc[5, "segment"] is pd.NA or pd.isna(c.loc[5, "segment"])
    # sums over the nullable columns skip customers whose tokens are unknown
    assert int(c["n_tokens"].sum()) == len(f.tokens) == 7
    assert f.run.fetched == 6
    assert f.run.failed == 1
    assert f.run.pending == 1
    assert f.run.with_tokens == 4
    assert f.run.tokens == 7
    assert f.run.customers == 8


def test_errors_frame(small: tuple[Store, int, int]) -> None:
    store, a, b = small
    e = load_run_frames(store, a).errors
    assert e["customer_id"].tolist() == ["C5"]
    assert e.loc[0, "error_kind"] == "server error"
    assert e.loc[0, "error_message"] == "upstream 503"
    assert e.loc[0, "http_status"] == 503
    assert e.loc[0, "attempts"] == 3
    eb = errors_frame(load_run_frames(store, b).customers)
    assert eb["customer_id"].tolist() == ["C4"]
    assert eb.loc[0, "http_status"] == 429


def test_tokens_frame_from_tokens_matches_store_frame() -> None:
    tokens = [
        _t("C1", "Anton", DD, "BRI", "ignored-for-dd", "tok-1234567890"),
        _t("C1", "Anton", CC, "BCA", "visa", "tok-abcdefghij"),
        _t("C2", None, CC, "BNI", None, "short"),
    ]
    df = tokens_frame_from_tokens(tokens, {"C1": {"segment": "gold"}}, reveal=True)
    assert list(df.columns) == [
        "customer_id", "customer_name", "type", "issuer", "brand", "masked_card",
        "fingerprint", "token_id", "segment",
    ]
    assert df["brand"].isna().tolist() == [True, False, True]
    assert df["fingerprint"].tolist() == [t.fingerprint for t in tokens]
    assert df["token_id"].tolist() == [t.token_id for t in tokens]  # reveal=True: raw
    masked = tokens_frame_from_tokens(tokens)  # token IDs are credentials: masked by default
    assert masked["token_id"].tolist() == ["tok-******7890", "tok-******ghij", "*****"]
    assert df["segment"].tolist()[:2] == ["gold", "gold"]
    assert pd.isna(df["segment"][2])
    assert "token_id" not in tokens_frame_from_tokens(tokens, with_token_ids=False).columns
    empty = tokens_frame_from_tokens([])
    assert len(empty) == 0
    assert isinstance(empty["type"].dtype, pd.CategoricalDtype)


def test_empty_frames_keep_columns() -> None:
    t = tokens_frame([], ["segment"])
    assert len(t) == 0
    assert "segment" in t.columns
    assert "token_id" not in t.columns
    c = customers_frame([], ["segment"])
    assert list(c.columns) == [*CUSTOMER_COLUMNS, "segment"]


def test_attribute_names_never_shadow_builtin_columns() -> None:
    assert attribute_frame_names(["status", "type", "region", ""]) == {
        "status": "status (attribute)",
        "type": "type (attribute)",
        "region": "region",
        "": "(attribute)",
    }
    rows = [("C1", "fetched", None, 0, 0, 0, None, None, None, 1, '{"status": "vip"}')]
    c = customers_frame(rows, ["status"])
    assert c["status"].tolist() == ["fetched"]
    assert c["status (attribute)"].tolist() == ["vip"]


def test_resolve_run(small: tuple[Store, int, int]) -> None:
    store, a, b = small
    assert resolve_run(store, "latest").id == b
    assert resolve_run(store, str(a)).id == a
    with pytest.raises(NoSuchRunError, match="run 99 is not in "):
        resolve_run(store, "99")
    with pytest.raises(InvalidInputError, match="number or 'latest'"):
        resolve_run(store, "first")
    with pytest.raises(NoSuchRunError, match="no runs yet"):
        resolve_run(Store(":memory:"), "latest")


def test_pending_run_frames_are_consistent(small: tuple[Store, int, int]) -> None:
    """A run still being written: counts in run info come from the frames."""
    store, _, _ = small
    run = store.create_run(ids=["X1", "X2"], env="simulator", base_url=None,
                           client_id="MCH", input_name="x.csv")
    store.record_fetched(run, "X1", [_t("X1", "X", DD, "BRI", None, "tok-x1-000001")],
                         attempts=1)
    f = load_run_frames(store, run)
    assert (f.run.fetched, f.run.pending, f.run.tokens, f.run.with_tokens) == (1, 1, 1, 1)
    assert f.run.status == "running"


class RacyStore(Store):
    """A store that a bulk run writes to between every customer read and token read."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.run_id = self.create_run(ids=[f"X{i}" for i in range(12)], env="simulator",
                                      base_url=None, client_id="MCH", input_name="x.csv")
        self.next = 0

    def token_rows(self, run_id: int) -> list[tuple[object, ...]]:
        if self.next < 12:
            cid = f"X{self.next}"
            self.record_fetched(run_id, cid, [_t(cid, "X", DD, "BRI", None, f"tok-{cid}-0001")],
                                attempts=1)
            self.next += 1
        return super().token_rows(run_id)


def test_frames_stay_consistent_while_a_run_writes() -> None:
    store = RacyStore(":memory:")
    f = load_run_frames(store, store.run_id)
    fetched = set(f.customers.loc[f.customers["status"] == "fetched", "customer_id"])
    # every token belongs to a customer the customers frame calls fetched, and counts agree
    assert set(f.tokens["customer_id"]) <= fetched
    assert int(f.customers["n_tokens"].sum()) == len(f.tokens) == f.run.tokens
    assert f.run.fetched == len(fetched)
    assert f.run.pending == 12 - len(fetched)
    assert f.run.with_tokens == int(f.customers["has_token"].sum())


def test_attribute_values_are_text_and_blank_is_missing() -> None:
    rows = [
        ("C1", "fetched", None, 0, 0, 0, None, None, None, 1, '{"age": 42, "seg": " "}'),
        ("C2", "fetched", None, 0, 0, 0, None, None, None, 1, '{"age": "42", "seg": "a"}'),
        ("C3", None, None, None, 0, 0, None, None, None, 0, None),
    ]
    c = customers_frame(rows, ["age", "seg"])
    assert c["age"].tolist()[:2] == ["42", "42"]
    assert pd.isna(c["age"][2])
    assert pd.isna(c["seg"][0])
    assert c["seg"][1] == "a"
    assert c["status"].tolist() == ["fetched", "fetched", "pending"]

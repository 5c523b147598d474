"""Exports: the right rows and columns, token IDs masked unless revealed, formula
injection neutralised in CSV and XLSX, and XLSX/Parquet round trips."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pandas as pd
import pytest

from doku.analysis import exports
from doku.analysis.exports import (
    EXPORT_KINDS,
    FORMATS,
    export_bytes,
    export_frame,
    file_name,
    frame_to_bytes,
    neutralise_formulas,
)
from doku.analysis.frames import RunFrames, load_run_frames, tokens_frame_from_tokens
from doku.engine.store import Store
from doku.errors import InvalidInputError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token, mask_token_id
from tests.test_frames import INJECTION_NAME, build_small_store

RISKY = ["=1+2", "+62811", "-5", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture(scope="module")
def fa() -> RunFrames:
    store, a, _ = build_small_store()
    return load_run_frames(store, a)


@pytest.fixture(scope="module")
def with_ids() -> RunFrames:
    store, a, _ = build_small_store(store_token_ids=True)
    return load_run_frames(store, a)


@pytest.fixture(scope="module")
def risky() -> RunFrames:
    """Customer IDs, names, issuers, attributes and errors that a spreadsheet would run."""
    store = Store(":memory:")
    ids = [*RISKY, "plain"]
    run = store.create_run(
        ids=ids, attributes={cid: {"note": cid} for cid in ids}, attribute_columns=["note"],
        env="simulator", base_url=None, client_id="MCH-SECRET-CLIENT", input_name="r.csv",
    )
    for cid in ids[:-1]:
        store.record_fetched(run, cid, [Token(cid, cid, DIRECT_DEBIT, cid, None, cid,
                                              f"tok-{cid}-123456")], attempts=1)
    store.record_failed(run, "plain", error_code="server_error",
                        error_message="=HYPERLINK(\"http://x\")", attempts=1)
    return load_run_frames(store, run)


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_columns_and_rows(fa: RunFrames) -> None:
    customers = read_csv(export_bytes(fa, "customers", "csv"))
    assert [r["customer_id"] for r in customers] == [f"C{i}" for i in range(1, 9)]
    assert {"customer_id", "status", "n_tokens", "error_kind", "error_message", "segment",
            "city"} <= set(customers[0])
    assert [r["status"] for r in customers][4:6] == ["failed", "pending"]
    assert customers[4]["error_kind"] == "server error"
    assert customers[4]["n_tokens"] == ""
    tokens = read_csv(export_bytes(fa, "tokens", "csv"))
    assert len(tokens) == 7
    assert "token_id" not in tokens[0]
    errors = read_csv(export_bytes(fa, "errors", "csv"))
    assert [(r["customer_id"], r["http_status"], r["attempts"]) for r in errors] == [
        ("C5", "503", "3")
    ]
    assert file_name(fa, "tokens", "xlsx") == "doku-run-1-tokens.xlsx"


def test_pending_customers_in_unfinished_run() -> None:
    store = Store(":memory:")
    run = store.create_run(ids=["A", "B"], env="simulator", base_url=None, client_id="M",
                           input_name="x")
    store.record_fetched(run, "A", [], attempts=1)
    rows = read_csv(export_bytes(load_run_frames(store, run), "customers", "csv"))
    assert [(r["customer_id"], r["status"], r["n_tokens"]) for r in rows] == [
        ("A", "fetched", "0"), ("B", "pending", "")
    ]


def test_token_ids_masked_unless_revealed(with_ids: RunFrames, fa: RunFrames) -> None:
    masked = read_csv(export_bytes(with_ids, "tokens", "csv"))
    assert masked[0]["token_id"] == mask_token_id("tok-a1dd1-0001") == "tok-******0001"
    assert all("tok-a1" not in r["token_id"] or "*" in r["token_id"] for r in masked)
    raw = read_csv(export_bytes(with_ids, "tokens", "csv", reveal=True))
    assert raw[0]["token_id"] == "tok-a1dd1-0001"
    # reveal cannot invent IDs the run never stored
    assert "token_id" not in read_csv(export_bytes(fa, "tokens", "csv", reveal=True))[0]
    cols = list(export_frame(with_ids, "tokens").columns)
    assert cols.index("token_id") == cols.index("fingerprint") + 1
    for fmt in FORMATS:
        assert b"tok-a1dd1-0001" not in export_bytes(with_ids, "tokens", fmt)


def test_lookup_frames_are_masked_by_default() -> None:
    tokens = [Token("C1", "A", DIRECT_DEBIT, "BRI", None, "****1", "243591d7e49f45109961")]
    df = tokens_frame_from_tokens(tokens)
    assert df["token_id"].tolist() == ["2435************9961"]  # masked unless revealed
    df = tokens_frame_from_tokens(tokens, reveal=True)
    assert df["token_id"].tolist() == ["243591d7e49f45109961"]
    for fmt in FORMATS:
        assert b"243591d7e49f45109961" not in frame_to_bytes(df, fmt)
    assert read_csv(frame_to_bytes(df, "csv"))[0]["token_id"] == (
        mask_token_id("243591d7e49f45109961")
    )
    assert b"243591d7e49f45109961" in frame_to_bytes(df, "csv", reveal_token_ids=True)


def test_no_secret_or_client_id_in_any_export(risky: RunFrames) -> None:
    for what in EXPORT_KINDS:
        for fmt in FORMATS:
            assert b"MCH-SECRET-CLIENT" not in export_bytes(risky, what, fmt)


def test_formula_injection_neutralised_in_csv(risky: RunFrames) -> None:
    tokens = read_csv(export_bytes(risky, "tokens", "csv"))
    for row, value in zip(tokens, RISKY, strict=True):
        for col in ("customer_id", "customer_name", "issuer", "masked_card", "note"):
            assert row[col] == "'" + value, (col, value)
    errors = read_csv(export_bytes(risky, "errors", "csv"))
    assert errors[0]["error_message"].startswith("'=HYPERLINK")
    assert errors[0]["customer_id"] == "plain"
    # the small fixture's customer name is a classic DDE payload
    store, a, _ = build_small_store()
    text = export_bytes(load_run_frames(store, a), "customers", "csv").decode()
    assert "'" + INJECTION_NAME in text
    assert "\r\nC7,fetched,'=cmd" in text


def test_formula_injection_neutralised_in_xlsx(risky: RunFrames) -> None:
    for what in EXPORT_KINDS:
        book = openpyxl.load_workbook(io.BytesIO(export_bytes(risky, what, "xlsx")))
        sheet = book[what]
        cells = [c for row in sheet.iter_rows() for c in row]
        assert all(c.data_type != "f" for c in cells)  # nothing is a formula
        for c in cells:
            if isinstance(c.value, str):
                assert not c.value.startswith(("=", "+", "-", "@", "\t", "\r")), c.value
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(risky, "tokens", "xlsx")))
    first_ids = [row[0].value for row in book["tokens"].iter_rows(min_row=2)]
    # the export writes line breaks as LF itself, whichever XML parser reads it back
    assert first_ids == ["'" + v.replace("\r", "\n") for v in RISKY]


def test_parquet_keeps_raw_values_and_round_trips(risky: RunFrames, fa: RunFrames) -> None:
    back = pd.read_parquet(io.BytesIO(export_bytes(risky, "tokens", "parquet")))
    assert back["customer_id"].tolist() == RISKY
    for what in EXPORT_KINDS:
        original = export_frame(fa, what)
        back = pd.read_parquet(io.BytesIO(export_bytes(fa, what, "parquet")))
        pd.testing.assert_frame_equal(back, original.reset_index(drop=True))


def test_xlsx_round_trip(fa: RunFrames) -> None:
    for what in EXPORT_KINDS:
        expected = neutralise_formulas(export_frame(fa, what))
        back = pd.read_excel(io.BytesIO(export_bytes(fa, what, "xlsx")), sheet_name=what,
                             dtype=object)
        assert list(back.columns) == list(expected.columns)
        assert len(back) == len(expected)
        for col in expected.columns:
            want = [None if pd.isna(v) else v for v in expected[col].astype(object)]
            got = [None if pd.isna(v) else v for v in back[col]]
            if col in ("n_tokens", "n_direct_debit", "n_credit_card", "http_status",
                       "attempts"):
                got = [None if v is None else int(v) for v in got]
            if col == "has_token":
                got = [None if v is None else bool(v) for v in got]
            assert got == want, col


def test_xlsx_limits(fa: RunFrames, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    with pytest.raises(InvalidInputError, match="do not fit in one Excel sheet"):
        export_bytes(fa, "customers", "xlsx")
    monkeypatch.undo()
    df = pd.DataFrame({"a": ["bell\x07here", None]})
    book = openpyxl.load_workbook(io.BytesIO(frame_to_bytes(df, "xlsx")))
    assert book.active["A2"].value == "bell\ufffdhere"


def test_neutralise_categoricals_and_collisions() -> None:
    df = pd.DataFrame({
        "c": pd.Categorical(["=x", "'=x", None, "ok"]),
        "s": pd.Series(["-1", None, "a", "@"], dtype="str"),
        "n": [-1, 2, 3, 4],
    })
    out = neutralise_formulas(df)
    assert [None if pd.isna(v) else v for v in out["c"]] == ["'=x", "'=x", None, "ok"]
    assert [None if pd.isna(v) else v for v in out["s"]] == ["'-1", None, "a", "'@"]
    assert out["n"].tolist() == [-1, 2, 3, 4]  # numbers are not text: untouched
    assert df["c"].tolist()[0] == "=x"  # input not modified


def test_unknown_kind_or_format(fa: RunFrames) -> None:
    with pytest.raises(InvalidInputError, match="export must be one of"):
        export_bytes(fa, "secrets", "csv")
    with pytest.raises(InvalidInputError, match="format must be one of"):
        export_bytes(fa, "tokens", "json")


def test_credit_card_brand_kept_raw_in_exports(fa: RunFrames) -> None:
    rows = read_csv(export_bytes(fa, "tokens", "csv"))
    assert [(r["type"], r["brand"]) for r in rows][:3] == [
        (DIRECT_DEBIT, ""), (DIRECT_DEBIT, ""), (CREDIT_CARD, "visa")
    ]


def test_xlsx_file_itself_holds_lf_so_any_xml_parser_reads_the_same(risky: RunFrames) -> None:
    # A raw CR in the sheet XML reads back as CR under lxml and LF under the stdlib
    # parser; the export writes LF so the result does not depend on which is installed.
    with zipfile.ZipFile(io.BytesIO(export_bytes(risky, "tokens", "xlsx"))) as book:
        xml = b"".join(book.read(n) for n in book.namelist() if n.startswith("xl/"))
    assert b"\r" not in xml
    assert b"_x000D_" not in xml
    assert b"'\n" in xml  # the "\rx" cell, neutralised, with its break as LF


HOSTILE_HEADERS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x.test","y")', "+1", "-1", "@SUM(A1)",
                   "\tt", "'=cmd|' /C calc'!A0", "bell\x07name"]


def test_header_cells_from_the_input_are_neutralised_in_csv_and_xlsx() -> None:
    df = pd.DataFrame({name: ["v"] for name in HOSTILE_HEADERS})
    header = next(csv.reader(io.StringIO(frame_to_bytes(df, "csv").decode())))
    assert header == [
        "'=cmd|' /C calc'!A0", "'=HYPERLINK(\"http://x.test\",\"y\")", "'+1", "'-1", "'@SUM(A1)",
        "'\tt", "'=cmd|' /C calc'!A0_2", "bell\x07name",
    ]
    book = openpyxl.load_workbook(io.BytesIO(frame_to_bytes(df, "xlsx")))
    cells = next(book["data"].iter_rows(max_row=1))
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    assert [c.value for c in cells] == [*header[:-1], "bell\ufffdname"]


def test_xlsx_refuses_a_table_too_wide_to_write_quickly() -> None:
    df = pd.DataFrame({f"c{i}": ["v"] * 600 for i in range(10_000)})
    with pytest.raises(InvalidInputError, match=r"6,000,000 cells \(600 rows x 10,000 columns\) "
                                                 r"are over the 5,000,000-cell limit"):
        frame_to_bytes(df, "xlsx")
    assert frame_to_bytes(df.iloc[:3, :5], "xlsx")[:2] == b"PK"


def test_filtered_downloads_carry_the_filters_and_an_about_sheet(fa: RunFrames) -> None:
    from doku.analysis.aggregates import apply_filters
    from doku.analysis.filters import Filters

    assert file_name(fa, "tokens", "csv") == f"doku-run-{fa.run.id}-tokens.csv"
    narrowed = apply_filters(fa, Filters(issuers=("BCA",), types=(CREDIT_CARD,)))
    assert file_name(narrowed, "tokens", "xlsx") == (
        f"doku-run-{narrowed.run.id}-tokens-type-CREDIT_CARD-issuer-BCA.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(
        export_bytes(narrowed, "tokens", "xlsx", generated_at="2026-11-25T10:00:00+00:00")))
    assert book.sheetnames == ["tokens", "About"]
    about = {row[0].value: row[1].value for row in book["About"].iter_rows(min_row=2)}
    assert about["filters"] == "type: CREDIT_CARD; issuer: BCA"
    assert about["generated at"] == "2026-11-25T10:00:00Z"
    assert about["run"].startswith(f"#{narrowed.run.id} ")
    assert about["table"] == "tokens"

"""The Bulk audit page's input state (ui.bulk_input.BulkInput), without Streamlit."""

from __future__ import annotations

import io
import tomllib

import pytest
from openpyxl import Workbook

from doku.engine.inputs import MAX_BYTES
from ui.bulk_input import UPLOAD_LIMIT_MB, BulkInput
from ui.present import ROOT, SAMPLE_FILE

AMBIGUOUS = b"account,region,plan\nACC-1,Jakarta,basic\nACC-2,Bali,plus\nACC-3,Bali,plus\n"
WITH_ID = b"customer_id,region\nC-1,Jakarta\nC-2,Bali\n"


def xlsx(**sheets: list[list[str]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_nothing_given_yet() -> None:
    state = BulkInput()
    assert state.source is None
    assert not state.needs_parse
    assert state.parse() == {}
    assert (state.parsed, state.error, state.sheet_options, state.column_options) == (
        None, None, [], []
    )


def test_paste_is_parsed_once() -> None:
    state = BulkInput()
    state.paste("A-1, A-2\nA-1\n")
    assert state.kind == "paste"
    assert state.needs_parse
    assert state.parse() == {}  # no sheet or column to show
    assert state.parsed is not None
    assert state.parsed.ids == ["A-1", "A-2"]
    assert state.parsed.duplicates == 1
    parsed = state.parsed
    assert not state.needs_parse
    assert state.parse() == {}
    assert state.parsed is parsed  # not parsed again


def test_blank_paste_drops_a_paste_but_never_a_file() -> None:
    state = BulkInput()
    state.paste("A-1")
    state.paste("  \n ")
    assert state.source is None
    state.upload("ids.csv", WITH_ID)
    state.paste(" ")
    assert state.kind == "file"


def test_removing_the_upload_drops_a_file_but_never_a_paste() -> None:
    state = BulkInput()
    state.upload("ids.csv", WITH_ID)
    state.upload(None, None)
    assert state.source is None
    state.paste("A-1")
    state.upload(None, None)
    assert state.kind == "paste"


def test_the_last_input_given_wins() -> None:
    state = BulkInput()
    state.paste("A-1")
    state.parse()
    state.use_sample(SAMPLE_FILE)
    assert (state.kind, state.source and state.source.name) == ("sample", "customers.csv")
    assert state.parsed is None  # the paste's parse is gone
    assert state.parse() == {"column": "customer_id"}
    assert state.parsed is not None
    assert len(state.parsed.ids) == 3000
    assert state.column_options == ["customer_id", "region", "plan", "signup_month"]


def test_an_ambiguous_header_asks_for_the_id_column() -> None:
    state = BulkInput()
    state.upload("accounts.csv", AMBIGUOUS)
    assert state.parse() == {"column": None}  # the picker shows no choice yet
    assert state.parsed is None
    assert state.error is not None
    assert "account" in state.error
    assert state.ambiguous_columns == state.column_options == ["account", "region", "plan"]
    assert not state.needs_parse  # the error stands until the analyst chooses

    state.choose_column("account")
    assert state.needs_parse
    assert state.parse() == {"column": "account"}
    assert state.parsed is not None
    assert state.parsed.ids == ["ACC-1", "ACC-2", "ACC-3"]
    assert state.parsed.attribute_columns == ["region", "plan"]
    assert (state.error, state.ambiguous_columns) == (None, None)
    assert state.column_options == ["account", "region", "plan"]


def test_another_id_column_parses_again() -> None:
    state = BulkInput()
    state.upload("ids.csv", WITH_ID)
    assert state.parse() == {"column": "customer_id"}
    state.choose_column("region")
    state.parse()
    assert state.parsed is not None
    assert state.parsed.ids == ["Jakarta", "Bali"]


def test_an_unreadable_file_is_an_error_not_a_choice() -> None:
    state = BulkInput()
    state.upload("customers.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    assert state.parse() == {}
    assert state.error is not None
    assert "PNG image" in state.error
    assert state.ambiguous_columns is None
    assert state.column_options == []


def test_a_workbook_with_sheets_offers_them_and_a_new_sheet_finds_its_column() -> None:
    data = xlsx(first=[["customer_id", "segment"], ["X-1", "sme"]],
                second=[["id"], ["Y-1"], ["Y-2"]])
    state = BulkInput()
    state.upload("book.xlsx", data)
    assert state.parse() == {"column": "customer_id", "sheet": "first"}
    assert state.sheet_options == ["first", "second"]
    state.choose_column("segment")
    state.choose_sheet("second")
    assert state.column is None  # another sheet: its ID column is found again
    assert state.parse() == {"sheet": "second"}  # one column: no column picker
    assert state.parsed is not None
    assert state.parsed.ids == ["Y-1", "Y-2"]
    assert state.column_options == []


@pytest.mark.parametrize("action", ["choose_column", "choose_sheet"])
def test_choices_without_an_input_do_nothing(action: str) -> None:
    state = BulkInput()
    getattr(state, action)("x")
    assert (state.source, state.column, state.sheet) == (None, None, None)


# -- the upload cap -----------------------------------------------------------------------
def test_the_server_upload_cap_is_the_parsers_limit() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == UPLOAD_LIMIT_MB == MAX_BYTES // (1024 * 1024)
    assert UPLOAD_LIMIT_MB == 50


def test_an_upload_over_the_limit_is_refused_without_keeping_its_bytes() -> None:
    state = BulkInput()
    state.upload("huge.csv", b"x" * (MAX_BYTES + 1))
    assert state.kind == "file"
    assert state.source is not None
    assert state.source.content == b""
    assert not state.needs_parse
    assert state.parsed is None
    assert state.error is not None
    assert "huge.csv is 50.0 MB, over the 50 MB upload limit" in state.error
    state.upload("ok.csv", WITH_ID)  # another file replaces the refused one
    state.parse()
    assert state.error is None
    assert state.parsed is not None
    state.upload("edge.csv", b"customer_id\n" + b"C-1\n" * ((MAX_BYTES - 12) // 4))
    assert state.error is None  # at the limit: still read

"""Customer-list parsing: workbooks, pasted text, trimming, blanks, duplicates, rejections."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from doku.engine.inputs import (
    Rejected,
    display_value,
    parse_file,
    parse_text,
)
from doku.errors import InvalidInputError
from tests.test_inputs import check_counts

# --- xlsx ----------------------------------------------------------------------------


def xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Pelanggan"
    ws.append(["Customer ID", "Segment", "Limit"])
    ws.append([12345, "gold", 1500000])
    ws.append([12346.0, "silver", 2.5])
    ws.append(["C-3", None, True])
    ws.append(["X" * 51, "bad", None])
    ws.append([12345, "dup", None])
    other = wb.create_sheet("Lain")
    other.append(["id"])
    other.append(["L1"])
    other.append([None])
    other.append(["L2"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_first_sheet() -> None:
    result = parse_file(xlsx_bytes(), "book.xlsx")
    assert result.ids == ["12345", "12346", "C-3"]
    assert result.attributes == {
        "Segment": ["gold", "silver", ""],
        "Limit": ["1500000", "2.5", "TRUE"],
    }
    assert result.rejected == [Rejected(5, "X" * 51, "longer than 50 characters (51)")]
    assert result.duplicates == 1
    assert result.sheet == "Pelanggan"
    assert result.sheets == ["Pelanggan", "Lain"]
    assert result.encoding is None
    assert result.delimiter is None
    check_counts(result)


def test_xlsx_sheet_by_name() -> None:
    for name in ("Lain", "lain"):
        result = parse_file(xlsx_bytes(), "book.xlsx", sheet=name)
        assert result.sheet == "Lain"
        assert result.ids == ["L1", "L2"]
        assert result.blank_rows == 1


def test_xlsx_unknown_sheet_lists_sheets() -> None:
    with pytest.raises(InvalidInputError, match="Pelanggan, Lain"):
        parse_file(xlsx_bytes(), "book.xlsx", sheet="Nope")


def test_xlsx_row_numbers_follow_the_sheet() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws["B3"] = "customer_id"
    ws["B4"] = "C1"
    ws["B6"] = "bad\nid"
    buf = io.BytesIO()
    wb.save(buf)
    result = parse_file(buf.getvalue(), "book.xlsx")
    assert result.ids == ["C1"]
    assert result.rejected == [Rejected(6, "bad\\nid", "contains control character U+000A")]


def test_zip_that_is_not_a_workbook() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    for data in (buf.getvalue(), b"PK\x03\x04" + b"garbage" * 20):
        with pytest.raises(InvalidInputError, match=r"book\.xlsx.*not a readable \.xlsx"):
            parse_file(data, "book.xlsx")


def test_legacy_xls() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)
    with pytest.raises(InvalidInputError, match=r"old\.xls.*legacy \.xls"):
        parse_file(data, "old.xls")


# --- pasted text ---------------------------------------------------------------------


def test_pasted_text_mixed_separators() -> None:
    result = parse_text("C1, C2;C3\tC4 C5\r\nC6,,;C7\n\n  C8  \n")
    assert result.ids == ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"]
    assert result.source == "pasted text"
    assert result.blank_rows == 1
    assert result.attributes == {}
    check_counts(result)


def test_pasted_text_header_line_is_skipped() -> None:
    result = parse_text("Customer ID\nC1\nC2\n")
    assert result.has_header
    assert result.id_column == "Customer ID"
    assert result.ids == ["C1", "C2"]


def test_pasted_text_rejects_with_line_numbers() -> None:
    result = parse_text("C1\n" + "Y" * 51 + ", C2\nC1\nC\x073\n")
    assert result.ids == ["C1", "C2"]
    assert result.duplicates == 1
    assert result.rejected == [
        Rejected(2, "Y" * 51, "longer than 50 characters (51)"),
        Rejected(4, "C\\x073", "contains control character U+0007"),
    ]


def test_pasted_text_empty() -> None:
    for text in ("", "  \n\n ,; \t"):
        with pytest.raises(InvalidInputError, match="pasted text"):
            parse_text(text)


def test_pasted_text_row_limit() -> None:
    assert len(parse_text("a b c", max_rows=3).ids) == 3
    with pytest.raises(InvalidInputError, match="more than 3 IDs"):
        parse_text("a b c d", max_rows=3)


# --- trimming, blanks, duplicates, rejections ----------------------------------------


def test_whitespace_trimmed() -> None:
    result = parse_file(
        b"  customer_id ; segment \n  C1  ;  gold  \n\tC2\t;\xc2\xa0x\xc2\xa0\n", "a.csv"
    )
    assert result.id_column == "customer_id"
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"segment": ["gold", "x"]}


def test_blank_rows_counted_trailing_ignored() -> None:
    result = parse_file(b"\ncustomer_id,seg\nC1,a\n\n,\n  ,  \nC2,b\n\n\n,\n", "a.csv")
    assert result.ids == ["C1", "C2"]
    assert result.blank_rows == 4
    assert result.total_rows == 6
    check_counts(result)


def test_duplicates_collapsed_first_attributes_kept() -> None:
    result = parse_file(b"customer_id,seg\nC1,a\nC2,b\nC1,c\n C1 ,d\nc1,e\n", "a.csv")
    assert result.ids == ["C1", "C2", "c1"]
    assert result.attributes == {"seg": ["a", "b", "e"]}
    assert result.duplicates == 2
    assert result.duplicate_ids == ["C1"]
    assert result.attributes_of("C1") == {"seg": "a"}
    assert result.attributes_at(1) == {"seg": "b"}
    assert result.attributes_of("missing") is None
    assert result.summary() == {
        "total_rows": 5,
        "ids": 3,
        "duplicates": 2,
        "rejected": 0,
        "blank_rows": 0,
        "attribute_columns": 1,
        "flagged": 0,
    }


def test_rejected_rows_have_row_numbers_and_reasons() -> None:
    lines = [
        b"customer_id,seg",  # row 1
        b"C1,a",  # row 2
        b"Z" * 51 + b",b",  # row 3
        b'"C\t4",c',  # row 4: tab inside a quoted cell
        b'"multi\nline",d',  # row 5 (one record over two lines)
        b",orphan",  # row 6: attributes but no ID
        b"C\x017,e",  # row 7
        b"C8,f",  # row 8
    ]
    data = b"\n".join(lines) + b"\n"
    result = parse_file(data, "a.csv")
    assert result.ids == ["C1", "C8"]
    assert result.rejected == [
        Rejected(3, "Z" * 51, "longer than 50 characters (51)"),
        Rejected(4, "C\\t4", "contains control character U+0009"),
        Rejected(5, "multi\\nline", "contains control character U+000A"),
        Rejected(6, "", "empty"),
        Rejected(7, "C\\x017", "contains control character U+0001"),
    ]
    check_counts(result)


def test_rejected_row_numbers_without_header() -> None:
    result = parse_file(b"C1\n\nC\x7f3\n", "a.txt")
    assert result.rejected == [Rejected(3, "C\\x7f3", "contains control character U+007F")]


def test_display_value_is_safe_and_short() -> None:
    assert display_value("a\x00b\u2028c") == "a\\x00b\\u2028c"
    long = display_value("\x01" * 100)
    assert len(long) <= 80
    assert long.endswith("…")
    assert "\\x01" in long
    assert display_value("x" * 80) == "x" * 80
    assert display_value("x" * 81) == "x" * 79 + "…"


def _book(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_the_sheet_with_an_id_header_is_chosen_over_a_summary_sheet_in_front() -> None:
    data = _book({
        "Summary": [["Report"], ["total", 2]],
        "Customers": [["customer_id", "plan"], ["C1", "gold"], ["C2", "basic"]],
    })
    result = parse_file(data, "book.xlsx")
    assert (result.sheet, result.sheets, result.ids) == ("Customers", ["Summary", "Customers"],
                                                         ["C1", "C2"])
    assert parse_file(data, "book.xlsx", sheet="Summary").ids == ["total"]  # asked for


def test_without_an_id_header_anywhere_the_first_sheet_is_read() -> None:
    data = _book({"A": [["C1"], ["C2"]], "B": [["name"], ["x"]]})
    result = parse_file(data, "book.xlsx")
    assert (result.sheet, result.ids) == ("A", ["C1", "C2"])

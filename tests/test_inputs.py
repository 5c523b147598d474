"""Customer-list parsing: every shape an analyst's tools produce, and its failure modes."""

from __future__ import annotations

import codecs
import csv
import io
import random
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from doku.engine.inputs import (
    ID_COLUMN_NAMES,
    AmbiguousColumnError,
    ParsedInput,
    Rejected,
    display_value,
    normalize_column_name,
    parse_file,
    parse_path,
    parse_text,
)
from doku.errors import InvalidInputError
from doku.models import customer_id_problem


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding)


def check_counts(result: ParsedInput) -> None:
    assert result.total_rows == (
        len(result.ids) + result.duplicates + len(result.rejected) + result.blank_rows
    )
    for values in result.attributes.values():
        assert len(values) == len(result.ids)
    assert result.attribute_columns == list(result.attributes)


# --- delimiters and encodings --------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter(delimiter: str) -> None:
    data = csv_bytes(
        [
            ["customer_id", "segment", "city"],
            ["C1", "gold", "Jakarta"],
            ["C2", "silver", "Bandung"],
        ],
        delimiter,
    )
    result = parse_file(data, "customers.csv")
    assert result.delimiter == delimiter
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"segment": ["gold", "silver"], "city": ["Jakarta", "Bandung"]}
    assert result.id_column == "customer_id"
    assert result.columns == ["customer_id", "segment", "city"]
    check_counts(result)


def test_delimiter_inside_quoted_cells_does_not_confuse_sniffing() -> None:
    data = b'customer_id;name\nC1;"Budi, S.Kom"\nC2;"Sari, MBA"\nC3;Andi\n'
    result = parse_file(data, "x.csv")
    assert result.delimiter == ";"
    assert result.attributes["name"] == ["Budi, S.Kom", "Sari, MBA", "Andi"]


def test_tsv() -> None:
    result = parse_file(b"customer_id\tsegment\nC1\tgold\nC2\t\n", "export.tsv")
    assert result.delimiter == "\t"
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"segment": ["gold", ""]}


def test_plain_text_one_id_per_line_keeps_spaces_and_commas_inside_ids() -> None:
    result = parse_file(b"C1\nPelanggan A\nC3\nSmith, John\nC5\n", "ids.txt")
    assert result.delimiter is None
    assert result.ids == ["C1", "Pelanggan A", "C3", "Smith, John", "C5"]
    assert result.attributes == {}


def test_utf8_bom() -> None:
    result = parse_file(codecs.BOM_UTF8 + b"customer_id,segment\nC1,gold\n", "bom.csv")
    assert result.encoding == "utf-8-sig"
    assert result.id_column == "customer_id"
    assert result.ids == ["C1"]


def test_bom_and_zero_width_chars_stripped_from_first_cell_without_header() -> None:
    assert parse_file(codecs.BOM_UTF8 + b"C1\nC2\n", "a.txt").ids == ["C1", "C2"]
    assert parse_file("\u200b\ufeffC1\nC2\n".encode(), "a.txt").ids == ["C1", "C2"]
    # Elsewhere a zero-width character is invisible junk inside an ID: rejected.
    result = parse_file("C1\nC\u200b2\n".encode(), "a.txt")
    assert result.rejected == [Rejected(2, "C\\u200b2", "contains control character U+200B")]


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_utf16_with_bom_tab_separated_excel_unicode_text(bom: bytes, codec: str) -> None:
    text = "Customer ID\tNama\r\nC1\tPelanggan é\r\nC2\t顧客\r\n"
    result = parse_file(bom + text.encode(codec), "unicode.txt")
    assert result.encoding == codec
    assert result.delimiter == "\t"
    assert result.id_column == "Customer ID"
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"Nama": ["Pelanggan é", "顧客"]}


def test_utf16_without_bom_is_recognised() -> None:
    result = parse_file("customer_id\tseg\nC1\tgold\nC2\tsilver\n".encode("utf-16-le"), "u.txt")
    assert result.encoding == "utf-16-le"
    assert result.ids == ["C1", "C2"]


def test_cp1252_fallback() -> None:
    data = "customer_id;nama\nC1;Pelanggan é\nPelanggan ü;Zoë\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = parse_file(data, "excel.csv")
    assert result.encoding == "cp1252"
    assert result.ids == ["C1", "Pelanggan ü"]
    assert result.attributes == {"nama": ["Pelanggan é", "Zoë"]}


def test_utf8_is_preferred_over_cp1252() -> None:
    result = parse_file("C1\nPelanggan é\n".encode(), "a.txt")
    assert result.encoding == "utf-8"
    assert result.ids == ["C1", "Pelanggan é"]


# --- header and ID column ------------------------------------------------------------


def test_no_header_single_column() -> None:
    result = parse_file(b"C1\nC2\n", "a.csv")
    assert not result.has_header
    assert result.ids == ["C1", "C2"]
    assert result.id_column == "column_1"
    assert result.columns == ["column_1"]


def test_no_header_several_columns_first_is_ids_rest_are_attributes() -> None:
    result = parse_file(b"C1,gold,Jakarta\nC2,silver,Bandung\n", "a.csv")
    assert not result.has_header
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"column_2": ["gold", "silver"], "column_3": ["Jakarta", "Bandung"]}


def test_header_detected_from_names_above_ids() -> None:
    result = parse_file(b"Nomor Pelanggan\nC001\nC002\n", "a.csv")
    assert result.has_header
    assert result.id_column == "Nomor Pelanggan"
    assert result.ids == ["C001", "C002"]


def test_letters_only_ids_are_not_mistaken_for_a_header() -> None:
    result = parse_file(b"alice\nbob\ncarol\n", "a.txt")
    assert not result.has_header
    assert result.ids == ["alice", "bob", "carol"]
    # Only when every row below has a digit does a name-like first row become a header.
    assert not parse_file(b"Nama\nC1\nbob\n", "a.txt").has_header


def test_first_row_with_digits_is_data() -> None:
    result = parse_file(b"C1,gold\nC2,silver\n", "a.csv")
    assert not result.has_header


@pytest.mark.parametrize(
    "name",
    [
        "customer_id",
        "customer.id",
        "cust_id",
        "id",
        "Customer ID",
        "customerid",
        "customer",
        "CUSTOMER-ID",
        " Customer_Id ",
        "Cust.ID",
        "ID",
    ],
)
def test_known_id_column_names(name: str) -> None:
    data = csv_bytes([["segment", name, "city"], ["gold", "C1", "Jakarta"], ["x", "C2", "y"]])
    result = parse_file(data, "a.csv")
    assert result.has_header
    assert result.id_column == name.strip()
    assert result.ids == ["C1", "C2"]
    assert result.attribute_columns == ["segment", "city"]


def test_best_known_name_wins() -> None:
    result = parse_file(b"id,customer_id\nrow1,C1\nrow2,C2\n", "a.csv")
    assert result.id_column == "customer_id"
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"id": ["row1", "row2"]}


def test_explicit_column() -> None:
    data = b"nama,nomor\nBudi,C1\nSari,C2\n"
    for column in ("nomor", "NOMOR", " Nomor "):
        result = parse_file(data, "a.csv", column=column)
        assert result.id_column == "nomor"
        assert result.ids == ["C1", "C2"]
        assert result.attributes == {"nama": ["Budi", "Sari"]}


def test_explicit_column_overrides_known_name() -> None:
    result = parse_file(b"customer_id,alt\nC1,A1\n", "a.csv", column="alt")
    assert result.ids == ["A1"]
    assert result.attributes == {"customer_id": ["C1"]}


def test_explicit_column_in_a_file_without_header() -> None:
    result = parse_file(b"1,C1\n2,C2\n", "a.csv", column="column_2")
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"column_1": ["1", "2"]}


def test_unknown_explicit_column_lists_available_columns() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_file(b"customer_id,segment\nC1,gold\n", "a.csv", column="nomor")
    assert "'nomor'" in info.value.message
    assert "customer_id, segment" in info.value.message
    assert "a.csv" in info.value.message


def test_ambiguous_columns() -> None:
    with pytest.raises(AmbiguousColumnError) as info:
        parse_file(b"nama,nomor,kota\nBudi,C1,Jakarta\n", "a.csv")
    assert isinstance(info.value, InvalidInputError)
    assert info.value.columns == ["nama", "nomor", "kota"]
    assert "a.csv" in str(info.value)


def test_header_names_trimmed_deduplicated_and_named_when_empty() -> None:
    result = parse_file(b"customer_id, seg ,,seg\nC1,a,b,c\n", "a.csv")
    assert result.columns == ["customer_id", "seg", "column_3", "seg_2"]
    assert result.attributes == {"seg": ["a"], "column_3": ["b"], "seg_2": ["c"]}


def test_rows_wider_or_shorter_than_the_header() -> None:
    result = parse_file(b"customer_id,seg\nC1\nC2,b,extra\nC3,c,,\n", "a.csv")
    assert result.ids == ["C1", "C2", "C3"]
    assert result.attributes == {"seg": ["", "b", "c"], "column_3": ["", "extra", ""]}
    check_counts(result)


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


# --- unusable files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"\n\n  \n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b",,\n , \n"]
)
def test_empty_file(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=r"empty\.csv.*empty"):
        parse_file(data, "empty.csv")


def test_header_only() -> None:
    with pytest.raises(InvalidInputError, match=r"h\.csv.*header row but no customer IDs"):
        parse_file(b"customer_id,segment\n\n", "h.csv")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), "PNG image"),
        (random.Random(0).randbytes(4096), "binary"),
        (b"C1\nC2\x00\nC3\n", "NUL"),
        (b"\x81\x8d\x8f\x90\x9d" * 40, "not a text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (bytes(range(1, 32)) * 20 + b"\xff", "binary"),
    ],
)
def test_binary_file(data: bytes, match: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"blob\.csv.*{match}"):
        parse_file(data, "blob.csv")


def test_size_limit_bytes() -> None:
    data = b"C1\n" * 10
    assert parse_file(data, "a.csv", max_bytes=len(data)).ids == ["C1"]
    with pytest.raises(InvalidInputError, match=r"a\.csv.*over the .* size limit"):
        parse_file(data, "a.csv", max_bytes=len(data) - 1)


def test_size_limit_message_is_readable() -> None:
    with pytest.raises(InvalidInputError, match="30 bytes, over the 20 bytes size limit"):
        parse_file(b"C1\n" * 10, "a.csv", max_bytes=20)


def test_unclosed_quote_in_a_huge_cell() -> None:
    data = b'customer_id\nC1\n"' + b"x" * 200_000 + b"\n"
    with pytest.raises(InvalidInputError, match=r"q\.csv: cannot read row 3 as CSV"):
        parse_file(data, "q.csv")


def test_size_limit_rows() -> None:
    data = b"customer_id\nC1\nC2\n\nC3\n"
    assert parse_file(data, "a.csv", max_rows=3).ids == ["C1", "C2", "C3"]
    with pytest.raises(InvalidInputError, match=r"a\.csv.*more than 2 rows \(the row limit\)"):
        parse_file(data, "a.csv", max_rows=2)


def test_parse_path(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"customer_id\nC1\n")
    result = parse_path(path)
    assert result.ids == ["C1"]
    assert result.source == str(path)
    with pytest.raises(InvalidInputError, match="size limit"):
        parse_path(path, max_bytes=5)
    with pytest.raises(InvalidInputError, match=r"missing\.csv: cannot read the file"):
        parse_path(tmp_path / "missing.csv")
    with pytest.raises(InvalidInputError, match="cannot read the file"):
        parse_path(tmp_path)


def test_200k_rows_parse_completely() -> None:
    # Speed is measured by bench/bench_inputs.py, not asserted here.
    rows = ["customer_id,segment,city"] + [
        f"CUST-{i:09d},seg{i % 7},Jakarta" for i in range(200_000)
    ]
    data = ("\n".join(rows) + "\n").encode()
    result = parse_file(data, "big.csv")
    assert len(result.ids) == 200_000
    assert result.attributes["segment"][-1] == f"seg{199_999 % 7}"


# --- properties ----------------------------------------------------------------------

# Anything but NUL (a NUL byte marks a binary file) and lone surrogates (not encodable).
ANY_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
KNOWN = ["C1", "C2", "", " ", "Y" * 51, 'a"b', "x,y"]


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[list[str]], bool]:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quote_all = draw(st.booleans())
    header = draw(st.booleans())
    with_attribute = draw(st.booleans())
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    others = "".join(d for d in ",;\t|" if d != delimiter)
    cell = st.one_of(st.text(ANY_CHAR, max_size=60), st.sampled_from(KNOWN))
    if not quote_all:
        # Unquoted, a ";" in every ID of a ","-file is truly ambiguous: keep others out.
        cell = cell.map(lambda s: s.translate({ord(c): None for c in others}))
    pool = draw(st.lists(cell, min_size=1, max_size=8))
    ids = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=25))
    if not header:
        # A first row of letters-only names would (rightly) look like a header.
        ids[0] = draw(st.sampled_from("0123456789")) + ids[0]
    rows = [[i, draw(cell)] if with_attribute else [i] for i in ids]
    written = [["customer_id", "segment"] if with_attribute else ["customer_id"]] if header else []
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=delimiter, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerows(written + rows)
    return buf.getvalue().encode(encoding), rows, header


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_property_csv_round_trip(case: tuple[bytes, list[list[str]], bool]) -> None:
    data, rows, header = case
    first_row = 2 if header else 1
    expected_ids: list[str] = []
    expected_attrs: list[str] = []
    expected_rejected: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, cells in enumerate(rows, first_row):
        value = cells[0].strip()
        if not any(c.strip() for c in cells):
            continue
        problem = customer_id_problem(value)
        if problem is not None:
            expected_rejected.append((number, problem))
        elif value not in seen:
            seen.add(value)
            expected_ids.append(value)
            if len(cells) > 1:
                expected_attrs.append(cells[1].strip())
    if not expected_ids and not expected_rejected:
        with pytest.raises(InvalidInputError):
            parse_file(data, "prop.csv")
        return
    result = parse_file(data, "prop.csv")
    assert result.has_header == header
    assert result.ids == expected_ids
    assert [(r.row, r.reason) for r in result.rejected] == expected_rejected
    if expected_attrs:
        assert next(iter(result.attributes.values())) == expected_attrs
    check_counts(result)


SEPARATORS = ["\n", ",", ";", "\t", " ", ", ", "\r\n", "\n\n", " ;\t"]
TEXT_CHAR = st.characters(
    exclude_categories=["Cs"],
    exclude_characters=",;" + "".join(chr(c) for c in range(0x110000) if chr(c).isspace()),
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_text_round_trip(data: st.DataObject) -> None:
    pool = data.draw(st.lists(st.text(TEXT_CHAR, min_size=1, max_size=60), min_size=1))
    ids = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=30))
    assume(normalize_column_name(ids[0]) not in ID_COLUMN_NAMES)
    assume(not ids[0].startswith(("\ufeff", "\u200b", "\u200c", "\u200d", "\u2060")))
    seps = data.draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(ids), max_size=len(ids)))
    text = ""
    line = 1
    expected_ids: list[str] = []
    expected_rejected: list[tuple[int, str]] = []
    for value, sep in zip(ids, seps, strict=True):
        text += value + sep
        problem = customer_id_problem(value)
        if problem is not None:
            expected_rejected.append((line, problem))
        elif value not in expected_ids:
            expected_ids.append(value)
        line += sep.count("\n")
    result = parse_text(text)
    assert result.ids == expected_ids
    assert [(r.row, r.reason) for r in result.rejected] == expected_rejected
    assert result.duplicates == len(ids) - len(expected_ids) - len(expected_rejected)


@given(st.text(ANY_CHAR, max_size=60))
def test_property_fast_path_agrees_with_models(value: str) -> None:
    """inputs skips customer_id_problem for short printable text; that must stay sound."""
    if 0 < len(value) <= 50 and value.isprintable():
        assert customer_id_problem(value) is None

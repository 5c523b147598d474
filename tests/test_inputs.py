"""Customer-list parsing: every shape an analyst's tools produce, and its failure modes."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from doku.engine.inputs import (
    AmbiguousColumnError,
    ParsedInput,
    Rejected,
    parse_file,
    parse_text,
)
from doku.errors import InvalidInputError


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


def test_a_text_file_is_split_exactly_like_pasted_text() -> None:
    text = "P000014,P000015,P000016, P000017 P000018\nP000019;P000020\tP000021\n\nP000022\n"
    result = parse_file(text.encode(), "ids.TXT")
    pasted = parse_text(text)
    assert result.ids == pasted.ids == [f"P0000{n}" for n in range(14, 23)]
    assert (result.source, result.encoding, result.blank_rows) == ("ids.TXT", "utf-8", 1)
    assert result.flagged == []
    assert result.attributes == {}


def test_a_text_table_with_an_id_header_stays_a_table() -> None:
    result = parse_file(b"Customer ID\tPlan\nC1\tgold plus\nC2\tbasic\n", "export.txt")
    assert result.ids == ["C1", "C2"]
    assert result.attributes == {"Plan": ["gold plus", "basic"]}


def test_ids_holding_separators_or_spaces_are_audited_but_flagged() -> None:
    result = parse_file(b"customer_id\nC1\nPelanggan A\n\"Smith, John\"\nC5\n", "ids.csv")
    assert result.ids == ["C1", "Pelanggan A", "Smith, John", "C5"]
    assert [(f.row, f.value, f.reason) for f in result.flagged] == [
        (3, "Pelanggan A", "contains a space: two IDs in one cell?"),
        (4, "Smith, John", "contains a comma and a space: two IDs in one cell?"),
    ]


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
    result = parse_file("C1\nPelanggan-é\n".encode(), "a.txt")
    assert result.encoding == "utf-8"
    assert result.ids == ["C1", "Pelanggan-é"]


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

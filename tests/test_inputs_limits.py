"""Customer-list parsing: unusable files, size and row limits, and property tests."""

from __future__ import annotations

import codecs
import csv
import inspect
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
    MAX_LINES,
    normalize_column_name,
    parse_file,
    parse_path,
    parse_text,
)
from doku.engine.readers import MAX_UNZIPPED, check_workbook
from doku.errors import InvalidInputError
from doku.models import customer_id_problem
from tests.test_inputs import check_counts

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


# --- hostile workbooks and files -------------------------------------------------------


def _rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    """The workbook with some parts replaced (deflated: a bomb stays small on disk)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def _small_workbook() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["customer_id", "note"])
    ws.append(["C1", "PLACEHOLDER"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_with_one_huge_cell_is_refused_before_parsing() -> None:
    base = _small_workbook()
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    bomb = _rezip(base, {"xl/worksheets/sheet1.xml": sheet.replace(b"PLACEHOLDER", b"x" * 40_000_000)})
    assert len(bomb) < 200_000  # 40 MB of text, tiny upload
    with pytest.raises(InvalidInputError, match=r"bomb.xlsx: a cell holds more than 262,144 bytes of text"):
        parse_file(bomb, "bomb.xlsx")


def test_xlsx_unpacking_beyond_the_limit_is_refused() -> None:
    base = _small_workbook()
    bomb = _rezip(base, {"docProps/app.xml": b"<!--" + b" " * 3_000_000 + b"-->"})
    with pytest.raises(InvalidInputError, match=r"unpacks to 2.9 MB, over the 2 MB limit"):
        check_workbook(bomb, "bomb.xlsx", max_unzipped=2 * 1024 * 1024)
    check_workbook(base, "fine.xlsx", max_unzipped=2 * 1024 * 1024)
    assert MAX_UNZIPPED == 256 * 1024 * 1024  # what parse_file applies


def test_blank_rows_count_toward_the_line_limit_in_workbooks() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "customer_id"
    ws["A2"] = "C1"
    ws["A60000"] = "C2"  # 59,997 blank rows between
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(InvalidInputError, match=r"more than 10,000 rows counting blank ones"):
        parse_file(buf.getvalue(), "blanks.xlsx", max_lines=10_000)
    assert parse_file(buf.getvalue(), "blanks.xlsx").ids == ["C1", "C2"]


@pytest.mark.parametrize(
    "data", [b"\n" * 30_000 + b"C1\n", b"C1\n" + b"\n" * 30_000 + b"C2\n", b"C1\n" + b",\n" * 30_000]
)
def test_blank_rows_count_toward_the_line_limit_in_text(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=r"more than 10,000 rows counting blank ones"):
        parse_file(data, "blanks.csv", max_lines=10_000)


def test_the_default_line_limit_is_two_million() -> None:
    assert MAX_LINES == 2_000_000
    assert inspect.signature(parse_file).parameters["max_lines"].default == MAX_LINES


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["x.csv", "x.txt", "x.tsv", "x.xlsx", ""]))
def test_fuzzed_bytes_give_a_parse_or_one_clear_error(data: bytes, name: str) -> None:
    try:
        parsed = parse_file(data, name)
    except InvalidInputError as exc:
        message = str(exc)
    else:
        message = ""
    assert "\n" not in message  # one line, whatever the bytes
    if message:
        return
    assert len(parsed.ids) + parsed.duplicates + len(parsed.rejected) + parsed.blank_rows == (
        parsed.total_rows
    )


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=4096))
def test_fuzzed_zip_bytes_never_escape_as_another_error(tail: bytes) -> None:
    # Starts like a workbook, then anything: openpyxl's many failures become one error.
    with pytest.raises(InvalidInputError):
        parse_file(b"PK\x03\x04" + tail, "fuzz.xlsx")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab,"\r\n é')), max_size=60))
def test_raw_lines_split_exactly_like_stringio(text: str) -> None:
    from doku.engine.inputs import _raw_lines

    assert list(_raw_lines(text)) == list(io.StringIO(text, newline=""))

"""Turn whatever customer list an analyst brings into clean, unique customer IDs.

Used by the CLI (`doku audit FILE|-`) and the dashboard (paste box and
file uploader), so both accept exactly the same inputs and report problems the same way.

Accepted shapes
  * Pasted text: IDs separated by newlines, commas, semicolons, tabs or spaces. If
    the first non-blank line is nothing but a known ID column name (e.g. a column
    copied from a spreadsheet with its header) that line is taken as a header.
  * Files (bytes + name): CSV with `,` `;` tab or `|` (sniffed), TSV, Excel's
    "Unicode text" (UTF-16, tab-separated), plain text with one ID per line, and
    `.xlsx` (first sheet unless `sheet=` names one). Text is decoded as UTF-8 (with
    or without BOM), UTF-16/32 with BOM (UTF-16 without BOM is recognised from its
    NUL pattern), then Windows-1252 as a fallback.

Header rule (files): the first non-blank row is a header when
  (a) one of its cells is a known ID column name (see `ID_COLUMN_NAMES`), or
  (b) one of its cells is the column asked for with `column=`, or
  (c) every non-empty cell in it has a letter and no digit, while each of the next
      (up to 20, within 1,000 rows) non-blank rows has a digit somewhere - names above IDs.
The header is reported (`has_header`, `id_column`) so a UI can show what was taken
as a header: under rule (c) a letters-only first ID above numbered ones would be one.
Otherwise there is no header: the first column holds the IDs and further columns
become attributes `column_2`, `column_3`, ... A header with several columns where
none is a known ID name raises `AmbiguousColumnError` so the caller can ask which.

Row numbers are 1-based records as a spreadsheet shows them: the header (when
present) is row 1 and blank rows count. Quoted CSV cells spanning lines are one row.
Every cell is trimmed (`str.strip`); a BOM or zero-width characters at the start of
the first cell are dropped. IDs are compared exactly (case-sensitive) after trimming.
Invalid IDs (`doku.models.customer_id_problem`) are reported with row and reason,
never dropped silently. Trailing blank rows are ignored; other blank rows are counted.

Attributes are stored by column (`attributes[name][i]` belongs to `ids[i]`): one
list per column costs a pointer per row, where a dict per customer would cost
hundreds of bytes per row at 1,000,000 rows.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from doku.engine.parsed import (
    DISPLAY_LIMIT,
    DUPLICATE_SAMPLE,
    ID_COLUMN_NAMES,
    LEADING_INVISIBLE,
    MAX_LINES,
    Accumulator,
    AmbiguousColumnError,
    ParsedInput,
    Rejected,
    build_parsed,
    display_value,
    normalize_column_name,
    too_many_lines,
)
from doku.engine.readers import (
    SIGNATURES,
    SNIFF_CHARS,
    check_workbook,
    csv_rows,
    decode,
    detect_delimiter,
    too_big,
    unused_char,
    xlsx_rows,
)
from doku.errors import InvalidInputError

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000
PASTED = "pasted text"
_SHEET_PROBE_ROWS = 20  # rows looked at for a header when choosing a workbook's sheet
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TEXT_SEPARATORS = re.compile(r"[,;\t ]+")

__all__ = [
    "DISPLAY_LIMIT",
    "DUPLICATE_SAMPLE",
    "ID_COLUMN_NAMES",
    "MAX_BYTES",
    "MAX_LINES",
    "MAX_ROWS",
    "PASTED",
    "AmbiguousColumnError",
    "ParsedInput",
    "Rejected",
    "display_value",
    "normalize_column_name",
    "parse_file",
    "parse_path",
    "parse_text",
]


def parse_text(
    text: str,
    *,
    max_rows: int = MAX_ROWS,
    source: str = PASTED,
    max_lines: int = MAX_LINES,
) -> ParsedInput:
    """Parse pasted IDs (or a text file of them: `source` names it); `max_rows` limits
    the number of IDs (entries), `max_lines` the lines, blank ones included."""
    limit = "pasted text has more than {limit:,} IDs" if source == PASTED else (
        "more than {limit:,} IDs (the limit)"
    )
    acc = Accumulator(source, max_rows, limit)
    header: str | None = None
    seen_data = False
    for lineno, line in enumerate(_lines(text.lstrip(LEADING_INVISIBLE)), 1):
        if lineno > max_lines:
            raise too_many_lines(source, max_lines)
        first = not seen_data and header is None and line.strip()
        if first and normalize_column_name(line.strip()) in ID_COLUMN_NAMES:
            header = line.strip()
            acc.blank_rows, acc.pending_blank = acc.pending_blank, 0  # above the header
            continue
        found = False
        for token in _TEXT_SEPARATORS.split(line):
            value = token.strip()
            if value:
                found = seen_data = True
                acc.flush_blanks()
                acc.add(lineno, value)
        if not found:
            acc.pending_blank += 1
    if acc.data_rows == 0:
        raise InvalidInputError(f"{source} contains no customer IDs")
    return acc.result(
        attributes={},
        id_column=header,
        columns=[header] if header is not None else [],
        has_header=header is not None,
    )


def _raw_lines(text: str) -> Iterator[str]:
    """Exactly what `io.StringIO(text, newline="")` yields to the csv module (lines split
    at LF, CRLF or CR, endings kept), without its 4-bytes-a-character copy of the whole
    text (a 50 MB upload would cost some 200 MB more). Only a file with lone CRs (old Mac
    line ends) still goes through StringIO."""
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        yield from io.StringIO(text, newline="")
        return
    start, end = 0, len(text)
    find = text.find
    while start < end:
        stop = find("\n", start)
        if stop < 0:
            yield text[start:]
            return
        yield text[start : stop + 1]
        start = stop + 1


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` one at a time (as `_LINE_BREAK.split`, without the list)."""
    start = 0
    for m in _LINE_BREAK.finditer(text):
        yield text[start : m.start()]
        start = m.end()
    yield text[start:]


def parse_file(
    data: bytes,
    filename: str,
    *,
    column: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    max_lines: int = MAX_LINES,
) -> ParsedInput:
    """Parse an uploaded CSV/TSV/text/.xlsx file. `sheet` only applies to workbooks.

    Limits, each named in the error: `max_bytes` of upload, `max_rows` customer IDs,
    `max_lines` rows counting blank ones, and for workbooks their unpacked size.
    """
    source = filename or "uploaded file"
    if len(data) > max_bytes:
        raise too_big(source, len(data), max_bytes)
    if not data:
        raise InvalidInputError(f"{source}: the file is empty")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        check_workbook(data, source)
        return _parse_xlsx(
            data, source, column=column, sheet=sheet, max_rows=max_rows, max_lines=max_lines
        )
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            raise InvalidInputError(f"{source}: this is {kind}, not a customer list")
    text, encoding = decode(data, source)
    if not text.strip():
        raise InvalidInputError(f"{source}: the file is empty (only blank lines)")
    delimiter = detect_delimiter(text, filename)
    if filename.lower().endswith(".txt") and column is None and not _id_table(text, delimiter):
        # A text file of IDs is split exactly like pasted text (commas, spaces, lines);
        # only a table with an ID-column header (Excel's "Unicode text") is read as one.
        parsed = parse_text(text, max_rows=max_rows, source=source, max_lines=max_lines)
        return replace(parsed, encoding=encoding)
    reader = csv.reader(_raw_lines(text), delimiter=delimiter or unused_char(text))
    return build_parsed(
        csv_rows(reader, source),
        source=source,
        column=column,
        max_rows=max_rows,
        max_lines=max_lines,
        encoding=encoding,
        delimiter=delimiter,
    )


def parse_path(
    path: str | os.PathLike[str],
    *,
    column: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> ParsedInput:
    """Read and parse a file, refusing one over `max_bytes` before reading it."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise too_big(name, size, max_bytes)
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise too_big(name, len(data), max_bytes)
    return parse_file(
        data, name, column=column, sheet=sheet, max_bytes=max_bytes, max_rows=max_rows
    )


def _parse_xlsx(
    data: bytes,
    source: str,
    *,
    column: str | None,
    sheet: str | None,
    max_rows: int,
    max_lines: int,
) -> ParsedInput:
    import openpyxl  # lazy: only workbooks need it

    try:
        workbook: Any = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken zip
        raise InvalidInputError(
            f"{source}: this is a zip archive but not a readable .xlsx workbook "
            f"({type(exc).__name__})"
        ) from exc
    try:
        sheets = [str(ws.title) for ws in workbook.worksheets]
        if not sheets:
            raise InvalidInputError(f"{source}: the workbook has no worksheets")
        if sheet is None:
            index = _id_sheet(workbook.worksheets)
        else:
            wanted = [i for i, name in enumerate(sheets) if name == sheet]
            wanted = wanted or [
                i
                for i, name in enumerate(sheets)
                if name.strip().casefold() == sheet.strip().casefold()
            ]
            if not wanted:
                raise InvalidInputError(
                    f"{source}: no sheet named {sheet!r}; sheets: {', '.join(sheets)}"
                )
            index = wanted[0]
        worksheet = workbook.worksheets[index]
        worksheet.reset_dimensions()  # some writers store a wrong size
        label = f"{source} [{sheets[index]}]"
        return build_parsed(
            xlsx_rows(worksheet, label),
            source=source,
            column=column,
            max_rows=max_rows,
            max_lines=max_lines,
            sheet=sheets[index],
            sheets=sheets,
            label=label,
        )
    finally:
        workbook.close()


def _id_table(text: str, delimiter: str | None) -> bool:
    """Whether the first non-blank line is a header of several columns, one of them
    named like a customer ID."""
    if delimiter is None:
        return False
    first = next((line for line in _lines(text[:SNIFF_CHARS]) if line.strip()), "")
    cells = next(csv.reader([first], delimiter=delimiter), [])
    return len(cells) > 1 and any(normalize_column_name(c) in ID_COLUMN_NAMES for c in cells)


def _id_sheet(worksheets: list[Any]) -> int:
    """The first sheet whose first non-blank row names an ID column (a summary sheet in
    front of the data is skipped); the first sheet when none does."""
    for index, worksheet in enumerate(worksheets):
        for values in worksheet.iter_rows(max_row=_SHEET_PROBE_ROWS, values_only=True):
            names = [normalize_column_name(str(v)) for v in values if v is not None]
            if not any(names):
                continue
            if any(n in ID_COLUMN_NAMES for n in names):
                return index
            break  # a first row without an ID column: not this sheet
    return 0

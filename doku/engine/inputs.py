"""Turn whatever customer list an analyst brings into clean, unique customer IDs.

Used by the CLI (`python -m doku audit FILE|-`) and the dashboard (paste box and
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
      (up to 20) non-blank rows has a digit somewhere - names above IDs.
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
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import chain
from typing import Any

from doku.errors import InvalidInputError
from doku.models import MAX_CUSTOMER_ID, customer_id_problem

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000
PASTED = "pasted text"

# Normalised (see `normalize_column_name`) names of an ID column, best first:
# customer_id, customer.id, Customer ID, customerid -> "customerid"; cust_id; id; customer.
ID_COLUMN_NAMES = ("customerid", "custid", "id", "customer")
DELIMITERS = (",", "\t", ";", "|")
DUPLICATE_SAMPLE = 20
DISPLAY_LIMIT = 80

_LEADING_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_NAME_NOISE = re.compile(r"[\s_.\-]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TEXT_SEPARATORS = re.compile(r"[,;\t ]+")
_DIGIT = re.compile(r"\d")
_HEADER_PROBE_ROWS = 20
_SNIFF_CHARS = 64 * 1024
_SNIFFER_CHARS = 16 * 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an executable"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy .xls or password-protected Excel file; save it as .xlsx or CSV",
    ),
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """One row whose ID cannot be sent to DOKU; `value` is display-safe."""

    row: int
    value: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedInput:
    """The clean result of one input.

    `total_rows == len(ids) + duplicates + len(rejected) + blank_rows`. For pasted
    text every ID is an entry (a line may hold several) and `Rejected.row` is its line.
    `columns` are the header names (`column_1`.. when the file has no header, empty
    for pasted text); `id_column` is the one in `columns` holding the IDs.
    """

    source: str
    ids: list[str]
    attributes: dict[str, list[str]]
    attribute_columns: list[str]
    id_column: str | None
    columns: list[str]
    has_header: bool
    rejected: list[Rejected]
    duplicates: int
    duplicate_ids: list[str]
    blank_rows: int
    total_rows: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "total_rows": self.total_rows,
            "ids": len(self.ids),
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "blank_rows": self.blank_rows,
            "attribute_columns": len(self.attribute_columns),
        }

    def attributes_at(self, index: int) -> dict[str, str]:
        """Attributes of `ids[index]`."""
        return {name: values[index] for name, values in self.attributes.items()}

    def attributes_of(self, customer_id: str) -> dict[str, str] | None:
        """Attributes of one customer (a linear search; use `attributes` for bulk work)."""
        try:
            return self.attributes_at(self.ids.index(customer_id))
        except ValueError:
            return None


class AmbiguousColumnError(InvalidInputError):
    """The header has several columns and none is named like a customer ID."""

    def __init__(self, message: str, *, columns: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.columns = columns


def normalize_column_name(name: str) -> str:
    """Case-, space-, underscore-, dot- and hyphen-insensitive form of a column name."""
    return _NAME_NOISE.sub("", name.casefold())


def display_value(value: str, limit: int = DISPLAY_LIMIT) -> str:
    """Show a value safely: unprintable characters escaped, at most `limit` characters."""
    pieces: list[str] = []
    length = 0
    for ch in value:
        piece = ch if ch.isprintable() else ascii(ch)[1:-1]  # \xNN, \uNNNN, \t
        if length + len(piece) > limit:
            while pieces and length + 1 > limit:
                length -= len(pieces.pop())
            return "".join(pieces) + "…"
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def parse_text(text: str, *, max_rows: int = MAX_ROWS) -> ParsedInput:
    """Parse pasted IDs; `max_rows` limits the number of IDs (entries)."""
    lines = _LINE_BREAK.split(text.lstrip(_LEADING_INVISIBLE))
    header: str | None = None
    start = 0
    for i, line in enumerate(lines):
        if line.strip():
            if normalize_column_name(line.strip()) in ID_COLUMN_NAMES:
                header, start = line.strip(), i + 1
            break
    acc = _Accumulator(PASTED, max_rows, "pasted text has more than {limit:,} IDs")
    acc.blank_rows = start - 1 if header is not None else 0
    for lineno, line in enumerate(lines[start:], start + 1):
        found = False
        for token in _TEXT_SEPARATORS.split(line):
            value = token.strip()
            if value:
                found = True
                acc.flush_blanks()
                acc.add(lineno, value)
        if not found:
            acc.pending_blank += 1
    if acc.data_rows == 0:
        raise InvalidInputError(f"{PASTED} contains no customer IDs")
    return acc.result(
        attributes={},
        id_column=header,
        columns=[header] if header is not None else [],
        has_header=header is not None,
    )


def parse_file(
    data: bytes,
    filename: str,
    *,
    column: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> ParsedInput:
    """Parse an uploaded CSV/TSV/text/.xlsx file. `sheet` only applies to workbooks."""
    source = filename or "uploaded file"
    if len(data) > max_bytes:
        raise _too_big(source, len(data), max_bytes)
    if not data:
        raise InvalidInputError(f"{source}: the file is empty")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _parse_xlsx(data, source, column=column, sheet=sheet, max_rows=max_rows)
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            raise InvalidInputError(f"{source}: this is {kind}, not a customer list")
    text, encoding = _decode(data, source)
    if not text.strip():
        raise InvalidInputError(f"{source}: the file is empty (only blank lines)")
    delimiter = _detect_delimiter(text, filename)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _unused_char(text))
    return _build(
        _csv_rows(reader, source),
        source=source,
        column=column,
        max_rows=max_rows,
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
                raise _too_big(name, size, max_bytes)
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    return parse_file(
        data, name, column=column, sheet=sheet, max_bytes=max_bytes, max_rows=max_rows
    )


# --- decoding -----------------------------------------------------------------------


def _too_big(source: str, size: int, limit: int) -> InvalidInputError:
    return InvalidInputError(f"{source}: the file is {_mb(size)}, over the {_mb(limit)} size limit")


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size:,} bytes"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _decode(data: bytes, source: str) -> tuple[str, str]:
    """Decode text strictly; NUL bytes outside UTF-16/32 mean a binary file."""
    boms = (
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            codec = "utf-8" if encoding == "utf-8-sig" else encoding
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{source}: starts like {encoding.upper()} text but is not valid "
                    f"{encoding.upper()} (byte {exc.start + len(bom)})"
                ) from exc
            return _check_text(text, source), encoding
    if b"\x00" in data:
        encoding_guess = _bomless_utf16(data)
        if encoding_guess is not None:
            try:
                return _check_text(data.decode(encoding_guess), source), encoding_guess
            except UnicodeDecodeError:
                pass
        raise InvalidInputError(f"{source}: this is a binary file (it contains NUL bytes)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{source}: this is not a text file (not UTF-8, UTF-16 or Windows-1252)"
        ) from exc
    sample = text[:_SNIFF_CHARS]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > max(8, len(sample) // 20):
        raise InvalidInputError(f"{source}: this looks like a binary file, not text")
    return text, "cp1252"


def _bomless_utf16(data: bytes) -> str | None:
    """UTF-16 without BOM: mostly-ASCII text has NUL in every other byte."""
    sample = data[:4096]
    half = len(sample) // 2
    if half == 0 or len(data) % 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd >= half * 0.3 and even <= half * 0.05:
        return "utf-16-le"
    if even >= half * 0.3 and odd <= half * 0.05:
        return "utf-16-be"
    return None


def _check_text(text: str, source: str) -> str:
    if "\x00" in text:
        raise InvalidInputError(f"{source}: this is a binary file (it contains NUL characters)")
    return text


# --- delimiters ---------------------------------------------------------------------


def _detect_delimiter(text: str, filename: str) -> str | None:
    """Pick the delimiter that splits the sample rows most consistently.

    A candidate is consistent when it gives the same field count (>1) on >= 80% of
    the sample rows (quote-aware). csv.Sniffer, which reads quoting patterns, chooses
    among consistent candidates; it is never trusted alone because it guesses wildly
    on single-column files. Failing that, a candidate splitting most rows wins.
    None means a single column (one ID per line).
    """
    truncated = len(text) > _SNIFF_CHARS
    sample = text[:_SNIFF_CHARS]
    stats: dict[str, tuple[float, int, float]] = {}
    for delim in DELIMITERS:
        counts = [
            len(row)
            for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delim)
            if len(row) > 1 or (row and row[0].strip())  # rows of only delimiters count
        ]
        if truncated and len(counts) > 1:
            counts.pop()  # the last record may be cut short
        if not counts:
            continue
        modal, hits = max(Counter(counts).items(), key=lambda item: (item[1], item[0]))
        share = hits / len(counts)
        split = sum(1 for n in counts if n > 1) / len(counts)
        stats[delim] = (share, modal, split)
    consistent = [d for d, (share, modal, _) in stats.items() if modal > 1 and share >= 0.8]
    if filename.lower().endswith((".tsv", ".tab")) and "\t" in consistent:
        return "\t"
    if consistent:
        try:
            sniffed = csv.Sniffer().sniff(sample[:_SNIFFER_CHARS], delimiters="".join(DELIMITERS))
            if sniffed.delimiter in consistent:
                return sniffed.delimiter
        except csv.Error:
            pass
        return max(consistent, key=lambda d: (stats[d][0], -DELIMITERS.index(d)))
    loose = [d for d, (_, _, split) in stats.items() if split >= 0.5]
    if loose:
        return max(loose, key=lambda d: (stats[d][2], -DELIMITERS.index(d)))
    return None


def _unused_char(text: str) -> str:
    """A delimiter that never occurs, so each line is one cell (quotes still honoured)."""
    for ch in "\x1f\x1e\x1d\x1c\x01\x02\x03":
        if ch not in text:
            return ch
    return ","


def _csv_rows(reader: Iterator[list[str]], source: str) -> Iterator[list[str]]:
    row = 0
    try:
        for cells in reader:
            row += 1
            yield cells
    except csv.Error as exc:
        raise InvalidInputError(
            f"{source}: cannot read row {row + 1} as CSV ({exc}); is a quote left open?"
        ) from exc


# --- xlsx ---------------------------------------------------------------------------


def _parse_xlsx(
    data: bytes, source: str, *, column: str | None, sheet: str | None, max_rows: int
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
            index = 0
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
        return _build(
            _xlsx_rows(worksheet, label),
            source=source,
            column=column,
            max_rows=max_rows,
            sheet=sheets[index],
            sheets=sheets,
            label=label,
        )
    finally:
        workbook.close()


def _xlsx_rows(worksheet: Any, label: str) -> Iterator[list[str]]:
    try:
        for values in worksheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in values]
    except InvalidInputError:
        raise
    except Exception as exc:  # corrupt sheet XML and the like
        raise InvalidInputError(f"{label}: the sheet cannot be read ({exc})") from exc


def _cell_text(value: object) -> str:
    """Cell as the analyst typed it: 12345.0 (Excel's numbers are floats) -> "12345"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


# --- building the result ------------------------------------------------------------


class _Accumulator:
    """Collects IDs row by row: validation, duplicates, blank rows and the row limit."""

    def __init__(self, source: str, max_rows: int, limit_message: str) -> None:
        self.source = source
        self.max_rows = max_rows
        self.limit_message = limit_message
        self.ids: list[str] = []
        self.seen: set[str] = set()
        self.rejected: list[Rejected] = []
        self.duplicates = 0
        self.duplicate_ids: list[str] = []
        self.blank_rows = 0
        self.pending_blank = 0
        self.data_rows = 0

    def flush_blanks(self) -> None:
        """Blank rows count only once a non-blank row follows (trailing ones are ignored)."""
        if self.pending_blank:
            self.blank_rows += self.pending_blank
            self.pending_blank = 0

    def add(self, row: int, value: str) -> bool:
        """Record one trimmed ID; True when it is new and valid (attributes to store)."""
        self.data_rows += 1
        if self.data_rows > self.max_rows:
            raise InvalidInputError(
                f"{self.source}: " + self.limit_message.format(limit=self.max_rows)
            )
        # Fast path: printable text of allowed length cannot hold a control character.
        if not (0 < len(value) <= MAX_CUSTOMER_ID and value.isprintable()):
            problem = customer_id_problem(value)
            if problem is not None:
                self.rejected.append(Rejected(row, display_value(value), problem))
                return False
        if value in self.seen:
            self.duplicates += 1
            if len(self.duplicate_ids) < DUPLICATE_SAMPLE and value not in self.duplicate_ids:
                self.duplicate_ids.append(value)
            return False
        self.seen.add(value)
        self.ids.append(value)
        return True

    def result(
        self,
        *,
        attributes: dict[str, list[str]],
        id_column: str | None,
        columns: list[str],
        has_header: bool,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
        sheets: list[str] | None = None,
    ) -> ParsedInput:
        return ParsedInput(
            source=self.source,
            ids=self.ids,
            attributes=attributes,
            attribute_columns=list(attributes),
            id_column=id_column,
            columns=columns,
            has_header=has_header,
            rejected=self.rejected,
            duplicates=self.duplicates,
            duplicate_ids=self.duplicate_ids,
            blank_rows=self.blank_rows,
            total_rows=self.data_rows + self.blank_rows,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
            sheets=sheets or [],
        )


def _is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _unique_names(cells: Iterable[str]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for i, cell in enumerate(cells, 1):
        base = cell.strip() or f"column_{i}"
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names.append(name)
    return names


def _known_id_column(names: list[str]) -> int | None:
    best: tuple[int, int] | None = None
    for i, name in enumerate(names):
        norm = normalize_column_name(name)
        if norm in ID_COLUMN_NAMES:
            rank = (ID_COLUMN_NAMES.index(norm), i)
            best = rank if best is None or rank < best else best
    return None if best is None else best[1]


def _match_column(names: list[str], wanted: str) -> int | None:
    """Exact name first, then trimmed, case-insensitive and normalised forms."""
    tests = (
        lambda n: n == wanted,
        lambda n: n.strip() == wanted.strip(),
        lambda n: n.strip().casefold() == wanted.strip().casefold(),
        lambda n: normalize_column_name(n) == normalize_column_name(wanted),
    )
    for test in tests:
        for i, name in enumerate(names):
            if test(name):
                return i
    return None


def _looks_like_header(first: list[str], below: list[list[str]]) -> bool:
    """Rule (c): names without digits above rows that all contain a digit."""
    cells = [c.strip() for c in first if c.strip()]
    if not cells or not below:
        return False
    if any(_DIGIT.search(c) or not any(ch.isalpha() for ch in c) for c in cells):
        return False
    return all(any(_DIGIT.search(c) for c in row) for row in below)


def _build(
    rows: Iterator[list[str]],
    *,
    source: str,
    column: str | None,
    max_rows: int,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    sheets: list[str] | None = None,
    label: str | None = None,
) -> ParsedInput:
    label = label or source
    acc = _Accumulator(source, max_rows, "more than {limit:,} rows (the row limit)")

    # Peek: leading blank rows, the first non-blank row and a few rows below it.
    head: list[list[str]] = []
    first_index: int | None = None
    probe = 0
    for cells in rows:
        if not head and cells:
            cells = [cells[0].lstrip(_LEADING_INVISIBLE), *cells[1:]]
        head.append(cells)
        if _is_blank(cells):
            continue
        if first_index is None:
            first_index = len(head) - 1
            continue
        probe += 1
        if probe >= _HEADER_PROBE_ROWS:
            break
    if first_index is None:
        raise InvalidInputError(f"{label}: the file is empty (no customer IDs)")
    first = [c.strip() for c in head[first_index]]
    below = [r for r in head[first_index + 1 :] if not _is_blank(r)]

    has_header = (
        _known_id_column(first) is not None
        or (column is not None and _match_column(first, column) is not None)
        or _looks_like_header(first, below)
    )
    if has_header:
        columns = _unique_names(first)
        data_start = first_index + 1
    else:
        columns = [f"column_{i}" for i in range(1, len(first) + 1)]
        data_start = first_index
    acc.blank_rows = first_index  # blank rows above the first non-blank one

    if column is not None:
        found = _match_column(columns, column)
        if found is None:
            where = "" if has_header else " (the file has no header row)"
            raise InvalidInputError(
                f"{label}: no column named {column!r}{where}; columns: {', '.join(columns)}"
            )
        id_index = found
    elif has_header:
        known = _known_id_column(columns)
        if known is None and len(columns) > 1:
            raise AmbiguousColumnError(
                f"{label}: none of the columns is named like a customer ID "
                f"({', '.join(columns)}); choose the ID column",
                columns=columns,
            )
        id_index = known or 0
    else:
        id_index = 0

    attr_index = [i for i in range(len(columns)) if i != id_index]
    attributes: dict[str, list[str]] = {columns[i]: [] for i in attr_index}
    attr_lists = list(attributes.values())
    width = len(columns)

    for row_number, cells in enumerate(chain(head[data_start:], rows), data_start + 1):
        value = cells[id_index].strip() if id_index < len(cells) else ""
        if not value and _is_blank(cells):
            acc.pending_blank += 1
            continue
        acc.flush_blanks()
        if not acc.add(row_number, value):
            continue
        n = len(cells)
        if n >= width:
            for values, i in zip(attr_lists, attr_index, strict=True):
                values.append(cells[i].strip())
            if n > width and not _is_blank(cells[width:]):
                # A row wider than the header: new attribute columns, empty for earlier rows.
                extra = _unique_names([*columns, *([""] * (n - width))])[width:]
                for i, name in enumerate(extra, width):
                    columns.append(name)
                    filler = [""] * (len(acc.ids) - 1)
                    filler.append(cells[i].strip())
                    attributes[name] = filler
                    attr_lists.append(filler)
                    attr_index.append(i)
                width = n
        else:
            for values, i in zip(attr_lists, attr_index, strict=True):
                values.append(cells[i].strip() if i < n else "")

    if acc.data_rows == 0:
        raise InvalidInputError(f"{label}: the file has a header row but no customer IDs")
    return acc.result(
        attributes=attributes,
        id_column=columns[id_index],
        columns=columns,
        has_header=has_header,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        sheets=sheets,
    )

"""From uploaded bytes to rows of cells (decoding, delimiter sniffing, CSV and XLSX cells)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from doku.errors import InvalidInputError

DELIMITERS = (",", "\t", ";", "|")
# A workbook is a zip: its size on upload says little about its size unpacked. These
# bound what openpyxl may unpack (zipfile never yields more than an entry declares).
MAX_UNZIPPED = 256 * 1024 * 1024
MAX_SHARED_STRINGS = 32 * 1024 * 1024  # openpyxl keeps all shared text in memory
MAX_ZIP_ENTRIES = 10_000
# Excel holds at most 32,767 characters in a cell (<= 131,068 bytes of UTF-8); a longer
# run of text in the XML is a bomb, refused before any XML parser builds it in memory.
MAX_TEXT_RUN = 256 * 1024
_LONG_TEXT = re.compile(rb"[^<]{%d}" % (MAX_TEXT_RUN + 1))
_SCAN_CHUNK = 4 * 1024 * 1024
SNIFF_CHARS = 64 * 1024
SNIFFER_CHARS = 16 * 1024
SIGNATURES = (
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


def too_big(source: str, size: int, limit: int) -> InvalidInputError:
    return InvalidInputError(f"{source}: the file is {mb(size)}, over the {mb(limit)} size limit")


def mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size:,} bytes"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def decode(data: bytes, source: str) -> tuple[str, str]:
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
            return check_text(text, source), encoding
    if b"\x00" in data:
        encoding_guess = bomless_utf16(data)
        if encoding_guess is not None:
            try:
                return check_text(data.decode(encoding_guess), source), encoding_guess
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
    sample = text[:SNIFF_CHARS]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > max(8, len(sample) // 20):
        raise InvalidInputError(f"{source}: this looks like a binary file, not text")
    return text, "cp1252"


def bomless_utf16(data: bytes) -> str | None:
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


def check_text(text: str, source: str) -> str:
    if "\x00" in text:
        raise InvalidInputError(f"{source}: this is a binary file (it contains NUL characters)")
    return text


def detect_delimiter(text: str, filename: str) -> str | None:
    """Pick the delimiter that splits the sample rows most consistently.

    A candidate is consistent when it gives the same field count (>1) on >= 80% of
    the sample rows (quote-aware). csv.Sniffer, which reads quoting patterns, chooses
    among consistent candidates; it is never trusted alone because it guesses wildly
    on single-column files. Failing that, a candidate splitting most rows wins.
    None means a single column (one ID per line).
    """
    truncated = len(text) > SNIFF_CHARS
    sample = text[:SNIFF_CHARS]
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
            sniffed = csv.Sniffer().sniff(sample[:SNIFFER_CHARS], delimiters="".join(DELIMITERS))
            if sniffed.delimiter in consistent:
                return sniffed.delimiter
        except csv.Error:
            pass
        return max(consistent, key=lambda d: (stats[d][0], -DELIMITERS.index(d)))
    loose = [d for d, (_, _, split) in stats.items() if split >= 0.5]
    if loose:
        return max(loose, key=lambda d: (stats[d][2], -DELIMITERS.index(d)))
    return None


def unused_char(text: str) -> str:
    """A delimiter that never occurs, so each line is one cell (quotes still honoured)."""
    for ch in "\x1f\x1e\x1d\x1c\x01\x02\x03":
        if ch not in text:
            return ch
    return ","


def csv_rows(reader: Iterator[list[str]], source: str) -> Iterator[list[str]]:
    row = 0
    try:
        for cells in reader:
            row += 1
            yield cells
    except csv.Error as exc:
        raise InvalidInputError(
            f"{source}: cannot read row {row + 1} as CSV ({exc}); is a quote left open?"
        ) from exc


def xlsx_rows(worksheet: Any, label: str) -> Iterator[list[str]]:
    try:
        for values in worksheet.iter_rows(values_only=True):
            yield [cell_text(v) for v in values]
    except InvalidInputError:
        raise
    except Exception as exc:  # corrupt sheet XML and the like
        raise InvalidInputError(f"{label}: the sheet cannot be read ({exc})") from exc


def cell_text(value: object) -> str:
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


def check_workbook(data: bytes, source: str, max_unzipped: int = MAX_UNZIPPED) -> None:
    """Refuse a workbook whose entries unpack beyond the limits, before reading it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InvalidInputError(
            f"{source}: this is a zip archive but not a readable .xlsx workbook ({exc})"
        ) from exc
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InvalidInputError(
            f"{source}: the workbook holds {len(entries):,} parts, over the "
            f"{MAX_ZIP_ENTRIES:,} limit"
        )
    total = sum(e.file_size for e in entries)
    if total > max_unzipped:
        raise InvalidInputError(
            f"{source}: the workbook unpacks to {mb(total)}, over the {mb(max_unzipped)} "
            "limit for workbooks; save it as CSV"
        )
    shared = sum(e.file_size for e in entries if e.filename.lower().endswith("sharedstrings.xml"))
    if shared > MAX_SHARED_STRINGS:
        raise InvalidInputError(
            f"{source}: the workbook's text cells unpack to {mb(shared)}, over the "
            f"{mb(MAX_SHARED_STRINGS)} limit; save it as CSV"
        )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in entries:
            if entry.filename.lower().endswith(".xml") and _has_long_text(archive, entry):
                raise InvalidInputError(
                    f"{source}: a cell holds more than {mb(MAX_TEXT_RUN)} of text "
                    "(Excel's own limit is 32,767 characters)"
                )


def _has_long_text(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bool:
    """Whether the XML has a run of text longer than MAX_TEXT_RUN, read in chunks."""
    if entry.file_size <= MAX_TEXT_RUN:
        return False
    tail = b""
    try:
        with archive.open(entry) as fh:
            while chunk := fh.read(_SCAN_CHUNK):
                window = tail + chunk
                if _LONG_TEXT.search(window):
                    return True
                cut = window.rfind(b"<")  # carry the open run into the next chunk
                tail = window[cut:] if cut >= 0 else window[-(MAX_TEXT_RUN + 1) :]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False  # openpyxl reports the broken archive itself
    return False

"""Rows of cells to a ParsedInput (header detection, validation, duplicates, row limits)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

from doku.engine.headers import ID_COLUMN_NAMES as ID_COLUMN_NAMES
from doku.engine.headers import AmbiguousColumnError as AmbiguousColumnError
from doku.engine.headers import (
    find_id_column,
    known_id_column,
    looks_like_header,
    match_column,
    unique_names,
)
from doku.engine.headers import normalize_column_name as normalize_column_name
from doku.errors import InvalidInputError
from doku.models import MAX_CUSTOMER_ID, customer_id_problem

DUPLICATE_SAMPLE = 20
DISPLAY_LIMIT = 80
LEADING_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_HEADER_PROBE_ROWS = 20
_PEEK_ROWS = 1_000  # rows kept while looking for those (blank ones are cheap to skip)
# Rows read from one file, blank ones included (MAX_ROWS in inputs counts only IDs).
MAX_LINES = 2_000_000


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
    # Valid IDs that hold a separator or a space: audited as given, but likely two IDs
    # in one cell (or a paste gone wrong), so the caller shows them.
    flagged: list[Rejected] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "total_rows": self.total_rows,
            "ids": len(self.ids),
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "blank_rows": self.blank_rows,
            "attribute_columns": len(self.attribute_columns),
            "flagged": len(self.flagged),
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


_SEPARATOR = re.compile(r"[,;\t|\s]")


def _flag_reason(value: str) -> str:
    found = [name for char, name in ((",", "a comma"), (";", "a semicolon"), ("|", "a bar"),
                                     ("\t", "a tab")) if char in value]
    if any(c.isspace() and c != "\t" for c in value):
        found.append("a space")
    return f"contains {' and '.join(found)}: two IDs in one cell?"


class Accumulator:
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
        self.flagged: list[Rejected] = []

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
        if _SEPARATOR.search(value):
            self.flagged.append(Rejected(row, display_value(value), _flag_reason(value)))
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
            flagged=self.flagged,
        )


def _is_blank(cells: list[str]) -> bool:
    # One C-level join instead of a generator per row: blank rows can be millions.
    return not "".join(cells).strip()


def build_parsed(
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
    max_lines: int = MAX_LINES,
) -> ParsedInput:
    label = label or source
    acc = Accumulator(source, max_rows, "more than {limit:,} rows (the row limit)")
    head, first_index = _peek(rows, label, max_lines)
    first = [c.strip() for c in head[0]]
    below = [r for r in head[1:] if not _is_blank(r)]

    has_header = (
        known_id_column(first) is not None
        or (column is not None and match_column(first, column) is not None)
        or looks_like_header(first, below)
    )
    if has_header:
        columns = unique_names(first)
        data_start = 1
    else:
        columns = [f"column_{i}" for i in range(1, len(first) + 1)]
        data_start = 0
    acc.blank_rows = first_index  # blank rows above the first non-blank one
    id_index = find_id_column(columns, has_header=has_header, column=column, label=label)
    table = _Attributes(columns, id_index)

    numbered = enumerate(chain(head[data_start:], rows), first_index + data_start + 1)
    for row_number, cells in numbered:
        if row_number > max_lines:  # blank rows count: a sheet of blanks is no free ride
            raise too_many_lines(label, max_lines)
        value = cells[id_index].strip() if id_index < len(cells) else ""
        if not value and _is_blank(cells):
            acc.pending_blank += 1
            continue
        acc.flush_blanks()
        if acc.add(row_number, value):
            table.add(cells, earlier_rows=len(acc.ids) - 1)

    if acc.data_rows == 0:
        raise InvalidInputError(f"{label}: the file has a header row but no customer IDs")
    return acc.result(
        attributes=table.values,
        id_column=columns[id_index],
        columns=table.columns,
        has_header=has_header,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        sheets=sheets,
    )


def _peek(rows: Iterator[list[str]], label: str, max_lines: int) -> tuple[list[list[str]], int]:
    """The first non-blank row and a few rows below it (consumed from `rows`), and how
    many blank rows came before it (counted, not kept: a file may start with millions)."""
    head: list[list[str]] = []
    leading = 0
    probe = 0
    for cells in rows:
        if not head and leading == 0 and cells:  # the very first row: BOM, zero-width
            cells = [cells[0].lstrip(LEADING_INVISIBLE), *cells[1:]]
        if not head:
            if _is_blank(cells):
                leading += 1
                if leading >= max_lines:
                    raise too_many_lines(label, max_lines)
                continue
            head.append(cells)
            continue
        head.append(cells)
        if not _is_blank(cells):
            probe += 1
        if probe >= _HEADER_PROBE_ROWS or len(head) > _PEEK_ROWS:
            break
    if not head:
        raise InvalidInputError(f"{label}: the file is empty (no customer IDs)")
    return head, leading


def too_many_lines(label: str, max_lines: int) -> InvalidInputError:
    return InvalidInputError(
        f"{label}: more than {max_lines:,} rows counting blank ones (the limit); "
        "remove the empty rows or split the file"
    )


class _Attributes:
    """The non-ID columns, one list per column, parallel to the accepted IDs."""

    def __init__(self, columns: list[str], id_index: int) -> None:
        self.columns = columns
        self.index = [i for i in range(len(columns)) if i != id_index]
        self.values: dict[str, list[str]] = {columns[i]: [] for i in self.index}
        self.lists = list(self.values.values())
        self.width = len(columns)

    def add(self, cells: list[str], *, earlier_rows: int) -> None:
        n = len(cells)
        if n < self.width:
            for values, i in zip(self.lists, self.index, strict=True):
                values.append(cells[i].strip() if i < n else "")
            return
        for values, i in zip(self.lists, self.index, strict=True):
            values.append(cells[i].strip())
        if n > self.width and not _is_blank(cells[self.width :]):
            self._widen(cells, earlier_rows)

    def _widen(self, cells: list[str], earlier_rows: int) -> None:
        """A row wider than the header: new columns, empty for the earlier rows."""
        width, n = self.width, len(cells)
        extra = unique_names([*self.columns, *([""] * (n - width))])[width:]
        for i, name in enumerate(extra, width):
            self.columns.append(name)
            filler = [""] * earlier_rows
            filler.append(cells[i].strip())
            self.values[name] = filler
            self.lists.append(filler)
            self.index.append(i)
        self.width = n

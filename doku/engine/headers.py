"""Which row is a header and which column holds the IDs (the header rules of `inputs`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from doku.errors import InvalidInputError

# Normalised (see `normalize_column_name`) names of an ID column, best first:
# customer_id, customer.id, Customer ID, customerid -> "customerid"; cust_id; id; customer.
ID_COLUMN_NAMES = ("customerid", "custid", "id", "customer")
_NAME_NOISE = re.compile(r"[\s_.\-]+")
_DIGIT = re.compile(r"\d")


class AmbiguousColumnError(InvalidInputError):
    """The header has several columns and none is named like a customer ID."""

    def __init__(self, message: str, *, columns: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.columns = columns


def normalize_column_name(name: str) -> str:
    """Case-, space-, underscore-, dot- and hyphen-insensitive form of a column name."""
    return _NAME_NOISE.sub("", name.casefold())


def unique_names(cells: Iterable[str]) -> list[str]:
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


def known_id_column(names: list[str]) -> int | None:
    best: tuple[int, int] | None = None
    for i, name in enumerate(names):
        norm = normalize_column_name(name)
        if norm in ID_COLUMN_NAMES:
            rank = (ID_COLUMN_NAMES.index(norm), i)
            best = rank if best is None or rank < best else best
    return None if best is None else best[1]


def match_column(names: list[str], wanted: str) -> int | None:
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


def looks_like_header(first: list[str], below: list[list[str]]) -> bool:
    """Rule (c): names without digits above rows that all contain a digit."""
    cells = [c.strip() for c in first if c.strip()]
    if not cells or not below:
        return False
    if any(_DIGIT.search(c) or not any(ch.isalpha() for ch in c) for c in cells):
        return False
    return all(any(_DIGIT.search(c) for c in row) for row in below)


def find_id_column(columns: list[str], *, has_header: bool, column: str | None, label: str) -> int:
    """Which column holds the IDs: the one asked for, a known ID name, or the first."""
    if column is not None:
        found = match_column(columns, column)
        if found is None:
            where = "" if has_header else " (the file has no header row)"
            raise InvalidInputError(
                f"{label}: no column named {column!r}{where}; columns: {', '.join(columns)}"
            )
        return found
    if not has_header:
        return 0
    known = known_id_column(columns)
    if known is None and len(columns) > 1:
        raise AmbiguousColumnError(
            f"{label}: none of the columns is named like a customer ID "
            f"({', '.join(columns)}); choose the ID column",
            columns=columns,
        )
    return known or 0

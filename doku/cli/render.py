"""Everything a `doku` command prints goes through here: lines, notes, errors, JSON, tables.

Text from the server or the user (customer names and IDs, issuers, input file names,
attribute values, error messages) may hold control characters; an ANSI escape in a
customer name would otherwise recolour or rewrite the analyst's terminal. So every
line written is made `printable`: "\\x1b[31m" is shown as the six visible characters
`\\x1b[31m`, a newline inside a value as `\\n` (an error stays one line). JSON stays
valid and parses to the same values: such characters are written as JSON's own \\u
escapes (ESC as \\u001b).

Standard library only: `doku --help` and `doku tokens` import this module and must
never import pandas.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import Any

NONE = "-"  # how a missing value (None) is shown in a table

# json.dumps(ensure_ascii=False) escapes U+0000..U+001F itself; anything else outside
# printable ASCII is checked one character at a time (and kept when printable).
_NOT_PLAIN_ASCII = re.compile(r"[^\n\x20-\x7e]")


def printable(value: object) -> str:
    """`value` as text safe for a terminal: every non-printable character (C0/C1
    controls, DEL, bidi overrides, line separators, ...) shown as its escape."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cell(value: object) -> str:
    """One table cell: None as '-', anything else `printable`."""
    return NONE if value is None else printable(value)


def pct(value: float | None) -> str:
    """A share as a percentage ('n/a' when there is none: None or NaN)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.1%}"


def pp(value: float | None) -> str:
    """A change of shares in percentage points ('n/a' when None or NaN)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * 100:+.1f} pp"


def format_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Collection[str] = (),
    indent: str = "",
) -> list[str]:
    """Aligned columns, two spaces apart: the header line, then one line per row.
    Columns named in `right` are right-aligned (numbers), the others left-aligned."""
    head = [printable(h) for h in header]
    body = [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = []
    for row in [head, *body]:
        parts = [
            text.rjust(width) if name in right else text.ljust(width)
            for name, text, width in zip(header, row, widths, strict=True)
        ]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text (non-ASCII letters kept) with no character a terminal would act on.

    Outside strings json.dumps writes only printable ASCII and newlines, so every
    escape made here lands inside a string and `json.loads` gives back `data`."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _NOT_PLAIN_ASCII.sub(_json_escape, text)


def emit(text: str = "", *, flush: bool = False) -> None:
    """Print `text` on stdout, each of its lines made `printable`."""
    print("\n".join(printable(line) for line in text.split("\n")), flush=flush)


def emit_lines(lines: Iterable[str]) -> None:
    emit("\n".join(lines))


def emit_json(data: Any, *, indent: int | None = 2) -> None:
    """`data` as JSON on stdout (one line when indent is None)."""
    print(to_json(data, indent=indent))


def to_stderr(text: str) -> None:
    """One line on stderr, `printable` (newlines inside it escaped)."""
    print(printable(text), file=sys.stderr)


def note(message: str) -> None:
    """`note: ...` on stderr: information beside a successful result."""
    to_stderr(f"note: {message}")


def error(message: str) -> None:
    """`error: ...`: the one stderr line of a failed command."""
    to_stderr(f"error: {message}")


def status(text: str) -> None:
    """Rewrite the current stderr line (a progress bar on a terminal)."""
    print(f"\r{printable(text)}", end="", file=sys.stderr, flush=True)


def end_status() -> None:
    print(file=sys.stderr)

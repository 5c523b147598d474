"""The Bulk audit page's customer input, as a plain object kept in the session.

The analyst gives customers one of three ways - pasted text, an uploaded file or
the sample file - and the last one given wins. A file may also need a sheet (xlsx)
and an ID column (a header where no column is named like a customer ID). The input
is parsed once, when the page asks for it (`parse`), not in widget callbacks, and a
new source, sheet or column parses again. No Streamlit: the page's callbacks call
these methods and copy `parse`'s widget values into the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from doku.engine.inputs import (
    MAX_BYTES,
    PASTED,
    AmbiguousColumnError,
    ParsedInput,
    parse_file,
    parse_text,
)
from doku.errors import InvalidInputError

Kind = Literal["paste", "file", "sample"]
MIB = 1024 * 1024
# The largest upload, in MB: the parser's limit. `.streamlit/config.toml` sets the
# server's `server.maxUploadSize` to the same number and the uploader widget shows it.
UPLOAD_LIMIT_MB = MAX_BYTES // MIB


def too_big_message(name: str, size: int) -> str:
    """Why an upload over the limit is refused, naming the limit (plain text)."""
    return (
        f"{name} is {size / MIB:,.1f} MB, over the {UPLOAD_LIMIT_MB} MB upload limit: "
        "split the file, or keep only the customer ID column"
    )


@dataclass(frozen=True)
class Source:
    """What the analyst gave: pasted text, or a file's name and bytes."""

    kind: Kind
    name: str
    content: str | bytes


class BulkInput:
    """The current input, its chosen sheet and ID column, and its parse (or error)."""

    def __init__(self) -> None:
        self.source: Source | None = None
        self.sheet: str | None = None
        self.column: str | None = None
        self.parsed: ParsedInput | None = None
        self.error: str | None = None
        # Columns to choose the ID column from when the header named none.
        self.ambiguous_columns: list[str] | None = None

    # -- what the analyst did ----------------------------------------------------------
    def paste(self, text: str) -> None:
        """The paste box changed: blank text drops a pasted input, never a file."""
        if text.strip():
            self._use(Source("paste", PASTED, text))
        elif self.kind == "paste":
            self._use(None)

    def upload(self, name: str | None, data: bytes | None) -> None:
        """The file uploader changed: None is the file being removed. A file over
        MAX_BYTES is refused here, whatever the browser and server let through, and its
        bytes are not kept."""
        if name is not None and data is not None:
            if len(data) > MAX_BYTES:
                self._use(Source("file", name, b""))
                self.error = too_big_message(name, len(data))
                return
            self._use(Source("file", name, data))
        elif self.kind == "file":
            self._use(None)

    def use_sample(self, path: Path) -> None:
        self._use(Source("sample", path.name, path.read_bytes()))

    def choose_sheet(self, sheet: str | None) -> None:
        """Another sheet: its columns differ, so the ID column is found again."""
        if self.source is not None:
            self.sheet, self.column = sheet, None
            self._stale()

    def choose_column(self, column: str | None) -> None:
        if self.source is not None:
            self.column = column
            self._stale()

    # -- parsing -------------------------------------------------------------------------
    @property
    def kind(self) -> Kind | None:
        return None if self.source is None else self.source.kind

    @property
    def needs_parse(self) -> bool:
        return self.source is not None and self.parsed is None and self.error is None

    def parse(self) -> dict[str, str | None]:
        """Parse the input if it changed since the last parse. Returns what the sheet and
        column pickers should now show ({"sheet": ..., "column": ...}, only those that
        changed; {} when nothing was parsed)."""
        source = self.source
        if source is None or not self.needs_parse:
            return {}
        try:
            if isinstance(source.content, str):
                parsed = parse_text(source.content)
            else:
                parsed = parse_file(
                    source.content, source.name, column=self.column, sheet=self.sheet
                )
        except AmbiguousColumnError as exc:
            self.error, self.ambiguous_columns = exc.message, exc.columns
            return {"column": None}
        except InvalidInputError as exc:
            self.error, self.ambiguous_columns = exc.message, None
            return {}
        self.parsed, self.error, self.ambiguous_columns = parsed, None, None
        shown: dict[str, str | None] = {}
        if parsed.has_header and len(parsed.columns) > 1:
            shown["column"] = parsed.id_column
        if len(parsed.sheets) > 1:
            shown["sheet"] = parsed.sheet
        return shown

    # -- what the page shows ---------------------------------------------------------------
    @property
    def sheet_options(self) -> list[str]:
        """Sheets to pick from (only when there are several)."""
        sheets = self.parsed.sheets if self.parsed is not None else []
        return sheets if len(sheets) > 1 else []

    @property
    def column_options(self) -> list[str]:
        """Columns to pick the ID column from: all header columns of a file with
        several, or those of an ambiguous header; [] when there is nothing to pick."""
        if self.ambiguous_columns:
            return self.ambiguous_columns
        parsed = self.parsed
        if parsed is not None and parsed.has_header and len(parsed.columns) > 1:
            return parsed.columns
        return []

    # -- internals ---------------------------------------------------------------------------
    def _use(self, source: Source | None) -> None:
        self.source, self.sheet, self.column = source, None, None
        self.ambiguous_columns = None
        self._stale()

    def _stale(self) -> None:
        self.parsed, self.error = None, None

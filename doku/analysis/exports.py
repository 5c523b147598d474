"""Export tables of a run as CSV, XLSX or Parquet bytes (CLI `export` and download buttons).

Safety rules, applied in one place so the CLI and the dashboard cannot drift apart:
- Token IDs are payment credentials: an export has a `token_id` column only when the
  run stored raw IDs, and it is masked (first/last 4 characters) unless the caller
  passes reveal=True. Secrets, client IDs and run options are never exported.
- Spreadsheet formula injection: in CSV and XLSX every text cell starting with
  = + - @ TAB or CR gets a leading apostrophe, so Excel/Sheets/LibreOffice show it as
  text instead of evaluating it. Header cells too: attribute column names come from
  the analyst's file. Parquet keeps raw values: it is a typed
  machine-to-machine format that no spreadsheet evaluates on open, and rewriting
  values there would corrupt customer IDs such as "+62811...".
- XLSX only: control characters Excel cannot store are replaced by U+FFFD, and a
  table longer than an Excel sheet (1,048,575 data rows) is refused (use CSV/Parquet).
- CSV is RFC 4180: UTF-8 without BOM, comma-separated, CRLF rows (so a CR or LF inside
  a value is always quoted), missing values as empty fields.
- XLSX cells are written with LF line breaks (see `_xlsx_clean`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd

from doku.analysis.frames import STR_DTYPE, RunFrames
from doku.analysis.labels import run_label
from doku.errors import InvalidInputError
from doku.masking import mask_token_id

EXPORT_KINDS = ("tokens", "customers", "errors")
FORMATS = ("csv", "xlsx", "parquet")
MIME_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_575  # 1,048,576 sheet rows minus the header
# openpyxl writes ~100k cells/s: beyond this an XLSX export would take minutes and
# gigabytes (10,000 attribute columns, say); CSV and Parquet have no such cost.
XLSX_MAX_CELLS = 5_000_000
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [
        c
        for c in df.columns
        if isinstance(df[c].dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(df[c].dtype)
    ]


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy in which text cells and column names starting with = + - @ TAB or CR
    begin with "'" (names stay unique: a clash gets a numeric suffix)."""
    out = df.copy()
    out.columns = _unique([_neutralise(str(c)) for c in out.columns])
    for col in _text_columns(out):
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = series.cat.categories
            fixed = [_neutralise(str(c)) for c in cats]
            if fixed == [str(c) for c in cats]:
                continue
            if len(set(fixed)) == len(fixed):
                out[col] = series.cat.rename_categories(fixed)
            else:  # "'=x" already existed beside "=x": merge by rebuilding
                values = [None if pd.isna(v) else _neutralise(str(v)) for v in series]
                out[col] = pd.Series(pd.Categorical(values), index=series.index)
        else:
            text = series.astype(STR_DTYPE)
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def _unique(names: list[str]) -> list[str]:
    """Names made unique by a numeric suffix, in order (a rewrite can make two equal)."""
    taken: set[str] = set()
    out = []
    for name in names:
        safe = candidate = name
        n = 2
        while candidate in taken:
            candidate = f"{safe}_{n}"
            n += 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def export_frame(frames: RunFrames, what: str, *, reveal: bool = False) -> pd.DataFrame:
    """The table an export writes (before format-specific escaping).

    tokens: one row per token; customers: one row per valid input customer (status
    fetched | failed | pending while the run is unfinished); errors: failed customers.
    """
    if what == "tokens":
        df = frames.tokens.copy()
        if "token_id" in df.columns:
            if not (reveal and frames.run.store_token_ids):
                df["token_id"] = mask_ids(df["token_id"])
            # keep token_id beside fingerprint, before the attribute columns
            cols = [c for c in df.columns if c != "token_id"]
            cols.insert(cols.index("fingerprint") + 1, "token_id")
            df = df[cols]
        return df
    if what == "customers":
        return frames.customers.copy()
    if what == "errors":
        return frames.errors.copy()
    raise InvalidInputError(f"export must be one of {', '.join(EXPORT_KINDS)}, not {what!r}")


def mask_ids(ids: pd.Series) -> pd.Series:
    """Masked token IDs (see doku.models.mask_token_id); missing stays missing."""
    masked = [None if pd.isna(v) else mask_token_id(str(v)) for v in ids.astype(object)]
    return pd.Series(masked, index=ids.index, dtype=STR_DTYPE)


def frame_to_bytes(
    df: pd.DataFrame,
    fmt: str,
    *,
    sheet_name: str = "data",
    reveal_token_ids: bool = False,
    about: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Serialise any table (e.g. a single lookup's tokens frame), applying the format's
    safety rules (module docstring). A `token_id` column is masked unless
    reveal_token_ids=True (masking is idempotent, so masked input stays as it is)."""
    if "token_id" in df.columns and not reveal_token_ids:
        df = df.assign(token_id=mask_ids(df["token_id"]))
    if fmt == "csv":
        return neutralise_formulas(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    if fmt == "xlsx":
        if len(df) > XLSX_MAX_ROWS:
            raise InvalidInputError(
                f"{len(df):,} rows do not fit in one Excel sheet "
                f"({XLSX_MAX_ROWS:,} max): export as csv or parquet"
            )
        cells = len(df) * max(1, len(df.columns))
        if cells > XLSX_MAX_CELLS:
            raise InvalidInputError(
                f"{cells:,} cells ({len(df):,} rows x {len(df.columns):,} columns) are over "
                f"the {XLSX_MAX_CELLS:,}-cell limit for XLSX exports: export as csv or parquet"
            )
        safe = _xlsx_clean(neutralise_formulas(df))
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as writer:
            safe.to_excel(writer, index=False, sheet_name=sheet_name[:31])
            if about:  # what the workbook holds, for whoever opens it later
                notes = pd.DataFrame(list(about), columns=["", "about this export"],
                                     dtype=object)
                _xlsx_clean(neutralise_formulas(notes)).to_excel(
                    writer, index=False, sheet_name="About")
        return buf.getvalue()
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False, engine="pyarrow")
        return buf.getvalue()
    raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _xlsx_clean(df: pd.DataFrame) -> pd.DataFrame:
    """Text as plain str cells (openpyxl writes a str starting with '=' as a formula:
    neutralise first) with characters Excel rejects replaced by U+FFFD.

    Line breaks are written as LF. XML readers normalise a raw CR to LF, but whether a
    CR survives depends on which parser reads the file (openpyxl keeps it under lxml),
    so the file itself says LF and every reader agrees.
    """
    out = df.copy()
    out.columns = _unique([_xlsx_text(str(c)) for c in out.columns])
    for col in _text_columns(out):
        values = out[col].astype(object)
        out[col] = [None if pd.isna(v) else _xlsx_text(str(v)) for v in values]
    return out


def _xlsx_text(value: str) -> str:
    return _XLSX_ILLEGAL.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))


def export_bytes(
    frames: RunFrames,
    what: str,
    fmt: str,
    *,
    reveal: bool = False,
    generated_at: str | None = None,
) -> bytes:
    """One export as bytes: `what` in EXPORT_KINDS, `fmt` in FORMATS. Token IDs are
    revealed only if the run stored raw IDs and reveal=True."""
    table = export_frame(frames, what, reveal=reveal)
    revealed = reveal and frames.run.store_token_ids
    return frame_to_bytes(table, fmt, sheet_name=what, reveal_token_ids=revealed,
                          about=about_rows(frames, what, generated_at=generated_at))


def about_rows(
    frames: RunFrames, what: str, *, generated_at: str | None = None
) -> list[tuple[str, str]]:
    """The "About" sheet of an XLSX export: run, filters, when, and definitions."""
    run = frames.run
    filters = frames.filters.describe() if frames.filters is not None else ""
    stamp = generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [
        ("run", run_label(run)),
        ("table", what),
        ("filters", filters or "none (the whole run)"),
        ("generated at", stamp.replace("+00:00", "Z")),
        ("environment", run.env),
        ("status", run.status),
        ("uptake", "customers holding at least one (matching) token / fetched customers; "
                   "failed and pending customers are not in the denominator"),
        ("token IDs", "masked (first and last 4 characters) unless revealed by a run "
                      "that stored them; fingerprint = SHA-256 of the token ID"),
        ("formulas", "text starting with = + - @ TAB or CR has a leading apostrophe"),
    ]


def file_name(frames: RunFrames, what: str, fmt: str) -> str:
    """A download file name carrying the run and its filters, e.g.
    `doku-run-12-tokens.csv` or `doku-run-12-tokens-issuer-BCA-type-CREDIT_CARD.csv`."""
    stem = f"doku-run-{frames.run.id}-{what}"
    if frames.filters is not None and frames.filters.active:
        stem += "-" + _slug(frames.filters.describe())
    return f"{stem}.{fmt}"


def _slug(text: str, limit: int = 80) -> str:
    """Filters as a file-name-safe slug (letters, digits, - and _), bounded."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")
    return slug[:limit].rstrip("-") or "filtered"

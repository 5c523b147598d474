"""Pure presentation helpers: numbers, shares, durations, times and labels as every
page shows them, status badges, and the pages' paths and links. No Streamlit."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from doku.analysis.labels import share
from doku.engine.schema import RunInfo

APP_TITLE = "DOKU token audit"
ALL_TYPES = "All types"
TYPE_NAMES = {"DIRECT_DEBIT": "Direct debit", "CREDIT_CARD": "Credit card"}

# -- pages ---------------------------------------------------------------------------------
HOME = "dashboard.py"
LOOKUP = "pages/1_Customer_lookup.py"
BULK = "pages/2_Bulk_audit.py"
INSIGHTS = "pages/3_Insights.py"
RUNS = "pages/4_Runs.py"
PAGE_LINKS = (
    (LOOKUP, "Customer lookup", ":material/person_search:",
     "One customer's stored tokens, straight from DOKU."),
    (BULK, "Bulk audit", ":material/playlist_add_check:",
     "Paste IDs or upload a CSV/XLSX and fetch every customer's tokens in the background."),
    (INSIGHTS, "Insights", ":material/insights:",
     "Uptake, issuers, brands and segments of a run, with filters and downloads."),
    (RUNS, "Runs", ":material/history:",
     "Every audit run: resume or retry one, or compare two."),
)
ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILE = ROOT / "samples" / "customers.csv"

# Run status -> (label, colour, icon) of its badge.
STATUS_BADGE: dict[str, tuple[str, str, str | None]] = {
    "done": ("Done", "green", ":material/check_circle:"),
    "running": ("Running", "blue", ":material/sync:"),
    "cancelled": ("Cancelled", "orange", ":material/cancel:"),
    "interrupted": ("Interrupted", "orange", ":material/pause_circle:"),
    "aborted": ("Stopped", "red", ":material/error:"),
}
# Runs that stopped before every customer had a result: Resume fetches the rest.
RESUMABLE = ("interrupted", "cancelled", "aborted")


def badge(status: str) -> tuple[str, str, str | None]:
    """(label, colour, icon) of a run status; unknown states are a grey badge."""
    return STATUS_BADGE.get(status, (status, "gray", None))


# -- numbers -------------------------------------------------------------------------------
def fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{int(n):,}"


def fmt_share(value: float | None, digits: int = 1) -> str:
    """A share as a percentage; None or NaN (nothing to divide by) is "-"."""
    return "-" if value is None or math.isnan(value) else f"{value * 100:.{digits}f} %"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_time(iso: str | None) -> str:
    """Stored UTC ISO time as 'YYYY-MM-DD HH:MM UTC'."""
    if not iso:
        return "-"
    return iso.replace("T", " ")[:16] + " UTC"


def plural(n: int, word: str) -> str:
    """'1 token', '3 tokens'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# -- runs ------------------------------------------------------------------------------------
def run_label(run: RunInfo) -> str:
    return (
        f"#{run.id} · {fmt_time(run.created_at)} · {run.input_name} · "
        f"{run.customers:,} customers · {run.status}"
    )


def uptake_of(run: RunInfo) -> float | None:
    """Share of fetched customers holding >= 1 token (doku.analysis.aggregates' rule)."""
    return share(run.with_tokens, run.fetched)


def history_frame(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run for the Runs page's history table (uptake in percent)."""
    return pd.DataFrame(
        {
            "run": [r.id for r in runs],
            "created": [fmt_time(r.created_at) for r in runs],
            "input": [r.input_name for r in runs],
            "status": [r.status for r in runs],
            "customers": [r.customers for r in runs],
            "fetched": [r.fetched for r in runs],
            "failed": [r.failed for r in runs],
            "pending": [r.pending for r in runs],
            "uptake": [None if (u := uptake_of(r)) is None else u * 100 for r in runs],
            "tokens": [r.tokens for r in runs],
            "rejected": [r.rejected for r in runs],
            "duplicates": [r.duplicates for r in runs],
            "type": [r.token_type or "all" for r in runs],
            "env": [r.env for r in runs],
        }
    )


def run_from_query(wanted: str | None, run_ids: list[int], default: int) -> int:
    """The run a link asked for (`?run=12`) when it exists, else `default`."""
    if wanted and wanted.isdigit() and int(wanted) in run_ids:
        return int(wanted)
    return default

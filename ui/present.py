"""Pure presentation helpers: untrusted text made inert for Markdown (`escape_md`),
numbers, shares, durations, times and labels as every page shows them, status badges,
and the pages' paths and links. No Streamlit."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from doku import access
from doku.analysis.labels import run_label as library_run_label
from doku.analysis.labels import scope_label, share, type_label
from doku.engine.schema import RunInfo

APP_TITLE = "DOKU token audit"
ALL_TYPES = "All types"
NOT_REQUESTED = "not requested"  # a token type outside a run's scope: not 0
RUN_LABEL_CHARS = 160

# -- pages ---------------------------------------------------------------------------------
HOME = "dashboard.py"
LOOKUP = "pages/1_Customer_lookup.py"
BULK = "pages/2_Bulk_audit.py"
INSIGHTS = "pages/3_Insights.py"
RUNS = "pages/4_Runs.py"
SAVED = "pages/5_Saved_audits.py"
TRAIL = "pages/6_Audit_trail.py"
PAGE_LINKS = (
    (LOOKUP, "Customer lookup", ":material/person_search:",
     "One customer's stored tokens, straight from DOKU."),
    (BULK, "Bulk audit", ":material/playlist_add_check:",
     "Paste IDs or upload a CSV/XLSX and fetch every customer's tokens in the background."),
    (INSIGHTS, "Insights", ":material/insights:",
     "Uptake, issuers, brands and segments of a run, with filters and downloads."),
    (RUNS, "Runs", ":material/history:",
     "Every audit run: resume or retry one, or compare two."),
    (SAVED, "Saved audits", ":material/bookmarks:",
     "Customer lists kept to audit again, now or on a schedule."),
    (TRAIL, "Audit trail", ":material/policy:",
     "Who signed in, looked up, audited, revealed, downloaded or deleted what, and when."),
)
# What a role must include to open each page (doku.access action names): the sidebar
# and Home offer only these, and each page refuses the others itself.
PAGE_NEEDS = {
    HOME: access.VIEW, LOOKUP: access.LOOKUP, BULK: access.AUDIT, INSIGHTS: access.VIEW,
    RUNS: access.VIEW, SAVED: access.SAVED, TRAIL: access.READ_TRAIL,
}


def pages_for(actor: access.Actor) -> list[tuple[str, str, str, str]]:
    """The PAGE_LINKS entries the actor's role includes, in order."""
    return [link for link in PAGE_LINKS if actor.allowed(PAGE_NEEDS[link[0]])]


ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILE = ROOT / "samples" / "customers.csv"

# Run status -> (label, colour, icon) of its badge.
STATUS_BADGE: dict[str, tuple[str, str, str | None]] = {
    "done": ("Done", "green", ":material/check_circle:"),
    "queued": ("Queued", "gray", ":material/schedule:"),
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


def run_badge(run: RunInfo) -> tuple[str, str, str | None]:
    """The badge of a run: a finished run with failures is not plain green "Done"."""
    if run.status == "done" and run.failed > 0:
        return (f"Done, {run.failed:,} failed", "orange", ":material/error:")
    return badge(run.status)


def badge_label(status: str) -> str:
    """The Markdown label of a status badge. st.badge escapes square brackets itself,
    so an unknown status is `escape_md`'d with its brackets left to st.badge."""
    if status in STATUS_BADGE:
        return STATUS_BADGE[status][0]
    return escape_md(status, 40).replace("\\[", "[").replace("\\]", "]")


# -- untrusted text in Markdown ----------------------------------------------------------
# Streamlit renders Markdown (with its own extensions) in st.markdown / caption / info /
# warning / error / success / toast, st.table cells, titles and headers, widget labels,
# tab and expander titles, metric labels and values, progress and spinner texts, and
# help tooltips. A customer ID, a name or an error message from DOKU, a file name, a
# column name or a cell value must reach those only through `escape_md`. Widgets that
# never interpret Markdown (st.dataframe cells and headers, st.text, st.code, selectbox
# and multiselect options and their format_func, placeholders, chart text, alt texts)
# take the raw value: an escape there would show its backslashes.
DISPLAY_CHARS = 200  # longer values are cut for display; downloads keep them whole
ERROR_CHARS = 600  # an error's message (DOKU's own is already cut to 300 by the client)
ELLIPSIS = "\u2026"
WORD_JOINER = "\u2060"  # invisible; breaks a pattern Streamlit matches after parsing
LIST_ITEMS = 10  # names listed in one sentence; the rest are counted

# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, which
# covers emphasis, links, images, code, headings, lists, tables, HTML and entities,
# math ($), and Streamlit's directives (:red[...], :small[...], {attributes}).
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Line breaks (a value must not start a heading, list or table row), other control
# characters, and the Unicode line and paragraph separators.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional overrides and isolates (and the marks) reorder what is shown.
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Streamlit rewrites some TEXT after parsing, where a backslash no longer counts:
# GFM autolinks (http://, https://, www., e-mail addresses), shortcodes (:tada:,
# :streamlit:, :material_icon:) and typographic arrows (-> <- -- >= <= ~=, between
# spaces). A word joiner inside each pattern keeps the text as it reads.
_AFTER_COLON = re.compile(r"(?<=:)(?=//|[\w+-]+:)")
_AFTER_AT = re.compile(r"(?<=@)(?=[\w-])")
_WWW_DOT = re.compile(r"(?<=(?i:www))(?=\.)")
_TYPOGRAPHY = re.compile(r"(?<!\S)(?:<->|->|<-|--|>=|<=|~=)(?!\S)")


def shorten(text: object, limit: int = DISPLAY_CHARS) -> str:
    """`text` on one line for display: control characters and line breaks become
    spaces, bidirectional controls are dropped, runs of whitespace become one space,
    and a value over `limit` characters is cut with an ellipsis. For widgets that show
    text literally (options, placeholders); Markdown needs `escape_md`."""
    line = " ".join(_BIDI.sub("", _BREAKS.sub(" ", "" if text is None else str(text))).split())
    if len(line) > limit:
        line = line[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return line


def escape_md(text: object, limit: int = DISPLAY_CHARS) -> str:
    """Any value as inert Markdown text that reads exactly as the value (`shorten`ed):
    every ASCII punctuation character backslash-escaped, and a word joiner inside the
    patterns Streamlit rewrites after parsing (autolinks, shortcodes, arrows). None is
    "". Safe anywhere Streamlit renders Markdown, inline or as a whole body."""
    line = shorten(text, limit)
    line = _AFTER_COLON.sub(WORD_JOINER, line)
    line = _AFTER_AT.sub(WORD_JOINER, line)
    line = _WWW_DOT.sub(WORD_JOINER, line)
    line = _TYPOGRAPHY.sub(lambda m: m[0][0] + WORD_JOINER + m[0][1:], line)
    return _MD_PUNCTUATION.sub(r"\\\1", line)


def md_list(values: Iterable[object], limit: int = LIST_ITEMS) -> str:
    """Up to `limit` values, each `escape_md`'d, comma-separated, then how many more."""
    items = list(values)
    shown = ", ".join(escape_md(v) for v in items[:limit])
    rest = len(items) - limit
    return shown + (f" and {rest:,} more" if rest > 0 else "")


_ISO_MINUTE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


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
        return f"{minutes:d} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d} h {minutes:02d} min"


def fmt_time(iso: str | None) -> str:
    """Stored UTC ISO time as 'YYYY-MM-DD HH:MM UTC'; "-" for anything else (so the
    result is only ever digits, '-', ':', spaces and 'UTC': safe in Markdown)."""
    if not iso or not _ISO_MINUTE.match(iso):
        return "-"
    return iso.replace("T", " ")[:16] + " UTC"


def plural(n: int, word: str) -> str:
    """'1 token', '3 tokens' (Markdown)."""
    return f"{n:,} {escape_md(word)}{'' if n == 1 else 's'}"


# -- runs ------------------------------------------------------------------------------------
def run_label(run: RunInfo) -> str:
    """A run in a selectbox option (plain text: options never render Markdown), as the
    library spells it everywhere: "#12 Nov month-end · customers.csv · 3,000 customers ·
    all types · 2026-11-25"."""
    return shorten(library_run_label(run), RUN_LABEL_CHARS)


def type_name(token_type: str) -> str:
    """The one spelling of a token type (plain text)."""
    return type_label(token_type)


def spelled(table: pd.DataFrame, column: str = "type") -> pd.DataFrame:
    """A small table with its token types spelled as every screen spells them."""
    if column not in table.columns:
        return table
    return table.assign(**{column: [type_label(str(t)) if isinstance(t, str) else t
                                    for t in table[column]]})


def in_scope(run: RunInfo, token_type: str) -> bool:
    """Whether the run asked DOKU for `token_type` (every type when it had no scope)."""
    return run.token_type is None or run.token_type == token_type


def finished_note(fetched: int, failed: int, pending: int) -> str:
    """What a running run's figures count: "of 1,200 finished; 300 pending"."""
    return f"of {fetched + failed:,} finished; {pending:,} pending"


def options_note(run: RunInfo) -> str:
    """The options a run used, in words (Markdown: only numbers and fixed words)."""
    o = run.options
    parts = ["all types" if run.token_type is None else escape_md(type_label(run.token_type))]
    if isinstance(o.get("concurrency"), int):
        parts.append(f"concurrency {o['concurrency']:d}")
    rps = o.get("rps")
    parts.append(f"{rps:,.1f} requests/s" if isinstance(rps, int | float) else "no rate limit")
    if isinstance(o.get("max_attempts"), int):
        parts.append(f"up to {o['max_attempts']:d} attempts")
    parts.append("raw token IDs kept" if o.get("store_token_ids") else "fingerprints only")
    return "Options: " + " · ".join(parts) + "."


def uptake_of(run: RunInfo) -> float | None:
    """Share of fetched customers holding >= 1 token (doku.analysis.aggregates' rule)."""
    return share(run.with_tokens, run.fetched)


def history_frame(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run for the Runs page's history table (uptake in percent)."""
    return pd.DataFrame(
        {
            "run": [r.id for r in runs],
            "name": [r.name or "" for r in runs],
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
            "type": [scope_label(r.token_type) for r in runs],
            "env": [r.env for r in runs],
            "archived": [r.archived for r in runs],
            "note": [r.note or "" for r in runs],
        }
    )


def run_from_query(wanted: str | None, run_ids: list[int], default: int) -> int:
    """The run a link asked for (`?run=12`) when it exists, else `default`."""
    if wanted and wanted.isdigit() and int(wanted) in run_ids:
        return int(wanted)
    return default

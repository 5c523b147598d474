"""Streamlit helpers shared by the dashboard pages: the ONLY non-page module that imports
streamlit (the `doku` library never does).

Every page starts with one line, `settings = ui.page_setup("Title", icon=...)`, which
sets the page config, draws the sidebar connection summary and, on every page, the
banner saying the built-in simulator is in use. Page bodies run inside
`with ui.guard():` so a `DokuError` becomes an `st.error` in plain words with what to
do, and anything unexpected becomes a short `st.error` (details in the server log),
never a traceback on the page.

Process-wide state lives here too: one `Store` per data directory
(`st.cache_resource`; it is thread-safe), frames cached per run and run version, and
background jobs, which live in `doku.engine.jobs` (not in session_state) so they survive page
switches and browser reloads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import streamlit as st

from doku.analysis import aggregates as agg
from doku.analysis.aggregates import apply_filters, summary
from doku.analysis.comparison import Comparison, compare_runs
from doku.analysis.filters import Filters
from doku.analysis.frames import RunFrames, load_run_frames
from doku.analysis.labels import labelled, share
from doku.engine import bulk, jobs
from doku.engine.bulk import AuditOptions, BulkJob, Progress
from doku.engine.connection import describe, resolve
from doku.engine.inputs import ParsedInput
from doku.engine.schema import DB_NAME, RunInfo, data_dir
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.errors import ConfigurationError, DokuError
from doku.settings import Settings, load_settings, normalize_secrets

log = logging.getLogger("doku.ui")

APP_TITLE = "DOKU token audit"
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
ROOT = Path(__file__).resolve().parent
SAMPLE_FILE = ROOT / "samples" / "customers.csv"
ALL_TYPES = "All types"
REFRESH = "1s"

# What to do about each kind of error, in plain words (doku.errors kinds).
ADVICE = {
    "invalid input": "Check the input and try again.",
    "authentication rejected": (
        "DOKU did not accept the credentials. Check DOKU_CLIENT_ID and DOKU_SECRET_KEY, and "
        "that DOKU_ENV matches them (sandbox keys do not work on production)."
    ),
    "bad request": (
        "DOKU refused the request as malformed. Check the customer ID; if it looks right, "
        "report it with the Request-Id below."
    ),
    "duplicate request": (
        "DOKU saw this Request-Id before. Try again: every attempt gets a new one."
    ),
    "request rejected": "DOKU refused the request. Report it with the Request-Id below.",
    "rate limited": (
        "DOKU is rate limiting this client. Wait a minute and try again; for bulk audits, "
        "lower the requests per second."
    ),
    "server error": (
        "DOKU had a server problem, even after retries. Try again in a few minutes; if it "
        "persists, contact DOKU support with the Request-Id below."
    ),
    "transport error": (
        "DOKU could not be reached (timeout or dropped connection). Check the network, any "
        "proxy, and DOKU_BASE_URL, then try again."
    ),
    "response signature mismatch": (
        "The answer was NOT trusted and nothing from it is shown: its signature does not "
        "match. The secret key may be wrong, or a proxy altered the response body."
    ),
    "malformed response": (
        "DOKU's answer could not be read, so nothing from it is shown. Try again; if it "
        "persists, report it with the Request-Id below."
    ),
    "configuration error": (
        "Fix the settings (environment variables or the [doku] table in "
        ".streamlit/secrets.toml) and reload the page. See README, Configuration."
    ),
    "cancelled": "The request was cancelled.",
}
TITLES = {
    "invalid input": "Input problem",
    "authentication rejected": "Authentication rejected",
    "bad request": "Bad request",
    "rate limited": "Rate limited",
    "server error": "DOKU server error",
    "transport error": "DOKU unreachable",
    "response signature mismatch": "Response signature mismatch",
    "malformed response": "Unreadable response",
    "configuration error": "Configuration problem",
}


# -- settings and page chrome -----------------------------------------------------------
def secrets_table() -> dict[str, str]:
    """The [doku] table of st.secrets as DOKU_* keys ({} without secrets or table)."""
    try:
        table = st.secrets.get("doku", {})
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no secrets.toml at all
        return {}
    except Exception as exc:
        raise ConfigurationError(f"cannot read .streamlit/secrets.toml: {exc}") from None
    if not hasattr(table, "items"):
        raise ConfigurationError("[doku] in .streamlit/secrets.toml is not a table")
    return normalize_secrets(table)


def current_settings() -> Settings:
    """Settings (environment first, then secrets), resolved to a usable base URL."""
    return resolve(load_settings(secrets=secrets_table()))


def page_setup(title: str, *, icon: str, intro: str | None = None) -> Settings | None:
    """Page config, sidebar connection summary, title and the simulator banner.

    Returns the resolved settings, or None after showing a configuration error (pages
    that need DOKU then stop; the others keep working on stored runs).
    """
    home = title == APP_TITLE
    st.set_page_config(
        page_title=APP_TITLE if home else f"{title} · {APP_TITLE}",
        page_icon=icon,
        layout="wide",
    )
    settings: Settings | None
    problem: DokuError | None = None
    try:
        settings = current_settings()
    except DokuError as exc:
        settings, problem = None, exc
    except Exception as exc:
        log.error("cannot prepare the DOKU connection", exc_info=exc)
        settings = None
        problem = ConfigurationError(
            f"cannot prepare the connection ({type(exc).__name__}: {exc})"
        )
    _sidebar(settings, problem)
    st.title(title)
    if intro:
        st.caption(intro)
    if problem is not None:
        show_error(problem)
    elif settings is not None and settings.uses_simulator:
        st.info(
            "Running on the built-in simulator: no DOKU credentials are configured, so "
            "requests go to a local stand-in with demo data. See README, *Configuration*.",
            icon=":material/science:",
        )
    return settings


def _sidebar(settings: Settings | None, problem: DokuError | None) -> None:
    with st.sidebar, st.container(border=True):
        st.markdown("**:material/lan: Connection**")
        if settings is None:
            st.caption(":red[Not configured]: see the message on the page.")
            return
        info = describe(settings)
        st.caption(
            f"Environment: **{info['environment']}**  \n"
            f"Base URL: {info['base_url']}  \n"
            f"Client ID: {info['client_id']}  \n"
            f"Secret key: {info['secret_key']} (from {info['source']})"
        )


def require_settings(settings: Settings | None) -> Settings:
    """Stop the page (the error is already shown) when there are no usable settings."""
    if settings is None:
        st.stop()
    assert settings is not None
    return settings


# -- errors ------------------------------------------------------------------------------
def error_text(exc: DokuError) -> str:
    """The plain-words body of an error: what happened, then what to do."""
    lines = [exc.message or str(exc)]
    if exc.doku_message and exc.doku_message != exc.message:
        lines.append(f"DOKU said: {exc.doku_message}")
    lines.append(ADVICE.get(exc.kind, "Try again; if it persists, check the server log."))
    details = []
    if exc.status is not None:
        details.append(f"HTTP {exc.status}")
    if exc.request_id:
        details.append(f"Request-Id `{exc.request_id}`")
    if getattr(exc, "attempts", 1) > 1:
        details.append(f"{exc.attempts} attempts")
    if details:
        lines.append(" · ".join(details))
    return "\n\n".join(lines)


def show_error(exc: DokuError) -> None:
    st.error(
        error_text(exc),
        title=TITLES.get(exc.kind, exc.kind.capitalize()),
        icon=":material/error:",
    )


def show_unexpected(exc: BaseException, what: str = "This page") -> None:
    log.error("unexpected error on a dashboard page", exc_info=exc)
    st.error(
        f"{what} hit an unexpected problem ({type(exc).__name__}). The details are in the "
        "server log; reload the page to try again.",
        title="Something went wrong",
        icon=":material/error:",
    )


@contextlib.contextmanager
def guard(what: str = "This page") -> Iterator[None]:
    """Wrap a page body: errors become st.error messages, never a traceback.

    st.stop / st.rerun are BaseExceptions and pass through untouched.
    """
    try:
        yield
    except DokuError as exc:
        show_error(exc)
    except Exception as exc:
        show_unexpected(exc, what)


# -- formatting ------------------------------------------------------------------------------
def fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{int(n):,}"


def fmt_share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or value != value else f"{value * 100:.{digits}f} %"


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


def run_label(run: RunInfo) -> str:
    return (
        f"#{run.id} · {fmt_time(run.created_at)} · {run.input_name} · "
        f"{run.customers:,} customers · {run.status}"
    )


def uptake_of(run: RunInfo) -> float | None:
    """Share of fetched customers holding >= 1 token (doku.analysis.aggregates' rule)."""
    return share(run.with_tokens, run.fetched)


# -- the store and jobs ---------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store_for(folder: str) -> Store:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    store = Store(path / DB_NAME)
    # Once per process and store: runs a dead process (or a restart) left 'running'
    # become 'interrupted', so they can be resumed.
    jobs.mark_orphans(store)
    return store


def get_store() -> Store:
    """The process-wide store of $DOKU_DATA_DIR (default ./data)."""
    return _store_for(str(data_dir().resolve()))


def _same_store(job: BulkJob, store: Store) -> bool:
    return job.store is store or Path(job.store.path).resolve() == Path(store.path).resolve()


def live_job(store: Store, run_id: int | None = None) -> BulkJob | None:
    """A job of this store still running (of `run_id` when given)."""
    if run_id is not None:
        job = jobs.get(run_id)
        if job is not None and _same_store(job, store) and not job.snapshot().finished:
            return job
        return None
    for job in jobs.running():
        if _same_store(job, store):
            return job
    return None


def launch_audit(
    store: Store, parsed: ParsedInput, settings: Settings, options: AuditOptions
) -> BulkJob:
    return jobs.register(start_audit(store, parsed, settings, options))


def launch_rerun(store: Store, run_id: int, settings: Settings, *, retry: bool) -> BulkJob:
    """Resume (pending customers) or retry (failed customers) a run in the background."""
    if live_job(store, run_id) is not None:
        raise ConfigurationError(f"run {run_id} is already running")
    start = bulk.start_retry_failed if retry else bulk.start_resume
    return jobs.register(start(store, run_id, settings))


RESUMABLE = ("interrupted", "cancelled", "aborted")


def run_panel(store: Store, run_id: int, settings: Settings | None, *, prefix: str) -> None:
    """Status of one run: live progress (refreshed every second by a fragment, only
    while its job runs) with Cancel; afterwards its figures, Resume / Retry failed and
    a link to Insights. Widget keys are `{prefix}_cancel|resume|retry`."""
    job = live_job(store, run_id)
    live = job is not None

    @st.fragment(run_every=REFRESH if live else None)
    def panel() -> None:
        with guard("The run status"):
            current = live_job(store, run_id)
            if current is not None:
                _progress(current.snapshot(), current, prefix)
                return
            if live:  # it just finished: one full rerun shows the results
                st.rerun()
            _finished(store, run_id, settings, prefix)

    panel()


def _progress(snap: Progress, job: BulkJob, prefix: str) -> None:
    frac = snap.done / snap.total if snap.total else 1.0
    st.progress(
        min(1.0, frac),
        text=f"Run #{snap.run_id}: {snap.done:,} of {snap.total:,} customers "
        f"({frac * 100:.0f} %) · {fmt_seconds(snap.elapsed_s)} elapsed",
    )
    with st.container(horizontal=True):
        st.metric("Done", fmt_int(snap.done), border=True)
        st.metric("Failed", fmt_int(snap.failed), border=True)
        st.metric("Remaining", fmt_int(snap.remaining), border=True)
        st.metric("Rate", f"{snap.rate:,.1f}/s", border=True)
        st.metric("ETA", fmt_seconds(snap.eta_s), border=True)
    notes = []
    if snap.retries:
        notes.append(f"{snap.retries:,} retries")
    if snap.rate_limited_pauses:
        notes.append(f"{snap.rate_limited_pauses:,} rate-limit pauses")
    notes.append(f"{snap.tokens:,} tokens so far")
    st.caption(" · ".join(notes) + ". You can switch pages; the run keeps going.")
    if job.cancel_event.is_set():
        st.caption("Cancelling: waiting for requests in flight…")
    elif st.button("Cancel", key=f"{prefix}_cancel", icon=":material/stop_circle:"):
        job.cancel()
        st.caption("Cancelling: waiting for requests in flight…")


STATUS_BADGE = {
    "done": ("Done", "green", ":material/check_circle:"),
    "running": ("Running", "blue", ":material/sync:"),
    "cancelled": ("Cancelled", "orange", ":material/cancel:"),
    "interrupted": ("Interrupted", "orange", ":material/pause_circle:"),
    "aborted": ("Stopped", "red", ":material/error:"),
}


def status_badge(status: str) -> None:
    label, color, icon = STATUS_BADGE.get(status, (status, "gray", None))
    st.badge(label, color=color, icon=icon)  # type: ignore[arg-type]


def _finished(store: Store, run_id: int, settings: Settings | None, prefix: str) -> None:
    run = store.get_run(run_id)
    if run is None:
        st.caption(f"Run #{run_id} no longer exists.")
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**Run #{run.id}** · {run.input_name} · {fmt_time(run.created_at)}")
        status_badge(run.status)
    with st.container(horizontal=True):
        st.metric("Customers", fmt_int(run.customers), border=True)
        st.metric("Fetched", fmt_int(run.fetched), border=True)
        st.metric("Failed", fmt_int(run.failed), border=True)
        st.metric("Pending", fmt_int(run.pending), border=True)
        st.metric("Tokens", fmt_int(run.tokens), border=True)
        st.metric("With ≥1 token", fmt_share(uptake_of(run)), border=True)
    if run.status == "running":
        st.caption("Another process (e.g. `python -m doku audit`) is writing this run; "
                   "reload the page to see its progress.")
    if run.error:
        st.warning(run.error, icon=":material/warning:")
    if run.status in RESUMABLE and run.pending:
        st.caption(
            f"{run.pending:,} customers have no result yet: Resume fetches exactly those."
        )
    with st.container(horizontal=True, vertical_alignment="center"):
        # Only the actions that apply: Resume for a stopped run with customers left,
        # Retry failed when some failed; both need working settings.
        if run.status in RESUMABLE and run.pending > 0 and settings is not None and st.button(
            "Resume", key=f"{prefix}_resume", icon=":material/play_arrow:",
            help="Fetch the customers without a result",
        ):
            launch_rerun(store, run.id, settings, retry=False)
            st.rerun()
        if run.failed > 0 and settings is not None and st.button(
            "Retry failed", key=f"{prefix}_retry", icon=":material/replay:",
            help="Fetch the failed customers again (their earlier results are replaced)",
        ):
            launch_rerun(store, run.id, settings, retry=True)
            st.rerun()
        if run.fetched:
            st.page_link(INSIGHTS, label=f"Open insights for run #{run.id}",
                         icon=":material/insights:", query_params={"run": str(run.id)})


# -- frames and downloads -----------------------------------------------------------------
RUNNING_REFRESH_S = 15


def run_version(run: RunInfo) -> tuple[Any, ...]:
    """Changes whenever a run's stored results may have changed (retry, resume). While
    a run is still being written it changes at most every RUNNING_REFRESH_S seconds, so
    a big run in progress is not reloaded on every click."""
    if run.status == "running":
        return ("running", int(time.time() // RUNNING_REFRESH_S))
    return (run.status, run.finished_at, run.fetched, run.failed, run.pending, run.tokens)


class BytesCache:
    """A small thread-safe LRU of generated download bytes, keyed by (run, version,
    filters, what, format). Plain Python, not st.cache_data: deferred download
    callables run on a server thread without a script context."""

    def __init__(self, max_entries: int = 24) -> None:
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        data = make()
        with self._lock:
            self._data[key] = data
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return data


@st.cache_resource(show_spinner=False)
def download_cache() -> BytesCache:
    return BytesCache()


# -- runs, frames and aggregates (cached on explicit ids, frames passed unhashed) -------------
def _runs_key(store: Store) -> tuple[Any, ...]:
    """Cheap: changes when a run is added or a job of this process makes progress."""
    live = tuple(
        (j.run_id, s.state, s.done)
        for j in jobs.running()
        if _same_store(j, store)
        for s in (j.snapshot(),)
    )
    return (store.latest_run_id(), live)


@st.cache_data(ttl=3, max_entries=16, show_spinner=False)
def _runs(_store: Store, path: str, key: tuple[Any, ...]) -> list[RunInfo]:
    return _store.list_runs()


def list_runs(store: Store) -> list[RunInfo]:
    """Every run, newest first. Cached for a few seconds (the counts cost a scan of a
    big run) and refreshed at once when a run is added or a job here progresses."""
    return _runs(store, str(store.path), _runs_key(store))


def require_runs(store: Store) -> list[RunInfo]:
    """list_runs, or a pointer to the Bulk audit page (and stop) when there are none."""
    runs = list_runs(store)
    if not runs:
        st.markdown("No runs yet: start an audit first.")
        st.page_link(BULK, label="Start a bulk audit", icon=":material/play_arrow:")
        st.stop()
    return runs


@st.cache_resource(max_entries=4, show_spinner="Loading the run…")
def _frames(_store: Store, path: str, run_id: int, version: tuple[Any, ...]) -> RunFrames:
    return load_run_frames(_store, run_id)


def run_frames(store: Store, run: RunInfo) -> RunFrames:
    """All frames of a run, shared by every session (read-only), per run version."""
    return _frames(store, str(store.path), run.id, run_version(run))


FiltersKey = tuple[Any, ...]


def filters_key(filters: Filters) -> FiltersKey:
    """A hashable, order-independent identity of a Filters value."""
    return (
        tuple(sorted(map(str, filters.types))),
        tuple(sorted(map(str, filters.issuers))),
        tuple(sorted(map(str, filters.brands))),
        tuple(sorted((str(k), tuple(sorted(map(str, v))))
                     for k, v in filters.attributes.items() if v)),
    )


@st.cache_resource(max_entries=4, show_spinner="Applying filters…")
def _filtered(
    _frames: RunFrames, _filters: Filters, path: str, run_id: int,
    version: tuple[Any, ...], key: FiltersKey,
) -> RunFrames:
    return apply_filters(_frames, _filters)


def filtered_frames(
    store: Store, run: RunInfo, frames: RunFrames, filters: Filters
) -> RunFrames:
    if not filters.active:
        return frames
    return _filtered(frames, filters, str(store.path), run.id, run_version(run),
                     filters_key(filters))


ATTRIBUTE_VALUES_CAP = 1_000
AGGREGATES: dict[str, Callable[..., Any]] = {
    "summary": lambda f, arg: summary(f),
    "issuer_by_type": lambda f, arg: agg.issuer_by_type(f.tokens),
    "by_brand": lambda f, arg: agg.by_brand(f.tokens),
    "by_type": lambda f, arg: agg.by_type(f.tokens, agg.types_in_scope(f)),
    "by_issuer": lambda f, arg: agg.by_issuer(f.tokens),
    "tokens_per_customer": lambda f, arg: agg.tokens_per_customer(f.customers),
    "uptake_by_type": lambda f, arg: agg.uptake_by_type(f.customers, agg.types_in_scope(f)),
    "uptake_by_issuer": lambda f, arg: agg.uptake_by_issuer(f.tokens, f.customers),
    "uptake_by_attribute": lambda f, arg: agg.uptake_by_attribute(f.customers, arg),
    # At most ATTRIBUTE_VALUES_CAP values: enough to tell a segment column (a few
    # values) from an ID-like one, without shipping a million labels on every rerun.
    "attribute_values": lambda f, arg: [
        str(v) for v in labelled(f.customers[arg]).cat.categories[:ATTRIBUTE_VALUES_CAP]
    ],
}


@st.cache_data(max_entries=256, show_spinner=False)
def _aggregate(
    _frames: RunFrames, path: str, run_id: int, version: tuple[Any, ...],
    key: FiltersKey | None, what: str, arg: str | None,
) -> Any:
    return AGGREGATES[what](_frames, arg)


def aggregate(
    store: Store, run: RunInfo, frames: RunFrames, what: str, arg: str | None = None
) -> Any:
    """One doku.analysis.aggregates result for (run, version, filters), cached; small frames."""
    key = filters_key(frames.filters) if frames.filters is not None else None
    return _aggregate(frames, str(store.path), run.id, run_version(run), key, what, arg)


@st.cache_resource(max_entries=4, show_spinner="Comparing runs…")
def _comparison(
    _a: RunFrames, _b: RunFrames, path: str, a: tuple[Any, ...], b: tuple[Any, ...]
) -> Comparison:
    return compare_runs(_a, _b)


def comparison(store: Store, run_a: RunInfo, run_b: RunInfo) -> Comparison:
    frames_a, frames_b = run_frames(store, run_a), run_frames(store, run_b)
    return _comparison(frames_a, frames_b, str(store.path),
                       (run_a.id, run_version(run_a)), (run_b.id, run_version(run_b)))


def deferred_bytes(key: tuple[Any, ...], make: Callable[[], bytes | str]) -> Callable[[], bytes]:
    """A zero-argument callable for st.download_button(data=...): the bytes are made
    only when the analyst clicks, on a server thread, and kept in a small LRU keyed by
    (path, run, version, filters, what, format). It must not raise (a failure would
    log a traceback): problems become a short text file instead."""
    cache = download_cache()

    def build() -> bytes:
        def make_bytes() -> bytes:
            data = make()
            return data.encode("utf-8") if isinstance(data, str) else data

        try:
            return cache.get(key, make_bytes)
        except DokuError as exc:
            return f"export failed: {exc}\n".encode()
        except Exception as exc:
            log.error("download %r failed: %s", key, exc)
            return f"export failed ({type(exc).__name__}); see the server log\n".encode()

    return build


# -- run comparison tables ---------------------------------------------------------------------
CHANGE_COLUMNS = {
    "type": st.column_config.TextColumn("Token type"),
    "issuer": st.column_config.TextColumn("Issuer"),
    "uptake_a": st.column_config.NumberColumn("Uptake A", format="%.1f%%"),
    "uptake_b": st.column_config.NumberColumn("Uptake B", format="%.1f%%"),
    "change_pp": st.column_config.NumberColumn("Change", format="%+.1f pp"),
    "with_tokens_a": st.column_config.NumberColumn("Holders A", format="localized"),
    "with_tokens_b": st.column_config.NumberColumn("Holders B", format="localized"),
    "added": st.column_config.NumberColumn("Tokens added", format="localized"),
    "removed": st.column_config.NumberColumn("Tokens removed", format="localized"),
}

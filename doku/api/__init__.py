"""The Python API for analysts in notebooks and scripts (exported from `doku`).

    >>> import doku
    >>> tokens = doku.fetch_tokens("CUST-0001")        # one customer, IDs masked
    >>> frames = doku.audit(["CUST-0001", "CUST-0002"])  # blocks, shows progress
    >>> frames.run.status
    'done'

Every function resolves its settings the way the CLI and dashboard do (environment,
then the `[doku]` table of `.streamlit/secrets.toml`) and starts the embedded
simulator when nothing is configured. Runs are kept in the same store as the CLI's
and the dashboard's (`$DOKU_DATA_DIR`, default `./data`), so a run started here shows
up on the Runs page and in `doku runs`, and vice versa.

Token IDs are payment credentials: frames show them masked (first and last 4
characters) unless `reveal=True`; a stored run has raw IDs at all only when it was
started with `store_token_ids=True`.

The audit trail records what is done here as DOKU_ACTOR or the OS user (via "api"):
lookups (`fetch_tokens`), audits started, resumed, retried and cancelled (Ctrl-C),
and every `reveal=True` that returns raw token IDs. When the trail cannot be written
the call raises StoreError and returns nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd

from doku.access import process_actor
from doku.analysis.comparison import Comparison, compare_runs
from doku.analysis.frames import RunFrames, load_run_frames, tokens_frame_from_tokens
from doku.api.progress import ProgressCallback, follow, make_reporter
from doku.api.sources import Source, parse_source
from doku.engine import service
from doku.engine.bulk import AuditOptions, BulkJob
from doku.engine.lookups import lookup_tokens
from doku.engine.schema import DB_NAME
from doku.engine.store import Store, resolve_run
from doku.engine.trail import REVEAL
from doku.errors import DokuError, InvalidInputError
from doku.masking import mask_token_id
from doku.models import validate_token_type
from doku.settings import Settings, load_settings

__all__ = ["audit", "compare", "fetch_tokens", "load_run", "resume"]


#: A stored run: its id or "latest".
RunRef = int | str


#: Where runs are kept: an open Store, a database URL, or the path of a sqlite file (or
#: its folder).
StoreRef = Store | str | os.PathLike[str]


_DEFAULTS = AuditOptions()


# -- one customer ------------------------------------------------------------------------
def fetch_tokens(
    customer_id: str,
    type: str | None = None,
    *,
    reveal: bool = False,
    settings: Settings | None = None,
    store: StoreRef | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """One customer's tokens as a DataFrame, one row per token.

    type: "DIRECT_DEBIT" or "CREDIT_CARD" (None: both). The `token_id` column is
    masked unless reveal=True; `fingerprint` (SHA-256 of the ID) follows a token across
    runs. DOKU answers an empty list both for a customer without tokens and for an
    unknown customer ID, so an empty frame means either. `frame.attrs` holds the
    answer's request_id, latency_ms and signature_verified.

    Recorded in the audit trail of the store (store= / data_dir= as for `audit`;
    default the configured one): a lookup, the customer by fingerprint, and
    reveal=True as a reveal.

    >>> import doku
    >>> tokens = doku.fetch_tokens("CUST-0001")
    >>> tokens["token_id"].tolist()[0]
    '2435************************ef82'
    >>> doku.fetch_tokens("CUST-0001", "CREDIT_CARD", reveal=True)["token_id"].tolist()
    ['4bc187a24c60fc88977604d170eea4a5']
    """
    # An interactive lookup: a 429's Retry-After is honoured up to 10 s.
    with _opened(store, data_dir) as db:
        result = lookup_tokens(customer_id, type, settings=settings, reveal=reveal, store=db,
                               actor=process_actor("api"), pool_size=1,
                               max_retry_after_s=10.0)
    frame = tokens_frame_from_tokens(result.tokens, reveal=reveal)
    frame.attrs.update(
        request_id=result.request_id,
        latency_ms=result.latency_ms,
        signature_verified=result.signature_verified,
    )
    return frame


# -- bulk audits -------------------------------------------------------------------------
def audit(
    source: Source,
    *,
    column: str | None = None,
    sheet: str | None = None,
    concurrency: int = _DEFAULTS.concurrency,
    rps: float | None = _DEFAULTS.rps,
    token_type: str | None = _DEFAULTS.token_type,
    store_token_ids: bool = _DEFAULTS.store_token_ids,
    max_attempts: int = _DEFAULTS.max_attempts,
    connect_timeout_s: float = _DEFAULTS.connect_timeout_s,
    read_timeout_s: float = _DEFAULTS.read_timeout_s,
    store: StoreRef | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    progress: bool | ProgressCallback = True,
    reveal: bool = False,
) -> RunFrames:
    """Audit many customers; blocks until the run ends and returns its frames.

    source: a CSV/TSV/TXT/XLSX path (as `doku audit FILE`; `column=` and
    `sheet=` pick the ID column and worksheet), a DataFrame (the ID column is
    `column=` or the one named like a customer ID, e.g. `customer_id`; the other
    columns become attributes), or an iterable of IDs (a list, a Series, ...).
    Invalid IDs are kept as rejected rows and duplicates counted, as for files (a
    DataFrame's rows are numbered like a file's below its header: the first is 2).

    The options mirror `doku.engine.bulk.AuditOptions`. store / data_dir: where the
    run is kept (default `$DOKU_DATA_DIR` or `./data`). settings: default
    `doku.settings.load_settings()`. progress: a bar in notebooks (IPython) and on a
    terminal's stderr, False for none, or a callable given each
    `doku.engine.bulk.Progress`. reveal: unmask `token_id` of a run that stored raw
    IDs (store_token_ids=True).

    Ctrl-C (KeyboardInterrupt) cancels the run: what was fetched is kept, the run is
    stored as cancelled and `doku.resume(run_id)` finishes it; the interrupt is
    re-raised. A run that stops on its own (e.g. the credentials are rejected) raises
    DokuError naming the run.

    >>> import doku
    >>> frames = doku.audit(["CUST-0001", "CUST-0002", "CUST-0002", ""], progress=False)
    >>> frames.run.status, frames.run.customers, frames.run.duplicates
    ('done', 2, 1)
    >>> frames.customers["customer_id"].tolist(), frames.customers["n_tokens"].tolist()
    (['CUST-0001', 'CUST-0002'], [3, 3])
    """
    parsed = parse_source(source, column=column, sheet=sheet)
    try:
        options = AuditOptions(
            concurrency=concurrency,
            rps=rps,
            token_type=validate_token_type(token_type),
            store_token_ids=store_token_ids,
            max_attempts=max_attempts,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    with _opened(store, data_dir) as db:
        job = service.start_audit(db, parsed, settings or load_settings(), options,
                                  actor=process_actor("api"))
        return _complete(db, job, progress, reveal)


def resume(
    run: RunRef,
    *,
    retry_failed: bool = False,
    concurrency: int | None = None,
    rps: float | None = None,
    store: StoreRef | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    progress: bool | ProgressCallback = True,
    reveal: bool = False,
) -> RunFrames:
    """Fetch the customers of a stored run that have no result yet (retry_failed=True:
    refetch its failed ones instead); blocks like `audit` and returns the run's frames.

    The run keeps its own token type and stored-ID choice; concurrency and rps can be
    changed. It must be resumed with the environment and client it was started with.

    >>> import doku
    >>> frames = doku.resume("latest", progress=False)   # nothing left: a no-op
    >>> frames.run.pending
    0
    """
    with _opened(store, data_dir) as db:
        info = resolve_run(db, run)
        start = service.start_retry_failed if retry_failed else service.start_resume
        job = start(db, info.id, settings or load_settings(), concurrency=concurrency, rps=rps,
                    actor=process_actor("api"))
        return _complete(db, job, progress, reveal)


# -- stored runs -------------------------------------------------------------------------
def load_run(
    run: RunRef = "latest",
    *,
    store: StoreRef | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    reveal: bool = False,
) -> RunFrames:
    """A stored run's frames: `run` (RunInfo), `customers`, `tokens`, `errors`.

    run: a run id or "latest". Works while the run is still being written (the frames
    agree with each other). See `doku.analysis.aggregates` for uptake and breakdowns.

    >>> import doku
    >>> frames = doku.load_run("latest")
    >>> frames.run.status, len(frames.customers)
    ('done', 2)
    """
    with _opened(store, data_dir) as db:
        return _frames(db, resolve_run(db, run).id, reveal)


def compare(
    a: RunRef | RunFrames,
    b: RunRef | RunFrames,
    *,
    store: StoreRef | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Comparison:
    """What changed from run `a` to run `b` (ids, "latest", or loaded frames).

    Customers are matched by ID and tokens by fingerprint; gains and losses count only
    customers fetched in both runs (see `doku.analysis.comparison.Comparison`).

    >>> import doku
    >>> diff = doku.compare("latest", "latest")
    >>> diff.in_both, diff.tokens_added, diff.tokens_removed
    (2, 0, 0)
    """
    if isinstance(a, RunFrames) and isinstance(b, RunFrames):
        return compare_runs(a, b)
    with _opened(store, data_dir) as db:

        def frames(ref: RunRef | RunFrames) -> RunFrames:
            if isinstance(ref, RunFrames):
                return ref
            return load_run_frames(db, resolve_run(db, ref).id)

        return compare_runs(frames(a), frames(b))


# -- store -------------------------------------------------------------------------------
@contextmanager
def _opened(store: StoreRef | None, data_dir: str | os.PathLike[str] | None) -> Iterator[Store]:
    """The caller's Store as it is, or one opened (and closed afterwards): a database
    URL (`postgresql+psycopg://...`, `sqlite:///...`), a sqlite file or its folder, or
    the configured store."""
    if store is not None and data_dir is not None:
        raise InvalidInputError("give store= or data_dir=, not both")
    if isinstance(store, Store):
        yield store
        return
    path: Path | None = None
    url: str | None = None
    if data_dir is not None:
        path = Path(data_dir) / DB_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
    elif isinstance(store, str) and "://" in store:
        url = store
    elif store is not None:
        path = Path(store)
        if path.is_dir():
            path = path / DB_NAME
    db = Store(path, url=url)
    try:
        yield db
    finally:
        db.close()


def _frames(db: Store, run_id: int, reveal: bool) -> RunFrames:
    """The run's frames, token IDs masked unless `reveal`; raw IDs returned are
    recorded in the audit trail first (REVEAL)."""
    frames = load_run_frames(db, run_id)
    tokens = frames.tokens
    if "token_id" not in tokens.columns:
        return frames
    if reveal:
        raw = int(tokens["token_id"].notna().sum())
        if raw:
            db.record_event(process_actor("api"), REVEAL, f"run {run_id}",
                            {"what": "token IDs in a loaded run", "rows": raw})
        return frames
    masked = [mask_token_id(t) if isinstance(t, str) else None for t in tokens["token_id"]]
    tokens = tokens.assign(token_id=pd.Series(masked, index=tokens.index,
                                              dtype=tokens["token_id"].dtype))
    return replace(frames, tokens=tokens)


def _complete(
    db: Store, job: BulkJob, progress: bool | ProgressCallback, reveal: bool
) -> RunFrames:
    """Wait for the job (showing progress), then the run's frames; see `audit`."""
    final = follow(job, make_reporter(progress))
    if final.state == "aborted":
        raise DokuError(
            f"run {job.run_id} stopped: {final.error}. What was fetched is kept: "
            f"doku.load_run({job.run_id}); after fixing the cause, doku.resume({job.run_id})"
        )
    return _frames(db, job.run_id, reveal)
